//! The call desk, which gives each call to one agent and never more than their capacity,
//! and the rate buckets daemons share.

use chrono::{DateTime, Duration, Utc};
use herald::domain::ledger::{AttemptState, NewAttempt};
use herald::domain::outcome::Outcome;
use herald::domain::values::Channel;
use herald::store::{DeskTake, Store};

use crate::{ledger_fixture, new_attempt, t0};

async fn the_desk_gives_each_call_to_one_agent(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    store
        .upsert_agent("ann", &["collections".into(), "fr".into()], 2, t0())
        .await
        .unwrap();
    assert_eq!(
        store.agent("ann").await.unwrap(),
        Some((vec!["collections".to_string(), "fr".to_string()], 2))
    );
    store.upsert_agent("ann", &[], 3, t0()).await.unwrap();
    assert_eq!(store.agent("ann").await.unwrap(), Some((vec![], 3)));
    assert_eq!(store.agent("bob").await.unwrap(), None);
    store
        .upsert_agent("bob", &["fr".into()], 2, t0())
        .await
        .unwrap();
    store.upsert_agent("carl", &[], 5, t0()).await.unwrap();

    let batch = vec![
        new_attempt(run, a, "call", Channel::Agent, t0()),
        new_attempt(run, b, "call", Channel::Agent, t0()),
        new_attempt(run, b, "bot", Channel::VoiceBot, t0()),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    let id_of = |i: usize| {
        claimed
            .iter()
            .find(|x| x.idempotency_key == batch[i].idempotency_key())
            .unwrap()
            .id
    };
    // Handed to the desk: B's call first, then A's; the bot call is not the desk's.
    store.mark_sent(id_of(1), t0(), "desk-1").await.unwrap();
    store
        .mark_sent(id_of(0), t0() + Duration::minutes(1), "desk-2")
        .await
        .unwrap();
    store.mark_sent(id_of(2), t0(), "desk-3").await.unwrap();
    let waiting = store.desk_waiting(10).await.unwrap();
    assert_eq!(
        waiting.iter().map(|x| x.contact_id).collect::<Vec<_>>(),
        vec![b, a],
        "oldest first, agent calls only"
    );
    assert_eq!(store.desk_waiting(1).await.unwrap().len(), 1);

    let (ann, bob) = tokio::join!(
        store.desk_take(id_of(1), "ann", t0()),
        store.desk_take(id_of(1), "bob", t0()),
    );
    assert_eq!(
        [ann.unwrap(), bob.unwrap()]
            .iter()
            .filter(|t| **t == DeskTake::Taken)
            .count(),
        1,
        "exactly one agent gets the call"
    );
    let holder = if store.desk_held_by("ann").await.unwrap().is_empty() {
        "bob"
    } else {
        "ann"
    };
    assert_eq!(
        store.desk_take(id_of(1), "carl", t0()).await.unwrap(),
        DeskTake::Gone
    );
    assert_eq!(
        store.desk_take(id_of(1), "dora", t0()).await.unwrap(),
        DeskTake::UnknownAgent
    );
    assert_eq!(
        store
            .desk_take(id_of(0), holder, t0() + Duration::minutes(2))
            .await
            .unwrap(),
        DeskTake::Taken
    );
    let held = store.desk_held_by(holder).await.unwrap();
    assert_eq!(
        held.iter().map(|x| x.contact_id).collect::<Vec<_>>(),
        vec![b, a],
        "in the order taken"
    );
    assert!(store.desk_waiting(10).await.unwrap().is_empty());
    assert!(store.desk_held_by("carl").await.unwrap().is_empty());
    // A closed call is no longer held.
    store
        .close_attempt(
            id_of(0),
            AttemptState::Done,
            Some(Outcome::Paid),
            true,
            None,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(store.desk_held_by(holder).await.unwrap().len(), 1);
    assert_eq!(
        store.desk_take(id_of(0), "carl", t0()).await.unwrap(),
        DeskTake::Gone
    );
}

async fn racing_takes_never_give_an_agent_more_than_their_capacity(store: &impl Store) {
    let (run, a, _) = ledger_fixture(store).await;
    store.upsert_agent("ann", &[], 2, t0()).await.unwrap();
    let batch: Vec<NewAttempt> = (0..8)
        .map(|i| {
            let mut x = new_attempt(run, a, &format!("call{i}"), Channel::Agent, t0());
            x.step_index = i;
            x
        })
        .collect();
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    for (i, x) in claimed.iter().enumerate() {
        store
            .mark_sent(x.id, t0(), &format!("desk-{i}"))
            .await
            .unwrap();
    }
    let ids: Vec<i64> = claimed.iter().map(|x| x.id).collect();
    assert_eq!(ids.len(), 8);

    // Eight daemons each give ann a different waiting call at the same moment.
    let take = |i: usize| store.desk_take(ids[i], "ann", t0());
    let (r0, r1, r2, r3, r4, r5, r6, r7) = tokio::join!(
        take(0),
        take(1),
        take(2),
        take(3),
        take(4),
        take(5),
        take(6),
        take(7)
    );
    let results: Vec<DeskTake> = [r0, r1, r2, r3, r4, r5, r6, r7]
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let taken = results.iter().filter(|r| **r == DeskTake::Taken).count();
    assert_eq!(taken, 2, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, DeskTake::Taken | DeskTake::AtCapacity)),
        "{results:?}"
    );
    assert_eq!(store.desk_held_by("ann").await.unwrap().len(), 2);
    assert_eq!(store.desk_waiting(10).await.unwrap().len(), 6);
}

