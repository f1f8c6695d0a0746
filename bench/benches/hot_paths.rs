//! criterion microbenchmarks of the hot pieces: strict UUID parsing, problem rendering, the GCRA
//! check of the memory rate limiter, and the group-commit batch writer committing to SQLite
//! (events/s, durable).
//!
//!   cargo bench -p sessiond-bench

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sessiond::problem::ApiError;
use sessiond_core::audit::{EventType, NewEvent, Origin, Severity};
use sessiond_core::config::{DatabaseSettings, SecretUrl};
use sessiond_core::domain::now_millis;
use sessiond_core::id::parse_session_id;
use sessiond_core::store::WriteOp;
use sessiond_core::writer::{BatchWriter, WriterOptions};

fn uuid_parsing(c: &mut Criterion) {
    let good = "3f2b6c1e-8a4d-4e2f-9b7c-1d2e3f4a5b6c";
    let bad = "3f2b6c1e-8a4d-1e2f-9b7c-1d2e3f4a5b6c";
    let mut g = c.benchmark_group("uuid_parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("valid", |b| b.iter(|| parse_session_id(std::hint::black_box(good))));
    g.bench_function("wrong_version", |b| {
        b.iter(|| parse_session_id(std::hint::black_box(bad)))
    });
    g.finish();
}

fn problem_rendering(c: &mut Criterion) {
    c.bench_function("problem_render_session_not_found", |b| {
        b.iter(|| ApiError::SessionNotFound.into_response(std::hint::black_box("0123456789abcdef0123456789abcdef")))
    });
}

fn gcra_check(c: &mut Criterion) {
    use sessiond::ratelimit::memory::MemoryBackend;
    use sessiond::ratelimit::{ClassQuotas, ClockShift};
    use sessiond::routes::RouteClass;
    let settings = sessiond_core::config::RateLimitSettings::default();
    let limiter = MemoryBackend::new(&ClassQuotas::from_settings(&settings), ClockShift::default());
    let mut g = c.benchmark_group("gcra_check");
    g.throughput(Throughput::Elements(1));
    // One client over and over (the key exists; mostly refusals once its burst is spent).
    let one: std::net::IpAddr = [203, 0, 113, 7].into();
    g.bench_function("same_client", |b| {
        b.iter(|| limiter.check(RouteClass::Validate, std::hint::black_box(one)))
    });
    // A new client each time (a key inserted per check, as under a flood of addresses).
    let mut n: u32 = 0;
    g.bench_function("new_client", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let ip: std::net::IpAddr = std::net::Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff)).into();
            limiter.check(RouteClass::Validate, std::hint::black_box(ip))
        })
    });
    g.finish();
}

fn audit_writer(c: &mut Criterion) {
    audit_writer_with(c, false);
    audit_writer_with(c, true);
}

/// The per-event CPU cost of the tamper-evident chain (docs/audit.md): one link over 512
/// validation events like the API writes (IP, user agent, session, request id).
fn audit_chain_link(c: &mut Criterion) {
    use sessiond_core::audit_chain::{ChainKeys, EventView, GENESIS, LinkBuilder};
    let keys = ChainKeys::new("k1", b"bench-key-0123456789abcdef0123456789");
    let origin = Origin {
        request_id: "0f5c3a9e-8d1b-4c7e-9a2f-6b3d1e8c4a70".into(),
        ip: Some("198.51.100.23".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36".into()),
        actor: sessiond_core::audit::Actor::Client,
    };
    let events: Vec<NewEvent> = (0..512)
        .map(|_| {
            NewEvent::new(
                &origin,
                now_millis(),
                EventType::SessionValidated,
                Severity::Info,
                Some(uuid::Uuid::new_v4()),
                serde_json::json!({}),
            )
        })
        .collect();
    let mut g = c.benchmark_group("audit_chain");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("link_of_512_validation_events", |b| {
        b.iter(|| {
            let key = keys.current();
            let mut link = LinkBuilder::new(key);
            for (i, e) in events.iter().enumerate() {
                link.push_new(key, &EventView::of_new(i as i64 + 1, e, &e.metadata));
            }
            std::hint::black_box(link.finish(key, 0, &GENESIS))
        })
    });
    g.finish();
}

fn audit_writer_with(c: &mut Criterion, chained: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = DatabaseSettings {
        url: SecretUrl::new(format!("sqlite://{}", dir.path().join("bench.db").display())),
        max_connections: 4,
        ..Default::default()
    };
    let store = rt.block_on(async {
        let s = sessiond_core::store::connect(&settings).await.expect("connect");
        s.migrate().await.expect("migrate");
        if chained {
            s.set_chain_keys(Some(Arc::new(sessiond_core::audit_chain::ChainKeys::new(
                "k1",
                b"bench-key-0123456789abcdef0123456789",
            ))));
        }
        s
    });
    let (writer, _handle) = rt.block_on(async { BatchWriter::spawn(store.clone(), WriterOptions::default()) });
    let writer = Arc::new(writer);
    let origin = Origin::system("bench");
    const CONCURRENT: u64 = 256;
    let mut g = c.benchmark_group(if chained {
        "audit_writer_sqlite_chained"
    } else {
        "audit_writer_sqlite"
    });
    g.throughput(Throughput::Elements(CONCURRENT));
    g.sample_size(20);
    g.bench_function("256_concurrent_events_committed", |b| {
        b.to_async(&rt).iter_batched(
            || {
                (0..CONCURRENT)
                    .map(|_| {
                        NewEvent::new(
                            &origin,
                            now_millis(),
                            EventType::SessionValidated,
                            Severity::Info,
                            None,
                            serde_json::json!({}),
                        )
                    })
                    .collect::<Vec<_>>()
            },
            |events| {
                let writer = writer.clone();
                async move {
                    let mut tasks = Vec::with_capacity(events.len());
                    for e in events {
                        let w = writer.clone();
                        tasks.push(tokio::spawn(async move { w.submit(vec![WriteOp::Event(e)]).await }));
                    }
                    for t in tasks {
                        let _ = t.await;
                    }
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(
    benches,
    uuid_parsing,
    problem_rendering,
    gcra_check,
    audit_writer,
    audit_chain_link
);
criterion_main!(benches);
