use super::*;
use crate::config::Network;
use proptest::prelude::*;
use std::collections::HashMap;

/// `n` keys `prefix/0` … `prefix/{n-1}`.
fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}/{i}")).collect()
}

/// Five standard deviations of a binomial count of `n` draws of probability `p`, plus one.
fn tolerance(n: usize, p: f64) -> f64 {
    5.0 * (n as f64 * p * (1.0 - p)).sqrt() + 1.0
}

#[test]
fn parses_i_of_n_zero_based() {
    assert_eq!("0/3".parse(), Ok(Shard { index: 0, count: 3 }));
    assert_eq!(" 2 / 3 ".parse(), Ok(Shard { index: 2, count: 3 }));
    assert_eq!(
        "3/3".parse::<Shard>(),
        Err(ShardError::IndexOutOfRange { index: 3, count: 3 })
    );
    assert_eq!("0/0".parse::<Shard>(), Err(ShardError::Count(0)));
    assert_eq!("0/1025".parse::<Shard>(), Err(ShardError::Count(1025)));
    for bad in ["", "1", "a/3", "1/b", "-1/3", "1/3/4"] {
        assert_eq!(
            bad.parse::<Shard>(),
            Err(ShardError::Syntax(bad.to_string())),
            "{bad:?}"
        );
    }
    assert_eq!(Shard { index: 1, count: 4 }.to_string(), "1/4");
}

