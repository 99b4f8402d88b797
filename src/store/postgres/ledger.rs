//! PostgreSQL: the ledger's writes, claims (row locks, `SKIP LOCKED`), the inbox, the
//! agent desk, survey answers and the shared rate buckets.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use super::PgStore;
use crate::domain::ledger::{Attempt, InboxItem, NewAttempt, Report};
use crate::domain::rate::{Bucket, Grant};
use crate::domain::values::Channel;
use crate::store::rows;
use crate::store::*;

named_queries!("postgres":
    link_answers_near,
    latest_sms_to,
    upsert_response,
    responses_of_contact_in_run,
    insert_attempt,
    claim_due,
    attempts_by_ids,
    attempt_by_key,
    attempts_of_contact_in_run,
    requeue_stale,
    held_runs,
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
    attempts_of_contacts_in_runs,
    attempts_by_keys,
    attempts_claimed,
    mark_opted_out,
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
);

/// One ledger write on its own.
async fn write_one(store: &PgStore, w: &Write, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut conn = store
        .pool
        .acquire()
        .await
        .doing("taking a database connection")?;
    write(&mut conn, w, now).await
}

/// Inserts attempts in one multi-row statement; returns how many were new.
async fn insert_attempt_rows(
    conn: &mut PgConnection,
    attempts: &[NewAttempt],
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let col = |f: fn(&NewAttempt) -> Option<String>| attempts.iter().map(f).collect::<Vec<_>>();
    let done = sqlx::query(QUERIES.insert_attempt)
        .bind(attempts.iter().map(|a| a.run_id).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.contact_id).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.step.clone()).collect::<Vec<_>>())
        .bind(
            attempts
                .iter()
                .map(|a| a.step_index as i32)
                .collect::<Vec<_>>(),
        )
        .bind(
            attempts
                .iter()
                .map(|a| a.channel.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            attempts
                .iter()
                .map(|a| a.attempt_no as i32)
                .collect::<Vec<_>>(),
        )
        .bind(attempts.iter().map(|a| a.not_before).collect::<Vec<_>>())
        .bind(
            attempts
                .iter()
                .map(NewAttempt::idempotency_key)
                .collect::<Vec<_>>(),
        )
        .bind(col(|a| a.obligation.clone()))
        .bind(attempts.iter().map(|a| a.after_attempt).collect::<Vec<_>>())
        .bind(col(|a| a.condition.map(|c| c.as_str().to_string())))
        .bind(col(|a| a.variant.clone()))
        .bind(col(|a| a.prompt.clone()))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// Adds provider events in one multi-row statement; returns how many were new.
async fn insert_inbox_rows(
    conn: &mut PgConnection,
    provider: &str,
    items: &[(&str, &str, &Report, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(QUERIES.inbox_push)
        .bind(provider)
        .bind(items.iter().map(|i| i.0).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.1).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.2.kind()).collect::<Vec<_>>())
        .bind(
            items
                .iter()
                .map(|i| serde_json::to_string(i.2).expect("reports serialise"))
                .collect::<Vec<_>>(),
        )
        .bind(items.iter().map(|i| i.3).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// Executes one ledger write; returns the rows it changed (SQLite's `write`).
async fn write(conn: &mut PgConnection, w: &Write, now: DateTime<Utc>) -> Result<u64, StoreError> {
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
        Write::Inbox {
            provider,
            event_key,
            idempotency_key,
            report,
            due_at,
        } => {
            let item = (
                event_key.as_str(),
                idempotency_key.as_str(),
                report,
                *due_at,
            );
            return insert_inbox_rows(conn, provider, &[item], now)
                .await
                .doing("writing to the ledger");
        }
        Write::Attempt(a) => {
            return insert_attempt_rows(conn, std::slice::from_ref(a), now)
                .await
                .doing("writing to the ledger");
        }
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
            sqlx::query(super::people::QUERIES.upsert_tag)
                .bind(contact_id)
                .bind(&tag.name)
                .bind(&tag.source)
                .bind(now)
                .bind(tag.expires_at)
                .execute(&mut *conn)
                .await
        }
        Write::Untag { contact_id, name } => {
            sqlx::query(super::people::QUERIES.remove_tag)
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
                .bind(r.score.map(|s| s as i32))
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

pub(super) async fn insert_attempts(
    store: &PgStore,
    attempts: &[NewAttempt],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if attempts.is_empty() {
        return Ok(0);
    }
    let mut conn = store
        .pool
        .acquire()
        .await
        .doing("taking a database connection")?;
    // One statement: all of them or none, as SQLite's transaction.
    insert_attempt_rows(&mut conn, attempts, now)
        .await
        .doing("inserting attempts")
}

pub(super) async fn claim_due(
    store: &PgStore,
    now: DateTime<Utc>,
    limit: i64,
    claimer: &str,
) -> Result<Vec<Attempt>, StoreError> {
    let held: Vec<i64> = sqlx::query_scalar(QUERIES.held_runs)
        .fetch_all(&store.pool)
        .await
        .doing("reading the runs of paused campaigns")?;
    let ids: Vec<i64> = sqlx::query_scalar(QUERIES.claim_due)
        .bind(now)
        .bind(limit)
        .bind(claimer)
        .bind(held)
        .fetch_all(&store.pool)
        .await
        .doing("claiming due attempts")?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(QUERIES.attempts_by_ids)
        .bind(ids)
        .fetch_all(&store.pool)
        .await
        .doing("reading claimed attempts")?;
    rows.iter().map(rows::attempt).collect()
}

pub(super) async fn requeue_stale(
    store: &PgStore,
    cutoff: DateTime<Utc>,
    silent_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(QUERIES.requeue_stale)
        .bind(cutoff)
        .bind(now)
        .bind(silent_since)
        .execute(&store.pool)
        .await
        .doing("re-queueing stale attempts")?
        .rows_affected())
}

pub(super) async fn daemon_beat(
    store: &PgStore,
    daemon: &Daemon,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(QUERIES.daemon_beat)
        .bind(&daemon.id)
        .bind(&daemon.host)
        .bind(daemon.pid)
        .bind(now)
        .execute(&store.pool)
        .await
        .doing("recording that the daemon is alive")?;
    Ok(())
}

pub(super) async fn daemon_gone(
    store: &PgStore,
    id: &str,
    forget_before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut tx = store.pool.begin().await.doing("starting a transaction")?;
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

pub(super) async fn daemons(store: &PgStore) -> Result<Vec<Daemon>, StoreError> {
    let rows = sqlx::query(QUERIES.daemons_list)
        .fetch_all(&store.pool)
        .await
        .doing("listing daemons")?;
    rows.iter().map(rows::daemon).collect()
}

pub(super) async fn attempt_by_key(
    store: &PgStore,
    key: &str,
) -> Result<Option<Attempt>, StoreError> {
    let row = sqlx::query(QUERIES.attempt_by_key)
        .bind(key)
        .fetch_optional(&store.pool)
        .await
        .doing("reading an attempt")?;
    row.as_ref().map(rows::attempt).transpose()
}

pub(super) async fn attempts_of_contact_in_run(
    store: &PgStore,
    run_id: i64,
    contact_id: i64,
) -> Result<Vec<Attempt>, StoreError> {
    let rows = sqlx::query(QUERIES.attempts_of_contact_in_run)
        .bind(run_id)
        .bind(contact_id)
        .fetch_all(&store.pool)
        .await
        .doing("reading a contact's attempts")?;
    rows.iter().map(rows::attempt).collect()
}

pub(super) async fn latest_sms_to(
    store: &PgStore,
    phone: &crate::domain::values::PhoneNumber,
    since: DateTime<Utc>,
) -> Result<Option<(String, i64)>, StoreError> {
    let row = sqlx::query(QUERIES.latest_sms_to)
        .bind(phone.as_str())
        .bind(since)
        .fetch_optional(&store.pool)
        .await
        .doing("finding the message a reply answers")?;
    Ok(row.map(|r| (r.get("idempotency_key"), r.get("holders"))))
}

pub(super) async fn link_answers_near(
    store: &PgStore,
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
        .fetch_one(&store.pool)
        .await
        .doing("counting answers by link")
}

pub(super) async fn responses_of_contact_in_run(
    store: &PgStore,
    run_id: i64,
    contact_id: i64,
) -> Result<Vec<crate::domain::survey::Response>, StoreError> {
    let rows = sqlx::query(QUERIES.responses_of_contact_in_run)
        .bind(run_id)
        .bind(contact_id)
        .fetch_all(&store.pool)
        .await
        .doing("reading a contact's survey answers")?;
    rows.iter()
        .map(|row| {
            Ok(crate::domain::survey::Response {
                question: row.get("question"),
                kind: rows::Record::parsed(row, "kind")?,
                score: row.get::<Option<i32>, _>("score").map(i64::from),
                answer: row.get("answer"),
                raw: row.get("raw"),
                channel: rows::Record::parsed(row, "channel")?,
                revision: row.get::<i32, _>("revision") as u32,
                first_answered_at: row.get("first_answered_at"),
                answered_at: row.get("answered_at"),
            })
        })
        .collect()
}

pub(super) async fn reschedule(
    store: &PgStore,
    id: i64,
    not_before: DateTime<Utc>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let w = Write::Reschedule {
        id,
        not_before,
        reason: reason.into(),
    };
    write_one(store, &w, now).await?;
    Ok(())
}

pub(super) async fn mark_sent(
    store: &PgStore,
    id: i64,
    at: DateTime<Utc>,
    provider_ref: &str,
) -> Result<bool, StoreError> {
    let w = Write::MarkSent {
        id,
        at,
        provider_ref: provider_ref.into(),
    };
    Ok(write_one(store, &w, at).await? > 0)
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
    let w = Write::Close {
        id,
        state,
        outcome,
        connected,
        reason: reason.map(str::to_string),
    };
    Ok(write_one(store, &w, now).await? > 0)
}

pub(super) async fn set_connected(
    store: &PgStore,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    write_one(store, &Write::Connected { id }, now).await?;
    Ok(())
}

pub(super) async fn cancel_queued_for_contact(
    store: &PgStore,
    contact_id: i64,
    channels: &[Channel],
    run_id: Option<i64>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(QUERIES.cancel_queued_for_contact)
        .bind(contact_id)
        .bind(channels.iter().map(|c| c.as_str()).collect::<Vec<_>>())
        .bind(reason)
        .bind(now)
        .bind(run_id)
        .execute(&store.pool)
        .await
        .doing("cancelling a contact's attempts")?
        .rows_affected())
}

pub(super) async fn cancel_queued_for_campaign(
    store: &PgStore,
    campaign: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(QUERIES.cancel_queued_for_campaign)
        .bind(campaign)
        .bind(reason)
        .bind(now)
        .execute(&store.pool)
        .await
        .doing("cancelling a campaign's attempts")?
        .rows_affected())
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
    let w = Write::Event {
        attempt_id,
        kind: kind.into(),
        detail: detail.map(str::to_string),
        payload: payload.clone(),
        occurred_at,
    };
    write_one(store, &w, now).await?;
    Ok(())
}

pub(super) async fn events_of_contact(
    store: &PgStore,
    contact_id: i64,
    limit: i64,
) -> Result<Vec<serde_json::Value>, StoreError> {
    let rows = sqlx::query(QUERIES.events_of_contact)
        .bind(contact_id)
        .bind(limit)
        .fetch_all(&store.pool)
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
                "attempt": i64::from(r.get::<i32, _>("attempt_no")),
                "payload": serde_json::from_str::<serde_json::Value>(r.get::<&str, _>("payload"))
                    .unwrap_or(serde_json::Value::Null),
            })
        })
        .collect())
}

