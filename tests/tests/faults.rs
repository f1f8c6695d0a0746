//! Failing dependencies (issue 16): the daemon's PostgreSQL, Redis, S3 (moto) and SMTP
//! (aiosmtpd) each reached through a [`FaultProxy`] that the test cuts (RST), stalls (accepts,
//! never answers) and restores, on SQLite and PostgreSQL where a store is involved. Every
//! answer is bounded in time, no change lands after its client was told it failed, and
//! everything queued is finished once the dependency returns, without a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use sessiond_core::Settings;
use sessiond_core::config::{HumanDuration, RedisFailure, SecretUrl};
use sessiond_core::jobs::{JobContext, RunOutcome, find, run_job};
use sessiond_core::storage::{ObjectStore, session_prefix};
use sessiond_core::store::Store;
use sessiond_core::store::deletions::PendingDeletion;
use sessiond_tests::faultproxy::{Fault, FaultProxy, url_addr};
use sessiond_tests::s3::Moto;
use sessiond_tests::smtp::SmtpServer;
use sessiond_tests::{DbKind, TestDaemon, TestDb, client, on_both_backends, poll};
use uuid::Uuid;

on_both_backends!(
    stalled_s3_is_503_in_time_and_nothing_lands_later,
    an_upload_answered_408_never_commits_later,
    cut_s3_deletes_and_resets_are_queued_and_finished_later,
    stalled_smtp_times_out_and_mail_goes_out_when_it_returns,
);

/// `storage.operation_timeout` in these tests.
const OP_TIMEOUT: Duration = Duration::from_secs(1);
/// Room over a timeout for the rest of a request (audit write, scheduling on a busy machine).
const SLACK: Duration = Duration::from_secs(4);

/// A daemon whose object store is moto behind a fault proxy.
struct S3Env {
    db: TestDb,
    d: TestDaemon,
    /// The daemon's settings (S3 through the proxy).
    settings: Settings,
    store: Arc<dyn Store>,
    /// moto itself, bypassing the proxy: what is really stored.
    direct: Arc<dyn ObjectStore>,
    proxy: FaultProxy,
    _moto: Moto,
}

async fn s3_env(kind: DbKind) -> S3Env {
    s3_env_with(kind, |_| {}).await
}

async fn s3_env_with(kind: DbKind, adjust: impl FnOnce(&mut Settings)) -> S3Env {
    let db = TestDb::new(kind).await;
    let moto = Moto::start().await;
    moto.create_bucket("faults").await;
    let proxy = FaultProxy::in_front_of_url(&moto.endpoint).await;
    let mut direct_settings = db.settings();
    moto.configure(&mut direct_settings, "faults");
    let mut settings = direct_settings.clone();
    settings.storage.s3.endpoint = Some(proxy.rewrite_url(&moto.endpoint));
    settings.storage.operation_timeout = HumanDuration(OP_TIMEOUT);
    adjust(&mut settings);
    let d = TestDaemon::start(settings.clone()).await;
    let direct = sessiond_core::storage::from_settings(&direct_settings.storage)
        .await
        .expect("direct object store");
    let store = db.store().await;
    S3Env {
        db,
        d,
        settings,
        store,
        direct,
        proxy,
        _moto: moto,
    }
}

impl S3Env {
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

    async fn upload(&self, session: &str, name: &str, size: usize) -> reqwest::Response {
        let boundary = "faultsboundary0123456789";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/pdf\r\n\r\n"
        )
        .into_bytes();
        let mut content = b"%PDF-1.7\n".to_vec();
        content.resize(size, b'x');
        body.extend_from_slice(&content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        client()
            .post(self.d.url(&format!("/api/session/{session}/uploads")))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .expect("upload")
    }

    async fn uploaded(&self, session: &str, name: &str) -> Uuid {
        let res = self.upload(session, name, 2000).await;
        assert_eq!(res.status(), StatusCode::CREATED, "upload {name}");
        let body: Value = res.json().await.expect("json");
        body["id"].as_str().expect("id").parse().expect("uuid")
    }

    /// Keys really stored under `session` (asked of moto directly).
    async fn stored(&self, session: &str) -> Vec<String> {
        let id: Uuid = session.parse().expect("uuid");
        let mut keys: Vec<String> = self
            .direct
            .list(&session_prefix(id))
            .await
            .expect("list moto")
            .into_iter()
            .map(|o| o.key)
            .collect();
        keys.sort();
        keys
    }

