//! The group-commit writer. Requests hand it their writes (audit events, validations,
//! `last_seen_at` refreshes, new sessions); one loop commits whatever has queued up as one transaction and
//! wakes each request when its writes are durable. Under load a single fsync covers many
//! requests; when idle a write commits at once. A failed batch fails every request in it:
//! nothing is acknowledged that is not stored — except that a value the database refuses
//! fails only the request that sent it (the batch is retried in halves without it).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{OpOutcome, Store, StoreError, SyncCommit, WriteOp};

/// Why a submission was not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The batch's transaction failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer has shut down (the daemon is stopping).
    #[error("the batch writer is shut down")]
    Closed,
}

/// Whether the writer's commits work: what `/readyz` and the metrics report. A refused value
/// ([`StoreError::Rejected`]) is one request's fault and says nothing about the database.
#[derive(Debug, Default)]
pub struct WriteHealth {
    failing: std::sync::Mutex<Option<WriteFailure>>,
    failures: std::sync::atomic::AtomicU64,
}

/// Commits have failed since `since`, the last one with `error`.
#[derive(Debug, Clone)]
pub struct WriteFailure {
    /// When the first failure of this run of failures happened.
    pub since: chrono::DateTime<chrono::Utc>,
    /// The last failure's cause (for the log and metrics labels, never for clients).
    pub error: String,
}

impl WriteHealth {
    /// `Some` while the last commit failed.
    pub fn failing(&self) -> Option<WriteFailure> {
        self.failing.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Failed commits since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A commit worked.
    pub fn record_ok(&self) {
        *self.failing.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// A commit failed with `e`.
    pub fn record_failure(&self, e: &StoreError) {
        if matches!(e, StoreError::Rejected(_)) {
            return;
        }
        self.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        let since = failing.as_ref().map_or_else(crate::domain::now_millis, |f| f.since);
        *failing = Some(WriteFailure {
            since,
            error: e.to_string(),
        });
    }
}

/// Called with the number of ops in each committed batch (for metrics).
pub type BatchObserver = Arc<dyn Fn(usize) + Send + Sync>;

/// Tuning of the writer.
#[derive(Clone)]
pub struct WriterOptions {
    /// Most ops committed in one transaction.
    pub max_batch_ops: usize,
    /// Submissions queued before `submit` waits.
    pub queue: usize,
    /// Metrics hook.
    pub observer: Option<BatchObserver>,
    /// Batches committed at once by a writer on the runtime (PostgreSQL): while one batch's
    /// statements are on the wire, the next one's look-ups go out on another connection, as
    /// they would from another daemon. The writer on a thread (SQLite) commits one at a time.
    pub pipeline: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            max_batch_ops: 512,
            queue: 8192,
            observer: None,
            pipeline: 1,
        }
    }
}

struct Job {
    ops: Vec<WriteOp>,
    done: oneshot::Sender<Result<Vec<OpOutcome>, WriteError>>,
}

enum Msg {
    Job(Job),
    /// Refuse new submissions; commit what is queued, then end.
    Stop,
}

/// Handle for submitting writes; cheap to clone.
#[derive(Clone)]
pub struct BatchWriter {
    tx: mpsc::Sender<Msg>,
    health: Arc<WriteHealth>,
}

/// Owns the writer; [`WriterHandle::shutdown`] flushes what is queued and stops it.
pub struct WriterHandle {
    tx: mpsc::Sender<Msg>,
    finished: Finished,
}

enum Finished {
    Task(JoinHandle<()>),
    Thread(oneshot::Receiver<()>),
}

impl BatchWriter {
    /// Start the writer. With a store that commits synchronously (SQLite) it runs on a thread
    /// of its own, so a batch is one hand-off from the requests and one back; otherwise it is
    /// a task on the current runtime.
    pub fn spawn(store: Arc<dyn Store>, options: WriterOptions) -> (BatchWriter, WriterHandle) {
        match store.sync_committer() {
            Some(committer) => Self::spawn_thread(committer, options),
            None => {
                let (tx, rx) = mpsc::channel(options.queue.max(1));
                let batcher = Batcher::new(options);
                let health = batcher.health.clone();
                let task = tokio::spawn(run_on_runtime(store, batcher, rx));
                (
                    BatchWriter { tx: tx.clone(), health },
                    WriterHandle {
                        tx,
                        finished: Finished::Task(task),
                    },
                )
            }
        }
    }

