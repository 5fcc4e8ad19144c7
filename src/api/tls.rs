//! `[api.tls]`: the API's certificate and private key, read by `vigie check` into a rustls
//! server configuration (TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`, the `ring` provider).
//!
//! The provider is given explicitly rather than installed as the process default: rustls
//! panics when it must pick a default and finds two providers compiled in (rustls 0.23
//! `CryptoProvider::get_default`), and keeping the choice local means no other crate's
//! features can change it. `ring` is the provider lettre's rustls feature already uses.

use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `[api.tls]`: when present, the API answers HTTPS only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM: the server certificate first, then any intermediate certificates (a "full
    /// chain", as Let's Encrypt's `fullchain.pem`). Relative to the working directory, like
    /// every path in `vigie.toml`.
    pub cert_file: PathBuf,
    /// PEM: the private key (PKCS#8 `BEGIN PRIVATE KEY`, PKCS#1 `BEGIN RSA PRIVATE KEY` or
    /// SEC1 `BEGIN EC PRIVATE KEY`), unencrypted. It may share a file with the certificate.
    pub key_file: PathBuf,
    /// The server configuration built from both files by `vigie check` ([`TlsConfig::load`]).
    #[serde(skip)]
    pub loaded: Option<Arc<ServerConfig>>,
}

/// Why the certificate or the key cannot be used. Each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// `cert_file` or `key_file`.
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: no PEM certificate (a `-----BEGIN CERTIFICATE-----` block) found; a DER file converts with `openssl x509 -inform der -in cert.der -out cert.pem`",
        path.display()
    )]
    NoCertificate { path: PathBuf },
    #[error(
        "{}: no PEM private key (`BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY`) found (an encrypted key must be decrypted first: `openssl pkey -in key.pem -out plain.pem`)",
        path.display()
    )]
    NoKey { path: PathBuf },
    #[error("{}: not valid PEM: {message}", path.display())]
    NotPem {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{}: the certificate cannot be used: {message}", path.display())]
    BadCertificate { path: PathBuf, message: String },
    #[error("{}: the private key cannot be used: {message}", path.display())]
    BadKey { path: PathBuf, message: String },
    #[error(
        "the private key in {} does not match the certificate in {} (the first certificate of the file must be the server's own)",
        key.display(),
        cert.display()
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
}

impl TlsError {
    /// The `[api.tls]` key whose file is at fault: `cert_file` or `key_file`.
    pub fn key(&self) -> &'static str {
        match self {
            TlsError::Read { key, .. } | TlsError::NotPem { key, .. } => key,
            TlsError::NoCertificate { .. } | TlsError::BadCertificate { .. } => "cert_file",
            TlsError::NoKey { .. } | TlsError::BadKey { .. } | TlsError::Mismatch { .. } => {
                "key_file"
            }
        }
    }
}

impl TlsConfig {
    /// Reads both files and builds the server configuration into [`TlsConfig::loaded`].
    ///
    /// Errors: a [`TlsError`] naming the file (not readable, not PEM, no certificate, no
    /// private key, a key rustls cannot use, or a key that is not the certificate's).
    pub fn load(&mut self) -> Result<Arc<ServerConfig>, TlsError> {
        let config = server_config(&self.cert_file, &self.key_file)?;
        self.loaded = Some(config.clone());
        Ok(config)
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })
}

fn not_pem(key: &'static str, path: &Path, e: pem::Error) -> TlsError {
    TlsError::NotPem {
        key,
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The certificates of `cert_file` and the key of `key_file` as a rustls server
/// configuration: TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`, no client certificates.
///
/// Errors: a [`TlsError`]; [`TlsError::key`] tells which file is at fault.
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_text = read("cert_file", cert_file)?;
    let certs = CertificateDer::pem_slice_iter(&cert_text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| not_pem("cert_file", cert_file, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_file.to_path_buf(),
        });
    }
    let key_text = read("key_file", key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_text).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: key_file.to_path_buf(),
        },
        e => not_pem("key_file", key_file, e),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::BadCertificate {
            path: cert_file.to_path_buf(),
            message: e.to_string(),
        })?
        .with_no_client_auth();
    let mut config = builder.with_single_cert(certs, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::Mismatch {
                cert: cert_file.to_path_buf(),
                key: key_file.to_path_buf(),
            }
        }
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            TlsError::BadCertificate {
                path: cert_file.to_path_buf(),
                message: e.to_string(),
            }
        }
        e => TlsError::BadKey {
            path: key_file.to_path_buf(),
            message: e.to_string(),
        },
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
