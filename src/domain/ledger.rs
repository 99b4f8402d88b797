//! The ledger's records: runs, attempts and the inbox of provider events, plus the pure
//! decisions taken on them (idempotency keys, what an outcome leads to, opt-out keywords).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::campaign::{Campaign, Step};
use super::contact::Tag;
use super::lifecycle::{EventKind, RunState};
use super::outcome::Outcome;
use super::values::Channel;

/// Where an attempt is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// Waiting for its not-before moment.
    Queued,
    /// Claimed by a dispatcher; a crash sends it back to `queued` after the lease.
    Sending,
    /// Accepted by the provider; waiting for its outcome.
    Sent,
    /// Final: has an outcome.
    Done,
    /// Final: the send-time check said never (opt-out, DNC, condition not met...).
    Skipped,
    /// Final: the campaign was cancelled or the person opted out before the send.
    Cancelled,
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Queued => "queued",
            AttemptState::Sending => "sending",
            AttemptState::Sent => "sent",
            AttemptState::Done => "done",
            AttemptState::Skipped => "skipped",
            AttemptState::Cancelled => "cancelled",
        }
    }
}

impl FromStr for AttemptState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "queued" => AttemptState::Queued,
            "sending" => AttemptState::Sending,
            "sent" => AttemptState::Sent,
            "done" => AttemptState::Done,
            "skipped" => AttemptState::Skipped,
            "cancelled" => AttemptState::Cancelled,
            other => return Err(format!("unknown attempt state `{other}`")),
        })
    }
}

/// One action towards one contact, as the ledger holds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attempt {
    pub id: i64,
    pub run_id: i64,
    pub campaign: String,
    pub contact_id: i64,
    pub step: String,
    pub step_index: usize,
    pub channel: Channel,
    pub attempt_no: u32,
    pub not_before: DateTime<Utc>,
    pub state: AttemptState,
    pub idempotency_key: String,
    pub obligation: Option<String>,
    pub after_attempt: Option<i64>,
    pub condition: Option<Outcome>,
    /// The A/B variant (`holdout` for the control group).
    pub variant: Option<String>,
    /// A survey follow-up message: `ask:QUESTION` or `clarify:QUESTION`.
    pub prompt: Option<String>,
    pub connected: bool,
    pub sent_at: Option<DateTime<Utc>>,
    pub provider_ref: Option<String>,
    pub outcome: Option<Outcome>,
    pub reason: Option<String>,
}

/// An attempt to insert.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAttempt {
    pub run_id: i64,
    pub contact_id: i64,
    pub step: String,
    pub step_index: usize,
    pub channel: Channel,
    pub attempt_no: u32,
    pub not_before: DateTime<Utc>,
    pub obligation: Option<String>,
    pub after_attempt: Option<i64>,
    pub condition: Option<Outcome>,
    pub variant: Option<String>,
    pub prompt: Option<String>,
}

impl NewAttempt {
    /// The key that identifies this attempt to providers, the same however often it is
    /// sent: run, contact, step and attempt number.
    pub fn idempotency_key(&self) -> String {
        idempotency_key(self.run_id, self.contact_id, &self.step, self.attempt_no)
    }
}

pub fn idempotency_key(run_id: i64, contact_id: i64, step: &str, attempt_no: u32) -> String {
    format!("hr{run_id}-c{contact_id}-{step}-a{attempt_no}")
}

/// What a provider or a person told us about an attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Report {
    /// An outcome of the attempt (delivered, answered, handed off, a disposition...).
    Outcome {
        outcome: Outcome,
        /// Free detail (a bounce reason, the bot's summary).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A message the person sent back.
    Reply { text: String },
    /// An answer to a named survey question: a link in an e-mail, the comment form, a
    /// voice bot's DTMF digits or recognised speech.
    Answer { question: String, text: String },
}