    /// The writer on a thread of its own, committing with `committer`.
    fn spawn_thread(committer: Arc<dyn SyncCommit>, options: WriterOptions) -> (BatchWriter, WriterHandle) {
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let batcher = Batcher::new(options);
        let health = batcher.health.clone();
        let (done_tx, done_rx) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("sessiond-writer".into())
            .spawn(move || {
                run_on_thread(committer.as_ref(), batcher, rx);
                let _ = done_tx.send(());
            });
        if let Err(e) = spawned {
            // Without its thread the writer cannot run; every submission then fails as
            // `Closed` (503), which is what a writer that cannot start should do.
            tracing::error!(error = %e, "cannot start the batch writer thread");
        }
        (
            BatchWriter { tx: tx.clone(), health },
            WriterHandle {
                tx,
                finished: Finished::Thread(done_rx),
            },
        )
    }

    /// Whether commits work.
    pub fn health(&self) -> &Arc<WriteHealth> {
        &self.health
    }

    /// Queue `ops` and wait until they are committed. Outcomes come back in order.
    pub async fn submit(&self, ops: Vec<WriteOp>) -> Result<Vec<OpOutcome>, WriteError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Job(Job { ops, done }))
            .await
            .map_err(|_| WriteError::Closed)?;
        wait.await.map_err(|_| WriteError::Closed)?
    }
}

impl WriterHandle {
    /// Stop taking new writes, commit everything already queued, and wait for the writer.
    pub async fn shutdown(self) {
        let _ = self.tx.send(Msg::Stop).await;
        match self.finished {
            Finished::Task(task) => {
                if let Err(e) = task.await {
                    tracing::error!(error = %e, "batch writer task ended abnormally");
                }
            }
            Finished::Thread(done) => {
                if done.await.is_err() {
                    tracing::error!("batch writer thread ended abnormally");
                }
            }
        }
    }
}

/// Gathers queued submissions into one batch and answers each when the batch is done.
struct Batcher {
    options: WriterOptions,
    jobs: Vec<Job>,
    lens: Vec<usize>,
    ops: Vec<WriteOp>,
    /// Parts of the batch still to commit, the next last.
    todo: Vec<Part>,
    /// Parts committed (or failed) with their results.
    done: Vec<(Part, Result<Vec<OpOutcome>, StoreError>)>,
    health: Arc<WriteHealth>,
}

impl Batcher {
    fn new(options: WriterOptions) -> Self {
        Self {
            options,
            jobs: Vec::new(),
            lens: Vec::new(),
            ops: Vec::new(),
            todo: Vec::new(),
            done: Vec::new(),
            health: Arc::new(WriteHealth::default()),
        }
    }

    /// An empty batcher for another batch, with the same options and health.
    fn fresh(&self) -> Self {
        Self {
            health: self.health.clone(),
            ..Self::new(self.options.clone())
        }
    }

    /// Take `msg` and whatever else is queued (up to the batch limit) into a batch; false when
    /// there is nothing to commit.
    fn gather(&mut self, msg: Msg, rx: &mut mpsc::Receiver<Msg>) -> bool {
        let mut next = Some(msg);
        let mut n = 0;
        while let Some(msg) = next.take() {
            match msg {
                Msg::Job(job) => {
                    n += job.ops.len();
                    self.jobs.push(job);
                }
                // Refuse new submissions; what is already queued is still committed.
                Msg::Stop => rx.close(),
            }
            if n < self.options.max_batch_ops {
                next = rx.try_recv().ok();
            }
        }
        for job in &mut self.jobs {
            self.lens.push(job.ops.len());
            self.ops.append(&mut job.ops);
        }
        if self.jobs.is_empty() {
            return false;
        }
        self.todo.push(Part::whole(&self.lens));
        true
    }

