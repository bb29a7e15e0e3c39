-- Refresh tokens already traded in: presenting one again means it was stolen (or the client is
-- confused), so the whole session it belonged to is revoked. Rows go with their session.
CREATE TABLE IF NOT EXISTS used_refresh_tokens (
    hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    used_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS used_refresh_tokens_session ON used_refresh_tokens (session_id);
