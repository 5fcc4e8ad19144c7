//! Who may call a route: bearer tokens with roles (`[[api.tokens]]`, DESIGN.md "HTTP API"),
//! and a request rate per token.
//!
//! Each route states the roles it accepts with one of the [`Access`] sets, checked after its
//! path and method matched (so an unknown route stays a 404). A request without a valid
//! token answers 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3); a valid token of a role
//! the route does not accept answers 403; a token over its rate answers 429 with
//! `Retry-After` (RFC 6585 §4). All with a JSON `{"error": ...}`. `/health`, `/ready` and
//! `/metrics` take no token (probes and Prometheus).
//!
//! Without any configured token the API is open (and `vigie check` then allows only a
//! loopback listen address): every request shares one rate bucket.

use crate::config::ApiConfig;
use crate::config::tokens::{Role, token_sha256};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

/// The roles a route accepts.
pub type Access = &'static [Role];

/// Reading live points, alarms and the Grafana datasource: the control room's screens.
pub const READ: Access = &[Role::Viewer, Role::Operator, Role::Engineer];
/// Reading incidents, outages and consumption alerts: the control room and the CRM.
pub const READ_SHARED: Access = &[Role::Viewer, Role::Operator, Role::Engineer, Role::Crm];
/// Acknowledging, shelving and unshelving alarms (ISA-18.2 operator actions).
pub const OPERATE: Access = &[Role::Operator, Role::Engineer];
/// Opening and changing incidents, declaring planned works.
pub const ENGINEER: Access = &[Role::Engineer];
/// Posting consumption alerts: the CRM's feed.
pub const CRM_WRITE: Access = &[Role::Crm];

