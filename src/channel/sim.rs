//! The simulated provider: every channel, no network, deterministic under a seed.
//!
//! What happens to a send is drawn from the configured rates with a hash of the seed and
//! the attempt's idempotency key, so the same seed and data give the same outcomes however
//! the work is scheduled. It drives `herald simulate`, the demo and the benchmarks.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AskedQuestion, Outbound, Receipt};
use crate::domain::campaign::{CampaignKind, QuestionKind};
use crate::domain::ledger::Report;
use crate::domain::outcome::Outcome;
use crate::domain::values::{Channel, Span};

/// Rates and delays of the simulated provider (`[sim]` in herald.toml). Each rate is a
/// share between 0 and 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    pub seed: u64,
    /// SMS that reach the handset.
    pub sms_delivered: f64,
    /// Delivered SMS that get a reply.
    pub sms_reply: f64,
    /// Replies that are an opt-out (`STOP`).
    pub sms_opt_out: f64,
    /// E-mails that bounce.
    pub email_bounce: f64,
    pub email_open: f64,
    /// Opened e-mails whose link is followed.
    pub email_click: f64,
    /// Delivered e-mails that get a reply.
    pub email_reply: f64,
    /// Calls answered (the rest: busy, voicemail or no answer).
    pub call_answer: f64,
    pub call_busy: f64,
    pub call_voicemail: f64,
    /// Answered bot calls passed to a human.
    pub bot_handoff: f64,
    /// Answered collection calls ending in a promise to pay.
    pub promise_to_pay: f64,
    /// Answered collection calls ending in a payment.
    pub paid: f64,
    /// Delay before a delivery report.
    pub delivery_delay: Span,
    /// Typical delay before a reply (the actual one is drawn up to twice this).
    pub reply_delay: Span,
    /// Length of an answered call.
    pub call_duration: Span,
    /// Survey messages and calls that get an answer (delivered SMS, opened e-mails,
    /// answered calls).
    pub survey_answer: f64,
    /// Survey answers that cannot be read ("not sure"), which earn a clarifying re-ask.
    pub survey_unclear: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 7,
            sms_delivered: 0.97,
            sms_reply: 0.12,
            sms_opt_out: 0.08,
            email_bounce: 0.03,
            email_open: 0.45,
            email_click: 0.25,
            email_reply: 0.03,
            call_answer: 0.55,
            call_busy: 0.1,
            call_voicemail: 0.15,
            bot_handoff: 0.2,
            promise_to_pay: 0.35,
            paid: 0.1,
            delivery_delay: Span::from_secs(20),
            reply_delay: Span::from_secs(2 * 3600),
            call_duration: Span::from_secs(180),
            survey_answer: 0.4,
            survey_unclear: 0.05,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SimProvider {
    config: SimConfig,
}

/// Uniform draws in [0, 1) from (seed, key, salt).
struct Draws<'a> {
    seed: u64,
    key: &'a str,
}

