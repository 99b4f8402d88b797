//! Campaigns, their versions and their runs, and the state each keeps.

use std::collections::BTreeMap;

use chrono::Duration;
use herald::domain::ledger::AttemptState;
use herald::domain::lifecycle::{CampaignState, RunState};
use herald::domain::values::Channel;
use herald::store::Store;

use crate::{ledger_fixture, new_attempt, t0};

async fn campaigns_versions_and_runs_keep_their_state(store: &impl Store) {
    assert_eq!(store.campaign_state("c1").await.unwrap(), "active");
    store
        .set_campaign_state("c1", CampaignState::Cancelled, t0())
        .await
        .unwrap();
    store
        .set_campaign_state("c1", CampaignState::Paused, t0())
        .await
        .unwrap();
    store
        .set_campaign_state("c2", CampaignState::Cancelled, t0())
        .await
        .unwrap();
    assert_eq!(store.campaign_state("c1").await.unwrap(), "paused");
    assert_eq!(
        store.campaign_states().await.unwrap(),
        BTreeMap::from([
            ("c1".to_string(), CampaignState::Paused),
            ("c2".to_string(), CampaignState::Cancelled),
        ])
    );

    let v1 = store
        .campaign_version("c1", "h1", "src 1", t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .campaign_version("c1", "h1", "src 1", t0())
            .await
            .unwrap(),
        v1,
        "a version is recorded once"
    );
    let v2 = store
        .campaign_version("c1", "h2", "src 2", t0())
        .await
        .unwrap();
    assert_ne!(v1, v2);

    let (occ1, occ2) = (t0(), t0() + Duration::days(1));
    let r1 = store
        .create_run("c1", v1, occ1, RunState::Planning, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .create_run("c1", v2, occ1, RunState::Planning, t0())
            .await
            .unwrap(),
        None,
        "an occurrence is planned once"
    );
    let r2 = store
        .create_run("c1", v2, occ2, RunState::Running, t0())
        .await
        .unwrap()
        .unwrap();
    let r3 = store
        .create_run("c2", v1, occ1, RunState::Planning, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.last_occurrence("c1").await.unwrap(), Some(occ2));
    assert_eq!(store.last_occurrence("nothing").await.unwrap(), None);

    let planned = store.run(r1).await.unwrap().unwrap();
    assert_eq!(
        (
            planned.campaign.as_str(),
            planned.occurrence,
            planned.state.as_str()
        ),
        ("c1", occ1, "planning")
    );
    assert_eq!(planned.summary, serde_json::json!({}));
    assert_eq!((planned.created_at, planned.finished_at), (t0(), None));

    store
        .set_run_summary(r1, &serde_json::json!({"planned": 3, "steps": ["a"]}))
        .await
        .unwrap();
    let opened = store.run(r1).await.unwrap().unwrap();
    assert_eq!(opened.state, "running", "a summary opens a planned run");
    assert_eq!(
        opened.summary,
        serde_json::json!({"planned": 3, "steps": ["a"]})
    );
    let ids =
        |runs: Vec<herald::domain::ledger::Run>| runs.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(store.running_runs().await.unwrap()), vec![r1, r2]);
    assert_eq!(
        ids(store.finishable_runs().await.unwrap()),
        vec![r1, r2],
        "running runs without attempts are finishable"
    );
    assert_eq!(store.open_attempts(r1).await.unwrap(), 0);

    let done_at = t0() + Duration::days(2);
    store
        .finish_run(
            r2,
            RunState::Finished,
            &serde_json::json!({"sent": 1}),
            done_at,
        )
        .await
        .unwrap();
    let finished = store.run(r2).await.unwrap().unwrap();
    assert_eq!(finished.state, "finished");
    assert_eq!(finished.finished_at, Some(done_at));
    assert_eq!(finished.summary, serde_json::json!({"sent": 1}));
    store
        .set_run_summary(r2, &serde_json::json!({"sent": 2}))
        .await
        .unwrap();
    assert_eq!(
        store.run(r2).await.unwrap().unwrap().state,
        "finished",
        "a summary opens only planned runs"
    );
    assert_eq!(ids(store.running_runs().await.unwrap()), vec![r1]);

    assert_eq!(ids(store.runs(Some("c1"), 10).await.unwrap()), vec![r2, r1]);
    assert_eq!(ids(store.runs(None, 2).await.unwrap()), vec![r3, r2]);
    assert_eq!(
        store
            .run_by_occurrence("c1", occ2)
            .await
            .unwrap()
            .map(|r| r.id),
        Some(r2)
    );
    assert!(store.run_by_occurrence("c2", occ2).await.unwrap().is_none());
    assert!(store.run(r3 + 100).await.unwrap().is_none());
}

/// A contact is inside a campaign's sequence while one of its attempts in a run of that
/// campaign is open (queued, being sent, or sent and waiting for its outcome); the run being
/// planned, and other campaigns, do not count.
async fn a_sequence_is_live_while_one_of_its_attempts_is_open(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let version = store
        .campaign_version("c1", "hash1", "source", t0())
        .await
        .unwrap();
    let later = store
        .create_run(
            "c1",
            version,
            t0() + Duration::days(1),
            RunState::Planning,
            t0(),
        )
        .await
        .unwrap()
        .unwrap();
    let other = store.campaign_version("c2", "h", "s", t0()).await.unwrap();
    let elsewhere = store
        .create_run("c2", other, t0(), RunState::Running, t0())
        .await
        .unwrap()
        .unwrap();
    store
        .insert_attempts(
            &[
                new_attempt(run, a, "s1", Channel::Sms, t0()),
                new_attempt(run, b, "s1", Channel::Sms, t0()),
                new_attempt(elsewhere, b, "s1", Channel::Sms, t0()),
            ],
            t0(),
        )
        .await
        .unwrap();
    let live = |except| async move {
        let live = store.live_sequences("c1", &[a, b], except).await.unwrap();
        live.into_iter().collect::<Vec<_>>()
    };
    assert_eq!(
        live(Some(later)).await,
        vec![a, b],
        "queued attempts are open"
    );
    assert_eq!(
        live(Some(run)).await,
        Vec::<i64>::new(),
        "the run's own attempts"
    );
    assert!(
        store
            .live_sequences("c1", &[], None)
            .await
            .unwrap()
            .is_empty()
    );

    // Sent and waiting for an outcome: still live; once final: over.
    let claimed = store.claim_due(t0(), 10, "test").await.unwrap();
    let of = |contact: i64| {
        claimed
            .iter()
            .find(|x| x.contact_id == contact && x.run_id == run)
            .unwrap()
            .id
    };
    assert!(store.mark_sent(of(a), t0(), "p").await.unwrap());
    assert_eq!(live(None).await, vec![a, b]);
    for id in [of(a), of(b)] {
        let state = AttemptState::Done;
        assert!(
            store
                .close_attempt(id, state, None, false, None, t0())
                .await
                .unwrap()
        );
    }
    assert_eq!(
        live(None).await,
        Vec::<i64>::new(),
        "every attempt is final"
    );
}

conformance!(
    campaigns_versions_and_runs_keep_their_state,
    a_sequence_is_live_while_one_of_its_attempts_is_open,
);
