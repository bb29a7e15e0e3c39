-- When each segment row was last written (by the database's clock), so that a write can be judged
-- against the placement history: a node may write a camera at an epoch only while that epoch is the
-- camera's (or, handing it over, until the handover ends).
ALTER TABLE segments ADD COLUMN indexed_at timestamptz NOT NULL DEFAULT now();
