//! Compressed API answers (docs/api.md §7): an answer over [`MIN_BYTES`] is sent `br` or
//! `gzip`, whichever the request's `Accept-Encoding` prefers (tower-http's compression).
//!
//! Left as they are: a 304 and a socket's upgrade (no body), and a hostile answer chaos
//! made on purpose (a truncated or dripping body must reach the client as it was made).
//! The built app's files have their own layer (`static_files`: precompressed siblings).

use crate::chaos::Corrupted;
use axum::body::HttpBody;
use axum::http::{Response, StatusCode};
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;

/// Answers smaller than this gain less than the headers and the work cost.
pub(crate) const MIN_BYTES: u16 = 1024;

/// The layer for API routes.
pub(crate) fn layer() -> CompressionLayer<WorthCompressing> {
    CompressionLayer::new().compress_when(WorthCompressing)
}

/// Which answers are compressed (see the module doc).
#[derive(Clone, Copy, Debug)]
pub(crate) struct WorthCompressing;

impl Predicate for WorthCompressing {
    fn should_compress<B>(&self, response: &Response<B>) -> bool
    where
        B: HttpBody,
    {
        let status = response.status();
        status != StatusCode::NOT_MODIFIED
            && status != StatusCode::SWITCHING_PROTOCOLS
            && response.extensions().get::<Corrupted>().is_none()
            && SizeAbove::new(MIN_BYTES).should_compress(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn answer(status: StatusCode, bytes: usize) -> Response<Body> {
        let mut response = Response::new(Body::from(vec![b'x'; bytes]));
        *response.status_mut() = status;
        response
    }

    #[test]
    fn only_large_plain_answers_are_compressed() {
        assert!(WorthCompressing.should_compress(&answer(StatusCode::OK, 1024)));
        assert!(!WorthCompressing.should_compress(&answer(StatusCode::OK, 1023)));
        assert!(!WorthCompressing.should_compress(&answer(StatusCode::NOT_MODIFIED, 0)));
        assert!(!WorthCompressing.should_compress(&answer(StatusCode::SWITCHING_PROTOCOLS, 0)));
        let mut hostile = answer(StatusCode::OK, 4096);
        hostile.extensions_mut().insert(Corrupted);
        assert!(!WorthCompressing.should_compress(&hostile));
    }
}
