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
use crate::domain::policy::PastAttempt;

pub mod sqlite;

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
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database holds a value herald cannot read ({0})")]
    Corrupt(String),
    #[error("unsupported database URL `{0}`: expected sqlite://PATH")]
    UnsupportedUrl(String),
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

/// Everything herald reads and writes.
///
/// Methods return `Send` futures so callers can run them on the multi-threaded runtime.
pub trait Store: Send + Sync {
    /// Applies pending migrations; returns how many ran.
    fn migrate(&self) -> impl Future<Output = Result<usize, StoreError>> + Send;

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
}
