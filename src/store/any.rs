//! The store a URL selects: SQLite (`sqlite://PATH`, the embedded default) or PostgreSQL
//! (`postgres://...`). Commands hold an `AnyStore`; the engine is generic over `Store`.

use chrono::{DateTime, Utc};

use super::*;
use crate::domain::contact::{Contact, Suppression, Tag};
use crate::domain::ledger::{Attempt, InboxItem, NewAttempt, Report, Run, TallyRow};
use crate::domain::outcome::Outcome;
use crate::domain::policy::PastAttempt;
use crate::domain::values::Channel;

#[derive(Clone, Debug)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl AnyStore {
    /// Opens the database at `url` (with `create`, a missing SQLite file is created).
    pub async fn open(url: &str, create: bool) -> Result<AnyStore, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(AnyStore::Postgres(PgStore::open(url).await?))
        } else {
            Ok(AnyStore::Sqlite(SqliteStore::open(url, create).await?))
        }
    }

    /// Opens an existing database for long reads (exports).
    pub async fn open_reader(url: &str) -> Result<AnyStore, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(AnyStore::Postgres(PgStore::open_reader(url).await?))
        } else {
            Ok(AnyStore::Sqlite(SqliteStore::open_reader(url).await?))
        }
    }

    /// Closes the connections.
    pub async fn close(&self) {
        match self {
            AnyStore::Sqlite(s) => s.pool().close().await,
            AnyStore::Postgres(s) => s.pool().close().await,
        }
    }

    /// (migrations applied, migrations this build has) for the database's dialect.
    pub async fn migration_counts(&self) -> (i64, usize) {
        match self {
            AnyStore::Sqlite(s) => (
                super::sqlite::applied_count(s.pool()).await,
                super::sqlite::migrator().iter().count(),
            ),
            AnyStore::Postgres(s) => (
                super::postgres::applied_count(s.pool()).await,
                super::postgres::migrator().iter().count(),
            ),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn dialect(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Postgres(_) => "postgres",
        }
    }
}

