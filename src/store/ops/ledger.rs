//! The ledger: attempts and their claims, the daemons that claim them, guarded write
//! groups (one at a time or set-wise), events and the inbox of provider events.
//!
//! Every state change is a conditional update that says whether it moved its row, so a
//! stale decision (another daemon took the attempt over, an event was applied already)
//! changes nothing.

use super::*;
use crate::store::Followers;

/// How many times a batch of ledger writes is tried again after a transient failure (a
/// deadlock between daemons, on the databases where one can happen: see `is_transient`).
const WRITE_RETRIES: u32 = 3;

impl DialectStore {
    /// One ledger write on its own; returns the rows it changed.
    pub(super) async fn write_one(&self, w: &Write, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .doing("taking a database connection")?;
        write(&mut conn, w, now).await
    }

    pub(in crate::store) async fn insert_attempts(
        &self,
        attempts: &[NewAttempt],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if attempts.is_empty() {
            return Ok(0);
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .doing("starting to insert attempts")?;
        let mut inserted = 0;
        for chunk in attempts.chunks(INSERT_CHUNK) {
            let chunk: Vec<&NewAttempt> = chunk.iter().collect();
            inserted += insert_attempts(&mut tx, &chunk, now).await?;
        }
        tx.commit().await.doing("committing attempts")?;
        Ok(inserted)
    }

    pub(in crate::store) async fn claim_due(
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
            .bind(list(held))
            .fetch_all(&self.pool)
            .await
            .doing("claiming due attempts")?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.attempts_by_ids)
            .bind(list(ids))
            .fetch_all(&self.pool)
            .await
            .doing("reading claimed attempts")?;
        rows.iter().map(rows::attempt).collect()
    }

    pub(in crate::store) async fn attempts_claimed(
        &self,
        ids: &[i64],
        claimed_at: DateTime<Utc>,
    ) -> Result<Vec<Attempt>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.attempts_claimed)
            .bind(list(ids.iter().copied()))
            .bind(claimed_at)
            .fetch_all(&self.pool)
            .await
            .doing("reading claimed attempts")?;
        rows.iter().map(rows::attempt).collect()
    }

    pub(in crate::store) async fn requeue_stale(
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

    pub(in crate::store) async fn daemon_beat(
        &self,
        daemon: &Daemon,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
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

    pub(in crate::store) async fn daemon_gone(
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

    pub(in crate::store) async fn daemons(&self) -> Result<Vec<Daemon>, StoreError> {
        let rows = sqlx::query(QUERIES.daemons_list)
            .fetch_all(&self.pool)
            .await
            .doing("listing daemons")?;
        rows.iter().map(rows::daemon).collect()
    }

    pub(in crate::store) async fn attempt_by_key(
        &self,
        key: &str,
    ) -> Result<Option<Attempt>, StoreError> {
        let row = sqlx::query(QUERIES.attempt_by_key)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .doing("reading an attempt")?;
        row.as_ref().map(rows::attempt).transpose()
    }

    pub(in crate::store) async fn attempts_by_keys(
        &self,
        keys: &[String],
    ) -> Result<Vec<Attempt>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.attempts_by_keys)
            .bind(list(keys.iter().map(String::as_str)))
            .fetch_all(&self.pool)
            .await
            .doing("reading attempts by key")?;
        rows.iter().map(rows::attempt).collect()
    }

    pub(in crate::store) async fn attempts_of_contact_in_run(
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

    pub(in crate::store) async fn attempts_of_contacts_in_runs(
        &self,
        run_ids: &[i64],
        contact_ids: &[i64],
    ) -> Result<Vec<Attempt>, StoreError> {
        if run_ids.is_empty() || contact_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(QUERIES.attempts_of_contacts_in_runs)
            .bind(list(run_ids.iter().copied()))
            .bind(list(contact_ids.iter().copied()))
            .fetch_all(&self.pool)
            .await
            .doing("reading contacts' attempts")?;
        rows.iter().map(rows::attempt).collect()
    }

    pub(in crate::store) async fn send_failures(&self, attempt_id: i64) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.send_failures)
            .bind(attempt_id)
            .fetch_one(&self.pool)
            .await
            .doing("counting send failures")
    }

    pub(in crate::store) async fn latest_sms_to(
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

    pub(in crate::store) async fn link_answers_near(
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

    pub(in crate::store) async fn responses_of_contact_in_run(
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
                    kind: row.parsed("kind")?,
                    score: row.opt_int("score")?,
                    answer: row.get("answer"),
                    raw: row.get("raw"),
                    channel: row.parsed("channel")?,
                    revision: row.int("revision")? as u32,
                    first_answered_at: row.get("first_answered_at"),
                    answered_at: row.get("answered_at"),
                })
            })
            .collect()
    }

    pub(in crate::store) async fn reschedule(
        &self,
        id: i64,
        not_before: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let reason = reason.into();
        let w = Write::Reschedule {
            id,
            not_before,
            reason,
        };
        self.write_one(&w, now).await?;
        Ok(())
    }

    pub(in crate::store) async fn mark_sent(
        &self,
        id: i64,
        at: DateTime<Utc>,
        provider_ref: &str,
    ) -> Result<bool, StoreError> {
        let provider_ref = provider_ref.into();
        let w = Write::MarkSent {
            id,
            at,
            provider_ref,
        };
        Ok(self.write_one(&w, at).await? > 0)
    }

    pub(in crate::store) async fn close_attempt(
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

    pub(in crate::store) async fn set_connected(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_one(&Write::Connected { id }, now).await?;
        Ok(())
    }

    pub(in crate::store) async fn mark_opted_out(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(QUERIES.mark_opted_out)
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await
            .doing("recording an opt-out")?;
        Ok(())
    }

    pub(in crate::store) async fn cancel_queued_for_contact(
        &self,
        contact_id: i64,
        channels: &[Channel],
        run_id: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(QUERIES.cancel_queued_for_contact)
            .bind(contact_id)
            .bind(list(channels.iter().map(|c| c.as_str())))
            .bind(reason)
            .bind(now)
            .bind(run_id)
            .execute(&self.pool)
            .await
            .doing("cancelling a contact's attempts")?
            .rows_affected())
    }

    pub(in crate::store) async fn cancel_queued_for_campaign(
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

    pub(in crate::store) async fn record_event(
        &self,
        attempt_id: i64,
        kind: EventKind,
        detail: Option<&str>,
        payload: &serde_json::Value,
        occurred_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let w = Write::Event {
            attempt_id,
            kind,
            detail: detail.map(str::to_string),
            payload: payload.clone(),
            occurred_at,
        };
        self.write_one(&w, now).await?;
        Ok(())
    }

    pub(in crate::store) async fn events_of_contact(
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
        rows.iter()
            .map(|r| {
                Ok(serde_json::json!({
                    "at": r.time("occurred_at")?,
                    "kind": r.text("kind")?,
                    "detail": r.opt_text("detail")?,
                    "campaign": r.text("campaign")?,
                    "step": r.text("step")?,
                    "channel": r.text("channel")?,
                    "attempt": r.int("attempt_no")?,
                    "payload": serde_json::from_str::<serde_json::Value>(&r.text("payload")?)
                        .unwrap_or(serde_json::Value::Null),
                }))
            })
            .collect()
    }

    pub(in crate::store) async fn inbox_push(
        &self,
        provider: &str,
        items: &[(String, String, Report, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if items.is_empty() {
            return Ok(0);
        }
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
        let mut tx = self
            .pool
            .begin()
            .await
            .doing("starting to store provider events")?;
        let added = insert_inbox(&mut tx, &writes.iter().collect::<Vec<_>>(), now).await?;
        tx.commit().await.doing("committing provider events")?;
        Ok(added)
    }

    pub(in crate::store) async fn inbox_due(
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
                Ok(InboxItem {
                    id: r.get("id"),
                    provider: r.get("provider"),
                    event_key: r.get("event_key"),
                    idempotency_key: r.get("idempotency_key"),
                    report: serde_json::from_str(&r.text("payload")?)
                        .map_err(|e| StoreError::Corrupt(format!("inbox payload: {e}")))?,
                    due_at: r.get("due_at"),
                })
            })
            .collect()
    }

    pub(in crate::store) async fn inbox_applied(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_one(&Write::InboxApplied { id }, now).await?;
        Ok(())
    }

    pub(in crate::store) async fn inbox_pending(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.inbox_pending)
            .fetch_one(&self.pool)
            .await
            .doing("counting pending events")
    }

    pub(in crate::store) async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let t: Option<StoredTime> = sqlx::query_scalar(QUERIES.next_due)
            .fetch_one(&self.pool)
            .await
            .doing("finding the next due moment")?;
        t.map(stored_time).transpose()
    }

    pub(in crate::store) async fn apply_writes(
        &self,
        groups: &[WriteGroup],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        // Where daemons writing at once may lock the same rows in another order, the
        // database aborts one transaction as a deadlock. The batch rolled back whole, so
        // it is simply tried again.
        let mut tries = 0;
        loop {
            match self.apply_writes_once(groups, now).await {
                Err(e) if tries < WRITE_RETRIES && is_transient(&e) => tries += 1,
                other => return other,
            }
        }
    }

    async fn apply_writes_once(
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
}