    async fn rows(&self, session: &str) -> Vec<String> {
        let id: Uuid = session.parse().expect("uuid");
        let mut names: Vec<String> = self
            .store
            .list_uploads(id)
            .await
            .expect("rows")
            .into_iter()
            .map(|u| u.filename)
            .collect();
        names.sort();
        names
    }

    async fn pending(&self) -> Vec<PendingDeletion> {
        self.store.list_object_deletions(100).await.expect("pending deletions")
    }

    /// What the daemon's `object_deletion` job would do now (same settings, through the proxy).
    async fn run_deletion_job(&self) -> RunOutcome {
        let ctx = job_ctx(&self.db, self.settings.clone()).await;
        run_job(&ctx, find("object_deletion").expect("job"))
            .await
            .expect("run job")
    }
}

async fn job_ctx(db: &TestDb, settings: Settings) -> JobContext {
    sessiond::jobs::job_context(Arc::new(settings), db.store().await)
        .await
        .expect("job context")
}

async fn timed(
    what: &str,
    limit: Duration,
    fut: impl std::future::Future<Output = reqwest::Response>,
) -> reqwest::Response {
    let t = Instant::now();
    let res = fut.await;
    eprintln!("{what}: answered {} in {:?}", res.status(), t.elapsed());
    assert!(t.elapsed() <= limit, "{what} took {:?} (limit {limit:?})", t.elapsed());
    res
}

async fn assert_problem(res: reqwest::Response, status: u16, code: &str) {
    assert_eq!(res.status().as_u16(), status, "status for {code}");
    let body: Value = res.json().await.expect("problem json");
    assert_eq!(body["code"], code, "{body}");
}

