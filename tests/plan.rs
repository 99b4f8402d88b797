//! `plan --dry-run`, `why` and `demo` through the real binary and a real SQLite file:
//! windows in each contact's own time zone, DST, rate limits, reasons.

mod common;

use common::Workspace;

fn workspace(contacts: &str, campaign: &str) -> Workspace {
    let ws = Workspace::init();
    ws.write("contacts.csv", contacts);
    ws.herald(&["contacts", "import", "contacts.csv", "--list", "people"])
        .ok();
    ws.write("jobs/test.toml", campaign);
    ws
}

const SMS_CAMPAIGN: &str = r#"kind = "reminder"
[audience]
lists = ["people"]
[schedule]
cron = "0 9 * * *"
timezone = "Europe/London"
[windows.sms]
hours = "09:00-20:00"
[[steps]]
id = "sms"
channel = "sms"
template = "payment_reminder"
"#;

fn planned_at(ws: &Workspace, at: &str) -> serde_json::Value {
    let plan = ws
        .herald(&["plan", "test", "--dry-run", "--at", at, "--format", "json"])
        .ok()
        .json();
    assert_eq!(plan["planned"], 1, "{plan:#}");
    plan["steps"][0].clone()
}

#[test]
fn a_contact_whose_window_has_closed_is_planned_for_next_morning_in_their_own_zone() {
    let ws = workspace(
        "external_id,phone,timezone,balance\nNY1,+12125550142,America/New_York,10\n",
        SMS_CAMPAIGN,
    );
    // 03:00 UTC is 22:00 the evening before in New York: closed. 09:00 EST is 14:00 UTC.
    let step = planned_at(&ws, "2026-11-26T03:00:00Z");
    assert_eq!(step["first"], "2026-11-26T14:00:00Z");
    assert_eq!(step["delayed"]["outside_window"], 1);
    let why = ws
        .herald(&["why", "NY1", "test", "--at", "2026-11-26T03:00:00Z"])
        .ok();
    assert!(
        why.stdout
            .contains("first contact at 2026-11-26 14:00 UTC because of outside_window"),
        "{}",
        why.stdout
    );
    assert!(
        why.stdout
            .contains("contact's local time then: Thu 2026-11-26 09:00 EST"),
        "{}",
        why.stdout
    );
}

#[test]
fn the_spring_dst_change_moves_the_opening_by_an_hour_in_utc() {
    let ws = workspace(
        "external_id,phone,balance\nUK1,+447400100001,10\n",
        SMS_CAMPAIGN,
    );
    // Saturday 2026-03-28 21:30 GMT: closed. Britain moves to BST at 01:00 UTC on Sunday,
    // so Sunday's 09:00 local is 08:00 UTC, not 09:00.
    let step = planned_at(&ws, "2026-03-28T21:30:00Z");
    assert_eq!(step["first"], "2026-03-29T08:00:00Z");
    // And back in autumn: Sunday 2026-10-25 09:00 GMT is 09:00 UTC.
    let step = planned_at(&ws, "2026-10-24T20:30:00Z");
    assert_eq!(step["first"], "2026-10-25T09:00:00Z");
}

#[test]
fn the_policy_quiet_hours_win_over_a_wider_campaign_window() {
    let wide = SMS_CAMPAIGN.replace("hours = \"09:00-20:00\"", "hours = \"06:00-23:00\"");
    let ws = workspace("external_id,phone,balance\nUK1,+447400100001,10\n", &wide);
    let warn = ws.herald(&["validate"]).ok();
    assert!(
        warn.stdout
            .contains("the policy's quiet hours clip this window to"),
        "{}",
        warn.stdout
    );
    // 06:30 London is inside the campaign's window but before the policy's 08:00.
    let step = planned_at(&ws, "2026-12-02T06:30:00Z");
    assert_eq!(step["first"], "2026-12-02T08:00:00Z");
}

