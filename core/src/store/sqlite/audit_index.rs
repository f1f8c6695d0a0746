//! Audit events by session on SQLite: the segment index of migration 0008.
//!
//! A `(session_id, id)` index puts each new event on a random leaf page, because session ids are
//! random: under load that page is most of what every batch writes to the log. Here the events
//! are indexed a segment at a time instead (ids `[n << bits, (n + 1) << bits)`): once the id
//! sequence has passed a segment's end, the writer reads the segment's `(session_id, id)` pairs,
//! sorts them by session and inserts them into `audit_session_index`, whose key starts with the
//! segment, so every insert lands on the last leaf of the tree. The work is spread over the
//! writer's batches, a bounded piece per batch ([`SessionIndexer::step`]), each piece inside the
//! batch's transaction. Readers never rely on a half-inserted segment: `sealed` (the first
//! segment not fully indexed) moves in the transaction that inserts the segment's last pair, and
//! everything from `sealed` on is scanned. A restart resumes at `sealed` (`INSERT OR IGNORE`
//! skips what an interrupted pass already wrote).
//!
//! Readers find a session's events with [`session_event_ids!`]: the index below `sealed`, and a
//! scan of the few events above it by id range.

use rusqlite::{Connection, params};

/// The SQL of a `WITH RECURSIVE` clause defining `segs(n)`: every segment number from the
/// lowest in the index up to, not including, `$below` (an SQL expression).
macro_rules! segments_below {
    ($below:literal) => {
        concat!(
            "WITH RECURSIVE segs(n) AS (SELECT min(segment) FROM audit_session_index WHERE segment < ",
            $below,
            " UNION ALL SELECT n + 1 FROM segs WHERE n + 1 < ",
            $below,
            ")"
        )
    };
}

/// The SQL of a `WITH` clause defining `session_event_ids(id)`: the ids of the events of the
/// session bound at parameter `$p` (for example `"?6"`). Every segment below `sealed` is looked
/// up by `(segment, session_id)`; the events from `sealed << segment_bits` on are scanned by id.
/// The ids may include events whose `session_id` changed since (a purge renames both in one
/// transaction, but callers still check `session_id` on the row).
macro_rules! session_event_ids {
    ($p:literal) => {
        // `CROSS JOIN` keeps SQLite from scanning a whole table to build an automatic index:
        // each segment is one look-up of `(segment, session_id)`; the rest is a rowid range.
        concat!(
            $crate::store::sqlite::audit_index::segments_below!("(SELECT sealed FROM audit_session_index_state)"),
            ", session_event_ids(id) AS (SELECT audit_session_index.event_id FROM segs CROSS JOIN audit_session_index ",
            "WHERE audit_session_index.segment = segs.n AND audit_session_index.session_id = ",
            $p,
            " UNION ALL SELECT audit_events.id FROM audit_events WHERE audit_events.id >= ",
            "(SELECT sealed << segment_bits FROM audit_session_index_state) AND audit_events.session_id = ",
            $p,
            ") "
        )
    };
}
pub(crate) use {segments_below, session_event_ids};

/// A purge's part of the index (after it renamed the session's events, `?2` to `?1`): the index
/// names the pseudonym instead, in every segment, including one the writer is indexing right now
/// (its remaining rows are read from `audit_events` as they are inserted, so they get the
/// pseudonym too). One `(segment, session_id)` look-up per segment.
pub(crate) const RENAME_SESSION: &str = concat!(
    segments_below!("(SELECT max(segment) + 1 FROM audit_session_index)"),
    " UPDATE audit_session_index SET session_id = ?1 WHERE session_id = ?2 AND segment IN (SELECT n FROM segs)"
);

/// Events read per step while a segment is gathered.
const READ_CHUNK: usize = 2048;
/// Pairs inserted per step.
const INSERT_CHUNK: usize = 512;
/// Index rows of fully deleted segments removed per step.
const CLEAN_CHUNK: i64 = 2048;

// Segment size, first segment not indexed, the id sequence, and the first id still present
// (index rows of the segments below its segment point to events retention deleted).
const STATE: &str = "SELECT s.segment_bits, s.sealed, q.seq, \
    coalesce((SELECT min(id) FROM audit_events), q.seq + 1) > ((SELECT min(segment) FROM audit_session_index) + 1) << s.segment_bits \
    FROM audit_session_index_state s, \
    (SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'), 0) AS seq) q WHERE s.id = 1";
const READ: &str = "SELECT id, session_id FROM audit_events WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT ?3";
// The session id is read again here, in the inserting transaction: a purge may have renamed the
// session's events since the segment was gathered.
const INSERT: &str = "INSERT OR IGNORE INTO audit_session_index (segment, session_id, event_id) \
    SELECT ?1, session_id, id FROM audit_events WHERE id = ?2 AND session_id IS NOT NULL";
const SEAL: &str = "UPDATE audit_session_index_state SET sealed = max(sealed, ?1) WHERE id = 1";
// Segments entirely below the oldest event left (retention deleted them).
const CLEAN: &str = "DELETE FROM audit_session_index WHERE (segment, session_id, event_id) IN \
    (SELECT segment, session_id, event_id FROM audit_session_index \
     WHERE segment < (SELECT coalesce(min(id), ?1) FROM audit_events) >> ?2 LIMIT ?3)";

