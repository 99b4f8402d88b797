//! Hostile-input checks, one per parser that reads outside input: campaign definitions,
//! segment filters, contact CSV files, SMS replies and provider callbacks.
//!
//! Each function takes arbitrary bytes, runs the parser the way herald runs it, and panics
//! only when a rule is broken: the parser itself panics, an error comes without a reason
//! or a place inside the input, a CSV row is neither imported nor reported, a survey score
//! falls outside its scale. The coverage-guided fuzz targets in `fuzz/` call these for as
//! long as they are given (`bash fuzz/run.sh`); the test suite runs every committed seed
//! in `fuzz/seeds/` through them, so they always build and the seeds always pass.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::api::{SIGNATURE_TOLERANCE_SECS, check_signature, decode_callback, sign_callback};
use crate::diagnostics::parse_strict;
use crate::domain::campaign::{CampaignDef, Question, QuestionKind};
use crate::domain::contact::{AttributeType, AttributeValue, Consents, Contact, Tag};
use crate::domain::ledger::{OPT_OUT_KEYWORDS, Report, is_opt_out, is_opt_out_exactly};
use crate::domain::segment::Segment;
use crate::domain::survey::{Reading, read_answer, scale};
use crate::import::{ContactImport, import_contacts, import_suppressions};
use crate::store::{SqliteStore, Store};

/// A check over one input.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/` and the seed folders name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("campaign", campaign_definition),
    ("segment", segment_filter),
    ("csv_import", csv_import),
    ("sms_reply", sms_reply),
    ("callback", provider_callback),
];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()
}

/// A campaign file (`jobs/ID.toml`): it parses and checks into a campaign, or every
/// problem comes with a message and a place inside the file.
pub fn campaign_definition(data: &[u8]) {
    // TOML is UTF-8: herald refuses other bytes when it reads the file, before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count() + 1;
    let problems: Vec<(String, usize)> = match parse_strict::<CampaignDef>("fuzz.toml", text) {
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "a refused file says why");
            diagnostics
                .into_iter()
                .map(|d| (d.message, d.line))
                .collect()
        }
        Ok((def, map)) => match def.check("fuzz") {
            Ok(campaign) => {
                assert_eq!(campaign.id, "fuzz");
                assert!(!campaign.steps.is_empty(), "a campaign has steps");
                Vec::new()
            }
            Err(errors) => {
                assert!(!errors.is_empty(), "a refused definition says why");
                errors
                    .into_iter()
                    .map(|e| (e.message, map.locate(&e.path).0))
                    .collect()
            }
        },
    };
    for (message, line) in problems {
        assert!(!message.trim().is_empty(), "a problem has a message");
        assert!(line <= lines, "line {line} is past the end ({lines} lines)");
    }
}

/// A segment filter (`[audience] segment`, `herald segment`): it parses, and then decides
/// for any contact, or fails at a column inside the text.
pub fn segment_filter(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match Segment::parse(&text) {
        Ok(segment) => {
            for contact in sample_contacts() {
                let _ = segment.matches(contact, now());
            }
            let _ = (segment.tags(), segment.attributes());
        }
        Err(e) => {
            let columns = text.chars().count() + 1;
            assert!(
                (1..=columns).contains(&e.column),
                "column {} outside 1..={columns}: {e:?}",
                e.column
            );
            assert!(!e.to_string().trim().is_empty());
        }
    }
}

fn sample_contacts() -> &'static [Contact] {
    static CONTACTS: OnceLock<Vec<Contact>> = OnceLock::new();
    CONTACTS.get_or_init(|| {
        let person = |id: i64, attributes: Vec<(&str, AttributeValue)>, tags: &[&str]| Contact {
            id,
            external_id: format!("c{id}"),
            first_name: Some("Ana".into()),
            last_name: None,
            phone: None,
            email: None,
            locale: Some("es".into()),
            timezone: None,
            attributes: attributes
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            consent: Consents::default(),
            tags: tags
                .iter()
                .map(|t| Tag {
                    name: t.to_string(),
                    source: "fuzz".into(),
                    expires_at: None,
                })
                .collect(),
        };
        vec![
            person(1, Vec::new(), &[]),
            person(
                2,
                vec![
                    ("balance", AttributeValue::Number(120.5)),
                    ("vip", AttributeValue::Bool(true)),
                    ("plan", AttributeValue::Text("gold".into())),
                    (
                        "due",
                        AttributeValue::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()),
                    ),
                ],
                &["paid", "nps_promoter"],
            ),
            person(
                3,
                vec![
                    ("balance", AttributeValue::Text("n/a".into())),
                    ("due", AttributeValue::Number(f64::NAN)),
                ],
                &["promised"],
            ),
        ]
    })
}

