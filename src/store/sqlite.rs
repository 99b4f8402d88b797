//! The SQLite store: one file in WAL mode, the embedded default.
//!
//! Array parameters travel as JSON text read with `json_each` (SQLite has no array
//! type); PostgreSQL's queries use `= ANY($1)` for the same names.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Row, SqliteConnection};
use tracing::instrument;

use super::{
    BreakdownCounts, CampaignStats, ContactRun, Daemon, DeskTake, Doing, NamedCount, NewContact,
    Present, ReportScope, SendsAt, SetBatch, Store, StoreError, UpsertCounts, Write, WriteGroup,
};
use super::{Closing, Followers};
use super::{json_page, rows};
use crate::domain::contact::{Contact, Suppression, SuppressionKind, Tag};
use crate::domain::exported::{Cell, Filter, SinkError, Table};
use crate::domain::ledger::{Attempt, AttemptState, InboxItem, NewAttempt, Report, Run, TallyRow};
use crate::domain::outcome::Outcome;
use crate::domain::policy::PastAttempt;
use crate::domain::rate::{Bucket, Grant};
use crate::domain::values::{Channel, PhoneNumber};

named_queries!("sqlite":
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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite migrations, recorded in `herald_migrations`.
pub fn migrator() -> sqlx::migrate::Migrator {
    super::herald_migrator(&MIGRATOR)
}

/// herald's data in one SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (and with `create`, creates) the database at a `sqlite://PATH` URL.
    pub async fn open(url: &str, create: bool) -> Result<SqliteStore, StoreError> {
        Self::open_with(url, create, SqliteSynchronous::Normal).await
    }

    /// Opens a throwaway database (a simulation's copy, the demo) without waiting for the
    /// disk on commit: a crash may lose it, which for such data does not matter.
    pub async fn open_scratch(url: &str) -> Result<SqliteStore, StoreError> {
        Self::open_with(url, true, SqliteSynchronous::Off).await
    }

    /// Opens an existing database for long reads (exports), where a statement that
    /// streams for minutes is expected and not logged as slow.
    pub async fn open_reader(url: &str) -> Result<SqliteStore, StoreError> {
        let options =
            Self::options(url, false, SqliteSynchronous::Normal)?.disable_statement_logging();
        Self::open_options(options).await
    }

    async fn open_with(
        url: &str,
        create: bool,
        synchronous: SqliteSynchronous,
    ) -> Result<SqliteStore, StoreError> {
        Self::open_options(Self::options(url, create, synchronous)?).await
    }

    fn options(
        url: &str,
        create: bool,
        synchronous: SqliteSynchronous,
    ) -> Result<SqliteConnectOptions, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        Ok(SqliteConnectOptions::from_str(url)
            .doing("reading the database URL")?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10)))
    }

    async fn open_options(options: SqliteConnectOptions) -> Result<SqliteStore, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .doing("opening the SQLite database")?;
        Ok(SqliteStore { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// One ledger write on its own.
    async fn write_one(&self, w: &Write, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .doing("taking a database connection")?;
        write(&mut conn, w, now).await
    }

    async fn tags_for(&self, contacts: &mut [Contact]) -> Result<(), StoreError> {
        if contacts.is_empty() {
            return Ok(());
        }
        let ids = json_array(contacts.iter().map(|c| c.id));
        let rows = sqlx::query(QUERIES.tags_for_contacts)
            .bind(ids)
            .fetch_all(&self.pool)
            .await
            .doing("reading contact tags")?;
        let mut by_contact: BTreeMap<i64, Vec<Tag>> = BTreeMap::new();
        for row in rows {
            by_contact
                .entry(row.get("contact_id"))
                .or_default()
                .push(Tag {
                    name: row.get("tag"),
                    source: row.get("source"),
                    expires_at: row.get("expires_at"),
                });
        }
        for c in contacts.iter_mut() {
            c.tags = by_contact.remove(&c.id).unwrap_or_default();
        }
        Ok(())
    }
}

fn json_array<T: serde::Serialize>(items: impl IntoIterator<Item = T>) -> String {
    serde_json::to_string(&items.into_iter().collect::<Vec<T>>()).expect("plain values serialise")
}

fn named_counts(rows: &[SqliteRow]) -> Vec<NamedCount> {
    rows.iter()
        .map(|r| NamedCount {
            name: r.get(0),
            count: r.get(1),
        })
        .collect()
}

/// Writes contacts in one statement; returns each one's id by external id.
async fn write_contacts(
    conn: &mut SqliteConnection,
    contacts: &[Contact],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, i64>, StoreError> {
    if contacts.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows = json_array(contacts.iter().map(|c| {
        serde_json::json!({
            "external_id": c.external_id,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "phone": c.phone.as_ref().map(|p| p.as_str()),
            "email": c.email.as_ref().map(|e| e.as_str()),
            "locale": c.locale,
            "timezone": c.timezone.map(|t| t.name()),
            "attributes": rows::attributes_json(&c.attributes),
            "consent_sms": c.consent.sms.as_str(),
            "consent_email": c.consent.email.as_str(),
            "consent_call": c.consent.call.as_str(),
        })
    }));
    let written = sqlx::query(QUERIES.upsert_contact)
        .bind(rows)
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .doing("writing contacts")?;
    Ok(written
        .iter()
        .map(|r| (r.get("external_id"), r.get("id")))
        .collect())
}

impl Store for SqliteStore {
    #[instrument(skip_all)]
    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        sqlx::query(QUERIES.refresh_statistics)
            .execute(&self.pool)
            .await
            .doing("refreshing planner statistics")?;
        Ok(())
    }

    async fn migrate(&self) -> Result<usize, StoreError> {
        let m = migrator();
        let before: i64 = applied_count(&self.pool).await;
        m.run(&self.pool).await?;
        let after: i64 = applied_count(&self.pool).await;
        Ok((after - before).max(0) as usize)
    }

    #[instrument(skip_all, fields(contacts = batch.len()))]
    async fn upsert_contacts(
        &self,
        batch: &[NewContact],
        present: Present,
        list: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<UpsertCounts, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .doing("starting an import transaction")?;
        let ids = json_array(batch.iter().map(|c| c.contact.external_id.as_str()));
        let existing: BTreeMap<String, Contact> = sqlx::query(QUERIES.contacts_by_external_ids)
            .bind(ids)
            .fetch_all(&mut *tx)
            .await
            .doing("reading existing contacts")?
            .iter()
            .map(|r| rows::contact(r).map(|c| (c.external_id.clone(), c)))
            .collect::<Result<_, _>>()?;
        let list_id: Option<i64> = match list {
            Some(name) => Some(
                sqlx::query_scalar(QUERIES.ensure_list)
                    .bind(name)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .doing("creating the contact list")?,
            ),
            None => None,
        };
        let (counts, writes) = rows::merge_batch(batch, &existing, present);
        let mut ids = write_contacts(&mut tx, &writes, now).await?;
        for (external_id, c) in &existing {
            ids.entry(external_id.clone()).or_insert(c.id);
        }
        let id_of = |new: &NewContact| -> Result<i64, StoreError> {
            ids.get(&new.contact.external_id).copied().ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "contact `{}` was not written",
                    new.contact.external_id
                ))
            })
        };
        let mut tags: Vec<(i64, &str)> = Vec::new();
        for new in batch {
            let id = id_of(new)?;
            tags.extend(new.tags.iter().map(|t| (id, t.as_str())));
        }
        if !tags.is_empty() {
            sqlx::query(QUERIES.add_tag_if_absent)
                .bind(json_array(tags))
                .bind("import")
                .bind(now)
                .execute(&mut *tx)
                .await
                .doing("tagging imported contacts")?;
        }
        if let Some(list_id) = list_id {
            let members = batch.iter().map(id_of).collect::<Result<Vec<i64>, _>>()?;
            sqlx::query(QUERIES.add_list_member)
                .bind(list_id)
                .bind(json_array(members))
                .bind(now)
                .execute(&mut *tx)
                .await
                .doing("adding contacts to the list")?;
        }
        tx.commit().await.doing("committing an import batch")?;
        Ok(counts)
    }

    async fn contact(&self, external_id: &str) -> Result<Option<Contact>, StoreError> {
        let row = sqlx::query(QUERIES.contact_by_external_id)
            .bind(external_id)
            .fetch_optional(&self.pool)
            .await
            .doing("reading a contact")?;
        let Some(row) = row else { return Ok(None) };
        let mut contacts = vec![rows::contact(&row)?];
        self.tags_for(&mut contacts).await?;
        Ok(contacts.pop())
    }

    async fn count_contacts(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.count_contacts)
            .fetch_one(&self.pool)
            .await
            .doing("counting contacts")
    }

    async fn contacts_page(
        &self,
        lists: &[String],
        after: i64,
        limit: i64,
    ) -> Result<Vec<Contact>, StoreError> {
        let rows = if lists.is_empty() {
            sqlx::query(QUERIES.contacts_page)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
        } else {
            sqlx::query(QUERIES.contacts_page_in_lists)
                .bind(after)
                .bind(limit)
                .bind(json_array(lists))
                .fetch_all(&self.pool)
                .await
        }
        .doing("reading a page of the audience")?;
        let mut contacts = rows
            .iter()
            .map(rows::contact)
            .collect::<Result<Vec<_>, _>>()?;
        self.tags_for(&mut contacts).await?;
        Ok(contacts)
    }

    async fn list_counts(&self) -> Result<Vec<NamedCount>, StoreError> {
        let rows = sqlx::query(QUERIES.list_counts)
            .fetch_all(&self.pool)
            .await
            .doing("counting list members")?;
        Ok(named_counts(&rows))
    }

    async fn lists_of(&self, contact_id: i64) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(QUERIES.lists_of_contact)
            .bind(contact_id)
            .fetch_all(&self.pool)
            .await
            .doing("reading a contact's lists")
    }

    async fn upsert_tag(
        &self,
        contact_id: i64,
        tag: &Tag,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_one(
            &Write::Tag {
                contact_id,
                tag: tag.clone(),
            },
            now,
        )
        .await?;
        Ok(())
    }

    async fn remove_tag(
        &self,
        contact_id: i64,
        tag: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .write_one(
                &Write::Untag {
                    contact_id,
                    name: tag.into(),
                },
                now,
            )
            .await?
            > 0)
    }

    async fn tag_counts(&self, now: DateTime<Utc>) -> Result<Vec<NamedCount>, StoreError> {
        let rows = sqlx::query(QUERIES.tag_counts)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .doing("counting tags")?;
        Ok(named_counts(&rows))
    }

    #[instrument(skip_all, fields(entries = entries.len()))]
    async fn upsert_suppressions(&self, entries: &[Suppression]) -> Result<u64, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .doing("starting a suppression transaction")?;
        let mut written = 0;
        for s in entries {
            written += sqlx::query(QUERIES.upsert_suppression)
                .bind(s.kind.as_str())
                .bind(s.target.kind())
                .bind(s.target.value())
                .bind(s.channel.map(|c| c.as_str()))
                .bind(&s.reason)
                .bind(&s.source)
                .bind(s.created_at)
                .bind(s.expires_at)
                .execute(&mut *tx)
                .await
                .doing("writing a suppression entry")?
                .rows_affected();
        }
        tx.commit().await.doing("committing suppression entries")?;
        Ok(written)
    }

    async fn delete_suppression(
        &self,
        target_kind: &str,
        value: &str,
        kind: Option<SuppressionKind>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(QUERIES.delete_suppression)
            .bind(target_kind)
            .bind(value)
            .bind(kind.map(|k| k.as_str()))
            .execute(&self.pool)
            .await
            .doing("removing a suppression entry")?;
        Ok(done.rows_affected())
    }

    async fn suppressions(
        &self,
        now: DateTime<Utc>,
        include_expired: bool,
        limit: i64,
    ) -> Result<Vec<Suppression>, StoreError> {
        let rows = sqlx::query(QUERIES.suppressions_list)
            .bind(now)
            .bind(include_expired)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .doing("listing suppression entries")?;
        rows.iter().map(rows::suppression).collect()
    }

    async fn suppressions_for(&self, contacts: &[Contact]) -> Result<Vec<Suppression>, StoreError> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.suppressions_for_targets)
            .bind(json_array(
                contacts
                    .iter()
                    .filter_map(|c| c.phone.as_ref().map(|p| p.as_str())),
            ))
            .bind(json_array(
                contacts
                    .iter()
                    .filter_map(|c| c.email.as_ref().map(|e| e.as_str())),
            ))
            .bind(json_array(contacts.iter().map(|c| c.external_id.as_str())))
            .fetch_all(&self.pool)
            .await
            .doing("reading suppression entries for the audience")?;
        rows.iter().map(rows::suppression).collect()
    }

    async fn history_for(
        &self,
        contact_ids: &[i64],
        since: DateTime<Utc>,
    ) -> Result<BTreeMap<i64, Vec<PastAttempt>>, StoreError> {
        let mut out: BTreeMap<i64, Vec<PastAttempt>> = BTreeMap::new();
        if contact_ids.is_empty() {
            return Ok(out);
        }
        let rows = sqlx::query(QUERIES.history_for_contacts)
            .bind(json_array(contact_ids.iter().copied()))
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .doing("reading contact history")?;
        for r in rows {
            let channel: String = r.get("channel");
            out.entry(r.get("contact_id"))
                .or_default()
                .push(PastAttempt {
                    at: r.get("sent_at"),
                    channel: Channel::from_str(&channel).map_err(StoreError::Corrupt)?,
                    connected: r.get::<i64, _>("connected") != 0,
                    obligation: r.get("obligation"),
                });
        }
        Ok(out)
    }

    async fn attribute_keys(&self) -> Result<BTreeSet<String>, StoreError> {
        let keys: Vec<String> = sqlx::query_scalar(QUERIES.attribute_keys)
            .fetch_all(&self.pool)
            .await
            .doing("reading attribute names")?;
        Ok(keys.into_iter().collect())
    }

    async fn tag_names(&self) -> Result<BTreeSet<String>, StoreError> {
        let tags: Vec<String> = sqlx::query_scalar(QUERIES.tag_names)
            .fetch_all(&self.pool)
            .await
            .doing("reading tag names")?;
        Ok(tags.into_iter().collect())
    }

    async fn contact_by_id(&self, id: i64) -> Result<Option<Contact>, StoreError> {
        let row = sqlx::query(QUERIES.contact_by_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .doing("reading a contact")?;
        let Some(row) = row else { return Ok(None) };
        let mut contacts = vec![rows::contact(&row)?];
        self.tags_for(&mut contacts).await?;
        Ok(contacts.pop())
    }

    async fn campaign_state(&self, campaign: &str) -> Result<String, StoreError> {
        let state: Option<String> = sqlx::query_scalar(QUERIES.campaign_state)
            .bind(campaign)
            .fetch_optional(&self.pool)
            .await
            .doing("reading a campaign's state")?;
        Ok(state.unwrap_or_else(|| "active".into()))
    }

    async fn set_campaign_state(
        &self,
        campaign: &str,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(QUERIES.set_campaign_state)
            .bind(campaign)
            .bind(state)
            .bind(now)
            .execute(&self.pool)
            .await
            .doing("setting a campaign's state")?;
        Ok(())
    }

    async fn campaign_version(
        &self,
        campaign: &str,
        hash: &str,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.campaign_version)
            .bind(campaign)
            .bind(hash)
            .bind(source)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .doing("recording a campaign version")
    }

    async fn create_run(
        &self,
        campaign: &str,
        version_id: i64,
        occurrence: DateTime<Utc>,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(QUERIES.create_run)
            .bind(campaign)
            .bind(version_id)
            .bind(occurrence)
            .bind(state)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .doing("creating a run")
    }

    async fn set_run_summary(
        &self,
        run_id: i64,
        summary: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(QUERIES.set_run_summary)
            .bind(run_id)
            .bind(summary.to_string())
            .execute(&self.pool)
            .await
            .doing("saving a run summary")?;
        Ok(())
    }

    async fn finish_run(
        &self,
        run_id: i64,
        state: &str,
        summary: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(QUERIES.finish_run)
            .bind(run_id)
            .bind(state)
            .bind(summary.to_string())
            .bind(now)
            .execute(&self.pool)
            .await
            .doing("finishing a run")?;
        Ok(())
    }

    async fn last_occurrence(&self, campaign: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let t: Option<String> = sqlx::query_scalar(QUERIES.last_occurrence)
            .bind(campaign)
            .fetch_one(&self.pool)
            .await
            .doing("reading the last run")?;
        t.map(|t| json_page::parse_stored_time(&t)).transpose()
    }

    async fn runs(&self, campaign: Option<&str>, limit: i64) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(QUERIES.runs_list)
            .bind(campaign)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .doing("listing runs")?;
        rows.iter().map(rows::run).collect()
    }

    async fn run(&self, id: i64) -> Result<Option<Run>, StoreError> {
        let row = sqlx::query(QUERIES.run_by_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .doing("reading a run")?;
        row.as_ref().map(rows::run).transpose()
    }

    async fn running_runs(&self) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(QUERIES.running_runs)
            .fetch_all(&self.pool)
            .await
            .doing("listing running runs")?;
        rows.iter().map(rows::run).collect()
    }

    async fn open_attempts(&self, run_id: i64) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.open_attempts_of_run)
            .bind(run_id)
            .fetch_one(&self.pool)
            .await
            .doing("counting open attempts")
    }

    async fn send_failures(&self, attempt_id: i64) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.send_failures)
            .bind(attempt_id)
            .fetch_one(&self.pool)
            .await
            .doing("counting send failures")
    }

    async fn run_tally(&self, run_id: i64) -> Result<Vec<TallyRow>, StoreError> {
        let rows = sqlx::query(QUERIES.run_tally)
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .doing("counting a run's attempts")?;
        Ok(rows
            .iter()
            .map(|r| TallyRow {
                step: r.get("step"),
                channel: r.get("channel"),
                state: r.get("state"),
                result: r.get("result"),
                attempts: r.get("n"),
                connected: r.get::<Option<i64>, _>("connected").unwrap_or(0),
            })
            .collect())
    }

    #[instrument(skip_all, fields(attempts = attempts.len()))]
    async fn insert_attempts(
        &self,
        attempts: &[NewAttempt],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .doing("starting to insert attempts")?;
        let mut inserted = 0;
        for chunk in attempts.chunks(1000) {
            let chunk: Vec<&NewAttempt> = chunk.iter().collect();
            inserted += insert_attempts_in(&mut tx, &chunk, now).await?;
        }
        tx.commit().await.doing("committing attempts")?;
        Ok(inserted)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        claimer: &str,
    ) -> Result<Vec<Attempt>, StoreError> {
        let held: Vec<i64> = sqlx::query_scalar(QUERIES.held_runs)
            .fetch_all(&self.pool)
            .await
            .doing("reading the runs of paused campaigns")?;
        let ids: Vec<i64> = sqlx::query_scalar(QUERIES.claim_due)
            .bind(now)
            .bind(limit)
            .bind(claimer)
            .bind(json_array(held))
            .fetch_all(&self.pool)
            .await
            .doing("claiming due attempts")?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.attempts_by_ids)
            .bind(json_array(ids))
            .fetch_all(&self.pool)
            .await
            .doing("reading claimed attempts")?;
        rows.iter().map(rows::attempt).collect()
    }

    async fn requeue_stale(
        &self,
        cutoff: DateTime<Utc>,
        silent_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(QUERIES.requeue_stale)
            .bind(cutoff)
            .bind(now)
            .bind(silent_since)
            .execute(&self.pool)
            .await
            .doing("re-queueing stale attempts")?
            .rows_affected())
    }

    async fn daemon_beat(&self, daemon: &Daemon, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(QUERIES.daemon_beat)
            .bind(&daemon.id)
            .bind(&daemon.host)
            .bind(daemon.pid)
            .bind(now)
            .execute(&self.pool)
            .await
            .doing("recording that the daemon is alive")?;
        Ok(())
    }

    async fn daemon_gone(
        &self,
        id: &str,
        forget_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.doing("starting a transaction")?;
        let released = sqlx::query(QUERIES.release_claims)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .doing("giving back the daemon's claims")?
            .rows_affected();
        sqlx::query(QUERIES.daemon_gone)
            .bind(id)
            .bind(forget_before)
            .execute(&mut *tx)
            .await
            .doing("forgetting a stopped daemon")?;
        tx.commit().await.doing("committing a daemon's stop")?;
        Ok(released)
    }

    async fn daemons(&self) -> Result<Vec<Daemon>, StoreError> {
        let rows = sqlx::query(QUERIES.daemons_list)
            .fetch_all(&self.pool)
            .await
            .doing("listing daemons")?;
        rows.iter().map(rows::daemon).collect()
    }

    async fn attempt_by_key(&self, key: &str) -> Result<Option<Attempt>, StoreError> {
        let row = sqlx::query(QUERIES.attempt_by_key)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .doing("reading an attempt")?;
        row.as_ref().map(rows::attempt).transpose()
    }

    async fn latest_sms_to(
        &self,
        phone: &PhoneNumber,
        since: DateTime<Utc>,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let row = sqlx::query(QUERIES.latest_sms_to)
            .bind(phone.as_str())
            .bind(since)
            .fetch_optional(&self.pool)
            .await
            .doing("finding the message a reply answers")?;
        Ok(row.map(|r| (r.get("idempotency_key"), r.get("holders"))))
    }

    async fn link_answers_near(
        &self,
        key: &str,
        question: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.link_answers_near)
            .bind(key)
            .bind(format!("link:{question}:"))
            .bind(from)
            .bind(to)
            .fetch_one(&self.pool)
            .await
            .doing("counting answers by link")
    }

    async fn responses_of_contact_in_run(
        &self,
        run_id: i64,
        contact_id: i64,
    ) -> Result<Vec<crate::domain::survey::Response>, StoreError> {
        let rows = sqlx::query(QUERIES.responses_of_contact_in_run)
            .bind(run_id)
            .bind(contact_id)
            .fetch_all(&self.pool)
            .await
            .doing("reading a contact's survey answers")?;
        rows.iter()
            .map(|row| {
                Ok(crate::domain::survey::Response {
                    question: row.get("question"),
                    kind: rows::Record::parsed(row, "kind")?,
                    score: row.get("score"),
                    answer: row.get("answer"),
                    raw: row.get("raw"),
                    channel: rows::Record::parsed(row, "channel")?,
                    revision: row.get::<i64, _>("revision") as u32,
                    first_answered_at: row.get("first_answered_at"),
                    answered_at: row.get("answered_at"),
                })
            })
            .collect()
    }

    async fn attempts_of_contact_in_run(
        &self,
        run_id: i64,
        contact_id: i64,
    ) -> Result<Vec<Attempt>, StoreError> {
        let rows = sqlx::query(QUERIES.attempts_of_contact_in_run)
            .bind(run_id)
            .bind(contact_id)
            .fetch_all(&self.pool)
            .await
            .doing("reading a contact's attempts")?;
        rows.iter().map(rows::attempt).collect()
    }

    async fn reschedule(
        &self,
        id: i64,
        not_before: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_one(
            &Write::Reschedule {
                id,
                not_before,
                reason: reason.into(),
            },
            now,
        )
        .await?;
        Ok(())
    }

    async fn mark_sent(
        &self,
        id: i64,
        at: DateTime<Utc>,
        provider_ref: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .write_one(
                &Write::MarkSent {
                    id,
                    at,
                    provider_ref: provider_ref.into(),
                },
                at,
            )
            .await?
            > 0)
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
        let w = Write::Close {
            id,
            state,
            outcome,
            connected,
            reason: reason.map(str::to_string),
        };
        Ok(self.write_one(&w, now).await? > 0)
    }

    async fn set_connected(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.write_one(&Write::Connected { id }, now).await?;
        Ok(())
    }

    async fn cancel_queued_for_contact(
        &self,
        contact_id: i64,
        channels: &[Channel],
        run_id: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(QUERIES.cancel_queued_for_contact)
            .bind(contact_id)
            .bind(json_array(channels.iter().map(|c| c.as_str())))
            .bind(reason)
            .bind(now)
            .bind(run_id)
            .execute(&self.pool)
            .await
            .doing("cancelling a contact's attempts")?
            .rows_affected())
    }

    async fn cancel_queued_for_campaign(
        &self,
        campaign: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(QUERIES.cancel_queued_for_campaign)
            .bind(campaign)
            .bind(reason)
            .bind(now)
            .execute(&self.pool)
            .await
            .doing("cancelling a campaign's attempts")?
            .rows_affected())
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
        let w = Write::Event {
            attempt_id,
            kind: kind.into(),
            detail: detail.map(str::to_string),
            payload: payload.clone(),
            occurred_at,
        };
        self.write_one(&w, now).await?;
        Ok(())
    }

    async fn events_of_contact(
        &self,
        contact_id: i64,
        limit: i64,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows = sqlx::query(QUERIES.events_of_contact)
            .bind(contact_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .doing("reading a contact's events")?;
        Ok(rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "at": r.get::<DateTime<Utc>, _>("occurred_at"),
                    "kind": r.get::<String, _>("kind"),
                    "detail": r.get::<Option<String>, _>("detail"),
                    "campaign": r.get::<String, _>("campaign"),
                    "step": r.get::<String, _>("step"),
                    "channel": r.get::<String, _>("channel"),
                    "attempt": r.get::<i64, _>("attempt_no"),
                    "payload": serde_json::from_str::<serde_json::Value>(r.get::<&str, _>("payload"))
                        .unwrap_or(serde_json::Value::Null),
                })
            })
            .collect())
    }

    async fn inbox_push(
        &self,
        provider: &str,
        items: &[(String, String, Report, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .doing("starting to store provider events")?;
        let writes: Vec<Write> = items
            .iter()
            .map(
                |(event_key, idempotency_key, report, due_at)| Write::Inbox {
                    provider: provider.into(),
                    event_key: event_key.clone(),
                    idempotency_key: idempotency_key.clone(),
                    report: report.clone(),
                    due_at: *due_at,
                },
            )
            .collect();
        let added = insert_inbox_in(&mut tx, &writes.iter().collect::<Vec<_>>(), now).await?;
        tx.commit().await.doing("committing provider events")?;
        Ok(added)
    }

    async fn inbox_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<InboxItem>, StoreError> {
        let rows = sqlx::query(QUERIES.inbox_due)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .doing("reading the inbox")?;
        rows.iter()
            .map(|r| {
                let payload: String = r.get("payload");
                Ok(InboxItem {
                    id: r.get("id"),
                    provider: r.get("provider"),
                    event_key: r.get("event_key"),
                    idempotency_key: r.get("idempotency_key"),
                    report: serde_json::from_str(&payload)
                        .map_err(|e| StoreError::Corrupt(format!("inbox payload: {e}")))?,
                    due_at: r.get("due_at"),
                })
            })
            .collect()
    }

    async fn inbox_applied(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.write_one(&Write::InboxApplied { id }, now).await?;
        Ok(())
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        // MIN over text columns comes back as text: parse it as the stored time format.
        let t: Option<String> = sqlx::query_scalar(QUERIES.next_due)
            .fetch_one(&self.pool)
            .await
            .doing("finding the next due moment")?;
        t.map(|t| json_page::parse_stored_time(&t)).transpose()
    }

    async fn campaign_stats(
        &self,
        campaign: &str,
        conversions: &[Outcome],
    ) -> Result<CampaignStats, StoreError> {
        let t = sqlx::query(QUERIES.campaign_totals)
            .bind(campaign)
            .bind(json_array(conversions.iter().map(|o| o.as_str())))
            .fetch_one(&self.pool)
            .await
            .doing("totalling a campaign")?;
        let count = |col: &str| t.get::<Option<i64>, _>(col).unwrap_or(0);
        let volume = sqlx::query(QUERIES.volume_by_hour)
            .bind(campaign)
            .fetch_all(&self.pool)
            .await
            .doing("counting sends by hour")?
            .iter()
            .map(|r| {
                (
                    r.get::<String, _>("hour"),
                    r.get::<String, _>("channel"),
                    r.get::<i64, _>("n"),
                )
            })
            .collect();
        let outcomes = sqlx::query(QUERIES.campaign_outcomes)
            .bind(campaign)
            .fetch_all(&self.pool)
            .await
            .doing("counting outcomes")?
            .iter()
            .map(|r| TallyRow {
                step: r.get("step"),
                channel: r.get("channel"),
                state: r.get("state"),
                result: r.get("result"),
                attempts: r.get("n"),
                connected: r.get::<Option<i64>, _>("connected").unwrap_or(0),
            })
            .collect();
        let events = sqlx::query(QUERIES.event_counts)
            .bind(campaign)
            .fetch_all(&self.pool)
            .await
            .doing("counting events")?
            .iter()
            .map(|r| (r.get::<String, _>("kind"), r.get::<i64, _>("n")))
            .collect();
        Ok(CampaignStats {
            runs: count("runs"),
            contacts: count("contacts"),
            attempted: count("attempted"),
            reached: count("reached"),
            converted: count("converted"),
            sent: count("sent"),
            agent_calls: count("agent_calls"),
            volume_by_hour: volume,
            outcomes,
            events,
        })
    }

    async fn contacts_by_ids(&self, ids: &[i64]) -> Result<Vec<Contact>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.contacts_by_ids)
            .bind(json_array(ids.iter().copied()))
            .fetch_all(&self.pool)
            .await
            .doing("reading contacts")?;
        let mut contacts = rows
            .iter()
            .map(rows::contact)
            .collect::<Result<Vec<_>, _>>()?;
        self.tags_for(&mut contacts).await?;
        Ok(contacts)
    }

    async fn attempts_of_contacts_in_runs(
        &self,
        run_ids: &[i64],
        contact_ids: &[i64],
    ) -> Result<Vec<Attempt>, StoreError> {
        if run_ids.is_empty() || contact_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.attempts_of_contacts_in_runs)
            .bind(json_array(run_ids.iter().copied()))
            .bind(json_array(contact_ids.iter().copied()))
            .fetch_all(&self.pool)
            .await
            .doing("reading contacts' attempts")?;
        rows.iter().map(rows::attempt).collect()
    }

    async fn attempts_by_keys(&self, keys: &[String]) -> Result<Vec<Attempt>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.attempts_by_keys)
            .bind(json_array(keys))
            .fetch_all(&self.pool)
            .await
            .doing("reading attempts by key")?;
        rows.iter().map(rows::attempt).collect()
    }

    async fn campaign_states(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let rows = sqlx::query(QUERIES.campaign_states)
            .fetch_all(&self.pool)
            .await
            .doing("reading campaign states")?;
        Ok(rows.iter().map(|r| (r.get("id"), r.get("state"))).collect())
    }

    async fn finishable_runs(&self) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(QUERIES.finishable_runs)
            .fetch_all(&self.pool)
            .await
            .doing("finding finished runs")?;
        rows.iter().map(rows::run).collect()
    }

    async fn attempts_claimed(
        &self,
        ids: &[i64],
        claimed_at: DateTime<Utc>,
    ) -> Result<Vec<Attempt>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.attempts_claimed)
            .bind(json_array(ids.iter().copied()))
            .bind(claimed_at)
            .fetch_all(&self.pool)
            .await
            .doing("reading claimed attempts")?;
        rows.iter().map(rows::attempt).collect()
    }

    async fn run_by_occurrence(
        &self,
        campaign: &str,
        occurrence: DateTime<Utc>,
    ) -> Result<Option<Run>, StoreError> {
        let row = sqlx::query(QUERIES.run_by_occurrence)
            .bind(campaign)
            .bind(occurrence)
            .fetch_optional(&self.pool)
            .await
            .doing("reading a run")?;
        row.as_ref().map(rows::run).transpose()
    }

    async fn apply_writes(
        &self,
        groups: &[WriteGroup],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .doing("starting a batch of ledger writes")?;
        let held = match SetBatch::of(groups) {
            Some(batch) => apply_set_batch(&mut tx, groups, &batch, now).await?,
            None => {
                let mut held = Vec::with_capacity(groups.len());
                for g in groups {
                    let ok = match &g.guard {
                        Some(guard) => write(&mut tx, guard, now).await? > 0,
                        None => true,
                    };
                    if ok {
                        for w in &g.then {
                            write(&mut tx, w, now).await?;
                        }
                    }
                    held.push(ok);
                }
                held
            }
        };
        tx.commit().await.doing("committing ledger writes")?;
        Ok(held)
    }

    async fn mark_opted_out(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(QUERIES.mark_opted_out)
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await
            .doing("recording an opt-out")?;
        Ok(())
    }

    async fn recently_contacted(
        &self,
        campaign: &str,
        ids: &[i64],
        since: DateTime<Utc>,
    ) -> Result<BTreeSet<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let found: Vec<i64> = sqlx::query_scalar(QUERIES.recently_contacted)
            .bind(campaign)
            .bind(json_array(ids.iter().copied()))
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .doing("reading whom the campaign contacted recently")?;
        Ok(found.into_iter().collect())
    }

    async fn attempt_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(QUERIES.attempt_counts)
            .fetch_all(&self.pool)
            .await
            .doing("counting attempts")?;
        Ok(rows
            .iter()
            .map(|r| (r.get("channel"), r.get("state"), r.get("n")))
            .collect())
    }

    async fn inbox_pending(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.inbox_pending)
            .fetch_one(&self.pool)
            .await
            .doing("counting pending events")
    }

    async fn upsert_agent(
        &self,
        name: &str,
        skills: &[String],
        capacity: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(QUERIES.upsert_agent)
            .bind(name)
            .bind(json_array(skills))
            .bind(capacity as i64)
            .bind(now)
            .execute(&self.pool)
            .await
            .doing("saving an agent")?;
        Ok(())
    }

    async fn agent(&self, name: &str) -> Result<Option<(Vec<String>, u32)>, StoreError> {
        let row = sqlx::query(QUERIES.agent_by_name)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .doing("reading an agent")?;
        let Some(row) = row else { return Ok(None) };
        let skills: String = row.get("skills");
        let skills: Vec<String> = serde_json::from_str(&skills)
            .map_err(|e| StoreError::Corrupt(format!("agent skills: {e}")))?;
        Ok(Some((skills, row.get::<i64, _>("capacity") as u32)))
    }

    async fn desk_waiting(&self, limit: i64) -> Result<Vec<Attempt>, StoreError> {
        let rows = sqlx::query(QUERIES.desk_waiting)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .doing("reading the desk queue")?;
        rows.iter().map(rows::attempt).collect()
    }

    async fn desk_held_by(&self, agent: &str) -> Result<Vec<Attempt>, StoreError> {
        let rows = sqlx::query(QUERIES.desk_held_by)
            .bind(agent)
            .fetch_all(&self.pool)
            .await
            .doing("reading an agent's calls")?;
        rows.iter().map(rows::attempt).collect()
    }

    async fn desk_take(
        &self,
        id: i64,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<DeskTake, StoreError> {
        // BEGIN IMMEDIATE takes the write lock at once: the count below cannot change
        // before the take, whichever process serves the agent.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .doing("starting to give a call to an agent")?;
        let capacity: Option<i64> = sqlx::query_scalar(QUERIES.desk_lock_agent)
            .bind(agent)
            .fetch_optional(&mut *tx)
            .await
            .doing("reading an agent's capacity")?;
        let Some(capacity) = capacity else {
            return Ok(DeskTake::UnknownAgent);
        };
        let held: i64 = sqlx::query_scalar(QUERIES.desk_held_count)
            .bind(agent)
            .fetch_one(&mut *tx)
            .await
            .doing("counting an agent's calls")?;
        if held >= capacity {
            return Ok(DeskTake::AtCapacity);
        }
        let done = sqlx::query(QUERIES.desk_take)
            .bind(id)
            .bind(agent)
            .bind(now)
            .execute(&mut *tx)
            .await
            .doing("giving a call to an agent")?;
        tx.commit().await.doing("committing a call given")?;
        Ok(if done.rows_affected() > 0 {
            DeskTake::Taken
        } else {
            DeskTake::Gone
        })
    }

    async fn take_tokens(
        &self,
        name: &str,
        rate: f64,
        capacity: f64,
        want: u32,
        now: DateTime<Utc>,
    ) -> Result<Grant, StoreError> {
        // One writer transaction from the start: no other process reads the bucket
        // between this read and the write of what is left.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .doing("starting to take rate tokens")?;
        let new = Bucket::full(capacity, now);
        let row = sqlx::query(QUERIES.rate_bucket_hold)
            .bind(name)
            .bind(new.tokens)
            .bind(new.at)
            .fetch_one(&mut *tx)
            .await
            .doing("reading a rate bucket")?;
        let (left, grant) = rows::bucket(&row)?.take(rate, capacity, want, now);
        sqlx::query(QUERIES.rate_bucket_set)
            .bind(name)
            .bind(left.tokens)
            .bind(left.at)
            .execute(&mut *tx)
            .await
            .doing("writing a rate bucket")?;
        tx.commit().await.doing("committing a rate bucket")?;
        Ok(grant)
    }

    #[instrument(skip_all, fields(campaign = %scope.campaign, after, last))]
    async fn report_contact_runs(
        &self,
        scope: &ReportScope,
        after: i64,
        last: i64,
    ) -> Result<Vec<ContactRun>, StoreError> {
        let rows = sqlx::query(QUERIES.report_contact_runs)
            .bind(&scope.campaign)
            .bind(scope.run)
            .bind(json_array(scope.conversions.iter().map(|o| o.as_str())))
            .bind(&scope.nps_question)
            .bind(&scope.csat_question)
            .bind(&scope.ab_step)
            .bind(after)
            .bind(last)
            .fetch_all(&self.pool)
            .await
            .doing("reading what happened to a campaign's contacts")?;
        // Flags are SQL booleans that are NULL when every operand was NULL.
        let flag = |r: &SqliteRow, col: &str| r.get::<Option<i64>, _>(col).unwrap_or(0) != 0;
        Ok(rows
            .iter()
            .map(|r| ContactRun {
                run_id: r.get("run_id"),
                contact_id: r.get("contact_id"),
                attempted: flag(r, "attempted"),
                delivered: flag(r, "delivered"),
                reached: flag(r, "reached"),
                wrong_number: flag(r, "wrong_number"),
                promised: flag(r, "promised"),
                paid: flag(r, "paid"),
                converted_by_outcome: flag(r, "converted"),
                responded: flag(r, "responded"),
                open: flag(r, "open"),
                skip_reason: r.get("skip_reason"),
                on_ab_step: r.get::<Option<String>, _>("variant").is_some(),
                variant: r
                    .get::<Option<String>, _>("variant")
                    .filter(|v| !v.is_empty()),
                nps: r.get("nps"),
                csat: r.get("csat"),
            })
            .collect())
    }

    #[instrument(skip_all, fields(campaign = %scope.campaign, by_step))]
    async fn report_breakdown(
        &self,
        scope: &ReportScope,
        by_step: bool,
    ) -> Result<Vec<BreakdownCounts>, StoreError> {
        let rows = sqlx::query(QUERIES.report_breakdown)
            .bind(&scope.campaign)
            .bind(scope.run)
            .bind(if by_step { "step" } else { "channel" })
            .bind(json_array(scope.conversions.iter().map(|o| o.as_str())))
            .bind(scope.delivery_converts)
            .bind(scope.answer_converts)
            .fetch_all(&self.pool)
            .await
            .doing("counting a campaign's contacts by step or channel")?;
        let count =
            |r: &SqliteRow, col: &str| r.get::<Option<i64>, _>(col).unwrap_or(0).max(0) as u64;
        Ok(rows
            .iter()
            .map(|r| BreakdownCounts {
                key: r.get("key"),
                contacts: count(r, "contacts"),
                attempted: count(r, "attempted"),
                delivered: count(r, "delivered"),
                reached: count(r, "reached"),
                converted: count(r, "converted"),
                sends: count(r, "sends"),
            })
            .collect())
    }

    #[instrument(skip_all, fields(campaign = %scope.campaign))]
    async fn report_sends_by_time(&self, scope: &ReportScope) -> Result<Vec<SendsAt>, StoreError> {
        let rows = sqlx::query(QUERIES.report_sends_by_time)
            .bind(&scope.campaign)
            .bind(scope.run)
            .bind(json_array(scope.conversions.iter().map(|o| o.as_str())))
            .bind(scope.delivery_converts)
            .bind(scope.answer_converts)
            .fetch_all(&self.pool)
            .await
            .doing("counting a campaign's sends by time")?;
        rows.iter()
            .map(|r| {
                let day: String = r.get("day");
                let hour: i64 = r.get("hour");
                let quarter: i64 = r.get("quarter");
                let at = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(hour as u32, (quarter * 15) as u32, 0))
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("sent_at `{day} {hour}:{quarter}`"))
                    })?
                    .and_utc();
                Ok(SendsAt {
                    at,
                    result: r.get("result"),
                    sends: r.get::<i64, _>("sends").max(0) as u64,
                })
            })
            .collect()
    }

    async fn lists_of_contacts(&self, ids: &[i64]) -> Result<Vec<(i64, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.report_lists_of_contacts)
            .bind(json_array(ids.iter().copied()))
            .fetch_all(&self.pool)
            .await
            .doing("reading the lists of contacts")?;
        Ok(rows
            .iter()
            .map(|r| (r.get("contact_id"), r.get("name")))
            .collect())
    }

    async fn max_contact_id(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.max_contact_id)
            .fetch_one(&self.pool)
            .await
            .doing("reading the highest contact id")
    }

    #[instrument(skip_all, fields(table = table.as_str(), campaign = filter.campaign.as_deref()))]
    async fn export_rows(
        &self,
        table: Table,
        filter: &Filter,
        sink: &mut (dyn FnMut(&mut [Cell]) -> Result<(), SinkError> + Send),
    ) -> Result<u64, StoreError> {
        // Pages are read and decoded by their own task while this one writes the rows
        // before them; at most two decoded pages wait, so memory stays flat.
        let (pages, mut received) = tokio::sync::mpsc::channel(2);
        let reader = tokio::spawn(read_export_pages(
            self.pool.clone(),
            table,
            filter.clone(),
            pages,
        ));
        let mut count = 0;
        // Returning early drops `received`: the reader stops before its next page.
        while let Some(page) = received.recv().await {
            for mut row in page? {
                sink(&mut row).map_err(StoreError::Sink)?;
                count += 1;
            }
        }
        if let Err(e) = reader.await
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
        Ok(count)
    }
}

