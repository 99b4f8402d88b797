//! Token buckets kept as data, so that whoever holds the data can take from them: the
//! store keeps one row per bucket, shared by every daemon on the database, and takes from
//! it with [`Bucket::take`] under a lock.
//!
//! A bucket refills at `rate` tokens a second up to `capacity` held at once; a send takes
//! one token. Over any stretch of time, what a bucket gives is at most its capacity plus
//! `rate` times the stretch's length (property-tested below).
//!
//! Daemons' clocks differ slightly. Time never runs backwards for a bucket: a take whose
//! `now` is before the bucket's last moment refills nothing and leaves that moment alone.

use chrono::{DateTime, Duration, Utc};

/// Slack for floating-point sums: 9.999999999 tokens are 10.
const EPSILON: f64 = 1e-9;

/// A bucket's state: `tokens` held at the moment `at`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub tokens: f64,
    pub at: DateTime<Utc>,
}

/// What one take gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Whole tokens given, at most as many as asked for.
    pub granted: u32,
    /// When the bucket will hold a whole token again after this take (the take's moment
    /// when it still does).
    pub next_token_at: DateTime<Utc>,
}

impl Bucket {
    /// A bucket holding all it can at `at` (a new one).
    pub fn full(capacity: f64, at: DateTime<Utc>) -> Bucket {
        Bucket {
            tokens: capacity,
            at,
        }
    }

    /// Refills for the time since the bucket's moment, then takes up to `want` whole
    /// tokens. Returns the bucket left behind and what was given. `rate` is in tokens a
    /// second and more than zero; `capacity` is at least one.
    pub fn take(self, rate: f64, capacity: f64, want: u32, now: DateTime<Utc>) -> (Bucket, Grant) {
        let at = now.max(self.at);
        let elapsed = match (at - self.at).num_microseconds() {
            Some(us) => us as f64 / 1e6,
            // Centuries apart: refilled whatever the rate.
            None => f64::MAX,
        };
        let available = (self.tokens + elapsed * rate).clamp(0.0, capacity);
        let whole = (available + EPSILON).floor();
        let granted = whole.min(f64::from(want)) as u32;
        let left = (available - f64::from(granted)).max(0.0);
        let next_token_at = if left + EPSILON >= 1.0 {
            at
        } else {
            let wait_us = ((1.0 - left) / rate * 1e6).ceil().max(1.0);
            at + Duration::microseconds(wait_us.min(i64::MAX as f64 / 2.0) as i64)
        };
        (
            Bucket { tokens: left, at },
            Grant {
                granted,
                next_token_at,
            },
        )
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

    fn ms(n: i64) -> Duration {
        Duration::milliseconds(n)
    }

    #[test]
    fn a_full_bucket_gives_its_capacity_then_one_token_each_interval() {
        let (b, g) = Bucket::full(10.0, t0()).take(10.0, 10.0, 15, t0());
        assert_eq!(g.granted, 10);
        assert_eq!(g.next_token_at, t0() + ms(100));
        let (b, g) = b.take(10.0, 10.0, 15, t0() + ms(100));
        assert_eq!(g.granted, 1);
        let (_, g) = b.take(10.0, 10.0, 15, t0() + ms(350));
        assert_eq!(g.granted, 2, "2.5 tokens refilled, 2 whole ones given");
        assert_eq!(g.next_token_at, t0() + ms(400));
    }

    #[test]
    fn a_bucket_never_holds_more_than_its_capacity() {
        let (b, _) = Bucket::full(1.0, t0()).take(1.0 / 30.0, 1.0, 1, t0());
        let (_, g) = b.take(1.0 / 30.0, 1.0, 5, t0() + Duration::hours(1));
        assert_eq!(g.granted, 1);
        assert_eq!(
            g.next_token_at,
            t0() + Duration::hours(1) + Duration::seconds(30)
        );
    }

    #[test]
    fn a_clock_behind_the_bucket_refills_nothing_and_moves_no_time_back() {
        let (b, _) = Bucket::full(5.0, t0()).take(5.0, 5.0, 5, t0() + ms(1000));
        let (after, g) = b.take(5.0, 5.0, 5, t0() + ms(500));
        assert_eq!(g.granted, 0);
        assert_eq!(after.at, t0() + ms(1000), "the later moment is kept");
        assert_eq!(g.next_token_at, t0() + ms(1200));
    }

    #[test]
    fn asking_for_nothing_takes_nothing() {
        let (b, g) = Bucket::full(3.0, t0()).take(3.0, 3.0, 0, t0());
        assert_eq!((g.granted, b.tokens), (0, 3.0));
        assert_eq!(g.next_token_at, t0());
    }

    proptest! {
        /// However takes are spread and whatever they ask for, a bucket gives at most its
        /// capacity plus `rate` times the time since it was made; and when every take asks
        /// for more than there is and no refill overflows the capacity, it gives all of
        /// that but less than one token.
        #[test]
        fn takes_never_exceed_the_capacity_plus_the_rate_over_the_time(
            rate in 0.01f64..500.0,
            takes in proptest::collection::vec((0i64..3_000, 0u32..40), 1..60),
        ) {
            let capacity = rate.max(1.0);
            let mut bucket = Bucket::full(capacity, t0());
            let mut now = t0();
            let mut given = 0u64;
            let mut always_short = true;
            let mut never_overflows = true;
            let mut first_at = None;
            for (i, (step_ms, want)) in takes.into_iter().enumerate() {
                now += ms(step_ms);
                // Before the first take the bucket is full: time then refills nothing.
                first_at.get_or_insert(now);
                if i > 0 {
                    never_overflows &= rate * step_ms as f64 / 1000.0 + 1.0 <= capacity;
                }
                let (b, g) = bucket.take(rate, capacity, want, now);
                prop_assert!(g.granted <= want);
                prop_assert!(g.next_token_at >= now);
                always_short &= g.granted < want;
                given += u64::from(g.granted);
                bucket = b;
            }
            let elapsed = (now - t0()).num_milliseconds() as f64 / 1000.0;
            let most = capacity + rate * elapsed;
            prop_assert!(given as f64 <= most + 1e-6, "{given} > {most}");
            if always_short && never_overflows {
                let since_first = (now - first_at.expect("one take at least")).num_milliseconds();
                let least = capacity + rate * since_first as f64 / 1000.0;
                prop_assert!(given as f64 > least - 1.0 - 1e-6, "{given} far below {least}");
            }
        }
    }
}
