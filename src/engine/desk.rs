//! The agent desk: human agents pull the next call a campaign routed to them.
//!
//! Agent steps given to the desk (`[agent] provider = "desk"`) wait in the ledger as `sent`
//! attempts held by nobody. `next` gives the oldest one whose step's skills the agent has,
//! with the contact and what happened so far (the bot's hand-off included); `done` records
//! the agent's disposition as an outcome, applied like any provider event. Pacing is
//! progressive by construction: a call is placed only when a free agent asks for it, and
//! an agent holds at most their capacity, however many daemons serve the desk: the store
//! counts the agent's calls and gives the next one under a lock of the agent.
//!
//! A call can wait at the desk for hours, so the contact policy is asked again when an
//! agent asks for it, not only when the call was placed: a call outside the person's call
//! window waits for it to open, and a call to someone who opted out, was put on a DNC list,
//! withdrew consent or reached the campaign's goal (paid) meanwhile is withdrawn (closed as
//! `skipped` with the reason). The
//! check is the domain's [`may_call`](crate::domain::send_check::may_call): the same
//! verdict and the same skip reasons as the dispatcher's send-time check.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::domain::contact::Contact;
use crate::domain::ledger::{Attempt, AttemptState, Report};
use crate::domain::lifecycle::EventKind;
use crate::domain::outcome::Outcome;
use crate::domain::reason::SkipReason;
use crate::domain::send_check::{self, DeskCheck, SendVerdict};
use crate::store::{DeskTake, Store, StoreError, Write, WriteGroup};

/// What `next` gives an agent.
#[derive(Debug, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Next {
    Call {
        attempt: i64,
        campaign: String,
        step: String,
        contact: Box<Contact>,
        history: Vec<serde_json::Value>,
    },
    AtCapacity {
        holding: Vec<i64>,
    },
    NothingWaiting,
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("there is no agent `{0}`: add them with `herald agent add`")]
    UnknownAgent(String),
    #[error("agent `{agent}` does not hold call {attempt}")]
    NotHeld { agent: String, attempt: i64 },
    #[error("`{0}` is not a call disposition")]
    NotADisposition(Outcome),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The next call for `agent`, if they have room and one matches their skills and may be
/// made now (see the module's documentation).
pub async fn next<S: Store>(
    store: &S,
    catalog: &Catalog,
    settings: &Settings,
    agent: &str,
    now: DateTime<Utc>,
) -> Result<Next, DeskError> {
    let (skills, capacity) = store
        .agent(agent)
        .await?
        .ok_or_else(|| DeskError::UnknownAgent(agent.into()))?;
    let held = store.desk_held_by(agent).await?;
    if held.len() as u32 >= capacity {
        return Ok(Next::AtCapacity {
            holding: held.iter().map(|a| a.id).collect(),
        });
    }
    for attempt in store.desk_waiting(200).await? {
        if !has_skills(catalog, &attempt, &skills) {
            continue;
        }
        let Some(contact) = store.contact_by_id(attempt.contact_id).await? else {
            continue;
        };
        match may_call(store, catalog, settings, &attempt, &contact, now).await? {
            Some(SendVerdict::Send(())) => {}
            // Outside the person's window (or the campaign is not loaded here): it waits.
            None | Some(SendVerdict::Reschedule { .. }) => continue,
            Some(SendVerdict::Skip(reason)) => {
                withdraw(store, &attempt, reason, now).await?;
                continue;
            }
        }
        // The check above is only a shortcut: the take counts the agent's calls again
        // under a lock, so two daemons serving this agent at once cannot both fill the
        // last free place.
        match store.desk_take(attempt.id, agent, now).await? {
            DeskTake::Taken => {}
            DeskTake::Gone => continue, // another agent took it first
            DeskTake::AtCapacity => {
                let held = store.desk_held_by(agent).await?;
                return Ok(Next::AtCapacity {
                    holding: held.iter().map(|a| a.id).collect(),
                });
            }
            DeskTake::UnknownAgent => return Err(DeskError::UnknownAgent(agent.into())),
        }
        let history = store.events_of_contact(contact.id, 20).await?;
        tracing::info!(agent, attempt = attempt.id, contact = %contact.display_masked(), "call given to an agent");
        return Ok(Next::Call {
            attempt: attempt.id,
            campaign: attempt.campaign,
            step: attempt.step,
            contact: Box::new(contact),
            history,
        });
    }
    Ok(Next::NothingWaiting)
}

/// The domain's desk check of a waiting call at `now` (the contact policy without caps:
/// the call was counted when it was placed). `None` when the call's campaign is not
/// loaded (its calls wait for it).
async fn may_call<S: Store>(
    store: &S,
    catalog: &Catalog,
    settings: &Settings,
    attempt: &Attempt,
    contact: &Contact,
    now: DateTime<Utc>,
) -> Result<Option<SendVerdict<()>>, StoreError> {
    let Some(loaded) = catalog
        .campaigns
        .iter()
        .find(|c| c.campaign.id == attempt.campaign)
    else {
        return Ok(None);
    };
    let suppressions = store
        .suppressions_for(std::slice::from_ref(contact))
        .await?;
    Ok(Some(send_check::may_call(&DeskCheck {
        attempt,
        campaign: &loaded.campaign,
        contact,
        policy: &settings.policy,
        default_timezone: settings.default_timezone,
        suppressions: &suppressions,
        now,
    })))
}

/// Closes a waiting call that may no longer be made, with the reason, as the dispatcher
/// closes an attempt it skips.
async fn withdraw<S: Store>(
    store: &S,
    attempt: &Attempt,
    reason: SkipReason,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let reason = reason.as_str();
    let group = WriteGroup {
        guard: Some(Write::Close {
            id: attempt.id,
            state: AttemptState::Skipped,
            outcome: None,
            connected: false,
            reason: Some(reason.into()),
        }),
        then: vec![Write::Event {
            attempt_id: attempt.id,
            kind: EventKind::Skipped,
            detail: Some(reason.into()),
            payload: serde_json::Value::Null,
            occurred_at: now,
        }],
    };
    store
        .apply_writes(std::slice::from_ref(&group), now)
        .await?;
    tracing::info!(attempt = attempt.id, reason, "waiting desk call withdrawn");
    Ok(())
}

fn has_skills(catalog: &Catalog, attempt: &Attempt, skills: &[String]) -> bool {
    catalog
        .campaigns
        .iter()
        .find(|c| c.campaign.id == attempt.campaign)
        .and_then(|c| c.campaign.steps.get(attempt.step_index))
        .is_none_or(|step| step.skills.iter().all(|s| skills.contains(s)))
}

/// Records the agent's disposition for a call they hold.
pub async fn done<S: Store>(
    store: &S,
    agent: &str,
    attempt: i64,
    disposition: Outcome,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DeskError> {
    if !disposition.possible_on(crate::domain::values::Channel::Agent) {
        return Err(DeskError::NotADisposition(disposition));
    }
    let held = store.desk_held_by(agent).await?;
    let Some(a) = held.iter().find(|a| a.id == attempt) else {
        return Err(DeskError::NotHeld {
            agent: agent.into(),
            attempt,
        });
    };
    let report = Report::Outcome {
        outcome: disposition,
        detail: note.map(str::to_string),
    };
    let item = (
        format!("desk:{attempt}"),
        a.idempotency_key.clone(),
        report,
        now,
    );
    store
        .inbox_push("desk", std::slice::from_ref(&item), now)
        .await?;
    Ok(())
}