/// Rows an export reads per statement.
const EXPORT_PAGE: i64 = 2000;

/// Reads an export's rows a page at a time into `out`, in one read transaction so that
/// every page sees the same moment of the database; stops after the last page, at the
/// first error (which it sends) or when nobody receives any more.
async fn read_export_pages(
    pool: SqlitePool,
    table: Table,
    filter: Filter,
    out: tokio::sync::mpsc::Sender<Result<Vec<Vec<Cell>>, StoreError>>,
) {
    let pages = async {
        let mut tx = pool.begin().await.doing("starting the export's read")?;
        let mut after = json_page::PageKey::default();
        loop {
            let page: String = sqlx::query_scalar(sqlx::AssertSqlSafe(export_page_query(table)))
                .bind(filter.campaign.as_deref())
                .bind(filter.since)
                .bind(filter.until)
                .bind(filter.now)
                .bind(after.id)
                .bind(after.text.as_str())
                .bind(EXPORT_PAGE)
                .fetch_one(&mut *tx)
                .await
                .doing("reading rows to export")?;
            let rows = json_page::decode(&page, table.columns())?;
            let last_page = (rows.len() as i64) < EXPORT_PAGE;
            if let Some(last) = rows.last() {
                after = json_page::PageKey::of(table, last)?;
            }
            if rows.is_empty() || out.send(Ok(rows)).await.is_err() || last_page {
                return Ok(());
            }
        }
    };
    if let Err(e) = pages.await {
        let _ = out.send(Err(e)).await;
    }
}

