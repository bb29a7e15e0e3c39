-- Refresh tokens already traded in: presenting one again means it was stolen (or the client is
-- confused), so the whole session it belonged to is revoked. Rows go with their session.
CREATE TABLE IF NOT EXISTS used_refresh_tokens (
    hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    used_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS used_refresh_tokens_session ON used_refresh_tokens (session_id);

-- RTSP credentials live apart from the camera's URL, which the API shows: they are write-only.
-- Credentials written into existing URLs (rtsp://user:pass@host/…) move into the new columns.
ALTER TABLE cameras ADD COLUMN IF NOT EXISTS rtsp_username text;
ALTER TABLE cameras ADD COLUMN IF NOT EXISTS rtsp_password text;
UPDATE cameras
SET rtsp_username = split_part(substring(url from '^[A-Za-z]+://([^/?#@]*)@'), ':', 1),
    rtsp_password = nullif(substring(substring(url from '^[A-Za-z]+://([^/?#@]*)@') from '^[^:]*:(.*)$'), ''),
    url = regexp_replace(url, '^([A-Za-z]+://)[^/?#@]*@', '\1')
WHERE url ~ '^[A-Za-z]+://[^/?#@]*@';
