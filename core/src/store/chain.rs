//! The database side of the audit chain (`crate::audit_chain`, `docs/audit.md`): the link a
//! transaction writes with its events, the reads of `sessionctl audit verify`, retention's
//! checkpoints and the redactions of IP anonymization and `sessions purge`.
//!
//! Every transaction that inserts audit events takes the chain's head (PostgreSQL: a row lock
//! on `audit_chain_head`, taken before its first event so ids and links follow one order across
//! daemons; SQLite: the database's write lock does the same), and writes one link for all of
//! its events before committing.

use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::audit::NewEvent;
use crate::audit_chain::{ChainKeys, EventView, Link, LinkBuilder, LinkHeader, RedactedField, Redaction};
use crate::store::StoreError;

/// Where a store keeps its chain keys: set at start-up ([`ChainStore::set_chain_keys`]),
/// read by every transaction that writes events.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChainSlot(Arc<RwLock<Option<Arc<ChainKeys>>>>);

impl ChainSlot {
    pub(crate) fn get(&self) -> Option<Arc<ChainKeys>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn set(&self, keys: Option<Arc<ChainKeys>>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }

    /// A link under way for a transaction, when the chain is on.
    pub(crate) fn begin(&self) -> Option<ChainTx> {
        self.get().map(ChainTx::new)
    }
}

/// The chain's head: the last link's `seq` and MAC, and the id of the last event linked.
/// On PostgreSQL the id of every linked event is drawn from here (`last_id + 1`, …) rather
/// than from the table's identity sequence, so ids follow the chain's order across daemons and
/// a batch knows its ids before it sends its one statement (`PgStore::commit_chained`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct Head {
    pub(crate) seq: i64,
    pub(crate) mac: Vec<u8>,
    pub(crate) last_id: i64,
}

impl Head {
    /// The head after `link`.
    pub(crate) fn after(link: &Link) -> Self {
        Self {
            seq: link.header.seq,
            mac: link.mac.clone(),
            last_id: link.header.last_id,
        }
    }
}

/// The link of one transaction while its events are inserted.
pub(crate) struct ChainTx {
    keys: Arc<ChainKeys>,
    builder: LinkBuilder,
    /// The head once taken.
    pub(crate) head: Option<Head>,
    /// Events absorbed so far (the next explicit id is `head.last_id + absorbed + 1`).
    absorbed: i64,
}

impl ChainTx {
    pub(crate) fn new(keys: Arc<ChainKeys>) -> Self {
        let builder = LinkBuilder::new(keys.current());
        Self {
            keys,
            builder,
            head: None,
            absorbed: 0,
        }
    }

    /// The id the next event takes when ids are drawn from the head (PostgreSQL); `None`
    /// before the head is taken.
    pub(crate) fn next_id(&self) -> Option<i64> {
        self.head.as_ref().map(|h| h.last_id + self.absorbed + 1)
    }

    /// Add the event just inserted with `id` (ids must increase within a transaction).
    pub(crate) fn absorb(&mut self, id: i64, e: &NewEvent, metadata: &Value) {
        let key = self.keys.current();
        self.builder.push_new(key, &EventView::of_new(id, e, metadata));
        self.absorbed += 1;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.builder.is_empty()
    }

    pub(crate) fn keys(&self) -> &Arc<ChainKeys> {
        &self.keys
    }

    /// The link to write after `head`, and the key check to store with it.
    pub(crate) fn into_link(self, head: &Head) -> Option<(Link, [u8; 8])> {
        let key = self.keys.current();
        let check = key.check();
        self.builder.finish(key, head.seq, &head.mac).map(|link| (link, check))
    }
}

