"""Jinja environments kept per templates folder, rebuilt when a template file there changes.

Building an environment costs little, but a new one has an empty template cache: every mail then parses and
compiles its templates (and the layout and macros they include) again, 64–121× the cost of rendering from a
kept one (issue 11). The bureau may edit, add or delete templates while the service runs (design principle
7). Two checks keep a kept environment honest:

- each template it hands out is reloaded when its file's mtime or size changed (:class:`TemplateLoader`,
  Jinja's ``auto_reload`` with the size added: two saves within one clock tick would otherwise look alike);
- the environment itself is rebuilt when a file was added to or deleted from a folder (one ``listdir`` per
  folder): a template the bureau adds would otherwise stay shadowed by the shipped one already loaded.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import jinja2

Stamp = tuple[tuple[str, tuple[str, ...]], ...]

_kept: dict[tuple[object, ...], tuple[Stamp, jinja2.Environment]] = {}
_lock = threading.Lock()
_MAX_KEPT = 32


def folder_stamp(dirs: Sequence[str]) -> Stamp:
    """The names in each folder: a template added or deleted changes them (the folder's mtime would too, but
    two changes within one clock tick leave it alike). A file replaced under the same name is the loader's
    to notice (:class:`TemplateLoader`)."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for d in dirs:
        try:
            out.append((d, tuple(sorted(os.listdir(d)))))  # noqa: PTH208 - names only, cheaper
        except OSError:
            out.append((d, ("\0gone",)))  # a folder gone is a state of its own
    return tuple(out)


class TemplateLoader(jinja2.FileSystemLoader):
    """A ``FileSystemLoader`` whose templates are out of date when their file's mtime (in ns) or size changed."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, _ = super().get_source(environment, template)
        st = Path(filename).stat()
        seen = (st.st_mtime_ns, st.st_size)

        def uptodate() -> bool:
            try:
                now = Path(filename).stat()
            except OSError:
                return False
            return (now.st_mtime_ns, now.st_size) == seen

        return source, filename, uptodate


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
