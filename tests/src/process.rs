//! The real `sessiond` binary as an operator runs it, for tests that need a process of its own
//! (signals, its memory as `/proc` reports it). The binary's path comes from the calling test
//! crate (`env!("CARGO_BIN_EXE_sessiond")`, which only the daemon's own tests can name).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::TestDb;

/// A running daemon process.
pub struct DaemonProcess {
    /// The process (killed when dropped).
    pub child: Child,
    /// `127.0.0.1:<port>` it listens on.
    pub addr: String,
    /// Its JSON log lines so far.
    pub logs: Arc<Mutex<Vec<Value>>>,
}

impl DaemonProcess {
    /// Start `bin` on `db` with JSON logs on 127.0.0.1:0, rate limiting, jobs and the shutdown
    /// drain off, objects
    /// under the database's scratch directory, and `extra` environment on top; learn its port
    /// from the "sessiond ready" log line.
    pub async fn start(bin: &str, db: &TestDb, extra: &[(&str, &str)]) -> DaemonProcess {
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SESSIOND_DATABASE__URL", &db.url)
            .env("SESSIOND_SERVER__LISTEN", "127.0.0.1:0")
            .env("SESSIOND_RATE_LIMIT__ENABLED", "false")
            .env("SESSIOND_JOBS__ENABLED", "false")
            .env("SESSIOND_STORAGE__FS__ROOT", db.dir.path().join("objects"))
            .env("SESSIOND_LOG__FORMAT", "json")
            // Tests stop daemons at once; the drain before shutdown is tested on its own.
            .env("SESSIOND_SERVER__DRAIN_DELAY", "0s")
            .current_dir(db.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn sessiond");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let sink = logs.clone();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    panic!("a log line that is not JSON: {line}");
                };
                if v["message"] == "sessiond ready"
                    && let Some(tx) = ready.take()
                {
                    let _ = tx.send(v["listen"].as_str().unwrap_or_default().to_owned());
                }
                sink.lock().expect("lock").push(v);
            }
        });
        let addr = tokio::time::timeout(Duration::from_secs(30), ready_rx)
            .await
            .expect("sessiond became ready in time")
            .expect("ready line");
        DaemonProcess { child, addr, logs }
    }

    /// `http://<addr><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Resident memory of the process now, in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("the daemon is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }
}
