//! Where the subcommands write: stdout through one buffer (a closed pipe, `| head`, ends the
//! command quietly), in the format chosen with `-o`, and failures on stderr, as a JSON object
//! with `-o json`.

use std::io::{BufWriter, IsTerminal, Stdout, Write};
use std::sync::Mutex;

use serde_json::json;

use super::Failure;

/// `-o`: how the subcommands print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    #[default]
    Table,
    /// Aligned columns, more of them.
    Wide,
    /// JSON (one document; `audit tail` and `audit export` one object per line).
    Json,
}

/// Standard output of a subcommand.
pub struct Out {
    /// Chosen format.
    pub format: Format,
    /// `--no-headers`.
    pub no_headers: bool,
    stdout: Mutex<BufWriter<Stdout>>,
}

impl Out {
    /// Output in `format`.
    pub fn new(format: Format, no_headers: bool) -> Self {
        Self {
            format,
            no_headers,
            stdout: Mutex::new(BufWriter::new(std::io::stdout())),
        }
    }

    /// `-o json`.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// `-o wide`.
    pub fn wide(&self) -> bool {
        self.format == Format::Wide
    }

    fn write(&self, text: &str) -> Result<(), Failure> {
        let mut out = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(text.as_bytes()).map_err(Failure::from_stdout)
    }

    /// One line (its newline added).
    pub fn line(&self, text: &str) -> Result<(), Failure> {
        self.write(text)?;
        self.write("\n")
    }

    /// A table's header line, unless `--no-headers`.
    pub fn header(&self, text: &str) -> Result<(), Failure> {
        if self.no_headers {
            return Ok(());
        }
        self.line(text)
    }

    /// One JSON document, pretty-printed.
    pub fn document(&self, value: &serde_json::Value) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
        self.line(&text)
    }

    /// One JSON value on one line.
    pub fn compact(&self, value: &serde_json::Value) -> Result<(), Failure> {
        let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
        self.line(&text)
    }

    /// Write out what is buffered (before waiting, and at the end).
    pub fn flush(&self) -> Result<(), Failure> {
        let mut out = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
        out.flush().map_err(Failure::from_stdout)
    }

    /// Start a `--watch` refresh: on a terminal with a table, clear the screen and say when.
    pub fn refresh(&self, every: std::time::Duration) -> Result<(), Failure> {
        if self.json() || !std::io::stdout().is_terminal() {
            return Ok(());
        }
        self.write("\x1b[2J\x1b[H")?;
        self.line(&format!(
            "every {} · {} UTC · Ctrl-C stops",
            humantime::format_duration(every),
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")
        ))?;
        self.line("")
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Report `f` on stderr: `sessionctl: <message>`, or with `-o json`
/// `{"error": {"code", "message", "exit_code"}}`. A failure without a message (a report
/// already printed, a closed pipe) prints nothing.
pub fn report(f: &Failure, json: bool) {
    if f.message.is_empty() {
        return;
    }
    if json {
        eprintln!(
            "{}",
            json!({ "error": { "code": f.kind, "message": f.message, "exit_code": f.code } })
        );
    } else {
        eprintln!("sessionctl: {}", f.message);
    }
}
