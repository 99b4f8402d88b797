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