/// The SQL of an export table, read a page at a time (see [`json_page`]).
fn export_page_query(table: Table) -> &'static str {
    static PAGES: std::sync::LazyLock<Vec<(Table, String)>> = std::sync::LazyLock::new(|| {
        Table::ALL
            .iter()
            .map(|&t| (t, json_page::page_query(t, export_query(t))))
            .collect()
    });
    PAGES
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, sql)| sql.as_str())
        .expect("every table has a page query")
}

/// The SQL of an export table.
fn export_query(table: Table) -> &'static str {
    match table {
        Table::Attempts => QUERIES.export_attempts,
        Table::Events => QUERIES.export_events,
        Table::Responses => QUERIES.export_responses,
        Table::Contacts => QUERIES.export_contacts,
        Table::Tags => QUERIES.export_tags,
    }
}

/// A time as sqlx stores it in SQLite, for times carried inside JSON arguments.
fn stored_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// Applies a batch of the set-wise shape: one statement per kind of guard, of update and of
/// insert (events, provider events, new attempts); only tags and untags go row by row.
/// Returns which groups held.
async fn apply_set_batch(
    conn: &mut SqliteConnection,
    groups: &[WriteGroup],
    batch: &SetBatch<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<bool>, StoreError> {
    async fn many(
        conn: &mut SqliteConnection,
        sql: &'static str,
        rows: Vec<serde_json::Value>,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query_scalar::<_, i64>(sql)
            .bind(serde_json::Value::Array(rows).to_string())
            .bind(now)
            .fetch_all(&mut *conn)
            .await
            .doing("writing to the ledger")
    }
    fn closes(c: &[Closing<'_>]) -> Vec<serde_json::Value> {
        c.iter()
            .map(|(_, id, state, outcome, connected, reason)| {
                serde_json::json!({
                    "id": id,
                    "state": state.as_str(),
                    "outcome": outcome.map(|o| o.as_str()),
                    "connected": connected,
                    "reason": reason,
                })
            })
            .collect()
    }
    let mut moved = BTreeSet::new();
    let sent = batch
        .sent
        .iter()
        .map(|(_, id, at, r)| serde_json::json!({ "id": id, "at": stored_time(*at), "ref": r }));
    moved.extend(many(conn, QUERIES.mark_sent_many, sent.collect(), now).await?);
    let rescheduled = batch.rescheduled.iter().map(|(_, id, at, reason)| {
        serde_json::json!({ "id": id, "not_before": stored_time(*at), "reason": reason })
    });
    moved.extend(many(conn, QUERIES.reschedule_many, rescheduled.collect(), now).await?);
    moved.extend(many(conn, QUERIES.close_many, closes(&batch.closed), now).await?);
    let items = batch.applied.iter().map(|(_, id)| serde_json::json!(id));
    let applied: BTreeSet<i64> = many(conn, QUERIES.inbox_applied_many, items.collect(), now)
        .await?
        .into_iter()
        .collect();
    let held = batch.held(groups.len(), &moved, &applied);
    let then = Followers::of(groups, &held);
    many(conn, QUERIES.close_many, closes(&then.closes), now).await?;
    if !then.connected.is_empty() {
        sqlx::query(QUERIES.set_connected_many)
            .bind(json_array(&then.connected))
            .bind(now)
            .execute(&mut *conn)
            .await
            .doing("recording connections")?;
    }
    for w in then.one_by_one {
        write(&mut *conn, w, now).await?;
    }
    insert_inbox_in(&mut *conn, &then.inbox, now).await?;
    insert_attempts_in(&mut *conn, &then.attempts, now).await?;
    let events: Vec<serde_json::Value> = then
        .events
        .iter()
        .filter_map(|w| match w {
            Write::Event {
                attempt_id,
                kind,
                detail,
                payload,
                occurred_at,
            } => Some(serde_json::json!({
                "attempt_id": attempt_id,
                "kind": kind,
                "detail": detail,
                "payload": payload.to_string(),
                "occurred_at": stored_time(*occurred_at),
            })),
            _ => None,
        })
        .collect();
    if !events.is_empty() {
        sqlx::query(QUERIES.insert_events)
            .bind(serde_json::Value::Array(events).to_string())
            .bind(now)
            .execute(&mut *conn)
            .await
            .doing("writing events")?;
    }
    Ok(held)
}

/// Adds provider events (the `Write::Inbox` among `writes`) in one statement; returns how
/// many were new (a repeat of provider and event key is ignored).
async fn insert_inbox_in(
    conn: &mut SqliteConnection,
    writes: &[&Write],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let rows: Vec<serde_json::Value> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Inbox {
                provider,
                event_key,
                idempotency_key,
                report,
                due_at,
            } => Some(serde_json::json!({
                "provider": provider,
                "event_key": event_key,
                "idempotency_key": idempotency_key,
                "kind": report.kind(),
                "payload": serde_json::to_string(report).expect("reports serialise"),
                "due_at": stored_time(*due_at),
            })),
            _ => None,
        })
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(QUERIES.inbox_push)
        .bind(serde_json::Value::Array(rows).to_string())
        .bind(now)
        .execute(&mut *conn)
        .await
        .doing("writing provider events")?;
    Ok(done.rows_affected())
}

