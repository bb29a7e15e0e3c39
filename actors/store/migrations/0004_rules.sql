-- Per-camera analytics rules.
CREATE TABLE rules (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    camera_id        uuid NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    name             text NOT NULL,
    kind             text NOT NULL,
    detector         text NOT NULL,
    classes          text[] NOT NULL DEFAULT '{}',
    min_score        real NOT NULL CHECK (min_score >= 0 AND min_score <= 1),
    zone             jsonb,
    cooldown_seconds integer NOT NULL CHECK (cooldown_seconds > 0),
    enabled          boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (camera_id, name)
);
CREATE INDEX rules_tenant ON rules (tenant_id, camera_id);
