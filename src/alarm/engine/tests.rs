//! The engine on a real config (the repository's profiles), fed samples and poll results by
//! hand: suppression, restart from persisted states, stale data, bad samples.

use super::*;
use crate::config::catalog::Catalog;
use crate::sample::{BadReason, DeviceId, PointId, Quality};
use std::path::Path;

const S: i64 = 1_000_000_000;

/// Site PS-01: PT-101 (pressure, low limit with a 2 s on-delay, latched high), its comm
/// failure suppressing its point alarms, and a stale alarm on PT-102.
const CONFIG: &str = r#"
[[sites]]
id = "PS-01"
kind = "pumping_station"
devices = [
  { id = "PT-101", profile = "keller-series30", address = "127.0.0.1:5020", unit_id = 1 },
  { id = "PT-102", profile = "keller-series30", address = "127.0.0.1:5020", unit_id = 2 },
]
[[sites.alarms]]
device = "PT-101"
point = "pressure_bar"
low = { limit = 2.8, priority = "high" }
on_delay = "2s"
[[sites.alarms]]
device = "PT-101"
point = "temperature_c"
high = { limit = 40.0, priority = "low" }
latch = true
[[sites.alarms]]
device = "PT-101"
comm_failure = { priority = "high" }
suppresses = ["PT-101:*"]
[[sites.alarms]]
device = "PT-102"
stale = { after = "10s", priority = "medium" }
"#;

struct Fixture {
    catalog: Catalog,
    defs: Vec<AlarmDef>,
}

fn fixture() -> Fixture {
    let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles");
    let net = crate::config::check::from_text(Path::new("test.toml"), CONFIG, Some(&profiles))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let catalog = Catalog::new(&net);
    let defs = super::super::definition::build(&net.config, &catalog);
    Fixture { catalog, defs }
}

impl Fixture {
    fn engine(&self, restored: HashMap<String, Persisted>, now: i64) -> Engine {
        Engine::new(
            self.defs.clone(),
            restored,
            std::time::Duration::from_secs(3600),
            now,
        )
    }
    fn point(&self, device: &str, point: &str) -> PointId {
        self.catalog.find("PS-01", device, point).unwrap()
    }
}

fn sample(point: PointId, t: i64, v: Option<f64>) -> Sample {
    Sample {
        point,
        time_ns: t,
        value: v.map(Value::F64),
        quality: if v.is_some() {
            Quality::Good
        } else {
            Quality::Bad(BadReason::Timeout)
        },
    }
}

fn poll(device: u32, t: i64, up: bool) -> PollStatus {
    PollStatus {
        device: DeviceId(device),
        time_ns: t,
        up,
        latency_ms: None,
        timeouts: 0,
        errors: 0,
    }
}

fn state(e: &Engine, id: &str) -> StateName {
    e.state_name(e.index(id).unwrap())
}

/// What would be persisted: every alarm's state by id.
fn persisted(e: &Engine) -> HashMap<String, Persisted> {
    e.defs()
        .iter()
        .zip(e.states())
        .map(|(d, p)| (d.id.clone(), p.clone()))
        .collect()
}

const LOW: &str = "PS-01:PT-101:pressure_bar:low";
const COMM: &str = "PS-01:PT-101:comm_failure";

#[test]
fn a_suppression_by_another_alarm_ends_after_a_restart_too() {
    let f = fixture();
    let p = f.point("PT-101", "pressure_bar");
    let mut e = f.engine(HashMap::new(), 0);
    e.on_sample(&sample(p, 0, Some(2.0)));
    e.on_sample(&sample(p, 3 * S, Some(2.0)));
    assert_eq!(state(&e, LOW), StateName::ActiveUnacknowledged);
    e.on_poll(&poll(0, 4 * S, false));
    assert_eq!(state(&e, COMM), StateName::ActiveUnacknowledged);
    assert_eq!(state(&e, LOW), StateName::Suppressed);

    let mut e = f.engine(persisted(&e), 5 * S);
    assert_eq!(state(&e, LOW), StateName::Suppressed);
    assert!(e.take_changes().0.is_empty(), "the restart changed a state");
    e.on_poll(&poll(0, 6 * S, true));
    assert_eq!(state(&e, COMM), StateName::RtnUnacknowledged);
    assert_eq!(state(&e, LOW), StateName::ActiveUnacknowledged);
}

