//! Serving the API: plain HTTP or HTTPS (rustls) on one listener, with the timeouts a
//! server facing a network needs, and a bounded graceful shutdown.
//!
//! warp 0.4 has no TLS of its own and its acceptor trait is private, so vigie runs the
//! accept loop itself, as warp's does: hyper-util's `auto` builder (HTTP/1.1, and HTTP/2
//! chosen by ALPN or by the client's preface) serves `warp::service(routes)` on each
//! connection, wrapped in [`Timed`] for the request timeout.
//!
//! What bounds each connection:
//! - TLS handshake: [`Settings::tls_handshake_timeout`]; a failure (plain HTTP sent to the
//!   HTTPS port, a scanner, a client that does not trust the certificate) is logged at debug
//!   and counted, and the server goes on.
//! - The first request's headers: [`Settings::header_read_timeout`] from the moment the
//!   connection is ready (after the handshake), whatever the protocol.
//! - Later HTTP/1.1 requests: hyper's `header_read_timeout`, whose clock starts when hyper
//!   waits for the next request, so an idle keep-alive connection is closed after it too.
//! - HTTP/2: pings every [`H2_KEEP_ALIVE_INTERVAL`]; a peer that does not answer within
//!   [`H2_KEEP_ALIVE_TIMEOUT`] is dropped.
//! - A request: [`Settings::request_timeout`], then 503 `{"error": …}`.

use crate::config::ApiConfig;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use warp::Reply;
use warp::http::{Request, StatusCode};
use warp::reply::Response;

/// How long in-flight requests may run after the stop signal before they are cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// HTTP/2: a ping is sent after this long without a frame from the client.
pub const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// HTTP/2: a connection whose ping is not answered within this is closed.
pub const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// What [`serve`] needs besides the routes: TLS, timeouts, the shutdown bound.
#[derive(Debug, Clone)]
pub struct Settings {
    /// HTTPS only when set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// See [`ApiConfig::header_read_timeout`].
    pub header_read_timeout: Duration,
    /// See [`ApiConfig::request_timeout`].
    pub request_timeout: Duration,
    /// See [`ApiConfig::tls_handshake_timeout`].
    pub tls_handshake_timeout: Duration,
    /// After the stop signal: how long in-flight requests may still run.
    pub shutdown_grace: Duration,
}

impl Settings {
    /// The settings of `[api]`; the certificate as `vigie check` loaded it, or read now when
    /// the configuration did not go through the check.
    ///
    /// Errors: the certificate or key cannot be read or used ([`super::tls::TlsError`]).
    pub fn from_config(api: &ApiConfig) -> Result<Settings, super::tls::TlsError> {
        let tls = match &api.tls {
            None => None,
            Some(t) => match &t.loaded {
                Some(loaded) => Some(loaded.clone()),
                None => Some(super::tls::server_config(&t.cert_file, &t.key_file)?),
            },
        };
        Ok(Settings {
            tls,
            header_read_timeout: api.header_read_timeout,
            request_timeout: api.request_timeout,
            tls_handshake_timeout: api.tls_handshake_timeout,
            shutdown_grace: SHUTDOWN_GRACE,
        })
    }
}

/// The connection-level counters, rendered at `GET /metrics` with the others.
#[derive(Debug, Default)]
pub struct ServeCounters {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// TLS handshakes that failed or did not finish within the handshake timeout.
    pub tls_handshake_failures: AtomicU64,
    /// Connections closed because a request's headers did not arrive in time (slowloris,
    /// or an idle keep-alive connection).
    pub header_timeouts: AtomicU64,
    /// Requests answered 503 after the request timeout.
    pub request_timeouts: AtomicU64,
}

impl ServeCounters {
    /// Appends the counters in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        for (name, help, v) in [
            (
                "vigie_http_connections_total",
                "HTTP API connections accepted",
                &self.connections,
            ),
            (
                "vigie_http_tls_handshake_failures_total",
                "HTTP API TLS handshakes that failed or timed out",
                &self.tls_handshake_failures,
            ),
            (
                "vigie_http_header_timeouts_total",
                "HTTP API connections closed because request headers did not arrive within header_read_timeout",
                &self.header_timeouts,
            ),
            (
                "vigie_http_request_timeouts_total",
                "HTTP API requests answered 503 after request_timeout",
                &self.request_timeouts,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
    }
}

