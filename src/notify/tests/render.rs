//! What messages say: fields, time zone, ack link; webhook payloads; SMS templates.

use super::{NOTIFY, config, item};
use crate::alarm::Priority;
use crate::config::notify::{SmsConfig, SmsEncoding};
use crate::notify::channels::sms;
use crate::notify::message::{Kind, Render, SMS_MAX_CHARS};
use jiff::tz::TimeZone;
use serde_json::json;

fn render() -> Render {
    let c = config(NOTIFY);
    let tz = TimeZone::get("Africa/Casablanca").expect("tzdata: Africa/Casablanca");
    Render::new("http://vigie.example.net:8080/", tz, &c)
}

#[test]
fn notify_messages_carry_fields_time_zone_and_ack_link() {
    let r = render();
    assert_eq!(
        r.ack_url("PS-01:pump 1:p/x:low"),
        "http://vigie.example.net:8080/api/v1/alarms/PS-01:pump%201:p%2Fx:low/ack"
    );
    // 2025-06-02T14:03:00Z is 15:03 in Casablanca (UTC+1 outside Ramadan).
    assert_eq!(
        r.time(1_748_872_980_000_000_000),
        "2025-06-02T15:03:00+01:00"
    );
    let one = [item(
        7,
        Kind::Raised,
        "PS-01:pump1:discharge_pressure_bar:low_low",
        Priority::Critical,
    )];
    let text = r.text(&one);
    for part in [
        "CRITICAL alarm at PS-01 (Station Nord): Discharge pressure low-low",
        "Alarm:        PS-01:pump1:discharge_pressure_bar:low_low",
        "State:        active_unacknowledged",
        "Time:         2025-06-02T15:03:00+01:00",
        "Value:        1.2 (limit 1.5)",
        "Notification: 7 (raised)",
        "POST http://vigie.example.net:8080/api/v1/alarms/PS-01:pump1:discharge_pressure_bar:low_low/ack",
        "{\"operator\": \"<your name>\", \"comment\": \"<what you do>\"}",
    ] {
        assert!(text.contains(part), "{part:?} not in\n{text}");
    }
    assert_eq!(
        r.subject(&one),
        "[vigie] CRITICAL alarm at PS-01 (Station Nord): Discharge pressure low-low"
    );
    let esc = [item(
        8,
        Kind::Escalated,
        "PS-01:pump1:discharge_pressure_bar:low_low",
        Priority::High,
    )];
    assert!(
        r.subject(&esc)
            .contains("ESCALATED HIGH alarm at PS-01 (Station Nord), unacknowledged for 15m:")
    );
    let sms = r.sms(&one);
    assert!(
        sms.contains("#7")
            && sms.contains("Ack: POST http://vigie.example.net:8080/api/v1/alarms/PS-01:pump1:"),
        "{sms}"
    );
    let two = [
        one[0].clone(),
        item(9, Kind::Cleared, "SS-12:feeder2:trip", Priority::Low),
    ];
    assert!(r.subject(&two).starts_with("[vigie] 2 alarms: CRITICAL"));
    // Two in full would pass 480 characters: the first in full, the other by its id.
    let sms2 = r.sms(&two);
    assert!(
        sms2.starts_with(&sms) && sms2.ends_with("\n+1 more: SS-12:feeder2:trip"),
        "{sms2}"
    );
}

