//! The store: every read and write of herald's data goes through the [`Store`] trait.
//!
//! The rooms:
//! - `mod.rs` (here): the [`Store`] trait, its errors and the records it reads and writes.
//!   The trait is declared once, by `store_operations!`, which also writes its three
//!   implementations: [`SqliteStore`] and [`PgStore`] forward each operation to the one
//!   body in `ops/`, inside a tracing span named `store` with the operation and the
//!   database (so both databases are traced alike), and [`AnyStore`] forwards to the
//!   database its URL chose.
//! - `ops/`: every operation's body, written once. The folder is compiled twice, once
//!   inside each dialect module, so `super::` names that dialect: its pool, its rows, its
//!   named queries and the few functions that really differ.
//! - `sqlite/` and `postgres/`: the two dialects. Each holds only what differs: pool
//!   set-up, how a list parameter is bound (JSON text read with `json_each`, or an array),
//!   multi-row inserts, row-lock claims and locks, export paging and retries. Their named
//!   queries (`queries/DIALECT/NAME.sql`, the same names in both, listed once below) are
//!   the only place where behaviour differs between the databases.
//! - `batch.rs`: which batches of ledger writes may be applied set-wise.
//! - `rows.rs`: records decoded from rows of either database; `json_page.rs`: SQLite's
//!   export pages; `copy.rs`: copying a SQLite database into PostgreSQL.
//!
//! Nothing outside this folder names a pool, a dialect or SQL: what a command needs of the
//! database (migration status, the server's version, a table's size) is a store operation.
//!
//! A test prepares every named query against a migrated database of each dialect, so a
//! broken query fails in CI rather than in production.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::Instrument as _;

use crate::domain::contact::{Contact, Suppression, SuppressionKind, Tag};
use crate::domain::exported::{Cell, Filter, SinkError, Table};
use crate::domain::ledger::{Attempt, AttemptState, InboxItem, NewAttempt, Report, Run, TallyRow};
use crate::domain::lifecycle::{CampaignState, EventKind, RunState};
use crate::domain::outcome::Outcome;
use crate::domain::policy::PastAttempt;
use crate::domain::rate::Grant;
use crate::domain::values::Channel;

