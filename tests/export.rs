//! `herald export` through the binary: the documented columns and types in each format,
//! the filters, masking, spreadsheet-formula neutralisation, refusals that write nothing,
//! and a million events to Parquet read back with the Arrow reader.

mod common;

use std::fs::File;

use arrow_schema::{DataType, TimeUnit};
use common::{Workspace, scalar};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const ATTEMPT_COLUMNS: &str = "attempt_id,run_id,campaign,contact_id,external_id,step,channel,attempt_no,variant,prompt,state,outcome,reason,connected,not_before,sent_at,idempotency_key,provider_ref,created_at,updated_at";
const EVENT_COLUMNS: &str = "event_id,attempt_id,run_id,campaign,contact_id,external_id,step,channel,kind,detail,payload,occurred_at,recorded_at";
const RESPONSE_COLUMNS: &str = "response_id,run_id,attempt_id,campaign,contact_id,external_id,question,kind,score,answer,raw,channel,variant,revision,first_answered_at,answered_at";
const CONTACT_COLUMNS: &str = "contact_id,external_id,first_name,last_name,phone,email,locale,timezone,consent_sms,consent_email,consent_call,attributes,tags,created_at,updated_at";
const TAG_COLUMNS: &str = "contact_id,external_id,tag,source,created_at,expires_at";

/// (phone, e-mail) of the contacts [`campaigns`] imports.
const PEOPLE: [(&str, &str); 5] = [
    ("+447400100001", "ana@example.com"),
    ("+447400100002", "ben@example.org"),
    ("+447400100003", "cy.jones@example.net"),
    ("+447400100004", "dee@example.com"),
    ("+447400100005", "eve@example.co.uk"),
];

/// Five contacts; campaign `first` ran on 1 December (its deliveries tag `reached_first`),
/// campaign `second` on 2 December, both by SMS through the simulated provider.
fn campaigns() -> Workspace {
    let ws = Workspace::bare();
    let config = std::fs::read_to_string(ws.path("herald.toml"))
        .unwrap()
        .replace("sms = \"08:00-21:00\"", "sms = \"00:00-24:00\"");
    ws.write(
        "herald.toml",
        &format!(
            "{config}\n[sim]\nsms_delivered = 1.0\nsms_reply = 0.0\ndelivery_delay = \"1s\"\n"
        ),
    );
    for (id, day, tag) in [
        (
            "first",
            "2026-12-01",
            "\n[[tags]]\non = \"delivered\"\nadd = \"reached_first\"\n",
        ),
        ("second", "2026-12-02", ""),
    ] {
        ws.write(
            &format!("jobs/{id}.toml"),
            &format!(
                "kind = \"reminder\"\n[audience]\nlists = [\"people\"]\n[schedule]\nonce = {day}T10:00:00Z\n[[steps]]\nid = \"sms\"\nchannel = \"sms\"\ntemplate = \"payment_reminder\"\n{tag}"
            ),
        );
    }
    let mut csv = String::from("external_id,first_name,last_name,phone,email,balance,note\n");
    for (i, (phone, email)) in PEOPLE.iter().enumerate() {
        csv.push_str(&format!("P{i},Name{i},Family{i},{phone},{email},{i}0,ok\n"));
    }
    import_at(&ws, "2026-11-30T09:00:00Z", &csv);
    for now in [
        "2026-12-01T10:00:00Z",
        "2026-12-01T10:05:00Z",
        "2026-12-02T10:00:00Z",
        "2026-12-02T10:05:00Z",
    ] {
        ws.herald_at(now, &["run", "--until-idle"]).ok();
    }
    ws
}

fn import_at(ws: &Workspace, now: &str, csv: &str) {
    ws.write("contacts.csv", csv);
    ws.herald_at(
        now,
        &["contacts", "import", "contacts.csv", "--list", "people"],
    )
    .ok();
}

/// Runs `herald export ARGS` at a fixed moment and returns stdout.
fn export(ws: &Workspace, args: &[&str]) -> String {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    ws.herald_at("2026-12-03T00:00:00Z", &all).ok().stdout
}

/// Records of a CSV export, header first.
fn csv_records(text: &str) -> Vec<csv::StringRecord> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader.records().map(|r| r.unwrap()).collect()
}

