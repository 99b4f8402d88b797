//! Outcomes: the inbox of provider events (delivery reports, replies, call results, desk
//! dispositions) turned into the ledger's outcomes, and what the campaign's rules make of
//! them: a retry or `unreachable`, the next step, tags; an opt-out or a dead address
//! suppressed for every campaign.
//!
//! Guarantees: an event is applied once (it is marked applied in the same write group as
//! its effects), in the order events happened; an attempt already final is not closed
//! again; an event about a send the ledger missed records that send first.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tracing::instrument;

use super::{Engine, EngineError, event};
use crate::domain::campaign::{Campaign, Step};
use crate::domain::contact::{Contact, Suppression, SuppressionKind, SuppressionTarget, Tag};
use crate::domain::ledger::{self, Attempt, AttemptState, InboxItem, NewAttempt, NextMove, Report};
use crate::domain::lifecycle::EventKind;
use crate::domain::outcome::Outcome;
use crate::domain::reason::SkipReason;
use crate::domain::values::{Channel, ChannelFamily};
use crate::store::{Store, Write, WriteGroup};

impl<S: Store> Engine<S> {
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
                EventKind::Sent,
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
            EventKind::Outcome(outcome),
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

    /// Suppresses an address the provider says is dead (an invalid number, a hard
    /// bounce), on every channel that uses it, so no campaign tries it again.
    pub(super) async fn suppress_dead_address(
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

    /// Removes the tags the rules added for `before`, except those `now_outcome` adds too.
    pub(super) fn untag_rules(
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
                    EventKind::Outcome(Outcome::Unreachable),
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
    pub(super) async fn fail(
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
                EventKind::Outcome(Outcome::Failed),
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
    pub(super) fn rule_writes(
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
    pub(super) async fn opt_out(
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
                SkipReason::OptedOut.as_str(),
                now,
            )
            .await?;
        cancelled += self
            .store
            .cancel_queued_for_contact(
                contact.id,
                &channels,
                None,
                SkipReason::OptedOut.as_str(),
                now,
            )
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
}

/// The first attempt of step `index` after `from`, on the channel routing gives it.
pub(super) fn next_attempt(
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
