//! `vigie run --shard I/N`: several instances share one network, each polling a part.
//!
//! **What moves together.** The unit of assignment is a *group*, not a single device: the
//! sites linked by
//! - a zone's `fed_by` and `inflow` sites (the correlator, the minimum night flow and the
//!   outage rules of a zone need every alarm and flow of its feeding sites on one instance),
//! - a site's `[[sites.outages]]` zones,
//! - a shared device `address` (devices behind one gateway share one TCP connection; many
//!   serial gateways accept only one or two, so two instances must not both connect),
//!
//! together with those zones. A site's alarms and outage rules only use its own devices, so
//! a group is a self-contained network: each instance runs the whole pipeline (polling,
//! InfluxDB, alarms, outages, correlation, incidents) on its groups, exactly as one vigie
//! would on a configuration holding only them. A zone no site feeds is a group of its own.
//!
//! **Which instance.** Rendezvous (highest random weight) hashing: group `g` goes to the
//! shard `j` in `0..N` with the highest weight `xxh3_64(key(g), seed = j)`. Going from `N`
//! to `N + 1` shards moves only the groups whose new highest weight is the new shard, about
//! `1/(N+1)` of them, and never moves a group between two old shards. The hash is XXH3-64
//! (xxhash-rust, the XXH3 specification's fixed output, no random seed), so every instance,
//! machine and vigie version agrees; std's `DefaultHasher` (SipHash with a per-process
//! random key) would not. The key is `site:<smallest site id>` of the group, or
//! `zone:<zone id>` for a zone without site: adding a device or an alarm never moves a
//! group; linking two groups in the configuration (a new `fed_by`) may move one of them.
//!
//! Shards are 0-based, `0 <= I < N`, like a Kubernetes StatefulSet's pod ordinals.

use super::{Config, Network};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// The most shards vigie accepts (a weight is computed per shard and group).
pub const MAX_SHARDS: u32 = 1024;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A `--shard` value that is not `I/N` with `0 <= I < N <= MAX_SHARDS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("{0:?}: expected I/N, e.g. 0/3 (I is 0-based: 0 <= I < N)")]
    Syntax(String),
    #[error("{index}/{count}: I is 0-based and must be below N (0..={})", count.saturating_sub(1))]
    IndexOutOfRange { index: u32, count: u32 },
    #[error("{0} shards: N must be 1..={MAX_SHARDS}")]
    Count(u32),
}

impl FromStr for Shard {
    type Err = ShardError;

    /// Parses `I/N` (spaces around the numbers allowed).
    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(syntax)?;
        let index: u32 = i.trim().parse().map_err(|_| syntax())?;
        let count: u32 = n.trim().parse().map_err(|_| syntax())?;
        Shard::new(index, count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Shard `index` of `count`; errors when `count` is 0 or above [`MAX_SHARDS`], or
    /// `index >= count`.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || count > MAX_SHARDS {
            return Err(ShardError::Count(count));
        }
        if index >= count {
            return Err(ShardError::IndexOutOfRange { index, count });
        }
        Ok(Shard { index, count })
    }
}

/// The rendezvous weight of `key` on shard `shard`: XXH3-64 of the key's UTF-8 bytes with
/// the shard number as seed.
pub fn weight(key: &str, shard: u32) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(key.as_bytes(), u64::from(shard))
}

/// The shard in `0..count` that owns `key`: the highest [`weight`] (the lowest shard number
/// on a tie). `count` 0 is taken as 1.
pub fn owner(key: &str, count: u32) -> u32 {
    (0..count.max(1))
        .max_by_key(|&j| (weight(key, j), std::cmp::Reverse(j)))
        .unwrap_or(0)
}

/// Sites and zones that one instance must hold together (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The hash key: `site:<smallest site id>`, or `zone:<id>` for a zone without site.
    pub key: String,
    /// Indexes into `Config::sites`, ascending.
    pub sites: Vec<usize>,
    /// Indexes into `Config::zones`, ascending.
    pub zones: Vec<usize>,
}

/// The groups of a validated configuration, in order of their first site or zone.
/// References to unknown sites or zones (which `vigie check` refuses) are ignored.
pub fn groups(config: &Config) -> Vec<Group> {
    let n_sites = config.sites.len();
    let mut sets = DisjointSets::new(n_sites + config.zones.len());
    let site_index: HashMap<&str, usize> = config
        .sites
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let zone_index: HashMap<&str, usize> = config
        .zones
        .iter()
        .enumerate()
        .map(|(i, z)| (z.id.as_str(), n_sites + i))
        .collect();
    for (z, zone) in config.zones.iter().enumerate() {
        let sites = zone
            .fed_by
            .iter()
            .chain(zone.inflow.iter().map(|f| &f.site));
        for site in sites {
            if let Some(&s) = site_index.get(site.as_str()) {
                sets.union(n_sites + z, s);
            }
        }
    }
    let mut by_address: HashMap<&str, usize> = HashMap::new();
    for (s, site) in config.sites.iter().enumerate() {
        for rule in &site.outages {
            for zone in &rule.zones {
                if let Some(&z) = zone_index.get(zone.as_str()) {
                    sets.union(s, z);
                }
            }
        }
        for d in &site.devices {
            let first = *by_address.entry(d.address.as_str()).or_insert(s);
            sets.union(first, s);
        }
    }
    let mut order: Vec<usize> = Vec::new();
    let mut members: HashMap<usize, (Vec<usize>, Vec<usize>)> = HashMap::new();
    for node in 0..n_sites + config.zones.len() {
        let root = sets.find(node);
        let entry = members.entry(root).or_insert_with(|| {
            order.push(root);
            (Vec::new(), Vec::new())
        });
        if node < n_sites {
            entry.0.push(node);
        } else {
            entry.1.push(node - n_sites);
        }
    }
    order
        .into_iter()
        .filter_map(|root| members.remove(&root))
        .map(|(sites, zones)| {
            let key = match sites.iter().map(|&s| config.sites[s].id.as_str()).min() {
                Some(site) => format!("site:{site}"),
                None => format!(
                    "zone:{}",
                    zones
                        .iter()
                        .map(|&z| config.zones[z].id.as_str())
                        .min()
                        .unwrap_or_default()
                ),
            };
            Group { key, sites, zones }
        })
        .collect()
}

/// The part of `network` that `shard` runs: the sites and zones of the groups it owns,
/// with their devices, alarms and outage rules; everything else (`[influxdb]`, `[api]`,
/// `[notify]`, …) as it is.
pub fn select(network: &Network, shard: Shard) -> Network {
    let mut keep_site = vec![false; network.config.sites.len()];
    let mut keep_zone = vec![false; network.config.zones.len()];
    for g in groups(&network.config) {
        if owner(&g.key, shard.count) == shard.index {
            for s in g.sites {
                keep_site[s] = true;
            }
            for z in g.zones {
                keep_zone[z] = true;
            }
        }
    }
    let mut out = network.clone();
    let mut k = keep_site.iter();
    out.config
        .sites
        .retain(|_| k.next().copied().unwrap_or(false));
    let mut k = keep_zone.iter();
    out.config
        .zones
        .retain(|_| k.next().copied().unwrap_or(false));
    out
}

/// Union-find over `0..n` with path halving.
struct DisjointSets(Vec<usize>);

impl DisjointSets {
    fn new(n: usize) -> DisjointSets {
        DisjointSets((0..n).collect())
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[ra.max(rb)] = ra.min(rb);
        }
    }
}

#[cfg(test)]
mod tests;
