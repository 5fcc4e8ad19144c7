//! `validate`: every problem reported with its key.

use super::{NETWORK, NOTIFY, has, problems};
use crate::config::Config;

#[test]
fn notify_config_example_is_valid() {
    assert_eq!(problems(NOTIFY), Vec::<(String, String)>::new());
}

#[test]
fn notify_config_reports_every_problem_with_its_key() {
    let text = r#"
[notify]
public_url = "vigie.example.net"
timezone = "Mars/Olympus"
[notify.sms]
url = "ftp://sms/{to}"
method = "DELETE"
body = "hello"
[[notify.webhooks]]
id = "hook"
url = "not a url"
[[notify.webhooks]]
id = "hook"
url = "http://127.0.0.1:9/"
rate_limit = { messages = 0, per = "1h" }
[[notify.recipients]]
id = "amina"
email = "not-an-address"
phone = "call me"
[[notify.recipients]]
id = "karim"
[[notify.rosters]]
id = "r"
shifts = [
  { recipients = ["ghost"], days = "mon-fry", from = "8h", to = "25:00" },
]
[[notify.routes]]
sites = ["XX-01"]
zones = ["Z-NOWHERE"]
levels = [
  { after = "1m", roster = "nope", via = ["email"] },
  { recipients = ["karim"], via = ["sms"] },
  { after = "30s", webhooks = ["missing"] },
  { after = "10m" },
]
"#;
    let p = problems(text);
    let expect = [
        ("notify.public_url", "\"vigie.example.net\" is not a URL"),
        ("notify.timezone", "unknown time zone \"Mars/Olympus\""),
        ("notify.sms.url", "\"ftp://sms/{to}\" must start with http"),
        ("notify.sms.method", "use POST, GET or PUT"),
        ("notify.sms.body", "{text}"),
        ("notify.webhooks[0].url", "is not a URL"),
        ("notify.webhooks[1].id", "duplicate webhook id \"hook\""),
        ("notify.webhooks[1].rate_limit.messages", "at least 1"),
        ("notify.recipients[0].email", "is not an e-mail address"),
        ("notify.recipients[0].phone", "is not a phone number"),
        (
            "notify.rosters[0].shifts[0].recipients[0]",
            "unknown recipient \"ghost\"",
        ),
        ("notify.rosters[0].shifts[0].days", "unknown day \"fry\""),
        ("notify.rosters[0].shifts[0].from", "is not a time of day"),
        ("notify.rosters[0].shifts[0].to", "is not a time of day"),
        ("notify.routes[0].sites[0]", "unknown site \"XX-01\""),
        ("notify.routes[0].zones[0]", "unknown zone \"Z-NOWHERE\""),
        ("notify.routes[0].levels[0].after", "first level"),
        (
            "notify.routes[0].levels[0].roster",
            "unknown roster \"nope\"",
        ),
        ("notify.routes[0].levels[0].via", "needs [notify.smtp]"),
        ("notify.routes[0].levels[1].after", "needs `after`"),
        (
            "notify.routes[0].levels[1].recipients[0]",
            "recipient \"karim\" has no phone",
        ),
        (
            "notify.routes[0].levels[2].webhooks[0]",
            "unknown webhook \"missing\"",
        ),
        ("notify.routes[0].levels[3]", "nobody to tell"),
    ];
    for (key, words) in expect {
        assert!(has(&p, key, words), "no {key}: …{words}… in {p:#?}");
    }
    // Level 2's 30 s after level 0 (at the activation) grows; level 3's 10 m too.
    assert!(
        !p.iter()
            .any(|(k, _)| k == "notify.routes[0].levels[2].after")
    );
}

