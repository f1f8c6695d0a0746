//! Log set-up: tracing to stderr, `log.format = text | json`, `log.level` as a filter
//! (`RUST_LOG` wins when set), colours only when stderr is a terminal. Dependencies that
//! chatter at `info` start at `warn` unless a directive names them.

use std::io::IsTerminal;

use sessiond_core::config::{ConfigError, LogFormat, LogSettings, check_log_filter};
use tracing_subscriber::EnvFilter;

/// Directives put before the operator's: dependencies whose `info` lines are noise
/// (tokio-cron-scheduler logs "Job creator created" once per job at every start). A
/// directive naming the same target (`tokio_cron_scheduler=info`) replaces the default.
pub const QUIET_DEPENDENCIES: [(&str, &str); 1] = [("tokio_cron_scheduler", "warn")];

/// The filter for `log`, or `rust_log` (the `RUST_LOG` variable) when given and not empty.
/// A filter that is not a level or `target=level` directives is refused, naming where it
/// came from: tracing would take `inf` for a target and log nothing at all.
pub fn filter(log: &LogSettings, rust_log: Option<String>) -> Result<EnvFilter, ConfigError> {
    let (key, directives) = match rust_log.filter(|v| !v.trim().is_empty()) {
        Some(v) => ("RUST_LOG", v),
        None => ("log.level", log.level.clone()),
    };
    let error = |message: String| ConfigError {
        key: key.to_owned(),
        message,
    };
    check_log_filter(&directives).map_err(error)?;
    let mut all: Vec<String> = QUIET_DEPENDENCIES
        .iter()
        .filter(|(target, _)| !names_target(&directives, target))
        .map(|(target, level)| format!("{target}={level}"))
        .collect();
    all.push(directives.clone());
    EnvFilter::builder()
        .parse(all.join(","))
        .map_err(|e| error(format!("`{directives}`: {e}")))
}

/// Whether a directive of `directives` is about `target` or a module under it.
fn names_target(directives: &str, target: &str) -> bool {
    directives.split(',').any(|d| {
        let named = d.split(['[', '=']).next().unwrap_or_default().trim();
        named == target || named.strip_prefix(target).is_some_and(|rest| rest.starts_with("::"))
    })
}

/// Install the global subscriber. Call once, at start-up; an unusable filter is an error.
pub fn init(log: &LogSettings) -> Result<(), ConfigError> {
    let filter = filter(log, std::env::var("RUST_LOG").ok())?;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match log.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(level: &str) -> LogSettings {
        LogSettings {
            level: level.into(),
            ..LogSettings::default()
        }
    }

    #[test]
    fn rust_log_wins_and_names_itself_when_bad() {
        let err = filter(&settings("info"), Some("inf".into())).expect_err("inf refused");
        assert_eq!(err.key, "RUST_LOG");
        let err = filter(&settings("inf"), None).expect_err("inf refused");
        assert_eq!(err.key, "log.level");
        assert!(filter(&settings("inf"), Some("debug".into())).is_ok());
        assert!(
            filter(&settings("info"), Some(" ".into())).is_ok(),
            "empty RUST_LOG is unset"
        );
    }

    #[test]
    fn noisy_dependencies_are_quiet_unless_named() {
        let quiet = filter(&settings("info"), None).expect("filter").to_string();
        assert!(quiet.contains("tokio_cron_scheduler=warn"), "{quiet}");
        let named = filter(&settings("info,tokio_cron_scheduler=info"), None)
            .expect("filter")
            .to_string();
        assert!(!named.contains("tokio_cron_scheduler=warn"), "{named}");
        assert!(names_target("tokio_cron_scheduler::job=debug", "tokio_cron_scheduler"));
        assert!(!names_target("tokio_cron_scheduler_x=debug", "tokio_cron_scheduler"));
    }
}
