-- The node that recorded a segment, when another node holds the file indexed: a camera's standby
-- indexing its copy of what a dead owner left unindexed. NULL: the holder recorded it.
ALTER TABLE segments ADD COLUMN recorded_by text;
