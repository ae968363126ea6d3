//! Deadlines (时限) on a working-day calendar, and the colour warning (分色预警).
//!
//! DESIGN section 4: deadlines per category and level are given as natural minutes (response,
//! on-site), working hours (工作时) or working days (工作日) on an editable holiday calendar with
//! make-up workdays (调休); the colour warning comes from urgency and the share of the deadline
//! used. See reference/anchors-china.md 1.1.3 (time limits in 工作时 / 工作日), 1.3 and 1.4.
//!
//! All instants are epoch milliseconds (`i64`, UTC). Calendar days and working hours are read in
//! China Standard Time, a fixed UTC+8 with no daylight saving ([`CST_OFFSET_MS`]). Civil-date
//! arithmetic uses Howard Hinnant's `days_from_civil` / `civil_from_days` algorithms, so no date
//! crate is needed. Arithmetic saturates at the ends of `i64` instead of panicking.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// China Standard Time is UTC+8 all year round.
pub const CST_OFFSET_MS: i64 = 8 * HOUR_MS;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
const DAY_MINUTES: u16 = 24 * 60;

/// Errors from dates, working hours and calendars. Messages are Chinese and name the field and
/// the rule, because they are shown to the staff who edit the calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    #[error("日期“{input}”格式不对：应为 YYYY-MM-DD，例如 2025-10-01")]
    DateFormat { input: String },
    #[error("日期的年份 {year} 超出范围：应在 0001–9999 之间")]
    Year { year: i64 },
    #[error("日期的月份 {month} 无效：应在 1–12 之间")]
    Month { month: u32 },
    #[error("日期的日 {day} 无效：{year} 年 {month} 月只有 {max} 天")]
    Day {
        year: i32,
        month: u8,
        day: u32,
        max: u8,
    },
    #[error("工作时段不能为空：每个工作日至少要有一个时段")]
    NoWorkingHours,
    #[error("工作时段 {}–{} 无效：开始必须早于结束，且都在 00:00–24:00 之内", hm(*.start), hm(*.end))]
    Interval { start: u16, end: u16 },
    #[error(
        "工作时段 {}–{} 与前一时段 {}–{} 重叠或顺序颠倒：时段须按先后排列且互不重叠",
        hm(.this.0), hm(.this.1), hm(.previous.0), hm(.previous.1)
    )]
    Overlap {
        previous: (u16, u16),
        this: (u16, u16),
    },
    #[error(
        "工作时段“{input}”格式不对：应为 HH:MM-HH:MM，多个时段用逗号分隔，例如 08:30-12:00,14:30-18:00"
    )]
    WorkingHoursFormat { input: String },
    #[error("没有 {year} 年的国务院节假日安排：目前内置 2025、2026 年，其他年份请在日历中手工维护")]
    NoOfficialCalendar { year: i32 },
}

/// `HH:MM` for minutes since midnight (1440 prints as 24:00).
fn hm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

// ---------------------------------------------------------------------------------------------
// Civil dates
// ---------------------------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant, `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (m + 9) % 12; // March = 0 … February = 11
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day number (Hinnant, `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

const MIN_YEAR: i64 = 1;
const MAX_YEAR: i64 = 9999;

/// A calendar day (proleptic Gregorian, years 0001–9999), always valid. Ordered chronologically;
/// serialised as `"YYYY-MM-DD"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    y: i32,
    m: u8,
    d: u8,
}

/// Day of the week, Monday first (ISO 8601).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// Weekday of a day number (1970-01-01 was a Thursday).
    fn of_days(days: i64) -> Weekday {
        // (days + 3) mod 7: 0 = Monday.
        let i = (days + 3).rem_euclid(7);
        Weekday::ALL[usize::try_from(i).unwrap_or(0)]
    }

    pub fn is_weekend(self) -> bool {
        matches!(self, Weekday::Sat | Weekday::Sun)
    }

    pub fn zh(self) -> &'static str {
        match self {
            Weekday::Mon => "周一",
            Weekday::Tue => "周二",
            Weekday::Wed => "周三",
            Weekday::Thu => "周四",
            Weekday::Fri => "周五",
            Weekday::Sat => "周六",
            Weekday::Sun => "周日",
        }
    }
}

impl Date {
    /// The earliest and latest representable dates.
    pub const MIN: Date = Date { y: 1, m: 1, d: 1 };
    pub const MAX: Date = Date {
        y: 9999,
        m: 12,
        d: 31,
    };

    /// A validated date.
    pub fn new(year: i32, month: u32, day: u32) -> Result<Date, DeadlineError> {
        let y = i64::from(year);
        if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
            return Err(DeadlineError::Year { year: y });
        }
        let m = match u8::try_from(month) {
            Ok(m) if (1..=12).contains(&m) => m,
            _ => return Err(DeadlineError::Month { month }),
        };
        let max = days_in_month(y, m);
        match u8::try_from(day) {
            Ok(d) if (1..=max).contains(&d) => Ok(Date { y: year, m, d }),
            _ => Err(DeadlineError::Day {
                year,
                month: m,
                day,
                max,
            }),
        }
    }

    /// Parses `YYYY-MM-DD` (exactly four, two and two digits).
    pub fn parse(s: &str) -> Result<Date, DeadlineError> {
        let format_err = || DeadlineError::DateFormat {
            input: s.to_owned(),
        };
        let b = s.as_bytes();
        let digits_ok = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(format_err());
        }
        if !(digits_ok(0..4) && digits_ok(5..7) && digits_ok(8..10)) {
            return Err(format_err());
        }
        let num = |r: std::ops::Range<usize>| {
            b[r].iter()
                .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'))
        };
        let year = i32::try_from(num(0..4)).map_err(|_| format_err())?;
        Date::new(year, num(5..7), num(8..10))
    }

    pub fn year(self) -> i32 {
        self.y
    }

    pub fn month(self) -> u32 {
        u32::from(self.m)
    }

    pub fn day(self) -> u32 {
        u32::from(self.d)
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(i64::from(self.y), i64::from(self.m), i64::from(self.d))
    }

    /// The date `days` after 1970-01-01, or `None` outside 0001-01-01 ..= 9999-12-31.
    pub fn from_days_since_epoch(days: i64) -> Option<Date> {
        if days < Date::MIN.days_since_epoch() || days > Date::MAX.days_since_epoch() {
            return None;
        }
        let (y, m, d) = civil_from_days(days);
        Some(Date {
            y: i32::try_from(y).ok()?,
            m: u8::try_from(m).ok()?,
            d: u8::try_from(d).ok()?,
        })
    }

    /// The China Standard Time date of an instant, clamped to [`Date::MIN`] ..= [`Date::MAX`].
    pub fn from_epoch_ms(ms: i64) -> Date {
        let days = cst_day(ms);
        Date::from_days_since_epoch(days).unwrap_or(if days < 0 { Date::MIN } else { Date::MAX })
    }

    /// 00:00 China Standard Time on this date, as epoch milliseconds.
    pub fn start_ms(self) -> i64 {
        day_start_ms(self.days_since_epoch())
    }

    pub fn weekday(self) -> Weekday {
        Weekday::of_days(self.days_since_epoch())
    }

    /// The next calendar day (saturates at [`Date::MAX`]).
    pub fn succ(self) -> Date {
        Date::from_days_since_epoch(self.days_since_epoch() + 1).unwrap_or(Date::MAX)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.y, self.m, self.d)
    }
}