#[test]
fn notify_sms_is_capped_first_in_full_then_the_others_by_id() {
    let r = render();
    let alarm = |i: usize| format!("PS-01:pump{i}:discharge_pressure_bar:low_low");
    let items: Vec<_> = (0..10)
        .map(|i| item(i as i64 + 1, Kind::Raised, &alarm(i), Priority::High))
        .collect();
    let sms = r.sms(&items);
    assert!(
        sms.chars().count() <= SMS_MAX_CHARS,
        "{} chars",
        sms.chars().count()
    );
    let first = r.sms(&items[..1]);
    assert!(
        sms.starts_with(&format!("{first}\n+9 more: {}, {}", alarm(1), alarm(2))),
        "{sms}"
    );
    assert!(sms.ends_with('…'), "the list is cut to fit: {sms}");
    // Short notifications that fit together are all sent in full.
    let mut short = items[..2].to_vec();
    for (i, it) in short.iter_mut().enumerate() {
        it.alarm.alarm_id = format!("S:{i}");
        it.alarm.site = "S".into();
        it.alarm.message = "low".into();
    }
    let both = r.sms(&short);
    assert!(
        both.starts_with("vigie: 2 alarms.\n1) HIGH alarm at S: low. S:0 "),
        "{both}"
    );
    assert!(both.contains("\n2) HIGH alarm at S: low. S:1 "), "{both}");
    // A single notification with a very long message: its headline is cut, the ack link
    // is kept.
    let mut long = items[0].clone();
    long.alarm.message = "x".repeat(2_000);
    let one = r.sms(&[long]);
    assert!(one.chars().count() <= SMS_MAX_CHARS, "{one}");
    assert!(one.contains("x…. PS-01:pump0:"), "{one}");
    assert!(
        one.ends_with(&format!(
            "Ack: POST {} {{\"operator\",\"comment\"}}",
            r.ack_url(&alarm(0))
        )),
        "{one}"
    );
}

