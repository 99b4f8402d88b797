//! Dispatch: the attempts that are due, claimed in batches and each sent, rescheduled or
//! skipped.
//!
//! Whether a claimed attempt may go now is the domain's pure send check; what needs the
//! world stays here: the survey answers it reads, the provider's circuit breaker, the
//! channel's shared rate, the rendering and the send itself.
//!
//! Guarantees: a batch's ledger writes go in one transaction after its sends, each behind
//! a guard that holds only while this process still holds the attempt; a crash before it
//! leaves the attempts claimed, to be sent again under the same idempotency key. A channel
//! never sends over its rate: tokens granted to attempts that then do not send are lost.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use chrono::{DateTime, Duration, Utc};
use tracing::instrument;

use super::{Engine, EngineError, Work, event};
use crate::channel::breaker::{Breaker, Gate, Tripped};
use crate::channel::{Outbound, SendError};
use crate::domain::campaign::{Campaign, Step};
use crate::domain::contact::{Contact, Suppression};
use crate::domain::ledger::{self, Attempt, AttemptState};
use crate::domain::lifecycle::EventKind;
use crate::domain::policy::PastAttempt;
use crate::domain::reason::{RescheduleReason, SkipReason};
use crate::domain::send_check::{self, SendCheck, SendVerdict, Sendable};
use crate::domain::values::Channel;
use crate::store::{Store, Write, WriteGroup};
use crate::templates::RenderFor;

use super::outcomes::next_attempt;
use super::surveys::asked_questions;

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

/// The database's token bucket for a channel's rate.
fn rate_bucket(channel: Channel) -> String {
    format!("channel:{channel}")
}

impl<S: Store> Engine<S> {
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

    /// Closes an attempt that will never be sent, with the reason in its `skipped` event.
    fn skip(attempt: &Attempt, reason: SkipReason, now: DateTime<Utc>) -> Decided {
        let reason = reason.as_str();
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
                    EventKind::Skipped,
                    Some(reason),
                    serde_json::Value::Null,
                    now,
                )],
            },
            Dispatched::Skipped,
        )
    }

    /// Puts an attempt back in the queue until `not_before`, with the reason.
    fn reschedule(
        attempt: &Attempt,
        not_before: DateTime<Utc>,
        reason: RescheduleReason,
    ) -> Decided {
        Decided::Write(
            WriteGroup {
                guard: Some(Write::Reschedule {
                    id: attempt.id,
                    not_before,
                    reason: reason.as_str().into(),
                }),
                then: vec![],
            },
            Dispatched::Rescheduled,
        )
    }

    /// One claimed attempt: the domain's send check, then what needs the world (the
    /// provider's breaker, the channel's rate, rendering, the send), as writes for the
    /// batch's transaction or, for a failure that closes the attempt, written already.
    #[instrument(skip_all, fields(campaign = %attempt.campaign, run = attempt.run_id, attempt = attempt.id))]
    async fn dispatch_one(
        &self,
        attempt: &Attempt,
        ctx: &mut BatchContext,
        now: DateTime<Utc>,
    ) -> Result<Decided, EngineError> {
        let campaign = self.campaign(&attempt.campaign).map(|l| &l.campaign);
        let contact = ctx.contacts.get(&attempt.contact_id);
        // The survey's answers as they are now, for the checks that read them (read before
        // the check, so also for the rare attempt it then skips for an earlier reason).
        let answers = match campaign {
            Some(c) if contact.is_some() && send_check::reads_answers(attempt, c) => {
                self.store
                    .responses_of_contact_in_run(attempt.run_id, attempt.contact_id)
                    .await?
            }
            _ => Vec::new(),
        };
        let history = ctx
            .history
            .get(&attempt.contact_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let verdict = send_check::may_send(&SendCheck {
            attempt,
            campaign,
            contact,
            policy: &self.settings.policy,
            default_timezone: self.settings.default_timezone,
            suppressions: &ctx.suppressions,
            history,
            earlier: &ctx.earlier,
            answers: &answers,
            now,
        });
        let Sendable {
            campaign,
            contact,
            step,
            follow_up,
        } = match verdict {
            SendVerdict::Send(sendable) => sendable,
            SendVerdict::Skip(reason) => return Ok(Self::skip(attempt, reason, now)),
            SendVerdict::Reschedule { not_before, reason } => {
                return Ok(Self::reschedule(attempt, not_before, reason));
            }
        };
        // A provider in an outage is left alone until its breaker's cool-down ends.
        if let Gate::Wait(until) = self.breaker(attempt.channel, |b| b.gate(now)) {
            let not_before = until + spread(&attempt.idempotency_key, 0, Duration::seconds(10));
            return Ok(Self::reschedule(
                attempt,
                not_before,
                RescheduleReason::ProviderPaused,
            ));
        }
        // The channel's rate across campaigns and daemons: wait for a token rather than
        // send over it.
        if let Some(next) = self
            .channel_token(attempt.channel, &mut ctx.rates, now)
            .await?
        {
            return Ok(Self::reschedule(
                attempt,
                next,
                RescheduleReason::ChannelRateLimit,
            ));
        }
        let unsubscribe_url = self.unsubscribe_url(&attempt.idempotency_key);
        let survey_url = self.survey_url(&attempt.idempotency_key);
        let rendered = match (&follow_up, step.template_of(attempt.variant.as_deref())) {
            // A survey follow-up says the question, not the step's template.
            (Some(follow_up), _) => Some(crate::templates::Rendered::plain_sms(
                &follow_up.text(),
                follow_up.code,
            )),
            (None, Some(name)) => {
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
            (None, None) => None,
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
                let mut then = vec![event(attempt.id, EventKind::Sent, None, payload, now)];
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
                        "{}: gave up after {failures} temporary failures; last: {why}",
                        RescheduleReason::ProviderUnavailable
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
                    reason: RescheduleReason::ProviderUnavailable.as_str().into(),
                };
                let then = vec![event(
                    attempt.id,
                    EventKind::SendFailed,
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
