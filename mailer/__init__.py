"""duban (督办): a bureau's monthly key-task progress reporting by Word forms and email.

The package is layered (see design.md): registry (model, store, plan_import, ledger, status) ←
documents out (forms, notice, pdf, compose) and documents in (safety, formparse, replies) ←
transports ← the service (intake, cycle, service, cli). Imports flow one way.
"""

__version__ = "0.1.0"
