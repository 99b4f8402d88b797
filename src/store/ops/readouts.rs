//! Read-outs: a campaign's totals, counts by channel and state, and the reads behind
//! reports. (Exports stream their rows through the dialect's own paging: see
//! `export_rows` in each dialect.)

use super::*;

impl DialectStore {
    pub(in crate::store) async fn campaign_stats(
        &self,
        campaign: &str,
        conversions: &[Outcome],
    ) -> Result<CampaignStats, StoreError> {
        let t = sqlx::query(QUERIES.campaign_totals)
            .bind(campaign)
            .bind(list(conversions.iter().map(|o| o.as_str())))
            .fetch_one(&self.pool)
            .await
            .doing("totalling a campaign")?;
        let count = |col: &str| t.get::<Option<i64>, _>(col).unwrap_or(0);
        let volume_by_hour = sqlx::query(QUERIES.volume_by_hour)
            .bind(campaign)
            .fetch_all(&self.pool)
            .await
            .doing("counting sends by hour")?
            .iter()
            .map(|r| (r.get("hour"), r.get("channel"), r.get("n")))
            .collect();
        let outcomes = sqlx::query(QUERIES.campaign_outcomes)
            .bind(campaign)
            .fetch_all(&self.pool)
            .await
            .doing("counting outcomes")?
            .iter()
            .map(tally)
            .collect::<Result<_, _>>()?;
        let events = sqlx::query(QUERIES.event_counts)
            .bind(campaign)
            .fetch_all(&self.pool)
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

    pub(in crate::store) async fn attempt_counts(
        &self,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(QUERIES.attempt_counts)
            .fetch_all(&self.pool)
            .await
            .doing("counting attempts")?;
        Ok(rows
            .iter()
            .map(|r| (r.get("channel"), r.get("state"), r.get("n")))
            .collect())
    }

    pub(in crate::store) async fn report_contact_runs(
        &self,
        scope: &ReportScope,
        after: i64,
        last: i64,
    ) -> Result<Vec<ContactRun>, StoreError> {
        let rows = sqlx::query(QUERIES.report_contact_runs)
            .bind(&scope.campaign)
            .bind(scope.run)
            .bind(list(scope.conversions.iter().map(|o| o.as_str())))
            .bind(&scope.nps_question)
            .bind(&scope.csat_question)
            .bind(&scope.ab_step)
            .bind(after)
            .bind(last)
            .fetch_all(&self.pool)
            .await
            .doing("reading what happened to a campaign's contacts")?;
        // Flags are SQL booleans that are NULL when every operand was NULL.
        let flag = |r: &DbRow, col: &str| Ok::<_, StoreError>(r.opt_flag(col)?.unwrap_or(false));
        rows.iter()
            .map(|r| {
                let variant = r.opt_text("variant")?;
                Ok(ContactRun {
                    run_id: r.get("run_id"),
                    contact_id: r.get("contact_id"),
                    attempted: flag(r, "attempted")?,
                    delivered: flag(r, "delivered")?,
                    reached: flag(r, "reached")?,
                    wrong_number: flag(r, "wrong_number")?,
                    promised: flag(r, "promised")?,
                    paid: flag(r, "paid")?,
                    converted_by_outcome: flag(r, "converted")?,
                    responded: flag(r, "responded")?,
                    open: flag(r, "open")?,
                    skip_reason: r.opt_text("skip_reason")?,
                    on_ab_step: variant.is_some(),
                    variant: variant.filter(|v| !v.is_empty()),
                    nps: r.opt_int("nps")?,
                    csat: r.opt_int("csat")?,
                })
            })
            .collect()
    }

    pub(in crate::store) async fn report_breakdown(
        &self,
        scope: &ReportScope,
        by_step: bool,
    ) -> Result<Vec<BreakdownCounts>, StoreError> {
        let rows = sqlx::query(QUERIES.report_breakdown)
            .bind(&scope.campaign)
            .bind(scope.run)
            .bind(if by_step { "step" } else { "channel" })
            .bind(list(scope.conversions.iter().map(|o| o.as_str())))
            .bind(scope.delivery_converts)
            .bind(scope.answer_converts)
            .fetch_all(&self.pool)
            .await
            .doing("counting a campaign's contacts by step or channel")?;
        let count = |r: &DbRow, col: &str| r.get::<Option<i64>, _>(col).unwrap_or(0).max(0) as u64;
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

    pub(in crate::store) async fn report_sends_by_time(
        &self,
        scope: &ReportScope,
    ) -> Result<Vec<SendsAt>, StoreError> {
        let rows = sqlx::query(QUERIES.report_sends_by_time)
            .bind(&scope.campaign)
            .bind(scope.run)
            .bind(list(scope.conversions.iter().map(|o| o.as_str())))
            .bind(scope.delivery_converts)
            .bind(scope.answer_converts)
            .fetch_all(&self.pool)
            .await
            .doing("counting a campaign's sends by time")?;
        rows.iter()
            .map(|r| {
                Ok(SendsAt {
                    at: quarter_hour(r)?,
                    result: r.get("result"),
                    sends: r.get::<i64, _>("sends").max(0) as u64,
                })
            })
            .collect()
    }

    pub(in crate::store) async fn count_events(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(QUERIES.count_events)
            .fetch_one(&self.pool)
            .await
            .doing("counting events")
    }
}
