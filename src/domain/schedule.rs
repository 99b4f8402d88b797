//! Cron expressions with the meaning people know from Unix cron.
//!
//! Accepted: the 5-field form `min hour day month weekday`, the 6-7 field form with seconds
//! first (and a year last), and `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.
//! Weekdays are 0-7 with 0 and 7 both Sunday, or names (`mon-fri`). As in Unix cron, when
//! both the day of the month and the day of the week are restricted, the expression fires
//! on days matching either. Every number is checked against its field's range so a mistake
//! is reported in words (`hour 25 is out of range 0-23`).

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// A checked cron expression.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    source: String,
    // Two when day-of-month and weekday are both restricted (either may match).
    schedules: Vec<cron::Schedule>,
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

impl CronSchedule {
    pub fn parse(text: &str) -> Result<CronSchedule, String> {
        let t = text.trim();
        let expanded = match t.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
            "@monthly" => "0 0 1 * *".to_string(),
            "@weekly" => "0 0 * * 0".to_string(),
            "@daily" | "@midnight" => "0 0 * * *".to_string(),
            "@hourly" => "0 * * * *".to_string(),
            other if other.starts_with('@') => {
                return Err(format!(
                    "`{t}` is not a known shorthand (@hourly, @daily, @weekly, @monthly, @yearly)"
                ));
            }
            _ => t.to_string(),
        };
        let mut fields: Vec<String> = expanded.split_whitespace().map(str::to_string).collect();
        match fields.len() {
            5 => fields.insert(0, "0".into()),
            6 | 7 => {}
            n => {
                return Err(format!(
                    "`{t}` has {n} fields; a cron expression has 5 (`min hour day month weekday`) or 6-7 with seconds first"
                ));
            }
        }
        let bounds = [
            ("second", 0, 59),
            ("minute", 0, 59),
            ("hour", 0, 23),
            ("day of month", 1, 31),
            ("month", 1, 12),
        ];
        for ((name, lo, hi), field) in bounds.iter().zip(&fields) {
            check_field(
                field,
                name,
                *lo,
                *hi,
                if *name == "month" { &MONTH_NAMES } else { &[] },
            )?;
        }
        let weekdays = weekday_field(&fields[5])?;
        let dom_restricted = fields[3] != "*" && fields[3] != "?";
        let dow_restricted = fields[5] != "*" && fields[5] != "?";
        let build = |dom: &str, dow: &str| -> Result<cron::Schedule, String> {
            let mut f = fields.clone();
            f[3] = dom.to_string();
            f[5] = dow.to_string();
            cron::Schedule::from_str(&f.join(" "))
                .map_err(|e| format!("`{t}` is not a valid cron expression ({e})"))
        };
        let schedules = if dom_restricted && dow_restricted {
            vec![build(&fields[3], "*")?, build("*", &weekdays)?]
        } else {
            vec![build(&fields[3], &weekdays)?]
        };
        Ok(CronSchedule {
            source: t.to_string(),
            schedules,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The first occurrence strictly after `after`, read in `tz`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&tz);
        self.schedules
            .iter()
            .filter_map(|s| s.after(&local).next())
            .min()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Checks every number (and name) of a field against its range.
fn check_field(field: &str, name: &str, lo: u32, hi: u32, names: &[&str]) -> Result<(), String> {
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        if let Some(s) = step
            && s.parse::<u32>().map_or(true, |n| n == 0)
        {
            return Err(format!(
                "`{item}`: the step after `/` in the {name} field must be a whole number above 0"
            ));
        }
        if range == "*" || range == "?" {
            continue;
        }
        for part in range.split('-') {
            let value = part.parse::<u32>().ok().or_else(|| {
                names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(part))
                    .map(|i| i as u32 + lo)
            });
            match value {
                Some(v) if (lo..=hi).contains(&v) => {}
                Some(v) => return Err(format!("{name} {v} is out of range {lo}-{hi}")),
                None => return Err(format!("`{part}` is not a valid {name}")),
            }
        }
    }
    Ok(())
}

