//! Hostile input, as property tests in the normal test suite (the fuzz targets run the
//! same parsers for longer): campaign definitions, CSV imports, provider callbacks, their
//! signatures and SMS replies. Whatever comes in: no panic, a clear error, nothing half
//! done. (The segment filter and survey answer parsers have theirs in their modules.)

use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use herald::api::{check_signature, decode_callback, sign_callback};
use herald::catalog::{Catalog, Known};
use herald::config::{Overrides, Settings};
use herald::domain::ledger::{Report, is_opt_out, is_opt_out_exactly};
use herald::import::{ContactImport, import_contacts};
use herald::store::{SqliteStore, Store};
use proptest::prelude::*;

const VALID: &str = r#"kind = "collection"
[audience]
lists = ["people"]
segment = "attr.balance > 0 and not tag.paid"
[schedule]
cron = "0 9 * * mon-fri"
timezone = "Europe/London"
[windows.sms]
hours = "09:00-20:00"
[[steps]]
id = "sms"
channel = "sms"
template = "payment_reminder"
[[steps]]
id = "bot"
channel = "voice_bot"
flow = "collections_v1"
after = "48h"
when = "no_reply"
[retry.busy]
after = "15m"
max = 3
"#;

/// A folder set up like `herald init`, with its settings.
fn workspace() -> &'static (tempfile::TempDir, Settings) {
    static WS: OnceLock<(tempfile::TempDir, Settings)> = OnceLock::new();
    WS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        herald::examples::write_all(dir.path(), true).unwrap();
        let settings = Settings::load(&Overrides {
            config: Some(dir.path().join("herald.toml")),
            database_url: None,
        })
        .unwrap();
        (dir, settings)
    })
}

/// Loads `text` as the only campaign; returns the number of errors.
fn load_campaign(text: &str, case: u64) -> usize {
    let (dir, settings) = workspace();
    let jobs = dir.path().join(format!("jobs-{case}"));
    std::fs::create_dir_all(&jobs).unwrap();
    let file = jobs.join("c.toml");
    std::fs::write(&file, text).unwrap();
    let known = Known {
        attributes: ["balance".to_string()].into(),
        tags: ["paid".to_string()].into(),
    };
    let catalog = Catalog::load(std::slice::from_ref(&jobs), settings, &known);
    let errors = catalog.errors();
    for d in &catalog.diagnostics {
        assert!(
            d.file.ends_with("c.toml"),
            "a problem names its file: {d:?}"
        );
        assert!(!d.message.is_empty());
    }
    // Nothing half-loads: with an error, the campaign is not there at all.
    if errors > 0 {
        assert!(catalog.campaigns.is_empty(), "{text}");
    } else {
        assert_eq!(catalog.campaigns.len(), 1, "{text}");
    }
    std::fs::remove_dir_all(&jobs).unwrap();
    errors
}

