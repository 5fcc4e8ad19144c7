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

/// A text field of 1 to `max` characters, not blank.
pub fn text_ok(name: &str, v: &str, max: usize) -> Result<(), String> {
    if v.trim().is_empty() || v.chars().count() > max {
        Err(format!("{name}: 1 to {max} characters"))
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
