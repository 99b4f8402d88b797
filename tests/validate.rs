//! `herald validate` and `herald init` against real files.

mod common;

use common::Workspace;

#[test]
fn the_shipped_examples_are_valid() {
    let ws = Workspace::init();
    let run = ws.herald(&["validate"]).ok();
    assert!(
        run.stdout
            .contains("4 campaign(s) valid, 0 broken; 0 error(s)"),
        "{}",
        run.stdout
    );
}

#[test]
fn init_refuses_to_overwrite_unless_forced() {
    let ws = Workspace::init();
    ws.write("jobs/collections_reminder.toml", "# mine\n");
    let run = ws.herald(&["init", "."]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.path("jobs/collections_reminder.toml")).unwrap(),
        "# mine\n"
    );
    ws.herald(&["init", ".", "--force"]).ok();
    assert_ne!(
        std::fs::read_to_string(ws.path("jobs/collections_reminder.toml")).unwrap(),
        "# mine\n"
    );
}

const BROKEN: &str = r#"kind = "collection"

[audience]
lists = ["overdue"]

[schedule]
cron = "0 25 * * *"
timezone = "Europe/Londn"

[[steps]]
id = "sms"
chanel = "sms"
template = "payment_reminder"

[[steps]]
id = "call"
channel = "voicebot"
flow = "f"
"#;

