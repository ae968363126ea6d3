//! Case indicators (考核指标) from additive counts, and the reporting periods.
//!
//! The store sums [`Counts`] per (region path, stage); everything here is arithmetic on those
//! sums, so a region's figures are exactly the sum of its children's. Formulas (reference
//! anchors-china.md 1.1.6, 金华 结案率 = 结案数 / 应结案数; 12345 bulletins for 满意率):
//!
//! - 有效上报 = all cases − merged duplicates (a duplicate counts once, in the case it joined);
//! - 受理率 = cases accepted or further / 有效上报;
//! - 响应时长 = first staff response − report time, over responded cases (mean and median);
//! - 按期办结率 = cases resolved by their resolution deadline / resolved cases;
//! - 办结率 = closed (销号) / (有效上报 − rejected): a rejected report is not a case to close;
//! - 返工率 = resolved cases with rework (核查不通过 or reopened) / resolved cases;
//! - 满意率 = (满意 + 基本满意) / rated cases.

use std::ops::{AddAssign, SubAssign};

use crate::cases::Stage;
use crate::deadlines::Date;

const DAY_MS: i64 = 86_400_000;

/// Additive sums over a set of cases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub cases: i64,
    /// Cases with a first staff response.
    pub responded: i64,
    /// Sum of (responded_at − created_at) over responded cases.
    pub response_ms: i64,
    /// Cases with a resolution (resolved_at set).
    pub resolved: i64,
    /// Resolved no later than the resolution deadline.
    pub on_time: i64,
    /// Resolved cases that needed rework at least once.
    pub rework: i64,
    pub rated: i64,
    pub satisfied: i64,
    pub basic: i64,
    /// Cases flagged overdue by the sweeper.
    pub overdue: i64,
}

impl AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.cases += o.cases;
        self.responded += o.responded;
        self.response_ms += o.response_ms;
        self.resolved += o.resolved;
        self.on_time += o.on_time;
        self.rework += o.rework;
        self.rated += o.rated;
        self.satisfied += o.satisfied;
        self.basic += o.basic;
        self.overdue += o.overdue;
    }
}

impl SubAssign for Counts {
    fn sub_assign(&mut self, o: Counts) {
        self.cases -= o.cases;
        self.responded -= o.responded;
        self.response_ms -= o.response_ms;
        self.resolved -= o.resolved;
        self.on_time -= o.on_time;
        self.rework -= o.rework;
        self.rated -= o.rated;
        self.satisfied -= o.satisfied;
        self.basic -= o.basic;
        self.overdue -= o.overdue;
    }
}

/// Counts per stage for one set of cases (a region, a child region).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Indexed like [`Stage::ALL`].
    stages: Vec<Counts>,
}

