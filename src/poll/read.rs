//! One poll of one device over an open connection: send its planned reads, check every
//! reply, decode every point. Shared by the poller and `vigie probe`.
//!
//! tokio-modbus 0.17.0 traps handled here (shared/reference/crates.md §1): it has no
//! timeout (every call is wrapped); a reply arriving after its timeout would be taken as the
//! answer to the next request (the caller must drop the connection: [`Outcome::Timeout`]);
//! a short reply is not checked in release builds and panics in debug builds through the
//! typed read methods (we use `call` and check the length ourselves); bytes that are not
//! a Modbus frame come back as an `io::Error` of kind `InvalidData`, or, when their length
//! field asks for more, as silence until the timeout ([`super::stream`] counts the bytes
//! to tell). Only read function codes 01-04 are ever built here: vigie never writes to a
//! device.

use super::plan::ReadRequest;
use crate::profile::{DecodeError, Profile, RegisterKind, Value, decode};
use crate::sample::BadReason;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_modbus::client::{Client, Context};
use tokio_modbus::prelude::{Request, Response, Slave, SlaveContext};

/// How a device poll ended, for the connection's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every read got a reply (data or a Modbus exception).
    Answered,
    /// A read got no reply in time: the connection must be dropped (a late reply would
    /// otherwise answer the next request).
    Timeout,
    /// The connection failed (reset, closed): drop it.
    ConnectionLost,
    /// A reply did not match its request (too short, wrong function or transaction id, cut
    /// in the middle, not a Modbus frame): the stream cannot be trusted, drop the
    /// connection; the unit is at fault, not the link.
    BadReply,
    /// A gateway said the unit does not answer (exception 10 or 11): the link is fine.
    GatewayNoResponse,
    /// The poll's time budget ran out between reads: the link is fine, the unit is slow.
    OverBudget,
}

/// Result of one device poll: per point (profile order), a value or why there is none.
#[derive(Debug, Clone)]
pub struct DeviceRead {
    pub points: Vec<Result<Value, BadReason>>,
    pub outcome: Outcome,
    /// Reads sent.
    pub requests: u32,
    /// Modbus exceptions received.
    pub exceptions: u32,
    /// Replies received (data or exception): the connection works.
    pub replies: u32,
    /// Reads of several points refused with exception 2 or 3 (illegal data address or
    /// value): the device does not accept that merged read; read its points one by one.
    pub refused_merged_reads: Vec<usize>,
    /// First request to last reply.
    pub elapsed: Duration,
}

/// Maps a decoding failure to the sample's bad reason.
pub fn bad_reason(e: &DecodeError) -> BadReason {
    match e {
        DecodeError::Short { .. } => BadReason::BadReply,
        DecodeError::NoValue(_) => BadReason::NoValue,
        DecodeError::NotFinite | DecodeError::OutOfRange(_) => BadReason::OutOfRange,
    }
}

fn request_of(r: &ReadRequest) -> Request<'static> {
    match r.register {
        RegisterKind::Coil => Request::ReadCoils(r.start, r.count),
        RegisterKind::Discrete => Request::ReadDiscreteInputs(r.start, r.count),
        RegisterKind::Holding => Request::ReadHoldingRegisters(r.start, r.count),
        RegisterKind::Input => Request::ReadInputRegisters(r.start, r.count),
    }
}

enum Reply {
    Words(Vec<u16>),
    Bits(Vec<bool>),
}

/// Checks that a response is the one asked for and long enough; trims bit padding.
fn check_reply(r: &ReadRequest, resp: Response) -> Option<Reply> {
    let n = usize::from(r.count);
    match (r.register, resp) {
        (RegisterKind::Holding, Response::ReadHoldingRegisters(w))
        | (RegisterKind::Input, Response::ReadInputRegisters(w))
            if w.len() == n =>
        {
            Some(Reply::Words(w))
        }
        (RegisterKind::Coil, Response::ReadCoils(mut b))
        | (RegisterKind::Discrete, Response::ReadDiscreteInputs(mut b))
            if b.len() >= n =>
        {
            b.truncate(n);
            Some(Reply::Bits(b))
        }
        _ => None,
    }
}

/// How a read that got no usable frame in time ends: `bad_reply` when bytes came back
/// during it (`received_during` > 0: a reply cut in the middle, or garbage whose length
/// field never fills), `timeout` when nothing did.
pub fn no_frame_in_time(received_during: u64) -> (BadReason, Outcome) {
    if received_during > 0 {
        (BadReason::BadReply, Outcome::BadReply)
    } else {
        (BadReason::Timeout, Outcome::Timeout)
    }
}