/// Inserts attempts in one statement (those whose key exists are left alone); returns
/// how many were new.
async fn insert_attempts_in(
    conn: &mut SqliteConnection,
    attempts: &[&NewAttempt],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if attempts.is_empty() {
        return Ok(0);
    }
    let rows: Vec<serde_json::Value> = attempts
        .iter()
        .map(|a| {
            serde_json::json!({
                "run_id": a.run_id,
                "contact_id": a.contact_id,
                "step": a.step,
                "step_index": a.step_index,
                "channel": a.channel.as_str(),
                "attempt_no": a.attempt_no,
                "not_before": stored_time(a.not_before),
                "key": a.idempotency_key(),
                "obligation": a.obligation,
                "after_attempt": a.after_attempt,
                "condition": a.condition.map(|c| c.as_str()),
                "variant": a.variant,
                "prompt": a.prompt,
            })
        })
        .collect();
    let done = sqlx::query(QUERIES.insert_attempt)
        .bind(serde_json::Value::Array(rows).to_string())
        .bind(now)
        .execute(&mut *conn)
        .await
        .doing("inserting attempts")?;
    Ok(done.rows_affected())
}

/// Executes one ledger write; returns the rows it changed.
async fn write(
    conn: &mut SqliteConnection,
    w: &Write,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = match w {
        Write::MarkSent {
            id,
            at,
            provider_ref,
        } => {
            sqlx::query(QUERIES.mark_sent)
                .bind(id)
                .bind(at)
                .bind(provider_ref)
                .execute(&mut *conn)
                .await
        }
        Write::SendSeen { id, at } => {
            sqlx::query(QUERIES.send_seen)
                .bind(id)
                .bind(at)
                .bind(now)
                .execute(&mut *conn)
                .await
        }
        Write::Reschedule {
            id,
            not_before,
            reason,
        } => {
            sqlx::query(QUERIES.reschedule_attempt)
                .bind(id)
                .bind(not_before)
                .bind(reason)
                .bind(now)
                .execute(&mut *conn)
                .await
        }
        Write::Close {
            id,
            state,
            outcome,
            connected,
            reason,
        } => {
            sqlx::query(QUERIES.close_attempt)
                .bind(id)
                .bind(state.as_str())
                .bind(outcome.map(|o| o.as_str()))
                .bind(connected)
                .bind(reason)
                .bind(now)
                .execute(&mut *conn)
                .await
        }
        Write::Event {
            attempt_id,
            kind,
            detail,
            payload,
            occurred_at,
        } => {
            sqlx::query(QUERIES.insert_event)
                .bind(attempt_id)
                .bind(kind)
                .bind(detail)
                .bind(payload.to_string())
                .bind(occurred_at)
                .bind(now)
                .execute(&mut *conn)
                .await
        }
        Write::Inbox { .. } => return insert_inbox_in(conn, &[w], now).await,
        Write::Attempt(a) => return insert_attempts_in(conn, &[a], now).await,
        Write::Connected { id } => {
            sqlx::query(QUERIES.set_connected)
                .bind(id)
                .bind(now)
                .execute(&mut *conn)
                .await
        }
        Write::InboxApplied { id } => {
            sqlx::query(QUERIES.inbox_applied)
                .bind(id)
                .bind(now)
                .execute(&mut *conn)
                .await
        }
        Write::Tag { contact_id, tag } => {
            sqlx::query(QUERIES.upsert_tag)
                .bind(contact_id)
                .bind(&tag.name)
                .bind(&tag.source)
                .bind(now)
                .bind(tag.expires_at)
                .execute(&mut *conn)
                .await
        }
        Write::Untag { contact_id, name } => {
            sqlx::query(QUERIES.remove_tag)
                .bind(contact_id)
                .bind(name)
                .execute(&mut *conn)
                .await
        }
        Write::Response(r) => {
            sqlx::query(QUERIES.upsert_response)
                .bind(r.run_id)
                .bind(&r.campaign)
                .bind(r.contact_id)
                .bind(r.attempt_id)
                .bind(&r.question)
                .bind(r.kind.as_str())
                .bind(r.score)
                .bind(&r.answer)
                .bind(&r.raw)
                .bind(r.channel.as_str())
                .bind(&r.variant)
                .bind(r.answered_at)
                .execute(&mut *conn)
                .await
        }
    };
    Ok(done.doing("writing to the ledger")?.rows_affected())
}

