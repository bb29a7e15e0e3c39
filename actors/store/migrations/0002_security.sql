-- Tenancy and security: licences, users, sessions, API keys, signing keys and the audit log.
ALTER TABLE tenants
    ADD COLUMN allowed_detectors text[] NOT NULL DEFAULT '{}',
    ADD COLUMN expires_at        timestamptz;

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    tenant_id     uuid REFERENCES tenants (id) ON DELETE RESTRICT,
    role          text NOT NULL CHECK (role IN ('platform_admin', 'tenant_admin', 'operator', 'viewer')),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Platform admins belong to no tenant; every other role to exactly one.
    CHECK ((role = 'platform_admin') = (tenant_id IS NULL))
);
CREATE UNIQUE INDEX users_email ON users (lower(email));
CREATE INDEX users_tenant ON users (tenant_id, id);

-- One row per login; the refresh token is stored as its SHA-256 and is good once.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_hash bytea NOT NULL UNIQUE,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    ip           text
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    prefix      text NOT NULL UNIQUE,
    secret_hash bytea NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('platform_admin', 'tenant_admin', 'operator', 'viewer')),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_user ON api_keys (user_id, id);

-- HMAC keys of access tokens, shared by every node; the newest signs, all unretired ones verify.
CREATE TABLE signing_keys (
    kid        text PRIMARY KEY,
    secret     bytea NOT NULL CHECK (length(secret) >= 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz
);

-- Append-only: the trigger refuses UPDATE and DELETE for everyone, owners included.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    tenant_id   uuid,
    user_id     uuid,
    actor       text NOT NULL,
    credential  text,
    api_key_id  uuid,
    action      text NOT NULL,
    object_kind text,
    object_id   text,
    request     text NOT NULL,
    status      integer NOT NULL,
    ip          text
);
CREATE INDEX audit_tenant ON audit_log (tenant_id, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
