-- Rule kinds beyond intrusion (loitering, line crossing, crowd) keep their settings in params;
-- schedule holds weekly UTC windows (NULL: always on).
ALTER TABLE rules ADD COLUMN params jsonb NOT NULL DEFAULT '{}';
ALTER TABLE rules ADD COLUMN schedule jsonb;