impl Draws<'_> {
    fn draw(&self, salt: &str) -> f64 {
        let digest = Sha256::digest(format!("{}:{}:{salt}", self.seed, self.key));
        let n = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
        (n >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl SimProvider {
    pub fn new(config: SimConfig) -> SimProvider {
        SimProvider { config }
    }

    pub fn send(&self, out: &Outbound<'_>, now: DateTime<Utc>) -> Receipt {
        let key = out.attempt.idempotency_key.as_str();
        Receipt {
            provider_ref: format!("sim-{key}"),
            later: self.events(
                key,
                out.attempt.channel,
                out.campaign_kind,
                &out.questions,
                now,
            ),
        }
    }

    /// What will happen to a send, drawn from the rates with the seed and the key: the
    /// events (event key, report, when) a provider would report.
    pub fn events(
        &self,
        key: &str,
        channel: Channel,
        campaign_kind: CampaignKind,
        questions: &[AskedQuestion],
        now: DateTime<Utc>,
    ) -> Vec<(String, Report, DateTime<Utc>)> {
        let c = &self.config;
        let d = Draws { seed: c.seed, key };
        let mut later = Vec::new();
        let mut event = |name: &str, report: Report, at: DateTime<Utc>| {
            later.push((format!("{key}:{name}"), report, at))
        };
        let outcome = |o: Outcome| Report::Outcome {
            outcome: o,
            detail: None,
        };
        let delivered_at = now + c.delivery_delay.to_chrono();
        let reply_at = now
            + Duration::seconds(
                (c.reply_delay.secs() as f64 * 2.0 * d.draw("reply-delay")) as i64 + 60,
            );
        match channel {
            Channel::Sms => {
                if d.draw("delivered") < c.sms_delivered {
                    event("delivered", outcome(Outcome::Delivered), delivered_at);
                    let rate = match questions.first() {
                        Some(_) => c.survey_answer,
                        None => c.sms_reply,
                    };
                    if d.draw("reply") < rate {
                        let text = if d.draw("opt-out") < c.sms_opt_out {
                            "STOP".to_string()
                        } else {
                            match questions.first() {
                                Some(q) => self.answer_text(&d, q, true),
                                None => "OK, thanks".to_string(),
                            }
                        };
                        event("reply", Report::Reply { text }, reply_at);
                    }
                } else {
                    event(
                        "failed",
                        Report::Outcome {
                            outcome: Outcome::Failed,
                            detail: Some("handset unreachable".into()),
                        },
                        delivered_at,
                    );
                }
            }
            Channel::Email => {
                if d.draw("bounce") < c.email_bounce {
                    event(
                        "bounced",
                        Report::Outcome {
                            outcome: Outcome::Bounced,
                            detail: Some("550 mailbox unavailable".into()),
                        },
                        delivered_at,
                    );
                } else {
                    event("delivered", outcome(Outcome::Delivered), delivered_at);
                    if d.draw("open") < c.email_open {
                        event("opened", outcome(Outcome::Opened), reply_at);
                        // An answer link in the e-mail, clicked.
                        if let Some(q) = questions.first()
                            && d.draw("answer") < c.survey_answer
                        {
                            let text = self.answer_text(&d, q, false);
                            event(
                                "answer",
                                Report::Answer {
                                    question: q.id.clone(),
                                    text,
                                },
                                reply_at + Duration::seconds(20),
                            );
                        }
                        if d.draw("click") < c.email_click {
                            event(
                                "clicked",
                                outcome(Outcome::Clicked),
                                reply_at + Duration::seconds(30),
                            );
                        }
                    }
                    if d.draw("reply") < c.email_reply {
                        event(
                            "reply",
                            Report::Reply {
                                text: "Thanks".into(),
                            },
                            reply_at + Duration::seconds(60),
                        );
                    }
                }
            }
            Channel::VoiceBot | Channel::Agent => {
                let ring = now + Duration::seconds(25);
                let r = d.draw("answer");
                if r < c.call_answer {
                    event("answered", outcome(Outcome::Answered), ring);
                    let end = ring + c.call_duration.to_chrono();
                    // The bot asks the survey's questions and reports each answer.
                    if d.draw("survey") < c.survey_answer {
                        for (i, q) in questions.iter().enumerate() {
                            let text = self.answer_text(&d, q, false);
                            event(
                                &format!("answer-{}", q.id),
                                Report::Answer {
                                    question: q.id.clone(),
                                    text,
                                },
                                ring + Duration::seconds(30 * (i as i64 + 1)),
                            );
                        }
                    }
                    let handed_off =
                        channel == Channel::VoiceBot && d.draw("handoff") < c.bot_handoff;
                    let result = if handed_off {
                        Outcome::HandedOff
                    } else if campaign_kind == CampaignKind::Collection {
                        let p = d.draw("disposition");
                        if p < c.paid {
                            Outcome::Paid
                        } else if p < c.paid + c.promise_to_pay {
                            Outcome::PromiseToPay
                        } else {
                            Outcome::Completed
                        }
                    } else {
                        Outcome::Completed
                    };
                    event(result.as_str(), outcome(result), end);
                } else if r < c.call_answer + c.call_busy {
                    event("busy", outcome(Outcome::Busy), ring);
                } else if r < c.call_answer + c.call_busy + c.call_voicemail {
                    event(
                        "voicemail",
                        outcome(Outcome::Voicemail),
                        ring + Duration::seconds(20),
                    );
                } else {
                    event(
                        "no_answer",
                        outcome(Outcome::NoAnswer),
                        ring + Duration::seconds(30),
                    );
                }
            }
        }
        later
    }

    /// An answer as a person would give it: mostly digits, sometimes "9/10" or a word, and
    /// now and then something unreadable (only in free-text replies).
    fn answer_text(&self, d: &Draws<'_>, q: &AskedQuestion, free_text: bool) -> String {
        if free_text && d.draw(&format!("unclear-{}", q.id)) < self.config.survey_unclear {
            return "not sure".into();
        }
        let u = d.draw(&format!("score-{}", q.id));
        let pick = |weights: &[(i64, f64)]| {
            let mut edge = 0.0;
            for (v, w) in weights {
                edge += w;
                if u < edge {
                    return *v;
                }
            }
            weights.last().map_or(0, |(v, _)| *v)
        };
        let n = match q.kind {
            QuestionKind::Text => return "Quick and friendly, thank you".into(),
            QuestionKind::Choice => {
                return q
                    .choices
                    .get((u * q.choices.len() as f64) as usize)
                    .cloned()
                    .unwrap_or_default();
            }
            QuestionKind::Nps => pick(&NPS_ANSWERS),
            QuestionKind::Csat => pick(&CSAT_ANSWERS),
        };
        let form = d.draw(&format!("form-{}", q.id));
        match (free_text, q.kind) {
            (true, QuestionKind::Nps) if form < 0.1 => format!("{n}/10"),
            (true, _) if form < 0.2 => WORDS.get(n as usize).unwrap_or(&"").to_string(),
            _ => n.to_string(),
        }
    }
}

/// How the simulated people score a 0-10 question: 42 % promoters, 28 % passives.
const NPS_ANSWERS: [(i64, f64); 11] = [
    (10, 0.22),
    (9, 0.20),
    (8, 0.16),
    (7, 0.12),
    (6, 0.07),
    (5, 0.07),
    (4, 0.04),
    (3, 0.04),
    (2, 0.03),
    (1, 0.03),
    (0, 0.02),
];

const CSAT_ANSWERS: [(i64, f64); 5] = [(5, 0.35), (4, 0.3), (3, 0.15), (2, 0.1), (1, 0.1)];

const WORDS: [&str; 11] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
];