impl Store for AnyStore {
    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.refresh_statistics().await,
            AnyStore::Postgres(s) => s.refresh_statistics().await,
        }
    }

    async fn migrate(&self) -> Result<usize, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.migrate().await,
            AnyStore::Postgres(s) => s.migrate().await,
        }
    }

    async fn upsert_contacts(
        &self,
        batch: &[NewContact],
        present: Present,
        list: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<UpsertCounts, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.upsert_contacts(batch, present, list, now).await,
            AnyStore::Postgres(s) => s.upsert_contacts(batch, present, list, now).await,
        }
    }

    async fn contact(&self, external_id: &str) -> Result<Option<Contact>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.contact(external_id).await,
            AnyStore::Postgres(s) => s.contact(external_id).await,
        }
    }

    async fn count_contacts(&self) -> Result<i64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.count_contacts().await,
            AnyStore::Postgres(s) => s.count_contacts().await,
        }
    }

    async fn contacts_page(
        &self,
        lists: &[String],
        after: i64,
        limit: i64,
    ) -> Result<Vec<Contact>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.contacts_page(lists, after, limit).await,
            AnyStore::Postgres(s) => s.contacts_page(lists, after, limit).await,
        }
    }

    async fn list_counts(&self) -> Result<Vec<NamedCount>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.list_counts().await,
            AnyStore::Postgres(s) => s.list_counts().await,
        }
    }

    async fn lists_of(&self, contact_id: i64) -> Result<Vec<String>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.lists_of(contact_id).await,
            AnyStore::Postgres(s) => s.lists_of(contact_id).await,
        }
    }

    async fn upsert_tag(
        &self,
        contact_id: i64,
        tag: &Tag,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.upsert_tag(contact_id, tag, now).await,
            AnyStore::Postgres(s) => s.upsert_tag(contact_id, tag, now).await,
        }
    }

    async fn remove_tag(
        &self,
        contact_id: i64,
        tag: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.remove_tag(contact_id, tag, now).await,
            AnyStore::Postgres(s) => s.remove_tag(contact_id, tag, now).await,
        }
    }

    async fn tag_counts(&self, now: DateTime<Utc>) -> Result<Vec<NamedCount>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.tag_counts(now).await,
            AnyStore::Postgres(s) => s.tag_counts(now).await,
        }
    }

    async fn upsert_suppressions(&self, entries: &[Suppression]) -> Result<u64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.upsert_suppressions(entries).await,
            AnyStore::Postgres(s) => s.upsert_suppressions(entries).await,
        }
    }

    async fn delete_suppression(
        &self,
        target_kind: &str,
        value: &str,
        kind: Option<SuppressionKind>,
    ) -> Result<u64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.delete_suppression(target_kind, value, kind).await,
            AnyStore::Postgres(s) => s.delete_suppression(target_kind, value, kind).await,
        }
    }

    async fn suppressions(
        &self,
        now: DateTime<Utc>,
        include_expired: bool,
        limit: i64,
    ) -> Result<Vec<Suppression>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.suppressions(now, include_expired, limit).await,
            AnyStore::Postgres(s) => s.suppressions(now, include_expired, limit).await,
        }
    }

    async fn suppressions_for(&self, contacts: &[Contact]) -> Result<Vec<Suppression>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.suppressions_for(contacts).await,
            AnyStore::Postgres(s) => s.suppressions_for(contacts).await,
        }
    }

    async fn history_for(
        &self,
        contact_ids: &[i64],
        since: DateTime<Utc>,
    ) -> Result<BTreeMap<i64, Vec<PastAttempt>>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.history_for(contact_ids, since).await,
            AnyStore::Postgres(s) => s.history_for(contact_ids, since).await,
        }
    }

    async fn attribute_keys(&self) -> Result<BTreeSet<String>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.attribute_keys().await,
            AnyStore::Postgres(s) => s.attribute_keys().await,
        }
    }

    async fn tag_names(&self) -> Result<BTreeSet<String>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.tag_names().await,
            AnyStore::Postgres(s) => s.tag_names().await,
        }
    }

    async fn contact_by_id(&self, id: i64) -> Result<Option<Contact>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.contact_by_id(id).await,
            AnyStore::Postgres(s) => s.contact_by_id(id).await,
        }
    }

    async fn campaign_state(&self, campaign: &str) -> Result<String, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.campaign_state(campaign).await,
            AnyStore::Postgres(s) => s.campaign_state(campaign).await,
        }
    }

    async fn set_campaign_state(
        &self,
        campaign: &str,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.set_campaign_state(campaign, state, now).await,
            AnyStore::Postgres(s) => s.set_campaign_state(campaign, state, now).await,
        }
    }

    async fn campaign_version(
        &self,
        campaign: &str,
        hash: &str,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.campaign_version(campaign, hash, source, now).await,
            AnyStore::Postgres(s) => s.campaign_version(campaign, hash, source, now).await,
        }
    }

    async fn create_run(
        &self,
        campaign: &str,
        version_id: i64,
        occurrence: DateTime<Utc>,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => {
                s.create_run(campaign, version_id, occurrence, state, now)
                    .await
            }
            AnyStore::Postgres(s) => {
                s.create_run(campaign, version_id, occurrence, state, now)
                    .await
            }
        }
    }

    async fn set_run_summary(
        &self,
        run_id: i64,
        summary: &serde_json::Value,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.set_run_summary(run_id, summary).await,
            AnyStore::Postgres(s) => s.set_run_summary(run_id, summary).await,
        }
    }

    async fn finish_run(
        &self,
        run_id: i64,
        state: &str,
        summary: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.finish_run(run_id, state, summary, now).await,
            AnyStore::Postgres(s) => s.finish_run(run_id, state, summary, now).await,
        }
    }

    async fn last_occurrence(&self, campaign: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.last_occurrence(campaign).await,
            AnyStore::Postgres(s) => s.last_occurrence(campaign).await,
        }
    }

    async fn runs(&self, campaign: Option<&str>, limit: i64) -> Result<Vec<Run>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.runs(campaign, limit).await,
            AnyStore::Postgres(s) => s.runs(campaign, limit).await,
        }
    }

    async fn run(&self, id: i64) -> Result<Option<Run>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.run(id).await,
            AnyStore::Postgres(s) => s.run(id).await,
        }
    }

    async fn running_runs(&self) -> Result<Vec<Run>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.running_runs().await,
            AnyStore::Postgres(s) => s.running_runs().await,
        }
    }

    async fn open_attempts(&self, run_id: i64) -> Result<i64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.open_attempts(run_id).await,
            AnyStore::Postgres(s) => s.open_attempts(run_id).await,
        }
    }

    async fn send_failures(&self, attempt_id: i64) -> Result<i64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.send_failures(attempt_id).await,
            AnyStore::Postgres(s) => s.send_failures(attempt_id).await,
        }
    }

    async fn run_tally(&self, run_id: i64) -> Result<Vec<TallyRow>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.run_tally(run_id).await,
            AnyStore::Postgres(s) => s.run_tally(run_id).await,
        }
    }

    async fn insert_attempts(
        &self,
        attempts: &[NewAttempt],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.insert_attempts(attempts, now).await,
            AnyStore::Postgres(s) => s.insert_attempts(attempts, now).await,
        }
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        claimer: &str,
    ) -> Result<Vec<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.claim_due(now, limit, claimer).await,
            AnyStore::Postgres(s) => s.claim_due(now, limit, claimer).await,
        }
    }

    async fn requeue_stale(
        &self,
        cutoff: DateTime<Utc>,
        silent_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.requeue_stale(cutoff, silent_since, now).await,
            AnyStore::Postgres(s) => s.requeue_stale(cutoff, silent_since, now).await,
        }
    }

    async fn daemon_beat(&self, daemon: &Daemon, now: DateTime<Utc>) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.daemon_beat(daemon, now).await,
            AnyStore::Postgres(s) => s.daemon_beat(daemon, now).await,
        }
    }

    async fn daemon_gone(
        &self,
        id: &str,
        forget_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.daemon_gone(id, forget_before, now).await,
            AnyStore::Postgres(s) => s.daemon_gone(id, forget_before, now).await,
        }
    }

    async fn daemons(&self) -> Result<Vec<Daemon>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.daemons().await,
            AnyStore::Postgres(s) => s.daemons().await,
        }
    }

    async fn attempt_by_key(&self, key: &str) -> Result<Option<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.attempt_by_key(key).await,
            AnyStore::Postgres(s) => s.attempt_by_key(key).await,
        }
    }

    async fn attempts_of_contact_in_run(
        &self,
        run_id: i64,
        contact_id: i64,
    ) -> Result<Vec<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.attempts_of_contact_in_run(run_id, contact_id).await,
            AnyStore::Postgres(s) => s.attempts_of_contact_in_run(run_id, contact_id).await,
        }
    }

    async fn latest_sms_to(
        &self,
        phone: &crate::domain::values::PhoneNumber,
        since: DateTime<Utc>,
    ) -> Result<Option<(String, i64)>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.latest_sms_to(phone, since).await,
            AnyStore::Postgres(s) => s.latest_sms_to(phone, since).await,
        }
    }

    async fn link_answers_near(
        &self,
        key: &str,
        question: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.link_answers_near(key, question, from, to).await,
            AnyStore::Postgres(s) => s.link_answers_near(key, question, from, to).await,
        }
    }

    async fn responses_of_contact_in_run(
        &self,
        run_id: i64,
        contact_id: i64,
    ) -> Result<Vec<crate::domain::survey::Response>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.responses_of_contact_in_run(run_id, contact_id).await,
            AnyStore::Postgres(s) => s.responses_of_contact_in_run(run_id, contact_id).await,
        }
    }

    async fn reschedule(
        &self,
        id: i64,
        not_before: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.reschedule(id, not_before, reason, now).await,
            AnyStore::Postgres(s) => s.reschedule(id, not_before, reason, now).await,
        }
    }

    async fn mark_sent(
        &self,
        id: i64,
        at: DateTime<Utc>,
        provider_ref: &str,
    ) -> Result<bool, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.mark_sent(id, at, provider_ref).await,
            AnyStore::Postgres(s) => s.mark_sent(id, at, provider_ref).await,
        }
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
        match self {
            AnyStore::Sqlite(s) => {
                s.close_attempt(id, state, outcome, connected, reason, now)
                    .await
            }
            AnyStore::Postgres(s) => {
                s.close_attempt(id, state, outcome, connected, reason, now)
                    .await
            }
        }
    }

    async fn set_connected(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.set_connected(id, now).await,
            AnyStore::Postgres(s) => s.set_connected(id, now).await,
        }
    }

    async fn cancel_queued_for_contact(
        &self,
        contact_id: i64,
        channels: &[Channel],
        run_id: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => {
                s.cancel_queued_for_contact(contact_id, channels, run_id, reason, now)
                    .await
            }
            AnyStore::Postgres(s) => {
                s.cancel_queued_for_contact(contact_id, channels, run_id, reason, now)
                    .await
            }
        }
    }

    async fn cancel_queued_for_campaign(
        &self,
        campaign: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.cancel_queued_for_campaign(campaign, reason, now).await,
            AnyStore::Postgres(s) => s.cancel_queued_for_campaign(campaign, reason, now).await,
        }
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
        match self {
            AnyStore::Sqlite(s) => {
                s.record_event(attempt_id, kind, detail, payload, occurred_at, now)
                    .await
            }
            AnyStore::Postgres(s) => {
                s.record_event(attempt_id, kind, detail, payload, occurred_at, now)
                    .await
            }
        }
    }

    async fn events_of_contact(
        &self,
        contact_id: i64,
        limit: i64,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.events_of_contact(contact_id, limit).await,
            AnyStore::Postgres(s) => s.events_of_contact(contact_id, limit).await,
        }
    }

    async fn inbox_push(
        &self,
        provider: &str,
        items: &[(String, String, Report, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.inbox_push(provider, items, now).await,
            AnyStore::Postgres(s) => s.inbox_push(provider, items, now).await,
        }
    }

    async fn inbox_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<InboxItem>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.inbox_due(now, limit).await,
            AnyStore::Postgres(s) => s.inbox_due(now, limit).await,
        }
    }

    async fn inbox_applied(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.inbox_applied(id, now).await,
            AnyStore::Postgres(s) => s.inbox_applied(id, now).await,
        }
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.next_due().await,
            AnyStore::Postgres(s) => s.next_due().await,
        }
    }

    async fn campaign_stats(
        &self,
        campaign: &str,
        conversions: &[Outcome],
    ) -> Result<CampaignStats, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.campaign_stats(campaign, conversions).await,
            AnyStore::Postgres(s) => s.campaign_stats(campaign, conversions).await,
        }
    }

    async fn contacts_by_ids(&self, ids: &[i64]) -> Result<Vec<Contact>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.contacts_by_ids(ids).await,
            AnyStore::Postgres(s) => s.contacts_by_ids(ids).await,
        }
    }

    async fn attempts_of_contacts_in_runs(
        &self,
        run_ids: &[i64],
        contact_ids: &[i64],
    ) -> Result<Vec<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.attempts_of_contacts_in_runs(run_ids, contact_ids).await,
            AnyStore::Postgres(s) => s.attempts_of_contacts_in_runs(run_ids, contact_ids).await,
        }
    }

    async fn attempts_by_keys(&self, keys: &[String]) -> Result<Vec<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.attempts_by_keys(keys).await,
            AnyStore::Postgres(s) => s.attempts_by_keys(keys).await,
        }
    }

    async fn campaign_states(&self) -> Result<BTreeMap<String, String>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.campaign_states().await,
            AnyStore::Postgres(s) => s.campaign_states().await,
        }
    }

    async fn finishable_runs(&self) -> Result<Vec<Run>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.finishable_runs().await,
            AnyStore::Postgres(s) => s.finishable_runs().await,
        }
    }

    async fn attempts_claimed(
        &self,
        ids: &[i64],
        claimed_at: DateTime<Utc>,
    ) -> Result<Vec<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.attempts_claimed(ids, claimed_at).await,
            AnyStore::Postgres(s) => s.attempts_claimed(ids, claimed_at).await,
        }
    }

    async fn run_by_occurrence(
        &self,
        campaign: &str,
        occurrence: DateTime<Utc>,
    ) -> Result<Option<Run>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.run_by_occurrence(campaign, occurrence).await,
            AnyStore::Postgres(s) => s.run_by_occurrence(campaign, occurrence).await,
        }
    }

    async fn apply_writes(
        &self,
        groups: &[WriteGroup],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.apply_writes(groups, now).await,
            AnyStore::Postgres(s) => s.apply_writes(groups, now).await,
        }
    }

    async fn mark_opted_out(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.mark_opted_out(id, now).await,
            AnyStore::Postgres(s) => s.mark_opted_out(id, now).await,
        }
    }

    async fn recently_contacted(
        &self,
        campaign: &str,
        ids: &[i64],
        since: DateTime<Utc>,
    ) -> Result<BTreeSet<i64>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.recently_contacted(campaign, ids, since).await,
            AnyStore::Postgres(s) => s.recently_contacted(campaign, ids, since).await,
        }
    }

    async fn attempt_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.attempt_counts().await,
            AnyStore::Postgres(s) => s.attempt_counts().await,
        }
    }

    async fn inbox_pending(&self) -> Result<i64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.inbox_pending().await,
            AnyStore::Postgres(s) => s.inbox_pending().await,
        }
    }

    async fn upsert_agent(
        &self,
        name: &str,
        skills: &[String],
        capacity: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.upsert_agent(name, skills, capacity, now).await,
            AnyStore::Postgres(s) => s.upsert_agent(name, skills, capacity, now).await,
        }
    }

    async fn agent(&self, name: &str) -> Result<Option<(Vec<String>, u32)>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.agent(name).await,
            AnyStore::Postgres(s) => s.agent(name).await,
        }
    }

    async fn desk_waiting(&self, limit: i64) -> Result<Vec<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.desk_waiting(limit).await,
            AnyStore::Postgres(s) => s.desk_waiting(limit).await,
        }
    }

    async fn desk_held_by(&self, agent: &str) -> Result<Vec<Attempt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.desk_held_by(agent).await,
            AnyStore::Postgres(s) => s.desk_held_by(agent).await,
        }
    }

    async fn desk_take(
        &self,
        id: i64,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<DeskTake, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.desk_take(id, agent, now).await,
            AnyStore::Postgres(s) => s.desk_take(id, agent, now).await,
        }
    }

    async fn take_tokens(
        &self,
        name: &str,
        rate: f64,
        capacity: f64,
        want: u32,
        now: DateTime<Utc>,
    ) -> Result<crate::domain::rate::Grant, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.take_tokens(name, rate, capacity, want, now).await,
            AnyStore::Postgres(s) => s.take_tokens(name, rate, capacity, want, now).await,
        }
    }

    async fn report_contact_runs(
        &self,
        scope: &ReportScope,
        after: i64,
        last: i64,
    ) -> Result<Vec<ContactRun>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.report_contact_runs(scope, after, last).await,
            AnyStore::Postgres(s) => s.report_contact_runs(scope, after, last).await,
        }
    }

    async fn report_breakdown(
        &self,
        scope: &ReportScope,
        by_step: bool,
    ) -> Result<Vec<BreakdownCounts>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.report_breakdown(scope, by_step).await,
            AnyStore::Postgres(s) => s.report_breakdown(scope, by_step).await,
        }
    }

    async fn report_sends_by_time(&self, scope: &ReportScope) -> Result<Vec<SendsAt>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.report_sends_by_time(scope).await,
            AnyStore::Postgres(s) => s.report_sends_by_time(scope).await,
        }
    }

    async fn lists_of_contacts(&self, ids: &[i64]) -> Result<Vec<(i64, String)>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.lists_of_contacts(ids).await,
            AnyStore::Postgres(s) => s.lists_of_contacts(ids).await,
        }
    }

    async fn max_contact_id(&self) -> Result<i64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.max_contact_id().await,
            AnyStore::Postgres(s) => s.max_contact_id().await,
        }
    }

    async fn export_rows(
        &self,
        table: Table,
        filter: &Filter,
        sink: &mut (dyn FnMut(&mut [Cell]) -> Result<(), SinkError> + Send),
    ) -> Result<u64, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.export_rows(table, filter, sink).await,
            AnyStore::Postgres(s) => s.export_rows(table, filter, sink).await,
        }
    }
}
