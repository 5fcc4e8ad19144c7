//! `vigie demo`: the simulator with three sites (pumping station, substation, borehole) and
//! the daemon polling it, from the embedded `sim.toml` and `vigie.toml` beside this file.

pub mod crm;

use crate::config::tokens::{ApiToken, Role, token_sha256};
use crate::config::{self, CheckError, InfluxConfig, Network};
use crate::daemon::{self, Daemon};
use crate::sim::{self, RunningSim, SimConfig, World};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The simulator's configuration.
pub const SIM_TOML: &str = include_str!("sim.toml");
/// The daemon's configuration, with `{NAME}` placeholders for the simulator's addresses.
pub const VIGIE_TOML: &str = include_str!("vigie.toml");

/// Demo set-up errors.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Sim(#[from] sim::SimError),
    #[error("demo configuration: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<CheckError>),
    #[error(transparent)]
    Daemon(#[from] daemon::DaemonError),
}

/// What `vigie demo` can change.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub profiles_dir: PathBuf,
    pub data_dir: PathBuf,
    pub listen: Option<SocketAddr>,
    pub influxdb: Option<InfluxConfig>,
    /// When the first scripted fault (the burst) starts; the others keep their spacing.
    /// None: as `sim.toml` says (3 minutes).
    pub first_fault: Option<std::time::Duration>,
    /// The API's bearer tokens, one per role (see [`new_tokens`]); their hashes go into
    /// the demo's `[[api.tokens]]`, so the demo's API asks for tokens as `vigie run` does.
    pub tokens: Vec<(Role, String)>,
}

/// One new token per role, for a demo run.
pub fn new_tokens() -> Vec<(Role, String)> {
    Role::ALL
        .into_iter()
        .map(|r| (r, crate::config::tokens::new_token()))
        .collect()
}

/// The generated `vigie.toml` for simulator addresses `bound` (name → address).
pub fn vigie_toml(bound: &[(String, SocketAddr)], data_dir: &Path) -> String {
    let mut text = VIGIE_TOML.replace(
        "{DATA_DIR}",
        &data_dir.display().to_string().replace('\\', "/"),
    );
    for (name, addr) in bound {
        text = text.replace(&format!("{{{name}}}"), &addr.to_string());
    }
    text
}

/// Starts the simulator, then the daemon against it.
pub async fn start(opts: DemoOptions) -> Result<(RunningSim, Daemon, Network), DemoError> {
    let mut sim_config = SimConfig::parse(Path::new("demo/sim.toml"), SIM_TOML)?;
    sim_config.profiles_dir = opts.profiles_dir.clone();
    if let Some(first) = opts.first_fault
        && let Some(earliest) = sim_config.faults.iter().map(|f| f.start).min()
    {
        for f in &mut sim_config.faults {
            f.start = f.start - earliest + first;
        }
    }
    let running = sim::start(World::new(sim_config)?).await?;
    let text = vigie_toml(&running.addresses, &opts.data_dir);
    let mut network = config::check::from_text(
        Path::new("demo/vigie.toml"),
        &text,
        Some(&opts.profiles_dir),
    )
    .map_err(DemoError::Config)?;
    network.config.influxdb = opts.influxdb;
    network.config.api.tokens = opts
        .tokens
        .iter()
        .map(|(role, token)| ApiToken {
            name: format!("demo-{role}"),
            role: *role,
            sha256: token_sha256(token),
        })
        .collect();
    let daemon = daemon::start(&network, opts.listen).await?;
    Ok((running, daemon, network))
}
