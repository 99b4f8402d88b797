//! The store: every read and write of herald's data goes through the [`Store`] trait.
//!
//! SQL lives in named files per dialect (`queries/sqlite/NAME.sql`, later
//! `queries/postgres/NAME.sql`), the same names in each, embedded at build time. A test
//! prepares every named query against a migrated database, so a broken query fails in CI
//! rather than in production.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::contact::{Contact, Suppression, SuppressionKind, Tag};
use crate::domain::exported::{Cell, Filter, SinkError, Table};
use crate::domain::ledger::{Attempt, AttemptState, InboxItem, NewAttempt, Report, Run, TallyRow};
use crate::domain::outcome::Outcome;
use crate::domain::policy::PastAttempt;
use crate::domain::rate::Grant;
use crate::domain::values::Channel;

/// Declares a dialect's named queries, embedded from `queries/DIALECT/NAME.sql`.
macro_rules! named_queries {
    ($dialect:literal: $($name:ident),* $(,)?) => {
        /// The named queries of this dialect.
        pub struct Queries {
            $(pub $name: &'static str,)*
        }

        /// Every named query, embedded from `queries/<dialect>/NAME.sql`.
        pub const QUERIES: Queries = Queries {
            $($name: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), "/src/store/queries/", $dialect, "/", stringify!($name), ".sql"
            )),)*
        };

        impl Queries {
            /// (name, SQL) of every query, for the test that prepares them all.
            pub fn all(&self) -> Vec<(&'static str, &'static str)> {
                vec![$((stringify!($name), self.$name),)*]
            }
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

/// How many of herald's migrations a database has applied (0 before the first).
pub(crate) const APPLIED_MIGRATIONS: &str = "SELECT COUNT(*) FROM herald_migrations WHERE success";

pub mod any;
pub mod copy;
mod json_page;
pub mod postgres;
mod rows;
pub mod sqlite;

/// The ledger's writes are plain domain data, so decisions can return them.
pub use crate::domain::ledger::{Write, WriteGroup};
pub use any::AnyStore;
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

/// A batch of write groups in a shape that can be applied set-wise, a statement per kind
/// of write instead of one per write, with the same effect as one write at a time:
/// - every guard moves a different row: `MarkSent`, `Reschedule` or `Close` of an attempt
///   (a dispatch batch) or `InboxApplied` of a provider event (an inbox batch), or none;
/// - after the guards come inserts (events, provider events, new attempts), which nothing
///   in the batch reads, and, in a batch without attempt guards, `Close` of distinct
///   attempts, `Connected` (which commutes with them: a close carries the flag as the
///   engine saw it, `Connected` only ever sets it) and `Tag`/`Untag` of distinct
///   (contact, tag) pairs.
///
/// Any other batch (survey answers, a second event closing the same attempt) is applied
/// one write at a time, in order.
pub(crate) struct SetBatch<'a> {
    /// (group, attempt, sent at, provider reference).
    pub sent: Vec<(usize, i64, DateTime<Utc>, &'a str)>,
    /// (group, attempt, not before, reason).
    pub rescheduled: Vec<(usize, i64, DateTime<Utc>, &'a str)>,
    /// (group, attempt, state, outcome, connected, reason).
    pub closed: Vec<Closing<'a>>,
    /// (group, inbox item).
    pub applied: Vec<(usize, i64)>,
    /// Groups without a guard.
    pub unguarded: Vec<usize>,
}

/// A close: (group, attempt, state, outcome, connected, reason).
pub(crate) type Closing<'a> = (
    usize,
    i64,
    AttemptState,
    Option<Outcome>,
    bool,
    Option<&'a str>,
);

fn closing(i: usize, w: &Write) -> Option<Closing<'_>> {
    match w {
        Write::Close {
            id,
            state,
            outcome,
            connected,
            reason,
        } => Some((i, *id, *state, *outcome, *connected, reason.as_deref())),
        _ => None,
    }
}

