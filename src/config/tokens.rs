//! `[[api.tokens]]`: the bearer tokens that may call the HTTP API, each with one role
//! (DESIGN.md "HTTP API"). The configuration holds only each token's SHA-256, so a leaked
//! `vigie.toml` does not leak a usable token; `vigie token ROLE` makes a token and its entry.
//!
//! A token is 32 random bytes from the operating system's generator, written as 64 hex
//! characters after `vigie_`. With 256 bits of entropy a fast hash is enough: slow password
//! hashes (argon2, bcrypt) exist for guessable human passwords, which these are not.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt;

/// What a token may do. Each route states the roles it accepts (README "Authentication").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads points, alarms, incidents, outages, alerts and the Grafana datasource (Grafana).
    Viewer,
    /// A viewer who also acknowledges, shelves and unshelves alarms (control room).
    Operator,
    /// An operator who also opens and changes incidents and declares planned works.
    Engineer,
    /// The CRM: reads outages, incidents and consumption alerts, posts consumption alerts.
    Crm,
}

impl Role {
    /// Every role, in the order `vigie demo` prints them.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Engineer, Role::Crm];

    /// The name used in the configuration and in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Engineer => "engineer",
            Role::Crm => "crm",
        }
    }

    /// The role named `s` (as in the configuration).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[[api.tokens]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Who holds the token (`grafana`, `crm`, `astreinte-nord`): in 403 messages, and in the
    /// log line of every change it makes.
    pub name: String,
    pub role: Role,
    /// The token's SHA-256, 64 lower-case hex characters.
    pub sha256: String,
}

/// Prefix of every token `vigie token` makes (lets secret scanners recognise them).
pub const TOKEN_PREFIX: &str = "vigie_";

/// The SHA-256 of `token`, in lower-case hex, as `[[api.tokens]] sha256` holds it.
pub fn token_sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random token (`vigie_` and 64 hex characters).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{TOKEN_PREFIX}{hex}")
}

/// The `[[api.tokens]]` entry for `token`, as TOML text.
pub fn toml_entry(name: &str, role: Role, token: &str) -> String {
    // The toml crate quotes the name (any character a holder's name may have).
    let name = toml::Value::String(name.to_string());
    format!(
        "[[api.tokens]]\nname = {name}\nrole = \"{role}\"\nsha256 = \"{}\"\n",
        token_sha256(token)
    )
}

/// What is wrong with the token entries (checked by `vigie check`): `(key, message)` pairs,
/// the key naming the entry (`api.tokens[1].sha256`).
pub fn check(tokens: &[ApiToken]) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let key = |field: &str| format!("api.tokens[{i}].{field}");
        if t.name.trim().is_empty() {
            errors.push((key("name"), "give who holds the token".to_string()));
        }
        if t.sha256.len() != 64
            || !t
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            errors.push((
                key("sha256"),
                format!(
                    "64 lower-case hex characters: the token's SHA-256 as `vigie token {}` prints it, never the token itself",
                    t.role
                ),
            ));
        }
        if tokens[..i].iter().any(|o| o.name == t.name) {
            errors.push((key("name"), format!("another token is named {:?}", t.name)));
        }
        if tokens[..i].iter().any(|o| o.sha256 == t.sha256) {
            errors.push((key("sha256"), "the same token is listed twice".to_string()));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_string() {
        // FIPS 180-2 appendix B.1 test vector.
        assert_eq!(
            token_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn new_tokens_differ_and_have_the_documented_shape() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert!(a.starts_with(TOKEN_PREFIX));
    }

    #[test]
    fn the_entry_printed_for_a_token_checks_and_holds_its_hash() {
        let t = new_token();
        let text = toml_entry("grafana", Role::Viewer, &t);
        #[derive(Deserialize)]
        struct Doc {
            api: Api,
        }
        #[derive(Deserialize)]
        struct Api {
            tokens: Vec<ApiToken>,
        }
        let doc: Doc = toml::from_str(&text).unwrap();
        assert_eq!(doc.api.tokens[0].sha256, token_sha256(&t));
        assert!(check(&doc.api.tokens).is_empty());
    }

    #[test]
    fn a_token_pasted_instead_of_its_hash_is_refused() {
        let t = new_token();
        let e = check(&[ApiToken {
            name: "x".into(),
            role: Role::Crm,
            sha256: t,
        }]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "api.tokens[0].sha256");
        assert!(e[0].1.contains("never the token itself"), "{e:?}");
    }
}
