//! PostgreSQL: contacts, lists, tags, suppressions, campaigns and runs, and the reads
//! behind reports and exports.

#![allow(unused_variables)]

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::domain::contact::{Contact, Suppression, Tag};
use crate::domain::ledger::{Run, TallyRow};
use crate::domain::policy::PastAttempt;
use crate::store::*;

named_queries!("postgres":
);

pub(super) async fn upsert_contacts(
    store: &PgStore,
    batch: &[NewContact],
    present: Present,
    list: Option<&str>,
    now: DateTime<Utc>,
) -> Result<UpsertCounts, StoreError> {
    todo!("postgres: upsert_contacts")
}

pub(super) async fn contact(
    store: &PgStore,
    external_id: &str,
) -> Result<Option<Contact>, StoreError> {
    todo!("postgres: contact")
}

pub(super) async fn count_contacts(store: &PgStore) -> Result<i64, StoreError> {
    todo!("postgres: count_contacts")
}

pub(super) async fn contacts_page(
    store: &PgStore,
    lists: &[String],
    after: i64,
    limit: i64,
) -> Result<Vec<Contact>, StoreError> {
    todo!("postgres: contacts_page")
}

pub(super) async fn list_counts(store: &PgStore) -> Result<Vec<NamedCount>, StoreError> {
    todo!("postgres: list_counts")
}

pub(super) async fn lists_of(store: &PgStore, contact_id: i64) -> Result<Vec<String>, StoreError> {
    todo!("postgres: lists_of")
}

pub(super) async fn upsert_tag(
    store: &PgStore,
    contact_id: i64,
    tag: &Tag,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    todo!("postgres: upsert_tag")
}

pub(super) async fn remove_tag(
    store: &PgStore,
    contact_id: i64,
    tag: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    todo!("postgres: remove_tag")
}

pub(super) async fn tag_counts(
    store: &PgStore,
    now: DateTime<Utc>,
) -> Result<Vec<NamedCount>, StoreError> {
    todo!("postgres: tag_counts")
}

pub(super) async fn upsert_suppressions(
    store: &PgStore,
    entries: &[Suppression],
) -> Result<u64, StoreError> {
    todo!("postgres: upsert_suppressions")
}

pub(super) async fn delete_suppression(
    store: &PgStore,
    target_kind: &str,
    value: &str,
    kind: Option<SuppressionKind>,
) -> Result<u64, StoreError> {
    todo!("postgres: delete_suppression")
}

pub(super) async fn suppressions(
    store: &PgStore,
    now: DateTime<Utc>,
    include_expired: bool,
    limit: i64,
) -> Result<Vec<Suppression>, StoreError> {
    todo!("postgres: suppressions")
}

pub(super) async fn suppressions_for(
    store: &PgStore,
    contacts: &[Contact],
) -> Result<Vec<Suppression>, StoreError> {
    todo!("postgres: suppressions_for")
}

pub(super) async fn history_for(
    store: &PgStore,
    contact_ids: &[i64],
    since: DateTime<Utc>,
) -> Result<BTreeMap<i64, Vec<PastAttempt>>, StoreError> {
    todo!("postgres: history_for")
}

pub(super) async fn attribute_keys(store: &PgStore) -> Result<BTreeSet<String>, StoreError> {
    todo!("postgres: attribute_keys")
}

pub(super) async fn tag_names(store: &PgStore) -> Result<BTreeSet<String>, StoreError> {
    todo!("postgres: tag_names")
}

pub(super) async fn contact_by_id(store: &PgStore, id: i64) -> Result<Option<Contact>, StoreError> {
    todo!("postgres: contact_by_id")
}

pub(super) async fn campaign_state(store: &PgStore, campaign: &str) -> Result<String, StoreError> {
    todo!("postgres: campaign_state")
}

pub(super) async fn set_campaign_state(
    store: &PgStore,
    campaign: &str,
    state: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    todo!("postgres: set_campaign_state")
}

pub(super) async fn campaign_version(
    store: &PgStore,
    campaign: &str,
    hash: &str,
    source: &str,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    todo!("postgres: campaign_version")
}

