-- Fencing and handover. Every placement of a camera has a generation, one higher on every move: the
-- camera's ownership epoch. A node writes a camera's segments and events with the generation it was
-- given, and the write is refused unless that generation is still the camera's (or, during a
-- make-before-break handover, the one just before it, until the handover ends).
ALTER TABLE placement
    ALTER COLUMN node_id DROP NOT NULL,
    ADD COLUMN generation bigint NOT NULL DEFAULT 1,
    -- The node handing the camera over: it records on until the new owner has indexed a segment.
    ADD COLUMN previous_node text,
    -- The previous owner's writes are accepted until then.
    ADD COLUMN handover_until timestamptz,
    -- The new owner has indexed a segment: the previous one stops.
    ADD COLUMN handed_over boolean NOT NULL DEFAULT false,
    -- Why no node can take the camera (labels, capacity, drains), when node_id is null.
    ADD COLUMN unplaced_reason text;
CREATE INDEX placement_previous ON placement (previous_node) WHERE previous_node IS NOT NULL;

-- The generation a segment or event was written under (null: written without placement).
ALTER TABLE segments ADD COLUMN epoch bigint;
ALTER TABLE events ADD COLUMN epoch bigint;

-- Nodes an admin has drained (no cameras are placed on them).
CREATE TABLE cluster_nodes (
    node_id     text PRIMARY KEY,
    drained     boolean NOT NULL DEFAULT false,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

-- Every move the leader made, for `GET /placement` and for the chaos tests' oracles.
CREATE TABLE placement_moves (
    id          bigserial PRIMARY KEY,
    camera_id   uuid NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    generation  bigint NOT NULL,
    from_node   text,
    to_node     text NOT NULL,
    reason      text NOT NULL,
    epoch       bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX placement_moves_camera ON placement_moves (camera_id, generation);
