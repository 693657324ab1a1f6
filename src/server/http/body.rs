//! A response body that keeps its bytes counted in the process's answer memory
//! (`GATEWAY_MAX_RESPONSE_BYTES_TOTAL`) until hyper has sent it and dropped it: an answer is in
//! flight until then, not only while it is being built.

use crate::sql::HeldMemory;
use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// One chunk, sent whole, with its memory held until the body drops.
pub struct HeldBody {
    data: Option<Bytes>,
    _held: HeldMemory,
}

impl HeldBody {
    pub fn new(data: Bytes, held: HeldMemory) -> Self {
        Self {
            data: Some(data),
            _held: held,
        }
    }
}

impl Body for HeldBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.data.take().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |data| data.len() as u64))
    }
}
