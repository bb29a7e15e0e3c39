-- Per-camera RTP transport: interleaved on the RTSP connection (tcp, the default) or UDP.
ALTER TABLE cameras
    ADD COLUMN rtsp_transport text NOT NULL DEFAULT 'tcp' CHECK (rtsp_transport IN ('tcp', 'udp'));