/// Where the indexer is: between segments, gathering one, inserting it, or dropping the index
/// rows of segments retention has emptied.
#[derive(Debug, Default)]
enum Work {
    #[default]
    Idle,
    /// Reading `segment`'s events from `next_id` (exclusive end `end_id`); `pairs` are
    /// `(session_id, id)`, the session id only to sort by.
    Gathering {
        segment: i64,
        next_id: i64,
        end_id: i64,
        pairs: Vec<([u8; 16], i64)>,
    },
    /// Inserting `pairs[done..]`, sorted.
    Inserting {
        segment: i64,
        pairs: Vec<([u8; 16], i64)>,
        done: usize,
    },
    /// Deleting index rows below the oldest event's segment (`next_id` stands in for the
    /// oldest id when retention emptied the table).
    Cleaning { bits: i64, next_id: i64 },
}

/// Batches in a row that may skip looking for work (see [`SessionIndexer::wants_step`]).
const MAX_SKIPPED: u32 = 256;

/// The writer's side of the segment index: one bounded step of work per batch.
#[derive(Debug, Default)]
pub(crate) struct SessionIndexer {
    work: Work,
    /// When idle: the id that completes the next segment (0: unknown, look now; `i64::MAX`:
    /// look after the usual skips).
    due_id: i64,
    /// Batches since the database was last asked for work.
    skipped: u32,
}

impl SessionIndexer {
    /// Whether this batch should take a step, `last_id` being the newest event id the writer
    /// has seen. While idle, no segment can be complete before `due_id`, so most batches skip
    /// the look; every [`MAX_SKIPPED`]th looks anyway, for what other connections did
    /// (retention emptying segments, events written by the console or a second daemon).
    pub(crate) fn wants_step(&mut self, last_id: i64) -> bool {
        if !matches!(self.work, Work::Idle) || self.due_id == 0 || last_id >= self.due_id || self.skipped >= MAX_SKIPPED
        {
            self.skipped = 0;
            true
        } else {
            self.skipped += 1;
            false
        }
    }

    /// Do one piece of the indexing work on `conn` (inside the writer's transaction): look for a
    /// complete segment, read part of it, insert part of it, or clean up after retention.
    pub(crate) fn step(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        if matches!(self.work, Work::Idle) {
            let (work, due_id) = find_work(conn)?;
            self.work = work;
            self.due_id = due_id;
        }
        self.work = match std::mem::take(&mut self.work) {
            Work::Idle => Work::Idle,
            Work::Gathering {
                segment,
                mut next_id,
                end_id,
                mut pairs,
            } => {
                let mut read = conn.prepare_cached(READ)?;
                let mut rows = read.query(params![next_id, end_id, READ_CHUNK as i64])?;
                let mut n = 0;
                while let Some(row) = rows.next()? {
                    n += 1;
                    let id: i64 = row.get(0)?;
                    next_id = id + 1;
                    let session: Option<Vec<u8>> = row.get(1)?;
                    // A session id that is not 16 bytes was not written by sessiond; it stays
                    // findable by the scan of `audit_events`, not by this index.
                    if let Some(key) = session.and_then(|s| <[u8; 16]>::try_from(s).ok()) {
                        pairs.push((key, id));
                    }
                }
                if n < READ_CHUNK {
                    pairs.sort_unstable();
                    Work::Inserting {
                        segment,
                        pairs,
                        done: 0,
                    }
                } else {
                    Work::Gathering {
                        segment,
                        next_id,
                        end_id,
                        pairs,
                    }
                }
            }
            Work::Inserting { segment, pairs, done } => {
                let end = (done + INSERT_CHUNK).min(pairs.len());
                let mut insert = conn.prepare_cached(INSERT)?;
                for (_, id) in &pairs[done..end] {
                    insert.execute(params![segment, id])?;
                }
                if end < pairs.len() {
                    Work::Inserting {
                        segment,
                        pairs,
                        done: end,
                    }
                } else {
                    conn.prepare_cached(SEAL)?.execute([segment + 1])?;
                    Work::Idle
                }
            }
            Work::Cleaning { bits, next_id } => {
                let removed = conn
                    .prepare_cached(CLEAN)?
                    .execute(params![next_id, bits, CLEAN_CHUNK])?;
                if removed as i64 == CLEAN_CHUNK {
                    Work::Cleaning { bits, next_id }
                } else {
                    Work::Idle
                }
            }
        };
        Ok(())
    }

    /// Forget work in progress (its transaction rolled back or the step failed): look at the
    /// database's state again after [`MAX_SKIPPED`] batches, so a persistent failure costs one
    /// attempt (and one warning) per that many batches, not one per batch.
    pub(crate) fn reset(&mut self) {
        self.work = Work::Idle;
        self.due_id = i64::MAX;
        self.skipped = 0;
    }
}

/// What to do next: drop the index rows of segments retention emptied, index the first complete
/// segment not indexed yet, or nothing; and the id that completes the first segment not indexed.
fn find_work(conn: &Connection) -> rusqlite::Result<(Work, i64)> {
    let (bits, sealed, seq, dead): (i64, i64, i64, Option<bool>) = conn
        .prepare_cached(STATE)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let due_id = ((sealed + 1) << bits) - 1;
    let work = if dead == Some(true) {
        Work::Cleaning { bits, next_id: seq + 1 }
    } else if (seq + 1) >> bits > sealed {
        Work::Gathering {
            segment: sealed,
            next_id: sealed << bits,
            end_id: (sealed + 1) << bits,
            pairs: Vec::new(),
        }
    } else {
        Work::Idle
    };
    Ok((work, due_id))
}
