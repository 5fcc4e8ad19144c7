//! `vigie check`: broken files give an error naming file, line and key; exit code 1.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const GOOD_DEVICE: &str = r#"
[[sites]]
id = "PS-01"
kind = "pumping_station"

[[sites.devices]]
id = "meter1"
profile = "eastron-sdm630"
address = "127.0.0.1:5020"
unit_id = 1
"#;

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn header(dir: &Path) -> String {
    format!(
        "[daemon]\nprofiles_dir = {:?}\ndata_dir = {:?}\n",
        profiles_dir(),
        dir.join("var")
    )
}

/// (config body after the [daemon] header, expected line, expected key fragment, message fragment)
fn cases() -> Vec<(
    &'static str,
    String,
    Option<usize>,
    &'static str,
    &'static str,
)> {
    vec![
        (
            "a token pasted where its hash goes",
            format!(
                "{GOOD_DEVICE}[[api.tokens]]\nname = \"grafana\"\nrole = \"viewer\"\nsha256 = \"vigie_0123\"\n"
            ),
            Some(17),
            "api.tokens[0].sha256",
            "never the token itself",
        ),
        (
            "unknown role",
            format!("{GOOD_DEVICE}[[api.tokens]]\nname = \"x\"\nrole = \"admin\"\nsha256 = \"00\"\n"),
            Some(16),
            "role",
            "unknown variant",
        ),
        (
            "unknown key",
            format!("{GOOD_DEVICE}pollinterval = \"1s\"\n"),
            Some(14),
            "pollinterval",
            "unknown field",
        ),
        (
            "bad duration",
            GOOD_DEVICE.replace("unit_id = 1", "unit_id = 1\npoll_interval = \"fast\""),
            Some(14),
            "poll_interval",
            "invalid duration",
        ),
        (
            "number for a duration",
            GOOD_DEVICE.replace("unit_id = 1", "unit_id = 1\ntimeout = 500"),
            Some(14),
            "timeout",
            "invalid type",
        ),
        (
            "missing profile",
            GOOD_DEVICE.replace("eastron-sdm630", "no-such-meter"),
            Some(11),
            "sites[0].devices[0].profile",
            "not found",
        ),
        (
            "duplicate site",
            format!("{GOOD_DEVICE}[[sites]]\nid = \"PS-01\"\nkind = \"reservoir\"\n"),
            Some(15),
            "sites[1].id",
            "duplicate site id",
        ),
        (
            "duplicate device",
            format!(
                "{GOOD_DEVICE}[[sites.devices]]\nid = \"meter1\"\nprofile = \"eastron-sdm630\"\naddress = \"127.0.0.1:5020\"\nunit_id = 2\n"
            ),
            Some(15),
            "sites[0].devices[1].id",
            "duplicate device id",
        ),
        (
            "unit id out of range",
            GOOD_DEVICE.replace("unit_id = 1", "unit_id = 300"),
            Some(13),
            "unit_id",
            "invalid value",
        ),
        (
            "unit id 0",
            GOOD_DEVICE.replace("unit_id = 1", "unit_id = 0"),
            Some(13),
            "unit_id",
            "broadcast",
        ),
        (
            "bad address",
            GOOD_DEVICE.replace("127.0.0.1:5020", "127.0.0.1"),
            Some(12),
            "address",
            "host:port",
        ),
        (
            "timeout above interval",
            GOOD_DEVICE.replace(
                "unit_id = 1",
                "unit_id = 1\npoll_interval = \"1s\"\ntimeout = \"2s\"",
            ),
            Some(15),
            "timeout",
            "at most poll_interval",
        ),
        (
            "unknown site kind",
            GOOD_DEVICE.replace("pumping_station", "castle"),
            Some(7),
            "kind",
            "unknown variant",
        ),
        (
            "zone fed by unknown site",
            format!(
                "[[zones]]\nid = \"Z\"\nutility = \"water\"\nfed_by = [\"PS-99\"]\n{GOOD_DEVICE}"
            ),
            Some(7),
            "zones[0].fed_by",
            "no site",
        ),
        (
            "bad utility",
            format!("[[zones]]\nid = \"Z\"\nutility = \"gas\"\n{GOOD_DEVICE}"),
            Some(6),
            "utility",
            "unknown variant",
        ),
        (
            "v1 without database",
            format!("[influxdb]\nurl = \"http://127.0.0.1:8086\"\napi = \"v1\"\n{GOOD_DEVICE}"),
            // The `[influxdb]` table that lacks the key (was line 6, `api = "v1"`, found by
            // searching the text for "api").
            Some(4),
            "influxdb.database",
            "needs `database`",
        ),
        (
            "bad id characters",
            GOOD_DEVICE.replace("id = \"PS-01\"", "id = \"PS 01\""),
            Some(6),
            "sites[0].id",
            "an id is",
        ),
        (
            "not TOML",
            format!("{GOOD_DEVICE}[[sites\n"),
            Some(14),
            "",
            "unclosed array table",
        ),
        // Lines come from the parsed document, not from a search of the text.
        (
            "same device id in two sites, error in the second",
            format!(
                "{GOOD_DEVICE}[[sites]]\nid = \"PS-02\"\nkind = \"reservoir\"\n[[sites.devices]]\nid = \"meter1\"\nprofile = \"eastron-sdm630\"\naddress = \"127.0.0.1:5020\"\nunit_id = 0\n"
            ),
            Some(21),
            "sites[1].devices[0].unit_id",
            "broadcast",
        ),
        (
            "same device id and address in two sites, bad timeout in the second",
            format!(
                "{GOOD_DEVICE}[[sites]]\nid = \"PS-02\"\nkind = \"reservoir\"\n[[sites.devices]]\nid = \"meter1\"\nprofile = \"eastron-sdm630\"\naddress = \"127.0.0.1:5020\"\nunit_id = 2\ntimeout = \"0s\"\n"
            ),
            Some(22),
            "sites[1].devices[0].timeout",
            "must be > 0",
        ),
        (
            "inline device arrays, same device id in two sites",
            concat!(
                "[[sites]]\nid = \"PS-01\"\nkind = \"pumping_station\"\ndevices = [\n",
                "  { id = \"m1\", profile = \"eastron-sdm630\", address = \"127.0.0.1:5020\", unit_id = 1 },\n]\n",
                "[[sites]]\nid = \"PS-02\"\nkind = \"reservoir\"\ndevices = [\n",
                "  { id = \"m2\", profile = \"eastron-sdm630\", address = \"127.0.0.1:5021\", unit_id = 1 },\n",
                "  { id = \"m1\", profile = \"eastron-sdm630\", address = \"127.0.0.1:5021\",\n",
                "    unit_id = 0 },\n]\n",
            )
            .into(),
            Some(16),
            "sites[1].devices[1].unit_id",
            "broadcast",
        ),
        (
            "type error in an inline device array",
            "[[sites]]\nid = \"PS-01\"\nkind = \"pumping_station\"\ndevices = [\n  { id = \"m1\", profile = \"eastron-sdm630\", address = \"127.0.0.1:5020\", unit_id = 1 },\n  { id = \"m2\", profile = \"eastron-sdm630\", address = \"127.0.0.1:5020\", unit_id = 2, poll_interval = \"fast\" },\n]\n".into(),
            Some(9),
            "sites[0].devices[1].poll_interval",
            "invalid duration",
        ),
        (
            "type error in the second device table",
            format!(
                "{GOOD_DEVICE}[[sites.devices]]\nid = \"meter2\"\nprofile = \"eastron-sdm630\"\naddress = \"127.0.0.1:5020\"\nunit_id = 300\n"
            ),
            Some(18),
            "sites[0].devices[1].unit_id",
            "invalid value",
        ),
        (
            "device table without profile",
            GOOD_DEVICE.replace("profile = \"eastron-sdm630\"\n", ""),
            Some(9),
            "sites[0].devices[0].profile",
            "missing field `profile`",
        ),
        (
            "url after a comment that says url",
            format!(
                "# the url of the InfluxDB server\n[influxdb]\nurl = \"localhost:8086\"\nbucket = \"b\"\n{GOOD_DEVICE}"
            ),
            Some(6),
            "influxdb.url",
            "http:// or https://",
        ),
        (
            "v1 without database, after an [api] section",
            format!(
                "[api]\nlisten = \"127.0.0.1:8080\"\n[influxdb]\nurl = \"http://127.0.0.1:8086\"\napi = \"v1\"\n{GOOD_DEVICE}"
            ),
            Some(6),
            "influxdb.database",
            "needs `database`",
        ),
        (
            "zone fed by an unknown site on its own line, after a comment naming it",
            format!(
                "# \"PS-99\" is planned for 2027\n[[zones]]\nid = \"Z\"\nutility = \"water\"\nfed_by = [\n  \"PS-01\",\n  \"PS-99\",\n]\n{GOOD_DEVICE}"
            ),
            Some(10),
            "zones[0].fed_by",
            "no site with id \"PS-99\"",
        ),
        // Values that were accepted and then failed (or misbehaved) at run time.
        (
            "same address and unit id in two sites",
            format!(
                "{GOOD_DEVICE}[[sites]]\nid = \"PS-02\"\nkind = \"reservoir\"\n[[sites.devices]]\nid = \"meter2\"\nprofile = \"eastron-sdm630\"\naddress = \"127.0.0.1:5020\"\nunit_id = 1\n"
            ),
            Some(21),
            "sites[1].devices[0].unit_id",
            "same address \"127.0.0.1:5020\" and unit_id 1 as sites[0].devices[0]",
        ),
        (
            "same address (other case) and unit id in one site",
            format!(
                "{GOOD_DEVICE}[[sites.devices]]\nid = \"meter2\"\nprofile = \"eastron-sdm630\"\naddress = \"LOCALHOST:5020\"\nunit_id = 7\n[[sites.devices]]\nid = \"meter3\"\nprofile = \"eastron-sdm630\"\naddress = \"localhost:5020\"\nunit_id = 7\n"
            ),
            Some(23),
            "sites[0].devices[2].unit_id",
            "same address",
        ),
        (
            "influxdb timeout 0s",
            format!(
                "[influxdb]\nurl = \"http://127.0.0.1:8086\"\nbucket = \"b\"\ntimeout = \"0s\"\n{GOOD_DEVICE}"
            ),
            Some(7),
            "influxdb.timeout",
            "more than 0s",
        ),
        (
            "influxdb flush_interval 0s",
            format!(
                "[influxdb]\nurl = \"http://127.0.0.1:8086\"\nbucket = \"b\"\nflush_interval = \"0s\"\n{GOOD_DEVICE}"
            ),
            Some(7),
            "influxdb.flush_interval",
            "more than 0s",
        ),
        (
            "spool of 0 MiB",
            format!("spool_max_mib = 0\n{GOOD_DEVICE}"),
            Some(4),
            "daemon.spool_max_mib",
            "at least 1",
        ),
        (
            "spool_full not a policy",
            format!("spool_full = \"drop_newest\"\n{GOOD_DEVICE}"),
            Some(4),
            "daemon.spool_full",
            "unknown variant",
        ),
        (
            "poll_spread not a boolean",
            format!("poll_spread = \"yes\"\n{GOOD_DEVICE}"),
            Some(4),
            "daemon.poll_spread",
            "invalid type: string \"yes\", expected a boolean",
        ),
        (
            "history above 100000",
            format!("[buffer]\nhistory = 100001\n{GOOD_DEVICE}"),
            Some(5),
            "buffer.history",
            "at most 100000",
        ),
        (
            "ring buffer span of 0s",
            format!("[buffer]\nspan = \"0s\"\n{GOOD_DEVICE}"),
            Some(5),
            "buffer.span",
            "more than 0s",
        ),
        (
            "ring buffer span above an hour",
            format!("[buffer]\nspan = \"2h\"\n{GOOD_DEVICE}"),
            Some(5),
            "buffer.span",
            "at most 3600s",
        ),
        (
            "ring buffer capacity below 16",
            format!("[buffer]\ncapacity = 8\n{GOOD_DEVICE}"),
            Some(5),
            "buffer.capacity",
            "at least 16",
        ),
        (
            "request_timeout of 0s",
            format!("[api]\nrequest_timeout = \"0s\"\n{GOOD_DEVICE}"),
            Some(5),
            "api.request_timeout",
            "more than 0s",
        ),
        (
            "certificate file missing",
            format!(
                "[api.tls]\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"\n{GOOD_DEVICE}"
            ),
            Some(5),
            "api.tls.cert_file",
            "cannot read /nonexistent/cert.pem",
        ),
        (
            "poll_interval above 1 day",
            GOOD_DEVICE.replace("unit_id = 1", "unit_id = 1\npoll_interval = \"25h\""),
            Some(14),
            "sites[0].devices[0].poll_interval",
            "at most 1 day",
        ),
        (
            "timeout above 1 day",
            GOOD_DEVICE.replace(
                "unit_id = 1",
                "unit_id = 1\npoll_interval = \"1day\"\ntimeout = \"25h\"",
            ),
            Some(15),
            "sites[0].devices[0].timeout",
            "at most 1 day",
        ),
        (
            "influxdb url without host",
            format!("[influxdb]\nurl = \"http://\"\nbucket = \"b\"\n{GOOD_DEVICE}"),
            Some(5),
            "influxdb.url",
            "not a URL",
        ),
        (
            "duplicate key",
            GOOD_DEVICE.replace("unit_id = 1", "unit_id = 1\nunit_id = 2"),
            Some(14),
            "sites[0].devices[0].unit_id",
            "duplicate key",
        ),
        (
            "alarm on an unknown device",
            format!("{GOOD_DEVICE}[[sites.alarms]]\ndevice = \"nope\"\ncomm_failure = {{ priority = \"high\" }}\n"),
            Some(15),
            "sites[0].alarms[0].device",
            "no device \"nope\"",
        ),
        (
            "alarm on an unknown point",
            format!("{GOOD_DEVICE}[[sites.alarms]]\ndevice = \"meter1\"\npoint = \"pressure\"\nlow = {{ limit = 1.0, priority = \"high\" }}\n"),
            Some(16),
            "sites[0].alarms[0].point",
            "has no point \"pressure\"",
        ),
        (
            "alarm limits in the wrong order",
            format!("{GOOD_DEVICE}[[sites.alarms]]\ndevice = \"meter1\"\npoint = \"voltage_l1_v\"\nhigh = {{ limit = 200.0, priority = \"high\" }}\nlow = {{ limit = 250.0, priority = \"high\" }}\n"),
            Some(18),
            "sites[0].alarms[0].low",
            "must be below high",
        ),
        (
            "negative deadband",
            format!("{GOOD_DEVICE}[[sites.alarms]]\ndevice = \"meter1\"\npoint = \"voltage_l1_v\"\nhigh = {{ limit = 253.0, priority = \"high\" }}\ndeadband = -1.0\n"),
            Some(18),
            "sites[0].alarms[0].deadband",
            "0 or more",
        ),
        (
            "unknown priority",
            format!("{GOOD_DEVICE}[[sites.alarms]]\ndevice = \"meter1\"\npoint = \"voltage_l1_v\"\nhigh = {{ limit = 253.0, priority = \"urgent\" }}\n"),
            Some(17),
            "priority",
            "unknown variant",
        ),
        (
            "comm failure on a point",
            format!("{GOOD_DEVICE}[[sites.alarms]]\ndevice = \"meter1\"\npoint = \"voltage_l1_v\"\ncomm_failure = {{ priority = \"high\" }}\n"),
            Some(17),
            "sites[0].alarms[0].comm_failure",
            "device alarm",
        ),
        (
            "limit without a point",
            format!("{GOOD_DEVICE}[[sites.alarms]]\ndevice = \"meter1\"\nhigh = {{ limit = 253.0, priority = \"high\" }}\n"),
            Some(16),
            "sites[0].alarms[0].high",
            "needs `point`",
        ),
        (
            "alarm without a condition",
            format!("{GOOD_DEVICE}[[sites.alarms]]\ndevice = \"meter1\"\npoint = \"voltage_l1_v\"\n"),
            Some(14),
            "sites[0].alarms[0]",
            "no condition",
        ),
        (
            "unknown placeholder in a message",
            format!("{GOOD_DEVICE}[[sites.alarms]]\ndevice = \"meter1\"\ncomm_failure = {{ priority = \"high\" }}\nmessage = \"{{site}} lost {{devise}}\"\n"),
            Some(17),
            "sites[0].alarms[0].message",
            "unknown placeholder {devise}",
        ),
        (
            "suppression pattern that matches nothing",
            format!("{GOOD_DEVICE}[[sites.alarms]]\ndevice = \"meter1\"\ncomm_failure = {{ priority = \"high\" }}\nsuppresses = [\"P9:*\"]\n"),
            Some(17),
            "sites[0].alarms[0].suppresses",
            "matches no alarm",
        ),
        (
            "alarms that suppress each other",
            format!("{GOOD_DEVICE}[[sites.devices]]\nid = \"meter2\"\nprofile = \"eastron-sdm630\"\naddress = \"127.0.0.1:5020\"\nunit_id = 2\n[[sites.alarms]]\ndevice = \"meter1\"\ncomm_failure = {{ priority = \"high\" }}\nsuppresses = [\"*\"]\n[[sites.alarms]]\ndevice = \"meter2\"\ncomm_failure = {{ priority = \"high\" }}\nsuppresses = [\"*\"]\n"),
            Some(22),
            "sites[0].alarms[0].suppresses",
            "suppression cycle meter1:comm_failure → meter2:comm_failure → meter1:comm_failure",
        ),
        (
            "stale sooner than the next poll",
            format!("{GOOD_DEVICE}poll_interval = \"5s\"\n[[sites.alarms]]\ndevice = \"meter1\"\nstale = {{ after = \"3s\", priority = \"low\" }}\n"),
            Some(17),
            "sites[0].alarms[0].stale.after",
            "longer than the device's poll_interval + timeout (5s 500ms)",
        ),
        (
            "a limit on a bool point",
            format!("{GOOD_DEVICE}[[sites.devices]]\nid = \"P1\"\nprofile = \"abb-acq580\"\naddress = \"127.0.0.1:5020\"\nunit_id = 2\n[[sites.alarms]]\ndevice = \"P1\"\npoint = \"tripped\"\nhigh = {{ limit = 0.5, priority = \"high\" }}\n"),
            Some(22),
            "sites[0].alarms[0].high",
            "is a bool: use `discrete",
        ),
        (
            "a word for a discrete normal state",
            format!("{GOOD_DEVICE}[[sites.alarms]]\ndevice = \"meter1\"\npoint = \"voltage_l1_v\"\ndiscrete = {{ normal = \"off\", priority = \"high\" }}\n"),
            Some(17),
            "normal",
            "true, false or a number",
        ),
        (
            "the same alarm twice",
            format!("{GOOD_DEVICE}[[sites.alarms]]\ndevice = \"meter1\"\ncomm_failure = {{ priority = \"high\" }}\n[[sites.alarms]]\ndevice = \"meter1\"\ncomm_failure = {{ priority = \"low\" }}\n"),
            Some(19),
            "sites[0].alarms[1].comm_failure",
            "already defined",
        ),
        (
            "influxdb url with another scheme",
            format!("[influxdb]\nurl = \"ftp://db:8086\"\nbucket = \"b\"\n{GOOD_DEVICE}"),
            Some(5),
            "influxdb.url",
            "http:// or https://",
        ),
        (
            "zone area ring not closed",
            format!(
                "{GOOD_DEVICE}[[zones]]\nid = \"Z\"\nutility = \"water\"\narea = {{ type = \"Polygon\", coordinates = [[[2.3, 48.8], [2.4, 48.8], [2.4, 48.9]]] }}\n"
            ),
            Some(17),
            "zones[0].area",
            "at least 4 positions",
        ),
        (
            "zone area latitude out of range",
            format!(
                "{GOOD_DEVICE}[[zones]]\nid = \"Z\"\nutility = \"water\"\narea = {{ type = \"Polygon\", coordinates = [[[2.3, 48.8], [2.4, 98.8], [2.4, 48.9], [2.3, 48.8]]] }}\n"
            ),
            Some(17),
            "zones[0].area",
            "out of range",
        ),
        (
            "outage rule on an unknown alarm",
            format!(
                "{GOOD_DEVICE}[[sites.outages]]\nid = \"F1\"\ncause = \"breaker_trip\"\nwhen = [{{ alarm = \"meter1:nothing:discrete\" }}]\nzones = [\"Z\"]\n[[zones]]\nid = \"Z\"\nutility = \"electricity\"\n"
            ),
            Some(17),
            "sites[0].outages[0].when[0]",
            "no alarm",
        ),
        (
            "inflow point is a totaliser (m3), not a flow rate",
            format!(
                "{}[[zones]]\nid = \"Z\"\nutility = \"water\"\ninflow = [\n  {{ site = \"PS-01\", device = \"meter1\", point = \"flow_m3_per_h\" }},\n  {{ site = \"PS-01\", device = \"meter1\", point = \"totaliser_1_m3\" }},\n]\n",
                GOOD_DEVICE.replace("eastron-sdm630", "siemens-mag8000")
            ),
            Some(19),
            "zones[0].inflow[1]",
            "not a flow rate",
        ),
        (
            "outage rule on an unknown zone",
            format!(
                "{GOOD_DEVICE}[[sites.outages]]\nid = \"F1\"\ncause = \"breaker_trip\"\nwhen = [{{ device = \"meter1\", point = \"frequency_hz\", equals = 0 }}]\nzones = [\"Z-NONE\"]\n"
            ),
            Some(18),
            "sites[0].outages[0].zones[0]",
            "no zone",
        ),
        // Wrong types.
        (
            "unit id as a string",
            GOOD_DEVICE.replace("unit_id = 1", "unit_id = \"1\""),
            Some(13),
            "sites[0].devices[0].unit_id",
            "invalid type",
        ),
        (
            "fed_by as a string, not a list",
            format!(
                "[[zones]]\nid = \"Z\"\nutility = \"water\"\nfed_by = \"PS-01\"\n{GOOD_DEVICE}"
            ),
            Some(7),
            "zones[0].fed_by",
            "invalid type",
        ),
        (
            "sites as a table, not an array of tables",
            "[sites]\nid = \"PS-01\"\n".to_string(),
            Some(4),
            "sites",
            "invalid type",
        ),
        // Addresses out of range.
        (
            "port above 65535",
            GOOD_DEVICE.replace("127.0.0.1:5020", "127.0.0.1:70000"),
            Some(12),
            "sites[0].devices[0].address",
            "is not 1..=65535",
        ),
        // Unknown profiles.
        (
            "profile id with a path",
            GOOD_DEVICE.replace("eastron-sdm630", "../../etc/passwd"),
            Some(11),
            "sites[0].devices[0].profile",
            "is not a profile id",
        ),
        (
            "unknown profile on the second device",
            format!(
                "{GOOD_DEVICE}[[sites.devices]]\nid = \"meter2\"\nprofile = \"eastron-sdm999\"\naddress = \"127.0.0.1:5020\"\nunit_id = 2\n"
            ),
            Some(16),
            "sites[0].devices[1].profile",
            "not found",
        ),
        // Duplicate ids.
        (
            "duplicate zone",
            format!(
                "[[zones]]\nid = \"Z\"\nutility = \"water\"\n[[zones]]\nid = \"Z\"\nutility = \"water\"\n{GOOD_DEVICE}"
            ),
            Some(8),
            "zones[1].id",
            "duplicate zone id",
        ),
        // Bad durations.
        (
            "negative duration",
            GOOD_DEVICE.replace("unit_id = 1", "unit_id = 1\npoll_interval = \"-5s\""),
            Some(14),
            "sites[0].devices[0].poll_interval",
            "invalid duration",
        ),
        (
            "duration without a unit",
            GOOD_DEVICE.replace("unit_id = 1", "unit_id = 1\npoll_interval = \"5\""),
            Some(14),
            "sites[0].devices[0].poll_interval",
            "invalid duration",
        ),
        (
            "poll interval of 0s",
            GOOD_DEVICE.replace("unit_id = 1", "unit_id = 1\npoll_interval = \"0s\""),
            Some(14),
            "sites[0].devices[0].poll_interval",
            "at least 10ms",
        ),
    ]
}

