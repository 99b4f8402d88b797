//! PostgreSQL: contacts, lists, tags, suppressions, campaigns and runs, and the reads
//! behind reports and exports.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt as _;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{Column as _, Row, TypeInfo as _};

use super::PgStore;
use crate::domain::contact::{Contact, Suppression, Tag};
use crate::domain::exported::{Column, ColumnType};
use crate::domain::ledger::{Run, TallyRow};
use crate::domain::policy::PastAttempt;
use crate::domain::values::Channel;
use crate::store::rows;
use crate::store::*;

named_queries!("postgres":
    refresh_statistics,
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
    volume_by_hour,
    campaign_totals,
    campaign_outcomes,
    event_counts,
    contacts_by_ids,
    campaign_states,
    finishable_runs,
    run_by_occurrence,
    recently_contacted,
    attempt_counts,
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

// --- row mapping ---------------------------------------------------------------------

fn tally_from_row(r: &PgRow) -> TallyRow {
    TallyRow {
        step: r.get("step"),
        channel: r.get("channel"),
        state: r.get("state"),
        result: r.get("result"),
        attempts: r.get("n"),
        connected: r.get::<Option<i64>, _>("connected").unwrap_or(0),
    }
}

fn named_counts(rows: &[PgRow]) -> Vec<NamedCount> {
    rows.iter()
        .map(|r| NamedCount {
            name: r.get(0),
            count: r.get(1),
        })
        .collect()
}

fn outcome_names(outcomes: &[Outcome]) -> Vec<&'static str> {
    outcomes.iter().map(|o| o.as_str()).collect()
}