pub(super) async fn create_run(
    store: &PgStore,
    campaign: &str,
    version_id: i64,
    occurrence: DateTime<Utc>,
    state: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    todo!("postgres: create_run")
}

pub(super) async fn set_run_summary(
    store: &PgStore,
    run_id: i64,
    summary: &serde_json::Value,
) -> Result<(), StoreError> {
    todo!("postgres: set_run_summary")
}

pub(super) async fn finish_run(
    store: &PgStore,
    run_id: i64,
    state: &str,
    summary: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    todo!("postgres: finish_run")
}

pub(super) async fn last_occurrence(
    store: &PgStore,
    campaign: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    todo!("postgres: last_occurrence")
}

pub(super) async fn runs(
    store: &PgStore,
    campaign: Option<&str>,
    limit: i64,
) -> Result<Vec<Run>, StoreError> {
    todo!("postgres: runs")
}

pub(super) async fn run(store: &PgStore, id: i64) -> Result<Option<Run>, StoreError> {
    todo!("postgres: run")
}

pub(super) async fn running_runs(store: &PgStore) -> Result<Vec<Run>, StoreError> {
    todo!("postgres: running_runs")
}

pub(super) async fn open_attempts(store: &PgStore, run_id: i64) -> Result<i64, StoreError> {
    todo!("postgres: open_attempts")
}

pub(super) async fn run_tally(store: &PgStore, run_id: i64) -> Result<Vec<TallyRow>, StoreError> {
    todo!("postgres: run_tally")
}

pub(super) async fn campaign_stats(
    store: &PgStore,
    campaign: &str,
    conversions: &[Outcome],
) -> Result<CampaignStats, StoreError> {
    todo!("postgres: campaign_stats")
}

pub(super) async fn contacts_by_ids(
    store: &PgStore,
    ids: &[i64],
) -> Result<Vec<Contact>, StoreError> {
    todo!("postgres: contacts_by_ids")
}

pub(super) async fn campaign_states(
    store: &PgStore,
) -> Result<BTreeMap<String, String>, StoreError> {
    todo!("postgres: campaign_states")
}

pub(super) async fn finishable_runs(store: &PgStore) -> Result<Vec<Run>, StoreError> {
    todo!("postgres: finishable_runs")
}

pub(super) async fn run_by_occurrence(
    store: &PgStore,
    campaign: &str,
    occurrence: DateTime<Utc>,
) -> Result<Option<Run>, StoreError> {
    todo!("postgres: run_by_occurrence")
}

pub(super) async fn recently_contacted(
    store: &PgStore,
    campaign: &str,
    ids: &[i64],
    since: DateTime<Utc>,
) -> Result<BTreeSet<i64>, StoreError> {
    todo!("postgres: recently_contacted")
}

pub(super) async fn attempt_counts(
    store: &PgStore,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    todo!("postgres: attempt_counts")
}

pub(super) async fn report_contact_runs(
    store: &PgStore,
    scope: &ReportScope,
    after: i64,
    last: i64,
) -> Result<Vec<ContactRun>, StoreError> {
    todo!("postgres: report_contact_runs")
}

pub(super) async fn report_breakdown(
    store: &PgStore,
    scope: &ReportScope,
    by_step: bool,
) -> Result<Vec<BreakdownCounts>, StoreError> {
    todo!("postgres: report_breakdown")
}

pub(super) async fn report_sends_by_time(
    store: &PgStore,
    scope: &ReportScope,
) -> Result<Vec<SendsAt>, StoreError> {
    todo!("postgres: report_sends_by_time")
}

pub(super) async fn lists_of_contacts(
    store: &PgStore,
    ids: &[i64],
) -> Result<Vec<(i64, String)>, StoreError> {
    todo!("postgres: lists_of_contacts")
}

pub(super) async fn max_contact_id(store: &PgStore) -> Result<i64, StoreError> {
    todo!("postgres: max_contact_id")
}

pub(super) async fn export_rows(
    store: &PgStore,
    table: Table,
    filter: &Filter,
    sink: &mut (dyn FnMut(&mut [Cell]) -> Result<(), ExportError> + Send),
) -> Result<u64, StoreError> {
    todo!("postgres: export_rows")
}