#[test]
fn each_broken_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body, line, key, message) in cases() {
        let path = write(
            dir.path(),
            "vigie.toml",
            &format!("{}{}", header(dir.path()), body),
        );
        let errors = vigie::config::load(&path, Some(HashMap::new()))
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        let e = &errors[0];
        let shown = e.to_string();
        assert_eq!(e.file, path, "{name}: {shown}");
        assert_eq!(e.line, line, "{name}: {shown}");
        assert!(shown.contains(key), "{name}: key {key:?} not in {shown:?}");
        assert!(
            shown.to_lowercase().contains(&message.to_lowercase()),
            "{name}: {message:?} not in {shown:?}"
        );
    }
}

/// The file and the `VIGIE__…` variables are checked together: a key may come from the
/// environment alone, and an error caused by a variable names it instead of a line.
#[test]
fn environment_variables_are_layered_before_checking() {
    const INFLUX: &str = "[influxdb]\nbucket = \"b\"\n";
    const URL: (&str, &str) = ("VIGIE__INFLUXDB__URL", "http://127.0.0.1:8086");
    // (case, body after the [daemon] header, environment, Ok(()) or the first error's
    // (line, key, message fragment))
    type Expected = Result<(), (Option<usize>, &'static str, &'static str)>;
    type Case = (
        &'static str,
        String,
        Vec<(&'static str, &'static str)>,
        Expected,
    );
    let cases: Vec<Case> = vec![
        (
            "url only in the environment",
            format!("{INFLUX}{GOOD_DEVICE}"),
            vec![URL],
            Ok(()),
        ),
        (
            "url missing from file and environment",
            format!("{INFLUX}{GOOD_DEVICE}"),
            vec![("VIGIE__INFLUXDB__TOKEN", "t")],
            Err((Some(4), "influxdb.url", "missing field `url`")),
        ),
        (
            "bad value from the environment",
            format!("{INFLUX}url = \"http://127.0.0.1:8086\"\ntimeout = \"2s\"\n{GOOD_DEVICE}"),
            vec![("VIGIE__INFLUXDB__TIMEOUT", "fast")],
            Err((
                None,
                "environment",
                "VIGIE__INFLUXDB__TIMEOUT: invalid duration \"fast\"",
            )),
        ),
        (
            "bad value from the environment, url from the environment too",
            format!("{INFLUX}{GOOD_DEVICE}"),
            vec![URL, ("VIGIE__INFLUXDB__TIMEOUT", "fast")],
            Err((
                None,
                "environment",
                "VIGIE__INFLUXDB__TIMEOUT: invalid duration",
            )),
        ),
        (
            "bad type from the environment (lower case name)",
            GOOD_DEVICE.to_string(),
            vec![("vigie__buffer__history", "lots")],
            Err((None, "environment", "vigie__buffer__history: invalid type")),
        ),
        (
            "unknown key from the environment",
            format!("{INFLUX}url = \"http://127.0.0.1:8086\"\n{GOOD_DEVICE}"),
            vec![("VIGIE__INFLUXDB__TOKN", "t")],
            Err((
                None,
                "environment",
                "VIGIE__INFLUXDB__TOKN: unknown field `tokn`",
            )),
        ),
        (
            "invalid url from the environment",
            format!("{INFLUX}url = \"http://127.0.0.1:8086\"\n{GOOD_DEVICE}"),
            vec![("VIGIE__INFLUXDB__URL", "http://")],
            Err((None, "influxdb.url", "not a URL (empty host)")),
        ),
        (
            "invalid value from the environment, valid in the file",
            GOOD_DEVICE.to_string(),
            vec![("VIGIE__DAEMON__SPOOL_MAX_MIB", "0")],
            Err((
                None,
                "daemon.spool_max_mib",
                "(set by VIGIE__DAEMON__SPOOL_MAX_MIB)",
            )),
        ),
        (
            "file error reported at its line whatever the environment",
            format!("{INFLUX}url = \"http://127.0.0.1:8086\"\ntimeout = \"fast\"\n{GOOD_DEVICE}"),
            vec![("VIGIE__API__LISTEN", "127.0.0.1:9000")],
            Err((Some(7), "influxdb.timeout", "invalid duration")),
        ),
        (
            "bad file value overridden by the environment",
            format!("{INFLUX}url = \"http://127.0.0.1:8086\"\ntimeout = \"fast\"\n{GOOD_DEVICE}"),
            vec![("VIGIE__INFLUXDB__TIMEOUT", "3s")],
            Ok(()),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, body, env, expected) in cases {
        let path = write(
            dir.path(),
            "vigie.toml",
            &format!("{}{}", header(dir.path()), body),
        );
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match (vigie::config::load(&path, Some(env)), expected) {
            (Ok(_), Ok(())) => {}
            (Ok(_), Err(e)) => panic!("{name}: accepted, expected {e:?}"),
            (Err(errors), Ok(())) => panic!("{name}: refused: {errors:?}"),
            (Err(errors), Err((line, key, message))) => {
                let e = &errors[0];
                let shown = e.to_string();
                assert_eq!(e.file, path, "{name}: {shown}");
                assert_eq!(e.line, line, "{name}: {shown}");
                assert_eq!(e.key, key, "{name}: {shown}");
                assert!(
                    shown.contains(message),
                    "{name}: {message:?} not in {shown:?}"
                );
            }
        }
    }
}

/// `[daemon] poll_spread`: false when absent, true from the file or from
/// `VIGIE__DAEMON__POLL_SPREAD`.
#[test]
fn poll_spread_is_off_by_default_and_read_from_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let spread = |body: &str, env: &[(&str, &str)]| -> bool {
        let path = write(
            dir.path(),
            "vigie.toml",
            &format!("{}{body}{GOOD_DEVICE}", header(dir.path())),
        );
        let vars = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match vigie::config::load(&path, Some(vars)) {
            Ok(n) => n.config.daemon.poll_spread,
            Err(e) => panic!("{body:?} {env:?}: refused: {e:?}"),
        }
    };
    assert!(!spread("", &[]), "default");
    assert!(spread("poll_spread = true\n", &[]), "file");
    assert!(!spread("poll_spread = false\n", &[]), "file, false");
    assert!(
        spread("", &[("VIGIE__DAEMON__POLL_SPREAD", "true")]),
        "environment"
    );
}

