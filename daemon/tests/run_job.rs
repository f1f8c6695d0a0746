//! The `sessiond` binary: `run-job` runs one job once and exits, and a bad cron expression is
//! refused at start-up naming its key. (SQLite here; the job code itself runs on both
//! backends in the workspace tests.)

use std::process::Command;

fn sessiond(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessiond"));
    cmd.current_dir(dir)
        .env_remove("SESSIOND_CONFIG")
        .env(
            "SESSIOND_DATABASE__URL",
            format!("sqlite://{}", dir.join("db.sqlite").display()),
        )
        .env("SESSIOND_STORAGE__FS__ROOT", dir.join("objects"))
        .env("SESSIOND_LOG__LEVEL", "warn");
    cmd
}

#[test]
fn run_job_runs_once_and_records_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, job) in [
        "session_expiry",
        "retention",
        "alert_detection",
        "alert_digest",
        "notification_sender",
    ]
    .iter()
    .enumerate()
    {
        let out = sessiond(dir.path())
            .args(["run-job", job])
            .output()
            .expect("run sessiond");
        assert!(out.status.success(), "{job}: {}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{job}: JSON on stdout ({e})"));
        assert_eq!(report["job"], *job);
        assert_eq!(report["status"], "succeeded");
        assert_eq!(report["run_id"], i as i64 + 1, "one job_runs row per run");
        assert!(report["counts"].is_object());
    }
}

#[test]
fn unknown_job_is_refused_with_the_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = sessiond(dir.path())
        .args(["run-job", "nope"])
        .output()
        .expect("run sessiond");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown job `nope`") && err.contains("session_expiry"),
        "{err}"
    );
}

#[test]
fn bad_cron_expression_names_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in ["61 * * * * *", "0 */5 * * *", "0 0 25 * * *", "x * * * * *"] {
        let out = sessiond(dir.path())
            .env("SESSIOND_JOBS__ALERT_DETECTION__SCHEDULE", bad)
            .arg("check-config")
            .output()
            .expect("run sessiond");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("jobs.alert_detection.schedule"), "{bad}: {err}");
    }
}

#[test]
fn run_job_help_lists_every_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = sessiond(dir.path())
        .args(["run-job", "--help"])
        .output()
        .expect("run sessiond");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for job in sessiond_core::jobs::JobName::ALL {
        assert!(help.contains(job.as_str()), "{job:?} missing from: {help}");
    }
}
