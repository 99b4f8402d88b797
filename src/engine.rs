//! The engine: turns schedules into runs, due attempts into sends, and provider events
//! into outcomes, retries, next steps and tags. It knows the store, the catalog, the
//! providers and the clock; it does not know the queue. Each method is one step of work
//! that returns how much it did, so callers (the daemon's workers, `run --until-idle`,
//! the simulator, the tests) can drain work without sleeping.
//!
//! Guarantees kept here:
//! - the contact policy is checked again at send time: an opt-out or DNC entry recorded
//!   after planning skips the send; a closed window reschedules it, never sends it;
//! - an attempt moves queued → sending → sent → done with conditional updates, and the
//!   provider always gets the attempt's idempotency key, so a repeat is harmless;
//! - a provider event is applied once: the inbox ignores a second copy, and an attempt
//!   that is already final is not closed again;
//! - a channel's `rate` holds across campaigns and across every daemon on the database:
//!   sends take tokens from a bucket the store keeps, never from one of this process.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tracing::instrument;

use crate::catalog::{Catalog, LoadedCampaign};
use crate::channel::breaker::{Breaker, Gate, Tripped};
use crate::channel::{Outbound, Provider, SendError, SimProvider};
use crate::clock::{Clock, VirtualClock};
use crate::config::Settings;
use crate::domain::campaign::{Campaign, RateLimit, Step};
use crate::domain::contact::{Contact, Suppression, SuppressionKind, SuppressionTarget, Tag};
use crate::domain::ledger::{self, Attempt, AttemptState, InboxItem, NewAttempt, NextMove, Report};
use crate::domain::outcome::Outcome;
use crate::domain::policy::{self, PastAttempt, Verdict};
use crate::domain::survey;
use crate::domain::values::{Channel, ChannelFamily};
use crate::planning;
use crate::store::{Store, StoreError, Write, WriteGroup};
use crate::templates::RenderFor;

/// Attempts claimed per dispatch step.
pub const BATCH: i64 = 200;
/// How long a claimed attempt may stay in `sending` before it is taken to be abandoned.
pub const LEASE: Duration = Duration::minutes(5);
/// A daemon not seen for this long is taken to be dead: the others send the attempts it
/// claimed back to the queue. Daemons say they are alive every second.
pub const DAEMON_SILENCE: Duration = Duration::seconds(15);

/// This machine's host name (`host` when it cannot be read).
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}

/// A name for this process that no other process shares, on this host or another:
/// `herald-HOST-PID-RANDOM`.
pub fn instance_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32;
    format!("herald-{}-{}-{random:08x}", host_name(), std::process::id())
}

/// Temporary send failures after which an attempt is given up (closed as failed): with
/// the backoff below, between half an hour and an hour of retries. Waits for an open
/// circuit breaker do not count.
pub const MAX_SEND_FAILURES: i64 = 8;
/// The first retry's backoff, doubled for each later failure up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::seconds(30);
pub const MAX_BACKOFF: Duration = Duration::minutes(30);

/// The wait before retrying a send that failed `failures` times: exponential, capped,
/// with "equal jitter" (between half and all of it) drawn from the idempotency key, so
/// the attempts of an outage do not all come back at the same instant, and a given
/// attempt's schedule is reproducible.
pub fn backoff(key: &str, failures: i64) -> Duration {
    let exp = (failures - 1).clamp(0, 16) as u32;
    let full = BASE_BACKOFF
        .checked_mul(2i32.pow(exp))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF);
    let half = full / 2;
    half + spread(key, failures, half)
}

/// A share of `range` drawn from (key, salt): the same for the same inputs.
fn spread(key: &str, salt: i64, range: Duration) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    (key, salt).hash(&mut h);
    let ms = range.num_milliseconds().max(1) as u64;
    Duration::milliseconds((h.finish() % ms) as i64)
}

/// Simulated time moves in steps of at least this: an event is handled up to this late.
pub const SIM_RESOLUTION: Duration = Duration::seconds(60);

fn round_up(t: DateTime<Utc>, step: Duration) -> DateTime<Utc> {
    let s = step.num_seconds();
    let secs = t.timestamp();
    let rounded = secs + (s - secs.rem_euclid(s)) % s;
    DateTime::from_timestamp(rounded, 0).unwrap_or(t)
}

/// How much one step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Work {
    pub runs_planned: usize,
    pub sent: usize,
    pub rescheduled: usize,
    pub skipped: usize,
    pub events_applied: usize,
    pub runs_finished: usize,
}

impl Work {
    pub fn any(&self) -> bool {
        self.runs_planned
            + self.sent
            + self.rescheduled
            + self.skipped
            + self.events_applied
            + self.runs_finished
            > 0
    }
}

impl std::ops::AddAssign for Work {
    fn add_assign(&mut self, o: Work) {
        self.runs_planned += o.runs_planned;
        self.sent += o.sent;
        self.rescheduled += o.rescheduled;
        self.skipped += o.skipped;
        self.events_applied += o.events_applied;
        self.runs_finished += o.runs_finished;
    }
}

/// Which campaigns an engine fires on schedule.
#[derive(Clone, Debug)]
pub enum Scope {
    All,
    Only(String),
}

pub struct Engine<S: Store> {
    pub store: S,
    catalog: Catalog,
    settings: Settings,
    providers: BTreeMap<Channel, Provider>,
    clock: Arc<dyn Clock>,
    scope: Scope,
    /// Per campaign, the next schedule occurrence after the last check (`None`: the
    /// schedule has ended), so idle ticks ask the store nothing about schedules. A paused
    /// campaign's entry is not advanced, so it is looked at again until it resumes.
    next_fire: std::sync::Mutex<BTreeMap<String, Option<DateTime<Utc>>>>,
    /// Channel-wide sending rates (`[sms] rate`...), across campaigns and daemons: their
    /// token buckets are kept in the database.
    rates: BTreeMap<Channel, RateLimit>,
    /// How long providers take to accept sends (served by `/metrics`).
    pub send_latency: Arc<crate::metrics::SendLatency>,
    /// The name this engine claims attempts under (unique per process).
    pub instance: String,
    /// Each channel's provider circuit breaker (this process's view of its health).
    breakers: std::sync::Mutex<BTreeMap<Channel, Breaker>>,
}

/// The database's token bucket for a channel's rate.
fn rate_bucket(channel: Channel) -> String {
    format!("channel:{channel}")
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Campaign(String),
}

impl<S: Store> Engine<S> {
    /// An engine whose channels all use the simulated provider.
    pub fn simulated(
        store: S,
        catalog: Catalog,
        settings: Settings,
        clock: Arc<dyn Clock>,
        scope: Scope,
    ) -> Self {
        let sim = Provider::Sim(SimProvider::new(settings.sim.clone()));
        let providers = Channel::ALL.into_iter().map(|c| (c, sim.clone())).collect();
        let rates = settings.channel_rates.iter().copied().collect();
        Engine {
            store,
            catalog,
            settings,
            providers,
            clock,
            scope,
            next_fire: Default::default(),
            send_latency: Default::default(),
            instance: instance_name(),
            rates,
            breakers: Default::default(),
        }
    }