#[test]
fn broken_profiles_are_reported_with_their_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles");
    std::fs::create_dir(&profiles).unwrap();
    let head =
        "manufacturer = \"t\"\nmodel = \"t\"\nsource = \"test\"\naddress_base = \"modicon\"\n";
    let point = |name: &str, reg: &str, addr: &str, ty: &str| {
        format!(
            "[[points]]\nname = \"{name}\"\nregister = \"{reg}\"\naddress = {addr}\ntype = \"{ty}\"\n"
        )
    };
    let cases = [
        (
            "overlap",
            format!(
                "{head}{}{}",
                point("a", "input", "30001", "f32"),
                point("b", "input", "30002", "f32")
            ),
            13,
            "points[1].address",
            "overlaps point \"a\"",
        ),
        (
            "digit contradicts table",
            format!("{head}{}", point("a", "holding", "30001", "u16")),
            8,
            "points[0].address",
            "leading digit 3",
        ),
        (
            "past 65535",
            format!("{head}{}", point("a", "holding", "465536", "u32")),
            8,
            "points[0].address",
            "past 65535",
        ),
        (
            "bit without bit",
            format!("{head}{}", point("a", "holding", "40001", "bool")),
            5,
            "points[0].bit",
            "needs `bit`",
        ),
        (
            "unknown type",
            format!("{head}{}", point("a", "holding", "40001", "float")),
            9,
            "type",
            "unknown variant",
        ),
        (
            "coil typed u16",
            format!("{head}{}", point("a", "coil", "1", "u16")),
            9,
            "points[0].type",
            "must be bool",
        ),
        (
            "duplicate point name",
            format!(
                "{head}{}{}",
                point("a", "holding", "40001", "u16"),
                point("a", "holding", "40002", "u16")
            ),
            11,
            "points[1].name",
            "duplicate point name",
        ),
        (
            "two bools on the same bit of a register",
            format!(
                "{head}{}bit = 3\n{}bit = 3\n",
                point("a", "holding", "40001", "bool"),
                point("b", "holding", "40001", "bool")
            ),
            14,
            "points[1].address",
            "overlaps point \"a\"",
        ),
        (
            "a string running over the next point",
            format!(
                "{head}{}length = 4\n{}",
                point("a", "holding", "40001", "string"),
                point("b", "holding", "40003", "u32")
            ),
            14,
            "points[1].address",
            "overlaps point \"a\"",
        ),
        (
            "address as a boolean",
            format!("{head}{}", point("a", "holding", "true", "u16")),
            8,
            "points[0].address",
            "",
        ),
        (
            "scale as a string",
            format!(
                "{head}{}scale = \"x10\"\n",
                point("a", "holding", "40001", "u16")
            ),
            10,
            "points[0].scale",
            "invalid type",
        ),
        (
            "nan as a string",
            format!(
                "{head}{}nan = \"0xFFFF\"\n",
                point("a", "holding", "40001", "u16")
            ),
            10,
            "points[0].nan",
            "invalid type",
        ),
        (
            "unknown word order",
            format!(
                "{head}{}word_order = \"ABDC\"\n",
                point("a", "holding", "40001", "u32")
            ),
            10,
            "points[0].word_order",
            "unknown variant",
        ),
        (
            "bit 16 of a 16-bit register",
            format!("{head}{}bit = 16\n", point("a", "holding", "40001", "bool")),
            10,
            "points[0].bit",
            "0..15",
        ),
        (
            "bitfield past its register",
            format!(
                "{head}{}bit = 12\nbits = 8\n",
                point("a", "holding", "40001", "bitfield")
            ),
            11,
            "points[0].bits",
            "does not fit in 16 bits",
        ),
        (
            "string longer than one read",
            format!(
                "{head}{}length = 126\n",
                point("a", "holding", "40001", "string")
            ),
            10,
            "points[0].length",
            "longer than one read",
        ),
        (
            "address 0 with address_base 1",
            format!(
                "{}{}",
                head.replace("\"modicon\"", "1"),
                point("a", "holding", "0", "u16")
            ),
            8,
            "points[0].address",
            "starts at 1",
        ),
        (
            "address above 65535 with address_base 0",
            format!(
                "{}{}",
                head.replace("\"modicon\"", "0"),
                point("a", "holding", "65536", "u16")
            ),
            8,
            "points[0].address",
            "65535",
        ),
    ];
    for (name, text, line, key, message) in cases {
        std::fs::write(profiles.join("bad.toml"), &text).unwrap();
        let cfg = format!(
            "[daemon]\nprofiles_dir = {:?}\n[[sites]]\nid = \"S\"\nkind = \"reservoir\"\n[[sites.devices]]\nid = \"d\"\nprofile = \"bad\"\naddress = \"127.0.0.1:502\"\nunit_id = 1\n",
            profiles
        );
        let path = write(dir.path(), "vigie.toml", &cfg);
        let errors = vigie::config::load(&path, Some(HashMap::new()))
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        let shown = errors[0].to_string();
        assert!(
            shown.starts_with(&format!("{}:{line}:", profiles.join("bad.toml").display())),
            "{name}: {shown}"
        );
        assert!(
            shown.contains(key) && shown.contains(message),
            "{name}: {shown}"
        );
    }
}

