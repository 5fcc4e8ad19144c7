//! The `vigie` command line (DESIGN.md "Command line").

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigie::config::shard::{self, Shard};
use vigie::config::tokens::Role;
use vigie::config::{self, InfluxApi, InfluxConfig};
use vigie::poll::{plan, read};
use vigie::profile::{self, RegisterKind, WordOrder};

/// `println!` that ends the process quietly when stdout is closed (`vigie probe … | head`),
/// as command-line tools do, instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// vigie: supervision of water and electricity networks over Modbus TCP.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: poll the configured devices, write InfluxDB, serve the API.
    Run {
        /// The configuration file.
        #[arg(short, long, default_value = "vigie.toml")]
        config: PathBuf,
        /// Override `[api] listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Run only shard I of N (0-based, 0 <= I < N): the sites and zones that rendezvous
        /// hashing gives it (README "Deployment"); default: the whole network.
        #[arg(long, env = "VIGIE_SHARD", value_name = "I/N")]
        shard: Option<Shard>,
    },
    /// Start a simulated network (three sites on loopback Modbus TCP) and poll it.
    Demo(DemoArgs),
    /// Run the station simulator alone (Modbus TCP servers).
    Simulate {
        #[arg(short, long, default_value = "sim.toml")]
        config: PathBuf,
    },
    /// Validate a configuration and every profile it names; exit 1 on any error.
    Check {
        #[arg(short, long, default_value = "vigie.toml")]
        config: PathBuf,
        /// Also list the sites and zones shard I of N would run.
        #[arg(long, env = "VIGIE_SHARD", value_name = "I/N")]
        shard: Option<Shard>,
    },
    /// Make a new API bearer token for ROLE (viewer, operator, engineer, crm): prints the
    /// token, to give its holder, and the `[[api.tokens]]` entry to add to vigie.toml, which
    /// holds only its SHA-256.
    Token {
        #[arg(value_parser = parse_role)]
        role: Role,
        /// Who will hold it (403 messages, the log line of each change it makes); default: the role.
        #[arg(long)]
        name: Option<String>,
    },
    /// Read a device once and print its points decoded (the field engineer's tool).
    Probe(ProbeArgs),
    /// Detect customer overconsumption in a billing export (per-meter consumption by period)
    /// and store the alerts; exit 1 when the file or the configuration cannot be read.
    ImportConsumption(ImportConsumptionArgs),
}

#[derive(Args)]
struct DemoArgs {
    /// API listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Also write to this InfluxDB (e.g. http://127.0.0.1:8086).
    #[arg(long)]
    influx_url: Option<String>,
    /// InfluxDB write API: v1 (/write?db=) or v2 (/api/v2/write).
    #[arg(long, default_value = "v2", value_parser = ["v1", "v2"])]
    influx_api: String,
    #[arg(long, default_value = "utility")]
    influx_org: String,
    #[arg(long, default_value = "scada")]
    influx_bucket: String,
    #[arg(long, default_value = "", env = "VIGIE_INFLUX_TOKEN")]
    influx_token: String,
    /// v1 database.
    #[arg(long, default_value = "scada")]
    influx_database: String,
    /// Where profiles are read.
    #[arg(long, default_value = "plc-profiles")]
    profiles_dir: PathBuf,
    /// Spool folder parent.
    #[arg(long, default_value = "var/demo")]
    data_dir: PathBuf,
    /// Stop after this long (e.g. "10m"); default: until Ctrl-C.
    #[arg(long, value_parser = config::duration::parse)]
    duration: Option<Duration>,
    /// Seconds between summary lines.
    #[arg(long, default_value_t = 5)]
    summary_every: u64,
    /// When the first scripted fault (the burst) starts, e.g. "20s"; the feeder trip and
    /// the silent transmitter follow 3 and 6 minutes later. Default: 3 minutes.
    #[arg(long, value_parser = config::duration::parse)]
    first_fault: Option<Duration>,
}