#[test]
fn a_rate_limit_spreads_the_sends_without_leaving_the_window() {
    let mut csv = String::from("external_id,phone,balance\n");
    for i in 0..50 {
        csv.push_str(&format!("R{i},+4474001{i:05},10\n"));
    }
    let limited = SMS_CAMPAIGN.replace("[[steps]]", "[rate_limits]\nsms = \"10/h\"\n\n[[steps]]");
    let ws = workspace(&csv, &limited);
    // The window opens at 09:00 London (GMT) and closes at 20:00: 11 hours × 10 = 110 slots a day.
    let plan = ws
        .herald(&[
            "plan",
            "test",
            "--dry-run",
            "--at",
            "2026-12-02T09:00:00Z",
            "--format",
            "json",
        ])
        .ok()
        .json();
    let step = &plan["steps"][0];
    let by_hour = step["by_hour"].as_object().unwrap();
    assert!(
        by_hour.values().all(|n| n.as_u64().unwrap() <= 10),
        "{by_hour:?}"
    );
    assert_eq!(
        by_hour.values().map(|n| n.as_u64().unwrap()).sum::<u64>(),
        50
    );
    assert_eq!(step["first"], "2026-12-02T09:00:00Z");
    assert_eq!(step["last"], "2026-12-02T13:54:00Z");
}

