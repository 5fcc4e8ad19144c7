//! The TCP stream under a Modbus connection, counting the bytes that come back on it.
//!
//! tokio-modbus 0.17.0 cannot say whether anything arrived before a read timed out: a reply
//! cut in the middle, or bytes that are not Modbus with a length field that never fills,
//! look like silence. The count tells them apart, so such a read is reported `bad_reply`
//! (the device or gateway answers, but not with a usable frame) rather than `timeout` (it
//! said nothing): the engineer checks the gateway's firmware or the port's service, not the
//! cabling or the unit's power.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes read from a connection since it opened, shared with the stream that counts them.
pub type ReceivedBytes = Arc<AtomicU64>;

/// A TCP stream that adds every byte read from it to a shared counter.
#[derive(Debug)]
pub struct CountingStream {
    inner: TcpStream,
    received: ReceivedBytes,
}

/// A tokio-modbus client over `stream`, and the counter of bytes read from it.
pub fn attach(stream: TcpStream) -> (tokio_modbus::client::Context, ReceivedBytes) {
    let received = ReceivedBytes::default();
    let counted = CountingStream {
        inner: stream,
        received: received.clone(),
    };
    (tokio_modbus::client::tcp::attach(counted), received)
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        this.received.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
