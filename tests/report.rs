//! `herald report` over real SQLite: exact figures from a ledger written by hand, figures
//! that agree with the database after a real run of the collections example, and an HTML
//! page that renders in headless Chromium with its three charts and no external reference.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Workspace, scalar};
use serde_json::Value;

/// A survey with an NPS and a CSAT question, A/B variants `short` and `long` and a holdout
/// on its only step, a goal, hours read in New York, and a name that needs escaping.
const SURVEY: &str = r#"name = "Repair NPS <A/B> & \"friends\""
kind = "survey"
goal = "tag.renewed"

[audience]
lists = ["people"]

[schedule]
cron = "0 9 * * *"
timezone = "America/New_York"

[[steps]]
id = "ask"
channel = "sms"
template = "nps_survey"
holdout = 0.2

[[steps.variants]]
id = "short"

[[steps.variants]]
id = "long"

[survey]

[[survey.questions]]
id = "nps"
kind = "nps"
text = "How likely are you to recommend us? (0-10)"

[[survey.questions]]
id = "sat"
kind = "csat"
text = "How satisfied are you with the repair? (1-5)"
"#;

/// One contact's line in the hand-written ledger.
struct Line {
    contact: u32,
    variant: &'static str,
    /// `sent`, or the reason a `skipped` attempt was never sent.
    state: &'static str,
    /// Hour (UTC) of the send on 2026-12-01.
    hour: u32,
    connected: bool,
    outcome: Option<&'static str>,
    nps: Option<i64>,
    csat: Option<i64>,
}

const fn sent(
    contact: u32,
    variant: &'static str,
    hour: u32,
    connected: bool,
    outcome: &'static str,
    nps: Option<i64>,
    csat: Option<i64>,
) -> Line {
    Line {
        contact,
        variant,
        state: "sent",
        hour,
        connected,
        outcome: Some(outcome),
        nps,
        csat,
    }
}

const fn skipped(contact: u32, variant: &'static str, reason: &'static str) -> Line {
    Line {
        contact,
        variant,
        state: reason,
        hour: 0,
        connected: false,
        outcome: None,
        nps: None,
        csat: None,
    }
}

/// 20 planned contacts: `short` C01-C07 (+ C15 opted out before the send), `long` C08-C14
/// (+ C16), holdout C17-C20. NPS answers: short 10, 9, 9, 7, 3 (+40); long 9, 10, 8, 7, 2
/// (+20); together 5 promoters, 3 passives, 2 detractors (+30). C13 answers only the CSAT
/// question. C07 connects but is a wrong number; C14's send fails. Short sends at 14:05 UTC
/// (09:05 in New York), long ones at 15:20 UTC (10:20).
const LEDGER: &[Line] = &[
    sent(1, "short", 14, true, "delivered", Some(10), Some(5)),
    sent(2, "short", 14, true, "delivered", Some(9), Some(4)),
    sent(3, "short", 14, true, "delivered", Some(9), None),
    sent(4, "short", 14, true, "delivered", Some(7), None),
    sent(5, "short", 14, true, "delivered", Some(3), None),
    sent(6, "short", 14, false, "delivered", None, None),
    sent(7, "short", 14, true, "wrong_number", None, None),
    sent(8, "long", 15, true, "delivered", Some(9), Some(3)),
    sent(9, "long", 15, true, "delivered", Some(10), Some(2)),
    sent(10, "long", 15, true, "delivered", Some(8), None),
    sent(11, "long", 15, true, "delivered", Some(7), None),
    sent(12, "long", 15, true, "delivered", Some(2), None),
    sent(13, "long", 15, true, "delivered", None, Some(4)),
    sent(14, "long", 15, false, "failed", None, None),
    skipped(15, "short", "opted_out"),
    skipped(16, "long", "opted_out"),
    skipped(17, "holdout", "holdout"),
    skipped(18, "holdout", "holdout"),
    skipped(19, "holdout", "holdout"),
    skipped(20, "holdout", "holdout"),
];

/// Contacts with the goal's tag: half the treated (8 of 16), a quarter of the holdout.
const RENEWED: &[u32] = &[1, 2, 3, 8, 9, 10, 11, 12, 17];