#[derive(Args)]
struct ProbeArgs {
    /// The device or gateway, host:port.
    address: String,
    /// Modbus unit id.
    #[arg(long, default_value_t = 1)]
    unit: u8,
    /// Profile id (file stem in --profiles-dir); not needed with --raw.
    #[arg(long)]
    profile: Option<String>,
    #[arg(long, default_value = "plc-profiles")]
    profiles_dir: PathBuf,
    /// Per-request timeout.
    #[arg(long, default_value = "1s", value_parser = config::duration::parse)]
    timeout: Duration,
    /// Print COUNT raw registers from PDU address START with every 32-bit reading of each pair.
    #[arg(long, num_args = 2, value_names = ["START", "COUNT"])]
    raw: Option<Vec<u16>>,
    /// Register table for --raw: holding or input.
    #[arg(long, default_value = "holding", value_parser = ["holding", "input"])]
    table: String,
}

#[derive(Args)]
struct ImportConsumptionArgs {
    /// The CSV: customer_ref,meter_id,utility,zone,period_start,period_end,consumption,unit
    /// (dates YYYY-MM-DD, period_end exclusive).
    file: PathBuf,
    /// The configuration: its zones, and its data_dir where alerts are stored.
    #[arg(short, long, default_value = "vigie.toml")]
    config: PathBuf,
    /// Alert when consumption > RATIO × reference (1 or more).
    #[arg(long, default_value_t = vigie::correlate::detect::DEFAULT_RATIO, value_parser = parse_ratio)]
    ratio: f64,
    /// And when consumption − reference ≥ X: 8m3, 8000L, 300kWh, 0.3MWh, or a bare number in
    /// m3 and kWh; once per utility [default: 5m3 and 500kWh].
    #[arg(long, value_name = "X")]
    min_excess: Vec<vigie::correlate::detect::MinExcess>,
    /// The reference averages the same period over the previous N years (1: the previous
    /// year; 3 with --ratio 2: France's rule for water, CGCT art. L2224-12-4).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(vigie::correlate::detect::MAX_YEARS)))]
    years: u32,
    /// Print the alerts, store nothing.
    #[arg(long)]
    dry_run: bool,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?}: one of viewer, operator, engineer, crm"))
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 1.0 => Ok(x),
        _ => Err(format!("{s:?}: a number, 1 or more")),
    }
}

fn main() -> std::process::ExitCode {
    // Before any thread exists (src/malloc.rs).
    let arenas = vigie::malloc::limit_arenas();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    tracing::debug!(?arenas, "glibc malloc arena limit");
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run {
                config,
                listen,
                shard,
            } => run(&config, listen, shard).await,
            Command::Demo(a) => demo(a).await,
            Command::Simulate { config } => simulate(&config).await,
            Command::Check { config, shard } => return check(&config, shard),
            Command::Probe(a) => probe(a).await,
            Command::Token { role, name } => {
                let token = config::tokens::new_token();
                let name = name.unwrap_or_else(|| role.to_string());
                if name.trim().is_empty() {
                    bail!("--name: give who will hold the token");
                }
                out!("token {role} {token}");
                out!(
                    "# Give the token above to {name:?}; add this to vigie.toml (it holds only the token's SHA-256):"
                );
                out!("{}", config::tokens::toml_entry(&name, role, &token));
                Ok(())
            }
            Command::ImportConsumption(a) => return import_consumption(a),
        }
        .map(|()| std::process::ExitCode::SUCCESS)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn check(path: &Path, shard: Option<Shard>) -> anyhow::Result<std::process::ExitCode> {
    match config::load(path, None) {
        Ok(n) => {
            let whole = n.clone();
            let n = shard.map_or(n, |s| shard::select(&whole, s));
            let devices: usize = n.config.sites.iter().map(|s| s.devices.len()).sum();
            let points: usize = n
                .config
                .sites
                .iter()
                .flat_map(|s| &s.devices)
                .filter_map(|d| n.profiles.get(&d.profile))
                .map(|p| p.points.len())
                .sum();
            out!(
                "{}: OK: {} zones, {} sites, {} devices, {} points, {} profiles",
                path.display(),
                n.config.zones.len(),
                n.config.sites.len(),
                devices,
                points,
                n.profiles.len()
            );
            if let Some(s) = shard {
                out!("{}", shard_line(s, &whole, &n));
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                out!("{e}");
            }
            out!("{} error(s)", errors.len());
            Ok(std::process::ExitCode::FAILURE)
        }
    }
}

