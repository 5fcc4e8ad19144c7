//! HTTPS on the API: `vigie run` with `[api.tls]` polling `vigie simulate`, checked with
//! real clients (reqwest over rustls, curl over OpenSSL, raw sockets for misbehaving
//! clients), and `vigie check` naming the certificate or key at fault.
//!
//! Certificates are made at test time with the `openssl` CLI: a CA, and a server
//! certificate for 127.0.0.1 it signs, served as a full chain (server, then CA).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::vigie::{VIGIE, VigieChild};
use support::{eventually, require};

const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plc-profiles");

/// Runs `openssl ARGS` in `dir`; panics with its stderr when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(require("openssl"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes in `dir`: `ca.pem` (the root clients trust), `fullchain.pem` (the server's
/// certificate for 127.0.0.1 and localhost, then the CA), `server.key` (its key) and
/// `other.key` (a key of no certificate).
fn make_certificates(dir: &Path) {
    let p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &p256,
            &["-nodes", "-days", "2"],
            &[
                "-subj",
                "/CN=vigie test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req"][..],
            &p256,
            &[
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "other.key",
        ],
    );
    let chain = [
        std::fs::read_to_string(dir.join("server.pem")).unwrap(),
        std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("fullchain.pem"), chain).unwrap();
}

/// A reqwest client (rustls) that trusts only the test CA.
fn client(dir: &Path) -> reqwest::Client {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A blocking rustls client connection to `addr` that trusts the test CA.
fn tls_stream(
    dir: &Path,
    addr: SocketAddr,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// `curl ARGS` (OpenSSL, a client vigie does not share code with): stdout, or a panic
/// with stderr.
fn curl(args: &[&str]) -> String {
    let out = Command::new(require("curl"))
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Prometheus counter's value in `/metrics` text.
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{metrics}"))
}

#[test]
fn vigie_run_serves_the_api_over_https_only() {
    let dir = tempfile::Builder::new()
        .prefix("vigie-tls-")
        .tempdir()
        .unwrap();
    let dir = dir.path();
    make_certificates(dir);
    let (_sim, meter) = support::vigie::fixed_meter_simulator(dir);
    // Relative paths: read from the working directory, like every path in vigie.toml.
    std::fs::write(
        dir.join("vigie.toml"),
        format!(
            r#"[daemon]
profiles_dir = {PROFILES:?}
data_dir = "var"

[api]
listen = "127.0.0.1:0"
header_read_timeout = "1s"
tls_handshake_timeout = "1s"

[api.tls]
cert_file = "fullchain.pem"
key_file = "server.key"

[[sites]]
id = "LAB"
kind = "substation"

[[sites.devices]]
id = "meter"
profile = "eastron-sdm630"
address = "{meter}"
unit_id = 7
"#
        ),
    )
    .unwrap();
    let mut vigie = VigieChild::spawn(&["run", "-c", "vigie.toml"], dir);
    let addr: SocketAddr = vigie.wait_line(Duration::from_secs(60), "`API on https://...`", |l| {
        l.strip_prefix("vigie running: API on https://")?
            .parse()
            .ok()
    });
    let base = format!("https://{addr}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let https = client(dir);
    let get = |path: &str| -> (u16, String, reqwest::Version) {
        rt.block_on(async {
            let r = https
                .get(format!("{base}{path}"))
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {path} over HTTPS: {e:?}"));
            let (status, version) = (r.status().as_u16(), r.version());
            (status, r.text().await.unwrap(), version)
        })
    };

    // reqwest (rustls, HTTP/1.1 only in vigie's build), trusting the CA: the chain is served.
    let (status, body, version) = get("/health");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    assert_eq!(version, reqwest::Version::HTTP_11);
    let voltage = eventually(Duration::from_secs(20), "a good voltage over HTTPS", || {
        let (status, body, _) = get("/api/v1/points");
        assert_eq!(status, 200, "{body}");
        let points: Value = serde_json::from_str(&body).unwrap();
        points.as_array()?.iter().find_map(|p| {
            (p["point"] == "voltage_l1_v" && p["quality"] == "good").then(|| p["value"].clone())
        })
    });
    assert_eq!(voltage, 230.5);

    // curl (OpenSSL): HTTP/2 chosen by ALPN, HTTP/1.1 on request, TLS 1.2 and 1.3.
    let cacert = dir.join("ca.pem");
    let cacert = cacert.to_str().unwrap();
    let url = format!("{base}/api/v1/points/LAB/meter/voltage_l1_v");
    let out = curl(&[
        "--cacert",
        cacert,
        "--http2",
        "-w",
        "\n%{http_version}",
        &url,
    ]);
    let (body, version) = out.rsplit_once('\n').unwrap();
    assert_eq!(version, "2", "{out}");
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap()["point"],
        "voltage_l1_v"
    );
    let out = curl(&[
        "--cacert",
        cacert,
        "--http1.1",
        "-w",
        "\n%{http_version}",
        &url,
    ]);
    assert!(out.ends_with("\n1.1"), "{out}");
    for tls in [&["--tlsv1.2", "--tls-max", "1.2"][..], &["--tlsv1.3"][..]] {
        let out = curl(&[tls, &["--cacert", cacert, &format!("{base}/health")][..]].concat());
        assert_eq!(out, r#"{"status":"ok"}"#, "curl {tls:?}");
    }

    // Plain HTTP to the HTTPS port: refused (no HTTP answer), the server goes on.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(get("/health").0, 200);

    // A client that connects and says nothing: dropped at tls_handshake_timeout (1 s).
    let mut silent = TcpStream::connect(addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let took = support::time_to_close(&mut silent);
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(4)).contains(&took),
        "{took:?}"
    );

    // Slowloris over TLS: half a request line, then nothing. Closed at
    // header_read_timeout (1 s).
    let mut slow = tls_stream(dir, addr);
    slow.write_all(b"GET /health HT").unwrap();
    slow.flush().unwrap();
    let took = support::time_to_close(&mut slow);
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(4)).contains(&took),
        "{took:?}"
    );

    // An idle keep-alive connection after an answer: closed at header_read_timeout too.
    let mut idle = tls_stream(dir, addr);
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let took = support::time_to_close(&mut idle);
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(4)).contains(&took),
        "{took:?}"
    );

    let (_, metrics, _) = get("/metrics");
    // The plain-HTTP attempt and the silent client.
    assert!(
        counter(&metrics, "vigie_http_tls_handshake_failures_total") >= 2,
        "{metrics}"
    );
    assert!(
        counter(&metrics, "vigie_http_header_timeouts_total") >= 2,
        "{metrics}"
    );
    vigie.assert_running("after the misbehaving clients");
}

