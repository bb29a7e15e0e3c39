-- Ingest v2 records fragmented MP4: each segment row says what its file holds (container, video
-- codec and size, audio) and where its fragments are, so playback seeks and live view starts from a
-- keyframe without reading the file. Rows from before stay MPEG-TS.
ALTER TABLE segments
    ADD COLUMN container text NOT NULL DEFAULT 'ts' CHECK (container IN ('ts', 'fmp4')),
    ADD COLUMN video_codec text,
    ADD COLUMN width integer,
    ADD COLUMN height integer,
    ADD COLUMN audio_codec text,
    ADD COLUMN init_len bigint,
    ADD COLUMN fragments jsonb NOT NULL DEFAULT '[]';
