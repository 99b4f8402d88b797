//! The lifecycles of campaigns and runs, and the kinds of events an attempt records, as
//! closed sets with their text forms (the ledger, exports and reports store and show the
//! text; these types are the only place it is spelled).
//!
//! A campaign is `active` until someone pauses or cancels it:
//!
//! ```text
//!            pause              cancel
//!   active ────────► paused ──────────► cancelled (final: its queued attempts are cancelled)
//!     ▲   ◄────────    │                    ▲
//!     │     resume     └────────────────────┤
//!     └─────────────────────────────────────┘ cancel
//! ```
//!
//! A run is `planning` while its audience is planned, `running` while it has open
//! attempts, then `finished`; an occurrence the daemon was not running for is recorded as
//! `missed` and never planned.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::outcome::Outcome;

/// Where a campaign is in its life (a campaign never set is `active`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Runs are planned and attempts sent.
    Active,
    /// Nothing is planned or sent until it is resumed; queued attempts wait.
    Paused,
    /// Final: queued attempts were cancelled, nothing more is planned.
    Cancelled,
}

/// A change of a campaign's state that its lifecycle does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("campaign `{campaign}` was cancelled; it cannot be {verb}")]
pub struct Refused {
    pub campaign: String,
    /// `resumed`, `paused`.
    pub verb: &'static str,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Active => "active",
            CampaignState::Paused => "paused",
            CampaignState::Cancelled => "cancelled",
        }
    }

    /// The state after moving from `self` to `to`: any state may be set again (a repeated
    /// pause is harmless) and cancelling is always allowed, but a cancelled campaign stays
    /// cancelled.
    pub fn move_to(self, to: CampaignState, campaign: &str) -> Result<CampaignState, Refused> {
        match (self, to) {
            (CampaignState::Cancelled, CampaignState::Cancelled) => Ok(to),
            (CampaignState::Cancelled, _) => Err(Refused {
                campaign: campaign.to_string(),
                verb: if to == CampaignState::Active {
                    "resumed"
                } else {
                    "paused"
                },
            }),
            _ => Ok(to),
        }
    }

    /// Whether runs are planned and attempts sent.
    pub fn is_active(self) -> bool {
        self == CampaignState::Active
    }
}

impl FromStr for CampaignState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "active" => CampaignState::Active,
            "paused" => CampaignState::Paused,
            "cancelled" => CampaignState::Cancelled,
            other => return Err(format!("unknown campaign state `{other}`")),
        })
    }
}

/// A state compares with its text form (`state == "paused"`).
impl PartialEq<&str> for CampaignState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for CampaignState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Its audience is being planned.
    Planning,
    /// Planned; some attempts are still open.
    Running,
    /// Every attempt is final.
    Finished,
    /// An occurrence that passed while no daemon ran: recorded, never planned.
    Missed,
    /// Ended early, with no open attempt left (the schema allows it; herald does not end
    /// runs so yet, but a database holding one still reads).
    Cancelled,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Planning => "planning",
            RunState::Running => "running",
            RunState::Finished => "finished",
            RunState::Missed => "missed",
            RunState::Cancelled => "cancelled",
        }
    }
}

impl FromStr for RunState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "planning" => RunState::Planning,
            "running" => RunState::Running,
            "finished" => RunState::Finished,
            "missed" => RunState::Missed,
            "cancelled" => RunState::Cancelled,
            other => return Err(format!("unknown run state `{other}`")),
        })
    }
}

/// A state compares with its text form (`state == "finished"`).
impl PartialEq<&str> for RunState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event in an attempt's history records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The provider accepted the message or call.
    Sent,
    /// A send failed for now; it is retried.
    SendFailed,
    /// The send-time check said never (the detail holds the reason).
    Skipped,
    /// An outcome: reported by the provider (delivered, answered, a disposition...), or
    /// reached by herald (a reply, `failed` after too many send failures, `unreachable`
    /// when the person has no address on the channel).
    Outcome(Outcome),
    /// A survey answer was recorded.
    Answer,
    /// A later answer replaced an earlier one to the same question.
    AnswerReplaced,
    /// An answer came after the survey's answer window.
    AnswerLate,
    /// An answer to a question the survey no longer asks, or an earlier message.
    AnswerStale,
    /// An answer no question's scale could read.
    AnswerUnclear,
    /// An answer that was not recorded (a link scanner's sweep).
    AnswerIgnored,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Sent => "sent",
            EventKind::SendFailed => "send_failed",
            EventKind::Skipped => "skipped",
            EventKind::Outcome(o) => o.as_str(),
            EventKind::Answer => "answer",
            EventKind::AnswerReplaced => "answer_replaced",
            EventKind::AnswerLate => "answer_late",
            EventKind::AnswerStale => "answer_stale",
            EventKind::AnswerUnclear => "answer_unclear",
            EventKind::AnswerIgnored => "answer_ignored",
        }
    }
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "sent" => EventKind::Sent,
            "send_failed" => EventKind::SendFailed,
            "skipped" => EventKind::Skipped,
            "answer" => EventKind::Answer,
            "answer_replaced" => EventKind::AnswerReplaced,
            "answer_late" => EventKind::AnswerLate,
            "answer_stale" => EventKind::AnswerStale,
            "answer_unclear" => EventKind::AnswerUnclear,
            "answer_ignored" => EventKind::AnswerIgnored,
            other => EventKind::Outcome(
                Outcome::ALL
                    .into_iter()
                    .find(|o| o.as_str() == other)
                    .ok_or_else(|| format!("unknown event kind `{other}`"))?,
            ),
        })
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_campaign_cannot_be_resumed_or_paused_but_anything_else_goes() {
        use CampaignState::*;
        for from in [Active, Paused] {
            for to in [Active, Paused, Cancelled] {
                assert_eq!(from.move_to(to, "c"), Ok(to));
            }
        }
        assert_eq!(Cancelled.move_to(Cancelled, "c"), Ok(Cancelled));
        let refused = Cancelled.move_to(Active, "c").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "campaign `c` was cancelled; it cannot be resumed"
        );
        assert!(Cancelled.move_to(Paused, "c").is_err());
    }

    #[test]
    fn states_and_event_kinds_read_back_from_their_text() {
        for s in [
            CampaignState::Active,
            CampaignState::Paused,
            CampaignState::Cancelled,
        ] {
            assert_eq!(s.as_str().parse(), Ok(s));
        }
        for s in [
            RunState::Planning,
            RunState::Running,
            RunState::Finished,
            RunState::Missed,
            RunState::Cancelled,
        ] {
            assert_eq!(s.as_str().parse(), Ok(s));
        }
        let kinds = [
            EventKind::Sent,
            EventKind::SendFailed,
            EventKind::Skipped,
            EventKind::Outcome(Outcome::Delivered),
            EventKind::Outcome(Outcome::OptedOut),
            EventKind::Outcome(Outcome::Replied),
            EventKind::Outcome(Outcome::Failed),
            EventKind::Answer,
            EventKind::AnswerReplaced,
            EventKind::AnswerLate,
            EventKind::AnswerStale,
            EventKind::AnswerUnclear,
            EventKind::AnswerIgnored,
        ];
        for k in kinds {
            assert_eq!(k.as_str().parse(), Ok(k), "{k}");
        }
        assert!("nonsense".parse::<EventKind>().is_err());
    }
}
