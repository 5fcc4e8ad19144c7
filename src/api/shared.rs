//! What the JSON routes over the SQLite stores share: running a store call off the async
//! runtime, the error answer a store's error becomes, and body field checks.

use serde::Deserialize;
use std::sync::{Arc, Mutex};
use warp::http::StatusCode;

/// An error answer: its status and message.
pub type Failure = (StatusCode, String);

/// A store error as an answer (404, 409, 503…).
pub trait IntoFailure {
    fn into_failure(self) -> Failure;
}

/// Runs `f` on `store` off the async runtime (SQLite calls block); a poisoned lock or a
/// failed task answers 503.
pub async fn with_store<S, T, E>(
    store: &Arc<Mutex<S>>,
    f: impl FnOnce(&mut S) -> Result<T, E> + Send + 'static,
) -> Result<T, Failure>
where
    S: Send + 'static,
    T: Send + 'static,
    E: IntoFailure,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || match store.lock() {
        Ok(mut s) => f(&mut s).map_err(IntoFailure::into_failure),
        Err(_) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "the database is unavailable".to_string(),
        )),
    })
    .await
    .unwrap_or_else(|e| Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string())))
}

/// For `Option<Option<T>>` body fields: `Some(None)` when the key is present with `null`
/// (clear the field), None when it is absent (leave it).
pub fn nullable<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A text field of 1 to `max` characters, not blank, without control characters other than
/// tab and line breaks (a NUL byte or an escape sequence is never someone's text, and would
/// reach the CRM, e-mails and terminals as is).
pub fn text_ok(name: &str, v: &str, max: usize) -> Result<(), String> {
    if v.trim().is_empty() || v.chars().count() > max {
        Err(format!("{name}: 1 to {max} characters"))
    } else {
        no_controls(name, v)
    }
}

/// Refuses control characters other than tab and line breaks (NUL, escape, DEL…).
pub fn no_controls(name: &str, v: &str) -> Result<(), String> {
    if v.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Err(format!(
            "{name}: no control characters (NUL, escape…) but tab and line breaks"
        ))
    } else {
        Ok(())
    }
}

/// The body's `field` (a zone id or list of them) and `site` name configured zones and
/// sites; the error names the field and the unknown id.
pub fn check_place<'a>(
    config: &crate::config::Config,
    field: &str,
    zones: impl IntoIterator<Item = &'a String>,
    site: Option<&String>,
) -> Result<(), String> {
    if let Some(z) = zones
        .into_iter()
        .find(|z| !config.zones.iter().any(|x| &x.id == *z))
    {
        return Err(format!("{field}: no zone {z:?}"));
    }
    if let Some(s) = site
        && !config.sites.iter().any(|x| &x.id == s)
    {
        return Err(format!("site: no site {s:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::text_ok;

    #[test]
    fn text_fields_refuse_blanks_lengths_and_control_characters() {
        assert!(text_ok("title", "Burst on the main\n\tline 2", 200).is_ok());
        assert!(text_ok("title", "'; DROP TABLE incidents; --", 200).is_ok());
        for bad in ["", "  ", "a\u{0}b", "\u{1b}[2J", "x\u{7f}"] {
            let e = text_ok("title", bad, 200).unwrap_err();
            assert!(e.starts_with("title: "), "{bad:?}: {e}");
        }
        assert!(text_ok("actor", &"a".repeat(65), 64).is_err());
    }
}