/// Declares a dialect's named queries, embedded from `queries/DIALECT/NAME.sql`: the one
/// list of names, so both dialects have the same queries, then the few a dialect has alone
/// (`only:`, for what the other database has no counterpart of).
macro_rules! named_queries {
    ($dialect:literal $(, only: $($only:ident),* $(,)?)?) => {
        named_queries!(@declare $dialect: [$($($only),*)?]
            applied_migrations,
            server_version,
            clear_rate_buckets,
            count_events,
            live_sequences,
            link_answers_near,
            latest_sms_to,
            upsert_response,
            responses_of_contact_in_run,
            contact_by_external_id,
            contacts_by_external_ids,
            contacts_page,
            contacts_page_in_lists,
            upsert_contact,
            ensure_list,
            add_list_member,
            list_counts,
            lists_of_contact,
            count_contacts,
            tags_for_contacts,
            upsert_tag,
            add_tag_if_absent,
            remove_tag,
            tag_counts,
            upsert_suppression,
            delete_suppression,
            suppressions_list,
            suppressions_for_targets,
            history_for_contacts,
            attribute_keys,
            tag_names,
            contact_by_id,
            campaign_state,
            set_campaign_state,
            campaign_version,
            create_run,
            finish_run,
            set_run_summary,
            last_occurrence,
            runs_list,
            run_by_id,
            running_runs,
            open_attempts_of_run,
            send_failures,
            run_tally,
            insert_attempt,
            claim_due,
            attempts_by_ids,
            attempt_by_key,
            attempts_of_contact_in_run,
            requeue_stale,
            held_runs,
            refresh_statistics,
            mark_sent_many,
            reschedule_many,
            close_many,
            insert_events,
            inbox_applied_many,
            set_connected_many,
            daemon_beat,
            daemon_gone,
            release_claims,
            daemons_list,
            reschedule_attempt,
            mark_sent,
            send_seen,
            close_attempt,
            set_connected,
            cancel_queued_for_contact,
            cancel_queued_for_campaign,
            insert_event,
            events_of_contact,
            inbox_push,
            inbox_due,
            inbox_applied,
            next_due,
            volume_by_hour,
            campaign_totals,
            campaign_outcomes,
            event_counts,
            contacts_by_ids,
            attempts_of_contacts_in_runs,
            attempts_by_keys,
            campaign_states,
            finishable_runs,
            attempts_claimed,
            run_by_occurrence,
            mark_opted_out,
            recently_contacted,
            attempt_counts,
            inbox_pending,
            upsert_agent,
            agent_by_name,
            desk_waiting,
            desk_held_by,
            desk_take,
            desk_lock_agent,
            desk_held_count,
            rate_bucket_hold,
            rate_bucket_set,
            report_contact_runs,
            report_breakdown,
            report_sends_by_time,
            report_lists_of_contacts,
            max_contact_id,
            export_attempts,
            export_events,
            export_responses,
            export_contacts,
            export_tags,
        );
    };
    (@declare $dialect:literal: [$($only:ident),*] $($name:ident),* $(,)?) => {
        /// The named queries of this dialect.
        pub struct Queries {
            $(pub $name: &'static str,)*
            $(pub $only: &'static str,)*
        }

        /// Every named query, embedded from `queries/<dialect>/NAME.sql`.
        pub const QUERIES: Queries = Queries {
            $($name: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), "/src/store/queries/", $dialect, "/", stringify!($name), ".sql"
            )),)*
            $($only: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), "/src/store/queries/", $dialect, "/", stringify!($only), ".sql"
            )),)*
        };

        impl Queries {
            /// (name, SQL) of every query, for the test that prepares them all.
            pub fn all(&self) -> Vec<(&'static str, &'static str)> {
                vec![$((stringify!($name), self.$name),)* $((stringify!($only), self.$only),)*]
            }

            /// The names only this dialect has.
            #[cfg(test)]
            pub fn only_here() -> Vec<&'static str> {
                vec![$(stringify!($only),)*]
            }
        }
    };
}

/// Declares the [`Store`] trait from one list of operations, and implements it for both
/// dialects (forwarding to the operation's body in `ops/`, in a span) and for
/// [`AnyStore`] (forwarding to the database its URL chose).
macro_rules! store_operations {
    ($(
        $(#[$doc:meta])*
        fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
    )*) => {
        /// Everything herald reads and writes.
        ///
        /// Methods return `Send` futures so callers can run them on the multi-threaded runtime.
        pub trait Store: Send + Sync {
            $(
                $(#[$doc])*
                fn $name(&self $(, $arg: $ty)*) -> impl Future<Output = Result<$ret, StoreError>> + Send;
            )*
        }

        impl Store for SqliteStore {
            $(
                fn $name(&self $(, $arg: $ty)*) -> impl Future<Output = Result<$ret, StoreError>> + Send {
                    SqliteStore::$name(self $(, $arg)*).instrument(tracing::info_span!(
                        "store",
                        op = stringify!($name),
                        db = "sqlite"
                    ))
                }
            )*
        }

        impl Store for PgStore {
            $(
                fn $name(&self $(, $arg: $ty)*) -> impl Future<Output = Result<$ret, StoreError>> + Send {
                    PgStore::$name(self $(, $arg)*).instrument(tracing::info_span!(
                        "store",
                        op = stringify!($name),
                        db = "postgres"
                    ))
                }
            )*
        }

        impl Store for AnyStore {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    match self {
                        AnyStore::Sqlite(s) => Store::$name(s $(, $arg)*).await,
                        AnyStore::Postgres(s) => Store::$name(s $(, $arg)*).await,
                    }
                }
            )*
        }
    };
}

/// A dialect's embedded migrations, recorded in herald's own table (`herald_migrations`)
/// so a queue's migrations, which use sqlx's default table, can share the database.
pub(crate) fn herald_migrator(embedded: &sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
    let mut m = sqlx::migrate::Migrator::with_migrations(embedded.iter().cloned().collect());
    m.dangerous_set_table_name("herald_migrations");
    m
}

