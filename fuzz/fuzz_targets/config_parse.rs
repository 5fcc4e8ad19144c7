//! Config parsing: any text as `vigie.toml`, both ways vigie reads one: `config::load` (what
//! `vigie check` and the daemon run: the file, the `VIGIE__…` layering, every validation,
//! the profiles it names) and `config::check::from_text` (the demo's embedded config). The
//! profiles are the shipped plc-profiles/. Every error must name the file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory for vigie.toml"))
        .path()
}

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plc-profiles")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let name = Path::new("fuzz.toml");
    if let Err(errors) = vigie::config::check::from_text(name, text, Some(&profiles_dir())) {
        assert!(!errors.is_empty());
    }
    let path = scratch().join("vigie.toml");
    std::fs::write(&path, text).expect("writing the scratch vigie.toml");
    if let Err(errors) = vigie::config::load(&path, Some(HashMap::new())) {
        assert!(!errors.is_empty());
        let lines = text.lines().count() + 1;
        for e in &errors {
            assert!(e.line.is_none_or(|l| l >= 1 && l <= lines), "{e}");
            assert!(!e.key.is_empty(), "{e}");
        }
    }
});
