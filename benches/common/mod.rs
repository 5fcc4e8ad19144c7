//! What several benchmarks share: the demo's network, loaded without its simulator.

use std::net::SocketAddr;
use std::path::Path;
use vigie::config::Network;
use vigie::config::catalog::Catalog;

/// The demo's configuration (`src/demo/vigie.toml`) with the repository's profiles, and its
/// catalog. The simulator is not started: each gateway gets a loopback port of its own.
pub fn demo_network() -> (Network, Catalog) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Every `{NAME}` placeholder of an address gets a port of its own.
    let mut bound: Vec<(String, SocketAddr)> = Vec::new();
    let mut rest = vigie::demo::VIGIE_TOML;
    while let Some(start) = rest.find("\"{") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find("}\"") else {
            break;
        };
        let name = &rest[..end];
        let placeholder = name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if placeholder && name != "DATA_DIR" && !bound.iter().any(|(n, _)| n == name) {
            let port = 5020 + bound.len() as u16;
            bound.push((name.to_string(), SocketAddr::from(([127, 0, 0, 1], port))));
        }
    }
    let text = vigie::demo::vigie_toml(&bound, Path::new("/tmp/vigie-bench"));
    let network = match vigie::config::check::from_text(
        Path::new("demo/vigie.toml"),
        &text,
        Some(&dir.join("plc-profiles")),
    ) {
        Ok(n) => n,
        Err(e) => panic!("demo config: {e:?}"),
    };
    let catalog = Catalog::new(&network);
    (network, catalog)
}
