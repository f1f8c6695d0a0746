//! `sessionctl`: the full-screen console (no subcommand) or a script subcommand.

use std::ffi::OsString;
use std::io::stdout;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyCode, KeyEvent, KeyModifiers,
};
use ratatui::crossterm::execute;
use sessionctl::app::{App, Options};
use sessionctl::cli::{self, Cli, Failure, Out};
use sessionctl::fmt::Zone;
use sessionctl::ops::Console;
use sessionctl::theme::Theme;
use sessiond_core::Settings;
use sessiond_core::config::SecretUrl;
use tokio::sync::mpsc;

fn main() -> ExitCode {
    let started = Instant::now();
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_args(&args) {
        Ok(cli) => cli,
        Err(e) => return cli::parse_failure(e, Cli::wants_json(&args)),
    };
    let json = cli.format() == cli::Format::Json;
    let fail = |kind: &'static str, code: u8, message: String| {
        cli::report(&Failure::new(kind, code, message), json);
        ExitCode::from(code)
    };
    // Generated from the command line itself: no configuration, no database.
    match &cli.command {
        Some(cli::Command::Completions { shell }) => return cli::completions(*shell),
        Some(cli::Command::Man { dir }) => return cli::man(dir.as_deref()),
        _ => {}
    }
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail("config", 2, e.to_string()),
    };
    if let Some(url) = &cli.database_url {
        settings.database.url = SecretUrl::new(url.clone());
        if let Err(e) = settings.validate() {
            return fail("config", 2, format!("--database-url: {e}"));
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail("failed", 1, format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async move {
        let console = match Console::open(settings, cli.read_only).await {
            Ok(c) => Arc::new(c),
            Err(e) => {
                let mut f = Failure::from(e);
                // `audit verify`: 2 is "cannot check".
                if matches!(cli.command, Some(cli::Command::Audit(cli::AuditCmd::Verify))) {
                    f.code = 2;
                }
                cli::report(&f, json);
                return ExitCode::from(f.code);
            }
        };
        let out = Out::new(cli.format(), cli.no_headers);
        let code = match cli.command {
            Some(command) => match cli::run(&console, command, &out).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(f) => {
                    cli::report(&f, json);
                    ExitCode::from(f.code)
                }
            },
            None => {
                let (zone, warning) = Zone::from_env(cli.utc);
                if let Some(w) = &warning {
                    eprintln!("sessionctl: {w}");
                }
                let options = Options {
                    theme: Theme::new(cli.theme),
                    zone,
                };
                tui(console.clone(), !cli.no_mouse, options, warning, started).await
            }
        };
        console.close().await;
        code
    })
}

async fn tui(
    console: Arc<Console>,
    mouse: bool,
    options: Options,
    warning: Option<String>,
    started: Instant,
) -> ExitCode {
    // Mouse capture is ours to undo; ratatui's own hook (installed by try_init, which chains to
    // this one) restores raw mode and the screen on a panic.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(stdout(), DisableMouseCapture);
        previous(info);
    }));
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sessionctl: cannot set up the terminal: {e}");
            return ExitCode::FAILURE;
        }
    };
    if mouse {
        let _ = execute!(stdout(), EnableMouseCapture);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let keys = tx.clone();
    // crossterm's reader blocks, so it gets a thread; it ends when the loop drops the channel.
    std::thread::spawn(move || {
        while let Ok(ev) = event::read() {
            if keys.send(ev).is_err() {
                break;
            }
        }
    });
    // SIGTERM / SIGHUP quit like Ctrl-C, so the terminal is restored.
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        let _ = tx.send(Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    });
    let mut app = App::new(console, options);
    if let Some(w) = warning {
        app.warn(w);
    }
    if let Some(path) = std::env::var_os("SESSIONCTL_TRACE") {
        let _ = app.trace_to(std::path::Path::new(&path), started);
    }
    let result = app.run(&mut terminal, rx, None).await;
    if mouse {
        let _ = execute!(stdout(), DisableMouseCapture);
    }
    ratatui::restore();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sessionctl: terminal error: {e}");
            ExitCode::FAILURE
        }
    }
}