/// `vigie import-consumption`: detects overconsumption in a billing export
/// ([`vigie::correlate::detect`]), prints what it found and stores the alerts.
fn import_consumption(a: ImportConsumptionArgs) -> anyhow::Result<std::process::ExitCode> {
    use vigie::correlate::detect::{self, DetectConfig, Evaluation, NoReference};
    use vigie::correlate::store::{AlertStore, Insert};
    let network = config::load(&a.config, None).map_err(|errors| {
        anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let mut settings = DetectConfig {
        ratio: a.ratio,
        years: a.years,
        ..DetectConfig::default()
    };
    for m in a.min_excess {
        settings.set_min_excess(m);
    }
    let file = a.file.display();
    let bytes = std::fs::read(&a.file).with_context(|| format!("cannot read {file}"))?;
    let report = detect::import(&bytes, &network.config.zones, &settings)
        .with_context(|| format!("{file}"))?;
    let alerts: Vec<&Evaluation> = report.abnormal().collect();
    let compared: std::collections::BTreeSet<(&str, u8)> = report
        .evaluations
        .iter()
        .map(|e| (e.row.meter_id.as_str(), e.row.utility as u8))
        .collect();
    let unreferenced: std::collections::BTreeSet<(&str, u8)> = report
        .no_reference
        .iter()
        .map(|n| (n.meter_id.as_str(), n.utility as u8))
        .collect();
    out!(
        "{file}: {} rows read, {} rejected, {} periods compared, {} periods of {} meters without reference ({} meters with none), {} alerts",
        report.rows_read,
        report.rejected.len(),
        report.evaluations.len(),
        report.no_reference.len(),
        unreferenced.len(),
        unreferenced.difference(&compared).count(),
        alerts.len()
    );
    let reference = if settings.years == 1 {
        "the same period of the previous year".to_string()
    } else {
        format!(
            "the average of the same period over the previous {} years",
            settings.years
        )
    };
    out!(
        "rule: alert when consumption > {} × reference and consumption − reference ≥ {} m3 (water), {} kWh (electricity); reference: {reference}",
        fmt_number(settings.ratio),
        fmt_number(settings.min_excess_m3),
        fmt_number(settings.min_excess_kwh)
    );
    for r in &report.rejected {
        out!("rejected line {}: {}", r.line, r.reason);
    }
    // Periods without reference, one line per run of consecutive periods of a meter with the
    // same reason (a meter's whole first year is one line).
    let mut missing: Vec<&NoReference> = report.no_reference.iter().collect();
    missing.sort_by_key(|n| (n.meter_id.as_str(), n.utility as u8, n.period_start));
    let mut runs: Vec<Vec<&NoReference>> = Vec::new();
    for n in missing {
        match runs.last_mut() {
            Some(run)
                if run.last().is_some_and(|p| {
                    p.meter_id == n.meter_id
                        && p.utility == n.utility
                        && p.period_end == n.period_start
                        && p.missing.summary() == n.missing.summary()
                }) =>
            {
                run.push(n)
            }
            _ => runs.push(vec![n]),
        }
    }
    for run in &runs {
        let (first, last) = (run[0], run[run.len() - 1]);
        if run.len() == 1 {
            out!(
                "no-reference {} {}..{} (line {}): {}",
                first.meter_id,
                first.period_start,
                first.period_end,
                first.line,
                first.missing
            );
        } else {
            out!(
                "no-reference {} {}..{} ({} periods): {}",
                first.meter_id,
                first.period_start,
                last.period_end,
                run.len(),
                first.missing.summary()
            );
        }
    }
    for e in &alerts {
        let r = &e.row;
        let ratio = e.ratio();
        out!(
            "alert {} {}..{} consumption {} {} reference {} {} ratio {} zone {} customer {} line {}",
            r.meter_id,
            r.period_start,
            r.period_end,
            fmt_number(r.consumption),
            r.unit,
            fmt_number(e.reference_consumption),
            r.unit,
            if ratio.is_finite() {
                format!("{ratio:.2}")
            } else {
                "inf".into()
            },
            r.zone,
            r.customer_ref,
            r.line
        );
    }
    if a.dry_run {
        out!("dry run: nothing stored");
    } else if alerts.is_empty() {
        out!("no alert to store");
    } else {
        let data_dir = &network.config.daemon.data_dir;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let mut store = AlertStore::open(data_dir)?;
        let batch = report.alerts();
        let received_ns = i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX);
        let outcome = store.insert(&batch, received_ns)?;
        let count = |what| outcome.iter().filter(|&&o| o == what).count();
        for (alert, o) in batch.iter().zip(&outcome) {
            if *o == Insert::Conflict {
                out!(
                    "conflict {}: already stored with other values, left as it was",
                    alert.alert_id
                );
            }
        }
        out!(
            "stored {} new alerts in {} ({} already stored, {} conflicts)",
            count(Insert::Stored),
            data_dir.join(vigie::alarm::store::FILE_NAME).display(),
            count(Insert::Duplicate),
            count(Insert::Conflict)
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// A quantity with at most 3 decimals, trailing zeros removed.
fn fmt_number(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// `shard I/N: S of T sites (ids), Z of Y zones (ids), D devices`.
fn shard_line(s: Shard, whole: &config::Network, part: &config::Network) -> String {
    let ids = |v: Vec<&str>| {
        if v.is_empty() {
            String::new()
        } else {
            format!(" ({})", v.join(", "))
        }
    };
    format!(
        "shard {s}: {} of {} sites{}, {} of {} zones{}, {} devices",
        part.config.sites.len(),
        whole.config.sites.len(),
        ids(part.config.sites.iter().map(|x| x.id.as_str()).collect()),
        part.config.zones.len(),
        whole.config.zones.len(),
        ids(part.config.zones.iter().map(|x| x.id.as_str()).collect()),
        part.config
            .sites
            .iter()
            .map(|x| x.devices.len())
            .sum::<usize>()
    )
}

async fn run(path: &Path, listen: Option<SocketAddr>, shard: Option<Shard>) -> anyhow::Result<()> {
    let nofile = vigie::fd_limit::raise_and_log();
    let network = config::load(path, None).map_err(|errors| {
        anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let network = match shard {
        Some(s) => {
            let part = shard::select(&network, s);
            out!("{}", shard_line(s, &network, &part));
            part
        }
        None => network,
    };
    let addresses: Vec<&str> = network
        .config
        .sites
        .iter()
        .flat_map(|s| &s.devices)
        .map(|d| d.address.as_str())
        .collect();
    let needed = vigie::fd_limit::needed_for_poller(addresses.iter().copied());
    let what = format!(
        "{} gateway connections and the API",
        needed - vigie::fd_limit::MARGIN
    );
    vigie::fd_limit::warn_if_short(nofile, needed, &what);
    let daemon = vigie::daemon::start(&network, listen).await?;
    let scheme = match network.config.api.tls {
        Some(_) => "https",
        None => "http",
    };
    out!("vigie running: API on {scheme}://{}", daemon.api_addr);
    // systemd (Type=notify): ready once the API listens and the pollers run; the watchdog
    // is fed while the drain moves; STOPPING=1 as soon as the signal came.
    vigie::systemd::ready(&format!(
        "running: API on {}, {} devices{}",
        daemon.api_addr,
        daemon.live.catalog.devices.len(),
        shard.map(|s| format!(", shard {s}")).unwrap_or_default()
    ));
    let (stop_watchdog, watchdog_stop) = tokio::sync::watch::channel(false);
    let watchdog = vigie::systemd::watchdog_period().map(|every| {
        tokio::spawn(vigie::systemd::watchdog(
            every,
            daemon.metrics.clone(),
            watchdog_stop,
        ))
    });
    summaries(&daemon, Duration::from_secs(10), None, false).await;
    vigie::systemd::stopping();
    let _ = stop_watchdog.send(true);
    if let Some(w) = watchdog {
        let _ = w.await;
    }
    daemon.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

/// Prints a summary line every `every`, and alarm events, incidents and outages as they
/// happen (`alerts`: also consumption alerts' classes), until `limit` passes or a signal.
async fn summaries(
    daemon: &vigie::daemon::Daemon,
    every: Duration,
    limit: Option<Duration>,
    alerts: bool,
) {
    let stop = async {
        match limit {
            Some(d) => tokio::time::sleep(d).await,
            None => shutdown_signal().await,
        }
    };
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    let mut last = 0;
    let mut at = std::time::Instant::now();
    let mut alarm_tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_seq = None;
    let mut seen = vigie::console::Seen::default();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                let line = daemon.summary(&mut last, at.elapsed());
                vigie::systemd::status(&line);
                out!("{line}");
                at = std::time::Instant::now();
            }
            _ = alarm_tick.tick() => {
                print_alarm_events(daemon, &mut last_seq).await;
                for line in vigie::console::changes(daemon, &mut seen, alerts).await {
                    out!("{line}");
                }
            }
        }
    }
}

/// Prints the alarm events journaled since the last call, one line each (the first call
/// only notes where the journal stands).
async fn print_alarm_events(daemon: &vigie::daemon::Daemon, last_seq: &mut Option<i64>) {
    use vigie::alarm::store::HistoryQuery;
    let Some(after) = *last_seq else {
        // Where the journal stands: the newest event's number.
        let newest = HistoryQuery {
            limit: 1,
            ..Default::default()
        };
        if let Ok(events) = daemon.alarms.history(newest).await {
            *last_seq = Some(events.first().map_or(0, |e| e.seq));
        }
        return;
    };
    let query = HistoryQuery {
        after_seq: Some(after),
        limit: 1000,
        ..Default::default()
    };
    let Ok(events) = daemon.alarms.history(query).await else {
        return;
    };
    for e in &events {
        out!(
            "alarm {:<22} {:<8} {}  {}",
            e.to_state.as_str(),
            e.priority.as_str(),
            e.alarm_id,
            e.message
        );
    }
    if let Some(e) = events.last() {
        *last_seq = Some(e.seq);
    }
}

async fn demo(a: DemoArgs) -> anyhow::Result<()> {
    vigie::fd_limit::raise_and_log();
    if !a.profiles_dir.is_dir() {
        bail!(
            "profiles folder {:?} not found: run `vigie demo` from the repository root or pass --profiles-dir",
            a.profiles_dir
        );
    }
    let influxdb = a.influx_url.map(|url| InfluxConfig {
        url,
        api: if a.influx_api == "v1" {
            InfluxApi::V1
        } else {
            InfluxApi::V2
        },
        org: a.influx_org,
        bucket: a.influx_bucket,
        token: a.influx_token,
        database: a.influx_database,
        username: String::new(),
        password: String::new(),
        batch_lines: 5000,
        flush_interval: Duration::from_secs(1),
        timeout: Duration::from_secs(10),
        max_retries: 4,
    });
    let opts = vigie::demo::DemoOptions {
        profiles_dir: a.profiles_dir,
        data_dir: a.data_dir,
        listen: Some(a.listen),
        influxdb,
        first_fault: a.first_fault,
        tokens: vigie::demo::new_tokens(),
    };
    let tokens = opts.tokens.clone();
    let (sim, daemon, network) = vigie::demo::start(opts).await?;
    out!(
        "vigie demo: {} sites, {} devices simulated on loopback",
        network.config.sites.len(),
        daemon.live.catalog.devices.len()
    );
    for (name, addr) in &sim.addresses {
        out!("  simulator {name} on {addr}");
    }
    out!(
        "API: http://{0}/api/v1/points  http://{0}/metrics  http://{0}/health",
        daemon.api_addr
    );
    out!("API tokens for this run, one per role (README \"Authentication\"):");
    for (role, token) in &tokens {
        out!("token {role} {token}");
    }
    if let Some((_, viewer)) = tokens.iter().find(|(r, _)| *r == Role::Viewer) {
        out!(
            "e.g. curl -H 'Authorization: Bearer {viewer}' http://{}/api/v1/alarms",
            daemon.api_addr
        );
    }
    let first = a.first_fault.unwrap_or(Duration::from_secs(180));
    let at = |later: u64| humantime::format_duration(first + Duration::from_secs(later));
    out!(
        "scripted faults (every 15 min): PS-01 burst at {}, SS-12 feeder 2 trip at {}, BH-03 level transmitter silent at {}",
        at(0),
        at(180),
        at(360)
    );
    out!(
        "the CRM stand-in posts 20 customers' alerts in Z-NORTH after each burst and one in quiet Z-SOUTH: watch the incidents and outages below, or http://{}/api/v1/incidents",
        daemon.api_addr
    );
    let (stop_crm, crm_stop) = tokio::sync::watch::channel(false);
    let crm_token = tokens
        .iter()
        .find(|(r, _)| *r == Role::Crm)
        .map(|(_, t)| t.clone())
        .unwrap_or_default();
    let crm = tokio::spawn(vigie::demo::crm::run(
        daemon.api_addr,
        crm_token,
        daemon.alarms.clone(),
        |line| out!("{line}"),
        crm_stop,
    ));
    summaries(
        &daemon,
        Duration::from_secs(a.summary_every.max(1)),
        a.duration,
        true,
    )
    .await;
    let _ = stop_crm.send(true);
    let _ = crm.await;
    daemon.shutdown(Duration::from_secs(10)).await;
    drop(sim);
    Ok(())
}

async fn simulate(path: &Path) -> anyhow::Result<()> {
    let nofile = vigie::fd_limit::raise_and_log();
    let cfg = vigie::sim::SimConfig::load(path)?;
    // One listener and at least one client connection per server.
    let servers = cfg.servers.len() as u64;
    vigie::fd_limit::warn_if_short(
        nofile,
        2 * servers + vigie::fd_limit::MARGIN,
        &format!("{servers} simulated servers and their clients"),
    );
    let world = vigie::sim::World::new(cfg)?;
    let sim = vigie::sim::start(world).await?;
    for (s, (name, addr)) in sim.world.config.servers.iter().zip(&sim.addresses) {
        let units: Vec<String> = s
            .units
            .iter()
            .map(|u| format!("{}={}:{}", u.unit_id, u.site, u.profile))
            .collect();
        out!("serving {name} on {addr}: units {}", units.join(", "));
    }
    shutdown_signal().await;
    Ok(())
}

async fn probe(a: ProbeArgs) -> anyhow::Result<()> {
    let addr = tokio::net::lookup_host(&a.address)
        .await
        .with_context(|| format!("cannot resolve {}", a.address))?
        .next()
        .with_context(|| format!("{} resolves to no address", a.address))?;
    let stream = tokio::time::timeout(a.timeout, tokio::net::TcpStream::connect(addr))
        .await
        .with_context(|| format!("connect to {addr} timed out after {:?}", a.timeout))?
        .with_context(|| format!("cannot connect to {addr}"))?;
    let (mut ctx, received) = vigie::poll::stream::attach(stream);
    if let Some(raw) = a.raw {
        let (start, count) = (raw[0], raw[1]);
        if count == 0 || count > 125 {
            bail!("--raw COUNT must be 1..=125 registers");
        }
        let table = if a.table == "input" {
            RegisterKind::Input
        } else {
            RegisterKind::Holding
        };
        return probe_raw(&mut ctx, a.unit, a.timeout, table, start, count).await;
    }
    let Some(id) = a.profile else {
        bail!(
            "give --profile ID (a file stem in {:?}) or --raw START COUNT",
            a.profiles_dir
        )
    };
    let profile = profile::Profile::load(&a.profiles_dir, &id)?;
    let requests = plan::plan(&profile);
    let r = read::read_device(
        &mut ctx, &received, a.unit, a.timeout, None, &profile, &requests,
    )
    .await;
    out!(
        "{} {} ({}) at {addr} unit {}: {} reads in {:.1} ms",
        profile.manufacturer,
        profile.model,
        id,
        a.unit,
        r.requests,
        r.elapsed.as_secs_f64() * 1e3
    );
    let mut rows = vec![[
        "point".to_string(),
        "value".into(),
        "unit".into(),
        "quality".into(),
        "register".into(),
        "address".into(),
        "type".into(),
    ]];
    for (p, v) in profile.points.iter().zip(&r.points) {
        let (value, quality) = match v {
            Ok(val) => (fmt_value(val), "good".to_string()),
            Err(reason) => ("-".to_string(), format!("bad: {reason}")),
        };
        rows.push([
            p.name.clone(),
            value,
            p.unit.clone(),
            quality,
            p.register.as_str().to_string(),
            format!("{} (pdu {})", p.printed_address, p.pdu_address),
            format!("{:?} {}", p.data_type, p.word_order.as_str()).to_lowercase(),
        ]);
    }
    print_table(&rows);
    if !profile.points.is_empty() && r.points.iter().all(Result::is_err) {
        bail!("no point of unit {} could be read", a.unit);
    }
    Ok(())
}

fn fmt_value(v: &profile::Value) -> String {
    match v {
        profile::Value::F64(x) => {
            let s = format!("{x:.4}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        profile::Value::I64(x) => format!("{x} (0x{x:X})"),
        profile::Value::Bool(b) => b.to_string(),
        profile::Value::Text(s) => format!("{s:?}"),
    }
}

fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out!("{}", line.join("  ").trim_end());
    }
}

async fn probe_raw(
    ctx: &mut tokio_modbus::client::Context,
    unit: u8,
    timeout: Duration,
    table: RegisterKind,
    start: u16,
    count: u16,
) -> anyhow::Result<()> {
    use tokio_modbus::client::Client as _;
    use tokio_modbus::prelude::{Request, Response, Slave, SlaveContext};
    ctx.set_slave(Slave(unit));
    let req = if table == RegisterKind::Input {
        Request::ReadInputRegisters(start, count)
    } else {
        Request::ReadHoldingRegisters(start, count)
    };
    let words = match tokio::time::timeout(timeout, ctx.call(req)).await {
        Err(_) => bail!("no reply within {timeout:?}"),
        Ok(Err(e)) => bail!("request failed: {e}"),
        Ok(Ok(Err(exc))) => bail!("device answered with exception {} ({exc:?})", u8::from(exc)),
        Ok(Ok(Ok(Response::ReadHoldingRegisters(w) | Response::ReadInputRegisters(w))))
            if w.len() == usize::from(count) =>
        {
            w
        }
        Ok(Ok(Ok(other))) => bail!("unexpected reply {other:?}"),
    };
    let mut rows = vec![{
        let mut h = vec!["pdu".to_string(), "hex".into(), "u16".into(), "i16".into()];
        for o in WordOrder::ALL {
            h.push(format!("f32 {}", o.as_str()));
        }
        for o in WordOrder::ALL {
            h.push(format!("u32/i32 {}", o.as_str()));
        }
        h
    }];
    for (k, w) in words.iter().enumerate() {
        let mut r = vec![
            (u32::from(start) + k as u32).to_string(),
            format!("0x{w:04X}"),
            w.to_string(),
            (*w as i16).to_string(),
        ];
        if let Some(next) = words.get(k + 1) {
            let readings = profile::decode::pair_readings([*w, *next]);
            r.extend(readings.iter().map(|(_, f, _, _)| format!("{f:.6e}")));
            r.extend(readings.iter().map(|(_, _, u, i)| {
                if *u == *i as u32 && *i >= 0 {
                    u.to_string()
                } else {
                    format!("{u}/{i}")
                }
            }));
        }
        rows.push(r);
    }
    let n = rows[0].len();
    let fixed: Vec<Vec<String>> = rows
        .into_iter()
        .map(|mut r| {
            r.resize(n, String::new());
            r
        })
        .collect();
    let mut widths = vec![0usize; n];
    for r in &fixed {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    for r in &fixed {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out!("{}", line.join("  ").trim_end());
    }
    out!(
        "each row's 32-bit columns read that register and the next; pick the word order whose values make sense"
    );
    Ok(())
}