/// Why a request was refused (a warp rejection; [`Denied::answer`] makes the response).
#[derive(Debug)]
pub enum Denied {
    /// No token, a malformed header, or a token not configured.
    Unauthorized(&'static str),
    /// A valid token whose role the route does not accept.
    Forbidden {
        name: String,
        role: Role,
        accepted: Access,
    },
    /// The token is over its rate; retry after this long.
    RateLimited(Duration),
}

impl warp::reject::Reject for Denied {}

impl Denied {
    /// The status, the JSON message and the extra header of the answer.
    pub fn answer(&self) -> (StatusCode, String, Option<(&'static str, String)>) {
        match self {
            Denied::Unauthorized(why) => (
                StatusCode::UNAUTHORIZED,
                format!(
                    "{why}: send `Authorization: Bearer TOKEN` with a token listed in [[api.tokens]] (`vigie token ROLE` makes one)"
                ),
                Some(("www-authenticate", "Bearer realm=\"vigie\"".to_string())),
            ),
            Denied::Forbidden {
                name,
                role,
                accepted,
            } => (
                StatusCode::FORBIDDEN,
                format!(
                    "token {name:?} has role {role}; this route needs {}",
                    accepted
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
                None,
            ),
            Denied::RateLimited(wait) => {
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many requests from this token (or, without a valid token, from all such requests together); retry in {secs} s"
                    ),
                    Some(("retry-after", secs.to_string())),
                )
            }
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct AuthMetrics {
    pub unauthorized: AtomicU64,
    pub forbidden: AtomicU64,
    pub rate_limited: AtomicU64,
}

/// The configured tokens and the per-token rate buckets.
pub struct Guard {
    /// SHA-256 hex → (name, role).
    tokens: HashMap<String, (String, Role)>,
    limiter: DefaultKeyedRateLimiter<String>,
    pub metrics: AuthMetrics,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

/// The bucket shared by requests when no token is configured.
const OPEN_BUCKET: &str = "";

impl Guard {
    /// The guard for `[api]` (rates of 0 are raised to 1; `vigie check` refuses them).
    pub fn new(api: &ApiConfig) -> Guard {
        let one = NonZeroU32::MIN;
        let quota = Quota::per_second(NonZeroU32::new(api.rate_limit_per_s).unwrap_or(one))
            .allow_burst(NonZeroU32::new(api.rate_limit_burst).unwrap_or(one));
        Guard {
            tokens: api
                .tokens
                .iter()
                .map(|t| (t.sha256.clone(), (t.name.clone(), t.role)))
                .collect(),
            limiter: RateLimiter::keyed(quota),
            metrics: AuthMetrics::default(),
        }
    }

    /// Whether any token is configured (else the API is open).
    pub fn enforced(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Checks the `Authorization` header value against `accepted`; Ok: the caller's name
    /// (empty when the API is open).
    pub fn check(&self, authorization: Option<&str>, accepted: Access) -> Result<String, Denied> {
        if !self.enforced() {
            return Ok(String::new());
        }
        {
            let token = authorization.and_then(bearer);
            let Some(token) = token else {
                let why = if authorization.is_some() {
                    "the Authorization header is not `Bearer TOKEN`"
                } else {
                    "no token"
                };
                return Err(Denied::Unauthorized(why));
            };
            let Some((name, role)) = self.tokens.get(&token_sha256(token)) else {
                return Err(Denied::Unauthorized("unknown token"));
            };
            if !accepted.contains(role) {
                return Err(Denied::Forbidden {
                    name: name.clone(),
                    role: *role,
                    accepted,
                });
            }
            Ok(name.clone())
        }
    }

    /// Takes one request from the caller's rate bucket: the token's own bucket for a
    /// configured token, else the bucket all other requests share. Called once per request
    /// (warp may try several routes for one request, each checking roles).
    pub fn throttle(&self, authorization: Option<&str>) -> Result<(), Denied> {
        let key = authorization
            .and_then(bearer)
            .and_then(|t| self.tokens.get(&token_sha256(t)))
            .map_or(OPEN_BUCKET, |(name, _)| name.as_str());
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| {
                Denied::RateLimited(
                    not_until.wait_time_from(governor::clock::Clock::now(self.limiter.clock())),
                )
            })
    }

    /// Counts a refusal answered (once per request: warp may try several routes).
    pub fn count(&self, d: &Denied) {
        let c = match d {
            Denied::Unauthorized(_) => &self.metrics.unauthorized,
            Denied::Forbidden { .. } => &self.metrics.forbidden,
            Denied::RateLimited(_) => &self.metrics.rate_limited,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The `/metrics` lines.
    pub fn metrics_text(&self) -> String {
        let m = &self.metrics;
        let mut o = String::from(
            "# HELP vigie_api_denied_total API requests refused, by reason.\n# TYPE vigie_api_denied_total counter\n",
        );
        for (reason, c) in [
            ("unauthorized", &m.unauthorized),
            ("forbidden", &m.forbidden),
            ("rate_limited", &m.rate_limited),
        ] {
            o.push_str(&format!(
                "vigie_api_denied_total{{reason=\"{reason}\"}} {}\n",
                c.load(Ordering::Relaxed)
            ));
        }
        o
    }
}

/// The token of an `Authorization: Bearer TOKEN` header value (the scheme is
/// case-insensitive, RFC 7235 §2.1).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A filter passing when the request's bearer token has one of the `accepted` roles;
/// rejects with [`Denied`] otherwise. Put it after the route's path and method.
pub fn require(
    guard: Arc<Guard>,
    accepted: Access,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(authorization())
        .and_then(
            move |method: warp::http::Method, path: warp::path::FullPath, h: Option<String>| {
                let guard = guard.clone();
                async move {
                    let name = guard
                        .check(h.as_deref(), accepted)
                        .map_err(warp::reject::custom)?;
                    // Who changed what: the token's holder, whatever name the body gives.
                    if !matches!(method, warp::http::Method::GET | warp::http::Method::HEAD) {
                        tracing::info!(token = %name, %method, path = path.as_str(), "API change");
                    }
                    Ok::<_, Rejection>(())
                }
            },
        )
        .untuple_one()
}

/// The `Authorization` header's value; a value that is not visible ASCII (which no token
/// is) reads as an empty one, refused as "not `Bearer TOKEN`", never a bare 400.
pub fn authorization()
-> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::headers_cloned().map(|h: warp::http::HeaderMap| {
        h.get(warp::http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or_default().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tokens::{ApiToken, new_token};

    fn guard(rate: u32, burst: u32) -> (Guard, String, String) {
        let viewer = new_token();
        let crm = new_token();
        let api = ApiConfig {
            tokens: vec![
                ApiToken {
                    name: "grafana".into(),
                    role: Role::Viewer,
                    sha256: token_sha256(&viewer),
                },
                ApiToken {
                    name: "crm".into(),
                    role: Role::Crm,
                    sha256: token_sha256(&crm),
                },
            ],
            rate_limit_per_s: rate,
            rate_limit_burst: burst,
            ..ApiConfig::default()
        };
        (Guard::new(&api), viewer, crm)
    }

    #[test]
    fn roles_are_checked_per_route() {
        let (g, viewer, crm) = guard(100, 100);
        let bearer = |t: &str| format!("Bearer {t}");
        assert_eq!(g.check(Some(&bearer(&viewer)), READ).unwrap(), "grafana");
        assert!(matches!(
            g.check(Some(&bearer(&viewer)), OPERATE),
            Err(Denied::Forbidden { .. })
        ));
        assert!(matches!(
            g.check(Some(&bearer(&crm)), READ),
            Err(Denied::Forbidden { .. })
        ));
        assert!(g.check(Some(&bearer(&crm)), READ_SHARED).is_ok());
        assert!(g.check(Some(&bearer(&crm)), CRM_WRITE).is_ok());
        // The scheme is case-insensitive (RFC 7235 §2.1).
        assert!(g.check(Some(&format!("bearer {viewer}")), READ).is_ok());
        assert!(matches!(
            g.check(None, READ),
            Err(Denied::Unauthorized("no token"))
        ));
        assert!(matches!(
            g.check(Some(&format!("Basic {viewer}")), READ),
            Err(Denied::Unauthorized(_))
        ));
        assert!(matches!(
            g.check(Some("Bearer vigie_00"), READ),
            Err(Denied::Unauthorized("unknown token"))
        ));
    }

    #[test]
    fn each_token_has_its_own_rate() {
        let (g, viewer, crm) = guard(1, 3);
        let v = format!("Bearer {viewer}");
        for _ in 0..3 {
            g.throttle(Some(&v)).unwrap();
        }
        let Err(Denied::RateLimited(wait)) = g.throttle(Some(&v)) else {
            panic!("the fourth request in a burst of 3 is refused");
        };
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        let (status, _, header) = Denied::RateLimited(wait).answer();
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header, Some(("retry-after", "1".to_string())));
        // Another token is not slowed by the first one's burst, nor is it by requests
        // without a valid token.
        assert!(g.throttle(Some(&format!("Bearer {crm}"))).is_ok());
        for _ in 0..3 {
            g.throttle(Some("Bearer vigie_unknown")).unwrap();
        }
        assert!(g.throttle(None).is_err());
        assert!(g.throttle(Some(&format!("Bearer {crm}"))).is_ok());
    }

    #[test]
    fn without_tokens_the_api_is_open() {
        let g = Guard::new(&ApiConfig::default());
        assert!(!g.enforced());
        assert!(g.check(None, ENGINEER).is_ok());
    }
}
