//! The `sessiond` binary as an operator meets its configuration: a log filter typo is refused
//! before anything runs, logs off a terminal carry no colour codes and no dependency chatter,
//! errors say where a config path came from, `server.listen` takes a host name, and
//! `check-config` prints TOML that loads back to the same settings.

use std::process::{Output, Stdio};
use std::time::Duration;

use sessiond_tests::process::DaemonProcess;
use sessiond_tests::{DbKind, TestDb, client, on_both_backends};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

on_both_backends!(listen_takes_a_host_name, text_logs_are_plain_and_quiet_off_a_terminal);

/// The binary with a clean environment, in `dir`.
fn sessiond(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessiond"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir)
        .kill_on_drop(true);
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn log_filter_typos_stop_check_config_and_start_up() {
    let dir = tempfile::tempdir().expect("dir");
    for (var, value, key) in [
        ("SESSIOND_LOG__LEVEL", "inf", "log.level"),
        ("SESSIOND_LOG__LEVEL", "info,sessiond=verbose", "log.level"),
        ("RUST_LOG", "inf", "RUST_LOG"),
    ] {
        for args in [&["check-config"][..], &[][..], &["serve"][..]] {
            let out = sessiond(dir.path())
                .env(var, value)
                .env("SESSIOND_SERVER__LISTEN", "127.0.0.1:0")
                .args(args)
                .output()
                .await
                .expect("run");
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{var}={value} {args:?}: {err}");
            assert!(err.contains(key), "{err}");
            assert!(
                err.contains("error, warn, info, debug, trace, off"),
                "names the valid forms: {err}"
            );
            assert_eq!(err.lines().count(), 1, "one clear message: {err}");
        }
    }
}

/// Start the binary with text logs on `db` and collect its stderr up to "sessiond ready".
async fn text_logs_until_ready(db: &TestDb, extra: &[(&str, &str)]) -> Vec<String> {
    let mut cmd = sessiond(db.dir.path());
    cmd.env("SESSIOND_DATABASE__URL", &db.url)
        .env("SESSIOND_SERVER__LISTEN", "127.0.0.1:0")
        .env("SESSIOND_STORAGE__FS__ROOT", db.dir.path().join("objects"))
        .env("SESSIOND_LOG__FORMAT", "text")
        .env("SESSIOND_SERVER__DRAIN_DELAY", "0s")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read stderr") {
            let ready = line.contains("sessiond ready");
            seen.push(line);
            if ready {
                return;
            }
        }
        panic!("sessiond exited before it was ready: {seen:#?}");
    })
    .await
    .expect("ready within 30 s");
    child.kill().await.expect("kill");
    seen
}

async fn text_logs_are_plain_and_quiet_off_a_terminal(kind: DbKind) {
    let db = TestDb::new(kind).await;
    // Jobs on: the scheduler's dependency logs a line per job at `info`.
    let quiet = text_logs_until_ready(&db, &[("SESSIOND_JOBS__ENABLED", "true")]).await;
    assert!(
        quiet.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes on a pipe: {quiet:#?}"
    );
    assert!(quiet.iter().all(|l| !l.contains("tokio_cron_scheduler")), "{quiet:#?}");
    assert!(
        quiet.iter().any(|l| l.contains(" INFO ")),
        "info lines still logged: {quiet:#?}"
    );
    // Naming the dependency brings its lines back.
    let loud = text_logs_until_ready(
        &db,
        &[
            ("SESSIOND_JOBS__ENABLED", "true"),
            ("SESSIOND_LOG__LEVEL", "info,tokio_cron_scheduler=info"),
        ],
    )
    .await;
    assert!(loud.iter().any(|l| l.contains("tokio_cron_scheduler")), "{loud:#?}");
}

#[tokio::test]
async fn a_missing_config_file_says_where_its_path_came_from() {
    let dir = tempfile::tempdir().expect("dir");
    let from_env = sessiond(dir.path())
        .env("SESSIOND_CONFIG", "/nope.toml")
        .arg("check-config")
        .output();
    let from_flag = sessiond(dir.path())
        .args(["--config", "/nope.toml", "check-config"])
        .output();
    for (out, said) in [
        (from_env.await, "SESSIOND_CONFIG: /nope.toml does not exist"),
        (from_flag.await, "--config: /nope.toml does not exist"),
    ] {
        let out = out.expect("run");
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(said), "{}", stderr(&out));
    }
}