#[test]
fn notify_webhook_payload_shapes() {
    let r = render();
    let items = [
        item(
            3,
            Kind::Raised,
            "PS-01:pump1:discharge_pressure_bar:low_low",
            Priority::Critical,
        ),
        item(4, Kind::Raised, "SS-12:feeder2:a<b>&c", Priority::Medium),
    ];
    let slack = r.slack(&items);
    let obj = slack.as_object().unwrap();
    assert_eq!(obj.len(), 1, "{slack}");
    let text = slack["text"].as_str().unwrap();
    assert!(text.starts_with("*2 alarms*"), "{text}");
    assert!(text.contains("`SS-12:feeder2:a&lt;b&gt;&amp;c`"), "{text}");
    assert!(text.contains("`POST http://vigie.example.net:8080/api/v1/alarms/PS-01:pump1:discharge_pressure_bar:low_low/ack`"), "{text}");

    // Teams: a Workflows message with one Adaptive Card.
    let teams = r.teams(&items);
    assert_eq!(teams["type"], "message");
    let attachment = &teams["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let body = card["body"].as_array().unwrap();
    assert_eq!(body[0]["text"], "2 alarms");
    assert_eq!(body[0]["color"], "attention", "critical is red");
    // Per notification: its headline, its facts, the ack as text.
    assert_eq!(body.len(), 1 + 2 * 3);
    assert_eq!(body[2]["type"], "FactSet");
    assert_eq!(
        body[2]["facts"][0],
        json!({"title": "Alarm", "value": "PS-01:pump1:discharge_pressure_bar:low_low"})
    );
    assert!(body[6]["text"].as_str().unwrap().contains(
        "POST http://vigie.example.net:8080/api/v1/alarms/SS-12:feeder2:a%3Cb%3E%26c/ack"
    ));
    let actions = card["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2);
    assert_eq!(
        actions[1],
        json!({
            "type": "Action.OpenUrl",
            "title": "Open SS-12:feeder2:a<b>&c",
            "url": "http://vigie.example.net:8080/api/v1/alarms/SS-12:feeder2:a%3Cb%3E%26c",
        })
    );

    let g = r.generic("vigie-notify-3", &items);
    assert_eq!(g["source"], "vigie");
    assert_eq!(g["message_id"], "vigie-notify-3");
    assert_eq!(g["count"], 2);
    let n = &g["notifications"][0];
    for (k, v) in [
        ("notification", json!(3)),
        ("kind", json!("raised")),
        ("level", json!(0)),
        (
            "alarm_id",
            json!("PS-01:pump1:discharge_pressure_bar:low_low"),
        ),
        ("site", json!("PS-01")),
        ("site_name", json!("Station Nord")),
        ("device", json!("pump1")),
        ("point", json!("discharge_pressure_bar")),
        ("condition", json!("low_low")),
        ("priority", json!("critical")),
        ("state", json!("active_unacknowledged")),
        ("message", json!("Discharge pressure low-low")),
        ("value", json!(1.2)),
        ("limit", json!(1.5)),
        ("time", json!("2025-06-02T15:03:00+01:00")),
        ("time_ns", json!(1_748_872_980_000_000_000i64)),
        (
            "ack",
            json!({"method": "POST", "url": "http://vigie.example.net:8080/api/v1/alarms/PS-01:pump1:discharge_pressure_bar:low_low/ack", "body": {"operator": "", "comment": ""}}),
        ),
    ] {
        assert_eq!(n[k], v, "field {k} in {n}");
    }
    let cleared = r.teams(&[item(5, Kind::Cleared, "SS-12:x", Priority::Critical)]);
    let title = &cleared["attachments"][0]["content"]["body"][0];
    assert_eq!(title["color"], "good", "cleared is green");
    assert!(
        title["text"]
            .as_str()
            .unwrap()
            .starts_with("CLEARED CRITICAL")
    );
}

#[test]
fn notify_sms_templates_escape_by_encoding() {
    let text = "Ack \"now\" & go: 50% ü\n";
    let base = SmsConfig {
        url: "https://sms.example.ma/send?to={to}&text={text}&k={key}".into(),
        method: "post".into(),
        headers: [("Authorization".to_string(), "Bearer xyz".to_string())].into(),
        body: r#"{"to": "{to}", "message": "{text}"}"#.into(),
        encoding: SmsEncoding::Json,
        timeout: std::time::Duration::from_secs(10),
    };
    let r = sms::build(&base, "+212 600", text);
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.url,
        "https://sms.example.ma/send?to=%2B212%20600&text=Ack%20%22now%22%20%26%20go%3A%2050%25%20%C3%BC%0A&k={key}"
    );
    let body = r.body.clone().unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed, json!({"to": "+212 600", "message": text}));
    assert!(
        r.headers
            .contains(&("Content-Type".into(), "application/json".into()))
    );
    assert!(
        r.headers
            .contains(&("Authorization".into(), "Bearer xyz".into()))
    );

    let form = SmsConfig {
        url: "https://sms.example.ma/send".into(),
        body: "to={to}&text={text}".into(),
        encoding: SmsEncoding::Form,
        headers: Default::default(),
        ..base.clone()
    };
    let r = sms::build(&form, "+212 600", text);
    assert_eq!(r.url, "https://sms.example.ma/send");
    assert_eq!(
        r.body.as_deref(),
        Some("to=%2B212+600&text=Ack+%22now%22+%26+go%3A+50%25+%C3%BC%0A")
    );
    assert!(r.headers.contains(&(
        "Content-Type".into(),
        "application/x-www-form-urlencoded".into()
    )));

    let raw = SmsConfig {
        body: "{to}|{text}|{to}".into(),
        encoding: SmsEncoding::Raw,
        ..form.clone()
    };
    // A placeholder inside the text is not replaced again.
    let r = sms::build(&raw, "+1", "say {to}");
    assert_eq!(r.body.as_deref(), Some("+1|say {to}|+1"));
    let get = SmsConfig {
        method: "GET".into(),
        body: String::new(),
        ..base
    };
    let r = sms::build(&get, "+1", "x");
    assert_eq!(r.body, None);
    assert!(!r.headers.iter().any(|(k, _)| k == "Content-Type"));
}

#[test]
fn notify_http_4xx_answers_but_408_and_429_are_final() {
    use crate::notify::channels::retryable;
    for (code, retry) in [
        (400, false),
        (401, false),
        (404, false),
        (413, false),
        (408, true),
        (429, true),
        (500, true),
        (503, true),
    ] {
        let status = reqwest::StatusCode::from_u16(code).unwrap();
        assert_eq!(retryable(status), retry, "HTTP {code}");
    }
}
