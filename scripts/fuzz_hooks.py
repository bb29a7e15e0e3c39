"""schemathesis hooks of scripts/fuzz-api.sh: request bodies of media types it cannot send by itself."""

import schemathesis


@schemathesis.serializer("application/sdp")
def sdp(ctx, value):
    """A WHEP offer is SDP text: whatever was generated goes on the wire as UTF-8."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")