/// Each migration of `migrator` with when it was applied, from (version, applied at).
fn migration_status(
    migrator: &sqlx::migrate::Migrator,
    applied: &[(i64, String)],
) -> Vec<MigrationStatus> {
    migrator
        .iter()
        .map(|m| MigrationStatus {
            version: m.version,
            description: m.description.to_string(),
            applied_at: applied
                .iter()
                .find(|(v, _)| *v == m.version)
                .map(|(_, at)| at.clone()),
        })
        .collect()
}

/// The migrations a new SQLite database would get, none applied yet (for `migrate status`
/// before the file exists).
pub fn migrations_of_a_new_sqlite_database() -> Vec<MigrationStatus> {
    migration_status(&sqlite::migrator(), &[])
}

/// How many of herald's migrations a database has applied (0 before the first).
pub(crate) const APPLIED_MIGRATIONS: &str = "SELECT COUNT(*) FROM herald_migrations WHERE success";

pub mod any;
mod batch;
pub mod copy;
mod json_page;
pub mod postgres;
mod rows;
pub mod scratch;
pub mod sqlite;

/// The ledger's writes are plain domain data, so decisions can return them.
pub use crate::domain::ledger::{Write, WriteGroup};
pub use any::{AnyStore, QueuePool};
pub(crate) use batch::{Closing, Followers, SetBatch};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Errors at the store boundary, each with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{doing}: {source}")]
    Database {
        doing: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database holds a value herald cannot read ({0})")]
    Corrupt(String),
    #[error("unsupported database URL `{0}`: expected sqlite://PATH")]
    UnsupportedUrl(String),
    /// The operation has no counterpart on this database.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The callback given rows (an export's writer) failed; reading stopped there.
    #[error("{0}")]
    Sink(#[source] SinkError),
}

/// Adds what was being done to a sqlx error.
pub(crate) trait Doing<T> {
    fn doing(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> Doing<T> for Result<T, sqlx::Error> {
    fn doing(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database {
            doing: what,
            source,
        })
    }
}

/// A contact as an import writes it: the store assigns `contact.id` (ignored here) and
/// keeps the tags it already has (`contact.tags` is ignored; `tags` are added).
#[derive(Clone, Debug, PartialEq)]
pub struct NewContact {
    pub contact: Contact,
    /// Tags to add (source `import`).
    pub tags: Vec<String>,
}

/// Which columns an import file carries: the others keep their stored values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Present {
    pub first_name: bool,
    pub last_name: bool,
    pub phone: bool,
    pub email: bool,
    pub locale: bool,
    pub timezone: bool,
    pub consent_sms: bool,
    pub consent_email: bool,
    pub consent_call: bool,
}

/// What an upsert did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UpsertCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl std::ops::AddAssign for UpsertCounts {
    fn add_assign(&mut self, o: Self) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
    }
}

/// A count per name (lists, tags).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamedCount {
    pub name: String,
    pub count: i64,
}

/// What a campaign's runs did, from the ledger: the figures reports and forecasts show.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CampaignStats {
    pub runs: i64,
    /// Contacts with at least one attempt planned.
    pub contacts: i64,
    /// Contacts with at least one attempt sent.
    pub attempted: i64,
    /// Contacts reached (a connected call, a reply, an answer).
    pub reached: i64,
    /// Contacts with a converting outcome (promise to pay, paid, a click, a survey answer).
    pub converted: i64,
    pub sent: i64,
    /// Connected agent calls.
    pub agent_calls: i64,
    /// (hour `YYYY-MM-DD HH` UTC, channel, attempts sent)
    pub volume_by_hour: Vec<(String, String, i64)>,
    pub outcomes: Vec<TallyRow>,
    /// Event kind → count.
    pub events: Vec<(String, i64)>,
}