impl Tally {
    pub fn add(&mut self, stage: Stage, counts: Counts) {
        if self.stages.len() < Stage::ALL.len() {
            self.stages.resize(Stage::ALL.len(), Counts::default());
        }
        if let Some(i) = Stage::ALL.iter().position(|s| *s == stage) {
            self.stages[i] += counts;
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        for (stage, counts) in Stage::ALL.iter().zip(&other.stages) {
            self.add(*stage, *counts);
        }
    }

    pub fn stage(&self, stage: Stage) -> Counts {
        Stage::ALL
            .iter()
            .position(|s| *s == stage)
            .and_then(|i| self.stages.get(i).copied())
            .unwrap_or_default()
    }

    /// Cases per stage, in [`Stage::ALL`] order.
    pub fn by_stage(&self) -> Vec<(Stage, i64)> {
        Stage::ALL
            .iter()
            .map(|s| (*s, self.stage(*s).cases))
            .collect()
    }

    /// Sums over every stage but `merged`.
    pub fn valid(&self) -> Counts {
        let mut sum = Counts::default();
        for s in Stage::ALL.iter().filter(|s| **s != Stage::Merged) {
            sum += self.stage(*s);
        }
        sum
    }

    pub fn indicators(&self) -> Indicators {
        let v = self.valid();
        let reported = self.stage(Stage::Reported).cases;
        let rejected = self.stage(Stage::Rejected).cases;
        let closed = self.stage(Stage::Closed).cases;
        Indicators {
            reported: v.cases,
            merged: self.stage(Stage::Merged).cases,
            rejected,
            closed,
            overdue: v.overdue,
            acceptance: ratio(v.cases - reported - rejected, v.cases),
            response_avg_ms: (v.responded > 0).then(|| v.response_ms / v.responded),
            on_time: ratio(v.on_time, v.resolved),
            completion: ratio(closed, v.cases - rejected),
            rework: ratio(v.rework, v.resolved),
            satisfaction: ratio(v.satisfied + v.basic, v.rated),
            counts: v,
        }
    }
}

/// The indicators of one set of cases; a rate is `None` when its denominator is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Indicators {
    /// 有效上报: every case but merged duplicates.
    pub reported: i64,
    pub merged: i64,
    pub rejected: i64,
    pub closed: i64,
    pub overdue: i64,
    /// 受理率
    pub acceptance: Option<f64>,
    /// 平均响应时长
    pub response_avg_ms: Option<i64>,
    /// 按期办结率
    pub on_time: Option<f64>,
    /// 办结率
    pub completion: Option<f64>,
    /// 返工率
    pub rework: Option<f64>,
    /// 满意率
    pub satisfaction: Option<f64>,
    pub counts: Counts,
}

fn ratio(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Upper bounds (exclusive) of the response-time histogram buckets; a last bucket holds the
/// rest. Spaced for deadlines from minutes (help requests) to days (general appeals).
pub const RESPONSE_BUCKETS_MS: [i64; 14] = [
    60_000,
    5 * 60_000,
    10 * 60_000,
    15 * 60_000,
    30 * 60_000,
    3_600_000,
    2 * 3_600_000,
    4 * 3_600_000,
    8 * 3_600_000,
    12 * 3_600_000,
    DAY_MS,
    2 * DAY_MS,
    3 * DAY_MS,
    7 * DAY_MS,
];

/// The median of a histogram over [`RESPONSE_BUCKETS_MS`] (`counts[i]` cases in bucket `i`,
/// one more bucket than bounds), interpolated linearly inside the bucket holding it. Exact to
/// the bucket; the open last bucket reports its lower bound.
pub fn median_from_histogram(counts: &[i64]) -> Option<i64> {
    let total: i64 = counts.iter().sum();
    if total <= 0 {
        return None;
    }
    let half = total as f64 / 2.0;
    let mut seen = 0i64;
    for (i, n) in counts.iter().enumerate() {
        if *n > 0 && (seen + n) as f64 >= half {
            let low = if i == 0 {
                0
            } else {
                RESPONSE_BUCKETS_MS[i - 1]
            };
            let Some(high) = RESPONSE_BUCKETS_MS.get(i).copied() else {
                return Some(low);
            };
            let share = (half - seen as f64) / *n as f64;
            return Some(low + ((high - low) as f64 * share).round() as i64);
        }
        seen += n;
    }
    None
}

/// Reporting periods offered on the statistics page (China Standard Time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Last30Days,
    ThisWeek,
    ThisMonth,
    ThisQuarter,
    ThisYear,
}

