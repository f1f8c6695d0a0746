//! PDF uploads (SPEC §2.3, §4, §6 upload_gc): every point on the filesystem backend and on
//! aws-sdk-s3 against a real S3-compatible server (moto) started here, on SQLite and on
//! PostgreSQL. After every refused, aborted or failed upload the store, the spool directory and
//! the database are checked to hold nothing for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use sessiond_core::Settings;
use sessiond_core::audit::{AuditEvent, AuditQuery, EventType};
use sessiond_core::storage::{ObjectStore, session_prefix, upload_key};
use sessiond_core::store::{Store, UploadTotals};
use sessiond_core::uploads::{UPLOAD_GC_AGE, upload_gc, upload_gc_paged};
use sessiond_tests::s3::Moto;
use sessiond_tests::{DbKind, TestDaemon, TestDb, client, events_of, raw_request};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// Where the objects go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Objects {
    Fs,
    S3,
}

/// `<test>::{sqlite_fs, postgres_fs, sqlite_s3, postgres_s3}`
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::{DbKind, Objects};
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_fs() { super::$name(DbKind::Sqlite, Objects::Fs).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_fs() { super::$name(DbKind::Postgres, Objects::Fs).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_s3() { super::$name(DbKind::Sqlite, Objects::S3).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_s3() { super::$name(DbKind::Postgres, Objects::S3).await }
            }
        )*
    };
}

on_every_backend!(
    max_size_pdf_round_trip,
    one_byte_over_is_413,
    content_is_checked_not_the_name,
    quota_and_dead_sessions,
    disconnect_mid_upload_leaves_nothing,
    reset_during_upload_deletes_the_object,
    reset_deletes_objects,
    upload_gc_removes_orphans_only,
    upload_gc_pages_through_every_object,
);

mod storage_down_is_503 {
    use super::DbKind;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::storage_down_is_503(DbKind::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::storage_down_is_503(DbKind::Postgres).await
    }
}

const MAX: usize = 5_242_880;

/// A daemon on a fresh database with objects on `objects`.
struct Env {
    db: TestDb,
    d: TestDaemon,
    settings: Settings,
    store: Arc<dyn Store>,
    objects: Arc<dyn ObjectStore>,
    moto: Option<Moto>,
}

async fn env(kind: DbKind, objects: Objects, adjust: impl FnOnce(&mut Settings)) -> Env {
    let db = TestDb::new(kind).await;
    let mut settings = db.settings();
    let moto = match objects {
        Objects::Fs => None,
        Objects::S3 => {
            let moto = Moto::start().await;
            moto.create_bucket("uploads-test").await;
            moto.configure(&mut settings, "uploads-test");
            Some(moto)
        }
    };
    adjust(&mut settings);
    let d = TestDaemon::start(settings.clone()).await;
    let store = db.store().await;
    // The test's own view of the same object store, to check what is (not) in it.
    let objects = sessiond_core::storage::from_settings(&settings.storage)
        .await
        .expect("object store");
    Env {
        db,
        d,
        settings,
        store,
        objects,
        moto,
    }
}

impl Env {
    async fn generate(&self) -> String {
        let res = client()
            .post(self.d.url("/api/session/generate-uuid"))
            .send()
            .await
            .expect("generate");
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.expect("json");
        body["uuid"].as_str().expect("uuid").to_owned()
    }

    async fn upload(&self, session: &str, filename: &str, content: &[u8]) -> reqwest::Response {
        let (ct, body) = multipart(&[("file", Some(filename), "application/pdf", content)]);
        self.post_upload(session, &ct, body).await
    }

    async fn post_upload(&self, session: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
        client()
            .post(self.d.url(&format!("/api/session/{session}/uploads")))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("upload request")
    }

    async fn objects_of(&self, session: &str) -> Vec<String> {
        let id: Uuid = session.parse().expect("uuid");
        let mut keys: Vec<String> = self
            .objects
            .list(&session_prefix(id))
            .await
            .expect("list objects")
            .into_iter()
            .map(|o| o.key)
            .collect();
        keys.sort();
        keys
    }