/// How a read whose connection failed ends: bytes that are not a Modbus frame (tokio-modbus'
/// decoder answers `InvalidData`: a protocol id other than 0, a zero length, an unknown
/// function code) are the peer's reply, `bad_reply`; anything else (reset, closed) is the
/// link, `comm_failure`. Only `InvalidData` is trusted: tokio-modbus 0.17.0 reports a
/// closed connection with a bogus `last_os_error` kind (crates.md §1), never that one.
pub fn transport_failure(e: &std::io::Error) -> (BadReason, Outcome) {
    if e.kind() == std::io::ErrorKind::InvalidData {
        (BadReason::BadReply, Outcome::BadReply)
    } else {
        (BadReason::CommFailure, Outcome::ConnectionLost)
    }
}

/// Checks a reply to `r` and decodes its points: `(index in profile.points, value or bad
/// reason)` for each point of `r`, in `r.points` order. None when the reply is not the one
/// asked for (another function code, fewer registers or bits than asked): the caller drops
/// the connection. `r` must come from [`super::plan::plan`] of `profile`.
///
/// Pure (no I/O): the poller and `vigie probe` go through it, and so does the fuzz target
/// `modbus_decode` (fuzz/).
pub fn decode_reply(
    profile: &Profile,
    r: &ReadRequest,
    resp: Response,
) -> Option<Vec<(usize, Result<Value, BadReason>)>> {
    Some(match check_reply(r, resp)? {
        Reply::Words(words) => r
            .points
            .iter()
            .map(|&i| {
                let p = &profile.points[i];
                let at = r.offset_of(p.pdu_address);
                let v = decode::decode_registers(p, &words[at..at + usize::from(p.count)])
                    .map_err(|e| bad_reason(&e));
                (i, v)
            })
            .collect(),
        Reply::Bits(bits) => r
            .points
            .iter()
            .map(|&i| {
                let v = Value::Bool(bits[r.offset_of(profile.points[i].pdu_address)]);
                (i, Ok(v))
            })
            .collect(),
    })
}

