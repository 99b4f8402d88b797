//! Contact and DNC imports, tags, and their effect on plans, through the real binary and
//! a real SQLite file.

mod common;

use common::Workspace;

const CONTACTS: &str = "\
external_id,first_name,phone,email,locale,timezone,consent_sms,balance,debt_id,tags
A1,Ana,07400 100001,ana@example.com,en,,granted,120.50,D1,vip
A2,Ben,+1 212 555 0142,,en,America/New_York,,80,D2,
A3,Cy,12345,,en,,,10,D3,
A4,Di,+447400100004,,en,,,lots,D4,
,Ed,+447400100005,,en,,,5,D5,
A6,Flo,+447400100006,flo@,en,Mars/Base,,5,D6,
A7,Gus,+447400100007,,es-mx,,denied,300,D7,
";

fn imported() -> Workspace {
    let ws = Workspace::init();
    ws.write("contacts.csv", CONTACTS);
    let run = ws.herald(&["contacts", "import", "contacts.csv", "--list", "overdue"]);
    assert_eq!(
        run.code, 3,
        "rejected rows make the exit code 3:\n{}\n{}",
        run.stdout, run.stderr
    );
    ws
}

#[test]
fn bad_rows_are_reported_by_line_and_good_rows_imported() {
    let ws = Workspace::init();
    ws.write("contacts.csv", CONTACTS);
    let run = ws.herald(&["contacts", "import", "contacts.csv", "--list", "overdue"]);
    assert_eq!(run.code, 3);
    let err = &run.stderr;
    assert!(
        err.contains("contacts.csv:4: rejected: phone: `*****` is not a valid phone number"),
        "{err}"
    );
    assert!(
        err.contains("contacts.csv:5: rejected: balance: `lots` is not a number"),
        "{err}"
    );
    assert!(
        err.contains("contacts.csv:6: rejected: external_id is empty"),
        "{err}"
    );
    // Every bad field of a row is named, not only the first.
    assert!(
        err.contains("contacts.csv:7: rejected: email:")
            && err.contains("timezone: unknown time zone `Mars/Base`"),
        "{err}"
    );
    assert!(
        run.stdout
            .contains("7 rows read; 3 new, 0 updated, 0 unchanged; 4 rejected"),
        "{}",
        run.stdout
    );

    let ana = ws.herald(&["contacts", "show", "A1"]).ok().json();
    assert_eq!(
        ana["phone"], "+44********01",
        "stored as E.164, shown masked"
    );
    assert_eq!(
        ana["timezone"], "Europe/London",
        "inferred from the GB number"
    );
    assert_eq!(ana["attributes"]["balance"], 120.5);
    assert_eq!(ana["lists"][0], "overdue");
    assert_eq!(ana["tags"][0]["name"], "vip");
    let gus = ws.herald(&["contacts", "show", "A7"]).ok().json();
    assert_eq!(
        (gus["locale"].as_str(), gus["consent"]["sms"].as_str()),
        (Some("es-MX"), Some("denied"))
    );
}