fn column(records: &[csv::StringRecord], name: &str) -> Vec<String> {
    let i = records[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    records[1..].iter().map(|r| r[i].to_string()).collect()
}

/// The keys of a JSON line in the order written (serde_json's map sorts them).
fn keys_in_order(line: &str, columns: &str) -> bool {
    let mut from = 0;
    for name in columns.split(',') {
        match line[from..].find(&format!("\"{name}\":")) {
            Some(at) => from += at + name.len() + 3,
            None => return false,
        }
    }
    true
}

fn json_lines(text: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test]
async fn csv_and_jsonl_exports_of_a_run_campaign_have_the_documented_columns_and_filter() {
    let ws = campaigns();
    let attempts = scalar(&ws, "SELECT COUNT(*) FROM attempts").await;
    let events = scalar(&ws, "SELECT COUNT(*) FROM events").await;
    let first_attempts = scalar(
        &ws,
        "SELECT COUNT(*) FROM attempts a JOIN runs r ON r.id = a.run_id WHERE r.campaign = 'first'",
    )
    .await;
    assert_eq!(attempts, 10, "five contacts, two campaigns");
    assert!(events >= attempts, "each sent attempt has events");

    // CSV: the documented header, one record per attempt.
    let all = csv_records(&export(&ws, &["attempts"]));
    assert_eq!(all[0].iter().collect::<Vec<_>>().join(","), ATTEMPT_COLUMNS);
    assert_eq!(all.len() as i64 - 1, attempts);
    assert!(
        column(&all, "connected")
            .iter()
            .all(|c| c == "true" || c == "false")
    );
    assert!(
        column(&all, "sent_at")
            .iter()
            .all(|t| t.starts_with("2026-12-0") && t.ends_with('Z')),
        "times are RFC 3339 UTC: {:?}",
        column(&all, "sent_at")
    );

    // --campaign keeps that campaign's rows only.
    let first = csv_records(&export(&ws, &["attempts", "--campaign", "first"]));
    assert_eq!(first.len() as i64 - 1, first_attempts);
    assert!(column(&first, "campaign").iter().all(|c| c == "first"));

    // --since/--until is half-open on created_at: the 2nd of December belongs to `second`.
    let since = csv_records(&export(&ws, &["attempts", "--since", "2026-12-02"]));
    assert_eq!(column(&since, "campaign"), vec!["second"; 5]);
    let until = csv_records(&export(
        &ws,
        &["attempts", "--until", "2026-12-02T10:00:00Z"],
    ));
    assert_eq!(column(&until, "campaign"), vec!["first"; 5]);
    let none = csv_records(&export(
        &ws,
        &[
            "attempts",
            "--since",
            "2026-12-01T10:00:01Z",
            "--until",
            "2026-12-02 10:00",
        ],
    ));
    assert_eq!(
        none.len(),
        1,
        "only the header: no attempt was planned in between"
    );

    // JSON Lines: every documented key, in order, typed.
    let text = export(&ws, &["events", "--format", "jsonl"]);
    assert!(
        text.lines().all(|l| keys_in_order(l, EVENT_COLUMNS)),
        "{text}"
    );
    let lines = json_lines(&text);
    assert_eq!(lines.len() as i64, events);
    for line in &lines {
        assert_eq!(line.len(), EVENT_COLUMNS.split(',').count(), "{line:?}");
        assert!(line["event_id"].is_i64() && line["attempt_id"].is_i64());
        assert!(line["payload"].is_string(), "JSON text stays a string");
    }
    let delivered_first = json_lines(&export(
        &ws,
        &[
            "events",
            "--format",
            "jsonl",
            "--campaign",
            "first",
            "--since",
            "2026-12-01",
            "--until",
            "2026-12-02",
        ],
    ));
    assert!(!delivered_first.is_empty());
    assert!(delivered_first.iter().all(|l| l["campaign"] == "first"));
    assert_eq!(
        delivered_first.len() as i64,
        scalar(
            &ws,
            "SELECT COUNT(*) FROM events e JOIN attempts a ON a.id = e.attempt_id JOIN runs r ON r.id = a.run_id WHERE r.campaign = 'first'",
        )
        .await
    );

    // Tags: --campaign keeps what that campaign's runs set.
    let tags = csv_records(&export(&ws, &["tags", "--campaign", "first"]));
    assert_eq!(tags[0].iter().collect::<Vec<_>>().join(","), TAG_COLUMNS);
    assert_eq!(column(&tags, "tag"), vec!["reached_first"; 5]);
    assert!(
        column(&tags, "source")
            .iter()
            .all(|s| s.starts_with("first/run "))
    );
    assert_eq!(
        csv_records(&export(&ws, &["tags", "--campaign", "second"])).len(),
        1
    );

    // Contacts: --campaign keeps those with an attempt in it; tags in force as JSON text.
    let contacts = csv_records(&export(&ws, &["contacts", "--campaign", "second"]));
    assert_eq!(
        contacts[0].iter().collect::<Vec<_>>().join(","),
        CONTACT_COLUMNS
    );
    assert_eq!(contacts.len() - 1, PEOPLE.len());
    assert_eq!(column(&contacts, "tags"), vec!["[\"reached_first\"]"; 5]);
    assert_eq!(
        csv_records(&export(&ws, &["contacts", "--campaign", "nobody"])).len(),
        1
    );
}

#[tokio::test]
async fn survey_responses_export_with_integer_scores_and_nulls() {
    let ws = campaigns();
    let store = herald::store::SqliteStore::open(
        &format!("sqlite://{}", ws.path("herald.db").display()),
        false,
    )
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO responses (run_id, campaign, contact_id, attempt_id, question, kind, score, answer, raw, channel, variant, revision, first_answered_at, answered_at)
         SELECT a.run_id, r.campaign, a.contact_id, a.id, q.question, q.kind, q.score, q.answer, q.raw, 'sms', NULL, 1,
                '2026-12-01T11:00:00+00:00', '2026-12-01T11:00:00+00:00'
         FROM attempts a JOIN runs r ON r.id = a.run_id
         CROSS JOIN (SELECT 'nps' AS question, 'nps' AS kind, 9 AS score, '9' AS answer, 'nine!' AS raw
                     UNION ALL SELECT 'comment', 'text', NULL, 'quick', '=quick') q
         WHERE r.campaign = 'first'",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.pool().close().await;

    let text = export(&ws, &["responses", "--format", "jsonl"]);
    assert!(
        text.lines().all(|l| keys_in_order(l, RESPONSE_COLUMNS)),
        "{text}"
    );
    let lines = json_lines(&text);
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[0].len(), RESPONSE_COLUMNS.split(',').count());
    let nps: Vec<_> = lines.iter().filter(|l| l["question"] == "nps").collect();
    assert!(nps.iter().all(|l| l["score"] == 9 && l["revision"] == 1));
    assert!(
        lines
            .iter()
            .filter(|l| l["question"] == "comment")
            .all(|l| l["score"].is_null() && l["variant"].is_null())
    );
    assert_eq!(
        json_lines(&export(
            &ws,
            &["responses", "--format", "jsonl", "--campaign", "second"]
        ))
        .len(),
        0
    );
    let csv = csv_records(&export(
        &ws,
        &["responses", "--until", "2026-12-01T11:00:00Z"],
    ));
    assert_eq!(csv.len(), 1, "answered_at is excluded at --until");
}