    /// The next part of the gathered batch to commit as one transaction: at first the whole
    /// batch. When the database refuses one item's data ([`StoreError::Rejected`]),
    /// [`Batcher::record`] splits the part in halves to be committed each on its own, down to
    /// the submission that holds the item: only that one fails, everyone else's writes commit
    /// (SPEC §4: one request's data never fails another's). Any other failure fails the whole
    /// part, as a transaction that did not commit.
    fn next_part(&mut self) -> Option<(Part, &[WriteOp])> {
        let part = self.todo.pop()?;
        let ops = &self.ops[part.ops.clone()];
        Some((part, ops))
    }

    /// What committing `part` gave.
    fn record(&mut self, part: Part, result: Result<Vec<OpOutcome>, StoreError>) {
        match result {
            Err(StoreError::Rejected(_)) if part.jobs.len() > 1 => {
                let (first, second) = part.halves(&self.lens);
                self.todo.push(second);
                self.todo.push(first);
            }
            result => self.done.push((part, result)),
        }
    }

    /// Hand over the submissions of each committed part with its result.
    fn take(&mut self) -> Vec<Answers> {
        let mut done = std::mem::take(&mut self.done);
        done.sort_by_key(|(part, _)| part.jobs.start);
        let mut jobs = std::mem::take(&mut self.jobs).into_iter();
        let mut lens = std::mem::take(&mut self.lens).into_iter();
        let answers = done
            .into_iter()
            .map(|(part, result)| Answers {
                jobs: jobs.by_ref().take(part.jobs.len()).collect(),
                lens: lens.by_ref().take(part.jobs.len()).collect(),
                ops: part.ops.len(),
                result,
                health: self.health.clone(),
            })
            .collect();
        self.ops.clear();
        answers
    }

    /// Report a part handed on to be answered (the metrics hook). Called after the hand-off so
    /// that whoever watches the hook knows the flush thread has the part.
    fn observe(&self, ops: usize) {
        if let Some(observe) = &self.options.observer {
            observe(ops);
        }
    }
}

/// A run of a batch's submissions committed as one transaction: their indexes and the range
/// of their ops in the batch.
struct Part {
    jobs: std::ops::Range<usize>,
    ops: std::ops::Range<usize>,
}

impl Part {
    fn whole(lens: &[usize]) -> Part {
        Part {
            jobs: 0..lens.len(),
            ops: 0..lens.iter().sum(),
        }
    }

    /// The first and second half of a part of two or more submissions.
    fn halves(&self, lens: &[usize]) -> (Part, Part) {
        let mid = self.jobs.start + self.jobs.len() / 2;
        let split = self.ops.start + lens[self.jobs.start..mid].iter().sum::<usize>();
        (
            Part {
                jobs: self.jobs.start..mid,
                ops: self.ops.start..split,
            },
            Part {
                jobs: mid..self.jobs.end,
                ops: split..self.ops.end,
            },
        )
    }
}

/// The submissions of one batch and what became of it.
struct Answers {
    jobs: Vec<Job>,
    lens: Vec<usize>,
    ops: usize,
    result: Result<Vec<OpOutcome>, StoreError>,
    health: Arc<WriteHealth>,
}

impl Answers {
    /// Answer every submission with its outcomes, or all with the failure.
    fn send(self) {
        match &self.result {
            Ok(_) => self.health.record_ok(),
            Err(e) => self.health.record_failure(e),
        }
        match self.result {
            Ok(outcomes) => {
                let mut outcomes = outcomes.into_iter();
                for (job, len) in self.jobs.into_iter().zip(self.lens) {
                    let _ = job.done.send(Ok(outcomes.by_ref().take(len).collect()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, ops = self.ops, "audit batch failed; its requests get 503");
                for job in self.jobs {
                    let _ = job.done.send(Err(WriteError::Store(e.clone())));
                }
            }
        }
    }
}

/// Commit batches as tasks, up to `options.pipeline` at once. A batch is gathered only when a
/// slot is free, so submissions queue up meanwhile and the next batch is a full one. Batches
/// in flight together hold requests that were in flight together: whichever commits first,
/// no client has seen the other's answer (a client's next request waits for its answer).
async fn run_on_runtime(store: Arc<dyn Store>, batcher: Batcher, mut rx: mpsc::Receiver<Msg>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(batcher.options.pipeline.max(1)));
    let mut running = tokio::task::JoinSet::new();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let Some(msg) = rx.recv().await else {
            break;
        };
        let mut batch = batcher.fresh();
        if !batch.gather(msg, &mut rx) {
            continue;
        }
        let store = store.clone();
        running.spawn(async move {
            while let Some((part, ops)) = batch.next_part() {
                let result = store.commit_batch(ops).await;
                batch.record(part, result);
            }
            for answers in batch.take() {
                let ops = answers.ops;
                answers.send();
                batch.observe(ops);
            }
            drop(slot);
        });
        while let Some(ended) = running.try_join_next() {
            log_abnormal_end(ended);
        }
    }
    // Stopping: every batch already gathered commits and is answered.
    while let Some(ended) = running.join_next().await {
        log_abnormal_end(ended);
    }
}