impl FromStr for Date {
    type Err = DeadlineError;
    fn from_str(s: &str) -> Result<Date, DeadlineError> {
        Date::parse(s)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The CST day number of an instant.
fn cst_day(ms: i64) -> i64 {
    ms.saturating_add(CST_OFFSET_MS).div_euclid(DAY_MS)
}

/// Milliseconds since CST midnight of an instant.
fn cst_time_of_day(ms: i64) -> i64 {
    ms.saturating_add(CST_OFFSET_MS).rem_euclid(DAY_MS)
}

/// 00:00 CST of a day number, as epoch milliseconds.
fn day_start_ms(days: i64) -> i64 {
    days.saturating_mul(DAY_MS).saturating_sub(CST_OFFSET_MS)
}

// ---------------------------------------------------------------------------------------------
// Working hours and the calendar
// ---------------------------------------------------------------------------------------------

/// The working intervals of a working day, as `(start_minute, end_minute)` since midnight, in
/// order and not overlapping; never empty. Default: 08:30–12:00 and 14:30–18:00 (基层 offices keep
/// a long lunch break), 7 hours a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<(u16, u16)>", into = "Vec<(u16, u16)>")]
pub struct WorkingHours(Vec<(u16, u16)>);

impl WorkingHours {
    /// Validates: at least one interval; each `start < end <= 1440`; each starts no earlier than
    /// the previous one ends.
    pub fn new(intervals: Vec<(u16, u16)>) -> Result<WorkingHours, DeadlineError> {
        if intervals.is_empty() {
            return Err(DeadlineError::NoWorkingHours);
        }
        let mut previous: Option<(u16, u16)> = None;
        for &(start, end) in &intervals {
            if start >= end || end > DAY_MINUTES {
                return Err(DeadlineError::Interval { start, end });
            }
            if let Some(p) = previous
                && start < p.1
            {
                return Err(DeadlineError::Overlap {
                    previous: p,
                    this: (start, end),
                });
            }
            previous = Some((start, end));
        }
        Ok(WorkingHours(intervals))
    }

    /// Parses `08:30-12:00,14:30-18:00` (also accepts `–`, `～` or `~` between the times, and
    /// `，`, `、` or `;` between intervals).
    pub fn parse(s: &str) -> Result<WorkingHours, DeadlineError> {
        let format_err = || DeadlineError::WorkingHoursFormat {
            input: s.to_owned(),
        };
        let time = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            if h.is_empty() || h.len() > 2 || m.len() != 2 {
                return None;
            }
            let h: u16 = h.parse().ok()?;
            let m: u16 = m.parse().ok()?;
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let mut intervals = Vec::new();
        for part in s.split([',', '，', '、', ';']) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (a, b) = part
                .split_once(['-', '–', '～', '~'])
                .ok_or_else(format_err)?;
            let start = time(a).ok_or_else(format_err)?;
            let end = time(b).ok_or_else(format_err)?;
            intervals.push((start, end));
        }
        WorkingHours::new(intervals)
    }

    pub fn intervals(&self) -> &[(u16, u16)] {
        &self.0
    }

    /// Working milliseconds in one working day.
    pub fn per_day_ms(&self) -> i64 {
        self.0
            .iter()
            .map(|&(a, b)| i64::from(b - a) * MINUTE_MS)
            .sum()
    }

    /// Minute of the day at which the working day ends (end of the last interval).
    pub fn day_end_minute(&self) -> u16 {
        self.0.last().map_or(DAY_MINUTES, |&(_, end)| end)
    }

    /// Intervals in milliseconds since midnight.
    fn ms_intervals(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.0
            .iter()
            .map(|&(a, b)| (i64::from(a) * MINUTE_MS, i64::from(b) * MINUTE_MS))
    }

    /// Working milliseconds of one working day that fall in `[lo, hi)` (ms since midnight).
    fn overlap_ms(&self, lo: i64, hi: i64) -> i64 {
        self.ms_intervals()
            .map(|(a, b)| (b.min(hi) - a.max(lo)).max(0))
            .sum()
    }
}

impl Default for WorkingHours {
    fn default() -> WorkingHours {
        WorkingHours(vec![(8 * 60 + 30, 12 * 60), (14 * 60 + 30, 18 * 60)])
    }
}

impl TryFrom<Vec<(u16, u16)>> for WorkingHours {
    type Error = DeadlineError;
    fn try_from(v: Vec<(u16, u16)>) -> Result<WorkingHours, DeadlineError> {
        WorkingHours::new(v)
    }
}

impl From<WorkingHours> for Vec<(u16, u16)> {
    fn from(h: WorkingHours) -> Vec<(u16, u16)> {
        h.0
    }
}

impl fmt::Display for WorkingHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}-{}", hm(a), hm(b))?;
        }
        Ok(())
    }
}

/// An editable working-day calendar in China Standard Time.
///
/// A day is a working day when it is Monday–Friday, unless it is in `holidays` (法定节假日 and the
/// days moved next to them); a Saturday or Sunday is a working day when it is in `workdays` (调休
/// make-up working days). If a date is in both sets the holiday wins. Every working day has the
/// same `hours`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Calendar {
    pub holidays: BTreeSet<Date>,
    pub workdays: BTreeSet<Date>,
    pub hours: WorkingHours,
}

/// The years for which [`china_official`] ships the State Council arrangement.
pub const OFFICIAL_YEARS: [i32; 2] = [2025, 2026];

/// `(month, day)` within a known year.
type MonthDay = (u8, u8);

/// One year's 国务院办公厅 holiday notice: rest-day ranges (inclusive, `(month, day)`) and
/// make-up working days.
struct OfficialYear {
    year: i32,
    rest: &'static [(MonthDay, MonthDay)],
    work: &'static [(u8, u8)],
}

const OFFICIAL: [OfficialYear; 2] = [
    // 国务院办公厅关于2025年部分节假日安排的通知 (2024-11-12),
    // https://www.gov.cn/zhengce/content/202411/content_6986382.htm
    OfficialYear {
        year: 2025,
        rest: &[
            ((1, 1), (1, 1)),   // 元旦
            ((1, 28), (2, 4)),  // 春节
            ((4, 4), (4, 6)),   // 清明节
            ((5, 1), (5, 5)),   // 劳动节
            ((5, 31), (6, 2)),  // 端午节
            ((10, 1), (10, 8)), // 国庆节、中秋节
        ],
        work: &[(1, 26), (2, 8), (4, 27), (9, 28), (10, 11)],
    },
    // 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04),
    // https://www.gov.cn/zhengce/content/202511/content_7047090.htm — text as released by 新华社,
    // reprinted at https://politics.gmw.cn/2025-11/04/content_38391083.htm:
    // 元旦 1月1日–3日, 1月4日(周日)上班; 春节 2月15日–23日, 2月14日(周六)、2月28日(周六)上班;
    // 清明节 4月4日–6日; 劳动节 5月1日–5日, 5月9日(周六)上班; 端午节 6月19日–21日;
    // 中秋节 9月25日–27日; 国庆节 10月1日–7日, 9月20日(周日)、10月10日(周六)上班.
    OfficialYear {
        year: 2026,
        rest: &[
            ((1, 1), (1, 3)),   // 元旦
            ((2, 15), (2, 23)), // 春节
            ((4, 4), (4, 6)),   // 清明节
            ((5, 1), (5, 5)),   // 劳动节
            ((6, 19), (6, 21)), // 端午节
            ((9, 25), (9, 27)), // 中秋节
            ((10, 1), (10, 7)), // 国庆节
        ],
        work: &[(1, 4), (2, 14), (2, 28), (5, 9), (9, 20), (10, 10)],
    },
];