#[test]
fn mask_pii_leaves_no_phone_number_or_email_address_in_any_export() {
    let ws = campaigns();
    let tables = ["attempts", "events", "responses", "contacts", "tags"];
    let mut plain = String::new();
    let mut masked = String::new();
    for table in tables {
        for format in ["csv", "jsonl"] {
            plain.push_str(&export(&ws, &[table, "--format", format]));
            masked.push_str(&export(&ws, &[table, "--format", format, "--mask-pii"]));
        }
    }
    for (phone, email) in PEOPLE {
        assert!(plain.contains(phone), "{phone} is exported without masking");
        assert!(plain.contains(email), "{email} is exported without masking");
        assert!(!masked.contains(phone), "{phone} leaked through --mask-pii");
        assert!(!masked.contains(email), "{email} leaked through --mask-pii");
        assert!(
            !masked.contains(&phone[3..]),
            "the national part of {phone} leaked"
        );
    }
    assert!(
        !masked.contains("Name1") && !masked.contains("Family1"),
        "names are masked"
    );
    let rows = json_lines(&export(
        &ws,
        &["contacts", "--format", "jsonl", "--mask-pii"],
    ));
    assert_eq!(rows[0]["phone"], "+44********01");
    assert_eq!(rows[0]["email"], "a***@example.com");
    assert_eq!(rows[0]["first_name"], "N***");
    assert_eq!(rows[0]["external_id"], "P0", "the CRM key stays for joins");
}

