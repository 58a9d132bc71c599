"""Benchmark the start-up of the registry commands: wall time of `duban status`, `tasks`, `offices`, `inbox list`,
`outbox list` and `audit` on the demo home, with the baseline's code and today's, side by side.

    .venv/bin/python bench/bench_cli.py [--runs 7] [--commands "status,tasks"] [--no-baseline] [--sequential]

Each command runs as the clerk runs it, a fresh interpreter each time (``python -m mailer --home H …`` with
the measured tree first on PYTHONPATH); one unmeasured run first (bytecode, page cache), then ``--runs`` timed
ones, of which the median is reported; the baseline's and today's runs alternate (``--sequential``: all of
the baseline's first, through baseline.measure_at). Each side builds its own demo home with its own code (``duban demo``),
so each opens a registry at its own newest revision. Target (issue 11, item 9): ≤ 0.3 s each. The machine is
shared: run it twice and read the ratios rather than single figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline import BASELINE, ROOT, checkout, measure_at, ratio_line, tree_root

COMMANDS = ["status", "tasks", "offices", "inbox list", "outbox list", "audit"]
# The floor no command can go under while it reads the registry through the ORM: the interpreter, SQLAlchemy
# and the mapped model, configured (what the first query does).
FLOOR = "python: ORM + model"
_FLOOR_CODE = "import sqlalchemy.orm, mailer.registry.model; sqlalchemy.orm.configure_mappers()"
# The floor of reading the registry through SQLAlchemy Core alone (Table objects, no ORM): its import.
CORE = "python: import sqlalchemy"
# The floor of a command reading a SQLite registry with the standard library's sqlite3 (no SQLAlchemy at all):
# the CLI (click, settings, every command module) and sqlite3.
NO_SA = "python: CLI + sqlite3"
_PROBES = {"python -c pass": "pass", NO_SA: "import mailer.cli, sqlite3", CORE: "import sqlalchemy",
           FLOOR: _FLOOR_CODE}
TARGET_S = 0.3


def _env(tree: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree or tree_root())  # this tree's mailer, not whichever one the venv has installed
    env.pop("DUBAN_HOME", None)
    # An installed duban has its bytecode (pip compiles it): with PYTHONDONTWRITEBYTECODE set (as in some CI
    # and sandbox shells) every run compiled ~60 of duban's modules from source, ~0.15 s of each command.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; CPU is user + system of the child, which a loaded machine inflates far
    less than the wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, cwd=tree_root(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _median(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    _run(argv, env)  # unmeasured: bytecode written, files cached
    times = [_run(argv, env) for _ in range(runs)]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def measure(args: dict[str, object]) -> dict[str, float]:
    """Median wall and CPU seconds of each command (keys: the command, "cpu " + the command) on a demo home
    built by the tree measured."""
    runs = int(str(args.get("runs", 7)))
    commands = [str(c) for c in args.get("commands", COMMANDS)]  # type: ignore[attr-defined]
    env = _env()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="duban-bench-cli-") as tmp:
        home = Path(tmp) / "demo"
        subprocess.run([sys.executable, "-m", "mailer", "demo", str(home)], env=env, cwd=tree_root(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for command in [*_PROBES, *commands]:
            argv = ([sys.executable, "-c", _PROBES[command]] if command in _PROBES
                    else [sys.executable, "-m", "mailer", "--home", str(home), *command.split()])
            out[command], out["cpu " + command] = _median(argv, env, runs)
    return out


def interleaved(runs: int, commands: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """(old, new) like :func:`measure` on each side, but the two sides' runs alternate, so a change of load
    on the shared machine while the bench runs falls on both alike (sequential sides differed by 25%)."""
    with checkout(BASELINE) as old_tree, tempfile.TemporaryDirectory(prefix="duban-bench-cli-") as tmp:
        sides = {"old": old_tree, "new": ROOT}
        envs, homes = {}, {}
        for side, tree in sides.items():
            envs[side] = _env(tree)
            homes[side] = Path(tmp) / side
            subprocess.run([sys.executable, "-m", "mailer", "demo", str(homes[side])], env=envs[side], cwd=tree,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out: dict[str, dict[str, float]] = {"old": {}, "new": {}}
        for command in [*_PROBES, *commands]:
            times: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
            for i in range(runs + 1):
                for side in ("old", "new") if i % 2 else ("new", "old"):
                    argv = ([sys.executable, "-c", _PROBES[command]] if command in _PROBES
                            else [sys.executable, "-m", "mailer", "--home", str(homes[side]), *command.split()])
                    t = _run_in(argv, envs[side], sides[side])
                    if i:  # the first round unmeasured: bytecode written, files cached
                        times[side].append(t)
            for side, figures in out.items():
                figures[command] = statistics.median(t[0] for t in times[side])
                figures["cpu " + command] = statistics.median(t[1] for t in times[side])
    return out["old"], out["new"]


def instructions(commands: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """(old, new): millions of instructions each command executes, counted by valgrind (callgrind) in one
    run per side. Unlike wall or CPU time, the count does not depend on the load of the shared machine, so a
    single run compares the two sides; it leaves out waiting for the disk, and valgrind makes each run ~50×
    slower (a minute or two per command)."""
    import re

    with checkout(BASELINE) as old_tree, tempfile.TemporaryDirectory(prefix="duban-bench-cli-") as tmp:
        sides = {"old": old_tree, "new": ROOT}
        out: dict[str, dict[str, float]] = {"old": {}, "new": {}}
        for side, tree in sides.items():
            env, home = _env(tree), Path(tmp) / side
            subprocess.run([sys.executable, "-m", "mailer", "demo", str(home)], env=env, cwd=tree,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for command in [*_PROBES, *commands]:
                argv = ([sys.executable, "-c", _PROBES[command]] if command in _PROBES
                        else [sys.executable, "-m", "mailer", "--home", str(home), *command.split()])
                subprocess.run(argv, env=env, cwd=tree, check=True, capture_output=True)  # bytecode written
                run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                                     env=env, cwd=tree, check=True, capture_output=True, text=True)
                found = re.search(r"Collected : (\d+)", run.stderr)
                assert found, run.stderr[-2000:]
                out[side][command] = int(found.group(1)) / 1e6
    return out["old"], out["new"]


def _run_in(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--commands", default=",".join(COMMANDS))
    parser.add_argument("--no-baseline", action="store_true", help="Only today's code.")
    parser.add_argument("--sequential", action="store_true",
                        help="The baseline's runs all before today's (measure_at), not alternating with them.")
    parser.add_argument("--instructions", action="store_true",
                        help="Count instructions with valgrind instead of timing (one run per side, load-independent).")
    opts = parser.parse_args()
    args: dict[str, object] = {"runs": opts.runs, "commands": [c.strip() for c in opts.commands.split(",")]}
    commands = [str(c) for c in args["commands"]]  # type: ignore[attr-defined]
    old: dict[str, float] | None
    if opts.instructions:
        old, new = instructions(commands)
        print("millions of instructions executed (valgrind), one run each:")
        for command in [*_PROBES, *commands]:
            label = "  " + (command if command.startswith("python") else f"duban {command}")
            print(ratio_line(label, old[command], new[command], higher_is_better=False, unit=" M"))
        return
    if opts.no_baseline:
        old, new = None, measure(args)
    elif opts.sequential:
        old, new = measure_at(BASELINE, __file__, "measure", args), measure(args)
    else:
        old, new = interleaved(opts.runs, commands)
    for kind, prefix in (("wall", ""), ("CPU (user+system)", "cpu ")):
        print(f"median {kind} time of {opts.runs} runs each:")
        for command in [*_PROBES, *args["commands"]]:  # type: ignore[misc]
            label = "  " + (command if command.startswith("python") else f"duban {command}")
            now = new[prefix + command]
            if old is None:
                print(f"{label}: now {now:.3g} s")
                continue
            line = ratio_line(label, old[prefix + command], now, higher_is_better=False, unit=" s")
            met = "" if command.startswith("python") else ("  ≤0.3 s" if now <= TARGET_S else "  >0.3 s")
            print(line + met)


if __name__ == "__main__":
    main()
