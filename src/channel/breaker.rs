//! The circuit breaker in front of each provider: when a provider keeps failing, herald
//! stops calling it for a while instead of spending every attempt's retries on an outage.
//!
//! - **Closed** (normal): every send goes out. [`FAILURES_TO_OPEN`] temporary failures in a
//!   row open the breaker.
//! - **Open**: no send goes out until the cool-down ends; attempts that come due meanwhile
//!   wait for that moment (rescheduled with reason `provider_paused`, not counted as
//!   failures of their own).
//! - **Half-open**: once the cool-down is over, one send goes out as a probe while the
//!   others keep waiting. A success closes the breaker; a failure opens it again for
//!   twice as long, up to [`MAX_COOL_DOWN`].
//!
//! Times come from the engine's clock, so tests drive the breaker without sleeping. Each
//! daemon keeps its own breakers: several daemons each find out about an outage from
//! their own first failures.

use chrono::{DateTime, Duration, Utc};

/// Temporary failures in a row that open the breaker.
pub const FAILURES_TO_OPEN: u32 = 5;
/// The first cool-down.
pub const COOL_DOWN: Duration = Duration::seconds(30);
/// The longest cool-down, however often the probes fail.
pub const MAX_COOL_DOWN: Duration = Duration::minutes(10);
/// How long the other sends wait for a probe's answer before one of them probes again
/// (a probe whose daemon died never reports).
const PROBE_WAIT: Duration = Duration::seconds(60);

/// A breaker's state as the engine sees it at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Send.
    Pass,
    /// Send: this one is the probe after a cool-down.
    Probe,
    /// Do not send before this moment.
    Wait(DateTime<Utc>),
}

/// What a recorded failure did to the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tripped {
    /// Still closed.
    No,
    /// Opened (or opened again after a failed probe) until this moment.
    Until(DateTime<Utc>),
}

#[derive(Clone, Debug, Default)]
pub struct Breaker {
    /// Temporary failures since the last success.
    failures: u32,
    /// While open: the end of the cool-down.
    open_until: Option<DateTime<Utc>>,
    /// The current cool-down (doubles on each failed probe).
    cool_down: Option<Duration>,
    /// A probe is out, sent at this moment.
    probe_at: Option<DateTime<Utc>>,
}

impl Breaker {
    /// May a send go out now?
    pub fn gate(&mut self, now: DateTime<Utc>) -> Gate {
        let Some(until) = self.open_until else {
            return Gate::Pass;
        };
        if now < until {
            return Gate::Wait(until);
        }
        match self.probe_at {
            Some(at) if now < at + PROBE_WAIT => Gate::Wait(at + PROBE_WAIT),
            _ => {
                self.probe_at = Some(now);
                Gate::Probe
            }
        }
    }

    /// The provider accepted a send (or refused it for a reason of the attempt's own):
    /// it is up.
    pub fn success(&mut self) -> bool {
        let was_open = self.open_until.is_some();
        *self = Breaker::default();
        was_open
    }

    /// A temporary failure (timeout, refused connection, 5xx, 429, unreadable answer).
    pub fn failure(&mut self, now: DateTime<Utc>) -> Tripped {
        self.failures += 1;
        let probe_failed = self.probe_at.take().is_some();
        if probe_failed || (self.open_until.is_none() && self.failures >= FAILURES_TO_OPEN) {
            let cool_down = match (probe_failed, self.cool_down) {
                (true, Some(d)) => (d * 2).min(MAX_COOL_DOWN),
                _ => COOL_DOWN,
            };
            self.cool_down = Some(cool_down);
            let until = now + cool_down;
            self.open_until = Some(until);
            return Tripped::Until(until);
        }
        Tripped::No
    }

    /// Is the breaker open (or half-open) now?
    pub fn is_open(&self) -> bool {
        self.open_until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
    }

    #[test]
    fn opens_after_failures_in_a_row_probes_once_and_closes_on_success() {
        let mut b = Breaker::default();
        let now = t0();
        for _ in 1..FAILURES_TO_OPEN {
            assert_eq!(b.failure(now), Tripped::No);
            assert_eq!(b.gate(now), Gate::Pass);
        }
        assert_eq!(b.failure(now), Tripped::Until(now + COOL_DOWN));
        assert_eq!(
            b.gate(now + Duration::seconds(29)),
            Gate::Wait(now + COOL_DOWN)
        );
        let later = now + COOL_DOWN;
        assert_eq!(b.gate(later), Gate::Probe);
        // The others wait for the probe's answer.
        assert_eq!(b.gate(later), Gate::Wait(later + PROBE_WAIT));
        assert!(b.success(), "the probe closed an open breaker");
        assert_eq!(b.gate(later), Gate::Pass);
        assert!(!b.is_open());
    }

    #[test]
    fn a_failed_probe_doubles_the_cool_down_up_to_its_cap() {
        let mut b = Breaker::default();
        let mut now = t0();
        for _ in 0..FAILURES_TO_OPEN {
            b.failure(now);
        }
        let mut expected = COOL_DOWN;
        for _ in 0..8 {
            now += expected;
            assert_eq!(b.gate(now), Gate::Probe);
            expected = (expected * 2).min(MAX_COOL_DOWN);
            assert_eq!(b.failure(now), Tripped::Until(now + expected));
        }
        assert_eq!(expected, MAX_COOL_DOWN);
    }

    #[test]
    fn a_probe_that_never_answers_lets_another_probe() {
        let mut b = Breaker::default();
        let now = t0();
        for _ in 0..FAILURES_TO_OPEN {
            b.failure(now);
        }
        let later = now + COOL_DOWN;
        assert_eq!(b.gate(later), Gate::Probe);
        assert_eq!(b.gate(later + PROBE_WAIT), Gate::Probe);
    }

    proptest! {
        /// Whatever happens, an open breaker lets at most one send through per probe wait,
        /// and a closed one has seen fewer than FAILURES_TO_OPEN failures since a success.
        #[test]
        fn open_breakers_let_at_most_one_probe_through(
            steps in prop::collection::vec((0u8..3, 0i64..90), 1..200)
        ) {
            let mut b = Breaker::default();
            let mut now = t0();
            let mut since_success = 0u32;
            let mut last_probe: Option<DateTime<Utc>> = None;
            for (what, secs) in steps {
                now += Duration::seconds(secs);
                match what {
                    0 => match b.gate(now) {
                        Gate::Pass => prop_assert!(!b.is_open()),
                        Gate::Probe => {
                            if let Some(p) = last_probe {
                                prop_assert!(now >= p + PROBE_WAIT);
                            }
                            last_probe = Some(now);
                        }
                        Gate::Wait(t) => prop_assert!(t > now),
                    },
                    1 => {
                        b.success();
                        since_success = 0;
                        last_probe = None;
                    }
                    _ => {
                        since_success += 1;
                        b.failure(now);
                        last_probe = None;
                    }
                }
                if !b.is_open() {
                    prop_assert!(since_success < FAILURES_TO_OPEN);
                }
            }
        }
    }
}