impl<'a> SetBatch<'a> {
    /// The batch's guards sorted by kind, or `None` when it does not have the shape.
    pub fn of(groups: &'a [WriteGroup]) -> Option<SetBatch<'a>> {
        let mut batch = SetBatch {
            sent: Vec::new(),
            rescheduled: Vec::new(),
            closed: Vec::new(),
            applied: Vec::new(),
            unguarded: Vec::new(),
        };
        let mut guarded = BTreeSet::new();
        let (mut closes, mut tags) = (BTreeSet::new(), BTreeSet::new());
        let mut updates = false;
        for (i, g) in groups.iter().enumerate() {
            for w in &g.then {
                match w {
                    Write::Event { .. } | Write::Inbox { .. } | Write::Attempt(_) => {}
                    Write::Connected { .. } => updates = true,
                    Write::Close { id, .. } => {
                        updates = true;
                        if !closes.insert(*id) {
                            return None;
                        }
                    }
                    Write::Tag {
                        contact_id,
                        tag: Tag { name, .. },
                    }
                    | Write::Untag { contact_id, name } => {
                        updates = true;
                        if !tags.insert((*contact_id, name.as_str())) {
                            return None;
                        }
                    }
                    _ => return None,
                }
            }
            let key = match &g.guard {
                None => {
                    batch.unguarded.push(i);
                    continue;
                }
                Some(Write::MarkSent {
                    id,
                    at,
                    provider_ref,
                }) => {
                    batch.sent.push((i, *id, *at, provider_ref));
                    (0, *id)
                }
                Some(Write::Reschedule {
                    id,
                    not_before,
                    reason,
                }) => {
                    batch.rescheduled.push((i, *id, *not_before, reason));
                    (0, *id)
                }
                Some(w @ Write::Close { id, .. }) => {
                    batch.closed.extend(closing(i, w));
                    (0, *id)
                }
                Some(Write::InboxApplied { id }) => {
                    batch.applied.push((i, *id));
                    (1, *id)
                }
                Some(_) => return None,
            };
            if !guarded.insert(key) {
                return None;
            }
        }
        let attempt_guards = batch.sent.len() + batch.rescheduled.len() + batch.closed.len();
        if updates && attempt_guards > 0 {
            return None;
        }
        Some(batch)
    }

    /// Which groups held, given the rows each set-wise guard moved: attempts, and inbox
    /// items.
    pub fn held(&self, groups: usize, moved: &BTreeSet<i64>, applied: &BTreeSet<i64>) -> Vec<bool> {
        let mut held = vec![false; groups];
        for &i in &self.unguarded {
            held[i] = true;
        }
        let guards = self.sent.iter().map(|g| (g.0, g.1));
        let guards = guards.chain(self.rescheduled.iter().map(|g| (g.0, g.1)));
        for (i, id) in guards.chain(self.closed.iter().map(|g| (g.0, g.1))) {
            held[i] = moved.contains(&id);
        }
        for &(i, id) in &self.applied {
            held[i] = applied.contains(&id);
        }
        held
    }
}

/// The writes after the guards of the groups that held, sorted for set-wise application.
#[derive(Default)]
pub(crate) struct Followers<'a> {
    pub closes: Vec<Closing<'a>>,
    pub connected: Vec<i64>,
    /// Tags and untags, one at a time (distinct pairs: their order does not matter).
    pub one_by_one: Vec<&'a Write>,
    pub events: Vec<&'a Write>,
    pub inbox: Vec<&'a Write>,
    pub attempts: Vec<&'a NewAttempt>,
}