#[test]
fn every_problem_in_a_broken_definition_is_reported_with_file_line_and_hint() {
    let ws = Workspace::init();
    ws.write("jobs/broken.toml", BROKEN);
    let run = ws.herald(&["validate", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let out = run.json();
    assert_eq!(out["valid"], false);
    let diags = out["diagnostics"].as_array().unwrap();
    let find = |key: &str| {
        diags
            .iter()
            .find(|d| d["key"] == key)
            .unwrap_or_else(|| panic!("no diagnostic for {key}: {diags:#?}"))
            .clone()
    };
    let chanel = find("steps[0].chanel");
    assert_eq!(
        (
            chanel["file"]
                .as_str()
                .unwrap()
                .ends_with("jobs/broken.toml"),
            chanel["line"].as_u64()
        ),
        (true, Some(12))
    );
    assert_eq!(chanel["hint"], "did you mean `channel`?");
    let voicebot = find("steps[1].channel");
    assert_eq!(voicebot["line"], 17);
    assert_eq!(voicebot["hint"], "did you mean `voice_bot`?");
    // Every structural problem was found at once; the other valid campaigns still load.
    assert_eq!(out["campaigns"].as_array().unwrap().len(), 4);

    // Fix the structure: the semantic checks now speak, each with its line.
    ws.write(
        "jobs/broken.toml",
        &BROKEN
            .replace("chanel", "channel")
            .replace("voicebot", "voice_bot"),
    );
    let out = ws.herald(&["validate", "--format", "json"]).json();
    let diags = out["diagnostics"].as_array().unwrap();
    let cron = diags
        .iter()
        .find(|d| d["key"] == "schedule.cron")
        .expect("bad cron reported");
    assert_eq!(cron["line"], 7);
    let tz = diags
        .iter()
        .find(|d| d["key"] == "schedule.timezone")
        .expect("bad zone reported");
    assert_eq!(tz["line"], 8);
    assert!(
        tz["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `Europe/London`"),
        "{tz}"
    );
}

#[test]
fn a_broken_definition_never_loads() {
    let ws = Workspace::init();
    ws.write("jobs/broken.toml", BROKEN);
    let run = ws.herald(&[
        "plan",
        "broken",
        "--dry-run",
        "--at",
        "2026-12-01T09:00:00Z",
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("campaign `broken` has errors"),
        "{}",
        run.stderr
    );
    let list = ws.herald(&["campaign", "list"]).ok();
    assert!(
        list.stdout.contains("broken") && list.stdout.contains("(broken: run `herald validate`)"),
        "{}",
        list.stdout
    );
}

#[test]
fn cross_file_problems_are_found() {
    let ws = Workspace::init();
    // A Spanish template removed, a typo in a template variable, a tag nothing sets,
    // a window that never opens, a condition that can never be true.
    ws.remove("templates/sms/payment_reminder.es.txt");
    ws.write(
        "templates/sms/winter_followup.en.txt",
        "Hi {{ contact.frist_name }}, reply YES.\n",
    );
    let text = std::fs::read_to_string(ws.path("jobs/collections_reminder.toml")).unwrap();
    let text = text
        .replace("not tag.paid", "not tag.payed")
        .replace(
            "days = \"mon-fri\"\nhours = \"09:00-18:00\"",
            "days = \"mon-fri\"\nhours = \"06:00-07:30\"",
        )
        .replace("when = \"handed_off\"", "when = \"clicked\"");
    ws.write("jobs/collections_reminder.toml", &text);
    let run = ws.herald(&["validate"]);
    assert_eq!(run.code, 1);
    let out = &run.stdout;
    for expected in [
        "template missing for channel sms and locale es",
        "the template uses a variable no contact has",
        "did you mean `contact.first_name`?",
        "unknown tag",
        "did you mean `paid`?",
        "never opens",
        "never ends with `clicked`, so this condition can never be true",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }
    assert!(
        out.contains("winter_followup.en.txt:1:"),
        "the template's file and line: {out}"
    );
}

#[test]
fn a_broken_config_names_its_file_line_and_key() {
    let ws = Workspace::init();
    let text = std::fs::read_to_string(ws.path("herald.toml")).unwrap();
    ws.write(
        "herald.toml",
        &text.replace("default_region = \"GB\"", "default_regoin = \"GB\""),
    );
    let run = ws.herald(&["validate"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("herald.toml:")
            && run.stderr.contains("did you mean `default_region`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_schema_describes_every_top_level_key() {
    let ws = Workspace::empty();
    let schema = ws.herald(&["schema"]).ok().json();
    let props = schema["properties"].as_object().unwrap();
    for key in [
        "kind",
        "audience",
        "schedule",
        "windows",
        "steps",
        "routing",
        "retry",
        "caps",
        "rate_limits",
        "tags",
        "survey",
    ] {
        assert!(props.contains_key(key), "schema lacks {key}");
    }
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown keys are refused by the schema too"
    );
}

#[test]
fn one_file_is_validated_against_the_tags_the_others_set() {
    let ws = Workspace::init();
    // winter_promotion reads `nps_detractor`, which only nps_after_repair's rules add.
    let run = ws.herald(&["validate", "jobs/winter_promotion.toml"]).ok();
    assert!(!run.stdout.contains("unknown tag"), "{}", run.stdout);
}

#[test]
fn two_files_with_one_campaign_id_are_an_error_and_neither_loads() {
    let ws = Workspace::init();
    std::fs::create_dir_all(ws.path("more")).unwrap();
    std::fs::copy(
        ws.path("jobs/winter_promotion.toml"),
        ws.path("more/winter_promotion.toml"),
    )
    .unwrap();
    let run = ws.herald(&["validate", "jobs", "more"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("campaign `winter_promotion` is also defined by"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("3 campaign(s) valid, 1 broken"),
        "{}",
        run.stdout
    );
}

#[test]
fn weekday_numbers_follow_unix_cron() {
    let ws = Workspace::init();
    let text = std::fs::read_to_string(ws.path("jobs/winter_promotion.toml"))
        .unwrap()
        .replace("cron = \"0 11 * * tue\"", "cron = \"0 11 * * 1-5\"");
    ws.write("jobs/winter_promotion.toml", &text);
    // Saturday 2026-11-28: the next weekday run is Monday the 30th.
    let list = ws
        .herald_at(
            "2026-11-28T12:00:00Z",
            &["campaign", "list", "--format", "json"],
        )
        .ok()
        .json();
    let promo = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "winter_promotion")
        .unwrap();
    assert_eq!(promo["next_run"], "2026-11-30T11:00:00Z");
}

#[test]
fn output_cut_short_by_a_pipe_ends_quietly() {
    let ws = Workspace::empty();
    let mut child = ws
        .command(&["schema"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn doctor_checks_the_installation_and_names_what_to_fix() {
    let ws = Workspace::init();
    let port = common::free_port();
    let out = ws
        .command(&["doctor", "--format", "json"])
        .env("HERALD_API_BIND", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report:#}");
    let secret = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "secret")
        .unwrap();
    assert_eq!(
        secret["warning"], true,
        "a development secret is a warning: {secret}"
    );

    // An SMTP server that does not answer is an error that says what to check.
    let config = std::fs::read_to_string(ws.path("herald.toml")).unwrap();
    let closed = common::free_port();
    ws.write("herald.toml", &format!("{config}\n[email]\nprovider = \"smtp\"\nhost = \"127.0.0.1\"\nport = {closed}\ntls = \"none\"\nfrom = \"noreply@acme.example\"\n\n[sms]\nprovider = \"http\"\nurl = \"http://127.0.0.1:{closed}\"\n"));
    let out = ws
        .command(&["doctor"])
        .env("HERALD_API_BIND", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ERR  email") && text.contains("does not answer"),
        "{text}"
    );
}
