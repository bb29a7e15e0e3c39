-- Exports: one MP4 per camera over a range, written by one node, each with a signed manifest. An
-- export holds its footage: it places an evidence hold per camera (`export_id`), released when
-- the export is deleted.
CREATE TABLE exports (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    from_ts    timestamptz NOT NULL,
    to_ts      timestamptz NOT NULL,
    reason     text NOT NULL,
    node       text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (from_ts < to_ts)
);
CREATE INDEX exports_tenant ON exports (tenant_id, created_at DESC, id);

CREATE TABLE export_files (
    export_id      uuid NOT NULL REFERENCES exports (id) ON DELETE CASCADE,
    camera_id      uuid NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    state          text NOT NULL DEFAULT 'queued',
    segments_done  integer NOT NULL DEFAULT 0,
    segments_total integer NOT NULL DEFAULT 0,
    path           text,
    bytes          bigint,
    sha256         text,
    error          text,
    manifest       jsonb,
    PRIMARY KEY (export_id, camera_id)
);

ALTER TABLE evidence_holds ADD COLUMN export_id uuid REFERENCES exports (id) ON DELETE CASCADE;
CREATE INDEX evidence_holds_export ON evidence_holds (export_id) WHERE export_id IS NOT NULL;
