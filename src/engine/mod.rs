//! The engine: turns schedules into runs, due attempts into sends, and provider events
//! into outcomes, retries, next steps and tags. It knows the store, the catalog, the
//! providers and the clock; it does not know the queue. Each method is one step of work
//! that returns how much it did, so callers (the daemon's workers, `run --until-idle`,
//! the simulator, the tests) can drain work without sleeping.
//!
//! One room per stage, all methods of the one [`Engine`]:
//! - [`planning`]: schedule occurrences into runs and their first attempts, runs closed
//!   when nothing is open; also the store-side planner that `plan` and `why` use;
//! - `dispatch`: due attempts claimed, checked again, rendered and sent (or rescheduled,
//!   or skipped), under the providers' breakers and the channels' shared rates;
//! - `outcomes`: the inbox, provider events applied as outcomes, retries, next steps,
//!   tags, opt-outs;
//! - `surveys`: answers read, recorded and followed by the conversation's next message;
//! - [`desk`]: calls waiting for human agents.
//!
//! This module holds the engine itself: its construction, the loop steps (`tick`,
//! `run_until_idle`, `simulate`, `next_wakeup`) and the daemon's identity.
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

pub mod desk;
mod dispatch;
mod outcomes;
pub mod planning;
mod surveys;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::catalog::{Catalog, LoadedCampaign};
use crate::channel::breaker::Breaker;
use crate::channel::{Provider, SimProvider};
use crate::clock::{Clock, VirtualClock};
use crate::config::Settings;
use crate::domain::campaign::RateLimit;
use crate::domain::lifecycle::EventKind;
use crate::domain::values::Channel;
use crate::store::{Store, StoreError, Write};

pub use dispatch::{BASE_BACKOFF, MAX_BACKOFF, MAX_SEND_FAILURES, backoff};

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

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Campaign(String),
}

/// How long a task that failed for a passing reason (the database out of reach) waits
/// before it is tried again.
pub const TASK_RETRY_WAIT: Duration = Duration::seconds(5);

/// How one task of work ended: a closed set, which only the queue maps onto its backend
/// (the engine knows no queue).
#[derive(Clone, Debug, PartialEq)]
pub enum TaskOutcome {
    /// The work is done.
    Done,
    /// It failed for a reason that may pass (the database was out of reach): try it again,
    /// not before `wait`.
    RetryAfter { wait: Duration, why: String },
    /// It can never succeed (its campaign is no longer loaded): end it, do not retry.
    GiveUp(String),
    /// Nothing to do yet: run it again after `wait`, which is not a failure.
    Snooze(Duration),
}

impl TaskOutcome {
    /// The outcome of a step that returned `result`: an engine error about the campaign
    /// cannot pass by itself; a store error may.
    fn of<T>(result: Result<T, EngineError>) -> TaskOutcome {
        match result {
            Ok(_) => TaskOutcome::Done,
            Err(EngineError::Campaign(why)) => TaskOutcome::GiveUp(why),
            Err(e @ EngineError::Store(_)) => TaskOutcome::RetryAfter {
                wait: TASK_RETRY_WAIT,
                why: e.to_string(),
            },
        }
    }
}

impl<S: Store> Engine<S> {
    /// The plan task of one occurrence (see [`Engine::plan_occurrence`]).
    pub async fn plan_task(&self, campaign: &str, occurrence: DateTime<Utc>) -> TaskOutcome {
        let now = self.now();
        let planned = self.plan_occurrence(campaign, occurrence, now).await;
        match &planned {
            Ok(run) => tracing::info!(%campaign, %occurrence, run = ?run, "plan task done"),
            Err(e) => tracing::error!(%campaign, error = %e, "plan task failed"),
        }
        TaskOutcome::of(planned)
    }

    /// The dispatch task of a batch claimed at `claimed_at`: the attempts still held by
    /// that claim are dispatched (a batch whose claim lapsed does nothing).
    pub async fn dispatch_task(
        &self,
        attempt_ids: &[i64],
        claimed_at: DateTime<Utc>,
    ) -> TaskOutcome {
        let now = self.now();
        let held = match self.store.attempts_claimed(attempt_ids, claimed_at).await {
            Ok(held) => held,
            Err(e) => return TaskOutcome::of::<()>(Err(e.into())),
        };
        if held.len() < attempt_ids.len() {
            tracing::info!(
                claimed = attempt_ids.len(),
                still_held = held.len(),
                "some attempts of a dispatch batch were taken over"
            );
        }
        let dispatched = self.dispatch_claimed(&held, now).await;
        if let Ok(work) = &dispatched {
            tracing::debug!(
                sent = work.sent,
                rescheduled = work.rescheduled,
                skipped = work.skipped,
                "dispatch task done"
            );
        }
        TaskOutcome::of(dispatched)
    }

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
            if states.get(&c.campaign.id).is_some_and(|s| !s.is_active()) {
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
}

fn event(
    attempt_id: i64,
    kind: EventKind,
    detail: Option<&str>,
    payload: serde_json::Value,
    at: DateTime<Utc>,
) -> Write {
    Write::Event {
        attempt_id,
        kind,
        detail: detail.map(str::to_string),
        payload,
        occurred_at: at,
    }
}

#[cfg(test)]
mod task_outcomes {
    use super::*;

    #[test]
    fn a_missing_campaign_is_given_up_and_a_store_error_retried() {
        assert_eq!(TaskOutcome::of(Ok::<_, EngineError>(())), TaskOutcome::Done);
        let gone = EngineError::Campaign("campaign `c` is not loaded".into());
        assert_eq!(
            TaskOutcome::of::<()>(Err(gone)),
            TaskOutcome::GiveUp("campaign `c` is not loaded".into())
        );
        let away = EngineError::Store(StoreError::Unsupported("away"));
        assert_eq!(
            TaskOutcome::of::<()>(Err(away)),
            TaskOutcome::RetryAfter {
                wait: TASK_RETRY_WAIT,
                why: "away".into()
            }
        );
    }
}
