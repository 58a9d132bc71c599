"""The `duban` command line. Thin: every command calls one library function.

Commands live in submodules by area and register on the one group in ``base``; importing them here
is what makes them appear. Heavy libraries are imported inside commands, so start-up stays fast.
"""

from mailer.cli import (  # noqa: F401  (registers the commands)
    actions,
    cycle,
    forms,
    gate,
    holidays,
    home,
    inbox,
    mail,
    outbox,
    plan,
    registry,
    robots,
    service,
    setup,
    web,
)
from mailer.cli.base import cli

__all__ = ["cli"]