/// Write the link of a batch on the SQLite writer's own connection (inside its `BEGIN
/// IMMEDIATE` transaction, so the head cannot move underneath).
pub(crate) fn seal_rusqlite(tx: &rusqlite::Transaction<'_>, chain: ChainTx) -> Result<(), StoreError> {
    if chain.is_empty() {
        return Ok(());
    }
    let head = tx.prepare_cached(sqlite_sql::LOCK_HEAD)?.query_row([], |r| {
        Ok(Head {
            seq: r.get(0)?,
            mac: r.get(1)?,
            last_id: r.get(2)?,
        })
    })?;
    let Some((link, check)) = chain.into_link(&head) else {
        return Ok(());
    };
    let h = &link.header;
    tx.prepare_cached(sqlite_sql::INSERT_LINK)?.execute(rusqlite::params![
        h.seq,
        h.first_id,
        h.last_id,
        h.event_count,
        h.max_occurred_at,
        h.key_id,
        check.as_slice(),
        h.prev_mac,
        link.mac,
        h.tags,
        Utc::now().timestamp_millis(),
    ])?;
    tx.prepare_cached(sqlite_sql::UPDATE_HEAD)?
        .execute(rusqlite::params![h.seq, link.mac, h.last_id])?;
    Ok(())
}

/// A stored link with its key check.
#[derive(Debug, Clone)]
pub struct StoredLink {
    /// The link.
    pub link: Link,
    /// [`crate::audit_chain::Key::check`] of the key it was signed with.
    pub key_check: Vec<u8>,
}

/// Retention's cut of the chain.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Last deleted link.
    pub seq: i64,
    /// Events up to this id were deleted.
    pub through_id: i64,
    /// MAC of the last deleted link: the next link's `prev_mac`.
    pub resume_mac: Vec<u8>,
    /// Key of `mac`.
    pub key_id: String,
    /// Signature.
    pub mac: Vec<u8>,
}

/// What the chain asks of the database beyond the writes of [`ChainTx`].
#[async_trait::async_trait]
pub trait ChainStore: Send + Sync {
    /// Turn the chain on (keys) or off (`None`) for this store's writes.
    fn set_chain_keys(&self, keys: Option<Arc<ChainKeys>>);
    /// The keys this store signs with.
    fn chain_keys(&self) -> Option<Arc<ChainKeys>>;
    /// Up to `limit` links after `after_seq`, in chain order.
    async fn chain_links(&self, after_seq: i64, limit: u32) -> Result<Vec<StoredLink>, StoreError>;
    /// Retention's checkpoint, if it has cut the chain.
    async fn chain_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError>;
    /// Redactions of events `from_id..=to_id`.
    async fn redactions(&self, from_id: i64, to_id: i64) -> Result<Vec<Redaction>, StoreError>;
    /// Retention with the chain on: delete up to `limit` events of the oldest links whose
    /// events are all older than `before` (and any older event outside the chain), then those
    /// links, leaving a signed checkpoint. Returns the events deleted, or `None` when there is
    /// nothing left to purge (call again until then).
    async fn purge_chain_before(&self, before: DateTime<Utc>, limit: u32) -> Result<Option<u64>, StoreError>;
}

/// Links read at once when looking for retention's cut.
pub(crate) const RETENTION_LINKS: i64 = 1000;

/// Pick the prefix of `links` (oldest first: seq, last_id, count, max_occurred_at, mac) that
/// retention may delete: whole links older than `before`, about `limit` events.
pub(crate) fn retention_cut(links: &[(i64, i64, i64, i64, Vec<u8>)], before: i64, limit: u32) -> Option<usize> {
    let mut events = 0i64;
    let mut cut = None;
    for (i, (_, _, count, max_at, _)) in links.iter().enumerate() {
        if *max_at >= before {
            break;
        }
        if cut.is_some() && events + count > i64::from(limit) {
            break;
        }
        events += count;
        cut = Some(i);
    }
    cut
}