async fn a_rate_bucket_refills_with_time_and_never_backwards(store: &impl Store) {
    let ms = Duration::milliseconds;
    // A new bucket is full: a burst of its capacity, then one token every 1/rate.
    let first = store
        .take_tokens("channel:sms", 4.0, 4.0, 10, t0())
        .await
        .unwrap();
    assert_eq!(first.granted, 4);
    assert_eq!(first.next_token_at, t0() + ms(250));
    let early = store
        .take_tokens("channel:sms", 4.0, 4.0, 10, t0() + ms(200))
        .await
        .unwrap();
    assert_eq!(early.granted, 0);
    assert_eq!(early.next_token_at, t0() + ms(250));
    let later = store
        .take_tokens("channel:sms", 4.0, 4.0, 10, t0() + ms(800))
        .await
        .unwrap();
    assert_eq!(later.granted, 3, "3.2 tokens refilled in 800 ms");
    assert_eq!(later.next_token_at, t0() + ms(1000));
    // A daemon whose clock is behind gets nothing, and moves no time back: the bucket
    // still refills from 800 ms.
    let behind = store
        .take_tokens("channel:sms", 4.0, 4.0, 10, t0() + ms(100))
        .await
        .unwrap();
    assert_eq!(behind.granted, 0);
    assert_eq!(behind.next_token_at, t0() + ms(1000));
    let after = store
        .take_tokens("channel:sms", 4.0, 4.0, 2, t0() + ms(1300))
        .await
        .unwrap();
    assert_eq!(after.granted, 2, "1.4 tokens, 2 whole ones after 1300 ms");
    // Each bucket is its own.
    let other = store
        .take_tokens("channel:voice_bot", 1.0 / 60.0, 1.0, 3, t0() + ms(100))
        .await
        .unwrap();
    assert_eq!(other.granted, 1);
    assert_eq!(other.next_token_at, t0() + ms(100) + Duration::minutes(1));
}

/// One daemon taking from a shared bucket: asks for 3 tokens every 100 ms for 5 seconds,
/// its clock `skew_ms` off. Returns what it got and its first and last moments.
async fn take_for_five_seconds(
    store: &impl Store,
    skew_ms: i64,
) -> (u32, DateTime<Utc>, DateTime<Utc>) {
    let at = |step: i64| t0() + Duration::milliseconds(step * 100 + skew_ms);
    let mut got = 0;
    for step in 0..50 {
        got += store
            .take_tokens("channel:sms", 20.0, 20.0, 3, at(step))
            .await
            .unwrap()
            .granted;
    }
    (got, at(0), at(49))
}

async fn concurrent_takers_share_one_rate_bucket(store: &impl Store) {
    // Four daemons at once, asking for six times the rate between them.
    let (a, b, c, d) = tokio::join!(
        take_for_five_seconds(store, 0),
        take_for_five_seconds(store, 3),
        take_for_five_seconds(store, 7),
        take_for_five_seconds(store, -5),
    );
    let takers = [a, b, c, d];
    let given: u32 = takers.iter().map(|t| t.0).sum();
    let first = takers.iter().map(|t| t.1).min().unwrap();
    let last = takers.iter().map(|t| t.2).max().unwrap();
    let seconds = (last - first).num_milliseconds() as f64 / 1000.0;
    // The burst, then the rate over the time the bucket was taken from.
    let most = 20.0 + 20.0 * seconds;
    assert!(
        f64::from(given) <= most + 1e-6,
        "{given} tokens given, at most {most}"
    );
    assert!(
        f64::from(given) >= most - 5.0,
        "{given} tokens given, nearly {most} expected: takers asking for more than the \
         rate get it all"
    );
}

conformance!(
    the_desk_gives_each_call_to_one_agent,
    racing_takes_never_give_an_agent_more_than_their_capacity,
    a_rate_bucket_refills_with_time_and_never_backwards,
    concurrent_takers_share_one_rate_bucket,
);
