"""`duban` commands: cycle."""

from __future__ import annotations
