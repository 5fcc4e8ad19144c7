//! Request planning (`vigie::poll::plan`): how long merging a profile's points into reads
//! takes, for two real meters of `plc-profiles/` and a large synthetic profile.
//!
//! The counter is points planned. vigie plans once per device at start-up, so this is a
//! start-up cost (10,000 devices × one plan each), not a per-poll one.
//!
//! Run: `cargo bench --bench plan`.

use divan::Bencher;
use divan::counter::ItemsCount;
use std::path::Path;
use vigie::poll::plan::plan;
use vigie::profile::Profile;

fn main() {
    divan::main();
}

fn profiles_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/plc-profiles"))
}

#[divan::bench(args = ["eastron-sdm630", "siemens-pac2200"])]
fn real_profile(bencher: Bencher, id: &str) {
    let profile = match Profile::load(profiles_dir(), id) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    bencher
        .counter(ItemsCount::new(profile.points.len()))
        .bench_local(|| divan::black_box(plan(divan::black_box(&profile))));
}

/// A large profile: `n` points over holding and input registers, coils and discrete inputs,
/// of mixed widths, with gaps both under and over `max_gap`, listed out of address order.
fn synthetic(n: usize) -> Profile {
    let mut text = String::from(
        "manufacturer = \"bench\"\nmodel = \"synthetic\"\nsource = \"benches/plan.rs\"\naddress_base = 0\nmax_gap = 8\n",
    );
    let tables = ["holding", "input", "coil", "discrete"];
    let mut next = [0u32; 4];
    let mut points = Vec::with_capacity(n);
    for i in 0..n {
        let t = i % 4;
        let ty = if t >= 2 {
            "bool"
        } else {
            ["u16", "f32", "i32", "f64"][i / 4 % 4]
        };
        let width = match ty {
            "f32" | "i32" => 2,
            "f64" => 4,
            _ => 1,
        };
        // Every seventh point leaves a gap larger than max_gap: a new read starts there.
        let gap = if i % 7 == 0 { 20 } else { (i % 3) as u32 };
        let address = next[t] + gap;
        next[t] = address + width;
        points.push(format!(
            "[[points]]\nname = \"p{i}\"\nregister = \"{}\"\naddress = {address}\ntype = \"{ty}\"\n",
            tables[t]
        ));
    }
    // Reverse so the planner has to sort.
    points.reverse();
    text.extend(points);
    match Profile::parse("synthetic", Path::new("synthetic.toml"), &text) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

#[divan::bench(args = [1000, 5000])]
fn synthetic_profile(bencher: Bencher, n: usize) {
    let profile = synthetic(n);
    bencher
        .counter(ItemsCount::new(n))
        .bench_local(|| divan::black_box(plan(divan::black_box(&profile))));
}
