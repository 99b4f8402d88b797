//! Planning: schedule occurrences into runs, and runs into their first attempts.
//!
//! Two layers live here. The store-side planner (free functions, generic over the store,
//! used by the engine, `herald plan` and `herald why` alike) streams a run's audience page
//! by page, loads each page's suppressions and history in bulk (two queries a page, not
//! two per contact), and lets the pure [`Planner`] decide; `why` asks the same questions
//! about one contact and keeps the answers instead of counting them. The engine's part
//! decides which schedule occurrences are due, records the ones missed beyond the
//! catch-up grace, creates each run once, and closes runs that have nothing open.
//!
//! Guarantees: an occurrence is planned at most once (its run is created once; a run left
//! in `planning` by a crash is planned again, and inserting its attempts is idempotent);
//! occurrences older than the catch-up grace are recorded as `missed`, never sent late.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tracing::instrument;

use super::{Engine, EngineError};
use crate::catalog::LoadedCampaign;
use crate::config::Settings;
use crate::domain::campaign::{Campaign, Schedule};
use crate::domain::contact::{Contact, Suppression, Tag};
use crate::domain::ledger::NewAttempt;
use crate::domain::lifecycle::RunState;
use crate::domain::plan::{Decision, PlanSummary, Planner};
use crate::domain::policy::{self, CapUse, PastAttempt, SkipReason, Verdict, contact_zone};
use crate::domain::values::Channel;
use crate::store::{Store, StoreError};

/// Contacts read per page of the audience.
pub const PAGE: i64 = 1000;

/// How far back history is read: the longest cap period.
fn history_horizon(campaign: &Campaign, settings: &Settings) -> Duration {
    settings
        .policy
        .caps
        .iter()
        .chain(campaign.caps.iter())
        .map(|c| c.period.to_chrono())
        .max()
        .unwrap_or_else(|| Duration::days(1))
}

/// Plans a run at `at` without writing anything.
pub async fn dry_run<S: Store>(
    store: &S,
    campaign: &Campaign,
    settings: &Settings,
    at: DateTime<Utc>,
) -> Result<PlanSummary, StoreError> {
    plan(store, campaign, settings, at, None, at).await
}

