"""Old and new side by side in one run: a bench's own measurement run again on an older commit.

Each bench measures with today's code (the working tree) and, through :func:`measure_at`, with the code of
``BASELINE`` — the registry of this session's start, before the costs work — checked out into a temporary
``git worktree``. The measuring function is the bench's own (imported from the bench file by the child
process) and must only use APIs both commits have, so the two numbers measure the same thing.

    from baseline import BASELINE, measure_at, ratio_line
    old = measure_at(BASELINE, __file__, "measure", {"n": 200})   # a dict of floats from the old code
    new = measure({"n": 200})                                    # the same, from the working tree
    print(ratio_line("filled forms/s", old["forms_per_s"], new["forms_per_s"], higher_is_better=True))
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = os.environ.get("DUBAN_BENCH_BASELINE", "c90a775")  # main at the start of the costs work

_CHILD = """
import importlib.util, json, sys
import oldlayout
oldlayout.install()  # today's module names import the old flat modules
spec = importlib.util.spec_from_file_location("bench_under_test", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
result = getattr(mod, sys.argv[2])(json.loads(sys.argv[3]))
print("BENCH-RESULT " + json.dumps(result))
"""


@contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """``rev`` checked out (detached) into a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="duban-baseline-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), rev], check=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


def measure_at(rev: str, bench_file: str, func: str, args: dict[str, object]) -> dict[str, float]:
    """Run ``func(args)`` of ``bench_file`` with ``mailer`` imported from commit ``rev``.

    The bench file's folder and the old tree's tests/ come first on the path, then the old tree: the bench's
    helpers are today's, the code measured is the old one.
    """
    with checkout(rev) as tree:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(tree), str(tree / "tests"), str(Path(bench_file).parent)])
        env["DUBAN_BENCH_TREE"] = str(tree)
        out = subprocess.run([sys.executable, "-c", _CHILD, str(Path(bench_file).resolve()), func, json.dumps(args)],
                             env=env, cwd=tree, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"baseline {rev} failed:\n{out.stderr[-4000:]}")
        line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH-RESULT "))
        return json.loads(line.removeprefix("BENCH-RESULT "))


def tree_root() -> Path:
    """The tree whose ``mailer`` is measured: the baseline's checkout in the child, else this one."""
    return Path(os.environ.get("DUBAN_BENCH_TREE", str(ROOT)))


def ratio_line(what: str, old: float, new: float, *, higher_is_better: bool, unit: str = "") -> str:
    """``what: old → new (×ratio, better|worse)`` — the ratio is always "how many times better"."""
    ratio = (new / old) if higher_is_better else (old / new)
    verdict = "better" if ratio >= 1 else "worse"
    return f"{what}: {BASELINE} {old:.3g}{unit} → now {new:.3g}{unit}  (×{ratio:.2f} {verdict})"
