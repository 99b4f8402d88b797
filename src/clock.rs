//! Time, injected: nothing in herald reads the system clock except [`SystemClock`].
//!
//! Tests and what-if commands use a [`FixedClock`]; the daemon's simulator will move a
//! virtual clock forward instead of sleeping.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one moment.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A clock that moves only when told: the simulator jumps it to the next due moment.
#[derive(Clone, Debug)]
pub struct VirtualClock(std::sync::Arc<std::sync::Mutex<DateTime<Utc>>>);

impl VirtualClock {
    pub fn new(start: DateTime<Utc>) -> VirtualClock {
        VirtualClock(std::sync::Arc::new(std::sync::Mutex::new(start)))
    }

    /// Moves the clock to `t` (never backwards).
    pub fn set(&self, t: DateTime<Utc>) {
        let mut now = self.0.lock().expect("clock lock");
        if t > *now {
            *now = t;
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// Reads a moment as people write it: RFC 3339 (`2026-11-26T09:00:00Z`), or a date and
/// time taken as UTC (`2026-11-26 09:00`), or `now`.
pub fn parse_moment(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = chrono::NaiveDateTime::parse_from_str(t, f) {
            return Ok(n.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    Err(format!(
        "`{t}` is not a moment (expected `now`, `2026-11-26T09:00:00Z` or `2026-11-26 09:00` in UTC)"
    ))
}
