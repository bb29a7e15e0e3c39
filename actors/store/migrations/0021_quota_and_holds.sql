-- Retention by size and evidence: a tenant's storage quota in bytes (its licence; NULL for none),
-- enforced oldest-first, and evidence holds: time ranges of a camera's footage that no retention
-- (days, quota, disk pressure) deletes until the hold is released. An event marked `hold` holds
-- the footage around it, and the event itself, the same way.
ALTER TABLE tenants ADD COLUMN storage_quota_bytes bigint CHECK (storage_quota_bytes > 0);

CREATE TABLE evidence_holds (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    camera_id  uuid NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    from_ts    timestamptz NOT NULL,
    to_ts      timestamptz NOT NULL,
    reason     text NOT NULL,
    event_id   uuid REFERENCES events (id) ON DELETE CASCADE,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (from_ts < to_ts)
);
CREATE INDEX evidence_holds_camera ON evidence_holds (camera_id, from_ts);
CREATE INDEX evidence_holds_tenant ON evidence_holds (tenant_id, id);
CREATE UNIQUE INDEX evidence_holds_event ON evidence_holds (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX segments_tenant_start ON segments (tenant_id, start_ts, id);
