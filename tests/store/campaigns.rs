//! Campaigns, their versions and their runs, and the state each keeps.

use std::collections::BTreeMap;

use chrono::Duration;
use herald::domain::lifecycle::{CampaignState, RunState};
use herald::store::Store;

use crate::t0;

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

conformance!(campaigns_versions_and_runs_keep_their_state);