/// Fills in the tags of these contacts.
async fn tags_for(store: &PgStore, contacts: &mut [Contact]) -> Result<(), StoreError> {
    if contacts.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = contacts.iter().map(|c| c.id).collect();
    let rows = sqlx::query(QUERIES.tags_for_contacts)
        .bind(ids)
        .fetch_all(&store.pool)
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

async fn contacts_with_tags(store: &PgStore, rows: &[PgRow]) -> Result<Vec<Contact>, StoreError> {
    let mut contacts = rows
        .iter()
        .map(rows::contact)
        .collect::<Result<Vec<_>, _>>()?;
    tags_for(store, &mut contacts).await?;
    Ok(contacts)
}

/// Writes contacts in one statement (each external id once); returns their ids by
/// external id.
async fn write_contacts(
    conn: &mut sqlx::PgConnection,
    contacts: &[Contact],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, i64>, StoreError> {
    if contacts.is_empty() {
        return Ok(BTreeMap::new());
    }
    fn column<'c, T>(contacts: &'c [Contact], f: impl Fn(&'c Contact) -> T) -> Vec<T> {
        contacts.iter().map(f).collect()
    }
    let rows = sqlx::query(QUERIES.upsert_contact)
        .bind(column(contacts, |c| c.external_id.as_str()))
        .bind(column(contacts, |c| c.first_name.as_deref()))
        .bind(column(contacts, |c| c.last_name.as_deref()))
        .bind(column(contacts, |c| c.phone.as_ref().map(|p| p.as_str())))
        .bind(column(contacts, |c| c.email.as_ref().map(|e| e.as_str())))
        .bind(column(contacts, |c| c.locale.as_deref()))
        .bind(column(contacts, |c| c.timezone.map(|t| t.name())))
        .bind(column(contacts, |c| {
            serde_json::to_string(&c.attributes).expect("attributes serialise")
        }))
        .bind(column(contacts, |c| c.consent.sms.as_str()))
        .bind(column(contacts, |c| c.consent.email.as_str()))
        .bind(column(contacts, |c| c.consent.call.as_str()))
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .doing("writing contacts")?;
    Ok(rows
        .iter()
        .map(|r| (r.get("external_id"), r.get("id")))
        .collect())
}

// --- contacts ----------------------------------------------------------------------

pub(super) async fn upsert_contacts(
    store: &PgStore,
    batch: &[NewContact],
    present: Present,
    list: Option<&str>,
    now: DateTime<Utc>,
) -> Result<UpsertCounts, StoreError> {
    let mut tx = store
        .pool
        .begin()
        .await
        .doing("starting an import transaction")?;
    let external_ids: Vec<&str> = batch
        .iter()
        .map(|c| c.contact.external_id.as_str())
        .collect();
    let existing: BTreeMap<String, Contact> = sqlx::query(QUERIES.contacts_by_external_ids)
        .bind(external_ids)
        .fetch_all(&mut *tx)
        .await
        .doing("reading existing contacts")?
        .iter()
        .map(|r| rows::contact(r).map(|c| (c.external_id.clone(), c)))
        .collect::<Result<_, _>>()?;
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
    let mut tagged: Vec<i64> = Vec::new();
    let mut tags: Vec<&str> = Vec::new();
    for new in batch {
        let id = id_of(new)?;
        for tag in &new.tags {
            tagged.push(id);
            tags.push(tag);
        }
    }
    if !tags.is_empty() {
        sqlx::query(QUERIES.add_tag_if_absent)
            .bind(tagged)
            .bind(tags)
            .bind("import")
            .bind(now)
            .execute(&mut *tx)
            .await
            .doing("tagging imported contacts")?;
    }
    if let Some(name) = list {
        let list_id: i64 = sqlx::query_scalar(QUERIES.ensure_list)
            .bind(name)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .doing("creating the contact list")?;
        let members = batch.iter().map(id_of).collect::<Result<Vec<i64>, _>>()?;
        if !members.is_empty() {
            sqlx::query(QUERIES.add_list_member)
                .bind(list_id)
                .bind(members)
                .bind(now)
                .execute(&mut *tx)
                .await
                .doing("adding contacts to the list")?;
        }
    }
    tx.commit().await.doing("committing an import batch")?;
    Ok(counts)
}

pub(super) async fn contact(
    store: &PgStore,
    external_id: &str,
) -> Result<Option<Contact>, StoreError> {
    let row = sqlx::query(QUERIES.contact_by_external_id)
        .bind(external_id)
        .fetch_optional(&store.pool)
        .await
        .doing("reading a contact")?;
    Ok(contacts_with_tags(store, row.as_slice()).await?.pop())
}

pub(super) async fn count_contacts(store: &PgStore) -> Result<i64, StoreError> {
    sqlx::query_scalar(QUERIES.count_contacts)
        .fetch_one(&store.pool)
        .await
        .doing("counting contacts")
}

pub(super) async fn contacts_page(
    store: &PgStore,
    lists: &[String],
    after: i64,
    limit: i64,
) -> Result<Vec<Contact>, StoreError> {
    let rows = if lists.is_empty() {
        sqlx::query(QUERIES.contacts_page)
            .bind(after)
            .bind(limit)
            .fetch_all(&store.pool)
            .await
    } else {
        sqlx::query(QUERIES.contacts_page_in_lists)
            .bind(after)
            .bind(limit)
            .bind(lists)
            .fetch_all(&store.pool)
            .await
    }
    .doing("reading a page of the audience")?;
    contacts_with_tags(store, &rows).await
}

pub(super) async fn list_counts(store: &PgStore) -> Result<Vec<NamedCount>, StoreError> {
    let rows = sqlx::query(QUERIES.list_counts)
        .fetch_all(&store.pool)
        .await
        .doing("counting list members")?;
    Ok(named_counts(&rows))
}

pub(super) async fn lists_of(store: &PgStore, contact_id: i64) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(QUERIES.lists_of_contact)
        .bind(contact_id)
        .fetch_all(&store.pool)
        .await
        .doing("reading a contact's lists")
}

pub(super) async fn upsert_tag(
    store: &PgStore,
    contact_id: i64,
    tag: &Tag,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(QUERIES.upsert_tag)
        .bind(contact_id)
        .bind(&tag.name)
        .bind(&tag.source)
        .bind(now)
        .bind(tag.expires_at)
        .execute(&store.pool)
        .await
        .doing("tagging a contact")?;
    Ok(())
}

pub(super) async fn remove_tag(
    store: &PgStore,
    contact_id: i64,
    tag: &str,
    _now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(QUERIES.remove_tag)
        .bind(contact_id)
        .bind(tag)
        .execute(&store.pool)
        .await
        .doing("removing a tag")?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn tag_counts(
    store: &PgStore,
    now: DateTime<Utc>,
) -> Result<Vec<NamedCount>, StoreError> {
    let rows = sqlx::query(QUERIES.tag_counts)
        .bind(now)
        .fetch_all(&store.pool)
        .await
        .doing("counting tags")?;
    Ok(named_counts(&rows))
}

// --- suppressions ------------------------------------------------------------------

pub(super) async fn upsert_suppressions(
    store: &PgStore,
    entries: &[Suppression],
) -> Result<u64, StoreError> {
    let mut tx = store
        .pool
        .begin()
        .await
        .doing("starting a suppression transaction")?;
    let mut written = 0;
    // Row by row: a batch may name one entry twice, which one multi-row upsert refuses.
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

pub(super) async fn delete_suppression(
    store: &PgStore,
    target_kind: &str,
    value: &str,
    kind: Option<SuppressionKind>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(QUERIES.delete_suppression)
        .bind(target_kind)
        .bind(value)
        .bind(kind.map(|k| k.as_str()))
        .execute(&store.pool)
        .await
        .doing("removing a suppression entry")?;
    Ok(done.rows_affected())
}

pub(super) async fn suppressions(
    store: &PgStore,
    now: DateTime<Utc>,
    include_expired: bool,
    limit: i64,
) -> Result<Vec<Suppression>, StoreError> {
    let rows = sqlx::query(QUERIES.suppressions_list)
        .bind(now)
        .bind(include_expired)
        .bind(limit)
        .fetch_all(&store.pool)
        .await
        .doing("listing suppression entries")?;
    rows.iter().map(rows::suppression).collect()
}

pub(super) async fn suppressions_for(
    store: &PgStore,
    contacts: &[Contact],
) -> Result<Vec<Suppression>, StoreError> {
    if contacts.is_empty() {
        return Ok(Vec::new());
    }
    let phones: Vec<&str> = contacts
        .iter()
        .filter_map(|c| c.phone.as_ref().map(|p| p.as_str()))
        .collect();
    let emails: Vec<&str> = contacts
        .iter()
        .filter_map(|c| c.email.as_ref().map(|e| e.as_str()))
        .collect();
    let external_ids: Vec<&str> = contacts.iter().map(|c| c.external_id.as_str()).collect();
    let rows = sqlx::query(QUERIES.suppressions_for_targets)
        .bind(phones)
        .bind(emails)
        .bind(external_ids)
        .fetch_all(&store.pool)
        .await
        .doing("reading suppression entries for the audience")?;
    rows.iter().map(rows::suppression).collect()
}

pub(super) async fn history_for(
    store: &PgStore,
    contact_ids: &[i64],
    since: DateTime<Utc>,
) -> Result<BTreeMap<i64, Vec<PastAttempt>>, StoreError> {
    let mut out: BTreeMap<i64, Vec<PastAttempt>> = BTreeMap::new();
    if contact_ids.is_empty() {
        return Ok(out);
    }
    let rows = sqlx::query(QUERIES.history_for_contacts)
        .bind(contact_ids)
        .bind(since)
        .fetch_all(&store.pool)
        .await
        .doing("reading contact history")?;
    for r in rows {
        let channel: &str = r.get("channel");
        let attempt = PastAttempt {
            at: r.get("sent_at"),
            channel: Channel::from_str(channel).map_err(StoreError::Corrupt)?,
            connected: r.get("connected"),
            obligation: r.get("obligation"),
        };
        out.entry(r.get("contact_id")).or_default().push(attempt);
    }
    Ok(out)
}

pub(super) async fn attribute_keys(store: &PgStore) -> Result<BTreeSet<String>, StoreError> {
    let keys: Vec<String> = sqlx::query_scalar(QUERIES.attribute_keys)
        .fetch_all(&store.pool)
        .await
        .doing("reading attribute names")?;
    Ok(keys.into_iter().collect())
}

pub(super) async fn tag_names(store: &PgStore) -> Result<BTreeSet<String>, StoreError> {
    let tags: Vec<String> = sqlx::query_scalar(QUERIES.tag_names)
        .fetch_all(&store.pool)
        .await
        .doing("reading tag names")?;
    Ok(tags.into_iter().collect())
}

pub(super) async fn contact_by_id(store: &PgStore, id: i64) -> Result<Option<Contact>, StoreError> {
    let row = sqlx::query(QUERIES.contact_by_id)
        .bind(id)
        .fetch_optional(&store.pool)
        .await
        .doing("reading a contact")?;
    Ok(contacts_with_tags(store, row.as_slice()).await?.pop())
}

// --- campaigns and runs ------------------------------------------------------------

pub(super) async fn campaign_state(store: &PgStore, campaign: &str) -> Result<String, StoreError> {
    let state: Option<String> = sqlx::query_scalar(QUERIES.campaign_state)
        .bind(campaign)
        .fetch_optional(&store.pool)
        .await
        .doing("reading a campaign's state")?;
    Ok(state.unwrap_or_else(|| "active".into()))
}

pub(super) async fn set_campaign_state(
    store: &PgStore,
    campaign: &str,
    state: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(QUERIES.set_campaign_state)
        .bind(campaign)
        .bind(state)
        .bind(now)
        .execute(&store.pool)
        .await
        .doing("setting a campaign's state")?;
    Ok(())
}

pub(super) async fn campaign_version(
    store: &PgStore,
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
        .fetch_one(&store.pool)
        .await
        .doing("recording a campaign version")
}

pub(super) async fn create_run(
    store: &PgStore,
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
        .fetch_optional(&store.pool)
        .await
        .doing("creating a run")
}

pub(super) async fn set_run_summary(
    store: &PgStore,
    run_id: i64,
    summary: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query(QUERIES.set_run_summary)
        .bind(run_id)
        .bind(summary.to_string())
        .execute(&store.pool)
        .await
        .doing("saving a run summary")?;
    Ok(())
}

pub(super) async fn finish_run(
    store: &PgStore,
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
        .execute(&store.pool)
        .await
        .doing("finishing a run")?;
    Ok(())
}

pub(super) async fn last_occurrence(
    store: &PgStore,
    campaign: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    sqlx::query_scalar(QUERIES.last_occurrence)
        .bind(campaign)
        .fetch_one(&store.pool)
        .await
        .doing("reading the last run")
}

pub(super) async fn runs(
    store: &PgStore,
    campaign: Option<&str>,
    limit: i64,
) -> Result<Vec<Run>, StoreError> {
    let rows = sqlx::query(QUERIES.runs_list)
        .bind(campaign)
        .bind(limit)
        .fetch_all(&store.pool)
        .await
        .doing("listing runs")?;
    rows.iter().map(rows::run).collect()
}

pub(super) async fn run(store: &PgStore, id: i64) -> Result<Option<Run>, StoreError> {
    let row = sqlx::query(QUERIES.run_by_id)
        .bind(id)
        .fetch_optional(&store.pool)
        .await
        .doing("reading a run")?;
    row.as_ref().map(rows::run).transpose()
}

pub(super) async fn running_runs(store: &PgStore) -> Result<Vec<Run>, StoreError> {
    let rows = sqlx::query(QUERIES.running_runs)
        .fetch_all(&store.pool)
        .await
        .doing("listing running runs")?;
    rows.iter().map(rows::run).collect()
}

pub(super) async fn open_attempts(store: &PgStore, run_id: i64) -> Result<i64, StoreError> {
    sqlx::query_scalar(QUERIES.open_attempts_of_run)
        .bind(run_id)
        .fetch_one(&store.pool)
        .await
        .doing("counting open attempts")
}

pub(super) async fn send_failures(store: &PgStore, attempt_id: i64) -> Result<i64, StoreError> {
    sqlx::query_scalar(QUERIES.send_failures)
        .bind(attempt_id)
        .fetch_one(&store.pool)
        .await
        .doing("counting send failures")
}

pub(super) async fn run_tally(store: &PgStore, run_id: i64) -> Result<Vec<TallyRow>, StoreError> {
    let rows = sqlx::query(QUERIES.run_tally)
        .bind(run_id)
        .fetch_all(&store.pool)
        .await
        .doing("counting a run's attempts")?;
    Ok(rows.iter().map(tally_from_row).collect())
}

pub(super) async fn campaign_stats(
    store: &PgStore,
    campaign: &str,
    conversions: &[Outcome],
) -> Result<CampaignStats, StoreError> {
    let t = sqlx::query(QUERIES.campaign_totals)
        .bind(campaign)
        .bind(outcome_names(conversions))
        .fetch_one(&store.pool)
        .await
        .doing("totalling a campaign")?;
    let count = |col: &str| t.get::<Option<i64>, _>(col).unwrap_or(0);
    let volume_by_hour = sqlx::query(QUERIES.volume_by_hour)
        .bind(campaign)
        .fetch_all(&store.pool)
        .await
        .doing("counting sends by hour")?
        .iter()
        .map(|r| (r.get("hour"), r.get("channel"), r.get("n")))
        .collect();
    let outcomes = sqlx::query(QUERIES.campaign_outcomes)
        .bind(campaign)
        .fetch_all(&store.pool)
        .await
        .doing("counting outcomes")?
        .iter()
        .map(tally_from_row)
        .collect();
    let events = sqlx::query(QUERIES.event_counts)
        .bind(campaign)
        .fetch_all(&store.pool)
        .await
        .doing("counting events")?
        .iter()
        .map(|r| (r.get("kind"), r.get("n")))
        .collect();
    Ok(CampaignStats {
        runs: count("runs"),
        contacts: count("contacts"),
        attempted: count("attempted"),
        reached: count("reached"),
        converted: count("converted"),
        sent: count("sent"),
        agent_calls: count("agent_calls"),
        volume_by_hour,
        outcomes,
        events,
    })
}

pub(super) async fn contacts_by_ids(
    store: &PgStore,
    ids: &[i64],
) -> Result<Vec<Contact>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(QUERIES.contacts_by_ids)
        .bind(ids)
        .fetch_all(&store.pool)
        .await
        .doing("reading contacts")?;
    contacts_with_tags(store, &rows).await
}

pub(super) async fn campaign_states(
    store: &PgStore,
) -> Result<BTreeMap<String, String>, StoreError> {
    let rows = sqlx::query(QUERIES.campaign_states)
        .fetch_all(&store.pool)
        .await
        .doing("reading campaign states")?;
    Ok(rows.iter().map(|r| (r.get("id"), r.get("state"))).collect())
}

pub(super) async fn finishable_runs(store: &PgStore) -> Result<Vec<Run>, StoreError> {
    let rows = sqlx::query(QUERIES.finishable_runs)
        .fetch_all(&store.pool)
        .await
        .doing("finding finished runs")?;
    rows.iter().map(rows::run).collect()
}

pub(super) async fn run_by_occurrence(
    store: &PgStore,
    campaign: &str,
    occurrence: DateTime<Utc>,
) -> Result<Option<Run>, StoreError> {
    let row = sqlx::query(QUERIES.run_by_occurrence)
        .bind(campaign)
        .bind(occurrence)
        .fetch_optional(&store.pool)
        .await
        .doing("reading a run")?;
    row.as_ref().map(rows::run).transpose()
}

pub(super) async fn recently_contacted(
    store: &PgStore,
    campaign: &str,
    ids: &[i64],
    since: DateTime<Utc>,
) -> Result<BTreeSet<i64>, StoreError> {
    if ids.is_empty() {
        return Ok(BTreeSet::new());
    }
    let found: Vec<i64> = sqlx::query_scalar(QUERIES.recently_contacted)
        .bind(campaign)
        .bind(ids)
        .bind(since)
        .fetch_all(&store.pool)
        .await
        .doing("reading whom the campaign contacted recently")?;
    Ok(found.into_iter().collect())
}

pub(super) async fn attempt_counts(
    store: &PgStore,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let rows = sqlx::query(QUERIES.attempt_counts)
        .fetch_all(&store.pool)
        .await
        .doing("counting attempts")?;
    Ok(rows
        .iter()
        .map(|r| (r.get("channel"), r.get("state"), r.get("n")))
        .collect())
}

// --- reports -----------------------------------------------------------------------

pub(super) async fn report_contact_runs(
    store: &PgStore,
    scope: &ReportScope,
    after: i64,
    last: i64,
) -> Result<Vec<ContactRun>, StoreError> {
    let rows = sqlx::query(QUERIES.report_contact_runs)
        .bind(&scope.campaign)
        .bind(scope.run)
        .bind(outcome_names(&scope.conversions))
        .bind(&scope.nps_question)
        .bind(&scope.csat_question)
        .bind(&scope.ab_step)
        .bind(after)
        .bind(last)
        .fetch_all(&store.pool)
        .await
        .doing("reading what happened to a campaign's contacts")?;
    // Flags are NULL when every operand was NULL.
    let flag = |r: &PgRow, col: &str| r.get::<Option<bool>, _>(col).unwrap_or(false);
    Ok(rows
        .iter()
        .map(|r| {
            let variant: Option<String> = r.get("variant");
            ContactRun {
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
                on_ab_step: variant.is_some(),
                variant: variant.filter(|v| !v.is_empty()),
                nps: r.get("nps"),
                csat: r.get("csat"),
            }
        })
        .collect())
}

pub(super) async fn report_breakdown(
    store: &PgStore,
    scope: &ReportScope,
    by_step: bool,
) -> Result<Vec<BreakdownCounts>, StoreError> {
    let rows = sqlx::query(QUERIES.report_breakdown)
        .bind(&scope.campaign)
        .bind(scope.run)
        .bind(if by_step { "step" } else { "channel" })
        .bind(outcome_names(&scope.conversions))
        .bind(scope.delivery_converts)
        .bind(scope.answer_converts)
        .fetch_all(&store.pool)
        .await
        .doing("counting a campaign's contacts by step or channel")?;
    let count = |r: &PgRow, col: &str| r.get::<Option<i64>, _>(col).unwrap_or(0).max(0) as u64;
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

pub(super) async fn report_sends_by_time(
    store: &PgStore,
    scope: &ReportScope,
) -> Result<Vec<SendsAt>, StoreError> {
    let rows = sqlx::query(QUERIES.report_sends_by_time)
        .bind(&scope.campaign)
        .bind(scope.run)
        .bind(outcome_names(&scope.conversions))
        .bind(scope.delivery_converts)
        .bind(scope.answer_converts)
        .fetch_all(&store.pool)
        .await
        .doing("counting a campaign's sends by time")?;
    Ok(rows
        .iter()
        .map(|r| SendsAt {
            at: r.get("at"),
            result: r.get("result"),
            sends: r.get::<i64, _>("sends").max(0) as u64,
        })
        .collect())
}

pub(super) async fn lists_of_contacts(
    store: &PgStore,
    ids: &[i64],
) -> Result<Vec<(i64, String)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(QUERIES.report_lists_of_contacts)
        .bind(ids)
        .fetch_all(&store.pool)
        .await
        .doing("reading the lists of contacts")?;
    Ok(rows
        .iter()
        .map(|r| (r.get("contact_id"), r.get("name")))
        .collect())
}

pub(super) async fn max_contact_id(store: &PgStore) -> Result<i64, StoreError> {
    sqlx::query_scalar(QUERIES.max_contact_id)
        .fetch_one(&store.pool)
        .await
        .doing("reading the highest contact id")
}

// --- exports -----------------------------------------------------------------------

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

pub(super) async fn export_rows(
    store: &PgStore,
    table: Table,
    filter: &Filter,
    sink: &mut (dyn FnMut(&mut [Cell]) -> Result<(), SinkError> + Send),
) -> Result<u64, StoreError> {
    let columns = table.columns();
    let mut query = sqlx::query(export_query(table))
        .bind(filter.campaign.as_deref())
        .bind(filter.since)
        .bind(filter.until);
    // Only the contacts' query reads the moment that decides which tags are in force.
    if table == Table::Contacts {
        query = query.bind(filter.now);
    }
    let mut rows = query.fetch(&store.pool);
    let mut cells = Vec::with_capacity(columns.len());
    let mut count = 0;
    while let Some(row) = rows.try_next().await.doing("reading rows to export")? {
        cells.clear();
        for (i, column) in columns.iter().enumerate() {
            cells.push(read_cell(&row, i, column)?);
        }
        sink(&mut cells).map_err(StoreError::Sink)?;
        count += 1;
    }
    Ok(count)
}

/// Reads column `i` of an export row as its documented type; `jsonb` columns become
/// compact JSON text, as SQLite stores it.
fn read_cell(row: &PgRow, i: usize, column: &Column) -> Result<Cell, StoreError> {
    let bad = |e: sqlx::Error| rows::corrupt(&format!("column `{}`", column.name), e);
    let cell = match column.ty {
        ColumnType::Int64 | ColumnType::Int32 => row
            .try_get::<Option<i64>, _>(i)
            .map_err(bad)?
            .map(Cell::Int),
        ColumnType::Bool => row
            .try_get::<Option<bool>, _>(i)
            .map_err(bad)?
            .map(Cell::Bool),
        ColumnType::Text if row.column(i).type_info().name() == "JSONB" => row
            .try_get::<Option<Json<serde_json::Value>>, _>(i)
            .map_err(bad)?
            .map(|j| Cell::Text(j.0.to_string())),
        ColumnType::Text => row
            .try_get::<Option<String>, _>(i)
            .map_err(bad)?
            .map(Cell::Text),
        ColumnType::Time => row
            .try_get::<Option<DateTime<Utc>>, _>(i)
            .map_err(bad)?
            .map(Cell::Time),
    };
    match cell {
        Some(cell) => Ok(cell),
        None if column.nullable => Ok(Cell::Null),
        None => Err(StoreError::Corrupt(format!(
            "column `{}` is null, which its export does not allow",
            column.name
        ))),
    }
}

pub(super) async fn refresh_statistics(store: &PgStore) -> Result<(), StoreError> {
    sqlx::query(QUERIES.refresh_statistics)
        .execute(&store.pool)
        .await
        .doing("refreshing planner statistics")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Executor;

    #[tokio::test]
    async fn each_export_query_selects_its_documented_columns_in_order() {
        let Some(url) = super::super::fresh_test_database().await else {
            eprintln!("HERALD_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped");
            return;
        };
        let store = PgStore::open(&url).await.unwrap();
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
