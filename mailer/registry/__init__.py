"""The registry: tables, the store and its migrations, queries, offices, status, deadlines, the audit trail and the home's locks. Imports only mailer.common."""
