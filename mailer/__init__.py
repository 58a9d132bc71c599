"""duban (督办): a bureau's monthly key-task progress reporting by Word forms and email.

One package per room, imports flowing one way (tests/test_layers.py; README "Layout"):
common ← word, registry, transport ← plan, read ← render ← service ← web, cli.
"""

__version__ = "0.1.0"