/// `vigie check -c vigie.toml` in `dir`: its exit status and its output (stdout, where it
/// prints the errors, then stderr).
fn check(dir: &Path, tls: &str) -> (Option<i32>, String) {
    std::fs::write(
        dir.join("vigie.toml"),
        format!("[daemon]\nprofiles_dir = {PROFILES:?}\n\n[api]\nlisten = \"127.0.0.1:0\"\n\n[api.tls]\n{tls}"),
    )
    .unwrap();
    let out = Command::new(VIGIE)
        .args(["check", "-c", "vigie.toml"])
        .current_dir(dir)
        .output()
        .expect("run vigie check");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn vigie_check_names_the_certificate_or_key_at_fault() {
    let dir = tempfile::Builder::new()
        .prefix("vigie-tls-check-")
        .tempdir()
        .unwrap();
    let dir = dir.path();
    make_certificates(dir);
    std::fs::write(dir.join("notes.txt"), "not a certificate\n").unwrap();
    let (status, output) = check(
        dir,
        "cert_file = \"fullchain.pem\"\nkey_file = \"server.key\"\n",
    );
    assert_eq!(status, Some(0), "{output}");

    // (case, [api.tls] body, line, key, fragments of the message)
    let cases: [(&str, &str, usize, &str, &[&str]); 5] = [
        (
            "certificate file missing",
            "cert_file = \"nope.pem\"\nkey_file = \"server.key\"\n",
            8,
            "api.tls.cert_file",
            &["cannot read nope.pem", "No such file"],
        ),
        (
            "certificate file not PEM",
            "cert_file = \"notes.txt\"\nkey_file = \"server.key\"\n",
            8,
            "api.tls.cert_file",
            &["notes.txt", "no PEM certificate"],
        ),
        (
            "no private key in the key file",
            "cert_file = \"fullchain.pem\"\nkey_file = \"ca.pem\"\n",
            9,
            "api.tls.key_file",
            &["ca.pem", "no PEM private key"],
        ),
        (
            "key of another certificate",
            "cert_file = \"fullchain.pem\"\nkey_file = \"other.key\"\n",
            9,
            "api.tls.key_file",
            &[
                "other.key",
                "does not match the certificate in fullchain.pem",
            ],
        ),
        (
            "the CA's key with the server's certificate",
            "cert_file = \"server.pem\"\nkey_file = \"ca.key\"\n",
            9,
            "api.tls.key_file",
            &["ca.key", "does not match"],
        ),
    ];
    for (name, tls, line, key, fragments) in cases {
        let (status, output) = check(dir, tls);
        assert_eq!(status, Some(1), "{name}: {output}");
        let expected = format!("vigie.toml:{line}: {key}: ");
        assert!(
            output.contains(&expected),
            "{name}: {expected:?} not in {output}"
        );
        for f in fragments {
            assert!(output.contains(f), "{name}: {f:?} not in {output}");
        }
    }
}