/// A workspace with the survey campaign and its run written straight into the ledger.
async fn survey_workspace() -> Workspace {
    let ws = Workspace::bare();
    ws.write("jobs/repair_nps.toml", SURVEY);
    let mut csv = String::from("external_id,phone,city,tags\n");
    for i in 1..=20u32 {
        let city = if i % 2 == 0 { "Leeds" } else { "London & <Co>" };
        let tags = if RENEWED.contains(&i) { "renewed" } else { "" };
        csv.push_str(&format!("C{i:02},+4474001{i:05},{city},{tags}\n"));
    }
    ws.import_people(&csv);
    assert_eq!(
        scalar(&ws, "SELECT COUNT(*) FROM contacts").await,
        20,
        "the contacts were imported"
    );

    let store = herald::store::SqliteStore::open(
        &format!("sqlite://{}", ws.path("herald.db").display()),
        false,
    )
    .await
    .unwrap();
    let pool = store.pool();
    let at = "2026-12-01 14:00:00+00:00";
    sqlx::query(
        "INSERT INTO campaign_versions (id, campaign, hash, source, created_at)
         VALUES (1, 'repair_nps', 'h1', '', ?1)",
    )
    .bind(at)
    .execute(pool)
    .await
    .unwrap();
    let summary = r#"{"plan": {"considered": 30, "not_in_segment": 4, "planned": 20,
        "skipped": {"dnc": 4, "no_consent": 2}}}"#;
    sqlx::query(
        "INSERT INTO runs (id, campaign, version_id, occurrence, state, summary, created_at)
         VALUES (1, 'repair_nps', 1, ?1, 'running', ?2, ?1)",
    )
    .bind(at)
    .bind(summary)
    .execute(pool)
    .await
    .unwrap();
    for line in LEDGER {
        let external = format!("C{:02}", line.contact);
        let (state, reason, sent_at) = if line.state == "sent" {
            (
                "done",
                None,
                Some(format!(
                    "2026-12-01 {:02}:{}:00+00:00",
                    line.hour,
                    if line.hour == 14 { "05" } else { "20" }
                )),
            )
        } else {
            ("skipped", Some(line.state), None)
        };
        let attempt_id: i64 = sqlx::query_scalar(
            "INSERT INTO attempts (run_id, contact_id, step, step_index, channel, attempt_no,
                 not_before, state, idempotency_key, connected, sent_at, outcome, reason,
                 created_at, updated_at, variant)
             VALUES (1, (SELECT id FROM contacts WHERE external_id = ?1), 'ask', 0, 'sms', 1,
                 ?2, ?3, 'k-' || ?1, ?4, ?5, ?6, ?7, ?2, ?2, ?8)
             RETURNING id",
        )
        .bind(&external)
        .bind(at)
        .bind(state)
        .bind(line.connected)
        .bind(&sent_at)
        .bind(line.outcome)
        .bind(reason)
        .bind(line.variant)
        .fetch_one(pool)
        .await
        .unwrap();
        for (question, kind, score) in [("nps", "nps", line.nps), ("sat", "csat", line.csat)] {
            let Some(score) = score else { continue };
            sqlx::query(
                "INSERT INTO responses (run_id, campaign, contact_id, attempt_id, question, kind,
                     score, answer, raw, channel, variant, first_answered_at, answered_at)
                 VALUES (1, 'repair_nps', (SELECT id FROM contacts WHERE external_id = ?1), ?2,
                     ?3, ?4, ?5, ?5, ?5, 'sms', ?6, ?7, ?7)",
            )
            .bind(&external)
            .bind(attempt_id)
            .bind(question)
            .bind(kind)
            .bind(score)
            .bind(line.variant)
            .bind("2026-12-01 16:00:00+00:00")
            .execute(pool)
            .await
            .unwrap();
        }
    }
    pool.close().await;
    ws
}

#[track_caller]
fn near(value: &Value, expected: f64, tolerance: f64) {
    let got = value
        .as_f64()
        .unwrap_or_else(|| panic!("expected a number near {expected}, got {value}"));
    assert!(
        (got - expected).abs() <= tolerance,
        "expected {expected} ± {tolerance}, got {got}"
    );
}

