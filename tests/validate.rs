//! `herald validate` and `herald init` against real files.

mod common;

use common::Workspace;

#[test]
fn the_shipped_examples_are_valid() {
    let ws = Workspace::init();
    let run = ws.herald(&["validate"]).ok();
    assert!(
        run.stdout
            .contains("3 campaign(s) valid, 0 broken; 0 error(s)"),
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
    assert_eq!(out["campaigns"].as_array().unwrap().len(), 3);

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
