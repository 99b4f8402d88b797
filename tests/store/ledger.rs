//! The ledger's attempts: inserted once, claimed once (a silent daemon's claims go
//! back), moved through their states, cancelled; write groups under a guard, and batches
//! of writes applied set-wise exactly as one write at a time would be.

use chrono::{DateTime, Duration, Utc};
use herald::domain::contact::Tag;
use herald::domain::ledger::{AttemptState, NewAttempt, Report};
use herald::domain::lifecycle::{CampaignState, EventKind, RunState};
use herald::domain::outcome::Outcome;
use herald::domain::values::Channel;
use herald::store::{Store, Write, WriteGroup};

use crate::{ledger_fixture, new_attempt, t0};

async fn attempts_insert_once_and_keep_every_field(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let first = new_attempt(run, a, "sms1", Channel::Sms, t0());
    assert_eq!(
        store
            .insert_attempts(std::slice::from_ref(&first), t0())
            .await
            .unwrap(),
        1
    );
    let first_id = store
        .attempt_by_key(&first.idempotency_key())
        .await
        .unwrap()
        .unwrap()
        .id;
    let full = NewAttempt {
        step_index: 2,
        attempt_no: 3,
        obligation: Some("debt-7".into()),
        after_attempt: Some(first_id),
        condition: Some(Outcome::NoReply),
        variant: Some("b".into()),
        prompt: Some("ask:nps".into()),
        ..new_attempt(run, a, "call", Channel::VoiceBot, t0() + Duration::hours(2))
    };
    let other = new_attempt(run, b, "sms1", Channel::Sms, t0());
    // The repeat of `first` (same key) is left alone, in the batch as across batches.
    let batch = vec![first.clone(), full.clone(), other.clone(), full.clone()];
    assert_eq!(store.insert_attempts(&batch, t0()).await.unwrap(), 2);
    assert_eq!(store.insert_attempts(&batch, t0()).await.unwrap(), 0);
    assert_eq!(store.insert_attempts(&[], t0()).await.unwrap(), 0);

    let got = store
        .attempt_by_key(&full.idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.run_id, got.contact_id, got.campaign.as_str()),
        (run, a, "c1")
    );
    assert_eq!((got.step.as_str(), got.step_index), ("call", 2));
    assert_eq!((got.channel, got.attempt_no), (Channel::VoiceBot, 3));
    assert_eq!(got.not_before, t0() + Duration::hours(2));
    assert_eq!(got.state, AttemptState::Queued);
    assert_eq!(got.idempotency_key, full.idempotency_key());
    assert_eq!(got.obligation.as_deref(), Some("debt-7"));
    assert_eq!(got.after_attempt, Some(first_id));
    assert_eq!(got.condition, Some(Outcome::NoReply));
    assert_eq!(got.variant.as_deref(), Some("b"));
    assert_eq!(got.prompt.as_deref(), Some("ask:nps"));
    assert!(!got.connected);
    assert_eq!(
        (got.sent_at, got.provider_ref, got.outcome),
        (None, None, None)
    );
    assert!(store.attempt_by_key("nope").await.unwrap().is_none());

    let of_a = store.attempts_of_contact_in_run(run, a).await.unwrap();
    assert_eq!(
        of_a.iter().map(|x| x.step.as_str()).collect::<Vec<_>>(),
        vec!["sms1", "call"],
        "in id order, which is the batch's order"
    );
    let both = store
        .attempts_of_contacts_in_runs(&[run], &[a, b])
        .await
        .unwrap();
    assert_eq!(both.len(), 3);
    assert!(both.windows(2).all(|w| w[0].id < w[1].id));
    assert!(
        store
            .attempts_of_contacts_in_runs(&[run + 100], &[a, b])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .attempts_of_contacts_in_runs(&[], &[a])
            .await
            .unwrap()
            .is_empty()
    );
    let by_keys = store
        .attempts_by_keys(&[other.idempotency_key(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(by_keys.len(), 1);
    assert_eq!(by_keys[0].contact_id, b);
    assert!(store.attempts_by_keys(&[]).await.unwrap().is_empty());
}

async fn claims_take_due_attempts_of_active_campaigns_once(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let batch = vec![
        new_attempt(run, a, "s1", Channel::Sms, t0()),
        new_attempt(run, b, "s1", Channel::Sms, t0() - Duration::minutes(5)),
        new_attempt(run, a, "s2", Channel::Email, t0() + Duration::hours(1)),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t0() - Duration::minutes(5))
    );

    store
        .set_campaign_state("c1", CampaignState::Paused, t0())
        .await
        .unwrap();
    assert!(store.claim_due(t0(), 10, "d1").await.unwrap().is_empty());
    assert_eq!(
        store.next_due().await.unwrap(),
        None,
        "a paused campaign waits for nothing"
    );
    store
        .set_campaign_state("c1", CampaignState::Active, t0())
        .await
        .unwrap();

    let first = store.claim_due(t0(), 1, "d1").await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].contact_id, b, "the earliest due first");
    assert_eq!(first[0].state, AttemptState::Sending);
    let second = store.claim_due(t0(), 10, "d1").await.unwrap();
    assert_eq!(
        second.len(),
        1,
        "the later attempt is not due yet: {second:?}"
    );
    assert_eq!((second[0].contact_id, second[0].step.as_str()), (a, "s1"));
    assert!(store.claim_due(t0(), 10, "d1").await.unwrap().is_empty());
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t0() + Duration::hours(1))
    );

    let ids = [first[0].id, second[0].id];
    assert_eq!(store.attempts_claimed(&ids, t0()).await.unwrap().len(), 2);
    assert!(
        store
            .attempts_claimed(&ids, t0() + Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.attempts_claimed(&[], t0()).await.unwrap().is_empty());

    // A dispatcher that died: its claims go back to the queue and are claimed again.
    let later = t0() + Duration::minutes(10);
    assert_eq!(
        store
            .requeue_stale(t0(), t0() - Duration::hours(1), later)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .requeue_stale(
                t0() + Duration::seconds(1),
                t0() - Duration::hours(1),
                later
            )
            .await
            .unwrap(),
        2
    );
    let again = store.claim_due(later, 10, "d1").await.unwrap();
    assert_eq!(again.len(), 2);
    assert!(store.attempts_claimed(&ids, t0()).await.unwrap().is_empty());
    assert_eq!(store.attempts_claimed(&ids, later).await.unwrap().len(), 2);
}

