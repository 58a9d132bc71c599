"""The bureau's web console (`duban web`, or inside `duban serve` with ``[web] listen``): the month at a
glance, each task with its light, each report with its diffs, the notices, the inbox and the audit trail,
and the clerk's actions — each one calling the same function as the CLI. Server-rendered (Starlette +
Jinja2), every asset served from the package (intranets are air-gapped), Chinese interface.

Needs the optional extra ``web`` (starlette, uvicorn, python-multipart, argon2-cffi, itsdangerous).
"""