    /// An engine with the providers the settings choose (SMTP for e-mail, HTTP providers
    /// for SMS and voice bots when configured; the simulated provider otherwise).
    pub fn configured(
        store: S,
        catalog: Catalog,
        settings: Settings,
        clock: Arc<dyn Clock>,
        scope: Scope,
    ) -> Result<Self, EngineError> {
        let mut engine = Self::simulated(store, catalog, settings, clock, scope);
        if let Some(smtp) = &engine.settings.smtp {
            let provider =
                crate::channel::SmtpProvider::new(smtp).map_err(EngineError::Campaign)?;
            engine
                .providers
                .insert(Channel::Email, Provider::Smtp(provider));
        }
        if engine.settings.agent_desk {
            engine.providers.insert(Channel::Agent, Provider::Desk);
        }
        for (channel, cfg) in engine.settings.http_providers.clone() {
            let provider =
                crate::channel::HttpProvider::new(&cfg, channel).map_err(EngineError::Campaign)?;
            engine.providers.insert(
                channel,
                Provider::Http(provider, engine.settings.public_url.clone()),
            );
        }
        Ok(engine)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn campaign(&self, id: &str) -> Option<&LoadedCampaign> {
        self.catalog.campaigns.iter().find(|c| c.campaign.id == id)
    }

    fn scheduled(&self) -> impl Iterator<Item = &LoadedCampaign> {
        self.catalog.campaigns.iter().filter(|c| match &self.scope {
            Scope::All => true,
            Scope::Only(id) => &c.campaign.id == id,
        })
    }

    /// One pass over everything due now: runs to plan, provider events, attempts to send,
    /// runs to close.
    pub async fn tick(&self) -> Result<Work, EngineError> {
        let now = self.now();
        let mut work = Work {
            runs_planned: self.plan_due_runs(now).await?,
            ..Work::default()
        };
        work.events_applied += self.apply_inbox(now, BATCH).await?;
        work += self.dispatch_due(now, BATCH).await?;
        if work.any() {
            work.runs_finished += self.finish_runs(now).await?;
        }
        Ok(work)
    }

    /// Ticks until nothing is due now.
    pub async fn run_until_idle(&self) -> Result<Work, EngineError> {
        let mut total = Work::default();
        let now = self.now();
        self.store
            .requeue_stale(now - LEASE, now - DAEMON_SILENCE, now)
            .await?;
        loop {
            let w = self.tick().await?;
            if !w.any() {
                return Ok(total);
            }
            total += w;
        }
    }

    /// Runs over virtual time: does what is due, then moves the clock to the next moment
    /// something is due, until `until`. Two simulated weeks take seconds.
    pub async fn simulate(
        &self,
        clock: &VirtualClock,
        until: DateTime<Utc>,
    ) -> Result<Work, EngineError> {
        let mut total = Work::default();
        loop {
            let w = self.tick().await?;
            total += w;
            if w.any() {
                continue;
            }
            let now = clock.now();
            match self.next_wakeup(now).await? {
                // Jump to the next due moment, rounded up to the simulation's resolution so
                // that events a few seconds apart are handled in one tick.
                Some(t) if t <= until => {
                    clock.set(round_up(t.max(now + Duration::seconds(1)), SIM_RESOLUTION))
                }
                _ => return Ok(total),
            }
        }
    }

    /// The next moment something will be due: a queued attempt, a provider event, or a
    /// schedule occurrence.
    pub async fn next_wakeup(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, EngineError> {
        let mut next = self.store.next_due().await?;
        let states = self.store.campaign_states().await?;
        for c in self.scheduled() {
            if states.get(&c.campaign.id).is_some_and(|s| s != "active") {
                continue;
            }
            if let Some(t) = c
                .campaign
                .schedule
                .next_occurrence(now + Duration::seconds(1))
            {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        Ok(next)
    }

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
                || states.get(&c.id).is_some_and(|s| s != "active")
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
                    .create_run(&c.id, version, *missed, "missed", now)
                    .await?;
            }
            if now - latest > grace {
                self.store
                    .create_run(&c.id, version, latest, "missed", now)
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
            .create_run(&c.id, version, occurrence, "planning", now)
            .await?
        {
            Some(id) => id,
            None => match self.store.run_by_occurrence(&c.id, occurrence).await? {
                Some(run) if run.state == "planning" => run.id,
                _ => return Ok(None),
            },
        };
        let at = occurrence.max(now);
        let summary = planning::plan(&self.store, c, &self.settings, at, Some(run_id), now).await?;
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

    /// Sends what is due: claims a batch, checks each attempt against the policy again,
    /// renders and sends it, or reschedules or skips it.
    #[instrument(skip_all)]
    pub async fn dispatch_due(&self, now: DateTime<Utc>, limit: i64) -> Result<Work, EngineError> {
        let batch = self.store.claim_due(now, limit, &self.instance).await?;
        self.dispatch_claimed(&batch, now).await
    }

    /// Dispatches attempts this process claimed (state `sending`): the send-time checks,
    /// then the send, reschedule or skip of each. The ledger writes of the whole batch go
    /// in one transaction after the sends; a crash before it leaves the attempts claimed,
    /// to be sent again under the same idempotency key.
    pub async fn dispatch_claimed(
        &self,
        batch: &[Attempt],
        now: DateTime<Utc>,
    ) -> Result<Work, EngineError> {
        let mut work = Work::default();
        if batch.is_empty() {
            return Ok(work);
        }
        // What the checks need for the whole batch, in a handful of queries.
        let mut contact_ids: Vec<i64> = batch.iter().map(|a| a.contact_id).collect();
        contact_ids.sort_unstable();
        contact_ids.dedup();
        let mut run_ids: Vec<i64> = batch.iter().map(|a| a.run_id).collect();
        run_ids.sort_unstable();
        run_ids.dedup();
        let contacts: Vec<Contact> = self.store.contacts_by_ids(&contact_ids).await?;
        let suppressions = self.store.suppressions_for(&contacts).await?;
        let mut ctx = BatchContext {
            history: self
                .store
                .history_for(&contact_ids, now - Duration::days(31))
                .await?,
            earlier: self
                .store
                .attempts_of_contacts_in_runs(&run_ids, &contact_ids)
                .await?,
            contacts: contacts.into_iter().map(|c| (c.id, c)).collect(),
            suppressions,
            rates: BatchRates::default(),
        };
        for attempt in batch {
            *ctx.rates.undecided.entry(attempt.channel).or_default() += 1;
        }
        let mut groups = Vec::with_capacity(batch.len());
        let mut kinds = Vec::with_capacity(batch.len());
        for attempt in batch {
            let decided = self.dispatch_one(attempt, &mut ctx, now).await?;
            if let Some(n) = ctx.rates.undecided.get_mut(&attempt.channel) {
                *n -= 1;
            }
            match decided {
                Decided::Write(group, kind) => {
                    groups.push(group);
                    kinds.push(kind);
                }
                Decided::Written(kind) => work.count(kind),
            }
        }
        let held = self.store.apply_writes(&groups, now).await?;
        for (kind, held) in kinds.into_iter().zip(held) {
            // A guard that did not hold: another dispatcher took the attempt over.
            if held {
                work.count(kind);
            }
        }
        Ok(work)
    }

    fn skip(attempt: &Attempt, reason: &str, now: DateTime<Utc>) -> Decided {
        Decided::Write(
            WriteGroup {
                guard: Some(Write::Close {
                    id: attempt.id,
                    state: AttemptState::Skipped,
                    outcome: None,
                    connected: false,
                    reason: Some(reason.into()),
                }),
                then: vec![event(
                    attempt.id,
                    "skipped",
                    Some(reason),
                    serde_json::Value::Null,
                    now,
                )],
            },
            Dispatched::Skipped,
        )
    }

    #[instrument(skip_all, fields(campaign = %attempt.campaign, run = attempt.run_id, attempt = attempt.id))]
    async fn dispatch_one(
        &self,
        attempt: &Attempt,
        ctx: &mut BatchContext,
        now: DateTime<Utc>,
    ) -> Result<Decided, EngineError> {
        let Some(loaded) = self.campaign(&attempt.campaign) else {
            return Ok(Self::skip(attempt, "campaign_not_loaded", now));
        };
        let campaign = &loaded.campaign;
        let Some(contact) = ctx.contacts.get(&attempt.contact_id) else {
            return Ok(Self::skip(attempt, "contact_deleted", now));
        };
        let earlier: Vec<&Attempt> = ctx
            .earlier
            .iter()
            .filter(|a| {
                a.run_id == attempt.run_id
                    && a.contact_id == attempt.contact_id
                    && a.id != attempt.id
            })
            .collect();
        // An opt-out in this run stops every later step, whatever its channel.
        if earlier.iter().any(|a| a.outcome == Some(Outcome::OptedOut)) {
            return Ok(Self::skip(attempt, "opted_out", now));
        }
        // A `no_reply` step goes only to those who did not answer the step before.
        if attempt.condition == Some(Outcome::NoReply)
            && earlier.iter().any(|a| {
                a.step_index < attempt.step_index
                    && (a.connected || a.outcome == Some(Outcome::Replied))
            })
        {
            return Ok(Self::skip(attempt, "condition_not_met", now));
        }
        let Some(step) = campaign.steps.get(attempt.step_index) else {
            return Ok(Self::skip(attempt, "step_removed", now));
        };
        // The control group is recorded, never contacted.
        if attempt.variant.as_deref() == Some(crate::domain::campaign::HOLDOUT) {
            return Ok(Self::skip(attempt, "holdout", now));
        }
        // Survey conditions are read against the answers as they are now: a follow-up to
        // a question answered meanwhile, or a step for detractors when the person has
        // since changed their score, is not sent.
        if let Some(survey) = &campaign.survey
            && (attempt.prompt.is_some()
                || attempt
                    .condition
                    .is_some_and(|c| c.survey_question_needed().is_some()))
        {
            let answers = self
                .store
                .responses_of_contact_in_run(attempt.run_id, attempt.contact_id)
                .await?;
            if let Some(q) = survey::asked_by(survey, attempt.prompt.as_deref())
                .filter(|_| attempt.prompt.is_some())
                && answers.iter().any(|r| r.question == q.id)
            {
                return Ok(Self::skip(attempt, "already_answered", now));
            }
            if let Some(condition) = attempt.condition
                && !survey::condition_holds(survey, &answers, condition)
            {
                return Ok(Self::skip(attempt, "condition_not_met", now));
            }
        }
        // The policy again, at send time: suppressions, consent, window, caps.
        let window = self
            .settings
            .policy
            .effective_window(attempt.channel, campaign.windows.get(&attempt.channel));
        // A survey follow-up answers the person's own reply: windows, consent and
        // suppressions hold for it, frequency caps do not.
        let caps: Vec<_> = if attempt.prompt.is_some() {
            Vec::new()
        } else {
            self.settings
                .policy
                .caps
                .iter()
                .chain(campaign.caps.iter())
                .cloned()
                .collect()
        };
        let history = ctx
            .history
            .get(&contact.id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let question = policy::Question {
            contact,
            channel: attempt.channel,
            kind: campaign.kind,
            window: &window,
            caps: &caps,
            history,
            suppressions: &ctx.suppressions,
            default_timezone: self.settings.default_timezone,
            now,
        };
        match policy::decide(&question) {
            Verdict::Now => {}
            Verdict::Later { at, reason } => {
                let guard = Write::Reschedule {
                    id: attempt.id,
                    not_before: at,
                    reason: reason.code().into(),
                };
                return Ok(Decided::Write(
                    WriteGroup {
                        guard: Some(guard),
                        then: vec![],
                    },
                    Dispatched::Rescheduled,
                ));
            }
            Verdict::Never { reason } => return Ok(Self::skip(attempt, reason.code(), now)),
        }
        // A provider in an outage is left alone until its breaker's cool-down ends.
        if let Gate::Wait(until) = self.breaker(attempt.channel, |b| b.gate(now)) {
            let guard = Write::Reschedule {
                id: attempt.id,
                not_before: until + spread(&attempt.idempotency_key, 0, Duration::seconds(10)),
                reason: "provider_paused".into(),
            };
            return Ok(Decided::Write(
                WriteGroup {
                    guard: Some(guard),
                    then: vec![],
                },
                Dispatched::Rescheduled,
            ));
        }
        // The channel's rate across campaigns and daemons: wait for a token rather than
        // send over it.
        if let Some(next) = self
            .channel_token(attempt.channel, &mut ctx.rates, now)
            .await?
        {
            let guard = Write::Reschedule {
                id: attempt.id,
                not_before: next,
                reason: "channel_rate_limit".into(),
            };
            return Ok(Decided::Write(
                WriteGroup {
                    guard: Some(guard),
                    then: vec![],
                },
                Dispatched::Rescheduled,
            ));
        }
        let unsubscribe_url = self.unsubscribe_url(&attempt.idempotency_key);
        let survey_url = self.survey_url(&attempt.idempotency_key);
        let follow_up = attempt
            .prompt
            .as_deref()
            .and_then(|p| Some((p, campaign.survey.as_ref()?)));
        let rendered = match step.template_of(attempt.variant.as_deref()) {
            // A survey follow-up says the question, not the step's template.
            _ if follow_up.is_some() => {
                let (code, survey) = follow_up.expect("checked");
                let Some(question) = survey::asked_by(survey, Some(code)) else {
                    return Ok(Self::skip(attempt, "question_removed", now));
                };
                let text = survey::prompt_text(question, code.starts_with("clarify:"));
                Some(crate::templates::Rendered::plain_sms(&text, code))
            }
            Some(name) => {
                match self.catalog.templates.render(
                    attempt.channel,
                    name,
                    &RenderFor {
                        contact,
                        campaign: Some(campaign),
                        step_id: Some(&step.id),
                        unsubscribe_url: Some(&unsubscribe_url),
                        survey_url: Some(&survey_url),
                    },
                    &self.settings.default_locale,
                ) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        self.fail(attempt, campaign, contact, &e, now).await?;
                        return Ok(Decided::Written(Dispatched::Skipped));
                    }
                }
            }
            None => None,
        };
        let flow = self.flow_of(campaign, step, attempt);
        let provider = &self.providers[&attempt.channel];
        let out = Outbound {
            attempt,
            contact,
            message: rendered.as_ref(),
            flow,
            campaign_kind: campaign.kind,
            unsubscribe_url: &unsubscribe_url,
            questions: asked_questions(campaign, attempt),
        };
        let started = std::time::Instant::now();
        let sent = provider.send(&out, now).await;
        self.send_latency.observe(started.elapsed().as_secs_f64());
        self.note_provider_health(attempt.channel, provider.name(), &sent, now);
        match sent {
            Ok(receipt) => {
                // Later attempts of this batch see this one in the contact's history (caps).
                ctx.history
                    .entry(contact.id)
                    .or_default()
                    .push(PastAttempt {
                        at: now,
                        channel: attempt.channel,
                        connected: false,
                        obligation: attempt.obligation.clone(),
                    });
                // What went out, for audits and A/B reports: the template (or the survey
                // prompt) and the variant.
                let payload = serde_json::json!({
                    "provider": provider.name(),
                    "ref": receipt.provider_ref,
                    "template": rendered.as_ref().map(|r| r.template.as_str()),
                    "variant": attempt.variant,
                });
                let mut then = vec![event(attempt.id, "sent", None, payload, now)];
                then.extend(
                    receipt
                        .later
                        .into_iter()
                        .map(|(event_key, report, due_at)| Write::Inbox {
                            provider: provider.name().into(),
                            event_key,
                            idempotency_key: attempt.idempotency_key.clone(),
                            report,
                            due_at,
                        }),
                );
                // Steps that follow on time alone (no condition, or no reply) are queued now.
                if let Some(next) = ledger::timed_next_step(campaign, attempt.step_index)
                    && attempt.prompt.is_none()
                {
                    then.push(Write::Attempt(next_attempt(
                        attempt,
                        contact,
                        campaign,
                        attempt.step_index + 1,
                        next,
                        now + next.after.to_chrono(),
                    )));
                }
                tracing::debug!(contact = %contact.display_masked(), channel = %attempt.channel, "sent");
                let guard = Write::MarkSent {
                    id: attempt.id,
                    at: now,
                    provider_ref: receipt.provider_ref,
                };
                Ok(Decided::Write(
                    WriteGroup {
                        guard: Some(guard),
                        then,
                    },
                    Dispatched::Sent,
                ))
            }
            Err(e @ (SendError::Temporary(_) | SendError::Throttled { .. })) => {
                let failures = self.store.send_failures(attempt.id).await? + 1;
                let why = e.to_string();
                if failures >= MAX_SEND_FAILURES {
                    let why = format!(
                        "provider_unavailable: gave up after {failures} temporary failures; last: {why}"
                    );
                    self.fail(attempt, campaign, contact, &why, now).await?;
                    return Ok(Decided::Written(Dispatched::Skipped));
                }
                let mut not_before = now + backoff(&attempt.idempotency_key, failures);
                if let SendError::Throttled { until, .. } = e {
                    not_before = not_before.max(until);
                }
                let guard = Write::Reschedule {
                    id: attempt.id,
                    not_before,
                    reason: "provider_unavailable".into(),
                };
                let then = vec![event(
                    attempt.id,
                    "send_failed",
                    Some(&why),
                    serde_json::json!({ "failures": failures, "retry_at": not_before }),
                    now,
                )];
                Ok(Decided::Write(
                    WriteGroup {
                        guard: Some(guard),
                        then,
                    },
                    Dispatched::Rescheduled,
                ))
            }
            Err(SendError::BadAddress(why)) => {
                self.suppress_dead_address(attempt, contact, campaign, &why, now)
                    .await?;
                self.fail(attempt, campaign, contact, &why, now).await?;
                Ok(Decided::Written(Dispatched::Skipped))
            }
            Err(SendError::Permanent(why)) => {
                self.fail(attempt, campaign, contact, &why, now).await?;
                Ok(Decided::Written(Dispatched::Skipped))
            }
        }
    }

    /// Runs `f` on the channel's circuit breaker.
    fn breaker<T>(&self, channel: Channel, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut breakers = self.breakers.lock().expect("breakers lock");
        f(breakers.entry(channel).or_default())
    }

    /// Tells the channel's breaker how a send went, and says so in the log when the
    /// provider goes down or comes back.
    fn note_provider_health(
        &self,
        channel: Channel,
        provider: &str,
        sent: &Result<crate::channel::Receipt, SendError>,
        now: DateTime<Utc>,
    ) {
        match sent {
            Err(e) if e.is_temporary() => {
                if let Tripped::Until(until) = self.breaker(channel, |b| b.failure(now)) {
                    tracing::warn!(%channel, provider, %until, error = %e, "provider failing: channel paused");
                }
            }
            // An answer, even a refusal of this attempt, says the provider is up.
            _ => {
                if self.breaker(channel, Breaker::success) {
                    tracing::info!(%channel, provider, "provider answering again: channel resumed");
                }
            }
        }
    }

    /// Is the channel's provider paused by its breaker now (for status and metrics)?
    pub fn paused_channels(&self) -> Vec<Channel> {
        let breakers = self.breakers.lock().expect("breakers lock");
        breakers
            .iter()
            .filter(|(_, b)| b.is_open())
            .map(|(c, _)| *c)
            .collect()
    }

    /// Suppresses an address the provider says is dead (an invalid number, a hard
    /// bounce), on every channel that uses it, so no campaign tries it again.
    async fn suppress_dead_address(
        &self,
        attempt: &Attempt,
        contact: &Contact,
        campaign: &Campaign,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let target = match attempt.channel.family() {
            ChannelFamily::Email => contact.email.clone().map(SuppressionTarget::Email),
            _ => contact.phone.clone().map(SuppressionTarget::Phone),
        };
        let Some(target) = target else {
            return Ok(());
        };
        let reason = match attempt.channel.family() {
            ChannelFamily::Email => "hard bounce",
            _ => "invalid number",
        };
        let entry = Suppression {
            target,
            kind: SuppressionKind::Bounce,
            channel: None,
            reason: format!("{reason}: {}", why.chars().take(200).collect::<String>()),
            source: format!("{}/run {}", campaign.id, attempt.run_id),
            created_at: now,
            expires_at: None,
        };
        self.store.upsert_suppressions(&[entry]).await?;
        tracing::info!(contact = %contact.display_masked(), channel = %attempt.channel, reason, "address suppressed");
        Ok(())
    }

    /// Takes a token of the channel's rate for one send of this batch: `None` when the
    /// send may go now, the moment to try again otherwise.
    ///
    /// The first attempt of a channel that needs a token asks the shared bucket, once, for
    /// as many as the batch has attempts of that channel still undecided; the rest of the
    /// batch is served from that grant. Attempts beyond it wait for the tokens to come,
    /// one rate interval apart, so they do not all wake at the same instant. Tokens granted
    /// to attempts that then do not send (skipped at send time, a template that fails) are
    /// lost: the channel sends a little under its rate then, never over it.
    async fn channel_token(
        &self,
        channel: Channel,
        batch: &mut BatchRates,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, EngineError> {
        let Some(rate) = self.rates.get(&channel) else {
            return Ok(None);
        };
        let tokens = match batch.taken.entry(channel) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let want = batch.undecided.get(&channel).copied().unwrap_or(0).max(1);
                let grant = self
                    .store
                    .take_tokens(
                        &rate_bucket(channel),
                        rate.per_second,
                        rate.burst(),
                        want,
                        now,
                    )
                    .await?;
                e.insert(BatchTokens {
                    left: grant.granted,
                    waiting: 0,
                    next_token_at: grant.next_token_at,
                })
            }
        };
        if tokens.left > 0 {
            tokens.left -= 1;
            return Ok(None);
        }
        let spread_us = (f64::from(tokens.waiting) / rate.per_second * 1e6).ceil();
        tokens.waiting += 1;
        Ok(Some(
            tokens.next_token_at + Duration::microseconds(spread_us.min(1e15) as i64),
        ))
    }

    /// The signed survey link of an attempt: its answer links are `URL/QUESTION/VALUE`.
    pub fn survey_url(&self, key: &str) -> String {
        format!(
            "{}/s/{}",
            self.settings.public_url,
            crate::signing::link_token(self.settings.secret.bytes(), key)
        )
    }

    /// The signed one-click unsubscribe link of an attempt.
    pub fn unsubscribe_url(&self, key: &str) -> String {
        format!(
            "{}/u/{}",
            self.settings.public_url,
            crate::signing::link_token(self.settings.secret.bytes(), key)
        )
    }

    /// The bot flow of a step, or of the routing rule that sent it to the bot.
    fn flow_of<'a>(
        &self,
        campaign: &'a Campaign,
        step: &'a Step,
        attempt: &Attempt,
    ) -> Option<&'a str> {
        if attempt.channel != Channel::VoiceBot {
            return None;
        }
        step.flow_of(attempt.variant.as_deref()).or_else(|| {
            campaign
                .routing
                .iter()
                .find(|r| {
                    r.channel == Channel::VoiceBot && r.step.as_ref().is_none_or(|s| *s == step.id)
                })
                .and_then(|r| r.flow.as_deref())
        })
    }