#[test]
fn names_and_attributes_starting_with_a_formula_sign_are_neutralised_in_csv() {
    let ws = Workspace::bare();
    import_at(
        &ws,
        "2026-11-30T09:00:00Z",
        "external_id,first_name,last_name,phone,note\nX1,\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",@SUM(1),+447400100009,=1+2\nX2,-2+3,Smith,+447400100008,-3\n",
    );
    let records = csv_records(&export(&ws, &["contacts"]));
    assert_eq!(
        column(&records, "first_name"),
        vec!["'=HYPERLINK(\"http://evil.example\",\"x\")", "'-2+3"]
    );
    assert_eq!(column(&records, "last_name"), vec!["'@SUM(1)", "Smith"]);
    assert_eq!(
        column(&records, "phone"),
        vec!["+447400100009", "+447400100008"],
        "a plain number is a number, not a formula"
    );
    assert_eq!(column(&records, "contact_id"), vec!["1", "2"]);
    let attributes = column(&records, "attributes");
    assert!(
        attributes.iter().all(|a| a.starts_with('{')),
        "attributes are JSON text, which no spreadsheet runs: {attributes:?}"
    );
    assert!(attributes[0].contains("=1+2"));

    // JSON Lines carries the values unchanged.
    let lines = json_lines(&export(&ws, &["contacts", "--format", "jsonl"]));
    assert_eq!(lines[1]["first_name"], "-2+3");
}

#[test]
fn a_bad_moment_an_unknown_table_or_parquet_on_stdout_is_refused_and_writes_no_file() {
    let ws = campaigns();
    // Files other than the database's own (SQLite adds -wal and -shm beside it).
    let files = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(ws.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("herald.db"))
            .collect();
        names.sort();
        names
    };
    let before = files();
    let cases: [(&[&str], &str); 5] = [
        (
            &["export", "events", "--since", "yesterday", "-o", "out.csv"],
            "`yesterday` is not a moment",
        ),
        (
            &["export", "events", "--until", "2026-13-01", "-o", "out.csv"],
            "reading --until",
        ),
        (
            &[
                "export",
                "events",
                "--since",
                "2026-12-02",
                "--until",
                "2026-12-01",
                "-o",
                "out.csv",
            ],
            "must come after --since",
        ),
        (
            &["export", "people", "-o", "out.csv"],
            "possible values: attempts, events, responses, contacts, tags",
        ),
        (
            &["export", "events", "--format", "parquet"],
            "Parquet needs a file",
        ),
    ];
    for (args, message) in cases {
        let run = ws.herald(args);
        assert_ne!(run.code, 0, "{args:?} should fail");
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?} wrote data: {}", run.stdout);
    }
    assert!(!ws.path("out.csv").exists());
    let json = ws.herald(&["export", "events", "--format", "json"]);
    assert!(
        json.stderr.contains("use --format csv, jsonl or parquet"),
        "{}",
        json.stderr
    );
    let other = ws.herald(&["campaign", "list", "--format", "parquet"]);
    assert_ne!(other.code, 0);
    assert!(
        other.stderr.contains("is for `herald export`"),
        "{}",
        other.stderr
    );
    assert_eq!(files(), before, "no file left behind");

    // A good export then writes the file, with no temporary file left.
    let ok = ws.herald(&["export", "events", "-o", "out.csv"]).ok();
    assert!(ok.stdout.is_empty(), "data goes to the file only");
    assert!(
        std::fs::read_to_string(ws.path("out.csv"))
            .unwrap()
            .starts_with(EVENT_COLUMNS)
    );
    let mut expected = before.clone();
    expected.push("out.csv".into());
    expected.sort();
    assert_eq!(files(), expected, "the file, and no temporary file");
}

