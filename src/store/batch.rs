//! Which batches of ledger writes may be applied set-wise (a statement per kind of write)
//! with the same effect as one write at a time, and in what order. Both dialects apply
//! such a batch with their own multi-row statements.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::domain::contact::Tag;
use crate::domain::ledger::{AttemptState, NewAttempt, Write, WriteGroup};
use crate::domain::outcome::Outcome;

/// A batch of write groups in a shape that can be applied set-wise, a statement per kind
/// of write instead of one per write, with the same effect as one write at a time:
/// - every guard moves a different row: `MarkSent`, `Reschedule` or `Close` of an attempt
///   (a dispatch batch) or `InboxApplied` of a provider event (an inbox batch), or none;
/// - after the guards come inserts (events, provider events, new attempts), which nothing
///   in the batch reads, and, in a batch without attempt guards, `Close` of distinct
///   attempts, `Connected` (which commutes with them: a close carries the flag as the
///   engine saw it, `Connected` only ever sets it) and `Tag`/`Untag` of distinct
///   (contact, tag) pairs.
///
/// Any other batch (survey answers, a second event closing the same attempt) is applied
/// one write at a time, in order.
pub(crate) struct SetBatch<'a> {
    /// (group, attempt, sent at, provider reference).
    pub sent: Vec<(usize, i64, DateTime<Utc>, &'a str)>,
    /// (group, attempt, not before, reason).
    pub rescheduled: Vec<(usize, i64, DateTime<Utc>, &'a str)>,
    /// (group, attempt, state, outcome, connected, reason).
    pub closed: Vec<Closing<'a>>,
    /// (group, inbox item).
    pub applied: Vec<(usize, i64)>,
    /// Groups without a guard.
    pub unguarded: Vec<usize>,
}

/// A close: (group, attempt, state, outcome, connected, reason).
pub(crate) type Closing<'a> = (
    usize,
    i64,
    AttemptState,
    Option<Outcome>,
    bool,
    Option<&'a str>,
);

fn closing(i: usize, w: &Write) -> Option<Closing<'_>> {
    match w {
        Write::Close {
            id,
            state,
            outcome,
            connected,
            reason,
        } => Some((i, *id, *state, *outcome, *connected, reason.as_deref())),
        _ => None,
    }
}

impl<'a> SetBatch<'a> {
    /// The batch's guards sorted by kind, or `None` when it does not have the shape.
    pub fn of(groups: &'a [WriteGroup]) -> Option<SetBatch<'a>> {
        let mut batch = SetBatch {
            sent: Vec::new(),
            rescheduled: Vec::new(),
            closed: Vec::new(),
            applied: Vec::new(),
            unguarded: Vec::new(),
        };
        let mut guarded = BTreeSet::new();
        let (mut closes, mut tags) = (BTreeSet::new(), BTreeSet::new());
        let mut updates = false;
        for (i, g) in groups.iter().enumerate() {
            for w in &g.then {
                match w {
                    Write::Event { .. } | Write::Inbox { .. } | Write::Attempt(_) => {}
                    Write::Connected { .. } => updates = true,
                    Write::Close { id, .. } => {
                        updates = true;
                        if !closes.insert(*id) {
                            return None;
                        }
                    }
                    Write::Tag {
                        contact_id,
                        tag: Tag { name, .. },
                    }
                    | Write::Untag { contact_id, name } => {
                        updates = true;
                        if !tags.insert((*contact_id, name.as_str())) {
                            return None;
                        }
                    }
                    _ => return None,
                }
            }
            let key = match &g.guard {
                None => {
                    batch.unguarded.push(i);
                    continue;
                }
                Some(Write::MarkSent {
                    id,
                    at,
                    provider_ref,
                }) => {
                    batch.sent.push((i, *id, *at, provider_ref));
                    (0, *id)
                }
                Some(Write::Reschedule {
                    id,
                    not_before,
                    reason,
                }) => {
                    batch.rescheduled.push((i, *id, *not_before, reason));
                    (0, *id)
                }
                Some(w @ Write::Close { id, .. }) => {
                    batch.closed.extend(closing(i, w));
                    (0, *id)
                }
                Some(Write::InboxApplied { id }) => {
                    batch.applied.push((i, *id));
                    (1, *id)
                }
                Some(_) => return None,
            };
            if !guarded.insert(key) {
                return None;
            }
        }
        let attempt_guards = batch.sent.len() + batch.rescheduled.len() + batch.closed.len();
        if updates && attempt_guards > 0 {
            return None;
        }
        Some(batch)
    }

    /// Which groups held, given the rows each set-wise guard moved: attempts, and inbox
    /// items.
    pub fn held(&self, groups: usize, moved: &BTreeSet<i64>, applied: &BTreeSet<i64>) -> Vec<bool> {
        let mut held = vec![false; groups];
        for &i in &self.unguarded {
            held[i] = true;
        }
        let guards = self.sent.iter().map(|g| (g.0, g.1));
        let guards = guards.chain(self.rescheduled.iter().map(|g| (g.0, g.1)));
        for (i, id) in guards.chain(self.closed.iter().map(|g| (g.0, g.1))) {
            held[i] = moved.contains(&id);
        }
        for &(i, id) in &self.applied {
            held[i] = applied.contains(&id);
        }
        held
    }
}

/// The writes after the guards of the groups that held, sorted for set-wise application.
#[derive(Default)]
pub(crate) struct Followers<'a> {
    pub closes: Vec<Closing<'a>>,
    pub connected: Vec<i64>,
    /// Tags and untags, one at a time (distinct pairs: their order does not matter).
    pub one_by_one: Vec<&'a Write>,
    pub events: Vec<&'a Write>,
    pub inbox: Vec<&'a Write>,
    pub attempts: Vec<&'a NewAttempt>,
}