    /// Applies provider events that are due: each once, in the order they happened. The
    /// writes of the whole batch go in one transaction; each item is marked applied in the
    /// same group as its effects, so an item applied twice has its effects once.
    #[instrument(skip_all)]
    pub async fn apply_inbox(&self, now: DateTime<Utc>, limit: i64) -> Result<usize, EngineError> {
        let items = self.store.inbox_due(now, limit).await?;
        if items.is_empty() {
            return Ok(0);
        }
        let mut keys: Vec<String> = items.iter().map(|i| i.idempotency_key.clone()).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut attempts: BTreeMap<String, Attempt> = self
            .store
            .attempts_by_keys(&keys)
            .await?
            .into_iter()
            .map(|a| (a.idempotency_key.clone(), a))
            .collect();
        let mut ids: Vec<i64> = attempts.values().map(|a| a.contact_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let contacts: BTreeMap<i64, Contact> = self
            .store
            .contacts_by_ids(&ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let mut groups = Vec::with_capacity(items.len());
        let mut deferred = 0;
        for item in &items {
            if let Some(attempt) = attempts.get_mut(&item.idempotency_key) {
                // A dispatcher holds the attempt and is about to record its send (a quick
                // provider reports before the batch's ledger write): the event waits for
                // that write, or for the claim to go back to the queue if it died.
                if attempt.state == AttemptState::Sending {
                    deferred += 1;
                    continue;
                }
                self.record_seen_send(item, attempt, &mut groups);
            }
            match attempts
                .get_mut(&item.idempotency_key)
                .and_then(|a| contacts.get(&a.contact_id).map(|c| (a, c)))
            {
                Some((attempt, contact)) if self.is_survey_answer(item, attempt) => {
                    // A survey answer reads the conversation so far, so what came before
                    // it in this batch is written first.
                    self.store.apply_writes(&groups, now).await?;
                    groups.clear();
                    self.apply_answer(item, attempt, contact, now).await?;
                }
                Some((attempt, contact)) => {
                    self.apply(item, attempt, contact, now, &mut groups).await?
                }
                None => {
                    tracing::warn!(provider = %item.provider, event = %item.event_key, "event for an unknown attempt or contact ignored");
                    groups.push(WriteGroup {
                        guard: Some(Write::InboxApplied { id: item.id }),
                        then: vec![],
                    });
                }
            }
        }
        self.store.apply_writes(&groups, now).await?;
        Ok(items.len() - deferred)
    }

    /// A provider's event about a queued attempt herald has not recorded as sent (a crash
    /// came between the provider's acceptance and the ledger's write, and the claim went
    /// back to the queue; or the answer was lost and the send is waiting for a retry)
    /// proves the send: it is recorded first, with its `sent` event, so the attempt closes
    /// as sent and the event log stays whole. The guard records it once, however many
    /// events or dispatchers race for it; a resend under the same key meanwhile is
    /// answered by the provider as a repeat.
    fn record_seen_send(
        &self,
        item: &InboxItem,
        attempt: &mut Attempt,
        groups: &mut Vec<WriteGroup>,
    ) {
        if attempt.state != AttemptState::Queued || attempt.sent_at.is_some() {
            return;
        }
        let at = item.due_at;
        groups.push(WriteGroup {
            guard: Some(Write::SendSeen { id: attempt.id, at }),
            then: vec![event(
                attempt.id,
                "sent",
                None,
                serde_json::json!({
                    "provider": item.provider,
                    "ref": serde_json::Value::Null,
                    "seen_from": item.event_key,
                }),
                at,
            )],
        });
        tracing::info!(attempt = attempt.id, provider = %item.provider, "a send recorded from the provider's report (its answer was lost)");
        attempt.state = AttemptState::Sent;
        attempt.sent_at = Some(at);
    }

    /// The writes one event leads to. `attempt` is kept up to date for later events of the
    /// same batch.
    async fn apply(
        &self,
        item: &InboxItem,
        attempt: &mut Attempt,
        contact: &Contact,
        now: DateTime<Utc>,
        groups: &mut Vec<WriteGroup>,
    ) -> Result<(), EngineError> {
        let applied = Some(Write::InboxApplied { id: item.id });
        let Some(loaded) = self.campaign(&attempt.campaign) else {
            groups.push(WriteGroup {
                guard: applied,
                then: vec![],
            });
            return Ok(());
        };
        let campaign = &loaded.campaign;
        let at = item.due_at;
        let (outcome, detail, payload) = match &item.report {
            Report::Reply { text } if ledger::is_opt_out(text, &self.settings.opt_out_keywords) => {
                (Outcome::OptedOut, None, serde_json::json!({ "text": text }))
            }
            Report::Reply { text } => (Outcome::Replied, None, serde_json::json!({ "text": text })),
            Report::Outcome { outcome, detail } => {
                (*outcome, detail.clone(), serde_json::Value::Null)
            }
            // Answers to a campaign without that question (its definition changed).
            Report::Answer { question, text } => (
                Outcome::Replied,
                Some(format!("answer to unknown question `{question}`")),
                serde_json::json!({ "question": question, "text": text }),
            ),
        };
        let mut then = vec![event(
            attempt.id,
            outcome.as_str(),
            detail.as_deref(),
            payload,
            at,
        )];
        if outcome == Outcome::OptedOut {
            // Rare and far-reaching (every campaign on the channel family): written at once.
            groups.push(WriteGroup {
                guard: applied,
                then,
            });
            self.opt_out(attempt, contact, campaign, now).await?;
            attempt.outcome = Some(Outcome::OptedOut);
            return Ok(());
        }
        // A bounce the provider reports later is as final as one at send time.
        if outcome == Outcome::Bounced {
            let why = detail.as_deref().unwrap_or("reported by the provider");
            self.suppress_dead_address(attempt, contact, campaign, why, now)
                .await?;
        }
        if outcome == Outcome::Replied
            || (!ledger::is_final(outcome, attempt.channel) && ledger::is_connection(outcome))
        {
            then.push(Write::Connected { id: attempt.id });
            attempt.connected = true;
        }
        let closes = ledger::is_final(outcome, attempt.channel) && outcome != Outcome::Replied;
        if !closes {
            then.extend(self.rule_writes(attempt, contact, campaign, outcome, now));
        }
        groups.push(WriteGroup {
            guard: applied,
            then,
        });
        if closes
            && matches!(
                attempt.state,
                AttemptState::Queued | AttemptState::Sending | AttemptState::Sent
            )
        {
            groups.push(self.close_group(attempt, contact, campaign, outcome, now));
            attempt.state = AttemptState::Done;
            attempt.outcome = Some(outcome);
        }
        Ok(())
    }

    /// Is this event an answer to the attempt's survey (a reply that is not an opt-out, or
    /// an answer to one of its questions)?
    fn is_survey_answer(&self, item: &InboxItem, attempt: &Attempt) -> bool {
        let Some(survey) = self
            .campaign(&attempt.campaign)
            .and_then(|l| l.campaign.survey.as_ref())
        else {
            return false;
        };
        match &item.report {
            // Opt-outs in a survey conversation are told apart in `apply_answer`, which
            // knows the question the reply answers.
            Report::Reply { .. } => true,
            Report::Answer { question, .. } => survey.questions.iter().any(|q| q.id == *question),
            Report::Outcome { .. } => false,
        }
    }

    /// Applies one survey answer, in its own transaction: the reply, the answer recorded
    /// (replacing an earlier one to the same question), its outcome and tags, and the
    /// conversation's next message: the next question, or one clarifying re-ask.
    async fn apply_answer(
        &self,
        item: &InboxItem,
        attempt: &mut Attempt,
        contact: &Contact,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let campaign = &self
            .campaign(&attempt.campaign)
            .expect("checked by is_survey_answer")
            .campaign;
        let survey = campaign
            .survey
            .as_ref()
            .expect("checked by is_survey_answer");
        let at = item.due_at;
        let so_far = self
            .store
            .attempts_of_contact_in_run(attempt.run_id, attempt.contact_id)
            .await?;
        let answers = self
            .store
            .responses_of_contact_in_run(attempt.run_id, attempt.contact_id)
            .await?;
        let answered: Vec<String> = answers.iter().map(|r| r.question.clone()).collect();
        let (raw, asked, by_reply) = match &item.report {
            // A reply answers the conversation's latest question still without an answer
            // (a second message often finishes the first), else its latest question.
            Report::Reply { text } => {
                let mut conversation: Vec<&Attempt> = so_far
                    .iter()
                    .filter(|a| a.step_index == attempt.step_index)
                    .collect();
                conversation.sort_by_key(|a| a.id);
                let prompts: Vec<Option<&str>> =
                    conversation.iter().map(|a| a.prompt.as_deref()).collect();
                (
                    text.as_str(),
                    survey::reply_target(survey, &prompts, &answered),
                    true,
                )
            }
            Report::Answer { question, text } => (
                text.as_str(),
                survey.questions.iter().find(|q| q.id == *question),
                false,
            ),
            Report::Outcome { .. } => unreachable!("not an answer"),
        };
        if by_reply {
            // An answer to a free-text question opts out only when it is the keyword alone:
            // "Baja calidad del servicio" is a comment, not BAJA.
            let keywords = &self.settings.opt_out_keywords;
            let opts_out = match asked {
                Some(q) if q.kind == crate::domain::campaign::QuestionKind::Text => {
                    ledger::is_opt_out_exactly(raw, keywords)
                }
                _ => ledger::is_opt_out(raw, keywords),
            };
            if opts_out {
                let then = vec![event(
                    attempt.id,
                    Outcome::OptedOut.as_str(),
                    None,
                    serde_json::json!({ "text": raw }),
                    at,
                )];
                self.write_answer_group(item, then, now).await?;
                self.opt_out(attempt, contact, campaign, now).await?;
                attempt.outcome = Some(Outcome::OptedOut);
                return Ok(());
            }
        }
        let mut then = Vec::new();
        if by_reply {
            then.push(event(
                attempt.id,
                "replied",
                None,
                serde_json::json!({ "text": raw }),
                at,
            ));
            then.extend(self.rule_writes(attempt, contact, campaign, Outcome::Replied, now));
        }
        then.push(Write::Connected { id: attempt.id });
        attempt.connected = true;
        let Some(asked) = asked else {
            return self.write_answer_group(item, then, now).await;
        };
        // A mail scanner following every answer link is not a person answering.
        if item.provider == "web" && item.event_key.starts_with("link:") {
            let w = survey::LINK_SCAN_WINDOW;
            let sweep = self
                .store
                .link_answers_near(
                    &attempt.idempotency_key,
                    &asked.id,
                    item.due_at - w,
                    item.due_at + w,
                )
                .await?;
            if sweep >= survey::LINK_SCAN_ANSWERS {
                // Nothing else: a scan neither connects nor answers.
                let ignored = vec![event(
                    attempt.id,
                    "answer_ignored",
                    Some("link scan"),
                    serde_json::json!({ "question": asked.id, "text": raw, "answers_within_a_minute": sweep }),
                    at,
                )];
                return self.write_answer_group(item, ignored, now).await;
            }
        }
        // Answers after the deadline are kept as events, never counted.
        let first_sent = so_far.iter().filter_map(|a| a.sent_at).min();
        if let (Some(deadline), Some(first)) = (survey.deadline, first_sent)
            && at > first + deadline.to_chrono()
        {
            then.push(event(
                attempt.id,
                "answer_late",
                None,
                serde_json::json!({ "question": asked.id, "text": raw }),
                at,
            ));
            return self.write_answer_group(item, then, now).await;
        }
        // A message that arrives after a newer answer to the same question does not
        // replace it.
        if let Some(newer) = answers
            .iter()
            .find(|r| r.question == asked.id && r.answered_at > at)
        {
            then.push(event(
                attempt.id,
                "answer_stale",
                None,
                serde_json::json!({ "question": asked.id, "text": raw, "current": newer.answer }),
                at,
            ));
            return self.write_answer_group(item, then, now).await;
        }
        let clarify_code = survey::prompt_code(&asked.id, true);
        let clarified = so_far
            .iter()
            .any(|a| a.prompt.as_deref() == Some(clarify_code.as_str()));
        // Follow-up messages go out only in an SMS conversation; e-mail answers continue on
        // the survey's web page, and a voice bot asks its questions itself.
        let converse = by_reply && attempt.channel == Channel::Sms;
        // An answered question is never asked again: an unreadable second message is kept
        // as such and the answer stands.
        let no_reask = clarified || !converse || answered.contains(&asked.id);
        match survey::next_move(survey, asked, raw, &answered, no_reask) {
            survey::Move::Record {
                score,
                answer,
                next,
                completes,
            } => {
                let previous = answers.iter().find(|r| r.question == asked.id);
                let outcome = survey::outcome_of(asked.kind, score);
                then.push(Write::Response(survey::NewResponse {
                    run_id: attempt.run_id,
                    campaign: campaign.id.clone(),
                    contact_id: contact.id,
                    attempt_id: attempt.id,
                    question: asked.id.clone(),
                    kind: asked.kind,
                    score,
                    answer: answer.clone(),
                    raw: raw.to_string(),
                    channel: attempt.channel,
                    variant: attempt.variant.clone(),
                    answered_at: at,
                }));
                then.push(event(
                    attempt.id,
                    "answer",
                    None,
                    serde_json::json!({ "question": asked.id, "score": score, "answer": answer, "raw": raw }),
                    at,
                ));
                if let Some(prev) = previous {
                    then.push(event(
                        attempt.id,
                        "answer_replaced",
                        None,
                        serde_json::json!({ "question": asked.id, "previous": prev.answer, "answer": answer, "revision": prev.revision + 1 }),
                        at,
                    ));
                    // The tags the earlier answer's class added go when the class changes.
                    let before = survey::outcome_of(prev.kind, prev.score);
                    if let Some(before) = before.filter(|b| Some(*b) != outcome) {
                        then.extend(self.untag_rules(attempt, contact, campaign, before, outcome));
                    }
                }
                if let Some(o) = outcome {
                    then.push(event(
                        attempt.id,
                        o.as_str(),
                        None,
                        serde_json::Value::Null,
                        at,
                    ));
                    then.extend(self.rule_writes(attempt, contact, campaign, o, now));
                }
                if completes {
                    then.push(event(
                        attempt.id,
                        Outcome::SurveyCompleted.as_str(),
                        None,
                        serde_json::Value::Null,
                        at,
                    ));
                    then.extend(self.rule_writes(
                        attempt,
                        contact,
                        campaign,
                        Outcome::SurveyCompleted,
                        now,
                    ));
                }
                if converse && let Some(next) = next {
                    let code = survey::prompt_code(&next, false);
                    if !so_far
                        .iter()
                        .any(|a| a.prompt.as_deref() == Some(code.as_str()))
                    {
                        then.push(Write::Attempt(follow_up(attempt, &so_far, code, now)));
                    }
                }
            }
            survey::Move::Clarify => {
                then.push(event(
                    attempt.id,
                    "answer_unclear",
                    None,
                    serde_json::json!({ "question": asked.id, "text": raw, "asked_again": true }),
                    at,
                ));
                then.push(Write::Attempt(follow_up(
                    attempt,
                    &so_far,
                    clarify_code,
                    now,
                )));
            }
            survey::Move::GiveUp => {
                then.push(event(
                    attempt.id,
                    "answer_unclear",
                    None,
                    serde_json::json!({ "question": asked.id, "text": raw, "asked_again": false }),
                    at,
                ));
            }
        }
        self.write_answer_group(item, then, now).await
    }

    async fn write_answer_group(
        &self,
        item: &InboxItem,
        then: Vec<Write>,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        self.store
            .apply_writes(
                &[WriteGroup {
                    guard: Some(Write::InboxApplied { id: item.id }),
                    then,
                }],
                now,
            )
            .await?;
        Ok(())
    }

    /// Removes the tags the rules added for `before`, except those `now_outcome` adds too.
    fn untag_rules(
        &self,
        attempt: &Attempt,
        contact: &Contact,
        campaign: &Campaign,
        before: Outcome,
        now_outcome: Option<Outcome>,
    ) -> Vec<Write> {
        let applies = |r: &&crate::domain::campaign::TagRule, o: Outcome| {
            r.on == o && r.step.as_ref().is_none_or(|s| *s == attempt.step)
        };
        let kept: Vec<&String> = now_outcome
            .map(|o| {
                campaign
                    .tag_rules
                    .iter()
                    .filter(|r| applies(r, o))
                    .filter_map(|r| r.add.as_ref())
                    .collect()
            })
            .unwrap_or_default();
        campaign
            .tag_rules
            .iter()
            .filter(|r| applies(r, before))
            .filter_map(|r| r.add.as_ref())
            .filter(|t| !kept.contains(t))
            .map(|t| Write::Untag {
                contact_id: contact.id,
                name: t.clone(),
            })
            .collect()
    }

    /// Closing an attempt with a final outcome (once: the guard), and what the campaign's
    /// rules make of it: a retry or `unreachable`, the next step, tags.
    fn close_group(
        &self,
        attempt: &Attempt,
        contact: &Contact,
        campaign: &Campaign,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> WriteGroup {
        let connected = attempt.connected || ledger::is_connection(outcome);
        let mut then = Vec::new();
        // Follow-up messages of a survey are not retried.
        let next_move = match attempt.prompt {
            Some(_) => NextMove::Done,
            None => ledger::after_outcome(campaign, attempt.attempt_no, outcome),
        };
        match next_move {
            NextMove::Retry { after, attempt_no } => then.push(Write::Attempt(NewAttempt {
                run_id: attempt.run_id,
                contact_id: attempt.contact_id,
                step: attempt.step.clone(),
                step_index: attempt.step_index,
                channel: attempt.channel,
                attempt_no,
                not_before: now + after,
                obligation: attempt.obligation.clone(),
                after_attempt: attempt.after_attempt,
                condition: None,
                variant: attempt.variant.clone(),
                prompt: None,
            })),
            NextMove::Unreachable => {
                then.push(event(
                    attempt.id,
                    "unreachable",
                    None,
                    serde_json::Value::Null,
                    now,
                ));
                then.extend(self.rule_writes(
                    attempt,
                    contact,
                    campaign,
                    Outcome::Unreachable,
                    now,
                ));
            }
            NextMove::Done => {}
        }
        then.extend(self.rule_writes(attempt, contact, campaign, outcome, now));
        WriteGroup {
            guard: Some(Write::Close {
                id: attempt.id,
                state: AttemptState::Done,
                outcome: Some(outcome),
                connected,
                reason: None,
            }),
            then,
        }
    }

    /// Records why an attempt failed and closes it as `failed` (with the retry policy).
    async fn fail(
        &self,
        attempt: &Attempt,
        campaign: &Campaign,
        contact: &Contact,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        self.store
            .record_event(
                attempt.id,
                "failed",
                Some(why),
                &serde_json::Value::Null,
                now,
                now,
            )
            .await?;
        self.close_with(attempt, campaign, contact, Outcome::Failed, now)
            .await
    }

    /// Closes an attempt now (outside a batch).
    async fn close_with(
        &self,
        attempt: &Attempt,
        campaign: &Campaign,
        contact: &Contact,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        self.store
            .apply_writes(
                &[self.close_group(attempt, contact, campaign, outcome, now)],
                now,
            )
            .await?;
        Ok(())
    }

    /// The next step conditioned on this outcome, and the tag rules for it.
    fn rule_writes(
        &self,
        attempt: &Attempt,
        contact: &Contact,
        campaign: &Campaign,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Vec<Write> {
        let mut out = Vec::new();
        if let Some(next) = ledger::next_step_on(campaign, attempt.step_index, outcome) {
            out.push(Write::Attempt(next_attempt(
                attempt,
                contact,
                campaign,
                attempt.step_index + 1,
                next,
                now + next.after.to_chrono(),
            )));
        }
        for rule in campaign
            .tag_rules
            .iter()
            .filter(|r| r.on == outcome && r.step.as_ref().is_none_or(|s| *s == attempt.step))
        {
            if let Some(tag) = &rule.add {
                let tag = Tag {
                    name: tag.clone(),
                    source: format!("{}/run {}", campaign.id, attempt.run_id),
                    expires_at: rule.expires.map(|e| now + e.to_chrono()),
                };
                out.push(Write::Tag {
                    contact_id: contact.id,
                    tag,
                });
            }
            if let Some(tag) = &rule.remove {
                out.push(Write::Untag {
                    contact_id: contact.id,
                    name: tag.clone(),
                });
            }
        }
        out
    }

    /// Records an opt-out from the attempt's channel family at once: a suppression entry,
    /// every queued attempt on that family cancelled (all campaigns) and every later step
    /// of this run, the attempt's outcome set to `opted_out`, the outcome's rules.
    async fn opt_out(
        &self,
        attempt: &Attempt,
        contact: &Contact,
        campaign: &Campaign,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let family = attempt.channel.family();
        let entry = Suppression {
            target: SuppressionTarget::Contact(contact.external_id.clone()),
            kind: SuppressionKind::OptOut,
            channel: Some(family),
            reason: format!("opted out by reply to {}", campaign.id),
            source: format!("{}/run {}", campaign.id, attempt.run_id),
            created_at: now,
            expires_at: None,
        };
        self.store.upsert_suppressions(&[entry]).await?;
        let channels: Vec<Channel> = Channel::ALL
            .into_iter()
            .filter(|c| c.family() == family)
            .collect();
        let mut cancelled = self
            .store
            .cancel_queued_for_contact(
                contact.id,
                &Channel::ALL,
                Some(attempt.run_id),
                "opted_out",
                now,
            )
            .await?;
        cancelled += self
            .store
            .cancel_queued_for_contact(contact.id, &channels, None, "opted_out", now)
            .await?;
        self.store.mark_opted_out(attempt.id, now).await?;
        tracing::info!(contact = %contact.display_masked(), family = family.as_str(), cancelled, "opted out");
        let rules = self.rule_writes(attempt, contact, campaign, Outcome::OptedOut, now);
        self.store
            .apply_writes(
                &[WriteGroup {
                    guard: None,
                    then: rules,
                }],
                now,
            )
            .await?;
        Ok(())
    }

    /// Closes runs that have nothing open any more, with their tally as the summary.
    pub async fn finish_runs(&self, now: DateTime<Utc>) -> Result<usize, EngineError> {
        let runs = self.store.finishable_runs().await?;
        for run in &runs {
            let tally = self.store.run_tally(run.id).await?;
            let mut summary = run.summary.clone();
            summary["tally"] = serde_json::to_value(&tally).expect("tally serialises");
            self.store
                .finish_run(run.id, "finished", &summary, now)
                .await?;
        }
        Ok(runs.len())
    }
}

/// What the send-time checks of one dispatch batch read, loaded once for the batch.
struct BatchContext {
    contacts: BTreeMap<i64, Contact>,
    suppressions: Vec<Suppression>,
    history: BTreeMap<i64, Vec<PastAttempt>>,
    earlier: Vec<Attempt>,
    rates: BatchRates,
}

/// A dispatch batch's use of the channels' rates.
#[derive(Default)]
struct BatchRates {
    /// Per rate-limited channel, the tokens the batch took from the shared bucket.
    taken: BTreeMap<Channel, BatchTokens>,
    /// Per channel, the attempts of the batch not decided yet (the current one included).
    undecided: BTreeMap<Channel, u32>,
}

/// A batch's share of a channel's rate.
struct BatchTokens {
    /// Tokens granted and not handed out yet.
    left: u32,
    /// Attempts already told to wait for later tokens.
    waiting: u32,
    /// When the bucket has its next token after the grant.
    next_token_at: DateTime<Utc>,
}

/// The first attempt of step `index` after `from`, on the channel routing gives it.
fn next_attempt(
    from: &Attempt,
    contact: &Contact,
    campaign: &Campaign,
    index: usize,
    step: &Step,
    at: DateTime<Utc>,
) -> NewAttempt {
    NewAttempt {
        run_id: from.run_id,
        contact_id: from.contact_id,
        step: step.id.clone(),
        step_index: index,
        channel: campaign.route(step, |seg| seg.matches(contact, at)),
        attempt_no: 1,
        not_before: at,
        obligation: from.obligation.clone(),
        after_attempt: Some(from.id),
        condition: step.when,
        variant: step
            .variant_for(&campaign.id, &contact.external_id)
            .map(str::to_string),
        prompt: None,
    }
}

/// The survey questions an attempt asks: all of them on a call (the bot asks them), the
/// one its message asks otherwise.
fn asked_questions(campaign: &Campaign, attempt: &Attempt) -> Vec<crate::channel::AskedQuestion> {
    let Some(survey) = &campaign.survey else {
        return Vec::new();
    };
    if attempt.channel.is_call() {
        return survey
            .questions
            .iter()
            .map(crate::channel::AskedQuestion::of)
            .collect();
    }
    survey::asked_by(survey, attempt.prompt.as_deref())
        .map(crate::channel::AskedQuestion::of)
        .into_iter()
        .collect()
}

/// A survey follow-up message in the conversation `from` belongs to: same step and
/// channel, numbered after the conversation's earlier follow-ups, due now.
fn follow_up(from: &Attempt, so_far: &[Attempt], prompt: String, now: DateTime<Utc>) -> NewAttempt {
    let last = so_far
        .iter()
        .filter(|a| a.step_index == from.step_index)
        .map(|a| a.attempt_no)
        .filter(|n| *n > survey::FOLLOW_UP_BASE)
        .max()
        .unwrap_or(survey::FOLLOW_UP_BASE);
    NewAttempt {
        run_id: from.run_id,
        contact_id: from.contact_id,
        step: from.step.clone(),
        step_index: from.step_index,
        channel: from.channel,
        attempt_no: last + 1,
        not_before: now,
        obligation: from.obligation.clone(),
        after_attempt: Some(from.id),
        condition: None,
        variant: from.variant.clone(),
        prompt: Some(prompt),
    }
}

fn event(
    attempt_id: i64,
    kind: &str,
    detail: Option<&str>,
    payload: serde_json::Value,
    at: DateTime<Utc>,
) -> Write {
    Write::Event {
        attempt_id,
        kind: kind.into(),
        detail: detail.map(str::to_string),
        payload,
        occurred_at: at,
    }
}

/// A dispatch decision: writes to apply with the batch, or already written.
enum Decided {
    Write(WriteGroup, Dispatched),
    Written(Dispatched),
}

impl Work {
    fn count(&mut self, d: Dispatched) {
        match d {
            Dispatched::Sent => self.sent += 1,
            Dispatched::Rescheduled => self.rescheduled += 1,
            Dispatched::Skipped => self.skipped += 1,
        }
    }
}

enum Dispatched {
    Sent,
    Rescheduled,
    Skipped,
}