    fn spool_files(&self) -> Vec<String> {
        let spool = self.settings.storage.fs.root.join(".tmp");
        std::fs::read_dir(&spool)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Nothing stored for `session`: no object, no row, no spool file.
    async fn assert_nothing_for(&self, session: &str, what: &str) {
        let id: Uuid = session.parse().expect("uuid");
        assert_eq!(
            self.objects_of(session).await,
            Vec::<String>::new(),
            "objects after {what}"
        );
        assert_eq!(
            self.store.upload_totals(id).await.expect("totals"),
            UploadTotals { count: 0, bytes: 0 },
            "rows after {what}"
        );
        assert_eq!(self.spool_files(), Vec::<String>::new(), "spool files after {what}");
    }

    async fn events(&self, session: &str, kind: EventType) -> Vec<AuditEvent> {
        self.store
            .list_audit(&AuditQuery {
                session_id: Some(session.parse().expect("uuid")),
                event_type: Some(kind.as_str().to_owned()),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .expect("audit")
    }
}

/// A multipart body: `(name, filename, content type, bytes)` per part.
fn multipart(parts: &[(&str, Option<&str>, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----sessiondtestboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, filename, ct, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n").as_bytes()),
        }
        body.extend_from_slice(format!("Content-Type: {ct}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A PDF-looking file of exactly `size` bytes with varied content.
fn pdf(size: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut x: u32 = 0x1234_5678;
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push((x & 0xff) as u8);
    }
    out.truncate(size);
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status for {code}");
    let body: Value = res.json().await.expect("problem json");
    assert_eq!(body["code"], code, "{body}");
    body
}

async fn max_size_pdf_round_trip(kind: DbKind, objects: Objects) {
    let e = env(kind, objects, |_| {}).await;
    let s = e.generate().await;
    let content = pdf(MAX);
    let res = e.upload(&s, "Résumé – 日本語 final.pdf", &content).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    let up: Value = res.json().await.expect("json");
    assert_eq!(up["size"], MAX as u64);
    assert_eq!(up["sha256"], sha256_hex(&content));
    assert_eq!(up["content_type"], "application/pdf");
    assert_eq!(up["session_uuid"], s.as_str());
    assert_eq!(up["filename"], "Résumé – 日本語 final.pdf", "UTF-8 names kept");
    let id = up["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/api/session/{s}/uploads/{id}"));
    assert_eq!(
        e.objects_of(&s).await,
        vec![upload_key(s.parse().expect("uuid"), id.parse().expect("uuid"))],
        "stored under uploads/<session>/<upload>.pdf"
    );

    // Downloaded byte-identical, as an attachment.
    let res = client().get(e.d.url(&location)).send().await.expect("download");
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["content-length"], MAX.to_string().as_str());
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"R_sum_ _ ___ final.pdf\"; \
         filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%80%93%20%E6%97%A5%E6%9C%AC%E8%AA%9E%20final.pdf"
    );
    let got = res.bytes().await.expect("body");
    assert_eq!(got.len(), MAX);
    assert_eq!(sha256_hex(&got), sha256_hex(&content));
    assert!(got[..] == content[..], "byte-identical");

    // A second one; the list is newest first; the session view counts both.
    let small = pdf(1000);
    let res = e.upload(&s, "b.pdf", &small).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let second: Value = res.json().await.expect("json");
    let res = client()
        .get(e.d.url(&format!("/api/session/{s}/uploads")))
        .send()
        .await
        .expect("list");
    assert_eq!(res.status(), StatusCode::OK);
    let list: Value = res.json().await.expect("json");
    let ids: Vec<&str> = list["uploads"]
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec![second["id"].as_str().expect("id"), id.as_str()]);
    let view: Value = client()
        .get(e.d.url(&format!("/api/session/{s}")))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(view["upload_count"], 2);
    assert_eq!(view["upload_bytes"], (MAX + 1000) as u64);

    // Audited with size and sha256.
    let accepted = e.events(&s, EventType::UploadAccepted).await;
    assert_eq!(accepted.len(), 2);
    let first = accepted
        .iter()
        .find(|ev| ev.metadata["upload_id"] == id.as_str())
        .expect("event of the first upload");
    assert_eq!(first.metadata["size"], MAX as u64);
    assert_eq!(first.metadata["sha256"], sha256_hex(&content));
    assert_eq!(first.ip.as_deref(), Some("127.0.0.1"));

    // Delete one: 204, object and row gone, audited; again → 404 upload_not_found.
    let res = client().delete(e.d.url(&location)).send().await.expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(e.objects_of(&s).await.len(), 1);
    assert_eq!(
        e.store.upload_totals(s.parse().expect("uuid")).await.expect("totals"),
        UploadTotals { count: 1, bytes: 1000 }
    );
    assert_eq!(e.events(&s, EventType::UploadDeleted).await.len(), 1);
    let res = client().delete(e.d.url(&location)).send().await.expect("delete");
    assert_problem(res, 404, "upload_not_found").await;
    let res = client().get(e.d.url(&location)).send().await.expect("download");
    assert_problem(res, 404, "upload_not_found").await;
    let res = client()
        .get(e.d.url(&format!("/api/session/{s}/uploads/not-a-uuid")))
        .send()
        .await
        .expect("download");
    // A malformed upload id is refused as such, before any look-up (issue 16).
    assert_problem(res, 400, "invalid_uuid_format").await;
    // Another session cannot reach it.
    let other = e.generate().await;
    let res = client()
        .get(e.d.url(&format!(
            "/api/session/{other}/uploads/{}",
            second["id"].as_str().expect("id")
        )))
        .send()
        .await
        .expect("download");
    assert_problem(res, 404, "upload_not_found").await;

    let ready: Value = client()
        .get(e.d.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["storage"], "ok");
    assert_eq!(ready["database"], "ok");
    drop(e.db);
}

async fn one_byte_over_is_413(kind: DbKind, objects: Objects) {
    let e = env(kind, objects, |_| {}).await;
    let s = e.generate().await;
    let res = e.upload(&s, "big.pdf", &pdf(MAX + 1)).await;
    assert_problem(res, 413, "file_too_large").await;
    e.assert_nothing_for(&s, "a file one byte over").await;
    let rejected = e.events(&s, EventType::UploadRejected).await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].metadata["reason"], "too_large");

