//! Contact windows: when, in the recipient's own local time, a channel may be used.
//!
//! A window is a set of days of the week, a set of local time ranges and a set of holiday
//! dates. `contains` is the ground truth (the local wall-clock time of an instant in the
//! contact's zone); `next_open` finds the earliest instant at or after a moment that
//! `contains` accepts. Both are DST-correct: a range that starts inside a spring-forward gap
//! opens at the first instant after the gap, and a repeated autumn hour is inside a window
//! whenever its wall-clock time is.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone as _, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;
use serde::Serialize;

/// How far ahead `next_open` looks before deciding that a window never opens.
const HORIZON_DAYS: i64 = 400;

/// A local time-of-day range `[start, end)` in minutes since midnight; `end` may be 1440.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MinuteRange {
    pub start: u16,
    pub end: u16,
}

impl MinuteRange {
    pub const ALL_DAY: MinuteRange = MinuteRange {
        start: 0,
        end: 1440,
    };

    /// Parses `09:00-20:30` (`24:00` allowed as an end).
    pub fn parse(text: &str) -> Result<MinuteRange, String> {
        let t = text.trim();
        let err =
            || format!("`{t}` is not a time range (expected `HH:MM-HH:MM`, e.g. `09:00-20:00`)");
        let (a, b) = t.split_once('-').ok_or_else(err)?;
        let start = parse_clock(a).ok_or_else(err)?;
        let end = parse_clock(b).ok_or_else(err)?;
        if start >= end {
            return Err(format!(
                "`{t}` ends before it starts (ranges may not cross midnight: write two ranges, `22:00-24:00` and `00:00-02:00`)"
            ));
        }
        Ok(MinuteRange { start, end })
    }

    fn contains(&self, minute: u16) -> bool {
        self.start <= minute && minute < self.end
    }

    fn intersect(&self, other: &MinuteRange) -> Option<MinuteRange> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (start < end).then_some(MinuteRange { start, end })
    }
}

impl fmt::Display for MinuteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

fn parse_clock(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// When a channel may be used, in the recipient's local time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContactWindow {
    days: BTreeSet<u8>,
    ranges: Vec<MinuteRange>,
    holidays: BTreeSet<NaiveDate>,
}

impl ContactWindow {
    /// Any day, any time, no holidays.
    pub fn always() -> ContactWindow {
        ContactWindow::new(all_days(), vec![MinuteRange::ALL_DAY], [])
    }

    /// Every day within one range.
    pub fn daily(range: MinuteRange) -> ContactWindow {
        ContactWindow::new(all_days(), vec![range], [])
    }

    pub fn new(
        days: impl IntoIterator<Item = Weekday>,
        ranges: Vec<MinuteRange>,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> ContactWindow {
        ContactWindow {
            days: days
                .into_iter()
                .map(|d| d.num_days_from_monday() as u8)
                .collect(),
            ranges: normalise(ranges),
            holidays: holidays.into_iter().collect(),
        }
    }

    pub fn ranges(&self) -> &[MinuteRange] {
        &self.ranges
    }

    pub fn days(&self) -> impl Iterator<Item = Weekday> + '_ {
        self.days
            .iter()
            .map(|d| Weekday::try_from(*d).expect("0..7"))
    }

    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    /// True when no moment can ever be inside: no days, no ranges.
    pub fn never_opens(&self) -> bool {
        self.days.is_empty() || self.ranges.is_empty()
    }

    /// The moments inside both windows: days and ranges intersected, holidays joined. This
    /// is how a campaign tightens the contact policy and can never loosen it.
    pub fn intersect(&self, other: &ContactWindow) -> ContactWindow {
        let mut ranges = Vec::new();
        for a in &self.ranges {
            for b in &other.ranges {
                if let Some(r) = a.intersect(b) {
                    ranges.push(r);
                }
            }
        }
        ContactWindow {
            days: self.days.intersection(&other.days).copied().collect(),
            ranges: normalise(ranges),
            holidays: self.holidays.union(&other.holidays).copied().collect(),
        }
    }

    /// True when `other` allows nothing that `self` forbids.
    pub fn covers(&self, other: &ContactWindow) -> bool {
        &self.intersect(other) == other
    }

    /// Is `at` inside the window, read on the wall clock of `tz`?
    pub fn contains(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        let local = at.with_timezone(&tz);
        let date = local.date_naive();
        if !self.day_allowed(date) {
            return false;
        }
        let minute = (local.hour() * 60 + local.minute()) as u16;
        self.ranges.iter().any(|r| r.contains(minute))
    }

    /// The earliest instant at or after `at` inside the window, or `None` when the window
    /// does not open within 400 days.
    pub fn next_open(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        if self.contains(at, tz) {
            return Some(at);
        }
        if self.never_opens() {
            return None;
        }
        let first = at.with_timezone(&tz).date_naive();
        for offset in 0..HORIZON_DAYS {
            let date = first + Duration::days(offset);
            if !self.day_allowed(date) {
                continue;
            }
            for range in &self.ranges {
                let opens = first_instant_at_or_after(date, range.start, tz);
                if opens >= at && self.contains(opens, tz) {
                    return Some(opens);
                }
            }
        }
        None
    }

    /// The instant the window containing `at` closes (exclusive), in `tz`.
    pub fn closes_after(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        if !self.contains(at, tz) {
            return None;
        }
        let local = at.with_timezone(&tz);
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let range = self.ranges.iter().find(|r| r.contains(minute))?;
        Some(first_instant_at_or_after(local.date_naive(), range.end, tz))
    }