/// S3 accepts connections and never answers: upload, download and `/readyz` answer 503 within
/// `storage.operation_timeout` (plus slack), a delete answers 204 (its row is gone, its object
/// queued), and once S3 answers again nothing of the failed upload lands (no row; its object,
/// should the held bytes reach the store, is deleted by the job), and a retry is not a duplicate.
async fn stalled_s3_is_503_in_time_and_nothing_lands_later(kind: DbKind) {
    let e = s3_env(kind).await;
    let s = e.generate().await;
    let before = e.uploaded(&s, "before.pdf").await;
    let limit = OP_TIMEOUT + SLACK;

    e.proxy.set(Fault::Stall);
    let res = timed("a stalled upload", limit, e.upload(&s, "during.pdf", 300_000)).await;
    assert_problem(res, 503, "storage_unavailable").await;
    let download = client().get(e.d.url(&format!("/api/session/{s}/uploads/{before}")));
    let res = timed("a stalled download", limit, async {
        download.send().await.expect("download")
    })
    .await;
    assert_problem(res, 503, "storage_unavailable").await;
    let res = timed("a stalled /readyz", limit, async {
        client().get(e.d.url("/readyz")).send().await.expect("readyz")
    })
    .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["failing"], serde_json::json!(["storage"]), "{body}");
    let delete = client().delete(e.d.url(&format!("/api/session/{s}/uploads/{before}")));
    let res = timed("a stalled delete", limit, async {
        delete.send().await.expect("delete")
    })
    .await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "the row is gone and its object queued"
    );
    assert_eq!(e.rows(&s).await, Vec::<String>::new(), "no row after the delete");
    let queued: Vec<String> = e.pending().await.into_iter().map(|p| p.target).collect();
    assert_eq!(
        queued.len(),
        2,
        "the deleted upload's object and the failed upload's: {queued:?}"
    );

    // S3 answers again; the bytes the proxy held reach moto now. Whatever lands, no row does.
    e.proxy.set(Fault::Pass);
    let ready = || async { client().get(e.d.url("/readyz")).send().await.expect("readyz").status() == StatusCode::OK };
    poll("readiness after S3 returns", Duration::from_secs(15), ready).await;
    assert_eq!(
        e.rows(&s).await,
        Vec::<String>::new(),
        "the failed upload never committed"
    );
    match e.run_deletion_job().await {
        RunOutcome::Succeeded { counts, .. } => assert_eq!(counts["records_done"], 2, "{counts:?}"),
        other => panic!("object_deletion: {other:?}"),
    }
    assert_eq!(e.stored(&s).await, Vec::<String>::new(), "no object without a row");
    assert!(e.pending().await.is_empty());

    // A retry stores it once.
    let retried = e.uploaded(&s, "during.pdf").await;
    assert_eq!(e.rows(&s).await, ["during.pdf"]);
    let id: Uuid = s.parse().expect("uuid");
    assert_eq!(e.stored(&s).await, [sessiond_core::storage::upload_key(id, retried)]);
    let accepted = e
        .store
        .list_audit(&sessiond_core::audit::AuditQuery {
            session_id: Some(id),
            event_type: Some("upload.accepted".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(
        accepted.len(),
        2,
        "before.pdf and the retry, nothing for the failed attempt"
    );
}

/// The issue's own scenario: the request deadline (here 1 s, under a 10 s store timeout, which
/// validation would refuse but a test may set) answers `408` while the store holds the PUT.
/// When the store answers later, the PUT completes, but no row is committed: the object is
/// deleted again and `upload.aborted` (`request_ended`) recorded.
async fn an_upload_answered_408_never_commits_later(kind: DbKind) {
    // An upload's deadline is `uploads.total_timeout` (not `server.request_timeout`).
    let e = s3_env_with(kind, |s| {
        s.uploads.idle_timeout = HumanDuration(Duration::from_secs(1));
        s.uploads.total_timeout = HumanDuration(Duration::from_secs(1));
        s.storage.operation_timeout = HumanDuration(Duration::from_secs(10));
    })
    .await;
    let s = e.generate().await;
    e.proxy.set(Fault::Stall);
    let res = timed(
        "an upload past the request deadline",
        SLACK,
        e.upload(&s, "late.pdf", 300_000),
    )
    .await;
    assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    e.proxy.set(Fault::Pass);
    let id: Uuid = s.parse().expect("uuid");
    poll(
        "the abandoned upload to be settled",
        Duration::from_secs(20),
        || async {
            !e.store
                .list_audit(&sessiond_core::audit::AuditQuery {
                    session_id: Some(id),
                    event_type: Some("upload.aborted".into()),
                    limit: 10,
                    ..Default::default()
                })
                .await
                .expect("audit")
                .is_empty()
        },
    )
    .await;
    assert_eq!(e.rows(&s).await, Vec::<String>::new(), "no row after the 408");
    assert_eq!(e.stored(&s).await, Vec::<String>::new(), "the late object was deleted");
    assert!(e.pending().await.is_empty(), "deleted at once, nothing left queued");
}

/// S3 resets every connection: deleting an upload and resetting a session both succeed (the
/// rows change, the objects are queued in the same transaction); the `object_deletion` job
/// fails while S3 is away and backs off, and deletes everything once it is back.
async fn cut_s3_deletes_and_resets_are_queued_and_finished_later(kind: DbKind) {
    let e = s3_env(kind).await;
    let s = e.generate().await;
    let r = e.generate().await;
    let a = e.uploaded(&s, "a.pdf").await;
    let b = e.uploaded(&s, "b.pdf").await;
    e.uploaded(&r, "c.pdf").await;
    e.uploaded(&r, "d.pdf").await;
    let sid: Uuid = s.parse().expect("uuid");

    e.proxy.set(Fault::Cut);
    let limit = OP_TIMEOUT + SLACK;
    let delete = client().delete(e.d.url(&format!("/api/session/{s}/uploads/{a}")));
    let res = timed("a delete with S3 cut", limit, async {
        delete.send().await.expect("delete")
    })
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let reset = client().delete(e.d.url(&format!("/api/session/{r}")));
    let res = timed("a reset with S3 cut", limit, async {
        reset.send().await.expect("reset")
    })
    .await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "the session is revoked and its objects queued"
    );
    assert_eq!(e.d.validate(&r).await.status(), StatusCode::GONE, "revoked");
    assert_eq!(e.rows(&s).await, ["b.pdf"], "the deleted upload is not listed");
    assert_eq!(e.stored(&s).await.len(), 2, "its object is still in S3");
    assert_eq!(
        e.stored(&r).await.len(),
        2,
        "the reset session's objects are still in S3"
    );
    let mut queued: Vec<(String, String)> = e.pending().await.into_iter().map(|p| (p.reason, p.target)).collect();
    queued.sort();
    assert_eq!(
        queued,
        [
            ("session_reset".to_owned(), session_prefix(r.parse().expect("uuid"))),
            ("upload_deleted".to_owned(), sessiond_core::storage::upload_key(sid, a)),
        ]
    );

    // While S3 is away the job fails, records the attempt and backs off.
    match e.run_deletion_job().await {
        RunOutcome::Failed { error, .. } => assert!(error.contains("failed"), "{error}"),
        other => panic!("object_deletion with S3 cut: {other:?}"),
    }
    let failed: Vec<PendingDeletion> = e.pending().await.into_iter().filter(|p| p.attempts > 0).collect();
    assert_eq!(failed.len(), 1, "the run stops at its first failure");
    assert!(failed[0].last_error.is_some());
    assert!(failed[0].next_attempt_at > sessiond_core::domain::now_millis() + chrono::Duration::seconds(20));

    // S3 is back: what is due goes now, the backed-off record when its time comes.
    e.proxy.set(Fault::Pass);
    match e.run_deletion_job().await {
        RunOutcome::Succeeded { counts, .. } => assert_eq!(counts["records_done"], 1, "{counts:?}"),
        other => panic!("object_deletion: {other:?}"),
    }
    e.db.exec("UPDATE pending_object_deletions SET next_attempt_at = 0")
        .await;
    match e.run_deletion_job().await {
        RunOutcome::Succeeded { counts, .. } => assert_eq!(counts["records_done"], 1, "{counts:?}"),
        other => panic!("object_deletion: {other:?}"),
    }
    assert!(e.pending().await.is_empty());
    assert_eq!(e.stored(&s).await, [sessiond_core::storage::upload_key(sid, b)]);
    assert_eq!(e.stored(&r).await, Vec::<String>::new());
    // The kept upload is still served whole.
    let res = client()
        .get(e.d.url(&format!("/api/session/{s}/uploads/{b}")))
        .send()
        .await
        .expect("download");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.expect("body").len(), 2000);
}