#[tokio::test]
async fn an_export_of_a_million_events_to_parquet_reads_back_with_the_documented_types() {
    const EVENTS: i64 = 1_000_000;
    let ws = Workspace::bare();
    ws.herald(&["migrate"]).ok();
    let store = herald::store::SqliteStore::open(
        &format!("sqlite://{}", ws.path("herald.db").display()),
        false,
    )
    .await
    .unwrap();
    // One run, 1,000 contacts, 4,000 attempts, a million events: built in SQL, fast.
    for sql in [
        "INSERT INTO contacts (id, external_id, phone, created_at, updated_at)
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
         SELECT i, 'C' || i, '+4474' || (10000000 + i), '2026-11-30T09:00:00+00:00', '2026-11-30T09:00:00+00:00' FROM n",
        "INSERT INTO campaign_versions (id, campaign, hash, source, created_at)
         VALUES (1, 'bulk', 'h', '', '2026-11-30T09:00:00+00:00')",
        "INSERT INTO runs (id, campaign, version_id, occurrence, state, created_at)
         VALUES (1, 'bulk', 1, '2026-12-01T10:00:00+00:00', 'finished', '2026-12-01T10:00:00+00:00')",
        "INSERT INTO attempts (id, run_id, contact_id, step, step_index, channel, attempt_no, not_before, state, idempotency_key, connected, sent_at, created_at, updated_at)
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 3999)
         SELECT i + 1, 1, i % 1000 + 1, 'sms', 0, 'sms', i / 1000 + 1, '2026-12-01T10:00:00+00:00', 'done',
                'k' || i, i % 2, '2026-12-01T10:00:00+00:00', '2026-12-01T10:00:00+00:00', '2026-12-01T10:00:00+00:00' FROM n",
        "INSERT INTO events (attempt_id, kind, detail, payload, occurred_at, recorded_at)
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999999)
         SELECT i % 4000 + 1, 'delivered', CASE WHEN i % 3 = 0 THEN 'ok' END, '{}',
                strftime('%Y-%m-%dT%H:%M:%S', '2026-12-01 10:00:00', '+' || i || ' seconds') || '+00:00',
                '2026-12-20T00:00:00+00:00' FROM n",
    ] {
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }
    store.pool().close().await;

    ws.herald(&[
        "export",
        "events",
        "--format",
        "parquet",
        "-o",
        "events.parquet",
    ])
    .ok();

    let file = File::open(ws.path("events.parquet")).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let metadata = builder.metadata().clone();
    assert_eq!(metadata.file_metadata().num_rows(), EVENTS);
    assert_eq!(metadata.num_row_groups(), 16, "row groups of 65,536 rows");
    assert!(metadata.row_groups().iter().all(|g| g.num_rows() <= 65_536));
    let schema = builder.schema().clone();
    let expected = [
        ("event_id", DataType::Int64, false),
        ("attempt_id", DataType::Int64, false),
        ("run_id", DataType::Int64, false),
        ("campaign", DataType::Utf8, false),
        ("contact_id", DataType::Int64, false),
        ("external_id", DataType::Utf8, false),
        ("step", DataType::Utf8, false),
        ("channel", DataType::Utf8, false),
        ("kind", DataType::Utf8, false),
        ("detail", DataType::Utf8, true),
        ("payload", DataType::Utf8, false),
        (
            "occurred_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        (
            "recorded_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ];
    let actual: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type().clone(), f.is_nullable()))
        .collect();
    assert_eq!(actual, expected.map(|(n, t, null)| (n, t, null)).to_vec());

    let mut rows = 0;
    let mut nulls = 0;
    let mut last_occurred = None;
    for batch in builder.with_batch_size(65_536).build().unwrap() {
        let batch = batch.unwrap();
        rows += batch.num_rows();
        nulls += batch.column(9).null_count();
        let occurred = batch
            .column(11)
            .as_any()
            .downcast_ref::<arrow_array::TimestampMicrosecondArray>()
            .unwrap();
        last_occurred = Some(occurred.value(occurred.len() - 1));
    }
    assert_eq!(rows as i64, EVENTS);
    assert_eq!(
        nulls as i64,
        EVENTS - (EVENTS + 2) / 3,
        "detail is null where unset"
    );
    let last = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap()
        + chrono::Duration::seconds(EVENTS - 1);
    assert_eq!(last_occurred, Some(last.timestamp_micros()));
}
