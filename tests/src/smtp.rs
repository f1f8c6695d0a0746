//! A real SMTP server for tests: aiosmtpd on `127.0.0.1:<free port>` writing every accepted
//! mail into a Maildir, from the venv `scripts/provision/aiosmtpd.sh` creates under
//! `$SESSIOND_TEST_TOOLS` (default `target/test-tools`). Outside CI a missing venv is
//! provisioned on first use; in CI (`CI=true`) it is a failure, never a skip.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let tools = std::env::var_os("SESSIOND_TEST_TOOLS")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target/test-tools"));
            let python = tools.join("venv/bin/python");
            let has_aiosmtpd = |p: &Path| {
                std::process::Command::new(p)
                    .args(["-c", "import aiosmtpd"])
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if !has_aiosmtpd(&python) {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "aiosmtpd is missing at {}: scripts/provision/aiosmtpd.sh must run before the tests",
                    python.display()
                );
                let status = std::process::Command::new("bash")
                    .arg(workspace_root().join("scripts/provision/aiosmtpd.sh"))
                    .env("SESSIOND_TEST_TOOLS", &tools)
                    .status()
                    .expect("run scripts/provision/aiosmtpd.sh");
                assert!(status.success(), "scripts/provision/aiosmtpd.sh failed");
                assert!(has_aiosmtpd(&python), "aiosmtpd still missing at {}", python.display());
            }
            python
        })
        .clone()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A running (or stopped) aiosmtpd.
pub struct SmtpServer {
    /// Its port on 127.0.0.1 (kept across stop/start).
    pub port: u16,
    /// Where mail lands (`new/` holds one file per message).
    pub maildir: PathBuf,
    child: Option<Child>,
}

impl SmtpServer {
    /// Start on a free port, storing mail under `dir/maildir`.
    pub async fn start(dir: &Path) -> SmtpServer {
        let mut s = SmtpServer {
            port: free_port(),
            maildir: dir.join("maildir"),
            child: None,
        };
        s.resume().await;
        s
    }

    /// `smtp://127.0.0.1:<port>` (plain SMTP, no auth).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Start again on the same port and Maildir; returns when it accepts connections.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.maildir)
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                // The greeting proves it is aiosmtpd answering, not a half-open socket.
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 64];
                if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await
                    && buf[..n].starts_with(b"220")
                {
                    return;
                }
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("aiosmtpd exited at start-up: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not accept connections on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stop it; returns when the port refuses connections.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
            assert!(Instant::now() < deadline, "aiosmtpd still listening after kill");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every message delivered so far (raw RFC 5322 text), in file-name order.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|d| std::fs::read_dir(self.maildir.join(d)).ok())
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read mail"))
            .collect()
    }

    /// Poll until at least `n` messages are there (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            assert!(Instant::now() < deadline, "expected {n} mail(s), have {}", m.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