/// Plans a run at `at`. With `run`, each page's planned contacts become queued attempts of
/// that run (one bulk insert a page); without, nothing is written.
#[instrument(skip_all, fields(campaign = %campaign.id, run = run))]
pub async fn plan<S: Store>(
    store: &S,
    campaign: &Campaign,
    settings: &Settings,
    at: DateTime<Utc>,
    run: Option<i64>,
    now: DateTime<Utc>,
) -> Result<PlanSummary, StoreError> {
    let mut planner = Planner::new(campaign, &settings.policy, settings.default_timezone, at);
    let since = at - history_horizon(campaign, settings);
    let obligation = obligation_attribute(campaign, settings);
    let mut next = read_page(store, campaign, 0, since, at, run).await?;
    while let Some(page) = next {
        let after = page.contacts.last().map_or(0, |c| c.id);
        let mut attempts = Vec::new();
        for contact in &page.contacts {
            let relevant: Vec<Suppression> = page
                .suppressions
                .iter()
                .filter(|s| s.target.matches(contact))
                .cloned()
                .collect();
            let past = page
                .history
                .get(&contact.id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let prior = if page.in_sequence.contains(&contact.id) {
                Some(SkipReason::InSequence)
            } else if page.recent.contains(&contact.id) {
                Some(SkipReason::RecentlyContacted)
            } else {
                campaign.finished_for(contact, at)
            };
            let decision = planner.consider(contact, past, &relevant, prior);
            tracing::debug!(contact = %contact.display_masked(), ?decision, "planned");
            if let (
                Some(run_id),
                Some(Decision::Planned {
                    step, channel, at, ..
                }),
            ) = (run, decision)
            {
                attempts.push(NewAttempt {
                    run_id,
                    contact_id: contact.id,
                    step,
                    step_index: 0,
                    channel,
                    attempt_no: 1,
                    not_before: at,
                    obligation: obligation
                        .as_ref()
                        .and_then(|a| contact.attributes.get(a))
                        .map(|v| v.to_string()),
                    after_attempt: None,
                    condition: None,
                    variant: campaign.steps[0]
                        .variant_for(&campaign.id, &contact.external_id)
                        .map(str::to_string),
                    prompt: None,
                });
            }
        }
        // This page's attempts are written while the next page is read: the next page's
        // contacts are others, so nothing it reads depends on what this page writes.
        let write = async {
            if !attempts.is_empty() {
                store.insert_attempts(&attempts, now).await?;
            }
            Ok::<_, StoreError>(())
        };
        let next_page = read_page(store, campaign, after, since, at, run);
        let (written, read) = tokio::join!(write, next_page);
        written?;
        next = read?;
    }
    let summary = planner.finish();
    tracing::info!(
        considered = summary.considered,
        planned = summary.planned,
        "planned"
    );
    Ok(summary)
}

/// One page of a run's audience, with what deciding about each contact needs.
struct Page {
    contacts: Vec<Contact>,
    suppressions: Vec<Suppression>,
    history: BTreeMap<i64, Vec<PastAttempt>>,
    /// Contacts this campaign reached within its `recontact_after`.
    recent: BTreeSet<i64>,
    /// Contacts still inside a sequence an earlier run of this campaign started: a run
    /// starts no second one for them.
    in_sequence: BTreeSet<i64>,
}

/// The audience's next page after contact id `after` (`None` past the last), read in five
/// statements whatever its size (six when the audience has `recontact_after`). `run` is the
/// run being planned, whose own attempts are no earlier sequence.
async fn read_page<S: Store>(
    store: &S,
    campaign: &Campaign,
    after: i64,
    since: DateTime<Utc>,
    at: DateTime<Utc>,
    run: Option<i64>,
) -> Result<Option<Page>, StoreError> {
    let contacts = store
        .contacts_page(&campaign.audience.lists, after, PAGE)
        .await?;
    if contacts.is_empty() {
        return Ok(None);
    }
    let ids: Vec<i64> = contacts.iter().map(|c| c.id).collect();
    let suppressions = store.suppressions_for(&contacts).await?;
    let history = store.history_for(&ids, since).await?;
    let recent = match campaign.audience.recontact_after {
        Some(span) => {
            store
                .recently_contacted(&campaign.id, &ids, at - span.to_chrono())
                .await?
        }
        None => BTreeSet::new(),
    };
    let in_sequence = store.live_sequences(&campaign.id, &ids, run).await?;
    Ok(Some(Page {
        contacts,
        suppressions,
        history,
        recent,
        in_sequence,
    }))
}

/// The attribute that names a contact's obligation (debt id) for per-obligation caps.
pub fn obligation_attribute(campaign: &Campaign, settings: &Settings) -> Option<String> {
    settings
        .policy
        .caps
        .iter()
        .chain(campaign.caps.iter())
        .find_map(|c| match &c.scope {
            crate::domain::policy::CapScope::Obligation(a) => Some(a.clone()),
            _ => None,
        })
}

/// The moment a run would start: `at` if given, else the schedule's next occurrence.
pub fn run_moment(
    campaign: &Campaign,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    if let Some(at) = at {
        return Ok(at);
    }
    campaign.schedule.next_occurrence(now).ok_or_else(|| match &campaign.schedule {
        Schedule::Once { at } => format!("the campaign ran once at {at} and will not run again; give --at to plan as if it did"),
        Schedule::Cron { .. } => "the schedule has no occurrence after now (past its end); give --at to plan anyway".to_string(),
    })
}

/// One step, as it would go for the contact.
#[derive(Clone, Debug, Serialize)]
pub struct StepStory {
    pub step: String,
    pub channel: Channel,
    /// Set when a routing rule changed the step's channel.
    pub routed_from: Option<Channel>,
    /// When the step would be due (the run for the first step; later steps after their delays).
    pub due: DateTime<Utc>,
    pub verdict: Verdict,
    pub explanation: String,
    /// The moment allowed, in the contact's local time.
    pub local_time: Option<String>,
    pub window: String,
    pub caps: Vec<CapUse>,
}

/// One contact's story for one campaign.
#[derive(Clone, Debug, Serialize)]
pub struct Story {
    pub contact: String,
    pub campaign: String,
    pub run_at: DateTime<Utc>,
    pub timezone: Option<String>,
    pub lists: Vec<String>,
    pub in_lists: bool,
    pub in_segment: Option<bool>,
    pub eligible: bool,
    pub summary: String,
    pub tags: Vec<Tag>,
    pub suppressions: Vec<Suppression>,
    pub steps: Vec<StepStory>,
    pub history: Vec<PastAttempt>,
    /// What happened to the contact so far, across campaigns (latest 50 events).
    pub events: Vec<serde_json::Value>,
}

/// Explains whether, when and why (not) a contact would be contacted by a run at `at`.
pub async fn explain<S: Store>(
    store: &S,
    campaign: &Campaign,
    settings: &Settings,
    external_id: &str,
    at: DateTime<Utc>,
) -> Result<Option<Story>, StoreError> {
    let Some(contact) = store.contact(external_id).await? else {
        return Ok(None);
    };
    let lists = store.lists_of(contact.id).await?;
    let suppressions: Vec<Suppression> = store
        .suppressions_for(std::slice::from_ref(&contact))
        .await?
        .into_iter()
        .filter(|s| s.is_active(at))
        .collect();
    let since = at - history_horizon(campaign, settings);
    let history = store
        .history_for(&[contact.id], since)
        .await?
        .remove(&contact.id)
        .unwrap_or_default();
    let planner = Planner::new(campaign, &settings.policy, settings.default_timezone, at);
    let in_lists = campaign.audience.lists.is_empty()
        || campaign.audience.lists.iter().any(|l| lists.contains(l));
    let in_segment = campaign
        .audience
        .segment
        .as_ref()
        .map(|s| s.matches(&contact, at));
    let tz = contact_zone(&contact, settings.default_timezone);

    let mut steps = Vec::new();
    let mut due = at;
    for (i, step) in campaign.steps.iter().enumerate() {
        if i > 0 {
            due += step.after.to_chrono();
        }
        let channel = campaign.route(step, |seg| seg.matches(&contact, at));
        let mut question = planner.question(&contact, channel, &history, &suppressions);
        question.now = due;
        let verdict = policy::decide(&question);
        let moment = verdict.moment(due);
        let explanation = match &verdict {
            Verdict::Now => "allowed at once".to_string(),
            Verdict::Later { at, reason } => format!(
                "allowed from {} ({})",
                at.format("%Y-%m-%d %H:%M UTC"),
                reason.as_str()
            ),
            Verdict::Never { reason } => {
                format!("never: {} ({})", reason.explain(), reason.as_str())
            }
        };
        let caps = policy::cap_usage(&question, moment.unwrap_or(due));
        steps.push(StepStory {
            step: step.id.clone(),
            channel,
            routed_from: (channel != step.channel).then_some(step.channel),
            due,
            explanation,
            local_time: moment.zip(tz).map(|(m, tz)| {
                m.with_timezone(&tz)
                    .format("%a %Y-%m-%d %H:%M %Z")
                    .to_string()
            }),
            window: planner.window(channel).to_string(),
            verdict,
            caps,
        });
    }
    let first = steps.first().map(|s| &s.verdict);
    // What planning would find before asking the policy, reported as planning reports it:
    // unless the policy's own reason ranks before it.
    let in_sequence = store
        .live_sequences(&campaign.id, &[contact.id], None)
        .await?
        .contains(&contact.id);
    let prior = if in_sequence {
        Some(SkipReason::InSequence)
    } else {
        campaign.finished_for(&contact, at)
    }
    .filter(|prior| !matches!(first, Some(Verdict::Never { reason }) if reason < prior));
    let eligible = in_lists
        && in_segment != Some(false)
        && prior.is_none()
        && !matches!(first, Some(Verdict::Never { .. }));
    let summary = if !in_lists {
        format!(
            "not in the audience: the contact is in none of the lists {}",
            campaign.audience.lists.join(", ")
        )
    } else if in_segment == Some(false) {
        format!(
            "not in the audience: {} ({})",
            SkipReason::NotInSegment.explain(),
            campaign
                .audience
                .segment
                .as_ref()
                .map(|s| s.source())
                .unwrap_or("")
        )
    } else if prior == Some(SkipReason::InSequence) {
        format!(
            "skipped: {} ({}); it can enter again once that sequence ends",
            SkipReason::InSequence.explain(),
            SkipReason::InSequence.as_str()
        )
    } else if let Some(reason) = prior {
        format!("skipped: {} ({})", reason.explain(), reason.as_str())
    } else {
        match first {
            Some(Verdict::Never { reason }) => {
                format!("skipped: {} ({})", reason.explain(), reason.as_str())
            }
            Some(Verdict::Later { at, reason }) => format!(
                "eligible; first contact at {} because of {}",
                at.format("%Y-%m-%d %H:%M UTC"),
                reason.as_str()
            ),
            _ => "eligible; first contact when the run starts".to_string(),
        }
    };
    Ok(Some(Story {
        contact: contact.display_masked(),
        campaign: campaign.id.clone(),
        run_at: at,
        timezone: tz.map(|t| t.name().to_string()),
        lists,
        in_lists,
        in_segment,
        eligible,
        summary,
        tags: contact.tags.clone(),
        suppressions,
        steps,
        history,
        events: store.events_of_contact(contact.id, 50).await?,
    }))
}

impl<S: Store> Engine<S> {
    /// Plans the occurrences that have come due. The latest one not older than the
    /// catch-up grace is planned; older ones missed while no daemon ran are recorded as
    /// `missed` runs, not sent late.
    #[instrument(skip_all)]
    pub async fn plan_due_runs(&self, now: DateTime<Utc>) -> Result<usize, EngineError> {
        let mut planned = 0;
        for (campaign, occurrence) in self.due_occurrences(now).await? {
            if self
                .plan_occurrence(&campaign, occurrence, now)
                .await?
                .is_some()
            {
                planned += 1;
            }
        }
        Ok(planned)
    }

    /// The occurrences to plan now, one per campaign at most; occurrences missed beyond
    /// the catch-up grace are recorded as `missed` runs here.
    pub async fn due_occurrences(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, EngineError> {
        // Nothing can be due before the earliest known next occurrence: skip the queries.
        {
            let fire = self.next_fire.lock().expect("lock");
            if fire.len() >= self.scheduled().count()
                && fire.values().all(|t| t.is_none_or(|t| t > now))
            {
                return Ok(Vec::new());
            }
        }
        let mut out = Vec::new();
        let grace = self.settings.catch_up.to_chrono();
        let states = self.store.campaign_states().await?;
        for loaded in self.scheduled() {
            let c = &loaded.campaign;
            let cached = self.next_fire.lock().expect("lock").get(&c.id).copied();
            if cached.is_some_and(|t| t.is_none_or(|t| t > now))
                || states.get(&c.id).is_some_and(|s| !s.is_active())
            {
                continue;
            }
            let from = match self.store.last_occurrence(&c.id).await? {
                Some(last) => last + Duration::seconds(1),
                None => now - grace,
            };
            let mut due = Vec::new();
            let mut t = from;
            while let Some(occ) = c.schedule.next_occurrence(t) {
                if occ > now || due.len() > 1000 {
                    break;
                }
                due.push(occ);
                t = occ + Duration::seconds(1);
            }
            self.next_fire.lock().expect("lock").insert(
                c.id.clone(),
                c.schedule.next_occurrence(now + Duration::seconds(1)),
            );
            let Some(latest) = due.pop() else { continue };
            let version = self
                .store
                .campaign_version(&c.id, &loaded.hash, &loaded.source, now)
                .await?;
            for missed in due.iter().rev().take(50) {
                self.store
                    .create_run(&c.id, version, *missed, RunState::Missed, now)
                    .await?;
            }
            if now - latest > grace {
                self.store
                    .create_run(&c.id, version, latest, RunState::Missed, now)
                    .await?;
                tracing::warn!(campaign = %c.id, occurrence = %latest, "occurrence missed beyond the catch-up grace");
                continue;
            }
            out.push((c.id.clone(), latest));
        }
        Ok(out)
    }

    /// Plans one occurrence of a campaign (once; a second call finds its run and does nothing).
    pub async fn plan_occurrence(
        &self,
        campaign: &str,
        occurrence: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, EngineError> {
        let Some(loaded) = self.campaign(campaign) else {
            return Err(EngineError::Campaign(format!(
                "campaign `{campaign}` is not loaded"
            )));
        };
        let version = self
            .store
            .campaign_version(campaign, &loaded.hash, &loaded.source, now)
            .await?;
        self.plan_run(loaded, occurrence, version, now).await
    }

    /// Plans one occurrence: creates its run (once) and queues its first attempts.
    pub async fn plan_run(
        &self,
        loaded: &LoadedCampaign,
        occurrence: DateTime<Utc>,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, EngineError> {
        let c = &loaded.campaign;
        // A run is `planning` until its attempts are in: a run left there by a crash is
        // planned again (inserting attempts is idempotent), any other is done with.
        let run_id = match self
            .store
            .create_run(&c.id, version, occurrence, RunState::Planning, now)
            .await?
        {
            Some(id) => id,
            None => match self.store.run_by_occurrence(&c.id, occurrence).await? {
                Some(run) if run.state == RunState::Planning => run.id,
                _ => return Ok(None),
            },
        };
        let at = occurrence.max(now);
        let summary = plan(&self.store, c, &self.settings, at, Some(run_id), now).await?;
        // A big run changes the attempts table's shape: the statements that claim and read
        // it plan well only with statistics that know.
        if summary.planned >= 10_000 {
            self.store.refresh_statistics().await?;
        }
        self.store
            .set_run_summary(run_id, &serde_json::json!({ "plan": summary }))
            .await?;
        tracing::info!(campaign = %c.id, run = run_id, planned = summary.planned, "run planned");
        Ok(Some(run_id))
    }

    /// Closes runs that have nothing open any more, with their tally as the summary.
    pub async fn finish_runs(&self, now: DateTime<Utc>) -> Result<usize, EngineError> {
        let runs = self.store.finishable_runs().await?;
        for run in &runs {
            let tally = self.store.run_tally(run.id).await?;
            let mut summary = run.summary.clone();
            summary["tally"] = serde_json::to_value(&tally).expect("tally serialises");
            self.store
                .finish_run(run.id, RunState::Finished, &summary, now)
                .await?;
        }
        Ok(runs.len())
    }
}
