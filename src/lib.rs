//! herald: an outbound campaign and satisfaction-survey scheduler.
//!
//! The library behind the `herald` binary. `domain` holds the pure rules; `catalog` loads
//! and checks campaign definitions and templates; `store` keeps contacts, suppressions,
//! tags and the attempt ledger; `import` streams contact files in; `cli` drives it all.

pub mod api;
pub mod bench;
pub mod catalog;
pub mod channel;
pub mod cli;
pub mod clock;
pub mod config;
pub mod diagnostics;
pub mod domain;
pub mod engine;
pub mod examples;
pub mod export;
pub mod fuzz;
pub mod import;
pub mod metrics;
pub mod queue;
pub mod signing;
pub mod store;
pub mod templates;

// Planning and the agent desk are rooms of the engine; their paths stay short.
pub use engine::{desk, planning};