#[test]
fn an_out_of_service_suppressor_suppresses_nothing() {
    let f = fixture();
    let mut defs = f.defs.clone();
    let comm = defs.iter().position(|d| d.id == COMM).unwrap();
    defs[comm].out_of_service = true;
    let mut e = Engine::new(defs, HashMap::new(), std::time::Duration::from_secs(60), 0);
    let p = f.point("PT-101", "pressure_bar");
    e.on_sample(&sample(p, 0, Some(2.0)));
    e.on_sample(&sample(p, 3 * S, Some(2.0)));
    e.on_poll(&poll(0, 4 * S, false));
    assert_eq!(state(&e, COMM), StateName::OutOfService);
    assert_eq!(state(&e, LOW), StateName::ActiveUnacknowledged);
}

#[test]
fn bad_samples_restart_the_on_delay() {
    let f = fixture();
    let p = f.point("PT-101", "pressure_bar");
    let mut e = f.engine(HashMap::new(), 0);
    e.on_sample(&sample(p, 0, Some(2.0)));
    for t in 1..60 {
        e.on_sample(&sample(p, t * S, None));
    }
    e.on_sample(&sample(p, 60 * S, Some(2.0)));
    assert_eq!(
        state(&e, LOW),
        StateName::Normal,
        "one good sample after a gap"
    );
    e.on_sample(&sample(p, 62 * S, Some(2.0)));
    assert_eq!(state(&e, LOW), StateName::ActiveUnacknowledged);
}

#[test]
fn an_active_stale_alarm_stays_active_across_a_restart_until_data_comes() {
    let f = fixture();
    let stale = "PS-01:PT-102:stale";
    let mut e = f.engine(HashMap::new(), 0);
    e.tick(11 * S);
    assert_eq!(state(&e, stale), StateName::ActiveUnacknowledged);
    let mut e = f.engine(persisted(&e), 20 * S);
    e.tick(21 * S);
    assert_eq!(state(&e, stale), StateName::ActiveUnacknowledged);
    assert!(e.take_changes().0.is_empty());
    e.on_poll(&poll(1, 22 * S, true));
    assert_eq!(state(&e, stale), StateName::RtnUnacknowledged);
    // A restart while it is normal does not count the time vigie was down.
    let mut e = f.engine(persisted(&e), 100 * S);
    e.tick(101 * S);
    assert_eq!(state(&e, stale), StateName::RtnUnacknowledged);
}

#[test]
fn a_latched_alarm_shelved_while_its_condition_clears_is_latched_when_it_comes_back() {
    let f = fixture();
    let t = f.point("PT-101", "temperature_c");
    let id = "PS-01:PT-101:temperature_c:high";
    let mut e = f.engine(HashMap::new(), 0);
    e.on_sample(&sample(t, 0, Some(45.0)));
    e.act(id, &Action::Acknowledge, "a", "", S).unwrap();
    e.act(
        id,
        &Action::Shelve(std::time::Duration::from_secs(10)),
        "a",
        "x",
        S,
    )
    .unwrap();
    e.on_sample(&sample(t, 2 * S, Some(20.0)));
    e.tick(12 * S);
    assert_eq!(state(&e, id), StateName::LatchedAcknowledged);
    e.act(id, &Action::Reset, "a", "inspected", 13 * S).unwrap();
    assert_eq!(state(&e, id), StateName::Normal);
}

#[test]
fn operator_actions_are_events_with_the_operator_and_refusals_change_nothing() {
    let f = fixture();
    let p = f.point("PT-101", "pressure_bar");
    let mut e = f.engine(HashMap::new(), 0);
    assert!(matches!(
        e.act(LOW, &Action::Acknowledge, "a", "", 0),
        Err(EngineError::Refused(_))
    ));
    assert!(matches!(
        e.act("nope", &Action::Acknowledge, "a", "", 0),
        Err(EngineError::UnknownAlarm(_))
    ));
    assert!(matches!(
        e.act(
            LOW,
            &Action::Shelve(std::time::Duration::from_millis(10)),
            "a",
            "x",
            0
        ),
        Err(EngineError::BadShelveDuration { .. })
    ));
    assert!(e.take_changes().0.is_empty());
    e.on_sample(&sample(p, 0, Some(2.0)));
    e.on_sample(&sample(p, 2 * S, Some(2.0)));
    e.act(LOW, &Action::Acknowledge, "amina", "crew sent", 3 * S)
        .unwrap();
    let (events, states) = e.take_changes();
    let ack = events.last().unwrap();
    assert_eq!(ack.to_state, StateName::ActiveAcknowledged);
    assert_eq!(ack.operator.as_deref(), Some("amina"));
    assert_eq!(ack.comment.as_deref(), Some("crew sent"));
    assert_eq!(ack.value, Some(2.0));
    assert!(states.iter().any(|(id, _)| id == LOW));
}