/// Rewrites a weekday field (0-7, Sunday 0 or 7, or names) as names, which the cron
/// library reads unambiguously.
fn weekday_field(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let day = |p: &str, end: bool| -> Result<u32, String> {
        let n = match p.parse::<u32>() {
            Ok(n) if n <= 7 => n,
            Ok(n) => {
                return Err(format!(
                    "weekday {n} is out of range 0-7 (0 and 7 are Sunday)"
                ));
            }
            Err(_) => DAY_NAMES
                .iter()
                .position(|d| {
                    crate::domain::values::parse_weekday(p)
                        .is_ok_and(|w| d.eq_ignore_ascii_case(&w.to_string()))
                })
                .ok_or_else(|| format!("`{p}` is not a weekday (0-7 or sun, mon, ... sat)"))?
                as u32,
        };
        // Sunday closes a range as 7 (`fri-sun`), opens it as 0.
        Ok(if n == 0 && end { 7 } else { n })
    };
    let mut days = BTreeSet::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("`{item}`: bad step"))?,
            ),
            None => (item, 1),
        };
        let (a, b) = match range.split_once('-') {
            _ if range == "*" => (0, 6),
            Some((a, b)) => (day(a, false)?, day(b, true)?),
            None => {
                let d = day(range, false)?;
                (d, if step > 1 { 6 } else { d })
            }
        };
        if a > b {
            return Err(format!(
                "`{range}` runs backwards: write the earlier day first"
            ));
        }
        days.extend((a..=b).step_by(step as usize).map(|d| d % 7));
    }
    Ok(days
        .into_iter()
        .map(|d| DAY_NAMES[d as usize])
        .collect::<Vec<_>>()
        .join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Weekday};

    fn next(expr: &str, from: DateTime<Utc>) -> DateTime<Utc> {
        CronSchedule::parse(expr)
            .unwrap()
            .next_after(from, chrono_tz::UTC)
            .unwrap()
    }

    #[test]
    fn weekday_numbers_mean_what_they_mean_in_unix_cron() {
        // Saturday 2026-11-28.
        let sat = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        assert_eq!(next("0 9 * * 1-5", sat).weekday(), Weekday::Mon);
        assert_eq!(next("0 9 * * 0", sat).weekday(), Weekday::Sun);
        assert_eq!(next("0 9 * * 7", sat).weekday(), Weekday::Sun);
        assert_eq!(next("0 9 * * fri-sun", sat).weekday(), Weekday::Sun);
        assert_eq!(next("0 9 * * mon,wed", sat).weekday(), Weekday::Mon);
    }

    #[test]
    fn day_of_month_and_weekday_together_match_either() {
        // The 1st of the month or any Monday, from Saturday 2026-11-28: Monday the 30th.
        let sat = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        assert_eq!(
            next("0 9 1 * mon", sat),
            Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
        );
        let tue = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        assert_eq!(
            next("0 9 1 * mon", tue),
            Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
        );
    }

    #[test]
    fn shorthands_and_out_of_range_numbers() {
        let t = Utc.with_ymd_and_hms(2026, 11, 28, 12, 30, 0).unwrap();
        assert_eq!(
            next("@hourly", t),
            Utc.with_ymd_and_hms(2026, 11, 28, 13, 0, 0).unwrap()
        );
        assert_eq!(
            next("@daily", t),
            Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap()
        );
        assert_eq!(
            CronSchedule::parse("0 25 * * *").unwrap_err(),
            "hour 25 is out of range 0-23"
        );
        assert!(
            CronSchedule::parse("0 9 * * 8")
                .unwrap_err()
                .contains("out of range 0-7")
        );
        assert!(CronSchedule::parse("0 9 * * monkey").is_err());
        assert!(
            CronSchedule::parse("0 9 * * abé").is_err(),
            "non-ASCII text is an error, not a crash"
        );
        assert!(CronSchedule::parse("@fortnightly").is_err());
    }
}
