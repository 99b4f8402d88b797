//! A scratch folder with the example files, and the real `herald` binary run inside it.

#![allow(dead_code)]

pub mod world;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

/// What a run of the binary printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "herald failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Contacts in a `due_now` workspace.
pub const CONTACTS: usize = 40;

impl Workspace {
    /// A workspace whose only campaign is due now, SMS allowed at any hour, every SMS delivered.
    pub fn due_now(rate: &str) -> Workspace {
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
        ws.sms_campaign_due_now(rate);
        let mut csv = String::from("external_id,phone,balance\n");
        for i in 0..CONTACTS {
            csv.push_str(&format!("P{i},+4474001{i:05},10\n"));
        }
        ws.import_people(&csv);
        ws
    }

    /// `jobs/now.toml`: one SMS to list `people`, due a minute ago, paced at `rate`.
    pub fn sms_campaign_due_now(&self, rate: &str) {
        let once = (chrono::Utc::now() - chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ");
        self.write(
            "jobs/now.toml",
            &format!(
                "kind = \"reminder\"\n[audience]\nlists = [\"people\"]\n[schedule]\nonce = {once}\n[rate_limits]\nsms = \"{rate}\"\n[[steps]]\nid = \"sms\"\nchannel = \"sms\"\ntemplate = \"payment_reminder\"\n"
            ),
        );
    }

    /// An empty folder.
    pub fn empty() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A folder set up by `herald init` without the example campaigns (templates and config kept).
    pub fn bare() -> Workspace {
        let ws = Workspace::init();
        ws.remove_examples();
        ws
    }

    /// Writes `csv` as contacts.csv and imports it into the list `people`.
    pub fn import_people(&self, csv: &str) {
        self.write("contacts.csv", csv);
        self.herald(&["contacts", "import", "contacts.csv", "--list", "people"])
            .ok();
    }

    /// Removes the example campaigns.
    pub fn remove_examples(&self) {
        for (path, _) in herald::examples::FILES {
            if path.starts_with("jobs/") {
                self.remove(path);
            }
        }
    }

    /// A folder set up by `herald init`.
    pub fn init() -> Workspace {
        let ws = Workspace::empty();
        ws.herald(&["init", "."]).ok();
        ws
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).unwrap();
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
        cmd.args(args).current_dir(self.dir.path());
        for var in [
            "HERALD_CONFIG",
            "HERALD_DATABASE_URL",
            "HERALD_JOBS_DIR",
            "HERALD_TEMPLATES_DIR",
            "HERALD_NOW",
            "HERALD_LOG",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    pub fn herald(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("run herald").into()
    }

    /// Runs with the clock stopped at `now`.
    pub fn herald_at(&self, now: &str, args: &[&str]) -> Run {
        self.command(args)
            .env("HERALD_NOW", now)
            .output()
            .expect("run herald")
            .into()
    }
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// A free port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One number from the workspace's database (`SELECT COUNT(*) ...`).
pub async fn scalar(ws: &Workspace, sql: &'static str) -> i64 {
    scalar_in(ws, "herald.db", sql).await
}

/// One number from the database at `db` in the workspace.
pub async fn scalar_in(ws: &Workspace, db: &str, sql: &'static str) -> i64 {
    let store =
        herald::store::SqliteStore::open(&format!("sqlite://{}", ws.path(db).display()), false)
            .await
            .unwrap();
    let n: i64 = sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap();
    store.pool().close().await;
    n
}

/// Waits (with a deadline) until something listens on `port`.
pub fn wait_port(port: u16) {
    let until = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A plain HTTP/1.1 exchange on loopback: (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Starts `herald run` with its API on `port`.
pub fn start(ws: &Workspace, port: u16) -> Child {
    spawn(ws, &["run"], port, &[("HERALD_LOG", "herald=info")])
}

/// Starts `herald ARGS` in the background, its API on `port`, with extra variables.
pub fn spawn(ws: &Workspace, args: &[&str], port: u16, env: &[(&str, &str)]) -> Child {
    let mut cmd = ws.command(args);
    cmd.env("HERALD_API_BIND", format!("127.0.0.1:{port}"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Starts `herald provider-sim` on `sim_port` (callbacks at once, signed with `secret`)
/// and waits until it listens.
pub fn start_provider_sim(ws: &Workspace, sim_port: u16, api_port: u16, secret: &str) -> Child {
    let bind = format!("127.0.0.1:{sim_port}");
    let child = spawn(
        ws,
        &["provider-sim", "--bind", &bind, "--time-scale", "0"],
        api_port,
        &[("HERALD_SECRET", secret)],
    );
    wait_port(sim_port);
    child
}

pub fn stop(mut child: Child, signal: &str) -> std::process::Output {
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let until = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < until,
            "the daemon did not stop after {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}
