"""Database-enforced append-only audit log: UPDATE and DELETE on audit_log are refused."""


def create_audit_triggers(bind) -> None:
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            bind.exec_driver_sql(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )
    else:
        bind.exec_driver_sql(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$ LANGUAGE plpgsql"
        )
        bind.exec_driver_sql(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )


def drop_audit_triggers(bind) -> None:
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
    else:
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        bind.exec_driver_sql("DROP FUNCTION IF EXISTS audit_log_append_only()")