fn log_abnormal_end(ended: Result<(), tokio::task::JoinError>) {
    // A batch task that panicked dropped its answers: those requests get `Closed` (503).
    if let Err(e) = ended {
        tracing::error!(error = %e, "a batch of the writer ended abnormally");
    }
}

/// Commit batches on this thread and flush them on a second one: while batch N is being
/// fsynced, batch N+1 is committed, and one flush covers every batch committed before it.
/// Each request is answered only after a flush that began after its batch's commit.
fn run_on_thread(committer: &dyn SyncCommit, mut batcher: Batcher, mut rx: mpsc::Receiver<Msg>) {
    let (to_flush, flushing) = std::sync::mpsc::channel::<Answers>();
    std::thread::scope(|scope| {
        let flusher = std::thread::Builder::new()
            .name("sessiond-flush".into())
            .spawn_scoped(scope, move || flush(committer, &flushing));
        if let Err(e) = flusher {
            // Nothing could be acknowledged: end, so every submission fails as `Closed` (503).
            tracing::error!(error = %e, "cannot start the audit flush thread");
            return;
        }
        while let Some(msg) = rx.blocking_recv() {
            if batcher.gather(msg, &mut rx) {
                while let Some((part, ops)) = batcher.next_part() {
                    let result = committer.commit(ops);
                    batcher.record(part, result);
                }
                for answers in batcher.take() {
                    let ops = answers.ops;
                    if let Err(std::sync::mpsc::SendError(mut answers)) = to_flush.send(answers) {
                        // The flush thread is gone (it panicked): nothing is known durable.
                        answers.result = Err(StoreError::Unavailable("the audit flush thread stopped".into()));
                        answers.send();
                    }
                    batcher.observe(ops);
                }
            }
        }
        // The flush thread ends once it has answered everything sent to it.
        drop(to_flush);
    });
}

