"""Storage: the database, its models and migrations, the audit log and backups."""
