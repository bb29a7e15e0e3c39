-- How a segment came to be indexed: by its owner as it recorded ('live'); later, from a file its node
-- left unindexed when it crashed or was cut off, recorded while the camera was still its own
-- ('recovered'); or from a file its node wrote after the camera had moved on, while it was frozen or cut
-- off ('fenced': the new owner's recording covers that time too).
ALTER TABLE segments ADD COLUMN origin text NOT NULL DEFAULT 'live'
    CHECK (origin IN ('live', 'recovered', 'fenced'));

-- When an admin removed the node from the cluster (null: a member). Its segment rows expire with
-- their retention like any other node's, though no node is left to delete its files.
ALTER TABLE cluster_nodes ADD COLUMN removed_at timestamptz;
