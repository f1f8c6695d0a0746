//! Hostile upload bodies against the real binary, its memory read from `/proc` (issue #16):
//! chunked multipart bodies with an endless preamble or an endless part header are refused
//! after a small allowance, so sixteen of them at once barely move the daemon's RSS.

use std::time::Duration;

use sessiond_tests::process::DaemonProcess;
use sessiond_tests::{DbKind, TestDb, client, on_both_backends};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both_backends!(endless_multipart_framing_does_not_grow_memory);

/// What each hostile connection sends at most before giving up (the daemon should stop
/// reading long before).
const HOSTILE_BYTES: usize = 4 * 1024 * 1024;
const CONNECTIONS: usize = 16;
/// PERF.md: sixteen endless chunked multipart uploads grow RSS by less than 16 MiB.
const MAX_GROWTH_KIB: u64 = 16 * 1024;

async fn start(db: &TestDb) -> DaemonProcess {
    DaemonProcess::start(env!("CARGO_BIN_EXE_sessiond"), db, &[]).await
}

/// One chunked upload whose framing never ends: an endless preamble, or a part header with a
/// filename that never closes. Returns the daemon's status line when it answered, and how
/// many bytes were sent before the daemon stopped taking them.
async fn hostile_upload(addr: String, session: String, endless_header: bool) -> (Option<String>, usize) {
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /api/session/{session}/uploads HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let (mut rd, mut wr) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), rd.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).lines().next().map(str::to_owned)
    });
    let piece = vec![b'A'; 16 * 1024];
    let mut sent = 0;
    if endless_header {
        let start = b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"";
        let chunk = format!("{:x}\r\n", start.len());
        if wr.write_all(chunk.as_bytes()).await.is_ok() && wr.write_all(start).await.is_ok() {
            let _ = wr.write_all(b"\r\n").await;
            sent += start.len();
        }
    }
    while sent < HOSTILE_BYTES {
        let chunk = format!("{:x}\r\n", piece.len());
        let ok = wr.write_all(chunk.as_bytes()).await.is_ok()
            && wr.write_all(&piece).await.is_ok()
            && wr.write_all(b"\r\n").await.is_ok();
        if !ok {
            break;
        }
        sent += piece.len();
    }
    drop(wr);
    (reader.await.expect("reader"), sent)
}

async fn endless_multipart_framing_does_not_grow_memory(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let daemon = start(&db).await;
    let c = client();
    let res = c
        .post(daemon.url("/api/session/generate-uuid"))
        .send()
        .await
        .expect("generate");
    let session = res.json::<serde_json::Value>().await.expect("json")["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    // Warm up: one ordinary upload, so the baseline includes what any upload allocates.
    let body = "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"warm.pdf\"\r\n\
                Content-Type: application/pdf\r\n\r\n%PDF-1.4\n%%EOF\n\r\n--XYZ--\r\n";
    let res = c
        .post(daemon.url(&format!("/api/session/{session}/uploads")))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), 201);
    let before = daemon.rss_kib();

    let mut tasks = Vec::new();
    for i in 0..CONNECTIONS {
        tasks.push(tokio::spawn(hostile_upload(
            daemon.addr.clone(),
            session.clone(),
            i % 2 == 1,
        )));
    }
    let mut answered = 0;
    for t in tasks {
        let (status, sent) = t.await.expect("hostile task");
        // Refused early: the daemon stopped reading long before the client stopped sending.
        assert!(
            sent < HOSTILE_BYTES,
            "the daemon read all {sent} bytes of endless framing"
        );
        if let Some(line) = status {
            assert!(line.contains(" 400 "), "{line}");
            answered += 1;
        }
    }
    let after = daemon.rss_kib();
    let growth = after.saturating_sub(before);
    eprintln!("RSS before {before} KiB, after {after} KiB, growth {growth} KiB; {answered} answered 400");
    assert!(growth < MAX_GROWTH_KIB, "RSS grew by {growth} KiB");
    assert!(answered > 0, "no hostile upload was answered");

    // The daemon still serves, and nothing of the hostile uploads was stored.
    let list = c
        .get(daemon.url(&format!("/api/session/{session}/uploads")))
        .send()
        .await
        .expect("list");
    let body: serde_json::Value = list.json().await.expect("json");
    assert_eq!(body["uploads"].as_array().map(Vec::len), Some(1), "{body}");
}