#[test]
fn a_contact_without_a_known_time_zone_is_skipped_when_no_default_is_set() {
    let contacts = "external_id,phone,balance\nUS1,+12125550142,10\n";
    let ws = workspace(contacts, SMS_CAMPAIGN);
    // The example config sets a default zone; without it the US number (several zones) is skipped.
    let cfg = std::fs::read_to_string(ws.path("herald.toml"))
        .unwrap()
        .replace("default_timezone = \"Europe/London\"", "");
    ws.write("herald.toml", &cfg);
    let plan = ws
        .herald(&[
            "plan",
            "test",
            "--dry-run",
            "--at",
            "2026-12-02T12:00:00Z",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(plan["skipped"]["unknown_timezone"], 1, "{plan:#}");
}

#[test]
fn a_call_cap_from_the_campaign_adds_to_the_policy() {
    let ws = workspace(
        "external_id,phone,balance,debt_id\nUK1,+447400100001,10,D9\n",
        SMS_CAMPAIGN,
    );
    let campaign = ws
        .herald(&[
            "campaign",
            "show",
            "collections_reminder",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(campaign["steps"][1]["channel"], "voice_bot");
    let why = ws
        .herald(&[
            "why",
            "UK1",
            "collections_reminder",
            "--at",
            "2026-12-02T12:00:00Z",
        ])
        .ok();
    assert!(
        why.stdout
            .contains("not in the audience: the contact is in none of the lists overdue"),
        "{}",
        why.stdout
    );
    assert!(
        why.stdout
            .contains("cap 7 call attempts per 7d per obligation (debt_id) [policy]"),
        "{}",
        why.stdout
    );
    assert!(
        why.stdout
            .contains("cap 2 sms attempts per 7d per contact [collections_reminder]"),
        "{}",
        why.stdout
    );
}

#[test]
fn the_plan_defaults_to_the_next_scheduled_occurrence() {
    let ws = workspace(
        "external_id,phone,balance\nUK1,+447400100001,10\n",
        SMS_CAMPAIGN,
    );
    // With the clock at Monday 2026-11-30 10:00 UTC, the next 09:00 London run is Tuesday's.
    let plan = ws
        .herald_at(
            "2026-11-30T10:00:00Z",
            &["plan", "test", "--dry-run", "--format", "json"],
        )
        .ok()
        .json();
    assert_eq!(plan["run_at"], "2026-12-01T09:00:00Z");
    let list = ws
        .herald_at(
            "2026-11-30T10:00:00Z",
            &["campaign", "list", "--format", "json"],
        )
        .ok()
        .json();
    let test = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "test")
        .unwrap();
    assert_eq!(test["next_run"], "2026-12-01T09:00:00Z");
}

#[test]
fn the_demo_runs_from_any_folder_and_plans_every_example() {
    let ws = Workspace::empty();
    let run = ws
        .herald(&[
            "demo",
            "--dir",
            "demo",
            "--contacts",
            "800",
            "--days",
            "4",
            "--format",
            "json",
        ])
        .ok();
    let out = run.json();
    assert_eq!(
        out["diagnostics"].as_array().unwrap().len(),
        0,
        "{:#}",
        out["diagnostics"]
    );
    let plans = out["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 4);
    for p in plans {
        // The callback campaign's audience is the survey's detractors: none before it runs.
        if p["campaign"] != "detractor_callback" {
            assert!(p["planned"].as_u64().unwrap() > 0, "{p:#}");
        }
    }
    let reasons: Vec<String> = plans
        .iter()
        .flat_map(|p| p["skipped"].as_object().unwrap().keys().cloned())
        .collect();
    for r in ["dnc", "opted_out", "no_consent"] {
        assert!(
            reasons.iter().any(|x| x == r),
            "the demo shows {r}: {reasons:?}"
        );
    }
    assert_eq!(
        out["rejected"].as_array().unwrap().len(),
        3,
        "three broken rows in the sample"
    );
    // Over the four days, no daily run started a second sequence for someone still inside
    // an earlier run's: no run's sends of a campaign begin before an earlier run's last send
    // of that campaign to the same person.
    let overlaps = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(common::scalar_in(
            &ws,
            "demo/herald.db",
            "WITH spans AS (
             SELECT a.contact_id, r.campaign, a.run_id,
                    MIN(a.sent_at) AS first_sent, MAX(a.sent_at) AS last_sent
             FROM attempts a JOIN runs r ON r.id = a.run_id
             WHERE a.sent_at IS NOT NULL
             GROUP BY a.contact_id, r.campaign, a.run_id)
         SELECT COUNT(*) FROM spans x JOIN spans y
           ON x.contact_id = y.contact_id AND x.campaign = y.campaign
          AND x.run_id < y.run_id AND y.first_sent <= x.last_sent",
        ));
    assert_eq!(
        overlaps, 0,
        "people inside two sequences of one campaign at once"
    );
    // Nobody is dunned after paying or promising to (the collection campaign's goal).
    let after_goal = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(common::scalar_in(
            &ws,
            "demo/herald.db",
            "SELECT COUNT(*) FROM attempts a
         JOIN runs r ON r.id = a.run_id
         JOIN contact_tags t ON t.contact_id = a.contact_id
          AND t.tag IN ('paid', 'promise_to_pay')
         WHERE r.campaign = 'collections_reminder' AND a.sent_at > t.created_at",
        ));
    assert_eq!(after_goal, 0, "sends after the goal held");
    // The same seed gives the same sample.
    let again = ws
        .herald(&[
            "demo",
            "--dir",
            "demo2",
            "--contacts",
            "800",
            "--days",
            "0",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(again["plans"][0]["planned"], plans[0]["planned"]);
}

#[test]
fn run_until_idle_sends_what_is_due_and_why_tells_what_happened() {
    let ws = workspace(
        "external_id,phone,balance\nUK1,+447400100001,10\n",
        SMS_CAMPAIGN,
    );
    ws.remove_examples();
    // The schedule fires at 09:00 London; at 09:00 the run is planned and the SMS sent.
    let first = ws
        .herald_at(
            "2026-12-01T09:00:00Z",
            &["run", "--until-idle", "--format", "json"],
        )
        .ok()
        .json();
    assert_eq!(
        (first["runs_planned"].as_u64(), first["sent"].as_u64()),
        (Some(1), Some(1)),
        "{first}"
    );
    // A minute later the simulated provider's delivery report is applied; nothing is sent twice.
    let second = ws
        .herald_at(
            "2026-12-01T09:01:00Z",
            &["run", "--until-idle", "--format", "json"],
        )
        .ok()
        .json();
    assert_eq!(
        (second["sent"].as_u64(), second["events_applied"].as_u64()),
        (Some(0), Some(1)),
        "{second}"
    );
    let why = ws
        .herald_at(
            "2026-12-01T09:01:00Z",
            &["why", "UK1", "test", "--at", "2026-12-02T09:00:00Z"],
        )
        .ok();
    assert!(
        why.stdout.contains("sent") && why.stdout.contains("delivered"),
        "{}",
        why.stdout
    );
    let runs = ws.herald(&["runs", "list", "--format", "json"]).ok().json();
    assert_eq!(runs[0]["state"], "finished", "{runs:#}");
}