fn case_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn the_valid_campaign_loads() {
    assert_eq!(load_campaign(VALID, case_id()), 0);
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

fn store() -> &'static SqliteStore {
    static STORE: OnceLock<(tempfile::TempDir, SqliteStore)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("h.db").display());
            let store = runtime().block_on(async {
                let s = SqliteStore::open(&url, true).await.unwrap();
                s.migrate().await.unwrap();
                s
            });
            (dir, store)
        })
        .1
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A valid definition with one character deleted, replaced or inserted: it loads, or
    /// fails with problems that name the file, and never half-loads.
    #[test]
    fn a_damaged_campaign_loads_whole_or_not_at_all(
        at in 0usize..VALID.len(),
        what in 0u8..3,
        c in proptest::char::any(),
    ) {
        let mut text: Vec<char> = VALID.chars().collect();
        let at = at.min(text.len() - 1);
        match what {
            0 => { text.remove(at); }
            1 => text[at] = c,
            _ => text.insert(at, c),
        }
        let text: String = text.into_iter().collect();
        load_campaign(&text, case_id());
    }

    #[test]
    fn any_text_as_a_campaign_is_refused_or_loaded_without_panic(text in "\\PC{0,200}") {
        load_campaign(&text, case_id());
    }

    /// Any CSV: an import reports a clear error for the file, or accounts for every row
    /// (imported or rejected with its line and reason).
    #[test]
    fn any_csv_imports_what_it_can_and_reports_the_rest(
        rows in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    "[A-Za-z0-9]{0,8}",
                    "\\+?[0-9 ()-]{0,16}",
                    "[a-z]{1,5}@[a-z]{1,5}\\.[a-z]{2,3}",
                    "\\PC{0,12}",
                    Just("\"".to_string()),
                ],
                0..6,
            ),
            0..12,
        ),
        header in proptest::sample::select(vec![
            "external_id,first_name,phone,email,balance,consent_sms",
            "external_id,phone",
            "phone,email",
            "external_id,external_id",
            "",
        ]),
    ) {
        let mut csv = format!("{header}\n");
        for r in &rows {
            csv.push_str(&r.join(","));
            csv.push('\n');
        }
        let options = ContactImport {
            list: Some("fuzz".into()),
            default_region: Some("GB".into()),
            attributes: workspace().1.attributes.clone(),
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
        let mut errors = Vec::new();
        let result = runtime().block_on(import_contacts(
            store(),
            std::io::Cursor::new(csv.clone()),
            &options,
            now,
            |e| errors.push((e.line, e.reason.clone())),
            |_| {},
        ));
        match result {
            Ok(report) => {
                prop_assert_eq!(report.rejected as usize, errors.len());
                prop_assert_eq!(
                    report.written.inserted + report.written.updated + report.written.unchanged
                        + report.rejected,
                    report.rows
                );
                for (line, reason) in &errors {
                    prop_assert!(*line >= 2 && !reason.is_empty(), "{} {}", line, reason);
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Any callback body: decoded into one of the three reports, or refused with a reason.
    #[test]
    fn any_callback_body_is_decoded_or_refused(
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            (
                proptest::sample::select(vec!["status", "reply", "answer", "other", ""]),
                proptest::option::of("[a-z_]{0,12}"),
                proptest::option::of("\\PC{0,20}"),
                proptest::option::of("[a-z]{0,6}"),
            ).prop_map(|(kind, status, text, question)| {
                serde_json::json!({
                    "event_id": "e1", "idempotency_key": "k1", "type": kind,
                    "status": status, "text": text, "question": question,
                }).to_string().into_bytes()
            }),
        ],
    ) {
        match decode_callback(&body) {
            Ok((callback, report)) => {
                let kind = match report {
                    Report::Outcome { .. } => "status",
                    Report::Reply { .. } => "reply",
                    Report::Answer { .. } => "answer",
                };
                prop_assert_eq!(callback.kind.as_str(), kind);
            }
            Err(why) => prop_assert!(!why.is_empty()),
        }
    }

    /// Signatures: only the right secret over the exact timestamp and body passes, and
    /// any header value is handled without panic.
    #[test]
    fn only_a_true_signature_within_the_window_passes(
        body in proptest::collection::vec(any::<u8>(), 0..100),
        flip in any::<proptest::sample::Index>(),
        skew in -1000i64..1000,
        junk_ts in "\\PC{0,12}",
        junk_sig in "\\PC{0,70}",
    ) {
        let secret = b"a-secret-of-some-length";
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
        let signed_at = now + chrono::Duration::seconds(skew);
        let (ts, sig) = sign_callback(secret, &body, signed_at);
        let headers = |ts: &str, sig: &str| {
            let mut h = axum::http::HeaderMap::new();
            if let Ok(v) = ts.parse() { h.insert("x-herald-timestamp", v); }
            if let Ok(v) = sig.parse() { h.insert("x-herald-signature", v); }
            h
        };
        let inside = skew.abs() <= herald::api::SIGNATURE_TOLERANCE_SECS;
        prop_assert_eq!(check_signature(secret, &headers(&ts, &sig), &body, now).is_ok(), inside);
        if !body.is_empty() {
            let mut tampered = body.clone();
            let i = flip.index(tampered.len());
            tampered[i] ^= 1;
            prop_assert!(check_signature(secret, &headers(&ts, &sig), &tampered, now).is_err());
        }
        prop_assert!(check_signature(b"another-secret-entirely", &headers(&ts, &sig), &body, now).is_err());
        prop_assert!(check_signature(secret, &headers(&junk_ts, &junk_sig), &body, now).is_err() || junk_sig == sig);
    }

    /// SMS replies: STOP in any case, with padding or punctuation, opts out; any text is
    /// read without panic; a keyword inside a longer sentence is not an exact opt-out.
    #[test]
    fn stop_replies_are_read_whatever_their_case_and_padding(
        pad in "[ \\t\\n]{0,3}",
        upper in proptest::collection::vec(any::<bool>(), 4),
        dot in proptest::sample::select(vec!["", ".", "!"]),
        text in "\\PC{0,40}",
    ) {
        let keywords = vec!["STOP".to_string(), "UNSUBSCRIBE".to_string()];
        let stop: String = "stop"
            .chars()
            .zip(upper)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect();
        let reply = format!("{pad}{stop}{dot}{pad}");
        prop_assert!(is_opt_out(&reply, &keywords), "{:?}", reply);
        let _ = is_opt_out(&text, &keywords);
        let _ = is_opt_out_exactly(&text, &keywords);
        prop_assert!(!is_opt_out_exactly("please do not stop the reminders", &keywords));
    }
}

/// The fuzz targets' seeds (and the inputs that once broke a parser, kept beside them) pass
/// the same checks the fuzzer applies: `herald::fuzz` builds and holds on every seed.
#[test]
fn every_fuzz_seed_passes_its_target() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (name, target) in herald::fuzz::TARGETS {
        let mut files: Vec<_> = std::fs::read_dir(seeds.join(name))
            .unwrap_or_else(|e| panic!("fuzz/seeds/{name}: {e}"))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "fuzz/seeds/{name} has no seed");
        for file in files {
            let data = std::fs::read(&file).unwrap();
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                panic!("{} broke its target", file.display());
            }
        }
    }
}
