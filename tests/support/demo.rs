//! The demo's network (`src/demo/sim.toml` and `src/demo/vigie.toml`) on vigie's station
//! simulator in the test process, with its scripted faults brought forward.
//!
//! Use from a test file that declares `mod support;` with `use support::demo;`.

use std::path::{Path, PathBuf};

use vigie::sim::{self, RunningSim, SimConfig, World};

/// `plc-profiles/` of the repository.
pub fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles")
}

/// The demo's sim.toml with every fault (burst, feeder trip, silent transmitter) starting
/// `start` after the simulator, for `duration`, once.
pub fn sim_config(start: &str, duration: &str) -> SimConfig {
    let text = vigie::demo::SIM_TOML
        .replace("start = \"3m\"", &format!("start = \"{start}\""))
        .replace("start = \"6m\"", &format!("start = \"{start}\""))
        .replace("start = \"9m\"", &format!("start = \"{start}\""))
        .replace("duration = \"1m\"", &format!("duration = \"{duration}\""))
        .replace("duration = \"2m\"", &format!("duration = \"{duration}\""))
        .replace("every = \"15m\"", "");
    let mut c = SimConfig::parse(Path::new("demo/sim.toml"), &text).unwrap();
    c.profiles_dir = profiles_dir();
    c
}

/// The simulator serving `config`, on its own runtime (stopped on drop).
pub struct Sim {
    pub running: RunningSim,
    _rt: tokio::runtime::Runtime,
}

impl Sim {
    pub fn start(config: SimConfig) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let running = rt
            .block_on(sim::start(World::new(config).unwrap()))
            .unwrap();
        Sim { running, _rt: rt }
    }

    /// The demo's vigie.toml for this simulator's addresses, data in `data_dir`, followed
    /// by `extra` (TOML tables appended at the end, e.g. `[influxdb]`), loaded and checked.
    pub fn network(&self, data_dir: &Path, extra: &str) -> vigie::config::Network {
        let text = vigie::demo::vigie_toml(&self.running.addresses, data_dir) + "\n" + extra;
        vigie::config::check::from_text(Path::new("demo/vigie.toml"), &text, Some(&profiles_dir()))
            .unwrap_or_else(|e| panic!("{e:?}"))
    }
}
