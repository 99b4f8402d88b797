//! The agent desk through the binary: calls wait for a free agent with the right skills,
//! an agent holds no more than their capacity, two agents never get the same call, and a
//! disposition becomes the attempt's outcome with the campaign's tag rules.

mod common;

use common::Workspace;

fn desk() -> Workspace {
    let ws = Workspace::bare();
    let config = std::fs::read_to_string(ws.path("herald.toml")).unwrap();
    ws.write(
        "herald.toml",
        &format!("{config}\n[agent]\nprovider = \"desk\"\n"),
    );
    ws.write(
        "jobs/calls.toml",
        "kind = \"collection\"\n[audience]\nlists = [\"people\"]\n[schedule]\nonce = 2026-12-01T10:00:00Z\n\
         [[steps]]\nid = \"human\"\nchannel = \"agent\"\nskills = [\"collections\"]\n\
         [[tags]]\non = \"promise_to_pay\"\nadd = \"promise_to_pay\"\nexpires = \"14d\"\n",
    );
    ws.import_people(
        "external_id,first_name,phone,balance\nA1,Ana,+447400100001,120\nB2,Ben,+447400100002,80\n",
    );
    let run = ws
        .herald_at(
            "2026-12-01T10:00:00Z",
            &["run", "--until-idle", "--format", "json"],
        )
        .ok()
        .json();
    assert_eq!(run["sent"], 2, "both calls handed to the desk: {run}");
    ws
}