pub(super) async fn inbox_push(
    store: &PgStore,
    provider: &str,
    items: &[(String, String, Report, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if items.is_empty() {
        return Ok(0);
    }
    let items: Vec<_> = items
        .iter()
        .map(|(event_key, key, report, due_at)| (event_key.as_str(), key.as_str(), report, *due_at))
        .collect();
    let mut conn = store
        .pool
        .acquire()
        .await
        .doing("taking a database connection")?;
    // One statement: all of them or none, as SQLite's transaction.
    insert_inbox_rows(&mut conn, provider, &items, now)
        .await
        .doing("storing provider events")
}

pub(super) async fn inbox_due(
    store: &PgStore,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<InboxItem>, StoreError> {
    let rows = sqlx::query(QUERIES.inbox_due)
        .bind(now)
        .bind(limit)
        .fetch_all(&store.pool)
        .await
        .doing("reading the inbox")?;
    rows.iter()
        .map(|r| {
            let payload: &str = r.get("payload");
            Ok(InboxItem {
                id: r.get("id"),
                provider: r.get("provider"),
                event_key: r.get("event_key"),
                idempotency_key: r.get("idempotency_key"),
                report: serde_json::from_str(payload)
                    .map_err(|e| StoreError::Corrupt(format!("inbox payload: {e}")))?,
                due_at: r.get("due_at"),
            })
        })
        .collect()
}

pub(super) async fn inbox_applied(
    store: &PgStore,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    write_one(store, &Write::InboxApplied { id }, now).await?;
    Ok(())
}

pub(super) async fn next_due(store: &PgStore) -> Result<Option<DateTime<Utc>>, StoreError> {
    sqlx::query_scalar(QUERIES.next_due)
        .fetch_one(&store.pool)
        .await
        .doing("finding the next due moment")
}

pub(super) async fn attempts_of_contacts_in_runs(
    store: &PgStore,
    run_ids: &[i64],
    contact_ids: &[i64],
) -> Result<Vec<Attempt>, StoreError> {
    if run_ids.is_empty() || contact_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(QUERIES.attempts_of_contacts_in_runs)
        .bind(run_ids)
        .bind(contact_ids)
        .fetch_all(&store.pool)
        .await
        .doing("reading contacts' attempts")?;
    rows.iter().map(rows::attempt).collect()
}

pub(super) async fn attempts_by_keys(
    store: &PgStore,
    keys: &[String],
) -> Result<Vec<Attempt>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(QUERIES.attempts_by_keys)
        .bind(keys)
        .fetch_all(&store.pool)
        .await
        .doing("reading attempts by key")?;
    rows.iter().map(rows::attempt).collect()
}

pub(super) async fn attempts_claimed(
    store: &PgStore,
    ids: &[i64],
    claimed_at: DateTime<Utc>,
) -> Result<Vec<Attempt>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(QUERIES.attempts_claimed)
        .bind(ids)
        .bind(claimed_at)
        .fetch_all(&store.pool)
        .await
        .doing("reading claimed attempts")?;
    rows.iter().map(rows::attempt).collect()
}

pub(super) async fn apply_writes(
    store: &PgStore,
    groups: &[WriteGroup],
    now: DateTime<Utc>,
) -> Result<Vec<bool>, StoreError> {
    let mut tx = store
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

/// Applies a batch of the set-wise shape in a handful of statements whatever its size:
/// one per kind of guard, one per kind of update after them, one for the events, one per
/// provider for provider events and one for new attempts; tags row by row. Returns which
/// groups held.
async fn apply_set_batch(
    conn: &mut PgConnection,
    groups: &[WriteGroup],
    batch: &SetBatch<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<bool>, StoreError> {
    let mut moved = BTreeSet::new();
    if !batch.sent.is_empty() {
        let ids: Vec<i64> = sqlx::query_scalar(QUERIES.mark_sent_many)
            .bind(batch.sent.iter().map(|g| g.1).collect::<Vec<_>>())
            .bind(batch.sent.iter().map(|g| g.2).collect::<Vec<_>>())
            .bind(batch.sent.iter().map(|g| g.3).collect::<Vec<_>>())
            .fetch_all(&mut *conn)
            .await
            .doing("recording sends")?;
        moved.extend(ids);
    }
    if !batch.rescheduled.is_empty() {
        let ids: Vec<i64> = sqlx::query_scalar(QUERIES.reschedule_many)
            .bind(batch.rescheduled.iter().map(|g| g.1).collect::<Vec<_>>())
            .bind(batch.rescheduled.iter().map(|g| g.2).collect::<Vec<_>>())
            .bind(batch.rescheduled.iter().map(|g| g.3).collect::<Vec<_>>())
            .bind(now)
            .fetch_all(&mut *conn)
            .await
            .doing("rescheduling attempts")?;
        moved.extend(ids);
    }
    moved.extend(close_many(conn, &batch.closed, now).await?);
    let mut applied = BTreeSet::new();
    if !batch.applied.is_empty() {
        let ids: Vec<i64> = sqlx::query_scalar(QUERIES.inbox_applied_many)
            .bind(batch.applied.iter().map(|g| g.1).collect::<Vec<_>>())
            .bind(now)
            .fetch_all(&mut *conn)
            .await
            .doing("marking provider events applied")?;
        applied.extend(ids);
    }
    let held = batch.held(groups.len(), &moved, &applied);
    let then = Followers::of(groups, &held);
    close_many(conn, &then.closes, now).await?;
    if !then.connected.is_empty() {
        sqlx::query(QUERIES.set_connected_many)
            .bind(&then.connected)
            .bind(now)
            .execute(&mut *conn)
            .await
            .doing("recording connections")?;
    }
    for w in then.one_by_one {
        write(&mut *conn, w, now).await?;
    }
    let events: Vec<_> = then
        .events
        .iter()
        .filter_map(|w| match w {
            Write::Event {
                attempt_id,
                kind,
                detail,
                payload,
                occurred_at,
            } => Some((*attempt_id, kind, detail, payload.to_string(), *occurred_at)),
            _ => None,
        })
        .collect();
    if !events.is_empty() {
        sqlx::query(QUERIES.insert_events)
            .bind(events.iter().map(|e| e.0).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.1.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.2.as_deref()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.3.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.4).collect::<Vec<_>>())
            .bind(now)
            .execute(&mut *conn)
            .await
            .doing("writing events")?;
    }
    let mut inbox: BTreeMap<&str, Vec<InboxRow>> = BTreeMap::new();
    for w in then.inbox {
        if let Write::Inbox {
            provider,
            event_key,
            idempotency_key,
            report,
            due_at,
        } = w
        {
            inbox
                .entry(provider)
                .or_default()
                .push((event_key, idempotency_key, report, *due_at));
        }
    }
    for (provider, items) in &inbox {
        insert_inbox_rows(conn, provider, items, now)
            .await
            .doing("writing provider events")?;
    }
    if !then.attempts.is_empty() {
        let attempts: Vec<NewAttempt> = then.attempts.into_iter().cloned().collect();
        insert_attempt_rows(conn, &attempts, now)
            .await
            .doing("queueing next steps")?;
    }
    Ok(held)
}

/// A provider event to insert: (event key, idempotency key, report, due at).
type InboxRow<'a> = (&'a str, &'a str, &'a Report, DateTime<Utc>);

/// Closes attempts set-wise; returns those that moved.
async fn close_many(
    conn: &mut PgConnection,
    c: &[Closing<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    if c.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(QUERIES.close_many)
        .bind(c.iter().map(|g| g.1).collect::<Vec<_>>())
        .bind(c.iter().map(|g| g.2.as_str()).collect::<Vec<_>>())
        .bind(
            c.iter()
                .map(|g| g.3.map(|o| o.as_str()))
                .collect::<Vec<_>>(),
        )
        .bind(c.iter().map(|g| g.4).collect::<Vec<_>>())
        .bind(c.iter().map(|g| g.5).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .doing("closing attempts")
}

pub(super) async fn mark_opted_out(
    store: &PgStore,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(QUERIES.mark_opted_out)
        .bind(id)
        .bind(now)
        .execute(&store.pool)
        .await
        .doing("recording an opt-out")?;
    Ok(())
}

pub(super) async fn inbox_pending(store: &PgStore) -> Result<i64, StoreError> {
    sqlx::query_scalar(QUERIES.inbox_pending)
        .fetch_one(&store.pool)
        .await
        .doing("counting pending events")
}

pub(super) async fn upsert_agent(
    store: &PgStore,
    name: &str,
    skills: &[String],
    capacity: u32,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let capacity = i32::try_from(capacity)
        .map_err(|_| StoreError::Corrupt(format!("agent capacity {capacity} is too large")))?;
    sqlx::query(QUERIES.upsert_agent)
        .bind(name)
        .bind(serde_json::to_string(skills).expect("skills serialise"))
        .bind(capacity)
        .bind(now)
        .execute(&store.pool)
        .await
        .doing("saving an agent")?;
    Ok(())
}

pub(super) async fn agent(
    store: &PgStore,
    name: &str,
) -> Result<Option<(Vec<String>, u32)>, StoreError> {
    let row = sqlx::query(QUERIES.agent_by_name)
        .bind(name)
        .fetch_optional(&store.pool)
        .await
        .doing("reading an agent")?;
    let Some(row) = row else { return Ok(None) };
    let skills: Vec<String> = serde_json::from_str(row.get::<&str, _>("skills"))
        .map_err(|e| StoreError::Corrupt(format!("agent skills: {e}")))?;
    Ok(Some((skills, row.get::<i32, _>("capacity") as u32)))
}

pub(super) async fn desk_waiting(store: &PgStore, limit: i64) -> Result<Vec<Attempt>, StoreError> {
    let rows = sqlx::query(QUERIES.desk_waiting)
        .bind(limit)
        .fetch_all(&store.pool)
        .await
        .doing("reading the desk queue")?;
    rows.iter().map(rows::attempt).collect()
}

pub(super) async fn desk_held_by(store: &PgStore, agent: &str) -> Result<Vec<Attempt>, StoreError> {
    let rows = sqlx::query(QUERIES.desk_held_by)
        .bind(agent)
        .fetch_all(&store.pool)
        .await
        .doing("reading an agent's calls")?;
    rows.iter().map(rows::attempt).collect()
}

pub(super) async fn desk_take(
    store: &PgStore,
    id: i64,
    agent: &str,
    now: DateTime<Utc>,
) -> Result<DeskTake, StoreError> {
    let mut tx = store
        .pool
        .begin()
        .await
        .doing("starting to give a call to an agent")?;
    // The agent's row stays locked until the commit. Each statement after the lock reads
    // what was committed before it, so the count sees the call another daemon just gave.
    let capacity: Option<i32> = sqlx::query_scalar(QUERIES.desk_lock_agent)
        .bind(agent)
        .fetch_optional(&mut *tx)
        .await
        .doing("locking an agent")?;
    let Some(capacity) = capacity else {
        return Ok(DeskTake::UnknownAgent);
    };
    let held: i64 = sqlx::query_scalar(QUERIES.desk_held_count)
        .bind(agent)
        .fetch_one(&mut *tx)
        .await
        .doing("counting an agent's calls")?;
    if held >= i64::from(capacity) {
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

pub(super) async fn take_tokens(
    store: &PgStore,
    name: &str,
    rate: f64,
    capacity: f64,
    want: u32,
    now: DateTime<Utc>,
) -> Result<Grant, StoreError> {
    let mut tx = store
        .pool
        .begin()
        .await
        .doing("starting to take rate tokens")?;
    // Creates the bucket or locks its row until the commit: daemons take turns.
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