/// The hash is fixed: these are XXH3-64 values as the reference implementation
/// (libxxhash through python-xxhash 4.1.0) computes them. A change here means instances of
/// two vigie versions would disagree on the assignment.
#[test]
fn weights_are_xxh3_64_of_the_key_seeded_with_the_shard() {
    assert_eq!(weight("", 0), 0x2D06800538D394C2);
    assert_eq!(weight("site:PS-01", 0), 0x7666511EAD0F7907);
    assert_eq!(weight("site:PS-01", 1), 0x9E90DDFAA567AFD0);
    assert_eq!(weight("site:PS-01", 2), 0x50B40E704379028A);
    assert_eq!(weight("zone:Z-SOUTH", 2), 0x5F0BE81C84BADB74);
    // The demo network on 2 and 3 shards (groups: PS-01 and BH-03 feed Z-NORTH; SS-12
    // with its feeder zones; Z-SOUTH alone).
    for n in [2, 3] {
        assert_eq!(owner("site:BH-03", n), 1);
        assert_eq!(owner("site:SS-12", n), 1);
        assert_eq!(owner("zone:Z-SOUTH", n), 0);
    }
    assert_eq!(owner("site:PS-01", 1), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every key has exactly one owner, in 0..N, and adding a shard moves about 1/(N+1) of
    /// the keys, all of them to the new shard.
    #[test]
    fn adding_a_shard_moves_about_one_in_n_plus_one(prefix in "[a-zA-Z0-9:_-]{0,12}", n in 1u32..16) {
        let keys = keys(&prefix, 10_000);
        let before: Vec<u32> = keys.iter().map(|k| owner(k, n)).collect();
        let after: Vec<u32> = keys.iter().map(|k| owner(k, n + 1)).collect();
        prop_assert!(before.iter().all(|&j| j < n));
        let mut moved = 0usize;
        for (b, a) in before.iter().zip(&after) {
            if b != a {
                prop_assert_eq!(*a, n, "a key moved between two old shards");
                moved += 1;
            }
        }
        let p = 1.0 / f64::from(n + 1);
        let expected = keys.len() as f64 * p;
        prop_assert!(
            (moved as f64 - expected).abs() <= tolerance(keys.len(), p),
            "{} of {} keys moved from {} to {} shards, expected about {:.0}", moved, keys.len(), n, n + 1, expected
        );
    }

    /// Each of N shards gets about 1/N of the keys.
    #[test]
    fn keys_are_balanced(prefix in "[a-zA-Z0-9:_-]{0,12}", n in 2u32..16) {
        let keys = keys(&prefix, 10_000);
        let mut counts = vec![0usize; n as usize];
        for k in &keys {
            counts[owner(k, n) as usize] += 1;
        }
        let p = 1.0 / f64::from(n);
        let expected = keys.len() as f64 * p;
        for (j, c) in counts.iter().enumerate() {
            prop_assert!(
                (*c as f64 - expected).abs() <= tolerance(keys.len(), p),
                "shard {}/{} got {} keys, expected about {:.0}: {:?}", j, n, c, expected, counts
            );
        }
    }

    /// Over a random network, the N shards' selections partition its sites and zones:
    /// every site, device and zone is run by exactly one shard, and a shard that runs a
    /// zone also runs every site that feeds it.
    #[test]
    fn shards_partition_the_network(
        sites in 1usize..40,
        feeds in proptest::collection::vec((0usize..40, 0usize..40), 0..30),
        n in 1u32..8,
    ) {
        let net = network(sites, &feeds);
        let mut site_owner: HashMap<String, u32> = HashMap::new();
        let mut zone_owner: HashMap<String, u32> = HashMap::new();
        let mut devices = 0;
        for i in 0..n {
            let part = select(&net, Shard::new(i, n).unwrap());
            for s in &part.config.sites {
                prop_assert!(site_owner.insert(s.id.clone(), i).is_none(), "site {} in two shards", s.id);
                devices += s.devices.len();
            }
            for z in &part.config.zones {
                prop_assert!(zone_owner.insert(z.id.clone(), i).is_none(), "zone {} in two shards", z.id);
                for f in &z.fed_by {
                    prop_assert!(part.config.sites.iter().any(|s| &s.id == f), "zone {} without its site {}", z.id, f);
                }
            }
        }
        prop_assert_eq!(site_owner.len(), net.config.sites.len());
        prop_assert_eq!(zone_owner.len(), net.config.zones.len());
        prop_assert_eq!(devices, net.config.sites.iter().map(|s| s.devices.len()).sum::<usize>());
    }
}

/// `sites` sites of two devices each (site `i` devices at `10.0.{i/3}.1:502`: three sites
/// share a gateway), and one zone per `(zone, site)` pair in `feeds` (zone `z % 10` fed by
/// site `s % sites`), plus a zone fed by none.
fn network(sites: usize, feeds: &[(usize, usize)]) -> Network {
    let mut text = String::new();
    for z in 0..10 {
        let fed: Vec<String> = feeds
            .iter()
            .filter(|(zz, _)| zz % 10 == z)
            .map(|(_, s)| format!("\"S{}\"", s % sites))
            .collect();
        text.push_str(&format!(
            "[[zones]]\nid = \"Z{z}\"\nutility = \"water\"\nfed_by = [{}]\n",
            fed.join(", ")
        ));
    }
    for s in 0..sites {
        text.push_str(&format!(
            "[[sites]]\nid = \"S{s}\"\nkind = \"reservoir\"\ndevices = [\n  {{ id = \"a\", profile = \"p\", address = \"10.0.{g}.1:502\", unit_id = 1 }},\n  {{ id = \"b\", profile = \"p\", address = \"10.0.{g}.1:502\", unit_id = 2 }},\n]\n",
            g = s / 3
        ));
    }
    let config: Config = toml::from_str(&text).unwrap();
    Network {
        config,
        profiles: HashMap::new(),
    }
}

#[test]
fn groups_follow_zones_and_gateways() {
    // S0, S1, S2 share a gateway; S3 feeds Z0 with S4 (S4 is alone on its gateway with S5);
    // Z9 is fed by nobody.
    let net = network(7, &[(0, 3), (0, 4)]);
    let gs = groups(&net.config);
    let names = |g: &Group| {
        let mut v: Vec<String> = g
            .sites
            .iter()
            .map(|&s| net.config.sites[s].id.clone())
            .collect();
        v.extend(g.zones.iter().map(|&z| net.config.zones[z].id.clone()));
        v
    };
    let listed: Vec<(String, Vec<String>)> = gs.iter().map(|g| (g.key.clone(), names(g))).collect();
    assert!(listed.contains(&(
        "site:S0".into(),
        vec!["S0".into(), "S1".into(), "S2".into()]
    )));
    assert!(listed.contains(&(
        "site:S3".into(),
        vec!["S3".into(), "S4".into(), "S5".into(), "Z0".into()]
    )));
    assert!(listed.contains(&("site:S6".into(), vec!["S6".into()])));
    assert!(listed.contains(&("zone:Z9".into(), vec!["Z9".into()])));
    assert_eq!(gs.len(), 3 + 9, "{listed:?}");
}
