"""Benchmark the start-up of the registry commands: wall time of `duban status`, `tasks`, `offices`, `inbox list`,
`outbox list` and `audit` on the demo home, with the baseline's code and today's, side by side.

    .venv/bin/python bench/bench_cli.py [--runs 7] [--commands "status,tasks"] [--no-baseline]

Each command runs as the clerk runs it, a fresh interpreter each time (``python -m mailer --home H …`` with
the measured tree first on PYTHONPATH); one unmeasured run first (bytecode, page cache), then ``--runs`` timed
ones, of which the median is reported. Each side builds its own demo home with its own code (``duban demo``),
so each opens a registry at its own newest revision. Target (issue 11, item 9): ≤ 0.3 s each. The machine is
shared: run it twice and read the ratios rather than single figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline import BASELINE, measure_at, ratio_line, tree_root

COMMANDS = ["status", "tasks", "offices", "inbox list", "outbox list", "audit"]
TARGET_S = 0.3


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree_root())  # this tree's mailer, not whichever one the venv has installed
    env.pop("DUBAN_HOME", None)
    return env


def _run(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mailer", *args], env=env, cwd=tree_root(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def measure(args: dict[str, object]) -> dict[str, float]:
    """Median wall seconds of each command (key: the command) on a demo home built by the tree measured."""
    runs = int(str(args.get("runs", 7)))
    commands = [str(c) for c in args.get("commands", COMMANDS)]  # type: ignore[attr-defined]
    env = _env()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="duban-bench-cli-") as tmp:
        home = Path(tmp) / "demo"
        subprocess.run([sys.executable, "-m", "mailer", "demo", str(home)], env=env, cwd=tree_root(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out["python -c pass"] = statistics.median(
            _timed([sys.executable, "-c", "pass"], env, runs)
        )
        for command in commands:
            argv = ["--home", str(home), *command.split()]
            _run(argv, env)  # unmeasured: bytecode written, files cached
            out[command] = statistics.median(_run(argv, env) for _ in range(runs))
    return out


def _timed(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True)
        times.append(time.perf_counter() - t0)
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--commands", default=",".join(COMMANDS))
    parser.add_argument("--no-baseline", action="store_true", help="Only today's code.")
    opts = parser.parse_args()
    args: dict[str, object] = {"runs": opts.runs, "commands": [c.strip() for c in opts.commands.split(",")]}
    old = None if opts.no_baseline else measure_at(BASELINE, __file__, "measure", args)
    new = measure(args)
    print(f"median wall time of {opts.runs} runs each (python itself: {new['python -c pass'] * 1000:.0f} ms)")
    for command in ["python -c pass", *args["commands"]]:  # type: ignore[misc]
        label = command if command.startswith("python") else f"duban {command}"
        if old is None:
            print(f"{label}: now {new[command]:.3g} s")
            continue
        line = ratio_line(label, old[command], new[command], higher_is_better=False, unit=" s")
        met = "" if command.startswith("python") else ("  target ≤0.3 s met" if new[command] <= TARGET_S
                                                         else "  target ≤0.3 s NOT met")
        print(line + met)


if __name__ == "__main__":
    main()
