-- Leases (one row per lease; the placement leader holds "placement"), with a fencing epoch that
-- grows with every change of holder.
CREATE TABLE cluster_leases (
    name        text PRIMARY KEY,
    holder      text NOT NULL,
    epoch       bigint NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- Which node records each camera, written by the placement leader with its epoch; a write from an
-- older epoch (a stale leader) never overwrites a newer one.
CREATE TABLE placement (
    camera_id   uuid PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
    node_id     text NOT NULL,
    epoch       bigint NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX placement_node ON placement (node_id);