    fn day_allowed(&self, date: NaiveDate) -> bool {
        self.days
            .contains(&(date.weekday().num_days_from_monday() as u8))
            && !self.holidays.contains(&date)
    }
}

impl fmt::Display for ContactWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days: Vec<String> = self.days().map(|d| d.to_string().to_lowercase()).collect();
        let ranges: Vec<String> = self.ranges.iter().map(|r| r.to_string()).collect();
        write!(f, "{} {}", days.join(","), ranges.join(","))?;
        if !self.holidays.is_empty() {
            write!(f, " (except {} holiday dates)", self.holidays.len())?;
        }
        Ok(())
    }
}

fn all_days() -> [Weekday; 7] {
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ]
}

/// Sorts ranges and merges the overlapping or touching ones.
fn normalise(mut ranges: Vec<MinuteRange>) -> Vec<MinuteRange> {
    ranges.sort();
    let mut out: Vec<MinuteRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The first instant whose local wall-clock time on `date` is `minute` (or `date + 1` at
/// midnight for 1440). In a spring-forward gap that is the first instant after the gap; in
/// a repeated autumn hour it is the earlier of the two.
fn first_instant_at_or_after(date: NaiveDate, minute: u16, tz: Tz) -> DateTime<Utc> {
    let (date, minute) = if minute >= 1440 {
        (date + Duration::days(1), 0)
    } else {
        (date, minute)
    };
    let mut naive = date.and_time(
        NaiveTime::from_hms_opt((minute / 60) as u32, (minute % 60) as u32, 0).expect("valid"),
    );
    // Gaps are at most a few hours long; step through them minute by minute.
    for _ in 0..(24 * 60) {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            LocalResult::None => naive += Duration::minutes(1),
        }
    }
    unreachable!("no time zone has a gap longer than a day")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn business() -> ContactWindow {
        ContactWindow::new(
            [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            vec![MinuteRange::parse("09:00-20:00").unwrap()],
            [NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()],
        )
    }

    #[test]
    fn a_closed_window_opens_next_morning_in_the_contacts_zone() {
        // 21:30 in New York on Tuesday 2026-11-24 is 02:30 UTC on the 25th.
        let at = utc(2026, 11, 25, 2, 30);
        let next = business()
            .next_open(at, chrono_tz::America::New_York)
            .unwrap();
        // 09:00 EST on Wednesday is 14:00 UTC.
        assert_eq!(next, utc(2026, 11, 25, 14, 0));
    }

    #[test]
    fn weekends_and_holidays_are_skipped() {
        // Thursday 2026-12-24 21:00 London → Friday is Christmas → next Monday 28th.
        let next = business()
            .next_open(utc(2026, 12, 24, 21, 0), chrono_tz::Europe::London)
            .unwrap();
        assert_eq!(next, utc(2026, 12, 28, 9, 0));
    }

    #[test]
    fn a_range_starting_in_the_spring_gap_opens_when_the_gap_ends() {
        // Europe/London springs forward at 01:00 UTC on 2026-03-29 (01:00 → 02:00 local).
        let w = ContactWindow::daily(MinuteRange::parse("01:30-03:00").unwrap());
        let next = w
            .next_open(utc(2026, 3, 29, 0, 10), chrono_tz::Europe::London)
            .unwrap();
        // 00:10 UTC is 00:10 GMT, before the range; 01:30 local does not exist; 02:00 BST
        // (01:00 UTC) is the first instant whose wall clock is past 01:30.
        assert_eq!(next, utc(2026, 3, 29, 1, 0));
        assert!(w.contains(next, chrono_tz::Europe::London));
    }

    #[test]
    fn summer_time_moves_the_utc_opening_by_an_hour() {
        let w = ContactWindow::daily(MinuteRange::parse("08:00-21:00").unwrap());
        let tz = chrono_tz::Europe::Paris;
        assert_eq!(
            w.next_open(utc(2026, 3, 28, 3, 0), tz).unwrap(),
            utc(2026, 3, 28, 7, 0)
        );
        assert_eq!(
            w.next_open(utc(2026, 3, 30, 3, 0), tz).unwrap(),
            utc(2026, 3, 30, 6, 0)
        );
    }

    #[test]
    fn intersection_only_tightens() {
        let policy = ContactWindow::daily(MinuteRange::parse("08:00-21:00").unwrap());
        let campaign = ContactWindow::new(
            [Weekday::Mon, Weekday::Sat],
            vec![
                MinuteRange::parse("07:00-10:00").unwrap(),
                MinuteRange::parse("19:00-23:00").unwrap(),
            ],
            [],
        );
        let both = policy.intersect(&campaign);
        assert_eq!(
            both.ranges(),
            &[
                MinuteRange {
                    start: 480,
                    end: 600
                },
                MinuteRange {
                    start: 1140,
                    end: 1260
                }
            ]
        );
        assert!(policy.covers(&both));
        assert!(!campaign.covers(&policy));
    }

    #[test]
    fn a_window_with_no_days_never_opens() {
        let w = ContactWindow::new([], vec![MinuteRange::ALL_DAY], []);
        assert!(w.never_opens());
        assert_eq!(w.next_open(utc(2026, 1, 1, 0, 0), chrono_tz::UTC), None);
    }

    #[test]
    fn ranges_are_checked_when_parsed() {
        assert!(
            MinuteRange::parse("20:00-09:00")
                .unwrap_err()
                .contains("ends before it starts")
        );
        assert!(MinuteRange::parse("9-17").is_err());
        assert_eq!(
            MinuteRange::parse("00:00-24:00").unwrap(),
            MinuteRange::ALL_DAY
        );
    }
}