/// The parts of a link row in `LINKS_AFTER`'s column order.
pub(crate) type LinkRow = (i64, i64, i64, i64, i64, String, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

pub(crate) fn link_from_row(r: LinkRow) -> StoredLink {
    let (seq, first_id, last_id, event_count, max_occurred_at, key_id, key_check, prev_mac, mac, tags) = r;
    StoredLink {
        link: Link {
            header: LinkHeader {
                seq,
                first_id,
                last_id,
                event_count,
                max_occurred_at,
                key_id,
                prev_mac,
                tags,
            },
            mac,
        },
        key_check,
    }
}

pub(crate) fn redaction_from_row(r: (i64, String, Vec<u8>, String, Vec<u8>)) -> Result<Redaction, StoreError> {
    let (event_id, field, digest, key_id, mac) = r;
    Ok(Redaction {
        event_id,
        field: RedactedField::parse(&field).ok_or_else(|| {
            StoreError::Internal(format!("audit redaction of event {event_id}: unknown field `{field}`"))
        })?,
        digest,
        key_id,
        mac,
    })
}

/// The chain's Rust for a sqlx store; `$sql` is this module's SQL for the backend.
macro_rules! chain_impl {
    ($store:ty, $db:ty, $sql:path) => {
        impl $store {
            /// Take the chain's head for `chain` (once per transaction).
            pub(crate) async fn chain_lock(
                conn: &mut <$db as sqlx::Database>::Connection,
                chain: &mut crate::store::chain::ChainTx,
            ) -> Result<(), crate::store::StoreError> {
                use $sql as c;
                if chain.head.is_none() {
                    let head: crate::store::chain::Head = sqlx::query_as(c::LOCK_HEAD).fetch_one(&mut *conn).await?;
                    chain.head = Some(head);
                }
                Ok(())
            }

            /// Insert an audit event (with `metadata` instead of the event's own) and add it to
            /// the transaction's link.
            pub(crate) async fn insert_event_on(
                conn: &mut <$db as sqlx::Database>::Connection,
                chain: Option<&mut crate::store::chain::ChainTx>,
                e: &crate::audit::NewEvent,
                metadata: &serde_json::Value,
            ) -> Result<(), crate::store::StoreError> {
                use $sql as c;
                if let Some(chain) = chain {
                    Self::chain_lock(&mut *conn, chain).await?;
                    // PostgreSQL draws a linked event's id from the head; SQLite (one writer,
                    // ids in commit order anyway) lets the table pick it.
                    let id = if c::IDS_FROM_HEAD { chain.next_id() } else { None };
                    let id: i64 = Self::bind_event(sqlx::query_scalar(c::INSERT_LINKED_EVENT), e, metadata)
                        .bind(id)
                        .fetch_one(&mut *conn)
                        .await?;
                    chain.absorb(id, e, metadata);
                } else {
                    Self::bind_event(
                        sqlx::query_scalar::<_, i64>(c::INSERT_EVENT_RETURNING),
                        e,
                        metadata,
                    )
                    .fetch_one(&mut *conn)
                    .await?;
                }
                Ok(())
            }

            fn bind_event<'q>(
                q: sqlx::query::QueryScalar<'q, $db, i64, <$db as sqlx::Database>::Arguments>,
                e: &'q crate::audit::NewEvent,
                metadata: &'q serde_json::Value,
            ) -> sqlx::query::QueryScalar<'q, $db, i64, <$db as sqlx::Database>::Arguments> {
                q.bind(e.occurred_at.timestamp_millis())
                    .bind(e.event_type.as_str())
                    .bind(e.severity.as_str())
                    .bind(e.session_id)
                    .bind(e.ip.as_deref())
                    .bind(e.user_agent.as_deref())
                    .bind(e.request_id.as_deref())
                    .bind(e.actor.as_str())
                    .bind(sqlx::types::Json(metadata))
            }

            /// Write the link of the transaction's events (nothing when it wrote none).
            pub(crate) async fn chain_seal(
                conn: &mut <$db as sqlx::Database>::Connection,
                mut chain: crate::store::chain::ChainTx,
            ) -> Result<(), crate::store::StoreError> {
                use $sql as c;
                if chain.is_empty() {
                    return Ok(());
                }
                Self::chain_lock(&mut *conn, &mut chain).await?;
                let head = chain.head.clone().unwrap_or(crate::store::chain::Head {
                    seq: 0,
                    mac: crate::audit_chain::GENESIS.to_vec(),
                    last_id: 0,
                });
                let Some((link, check)) = chain.into_link(&head) else {
                    return Ok(());
                };
                let h = &link.header;
                sqlx::query(c::INSERT_LINK)
                    .bind(h.seq)
                    .bind(h.first_id)
                    .bind(h.last_id)
                    .bind(h.event_count)
                    .bind(h.max_occurred_at)
                    .bind(h.key_id.as_str())
                    .bind(check.as_slice())
                    .bind(h.prev_mac.as_slice())
                    .bind(link.mac.as_slice())
                    .bind(h.tags.as_slice())
                    .bind(chrono::Utc::now().timestamp_millis())
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(c::UPDATE_HEAD)
                    .bind(h.seq)
                    .bind(link.mac.as_slice())
                    .bind(h.last_id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            /// Record, before `sessions purge` pseudonymizes the events of `session`, the
            /// digests of their original `ip`, `session_id` and `user_agent`.
            pub(crate) async fn chain_redact_session(
                tx: &mut crate::store::WriteTx<$db>,
                session: uuid::Uuid,
                pseudonym: uuid::Uuid,
            ) -> Result<(), crate::store::StoreError> {
                use $sql as c;
                let Some(keys) = tx.chain.as_ref().map(|c| c.keys().clone()) else {
                    return Ok(());
                };
                let key = keys.current();
                let mut after = i64::MIN;
                loop {
                    let rows: Vec<(i64, Option<String>, Option<String>)> = sqlx::query_as(c::SESSION_EVENTS_PAGE)
                        .bind(session)
                        .bind(after)
                        .bind(500_i64)
                        .fetch_all(&mut **tx)
                        .await?;
                    let Some(last) = rows.last() else { break };
                    after = last.0;
                    for (id, ip, ua) in &rows {
                        let ip_digest = Self::original_digest(&mut **tx, *id, crate::audit_chain::RedactedField::Ip)
                            .await?
                            .unwrap_or_else(|| key.ip_digest(*id, ip.as_deref()).to_vec());
                        let su_digest = key.su_digest(*id, Some(session), ua.as_deref()).to_vec();
                        let redactions = [
                            (
                                crate::audit_chain::RedactedField::Ip,
                                ip_digest,
                                key.ip_digest(*id, None),
                            ),
                            (
                                crate::audit_chain::RedactedField::SessionAndAgent,
                                su_digest,
                                key.su_digest(*id, Some(pseudonym), None),
                            ),
                        ];
                        for (field, digest, now) in redactions {
                            let mac = key.redaction_mac(*id, field, &digest, &now);
                            Self::upsert_redaction(&mut **tx, *id, field, &digest, key.id, &mac).await?;
                        }
                    }
                }
                Ok(())
            }

            /// Record, before IP anonymization rewrites `old` to `new` in event `id`, the
            /// digest of the original address.
            pub(crate) async fn chain_redact_ip(
                conn: &mut <$db as sqlx::Database>::Connection,
                key: crate::audit_chain::Key<'_>,
                id: i64,
                old: &str,
                new: Option<&str>,
            ) -> Result<(), crate::store::StoreError> {
                let digest = Self::original_digest(&mut *conn, id, crate::audit_chain::RedactedField::Ip)
                    .await?
                    .unwrap_or_else(|| key.ip_digest(id, Some(old)).to_vec());
                let field = crate::audit_chain::RedactedField::Ip;
                let mac = key.redaction_mac(id, field, &digest, &key.ip_digest(id, new));
                Self::upsert_redaction(&mut *conn, id, field, &digest, key.id, &mac).await
            }

            async fn original_digest(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: i64,
                field: crate::audit_chain::RedactedField,
            ) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
                use $sql as c;
                Ok(sqlx::query_scalar(c::REDACTION_DIGEST)
                    .bind(id)
                    .bind(field.as_str())
                    .fetch_optional(&mut *conn)
                    .await?)
            }

            async fn upsert_redaction(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: i64,
                field: crate::audit_chain::RedactedField,
                digest: &[u8],
                key_id: &str,
                mac: &[u8],
            ) -> Result<(), crate::store::StoreError> {
                use $sql as c;
                sqlx::query(c::UPSERT_REDACTION)
                    .bind(id)
                    .bind(field.as_str())
                    .bind(digest)
                    .bind(key_id)
                    .bind(mac)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
        }

        impl crate::store::WriteTx<$db> {
            /// Write the transaction's link (when it inserted events with the chain on), then
            /// commit.
            pub(crate) async fn commit(mut self) -> Result<(), crate::store::StoreError> {
                if let Some(chain) = self.chain.take() {
                    <$store>::chain_seal(&mut self.tx, chain).await?;
                }
                self.tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::chain::ChainStore for $store {
            fn set_chain_keys(&self, keys: Option<std::sync::Arc<crate::audit_chain::ChainKeys>>) {
                self.chain.set(keys);
            }

            fn chain_keys(&self) -> Option<std::sync::Arc<crate::audit_chain::ChainKeys>> {
                self.chain.get()
            }

            async fn chain_links(
                &self,
                after_seq: i64,
                limit: u32,
            ) -> Result<Vec<crate::store::chain::StoredLink>, crate::store::StoreError> {
                use $sql as c;
                let rows: Vec<crate::store::chain::LinkRow> = sqlx::query_as(c::LINKS_AFTER)
                    .bind(after_seq)
                    .bind(i64::from(limit.clamp(1, 10_000)))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(crate::store::chain::link_from_row).collect())
            }

            async fn chain_checkpoint(
                &self,
            ) -> Result<Option<crate::store::chain::Checkpoint>, crate::store::StoreError> {
                use $sql as c;
                let row: Option<(i64, i64, Vec<u8>, String, Vec<u8>)> =
                    sqlx::query_as(c::CHECKPOINT).fetch_optional(&self.pool).await?;
                Ok(row.map(
                    |(seq, through_id, resume_mac, key_id, mac)| crate::store::chain::Checkpoint {
                        seq,
                        through_id,
                        resume_mac,
                        key_id,
                        mac,
                    },
                ))
            }

            async fn redactions(
                &self,
                from_id: i64,
                to_id: i64,
            ) -> Result<Vec<crate::audit_chain::Redaction>, crate::store::StoreError> {
                use $sql as c;
                let rows: Vec<(i64, String, Vec<u8>, String, Vec<u8>)> = sqlx::query_as(c::REDACTIONS)
                    .bind(from_id)
                    .bind(to_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(crate::store::chain::redaction_from_row)
                    .collect()
            }

            async fn purge_chain_before(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<Option<u64>, crate::store::StoreError> {
                use $sql as c;
                let Some(keys) = self.chain.get() else {
                    return Err(crate::store::StoreError::Internal(
                        "purging the audit chain needs audit.hmac_key".into(),
                    ));
                };
                let key = keys.current();
                let mut tx = self.begin_write().await?;
                let links: Vec<(i64, i64, i64, i64, Vec<u8>)> = sqlx::query_as(c::OLDEST_LINKS)
                    .bind(crate::store::chain::RETENTION_LINKS)
                    .fetch_all(&mut *tx)
                    .await?;
                let Some(cut) = crate::store::chain::retention_cut(&links, before.timestamp_millis(), limit) else {
                    return Ok(None);
                };
                let (seq, through_id, _, _, resume_mac) = &links[cut];
                let limit = i64::from(limit.max(1));
                let deleted = sqlx::query(c::DELETE_EVENTS_THROUGH)
                    .bind(*through_id)
                    .bind(limit)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if i64::try_from(deleted).unwrap_or(i64::MAX) < limit {
                    // Every event of those links is gone: cut the chain there.
                    sqlx::query(c::DELETE_LINKS_THROUGH)
                        .bind(*seq)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(c::DELETE_REDACTIONS_THROUGH)
                        .bind(*through_id)
                        .execute(&mut *tx)
                        .await?;
                    let mac = key.checkpoint_mac(*seq, *through_id, resume_mac);
                    sqlx::query(c::UPSERT_CHECKPOINT)
                        .bind(*seq)
                        .bind(*through_id)
                        .bind(resume_mac.as_slice())
                        .bind(key.id)
                        .bind(mac.as_slice())
                        .bind(chrono::Utc::now().timestamp_millis())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(Some(deleted))
            }
        }
    };
}
pub(crate) use chain_impl;

/// SQLite statements (sqlx and rusqlite both take `?N`).
pub(crate) mod sqlite_sql {
    /// Linked events take the table's next id (the writer's lock orders them).
    pub const IDS_FROM_HEAD: bool = false;
    pub const LOCK_HEAD: &str = "SELECT seq, mac, last_id FROM audit_chain_head WHERE id = 1";
    pub const INSERT_EVENT_RETURNING: &str = "INSERT INTO audit_events \
        (occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata) \
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id";
    /// `?10` is NULL: SQLite picks the id.
    pub const INSERT_LINKED_EVENT: &str = "INSERT INTO audit_events \
        (occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata, id) \
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id";
    pub const INSERT_LINK: &str = "INSERT INTO audit_chain (seq, first_id, last_id, event_count, \
        max_occurred_at, key_id, key_check, prev_mac, mac, tags, created_at) \
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
    pub const UPDATE_HEAD: &str = "UPDATE audit_chain_head SET seq = ?1, mac = ?2, last_id = ?3 WHERE id = 1";
    pub const LINKS_AFTER: &str = "SELECT seq, first_id, last_id, event_count, max_occurred_at, key_id, \
        key_check, prev_mac, mac, tags FROM audit_chain WHERE seq > ?1 ORDER BY seq LIMIT ?2";
    pub const CHECKPOINT: &str =
        "SELECT seq, through_id, resume_mac, key_id, mac FROM audit_chain_checkpoint WHERE id = 1";
    pub const UPSERT_CHECKPOINT: &str = "INSERT INTO audit_chain_checkpoint \
        (id, seq, through_id, resume_mac, key_id, mac, created_at) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6) \
        ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, through_id = excluded.through_id, \
        resume_mac = excluded.resume_mac, key_id = excluded.key_id, mac = excluded.mac, \
        created_at = excluded.created_at";
    pub const REDACTIONS: &str = "SELECT event_id, field, digest, key_id, mac FROM audit_redactions \
        WHERE event_id >= ?1 AND event_id <= ?2 ORDER BY event_id";
    pub const REDACTION_DIGEST: &str = "SELECT digest FROM audit_redactions WHERE event_id = ?1 AND field = ?2";
    pub const UPSERT_REDACTION: &str = "INSERT INTO audit_redactions (event_id, field, digest, key_id, mac) \
        VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (event_id, field) DO UPDATE SET digest = excluded.digest, \
        key_id = excluded.key_id, mac = excluded.mac";
    pub const SESSION_EVENTS_PAGE: &str = "SELECT id, ip, user_agent FROM audit_events \
        WHERE session_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
    pub const OLDEST_LINKS: &str =
        "SELECT seq, last_id, event_count, max_occurred_at, mac FROM audit_chain ORDER BY seq LIMIT ?1";
    pub const DELETE_EVENTS_THROUGH: &str = "DELETE FROM audit_events WHERE id IN \
        (SELECT id FROM audit_events WHERE id <= ?1 ORDER BY id LIMIT ?2)";
    pub const DELETE_LINKS_THROUGH: &str = "DELETE FROM audit_chain WHERE seq <= ?1";
    pub const DELETE_REDACTIONS_THROUGH: &str = "DELETE FROM audit_redactions WHERE event_id <= ?1";
}

/// PostgreSQL statements.
pub(crate) mod pg_sql {
    /// Linked events take their ids from the head ([`super::Head`]).
    pub const IDS_FROM_HEAD: bool = true;
    /// Lock the head for a transaction; [`READ_HEAD`]'s statement, which locks it too.
    pub const LOCK_HEAD: &str = READ_HEAD;
    pub const INSERT_EVENT_RETURNING: &str = "INSERT INTO audit_events \
        (occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
    pub const INSERT_LINKED_EVENT: &str = "INSERT INTO audit_events \
        (occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata, id) \
        OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";
    pub const INSERT_LINK: &str = "INSERT INTO audit_chain (seq, first_id, last_id, event_count, \
        max_occurred_at, key_id, key_check, prev_mac, mac, tags, created_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    /// Move the head, and the identity sequence past the ids drawn from it (so writes with the
    /// chain off, or by hand, take new ids).
    pub const UPDATE_HEAD: &str = "WITH head AS (UPDATE audit_chain_head SET seq = $1, mac = $2, last_id = $3 \
        WHERE id = 1 RETURNING last_id) \
        SELECT setval('audit_events_id_seq', head.last_id) FROM head, audit_events_id_seq s \
        WHERE head.last_id > s.last_value";
    pub const LINKS_AFTER: &str = "SELECT seq, first_id, last_id, event_count, max_occurred_at, key_id, \
        key_check, prev_mac, mac, tags FROM audit_chain WHERE seq > $1 ORDER BY seq LIMIT $2";
    pub const CHECKPOINT: &str =
        "SELECT seq, through_id, resume_mac, key_id, mac FROM audit_chain_checkpoint WHERE id = 1";
    pub const UPSERT_CHECKPOINT: &str = "INSERT INTO audit_chain_checkpoint \
        (id, seq, through_id, resume_mac, key_id, mac, created_at) VALUES (1, $1, $2, $3, $4, $5, $6) \
        ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, through_id = excluded.through_id, \
        resume_mac = excluded.resume_mac, key_id = excluded.key_id, mac = excluded.mac, \
        created_at = excluded.created_at";
    pub const REDACTIONS: &str = "SELECT event_id, field, digest, key_id, mac FROM audit_redactions \
        WHERE event_id >= $1 AND event_id <= $2 ORDER BY event_id";
    pub const REDACTION_DIGEST: &str = "SELECT digest FROM audit_redactions WHERE event_id = $1 AND field = $2";
    pub const UPSERT_REDACTION: &str = "INSERT INTO audit_redactions (event_id, field, digest, key_id, mac) \
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id, field) DO UPDATE SET digest = excluded.digest, \
        key_id = excluded.key_id, mac = excluded.mac";
    pub const SESSION_EVENTS_PAGE: &str = "SELECT id, ip, user_agent FROM audit_events \
        WHERE session_id = $1 AND id > $2 ORDER BY id LIMIT $3";
    pub const OLDEST_LINKS: &str =
        "SELECT seq, last_id, event_count, max_occurred_at, mac FROM audit_chain ORDER BY seq LIMIT $1";
    pub const DELETE_EVENTS_THROUGH: &str = "DELETE FROM audit_events WHERE id IN \
        (SELECT id FROM audit_events WHERE id <= $1 ORDER BY id LIMIT $2)";
    pub const DELETE_LINKS_THROUGH: &str = "DELETE FROM audit_chain WHERE seq <= $1";
    pub const DELETE_REDACTIONS_THROUGH: &str = "DELETE FROM audit_redactions WHERE event_id <= $1";
    /// Events of the batch with their ids (item 9, drawn from the head).
    pub const INSERT_LINKED_EVENTS: &str = "INSERT INTO audit_events \
        (id, occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata) \
        OVERRIDING SYSTEM VALUE \
        SELECT (e->>9)::bigint, (e->>0)::bigint, e->>1, e->>2, (e->>3)::uuid, e->>4, e->>5, e->>6, e->>7, e->8 \
        FROM jsonb_array_elements($1::jsonb) AS e";
    /// The head (for a transaction, or for `PgStore::commit_chained`'s cached copy), locked
    /// until the end of the transaction. Events inserted while the chain was off took ids from
    /// the identity sequence: the head moves past them first, so ids drawn from it are new.
    pub const READ_HEAD: &str = "UPDATE audit_chain_head \
        SET last_id = GREATEST(last_id, (SELECT coalesce(max(id), 0) FROM audit_events)) \
        WHERE id = 1 RETURNING seq, mac, last_id";
    /// With the chain off, the identity sequence moves past the ids drawn from the head (never
    /// back: another daemon may be drawing from it).
    pub const ALIGN_ID_SEQUENCE: &str = "SELECT setval('audit_events_id_seq', t.m) FROM \
        (SELECT GREATEST(coalesce(max(id), 0), (SELECT last_id FROM audit_chain_head WHERE id = 1)) AS m \
         FROM audit_events) AS t, audit_events_id_seq AS s WHERE t.m > s.last_value";
    /// A whole validate batch with its link in one autocommit statement: the refreshes (their
    /// row locks first, as in every other transaction), then the head — moved only if it is
    /// still the one the link was computed after (`$6`, `$7`) — then, only if it moved, the
    /// events (ids from the head), the link and the identity sequence (as [`UPDATE_HEAD`]).
    /// Returns 1 when it linked, 0 when the head had moved (another writer): then nothing but
    /// the refreshes happened.
    pub const CHAINED_BATCH: &str = "WITH touched AS (\
        UPDATE user_sessions AS u \
        SET last_seen_at = GREATEST(u.last_seen_at, t.at), last_ip = coalesce(t.ip, u.last_ip) \
        FROM (SELECT (e->>0)::uuid AS id, (e->>1)::bigint AS at, e->>2 AS ip \
              FROM jsonb_array_elements($1::jsonb) AS e) AS t WHERE u.id = t.id RETURNING 1), \
        head AS (UPDATE audit_chain_head SET seq = $3, mac = $4, last_id = $5 \
              WHERE id = 1 AND seq = $6 AND last_id = $7 AND (SELECT count(*) FROM touched) >= 0 \
              RETURNING 1), \
        events AS (INSERT INTO audit_events \
              (id, occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata) \
              OVERRIDING SYSTEM VALUE \
              SELECT (e->>9)::bigint, (e->>0)::bigint, e->>1, e->>2, (e->>3)::uuid, e->>4, e->>5, e->>6, e->>7, e->8 \
              FROM jsonb_array_elements($2::jsonb) AS e WHERE EXISTS (SELECT 1 FROM head)), \
        link AS (INSERT INTO audit_chain (seq, first_id, last_id, event_count, max_occurred_at, key_id, \
              key_check, prev_mac, mac, tags, created_at) \
              SELECT $3, $8, $5, $9, $10, $11, $12, $13, $4, $14, $15 FROM head), \
        ids AS (SELECT setval('audit_events_id_seq', $5) FROM head, audit_events_id_seq s WHERE $5 > s.last_value) \
        SELECT count(*) FROM head LEFT JOIN ids ON true";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_cuts_whole_old_links_about_limit_events() {
        let links: Vec<(i64, i64, i64, i64, Vec<u8>)> = vec![
            (1, 10, 10, 100, vec![]),
            (2, 20, 10, 200, vec![]),
            (3, 30, 10, 300, vec![]),
            (4, 40, 10, 900, vec![]),
        ];
        assert_eq!(retention_cut(&links, 50, 100), None, "nothing old enough");
        assert_eq!(retention_cut(&links, 250, 100), Some(1));
        assert_eq!(retention_cut(&links, 1000, 25), Some(1), "about `limit` events");
        assert_eq!(retention_cut(&links, 1000, 5), Some(0), "at least one link");
    }
}
