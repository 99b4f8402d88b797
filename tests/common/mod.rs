//! A scratch folder with the example files, and the real `herald` binary run inside it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

impl Workspace {
    /// An empty folder.
    pub fn empty() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
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