/// A contact CSV file (`herald contacts import`), then the same bytes as a DNC list
/// (`herald dnc import`), into a real SQLite database: the file is refused with a reason,
/// or every row is imported or reported by its line with a reason.
pub fn csv_import(data: &[u8]) {
    let (runtime, store) = import_store();
    let options = ContactImport {
        list: Some("fuzz".into()),
        default_region: Some("GB".into()),
        attributes: BTreeMap::from([
            ("balance".to_string(), AttributeType::Number),
            ("due".to_string(), AttributeType::Date),
            ("vip".to_string(), AttributeType::Bool),
        ]),
    };
    let mut rejected = Vec::new();
    let result = runtime.block_on(import_contacts(
        store,
        std::io::Cursor::new(data.to_vec()),
        &options,
        now(),
        |e| rejected.push((e.line, e.reason.clone())),
        |_| {},
    ));
    match result {
        Ok(report) => {
            assert_eq!(report.rejected as usize, rejected.len());
            let w = &report.written;
            assert_eq!(
                w.inserted + w.updated + w.unchanged + report.rejected,
                report.rows,
                "every row is imported or reported"
            );
            for (line, reason) in rejected {
                assert!(line >= 2, "a data row is on line 2 or after: {line}");
                assert!(!reason.trim().is_empty(), "a rejected row says why");
            }
        }
        Err(e) => assert!(!e.to_string().trim().is_empty(), "a refused file says why"),
    }
    // The same bytes as a DNC list (`herald dnc import`).
    let mut rejected = Vec::new();
    let result = runtime.block_on(import_suppressions(
        store,
        data,
        "fuzz",
        Some("GB"),
        now(),
        |e| rejected.push((e.line, e.reason.clone())),
    ));
    match result {
        Ok(report) => {
            assert_eq!(report.rejected as usize, rejected.len());
            for (line, reason) in rejected {
                assert!(line >= 2, "a data row is on line 2 or after: {line}");
                assert!(!reason.trim().is_empty(), "a rejected row says why");
            }
        }
        Err(e) => assert!(!e.to_string().trim().is_empty(), "a refused file says why"),
    }
}

fn import_store() -> &'static (tokio::runtime::Runtime, SqliteStore) {
    static STORE: OnceLock<(tokio::runtime::Runtime, SqliteStore)> = OnceLock::new();
    STORE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        // One database per process, in the temporary folder, removed on the next start.
        let path = std::env::temp_dir().join(format!("herald-fuzz-{}.db", std::process::id()));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let store = runtime.block_on(async {
            let store = SqliteStore::open_scratch(&format!("sqlite://{}", path.display()))
                .await
                .expect("a scratch database");
            store.migrate().await.expect("migrations");
            store
        });
        (runtime, store)
    })
}

/// An SMS reply: read as an opt-out and as an answer to each kind of survey question.
/// A score is always on its question's scale; an exact opt-out is always an opt-out.
pub fn sms_reply(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let keywords: Vec<String> = OPT_OUT_KEYWORDS.iter().map(|k| k.to_string()).collect();
    if is_opt_out_exactly(&text, &keywords) {
        assert!(is_opt_out(&text, &keywords), "{text:?}");
    }
    let choices = vec!["Billing".to_string(), "Delivery".into(), "2".into()];
    for kind in [
        QuestionKind::Nps,
        QuestionKind::Csat,
        QuestionKind::Choice,
        QuestionKind::Text,
    ] {
        let question = Question {
            id: "q".into(),
            kind,
            text: "How likely are you to recommend us?".into(),
            choices: if kind == QuestionKind::Choice {
                choices.clone()
            } else {
                Vec::new()
            },
            reask: None,
        };
        match read_answer(&question, &text) {
            Reading::Answer { score, answer } => {
                assert!(!answer.is_empty(), "an answer has a text");
                if let Some((lo, hi)) = scale(kind) {
                    let score = score.expect("a scored question's answer has a score");
                    assert!((lo..=hi).contains(&score), "{score} off {lo}..={hi}");
                }
                if kind == QuestionKind::Choice {
                    assert!(choices.contains(&answer), "{answer:?} is not a choice");
                }
            }
            Reading::OutOfRange { number } => {
                let (lo, hi) = scale(kind).unwrap_or((1, choices.len() as i64));
                assert!(!(lo..=hi).contains(&number), "{number} is in range");
            }
            Reading::Unclear => {}
        }
    }
}

/// A provider callback (`POST /webhooks/{provider}`): the first line is the timestamp
/// header, the second the signature header, the rest the body. A forged signature never
/// passes; a body decodes into the report its type names, or is refused with a reason.
pub fn provider_callback(data: &[u8]) {
    const SECRET: &[u8] = b"fuzzing-secret-of-some-length";
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let (ts, sig, body) = match (parts.next(), parts.next(), parts.next()) {
        (Some(ts), Some(sig), Some(body)) => (ts, sig, body),
        _ => (&b""[..], &b""[..], data),
    };
    let mut headers = axum::http::HeaderMap::new();
    for (name, value) in [("x-herald-timestamp", ts), ("x-herald-signature", sig)] {
        if let Ok(v) = axum::http::HeaderValue::from_bytes(value) {
            headers.insert(name, v);
        }
    }
    if check_signature(SECRET, &headers, body, now()).is_ok() {
        // Only the true signature of this timestamp and body, inside the window, passes.
        let seconds: i64 = std::str::from_utf8(ts)
            .ok()
            .and_then(|t| t.parse().ok())
            .expect("a passing timestamp is a number");
        assert!(now().timestamp().abs_diff(seconds) <= SIGNATURE_TOLERANCE_SECS.unsigned_abs());
        let mut signed = ts.to_vec();
        signed.push(b'.');
        signed.extend_from_slice(body);
        let truth = format!("v1={}", crate::signing::sign(SECRET, &signed));
        assert_eq!(
            String::from_utf8_lossy(sig).to_ascii_lowercase(),
            truth,
            "a forged signature passed"
        );
    }
    // Always a fresh, correctly signed copy too, so the decoder is reached past the check.
    let (ts, sig) = sign_callback(SECRET, body, now());
    let mut signed = axum::http::HeaderMap::new();
    signed.insert("x-herald-timestamp", ts.parse().expect("digits"));
    signed.insert("x-herald-signature", sig.parse().expect("hex"));
    assert!(check_signature(SECRET, &signed, body, now()).is_ok());
    match decode_callback(body) {
        Ok((callback, report)) => {
            let kind = match report {
                Report::Outcome { .. } => "status",
                Report::Reply { .. } => "reply",
                Report::Answer { .. } => "answer",
            };
            assert_eq!(callback.kind, kind);
        }
        Err(why) => assert!(!why.trim().is_empty(), "a refused body says why"),
    }
}
