//! vigie's daemon in the test process, on its own runtime, answering on a free port; the
//! test thread makes blocking HTTP calls to it.

use serde_json::Value;
use std::time::Duration;

/// A running daemon.
pub struct InProcess {
    rt: tokio::runtime::Runtime,
    daemon: Option<vigie::daemon::Daemon>,
    pub base: String,
}

impl InProcess {
    /// Starts every stage of `net`, the API on 127.0.0.1 and a free port.
    pub fn start(net: &vigie::config::Network) -> InProcess {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let daemon = rt
            .block_on(vigie::daemon::start(
                net,
                Some("127.0.0.1:0".parse().unwrap()),
            ))
            .unwrap();
        let base = format!("http://{}", daemon.api_addr);
        InProcess {
            rt,
            daemon: Some(daemon),
            base,
        }
    }

    /// `METHOD path` with a JSON body (or none) and extra headers: the status and the
    /// answer as JSON (null when it is not JSON).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let r = super::request(
            method,
            &format!("{}{path}", self.base),
            headers,
            body.as_bytes(),
        );
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(Value::Null),
        )
    }

    /// Stops it the way SIGTERM does.
    pub fn stop(mut self) {
        if let Some(d) = self.daemon.take() {
            self.rt.block_on(d.shutdown(Duration::from_secs(5)));
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.take() {
            self.rt.block_on(d.shutdown(Duration::from_secs(5)));
        }
    }
}

/// Writes `text` as `dir/vigie.toml` and loads it (no environment variables); panics with
/// the errors when it is refused.
pub fn load_config(dir: &std::path::Path, text: &str) -> vigie::config::Network {
    let path = dir.join("vigie.toml");
    std::fs::write(&path, text).unwrap();
    vigie::config::load(&path, Some(std::collections::HashMap::new()))
        .unwrap_or_else(|e| panic!("{e:?}"))
}
