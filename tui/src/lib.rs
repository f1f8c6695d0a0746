//! sessionctl: the sessiond admin console (full-screen, ratatui) and its script subcommands.
//! `app` holds the state and the event loop, `views` one module per screen, `tab` the tabs, `keymap` every key
//! (the help overlay is generated from it), `theme` the colours, `ops` the data-changing
//! operations shared by the console and the subcommands, `cli` the subcommands, `filter`
//! the filter values both accept.

pub mod app;
pub mod cli;
pub mod export;
pub mod filter;
pub mod fmt;
pub mod keymap;
pub mod ops;
pub mod tab;
pub mod theme;
pub mod views;
