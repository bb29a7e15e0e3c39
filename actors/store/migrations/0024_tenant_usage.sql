-- Detector time each node spent on each tenant's frames, by hour: what billing reads, with
-- camera-hours and bytes from `segments`. Nodes add to their own row, so no two writers meet.
CREATE TABLE tenant_usage (
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hour             timestamptz NOT NULL,
    node             text NOT NULL,
    detector_seconds double precision NOT NULL DEFAULT 0 CHECK (detector_seconds >= 0),
    frames           bigint NOT NULL DEFAULT 0 CHECK (frames >= 0),
    PRIMARY KEY (tenant_id, hour, node)
);