#[test]
fn notify_config_checks_after_order_via_and_smtp_security() {
    let text = r#"
[notify]
public_url = "http://vigie:8080"
[notify.smtp]
host = "mail.example.net"
tls = "none"
username = "vigie"
password = "secret"
from = "vigie@example.net"
[[notify.webhooks]]
id = "w"
url = "http://127.0.0.1:9/"
[[notify.recipients]]
id = "amina"
phone = "+212600000001"
[[notify.routes]]
levels = [
  { recipients = ["amina"] },
  { after = "15m", webhooks = ["w"], via = ["sms"] },
  { after = "15m", recipients = ["amina"], via = ["email", "sms"] },
]
"#;
    let p = problems(text);
    assert!(has(&p, "notify.smtp.tls", "clear text"), "{p:#?}");
    assert!(
        has(
            &p,
            "notify.routes[0].levels[0].via",
            "say how people are reached"
        ),
        "{p:#?}"
    );
    assert!(
        has(&p, "notify.routes[0].levels[1].via", "names none"),
        "{p:#?}"
    );
    assert!(
        has(&p, "notify.routes[0].levels[1].via", "needs [notify.sms]"),
        "{p:#?}"
    );
    assert!(
        has(
            &p,
            "notify.routes[0].levels[2].after",
            "is not after the previous level's 15m"
        ),
        "{p:#?}"
    );
    assert!(
        has(
            &p,
            "notify.routes[0].levels[2].recipients[0]",
            "has no email"
        ),
        "{p:#?}"
    );
    // A TOML-level mistake (an unknown key) stops parsing, as elsewhere in vigie.toml.
    let bad = toml::from_str::<Config>(&format!(
        "{NETWORK}[notify]\npublic_url = \"http://x\"\nbogus = 1\n"
    ));
    assert!(bad.is_err());
}

#[test]
fn notify_config_checks_roster_coverage_retention_and_rate_limit_exempt() {
    // The first level's roster leaves the weekend days uncovered; a roster only read at
    // a later level, or beside named recipients, may have gaps.
    let text = r#"
[notify]
public_url = "http://vigie:8080"
max_age = "30d"
[notify.smtp]
host = "127.0.0.1"
from = "vigie@example.net"
[[notify.recipients]]
id = "amina"
email = "amina@example.net"
[[notify.rosters]]
id = "weekdays"
shifts = [
  { recipients = ["amina"], days = "mon-fri", from = "08:00", to = "18:00" },
  { recipients = ["amina"], days = "mon-sun", from = "18:00", to = "08:00" },
]
[[notify.rosters]]
id = "later"
shifts = [{ recipients = ["amina"], days = "mon", from = "08:00", to = "09:00" }]
[[notify.routes]]
levels = [
  { roster = "weekdays", via = ["email"] },
  { after = "1h", roster = "later", via = ["email"] },
]
[[notify.routes]]
levels = [{ roster = "later", recipients = ["amina"], via = ["email"] }]
[alarms]
journal_retention = "7d"
"#;
    let p = problems(text);
    assert!(
        has(
            &p,
            "notify.rosters[0].shifts",
            "nobody on duty sat 08:00-18:00, sun 08:00-18:00"
        ),
        "{p:#?}"
    );
    assert!(
        !p.iter().any(|(k, _)| k.starts_with("notify.rosters[1]")),
        "{p:#?}"
    );
    assert!(
        has(
            &p,
            "alarms.journal_retention",
            "shorter than [notify] max_age 30days"
        ),
        "{p:#?}"
    );
    assert_eq!(p.len(), 2, "{p:#?}");

    let parse = |v: &str| {
        toml::from_str::<Config>(&format!(
            "{NETWORK}[notify]\npublic_url = \"http://x\"\nrate_limit_exempt = \"{v}\"\n"
        ))
        .map(|c| c.notify.unwrap().rate_limit_exempt)
    };
    use crate::alarm::Priority;
    assert_eq!(parse("high").unwrap(), Some(Priority::High));
    assert_eq!(parse("none").unwrap(), None);
    assert!(parse("urgent").is_err());
    let default =
        toml::from_str::<Config>(&format!("{NETWORK}[notify]\npublic_url = \"http://x\"\n"));
    assert_eq!(
        default.unwrap().notify.unwrap().rate_limit_exempt,
        Some(Priority::Critical)
    );
}
