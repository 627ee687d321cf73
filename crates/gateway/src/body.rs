//! Response bodies streamed from an upstream: frame by frame, with an idle timeout, holding
//! the upstream's in-flight permit until the last frame, and the lease of the upstream
//! connection, which goes back to its pool once the body was read to its end.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::pool::Lease;

/// Why a relayed body ended early.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("the upstream sent nothing for {0:?}")]
    Idle(Duration),
    #[error("the upstream stream failed")]
    Upstream,
    #[error("Portcullis is shutting down")]
    Shutdown,
}

pin_project_lite::pin_project! {
    /// Wraps an upstream body.
    pub struct RelayBody<B> {
        #[pin]
        inner: B,
        #[pin]
        idle: Sleep,
        idle_timeout: Duration,
        // Cancelled when a graceful shutdown reaches its deadline (or, for standalone streams,
        // when it starts): the body then ends instead of holding the process open.
        cut: Option<CancellationToken>,
        // Waits for `cut`; made only once the upstream keeps the body waiting, so an answer
        // that is there at once never registers with the token.
        #[pin]
        cut_wait: Option<WaitForCancellationFutureOwned>,
        _permit: Option<OwnedSemaphorePermit>,
        lease: Option<Lease>,
        done: bool,
    }
}

impl<B> RelayBody<B> {
    pub fn new(
        inner: B,
        idle_timeout: Duration,
        permit: Option<OwnedSemaphorePermit>,
        cut: Option<CancellationToken>,
        mut lease: Option<Lease>,
    ) -> Self
    where
        B: Body,
    {
        // An answer without a body may never be polled: its connection is free already.
        if inner.is_end_stream()
            && let Some(lease) = &mut lease
        {
            lease.complete();
        }
        RelayBody {
            inner,
            idle: tokio::time::sleep(idle_timeout),
            idle_timeout,
            cut,
            cut_wait: None,
            _permit: permit,
            lease,
            done: false,
        }
    }
}

impl<B> Body for RelayBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = StreamError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamError>>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                // The server stops polling once the body says it has ended.
                if this.inner.is_end_stream()
                    && let Some(lease) = this.lease.as_mut()
                {
                    lease.complete();
                } else {
                    this.idle
                        .as_mut()
                        .reset(Instant::now() + *this.idle_timeout);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(_))) => {
                *this.done = true;
                Poll::Ready(Some(Err(StreamError::Upstream)))
            }
            Poll::Ready(None) => {
                *this.done = true;
                if let Some(lease) = this.lease.as_mut() {
                    lease.complete();
                }
                Poll::Ready(None)
            }
            Poll::Pending => {
                // The cut is looked at only while the body waits on the upstream: a body whose
                // frames are there ends by itself, and one that waits registers with the token
                // once (the token's checks take a lock that every request would share).
                if this.cut_wait.is_none()
                    && let Some(cut) = this.cut.as_ref()
                {
                    this.cut_wait.set(Some(cut.clone().cancelled_owned()));
                }
                if let Some(wait) = this.cut_wait.as_pin_mut()
                    && wait.poll(cx).is_ready()
                {
                    *this.done = true;
                    return Poll::Ready(Some(Err(StreamError::Shutdown)));
                }
                match this.idle.poll(cx) {
                    Poll::Ready(()) => {
                        *this.done = true;
                        Poll::Ready(Some(Err(StreamError::Idle(*this.idle_timeout))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
