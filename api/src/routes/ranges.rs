//! Serving a segment held elsewhere than this node's disk (the object store) with HTTP Range, as
//! `actix_files` serves a local file: `Accept-Ranges`, one range per request (206 with
//! `Content-Range`), 416 for a range outside the object, and the body read in chunks. Bytes
//! already in memory are served the same way.

use crate::backend::RangeReader;
use crate::error::ApiError;
use actix_files::HttpRange;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use std::sync::Arc;
use vms_messages::SegmentContainer;

/// Bytes already in memory (a segment whose timestamps were rewritten), served by range.
pub struct InMemory(pub bytes::Bytes);

#[async_trait::async_trait]
impl RangeReader for InMemory {
    async fn read(&self, range: std::ops::Range<u64>) -> Result<bytes::Bytes, ApiError> {
        let (start, end) = (
            usize::try_from(range.start).unwrap_or(usize::MAX),
            usize::try_from(range.end).unwrap_or(usize::MAX),
        );
        if start > end || end > self.0.len() {
            return Err(ApiError::internal());
        }
        Ok(self.0.slice(start..end))
    }
}

/// Bytes read from the store per request while a body streams.
const CHUNK: u64 = 1 << 20;

/// The response to `req` for an object of `len` bytes that `reader` reads.
pub fn serve(
    req: &HttpRequest,
    len: u64,
    container: SegmentContainer,
    reader: Arc<dyn RangeReader>,
) -> HttpResponse {
    let (status, start, length) = match req.headers().get(header::RANGE) {
        None => (StatusCode::OK, 0, len),
        Some(value) => {
            let parsed = value
                .to_str()
                .ok()
                .and_then(|v| HttpRange::parse(v, len).ok());
            match parsed.as_deref() {
                Some([one]) => (StatusCode::PARTIAL_CONTENT, one.start, one.length),
                // Several ranges are not served (nor are they by the local files' handler).
                _ => {
                    return HttpResponse::RangeNotSatisfiable()
                        .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
                        .finish();
                }
            }
        }
    };
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::ACCEPT_RANGES, HeaderValue::from_static("bytes")))
        .insert_header((header::CONTENT_TYPE, container.content_type()))
        .no_chunking(length);
    if status == StatusCode::PARTIAL_CONTENT {
        response.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", start + length.saturating_sub(1)),
        ));
    }
    let end = start + length;
    let body = futures_util::stream::try_unfold(start, move |at| {
        let reader = Arc::clone(&reader);
        async move {
            if at >= end {
                return Ok(None);
            }
            let upto = (at + CHUNK).min(end);
            // Past the headers an error can only cut the body short; the reader logged why.
            let bytes = reader.read(at..upto).await.map_err(|_: ApiError| {
                std::io::Error::other("the segment's copy could not be read")
            })?;
            Ok::<_, std::io::Error>(Some((bytes, upto)))
        }
    });
    response.streaming(body)
}