async fn concurrent_claims_never_take_the_same_attempt(store: &impl Store) {
    let (run, a, _) = ledger_fixture(store).await;
    let batch: Vec<NewAttempt> = (0..60)
        .map(|i| {
            let mut x = new_attempt(run, a, &format!("s{i}"), Channel::Sms, t0());
            x.step_index = i;
            x
        })
        .collect();
    assert_eq!(store.insert_attempts(&batch, t0()).await.unwrap(), 60);
    let (w, x, y, z) = tokio::join!(
        store.claim_due(t0(), 20, "d1"),
        store.claim_due(t0(), 20, "d1"),
        store.claim_due(t0(), 20, "d1"),
        store.claim_due(t0(), 20, "d1"),
    );
    let mut ids: Vec<i64> = [w, x, y, z]
        .into_iter()
        .flat_map(|r| r.unwrap())
        .map(|a| a.id)
        .collect();
    let claimed = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), claimed, "an attempt was claimed twice");
    assert_eq!(claimed, 60, "every due attempt is claimed by someone");
}

async fn a_silent_daemons_claims_go_back_and_a_live_ones_stay(store: &impl Store) {
    use herald::store::Daemon;
    let (run, a, _) = ledger_fixture(store).await;
    let batch: Vec<NewAttempt> = (0..6)
        .map(|i| {
            let mut x = new_attempt(run, a, &format!("s{i}"), Channel::Sms, t0());
            x.step_index = i;
            x
        })
        .collect();
    store.insert_attempts(&batch, t0()).await.unwrap();
    let daemon = |id: &str| Daemon {
        id: id.into(),
        host: "h".into(),
        pid: 1,
        started_at: t0(),
        seen_at: t0(),
    };
    let (d1, d2) = (daemon("d1"), daemon("d2"));
    store.daemon_beat(&d1, t0()).await.unwrap();
    store.daemon_beat(&d2, t0()).await.unwrap();
    let by_d1 = store.claim_due(t0(), 2, "d1").await.unwrap();
    let by_d2 = store.claim_due(t0(), 2, "d2").await.unwrap();
    let by_d3 = store.claim_due(t0(), 2, "d3").await.unwrap();
    assert_eq!((by_d1.len(), by_d2.len(), by_d3.len()), (2, 2, 2));

    // Twenty seconds on, d1 is still beating and d2 has stopped; d3 never beat (a
    // one-off process), so only its lease can free its claims.
    let now = t0() + Duration::seconds(20);
    store.daemon_beat(&d1, now).await.unwrap();
    let lease_cutoff = t0() - Duration::minutes(5);
    assert_eq!(
        store
            .requeue_stale(lease_cutoff, now - Duration::seconds(15), now)
            .await
            .unwrap(),
        2,
        "the silent daemon's claims, and only those, go back"
    );
    let ids = |v: &[herald::domain::ledger::Attempt]| v.iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        store
            .attempts_claimed(&ids(&by_d1), t0())
            .await
            .unwrap()
            .len(),
        2,
        "a live daemon keeps its claims"
    );
    assert!(
        store
            .attempts_claimed(&ids(&by_d2), t0())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .attempts_claimed(&ids(&by_d3), t0())
            .await
            .unwrap()
            .len(),
        2
    );
    let retaken = store.claim_due(now, 10, "d1").await.unwrap();
    assert_eq!(ids(&retaken), ids(&by_d2), "taken over by a live daemon");

    let seen: Vec<(String, DateTime<Utc>)> = store
        .daemons()
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.seen_at))
        .collect();
    assert_eq!(seen, vec![("d1".into(), now), ("d2".into(), t0())]);

    // d1 stops: what it holds goes back at once, and it is forgotten with d2, silent
    // since before the cut-off.
    assert_eq!(
        store
            .daemon_gone("d1", t0() + Duration::seconds(1), now)
            .await
            .unwrap(),
        4
    );
    assert!(store.daemons().await.unwrap().is_empty());
    assert!(
        store
            .attempts_claimed(&ids(&by_d1), t0())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn attempts_move_through_their_states_once(store: &impl Store) {
    let (run, a, _) = ledger_fixture(store).await;
    let batch = vec![
        new_attempt(run, a, "s1", Channel::Sms, t0()),
        new_attempt(run, a, "s2", Channel::Sms, t0()),
        new_attempt(run, a, "s3", Channel::Sms, t0() + Duration::days(1)),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    let (one, two) = (claimed[0].id, claimed[1].id);
    let three = store
        .attempt_by_key(&batch[2].idempotency_key())
        .await
        .unwrap()
        .unwrap()
        .id;

    let at = t0() + Duration::seconds(3);
    assert!(store.mark_sent(one, at, "prov-1").await.unwrap());
    assert!(
        !store.mark_sent(one, at, "prov-2").await.unwrap(),
        "only from sending"
    );
    assert!(
        !store.mark_sent(three, at, "prov-3").await.unwrap(),
        "not from queued"
    );
    let sent = store
        .attempt_by_key(&batch[0].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.state, AttemptState::Sent);
    assert_eq!(
        (sent.sent_at, sent.provider_ref.as_deref()),
        (Some(at), Some("prov-1"))
    );

    store.set_connected(one, at).await.unwrap();
    assert!(
        store
            .attempt_by_key(&batch[0].idempotency_key())
            .await
            .unwrap()
            .unwrap()
            .connected
    );
    assert!(
        store
            .close_attempt(
                one,
                AttemptState::Done,
                Some(Outcome::Delivered),
                true,
                Some("ok"),
                at
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .close_attempt(
                one,
                AttemptState::Done,
                Some(Outcome::Failed),
                false,
                None,
                at
            )
            .await
            .unwrap(),
        "a second outcome changes nothing"
    );
    let done = store
        .attempt_by_key(&batch[0].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, AttemptState::Done);
    assert_eq!(done.outcome, Some(Outcome::Delivered));
    assert_eq!(done.reason.as_deref(), Some("ok"));

    // An opt-out replaces the outcome of a closed attempt and closes an open one.
    store.mark_opted_out(one, at).await.unwrap();
    store.mark_opted_out(three, at).await.unwrap();
    let one_now = store
        .attempt_by_key(&batch[0].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (one_now.state, one_now.outcome),
        (AttemptState::Done, Some(Outcome::OptedOut))
    );
    let three_now = store
        .attempt_by_key(&batch[2].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (three_now.state, three_now.outcome),
        (AttemptState::Done, Some(Outcome::OptedOut))
    );
    assert!(three_now.connected);

    // Rescheduled from sending: back to the queue with its reason, its claim dropped.
    let later = t0() + Duration::hours(4);
    store
        .reschedule(two, later, "quiet hours", at)
        .await
        .unwrap();
    let two_now = store
        .attempt_by_key(&batch[1].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (two_now.state, two_now.not_before),
        (AttemptState::Queued, later)
    );
    assert_eq!(two_now.reason.as_deref(), Some("quiet hours"));
    assert!(
        store
            .attempts_claimed(&[two], t0())
            .await
            .unwrap()
            .is_empty()
    );
    // ... but a closed attempt is never reopened.
    store.reschedule(one, later, "again", at).await.unwrap();
    assert_eq!(
        store
            .attempt_by_key(&batch[0].idempotency_key())
            .await
            .unwrap()
            .unwrap()
            .state,
        AttemptState::Done
    );
    assert_eq!(store.next_due().await.unwrap(), Some(later));
}

async fn cancels_touch_only_queued_attempts_they_name(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let version = store
        .campaign_version("c2", "hash2", "source", t0())
        .await
        .unwrap();
    let run2 = store
        .create_run("c2", version, t0(), RunState::Running, t0())
        .await
        .unwrap()
        .unwrap();
    let later = t0() + Duration::hours(1);
    let batch = vec![
        new_attempt(run, a, "sms", Channel::Sms, later),
        new_attempt(run, a, "mail", Channel::Email, later),
        new_attempt(run, a, "call", Channel::VoiceBot, later),
        new_attempt(run2, a, "sms", Channel::Sms, later),
        new_attempt(run, b, "sms", Channel::Sms, later),
        new_attempt(run, b, "now", Channel::Sms, t0()),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    let sending = store.claim_due(t0(), 10, "d1").await.unwrap();
    assert_eq!(sending.len(), 1);

    let state = |i: usize| {
        let key = batch[i].idempotency_key();
        async move { store.attempt_by_key(&key).await.unwrap().unwrap() }
    };
    assert_eq!(
        store
            .cancel_queued_for_contact(
                a,
                &[Channel::Sms, Channel::Email],
                Some(run),
                "opted out",
                t0()
            )
            .await
            .unwrap(),
        2
    );
    assert_eq!(state(0).await.state, AttemptState::Cancelled);
    assert_eq!(state(0).await.reason.as_deref(), Some("opted out"));
    assert_eq!(state(1).await.state, AttemptState::Cancelled);
    assert_eq!(
        state(2).await.state,
        AttemptState::Queued,
        "another channel"
    );
    assert_eq!(state(3).await.state, AttemptState::Queued, "another run");
    assert_eq!(
        store
            .cancel_queued_for_contact(a, &[Channel::Sms], None, "opted out", t0())
            .await
            .unwrap(),
        1,
        "every run"
    );
    assert_eq!(state(3).await.state, AttemptState::Cancelled);

    assert_eq!(
        store
            .cancel_queued_for_campaign("c1", "cancelled", t0())
            .await
            .unwrap(),
        2
    );
    assert_eq!(state(2).await.state, AttemptState::Cancelled);
    assert_eq!(state(4).await.state, AttemptState::Cancelled);
    assert_eq!(
        state(5).await.state,
        AttemptState::Sending,
        "only queued ones"
    );
    assert_eq!(
        store
            .cancel_queued_for_campaign("c1", "cancelled", t0())
            .await
            .unwrap(),
        0
    );
}

async fn a_write_group_applies_only_when_its_guard_holds(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let batch = vec![
        new_attempt(run, a, "s1", Channel::Sms, t0()),
        new_attempt(run, b, "s1", Channel::Sms, t0() + Duration::hours(1)),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    let sending = claimed[0].id;
    let queued = store
        .attempt_by_key(&batch[1].idempotency_key())
        .await
        .unwrap()
        .unwrap()
        .id;
    let at = t0() + Duration::seconds(5);
    let vip = Tag {
        name: "vip".into(),
        source: "c1".into(),
        expires_at: Some(t0() + Duration::days(30)),
    };
    let event = |id: i64, kind: &str| Write::Event {
        attempt_id: id,
        kind: kind.parse().unwrap(),
        detail: Some("d".into()),
        payload: serde_json::json!({"n": 1, "s": "x"}),
        occurred_at: at,
    };
    let follow_up = new_attempt(run, a, "s2", Channel::Email, t0() + Duration::days(1));
    let groups = vec![
        WriteGroup {
            guard: Some(Write::MarkSent {
                id: sending,
                at,
                provider_ref: "p1".into(),
            }),
            then: vec![
                event(sending, "sent"),
                Write::Connected { id: sending },
                Write::Tag {
                    contact_id: a,
                    tag: vip.clone(),
                },
                Write::Attempt(follow_up.clone()),
            ],
        },
        // Its guard fails (the attempt is queued, not sending): nothing of it happens.
        WriteGroup {
            guard: Some(Write::MarkSent {
                id: queued,
                at,
                provider_ref: "p2".into(),
            }),
            then: vec![
                event(queued, "sent"),
                Write::Untag {
                    contact_id: a,
                    name: "imported".into(),
                },
            ],
        },
        WriteGroup {
            guard: None,
            then: vec![
                Write::Reschedule {
                    id: queued,
                    not_before: t0() + Duration::hours(3),
                    reason: "window".into(),
                },
                Write::Inbox {
                    provider: "sms-gw".into(),
                    event_key: "e1".into(),
                    idempotency_key: batch[0].idempotency_key(),
                    report: Report::Reply { text: "YES".into() },
                    due_at: at,
                },
            ],
        },
        // A later group sees the writes of the earlier ones in the same transaction.
        WriteGroup {
            guard: Some(Write::Close {
                id: sending,
                state: AttemptState::Done,
                outcome: Some(Outcome::Replied),
                connected: true,
                reason: None,
            }),
            then: vec![Write::Untag {
                contact_id: a,
                name: "imported".into(),
            }],
        },
        WriteGroup {
            guard: Some(Write::Close {
                id: sending,
                state: AttemptState::Done,
                outcome: Some(Outcome::Failed),
                connected: false,
                reason: None,
            }),
            then: vec![event(sending, "failed")],
        },
    ];
    assert_eq!(
        store.apply_writes(&groups, at).await.unwrap(),
        vec![true, false, true, true, false]
    );

    let first = store
        .attempt_by_key(&batch[0].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.provider_ref.as_deref(), Some("p1"));
    assert!(first.connected);
    assert_eq!(
        (first.state, first.outcome),
        (AttemptState::Done, Some(Outcome::Replied))
    );
    let second = store
        .attempt_by_key(&batch[1].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.state, AttemptState::Queued);
    assert_eq!(second.provider_ref, None);
    assert_eq!(second.not_before, t0() + Duration::hours(3));
    assert!(
        store
            .attempt_by_key(&follow_up.idempotency_key())
            .await
            .unwrap()
            .is_some()
    );

    let contact = store.contact("A").await.unwrap().unwrap();
    let tags: Vec<&str> = contact.tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tags, vec!["vip"], "vip added, imported removed");
    assert_eq!(contact.tags[0].expires_at, vip.expires_at);

    let events = store.events_of_contact(a, 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "sent");
    assert_eq!(events[0]["detail"], "d");
    assert_eq!(events[0]["campaign"], "c1");
    assert_eq!(events[0]["step"], "s1");
    assert_eq!(events[0]["channel"], "sms");
    assert_eq!(events[0]["attempt"], 1);
    assert_eq!(events[0]["payload"], serde_json::json!({"n": 1, "s": "x"}));
    assert!(store.events_of_contact(b, 10).await.unwrap().is_empty());

    let inbox = store.inbox_due(at, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].report, Report::Reply { text: "YES".into() });
    // Applying the same item twice: the second write changes nothing.
    let applied = WriteGroup {
        guard: Some(Write::InboxApplied { id: inbox[0].id }),
        then: vec![],
    };
    assert_eq!(
        store
            .apply_writes(&[applied.clone(), applied], at)
            .await
            .unwrap(),
        vec![true, false]
    );
    assert_eq!(store.inbox_pending().await.unwrap(), 0);
    assert!(store.apply_writes(&[], at).await.unwrap().is_empty());
}

/// A batch shaped like a dispatch (guards on distinct attempts, then only inserts) is
/// applied a statement per kind of write; what it does must be what one write at a time
/// does: failed guards drop their inserts, times keep their order, payloads stay JSON.
async fn a_dispatch_batch_applies_set_wise_as_one_write_at_a_time(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let steps = ["s1", "s2", "s3", "s4"];
    let batch: Vec<NewAttempt> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let mut x = new_attempt(run, a, step, Channel::Sms, t0());
            x.step_index = i;
            x
        })
        .chain(std::iter::once(new_attempt(
            run,
            b,
            "s1",
            Channel::Sms,
            t0() + Duration::hours(2),
        )))
        .collect();
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    assert_eq!(claimed.len(), 4);
    let id = |i: usize| claimed[i].id;
    let not_claimed = store
        .attempt_by_key(&batch[4].idempotency_key())
        .await
        .unwrap()
        .unwrap()
        .id;
    let at = t0() + Duration::milliseconds(1500);
    let event = |attempt_id: i64, kind: &str, detail: Option<&str>| Write::Event {
        attempt_id,
        kind: kind.parse().unwrap(),
        detail: detail.map(Into::into),
        payload: serde_json::json!({"template": "t", "n": [1, 2]}),
        occurred_at: at,
    };
    let follow_up = new_attempt(run, a, "s9", Channel::Email, t0() + Duration::days(1));
    let sent = |i: usize, r: &str| Write::MarkSent {
        id: id(i),
        at,
        provider_ref: r.into(),
    };
    let groups = vec![
        WriteGroup {
            guard: Some(sent(0, "p0")),
            then: vec![
                event(id(0), "sent", None),
                Write::Inbox {
                    provider: "sim".into(),
                    event_key: "k0".into(),
                    idempotency_key: batch[0].idempotency_key(),
                    report: Report::Reply { text: "YES".into() },
                    due_at: at,
                },
                Write::Attempt(follow_up.clone()),
            ],
        },
        // Queued, not sending: the guard fails and its event is not written.
        WriteGroup {
            guard: Some(Write::MarkSent {
                id: not_claimed,
                at,
                provider_ref: "px".into(),
            }),
            then: vec![event(not_claimed, "sent", None)],
        },
        WriteGroup {
            guard: Some(Write::Reschedule {
                id: id(1),
                not_before: t0() + Duration::minutes(90),
                reason: "window_closed".into(),
            }),
            then: vec![],
        },
        WriteGroup {
            guard: Some(Write::Close {
                id: id(2),
                state: AttemptState::Skipped,
                outcome: None,
                connected: false,
                reason: Some("dnc".into()),
            }),
            then: vec![event(id(2), "skipped", Some("dnc"))],
        },
        WriteGroup {
            guard: Some(sent(3, "p3")),
            then: vec![event(id(3), "sent", None)],
        },
    ];
    assert_eq!(
        store.apply_writes(&groups, at).await.unwrap(),
        vec![true, false, true, true, true]
    );
    let keys: Vec<String> = batch.iter().map(|x| x.idempotency_key()).collect();
    let read = |i: usize| store.attempt_by_key(&keys[i]);
    let first = read(0).await.unwrap().unwrap();
    assert_eq!(first.state, AttemptState::Sent);
    assert_eq!(
        first.sent_at,
        Some(at),
        "the time survives to the millisecond"
    );
    assert_eq!(first.provider_ref.as_deref(), Some("p0"));
    let rescheduled = read(1).await.unwrap().unwrap();
    assert_eq!(rescheduled.state, AttemptState::Queued);
    assert_eq!(rescheduled.not_before, t0() + Duration::minutes(90));
    let skipped = read(2).await.unwrap().unwrap();
    assert_eq!(
        (skipped.state, skipped.reason.as_deref()),
        (AttemptState::Skipped, Some("dnc"))
    );
    assert_eq!(
        read(3).await.unwrap().unwrap().provider_ref.as_deref(),
        Some("p3")
    );
    let untouched = read(4).await.unwrap().unwrap();
    assert_eq!(
        (untouched.state, untouched.provider_ref),
        (AttemptState::Queued, None)
    );
    assert!(
        store
            .attempt_by_key(&follow_up.idempotency_key())
            .await
            .unwrap()
            .is_some()
    );
    // The rescheduled attempt is due at its new time, not before, by the stored times.
    assert!(
        store
            .claim_due(t0() + Duration::minutes(89), 10, "d1")
            .await
            .unwrap()
            .is_empty()
    );
    let due: Vec<i64> = store
        .claim_due(t0() + Duration::minutes(90), 10, "d1")
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(due, vec![id(1)]);

    let events = store.events_of_contact(a, 10).await.unwrap();
    let kinds: Vec<(&str, &serde_json::Value)> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), &e["detail"]))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("sent", &serde_json::Value::Null),
            ("skipped", &serde_json::json!("dnc")),
            ("sent", &serde_json::Value::Null)
        ]
    );
    assert_eq!(
        events[0]["payload"],
        serde_json::json!({"template": "t", "n": [1, 2]})
    );
    assert!(store.events_of_contact(b, 10).await.unwrap().is_empty());
    let inbox = store.inbox_due(at, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].report, Report::Reply { text: "YES".into() });

    // The same batch again: every guard fails but the reschedule's (its attempt was
    // claimed again just above), and nothing is written twice.
    assert_eq!(
        store.apply_writes(&groups, at).await.unwrap(),
        vec![false, false, true, false, false]
    );
    assert_eq!(store.events_of_contact(a, 10).await.unwrap().len(), 3);
}