impl<'a> Followers<'a> {
    pub fn of(groups: &'a [WriteGroup], held: &[bool]) -> Followers<'a> {
        let mut f = Followers::default();
        let writes = groups
            .iter()
            .zip(held)
            .filter(|(_, held)| **held)
            .flat_map(|(g, _)| g.then.iter());
        for w in writes {
            match w {
                Write::Close { .. } => f.closes.extend(closing(0, w)),
                Write::Connected { id } => f.connected.push(*id),
                Write::Event { .. } => f.events.push(w),
                Write::Inbox { .. } => f.inbox.push(w),
                Write::Attempt(a) => f.attempts.push(a),
                _ => f.one_by_one.push(w),
            }
        }
        f
    }
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

/// Everything herald reads and writes.
///
/// Methods return `Send` futures so callers can run them on the multi-threaded runtime.
pub trait Store: Send + Sync {
    /// Applies pending migrations; returns how many ran.
    fn migrate(&self) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// After a bulk load (contacts imported, a big run planned): refreshes the planner's
    /// statistics.
    fn refresh_statistics(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Inserts or updates contacts by external id in one transaction, adding them to
    /// `list` when given. Fields whose column is not `present` keep their stored values;
    /// attributes merge key by key.
    fn upsert_contacts(
        &self,
        batch: &[NewContact],
        present: Present,
        list: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<UpsertCounts, StoreError>> + Send;

    fn contact(
        &self,
        external_id: &str,
    ) -> impl Future<Output = Result<Option<Contact>, StoreError>> + Send;

    fn count_contacts(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// A page of contacts after id `after`, ordered by id: members of any of `lists`, or
    /// every contact when `lists` is empty. Tags included.
    fn contacts_page(
        &self,
        lists: &[String],
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Contact>, StoreError>> + Send;

    fn list_counts(&self) -> impl Future<Output = Result<Vec<NamedCount>, StoreError>> + Send;

    /// Names of the lists a contact belongs to.
    fn lists_of(
        &self,
        contact_id: i64,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    fn upsert_tag(
        &self,
        contact_id: i64,
        tag: &Tag,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes a tag; false when the contact did not have it.
    fn remove_tag(
        &self,
        contact_id: i64,
        tag: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Tags in force at `now` with their number of contacts.
    fn tag_counts(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<NamedCount>, StoreError>> + Send;

    /// Adds entries (refreshing reason and expiry of existing ones) in one transaction.
    fn upsert_suppressions(
        &self,
        entries: &[Suppression],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Removes the entries for a target (of one kind, or all kinds); returns how many.
    fn delete_suppression(
        &self,
        target_kind: &str,
        value: &str,
        kind: Option<SuppressionKind>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Entries, newest first: those in force at `now`, or all with `include_expired`.
    fn suppressions(
        &self,
        now: DateTime<Utc>,
        include_expired: bool,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Suppression>, StoreError>> + Send;

    /// Entries that name any of these contacts by phone, e-mail or external id.
    fn suppressions_for(
        &self,
        contacts: &[Contact],
    ) -> impl Future<Output = Result<Vec<Suppression>, StoreError>> + Send;

    /// Attempts sent to these contacts since `since`, by contact id.
    fn history_for(
        &self,
        contact_ids: &[i64],
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<BTreeMap<i64, Vec<PastAttempt>>, StoreError>> + Send;

    /// Attribute names any contact has.
    fn attribute_keys(&self) -> impl Future<Output = Result<BTreeSet<String>, StoreError>> + Send;

    /// Tag names any contact has.
    fn tag_names(&self) -> impl Future<Output = Result<BTreeSet<String>, StoreError>> + Send;

    /// The contact with this internal id, tags included.
    fn contact_by_id(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<Contact>, StoreError>> + Send;

    // --- campaigns and runs ---------------------------------------------------------

    /// `active` (also when never set), `paused` or `cancelled`.
    fn campaign_state(
        &self,
        campaign: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    fn set_campaign_state(
        &self,
        campaign: &str,
        state: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The id of this version of a definition, recorded on first use.
    fn campaign_version(
        &self,
        campaign: &str,
        hash: &str,
        source: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// A new run for an occurrence, or `None` when that occurrence already has one.
    fn create_run(
        &self,
        campaign: &str,
        version_id: i64,
        occurrence: DateTime<Utc>,
        state: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    fn set_run_summary(
        &self,
        run_id: i64,
        summary: &serde_json::Value,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn finish_run(
        &self,
        run_id: i64,
        state: &str,
        summary: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The latest occurrence that has a run.
    fn last_occurrence(
        &self,
        campaign: &str,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;

    fn runs(
        &self,
        campaign: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Run>, StoreError>> + Send;

    fn run(&self, id: i64) -> impl Future<Output = Result<Option<Run>, StoreError>> + Send;

    fn running_runs(&self) -> impl Future<Output = Result<Vec<Run>, StoreError>> + Send;

    /// Attempts of a run still open (queued, sending or sent).
    fn open_attempts(&self, run_id: i64) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Temporary send failures recorded for an attempt (its `send_failed` events).
    fn send_failures(
        &self,
        attempt_id: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    fn run_tally(
        &self,
        run_id: i64,
    ) -> impl Future<Output = Result<Vec<TallyRow>, StoreError>> + Send;

    // --- attempts -------------------------------------------------------------------

    /// Inserts attempts in one transaction; an attempt whose idempotency key exists is
    /// left alone. Returns how many were inserted.
    fn insert_attempts(
        &self,
        attempts: &[NewAttempt],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Claims up to `limit` attempts due at `now` (of active campaigns): they move to
    /// `sending` and no other dispatcher gets them.
    /// `claimer` names the daemon (or process) that claims them.
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        claimer: &str,
    ) -> impl Future<Output = Result<Vec<Attempt>, StoreError>> + Send;

    /// Sends back to the queue the claimed attempts whose dispatcher stopped: those claimed
    /// before `cutoff` (the lease ran out), and those of a daemon not seen since
    /// `silent_since` (it died).
    fn requeue_stale(
        &self,
        cutoff: DateTime<Utc>,
        silent_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// A daemon says it is alive (recorded the first time, its `seen_at` moved after).
    fn daemon_beat(
        &self,
        daemon: &Daemon,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A daemon stops: the attempts it claimed go back to the queue, and it is forgotten
    /// (with daemons not seen since `forget_before`). Returns the attempts given back.
    fn daemon_gone(
        &self,
        id: &str,
        forget_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The daemons that share this database, the most recently seen first.
    fn daemons(&self) -> impl Future<Output = Result<Vec<Daemon>, StoreError>> + Send;

    fn attempt_by_key(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Attempt>, StoreError>> + Send;

    fn attempts_of_contact_in_run(
        &self,
        run_id: i64,
        contact_id: i64,
    ) -> impl Future<Output = Result<Vec<Attempt>, StoreError>> + Send;

    /// The idempotency key of the latest SMS sent since `since` to a contact with this
    /// phone number (the message an inbound reply without a key answers), and how many
    /// contacts have that number.
    fn latest_sms_to(
        &self,
        phone: &crate::domain::values::PhoneNumber,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<(String, i64)>, StoreError>> + Send;

    /// How many different answers to `question` came by one-click link for attempt `key`
    /// with due moments between `from` and `to` (a link scanner's sweep gives many).
    fn link_answers_near(
        &self,
        key: &str,
        question: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// The current survey answers of one contact in one run.
    fn responses_of_contact_in_run(
        &self,
        run_id: i64,
        contact_id: i64,
    ) -> impl Future<Output = Result<Vec<crate::domain::survey::Response>, StoreError>> + Send;

    /// Back to the queue until `not_before`, with the reason.
    fn reschedule(
        &self,
        id: i64,
        not_before: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn mark_sent(
        &self,
        id: i64,
        at: DateTime<Utc>,
        provider_ref: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Moves an open attempt to a final state; false when it was already final.
    fn close_attempt(
        &self,
        id: i64,
        state: AttemptState,
        outcome: Option<Outcome>,
        connected: bool,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn set_connected(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Cancels a contact's queued attempts on these channels (after an opt-out), in one
    /// run or in all.
    fn cancel_queued_for_contact(
        &self,
        contact_id: i64,
        channels: &[Channel],
        run_id: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn cancel_queued_for_campaign(
        &self,
        campaign: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn record_event(
        &self,
        attempt_id: i64,
        kind: &str,
        detail: Option<&str>,
        payload: &serde_json::Value,
        occurred_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A contact's events across campaigns, oldest first.
    fn events_of_contact(
        &self,
        contact_id: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<serde_json::Value>, StoreError>> + Send;

    // --- inbox ----------------------------------------------------------------------

    /// Adds provider events; a repeat of (provider, event key) is ignored. Returns how
    /// many were new.
    fn inbox_push(
        &self,
        provider: &str,
        items: &[(String, String, Report, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn inbox_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<InboxItem>, StoreError>> + Send;

    fn inbox_applied(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The earliest moment a queued attempt or an inbox item is due.
    fn next_due(&self) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;

    /// What a campaign's runs did so far; `conversions` are the outcomes that count as one.
    fn campaign_stats(
        &self,
        campaign: &str,
        conversions: &[Outcome],
    ) -> impl Future<Output = Result<CampaignStats, StoreError>> + Send;

    /// Contacts by internal id, tags included.
    fn contacts_by_ids(
        &self,
        ids: &[i64],
    ) -> impl Future<Output = Result<Vec<Contact>, StoreError>> + Send;

    /// Every attempt of these contacts within these runs.
    fn attempts_of_contacts_in_runs(
        &self,
        run_ids: &[i64],
        contact_ids: &[i64],
    ) -> impl Future<Output = Result<Vec<Attempt>, StoreError>> + Send;

    fn attempts_by_keys(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Attempt>, StoreError>> + Send;

    /// Campaigns whose state has been set, with it (others are `active`).
    fn campaign_states(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, StoreError>> + Send;

    /// Running runs with no open attempt left.
    fn finishable_runs(&self) -> impl Future<Output = Result<Vec<Run>, StoreError>> + Send;

    /// The attempts among `ids` still held by the claim made at `claimed_at`.
    fn attempts_claimed(
        &self,
        ids: &[i64],
        claimed_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Attempt>, StoreError>> + Send;

    /// The run of one occurrence, if it has one.
    fn run_by_occurrence(
        &self,
        campaign: &str,
        occurrence: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Run>, StoreError>> + Send;

    /// Applies groups of writes in one transaction; returns, per group, whether its guard
    /// held (and so its other writes were applied).
    fn apply_writes(
        &self,
        groups: &[WriteGroup],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send;

    /// Sets an attempt's outcome to `opted_out` (closing it if open), whatever it had.
    fn mark_opted_out(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Contacts among `ids` this campaign sent to since `since`.
    fn recently_contacted(
        &self,
        campaign: &str,
        ids: &[i64],
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<BTreeSet<i64>, StoreError>> + Send;

    /// (channel, state, attempts) for every channel and state with attempts.
    fn attempt_counts(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String, i64)>, StoreError>> + Send;

    /// Provider events not applied yet.
    fn inbox_pending(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Adds or updates an agent of the desk.
    fn upsert_agent(
        &self,
        name: &str,
        skills: &[String],
        capacity: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// An agent's skills and capacity.
    fn agent(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<(Vec<String>, u32)>, StoreError>> + Send;

    /// Desk attempts nobody holds, oldest first.
    fn desk_waiting(
        &self,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Attempt>, StoreError>> + Send;

    /// The desk attempts an agent holds.
    fn desk_held_by(
        &self,
        agent: &str,
    ) -> impl Future<Output = Result<Vec<Attempt>, StoreError>> + Send;

    /// Gives a waiting desk attempt to an agent, unless someone took it first or the agent
    /// already holds as many calls as their capacity. The count and the take happen under
    /// a lock of the agent (their row on PostgreSQL, the write lock on SQLite), so daemons
    /// serving the same agent at once never give them more than their capacity.
    fn desk_take(
        &self,
        id: i64,
        agent: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<DeskTake, StoreError>> + Send;

    // --- rate limits ------------------------------------------------------------------

    /// Takes up to `want` tokens from the token bucket `name`, which refills at `rate`
    /// tokens a second up to `capacity` (a new bucket starts full), and says when the next
    /// token will be there. The bucket is a row every process on the database shares, held
    /// locked for the take, so daemons sharing a database share its rate. Time counts
    /// from the later of the bucket's last moment and `now`: a daemon whose clock is a
    /// little behind refills nothing rather than a negative amount.
    fn take_tokens(
        &self,
        name: &str,
        rate: f64,
        capacity: f64,
        want: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Grant, StoreError>> + Send;

    // --- reports --------------------------------------------------------------------

    /// What happened to each contact in each run of the scope, for contacts with ids in
    /// (`after`, `last`], ordered by contact and run.
    fn report_contact_runs(
        &self,
        scope: &ReportScope,
        after: i64,
        last: i64,
    ) -> impl Future<Output = Result<Vec<ContactRun>, StoreError>> + Send;

    /// Contacts and sends of the scope by step (`by_step`) or by channel.
    fn report_breakdown(
        &self,
        scope: &ReportScope,
        by_step: bool,
    ) -> impl Future<Output = Result<Vec<BreakdownCounts>, StoreError>> + Send;

    /// Sends of the scope by quarter hour and result.
    fn report_sends_by_time(
        &self,
        scope: &ReportScope,
    ) -> impl Future<Output = Result<Vec<SendsAt>, StoreError>> + Send;

    /// (contact id, list name) for each list these contacts belong to.
    fn lists_of_contacts(
        &self,
        ids: &[i64],
    ) -> impl Future<Output = Result<Vec<(i64, String)>, StoreError>> + Send;

    /// The highest contact id (0 without contacts).
    fn max_contact_id(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Streams the rows of one export table, oldest id first, as cells in the order of
    /// `table.columns()`, to `sink` as they are read: memory stays flat however many
    /// rows match. Stops at the first error of `sink` (as [`StoreError::Sink`]). Returns
    /// how many rows were given.
    fn export_rows(
        &self,
        table: Table,
        filter: &Filter,
        sink: &mut (dyn FnMut(&mut [Cell]) -> Result<(), SinkError> + Send),
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(id: i64) -> Write {
        Write::Close {
            id,
            state: AttemptState::Done,
            outcome: Some(Outcome::Delivered),
            connected: false,
            reason: None,
        }
    }

    fn group(guard: Option<Write>, then: Vec<Write>) -> WriteGroup {
        WriteGroup { guard, then }
    }

    #[test]
    fn only_batches_whose_writes_commute_are_applied_set_wise() {
        let applied = |id| Some(Write::InboxApplied { id });
        let tag = |contact_id, name: &str| Write::Tag {
            contact_id,
            tag: Tag {
                name: name.into(),
                source: "c".into(),
                expires_at: None,
            },
        };
        let inbox = vec![
            group(applied(1), vec![close(10), Write::Connected { id: 11 }]),
            group(applied(2), vec![close(11), tag(5, "a"), tag(5, "b")]),
        ];
        let batch = SetBatch::of(&inbox).expect("an inbox batch");
        assert_eq!(batch.applied, vec![(0, 1), (1, 2)]);
        let held = batch.held(2, &BTreeSet::new(), &BTreeSet::from([2]));
        assert_eq!(held, vec![false, true]);
        let then = Followers::of(&inbox, &held);
        assert_eq!((then.closes.len(), then.one_by_one.len()), (1, 2));

        // The same attempt closed twice, the same tag twice, an item applied twice, or
        // updates after attempt guards: one write at a time.
        let twice = vec![
            group(applied(1), vec![close(10)]),
            group(applied(2), vec![close(10)]),
        ];
        assert!(SetBatch::of(&twice).is_none());
        let tags = vec![
            group(None, vec![tag(5, "a")]),
            group(None, vec![tag(5, "a")]),
        ];
        assert!(SetBatch::of(&tags).is_none());
        let items = vec![group(applied(1), vec![]), group(applied(1), vec![])];
        assert!(SetBatch::of(&items).is_none());
        let sent = Write::MarkSent {
            id: 10,
            at: DateTime::UNIX_EPOCH,
            provider_ref: "p".into(),
        };
        let mixed = vec![group(Some(sent.clone()), vec![Write::Connected { id: 10 }])];
        assert!(SetBatch::of(&mixed).is_none());
        let answer = vec![group(
            Some(sent),
            vec![Write::Untag {
                contact_id: 5,
                name: "a".into(),
            }],
        )];
        assert!(SetBatch::of(&answer).is_none());
    }
}