    // A Content-Length over the limit plus 64 KiB is refused before the body is read: the
    // answer comes although not one byte of the body is sent.
    let head = format!(
        "POST /api/session/{s}/uploads HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=x\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        MAX + 64 * 1024 + 1
    );
    let answer = raw_request(e.d.addr, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"file_too_large\""), "{answer}");
    e.assert_nothing_for(&s, "an announced over-limit body").await;
    assert_eq!(e.events(&s, EventType::UploadRejected).await.len(), 2);

    // The limit is enforced while streaming: a body that goes on well past the limit is cut off
    // and answered without being read to its end.
    let mut stream = tokio::net::TcpStream::connect(e.d.addr).await.expect("connect");
    let head = format!(
        "POST /api/session/{s}/uploads HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=x\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let part = b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.7\n";
    stream
        .write_all(format!("{:x}\r\n", part.len()).as_bytes())
        .await
        .expect("chunk");
    stream.write_all(part).await.expect("chunk");
    stream.write_all(b"\r\n").await.expect("chunk");
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0usize;
    // Keep sending (up to 8x the limit: loopback socket buffers hold several MiB) until the
    // server answers and stops reading.
    let answer = loop {
        if sent > 8 * MAX {
            panic!("the server read 8x the limit without answering");
        }
        let write = async {
            stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await?;
            stream.write_all(&chunk).await?;
            stream.write_all(b"\r\n").await
        };
        if write.await.is_err() {
            break read_answer(&mut stream).await;
        }
        sent += chunk.len();
        if let Some(answer) = try_read_answer(&mut stream).await {
            break answer;
        }
    };
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    e.assert_nothing_for(&s, "a streamed over-limit body").await;
    // The daemon read the file only up to the chunk that passed the limit.
    let rejected = e.events(&s, EventType::UploadRejected).await;
    assert_eq!(rejected.len(), 3);
    let seen = rejected[0].metadata["size"].as_u64().expect("size");
    assert!(
        seen > MAX as u64 && seen <= MAX as u64 + 128 * 1024,
        "read {seen} bytes"
    );
}