/// Which part of a campaign's ledger a report reads, and what it counts as a conversion.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportScope {
    pub campaign: String,
    /// One run, or every run of the campaign.
    pub run: Option<i64>,
    /// Outcomes that convert, as an attempt's outcome or an event on it.
    pub conversions: Vec<Outcome>,
    /// A delivery (or connected call) converts (reminders).
    pub delivery_converts: bool,
    /// A survey answer converts (surveys).
    pub answer_converts: bool,
    /// The campaign's NPS and CSAT questions, whose scores are read per contact.
    pub nps_question: Option<String>,
    pub csat_question: Option<String>,
    /// The step whose A/B variant (or holdout) each contact is reported under.
    pub ab_step: Option<String>,
}

/// What happened to one contact in one run, as reports count it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ContactRun {
    pub run_id: i64,
    pub contact_id: i64,
    /// An attempt was sent.
    pub attempted: bool,
    /// A message was delivered (or opened, clicked, replied to) or a call connected.
    pub delivered: bool,
    /// An attempt connected (a call answered, a reply, an answer).
    pub reached: bool,
    pub wrong_number: bool,
    pub promised: bool,
    pub paid: bool,
    /// An outcome or event among the scope's conversions.
    pub converted_by_outcome: bool,
    /// A row in `responses`.
    pub responded: bool,
    /// An attempt is still queued or being sent.
    pub open: bool,
    /// Reason (or state) of the latest skipped or cancelled attempt.
    pub skip_reason: Option<String>,
    /// The contact has an attempt on the scope's A/B step ...
    pub on_ab_step: bool,
    /// ... with this variant (`holdout` for the control group; `None` when the step has
    /// a holdout but no variants and the contact was not held out).
    pub variant: Option<String>,
    pub nps: Option<i64>,
    pub csat: Option<i64>,
}

/// Contacts (one per run) and sends of one step or channel.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BreakdownCounts {
    pub key: String,
    pub contacts: u64,
    pub attempted: u64,
    pub delivered: u64,
    pub reached: u64,
    pub converted: u64,
    pub sends: u64,
}

/// Sends in one quarter hour with one result (`converted`, `reached`, `delivered`,
/// `pending`, `not_reached`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SendsAt {
    /// Start of the quarter hour (UTC).
    pub at: DateTime<Utc>,
    pub result: String,
    pub sends: u64,
}

/// What [`Store::desk_take`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeskTake {
    /// The agent holds the call now.
    Taken,
    /// Someone else holds it, or it is no longer waiting.
    Gone,
    /// The agent already holds as many calls as their capacity.
    AtCapacity,
    /// No agent has that name.
    UnknownAgent,
}

/// One of herald's migrations, and when this database applied it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    /// UTC, `YYYY-MM-DD HH:MM:SS`; `None` while pending.
    pub applied_at: Option<String>,
}

/// The database engine's version.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerVersion {
    /// `SQLite 3.46.1`, `PostgreSQL 16.4`.
    pub text: String,
    /// The engine's own number for it (SQLite 3046001, PostgreSQL's `server_version_num`).
    pub number: i64,
}

/// Whether the server has a PostgreSQL extension the daemon's queue needs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ExtensionStatus {
    /// Installed in this database, at this version.
    Installed(String),
    /// The server has it; nobody created it in this database yet.
    Available,
    /// The server lacks it.
    Missing,
}

/// A daemon sharing the database, as it last said it was alive.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Daemon {
    /// Unique per process: `herald-HOST-PID-RANDOM`.
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started_at: DateTime<Utc>,
    pub seen_at: DateTime<Utc>,
}

