//! PostgreSQL: the ledger's writes, claims (row locks, `SKIP LOCKED`), the inbox, the
//! agent desk and survey answers.

#![allow(unused_variables)]

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::domain::ledger::{Attempt, InboxItem, NewAttempt, Report};
use crate::domain::values::Channel;
use crate::store::*;

named_queries!("postgres":
);

pub(super) async fn insert_attempts(
    store: &PgStore,
    attempts: &[NewAttempt],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    todo!("postgres: insert_attempts")
}

pub(super) async fn claim_due(
    store: &PgStore,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Attempt>, StoreError> {
    todo!("postgres: claim_due")
}

pub(super) async fn requeue_stale(
    store: &PgStore,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    todo!("postgres: requeue_stale")
}

pub(super) async fn attempt_by_key(
    store: &PgStore,
    key: &str,
) -> Result<Option<Attempt>, StoreError> {
    todo!("postgres: attempt_by_key")
}

pub(super) async fn attempts_of_contact_in_run(
    store: &PgStore,
    run_id: i64,
    contact_id: i64,
) -> Result<Vec<Attempt>, StoreError> {
    todo!("postgres: attempts_of_contact_in_run")
}

pub(super) async fn latest_sms_to(
    store: &PgStore,
    phone: &crate::domain::values::PhoneNumber,
    since: DateTime<Utc>,
) -> Result<Option<(String, i64)>, StoreError> {
    todo!("postgres: latest_sms_to")
}

pub(super) async fn link_answers_near(
    store: &PgStore,
    key: &str,
    question: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, StoreError> {
    todo!("postgres: link_answers_near")
}

pub(super) async fn responses_of_contact_in_run(
    store: &PgStore,
    run_id: i64,
    contact_id: i64,
) -> Result<Vec<crate::domain::survey::Response>, StoreError> {
    todo!("postgres: responses_of_contact_in_run")
}

pub(super) async fn reschedule(
    store: &PgStore,
    id: i64,
    not_before: DateTime<Utc>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    todo!("postgres: reschedule")
}

pub(super) async fn mark_sent(
    store: &PgStore,
    id: i64,
    at: DateTime<Utc>,
    provider_ref: &str,
) -> Result<bool, StoreError> {
    todo!("postgres: mark_sent")
}

pub(super) async fn close_attempt(
    store: &PgStore,
    id: i64,
    state: AttemptState,
    outcome: Option<Outcome>,
    connected: bool,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    todo!("postgres: close_attempt")
}

pub(super) async fn set_connected(
    store: &PgStore,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    todo!("postgres: set_connected")
}

pub(super) async fn cancel_queued_for_contact(
    store: &PgStore,
    contact_id: i64,
    channels: &[Channel],
    run_id: Option<i64>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    todo!("postgres: cancel_queued_for_contact")
}

pub(super) async fn cancel_queued_for_campaign(
    store: &PgStore,
    campaign: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    todo!("postgres: cancel_queued_for_campaign")
}

pub(super) async fn record_event(
    store: &PgStore,
    attempt_id: i64,
    kind: &str,
    detail: Option<&str>,
    payload: &serde_json::Value,
    occurred_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    todo!("postgres: record_event")
}

pub(super) async fn events_of_contact(
    store: &PgStore,
    contact_id: i64,
    limit: i64,
) -> Result<Vec<serde_json::Value>, StoreError> {
    todo!("postgres: events_of_contact")
}

pub(super) async fn inbox_push(
    store: &PgStore,
    provider: &str,
    items: &[(String, String, Report, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    todo!("postgres: inbox_push")
}

pub(super) async fn inbox_due(
    store: &PgStore,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<InboxItem>, StoreError> {
    todo!("postgres: inbox_due")
}

pub(super) async fn inbox_applied(
    store: &PgStore,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    todo!("postgres: inbox_applied")
}

pub(super) async fn next_due(store: &PgStore) -> Result<Option<DateTime<Utc>>, StoreError> {
    todo!("postgres: next_due")
}

pub(super) async fn attempts_of_contacts_in_runs(
    store: &PgStore,
    run_ids: &[i64],
    contact_ids: &[i64],
) -> Result<Vec<Attempt>, StoreError> {
    todo!("postgres: attempts_of_contacts_in_runs")
}

pub(super) async fn attempts_by_keys(
    store: &PgStore,
    keys: &[String],
) -> Result<Vec<Attempt>, StoreError> {
    todo!("postgres: attempts_by_keys")
}

pub(super) async fn attempts_claimed(
    store: &PgStore,
    ids: &[i64],
    claimed_at: DateTime<Utc>,
) -> Result<Vec<Attempt>, StoreError> {
    todo!("postgres: attempts_claimed")
}

pub(super) async fn apply_writes(
    store: &PgStore,
    groups: &[WriteGroup],
    now: DateTime<Utc>,
) -> Result<Vec<bool>, StoreError> {
    todo!("postgres: apply_writes")
}

pub(super) async fn mark_opted_out(
    store: &PgStore,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    todo!("postgres: mark_opted_out")
}

pub(super) async fn inbox_pending(store: &PgStore) -> Result<i64, StoreError> {
    todo!("postgres: inbox_pending")
}

pub(super) async fn upsert_agent(
    store: &PgStore,
    name: &str,
    skills: &[String],
    capacity: u32,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    todo!("postgres: upsert_agent")
}

pub(super) async fn agent(
    store: &PgStore,
    name: &str,
) -> Result<Option<(Vec<String>, u32)>, StoreError> {
    todo!("postgres: agent")
}

pub(super) async fn desk_waiting(store: &PgStore, limit: i64) -> Result<Vec<Attempt>, StoreError> {
    todo!("postgres: desk_waiting")
}

pub(super) async fn desk_held_by(store: &PgStore, agent: &str) -> Result<Vec<Attempt>, StoreError> {
    todo!("postgres: desk_held_by")
}

pub(super) async fn desk_take(
    store: &PgStore,
    id: i64,
    agent: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    todo!("postgres: desk_take")
}
