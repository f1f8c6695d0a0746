//! Prometheus's own tools for tests: `promtool` and `prometheus` from Debian's `prometheus`
//! package, which `scripts/provision/prometheus.sh` installs. Looked up in
//! `$SESSIOND_TEST_TOOLS/bin` (default `target/test-tools`), then on the PATH. Outside CI a
//! missing tool is provisioned on first use; in CI (`CI=true`) it is a failure, never a skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn find(name: &str) -> Option<PathBuf> {
    let tools = std::env::var_os("SESSIOND_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/test-tools"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::iter::once(tools.join("bin"))
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The path of `name` (`promtool`, `prometheus`), provisioning it outside CI when missing.
pub fn tool(name: &str) -> PathBuf {
    if let Some(p) = find(name) {
        return p;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{name} is missing: scripts/provision/prometheus.sh must run before the tests"
    );
    let status = Command::new("bash")
        .arg(workspace_root().join("scripts/provision/prometheus.sh"))
        .status()
        .expect("run scripts/provision/prometheus.sh");
    assert!(status.success(), "scripts/provision/prometheus.sh failed");
    find(name).unwrap_or_else(|| panic!("{name} still missing after scripts/provision/prometheus.sh"))
}

/// `promtool check metrics` on `exposition` (the classic text format): its findings, empty
/// when the text parses and passes Prometheus's lint.
pub fn check_metrics(exposition: &str) -> String {
    let mut child = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        findings
    } else {
        format!("promtool exited {}: {findings}", out.status)
    }
}

/// A Prometheus server scraping one target every second, with its data in a scratch
/// directory; stopped when dropped.
pub struct PrometheusServer {
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
    /// `http://127.0.0.1:<port>`
    pub url: String,
}

impl PrometheusServer {
    /// Start Prometheus scraping `target` (`host:port`, path `/metrics`). It asks for
    /// OpenMetrics first, as every Prometheus since 2.5 does.
    pub async fn start(target: &str) -> PrometheusServer {
        let dir = tempfile::tempdir().expect("scratch dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: sessiond\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .expect("write prometheus.yml");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = tokio::process::Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start prometheus");
        PrometheusServer {
            _child: child,
            _dir: dir,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The scrape target's state (`/api/v1/targets`): `(health, lastError)`, once known.
    pub async fn target_health(&self) -> Option<(String, String)> {
        let v: serde_json::Value = crate::client()
            .get(format!("{}/api/v1/targets", self.url))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let target = v["data"]["activeTargets"].get(0)?;
        Some((
            target["health"].as_str()?.to_owned(),
            target["lastError"].as_str().unwrap_or_default().to_owned(),
        ))
    }

    /// How many series an instant query returns (0 when Prometheus is not answering yet).
    pub async fn series(&self, query: &str) -> usize {
        let Ok(res) = crate::client()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", query)])
            .send()
            .await
        else {
            return 0;
        };
        let v: serde_json::Value = res.json().await.unwrap_or_default();
        v["data"]["result"].as_array().map_or(0, Vec::len)
    }
}
