-- The audit log stays append-only, with one exception: the retention purge may delete rows older
-- than 30 days (the shortest `retention.audit_days`), and only in a transaction that says it is the
-- purge (`SET LOCAL vms.audit_purge = 'on'`). Updates and truncation stay refused, and nothing can
-- delete a recent row.
DROP TRIGGER audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE FUNCTION audit_log_purge_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('vms.audit_purge', true) = 'on' AND OLD.at < now() - interval '30 days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_purge_only BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_purge_only();
