//! The statistics of campaign reports: proportions, Net Promoter Score, and differences
//! between groups, each with a 95 % interval from the normal approximation.
//!
//! Every figure is a function of counts. A figure over no one (n = 0) is `None`, never a
//! NaN, so reports print "-" and JSON carries `null` rather than a number nobody can trust.
//! The normal approximation is what analysts expect from a dashboard; it is rough for very
//! small groups or shares near 0 or 1, which `docs/reports.md` says.

use serde::Serialize;

/// The z value of a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A number with its 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    /// Half the width of the interval (`value ± margin`).
    pub margin: f64,
    pub low: f64,
    pub high: f64,
}

impl Estimate {
    /// `value ± margin`.
    pub fn symmetric(value: f64, margin: f64) -> Estimate {
        Estimate {
            value,
            margin,
            low: value - margin,
            high: value + margin,
        }
    }

    /// Does the interval exclude zero (a difference unlikely to be chance alone)?
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// `count` out of `of`: a rate such as the contact rate or a conversion rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Proportion {
    pub count: u64,
    pub of: u64,
}

impl Proportion {
    pub fn new(count: u64, of: u64) -> Proportion {
        Proportion { count, of }
    }

    /// The share between 0 and 1; `None` over no one.
    pub fn share(&self) -> Option<f64> {
        (self.of > 0).then(|| self.count as f64 / self.of as f64)
    }

    /// Variance of the share: p (1 − p) / n.
    pub fn variance(&self) -> Option<f64> {
        let p = self.share()?;
        Some(p * (1.0 - p) / self.of as f64)
    }

    /// The share with its 95 % interval (Wald: p ± 1.96 √(p (1 − p) / n)), the interval
    /// clipped to [0, 1].
    pub fn estimate(&self) -> Option<Estimate> {
        let p = self.share()?;
        let margin = Z95 * self.variance()?.sqrt();
        Some(Estimate {
            value: p,
            margin,
            low: (p - margin).max(0.0),
            high: (p + margin).min(1.0),
        })
    }
}

/// Answers to an NPS question (0-10), by group: promoters 9-10, passives 7-8, detractors 0-6.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NpsCounts {
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
}

impl NpsCounts {
    /// Counts one answer; scores outside 0-10 are not answers to an NPS question and are
    /// ignored (returns false).
    pub fn add(&mut self, score: i64) -> bool {
        match score {
            9..=10 => self.promoters += 1,
            7..=8 => self.passives += 1,
            0..=6 => self.detractors += 1,
            _ => return false,
        }
        true
    }

    pub fn answers(&self) -> u64 {
        self.promoters + self.passives + self.detractors
    }

    /// (promoter share, detractor share); `None` without answers.
    fn shares(&self) -> Option<(f64, f64)> {
        let n = self.answers();
        (n > 0).then(|| {
            (
                self.promoters as f64 / n as f64,
                self.detractors as f64 / n as f64,
            )
        })
    }

    /// The score in points, from −100 to +100: 100 (p − d).
    pub fn score(&self) -> Option<f64> {
        let (p, d) = self.shares()?;
        Some(100.0 * (p - d))
    }

    /// Variance of the score on the −1..1 scale: (p + d − (p − d)²) / n.
    pub fn variance(&self) -> Option<f64> {
        let (p, d) = self.shares()?;
        Some((p + d - (p - d).powi(2)) / self.answers() as f64)
    }

    /// The score in points with its 95 % margin (1.96 √Var, in points).
    pub fn estimate(&self) -> Option<Estimate> {
        let score = self.score()?;
        let margin = 100.0 * Z95 * self.variance()?.sqrt();
        Some(Estimate::symmetric(score, margin))
    }
}

/// `b − a` for two shares, with the 95 % interval of the two-proportion normal
/// approximation: √(pa (1 − pa) / na + pb (1 − pb) / nb). `None` when either group is empty.
pub fn difference_of_proportions(a: Proportion, b: Proportion) -> Option<Estimate> {
    let diff = b.share()? - a.share()?;
    let se = (a.variance()? + b.variance()?).sqrt();
    Some(Estimate::symmetric(diff, Z95 * se))
}

