//! Loading and validating settings: defaults, file, environment, and every bad value naming
//! its key.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write");
    f
}

fn load(text: Option<&str>, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let f = text.map(file);
    Settings::load_with_env(f.as_ref().map(|f| f.path()), env(vars))
}

#[test]
fn defaults_are_the_embedded_shape() {
    let s = load(None, &[]).expect("defaults load");
    assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.database.url.expose(), "sqlite://./data/sessiond.db");
    assert_eq!(s.storage.backend, StorageBackend::Fs);
    assert_eq!(s.storage.fs.root, PathBuf::from("./data/objects"));
    assert!(!s.email.enabled);
    assert_eq!(s.rate_limit.default.to_string(), "10/minute");
    assert_eq!(s.session.idle_timeout.get(), Duration::from_secs(30 * 86_400));
    assert_eq!(s.jobs.session_expiry.schedule, "0 */5 * * * *");
    assert_eq!(s.metrics.allow.len(), 2);
}

#[test]
fn file_then_environment_and_environment_wins() {
    let toml = r#"
        [server]
        listen = "0.0.0.0:9000"
        max_json_body = 1000
        [rate_limit]
        default = "5/second"
        [rate_limit.routes]
        generate = "2/minute"
        [alerts.rules.uuid_probing]
        threshold = 7
        window = "2m"
    "#;
    let s = load(
        Some(toml),
        &[
            ("SESSIOND_SERVER__MAX_JSON_BODY", "2048"),
            ("SESSIOND_DATABASE__URL", "postgres://u:pw@db.example/sessiond"),
            ("SESSIOND_CORS__ALLOWED_ORIGINS", r#"["https://app.example"]"#),
            ("SESSIOND_ALERTS__RULES__UUID_PROBING__THRESHOLD", "5"),
            ("SESSIOND_SESSION__IDLE_TIMEOUT", "45m"),
            ("OTHER_VARIABLE", "ignored"),
            ("SESSIOND_CONFIG", "/etc/sessiond.toml"),
            ("SESSIOND_TEST_TOOLS", "/tmp/tools"),
        ],
    )
    .expect("load");
    assert_eq!(s.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(s.server.max_json_body, 2048);
    assert_eq!(s.database.url.scheme(), "postgres");
    assert_eq!(s.cors.allowed_origins, vec!["https://app.example".to_string()]);
    assert_eq!(s.alerts.rules.uuid_probing.threshold, 5);
    assert_eq!(s.alerts.rules.uuid_probing.window.get(), Duration::from_secs(120));
    assert_eq!(
        s.rate_limit.default,
        Quota {
            count: 5,
            period: Period::Second
        }
    );
    assert_eq!(
        s.rate_limit.routes.generate,
        Some(Quota {
            count: 2,
            period: Period::Minute
        })
    );
    assert_eq!(s.session.idle_timeout.get(), Duration::from_secs(45 * 60));
}

#[test]
fn every_bad_value_names_its_key() {
    type Case<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (Some("[server]\nlisten = \"nowhere\""), &[], "server.listen"),
        (Some("[server]\nbogus = 1"), &[], "server.bogus"),
        (Some("[nonsense]\nx = 1"), &[], "nonsense"),
        (None, &[("SESSIOND_SERVER__LISTNE", "1.2.3.4:5")], "server.listne"),
        (
            None,
            &[("SESSIOND_SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/33"]"#)],
            "server.trusted_proxies[0]",
        ),
        (
            None,
            &[("SESSIOND_RATE_LIMIT__EXEMPT", r#"["10.0.0.0/8", "not-a-cidr"]"#)],
            "rate_limit.exempt[1]",
        ),
        (
            None,
            &[("SESSIOND_RATE_LIMIT__DEFAULT", "10/fortnight")],
            "rate_limit.default",
        ),
        (
            None,
            &[("SESSIOND_SESSION__IDLE_TIMEOUT", "soon")],
            "session.idle_timeout",
        ),
        (
            None,
            &[
                ("SESSIOND_SESSION__IDLE_TIMEOUT", "10m"),
                ("SESSIOND_SESSION__TOUCH_INTERVAL", "10m"),
            ],
            "session.touch_interval",
        ),
        (
            None,
            &[("SESSIOND_JOBS__RETENTION__SCHEDULE", "0 15 3 * *")],
            "jobs.retention.schedule",
        ),
        (None, &[("SESSIOND_DATABASE__URL", "mysql://x")], "database.url"),
        (
            None,
            &[("SESSIOND_DATABASE__SQLITE_CHECKPOINT_INTERVAL", "1ms")],
            "database.sqlite_checkpoint_interval",
        ),
        (
            None,
            &[("SESSIOND_DATABASE__SQLITE_WAL_RESTART_MIB", "0")],
            "database.sqlite_wal_restart_mib",
        ),
        (
            None,
            &[("SESSIOND_RATE_LIMIT__IPV6_PREFIX", "129")],
            "rate_limit.ipv6_prefix",
        ),
        (
            None,
            &[("SESSIOND_RATE_LIMIT__BACKEND", "redis")],
            "rate_limit.redis_url",
        ),
        (None, &[("SESSIOND_STORAGE__BACKEND", "s3")], "storage.s3.bucket"),
        (
            None,
            &[("SESSIOND_UPLOADS__IDLE_TIMEOUT", "0s")],
            "uploads.idle_timeout",
        ),
        (
            None,
            &[
                ("SESSIOND_UPLOADS__IDLE_TIMEOUT", "2m"),
                ("SESSIOND_UPLOADS__TOTAL_TIMEOUT", "1m"),
            ],
            "uploads.total_timeout",
        ),
        (None, &[("SESSIOND_EMAIL__ENABLED", "true")], "email.to"),
        (
            None,
            &[("SESSIOND_CORS__ALLOWED_ORIGINS", r#"["*"]"#)],
            "cors.allowed_origins[0]",
        ),
        (None, &[("SESSIOND_LOG__FORMAT", "xml")], "log.format"),
        (None, &[("SESSIOND_LOG__LEVEL", "inf")], "log.level"),
        (None, &[("SESSIOND_LOG__LEVEL", "info,sessiond=loud")], "log.level"),
    ];
    for (toml, vars, key) in cases {
        let err = load(*toml, vars).expect_err(&format!("{key} must be refused"));
        assert_eq!(&err.key, key, "{err}");
        assert!(err.to_string().contains(key), "{err}");
    }
}

/// Found by the `cron` fuzz target: `0 0 , 31 * *` was accepted, and finding its next run
/// took 11 s (a field of nothing). A stray comma is refused, with the key named.
#[test]
fn cron_lists_have_no_empty_items() {
    for bad in ["0 0 , 31 * *", "0 0 1,,2 * * *", "0 0 ,1 * * *", "0 0 1, * * *"] {
        assert!(parse_cron(bad).is_err(), "{bad}");
        let err = load(None, &[("SESSIOND_JOBS__RETENTION__SCHEDULE", bad)]).expect_err(bad);
        assert!(err.to_string().contains("jobs.retention.schedule"), "{err}");
    }
    for good in ["0 */5 * * * *", "0 15 3 * * *", "0 0 1,2 * * *", "0 0 0 31 2 *"] {
        assert!(parse_cron(good).is_ok(), "{good}");
    }
}

#[test]
fn a_backslash_after_non_ascii_text_in_the_environment_is_an_error_not_a_panic() {
    // figment's string unescaping indexes bytes by character count: these panicked.
    for (var, value, key) in [
        ("SESSIOND_LOG__LEVEL", "\"é\\n\"", "log.level"),
        (
            "SESSIOND_SERVER__TRUSTED_PROXIES",
            "[\"é\\u0041\"]",
            "server.trusted_proxies",
        ),
    ] {
        let err = load(None, &[(var, value)]).expect_err(value);
        assert!(err.to_string().contains(key), "{value}: {err}");
    }
}

#[test]
fn log_filters_are_levels_or_target_directives() {
    for good in [
        "info",
        "WARN",
        "off",
        "info,sessiond=debug",
        "warn, sqlx=error",
        "a::b[span]=trace",
    ] {
        assert_eq!(check_log_filter(good), Ok(()), "{good}");
    }
    for bad in ["", " ", "inf", "sessiond", "info,sessiond=", "=debug", "info;debug"] {
        let err = check_log_filter(bad).expect_err(bad);
        assert!(err.contains("error, warn, info, debug, trace, off"), "{bad}: {err}");
    }
}

#[test]
fn missing_config_file_is_an_error() {
    let err =
        Settings::load_with_env(Some(Path::new("/nonexistent/sessiond.toml")), Vec::new()).expect_err("missing file");
    assert_eq!(err.key, "--config");
}

#[test]
fn secrets_never_show_in_debug() {
    let s = load(
        None,
        &[
            ("SESSIOND_DATABASE__URL", "postgres://admin:hunter2@db/sessiond"),
            ("SESSIOND_STORAGE__S3__SECRET_ACCESS_KEY", "s3cr3t-key"),
            ("SESSIOND_STORAGE__S3__ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("SESSIOND_EMAIL__SMTP_URL", "smtp://mailer:mailpw@smtp.example:587"),
            ("SESSIOND_RATE_LIMIT__REDIS_URL", "redis://:redispw@127.0.0.1:6379"),
        ],
    )
    .expect("load");
    let debug = format!("{s:?} {s:#?}");
    for secret in ["hunter2", "s3cr3t-key", "AKIAEXAMPLE", "mailpw", "redispw"] {
        assert!(!debug.contains(secret), "{secret} leaked");
    }
    assert!(debug.contains("postgres://admin:***@db/sessiond"));
    assert_eq!(s.database.url.expose(), "postgres://admin:hunter2@db/sessiond");
}

#[test]
fn redaction_of_urls() {
    assert_eq!(
        redact_url("postgres://u:p@h:5432/d?x=1"),
        "postgres://u:***@h:5432/d?x=1"
    );
    assert_eq!(redact_url("sqlite://./data/x.db"), "sqlite://./data/x.db");
    assert_eq!(redact_url("redis://:pw@h"), "redis://:***@h");
    // A user name alone may be a token (`redis://token@h`): it is hidden whole.
    assert_eq!(redact_url("smtp://user@h"), "smtp://***@h");
    assert_eq!(redact_url("redis://t0ken@h:6379/0"), "redis://***@h:6379/0");
    assert_eq!(redact_url("https://h/p?x=a@b"), "https://h/p?x=a@b");
    // PostgreSQL also takes the password as a query parameter.
    assert_eq!(
        redact_url("postgres://u@h/d?sslmode=disable&password=hunter2#f"),
        "postgres://***@h/d?sslmode=disable&password=***#f"
    );
    assert_eq!(
        redact_url("postgres://h/d?sslpassword=k3y&user=u"),
        "postgres://h/d?sslpassword=***&user=u"
    );
}

#[test]
fn secrets_serialize_redacted() {
    let mut s = Settings::default();
    s.database.url = SecretUrl::new("postgres://admin:hunter2@db/sessiond");
    s.rate_limit.redis_url = Some(SecretUrl::new("redis://t0ken@cache:6379"));
    s.audit.hmac_key = Some(Secret::new("s3cr3t-key"));
    let json = serde_json::to_string(&s).unwrap_or_default();
    assert!(json.contains("postgres://admin:***@db/sessiond"), "{json}");
    assert!(json.contains("redis://***@cache:6379"), "{json}");
    assert!(json.contains(REDACTED), "{json}");
    for secret in ["hunter2", "t0ken", "s3cr3t-key"] {
        assert!(!json.contains(secret), "{secret} leaked: {json}");
    }
}

#[test]
fn the_defaults_survive_the_redacting_serializer() {
    // The loader is seeded by serializing the defaults: they must hold nothing it redacts.
    let loaded = Settings::load_with_env(None, Vec::new()).map_err(|e| e.to_string());
    let defaults = Settings::default();
    let loaded = loaded
        .as_ref()
        .map(|s| (s.database.url.expose(), s.email.smtp_url.expose()));
    assert_eq!(
        loaded,
        Ok((defaults.database.url.expose(), defaults.email.smtp_url.expose()))
    );
}

#[test]
fn quotas_parse() {
    assert_eq!(
        "10/minute".parse(),
        Ok(Quota {
            count: 10,
            period: Period::Minute
        })
    );
    assert_eq!(
        "3/hour".parse(),
        Ok(Quota {
            count: 3,
            period: Period::Hour
        })
    );
    assert!("0/minute".parse::<Quota>().is_err());
    assert!("ten/minute".parse::<Quota>().is_err());
    assert!("10".parse::<Quota>().is_err());
}

#[test]
fn the_example_config_is_the_defaults() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/sessiond.example.toml");
    let s = Settings::load_with_env(Some(&example), Vec::new()).expect("example config loads");
    let defaults = Settings::default();
    assert_eq!(
        format!("{s:?}"),
        format!("{defaults:?}"),
        "the example must show every default"
    );
}
