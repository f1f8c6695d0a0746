//! Suspicious-activity detection (SPEC §5): the `alert_detection` and `alert_digest` jobs.
//! Detection reads the shared audit log (so it sees every daemon instance), raises one alert
//! per (rule, subject) or adds repeats to the live one, and resolves alerts that have been
//! quiet for their rule's window. A critical alert queues its email at once; warnings wait
//! for the digest. Both respect `alerts.email_cooldown` per (rule, subject). With
//! `email.enabled = false` alerts are stored but no mail is queued.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{EventType, NewEvent, Origin, Severity};
use crate::config::{RuleSettings, Settings};
use crate::domain::{from_millis, rfc3339};
use crate::jobs::context::{Counts, JobContext, JobError};
use crate::store::StoreError;
use crate::store::alerts::{Alert, NewAlert, NewNotification, NotificationKind, RecentEvent};

/// Most events one rule reads per run; beyond this the newest are counted.
const MAX_EVENTS: u32 = 50_000;
/// Sample audit event ids kept on an alert.
const SAMPLES: usize = 5;

/// A per-IP or global counting rule.
struct CountRule {
    name: &'static str,
    event: EventType,
    severity: Severity,
    per_ip: bool,
    /// Add up metadata `count` (rate-limit summaries) instead of counting events.
    sum_count: bool,
    settings: RuleSettings,
}

fn count_rules(s: &Settings) -> [CountRule; 4] {
    let r = &s.alerts.rules;
    [
        CountRule {
            name: "uuid_probing",
            event: EventType::SessionValidationFailed,
            severity: Severity::Warning,
            per_ip: true,
            sum_count: false,
            settings: r.uuid_probing,
        },
        CountRule {
            name: "rate_limit_abuse",
            event: EventType::RateLimitExceeded,
            severity: Severity::Warning,
            per_ip: true,
            sum_count: true,
            settings: r.rate_limit_abuse,
        },
        CountRule {
            name: "upload_abuse",
            event: EventType::UploadRejected,
            severity: Severity::Warning,
            per_ip: true,
            sum_count: false,
            settings: r.upload_abuse,
        },
        CountRule {
            name: "error_spike",
            event: EventType::RequestError,
            severity: Severity::Critical,
            per_ip: false,
            sum_count: false,
            settings: r.error_spike,
        },
    ]
}

/// The audit event type `rule` watches (`None` for a rule this version does not know): where
/// the console's drill-down from an alert whose subject is not one address leads.
pub fn rule_event(rule: &str) -> Option<EventType> {
    match rule {
        "uuid_probing" => Some(EventType::SessionValidationFailed),
        "rate_limit_abuse" => Some(EventType::RateLimitExceeded),
        "upload_abuse" => Some(EventType::UploadRejected),
        "error_spike" => Some(EventType::RequestError),
        "dependency_down" => Some(EventType::DependencyDown),
        _ => None,
    }
}

/// Matching events of one subject within a window.
#[derive(Default)]
struct Group {
    weight: i64,
    first: i64,
    last: i64,
    /// (id, weight), newest first.
    events: Vec<(i64, i64)>,
}

fn weight(e: &RecentEvent, sum_count: bool) -> i64 {
    if sum_count {
        e.metadata
            .0
            .get("count")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(1)
            .max(1)
    } else {
        1
    }
}

fn samples(newest_first: impl Iterator<Item = i64>, old: &[i64]) -> Vec<i64> {
    let mut ids: Vec<i64> = newest_first.chain(old.iter().copied()).collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.dedup();
    ids.truncate(SAMPLES);
    ids
}

struct Detector<'a> {
    ctx: &'a JobContext,
    origin: Origin,
    now: DateTime<Utc>,
    live: HashMap<(String, String), Alert>,
    counts: Counts,
}