#[tokio::test]
async fn a_hand_written_survey_ledger_reports_its_exact_funnel_rates_nps_and_variant_differences() {
    let ws = survey_workspace().await;

    let r = ws
        .herald_at(
            "2026-12-05T12:00:00Z",
            &["report", "repair_nps", "--format", "json"],
        )
        .ok()
        .json();

    let f = &r["funnel"];
    assert_eq!(f["considered"], 30, "{f:#}");
    assert_eq!(f["not_in_segment"], 4);
    assert_eq!(f["suppressed"]["dnc"], 4);
    assert_eq!(f["suppressed"]["no_consent"], 2);
    assert_eq!(f["planned"], 20);
    assert_eq!(f["in_ledger"], 20);
    assert_eq!(f["skipped_at_send"]["holdout"], 4);
    assert_eq!(f["skipped_at_send"]["opted_out"], 2);
    assert_eq!(f["pending"], 0);
    assert_eq!(f["attempted"], 14);
    assert_eq!(f["delivered"], 13, "every send but the failed one");
    assert_eq!(f["reached"], 12);
    assert_eq!(
        f["converted"], 11,
        "ten NPS answers and one CSAT-only answer"
    );

    let rates = &r["rates"];
    assert_eq!(
        (
            &rates["contact_rate"]["count"],
            &rates["contact_rate"]["of"]
        ),
        (&Value::from(12), &Value::from(14))
    );
    near(
        &rates["contact_rate"]["estimate"]["value"],
        12.0 / 14.0,
        1e-9,
    );
    assert_eq!(
        rates["right_party_contact_rate"]["count"], 11,
        "the wrong number is not the right party"
    );
    assert_eq!(rates["response_rate"]["count"], 11);
    assert_eq!(rates["response_rate"]["of"], 14);
    assert!(
        rates["promise_to_pay"].is_null(),
        "a survey has no promises"
    );

    let nps = &r["survey"]["nps"];
    assert_eq!(
        (&nps["promoters"], &nps["passives"], &nps["detractors"]),
        (&Value::from(5), &Value::from(3), &Value::from(2))
    );
    near(&nps["score"]["value"], 30.0, 1e-9);
    // Var = (0.5 + 0.2 − 0.3²) / 10 = 0.061; MoE = 1.96 √0.061 = 48.41 points.
    near(&nps["score"]["margin"], 48.41, 0.01);
    assert_eq!(
        nps["distribution"],
        serde_json::json!([0, 0, 1, 1, 0, 0, 0, 2, 1, 3, 2])
    );
    let csat = &r["survey"]["csat"];
    assert_eq!(csat["answers"], 5);
    assert_eq!(csat["satisfied"]["count"], 3);
    near(&csat["satisfied"]["estimate"]["value"], 0.6, 1e-9);
    near(&csat["satisfied"]["estimate"]["margin"], 0.4294, 1e-4);

    let x = &r["experiment"];
    assert_eq!(x["step"], "ask");
    let (short, long) = (&x["variants"][0], &x["variants"][1]);
    assert_eq!(
        (&short["variant"], &long["variant"]),
        (&"short".into(), &"long".into())
    );
    assert_eq!(
        (&short["contacts"], &short["converted"]),
        (&8.into(), &5.into())
    );
    assert_eq!(
        (&long["contacts"], &long["converted"]),
        (&8.into(), &6.into())
    );
    assert!(
        short["difference"].is_null(),
        "the first variant is the baseline"
    );
    // 6/8 − 5/8 = +12.5 points, se = √(0.625·0.375/8 + 0.75·0.25/8) = 0.22964.
    near(&long["difference"]["value"], 0.125, 1e-9);
    near(&long["difference"]["margin"], 1.959964 * 0.229640, 1e-5);
    near(&short["nps"]["value"], 40.0, 1e-9);
    near(&long["nps"]["value"], 20.0, 1e-9);
    near(&long["nps_difference"]["value"], -20.0, 1e-9);
    near(
        &long["nps_difference"]["margin"],
        100.0 * 1.959964 * (0.128f64 + 0.112).sqrt(),
        1e-3,
    );
    assert_eq!(x["holdout"]["contacts"], 4);
    let goal = &x["goal"];
    assert_eq!(goal["filter"], "tag.renewed");
    assert_eq!(
        (&goal["treated"]["count"], &goal["treated"]["of"]),
        (&8.into(), &16.into())
    );
    assert_eq!(
        (&goal["holdout"]["count"], &goal["holdout"]["of"]),
        (&1.into(), &4.into())
    );
    // 50 % − 25 % = +25 points, se = √(0.25/16 + 0.1875/4) = 0.25.
    near(&goal["lift"]["value"], 0.25, 1e-9);
    near(&goal["lift"]["margin"], 1.959964 * 0.25, 1e-5);
    near(&goal["relative_lift"], 1.0, 1e-9);

    // Hours are read in New York: 14:05 UTC is 09:05 there, 15:20 is 10:20.
    let hours = r["by_hour"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(
        (&hours[9]["sends"], &hours[10]["sends"]),
        (&7.into(), &7.into())
    );
    assert_eq!(hours[14]["sends"], 0);
    assert_eq!(hours[9]["converted"], 5, "five short answers sent at 09:00");
    assert_eq!(hours[10]["not_reached"], 1, "the failed send");

    let by_channel = r["by_channel"].as_array().unwrap();
    assert_eq!(by_channel.len(), 1);
    assert_eq!(
        (
            &by_channel[0]["key"],
            &by_channel[0]["sends"],
            &by_channel[0]["converted"]
        ),
        (&"sms".into(), &14.into(), &11.into())
    );
    assert_eq!(r["by_segment"]["by"], "list");
    assert_eq!(r["by_segment"]["groups"][0]["value"], "people");
    assert_eq!(r["by_segment"]["groups"][0]["contacts"], 20);

    // By attribute: ten contacts per city, the odd ones in London.
    let by_city = ws
        .herald_at(
            "2026-12-05T12:00:00Z",
            &[
                "report",
                "repair_nps",
                "--by",
                "attr.city",
                "--format",
                "json",
            ],
        )
        .ok()
        .json();
    let groups = by_city["by_segment"]["groups"].as_array().unwrap();
    let london = groups
        .iter()
        .find(|g| g["value"] == "London & <Co>")
        .unwrap_or_else(|| panic!("{groups:#?}"));
    // Odd contacts: sent 1, 3, 5, 7, 9, 11, 13; converted 1, 3, 5, 9, 11, 13.
    assert_eq!(
        (&london["contacts"], &london["attempted"]),
        (&10.into(), &7.into())
    );
    assert_eq!(london["converted"], 6);

    // The text report says the same in aligned tables.
    let text = ws
        .herald_at("2026-12-05T12:00:00Z", &["report", "repair_nps"])
        .ok()
        .stdout;
    for expected in [
        "+30.0 ± 48.4",
        "85.7% ± 18.3",
        "holdout",
        "+25.0 [-24.0, +74.0]",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` missing from:\n{text}"
        );
    }
}

#[tokio::test]
async fn a_bad_segment_or_an_unknown_run_is_refused_with_a_reason() {
    let ws = survey_workspace().await;
    let bad = ws.herald(&["report", "repair_nps", "--by", "city"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("attr.NAME"), "{}", bad.stderr);
    let missing = ws.herald(&["report", "repair_nps", "--run", "99"]);
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("no run 99"), "{}", missing.stderr);
}

#[tokio::test]
async fn a_holdout_without_a_goal_is_reported_as_needing_one() {
    let ws = survey_workspace().await;
    ws.write(
        "jobs/repair_nps.toml",
        &SURVEY.replace("goal = \"tag.renewed\"\n", ""),
    );
    let r = ws
        .herald_at(
            "2026-12-05T12:00:00Z",
            &["report", "repair_nps", "--format", "json"],
        )
        .ok()
        .json();
    assert!(r["experiment"]["goal"].is_null());
    assert_eq!(r["experiment"]["holdout"]["contacts"], 4);
    assert!(r["experiment"]["holdout"]["goal"].is_null());
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("holds contacts out") && notes.contains("goal"),
        "{notes}"
    );
}

/// One count from the workspace's database, for queries built at run time.
async fn count(ws: &Workspace, sql: &str) -> u64 {
    let store = herald::store::SqliteStore::open(
        &format!("sqlite://{}", ws.path("herald.db").display()),
        false,
    )
    .await
    .unwrap();
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(store.pool())
        .await
        .unwrap();
    store.pool().close().await;
    n as u64
}

/// Imports `n` overdue contacts into the `overdue` list the collections example reads.
fn import_overdue(ws: &Workspace, n: u32) {
    let mut csv = String::from("external_id,first_name,phone,balance,debt_id\n");
    for i in 0..n {
        let balance = if i % 5 == 0 { 1500 } else { 120 + i };
        csv.push_str(&format!("D{i:03},Ann,+4474002{i:05},{balance},debt-{i}\n"));
    }
    ws.write("overdue.csv", &csv);
    ws.herald(&["contacts", "import", "overdue.csv", "--list", "overdue"])
        .ok();
}

#[tokio::test]
async fn the_collections_example_run_by_the_engine_reports_what_the_ledger_holds() {
    let ws = Workspace::init();
    import_overdue(&ws, 60);
    // Tuesday 1 December 2026: the 09:00 London run is planned and its SMS sent; replies
    // and deliveries come in during the day; on Thursday the bot calls those who did not reply.
    for now in [
        "2026-12-01T09:00:00Z",
        "2026-12-01T09:05:00Z",
        "2026-12-01T18:00:00Z",
        "2026-12-03T10:00:00Z",
        "2026-12-03T11:00:00Z",
        "2026-12-03T16:00:00Z",
    ] {
        ws.herald_at(now, &["run", "--until-idle", "--format", "json"])
            .ok();
    }
    let r = ws
        .herald_at(
            "2026-12-03T16:00:00Z",
            &["report", "collections_reminder", "--format", "json"],
        )
        .ok()
        .json();

    let pairs = |condition: &str| {
        format!(
            "SELECT COUNT(DISTINCT a.run_id * 4294967296 + a.contact_id) FROM attempts a
             JOIN runs r ON r.id = a.run_id
             WHERE r.campaign = 'collections_reminder' AND ({condition})"
        )
    };
    let f = &r["funnel"];
    let attempted = count(&ws, &pairs("a.sent_at IS NOT NULL")).await;
    assert!(attempted > 0, "the run sent something");
    assert_eq!(f["attempted"].as_u64(), Some(attempted), "{f:#}");
    assert_eq!(
        f["reached"].as_u64(),
        Some(count(&ws, &pairs("a.connected = 1")).await)
    );
    assert_eq!(f["in_ledger"].as_u64(), Some(count(&ws, &pairs("1")).await));
    let promised = count(
        &ws,
        &pairs(
            "a.outcome = 'promise_to_pay' OR EXISTS (SELECT 1 FROM events e
              WHERE e.attempt_id = a.id AND e.kind = 'promise_to_pay')",
        ),
    )
    .await;
    assert_eq!(
        r["rates"]["promise_to_pay"]["of_attempted"]["count"].as_u64(),
        Some(promised)
    );
    let runs = scalar(
        &ws,
        "SELECT COUNT(*) FROM runs WHERE campaign = 'collections_reminder'",
    )
    .await;
    assert_eq!(r["runs"].as_array().unwrap().len() as i64, runs);
    let planned = scalar(
        &ws,
        "SELECT COALESCE(SUM(json_extract(summary, '$.plan.planned')), 0) FROM runs
         WHERE campaign = 'collections_reminder'",
    )
    .await;
    assert_eq!(f["planned"].as_i64(), Some(planned));

    // Every planned contact is sent to, skipped at send or still waiting: nothing is lost.
    let skipped: u64 = f["skipped_at_send"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        attempted + skipped + f["pending"].as_u64().unwrap(),
        f["in_ledger"].as_u64().unwrap()
    );
    let stage = |k: &str| f[k].as_u64().unwrap();
    assert!(stage("considered") >= stage("planned"));
    assert!(stage("attempted") >= stage("delivered") && stage("delivered") >= stage("reached"));
    assert!(stage("reached") >= stage("converted"));

    // Sends add up the same by hour, by channel and in the ledger.
    let sends = scalar(
        &ws,
        "SELECT COUNT(*) FROM attempts a JOIN runs r ON r.id = a.run_id
         WHERE r.campaign = 'collections_reminder' AND a.sent_at IS NOT NULL",
    )
    .await as u64;
    let sum = |key: &str, field: &str| -> u64 {
        r[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h[field].as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum("by_hour", "sends"), sends);
    assert_eq!(sum("by_channel", "sends"), sends);
    assert_eq!(sum("by_step", "sends"), sends);
    let sms_sends = scalar(
        &ws,
        "SELECT COUNT(*) FROM attempts a JOIN runs r ON r.id = a.run_id
         WHERE r.campaign = 'collections_reminder' AND a.sent_at IS NOT NULL
           AND a.channel = 'sms'",
    )
    .await as u64;
    let sms = r["by_channel"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "sms")
        .expect("an sms row");
    assert_eq!(sms["sends"].as_u64(), Some(sms_sends));
    assert_eq!(r["by_segment"]["groups"][0]["value"], "overdue");
    // The example's first step is an A/B test with a holdout and a goal: every contact
    // of the step is in exactly one group, and the holdout was never sent to.
    let x = &r["experiment"];
    assert_eq!(x["step"], "reminder_sms", "{x:#}");
    let names: Vec<&str> = x["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["variant"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["firm", "friendly"]);
    let in_groups: i64 = x["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["contacts"].as_i64().unwrap())
        .sum::<i64>()
        + x["holdout"]["contacts"].as_i64().unwrap();
    let step_contacts = scalar(
        &ws,
        "SELECT COUNT(*) FROM (SELECT DISTINCT a.run_id, a.contact_id FROM attempts a
         JOIN runs r ON r.id = a.run_id
         WHERE r.campaign = 'collections_reminder' AND a.step = 'reminder_sms')",
    )
    .await;
    assert_eq!(in_groups, step_contacts);
    let holdout_sent = scalar(
        &ws,
        "SELECT COUNT(*) FROM attempts WHERE variant = 'holdout' AND sent_at IS NOT NULL",
    )
    .await;
    assert_eq!(holdout_sent, 0);
    assert_eq!(x["goal"]["filter"], "tag.paid or tag.promise_to_pay");
}

/// The Chromium binary: `$HERALD_CHROMIUM`, else `chromium` or `chromium-browser` on PATH.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("HERALD_CHROMIUM").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser"] {
        if let Some(dir) = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .find(|d| d.join(name).is_file())
        {
            return dir.join(name);
        }
    }
    panic!(
        "the HTML report test needs Chromium: `apt-get install chromium` (or set HERALD_CHROMIUM)"
    );
}

/// Runs headless Chromium on `page` with `extra` arguments; returns stdout.
fn headless(page: &Path, profile: &Path, extra: &[&str]) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--window-size=1280,2400",
        ])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("start chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_html_report_renders_in_headless_chromium_with_its_three_charts_and_no_network() {
    let ws = survey_workspace().await;
    let page = ws.path("report.html");
    ws.herald_at(
        "2026-12-05T12:00:00Z",
        &["report", "repair_nps", "--html", "report.html"],
    )
    .ok();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<script"), "no script at all, inline or not");
    assert!(
        html.contains("Repair NPS &lt;A/B&gt; &amp; &quot;friends&quot;")
            && !html.contains("<A/B>"),
        "data is escaped"
    );

    let profile = tempfile::tempdir().unwrap();
    let shot = ws.path("report.png");
    headless(
        &page,
        profile.path(),
        &[&format!("--screenshot={}", shot.display())],
    );
    let size = std::fs::metadata(&shot).expect("a screenshot").len();
    assert!(size > 50_000, "the screenshot is only {size} bytes");

    let dom = headless(&page, profile.path(), &["--dump-dom"]);
    for id in ["chart-funnel", "chart-hours", "chart-nps"] {
        let start = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id} is not in the DOM"));
        let svg = &dom[start..start + dom[start..].find("</svg>").unwrap()];
        let bars = svg.matches("class=\"bar").count();
        let expected = match id {
            "chart-funnel" => 6,
            "chart-nps" => 11,
            // 09:00: converted, reached, delivered; 10:00: converted, not reached.
            _ => 5,
        };
        assert_eq!(bars, expected, "{id} bars in:\n{svg}");
        assert!(svg.contains("<title"), "{id} has an accessible title");
    }
}