/// The client's address, in each request's extensions (`warp::ext::get::<Peer>()`).
/// warp's own `warp::addr::remote()` reads a type private to warp and gives `None` here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// Serves `service` (e.g. `warp::service(routes)`) on `listener` until `stop` resolves;
/// then stops accepting, lets in-flight requests finish within
/// [`Settings::shutdown_grace`], cuts what is left and returns.
pub async fn serve<S>(
    service: S,
    listener: TcpListener,
    settings: Settings,
    counters: Arc<ServeCounters>,
    stop: impl Future<Output = ()> + Send + 'static,
) where
    S: tower_service::Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let settings = Arc::new(settings);
    let acceptor = settings.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut stop = pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    counters.connections.fetch_add(1, Ordering::Relaxed);
                    connections.spawn(connection(
                        tcp,
                        peer,
                        acceptor.clone(),
                        service.clone(),
                        settings.clone(),
                        counters.clone(),
                        graceful.watcher(),
                    ));
                }
                Err(e) => accept_error(e).await,
            },
        }
    }
    drop(listener);
    let grace = settings.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = connections.len(),
            "API: requests still running {grace:?} after the stop are cut"
        );
    }
    connections.shutdown().await;
}

/// As warp's accept loop: errors of one connection are ignored; others (EMFILE: too many
/// open files) are logged and the loop waits a second for descriptors to free up.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "API: cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One connection: the TLS handshake if any, then HTTP until the client leaves, a timeout
/// or the shutdown.
async fn connection<S>(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    service: S,
    settings: Arc<Settings>,
    counters: Arc<ServeCounters>,
    watcher: Watcher,
) where
    S: tower_service::Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let _ = tcp.set_nodelay(true);
    let Some(acceptor) = acceptor else {
        return http(
            TokioIo::new(tcp),
            peer,
            service,
            &settings,
            &counters,
            watcher,
        )
        .await;
    };
    let limit = settings.tls_handshake_timeout;
    match tokio::time::timeout(limit, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => {
            http(
                TokioIo::new(tls),
                peer,
                service,
                &settings,
                &counters,
                watcher,
            )
            .await
        }
        Ok(Err(e)) => {
            counters
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, error = %e, "API: TLS handshake failed");
        }
        Err(_) => {
            counters
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "API: TLS handshake not done within {limit:?}");
        }
    }
}

/// HTTP/1.1 or HTTP/2 on `io`.
async fn http<I, S>(
    io: I,
    peer: SocketAddr,
    service: S,
    settings: &Settings,
    counters: &Arc<ServeCounters>,
    watcher: Watcher,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: tower_service::Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let first_request = Arc::new(Notify::new());
    let service = Timed {
        inner: service,
        peer,
        timeout: settings.request_timeout,
        first_request: first_request.clone(),
        counters: counters.clone(),
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT);
    let conn = builder.serve_connection_with_upgrades(io, service);
    let mut conn = pin!(watcher.watch(conn));
    // hyper's header timeout starts once it knows the protocol; this one covers the bytes
    // before that too, and the first request of an HTTP/2 connection.
    let first = tokio::select! {
        result = &mut conn => Some(result),
        () = first_request.notified() => None,
        () = tokio::time::sleep(settings.header_read_timeout) => {
            counters.header_timeouts.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "API: no request within header_read_timeout; connection closed");
            return;
        }
    };
    let result = match first {
        Some(result) => result,
        None => conn.await,
    };
    if let Err(e) = result {
        let timeout = e
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout);
        if timeout {
            counters.header_timeouts.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(%peer, error = %e, "API: connection ended with an error");
    }
}

/// The routes' service with the request timeout, the client's address ([`Peer`]) in each
/// request, and a signal at the first request.
#[derive(Clone)]
struct Timed<S> {
    inner: S,
    peer: SocketAddr,
    timeout: Duration,
    first_request: Arc<Notify>,
    counters: Arc<ServeCounters>,
}

impl<S> hyper::service::Service<Request<Incoming>> for Timed<S>
where
    S: tower_service::Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        self.first_request.notify_one();
        req.extensions_mut().insert(Peer(self.peer));
        // warp's service is always ready (its `poll_ready` returns `Ready` at once).
        let mut inner = self.inner.clone();
        let answer = tower_service::Service::call(&mut inner, req);
        let limit = self.timeout;
        let counters = self.counters.clone();
        Box::pin(async move {
            match tokio::time::timeout(limit, answer).await {
                Ok(answer) => answer,
                Err(_) => {
                    counters.request_timeouts.fetch_add(1, Ordering::Relaxed);
                    Ok(too_slow(limit))
                }
            }
        })
    }
}

/// 503 with `{"error": …}`, as every other API error.
fn too_slow(limit: Duration) -> Response {
    let body = serde_json::json!({
        "error": format!(
            "no answer within request_timeout ({}); try again, or ask for less (a shorter time range, a smaller limit)",
            humantime::format_duration(limit)
        )
    });
    warp::reply::with_status(warp::reply::json(&body), StatusCode::SERVICE_UNAVAILABLE)
        .into_response()
}
