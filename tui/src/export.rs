//! `sessionctl audit export`: every audit event in a time range as JSON lines or CSV, for a
//! SIEM or an auditor. Events are read in keyset pages by id (1 000 at a time) and written as
//! they come, so memory stays constant whatever the number of events.

use std::io::Write;

use chrono::{DateTime, Utc};
use sessiond_core::audit::{AuditEvent, AuditQuery};
use sessiond_core::domain::rfc3339;
use sessiond_core::store::Store;

const PAGE: u32 = 1000;

/// `audit export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line (the shape of `audit tail -o json`).
    Jsonl,
    /// RFC 4180 CSV with a header line; metadata as a JSON string.
    Csv,
}

/// CSV columns, in order.
const COLUMNS: [&str; 10] = [
    "id",
    "occurred_at",
    "event_type",
    "severity",
    "session_id",
    "ip",
    "user_agent",
    "request_id",
    "actor",
    "metadata",
];

fn parse_time(flag: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| format!("--{flag} `{v}`: expected an RFC 3339 time such as 2026-12-01T00:00:00Z ({e})"))
        })
        .transpose()
}

/// One CSV field, quoted when it needs to be (RFC 4180).
fn csv_field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// `e` as one CSV record (with its line end).
pub fn csv_line(e: &AuditEvent) -> String {
    let fields = [
        e.id.to_string(),
        rfc3339(e.occurred_at),
        e.event_type.clone(),
        e.severity.clone(),
        e.session_id.map(|s| s.to_string()).unwrap_or_default(),
        e.ip.clone().unwrap_or_default(),
        e.user_agent.clone().unwrap_or_default(),
        e.request_id.clone().unwrap_or_default(),
        e.actor.clone(),
        e.metadata.to_string(),
    ];
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        csv_field(&mut line, f);
    }
    line.push_str("\r\n");
    line
}

/// Write the matching events of `store` to stdout.
pub async fn run(
    store: &dyn Store,
    since: Option<&str>,
    until: Option<&str>,
    types: &[String],
    format: ExportFormat,
) -> Result<(), String> {
    let since = parse_time("since", since)?;
    let until = parse_time("until", until)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // A closed pipe (`| head`) ends the export quietly.
    let mut write = |text: &str| out.write_all(text.as_bytes()).is_ok();
    if format == ExportFormat::Csv && !write(&format!("{}\r\n", COLUMNS.join(","))) {
        return Ok(());
    }
    // One type is filtered by the database; several, here.
    let one_type = (types.len() == 1).then(|| types[0].clone());
    let mut after = i64::MIN;
    loop {
        let page = store
            .list_audit(&AuditQuery {
                after_id: Some(after),
                event_type: one_type.clone(),
                ascending: true,
                limit: PAGE,
                ..AuditQuery::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in &page {
            if since.is_some_and(|t| e.occurred_at < t)
                || until.is_some_and(|t| e.occurred_at >= t)
                || (types.len() > 1 && !types.contains(&e.event_type))
            {
                continue;
            }
            let text = match format {
                ExportFormat::Jsonl => {
                    let mut line = serde_json::to_string(&crate::cli::json::event(e)).map_err(|e| e.to_string())?;
                    line.push('\n');
                    line
                }
                ExportFormat::Csv => csv_line(e),
            };
            if !write(&text) {
                return Ok(());
            }
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    let _ = out.flush();
    Ok(())
}
