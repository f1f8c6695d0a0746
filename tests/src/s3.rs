//! A real S3-compatible server for tests: moto, installed by `scripts/provision/moto.sh` into
//! `$SESSIOND_TEST_TOOLS/venv` (default `target/test-tools`), started by the test on a free
//! loopback port and killed when dropped. A missing moto fails the test; it never skips.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sessiond_core::Settings;
use sessiond_core::config::{Secret, StorageBackend};
use tokio::process::{Child, Command};

/// Where the provisioning script puts its tools.
pub fn test_tools() -> PathBuf {
    match std::env::var_os("SESSIOND_TEST_TOOLS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-tools"),
    }
}

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    child: Option<Child>,
}

impl Moto {
    /// Start moto on a free loopback port and wait until it answers as moto.
    ///
    /// The port is found by binding `:0` and releasing it for moto, which takes a second or two
    /// to bind it; another test's server binding `:0` in between can get the same port. Then
    /// moto cannot bind and exits, and whatever answers there is not S3 — so readiness means
    /// moto's own bucket list, and an exited moto is started again on another port.
    pub async fn start() -> Moto {
        let bin = test_tools().join("venv/bin/moto_server");
        assert!(
            bin.exists(),
            "moto is required for the S3 tests and is not installed at {}: run scripts/provision/moto.sh \
             (scripts/test-all does)",
            bin.display()
        );
        for _ in 0..5 {
            let port = {
                let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
                probe.local_addr().expect("probe addr").port()
            };
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut moto = Moto {
                endpoint: format!("http://127.0.0.1:{port}"),
                child: Some(child),
            };
            if moto.ready().await {
                return moto;
            }
        }
        panic!("moto exited five times: each port it was given was taken before it could bind");
    }

    /// Wait until moto answers `GET /` with its bucket list (true), or exits (false).
    async fn ready(&mut self) -> bool {
        let client = crate::client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().ok().flatten().is_some()
            {
                return false;
            }
            if let Ok(res) = client.get(format!("{}/", self.endpoint)).send().await
                && res.status().is_success()
                && res
                    .text()
                    .await
                    .is_ok_and(|body| body.contains("ListAllMyBucketsResult"))
            {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "moto did not answer on {} within 60 s",
                self.endpoint
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Create `bucket` (moto accepts unsigned requests).
    pub async fn create_bucket(&self, bucket: &str) {
        let res = crate::client()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("create bucket");
        assert!(res.status().is_success(), "create bucket: {}", res.status());
    }

    /// Point `settings` at `bucket` on this server.
    pub fn configure(&self, settings: &mut Settings, bucket: &str) {
        settings.storage.backend = StorageBackend::S3;
        let s3 = &mut settings.storage.s3;
        s3.bucket = Some(bucket.to_owned());
        s3.region = Some("us-east-1".into());
        s3.endpoint = Some(self.endpoint.clone());
        s3.force_path_style = true;
        s3.access_key_id = Some(Secret::new("testing"));
        s3.secret_access_key = Some(Secret::new("testing"));
    }

    /// Kill the server (a store going down mid-run).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}
