//! The database itself (its migrations and version), campaigns (their states and
//! versions) and runs.

use super::*;
use crate::store::{MigrationStatus, ServerVersion};

impl DialectStore {
    /// Every migration this build has, with when the database applied it.
    pub(in crate::store) async fn migration_status(
        &self,
    ) -> Result<Vec<MigrationStatus>, StoreError> {
        // A database without herald's table yet has applied nothing; any other error is one.
        let applied: Vec<(i64, String)> = match sqlx::query_as(QUERIES.applied_migrations)
            .fetch_all(&self.pool)
            .await
        {
            Ok(rows) => rows,
            Err(sqlx::Error::Database(e))
                if e.message().contains("no such table") // SQLite
                        || e.code().as_deref() == Some("42P01") =>
            // PostgreSQL: undefined_table
            {
                Vec::new()
            }
            Err(e) => return Err(e).doing("reading the applied migrations"),
        };
        Ok(crate::store::migration_status(&migrator(), &applied))
    }

    pub(in crate::store) async fn server_version(&self) -> Result<ServerVersion, StoreError> {
        let row = sqlx::query(QUERIES.server_version)
            .fetch_one(&self.pool)
            .await
            .doing("reading the database's version")?;
        Ok(ServerVersion {
            text: row.text("version")?,
            number: row.int("version_num")?,
        })
    }

    pub(in crate::store) async fn migrate(&self) -> Result<usize, StoreError> {
        let before = applied_count(&self.pool).await;
        migrator().run(&self.pool).await?;
        let after = applied_count(&self.pool).await;
        Ok((after - before).max(0) as usize)
    }

    pub(in crate::store) async fn refresh_statistics(&self) -> Result<(), StoreError> {
        sqlx::query(QUERIES.refresh_statistics)
            .execute(&self.pool)
            .await
            .doing("refreshing planner statistics")?;
        Ok(())
    }

    pub(in crate::store) async fn campaign_state(
        &self,
        campaign: &str,
    ) -> Result<CampaignState, StoreError> {
        let state: Option<String> = sqlx::query_scalar(QUERIES.campaign_state)
            .bind(campaign)
            .fetch_optional(&self.pool)
            .await
            .doing("reading a campaign's state")?;
        state.map_or(Ok(CampaignState::Active), |s| {
            s.parse().map_err(|e| rows::corrupt("campaign state", e))
        })
    }

    pub(in crate::store) async fn campaign_states(
        &self,
    ) -> Result<BTreeMap<String, CampaignState>, StoreError> {
        let rows = sqlx::query(QUERIES.campaign_states)
            .fetch_all(&self.pool)
            .await
            .doing("reading campaign states")?;
        rows.iter()
            .map(|r| Ok((r.text("id")?, r.parsed("state")?)))
            .collect()
    }

    pub(in crate::store) async fn set_campaign_state(
        &self,
        campaign: &str,
        state: CampaignState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(QUERIES.set_campaign_state)
            .bind(campaign)
            .bind(state.as_str())
            .bind(now)
            .execute(&self.pool)
            .await
            .doing("setting a campaign's state")?;
        Ok(())
    }

    pub(in crate::store) async fn campaign_version(
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

    pub(in crate::store) async fn create_run(
        &self,
        campaign: &str,
        version_id: i64,
        occurrence: DateTime<Utc>,
        state: RunState,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(QUERIES.create_run)
            .bind(campaign)
            .bind(version_id)
            .bind(occurrence)
            .bind(state.as_str())
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .doing("creating a run")
    }

    pub(in crate::store) async fn set_run_summary(
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

    pub(in crate::store) async fn finish_run(
        &self,
        run_id: i64,
        state: RunState,
        summary: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(QUERIES.finish_run)
            .bind(run_id)
            .bind(state.as_str())
            .bind(summary.to_string())
            .bind(now)
            .execute(&self.pool)
            .await
            .doing("finishing a run")?;
        Ok(())
    }

    pub(in crate::store) async fn last_occurrence(
        &self,
        campaign: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let t: Option<StoredTime> = sqlx::query_scalar(QUERIES.last_occurrence)
            .bind(campaign)
            .fetch_one(&self.pool)
            .await
            .doing("reading the last run")?;
        t.map(stored_time).transpose()
    }

    pub(in crate::store) async fn runs(
        &self,
        campaign: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(QUERIES.runs_list)
            .bind(campaign)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .doing("listing runs")?;
        rows.iter().map(rows::run).collect()
    }

    pub(in crate::store) async fn run(&self, id: i64) -> Result<Option<Run>, StoreError> {
        let row = sqlx::query(QUERIES.run_by_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .doing("reading a run")?;
        row.as_ref().map(rows::run).transpose()
    }

    pub(in crate::store) async fn run_by_occurrence(
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

    pub(in crate::store) async fn running_runs(&self) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(QUERIES.running_runs)
            .fetch_all(&self.pool)
            .await
            .doing("listing running runs")?;
        rows.iter().map(rows::run).collect()
    }

    pub(in crate::store) async fn finishable_runs(&self) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(QUERIES.finishable_runs)
            .fetch_all(&self.pool)
            .await
            .doing("finding finished runs")?;
        rows.iter().map(rows::run).collect()
    }

    pub(in crate::store) async fn open_attempts(&self, run_id: i64) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.open_attempts_of_run)
            .bind(run_id)
            .fetch_one(&self.pool)
            .await
            .doing("counting open attempts")
    }

    pub(in crate::store) async fn run_tally(
        &self,
        run_id: i64,
    ) -> Result<Vec<TallyRow>, StoreError> {
        let rows = sqlx::query(QUERIES.run_tally)
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .doing("counting a run's attempts")?;
        rows.iter().map(tally).collect()
    }

    pub(in crate::store) async fn live_sequences(
        &self,
        campaign: &str,
        ids: &[i64],
        except_run: Option<i64>,
    ) -> Result<BTreeSet<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let found: Vec<i64> = sqlx::query_scalar(QUERIES.live_sequences)
            .bind(campaign)
            .bind(list(ids.iter().copied()))
            // Run ids start at 1: 0 excludes none.
            .bind(except_run.unwrap_or(0))
            .fetch_all(&self.pool)
            .await
            .doing("reading who is still inside one of the campaign's sequences")?;
        Ok(found.into_iter().collect())
    }

    pub(in crate::store) async fn recently_contacted(
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
            .bind(list(ids.iter().copied()))
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .doing("reading whom the campaign contacted recently")?;
        Ok(found.into_iter().collect())
    }
}
