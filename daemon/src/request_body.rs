//! The request body as handlers see it: hyper's body and, for uploads, a stall watch.
//!
//! An upload is not bound by `server.request_timeout` (a 5 MiB file on a slow phone link takes
//! minutes); instead its body may not go silent for longer than `uploads.idle_timeout`, and the
//! whole request may not last longer than `uploads.total_timeout` (both enforced in `app`).
//! The silence is measured here: only while the handler waits for the next piece of the body,
//! so time spent storing what already arrived never counts against the client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// hyper's request body, optionally watched for stalls.
pub struct RequestBody {
    inner: Incoming,
    watch: Option<StallWatch>,
}

struct StallWatch {
    limit: Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
    stalled: Arc<Notify>,
}

impl RequestBody {
    /// A body read as it comes, without a stall watch.
    pub fn plain(inner: Incoming) -> Self {
        Self { inner, watch: None }
    }

    /// A body that signals `stalled` once no piece of it has arrived for `limit` while the
    /// handler was waiting for one. The body itself then just waits: whoever holds `stalled`
    /// ends the request (dropping the handler, which discards a partial upload).
    pub fn watched(inner: Incoming, limit: Duration, stalled: Arc<Notify>) -> Self {
        Self {
            inner,
            watch: Some(StallWatch {
                limit,
                timer: Box::pin(tokio::time::sleep(limit)),
                armed: false,
                stalled,
            }),
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(w) = &mut this.watch {
                    w.armed = false;
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                if let Some(w) = &mut this.watch {
                    if !w.armed {
                        w.timer.as_mut().reset(Instant::now() + w.limit);
                        w.armed = true;
                    }
                    if w.timer.as_mut().poll(cx).is_ready() {
                        w.stalled.notify_one();
                    }
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