/// A batch shaped like provider events being applied (each guarded by its inbox item,
/// then closes, connections, tags and inserts) is applied set-wise; a batch that closes one
/// attempt twice is applied one write at a time, the first close winning, as before.
async fn an_inbox_batch_applies_set_wise_as_one_write_at_a_time(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let batch = vec![
        new_attempt(run, a, "s1", Channel::Sms, t0()),
        new_attempt(run, b, "s1", Channel::Sms, t0()),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    let (x, y) = (claimed[0].id, claimed[1].id);
    let sent = |id| WriteGroup {
        guard: Some(Write::MarkSent {
            id,
            at: t0(),
            provider_ref: "p".into(),
        }),
        then: vec![],
    };
    store.apply_writes(&[sent(x), sent(y)], t0()).await.unwrap();
    let report = Report::Reply { text: "ok".into() };
    let items: Vec<(String, String, Report, DateTime<Utc>)> = (0..3)
        .map(|i| {
            (
                format!("e{i}"),
                batch[0].idempotency_key(),
                report.clone(),
                t0(),
            )
        })
        .collect();
    store.inbox_push("sim", &items, t0()).await.unwrap();
    let inbox: Vec<i64> = store
        .inbox_due(t0(), 10)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    // The third item was applied already.
    store
        .apply_writes(
            &[WriteGroup {
                guard: Some(Write::InboxApplied { id: inbox[2] }),
                then: vec![],
            }],
            t0(),
        )
        .await
        .unwrap();
    let at = t0() + Duration::seconds(3);
    let event = |attempt_id, kind: &str| Write::Event {
        attempt_id,
        kind: kind.parse().unwrap(),
        detail: None,
        payload: serde_json::Value::Null,
        occurred_at: at,
    };
    let replied = Tag {
        name: "replied".into(),
        source: "c1".into(),
        expires_at: None,
    };
    let groups = vec![
        WriteGroup {
            guard: Some(Write::InboxApplied { id: inbox[0] }),
            then: vec![
                event(x, "delivered"),
                Write::Close {
                    id: x,
                    state: AttemptState::Done,
                    outcome: Some(Outcome::Delivered),
                    connected: false,
                    reason: None,
                },
            ],
        },
        WriteGroup {
            guard: Some(Write::InboxApplied { id: inbox[1] }),
            then: vec![
                event(y, "replied"),
                Write::Connected { id: y },
                Write::Tag {
                    contact_id: b,
                    tag: replied.clone(),
                },
                Write::Attempt(new_attempt(run, b, "s2", Channel::Sms, at)),
            ],
        },
        WriteGroup {
            guard: Some(Write::InboxApplied { id: inbox[2] }),
            then: vec![event(y, "answer"), Write::Connected { id: x }],
        },
    ];
    assert_eq!(
        store.apply_writes(&groups, at).await.unwrap(),
        vec![true, true, false]
    );
    let first = store
        .attempt_by_key(&batch[0].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.state, first.outcome, first.connected),
        (AttemptState::Done, Some(Outcome::Delivered), false)
    );
    let second = store
        .attempt_by_key(&batch[1].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.state, second.connected), (AttemptState::Sent, true));
    let contact = store.contact("B").await.unwrap().unwrap();
    assert!(contact.tags.iter().any(|t| t.name == "replied"));
    let next = new_attempt(run, b, "s2", Channel::Sms, at).idempotency_key();
    assert!(store.attempt_by_key(&next).await.unwrap().is_some());
    let kinds = |id| async move {
        store
            .events_of_contact(id, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(a).await, vec!["delivered"]);
    assert_eq!(kinds(b).await, vec!["replied"]);
    assert_eq!(store.inbox_pending().await.unwrap(), 0);

    // Two closes of one attempt in one batch: one at a time, the first wins.
    let close = |outcome| WriteGroup {
        guard: None,
        then: vec![Write::Close {
            id: y,
            state: AttemptState::Done,
            outcome: Some(outcome),
            connected: true,
            reason: None,
        }],
    };
    store
        .apply_writes(&[close(Outcome::Replied), close(Outcome::Failed)], at)
        .await
        .unwrap();
    let second = store
        .attempt_by_key(&batch[1].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.outcome, Some(Outcome::Replied));
}

