-- Appearance embedding (unit vector) of what raised an event, for finding the same person elsewhere.
ALTER TABLE events ADD COLUMN embedding real[];
