"""Jinja environments kept per templates folder, rebuilt when a template file there changes.

Building an environment costs little, but a new one has an empty template cache: every mail then parses and
compiles its templates (and the layout and macros they include) again, 64–121× the cost of rendering from a
kept one (issue 11). The bureau may edit, add or delete templates while the service runs (design principle
7), so a kept environment is used only while the folders look as they did when it was built: the name, size
and mtime of every file in them (one ``scandir`` per folder, some tens of microseconds). Jinja's own
``auto_reload`` would catch an edited file, but not a new home template that now shadows a shipped one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import jinja2

Stamp = tuple[tuple[str, int, int], ...]

_kept: dict[tuple[object, ...], tuple[Stamp, jinja2.Environment]] = {}
_lock = threading.Lock()
_MAX_KEPT = 32


def folder_stamp(dirs: Sequence[str]) -> Stamp:
    """What the folders hold, as far as a change to a template would show: (path, mtime_ns, size) of every
    file, recursively (templates may include others from subfolders)."""
    out: list[tuple[str, int, int]] = []
    todo = list(dirs)
    while todo:
        d = todo.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            out.append((d, -1, -1))  # a folder gone (or not yet there) is a state of its own
            continue
        for e in entries:
            try:
                if e.is_dir():
                    todo.append(e.path)
                else:
                    st = e.stat()
                    out.append((e.path, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((e.path, -1, -1))
    return tuple(sorted(out))


def kept_environment(
    kind: str, dirs: Sequence[Path], build: Callable[[list[str]], jinja2.Environment]
) -> jinja2.Environment:
    """The environment ``build(existing dirs)`` made for these folders, reused while no file in them changed.

    :param kind: what the environment is for ("mail", "robot"): two kinds over the same folders differ
    :param dirs: the loader's search path, first match wins; folders that do not exist are left out (and
        looked for again at each call)
    """
    paths = [str(d) for d in dirs if d.is_dir()]
    key = (kind, *paths)
    stamp = folder_stamp(paths)
    with _lock:
        kept = _kept.get(key)
        if kept is not None and kept[0] == stamp:
            return kept[1]
    env = build(paths)
    with _lock:
        if len(_kept) >= _MAX_KEPT:  # only a process serving many homes (the tests) gets here
            _kept.clear()
        _kept[key] = (stamp, env)
    return env


def forget_all() -> None:
    """Drop every kept environment (for a bench measuring the cold path)."""
    with _lock:
        _kept.clear()