impl Report {
    /// The kind as stored beside the payload (the payload's own `kind` tag).
    pub fn kind(&self) -> &'static str {
        match self {
            Report::Outcome { .. } => "outcome",
            Report::Reply { .. } => "reply",
            Report::Answer { .. } => "answer",
        }
    }
}

/// A provider event waiting in the inbox.
#[derive(Clone, Debug, PartialEq)]
pub struct InboxItem {
    pub id: i64,
    pub provider: String,
    /// Unique per provider: a second delivery of the same event is ignored.
    pub event_key: String,
    pub idempotency_key: String,
    pub report: Report,
    pub due_at: DateTime<Utc>,
}

/// A run as listed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Run {
    pub id: i64,
    pub campaign: String,
    pub occurrence: DateTime<Utc>,
    pub state: RunState,
    pub summary: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Counts of one run's attempts by step, channel, state and result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TallyRow {
    pub step: String,
    pub channel: String,
    pub state: String,
    pub result: String,
    pub attempts: i64,
    pub connected: i64,
}

/// Outcomes that mean the person was reached (for caps counting connections, reach).
pub fn is_connection(outcome: Outcome) -> bool {
    use Outcome::*;
    matches!(
        outcome,
        Answered
            | HandedOff
            | Completed
            | Replied
            | PromiseToPay
            | Paid
            | Refused
            | CallbackRequested
            | NpsPromoter
            | NpsPassive
            | NpsDetractor
            | CsatSatisfied
            | CsatUnsatisfied
            | SurveyCompleted
    )
}

/// Outcomes that end an attempt (others, such as `delivered` or `opened`, are recorded and
/// the attempt stays open for more).
pub fn is_final(outcome: Outcome, channel: Channel) -> bool {
    use Outcome::*;
    match channel {
        // A message is done when it is delivered, bounced or failed; replies may follow
        // and are applied to it afterwards.
        Channel::Sms | Channel::Email => {
            matches!(outcome, Delivered | Bounced | Failed | OptedOut | Replied)
        }
        Channel::VoiceBot | Channel::Agent => !matches!(outcome, Answered),
    }
}

/// What the campaign's rules make of an outcome on a step.
#[derive(Clone, Debug, PartialEq)]
pub enum NextMove {
    /// Try the step again after a delay.
    Retry {
        after: chrono::Duration,
        attempt_no: u32,
    },
    /// The step ran out of retries without reaching the person.
    Unreachable,
    /// Nothing more for this step.
    Done,
}

/// Retry or not, by the campaign's retry policy for the outcome.
pub fn after_outcome(campaign: &Campaign, attempt_no: u32, outcome: Outcome) -> NextMove {
    match campaign.retry.get(&outcome) {
        Some(rule) if attempt_no < rule.max => NextMove::Retry {
            after: rule.after.to_chrono(),
            attempt_no: attempt_no + 1,
        },
        Some(_) => NextMove::Unreachable,
        None => NextMove::Done,
    }
}

/// The step after `step_index`, if its condition is about `outcome` (or it has none and
/// the step just ended).
pub fn next_step_on(campaign: &Campaign, step_index: usize, outcome: Outcome) -> Option<&Step> {
    let next = campaign.steps.get(step_index + 1)?;
    (next.when == Some(outcome)).then_some(next)
}

/// The step that follows `step_index` on time alone: no condition, or `no_reply` (checked
/// when it is due).
pub fn timed_next_step(campaign: &Campaign, step_index: usize) -> Option<&Step> {
    let next = campaign.steps.get(step_index + 1)?;
    matches!(next.when, None | Some(Outcome::NoReply)).then_some(next)
}

/// Words that opt a person out when they reply with them (case and surrounding space
/// ignored): the usual English ones, their common Spanish, French and German forms, and the
/// Chinese 退订 and TD.
pub const OPT_OUT_KEYWORDS: &[&str] = &[
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "optout",
    "opt-out",
    "opt out",
    "baja",
    "alto",
    "arret",
    "arrêt",
    "desabonner",
    "abmelden",
    "退订",
    "td",
    "t",
];

