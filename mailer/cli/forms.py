"""`duban` commands: forms."""

from __future__ import annotations