impl Preset {
    pub const ALL: [Preset; 5] = [
        Preset::Last30Days,
        Preset::ThisWeek,
        Preset::ThisMonth,
        Preset::ThisQuarter,
        Preset::ThisYear,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Last30Days => "30d",
            Preset::ThisWeek => "week",
            Preset::ThisMonth => "month",
            Preset::ThisQuarter => "quarter",
            Preset::ThisYear => "year",
        }
    }

    pub fn parse(s: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The dates `[from, to)` of the period containing `today` (for the last 30 days: the 30
    /// days ending with today).
    pub fn dates(self, today: Date) -> (Date, Date) {
        let day = today.days_since_epoch();
        let date = |d: i64| Date::from_days_since_epoch(d).unwrap_or(today);
        let first_of = |month: u32| Date::new(today.year(), month, 1).unwrap_or(today);
        let tomorrow = today.succ();
        match self {
            Preset::Last30Days => (date(day - 29), tomorrow),
            // 1970-01-01 was a Thursday, so Monday is 3 days before a multiple of 7 after it.
            Preset::ThisWeek => {
                let monday = day - (day + 3).rem_euclid(7);
                (date(monday), date(monday + 7))
            }
            Preset::ThisMonth => (
                first_of(today.month()),
                next_month(today.year(), today.month()),
            ),
            Preset::ThisQuarter => {
                let q = (today.month() - 1) / 3 * 3 + 1;
                (first_of(q), next_month(today.year(), q + 2))
            }
            Preset::ThisYear => (
                first_of(1),
                Date::new(today.year() + 1, 1, 1).unwrap_or(Date::MAX),
            ),
        }
    }
}

fn next_month(year: i32, month: u32) -> Date {
    let (y, m) = if month >= 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    Date::new(y, m, 1).unwrap_or(Date::MAX)
}

/// The CST day number of an instant (what the store groups the daily trend by).
pub fn day_number(ms: i64) -> i64 {
    Date::from_epoch_ms(ms).days_since_epoch()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn c(cases: i64) -> Counts {
        Counts {
            cases,
            ..Counts::default()
        }
    }

    #[test]
    fn indicators_follow_the_formulas() {
        let mut t = Tally::default();
        t.add(Stage::Reported, c(1));
        t.add(Stage::Rejected, c(1));
        t.add(Stage::Merged, c(2));
        t.add(
            Stage::Closed,
            Counts {
                cases: 4,
                responded: 4,
                response_ms: 4_000,
                resolved: 4,
                on_time: 3,
                rework: 1,
                rated: 4,
                satisfied: 2,
                basic: 1,
                overdue: 1,
            },
        );
        let i = t.indicators();
        assert_eq!(i.reported, 6);
        assert_eq!(i.acceptance, Some(4.0 / 6.0));
        assert_eq!(i.completion, Some(4.0 / 5.0));
        assert_eq!(i.on_time, Some(0.75));
        assert_eq!(i.rework, Some(0.25));
        assert_eq!(i.satisfaction, Some(0.75));
        assert_eq!(i.response_avg_ms, Some(1_000));
        assert_eq!(Tally::default().indicators().acceptance, None);
    }

    #[test]
    fn medians_interpolate_inside_the_bucket() {
        let mut h = [0i64; 15];
        h[1] = 2; // two responses between 1 and 5 minutes
        assert_eq!(median_from_histogram(&h), Some(60_000 + 120_000));
        h[14] = 10;
        assert_eq!(median_from_histogram(&h), Some(7 * DAY_MS));
        assert_eq!(median_from_histogram(&[0; 15]), None);
    }

    #[test]
    fn presets_cover_the_current_period() {
        let d = Date::new(2026, 5, 14).unwrap(); // a Thursday
        let s = |p: Preset| {
            let (a, b) = p.dates(d);
            format!("{a}..{b}")
        };
        assert_eq!(s(Preset::ThisWeek), "2026-05-11..2026-05-18");
        assert_eq!(s(Preset::ThisMonth), "2026-05-01..2026-06-01");
        assert_eq!(s(Preset::ThisQuarter), "2026-04-01..2026-07-01");
        assert_eq!(s(Preset::ThisYear), "2026-01-01..2027-01-01");
        assert_eq!(s(Preset::Last30Days), "2026-04-15..2026-05-15");
        let dec = Date::new(2026, 12, 31).unwrap();
        assert_eq!(Preset::ThisQuarter.dates(dec).1.to_string(), "2027-01-01");
    }
}