/// Is this reply an opt-out? Matches the whole message, or its first word, against the
/// keywords (configurable in herald.toml).
pub fn is_opt_out(text: &str, keywords: &[String]) -> bool {
    let t = text.trim().trim_end_matches(['.', '!']).to_lowercase();
    let first = t.split_whitespace().next().unwrap_or("");
    keywords.iter().any(|k| {
        let k = k.to_lowercase();
        t == k || (first == k && k.chars().count() > 2)
    })
}

/// Is this reply nothing but an opt-out keyword? (For free-text answers, where a first
/// word such as "Baja" may start a sentence.)
pub fn is_opt_out_exactly(text: &str, keywords: &[String]) -> bool {
    let t = text.trim().trim_end_matches(['.', '!']).to_lowercase();
    keywords.iter().any(|k| t == k.to_lowercase())
}

impl fmt::Display for AttemptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// --- writes -------------------------------------------------------------------------

/// One change to the ledger, for the store's `apply_writes`.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// `sending` → `sent` (only if still `sending`).
    MarkSent {
        id: i64,
        at: DateTime<Utc>,
        provider_ref: String,
    },
    /// The provider reported on an attempt herald had not recorded as sent (the answer to
    /// the send was lost in a crash): the send happened. `queued` or `sending` → `sent`
    /// at `at`, only if no send was recorded.
    SendSeen {
        id: i64,
        at: DateTime<Utc>,
    },
    /// Back to the queue until `not_before` (only if still open).
    Reschedule {
        id: i64,
        not_before: DateTime<Utc>,
        reason: String,
    },
    /// To a final state (only if still open).
    Close {
        id: i64,
        state: AttemptState,
        outcome: Option<Outcome>,
        connected: bool,
        reason: Option<String>,
    },
    Event {
        attempt_id: i64,
        kind: EventKind,
        detail: Option<String>,
        payload: serde_json::Value,
        occurred_at: DateTime<Utc>,
    },
    /// A provider event to apply later (ignored when its key is known).
    Inbox {
        provider: String,
        event_key: String,
        idempotency_key: String,
        report: Report,
        due_at: DateTime<Utc>,
    },
    /// A new attempt (ignored when its idempotency key exists).
    Attempt(NewAttempt),
    /// The attempt reached the person.
    Connected {
        id: i64,
    },
    /// An inbox item applied (only if it was not already).
    InboxApplied {
        id: i64,
    },
    Tag {
        contact_id: i64,
        tag: Tag,
    },
    Untag {
        contact_id: i64,
        name: String,
    },
    /// A survey answer: inserted, or replacing the earlier answer to the same question in
    /// the same run (its revision counted up).
    Response(super::survey::NewResponse),
}

/// Writes that belong together: `then` is applied only if `guard` (a conditional update)
/// changed its row, so a stale decision never leaves half its effects.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteGroup {
    /// `None`: the writes apply unconditionally.
    pub guard: Option<Write>,
    pub then: Vec<Write>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keywords() -> Vec<String> {
        OPT_OUT_KEYWORDS.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn opt_out_keywords_match_whole_replies_in_several_languages() {
        for yes in [
            "STOP",
            " stop ",
            "Stop.",
            "UNSUBSCRIBE",
            "退订",
            "TD",
            "td",
            "Baja",
            "STOP please",
        ] {
            assert!(is_opt_out(yes, &keywords()), "{yes}");
        }
        for no in ["9", "nine", "don't stop", "STOPPED", "t is fine", "ok"] {
            assert!(!is_opt_out(no, &keywords()), "{no}");
        }
    }

    #[test]
    fn keys_identify_run_contact_step_and_attempt() {
        assert_eq!(idempotency_key(3, 42, "sms", 2), "hr3-c42-sms-a2");
    }
}
