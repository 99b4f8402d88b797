//! Every store operation's body, written once for both databases.
//!
//! This folder is compiled twice: `sqlite/mod.rs` and `postgres/mod.rs` each include it as
//! their module `ops`, so here `super::` is the dialect it is compiled for. A dialect
//! provides the same names (see either dialect's module documentation):
//! - `DialectStore`, the store type, with its `pool`;
//! - `QUERIES`, the dialect's named queries (the same names in both);
//! - `DbRow` and `DbConnection`, sqlx's row and connection of that database;
//! - `list`, how a list parameter is bound;
//! - `StoredTime` and `stored_time`, how a time computed by `MIN`/`MAX` comes back;
//! - the operations whose statements differ in shape, not only in SQL: multi-row inserts,
//!   set-wise ledger updates, locked transactions, export paging and retries.
//!
//! Rows are read through [`rows::Record`], which hides how each database stores flags,
//! small numbers and JSON.
//!
//! The bodies are inherent methods, visible only inside `store/`; the [`crate::store::Store`]
//! trait's implementations forward to them inside a tracing span.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::{
    DbConnection, DbRow, DialectStore, INSERT_CHUNK, QUERIES, StoredTime, add_tags, applied_count,
    begin_locked, close_many, insert_attempts, insert_events, insert_inbox, is_transient, list,
    mark_sent_many, migrator, quarter_hour, reschedule_many, stored_time, write_contacts,
};
use crate::domain::contact::{Contact, Suppression, SuppressionKind, Tag};
use crate::domain::ledger::{
    Attempt, AttemptState, InboxItem, NewAttempt, Report, Run, TallyRow, Write, WriteGroup,
};
use crate::domain::lifecycle::{CampaignState, EventKind, RunState};
use crate::domain::outcome::Outcome;
use crate::domain::policy::PastAttempt;
use crate::domain::rate::{Bucket, Grant};
use crate::domain::values::{Channel, PhoneNumber};
use crate::store::rows::{self, Record as _};
use crate::store::{
    BreakdownCounts, CampaignStats, ContactRun, Daemon, DeskTake, Doing, NamedCount, NewContact,
    Present, ReportScope, SendsAt, SetBatch, StoreError, UpsertCounts,
};

mod contacts;
mod desk;
mod ledger;
mod readouts;
mod runs;

/// Rows of (name, count).
fn named_counts(rows: &[DbRow]) -> Vec<NamedCount> {
    rows.iter()
        .map(|r| NamedCount {
            name: r.get(0),
            count: r.get(1),
        })
        .collect()
}

/// A row of a tally: attempts by step, channel, state and result.
fn tally(r: &DbRow) -> Result<TallyRow, StoreError> {
    Ok(TallyRow {
        step: r.text("step")?,
        channel: r.text("channel")?,
        state: r.text("state")?,
        result: r.text("result")?,
        attempts: r.int("n")?,
        connected: r.opt_int("connected")?.unwrap_or(0),
    })
}
