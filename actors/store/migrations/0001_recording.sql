-- Tenants, cameras and the segment index of the recording spine.
CREATE TABLE tenants (
    id             uuid PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    max_cameras    integer NOT NULL CHECK (max_cameras >= 0),
    retention_days integer NOT NULL CHECK (retention_days > 0),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cameras (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
    name           text NOT NULL,
    url            text NOT NULL,
    enabled        boolean NOT NULL DEFAULT true,
    retention_days integer CHECK (retention_days > 0),
    labels         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE INDEX cameras_tenant ON cameras (tenant_id, id);

CREATE TABLE segments (
    id         bigserial PRIMARY KEY,
    camera_id  uuid NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    start_ts   timestamptz NOT NULL,
    end_ts     timestamptz NOT NULL CHECK (end_ts >= start_ts),
    bytes      bigint NOT NULL CHECK (bytes >= 0),
    path       text NOT NULL,
    node       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (camera_id, seq)
);
CREATE INDEX segments_camera_start ON segments (camera_id, start_ts, id);
CREATE INDEX segments_node_start ON segments (node, start_ts);