/// A calendar with the State Council (国务院办公厅) holiday arrangements for `years`, default
/// working hours, and weekends as rest days. Only [`OFFICIAL_YEARS`] (2025 and 2026) are shipped;
/// any other year is an error. Outside the shipped years only weekends are rest days, so an
/// administrator must add later years' holidays by hand when the notice is published.
pub fn china_official(years: &[i32]) -> Result<Calendar, DeadlineError> {
    let mut cal = Calendar::default();
    for &year in years {
        let Some(official) = OFFICIAL.iter().find(|o| o.year == year) else {
            return Err(DeadlineError::NoOfficialCalendar { year });
        };
        for &((m0, d0), (m1, d1)) in official.rest {
            let first = Date::new(year, m0.into(), d0.into())?;
            let last = Date::new(year, m1.into(), d1.into())?;
            let mut d = first;
            while d <= last {
                cal.add_holiday(d);
                d = d.succ();
            }
        }
        for &(m, d) in official.work {
            cal.add_workday(Date::new(year, m.into(), d.into())?);
        }
    }
    Ok(cal)
}

impl Calendar {
    /// Weekends only, default working hours.
    pub fn new() -> Calendar {
        Calendar::default()
    }

    /// The official arrangement for one year; see [`china_official`].
    pub fn china(year: i32) -> Result<Calendar, DeadlineError> {
        china_official(&[year])
    }

    /// Marks a rest day (and removes it from the make-up workdays).
    pub fn add_holiday(&mut self, date: Date) {
        self.workdays.remove(&date);
        self.holidays.insert(date);
    }

    /// Marks a make-up working day (and removes it from the holidays).
    pub fn add_workday(&mut self, date: Date) {
        self.holidays.remove(&date);
        self.workdays.insert(date);
    }

    pub fn is_workday(&self, date: Date) -> bool {
        if self.holidays.contains(&date) {
            false
        } else if self.workdays.contains(&date) {
            true
        } else {
            !date.weekday().is_weekend()
        }
    }

    /// Whether an instant falls inside a working interval of a working day.
    pub fn is_working_time(&self, ms: i64) -> bool {
        let t = cst_time_of_day(ms);
        self.is_workday_n(cst_day(ms)) && self.hours.ms_intervals().any(|(a, b)| a <= t && t < b)
    }

    fn is_workday_n(&self, days: i64) -> bool {
        match Date::from_days_since_epoch(days) {
            Some(date) => self.is_workday(date),
            None => !Weekday::of_days(days).is_weekend(),
        }
    }