async fn listen_takes_a_host_name(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let out = sessiond(db.dir.path())
        .env("SESSIOND_SERVER__LISTEN", "localhost")
        .arg("check-config")
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("server.listen") && err.contains("write IP:port or host:port"),
        "{err}"
    );
    let daemon = DaemonProcess::start(
        env!("CARGO_BIN_EXE_sessiond"),
        &db,
        &[("SESSIOND_SERVER__LISTEN", "localhost:0")],
    )
    .await;
    let bound: std::net::SocketAddr = daemon.addr.parse().expect("an address in the ready line");
    assert!(bound.ip().is_loopback(), "{bound}");
    let res = client().get(daemon.url("/healthz")).send().await.expect("healthz");
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn check_config_prints_toml_that_loads_back_to_the_same_settings() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("sessiond.toml");
    std::fs::write(
        &file,
        "[session]\nidle_timeout = \"36h\"\n[server]\nlisten = \"localhost:9000\"\n[log]\nlevel = \"info,sessiond=debug\"\n",
    )
    .expect("write config");
    let secrets = [
        ("SESSIOND_AUDIT__HMAC_KEY", "hmac-key-0123456789abcdef"),
        ("SESSIOND_STORAGE__S3__SECRET_ACCESS_KEY", "s3-secret-key"),
    ];
    let first = sessiond(dir.path())
        .arg("--config")
        .arg(&file)
        .env(
            "SESSIOND_DATABASE__URL",
            "postgres://app:dbpassword@db.example/sessiond",
        )
        .env("SESSIOND_UPLOADS__MAX_BYTES", "1000")
        .envs(secrets)
        .arg("check-config")
        .output()
        .await
        .expect("run");
    assert!(first.status.success(), "{}", stderr(&first));
    let printed = String::from_utf8(first.stdout).expect("utf-8");
    assert!(
        printed.contains(&format!("# file: {} (from --config)", file.display())),
        "{printed}"
    );
    assert!(printed.contains("SESSIOND_AUDIT__HMAC_KEY") && printed.contains("SESSIOND_UPLOADS__MAX_BYTES"));
    for secret in ["dbpassword", "hmac-key-0123456789abcdef", "s3-secret-key"] {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
    for line in [
        "idle_timeout = \"36h\"",
        "absolute_timeout = \"365d\"",
        "listen = \"localhost:9000\"",
        "max_bytes = 1000",
        "url = \"postgres://app:***@db.example/sessiond\"",
        "# hmac_key = (secret, not shown; set it with SESSIOND_AUDIT__HMAC_KEY)",
    ] {
        assert!(printed.lines().any(|l| l == line), "no `{line}` in:\n{printed}");
    }
    // Saved and used as the config, with only the secrets in the environment: the same.
    let saved = dir.path().join("effective.toml");
    std::fs::write(&saved, &printed).expect("save");
    let second = sessiond(dir.path())
        .env("SESSIOND_CONFIG", &saved)
        .envs(secrets)
        .arg("check-config")
        .output()
        .await
        .expect("run");
    assert!(second.status.success(), "{}", stderr(&second));
    let reprinted = String::from_utf8(second.stdout).expect("utf-8");
    // All but the header (which names the file and the variables).
    let body = |text: &str| text.lines().skip(3).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&reprinted), body(&printed));
    assert!(reprinted.contains(&format!("# file: {} (from SESSIOND_CONFIG)", saved.display())));
}