/// `b − a` for two NPS, in points, with its 95 % interval (independent groups: the
/// variances add). `None` when either group has no answer.
pub fn difference_of_nps(a: NpsCounts, b: NpsCounts) -> Option<Estimate> {
    let diff = b.score()? - a.score()?;
    let se = (a.variance()? + b.variance()?).sqrt();
    Some(Estimate::symmetric(diff, 100.0 * Z95 * se))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn five_promoters_three_passives_two_detractors_score_plus_thirty() {
        let nps = NpsCounts {
            promoters: 5,
            passives: 3,
            detractors: 2,
        };
        let e = nps.estimate().unwrap();
        assert!(close(e.value, 30.0), "{e:?}");
        // Var = (0.5 + 0.2 − 0.3²) / 10 = 0.061; MoE = 1.96 √0.061 = 0.48408 → 48.4 points.
        assert!(close(nps.variance().unwrap(), 0.061));
        assert!((e.margin - 48.408).abs() < 0.01, "{e:?}");
        assert!(close(e.low, 30.0 - e.margin) && close(e.high, 30.0 + e.margin));
    }

    #[test]
    fn answers_outside_zero_to_ten_are_not_counted() {
        let mut nps = NpsCounts::default();
        assert!(!nps.add(11));
        assert!(!nps.add(-1));
        assert!(nps.add(10) && nps.add(8) && nps.add(0));
        assert_eq!((nps.promoters, nps.passives, nps.detractors), (1, 1, 1));
    }

    #[test]
    fn figures_over_no_one_are_none_rather_than_nan() {
        assert_eq!(Proportion::new(0, 0).share(), None);
        assert_eq!(Proportion::new(0, 0).estimate(), None);
        assert_eq!(NpsCounts::default().score(), None);
        assert_eq!(NpsCounts::default().estimate(), None);
        assert_eq!(
            difference_of_proportions(Proportion::new(1, 2), Proportion::new(0, 0)),
            None
        );
        assert_eq!(
            difference_of_nps(NpsCounts::default(), NpsCounts::default()),
            None
        );
    }

    #[test]
    fn a_proportion_has_the_wald_interval_clipped_to_zero_and_one() {
        let e = Proportion::new(40, 100).estimate().unwrap();
        assert!(close(e.value, 0.4));
        assert!((e.margin - 0.096_02).abs() < 1e-4, "{e:?}");
        let all = Proportion::new(10, 10).estimate().unwrap();
        assert_eq!((all.margin, all.low, all.high), (0.0, 1.0, 1.0));
        let few = Proportion::new(1, 20).estimate().unwrap();
        assert_eq!(few.low, 0.0);
    }

    #[test]
    fn the_difference_of_two_proportions_has_the_two_sample_interval() {
        // 30/100 vs 45/100: +15 points, se = √(0.21/100 + 0.2475/100) = 0.06764.
        let d =
            difference_of_proportions(Proportion::new(30, 100), Proportion::new(45, 100)).unwrap();
        assert!(close(d.value, 0.15));
        assert!((d.margin - Z95 * 0.067_638).abs() < 1e-5, "{d:?}");
        assert!(d.excludes_zero());
    }

    #[test]
    fn the_difference_of_two_nps_adds_their_variances() {
        let a = NpsCounts {
            promoters: 5,
            passives: 3,
            detractors: 2,
        };
        let b = NpsCounts {
            promoters: 2,
            passives: 3,
            detractors: 5,
        };
        let d = difference_of_nps(a, b).unwrap();
        assert!(close(d.value, -60.0));
        let expected = 100.0 * Z95 * (0.061_f64 + 0.061).sqrt();
        assert!(close(d.margin, expected), "{d:?}");
    }

    fn nps_counts() -> impl Strategy<Value = NpsCounts> {
        (0u64..500, 0u64..500, 0u64..500).prop_map(|(promoters, passives, detractors)| NpsCounts {
            promoters,
            passives,
            detractors,
        })
    }

    fn proportion() -> impl Strategy<Value = Proportion> {
        (0u64..1000, 0u64..1000).prop_map(|(a, b)| Proportion::new(a.min(b), a.max(b)))
    }

    proptest! {
        #[test]
        fn nps_stays_between_minus_and_plus_one_hundred_with_a_finite_margin(c in nps_counts()) {
            match c.estimate() {
                None => prop_assert_eq!(c.answers(), 0),
                Some(e) => {
                    prop_assert!((-100.0..=100.0).contains(&e.value));
                    prop_assert!(e.margin.is_finite() && e.margin >= 0.0);
                    // The variance of a mean of values in {−1, 0, 1} is at most 1/n.
                    prop_assert!(c.variance().unwrap() <= 1.0 / c.answers() as f64 + 1e-12);
                }
            }
        }

        #[test]
        fn a_proportion_interval_holds_its_share_within_zero_and_one(p in proportion()) {
            match p.estimate() {
                None => prop_assert_eq!(p.of, 0),
                Some(e) => {
                    prop_assert!(0.0 <= e.low && e.low <= e.value);
                    prop_assert!(e.value <= e.high && e.high <= 1.0);
                }
            }
        }

        #[test]
        fn a_group_against_itself_differs_by_zero_inside_its_interval(p in proportion(), c in nps_counts()) {
            if let Some(d) = difference_of_proportions(p, p) {
                prop_assert!(d.value == 0.0 && !d.excludes_zero());
            }
            if let Some(d) = difference_of_nps(c, c) {
                prop_assert!(d.value == 0.0 && !d.excludes_zero());
            }
        }

        #[test]
        fn swapping_the_groups_flips_the_sign_and_keeps_the_width(a in proportion(), b in proportion()) {
            let ab = difference_of_proportions(a, b);
            let ba = difference_of_proportions(b, a);
            prop_assert_eq!(ab.is_some(), ba.is_some());
            if let (Some(ab), Some(ba)) = (ab, ba) {
                prop_assert!((ab.value + ba.value).abs() < 1e-12);
                prop_assert!((ab.margin - ba.margin).abs() < 1e-12);
            }
        }
    }
}