    /// Overrides whose day number lies in `[d0, d1)`.
    fn overrides_in<'a>(
        set: &'a BTreeSet<Date>,
        d0: i64,
        d1: i64,
    ) -> impl Iterator<Item = (Date, i64)> + 'a {
        let lo =
            Date::from_days_since_epoch(d0).unwrap_or(if d0 < 0 { Date::MIN } else { Date::MAX });
        set.range(lo..)
            .map(|&d| (d, d.days_since_epoch()))
            .skip_while(move |&(_, n)| n < d0)
            .take_while(move |&(_, n)| n < d1)
    }

    /// Number of working days with day number in `[d0, d1)`, in O(log n + overrides in range).
    fn count_workdays(&self, d0: i64, d1: i64) -> i64 {
        if d1 <= d0 {
            return 0;
        }
        // Mon–Fri in [MONDAY_ANCHOR, x); 1969-12-29 (day -3) was a Monday.
        let weekdays_before = |x: i64| {
            let k = x + 3;
            k.div_euclid(7) * 5 + k.rem_euclid(7).min(5)
        };
        let mut n = weekdays_before(d1) - weekdays_before(d0);
        for (_, day) in Self::overrides_in(&self.holidays, d0, d1) {
            if !Weekday::of_days(day).is_weekend() {
                n -= 1;
            }
        }
        for (date, day) in Self::overrides_in(&self.workdays, d0, d1) {
            if Weekday::of_days(day).is_weekend() && !self.holidays.contains(&date) {
                n += 1;
            }
        }
        n
    }

    /// The day number of the `n`-th working day strictly after day `day` (`n >= 1`).
    fn nth_workday_after(&self, day: i64, n: i64) -> i64 {
        let n = n.max(1);
        let holidays = i64::try_from(self.holidays.len()).unwrap_or(i64::MAX / 4);
        // Any 2n + 2h + 14 consecutive days hold at least n working days (see tests).
        let mut lo = day.saturating_add(1);
        let mut hi = day
            .saturating_add(n.saturating_mul(2))
            .saturating_add(holidays.saturating_mul(2))
            .saturating_add(14);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.count_workdays(day + 1, mid + 1) >= n {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

// ---------------------------------------------------------------------------------------------
// Deadline arithmetic
// ---------------------------------------------------------------------------------------------

/// `start_ms` plus `minutes` of natural (clock) time.
pub fn add_natural_minutes(start_ms: i64, minutes: u32) -> i64 {
    start_ms.saturating_add(i64::from(minutes) * MINUTE_MS)
}

/// The earliest instant by which `hours` working hours have elapsed since `start_ms`. Only
/// working intervals of working days count; a start outside working time begins at the next
/// working interval. When the time runs out exactly at the end of an interval the deadline is
/// that end (e.g. 12:00), not the start of the next one. Zero hours returns `start_ms`.
pub fn add_working_hours(cal: &Calendar, start_ms: i64, hours: u32) -> i64 {
    add_working_ms(cal, start_ms, i64::from(hours) * HOUR_MS)
}

/// Like [`add_working_hours`] for working minutes (e.g. a 30-minute 派单 limit in working time).
pub fn add_working_minutes(cal: &Calendar, start_ms: i64, minutes: u32) -> i64 {
    add_working_ms(cal, start_ms, i64::from(minutes) * MINUTE_MS)
}

fn add_working_ms(cal: &Calendar, start_ms: i64, amount_ms: i64) -> i64 {
    if amount_ms <= 0 {
        return start_ms;
    }
    let day = cst_day(start_ms);
    let t = cst_time_of_day(start_ms);
    let mut remaining = amount_ms;
    if cal.is_workday_n(day) {
        for (a, b) in cal.hours.ms_intervals() {
            let from = a.max(t);
            let available = b - from;
            if available <= 0 {
                continue;
            }
            if remaining <= available {
                return day_start_ms(day).saturating_add(from + remaining);
            }
            remaining -= available;
        }
    }
    // Whole working days follow; the last one is partly used.
    let per_day = cal.hours.per_day_ms().max(1);
    let k = (remaining + per_day - 1) / per_day;
    let mut residual = remaining - (k - 1) * per_day; // (0, per_day]
    let target = cal.nth_workday_after(day, k);
    for (a, b) in cal.hours.ms_intervals() {
        if residual <= b - a {
            return day_start_ms(target).saturating_add(a + residual);
        }
        residual -= b - a;
    }
    day_start_ms(target).saturating_add(i64::from(cal.hours.day_end_minute()) * MINUTE_MS)
}

/// The end of the `days`-th working day after the start (the 12345 convention, "次日起算"): the
/// day on which the case is received is never counted, whatever the hour, so a case received on
/// a working day counts from the next working day, and one received on a rest day counts from the
/// first working day after it. The deadline is the end of the last working interval of that day
/// (18:00 by default). Zero days returns `start_ms`.
///
/// Example (2025 arrangement): received Fri 2025-09-26 17:50 with 3 working days → Sun 09-28
/// (调休 workday) is day 1, Mon 09-29 day 2, Tue 09-30 day 3 → due 2025-09-30 18:00.
pub fn add_working_days(cal: &Calendar, start_ms: i64, days: u32) -> i64 {
    if days == 0 {
        return start_ms;
    }
    let target = cal.nth_workday_after(cst_day(start_ms), i64::from(days));
    day_start_ms(target).saturating_add(i64::from(cal.hours.day_end_minute()) * MINUTE_MS)
}

/// Working milliseconds in `[a, b)`: time inside working intervals of working days. Zero when
/// `b <= a`. Additive: `between(a, b) + between(b, c) == between(a, c)` for `a <= b <= c`.
pub fn working_ms_between(cal: &Calendar, a: i64, b: i64) -> i64 {
    if b <= a {
        return 0;
    }
    let (da, ta) = (cst_day(a), cst_time_of_day(a));
    let (db, tb) = (cst_day(b), cst_time_of_day(b));
    let part = |day: i64, lo: i64, hi: i64| {
        if cal.is_workday_n(day) {
            cal.hours.overlap_ms(lo, hi)
        } else {
            0
        }
    };
    if da == db {
        return part(da, ta, tb);
    }
    let whole = cal
        .count_workdays(da + 1, db)
        .saturating_mul(cal.hours.per_day_ms());
    part(da, ta, DAY_MS)
        .saturating_add(whole)
        .saturating_add(part(db, 0, tb))
}

// ---------------------------------------------------------------------------------------------
// Deadline specifications
// ---------------------------------------------------------------------------------------------

/// `2026-12-01 15:09`: an instant as people in China read it (China Standard Time).
pub fn format_cst(ms: i64) -> String {
    let date = Date::from_epoch_ms(ms);
    let minutes = (ms - date.start_ms()).div_euclid(60_000);
    format!("{date} {:02}:{:02}", minutes / 60, minutes % 60)
}

/// `2026-12-01T15:09:00+08:00`: an instant in the W3C profile of ISO 8601 that Open311 and
/// other machine clients exchange, always with China's offset.
pub fn format_w3c(ms: i64) -> String {
    let date = Date::from_epoch_ms(ms);
    let secs = (ms - date.start_ms()).div_euclid(1000);
    format!(
        "{date}T{:02}:{:02}:{:02}+08:00",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Reads a W3C date-time (`2010-01-01T00:00:00Z`, `…+08:00`, optional fractional seconds) into
/// epoch milliseconds. Without an offset (a browser's `datetime-local`, `2010-01-01T08:30`) or as a
/// bare date (midnight) it is China time. None when malformed.
pub fn parse_w3c(s: &str) -> Option<i64> {
    let s = s.trim();
    let date = Date::parse(s.get(..10)?).ok()?;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(date.start_ms());
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let bytes = rest.as_bytes();
    let two = |i: usize| -> Option<i64> {
        let a = *bytes.get(i)?;
        let b = *bytes.get(i + 1)?;
        (a.is_ascii_digit() && b.is_ascii_digit()).then(|| i64::from((a - b'0') * 10 + (b - b'0')))
    };
    let (h, mi) = (two(0)?, two(3)?);
    if bytes.get(2) != Some(&b':') || h > 23 || mi > 59 {
        return None;
    }
    let mut i = 5;
    let mut sec = 0;
    let mut frac_ms = 0;
    if bytes.get(5) == Some(&b':') {
        sec = two(6)?;
        if sec > 59 {
            return None;
        }
        i = 8;
        if bytes.get(8) == Some(&b'.') {
            i = 9;
            let start = i;
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let digits = &rest[start..i];
            if digits.is_empty() {
                return None;
            }
            let padded = format!("{digits:0<3}");
            frac_ms = padded.get(..3)?.parse::<i64>().ok()?;
        }
    }
    let offset_min = match &rest[i..] {
        "" => 8 * 60,
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let t = tz.as_bytes();
            if t[3] != b':' {
                return None;
            }
            let oh: i64 = tz[1..3].parse().ok()?;
            let om: i64 = tz[4..6].parse().ok()?;
            if oh > 14 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if t[0] == b'-' { -m } else { m }
        }
        _ => return None,
    };
    let utc_midnight = date.days_since_epoch() * DAY_MS;
    Some(utc_midnight + ((h * 60 + mi - offset_min) * 60 + sec) * 1000 + frac_ms)
}

/// A time limit as configured per category and stage. Serialised as
/// `{"unit": "working_days", "amount": 3}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "unit", content = "amount", rename_all = "snake_case")]
pub enum DeadlineSpec {
    /// Clock minutes, around the clock (e.g. a 5-minute response).
    NaturalMinutes(u32),
    /// 工作时: hours inside working intervals of working days.
    WorkingHours(u32),
    /// 工作日: until the end of the N-th working day after the day of receipt.
    WorkingDays(u32),
}

impl DeadlineSpec {
    /// The deadline for a case started at `start_ms`.
    pub fn due(self, cal: &Calendar, start_ms: i64) -> i64 {
        match self {
            DeadlineSpec::NaturalMinutes(m) => add_natural_minutes(start_ms, m),
            DeadlineSpec::WorkingHours(h) => add_working_hours(cal, start_ms, h),
            DeadlineSpec::WorkingDays(d) => add_working_days(cal, start_ms, d),
        }
    }

    /// Elapsed time in `[a, b)` in this spec's measure: natural time for `NaturalMinutes`,
    /// working time otherwise. Zero when `b <= a`.
    pub fn elapsed_ms(self, cal: &Calendar, a: i64, b: i64) -> i64 {
        match self {
            DeadlineSpec::NaturalMinutes(_) => b.saturating_sub(a).max(0),
            DeadlineSpec::WorkingHours(_) | DeadlineSpec::WorkingDays(_) => {
                working_ms_between(cal, a, b)
            }
        }
    }
}

/// `5分钟`, `2个工作时`, `3个工作日`; whole hours of natural time print as `24小时`.
impl fmt::Display for DeadlineSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DeadlineSpec::NaturalMinutes(m) if m >= 60 && m % 60 == 0 => {
                write!(f, "{}小时", m / 60)
            }
            DeadlineSpec::NaturalMinutes(m) => write!(f, "{m}分钟"),
            DeadlineSpec::WorkingHours(h) => write!(f, "{h}个工作时"),
            DeadlineSpec::WorkingDays(d) => write!(f, "{d}个工作日"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Colour warning (分色预警)
// ---------------------------------------------------------------------------------------------

/// How urgent a case is; urgent cases warn earlier.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    #[default]
    Normal,
    Urgent,
    Critical,
}

/// Shares of the deadline used (percent) at which a case turns yellow and orange. Every case
/// turns red at [`RED_PCT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub yellow_pct: u8,
    pub orange_pct: u8,
}

/// Normal cases: yellow from 50 %, orange from 80 %.
pub const NORMAL_THRESHOLDS: Thresholds = Thresholds {
    yellow_pct: 50,
    orange_pct: 80,
};
/// Urgent (紧急) cases: yellow from 40 %, orange from 70 %.
pub const URGENT_THRESHOLDS: Thresholds = Thresholds {
    yellow_pct: 40,
    orange_pct: 70,
};
/// Critical (特急) cases: yellow from 30 %, orange from 60 %.
pub const CRITICAL_THRESHOLDS: Thresholds = Thresholds {
    yellow_pct: 30,
    orange_pct: 60,
};
/// Every case is red (overdue) once the deadline is reached.
pub const RED_PCT: u8 = 100;

impl Urgency {
    pub fn thresholds(self) -> Thresholds {
        match self {
            Urgency::Normal => NORMAL_THRESHOLDS,
            Urgency::Urgent => URGENT_THRESHOLDS,
            Urgency::Critical => CRITICAL_THRESHOLDS,
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Urgency::Normal => "一般",
            Urgency::Urgent => "紧急",
            Urgency::Critical => "特急",
        }
    }
}

/// The colour of a case against its deadline, from calm to overdue (ordered, so `max` gives the
/// worst of several).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warning {
    /// Normal: less than the yellow threshold used.
    Blue,
    /// Past the yellow threshold (half the time for a normal case).
    Yellow,
    /// Close to the deadline.
    Orange,
    /// Overdue.
    Red,
}

impl Warning {
    pub fn as_str(self) -> &'static str {
        match self {
            Warning::Blue => "blue",
            Warning::Yellow => "yellow",
            Warning::Orange => "orange",
            Warning::Red => "red",
        }
    }

    /// Colour and meaning, e.g. `红（已超期）`.
    pub fn zh(self) -> &'static str {
        match self {
            Warning::Blue => "蓝（正常）",
            Warning::Yellow => "黄（时限过半）",
            Warning::Orange => "橙（即将超期）",
            Warning::Red => "红（已超期）",
        }
    }

    /// The colour alone: 蓝 / 黄 / 橙 / 红.
    pub fn colour_zh(self) -> &'static str {
        match self {
            Warning::Blue => "蓝",
            Warning::Yellow => "黄",
            Warning::Orange => "橙",
            Warning::Red => "红",
        }
    }
}