/// Polls one device: every planned read in turn, each with `timeout`. Stops at the first
/// timeout or connection failure (the remaining points take that reason). With `budget`,
/// the whole poll ends within it: no read starts once it is spent (the remaining points are
/// `timeout`), and a read gets no more than what is left, so a slow unit behind a gateway
/// holds the line for one poll interval at most. `received` counts the bytes read from the
/// connection ([`super::stream::attach`]); a read that times out after some came back is
/// `bad_reply`, not `timeout`.
pub async fn read_device(
    ctx: &mut Context,
    received: &AtomicU64,
    unit_id: u8,
    timeout: Duration,
    budget: Option<Duration>,
    profile: &Profile,
    requests: &[ReadRequest],
) -> DeviceRead {
    let mut points: Vec<Result<Value, BadReason>> =
        vec![Err(BadReason::CommFailure); profile.points.len()];
    let mut out = DeviceRead {
        points: Vec::new(),
        outcome: Outcome::Answered,
        requests: 0,
        exceptions: 0,
        replies: 0,
        refused_merged_reads: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let start = Instant::now();
    ctx.set_slave(Slave(unit_id));
    for (k, r) in requests.iter().enumerate() {
        let fail_rest = |points: &mut Vec<Result<Value, BadReason>>, reason: BadReason| {
            for q in &requests[k..] {
                for &i in &q.points {
                    points[i] = Err(reason);
                }
            }
        };
        let left = budget.map(|b| b.saturating_sub(start.elapsed()));
        if left.is_some_and(|l| l.is_zero()) {
            fail_rest(&mut points, BadReason::Timeout);
            out.outcome = Outcome::OverBudget;
            break;
        }
        out.requests += 1;
        let wait = left.map_or(timeout, |l| l.min(timeout));
        let received_before = received.load(Ordering::Relaxed);
        let reply = tokio::time::timeout(wait, ctx.call(request_of(r))).await;
        match reply {
            Err(_elapsed) => {
                let during = received
                    .load(Ordering::Relaxed)
                    .saturating_sub(received_before);
                let (reason, outcome) = no_frame_in_time(during);
                fail_rest(&mut points, reason);
                out.outcome = outcome;
                break;
            }
            Ok(Err(tokio_modbus::Error::Protocol(_))) => {
                fail_rest(&mut points, BadReason::BadReply);
                out.outcome = Outcome::BadReply;
                break;
            }
            Ok(Err(tokio_modbus::Error::Transport(e))) => {
                let (reason, outcome) = transport_failure(&e);
                fail_rest(&mut points, reason);
                out.outcome = outcome;
                break;
            }
            Ok(Ok(Err(exception))) => {
                out.exceptions += 1;
                out.replies += 1;
                let code = u8::from(exception);
                if code == 0x0A || code == 0x0B {
                    fail_rest(&mut points, BadReason::Exception(code));
                    out.outcome = Outcome::GatewayNoResponse;
                    break;
                }
                for &i in &r.points {
                    points[i] = Err(BadReason::Exception(code));
                }
                if (code == 2 || code == 3) && r.points.len() > 1 {
                    out.refused_merged_reads.push(k);
                }
            }
            Ok(Ok(Ok(resp))) => match decode_reply(profile, r, resp) {
                None => {
                    // A short or mismatched reply: the stream can no longer be trusted.
                    fail_rest(&mut points, BadReason::BadReply);
                    out.outcome = Outcome::BadReply;
                    break;
                }
                Some(values) => {
                    out.replies += 1;
                    for (i, v) in values {
                        points[i] = v;
                    }
                }
            },
        }
    }
    out.elapsed = start.elapsed();
    out.points = points;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poll::{plan, stream};
    use std::path::Path;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn one_register() -> Profile {
        let text = "manufacturer = \"t\"\nmodel = \"t\"\nsource = \"test\"\naddress_base = 0\n\
                    [[points]]\nname = \"a\"\nregister = \"holding\"\naddress = 0\ntype = \"u16\"\n";
        Profile::parse("t", Path::new("t.toml"), text).unwrap()
    }

    /// Polls a one-register device on a loopback server that answers each 12-byte
    /// request with `answer(request)` and then keeps the connection open.
    async fn poll_against(answer: fn(&[u8]) -> Vec<u8>) -> DeviceRead {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 12];
            s.read_exact(&mut req).await.unwrap();
            s.write_all(&answer(&req)).await.unwrap();
            // Hold the connection until the client gives up.
            let _ = s.read(&mut req).await;
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut ctx, received) = stream::attach(tcp);
        let profile = one_register();
        let requests = plan::plan(&profile);
        let timeout = Duration::from_millis(300);
        let r = read_device(&mut ctx, &received, 1, timeout, None, &profile, &requests).await;
        drop(ctx);
        server.await.unwrap();
        r
    }

    /// The whole reply to a read of one holding register, value 7.
    fn full_reply(req: &[u8]) -> Vec<u8> {
        vec![req[0], req[1], 0, 0, 0, 5, req[6], 3, 2, 0, 7]
    }

    #[tokio::test]
    async fn a_whole_reply_is_good() {
        let r = poll_against(full_reply).await;
        assert_eq!(r.outcome, Outcome::Answered);
        assert_eq!(r.points, vec![Ok(Value::F64(7.0))]);
    }

    #[tokio::test]
    async fn silence_is_a_timeout() {
        let r = poll_against(|_| Vec::new()).await;
        assert_eq!(r.outcome, Outcome::Timeout);
        assert_eq!(r.points, vec![Err(BadReason::Timeout)]);
    }

    #[tokio::test]
    async fn a_reply_cut_in_the_middle_is_a_bad_reply_not_a_timeout() {
        let r = poll_against(|req| full_reply(req)[..5].to_vec()).await;
        assert_eq!(r.outcome, Outcome::BadReply);
        assert_eq!(r.points, vec![Err(BadReason::BadReply)]);
    }

    #[tokio::test]
    async fn bytes_that_are_not_modbus_are_a_bad_reply_not_a_lost_connection() {
        // Protocol id 0x5A5A: tokio-modbus' decoder refuses it with InvalidData.
        let r = poll_against(|req| vec![req[0], req[1], 0x5A, 0x5A, 0, 5, 1, 3, 2, 0, 7]).await;
        assert_eq!(r.outcome, Outcome::BadReply);
        assert_eq!(r.points, vec![Err(BadReason::BadReply)]);
    }

    #[tokio::test]
    async fn a_wrong_transaction_id_is_a_bad_reply() {
        let r = poll_against(|req| {
            let mut a = full_reply(req);
            a[0] ^= 0x80;
            a
        })
        .await;
        assert_eq!(r.outcome, Outcome::BadReply);
        assert_eq!(r.points, vec![Err(BadReason::BadReply)]);
    }

    #[test]
    fn a_closed_connection_is_a_comm_failure() {
        let e = std::io::Error::from_raw_os_error(115); // what tokio-modbus reports on EOF
        assert_eq!(
            transport_failure(&e),
            (BadReason::CommFailure, Outcome::ConnectionLost)
        );
    }
}
