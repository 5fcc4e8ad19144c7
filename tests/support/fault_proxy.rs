//! A Modbus TCP fault proxy: listens on a free loopback port in front of a real Modbus
//! server and, per request, forwards it or misbehaves the way field links and gateways do.
//! The fault is switched at run time from the test ([`FaultProxy::set`]).
//!
//! It reads whole MBAP frames (7-byte header: transaction id, protocol id, length of what
//! follows counting the unit id, unit id; then the PDU), so it cuts and rewrites whole
//! responses, and it records every function code the client sends: vigie must only send
//! reads (01-04).
//!
//! Use from a test file that declares `mod support;` with
//! `use support::fault_proxy::{Fault, FaultProxy};`.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with each request from now on (each request takes the fault set
/// when it arrives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward the request and the server's response unchanged.
    None,
    /// Forward, and hold the response this long before sending it.
    Delay(Duration),
    /// Reset the client's connection (RST: SO_LINGER 0, then close) on each request.
    Reset,
    /// Send the first half of the response's bytes, then nothing more (the connection
    /// stays open until the client closes it).
    Half,
    /// Send the response with another transaction id (its top bit flipped).
    WrongTid,
    /// Answer random bytes, as many as the real response of a register read would have.
    Garbage,
    /// Read requests and never answer them; the connection stays open.
    Blackhole,
}

impl Fault {
    /// A short name for figures and messages: `none`, `delay`, `reset`, `half`, `wrong_tid`,
    /// `garbage`, `blackhole`.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Delay(_) => "delay",
            Fault::Reset => "reset",
            Fault::Half => "half",
            Fault::WrongTid => "wrong_tid",
            Fault::Garbage => "garbage",
            Fault::Blackhole => "blackhole",
        }
    }
}

#[derive(Debug, Default)]
struct Seen {
    requests: u64,
    function_codes: Vec<u8>,
}

/// The proxy, on its own tokio runtime; stopped (every connection closed) on drop.
pub struct FaultProxy {
    /// `127.0.0.1:PORT`, the address to give vigie.
    pub addr: String,
    fault: Arc<Mutex<Fault>>,
    seen: Arc<Mutex<Seen>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`), one
    /// upstream connection per client connection, with [`Fault::None`].
    pub fn start(upstream: &str) -> FaultProxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("build the fault proxy's runtime");
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind the fault proxy");
        let addr = listener.local_addr().expect("local_addr").to_string();
        let fault = Arc::new(Mutex::new(Fault::None));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (f, s, up) = (fault.clone(), seen.clone(), upstream.to_string());
        rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (f, s, up) = (f.clone(), s.clone(), up.clone());
                tokio::spawn(async move {
                    // An error ends this connection only (the client or server closed it).
                    let _ = serve(client, &up, &f, &s).await;
                });
            }
        });
        FaultProxy {
            addr,
            fault,
            seen,
            rt: Some(rt),
        }
    }

    /// Sets the fault applied to the requests that arrive from now on.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Requests received since the start.
    pub fn requests(&self) -> u64 {
        self.seen.lock().unwrap().requests
    }

    /// Every distinct function code received, sorted.
    pub fn function_codes(&self) -> Vec<u8> {
        self.seen.lock().unwrap().function_codes.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// Reads one MBAP frame (header and PDU); `Ok(None)` at a clean end of stream.
async fn read_frame(s: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut frame = vec![0u8; 7];
    match s.read_exact(&mut frame).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = usize::from(u16::from_be_bytes([frame[4], frame[5]]));
    frame.resize(7 + len.saturating_sub(1), 0);
    s.read_exact(&mut frame[7..]).await?;
    Ok(Some(frame))
}

/// Waits until the client closes (or resets) its connection, discarding what it sends.
async fn hold(client: &mut TcpStream) {
    let mut buf = [0u8; 512];
    while matches!(client.read(&mut buf).await, Ok(n) if n > 0) {}
}

async fn serve(
    mut client: TcpStream,
    upstream: &str,
    fault: &Mutex<Fault>,
    seen: &Mutex<Seen>,
) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut server = TcpStream::connect(upstream).await?;
    server.set_nodelay(true)?;
    while let Some(request) = read_frame(&mut client).await? {
        {
            let mut seen = seen.lock().unwrap();
            seen.requests += 1;
            let fc = request.get(7).copied().unwrap_or(0);
            if !seen.function_codes.contains(&fc) {
                seen.function_codes.push(fc);
                seen.function_codes.sort_unstable();
            }
        }
        let now = *fault.lock().unwrap();
        match now {
            Fault::Reset => {
                client.set_zero_linger()?;
                return Ok(());
            }
            Fault::Blackhole => {
                hold(&mut client).await;
                return Ok(());
            }
            Fault::Garbage => {
                // A register read's response: 7 + 2 (function, byte count) + 2 per register.
                let count = request
                    .get(10..12)
                    .map_or(1, |c| usize::from(u16::from_be_bytes([c[0], c[1]])));
                let garbage: Vec<u8> = (0..9 + 2 * count.min(125))
                    .map(|_| rand::random())
                    .collect();
                client.write_all(&garbage).await?;
                continue;
            }
            _ => {}
        }
        server.write_all(&request).await?;
        let Some(mut response) = read_frame(&mut server).await? else {
            return Ok(());
        };
        match now {
            Fault::Delay(d) => tokio::time::sleep(d).await,
            Fault::WrongTid => response[0] ^= 0x80,
            Fault::Half => {
                client.write_all(&response[..response.len() / 2]).await?;
                hold(&mut client).await;
                return Ok(());
            }
            _ => {}
        }
        client.write_all(&response).await?;
    }
    Ok(())
}