/// SMTP accepts connections and never answers: the sender's attempt fails within lettre's
/// timeout (15 s), the mail stays pending with its attempt recorded, and once SMTP answers it
/// goes out exactly once.
async fn stalled_smtp_times_out_and_mail_goes_out_when_it_returns(kind: DbKind) {
    use sessiond_core::audit::{EventType, NewEvent, Origin, Severity};
    use sessiond_core::store::WriteOp;
    let db = TestDb::new(kind).await;
    let smtp = SmtpServer::start(db.dir.path()).await;
    let proxy = FaultProxy::in_front_of_url(&smtp.url()).await;
    let mut settings = db.settings();
    settings.email.enabled = true;
    settings.email.smtp_url = SecretUrl::new(proxy.rewrite_url(&smtp.url()));
    settings.email.from = "sessiond@test.invalid".into();
    settings.email.to = vec!["ops@test.invalid".into()];
    let store = db.store().await;
    let jobs = job_ctx(&db, settings).await;
    // A critical alert queues its mail at once.
    let origin = Origin::system("faults");
    let ops: Vec<WriteOp> = (0..6)
        .map(|_| {
            let mut e = NewEvent::new(
                &origin,
                sessiond_core::domain::now_millis(),
                EventType::RequestError,
                Severity::Warning,
                None,
                serde_json::json!({}),
            );
            e.ip = Some("198.51.100.9".into());
            WriteOp::Event(e)
        })
        .collect();
    store.commit_batch(&ops).await.expect("events");
    let run = |name: &'static str| {
        let jobs = jobs.clone();
        async move {
            match run_job(&jobs, find(name).expect("job")).await.expect("run") {
                RunOutcome::Succeeded { counts, .. } => counts,
                other => panic!("{name}: {other:?}"),
            }
        }
    };
    assert_eq!(run("alert_detection").await["emails_queued"], 1);

    proxy.set(Fault::Stall);
    let t = Instant::now();
    let counts = run("notification_sender").await;
    assert_eq!(
        (counts["sent"].clone(), counts["failed"].clone()),
        (serde_json::json!(0), serde_json::json!(1))
    );
    assert!(t.elapsed() < Duration::from_secs(15) + SLACK, "took {:?}", t.elapsed());
    let outbox = store.list_notifications(10).await.expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!((outbox[0].status.as_str(), outbox[0].attempts), ("pending", 1));
    assert!(smtp.messages().is_empty());

    proxy.set(Fault::Pass);
    let later = sessiond_core::domain::now_millis() + chrono::Duration::hours(1);
    let counts = sessiond_core::mailer::deliver_pending(&jobs, 0, later)
        .await
        .expect("send");
    assert_eq!(counts["sent"], 1);
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1);
    let counts = sessiond_core::mailer::deliver_pending(&jobs, 0, later)
        .await
        .expect("send");
    assert_eq!(counts["sent"], 0, "sent once");
}