store_operations! {

    /// Applies pending migrations; returns how many ran.
    fn migrate(&self) -> usize;

    /// After a bulk load (contacts imported, a big run planned): refreshes the planner's
    /// statistics.
    fn refresh_statistics(&self) -> ();

    /// Inserts or updates contacts by external id in one transaction, adding them to
    /// `list` when given. Fields whose column is not `present` keep their stored values;
    /// attributes merge key by key.
    fn upsert_contacts(&self, batch: &[NewContact], present: Present, list: Option<&str>, now: DateTime<Utc>) -> UpsertCounts;

    fn contact(&self, external_id: &str) -> Option<Contact>;

    fn count_contacts(&self) -> i64;

    /// A page of contacts after id `after`, ordered by id: members of any of `lists`, or
    /// every contact when `lists` is empty. Tags included.
    fn contacts_page(&self, lists: &[String], after: i64, limit: i64) -> Vec<Contact>;

    fn list_counts(&self) -> Vec<NamedCount>;

    /// Names of the lists a contact belongs to.
    fn lists_of(&self, contact_id: i64) -> Vec<String>;

    fn upsert_tag(&self, contact_id: i64, tag: &Tag, now: DateTime<Utc>) -> ();

    /// Removes a tag; false when the contact did not have it.
    fn remove_tag(&self, contact_id: i64, tag: &str, now: DateTime<Utc>) -> bool;

    /// Tags in force at `now` with their number of contacts.
    fn tag_counts(&self, now: DateTime<Utc>) -> Vec<NamedCount>;

    /// Adds entries (refreshing reason and expiry of existing ones) in one transaction.
    fn upsert_suppressions(&self, entries: &[Suppression]) -> u64;

    /// Removes the entries for a target (of one kind, or all kinds); returns how many.
    fn delete_suppression(&self, target_kind: &str, value: &str, kind: Option<SuppressionKind>) -> u64;

    /// Entries, newest first: those in force at `now`, or all with `include_expired`.
    fn suppressions(&self, now: DateTime<Utc>, include_expired: bool, limit: i64) -> Vec<Suppression>;

    /// Entries that name any of these contacts by phone, e-mail or external id.
    fn suppressions_for(&self, contacts: &[Contact]) -> Vec<Suppression>;

    /// Attempts sent to these contacts since `since`, by contact id.
    fn history_for(&self, contact_ids: &[i64], since: DateTime<Utc>) -> BTreeMap<i64, Vec<PastAttempt>>;

    /// Attribute names any contact has.
    fn attribute_keys(&self) -> BTreeSet<String>;

    /// Tag names any contact has.
    fn tag_names(&self) -> BTreeSet<String>;

    /// The contact with this internal id, tags included.
    fn contact_by_id(&self, id: i64) -> Option<Contact>;

    // --- campaigns and runs ---------------------------------------------------------

    /// `active` (also when never set), `paused` or `cancelled`.
    fn campaign_state(&self, campaign: &str) -> CampaignState;

    fn set_campaign_state(&self, campaign: &str, state: CampaignState, now: DateTime<Utc>) -> ();

    /// The id of this version of a definition, recorded on first use.
    fn campaign_version(&self, campaign: &str, hash: &str, source: &str, now: DateTime<Utc>) -> i64;

    /// A new run for an occurrence, or `None` when that occurrence already has one.
    fn create_run(&self, campaign: &str, version_id: i64, occurrence: DateTime<Utc>, state: RunState, now: DateTime<Utc>) -> Option<i64>;

    fn set_run_summary(&self, run_id: i64, summary: &serde_json::Value) -> ();

    fn finish_run(&self, run_id: i64, state: RunState, summary: &serde_json::Value, now: DateTime<Utc>) -> ();

    /// The latest occurrence that has a run.
    fn last_occurrence(&self, campaign: &str) -> Option<DateTime<Utc>>;

    fn runs(&self, campaign: Option<&str>, limit: i64) -> Vec<Run>;

    fn run(&self, id: i64) -> Option<Run>;

    fn running_runs(&self) -> Vec<Run>;

    /// Attempts of a run still open (queued, sending or sent).
    fn open_attempts(&self, run_id: i64) -> i64;

    /// Temporary send failures recorded for an attempt (its `send_failed` events).
    fn send_failures(&self, attempt_id: i64) -> i64;

    fn run_tally(&self, run_id: i64) -> Vec<TallyRow>;

    // --- attempts -------------------------------------------------------------------

    /// Inserts attempts in one transaction; an attempt whose idempotency key exists is
    /// left alone. Returns how many were inserted.
    fn insert_attempts(&self, attempts: &[NewAttempt], now: DateTime<Utc>) -> u64;

    /// Claims up to `limit` attempts due at `now` (of active campaigns): they move to
    /// `sending` and no other dispatcher gets them.
    /// `claimer` names the daemon (or process) that claims them.
    fn claim_due(&self, now: DateTime<Utc>, limit: i64, claimer: &str) -> Vec<Attempt>;

    /// Sends back to the queue the claimed attempts whose dispatcher stopped: those claimed
    /// before `cutoff` (the lease ran out), and those of a daemon not seen since
    /// `silent_since` (it died).
    fn requeue_stale(&self, cutoff: DateTime<Utc>, silent_since: DateTime<Utc>, now: DateTime<Utc>) -> u64;

    /// A daemon says it is alive (recorded the first time, its `seen_at` moved after).
    fn daemon_beat(&self, daemon: &Daemon, now: DateTime<Utc>) -> ();

    /// A daemon stops: the attempts it claimed go back to the queue, and it is forgotten
    /// (with daemons not seen since `forget_before`). Returns the attempts given back.
    fn daemon_gone(&self, id: &str, forget_before: DateTime<Utc>, now: DateTime<Utc>) -> u64;

    /// The daemons that share this database, the most recently seen first.
    fn daemons(&self) -> Vec<Daemon>;

    fn attempt_by_key(&self, key: &str) -> Option<Attempt>;

    fn attempts_of_contact_in_run(&self, run_id: i64, contact_id: i64) -> Vec<Attempt>;

    /// The idempotency key of the latest SMS sent since `since` to a contact with this
    /// phone number (the message an inbound reply without a key answers), and how many
    /// contacts have that number.
    fn latest_sms_to(&self, phone: &crate::domain::values::PhoneNumber, since: DateTime<Utc>) -> Option<(String, i64)>;

    /// How many different answers to `question` came by one-click link for attempt `key`
    /// with due moments between `from` and `to` (a link scanner's sweep gives many).
    fn link_answers_near(&self, key: &str, question: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> i64;

    /// The current survey answers of one contact in one run.
    fn responses_of_contact_in_run(&self, run_id: i64, contact_id: i64) -> Vec<crate::domain::survey::Response>;

    /// Back to the queue until `not_before`, with the reason.
    fn reschedule(&self, id: i64, not_before: DateTime<Utc>, reason: &str, now: DateTime<Utc>) -> ();

    fn mark_sent(&self, id: i64, at: DateTime<Utc>, provider_ref: &str) -> bool;

    /// Moves an open attempt to a final state; false when it was already final.
    fn close_attempt(&self, id: i64, state: AttemptState, outcome: Option<Outcome>, connected: bool, reason: Option<&str>, now: DateTime<Utc>) -> bool;

    fn set_connected(&self, id: i64, now: DateTime<Utc>) -> ();

    /// Cancels a contact's queued attempts on these channels (after an opt-out), in one
    /// run or in all.
    fn cancel_queued_for_contact(&self, contact_id: i64, channels: &[Channel], run_id: Option<i64>, reason: &str, now: DateTime<Utc>) -> u64;

    fn cancel_queued_for_campaign(&self, campaign: &str, reason: &str, now: DateTime<Utc>) -> u64;

    fn record_event(&self, attempt_id: i64, kind: EventKind, detail: Option<&str>, payload: &serde_json::Value, occurred_at: DateTime<Utc>, now: DateTime<Utc>) -> ();

    /// A contact's events across campaigns, oldest first.
    fn events_of_contact(&self, contact_id: i64, limit: i64) -> Vec<serde_json::Value>;

    // --- inbox ----------------------------------------------------------------------

    /// Adds provider events; a repeat of (provider, event key) is ignored. Returns how
    /// many were new.
    fn inbox_push(&self, provider: &str, items: &[(String, String, Report, DateTime<Utc>)], now: DateTime<Utc>) -> u64;

    fn inbox_due(&self, now: DateTime<Utc>, limit: i64) -> Vec<InboxItem>;

    fn inbox_applied(&self, id: i64, now: DateTime<Utc>) -> ();

    /// The earliest moment a queued attempt or an inbox item is due.
    fn next_due(&self) -> Option<DateTime<Utc>>;

    /// What a campaign's runs did so far; `conversions` are the outcomes that count as one.
    fn campaign_stats(&self, campaign: &str, conversions: &[Outcome]) -> CampaignStats;

    /// Contacts by internal id, tags included.
    fn contacts_by_ids(&self, ids: &[i64]) -> Vec<Contact>;

    /// Every attempt of these contacts within these runs.
    fn attempts_of_contacts_in_runs(&self, run_ids: &[i64], contact_ids: &[i64]) -> Vec<Attempt>;

    fn attempts_by_keys(&self, keys: &[String]) -> Vec<Attempt>;

    /// Campaigns whose state has been set, with it (others are `active`).
    fn campaign_states(&self) -> BTreeMap<String, CampaignState>;

    /// Running runs with no open attempt left.
    fn finishable_runs(&self) -> Vec<Run>;

    /// The attempts among `ids` still held by the claim made at `claimed_at`.
    fn attempts_claimed(&self, ids: &[i64], claimed_at: DateTime<Utc>) -> Vec<Attempt>;

    /// The run of one occurrence, if it has one.
    fn run_by_occurrence(&self, campaign: &str, occurrence: DateTime<Utc>) -> Option<Run>;

    /// Applies groups of writes in one transaction; returns, per group, whether its guard
    /// held (and so its other writes were applied).
    fn apply_writes(&self, groups: &[WriteGroup], now: DateTime<Utc>) -> Vec<bool>;

    /// Sets an attempt's outcome to `opted_out` (closing it if open), whatever it had.
    fn mark_opted_out(&self, id: i64, now: DateTime<Utc>) -> ();

    /// Contacts among `ids` still inside a sequence of this campaign that a run other than
    /// `except_run` started (one of its attempts is still open).
    fn live_sequences(&self, campaign: &str, ids: &[i64], except_run: Option<i64>) -> BTreeSet<i64>;

    /// Contacts among `ids` this campaign sent to since `since`.
    fn recently_contacted(&self, campaign: &str, ids: &[i64], since: DateTime<Utc>) -> BTreeSet<i64>;

    /// (channel, state, attempts) for every channel and state with attempts.
    fn attempt_counts(&self) -> Vec<(String, String, i64)>;

    /// Provider events not applied yet.
    fn inbox_pending(&self) -> i64;

    /// Events in the ledger.
    fn count_events(&self) -> i64;

    /// Adds or updates an agent of the desk.
    fn upsert_agent(&self, name: &str, skills: &[String], capacity: u32, now: DateTime<Utc>) -> ();

    /// An agent's skills and capacity.
    fn agent(&self, name: &str) -> Option<(Vec<String>, u32)>;

    /// Desk attempts nobody holds, oldest first.
    fn desk_waiting(&self, limit: i64) -> Vec<Attempt>;

    /// The desk attempts an agent holds.
    fn desk_held_by(&self, agent: &str) -> Vec<Attempt>;

    /// Gives a waiting desk attempt to an agent, unless someone took it first or the agent
    /// already holds as many calls as their capacity. The count and the take happen under
    /// a lock of the agent (their row on PostgreSQL, the write lock on SQLite), so daemons
    /// serving the same agent at once never give them more than their capacity.
    fn desk_take(&self, id: i64, agent: &str, now: DateTime<Utc>) -> DeskTake;

    // --- rate limits ------------------------------------------------------------------

    /// Takes up to `want` tokens from the token bucket `name`, which refills at `rate`
    /// tokens a second up to `capacity` (a new bucket starts full), and says when the next
    /// token will be there. The bucket is a row every process on the database shares, held
    /// locked for the take, so daemons sharing a database share its rate. Time counts
    /// from the later of the bucket's last moment and `now`: a daemon whose clock is a
    /// little behind refills nothing rather than a negative amount.
    fn take_tokens(&self, name: &str, rate: f64, capacity: f64, want: u32, now: DateTime<Utc>) -> Grant;

    /// Forgets every rate bucket: they all start full again (a simulation's copy of the
    /// database, whose buckets hold real moments that may lie ahead of simulated time).
    fn clear_rate_buckets(&self) -> ();

    // --- reports --------------------------------------------------------------------

    /// What happened to each contact in each run of the scope, for contacts with ids in
    /// (`after`, `last`], ordered by contact and run.
    fn report_contact_runs(&self, scope: &ReportScope, after: i64, last: i64) -> Vec<ContactRun>;

    /// Contacts and sends of the scope by step (`by_step`) or by channel.
    fn report_breakdown(&self, scope: &ReportScope, by_step: bool) -> Vec<BreakdownCounts>;

    /// Sends of the scope by quarter hour and result.
    fn report_sends_by_time(&self, scope: &ReportScope) -> Vec<SendsAt>;

    /// (contact id, list name) for each list these contacts belong to.
    fn lists_of_contacts(&self, ids: &[i64]) -> Vec<(i64, String)>;

    /// The highest contact id (0 without contacts).
    fn max_contact_id(&self) -> i64;

    /// Streams the rows of one export table, oldest id first, as cells in the order of
    /// `table.columns()`, to `sink` as they are read: memory stays flat however many
    /// rows match. Stops at the first error of `sink` (as [`StoreError::Sink`]). Returns
    /// how many rows were given.
    fn export_rows(&self, table: Table, filter: &Filter, sink: &mut (dyn FnMut(&mut [Cell]) -> Result<(), SinkError> + Send)) -> u64;
}

#[cfg(test)]
mod door {
    /// Outside `store/`, nothing names a pool, matches on the database behind an
    /// [`super::AnyStore`] or writes SQL: what a command needs is a store operation. The
    /// queue is the one other owner of tables (apalis's), and it gets its pool through
    /// [`super::AnyStore::queue_pool`].
    #[test]
    fn nothing_outside_the_store_reaches_past_it() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path
                    .strip_prefix(&src)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                if path.is_dir() {
                    if rel != "store" {
                        dirs.push(path);
                    }
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    // apalis's own storage hands the queue its pool for apalis's tables.
                    let queue = rel.starts_with("queue");
                    let reaches = (!queue && (line.contains(".pool()") || line.contains("sqlx::")))
                        || line.contains("AnyStore::Sqlite(")
                        || line.contains("AnyStore::Postgres(");
                    if reaches {
                        found.push(format!("src/{rel}:{}: {}", n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "reaching past the store:\n{}",
            found.join("\n")
        );
    }
}

#[cfg(test)]
mod spans {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt as _};

    use super::*;

    /// Records the `op` and `db` of every `store` span opened.
    #[derive(Clone, Default)]
    struct Opened(Arc<Mutex<Vec<(String, String)>>>);

    #[derive(Default)]
    struct Fields(String, String);

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            match field.name() {
                "op" => self.0 = value.to_string(),
                "db" => self.1 = value.to_string(),
                _ => {}
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.record_str(field, format!("{value:?}").trim_matches('"'));
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Opened {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: Context<'_, S>,
        ) {
            if attrs.metadata().name() == "store" {
                let mut fields = Fields::default();
                attrs.record(&mut fields);
                self.0.lock().unwrap().push((fields.0, fields.1));
            }
        }
    }

    async fn traced(store: &impl Store, opened: &Opened) -> Vec<(String, String)> {
        opened.0.lock().unwrap().clear();
        store.migrate().await.unwrap();
        store.count_contacts().await.unwrap();
        opened.0.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn every_operation_runs_in_a_store_span_naming_it_and_its_database() {
        let opened = Opened::default();
        let _guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(opened.clone()));
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let sqlite = AnyStore::open(&url, true).await.unwrap();
        let seen = traced(&sqlite, &opened).await;
        let expected = |db: &str| {
            vec![
                ("migrate".to_string(), db.to_string()),
                ("count_contacts".to_string(), db.to_string()),
            ]
        };
        assert_eq!(seen, expected("sqlite"));
        let Some(url) = postgres::fresh_test_database().await else {
            eprintln!("HERALD_TEST_POSTGRES_URL is not set: PostgreSQL spans not checked");
            return;
        };
        let pg = AnyStore::open(&url, false).await.unwrap();
        assert_eq!(traced(&pg, &opened).await, expected("postgres"));
    }
}
