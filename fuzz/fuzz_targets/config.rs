//! Loading the configuration: a TOML file and `SESSIOND_*` variables. Never a panic: either
//! settings that passed validation or an error naming the key.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sessiond_fuzz::config::Settings;

fn path() -> &'static std::path::Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("sessiond-fuzz-config-{}.toml", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    // TOML text, then (after a NUL) `NAME=value` lines for the environment.
    let (toml, env) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if std::fs::write(path(), toml).is_err() {
        return;
    }
    let env: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (format!("SESSIOND_{k}"), v.to_owned()))
        .collect();
    if let Ok(settings) = Settings::load_with_env(Some(path()), env) {
        // What loaded also validates, and prints (secrets redacted) without panicking.
        assert!(settings.validate().is_ok());
        let _ = format!("{settings:?}");
    }
});
