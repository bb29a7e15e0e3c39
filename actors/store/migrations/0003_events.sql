-- Analytics events: one row per event id (deterministic, so a retry never duplicates).
CREATE TABLE events (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    camera_id  uuid NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    rule       text NOT NULL,
    label      text NOT NULL,
    score      real NOT NULL,
    bbox       real[] NOT NULL,
    at         timestamptz NOT NULL,
    snapshot   bytea,
    node       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_tenant_at ON events (tenant_id, at DESC, id);
CREATE INDEX events_camera_at ON events (camera_id, at DESC, id);
