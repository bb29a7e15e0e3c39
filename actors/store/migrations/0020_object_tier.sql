-- The object-storage tier: a segment's key in the object store once uploaded (NULL: not yet), and
-- whether its holder still keeps the file on its disk (false once the local copy is dropped: after
-- storage.local_hours or under disk pressure, and only when the object store holds it).
ALTER TABLE segments ADD COLUMN object_key text;
ALTER TABLE segments ADD COLUMN on_disk boolean NOT NULL DEFAULT true;
CREATE INDEX segments_upload_pending ON segments (node, end_ts) WHERE object_key IS NULL;
CREATE INDEX segments_local_uploaded ON segments (node, end_ts) WHERE on_disk AND object_key IS NOT NULL;
