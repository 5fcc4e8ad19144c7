//! Webhook payloads: Slack (`{"text"}` in mrkdwn), Microsoft Teams (an Adaptive Card in
//! the Workflows format) and vigie's generic JSON.

use super::message::{Item, Kind, Render};
use crate::alarm::Priority;
use serde_json::{Value, json};
use std::fmt::Write;

/// `Action.OpenUrl` buttons on a Teams card at most.
const TEAMS_ACTIONS: usize = 5;

impl Render {
    /// Slack incoming-webhook payload: `{"text": …}` in mrkdwn (`&`, `<`, `>` escaped).
    pub fn slack(&self, items: &[Item]) -> Value {
        let mut text = String::new();
        if items.len() > 1 {
            let _ = writeln!(text, "*{} alarms*", items.len());
        }
        for item in items {
            let a = &item.alarm;
            let _ = writeln!(
                text,
                "{} *{}*\n`{}` · {} · {} · #{}\nAcknowledge: `POST {}` with `{{\"operator\": \"…\", \"comment\": \"…\"}}`",
                icon(item),
                slack_escape(&self.headline(item)),
                slack_escape(&a.alarm_id),
                a.state.as_str(),
                self.time(a.time_ns),
                item.outbox_id,
                slack_escape(&self.ack_url(&a.alarm_id)),
            );
        }
        json!({ "text": text.trim_end() })
    }

    /// Microsoft Teams payload for a Workflows webhook ("Post to a channel when a webhook
    /// request is received"): a `message` with one Adaptive Card 1.4 attachment, a title
    /// coloured by the highest priority, per notification its headline, its facts and the
    /// acknowledge link as text (the ack is a POST, which a card's `Action.OpenUrl` cannot
    /// send), and an `Action.OpenUrl` button per alarm (at most 5) to the alarm's page
    /// `GET {public_url}/api/v1/alarms/{alarm_id}`.
    pub fn teams(&self, items: &[Item]) -> Value {
        let top = items
            .iter()
            .max_by_key(|i| (i.kind != Kind::Cleared, i.alarm.priority));
        let color = match top.map(|i| (i.kind, i.alarm.priority)) {
            Some((Kind::Cleared, _)) => "good",
            Some((_, Priority::Critical)) => "attention",
            Some((_, Priority::High)) => "warning",
            Some((_, Priority::Medium | Priority::Low)) | None => "accent",
        };
        let title = match items {
            [one] => self.headline(one),
            _ => format!("{} alarms", items.len()),
        };
        let mut body = vec![json!({
            "type": "TextBlock",
            "text": title,
            "size": "Large",
            "weight": "Bolder",
            "color": color,
            "wrap": true,
        })];
        for item in items {
            let a = &item.alarm;
            let ack = self.ack_url(&a.alarm_id);
            body.push(json!({
                "type": "TextBlock",
                "text": self.headline(item),
                "weight": "Bolder",
                "wrap": true,
                "separator": true,
            }));
            body.push(json!({
                "type": "FactSet",
                "facts": [
                    {"title": "Alarm", "value": a.alarm_id},
                    {"title": "Site", "value": self.site(&a.site)},
                    {"title": "Priority", "value": a.priority.as_str()},
                    {"title": "State", "value": a.state.as_str()},
                    {"title": "Time", "value": self.time(a.time_ns)},
                    {"title": "Notification", "value": format!("{} ({})", item.outbox_id, item.kind.as_str())},
                ],
            }));
            body.push(json!({
                "type": "TextBlock",
                "text": format!("Acknowledge: POST {ack} with JSON {{\"operator\": \"…\", \"comment\": \"…\"}}"),
                "wrap": true,
                "isSubtle": true,
            }));
        }
        let mut actions: Vec<Value> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for item in items {
            let id = item.alarm.alarm_id.as_str();
            if seen.contains(&id) || seen.len() >= TEAMS_ACTIONS {
                continue;
            }
            seen.push(id);
            actions.push(json!({
                "type": "Action.OpenUrl",
                "title": format!("Open {id}"),
                "url": self.alarm_url(id),
            }));
        }
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "msteams": {"width": "Full"},
                    "body": body,
                    "actions": actions,
                },
            }],
        })
    }

    /// The generic webhook payload: `{"source": "vigie", "message_id", "count", "text",
    /// "notifications": [{"notification", "kind", "level", "alarm_id", "site",
    /// "site_name", "device", "point", "condition", "priority", "state", "message",
    /// "value", "limit", "time", "time_ns", "ack_url", "ack": {"method", "url",
    /// "body"}}]}`.
    pub fn generic(&self, message_id: &str, items: &[Item]) -> Value {
        let notifications: Vec<Value> = items
            .iter()
            .map(|item| {
                let a = &item.alarm;
                let ack = self.ack_url(&a.alarm_id);
                json!({
                    "notification": item.outbox_id,
                    "kind": item.kind.as_str(),
                    "level": item.level,
                    "alarm_id": a.alarm_id,
                    "site": a.site,
                    "site_name": self.site_names.get(&a.site),
                    "device": a.device,
                    "point": a.point,
                    "condition": a.condition,
                    "priority": a.priority.as_str(),
                    "state": a.state.as_str(),
                    "message": a.message,
                    "value": a.value,
                    "limit": a.limit,
                    "time": self.time(a.time_ns),
                    "time_ns": a.time_ns,
                    "headline": self.headline(item),
                    "ack_url": ack,
                    "ack": {
                        "method": "POST",
                        "url": ack,
                        "body": {"operator": "", "comment": ""},
                    },
                })
            })
            .collect();
        json!({
            "source": "vigie",
            "message_id": message_id,
            "count": items.len(),
            "text": self.subject(items).trim_start_matches("[vigie] "),
            "notifications": notifications,
        })
    }
}

fn icon(item: &Item) -> &'static str {
    match (item.kind, item.alarm.priority) {
        (Kind::Cleared, _) => ":white_check_mark:",
        (_, Priority::Critical) => ":rotating_light:",
        (_, Priority::High) => ":red_circle:",
        (_, Priority::Medium) => ":large_orange_circle:",
        (_, Priority::Low) => ":large_blue_circle:",
    }
}

/// Slack's mrkdwn control characters.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