#[test]
fn reimporting_the_same_file_changes_nothing() {
    let ws = imported();
    let again = ws.herald(&[
        "contacts",
        "import",
        "contacts.csv",
        "--list",
        "overdue",
        "--format",
        "json",
    ]);
    let report = again.json();
    assert_eq!(
        (
            report["inserted"].as_u64(),
            report["updated"].as_u64(),
            report["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(3))
    );
    let lists = ws
        .herald(&["contacts", "lists", "--format", "json"])
        .ok()
        .json();
    assert_eq!(lists[0]["count"], 3, "list membership is not duplicated");
}

#[test]
fn a_partial_file_updates_only_its_columns() {
    let ws = imported();
    ws.write("balances.csv", "external_id,balance\nA1,99\nZ9,5\n");
    let run = ws
        .herald(&["contacts", "import", "balances.csv", "--format", "json"])
        .ok();
    let report = run.json();
    assert_eq!(
        (report["inserted"].as_u64(), report["updated"].as_u64()),
        (Some(1), Some(1))
    );
    let ana = ws.herald(&["contacts", "show", "A1"]).ok().json();
    assert_eq!(ana["attributes"]["balance"], 99.0);
    assert_eq!(ana["attributes"]["debt_id"], "D1", "other attributes kept");
    assert_eq!(
        ana["first_name"], "Ana",
        "columns absent from the file kept"
    );
}

fn plan_json(ws: &Workspace, campaign: &str, at: &str) -> serde_json::Value {
    ws.herald(&[
        "plan",
        campaign,
        "--dry-run",
        "--at",
        at,
        "--format",
        "json",
    ])
    .ok()
    .json()
}

/// A one-step SMS campaign for the `overdue` list, window 09:00-20:00 every day.
fn simple_campaign(ws: &Workspace) {
    ws.write(
        "jobs/simple.toml",
        r#"kind = "collection"
[audience]
lists = ["overdue"]
[schedule]
cron = "0 9 * * *"
timezone = "Europe/London"
[windows.sms]
hours = "09:00-20:00"
[[steps]]
id = "sms"
channel = "sms"
template = "payment_reminder"
"#,
    );
}

#[test]
fn a_dnc_entry_removes_the_contact_from_the_plan_with_its_reason() {
    let ws = imported();
    simple_campaign(&ws);
    let at = "2026-12-01T10:00:00Z";
    let before = plan_json(&ws, "simple", at);
    assert_eq!(
        before["planned"], 2,
        "A1 and A2; A7 refused SMS consent: {before:#}"
    );
    assert_eq!(before["skipped"]["no_consent"], 1);

    ws.herald(&[
        "dnc",
        "add",
        "--phone",
        "07400 100001",
        "--reason",
        "complaint",
    ])
    .ok();
    let after = plan_json(&ws, "simple", at);
    assert_eq!(after["planned"], 1);
    assert_eq!(after["skipped"]["dnc"], 1);
    let why = ws.herald(&["why", "A1", "simple", "--at", at]).ok();
    assert!(
        why.stdout
            .contains("skipped: a do-not-contact entry matches the contact (dnc)"),
        "{}",
        why.stdout
    );
    assert!(why.stdout.contains("complaint"), "{}", why.stdout);
    assert!(
        !why.stdout.contains("07400") && !why.stdout.contains("+447400100001"),
        "the number is masked: {}",
        why.stdout
    );

    // An entry that has expired no longer suppresses; removing an entry restores the contact.
    ws.herald(&["dnc", "remove", "--phone", "+447400100001"])
        .ok();
    ws.herald(&["dnc", "add", "--contact", "A1", "--expires", "2026-11-30"])
        .ok();
    assert_eq!(plan_json(&ws, "simple", at)["planned"], 2);
}

#[test]
fn a_dnc_file_reports_bad_rows_and_imports_the_rest() {
    let ws = imported();
    ws.write("dnc.csv", "phone,email,reason,expires\n+447400100001,,court order,\n,nobody@,bad,\n,ben@example.com,asked,90d\n+4474,,short,\n");
    let run = ws.herald(&["dnc", "import", "dnc.csv"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("dnc.csv:3: rejected") && run.stderr.contains("dnc.csv:5: rejected"),
        "{}",
        run.stderr
    );
    let list = ws.herald(&["dnc", "list", "--format", "json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        list.to_string().contains("+44********01"),
        "values are masked: {list}"
    );
}

#[test]
fn tags_carry_their_source_and_expiry_and_drive_segments() {
    let ws = imported();
    ws.herald(&[
        "tags",
        "add",
        "A2",
        "promise_to_pay",
        "--expires",
        "14d",
        "--source",
        "agent",
    ])
    .ok();
    let tags = ws
        .herald(&["tags", "list", "--contact", "A2", "--format", "json"])
        .ok()
        .json();
    assert_eq!(tags[0]["name"], "promise_to_pay");
    assert_eq!(tags[0]["source"], "agent");
    assert!(tags[0]["expires_at"].is_string());
    // The shipped collections campaign leaves out contacts who promised to pay.
    let at = "2026-12-01T10:00:00Z";
    let plan = plan_json(&ws, "collections_reminder", at);
    assert_eq!(plan["not_in_segment"], 1, "{plan:#}");
    ws.herald(&["tags", "remove", "A2", "promise_to_pay"]).ok();
    assert_eq!(
        plan_json(&ws, "collections_reminder", at)["not_in_segment"],
        0
    );
    assert_eq!(
        ws.herald(&["tags", "remove", "A2", "promise_to_pay"]).code,
        1,
        "removing a missing tag says so"
    );
}

#[test]
fn a_template_renders_for_a_contact_with_sms_segments() {
    let ws = imported();
    let run = ws
        .herald(&[
            "template",
            "preview",
            "payment_reminder",
            "--contact",
            "A7",
            "--format",
            "json",
        ])
        .ok();
    let r = run.json();
    assert_eq!(r["locale"], "es", "es-MX falls back to es");
    assert!(
        r["text"]
            .as_str()
            .unwrap()
            .starts_with("Hola Gus, tiene un saldo vencido de 300.00 EUR"),
        "{r}"
    );
    assert_eq!(r["sms"]["encoding"], "gsm7");
    assert_eq!(r["sms"]["segments"], 1);
    let en = ws
        .herald(&["template", "preview", "payment_reminder", "--contact", "A1"])
        .ok();
    assert!(en.stdout.contains("£120.50"), "{}", en.stdout);
}

#[test]
fn no_phone_number_or_address_appears_unmasked_in_any_output() {
    let ws = Workspace::init();
    ws.write("contacts.csv", CONTACTS);
    let mut seen = String::new();
    let runs: &[&[&str]] = &[
        &[
            "-vv",
            "contacts",
            "import",
            "contacts.csv",
            "--list",
            "overdue",
        ],
        &["-vv", "dnc", "add", "--phone", "07400 100001"],
        &["-vv", "dnc", "list"],
        &[
            "-vv",
            "plan",
            "collections_reminder",
            "--dry-run",
            "--at",
            "2026-12-01T10:00:00Z",
        ],
        &[
            "-vv",
            "why",
            "A1",
            "collections_reminder",
            "--at",
            "2026-12-01T10:00:00Z",
        ],
        &["-vv", "contacts", "show", "A1"],
    ];
    for args in runs {
        let run = ws
            .command(args)
            .env("HERALD_LOG", "debug")
            .output()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&run.stdout));
        seen.push_str(&String::from_utf8_lossy(&run.stderr));
    }
    assert!(seen.contains("planned"), "debug logs were captured: {seen}");
    for secret in [
        "7400100001",
        "400 100001",
        "2125550142",
        "ana@example.com",
        "flo@",
        // The bad number as an error would quote it (timestamps can hold the digits).
        "`12345`",
    ] {
        assert!(
            !seen.contains(secret),
            "`{secret}` appears unmasked in:\n{seen}"
        );
    }
}

#[test]
fn segment_preview_counts_and_samples_a_filter_over_tags_and_attributes() {
    let ws = Workspace::bare();
    ws.import_people(
        "external_id,first_name,phone,balance,city\n\
         A1,Ana,+447400100001,120,Leeds\n\
         A2,Bo,+447400100002,20,York\n\
         A3,Cy,+447400100003,500,Leeds\n\
         A4,Di,+447400100004,900,York\n",
    );
    ws.herald(&["tags", "add", "A3", "nps_detractor"]).ok();
    ws.herald(&["tags", "add", "A4", "nps_detractor"]).ok();
    let out = ws
        .herald(&[
            "segment",
            "preview",
            "tag.nps_detractor and attr.city = \"Leeds\" or attr.balance < 50",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(out["considered"], 4);
    assert_eq!(out["matching"], 2, "{out}");
    let sample: Vec<&str> = out["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(sample, vec!["A2", "A3"]);
    assert!(
        !out.to_string().contains("7400100003"),
        "phones are masked in the sample"
    );
    // A misspelt tag is named with a suggestion; a broken filter points at its column.
    let typo = ws.herald(&["segment", "preview", "tag.nps_detractr"]).ok();
    assert!(
        typo.stdout.contains("did you mean `nps_detractor`"),
        "{}",
        typo.stdout
    );
    let broken = ws.herald(&["segment", "preview", "attr.balance >> 100"]);
    assert_eq!(broken.code, 1);
    assert!(
        broken.stderr.contains("does not parse"),
        "{}",
        broken.stderr
    );
}
