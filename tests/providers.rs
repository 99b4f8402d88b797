//! The daemon against the reference HTTP provider (`herald provider-sim`) over real HTTP
//! on loopback: sends carry idempotency keys, the provider's signed callbacks come back
//! through the API and are applied, STOP replies opt people out, and the provider sees
//! each key once.

mod common;

use std::time::{Duration, Instant};

use common::{CONTACTS, Workspace, free_port, http, scalar, spawn, start_provider_sim, stop};

const SECRET: &str = "shared-secret-with-the-provider-42";

#[tokio::test]
async fn sms_go_through_the_http_provider_and_its_signed_callbacks_are_applied() {
    let ws = Workspace::due_now("100/s");
    let (api_port, sim_port) = (free_port(), free_port());
    let config = std::fs::read_to_string(ws.path("herald.toml"))
        .unwrap()
        .replace("sms_reply = 0.0", "sms_reply = 1.0\nsms_opt_out = 0.25");
    ws.write(
        "herald.toml",
        &format!(
            "public_url = \"http://127.0.0.1:{api_port}\"\n{config}\n[sms]\nprovider = \"http\"\nurl = \"http://127.0.0.1:{sim_port}\"\nname = \"acme-sms\"\n"
        ),
    );
    let provider = start_provider_sim(&ws, sim_port, api_port, SECRET);
    let daemon = spawn(&ws, &["run"], api_port, &[("HERALD_SECRET", SECRET)]);

    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let answered = scalar(
            &ws,
            "SELECT COUNT(*) FROM events WHERE kind IN ('replied', 'opted_out')",
        )
        .await;
        if answered == CONTACTS as i64 {
            break;
        }
        assert!(
            Instant::now() < until,
            "callbacks applied: {answered} of {CONTACTS}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        scalar(&ws, "SELECT COUNT(*) FROM events WHERE kind = 'delivered'").await,
        CONTACTS as i64
    );
    let opted_out = scalar(&ws, "SELECT COUNT(*) FROM events WHERE kind = 'opted_out'").await;
    assert!(opted_out > 0, "a quarter of the replies are STOP");
    assert_eq!(
        scalar(
            &ws,
            "SELECT COUNT(*) FROM suppressions WHERE kind = 'opt_out'"
        )
        .await,
        opted_out
    );
    assert_eq!(
        scalar(
            &ws,
            "SELECT COUNT(*) FROM inbox WHERE provider = 'acme-sms'"
        )
        .await,
        2 * CONTACTS as i64
    );

    let (status, stats) = http(sim_port, "GET", "/v1/stats", &[], b"");
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["accepted"], CONTACTS, "{stats}");
    assert_eq!(
        stats["duplicates"], 0,
        "each idempotency key seen once: {stats}"
    );
    assert_eq!(stats["callbacks_failed"], 0, "{stats}");

    assert!(stop(daemon, "-TERM").status.success());
    let _ = stop(provider, "-INT");
}