#[test]
fn the_binary_exits_1_and_prints_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let body = GOOD_DEVICE
        .replace("unit_id = 1", "unit_id = 0")
        .replace("eastron-sdm630", "nope");
    let path = write(
        dir.path(),
        "vigie.toml",
        &format!("{}{}", header(dir.path()), body),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("unit_id") && stdout.contains("\"nope\" not found"),
        "{stdout}"
    );
    assert!(stdout.contains("2 error(s)"), "{stdout}");
}

#[test]
fn the_example_config_is_valid_and_env_overrides_apply() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .current_dir(root)
        .args(["check", "-c", "vigie.example.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let env = HashMap::from([
        ("VIGIE__INFLUXDB__TOKEN".to_string(), "s3cret".to_string()),
        (
            "VIGIE__API__LISTEN".to_string(),
            "127.0.0.1:9999".to_string(),
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root.join("vigie.example.toml"))
        .unwrap()
        .replace(
            "profiles_dir = \"plc-profiles\"",
            &format!("profiles_dir = {:?}", profiles_dir()),
        );
    let path = write(dir.path(), "vigie.toml", &text);
    let n = vigie::config::load(&path, Some(env)).unwrap();
    assert_eq!(n.config.influxdb.unwrap().token, "s3cret");
    assert_eq!(n.config.api.listen.port(), 9999);
}

/// The `toml` code blocks of README.md's section `heading`, joined.
fn readme_toml(heading: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README has no section {heading:?}"));
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut out = String::new();
    for block in section.split("```toml\n").skip(1) {
        out.push_str(block.split("```").next().unwrap());
    }
    out
}

/// What a reader copies from the README's "Alarms" and "Notifications" sections is valid
/// (on a site with the devices the examples name).
#[test]
fn the_readme_alarm_and_notification_examples_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[[zones]]\nid = \"Z-NORTH\"\nutility = \"water\"\nfed_by = [\"PS-01\"]\n\
         [[sites]]\nid = \"PS-01\"\nkind = \"pumping_station\"\ndevices = [\n\
         {{ id = \"PT-101\", profile = \"keller-series30\", address = \"127.0.0.1:5020\", unit_id = 1 }},\n\
         {{ id = \"F2\", profile = \"schneider-compact-nsx\", address = \"127.0.0.1:5021\", unit_id = 255 }},\n\
         {{ id = \"FT-302\", profile = \"siemens-mag8000\", address = \"127.0.0.1:5020\", unit_id = 3 }},\n\
         {{ id = \"P1\", profile = \"abb-acq580\", address = \"127.0.0.1:5020\", unit_id = 4 }},\n]\n\
         {}\n{}",
        header(dir.path()),
        readme_toml("Alarms"),
        readme_toml("Notifications"),
    );
    assert!(text.contains("[notify]") && text.contains("[[sites.alarms]]"));
    let path = write(dir.path(), "vigie.toml", &text);
    if let Err(errors) = vigie::config::load(&path, Some(HashMap::new())) {
        panic!(
            "README examples refused:\n{}\n---\n{text}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
