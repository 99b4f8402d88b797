//! The agent desk (agents, the calls waiting for them, the calls they hold) and the
//! shared rate buckets.
//!
//! Both take something under a lock that every daemon on the database respects: a call
//! for an agent (never more than their capacity) and tokens from a bucket (never more
//! than its rate). The dialect says how the lock is taken ([`begin_locked`]).

use super::*;

impl DialectStore {
    pub(in crate::store) async fn upsert_agent(
        &self,
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
            .execute(&self.pool)
            .await
            .doing("saving an agent")?;
        Ok(())
    }

    pub(in crate::store) async fn agent(
        &self,
        name: &str,
    ) -> Result<Option<(Vec<String>, u32)>, StoreError> {
        let row = sqlx::query(QUERIES.agent_by_name)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .doing("reading an agent")?;
        let Some(row) = row else { return Ok(None) };
        let skills: Vec<String> = serde_json::from_str(&row.text("skills")?)
            .map_err(|e| StoreError::Corrupt(format!("agent skills: {e}")))?;
        Ok(Some((skills, row.int("capacity")? as u32)))
    }

    pub(in crate::store) async fn desk_waiting(
        &self,
        limit: i64,
    ) -> Result<Vec<Attempt>, StoreError> {
        let rows = sqlx::query(QUERIES.desk_waiting)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .doing("reading the desk queue")?;
        rows.iter().map(rows::attempt).collect()
    }

    pub(in crate::store) async fn desk_held_by(
        &self,
        agent: &str,
    ) -> Result<Vec<Attempt>, StoreError> {
        let rows = sqlx::query(QUERIES.desk_held_by)
            .bind(agent)
            .fetch_all(&self.pool)
            .await
            .doing("reading an agent's calls")?;
        rows.iter().map(rows::attempt).collect()
    }

    pub(in crate::store) async fn desk_take(
        &self,
        id: i64,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<DeskTake, StoreError> {
        let mut tx = begin_locked(&self.pool)
            .await
            .doing("starting to give a call to an agent")?;
        // `desk_lock_agent` holds the agent (their row on PostgreSQL; SQLite's write lock
        // is held from the transaction's start), so the count below cannot change before
        // the take, whichever daemon serves the agent.
        let row = sqlx::query(QUERIES.desk_lock_agent)
            .bind(agent)
            .fetch_optional(&mut *tx)
            .await
            .doing("locking an agent")?;
        let Some(row) = row else {
            return Ok(DeskTake::UnknownAgent);
        };
        let capacity = row.int("capacity")?;
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

    pub(in crate::store) async fn take_tokens(
        &self,
        name: &str,
        rate: f64,
        capacity: f64,
        want: u32,
        now: DateTime<Utc>,
    ) -> Result<Grant, StoreError> {
        // No other process reads the bucket between this read and the write of what is
        // left: the bucket's row is locked (PostgreSQL), or the write lock held (SQLite).
        let mut tx = begin_locked(&self.pool)
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

    pub(in crate::store) async fn clear_rate_buckets(&self) -> Result<(), StoreError> {
        sqlx::query(QUERIES.clear_rate_buckets)
            .execute(&self.pool)
            .await
            .doing("emptying the rate buckets")?;
        Ok(())
    }
}