impl Detector<'_> {
    fn bump(&mut self, key: &str) {
        crate::jobs::context::count(&mut self.counts, key, 1);
    }

    /// The email for a critical alert, if mail is on and the cooldown allows one now.
    async fn critical_email(&self, a: &AlertView<'_>) -> Result<Option<NewNotification>, StoreError> {
        let settings = &self.ctx.settings;
        if a.severity != Severity::Critical || !settings.email.enabled {
            return Ok(None);
        }
        if let Some(last) = self.ctx.store.last_emailed_at(a.rule, a.subject).await? {
            let cooldown =
                chrono::Duration::from_std(settings.alerts.email_cooldown.get()).unwrap_or(chrono::Duration::MAX);
            if self.now < last + cooldown {
                return Ok(None);
            }
        }
        Ok(Some(alert_email(settings, a, self.now)))
    }

    /// Raise a new alert or add the events newer than what a live one has seen.
    async fn observe(
        &mut self,
        rule: &'static str,
        severity: Severity,
        threshold: i64,
        subject: &str,
        g: &Group,
    ) -> Result<(), StoreError> {
        let key = (rule.to_owned(), subject.to_owned());
        if let Some(alert) = self.live.get(&key).cloned() {
            let seen = alert.sample_event_ids.iter().copied().max().unwrap_or(0);
            let fresh: Vec<&(i64, i64)> = g.events.iter().filter(|(id, _)| *id > seen).collect();
            if fresh.is_empty() {
                return Ok(());
            }
            let added: i64 = fresh.iter().map(|(_, w)| w).sum();
            let count = alert.count + added;
            let ids = samples(fresh.iter().map(|(id, _)| *id), &alert.sample_event_ids);
            let last_seen = from_millis(g.last).max(alert.last_seen_at);
            let view = AlertView {
                rule,
                subject,
                severity,
                count,
                first_seen: alert.first_seen_at,
                last_seen,
                samples: &ids,
            };
            let email = self.critical_email(&view).await?;
            self.ctx
                .store
                .update_alert(alert.id, count, last_seen, &ids, email.as_ref())
                .await?;
            self.bump("updated");
            if email.is_some() {
                self.bump("emails_queued");
            }
            return Ok(());
        }
        if g.weight < threshold {
            return Ok(());
        }
        let ids = samples(g.events.iter().map(|(id, _)| *id), &[]);
        let view = AlertView {
            rule,
            subject,
            severity,
            count: g.weight,
            first_seen: from_millis(g.first),
            last_seen: from_millis(g.last),
            samples: &ids,
        };
        let email = self.critical_email(&view).await?;
        let new = NewAlert {
            rule: rule.to_owned(),
            subject: subject.to_owned(),
            severity,
            count: g.weight,
            first_seen_at: view.first_seen,
            last_seen_at: view.last_seen,
            sample_event_ids: ids.clone(),
        };
        let event = NewEvent::new(
            &self.origin,
            self.now,
            EventType::AlertRaised,
            severity,
            None,
            json!({ "rule": rule, "subject": subject, "count": g.weight, "sample_event_ids": ids }),
        );
        self.ctx.store.raise_alert(&new, &event, email.as_ref()).await?;
        tracing::warn!(
            rule,
            subject,
            count = g.weight,
            severity = severity.as_str(),
            "alert raised"
        );
        self.bump("raised");
        if email.is_some() {
            self.bump("emails_queued");
        }
        Ok(())
    }

    async fn resolve_quiet(&mut self, rule: &str, active: &(dyn Fn(&str) -> bool + Sync)) -> Result<(), StoreError> {
        let quiet: Vec<Alert> = self
            .live
            .values()
            .filter(|a| a.rule == rule && !active(&a.subject))
            .cloned()
            .collect();
        for a in quiet {
            self.ctx.store.resolve_alert(a.id, self.now).await?;
            self.bump("resolved");
        }
        Ok(())
    }
}

/// The `alert_detection` job as of `now`.
pub async fn detect(ctx: &JobContext, run_id: i64, now: DateTime<Utc>) -> Result<Counts, JobError> {
    Ok(detect_inner(ctx, run_id, now).await?)
}

