//! The API server's timeouts and shutdown (`vigie::api::serve`), over plain HTTP on
//! loopback with a real client. The routes are one test route, `GET /slow/{ms}`, that
//! answers after sleeping `ms` milliseconds: vigie's own routes answer in microseconds, so
//! a handler slower than `request_timeout` has to be made.

mod support;

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use vigie::api::serve::{ServeCounters, Settings, serve};
use warp::{Filter, Reply};

/// A server on a free loopback port, on its own runtime; stopped by [`Server::stop`].
struct Server {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    counters: Arc<ServeCounters>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

fn settings(request_timeout: Duration, shutdown_grace: Duration) -> Settings {
    Settings {
        tls: None,
        header_read_timeout: Duration::from_millis(700),
        request_timeout,
        tls_handshake_timeout: Duration::from_secs(10),
        shutdown_grace,
    }
}

impl Server {
    fn start(settings: Settings) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let slow = warp::path!("slow" / u64).and_then(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, Infallible>(warp::reply::json(&json!({ "slept_ms": ms })).into_response())
        });
        let counters = Arc::new(ServeCounters::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = rt.spawn(serve(
            warp::service(slow),
            listener,
            settings,
            counters.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            rt,
            addr,
            counters,
            stop: Some(stop),
            done,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends the stop signal; how long `serve` took to return after it.
    fn stop(&mut self) -> Duration {
        let start = Instant::now();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let done = &mut self.done;
        self.rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(30), done).await })
            .expect("serve returned within 30 s")
            .expect("serve did not panic");
        start.elapsed()
    }
}

/// Reads until the server closes the connection; how long it took (panics after 10 s).
fn time_to_close(stream: &mut TcpStream) -> Duration {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    support::time_to_close(stream)
}

#[test]
fn a_slow_request_gets_503_and_slow_clients_are_dropped() {
    let mut server = Server::start(settings(Duration::from_millis(500), Duration::from_secs(5)));

    let (status, body) = support::http("GET", &server.url("/slow/50"), "");
    assert_eq!((status, body.as_str()), (200, r#"{"slept_ms":50}"#));

    let start = Instant::now();
    let r = support::request("GET", &server.url("/slow/3000"), &[], b"");
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("request_timeout (500ms)")),
        "{}",
        r.body
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let took = start.elapsed();
    assert!(took < Duration::from_millis(1500), "{took:?}");

    // Slowloris: half a request line, then nothing. Closed at header_read_timeout (700 ms).
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.write_all(b"GET /slow/0 HT").unwrap();
    let took = time_to_close(&mut slow);
    assert!(
        (Duration::from_millis(500)..Duration::from_secs(3)).contains(&took),
        "{took:?}"
    );
    // A client that connects and sends nothing: the same.
    let mut silent = TcpStream::connect(server.addr).unwrap();
    let took = time_to_close(&mut silent);
    assert!(
        (Duration::from_millis(500)..Duration::from_secs(3)).contains(&took),
        "{took:?}"
    );
    // A head dripped in pieces 300 ms apart: the 700 ms are for the whole head, not
    // between two packets, so it is refused all the same.
    let mut dripping = TcpStream::connect(server.addr).unwrap();
    for part in ["GET /slow/0 ", "HTTP/1.1\r\n", "Host: x\r\n"] {
        dripping.write_all(part.as_bytes()).unwrap();
        thread::sleep(Duration::from_millis(300));
    }
    let _ = dripping.write_all(b"\r\n");
    let mut answer = Vec::new();
    dripping
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = dripping.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    let c = &server.counters;
    assert_eq!(c.request_timeouts.load(Ordering::Relaxed), 1);
    assert_eq!(c.header_timeouts.load(Ordering::Relaxed), 3);
    assert_eq!(c.connections.load(Ordering::Relaxed), 5);
    assert_eq!(c.tls_handshake_failures.load(Ordering::Relaxed), 0);
    assert!(server.stop() < Duration::from_secs(1));
}

#[test]
fn shutdown_lets_requests_in_flight_finish() {
    let mut server = Server::start(settings(Duration::from_secs(30), Duration::from_secs(5)));
    let url = server.url("/slow/1500");
    let in_flight = thread::spawn(move || support::http("GET", &url, ""));
    thread::sleep(Duration::from_millis(300));
    let took = server.stop();
    assert_eq!(
        in_flight.join().unwrap(),
        (200, r#"{"slept_ms":1500}"#.to_string())
    );
    // It waited for the request (about 1.2 s left), not for the grace period.
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(3)).contains(&took),
        "{took:?}"
    );
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "still accepting after the stop"
    );
}

#[test]
fn shutdown_cuts_requests_still_running_after_the_grace_period() {
    let mut server = Server::start(settings(Duration::from_secs(30), Duration::from_secs(1)));
    let url = server.url("/slow/20000");
    let in_flight = thread::spawn(move || support::try_request("GET", &url, &[], b""));
    thread::sleep(Duration::from_millis(300));
    let took = server.stop();
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(3)).contains(&took),
        "{took:?}"
    );
    let answer = in_flight.join().unwrap();
    assert!(answer.is_err(), "{answer:?}");
}