#[test]
fn agents_take_calls_by_skill_within_their_capacity_and_record_dispositions() {
    let ws = desk();
    ws.herald(&["agent", "add", "bob", "--skills", "spanish"])
        .ok();
    let none = ws.herald(&["agent", "next", "bob"]);
    assert_eq!(none.code, 3, "bob lacks the skill: {}", none.stdout);
    assert!(
        none.stdout.contains("no call is waiting"),
        "{}",
        none.stdout
    );

    ws.herald(&[
        "agent",
        "add",
        "ana",
        "--skills",
        "collections,spanish",
        "--capacity",
        "1",
    ])
    .ok();
    let call = ws
        .herald_at(
            "2026-12-01T10:00:30Z",
            &["agent", "next", "ana", "--format", "json"],
        )
        .ok()
        .json();
    assert_eq!(call["result"], "call", "{call}");
    let attempt = call["attempt"].as_i64().unwrap();
    assert!(
        call["contact"]["phone"]
            .as_str()
            .unwrap()
            .starts_with("+447400"),
        "the agent sees the number to dial"
    );
    let full = ws.herald_at("2026-12-01T10:00:40Z", &["agent", "next", "ana"]);
    assert_eq!(full.code, 3, "capacity 1: {}", full.stdout);
    assert!(
        full.stdout.contains("already holds 1 call"),
        "{}",
        full.stdout
    );

    // `agent done` on the test's clock, between the call and the run that applies its
    // disposition (on the wall clock it would be recorded days after that run's moment,
    // and wait for it).
    let done = |agent: &str, disposition: &str, more: &[&str]| {
        let id = attempt.to_string();
        let mut args = vec!["agent", "done", id.as_str(), "--agent", agent];
        args.extend_from_slice(&["--disposition", disposition]);
        args.extend_from_slice(more);
        ws.herald_at("2026-12-01T10:02:00Z", &args)
    };
    let not_his = done("bob", "paid", &[]);
    assert_eq!(not_his.code, 1, "bob does not hold it");
    let bad = done("ana", "opened", &[]);
    assert_eq!(bad.code, 1, "`opened` is no call outcome: {}", bad.stderr);
    done("ana", "promise_to_pay", &["--note", "pays Friday"]).ok();
    let applied = ws
        .herald_at(
            "2026-12-01T10:05:00Z",
            &["run", "--until-idle", "--format", "json"],
        )
        .ok()
        .json();
    assert_eq!(applied["events_applied"], 1, "{applied}");
    let who = call["contact"]["external_id"].as_str().unwrap().to_string();
    let tags = ws
        .herald(&["tags", "list", "--contact", &who, "--format", "json"])
        .ok()
        .json();
    assert_eq!(tags[0]["name"], "promise_to_pay", "{tags}");

    // With the first call done, the second one goes to her, and then nothing is left.
    let second = ws
        .herald_at(
            "2026-12-01T10:06:00Z",
            &["agent", "next", "ana", "--format", "json"],
        )
        .ok()
        .json();
    assert_eq!(second["result"], "call");
    assert_ne!(second["attempt"], attempt, "a call is given once");
    let tally = ws
        .herald(&["runs", "show", "1", "--format", "json"])
        .ok()
        .json();
    assert!(
        tally["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["result"] == "promise_to_pay"),
        "{tally:#}"
    );
}

#[tokio::test]
async fn the_desk_works_over_http_with_a_token_and_metrics_show_the_queue() {
    use std::time::{Duration, Instant};
    let ws = Workspace::bare();
    let config = std::fs::read_to_string(ws.path("herald.toml"))
        .unwrap()
        .replace("call = \"08:00-21:00\"", "call = \"00:00-24:00\"");
    ws.write(
        "herald.toml",
        &format!("{config}\n[agent]\nprovider = \"desk\"\n"),
    );
    let once = (chrono::Utc::now() - chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ");
    ws.write(
        "jobs/calls.toml",
        &format!("kind = \"collection\"\n[audience]\nlists = [\"people\"]\n[schedule]\nonce = {once}\n[[steps]]\nid = \"human\"\nchannel = \"agent\"\n"),
    );
    ws.import_people(
        "external_id,first_name,phone,balance\nA1,Ana,+447400100001,120\nB2,Ben,+447400100002,80\n",
    );
    ws.herald(&["agent", "add", "ana"]).ok();
    let port = common::free_port();
    let daemon = common::spawn(
        &ws,
        &["run"],
        port,
        &[("HERALD_AGENT_TOKEN", "desk-token-123")],
    );
    common::wait_port(port);
    let until = Instant::now() + Duration::from_secs(30);
    let next = loop {
        let (status, body) = common::http(
            port,
            "GET",
            "/agent/next?agent=ana",
            &[("Authorization", "Bearer desk-token-123")],
            b"",
        );
        if status == 200 && body.contains("\"result\":\"call\"") {
            break serde_json::from_str::<serde_json::Value>(&body).unwrap();
        }
        assert!(
            Instant::now() < until,
            "no call reached the desk: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        common::http(port, "GET", "/agent/next?agent=ana", &[], b"").0,
        401,
        "no token"
    );
    assert_eq!(
        common::http(
            port,
            "GET",
            "/agent/next?agent=ana",
            &[("Authorization", "Bearer wrong")],
            b""
        )
        .0,
        401
    );
    let body = format!(
        r#"{{"agent":"ana","attempt":{},"disposition":"promise_to_pay"}}"#,
        next["attempt"]
    );
    let (status, answer) = common::http(
        port,
        "POST",
        "/agent/done",
        &[("Authorization", "Bearer desk-token-123")],
        body.as_bytes(),
    );
    assert_eq!(status, 202, "{answer}");
    let (status, again) = common::http(
        port,
        "POST",
        "/agent/done",
        &[("Authorization", "Bearer desk-token-123")],
        body.as_bytes(),
    );
    assert_eq!(
        status, 202,
        "a repeat is acknowledged (and applied once): {again}"
    );
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = ws
            .herald(&["runs", "show", "1", "--format", "json"])
            .ok()
            .json();
        if runs["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["result"] == "promise_to_pay")
        {
            break;
        }
        assert!(
            Instant::now() < until,
            "the disposition was not applied: {runs:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, metrics) = common::http(port, "GET", "/metrics", &[], b"");
    assert!(
        metrics.contains("herald_queue_tasks{queue=\"herald.dispatch\""),
        "{metrics}"
    );
    assert!(metrics.contains("herald_send_seconds_count 2"), "{metrics}");
    assert!(common::stop(daemon, "-TERM").status.success());
}