async fn try_read_answer(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    match stream.try_read(&mut buf) {
        Ok(n) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

async fn read_answer(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

async fn content_is_checked_not_the_name(kind: DbKind, objects: Objects) {
    let e = env(kind, objects, |_| {}).await;
    let s = e.generate().await;

    // A renamed executable: ELF bytes named x.pdf, declared application/pdf.
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec();
    elf.extend(std::iter::repeat_n(0x90u8, 20_000));
    let res = e.upload(&s, "x.pdf", &elf).await;
    assert_problem(res, 415, "unsupported_file_type").await;
    e.assert_nothing_for(&s, "a renamed executable").await;

    // `%PDF-` later than the first 1 KiB of whitespace, or after other bytes.
    let mut late = vec![b' '; 1025];
    late.extend_from_slice(b"%PDF-1.4\n");
    let res = e.upload(&s, "late.pdf", &late).await;
    assert_problem(res, 415, "unsupported_file_type").await;
    let res = e.upload(&s, "short.pdf", b"%PD").await;
    assert_problem(res, 415, "unsupported_file_type").await;

    // Empty part.
    let res = e.upload(&s, "empty.pdf", b"").await;
    assert_problem(res, 400, "empty_file").await;
    e.assert_nothing_for(&s, "refused contents").await;
    let reasons: Vec<String> = e
        .events(&s, EventType::UploadRejected)
        .await
        .iter()
        .map(|ev| ev.metadata["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(reasons, vec!["empty", "not_pdf", "not_pdf", "not_pdf"]);

    // Not multipart at all; no `file` part; two parts.
    let res = e.post_upload(&s, "application/pdf", b"%PDF-1.7".to_vec()).await;
    assert_problem(res, 415, "unsupported_media_type").await;
    let (ct, body) = multipart(&[("document", Some("a.pdf"), "application/pdf", b"%PDF-1.7")]);
    assert_problem(e.post_upload(&s, &ct, body).await, 400, "invalid_multipart").await;
    let (ct, body) = multipart(&[
        ("file", Some("a.pdf"), "application/pdf", b"%PDF-1.7"),
        ("file", Some("b.pdf"), "application/pdf", b"%PDF-1.7"),
    ]);
    assert_problem(e.post_upload(&s, &ct, body).await, 400, "invalid_multipart").await;
    let (ct, _) = multipart(&[]);
    assert_problem(
        e.post_upload(&s, &ct, b"--nope".to_vec()).await,
        400,
        "invalid_multipart",
    )
    .await;
    e.assert_nothing_for(&s, "malformed requests").await;

    // Leading whitespace is allowed; the declared type does not matter; the name is cleaned.
    let mut ws = b"\r\n \t".to_vec();
    ws.extend_from_slice(&pdf(2048));
    let (ct, body) = multipart(&[("file", Some("../../etc/passwd"), "application/octet-stream", &ws)]);
    let res = e.post_upload(&s, &ct, body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let up: Value = res.json().await.expect("json");
    assert_eq!(up["filename"], "passwd");
    assert_eq!(up["sha256"], sha256_hex(&ws));
}

async fn quota_and_dead_sessions(kind: DbKind, objects: Objects) {
    let e = env(kind, objects, |s| s.uploads.max_per_session = 2).await;
    let s = e.generate().await;
    for name in ["1.pdf", "2.pdf"] {
        assert_eq!(e.upload(&s, name, &pdf(100)).await.status(), StatusCode::CREATED);
    }
    let res = e.upload(&s, "3.pdf", &pdf(100)).await;
    assert_problem(res, 409, "upload_quota_exceeded").await;
    assert_eq!(e.objects_of(&s).await.len(), 2);
    let rejected = e.events(&s, EventType::UploadRejected).await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].metadata["reason"], "quota");

    // Unknown, malformed, revoked sessions.
    let unknown = Uuid::new_v4().to_string();
    assert_problem(e.upload(&unknown, "a.pdf", &pdf(100)).await, 404, "session_not_found").await;
    assert_problem(e.upload("nope", "a.pdf", &pdf(100)).await, 400, "invalid_uuid_format").await;
    let r = e.generate().await;
    let res = client()
        .delete(e.d.url(&format!("/api/session/{r}")))
        .send()
        .await
        .expect("reset");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(e.upload(&r, "a.pdf", &pdf(100)).await, 410, "session_revoked").await;
    let res = client()
        .get(e.d.url(&format!("/api/session/{r}/uploads")))
        .send()
        .await
        .expect("list");
    assert_problem(res, 410, "session_revoked").await;
    e.assert_nothing_for(&r, "uploads to a revoked session").await;
    // Refusals are audited by the session service, as for the session endpoints.
    let failed = e.events(&r, EventType::SessionValidationFailed).await;
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|ev| ev.metadata["reason"] == "revoked"));
}

async fn disconnect_mid_upload_leaves_nothing(kind: DbKind, objects: Objects) {
    let e = env(kind, objects, |_| {}).await;
    let s = e.generate().await;
    let content = pdf(MAX);
    let (ct, body) = multipart(&[("file", Some("a.pdf"), "application/pdf", &content)]);
    let head = format!(
        "POST /api/session/{s}/uploads HTTP/1.1\r\nHost: t\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    {
        let mut stream = tokio::net::TcpStream::connect(e.d.addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("head");
        // Half the body, then the client goes away.
        stream.write_all(&body[..body.len() / 2]).await.expect("half the body");
        stream.flush().await.expect("flush");
        // Wait until the daemon has spooled some of it, so the abort happens mid-file.
        let deadline = Instant::now() + Duration::from_secs(10);
        while e.spool_files().is_empty() {
            assert!(Instant::now() < deadline, "the upload never started spooling");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let aborted = loop {
        let events = e.events(&s, EventType::UploadAborted).await;
        if !events.is_empty() {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "no upload.aborted event after the disconnect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(aborted.len(), 1);
    assert!(
        aborted[0].metadata["size"].as_u64().unwrap_or(0) > 0,
        "{:?}",
        aborted[0].metadata
    );
    e.assert_nothing_for(&s, "a disconnect mid-upload").await;
    assert!(e.events(&s, EventType::UploadAccepted).await.is_empty());
    // The daemon is fine afterwards.
    assert_eq!(e.upload(&s, "b.pdf", &pdf(100)).await.status(), StatusCode::CREATED);
}

async fn reset_deletes_objects(kind: DbKind, objects: Objects) {
    let e = env(kind, objects, |_| {}).await;
    let s = e.generate().await;
    let keep = e.generate().await;
    for name in ["1.pdf", "2.pdf"] {
        assert_eq!(e.upload(&s, name, &pdf(500)).await.status(), StatusCode::CREATED);
    }
    assert_eq!(e.upload(&keep, "k.pdf", &pdf(500)).await.status(), StatusCode::CREATED);
    assert_eq!(e.objects_of(&s).await.len(), 2);
    let res = client()
        .delete(e.d.url(&format!("/api/session/{s}")))
        .send()
        .await
        .expect("reset");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        e.objects_of(&s).await,
        Vec::<String>::new(),
        "client reset deletes the objects"
    );
    assert_eq!(e.objects_of(&keep).await.len(), 1, "other sessions keep theirs");

    // Administrator reset (through the same service, as the console does it).
    let objects_handle = sessiond_core::storage::from_settings(&e.settings.storage)
        .await
        .expect("objects");
    let (writer, handle) =
        sessiond_core::writer::BatchWriter::spawn(e.store.clone(), sessiond_core::writer::WriterOptions::default());
    let sessions = sessiond_core::session::SessionService::new(
        e.store.clone(),
        writer,
        sessiond_core::domain::Timeouts::new(Duration::from_secs(3600), Duration::from_secs(7200)),
    )
    .with_objects(objects_handle);
    let origin = sessiond_core::audit::Origin {
        request_id: "admin-test".into(),
        ip: None,
        user_agent: None,
        actor: sessiond_core::audit::Actor::Admin("ops".into()),
    };
    sessions.reset(&origin, &keep).await.expect("admin reset");
    assert_eq!(
        e.objects_of(&keep).await,
        Vec::<String>::new(),
        "admin reset deletes the objects"
    );
    handle.shutdown().await;
}

async fn upload_gc_removes_orphans_only(kind: DbKind, objects: Objects) {
    let e = env(kind, objects, |_| {}).await;
    let s = e.generate().await;
    assert_eq!(e.upload(&s, "kept.pdf", &pdf(300)).await.status(), StatusCode::CREATED);
    // An object without a row (a crash between storing and committing), and a spool leftover.
    let sid: Uuid = s.parse().expect("uuid");
    let orphan = upload_key(sid, Uuid::new_v4());
    let tmp = e.objects.spool_dir().join("leftover.part");
    std::fs::write(&tmp, pdf(200)).expect("spool leftover");
    let src = e.objects.spool_dir().join("orphan-src.part");
    std::fs::write(&src, pdf(200)).expect("orphan source");
    e.objects.put_file(&orphan, &src, 200).await.expect("put orphan");
    let _ = std::fs::remove_file(&src);
    assert_eq!(e.objects_of(&s).await.len(), 2);

    // Young orphans are kept (an upload may be about to commit its row).
    let report = upload_gc(e.store.as_ref(), e.objects.as_ref(), UPLOAD_GC_AGE)
        .await
        .expect("gc");
    assert_eq!((report.scanned, report.deleted, report.kept_young), (2, 0, 1));
    assert_eq!(report.spool_deleted, 0);
    assert_eq!(e.objects_of(&s).await.len(), 2);

    // Past the age, the orphan and the leftover go; the upload with a row stays.
    let report = upload_gc(e.store.as_ref(), e.objects.as_ref(), Duration::ZERO)
        .await
        .expect("gc");
    assert_eq!((report.scanned, report.deleted, report.spool_deleted), (2, 1, 1));
    let left = e.objects_of(&s).await;
    assert_eq!(left.len(), 1);
    assert_ne!(left[0], orphan);
    assert!(!tmp.exists());
    let list: Value = client()
        .get(e.d.url(&format!("/api/session/{s}/uploads")))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["uploads"].as_array().map(Vec::len), Some(1));
}

/// Objects are walked a page at a time with one query per page: pages that split sessions
/// and mix rows with orphans still see every object once.
async fn upload_gc_pages_through_every_object(kind: DbKind, objects: Objects) {
    let e = env(kind, objects, |_| {}).await;
    let mut orphans = Vec::new();
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let s = e.generate().await;
        for name in ["one.pdf", "two.pdf"] {
            assert_eq!(e.upload(&s, name, &pdf(300)).await.status(), StatusCode::CREATED);
        }
        let sid: Uuid = s.parse().expect("uuid");
        for _ in 0..2 {
            let key = upload_key(sid, Uuid::new_v4());
            let src = e.objects.spool_dir().join(format!("{}.part", Uuid::new_v4()));
            std::fs::write(&src, pdf(200)).expect("orphan source");
            e.objects.put_file(&key, &src, 200).await.expect("put orphan");
            let _ = std::fs::remove_file(&src);
            orphans.push(key);
        }
        sessions.push(s);
    }
    for page in [1, 3, 4] {
        let report = upload_gc_paged(e.store.as_ref(), e.objects.as_ref(), UPLOAD_GC_AGE, page)
            .await
            .expect("gc");
        assert_eq!(
            (report.scanned, report.deleted, report.kept_young),
            (12, 0, 6),
            "page {page}"
        );
    }
    let report = upload_gc_paged(e.store.as_ref(), e.objects.as_ref(), Duration::ZERO, 4)
        .await
        .expect("gc");
    assert_eq!((report.scanned, report.deleted, report.kept_young), (12, 6, 0));
    for s in &sessions {
        let left = e.objects_of(s).await;
        assert_eq!(left.len(), 2, "{s} keeps its uploads");
        assert!(left.iter().all(|k| !orphans.contains(k)), "{left:?}");
    }
}

async fn storage_down_is_503(kind: DbKind) {
    let mut e = env(kind, Objects::S3, |_| {}).await;
    let s = e.generate().await;
    assert_eq!(
        e.upload(&s, "before.pdf", &pdf(300)).await.status(),
        StatusCode::CREATED
    );
    e.moto.as_mut().expect("moto").stop().await;

    let res = e.upload(&s, "during.pdf", &pdf(MAX)).await;
    assert_eq!(
        res.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert_problem(res, 503, "storage_unavailable").await;
    let sid: Uuid = s.parse().expect("uuid");
    // Only the upload from before is in the database, and nothing is spooled.
    let rows = e.store.list_uploads(sid).await.expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].filename, "before.pdf");
    assert_eq!(e.spool_files(), Vec::<String>::new());
    assert_eq!(e.events(&s, EventType::UploadAccepted).await.len(), 1);
    let errors = events_of(e.store.as_ref(), EventType::RequestError.as_str()).await;
    assert!(errors.iter().any(|ev| ev.metadata["code"] == "storage_unavailable"));

    // Downloads and readiness say which part failed.
    let res = client()
        .get(e.d.url(&format!("/api/session/{s}/uploads/{}", rows[0].id)))
        .send()
        .await
        .expect("download");
    assert_problem(res, 503, "storage_unavailable").await;
    let res = client().get(e.d.url("/readyz")).send().await.expect("readyz");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["failing"], serde_json::json!(["storage"]));
    assert_eq!(body["database"], "ok");
}

/// The row is refused at commit (the session was reset while its upload streamed in): the
/// object already stored is deleted again, and the client is told the session is gone.
async fn reset_during_upload_deletes_the_object(kind: DbKind, objects: Objects) {
    use tokio::io::AsyncReadExt;
    let e = env(kind, objects, |_| {}).await;
    let s = e.generate().await;
    let content = pdf(1024 * 1024);
    let (ct, body) = multipart(&[("file", Some("a.pdf"), "application/pdf", &content)]);
    let head = format!(
        "POST /api/session/{s}/uploads HTTP/1.1\r\nHost: t\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(e.d.addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(&body[..body.len() / 2]).await.expect("half the body");
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.spool_files().is_empty() {
        assert!(Instant::now() < deadline, "the upload never started spooling");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let res = client()
        .delete(e.d.url(&format!("/api/session/{s}")))
        .send()
        .await
        .expect("reset");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    stream
        .write_all(&body[body.len() / 2..])
        .await
        .expect("rest of the body");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 410"), "{answer}");
    assert!(answer.contains("\"code\":\"session_revoked\""), "{answer}");
    e.assert_nothing_for(&s, "a reset during the upload").await;
    assert!(e.events(&s, EventType::UploadAccepted).await.is_empty());
}