async fn a_failed_batch_of_writes_leaves_nothing(store: &impl Store) {
    let (run, a, _) = ledger_fixture(store).await;
    let first = new_attempt(run, a, "s1", Channel::Sms, t0());
    store
        .insert_attempts(std::slice::from_ref(&first), t0())
        .await
        .unwrap();
    let id = store.claim_due(t0(), 1, "d1").await.unwrap()[0].id;
    let groups = vec![
        WriteGroup {
            guard: Some(Write::MarkSent {
                id,
                at: t0(),
                provider_ref: "p1".into(),
            }),
            then: vec![Write::Tag {
                contact_id: a,
                tag: Tag {
                    name: "vip".into(),
                    source: "c1".into(),
                    expires_at: None,
                },
            }],
        },
        // An event on an attempt that does not exist breaks a foreign key.
        WriteGroup {
            guard: None,
            then: vec![Write::Event {
                attempt_id: id + 1000,
                kind: EventKind::Sent,
                detail: None,
                payload: serde_json::json!({}),
                occurred_at: t0(),
            }],
        },
    ];
    assert!(store.apply_writes(&groups, t0()).await.is_err());
    let after = store
        .attempt_by_key(&first.idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.state,
        AttemptState::Sending,
        "the first group was rolled back too"
    );
    assert_eq!(after.provider_ref, None);
    let tags = store.contact("A").await.unwrap().unwrap().tags;
    assert!(tags.iter().all(|t| t.name != "vip"));
}

conformance!(
    attempts_insert_once_and_keep_every_field,
    claims_take_due_attempts_of_active_campaigns_once,
    concurrent_claims_never_take_the_same_attempt,
    a_silent_daemons_claims_go_back_and_a_live_ones_stay,
    attempts_move_through_their_states_once,
    cancels_touch_only_queued_attempts_they_name,
    a_write_group_applies_only_when_its_guard_holds,
    a_dispatch_batch_applies_set_wise_as_one_write_at_a_time,
    an_inbox_batch_applies_set_wise_as_one_write_at_a_time,
    a_failed_batch_of_writes_leaves_nothing,
);
