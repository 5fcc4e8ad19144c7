//! `[notify]`: notification channels, recipients, on-call rosters, routes and escalation.

use serde::Deserialize;

/// `[notify]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {}

/// Problems in `[notify]`, each as (key path, message), e.g.
/// (`notify.routes[0].roster`, `unknown roster "x"`).
pub fn validate(_notify: &NotifyConfig, _config: &super::Config) -> Vec<(String, String)> {
    Vec::new()
}
