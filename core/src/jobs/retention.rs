//! `retention` (SPEC §4, §6): deletes audit events past `audit.retention_days` and sent
//! notifications past the same age, and anonymizes IPs older than
//! `privacy.ip_retention_days` in sessions and audit events. Everything goes in batches of
//! `jobs.retention.batch_size` rows, one short transaction each, so the API's writes (the
//! group-commit writer) never wait behind one long transaction. Anonymizing is done in Rust
//! (the same code for both databases) and is idempotent: rows already anonymized are skipped.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::context::{Counts, JobContext, JobError, count};
use crate::store::retention::{IpChange, OldRows};

/// IPv4: keep the first 16 bits; IPv6: keep the first 48 bits (IPv4-mapped IPv6 addresses
/// are treated as IPv4). `None` when `ip` is not an address (it is then erased).
pub fn anonymize_ip(ip: &str) -> Option<String> {
    let addr: IpAddr = ip.trim().parse().ok()?;
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    Some(match addr {
        IpAddr::V4(v4) => std::net::Ipv4Addr::from(u32::from(v4) & 0xFFFF_0000).to_string(),
        IpAddr::V6(v6) => std::net::Ipv6Addr::from(u128::from(v6) & (!0u128 << 80)).to_string(),
    })
}

/// Give the API room between batches: pause as long as the batch took (at most 100 ms), so
/// retention uses at most about half of the database's write time.
async fn pace(batch_started: std::time::Instant) {
    tokio::time::sleep(batch_started.elapsed().min(std::time::Duration::from_millis(100))).await;
}

fn change<K: Clone>(id: &K, ip: &str) -> Option<IpChange<K>> {
    let new = anonymize_ip(ip);
    (new.as_deref() != Some(ip)).then(|| IpChange {
        id: id.clone(),
        old: ip.to_owned(),
        new,
    })
}

/// One retention pass as of `now`.
pub async fn run_retention(ctx: &JobContext, now: DateTime<Utc>) -> Result<Counts, JobError> {
    let store = &ctx.store;
    let batch = ctx.settings.jobs.retention.batch_size.max(1);
    let before = |d: u32| {
        now.checked_sub_signed(chrono::Duration::days(i64::from(d)))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    let audit_before = before(ctx.settings.audit.retention_days);
    let ip_before = before(ctx.settings.privacy.ip_retention_days);
    let mut counts = Counts::new();

    // Every count is reported, zero or not, in the order of the steps.
    count(&mut counts, "audit_deleted", 0);
    for rows in OldRows::ALL {
        count(&mut counts, rows.count_key(), 0);
    }
    for key in ["audit_ips_anonymized", "session_ips_anonymized"] {
        count(&mut counts, key, 0);
    }
    let mut batches = 0u64;
    loop {
        let t = std::time::Instant::now();
        // With the audit chain on, whole links go, leaving a signed checkpoint (docs/audit.md).
        if store.chain_keys().is_some() {
            let Some(n) = store.purge_chain_before(audit_before, batch).await? else {
                break;
            };
            count(&mut counts, "audit_deleted", n);
            batches += 1;
            pace(t).await;
            continue;
        }
        let n = store.delete_audit_before(audit_before, batch).await?;
        count(&mut counts, "audit_deleted", n);
        batches += 1;
        if n < u64::from(batch) {
            break;
        }
        pace(t).await;
    }
    // Sent notifications, then the jobs' own history, which goes with the audit trail that
    // recorded it: run requests (they name the operator who asked), then the runs.
    for rows in OldRows::ALL {
        loop {
            let n = store.delete_old(rows, audit_before, batch).await?;
            count(&mut counts, rows.count_key(), n);
            batches += 1;
            if n < u64::from(batch) {
                break;
            }
        }
    }
    let mut after_id = 0;
    loop {
        let t = std::time::Instant::now();
        let rows = store.audit_ips_to_anonymize(after_id, ip_before, batch).await?;
        let Some(last) = rows.last() else { break };
        after_id = last.0;
        let changes: Vec<_> = rows.iter().filter_map(|(id, ip)| change(id, ip)).collect();
        let n = store.set_audit_ips(&changes).await?;
        count(&mut counts, "audit_ips_anonymized", n);
        batches += 1;
        if rows.len() < batch as usize {
            break;
        }
        pace(t).await;
    }
    let cutoff = ip_before.timestamp_millis();
    let mut after = None;
    loop {
        let t = std::time::Instant::now();
        let rows = store.session_ips_to_anonymize(after, ip_before, batch).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.id);
        let mut created = Vec::new();
        let mut last_ips = Vec::new();
        for r in &rows {
            if r.created_at < cutoff
                && let Some(c) = r.created_ip.as_deref().and_then(|ip| change(&r.id, ip))
            {
                created.push(c);
            }
            if r.last_seen_at < cutoff
                && let Some(c) = r.last_ip.as_deref().and_then(|ip| change(&r.id, ip))
            {
                last_ips.push(c);
            }
        }
        let n = store.set_session_ips(&created, &last_ips).await?;
        count(&mut counts, "session_ips_anonymized", n);
        batches += 1;
        if rows.len() < batch as usize {
            break;
        }
        pace(t).await;
    }
    count(&mut counts, "batches", batches);
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::anonymize_ip;

    #[test]
    fn ipv4_keeps_16_bits() {
        assert_eq!(anonymize_ip("203.0.113.77").as_deref(), Some("203.0.0.0"));
        assert_eq!(anonymize_ip("10.1.2.3").as_deref(), Some("10.1.0.0"));
        assert_eq!(anonymize_ip("10.1.0.0").as_deref(), Some("10.1.0.0"));
    }

    #[test]
    fn ipv6_keeps_48_bits() {
        assert_eq!(
            anonymize_ip("2001:db8:abcd:12:1:2:3:4").as_deref(),
            Some("2001:db8:abcd::")
        );
        assert_eq!(anonymize_ip("2001:db8:1:2::").as_deref(), Some("2001:db8:1::"));
        assert_eq!(anonymize_ip("::1").as_deref(), Some("::"));
        assert_eq!(anonymize_ip("::ffff:198.51.100.9").as_deref(), Some("198.51.0.0"));
    }

    #[test]
    fn idempotent_and_garbage_erased() {
        for ip in ["203.0.113.77", "2001:db8:abcd:12:1:2:3:4", "fe80::1"] {
            let once = anonymize_ip(ip).expect("address");
            assert_eq!(anonymize_ip(&once).as_deref(), Some(once.as_str()));
        }
        assert_eq!(anonymize_ip("not-an-ip"), None);
    }
}
