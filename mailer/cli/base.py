"""The click group every command hangs from: finds the home, sets up logging, turns DubanError into
"Error: …" and exit code 1 in one place."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mailer import __version__
from mailer.common.config import Settings, load_settings
from mailer.common.errors import DubanError
from mailer.common.files import private_umask
from mailer.common.logs import setup_logging

if TYPE_CHECKING:
    from mailer.registry.rows import Rows


class DubanFailure(click.ClickException):
    """A DubanError as the clerk sees it: "错误：…" on stderr, exit code 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"错误：{self.format_message()}", file=file or sys.stderr, err=file is None)


def _more_logging(_ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        setup_logging(value)


class DubanCommand(click.Command):
    """Every command also takes -v/-vv after its name, so `duban serve -v` works as `duban -v serve`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(
            click.Option(
                ["-v", "--verbose"],
                count=True,
                expose_value=False,
                is_eager=True,
                callback=_more_logging,
                help="More log output (-vv for debug).",
            )
        )


class DubanGroup(click.Group):
    command_class = DubanCommand
    group_class = type  # subgroups (duban inbox …) are DubanGroups too, so their commands take -v

    def invoke(self, ctx: click.Context) -> Any:
        # The registry, archive and outbox are for this account only, whatever the shell's umask; the old
        # umask comes back afterwards (it matters when the CLI runs inside another program, e.g. tests).
        old_umask = private_umask()
        try:
            return super().invoke(ctx)
        except DubanError as e:
            raise DubanFailure(str(e)) from e
        except Exception as e:
            # A full disk or a registry locked by another process is not a bug: say so, without a traceback.
            from mailer.common.transient import describe_cn, is_transient

            if is_transient(e):
                raise DubanFailure(describe_cn(e)) from e
            raise
        finally:
            os.umask(old_umask)


class Context:
    """What every command gets: the home's settings, loaded on first use (so `duban init` needs none)."""

    def __init__(self, home: Path | None) -> None:
        self.home_arg = home
        self._settings: Settings | None = None
        self._engine: Any = None
        self._verified = False

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.home_arg)
        return self._settings

    def engine(self, *, verify: bool = False) -> Any:
        """The home's registry, checked to be its own (never created here: only `duban init` does).

        :param verify: also run SQLite's quick_check (service start, `duban check`)
        """
        from mailer.registry.homeid import open_home_registry

        # Checked once per command: `duban status` asks four times, and each check reads the marker and the
        # registry's id (a query the ORM compiles afresh in every process).
        if self._engine is None or (verify and not self._verified):
            self._engine = open_home_registry(self.settings, verify=verify)
            self._verified = self._verified or verify
        return self._engine

    def reading(self) -> AbstractContextManager[Rows]:
        """One read-only snapshot of the registry for a short command: plain sqlite3 when the registry allows
        it (mailer.registry.rows.open_plain, no SQLAlchemy imported), else a session of :meth:`engine`."""
        from mailer.registry.rows import plain_or_session

        return plain_or_session(self.settings, self.engine)


pass_ctx = click.make_pass_decorator(Context)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a bar on a terminal (None when output is not one)."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=label, unit="封", file=sys.stderr, leave=False)
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group(cls=DubanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="duban")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DUBAN_HOME",
    help="The duban home (default: $DUBAN_HOME, else the current directory).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, verbose: int) -> None:
    """督办 duban: monthly key-task progress reporting by Word forms and email."""
    setup_logging(verbose)
    ctx.obj = Context(home)