/// Flush whatever batches have been committed, then answer them; repeat until the writer ends.
fn flush(committer: &dyn SyncCommit, flushing: &std::sync::mpsc::Receiver<Answers>) {
    while let Ok(first) = flushing.recv() {
        let mut round = vec![first];
        round.extend(flushing.try_iter());
        // A failed batch wrote nothing, but the batches before it in the round still need this.
        if round.iter().any(|a| a.result.is_ok())
            && let Err(e) = committer.flush()
        {
            for answers in &mut round {
                if answers.result.is_ok() {
                    answers.result = Err(e.clone());
                }
            }
        }
        for answers in round {
            answers.send();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::time::Duration;

    use super::*;
    use crate::audit::{EventType, NewEvent, Origin, Severity};

    /// A committer whose flushes the test completes by hand, reporting each commit and flush.
    struct HeldFlush {
        committed: Mutex<Sender<usize>>,
        flushing: Mutex<Sender<()>>,
        release: Mutex<Receiver<Result<(), StoreError>>>,
    }

    impl SyncCommit for HeldFlush {
        fn commit(&self, ops: &[WriteOp]) -> Result<Vec<OpOutcome>, StoreError> {
            let _ = self.committed.lock().expect("lock").send(ops.len());
            Ok(vec![OpOutcome::Done; ops.len()])
        }

        fn flush(&self) -> Result<(), StoreError> {
            let _ = self.flushing.lock().expect("lock").send(());
            self.release
                .lock()
                .expect("lock")
                .recv()
                .unwrap_or_else(|_| Err(StoreError::Unavailable("test over".into())))
        }
    }

    struct Harness {
        writer: BatchWriter,
        handle: WriterHandle,
        committed: Receiver<usize>,
        flushing: Receiver<()>,
        release: Sender<Result<(), StoreError>>,
        /// Ops of each batch once the flush thread has it.
        handed: Receiver<usize>,
    }

    fn harness() -> Harness {
        let (handed_tx, handed) = channel();
        let handed_tx = Mutex::new(handed_tx);
        let options = WriterOptions {
            observer: Some(Arc::new(move |ops| {
                let _ = handed_tx.lock().expect("lock").send(ops);
            })),
            ..WriterOptions::default()
        };
        let (committed_tx, committed) = channel();
        let (flushing_tx, flushing) = channel();
        let (release, release_rx) = channel();
        let committer = Arc::new(HeldFlush {
            committed: Mutex::new(committed_tx),
            flushing: Mutex::new(flushing_tx),
            release: Mutex::new(release_rx),
        });
        let (writer, handle) = BatchWriter::spawn_thread(committer, options);
        Harness {
            writer,
            handle,
            committed,
            flushing,
            release,
            handed,
        }
    }

    fn event() -> Vec<WriteOp> {
        vec![WriteOp::Event(NewEvent::new(
            &Origin::system("test"),
            chrono::Utc::now(),
            EventType::SessionGenerated,
            Severity::Info,
            None,
            serde_json::json!({}),
        ))]
    }

    /// Wait (off the runtime) for the writer's next report on `rx`.
    async fn next<T: Send + 'static>(rx: Receiver<T>) -> (T, Receiver<T>) {
        tokio::task::spawn_blocking(move || {
            let got = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the writer reported nothing");
            (got, rx)
        })
        .await
        .expect("join")
    }

    /// `task`'s result, failing the test (rather than hanging it) if none comes in 10 s.
    async fn answered<T>(what: &str, task: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap_or_else(|_| panic!("{what}: nothing within 10 s"))
    }

    #[tokio::test]
    async fn answers_wait_for_the_flush_after_their_commit() {
        let h = harness();
        let writer = h.writer.clone();
        let mut answer = tokio::spawn(async move { writer.submit(event()).await });
        let (ops, _committed) = next(h.committed).await;
        assert_eq!(ops, 1);
        let ((), _flushing) = next(h.flushing).await;
        // Committed, not yet flushed: no answer.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut answer)
                .await
                .is_err(),
            "answered before the flush"
        );
        h.release.send(Ok(())).expect("release");
        let outcomes = answered("answer", answer).await.expect("join").expect("committed");
        assert_eq!(outcomes, vec![OpOutcome::Done]);
        answered("shutdown", h.handle.shutdown()).await;
    }

    #[tokio::test]
    async fn one_flush_answers_every_batch_committed_while_the_last_one_flushed() {
        let h = harness();
        let first = tokio::spawn({
            let writer = h.writer.clone();
            async move { writer.submit(event()).await }
        });
        let (_, committed) = next(h.committed).await;
        let ((), flushing) = next(h.flushing).await;
        let (_, mut handed) = next(h.handed).await;
        // While the first batch flushes, two more are committed, one after the other, and
        // handed to the flush thread (the hook fires after the hand-off: waiting on the commit
        // alone let the release race the second hand-off, and a third flush then waited for
        // a release that never came).
        let mut later = Vec::new();
        let mut committed = committed;
        for _ in 0..2 {
            let writer = h.writer.clone();
            later.push(tokio::spawn(async move { writer.submit(event()).await }));
            committed = next(committed).await.1;
            handed = next(handed).await.1;
        }
        h.release.send(Ok(())).expect("release");
        answered("first", first).await.expect("join").expect("first batch");
        let ((), flushing) = next(flushing).await;
        h.release.send(Ok(())).expect("release");
        for answer in later {
            answered("later", answer).await.expect("join").expect("later batch");
        }
        answered("shutdown", h.handle.shutdown()).await;
        assert!(committed.try_recv().is_err(), "no other commit");
        assert!(flushing.try_recv().is_err(), "two flushes for three batches");
    }

    fn event_from(request_id: &str) -> WriteOp {
        WriteOp::Event(NewEvent::new(
            &Origin::system(request_id),
            chrono::Utc::now(),
            EventType::SessionGenerated,
            Severity::Info,
            None,
            serde_json::json!({}),
        ))
    }

    #[tokio::test]
    async fn a_refused_value_fails_only_its_own_submission() {
        // Eight submissions in one batch; the sixth holds a value the database refuses.
        let (tx, mut rx) = mpsc::channel(16);
        let mut answers = Vec::new();
        for i in 0..8 {
            let (done, wait) = oneshot::channel();
            let id = if i == 5 { "poison".to_owned() } else { format!("r{i}") };
            let ops = vec![event_from(&id), event_from(&id)];
            tx.send(Msg::Job(Job { ops, done })).await.expect("queue");
            answers.push(wait);
        }
        let mut batcher = Batcher::new(WriterOptions::default());
        let first = rx.recv().await.expect("first");
        assert!(batcher.gather(first, &mut rx));
        let mut commits = Vec::new();
        while let Some((part, ops)) = batcher.next_part() {
            let poisoned = ops
                .iter()
                .any(|op| matches!(op, WriteOp::Event(e) if e.request_id.as_deref() == Some("poison")));
            commits.push(ops.len());
            let result = if poisoned {
                Err(StoreError::Rejected("invalid byte sequence".into()))
            } else {
                Ok(vec![OpOutcome::Done; ops.len()])
            };
            batcher.record(part, result);
        }
        for a in batcher.take() {
            a.send();
        }
        // The whole batch, then halves down to the one submission (the poisoned half of each
        // split first), then the other half of that split: 16, 8 ok, 8, 4, 2 ok, 2 alone, 4 ok.
        assert_eq!(commits, vec![16, 8, 8, 4, 2, 2, 4]);
        for (i, wait) in answers.into_iter().enumerate() {
            let got = wait.await.expect("answered");
            if i == 5 {
                assert!(
                    matches!(got, Err(WriteError::Store(StoreError::Rejected(_)))),
                    "{got:?}"
                );
            } else {
                assert_eq!(got.expect("committed"), vec![OpOutcome::Done; 2], "submission {i}");
            }
        }
    }

    #[tokio::test]
    async fn an_unavailable_database_fails_the_batch_without_retrying() {
        let (tx, mut rx) = mpsc::channel(4);
        let mut answers = Vec::new();
        for i in 0..3 {
            let (done, wait) = oneshot::channel();
            tx.send(Msg::Job(Job {
                ops: vec![event_from(&format!("r{i}"))],
                done,
            }))
            .await
            .expect("queue");
            answers.push(wait);
        }
        let mut batcher = Batcher::new(WriterOptions::default());
        let first = rx.recv().await.expect("first");
        assert!(batcher.gather(first, &mut rx));
        let mut commits = 0;
        while let Some((part, _)) = batcher.next_part() {
            commits += 1;
            batcher.record(part, Err(StoreError::Unavailable("down".into())));
        }
        for a in batcher.take() {
            a.send();
        }
        assert_eq!(commits, 1);
        for wait in answers {
            assert!(wait.await.expect("answered").is_err());
        }
    }

    #[tokio::test]
    async fn a_failed_flush_fails_its_requests() {
        let h = harness();
        let writer = h.writer.clone();
        let answer = tokio::spawn(async move { writer.submit(event()).await });
        let ((), _flushing) = next(h.flushing).await;
        h.release
            .send(Err(StoreError::Unavailable("disk gone".into())))
            .expect("release");
        let err = answered("answer", answer)
            .await
            .expect("join")
            .expect_err("must not be acknowledged");
        assert!(err.to_string().contains("disk gone"), "{err}");
        answered("shutdown", h.handle.shutdown()).await;
    }
}