/// Share of the deadline used at `now` (0.0 at `start`, 1.0 at `due`), in the spec's measure
/// (see [`DeadlineSpec::elapsed_ms`]); measured from `start`, so the part of the day of receipt
/// that a working-day limit does not count still counts as used. For dashboards; [`warning`]
/// uses exact integer comparisons.
pub fn share_used(cal: &Calendar, spec: DeadlineSpec, start: i64, due: i64, now: i64) -> f64 {
    let total = spec.elapsed_ms(cal, start, due);
    let used = spec.elapsed_ms(cal, start, now);
    if total <= 0 {
        return if now >= due { 1.0 } else { 0.0 };
    }
    used as f64 / total as f64
}

/// The colour warning (分色预警) of a case started at `start`, due at `due` (possibly extended,
/// so not necessarily `spec.due(start)`), seen at `now`. Red once `now >= due`; otherwise the
/// share used (see [`share_used`]) against [`Urgency::thresholds`].
pub fn warning(
    cal: &Calendar,
    spec: DeadlineSpec,
    start: i64,
    due: i64,
    now: i64,
    urgency: Urgency,
) -> Warning {
    if now >= due {
        return Warning::Red;
    }
    let total = i128::from(spec.elapsed_ms(cal, start, due));
    let used = i128::from(spec.elapsed_ms(cal, start, now));
    if total <= 0 {
        return Warning::Blue;
    }
    let th = urgency.thresholds();
    let reached = |pct: u8| used * 100 >= total * i128::from(pct);
    if reached(RED_PCT) {
        Warning::Red
    } else if reached(th.orange_pct) {
        Warning::Orange
    } else if reached(th.yellow_pct) {
        Warning::Yellow
    } else {
        Warning::Blue
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn w3c_date_times_round_trip_with_any_offset() {
        let ms = parse_w3c("2026-12-01T00:30:00Z").unwrap();
        assert_eq!(format_w3c(ms), "2026-12-01T08:30:00+08:00");
        assert_eq!(parse_w3c("2026-12-01T08:30:00+08:00"), Some(ms));
        assert_eq!(parse_w3c("2026-11-30T19:30:00-05:00"), Some(ms));
        assert_eq!(parse_w3c("2026-12-01T00:30:00.250Z"), Some(ms + 250));
        assert_eq!(parse_w3c("2026-12-01T08:30+08:00"), Some(ms));
        assert_eq!(
            parse_w3c("2026-12-01T08:30"),
            Some(ms),
            "no offset: China time"
        );
        assert_eq!(
            parse_w3c("2026-12-01"),
            Some(Date::new(2026, 12, 1).unwrap().start_ms())
        );
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T08:30:00X",
            "2026-12-01T08:30:00+0800",
            "yesterday",
            "2026-12-01T08:30:61Z",
        ] {
            assert_eq!(parse_w3c(bad), None, "{bad}");
        }
    }
    use proptest::prelude::*;

    fn date(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    /// Epoch ms of a CST wall-clock time.
    fn cst(d: &str, h: i64, m: i64) -> i64 {
        date(d).start_ms() + h * HOUR_MS + m * MINUTE_MS
    }

    fn show(ms: i64) -> String {
        let t = cst_time_of_day(ms);
        format!(
            "{} {:02}:{:02}:{:02}",
            Date::from_epoch_ms(ms),
            t / HOUR_MS,
            t % HOUR_MS / MINUTE_MS,
            t % MINUTE_MS / 1000
        )
    }

    fn official() -> Calendar {
        china_official(&OFFICIAL_YEARS).unwrap()
    }

    #[test]
    fn civil_round_trip_and_known_days() {
        assert_eq!(date("1970-01-01").days_since_epoch(), 0);
        assert_eq!(date("2000-03-01").days_since_epoch(), 11_017);
        assert_eq!(date("1969-12-31").days_since_epoch(), -1);
        assert_eq!(
            Date::from_days_since_epoch(20_000).unwrap().to_string(),
            "2024-10-04"
        );
        assert_eq!(date("1970-01-01").weekday(), Weekday::Thu);
        assert_eq!(date("2000-02-29").weekday(), Weekday::Tue);
        assert_eq!(date("2024-02-29").weekday(), Weekday::Thu);
        assert_eq!(date("2025-10-01").weekday(), Weekday::Wed);
        assert_eq!(date("2025-09-26").weekday(), Weekday::Fri);
        assert_eq!(date("2026-02-17").weekday(), Weekday::Tue);
        assert_eq!(date("0001-01-01").weekday(), Weekday::Mon);
        assert_eq!(date("2025-12-31").succ(), date("2026-01-01"));
        assert_eq!(date("2024-02-28").succ(), date("2024-02-29"));
        // 2025-10-01 00:00 CST is 2025-09-30 16:00 UTC.
        assert_eq!(date("2025-10-01").start_ms(), 1_759_248_000_000);
        assert_eq!(
            Date::from_epoch_ms(1_759_248_000_000 - 1),
            date("2025-09-30")
        );
        assert_eq!(Date::from_epoch_ms(i64::MIN), Date::MIN);
        assert_eq!(Date::from_epoch_ms(i64::MAX), Date::MAX);
        assert_eq!(weekday_zh("2025-09-28"), "周日");
    }

    fn weekday_zh(s: &str) -> &'static str {
        date(s).weekday().zh()
    }

    #[test]
    fn date_validation_names_field_and_rule() {
        assert_eq!(date("2024-02-29").to_string(), "2024-02-29");
        let e = Date::parse("2025-02-29").unwrap_err();
        assert!(matches!(e, DeadlineError::Day { max: 28, .. }), "{e}");
        assert!(e.to_string().contains("2025 年 2 月只有 28 天"), "{e}");
        assert!(Date::parse("1900-02-29").is_err());
        assert!(Date::parse("2000-02-29").is_ok());
        let e = Date::parse("2025-13-01").unwrap_err();
        assert!(e.to_string().contains("月份 13"), "{e}");
        let e = Date::parse("0000-01-01").unwrap_err();
        assert!(e.to_string().contains("年份"), "{e}");
        for bad in [
            "2025-1-01",
            "2025/01/01",
            "20250101",
            "",
            "2025-01-0x",
            "２０２５-01-01",
        ] {
            let e = Date::parse(bad).unwrap_err();
            assert!(matches!(e, DeadlineError::DateFormat { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("YYYY-MM-DD"));
        }
        assert!(Date::new(2025, 4, 31).is_err());
        assert!(Date::new(10_000, 1, 1).is_err());
        assert_eq!(
            serde_json::to_string(&date("2025-10-01")).unwrap(),
            "\"2025-10-01\""
        );
        assert!(serde_json::from_str::<Date>("\"2025-02-30\"").is_err());
    }

    #[test]
    fn working_hours_validation_and_format() {
        let h = WorkingHours::default();
        assert_eq!(h.to_string(), "08:30-12:00,14:30-18:00");
        assert_eq!(h.per_day_ms(), 7 * HOUR_MS);
        assert_eq!(WorkingHours::parse("08:30–12:00，14:30-18:00").unwrap(), h);
        assert_eq!(
            WorkingHours::new(vec![]).unwrap_err(),
            DeadlineError::NoWorkingHours
        );
        let e = WorkingHours::new(vec![(600, 540)]).unwrap_err();
        assert!(e.to_string().contains("10:00–09:00"), "{e}");
        assert!(WorkingHours::new(vec![(0, 1441)]).is_err());
        assert!(WorkingHours::new(vec![(0, 1440)]).is_ok());
        let e = WorkingHours::new(vec![(510, 720), (700, 800)]).unwrap_err();
        assert!(e.to_string().contains("重叠"), "{e}");
        assert!(WorkingHours::parse("8:30-12").is_err());
        assert!(WorkingHours::parse("25:00-26:00").is_err());
        assert!(serde_json::from_str::<WorkingHours>("[]").is_err());
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, "[[510,720],[870,1080]]");
    }

    #[test]
    fn official_calendar_2025_and_2026() {
        let cal = official();
        // Every make-up workday is a weekend day, and every listed rest day is a rest day.
        for s in [
            "2025-01-26",
            "2025-02-08",
            "2025-04-27",
            "2025-09-28",
            "2025-10-11",
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10",
        ] {
            assert!(date(s).weekday().is_weekend(), "{s}");
            assert!(cal.is_workday(date(s)), "{s}");
        }
        for s in [
            "2025-01-01",
            "2025-01-28",
            "2025-02-04",
            "2025-05-05",
            "2025-06-02",
            "2025-10-08",
            "2026-01-02",
            "2026-02-23",
            "2026-04-06",
            "2026-06-19",
            "2026-09-25",
            "2026-10-07",
        ] {
            assert!(!cal.is_workday(date(s)), "{s}");
        }
        // Dates stated with their weekday in the 2026 notice.
        assert_eq!(date("2026-01-01").weekday(), Weekday::Thu);
        assert_eq!(date("2026-02-15").weekday(), Weekday::Sun);
        assert_eq!(date("2026-02-23").weekday(), Weekday::Mon);
        assert_eq!(date("2026-05-05").weekday(), Weekday::Tue);
        assert_eq!(date("2026-10-07").weekday(), Weekday::Wed);
        // Ordinary days.
        assert!(cal.is_workday(date("2025-10-09")));
        assert!(!cal.is_workday(date("2025-10-12")));
        assert!(cal.is_workday(date("2027-01-04")));
        assert_eq!(cal.holidays.len(), 28 + 33);
        assert_eq!(cal.workdays.len(), 11);
        assert_eq!(
            Calendar::china(2027).unwrap_err(),
            DeadlineError::NoOfficialCalendar { year: 2027 }
        );
        assert_eq!(Calendar::china(2025).unwrap().workdays.len(), 5);
        // Serde round trip keeps the calendar.
        let json = serde_json::to_string(&cal).unwrap();
        assert_eq!(serde_json::from_str::<Calendar>(&json).unwrap(), cal);
    }

    #[test]
    fn editing_overrides() {
        let mut cal = Calendar::new();
        let d = date("2025-03-08"); // Saturday
        assert!(!cal.is_workday(d));
        cal.add_workday(d);
        assert!(cal.is_workday(d));
        cal.add_holiday(d);
        assert!(!cal.is_workday(d));
        assert!(cal.workdays.is_empty());
        // Holiday wins when both sets hold a date.
        cal.workdays.insert(d);
        assert!(!cal.is_workday(d));
    }

    #[test]
    fn working_days_over_national_day_2025() {
        let cal = official();
        let due = add_working_days(&cal, cst("2025-09-26", 17, 50), 3);
        assert_eq!(show(due), "2025-09-30 18:00:00");
        // The hour of receipt does not matter: the day of receipt is never counted.
        assert_eq!(add_working_days(&cal, cst("2025-09-26", 9, 0), 3), due);
        assert_eq!(
            show(add_working_days(&cal, cst("2025-09-26", 17, 50), 1)),
            "2025-09-28 18:00:00"
        );
        // Across the eight-day holiday: Oct 9 (Thu), Oct 10 (Fri), Oct 11 (Sat, 调休).
        let start = cst("2025-09-30", 10, 0);
        assert_eq!(
            show(add_working_days(&cal, start, 1)),
            "2025-10-09 18:00:00"
        );
        assert_eq!(
            show(add_working_days(&cal, start, 2)),
            "2025-10-10 18:00:00"
        );
        assert_eq!(
            show(add_working_days(&cal, start, 3)),
            "2025-10-11 18:00:00"
        );
        assert_eq!(
            show(add_working_days(&cal, start, 4)),
            "2025-10-13 18:00:00"
        );
        // Received during the holiday: counts from the first working day after it.
        assert_eq!(
            show(add_working_days(&cal, cst("2025-10-03", 11, 0), 1)),
            "2025-10-09 18:00:00"
        );
        // 13 working days for a complaint (anchors 1.3): Oct 9, 10, 11 (Sat), 13–17, 20–24.
        assert_eq!(
            show(add_working_days(&cal, start, 13)),
            "2025-10-24 18:00:00"
        );
        assert_eq!(add_working_days(&cal, start, 0), start);
    }

    #[test]
    fn working_days_over_spring_festival_2025() {
        let cal = official();
        let due = add_working_days(&cal, cst("2025-01-27", 10, 0), 2);
        assert_eq!(show(due), "2025-02-06 18:00:00");
        // Received Saturday Jan 25: Sunday Jan 26 is a make-up workday.
        assert_eq!(
            show(add_working_days(&cal, cst("2025-01-25", 10, 0), 1)),
            "2025-01-26 18:00:00"
        );
        assert_eq!(
            show(add_working_days(&cal, cst("2025-01-25", 10, 0), 2)),
            "2025-01-27 18:00:00"
        );
        assert_eq!(
            show(add_working_days(&cal, cst("2025-01-25", 10, 0), 3)),
            "2025-02-05 18:00:00"
        );
        // 2026 Spring Festival: Feb 14 (Sat) works, Feb 15–23 rest.
        assert_eq!(
            show(add_working_days(&cal, cst("2026-02-13", 16, 0), 2)),
            "2026-02-24 18:00:00"
        );
    }

    #[test]
    fn working_hours_lunch_weekend_and_holidays() {
        let cal = official();
        let wh = |s: i64, h: u32| show(add_working_hours(&cal, s, h));
        // Across lunch: 11:00–12:00, then 14:30–15:30.
        assert_eq!(wh(cst("2025-03-03", 11, 0), 2), "2025-03-03 15:30:00");
        // Exactly to the end of the morning: due 12:00, not 14:30.
        assert_eq!(wh(cst("2025-03-03", 8, 30), 3), "2025-03-03 11:30:00");
        assert_eq!(
            show(add_working_minutes(&cal, cst("2025-03-03", 8, 30), 210)),
            "2025-03-03 12:00:00"
        );
        assert_eq!(wh(cst("2025-03-03", 8, 30), 7), "2025-03-03 18:00:00");
        // Start during lunch begins at 14:30.
        assert_eq!(wh(cst("2025-03-03", 12, 30), 1), "2025-03-03 15:30:00");
        // Start before work.
        assert_eq!(wh(cst("2025-03-03", 6, 0), 1), "2025-03-03 09:30:00");
        // Across a weekend: Fri 17:00–18:00, Mon 08:30–09:30.
        assert_eq!(wh(cst("2025-03-07", 17, 0), 2), "2025-03-10 09:30:00");
        // Start on Saturday.
        assert_eq!(wh(cst("2025-03-08", 10, 0), 1), "2025-03-10 09:30:00");
        // Over 春节 2025: 1 h on Jan 27, then Feb 5 from 08:30.
        assert_eq!(wh(cst("2025-01-27", 17, 0), 4), "2025-02-05 11:30:00");
        // Saturday Sep 27 → Sunday Sep 28 is a make-up workday.
        assert_eq!(wh(cst("2025-09-27", 9, 0), 2), "2025-09-28 10:30:00");
        // Several whole days.
        assert_eq!(wh(cst("2025-03-03", 8, 30), 14), "2025-03-04 18:00:00");
        assert_eq!(wh(cst("2025-03-03", 8, 30), 15), "2025-03-05 09:30:00");
        assert_eq!(add_working_hours(&cal, 123, 0), 123);
    }

    #[test]
    fn natural_minutes_across_midnight() {
        assert_eq!(
            show(add_natural_minutes(cst("2025-03-03", 23, 50), 30)),
            "2025-03-04 00:20:00"
        );
        // Holidays do not matter for natural time.
        assert_eq!(
            show(add_natural_minutes(cst("2025-09-30", 23, 55), 5)),
            "2025-10-01 00:00:00"
        );
        assert_eq!(add_natural_minutes(i64::MAX - 1, 5), i64::MAX);
    }

    #[test]
    fn working_ms_between_examples() {
        let cal = official();
        let h = |a: i64, b: i64| working_ms_between(&cal, a, b) as f64 / HOUR_MS as f64;
        assert_eq!(h(cst("2025-03-07", 17, 0), cst("2025-03-10", 9, 30)), 2.0);
        assert_eq!(h(cst("2025-03-03", 11, 0), cst("2025-03-03", 15, 0)), 1.5);
        assert_eq!(h(cst("2025-03-03", 0, 0), cst("2025-03-10", 0, 0)), 35.0);
        assert_eq!(h(cst("2025-09-29", 0, 0), cst("2025-10-13", 0, 0)), 35.0);
        assert_eq!(h(cst("2025-03-03", 15, 0), cst("2025-03-03", 11, 0)), 0.0);
        // Extremes do not panic.
        let _ = working_ms_between(&cal, i64::MIN, i64::MAX);
        let _ = add_working_days(&cal, i64::MAX - 1, u32::MAX);
        let _ = add_working_hours(&cal, i64::MIN, u32::MAX);
    }

    #[test]
    fn huge_limits_are_fast_and_consistent() {
        let cal = official();
        let start = cst("2025-01-01", 9, 0);
        let due = add_working_days(&cal, start, u32::MAX);
        assert!(due > start);
        let due = add_working_hours(&cal, start, 1_000_000);
        assert_eq!(working_ms_between(&cal, start, due), 1_000_000 * HOUR_MS);
    }

    #[test]
    fn spec_display_serde_and_due() {
        assert_eq!(DeadlineSpec::NaturalMinutes(5).to_string(), "5分钟");
        assert_eq!(DeadlineSpec::NaturalMinutes(90).to_string(), "90分钟");
        assert_eq!(DeadlineSpec::NaturalMinutes(1440).to_string(), "24小时");
        assert_eq!(DeadlineSpec::WorkingHours(2).to_string(), "2个工作时");
        assert_eq!(DeadlineSpec::WorkingDays(3).to_string(), "3个工作日");
        let spec = DeadlineSpec::WorkingDays(3);
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(json, r#"{"unit":"working_days","amount":3}"#);
        assert_eq!(serde_json::from_str::<DeadlineSpec>(&json).unwrap(), spec);
        let cal = official();
        let start = cst("2025-09-26", 17, 50);
        assert_eq!(show(spec.due(&cal, start)), "2025-09-30 18:00:00");
        assert_eq!(
            show(DeadlineSpec::WorkingHours(2).due(&cal, start)),
            "2025-09-28 10:20:00"
        );
        assert_eq!(
            show(DeadlineSpec::NaturalMinutes(30).due(&cal, start)),
            "2025-09-26 18:20:00"
        );
    }

    #[test]
    fn warning_natural_thresholds() {
        let cal = Calendar::new();
        let spec = DeadlineSpec::NaturalMinutes(10);
        let start = cst("2025-03-03", 10, 0);
        let due = spec.due(&cal, start);
        let at = |min: i64, u: Urgency| warning(&cal, spec, start, due, start + min * MINUTE_MS, u);
        use Urgency::*;
        use Warning::*;
        let expect = [
            (
                Normal,
                [
                    Blue, Blue, Blue, Blue, Blue, Yellow, Yellow, Yellow, Orange, Orange, Red,
                ],
            ),
            (
                Urgent,
                [
                    Blue, Blue, Blue, Blue, Yellow, Yellow, Yellow, Orange, Orange, Orange, Red,
                ],
            ),
            (
                Critical,
                [
                    Blue, Blue, Blue, Yellow, Yellow, Yellow, Orange, Orange, Orange, Orange, Red,
                ],
            ),
        ];
        for (u, colours) in expect {
            for (min, c) in colours.into_iter().enumerate() {
                assert_eq!(at(min as i64, u), c, "{u:?} at {min} min");
            }
        }
        assert_eq!(at(-5, Normal), Blue);
        assert_eq!(at(1000, Normal), Red);
        assert_eq!(Red.zh(), "红（已超期）");
        assert_eq!(Blue.colour_zh(), "蓝");
        assert!(Red > Orange && Orange > Yellow && Yellow > Blue);
        assert_eq!(serde_json::to_string(&Orange).unwrap(), "\"orange\"");
    }

    #[test]
    fn warning_working_time_ignores_holidays() {
        let cal = official();
        let spec = DeadlineSpec::WorkingDays(1);
        let start = cst("2025-09-30", 10, 0);
        let due = spec.due(&cal, start); // 2025-10-09 18:00
        // 5.5 working hours used on Sep 30 out of 12.5: still blue during the holiday.
        let now = cst("2025-10-05", 12, 0);
        assert_eq!(
            warning(&cal, spec, start, due, now, Urgency::Normal),
            Warning::Blue
        );
        assert!((share_used(&cal, spec, start, due, now) - 5.5 / 12.5).abs() < 1e-9);
        // Critical: 44 % is already yellow.
        assert_eq!(
            warning(&cal, spec, start, due, now, Urgency::Critical),
            Warning::Yellow
        );
        // Oct 9 at 10:00: 7 of 12.5 h = 56 % → yellow; at 16:00: 11 h = 88 % → orange.
        let w = |h, m| {
            warning(
                &cal,
                spec,
                start,
                due,
                cst("2025-10-09", h, m),
                Urgency::Normal,
            )
        };
        assert_eq!(w(10, 0), Warning::Yellow);
        assert_eq!(w(16, 0), Warning::Orange);
        assert_eq!(w(18, 0), Warning::Red);
        // An extended due date keeps the case blue longer.
        let extended = add_working_days(&cal, start, 5);
        let now = cst("2025-10-09", 16, 0);
        assert_eq!(
            warning(&cal, spec, start, extended, now, Urgency::Normal),
            Warning::Blue
        );
        // A zero-length deadline is blue before and red from its due instant.
        assert_eq!(
            warning(&cal, spec, start, start, start, Urgency::Normal),
            Warning::Red
        );
    }

    /// Instants between 2024-12-01 and 2027-01-31 CST, at minute resolution.
    fn instant() -> impl Strategy<Value = i64> {
        let lo = date("2024-12-01").start_ms() / MINUTE_MS;
        let hi = date("2027-01-31").start_ms() / MINUTE_MS;
        (lo..hi).prop_map(|m| m * MINUTE_MS)
    }

    /// Random valid working hours: 1–4 intervals from sorted distinct minutes.
    fn hours() -> impl Strategy<Value = WorkingHours> {
        proptest::collection::btree_set(0u16..=1440, 2..=8).prop_map(|points| {
            let p: Vec<u16> = points.into_iter().collect();
            let pairs = p.chunks_exact(2).map(|c| (c[0], c[1])).collect();
            WorkingHours::new(pairs).unwrap()
        })
    }

    fn custom_calendar() -> impl Strategy<Value = Calendar> {
        let day = (date("2024-12-01").days_since_epoch()..date("2027-01-31").days_since_epoch())
            .prop_map(|n| Date::from_days_since_epoch(n).unwrap());
        (
            hours(),
            proptest::collection::btree_set(day.clone(), 0..40),
            proptest::collection::btree_set(day, 0..40),
        )
            .prop_map(|(hours, holidays, workdays)| Calendar {
                holidays,
                workdays,
                hours,
            })
    }

    /// The deadline is the end of a working interval on a working day.
    fn ends_an_interval(cal: &Calendar, due: i64) -> bool {
        let before = due - 1;
        let t = cst_time_of_day(before) + 1;
        cal.is_working_time(before) && cal.hours.ms_intervals().any(|(_, b)| b == t)
    }

    proptest! {
        #[test]
        fn date_round_trip(n in Date::MIN.days_since_epoch()..=Date::MAX.days_since_epoch()) {
            let d = Date::from_days_since_epoch(n).unwrap();
            prop_assert_eq!(d.days_since_epoch(), n);
            prop_assert_eq!(Date::parse(&d.to_string()).unwrap(), d);
            prop_assert_eq!(Date::from_epoch_ms(d.start_ms()), d);
            prop_assert_eq!(Date::from_epoch_ms(d.start_ms() + DAY_MS - 1), d);
            prop_assert_eq!(d.succ().days_since_epoch(), if d == Date::MAX { n } else { n + 1 });
        }

        #[test]
        fn days_monotonic_in_count(start in instant(), a in 0u32..60, b in 0u32..60) {
            let cal = official();
            let (a, b) = (a.min(b), a.max(b));
            let (da, db) = (add_working_days(&cal, start, a), add_working_days(&cal, start, b));
            prop_assert!(da <= db);
            if a < b { prop_assert!(da < db); }
        }

        #[test]
        fn days_monotonic_in_start(s1 in instant(), s2 in instant(), n in 0u32..40) {
            let cal = official();
            let (s1, s2) = (s1.min(s2), s1.max(s2));
            prop_assert!(add_working_days(&cal, s1, n) <= add_working_days(&cal, s2, n));
        }

        #[test]
        fn days_land_at_end_of_working_day(start in instant(), n in 1u32..40) {
            let cal = official();
            let due = add_working_days(&cal, start, n);
            prop_assert!(cal.is_workday(Date::from_epoch_ms(due)), "{}", show(due));
            prop_assert_eq!(cst_time_of_day(due), 18 * HOUR_MS);
            prop_assert!(ends_an_interval(&cal, due));
            // Exactly n working days strictly after the day of receipt, up to and including due.
            let days = cal.count_workdays(cst_day(start) + 1, cst_day(due) + 1);
            prop_assert_eq!(days, i64::from(n));
        }

        #[test]
        fn days_custom_calendar(cal in custom_calendar(), start in instant(), n in 1u32..30) {
            let due = add_working_days(&cal, start, n);
            prop_assert!(ends_an_interval(&cal, due), "{}", show(due));
            prop_assert!(add_working_days(&cal, start, n + 1) > due);
        }

        #[test]
        fn hours_inverse_of_between(start in instant(), h in 0u32..200) {
            let cal = official();
            let due = add_working_hours(&cal, start, h);
            prop_assert_eq!(working_ms_between(&cal, start, due), i64::from(h) * HOUR_MS);
            if h > 0 {
                prop_assert!(cal.is_working_time(due - 1), "{}", show(due));
                // Earliest such instant: one millisecond earlier is not enough.
                prop_assert!(working_ms_between(&cal, start, due - 1) < i64::from(h) * HOUR_MS);
            }
        }

        #[test]
        fn hours_inside_working_time(start in instant(), h in 1u32..100) {
            let cal = official();
            // Move the start into working time first, then check the round trip.
            let inside = add_working_minutes(&cal, start, 1) - MINUTE_MS;
            prop_assert!(cal.is_working_time(inside), "{}", show(inside));
            let due = add_working_hours(&cal, inside, h);
            prop_assert_eq!(working_ms_between(&cal, inside, due), i64::from(h) * HOUR_MS);
        }

        #[test]
        fn hours_custom_calendar(cal in custom_calendar(), start in instant(), m in 0u32..20_000) {
            let due = add_working_minutes(&cal, start, m);
            prop_assert_eq!(working_ms_between(&cal, start, due), i64::from(m) * MINUTE_MS);
            if m > 0 {
                prop_assert!(cal.is_working_time(due - 1), "{}", show(due));
            }
        }

        #[test]
        fn between_is_additive(a in instant(), b in instant(), c in instant()) {
            let cal = official();
            let mut v = [a, b, c];
            v.sort();
            let [a, b, c] = v;
            prop_assert_eq!(
                working_ms_between(&cal, a, b) + working_ms_between(&cal, b, c),
                working_ms_between(&cal, a, c)
            );
        }

        #[test]
        fn count_matches_naive(cal in custom_calendar(), d0 in 20_000i64..20_900, len in 0i64..400) {
            let naive = (d0..d0 + len).filter(|&d| cal.is_workday_n(d)).count() as i64;
            prop_assert_eq!(cal.count_workdays(d0, d0 + len), naive);
        }

        #[test]
        fn search_bound_holds(cal in custom_calendar(), d in 20_000i64..20_900, n in 1i64..100) {
            // nth_workday_after's upper bound 2n + 2h + 14 always holds n working days.
            let h = cal.holidays.len() as i64;
            prop_assert!(cal.count_workdays(d + 1, d + 1 + 2 * n + 2 * h + 14) >= n);
        }

        #[test]
        fn warning_monotonic_in_now(start in instant(), n in 1u32..10, t1 in 0i64..20_000, t2 in 0i64..20_000) {
            let cal = official();
            let spec = DeadlineSpec::WorkingDays(n);
            let due = spec.due(&cal, start);
            let (t1, t2) = (t1.min(t2), t1.max(t2));
            for u in [Urgency::Normal, Urgency::Urgent, Urgency::Critical] {
                let w1 = warning(&cal, spec, start, due, start + t1 * MINUTE_MS, u);
                let w2 = warning(&cal, spec, start, due, start + t2 * MINUTE_MS, u);
                prop_assert!(w1 <= w2);
            }
        }
    }
}
