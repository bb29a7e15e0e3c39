-- How much of each segment its standby holds: the node (`mirrored_to`) and how many bytes from the
-- start of the file it acknowledged as durable (`mirrored_bytes`). A fragment lying wholly within
-- them has a second copy; nothing counts as copied without the standby's acknowledgement.
ALTER TABLE segments ADD COLUMN mirrored_to text;
ALTER TABLE segments ADD COLUMN mirrored_bytes bigint NOT NULL DEFAULT 0;
CREATE INDEX segments_unmirrored ON segments (camera_id, end_ts)
    WHERE object_key IS NULL AND on_disk;
