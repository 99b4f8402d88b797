//! What the daemon writes to its log, at the most verbose level, over a whole campaign
//! through the HTTP provider (sends, signed callbacks, replies, STOP opt-outs, a refused
//! forged callback): no phone number, e-mail address, secret or token appears in it.

mod common;

use std::time::{Duration, Instant};

use common::{CONTACTS, Workspace, free_port, http, scalar, spawn, start_provider_sim, stop};

const SECRET: &str = "log-scan-secret-0f9e8d7c6b5a";
const API_KEY: &str = "provider-api-key-a1b2c3d4e5";
const AGENT_TOKEN: &str = "agent-token-9z8y7x6w5v";
const API_TOKEN: &str = "api-token-q1w2e3r4t5";

#[tokio::test]
async fn a_verbose_daemon_log_holds_no_contact_detail_secret_or_token() {
    let ws = Workspace::due_now("100/s");
    let (api_port, sim_port) = (free_port(), free_port());
    let config = std::fs::read_to_string(ws.path("herald.toml"))
        .unwrap()
        .replace("sms_reply = 0.0", "sms_reply = 1.0\nsms_opt_out = 0.3");
    ws.write(
        "herald.toml",
        &format!(
            "public_url = \"http://127.0.0.1:{api_port}\"\n{config}\n[sms]\nprovider = \"http\"\nurl = \"http://127.0.0.1:{sim_port}\"\napi_key_env = \"ACME_KEY\"\n"
        ),
    );
    let provider = start_provider_sim(&ws, sim_port, api_port, SECRET);
    let mut daemon = spawn(
        &ws,
        &["run"],
        api_port,
        &[
            ("HERALD_SECRET", SECRET),
            ("ACME_KEY", API_KEY),
            ("HERALD_AGENT_TOKEN", AGENT_TOKEN),
            ("HERALD_API_TOKEN", API_TOKEN),
            ("HERALD_LOG", "trace"),
        ],
    );
    // The log is read as it comes, so a full pipe never holds the daemon up.
    let mut stderr = daemon.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut log = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut log).unwrap();
        log
    });
    let until = Instant::now() + Duration::from_secs(60);
    while scalar(
        &ws,
        "SELECT COUNT(*) FROM events WHERE kind IN ('replied', 'opted_out')",
    )
    .await
        < CONTACTS as i64
    {
        assert!(Instant::now() < until, "the replies did not all arrive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A forged callback (wrong signature) and a metrics read with a token, for the log.
    let (status, _) = http(
        api_port,
        "POST",
        "/webhooks/sms",
        &[
            ("Content-Type", "application/json"),
            ("X-Herald-Timestamp", "1"),
            ("X-Herald-Signature", "v1=00"),
        ],
        br#"{"event_id":"x","from":"+447400100001","type":"reply","text":"hi"}"#,
    );
    assert_eq!(status, 401);
    let auth = format!("Bearer {API_TOKEN}");
    let (status, _) = http(
        api_port,
        "GET",
        "/metrics",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(status, 200);
    assert!(stop(daemon, "-TERM").status.success());
    let _ = stop(provider, "-INT");
    let log = reader.join().unwrap();
    let log = String::from_utf8_lossy(&log);
    assert!(
        log.lines().count() > 200,
        "the log is verbose: {} lines",
        log.lines().count()
    );

    let mut secrets = vec![
        SECRET.to_string(),
        API_KEY.to_string(),
        AGENT_TOKEN.to_string(),
        API_TOKEN.to_string(),
        "+447400100001".to_string(),
        "447400100001".to_string(),
    ];
    for i in 0..CONTACTS {
        let phone = format!("+4474001{i:05}");
        secrets.push(phone[1..].to_string());
        secrets.push(format!("074001{i:05}"));
        secrets.push(phone);
    }
    for s in &secrets {
        if let Some(line) = log.lines().find(|l| l.contains(s.as_str())) {
            panic!("`{s}` appears in the log: {line}");
        }
    }
    assert!(
        !log.contains('@'),
        "no e-mail address (nor anything like one)"
    );
}
