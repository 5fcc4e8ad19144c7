//! A full disk spool says so loudly: the built-in alarm `vigie:spool:spool_full`, the
//! `vigie_spool_full` gauge and an error in the log; under the default policy the oldest
//! batches are kept (history stays contiguous), and the alarm clears once InfluxDB has
//! taken the backlog (issue 6). Real parts: pymodbus, InfluxDB 1.x.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use support::vigie::VigieChild;
use support::{InfluxV1, ModbusPeer, eventually, free_port, try_request};

const ALARM: &str = "vigie:spool:spool_full";

fn get(url: &str) -> Option<Value> {
    let r = try_request("GET", url, &[], b"").ok()?;
    (r.status == 200).then(|| r.json())
}

fn metric(base: &str, name: &str) -> Option<String> {
    let r = try_request("GET", &format!("{base}/metrics"), &[], b"").ok()?;
    r.body
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string))
}

#[test]
fn a_full_spool_raises_the_system_alarm_keeps_the_oldest_and_clears_after_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let bits = 230.5f32.to_bits();
    let modbus = ModbusPeer::start(
        &json!({"units": {"1": {"input": {"0": (bits >> 16) as u16, "1": bits as u16}}}}),
    );
    let mut influx = InfluxV1::start();
    influx.stop();
    // An earlier run's backlog that fills the 1 MiB spool to within 100 bytes.
    let spool = tmp.path().join("var/spool");
    std::fs::create_dir_all(&spool).unwrap();
    let mut backlog = String::new();
    let mut lines = 0i64;
    loop {
        let t = 1_700_000_000_000_000_000 + lines * 1_000_000_000;
        let line = format!("earlier,site=SUB v={lines} {t}\n");
        if backlog.len() + line.len() > (1 << 20) - 100 {
            break;
        }
        backlog.push_str(&line);
        lines += 1;
    }
    std::fs::write(spool.join(format!("{:020}.lp", 0)), &backlog).unwrap();

    let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles");
    let cfg = tmp.path().join("vigie.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[daemon]
profiles_dir = {profiles:?}
data_dir = {data:?}
spool_max_mib = 1
[influxdb]
url = "{url}"
api = "v1"
database = "{db}"
flush_interval = "500ms"
max_retries = 0
timeout = "1s"
[[sites]]
id = "SUB"
kind = "substation"
devices = [{{ id = "M1", profile = "eastron-sdm630", address = "{modbus}", unit_id = 1, poll_interval = "500ms" }}]
"#,
            data = tmp.path().join("var"),
            url = influx.url,
            db = influx.db,
            modbus = modbus.addr(),
        ),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let mut v = VigieChild::spawn(
        &["run", "-c", cfg.to_str().unwrap(), "--listen", &listen],
        tmp.path(),
    );
    let alarm = |v: &mut VigieChild| {
        v.assert_running("the spool is full");
        get(&format!("{base}/api/v1/alarms/{ALARM}"))
    };
    let raised = eventually(Duration::from_secs(30), "the spool_full alarm", || {
        alarm(&mut v).filter(|a| a["state"] == "active_unacknowledged")
    });
    assert_eq!(raised["priority"], "high", "{raised}");
    assert_eq!(raised["site"], "vigie", "{raised}");
    assert_eq!(metric(&base, "vigie_spool_full").as_deref(), Some("1"));
    let refused: u64 = metric(&base, "vigie_spool_refused_total")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(refused > 0, "no batch refused");
    eventually(
        Duration::from_secs(20),
        "the spool's error in the log",
        || {
            v.stderr()
                .contains("the disk spool could not keep batches")
                .then_some(())
        },
    );

    // InfluxDB comes back: the oldest batches (the earlier run's) reach it first, the spool
    // empties and the alarm returns to normal by itself (unacknowledged: someone must look).
    influx.restart();
    let cleared = eventually(Duration::from_secs(60), "the alarm to clear", || {
        alarm(&mut v).filter(|a| a["state"] == "rtn_unacknowledged")
    });
    assert_eq!(cleared["condition_active"], false, "{cleared}");
    assert_eq!(metric(&base, "vigie_spool_full").as_deref(), Some("0"));
    let kept = influx.values("SELECT count(v) FROM earlier");
    assert_eq!(
        kept[0][1],
        json!(lines),
        "the earlier backlog was not kept whole"
    );
    eprintln!(
        "spool full: {refused} batches refused while InfluxDB was down; the {lines} lines spooled earlier all reached InfluxDB"
    );
    v.terminate();
    let status = v.wait_exit(Duration::from_secs(30), "vigie to stop");
    assert!(status.success(), "{status}\n{}", v.output());
}