async fn detect_inner(ctx: &JobContext, run_id: i64, now: DateTime<Utc>) -> Result<Counts, StoreError> {
    let live = ctx
        .store
        .live_alerts()
        .await?
        .into_iter()
        .map(|a| ((a.rule.clone(), a.subject.clone()), a))
        .collect();
    let mut d = Detector {
        ctx,
        origin: Origin::system(format!("job:alert_detection:{run_id}")),
        now,
        live,
        counts: Counts::new(),
    };
    for key in ["raised", "updated", "resolved", "emails_queued"] {
        crate::jobs::context::count(&mut d.counts, key, 0);
    }
    let prefix = ctx.settings.rate_limit.ipv6_prefix;
    for rule in count_rules(&ctx.settings) {
        let window = chrono::Duration::from_std(rule.settings.window.get()).unwrap_or(chrono::Duration::MAX);
        let since = now.checked_sub_signed(window).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let events = ctx.store.recent_events(rule.event.as_str(), since, MAX_EVENTS).await?;
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for e in &events {
            let subject = if rule.per_ip {
                match e.ip.as_deref() {
                    Some(ip) => crate::client_key::subject(ip, prefix),
                    None => continue,
                }
            } else {
                "*".to_owned()
            };
            let w = weight(e, rule.sum_count);
            let g = groups.entry(subject).or_default();
            if g.events.is_empty() {
                g.first = e.occurred_at;
                g.last = e.occurred_at;
            }
            g.weight += w;
            g.first = g.first.min(e.occurred_at);
            g.last = g.last.max(e.occurred_at);
            g.events.push((e.id, w));
        }
        for (subject, g) in &groups {
            d.observe(rule.name, rule.severity, i64::from(rule.settings.threshold), subject, g)
                .await?;
        }
        d.resolve_quiet(rule.name, &|s| groups.contains_key(s)).await?;
    }
    detect_dependencies(&mut d).await?;
    Ok(d.counts)
}

/// `dependency_down`: a `dependency.down` event (metadata `dependency`) with no later
/// `dependency.up` for the same dependency, down for at least the rule's window.
async fn detect_dependencies(d: &mut Detector<'_>) -> Result<(), StoreError> {
    let settings = d.ctx.settings.alerts.rules.dependency_down;
    let window = chrono::Duration::from_std(settings.window.get()).unwrap_or(chrono::Duration::MAX);
    // Look back twice the window (plus slack for a late run): enough to see a down event
    // reach its window; an alert once raised stays live until an up event follows it, so
    // the lookback need not cover the whole outage (and the scan stays short).
    let span = window
        .checked_add(&window)
        .and_then(|w| w.checked_add(&chrono::Duration::minutes(5)))
        .unwrap_or(chrono::Duration::MAX);
    let since = d.now.checked_sub_signed(span).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let downs = d
        .ctx
        .store
        .recent_events(EventType::DependencyDown.as_str(), since, 10_000)
        .await?;
    let ups = d
        .ctx
        .store
        .recent_events(EventType::DependencyUp.as_str(), since, 10_000)
        .await?;
    let name = |e: &RecentEvent| {
        e.metadata
            .0
            .get("dependency")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unknown")
            .to_owned()
    };
    let mut last_up: HashMap<String, i64> = HashMap::new();
    for e in &ups {
        let v = last_up.entry(name(e)).or_insert(0);
        *v = (*v).max(e.id);
    }
    let mut down: BTreeMap<String, Group> = BTreeMap::new();
    for e in &downs {
        let dep = name(e);
        if last_up.get(&dep).is_some_and(|up| *up > e.id) {
            continue;
        }
        let g = down.entry(dep).or_default();
        if g.events.is_empty() {
            g.first = e.occurred_at;
            g.last = e.occurred_at;
        }
        g.weight += 1;
        g.first = g.first.min(e.occurred_at);
        g.last = g.last.max(e.occurred_at);
        g.events.push((e.id, 1));
    }
    for (dep, g) in &down {
        let since_first = d.now - from_millis(g.first);
        let live = d.live.contains_key(&("dependency_down".to_owned(), dep.clone()));
        if live || since_first >= window {
            d.observe("dependency_down", Severity::Critical, 1, dep, g).await?;
        }
    }
    let recovered: Vec<i64> = d
        .live
        .values()
        .filter(|a| a.rule == "dependency_down" && !down.contains_key(&a.subject))
        .filter(|a| {
            let seen = a.sample_event_ids.iter().copied().max().unwrap_or(0);
            last_up.get(&a.subject).is_some_and(|up| *up > seen)
        })
        .map(|a| a.id)
        .collect();
    for id in recovered {
        d.ctx.store.resolve_alert(id, d.now).await?;
        d.bump("resolved");
    }
    Ok(())
}