pub(crate) async fn applied_count(pool: &SqlitePool) -> i64 {
    sqlx::query_scalar(super::APPLIED_MIGRATIONS)
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Executor;

    #[tokio::test]
    async fn every_named_query_prepares_against_the_migrated_schema() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url, true).await.unwrap();
        assert_eq!(store.migrate().await.unwrap(), MIGRATOR.iter().count());
        assert_eq!(
            store.migrate().await.unwrap(),
            0,
            "a second migrate applies nothing"
        );
        for (name, sql) in QUERIES.all() {
            store
                .pool()
                .prepare(sqlx::SqlSafeStr::into_sql_str(sql))
                .await
                .unwrap_or_else(|e| panic!("query {name} does not prepare: {e}"));
        }
    }

    #[tokio::test]
    async fn each_export_query_selects_its_documented_columns_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url, true).await.unwrap();
        store.migrate().await.unwrap();
        for table in Table::ALL {
            let statement = store
                .pool()
                .prepare(sqlx::SqlSafeStr::into_sql_str(export_query(table)))
                .await
                .unwrap();
            let selected: Vec<&str> = sqlx::Statement::columns(&statement)
                .iter()
                .map(sqlx::Column::name)
                .collect();
            let documented: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
            assert_eq!(selected, documented, "export of {}", table.as_str());
        }
    }
}
