-- Appearance embedding (unit vector) of what raised an event, for finding the same person elsewhere.
ALTER TABLE events ADD COLUMN embedding real[];

-- Analytics sampling of a camera in frames a second (NULL: keyframes only).
ALTER TABLE cameras ADD COLUMN sample_fps integer CHECK (sample_fps BETWEEN 1 AND 30);
