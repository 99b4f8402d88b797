//! E-mail through a real SMTP server on loopback (aiosmtpd, installed by `.ci/run`):
//! one message per contact with the right body, the Message-ID from the idempotency key,
//! a one-click List-Unsubscribe, and nothing sent twice.

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Workspace;

struct SmtpServer {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tests of this file run one at a time: each picks a free port and starts a server on
/// it (or counts on nothing listening there), which tests running side by side could
/// otherwise take from each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn smtp_server() -> SmtpServer {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = tempfile::tempdir().unwrap();
    let child = Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(maildir.path().join("box"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (pip install aiosmtpd; .ci/run installs it)");
    let until = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "the SMTP server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    SmtpServer {
        child,
        port,
        maildir,
    }
}

fn messages(server: &SmtpServer) -> Vec<String> {
    let dir = server.maildir.path().join("box/new");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn an_email_campaign_delivers_one_message_per_contact_with_the_right_body() {
    let _serial = one_at_a_time();
    let server = smtp_server();
    let ws = Workspace::bare();
    let config = std::fs::read_to_string(ws.path("herald.toml")).unwrap();
    ws.write(
        "herald.toml",
        &format!(
            "public_url = \"https://herald.acme.example\"\n{config}\n[email]\nprovider = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"Acme <noreply@acme.example>\"\n",
            server.port
        ),
    );
    ws.write(
        "jobs/offer.toml",
        "kind = \"reminder\"\n[audience]\nlists = [\"people\"]\n[schedule]\nonce = 2026-12-01T10:00:00Z\n[[steps]]\nid = \"mail\"\nchannel = \"email\"\ntemplate = \"winter_offer\"\n",
    );
    ws.import_people("external_id,first_name,email,plan\nE1,Ana,ana@example.com,basic\nE2,Ben,ben@example.com,standard\nE3,Cy,cy@example.com,basic\n");
    ws.herald(&["validate"]).ok();

    let run = ws
        .herald_at(
            "2026-12-01T10:00:00Z",
            &["run", "--until-idle", "--format", "json"],
        )
        .ok()
        .json();
    assert_eq!(run["sent"], 3, "{run}");
    let mails = messages(&server);
    assert_eq!(mails.len(), 3, "one message per contact");
    let ana = mails
        .iter()
        .find(|m| m.contains("To: Ana <ana@example.com>"))
        .expect("Ana's message");
    assert!(
        ana.contains("Subject: Ana, upgrade your basic plan this winter"),
        "{ana}"
    );
    assert!(
        ana.contains("Upgrade from basic to premium"),
        "the text part: {ana}"
    );
    assert!(
        ana.contains("<strong>basic</strong>"),
        "the HTML part: {ana}"
    );
    assert!(
        ana.contains("Message-ID: <hr1-c"),
        "the Message-ID carries the idempotency key: {ana}"
    );
    assert!(
        ana.contains("List-Unsubscribe: <https://herald.acme.example/u/hr1-c"),
        "{ana}"
    );
    assert!(
        ana.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{ana}"
    );

    // The same moment again: everything was sent, nothing goes twice.
    let again = ws
        .herald_at(
            "2026-12-01T10:01:00Z",
            &["run", "--until-idle", "--format", "json"],
        )
        .ok()
        .json();
    assert_eq!(again["sent"], 0, "{again}");
    assert_eq!(messages(&server).len(), 3);
    let tally = ws
        .herald(&["runs", "show", "1", "--format", "json"])
        .ok()
        .json();
    assert_eq!(tally["attempts"][0]["result"], "delivered", "{tally:#}");
}

#[test]
fn an_unreachable_smtp_server_reschedules_instead_of_losing_the_message() {
    let _serial = one_at_a_time();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ws = Workspace::bare();
    let config = std::fs::read_to_string(ws.path("herald.toml")).unwrap();
    ws.write(
        "herald.toml",
        &format!("{config}\n[email]\nprovider = \"smtp\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"noreply@acme.example\"\n"),
    );
    ws.write(
        "jobs/offer.toml",
        "kind = \"reminder\"\n[audience]\nlists = [\"people\"]\n[schedule]\nonce = 2026-12-01T10:00:00Z\n[[steps]]\nid = \"mail\"\nchannel = \"email\"\ntemplate = \"winter_offer\"\n",
    );
    ws.import_people("external_id,first_name,email,plan\nE1,Ana,ana@example.com,basic\n");
    let run = ws
        .herald_at(
            "2026-12-01T10:00:00Z",
            &["run", "--until-idle", "--format", "json"],
        )
        .ok()
        .json();
    assert_eq!(
        (run["sent"].as_u64(), run["rescheduled"].as_u64()),
        (Some(0), Some(1)),
        "{run}"
    );
    let tally = ws
        .herald(&["runs", "show", "1", "--format", "json"])
        .ok()
        .json();
    assert_eq!(tally["attempts"][0]["state"], "queued", "{tally:#}");
    assert_eq!(
        tally["attempts"][0]["result"], "provider_unavailable",
        "{tally:#}"
    );
}

/// An SMTP server that refuses some recipients: `gone@` with `550 5.1.1` (no such user),
/// `busy@` with `451 4.3.0` the first time only; it keeps what it accepts, one file per
/// message, in the folder it is given.
const FAULTY_SMTP: &str = r#"
import os

class Faulty:
    def __init__(self, folder):
        self.folder = folder
        self.refused = set()

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return "550 5.1.1 <" + address + ">: Recipient address rejected: User unknown"
        if address.startswith("busy@") and address not in self.refused:
            self.refused.add(address)
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = len(os.listdir(self.folder))
        with open(os.path.join(self.folder, "%d.eml" % n), "wb") as f:
            f.write(envelope.original_content)
        return "250 OK"
"#;

#[test]
fn smtp_refusals_retry_a_temporary_one_and_suppress_a_hard_bounce() {
    let _serial = one_at_a_time();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("faulty_smtp.py"), FAULTY_SMTP).unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "faulty_smtp.Faulty"])
        .arg(&inbox)
        .env("PYTHONPATH", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (.ci/run installs it)");
    let _server = SmtpServer {
        child,
        port,
        maildir: dir,
    };
    let until = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "the SMTP server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let received = || std::fs::read_dir(&inbox).unwrap().count();

    let ws = Workspace::bare();
    let config = std::fs::read_to_string(ws.path("herald.toml")).unwrap();
    ws.write(
        "herald.toml",
        &format!("{config}\n[email]\nprovider = \"smtp\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"noreply@acme.example\"\n"),
    );
    let campaign = |name: &str, at: &str| {
        ws.write(
            &format!("jobs/{name}.toml"),
            &format!("kind = \"reminder\"\n[audience]\nlists = [\"people\"]\n[schedule]\nonce = {at}\n[[steps]]\nid = \"mail\"\nchannel = \"email\"\ntemplate = \"winter_offer\"\n"),
        )
    };
    campaign("offer", "2026-12-01T10:00:00Z");
    campaign("again", "2026-12-01T11:00:00Z");
    ws.import_people("external_id,first_name,email,plan\nE1,Ana,ana@example.com,basic\nE2,Ben,gone@example.com,basic\nE3,Cy,busy@example.com,basic\n");

    let run = ws
        .herald_at(
            "2026-12-01T10:00:00Z",
            &["run", "--until-idle", "--format", "json"],
        )
        .ok()
        .json();
    assert_eq!(
        (
            run["sent"].as_u64(),
            run["rescheduled"].as_u64(),
            run["skipped"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "Ana sent, Cy retried later, Ben failed: {run}"
    );
    assert_eq!(received(), 1);
    let bounces = ws.herald(&["dnc", "list", "--format", "json"]).ok().json();
    let bounces = bounces.as_array().unwrap();
    assert_eq!(bounces.len(), 1, "{bounces:?}");
    assert_eq!(bounces[0]["kind"], "bounce", "{bounces:?}");
    assert_eq!(bounces[0]["target"], "email", "{bounces:?}");

    // The backoff is over: Cy's message goes; the second campaign skips Ben's address.
    ws.herald_at("2026-12-01T10:05:00Z", &["run", "--until-idle"])
        .ok();
    assert_eq!(received(), 2, "Cy's message, once");
    let run = ws
        .herald_at(
            "2026-12-01T11:00:00Z",
            &["run", "--until-idle", "--format", "json"],
        )
        .ok()
        .json();
    assert_eq!(
        (run["sent"].as_u64(), run["skipped"].as_u64()),
        (Some(2), Some(0)),
        "the planner leaves the bounced address out: {run}"
    );
    assert_eq!(received(), 4, "Ana and Cy again, never the dead address");
}
