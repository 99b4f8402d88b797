//! The PostgreSQL store: several daemons share one database.
//!
//! The same named queries as SQLite (`queries/postgres/NAME.sql`), in PostgreSQL's
//! dialect: `$1` parameters, arrays as `= ANY($1)`, `jsonb`, `timestamptz`, and row locks
//! (`FOR UPDATE SKIP LOCKED`) where several daemons claim work.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::ConnectOptions as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::*;
use crate::domain::contact::{Contact, Suppression, Tag};
use crate::domain::ledger::{Attempt, InboxItem, NewAttempt, Run, TallyRow};
use crate::domain::policy::PastAttempt;
use crate::domain::values::Channel;

mod ledger;
mod nodelay;
mod people;

/// Every named query of the dialect, for the test that prepares them all.
pub fn all_queries() -> Vec<(&'static str, &'static str)> {
    let mut all = people::QUERIES.all();
    all.extend(ledger::QUERIES.all());
    all
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL migrations, recorded in `herald_migrations`.
pub fn migrator() -> sqlx::migrate::Migrator {
    super::herald_migrator(&MIGRATOR)
}

/// Pool settings for every connection herald makes to PostgreSQL: each new connection
/// gets `TCP_NODELAY` (see [`nodelay`]).
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().after_connect(|_, _| {
        Box::pin(async {
            nodelay::on_every_tcp_socket();
            Ok(())
        })
    })
}