/// Applies a batch of the set-wise shape in a handful of statements whatever its size:
/// one per kind of guard, one per kind of update after them, and one per kind of insert
/// (events, provider events, new attempts); only tags and untags go row by row. Returns
/// which groups held.
async fn apply_set_batch(
    conn: &mut DbConnection,
    groups: &[WriteGroup],
    batch: &SetBatch<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<bool>, StoreError> {
    let mut moved = BTreeSet::new();
    moved.extend(mark_sent_many(conn, &batch.sent, now).await?);
    moved.extend(reschedule_many(conn, &batch.rescheduled, now).await?);
    moved.extend(close_many(conn, &batch.closed, now).await?);
    let mut applied = BTreeSet::new();
    if !batch.applied.is_empty() {
        let ids: Vec<i64> = sqlx::query_scalar(QUERIES.inbox_applied_many)
            .bind(list(batch.applied.iter().map(|g| g.1)))
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
            .bind(list(then.connected.iter().copied()))
            .bind(now)
            .execute(&mut *conn)
            .await
            .doing("recording connections")?;
    }
    for w in then.one_by_one {
        write(&mut *conn, w, now).await?;
    }
    insert_events(&mut *conn, &then.events, now).await?;
    insert_inbox(&mut *conn, &then.inbox, now).await?;
    insert_attempts(&mut *conn, &then.attempts, now).await?;
    Ok(held)
}

/// Executes one ledger write; returns the rows it changed.
async fn write(conn: &mut DbConnection, w: &Write, now: DateTime<Utc>) -> Result<u64, StoreError> {
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
                .bind(kind.as_str())
                .bind(detail)
                .bind(payload.to_string())
                .bind(occurred_at)
                .bind(now)
                .execute(&mut *conn)
                .await
        }
        Write::Inbox { .. } => return insert_inbox(conn, &[w], now).await,
        Write::Attempt(a) => return insert_attempts(conn, &[a], now).await,
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
