//! Surveys: answers (a reply in an SMS conversation, a one-click link, a bot's reading)
//! read against the question they answer, recorded, and followed by the conversation's
//! next message: the next question, or one clarifying re-ask.
//!
//! Guarantees: each answer is applied in its own transaction, after what came before it
//! in the inbox batch, because it reads the conversation so far; an answered question is
//! never asked again; answers after the survey's deadline, older than the current one or
//! from a mail scanner's sweep of the links are kept as events and never counted.

use chrono::{DateTime, Utc};

use super::{Engine, EngineError, event};
use crate::domain::campaign::Campaign;
use crate::domain::contact::Contact;
use crate::domain::ledger::{self, Attempt, InboxItem, NewAttempt, Report};
use crate::domain::lifecycle::EventKind;
use crate::domain::outcome::Outcome;
use crate::domain::survey;
use crate::domain::values::Channel;
use crate::store::{Store, Write, WriteGroup};

impl<S: Store> Engine<S> {
    /// Is this event an answer to the attempt's survey (a reply that is not an opt-out, or
    /// an answer to one of its questions)?
    pub(super) fn is_survey_answer(&self, item: &InboxItem, attempt: &Attempt) -> bool {
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
    pub(super) async fn apply_answer(
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
                    EventKind::Outcome(Outcome::OptedOut),
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
                EventKind::Outcome(Outcome::Replied),
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
                    EventKind::AnswerIgnored,
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
                EventKind::AnswerLate,
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
                EventKind::AnswerStale,
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
                    EventKind::Answer,
                    None,
                    serde_json::json!({ "question": asked.id, "score": score, "answer": answer, "raw": raw }),
                    at,
                ));
                if let Some(prev) = previous {
                    then.push(event(
                        attempt.id,
                        EventKind::AnswerReplaced,
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
                        EventKind::Outcome(o),
                        None,
                        serde_json::Value::Null,
                        at,
                    ));
                    then.extend(self.rule_writes(attempt, contact, campaign, o, now));
                }
                if completes {
                    then.push(event(
                        attempt.id,
                        EventKind::Outcome(Outcome::SurveyCompleted),
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
                    EventKind::AnswerUnclear,
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
                    EventKind::AnswerUnclear,
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
}

/// The survey questions an attempt asks: all of them on a call (the bot asks them), the
/// one its message asks otherwise.
pub(super) fn asked_questions(
    campaign: &Campaign,
    attempt: &Attempt,
) -> Vec<crate::channel::AskedQuestion> {
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