/// PostgreSQL through the proxy: cut, every request is `503 database_unavailable` and
/// `/readyz` says so; stalled, requests and `/readyz` still answer 503 in bounded time; once it
/// is back the same daemon serves again, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_and_stall_are_503_and_recover_without_restart() {
    let db = TestDb::new(DbKind::Postgres).await;
    let proxy = FaultProxy::start(url_addr(&db.url)).await;
    let mut settings = db.settings();
    settings.database.url = SecretUrl::new(proxy.rewrite_url(&db.url));
    settings.storage.operation_timeout = HumanDuration(OP_TIMEOUT);
    let d = TestDaemon::start(settings).await;
    let generate = || async {
        client()
            .post(d.url("/api/session/generate-uuid"))
            .send()
            .await
            .expect("generate")
    };
    let readyz = || async { client().get(d.url("/readyz")).send().await.expect("readyz") };
    assert_eq!(generate().await.status(), StatusCode::CREATED);

    for fault in [Fault::Cut, Fault::Stall] {
        proxy.set(fault);
        let res = timed(
            &format!("generate, database {fault:?}"),
            Duration::from_secs(12),
            generate(),
        )
        .await;
        assert_problem(res, 503, "database_unavailable").await;
        let res = timed(&format!("/readyz, database {fault:?}"), OP_TIMEOUT + SLACK, readyz()).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["failing"], serde_json::json!(["database"]), "{body}");

        proxy.set(Fault::Pass);
        poll("the daemon serving again", Duration::from_secs(30), || async {
            generate().await.status() == StatusCode::CREATED
        })
        .await;
        assert_eq!(readyz().await.status(), StatusCode::OK);
    }
    d.stop().await;
}

/// Redis through the proxy: cut or stalled, the limiter answers within its timeout and does
/// what `rate_limit.redis_failure` says: `open` lets requests through, `closed` refuses them
/// with 429; when Redis answers again limiting resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cut_and_stall_follow_redis_failure() {
    let db = TestDb::new(DbKind::Sqlite).await;
    for failure in [RedisFailure::Open, RedisFailure::Closed] {
        sessiond_tests::ratelimit::require_redis().await;
        let redis = sessiond_tests::ratelimit::redis_url();
        let proxy = FaultProxy::in_front_of_url(&redis).await;
        let mut settings = db.settings();
        settings.rate_limit.enabled = true;
        settings.rate_limit.backend = sessiond_core::config::RateLimitBackend::Redis;
        settings.rate_limit.redis_url = Some(SecretUrl::new(proxy.rewrite_url(&redis)));
        settings.rate_limit.redis_key_prefix = sessiond_tests::ratelimit::unique_prefix();
        settings.rate_limit.redis_failure = failure;
        let d = TestDaemon::start(settings).await;
        let generate = || async {
            client()
                .post(d.url("/api/session/generate-uuid"))
                .send()
                .await
                .expect("generate")
        };
        let res = generate().await;
        assert_eq!(res.status(), StatusCode::CREATED);
        assert!(res.headers().contains_key("ratelimit-limit"));
        let expected = match failure {
            RedisFailure::Open => StatusCode::CREATED,
            RedisFailure::Closed => StatusCode::TOO_MANY_REQUESTS,
        };
        for fault in [Fault::Cut, Fault::Stall] {
            proxy.set(fault);
            let res = timed(&format!("generate, Redis {fault:?}"), SLACK, generate()).await;
            assert_eq!(res.status(), expected, "{failure:?}, {fault:?}");
            proxy.set(Fault::Pass);
            poll("limiting to resume", Duration::from_secs(20), || async {
                let res = generate().await;
                res.status() == StatusCode::CREATED && (res.headers().contains_key("ratelimit-limit"))
            })
            .await;
        }
        d.stop().await;
    }
}