#[tokio::test]
async fn a_daemon_killed_mid_dispatch_makes_the_provider_accept_each_key_once() {
    // 40 SMS at 4 a second through the HTTP provider; the daemon is killed after a few.
    let ws = Workspace::due_now("4/s");
    let (api_port, sim_port) = (free_port(), free_port());
    let config = std::fs::read_to_string(ws.path("herald.toml")).unwrap();
    ws.write(
        "herald.toml",
        &format!("public_url = \"http://127.0.0.1:{api_port}\"\n{config}\n[sms]\nprovider = \"http\"\nurl = \"http://127.0.0.1:{sim_port}\"\n"),
    );
    let provider = start_provider_sim(&ws, sim_port, api_port, SECRET);
    let daemon = spawn(&ws, &["run"], api_port, &[("HERALD_SECRET", SECRET)]);
    let until = Instant::now() + Duration::from_secs(30);
    while scalar(
        &ws,
        "SELECT COUNT(*) FROM attempts WHERE sent_at IS NOT NULL",
    )
    .await
        < 5
    {
        assert!(Instant::now() < until, "no sends");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(daemon, "-KILL");
    assert!(
        scalar(
            &ws,
            "SELECT COUNT(*) FROM attempts WHERE sent_at IS NOT NULL"
        )
        .await
            < CONTACTS as i64,
        "killed mid-dispatch"
    );
    let daemon = spawn(&ws, &["run"], api_port, &[("HERALD_SECRET", SECRET)]);
    let until = Instant::now() + Duration::from_secs(60);
    while scalar(&ws, "SELECT COUNT(*) FROM events WHERE kind = 'delivered'").await
        < CONTACTS as i64
    {
        assert!(
            Instant::now() < until,
            "not every SMS was delivered after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats: serde_json::Value =
        serde_json::from_str(&http(sim_port, "GET", "/v1/stats", &[], b"").1).unwrap();
    assert_eq!(
        stats["accepted"], CONTACTS,
        "the provider accepted each attempt once: {stats}"
    );
    assert_eq!(
        scalar(&ws, "SELECT COUNT(*) FROM attempts").await,
        CONTACTS as i64,
        "nothing lost, nothing added"
    );
    assert!(stop(daemon, "-TERM").status.success());
    let _ = stop(provider, "-INT");
}

#[tokio::test]
async fn an_sms_then_voice_bot_then_agent_sequence_advances_by_outcomes_over_http() {
    // SMS and calls through provider-sim over HTTP, the agent step at the desk. Every SMS
    // is delivered and unanswered, every call answered and handed to a human.
    let ws = Workspace::bare();
    let (api_port, sim_port) = (free_port(), free_port());
    let config = std::fs::read_to_string(ws.path("herald.toml"))
        .unwrap()
        .replace("call = \"08:00-21:00\"", "call = \"00:00-24:00\"")
        .replace("sms = \"08:00-21:00\"", "sms = \"00:00-24:00\"");
    ws.write(
        "herald.toml",
        &format!(
            "public_url = \"http://127.0.0.1:{api_port}\"\n{config}\n[sim]\nsms_delivered = 1.0\nsms_reply = 0.0\ncall_answer = 1.0\nbot_handoff = 1.0\n\n\
             [sms]\nprovider = \"http\"\nurl = \"http://127.0.0.1:{sim_port}\"\n\n[voice_bot]\nprovider = \"http\"\nurl = \"http://127.0.0.1:{sim_port}\"\n\n[agent]\nprovider = \"desk\"\n"
        ),
    );
    let once = (chrono::Utc::now() - chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ");
    ws.write(
        "jobs/seq.toml",
        &format!(
            "kind = \"collection\"\n[audience]\nlists = [\"people\"]\n[schedule]\nonce = {once}\n\
             [[steps]]\nid = \"sms\"\nchannel = \"sms\"\ntemplate = \"payment_reminder\"\n\
             [[steps]]\nid = \"bot\"\nchannel = \"voice_bot\"\nflow = \"collections_v1\"\nafter = \"2s\"\nwhen = \"no_reply\"\n\
             [[steps]]\nid = \"human\"\nchannel = \"agent\"\nwhen = \"handed_off\"\n\
             [[tags]]\non = \"promise_to_pay\"\nadd = \"promise_to_pay\"\n"
        ),
    );
    ws.import_people("external_id,first_name,phone,balance\nA1,Ana,+447400100001,120\n");
    ws.herald(&["agent", "add", "sam"]).ok();
    let provider = start_provider_sim(&ws, sim_port, api_port, SECRET);
    let daemon = spawn(&ws, &["run"], api_port, &[("HERALD_SECRET", SECRET)]);

    // The bot hands off; the agent takes the call and records a promise to pay.
    let until = Instant::now() + Duration::from_secs(60);
    let call = loop {
        let next = ws.herald(&["agent", "next", "sam", "--format", "json"]);
        if next.code == 0 {
            break next.json();
        }
        assert!(
            Instant::now() < until,
            "no call reached the desk: {}",
            next.stdout
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let attempt = call["attempt"].to_string();
    ws.herald(&[
        "agent",
        "done",
        &attempt,
        "--agent",
        "sam",
        "--disposition",
        "promise_to_pay",
    ])
    .ok();
    let until = Instant::now() + Duration::from_secs(30);
    while scalar(
        &ws,
        "SELECT COUNT(*) FROM contact_tags WHERE tag = 'promise_to_pay'",
    )
    .await
        == 0
    {
        assert!(Instant::now() < until, "the promise to pay was not applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tally = ws
        .herald(&["runs", "show", "1", "--format", "json"])
        .ok()
        .json();
    let results: Vec<(String, String)> = tally["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["step"].as_str().unwrap().to_string(),
                t["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        results,
        vec![
            ("sms".into(), "delivered".into()),
            ("bot".into(), "handed_off".into()),
            ("human".into(), "promise_to_pay".into())
        ],
        "{tally:#}"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&http(sim_port, "GET", "/v1/stats", &[], b"").1).unwrap();
    assert_eq!(
        stats["accepted"], 2,
        "one SMS and one call reached the provider: {stats}"
    );
    assert!(stop(daemon, "-TERM").status.success());
    let _ = stop(provider, "-INT");
}

#[tokio::test]
async fn an_sms_survey_runs_as_a_conversation_with_the_http_provider() {
    let ws = Workspace::due_now("100/s");
    let (api_port, sim_port) = (free_port(), free_port());
    let config = std::fs::read_to_string(ws.path("herald.toml"))
        .unwrap()
        .replace(
            "sms_reply = 0.0",
            "sms_opt_out = 0.0\nsurvey_answer = 1.0\nsurvey_unclear = 0.0",
        );
    ws.write(
        "herald.toml",
        &format!(
            "public_url = \"http://127.0.0.1:{api_port}\"\n{config}\n[sms]\nprovider = \"http\"\nurl = \"http://127.0.0.1:{sim_port}\"\nname = \"acme-sms\"\n"
        ),
    );
    // The due campaign becomes a two-question survey.
    let job = std::fs::read_to_string(ws.path("jobs/now.toml"))
        .unwrap()
        .replace("kind = \"reminder\"", "kind = \"survey\"")
        .replace("payment_reminder", "nps_survey");
    ws.write(
        "jobs/now.toml",
        &format!(
            "{job}[survey]\n[[survey.questions]]\nid = \"nps\"\nkind = \"nps\"\ntext = \"How likely are you to recommend us?\"\n\
             [[survey.questions]]\nid = \"reason\"\nkind = \"text\"\ntext = \"Why?\"\n"
        ),
    );
    let provider = start_provider_sim(&ws, sim_port, api_port, SECRET);
    let daemon = spawn(&ws, &["run"], api_port, &[("HERALD_SECRET", SECRET)]);

    // Each person answers the score, gets the second question and answers it too.
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let answers = scalar(&ws, "SELECT COUNT(*) FROM responses").await;
        if answers == 2 * CONTACTS as i64 {
            break;
        }
        assert!(
            Instant::now() < until,
            "answers recorded: {answers} of {}",
            2 * CONTACTS
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        scalar(
            &ws,
            "SELECT COUNT(*) FROM responses WHERE question = 'nps' AND score BETWEEN 0 AND 10"
        )
        .await,
        CONTACTS as i64
    );
    assert_eq!(
        scalar(
            &ws,
            "SELECT COUNT(*) FROM events WHERE kind = 'survey_completed'"
        )
        .await,
        CONTACTS as i64
    );
    // The follow-up question went out once per person, under its own key.
    assert_eq!(
        scalar(
            &ws,
            "SELECT COUNT(*) FROM attempts WHERE prompt = 'ask:reason' AND sent_at IS NOT NULL"
        )
        .await,
        CONTACTS as i64
    );
    let (_, stats) = http(sim_port, "GET", "/v1/stats", &[], b"");
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["accepted"], 2 * CONTACTS, "{stats}");
    assert_eq!(stats["duplicates"], 0, "{stats}");
    assert!(stop(daemon, "-TERM").status.success());
    let _ = stop(provider, "-INT");
}
