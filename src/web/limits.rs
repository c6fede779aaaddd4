//! Limits on what a client may hold: the length of the request line (414), how long a
//! body may take to arrive (408) and how many bodies are read at once (503 Retry-After).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Longest request line (method, target, version) and URI accepted.
pub const MAX_REQUEST_LINE: usize = 16 * 1024;
/// What a refused connection may still send before it is closed: enough for its body to
/// be read so the client sees the 414 instead of a reset.
const DRAIN_BYTES: usize = 4 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// How long a body waits for a reading slot before the server answers 503.
pub const UPLOAD_QUEUE_WAIT: Duration = Duration::from_millis(500);
/// Retry-After of that 503, in seconds.
pub const UPLOAD_RETRY_AFTER: u64 = 5;

/// A connection that answers 414 itself when its first request line is longer than
/// [`MAX_REQUEST_LINE`]: actix-http would answer 431 and close with the rest of the
/// request unread, which the client sees as a connection reset.
pub struct HeadGuard<T> {
    io: T,
    /// Bytes of the first request line seen so far; `None` once it has ended.
    line: Option<usize>,
    state: GuardState,
}

enum GuardState {
    Pass,
    Refusing {
        response: Vec<u8>,
        written: usize,
        drained: usize,
        until: Pin<Box<Sleep>>,
    },
    Closed,
}

impl<T> HeadGuard<T> {
    pub fn new(io: T) -> HeadGuard<T> {
        HeadGuard {
            io,
            line: Some(0),
            state: GuardState::Pass,
        }
    }
}

fn uri_too_long_response() -> Vec<u8> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": "URI Too Long",
        "status": 414,
        "detail": format!(
            "the request line is longer than {MAX_REQUEST_LINE} bytes: shorten the URL (send long input in a POST body)"
        ),
    })
    .to_string();
    format!(
        "HTTP/1.1 414 URI Too Long\r\ncontent-type: application/problem+json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                GuardState::Pass => {
                    let before = buf.filled().len();
                    ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
                    let Some(seen) = this.line else {
                        return Poll::Ready(Ok(()));
                    };
                    let fresh = &buf.filled()[before..];
                    let end = fresh.iter().position(|b| *b == b'\n');
                    let length = seen + end.unwrap_or(fresh.len());
                    if length > MAX_REQUEST_LINE {
                        // Nothing of this request reaches the application.
                        buf.set_filled(before);
                        this.state = GuardState::Refusing {
                            response: uri_too_long_response(),
                            written: 0,
                            drained: 0,
                            until: Box::pin(tokio::time::sleep(DRAIN_TIME)),
                        };
                        continue;
                    }
                    this.line = if end.is_some() { None } else { Some(length) };
                    return Poll::Ready(Ok(()));
                }
                GuardState::Refusing {
                    response,
                    written,
                    drained,
                    until,
                } => {
                    while *written < response.len() {
                        match ready!(Pin::new(&mut this.io).poll_write(cx, &response[*written..])) {
                            Ok(0) | Err(_) => {
                                this.state = GuardState::Closed;
                                return Poll::Ready(Ok(()));
                            }
                            Ok(n) => *written += n,
                        }
                    }
                    // Read what the client still sends, so closing does not reset.
                    let mut scratch = [0u8; 8192];
                    loop {
                        if *drained > DRAIN_BYTES || until.as_mut().poll(cx).is_ready() {
                            this.state = GuardState::Closed;
                            return Poll::Ready(Ok(()));
                        }
                        let mut rb = ReadBuf::new(&mut scratch);
                        match ready!(Pin::new(&mut this.io).poll_read(cx, &mut rb)) {
                            Ok(()) if !rb.filled().is_empty() => *drained += rb.filled().len(),
                            _ => {
                                this.state = GuardState::Closed;
                                return Poll::Ready(Ok(()));
                            }
                        }
                    }
                }
                // End of stream for the HTTP layer.
                GuardState::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.state {
            GuardState::Pass => Pin::new(&mut this.io).poll_write(cx, buf),
            // The 414 is the answer; whatever the HTTP layer adds is dropped.
            _ => Poll::Ready(Ok(buf.len())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.state {
            GuardState::Pass => Pin::new(&mut this.io).poll_write_vectored(cx, bufs),
            _ => Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.state {
            GuardState::Pass => Pin::new(&mut this.io).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Slots for request bodies being read, shared by every worker.
#[derive(Clone)]
pub struct Uploads {
    slots: Arc<Semaphore>,
    pub body_timeout: Duration,
}

impl Uploads {
    pub fn new(max: usize, body_timeout: Duration) -> Uploads {
        Uploads {
            slots: Arc::new(Semaphore::new(max.max(1))),
            body_timeout,
        }
    }

    /// A slot, waiting briefly for one; `None` when the server is busy with bodies.
    pub async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Some(p);
        }
        tokio::time::timeout(UPLOAD_QUEUE_WAIT, self.slots.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

/// Whether the request announces a body (a length above zero, or chunked).
pub fn has_body(req: &ServiceRequest) -> bool {
    let h = req.headers();
    let length = h
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    length.is_some_and(|n| n > 0) || h.contains_key(actix_web::http::header::TRANSFER_ENCODING)
}

/// The request body with a deadline; the slot is given back as soon as the body has
/// been read (or dropped).
pub struct TimedBody {
    inner: Payload,
    deadline: Pin<Box<Sleep>>,
    slot: Option<OwnedSemaphorePermit>,
    timed_out: Arc<AtomicBool>,
}

impl TimedBody {
    pub fn wrap(
        req: &mut ServiceRequest,
        timeout: Duration,
        slot: OwnedSemaphorePermit,
    ) -> Arc<AtomicBool> {
        let timed_out = Arc::new(AtomicBool::new(false));
        let body = TimedBody {
            inner: req.take_payload(),
            deadline: Box::pin(tokio::time::sleep_until(Instant::now() + timeout)),
            slot: Some(slot),
            timed_out: timed_out.clone(),
        };
        let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(body);
        req.set_payload(Payload::from(stream));
        timed_out
    }
}

impl Stream for TimedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.slot.is_none() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            if !matches!(item, Some(Ok(_))) {
                this.slot = None;
            }
            return Poll::Ready(item);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.slot = None;
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        Poll::Pending
    }
}