/// herald's data in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to a `postgres://` URL.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        Self::open_options(Self::options(url)?).await
    }

    /// Opens the database for long reads (exports), where a statement that streams for
    /// minutes is expected and not logged as slow.
    pub async fn open_reader(url: &str) -> Result<PgStore, StoreError> {
        Self::open_options(Self::options(url)?.disable_statement_logging()).await
    }

    fn options(url: &str) -> Result<PgConnectOptions, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        PgConnectOptions::from_str(url).doing("reading the database URL")
    }

    async fn open_options(options: PgConnectOptions) -> Result<PgStore, StoreError> {
        let pool = pool_options()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
            .doing("connecting to PostgreSQL")?;
        Ok(PgStore { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A deadlock or serialization failure: the transaction rolled back and may be retried.
fn is_transient(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Database { source: sqlx::Error::Database(db), .. }
            if matches!(db.code().as_deref(), Some("40P01") | Some("40001"))
    )
}

pub(crate) async fn applied_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar(APPLIED_MIGRATIONS)
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

impl Store for PgStore {
    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        people::refresh_statistics(self).await
    }

    async fn migrate(&self) -> Result<usize, StoreError> {
        let before = applied_count(&self.pool).await;
        migrator().run(&self.pool).await?;
        let after = applied_count(&self.pool).await;
        Ok((after - before).max(0) as usize)
    }

    async fn upsert_contacts(
        &self,
        batch: &[NewContact],
        present: Present,
        list: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<UpsertCounts, StoreError> {
        people::upsert_contacts(self, batch, present, list, now).await
    }

    async fn contact(&self, external_id: &str) -> Result<Option<Contact>, StoreError> {
        people::contact(self, external_id).await
    }

    async fn count_contacts(&self) -> Result<i64, StoreError> {
        people::count_contacts(self).await
    }

    async fn contacts_page(
        &self,
        lists: &[String],
        after: i64,
        limit: i64,
    ) -> Result<Vec<Contact>, StoreError> {
        people::contacts_page(self, lists, after, limit).await
    }

    async fn list_counts(&self) -> Result<Vec<NamedCount>, StoreError> {
        people::list_counts(self).await
    }

    async fn lists_of(&self, contact_id: i64) -> Result<Vec<String>, StoreError> {
        people::lists_of(self, contact_id).await
    }

    async fn upsert_tag(
        &self,
        contact_id: i64,
        tag: &Tag,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        people::upsert_tag(self, contact_id, tag, now).await
    }

    async fn remove_tag(
        &self,
        contact_id: i64,
        tag: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        people::remove_tag(self, contact_id, tag, now).await
    }

    async fn tag_counts(&self, now: DateTime<Utc>) -> Result<Vec<NamedCount>, StoreError> {
        people::tag_counts(self, now).await
    }

    async fn upsert_suppressions(&self, entries: &[Suppression]) -> Result<u64, StoreError> {
        people::upsert_suppressions(self, entries).await
    }

    async fn delete_suppression(
        &self,
        target_kind: &str,
        value: &str,
        kind: Option<SuppressionKind>,
    ) -> Result<u64, StoreError> {
        people::delete_suppression(self, target_kind, value, kind).await
    }

    async fn suppressions(
        &self,
        now: DateTime<Utc>,
        include_expired: bool,
        limit: i64,
    ) -> Result<Vec<Suppression>, StoreError> {
        people::suppressions(self, now, include_expired, limit).await
    }

    async fn suppressions_for(&self, contacts: &[Contact]) -> Result<Vec<Suppression>, StoreError> {
        people::suppressions_for(self, contacts).await
    }

    async fn history_for(
        &self,
        contact_ids: &[i64],
        since: DateTime<Utc>,
    ) -> Result<BTreeMap<i64, Vec<PastAttempt>>, StoreError> {
        people::history_for(self, contact_ids, since).await
    }

    async fn attribute_keys(&self) -> Result<BTreeSet<String>, StoreError> {
        people::attribute_keys(self).await
    }

    async fn tag_names(&self) -> Result<BTreeSet<String>, StoreError> {
        people::tag_names(self).await
    }

    async fn contact_by_id(&self, id: i64) -> Result<Option<Contact>, StoreError> {
        people::contact_by_id(self, id).await
    }

    async fn campaign_state(&self, campaign: &str) -> Result<String, StoreError> {
        people::campaign_state(self, campaign).await
    }

    async fn set_campaign_state(
        &self,
        campaign: &str,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        people::set_campaign_state(self, campaign, state, now).await
    }

    async fn campaign_version(
        &self,
        campaign: &str,
        hash: &str,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        people::campaign_version(self, campaign, hash, source, now).await
    }

    async fn create_run(
        &self,
        campaign: &str,
        version_id: i64,
        occurrence: DateTime<Utc>,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        people::create_run(self, campaign, version_id, occurrence, state, now).await
    }

    async fn set_run_summary(
        &self,
        run_id: i64,
        summary: &serde_json::Value,
    ) -> Result<(), StoreError> {
        people::set_run_summary(self, run_id, summary).await
    }

    async fn finish_run(
        &self,
        run_id: i64,
        state: &str,
        summary: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        people::finish_run(self, run_id, state, summary, now).await
    }

    async fn last_occurrence(&self, campaign: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        people::last_occurrence(self, campaign).await
    }

    async fn runs(&self, campaign: Option<&str>, limit: i64) -> Result<Vec<Run>, StoreError> {
        people::runs(self, campaign, limit).await
    }

    async fn run(&self, id: i64) -> Result<Option<Run>, StoreError> {
        people::run(self, id).await
    }

    async fn running_runs(&self) -> Result<Vec<Run>, StoreError> {
        people::running_runs(self).await
    }

    async fn open_attempts(&self, run_id: i64) -> Result<i64, StoreError> {
        people::open_attempts(self, run_id).await
    }

    async fn send_failures(&self, attempt_id: i64) -> Result<i64, StoreError> {
        people::send_failures(self, attempt_id).await
    }

    async fn run_tally(&self, run_id: i64) -> Result<Vec<TallyRow>, StoreError> {
        people::run_tally(self, run_id).await
    }

    async fn insert_attempts(
        &self,
        attempts: &[NewAttempt],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        ledger::insert_attempts(self, attempts, now).await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        claimer: &str,
    ) -> Result<Vec<Attempt>, StoreError> {
        ledger::claim_due(self, now, limit, claimer).await
    }

    async fn requeue_stale(
        &self,
        cutoff: DateTime<Utc>,
        silent_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        ledger::requeue_stale(self, cutoff, silent_since, now).await
    }

    async fn daemon_beat(&self, daemon: &Daemon, now: DateTime<Utc>) -> Result<(), StoreError> {
        ledger::daemon_beat(self, daemon, now).await
    }

    async fn daemon_gone(
        &self,
        id: &str,
        forget_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        ledger::daemon_gone(self, id, forget_before, now).await
    }

    async fn daemons(&self) -> Result<Vec<Daemon>, StoreError> {
        ledger::daemons(self).await
    }

    async fn attempt_by_key(&self, key: &str) -> Result<Option<Attempt>, StoreError> {
        ledger::attempt_by_key(self, key).await
    }

    async fn attempts_of_contact_in_run(
        &self,
        run_id: i64,
        contact_id: i64,
    ) -> Result<Vec<Attempt>, StoreError> {
        ledger::attempts_of_contact_in_run(self, run_id, contact_id).await
    }

    async fn latest_sms_to(
        &self,
        phone: &crate::domain::values::PhoneNumber,
        since: DateTime<Utc>,
    ) -> Result<Option<(String, i64)>, StoreError> {
        ledger::latest_sms_to(self, phone, since).await
    }

    async fn link_answers_near(
        &self,
        key: &str,
        question: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        ledger::link_answers_near(self, key, question, from, to).await
    }

    async fn responses_of_contact_in_run(
        &self,
        run_id: i64,
        contact_id: i64,
    ) -> Result<Vec<crate::domain::survey::Response>, StoreError> {
        ledger::responses_of_contact_in_run(self, run_id, contact_id).await
    }

    async fn reschedule(
        &self,
        id: i64,
        not_before: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        ledger::reschedule(self, id, not_before, reason, now).await
    }

    async fn mark_sent(
        &self,
        id: i64,
        at: DateTime<Utc>,
        provider_ref: &str,
    ) -> Result<bool, StoreError> {
        ledger::mark_sent(self, id, at, provider_ref).await
    }

    async fn close_attempt(
        &self,
        id: i64,
        state: AttemptState,
        outcome: Option<Outcome>,
        connected: bool,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        ledger::close_attempt(self, id, state, outcome, connected, reason, now).await
    }

    async fn set_connected(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        ledger::set_connected(self, id, now).await
    }

    async fn cancel_queued_for_contact(
        &self,
        contact_id: i64,
        channels: &[Channel],
        run_id: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        ledger::cancel_queued_for_contact(self, contact_id, channels, run_id, reason, now).await
    }

    async fn cancel_queued_for_campaign(
        &self,
        campaign: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        ledger::cancel_queued_for_campaign(self, campaign, reason, now).await
    }

    async fn record_event(
        &self,
        attempt_id: i64,
        kind: &str,
        detail: Option<&str>,
        payload: &serde_json::Value,
        occurred_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        ledger::record_event(self, attempt_id, kind, detail, payload, occurred_at, now).await
    }

    async fn events_of_contact(
        &self,
        contact_id: i64,
        limit: i64,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        ledger::events_of_contact(self, contact_id, limit).await
    }

    async fn inbox_push(
        &self,
        provider: &str,
        items: &[(String, String, Report, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        ledger::inbox_push(self, provider, items, now).await
    }

    async fn inbox_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<InboxItem>, StoreError> {
        ledger::inbox_due(self, now, limit).await
    }

    async fn inbox_applied(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        ledger::inbox_applied(self, id, now).await
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        ledger::next_due(self).await
    }

    async fn campaign_stats(
        &self,
        campaign: &str,
        conversions: &[Outcome],
    ) -> Result<CampaignStats, StoreError> {
        people::campaign_stats(self, campaign, conversions).await
    }

    async fn contacts_by_ids(&self, ids: &[i64]) -> Result<Vec<Contact>, StoreError> {
        people::contacts_by_ids(self, ids).await
    }

    async fn attempts_of_contacts_in_runs(
        &self,
        run_ids: &[i64],
        contact_ids: &[i64],
    ) -> Result<Vec<Attempt>, StoreError> {
        ledger::attempts_of_contacts_in_runs(self, run_ids, contact_ids).await
    }

    async fn attempts_by_keys(&self, keys: &[String]) -> Result<Vec<Attempt>, StoreError> {
        ledger::attempts_by_keys(self, keys).await
    }

    async fn campaign_states(&self) -> Result<BTreeMap<String, String>, StoreError> {
        people::campaign_states(self).await
    }

    async fn finishable_runs(&self) -> Result<Vec<Run>, StoreError> {
        people::finishable_runs(self).await
    }

    async fn attempts_claimed(
        &self,
        ids: &[i64],
        claimed_at: DateTime<Utc>,
    ) -> Result<Vec<Attempt>, StoreError> {
        ledger::attempts_claimed(self, ids, claimed_at).await
    }

    async fn run_by_occurrence(
        &self,
        campaign: &str,
        occurrence: DateTime<Utc>,
    ) -> Result<Option<Run>, StoreError> {
        people::run_by_occurrence(self, campaign, occurrence).await
    }

    async fn apply_writes(
        &self,
        groups: &[WriteGroup],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        // Daemons writing at once may lock the same attempts in another order: PostgreSQL
        // then aborts one transaction as a deadlock. The batch rolled back whole, so it
        // is simply tried again.
        let mut tries = 0;
        loop {
            match ledger::apply_writes(self, groups, now).await {
                Err(e) if tries < 3 && is_transient(&e) => tries += 1,
                other => return other,
            }
        }
    }

    async fn mark_opted_out(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        ledger::mark_opted_out(self, id, now).await
    }

    async fn recently_contacted(
        &self,
        campaign: &str,
        ids: &[i64],
        since: DateTime<Utc>,
    ) -> Result<BTreeSet<i64>, StoreError> {
        people::recently_contacted(self, campaign, ids, since).await
    }

    async fn attempt_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        people::attempt_counts(self).await
    }

    async fn inbox_pending(&self) -> Result<i64, StoreError> {
        ledger::inbox_pending(self).await
    }

    async fn upsert_agent(
        &self,
        name: &str,
        skills: &[String],
        capacity: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        ledger::upsert_agent(self, name, skills, capacity, now).await
    }

    async fn agent(&self, name: &str) -> Result<Option<(Vec<String>, u32)>, StoreError> {
        ledger::agent(self, name).await
    }

    async fn desk_waiting(&self, limit: i64) -> Result<Vec<Attempt>, StoreError> {
        ledger::desk_waiting(self, limit).await
    }

    async fn desk_held_by(&self, agent: &str) -> Result<Vec<Attempt>, StoreError> {
        ledger::desk_held_by(self, agent).await
    }

    async fn desk_take(
        &self,
        id: i64,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<DeskTake, StoreError> {
        ledger::desk_take(self, id, agent, now).await
    }

    async fn take_tokens(
        &self,
        name: &str,
        rate: f64,
        capacity: f64,
        want: u32,
        now: DateTime<Utc>,
    ) -> Result<crate::domain::rate::Grant, StoreError> {
        ledger::take_tokens(self, name, rate, capacity, want, now).await
    }

    async fn report_contact_runs(
        &self,
        scope: &ReportScope,
        after: i64,
        last: i64,
    ) -> Result<Vec<ContactRun>, StoreError> {
        people::report_contact_runs(self, scope, after, last).await
    }

    async fn report_breakdown(
        &self,
        scope: &ReportScope,
        by_step: bool,
    ) -> Result<Vec<BreakdownCounts>, StoreError> {
        people::report_breakdown(self, scope, by_step).await
    }

    async fn report_sends_by_time(&self, scope: &ReportScope) -> Result<Vec<SendsAt>, StoreError> {
        people::report_sends_by_time(self, scope).await
    }

    async fn lists_of_contacts(&self, ids: &[i64]) -> Result<Vec<(i64, String)>, StoreError> {
        people::lists_of_contacts(self, ids).await
    }

    async fn max_contact_id(&self) -> Result<i64, StoreError> {
        people::max_contact_id(self).await
    }

    async fn export_rows(
        &self,
        table: Table,
        filter: &Filter,
        sink: &mut (dyn FnMut(&mut [Cell]) -> Result<(), SinkError> + Send),
    ) -> Result<u64, StoreError> {
        people::export_rows(self, table, filter, sink).await
    }
}

/// The URL of a fresh, empty database on the PostgreSQL server at
/// `HERALD_TEST_POSTGRES_URL` (for tests), or `None` when the variable is not set.
pub async fn fresh_test_database() -> Option<String> {
    let base = std::env::var("HERALD_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "herald_test_{}_{}_{}",
        std::process::id(),
        Utc::now().timestamp_micros(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let admin = PgPool::connect(&base)
        .await
        .expect("HERALD_TEST_POSTGRES_URL: cannot connect");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("creating a test database");
    admin.close().await;
    let (prefix, _) = base.rsplit_once('/').expect("a URL with a database name");
    Some(format!("{prefix}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Executor;

    #[tokio::test]
    async fn every_named_query_prepares_against_the_migrated_postgres_schema() {
        let Some(url) = fresh_test_database().await else {
            eprintln!("HERALD_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped");
            return;
        };
        let store = PgStore::open(&url).await.unwrap();
        assert_eq!(store.migrate().await.unwrap(), MIGRATOR.iter().count());
        assert_eq!(
            store.migrate().await.unwrap(),
            0,
            "a second migrate applies nothing"
        );
        for (name, sql) in all_queries() {
            store
                .pool()
                .prepare(sqlx::SqlSafeStr::into_sql_str(sql))
                .await
                .unwrap_or_else(|e| panic!("query `{name}` does not prepare: {e}"));
        }
    }

    #[test]
    fn both_dialects_have_the_same_named_queries() {
        let sqlite: BTreeSet<&str> = super::super::sqlite::QUERIES
            .all()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let postgres: BTreeSet<&str> = all_queries().into_iter().map(|(n, _)| n).collect();
        let missing: Vec<_> = sqlite.difference(&postgres).collect();
        let extra: Vec<_> = postgres.difference(&sqlite).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "missing in postgres: {missing:?}; only in postgres: {extra:?}"
        );
    }
}