/// The facts an alert email names.
pub struct AlertView<'a> {
    /// Rule.
    pub rule: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Severity.
    pub severity: Severity,
    /// Count.
    pub count: i64,
    /// First seen.
    pub first_seen: DateTime<Utc>,
    /// Last seen.
    pub last_seen: DateTime<Utc>,
    /// Sample audit event ids.
    pub samples: &'a [i64],
}

fn describe(a: &AlertView<'_>) -> String {
    let ids: Vec<String> = a.samples.iter().map(i64::to_string).collect();
    format!(
        "Rule:       {}\nSeverity:   {}\nSubject:    {}\nCount:      {}\nFirst seen: {}\nLast seen:  {}\nSample audit event ids: {}\n",
        a.rule,
        a.severity.as_str(),
        a.subject,
        a.count,
        rfc3339(a.first_seen),
        rfc3339(a.last_seen),
        if ids.is_empty() {
            "(none)".to_owned()
        } else {
            ids.join(", ")
        },
    )
}

const INSPECT: &str = "Inspect with the console:\n  sessionctl alerts list\n  sessionctl audit tail\n\
    (or run `sessionctl` and open the Alerts tab; Enter shows the sample events)\n";

/// The outbox row for one critical alert.
pub fn alert_email(settings: &Settings, a: &AlertView<'_>, now: DateTime<Utc>) -> NewNotification {
    NewNotification {
        kind: NotificationKind::Alert,
        recipients: settings.email.to.join(","),
        subject_line: format!("[sessiond] {} alert: {} ({})", a.severity.as_str(), a.rule, a.subject),
        body: format!("sessiond raised an alert.\n\n{}\n{INSPECT}", describe(a)),
        created_at: now,
    }
}

/// The `alert_digest` job: one email listing the warning alerts seen since the last digest
/// that are not in their email cooldown.
pub async fn queue_digest(ctx: &JobContext, now: DateTime<Utc>) -> Result<Counts, JobError> {
    let mut counts = Counts::new();
    if !ctx.settings.email.enabled {
        counts.insert("email_disabled".into(), json!(true));
        return Ok(counts);
    }
    let since = ctx.store.last_digest_at().await?.unwrap_or(DateTime::<Utc>::MIN_UTC);
    let cooldown =
        chrono::Duration::from_std(ctx.settings.alerts.email_cooldown.get()).unwrap_or(chrono::Duration::MAX);
    let emailed_before = now.checked_sub_signed(cooldown).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let alerts = ctx.store.digest_candidates(since, emailed_before).await?;
    counts.insert("alerts".into(), json!(alerts.len()));
    if alerts.is_empty() {
        counts.insert("queued".into(), json!(0));
        return Ok(counts);
    }
    let mut body = format!(
        "sessiond warning digest: {} alert(s) since the last digest.\n\n",
        alerts.len()
    );
    for a in &alerts {
        let view = AlertView {
            rule: &a.rule,
            subject: &a.subject,
            severity: a.severity,
            count: a.count,
            first_seen: a.first_seen_at,
            last_seen: a.last_seen_at,
            samples: &a.sample_event_ids,
        };
        body.push_str(&describe(&view));
        body.push_str(&format!("Status:     {}\n\n", a.status));
    }
    body.push_str(INSPECT);
    let email = NewNotification {
        kind: NotificationKind::Digest,
        recipients: ctx.settings.email.to.join(","),
        subject_line: format!("[sessiond] warning digest: {} alert(s)", alerts.len()),
        body,
        created_at: now,
    };
    let ids: Vec<i64> = alerts.iter().map(|a| a.id).collect();
    ctx.store.queue_digest(&email, &ids).await?;
    counts.insert("queued".into(), json!(1));
    Ok(counts)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rule_event_names_what_each_counting_rule_reads() {
        for rule in super::count_rules(&crate::config::Settings::default()) {
            assert_eq!(super::rule_event(rule.name), Some(rule.event), "{}", rule.name);
        }
        assert_eq!(super::rule_event("nope"), None);
    }
}