impl<'a> Followers<'a> {
    pub fn of(groups: &'a [WriteGroup], held: &[bool]) -> Followers<'a> {
        let mut f = Followers::default();
        let writes = groups
            .iter()
            .zip(held)
            .filter(|(_, held)| **held)
            .flat_map(|(g, _)| g.then.iter());
        for w in writes {
            match w {
                Write::Close { .. } => f.closes.extend(closing(0, w)),
                Write::Connected { id } => f.connected.push(*id),
                Write::Event { .. } => f.events.push(w),
                Write::Inbox { .. } => f.inbox.push(w),
                Write::Attempt(a) => f.attempts.push(a),
                _ => f.one_by_one.push(w),
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(id: i64) -> Write {
        Write::Close {
            id,
            state: AttemptState::Done,
            outcome: Some(Outcome::Delivered),
            connected: false,
            reason: None,
        }
    }

    fn group(guard: Option<Write>, then: Vec<Write>) -> WriteGroup {
        WriteGroup { guard, then }
    }

    #[test]
    fn only_batches_whose_writes_commute_are_applied_set_wise() {
        let applied = |id| Some(Write::InboxApplied { id });
        let tag = |contact_id, name: &str| Write::Tag {
            contact_id,
            tag: Tag {
                name: name.into(),
                source: "c".into(),
                expires_at: None,
            },
        };
        let inbox = vec![
            group(applied(1), vec![close(10), Write::Connected { id: 11 }]),
            group(applied(2), vec![close(11), tag(5, "a"), tag(5, "b")]),
        ];
        let batch = SetBatch::of(&inbox).expect("an inbox batch");
        assert_eq!(batch.applied, vec![(0, 1), (1, 2)]);
        let held = batch.held(2, &BTreeSet::new(), &BTreeSet::from([2]));
        assert_eq!(held, vec![false, true]);
        let then = Followers::of(&inbox, &held);
        assert_eq!((then.closes.len(), then.one_by_one.len()), (1, 2));

        // The same attempt closed twice, the same tag twice, an item applied twice, or
        // updates after attempt guards: one write at a time.
        let twice = vec![
            group(applied(1), vec![close(10)]),
            group(applied(2), vec![close(10)]),
        ];
        assert!(SetBatch::of(&twice).is_none());
        let tags = vec![
            group(None, vec![tag(5, "a")]),
            group(None, vec![tag(5, "a")]),
        ];
        assert!(SetBatch::of(&tags).is_none());
        let items = vec![group(applied(1), vec![]), group(applied(1), vec![])];
        assert!(SetBatch::of(&items).is_none());
        let sent = Write::MarkSent {
            id: 10,
            at: DateTime::UNIX_EPOCH,
            provider_ref: "p".into(),
        };
        let mixed = vec![group(Some(sent.clone()), vec![Write::Connected { id: 10 }])];
        assert!(SetBatch::of(&mixed).is_none());
        let answer = vec![group(
            Some(sent),
            vec![Write::Untag {
                contact_id: 5,
                name: "a".into(),
            }],
        )];
        assert!(SetBatch::of(&answer).is_none());
    }
}
