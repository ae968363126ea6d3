//! Aggregates over the cases of one region subtree and period, for the statistics page.
//!
//! The figures come from the daily rollups of migration 0004: every case counts once in each
//! region on its path, on the CST day it was reported, so a region's period is a few hundred
//! rows of that region ([`case_rollup`](#rollups)) and its children's figures the rows one
//! level deeper, whatever the number of cases. The rollups are kept in step with `cases` in the
//! transaction of every case write ([`RollupDelta`]: the case's old contribution out, the new
//! one in, one upsert per rollup table that changes) and can be rebuilt from `cases`
//! ([`Store::rebuild_stats_rollup`]).
//!
//! A period that does not start and end at CST midnight (the page only asks for whole days) is
//! answered from `cases` directly through the index `cases_created` (migration 0005);
//! [`Store::case_stats_direct`] is also the reference the rollups are tested against.
//!
//! Both return sums the domain turns into indicators ([`jinlin_domain::stats`]).

use std::collections::BTreeMap;

use jinlin_domain::cases::Stage;
use jinlin_domain::stats::{Counts, RESPONSE_BUCKETS_MS};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::sql::{Sql, Val, scope_bounds};
use crate::{Backend, Store, StoreError};

const DAY_MS: i64 = 86_400_000;
/// UTC+8: days are China Standard Time days (domain::deadlines::CST_OFFSET_MS).
const CST_OFFSET_MS: i64 = 28_800_000;
/// Buckets of the response-time histogram: one more than bounds.
const BUCKETS: usize = RESPONSE_BUCKETS_MS.len() + 1;

/// Which cases: those of `tenant` (the district) under `scope_path`, created in `[from, to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsQuery {
    pub tenant: String,
    pub scope_path: String,
    pub from: i64,
    pub to: i64,
}

/// Cases of one category (merged duplicates left out).
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryCount {
    pub category_id: i64,
    pub name: String,
    pub cases: i64,
    pub closed: i64,
    pub rated: i64,
    /// 满意 + 基本满意
    pub content: i64,
}

/// One day of the trend (China Standard Time), merged duplicates left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCount {
    /// Days since 1970-01-01 (CST).
    pub day: i64,
    pub cases: i64,
    /// Of those, closed by now.
    pub closed: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseStats {
    /// Sums per (path, stage), where the path is a child region of the scope (its cases and
    /// those below it) or the scope itself (cases located at the scope region); ordered by path,
    /// then stage as in [`Stage::ALL`]. Totals are folded from these.
    pub by_path: Vec<(String, Stage, Counts)>,
    /// Most cases first.
    pub categories: Vec<CategoryCount>,
    /// (channel, cases), most first.
    pub channels: Vec<(String, i64)>,
    pub days: Vec<DayCount>,
    /// Responded cases per bucket of [`RESPONSE_BUCKETS_MS`] (one more bucket than bounds).
    pub response_histogram: Vec<i64>,
}

// ----- reading the rollups -----------------------------------------------------------------------

/// The filter of every rollup query: `$1` tenant, `$2` depth, `$3`/`$4` path range, `$5`/`$6`
/// days. The order matches the primary keys (tenant, depth, region_path, day, …).
macro_rules! rollup_where {
    ($table:literal) => {
        concat!(
            " FROM ",
            $table,
            " r WHERE r.tenant = $1 AND r.depth = $2 AND r.region_path >= $3 \
             AND r.region_path < $4 AND r.day >= $5 AND r.day < $6"
        )
    };
}

/// Sums per (region, stage) of the regions at one depth of a path range.
const ROLLUP_BY_NODE: &str = concat!(
    "SELECT r.region_path, r.stage, CAST(SUM(r.cases) AS BIGINT) AS n, \
     CAST(SUM(r.responded) AS BIGINT) AS responded, \
     CAST(SUM(r.response_ms) AS BIGINT) AS response_ms, \
     CAST(SUM(r.resolved) AS BIGINT) AS resolved, CAST(SUM(r.on_time) AS BIGINT) AS on_time, \
     CAST(SUM(r.rework) AS BIGINT) AS rework, CAST(SUM(r.rated) AS BIGINT) AS rated, \
     CAST(SUM(r.satisfied) AS BIGINT) AS satisfied, CAST(SUM(r.basic) AS BIGINT) AS basic, \
     CAST(SUM(r.overdue) AS BIGINT) AS overdue, CAST(SUM(r.h0) AS BIGINT) AS h0, \
     CAST(SUM(r.h1) AS BIGINT) AS h1, CAST(SUM(r.h2) AS BIGINT) AS h2, \
     CAST(SUM(r.h3) AS BIGINT) AS h3, CAST(SUM(r.h4) AS BIGINT) AS h4, \
     CAST(SUM(r.h5) AS BIGINT) AS h5, CAST(SUM(r.h6) AS BIGINT) AS h6, \
     CAST(SUM(r.h7) AS BIGINT) AS h7, CAST(SUM(r.h8) AS BIGINT) AS h8, \
     CAST(SUM(r.h9) AS BIGINT) AS h9, CAST(SUM(r.h10) AS BIGINT) AS h10, \
     CAST(SUM(r.h11) AS BIGINT) AS h11, CAST(SUM(r.h12) AS BIGINT) AS h12, \
     CAST(SUM(r.h13) AS BIGINT) AS h13, CAST(SUM(r.h14) AS BIGINT) AS h14",
    rollup_where!("case_rollup"),
    " GROUP BY r.region_path, r.stage HAVING SUM(r.cases) > 0"
);

const ROLLUP_BY_DAY: &str = concat!(
    "SELECT r.day, CAST(SUM(r.cases) AS BIGINT) AS n, \
     CAST(SUM(CASE WHEN r.stage = 'closed' THEN r.cases ELSE 0 END) AS BIGINT) AS closed",
    rollup_where!("case_rollup"),
    " AND r.stage <> 'merged' GROUP BY r.day HAVING SUM(r.cases) > 0 ORDER BY r.day"
);

const ROLLUP_BY_CATEGORY: &str = concat!(
    "SELECT s.category_id, k.name, s.n, s.closed, s.rated, s.content FROM (\
     SELECT r.category_id, CAST(SUM(r.cases) AS BIGINT) AS n, \
     CAST(SUM(r.closed) AS BIGINT) AS closed, CAST(SUM(r.rated) AS BIGINT) AS rated, \
     CAST(SUM(r.content) AS BIGINT) AS content",
    rollup_where!("case_rollup_categories"),
    " GROUP BY r.category_id HAVING SUM(r.cases) > 0) s \
     JOIN categories k ON k.id = s.category_id ORDER BY s.n DESC, s.category_id"
);

const ROLLUP_BY_CHANNEL: &str = concat!(
    "SELECT r.channel, CAST(SUM(r.cases) AS BIGINT) AS n",
    rollup_where!("case_rollup_channels"),
    " GROUP BY r.channel HAVING SUM(r.cases) > 0 ORDER BY n DESC, r.channel"
);

// ----- reading cases directly ------------------------------------------------------------------

/// The filter shared by every direct query: `$1` tenant, `$2`/`$3` period, `$4`/`$5` path
/// range. The equality on tenant and range on created_at match `cases_created`.
macro_rules! stats_where {
    () => {
        " FROM cases c WHERE c.tenant = $1 AND c.created_at >= $2 AND c.created_at < $3 \
         AND c.region_path >= $4 AND c.region_path < $5"
    };
}

const BY_PATH: &str = concat!(
    "SELECT c.region_path, c.stage, COUNT(*) AS n, \
     CAST(COUNT(c.responded_at) AS BIGINT) AS responded, \
     CAST(COALESCE(SUM(c.responded_at - c.created_at), 0) AS BIGINT) AS response_ms, \
     CAST(COUNT(c.resolved_at) AS BIGINT) AS resolved, \
     CAST(SUM(CASE WHEN c.resolved_at <= c.resolution_due THEN 1 ELSE 0 END) AS BIGINT) AS on_time, \
     CAST(SUM(CASE WHEN c.resolved_at IS NOT NULL AND c.rework_count > 0 THEN 1 ELSE 0 END) \
     AS BIGINT) AS rework, \
     CAST(COUNT(c.rating) AS BIGINT) AS rated, \
     CAST(SUM(CASE WHEN c.rating = 'satisfied' THEN 1 ELSE 0 END) AS BIGINT) AS satisfied, \
     CAST(SUM(CASE WHEN c.rating = 'basic' THEN 1 ELSE 0 END) AS BIGINT) AS basic, \
     CAST(SUM(c.overdue) AS BIGINT) AS overdue",
    stats_where!(),
    " GROUP BY c.region_path, c.stage"
);

// Aggregated first, then joined, so the name lookup runs once per category, not per case.
const BY_CATEGORY: &str = concat!(
    "SELECT s.category_id, k.name, s.n, s.closed, s.rated, s.content FROM (\
     SELECT c.category_id, COUNT(*) AS n, \
     CAST(SUM(CASE WHEN c.stage = 'closed' THEN 1 ELSE 0 END) AS BIGINT) AS closed, \
     CAST(COUNT(c.rating) AS BIGINT) AS rated, \
     CAST(SUM(CASE WHEN c.rating IN ('satisfied', 'basic') THEN 1 ELSE 0 END) AS BIGINT) \
     AS content",
    stats_where!(),
    " AND c.stage <> 'merged' GROUP BY c.category_id) s \
     JOIN categories k ON k.id = s.category_id ORDER BY s.n DESC, s.category_id"
);

const BY_CHANNEL: &str = concat!(
    "SELECT c.channel, COUNT(*) AS n",
    stats_where!(),
    " AND c.stage <> 'merged' GROUP BY c.channel ORDER BY n DESC, c.channel"
);

// 28 800 000 ms = UTC+8: days are China Standard Time days (domain::deadlines::CST_OFFSET_MS).
const BY_DAY: &str = concat!(
    "SELECT d.day, COUNT(*) AS n, \
     CAST(SUM(CASE WHEN d.stage = 'closed' THEN 1 ELSE 0 END) AS BIGINT) AS closed FROM (\
     SELECT CAST((c.created_at + 28800000) / 86400000 AS BIGINT) AS day, c.stage",
    stats_where!(),
    " AND c.stage <> 'merged') d GROUP BY d.day ORDER BY d.day"
);

fn counts_row(r: &AnyRow) -> Result<Counts, StoreError> {
    Ok(Counts {
        cases: r.try_get("n")?,
        responded: r.try_get("responded")?,
        response_ms: r.try_get("response_ms")?,
        resolved: r.try_get("resolved")?,
        on_time: r.try_get("on_time")?,
        rework: r.try_get("rework")?,
        rated: r.try_get("rated")?,
        satisfied: r.try_get("satisfied")?,
        basic: r.try_get("basic")?,
        overdue: r.try_get("overdue")?,
    })
}

fn histogram_row(r: &AnyRow) -> Result<[i64; BUCKETS], StoreError> {
    let mut h = [0; BUCKETS];
    for (i, slot) in h.iter_mut().enumerate() {
        *slot = r.try_get(format!("h{i}").as_str())?;
    }
    Ok(h)
}

fn stage_of(r: &AnyRow) -> Result<Stage, StoreError> {
    let stage: String = r.try_get("stage")?;
    Stage::parse(&stage)
        .ok_or_else(|| StoreError::invalid(format!("数据库中有未知的案件状态“{stage}”")))
}

fn stage_index(stage: Stage) -> usize {
    Stage::ALL
        .iter()
        .position(|s| *s == stage)
        .unwrap_or(Stage::ALL.len())
}

fn category_row(r: &AnyRow) -> Result<CategoryCount, StoreError> {
    Ok(CategoryCount {
        category_id: r.try_get("category_id")?,
        name: r.try_get("name")?,
        cases: r.try_get("n")?,
        closed: r.try_get("closed")?,
        rated: r.try_get("rated")?,
        content: r.try_get("content")?,
    })
}

fn day_row(r: &AnyRow) -> Result<DayCount, StoreError> {
    Ok(DayCount {
        day: r.try_get("day")?,
        cases: r.try_get("n")?,
        closed: r.try_get("closed")?,
    })
}

/// The regions on a path, top down, with their depth: `/1/5/` → (1, `/1/`), (2, `/1/5/`).
fn ancestors(path: &str) -> impl Iterator<Item = (i64, &str)> {
    path.char_indices()
        .filter(|&(i, c)| c == '/' && i > 0)
        .enumerate()
        .map(move |(n, (i, _))| (n as i64 + 1, &path[..=i]))
}

/// Where a case at `path` counts for `scope`: the child of the scope it lies under, or the
/// scope itself.
fn child_of(scope: &str, path: &str) -> String {
    match path
        .strip_prefix(scope)
        .and_then(|rest| rest.split_once('/'))
    {
        Some((child, _)) if !child.is_empty() => format!("{scope}{child}/"),
        _ => scope.to_owned(),
    }
}

/// The CST day number of a CST midnight, `None` for any other instant.
fn whole_day(ms: i64) -> Option<i64> {
    let local = ms.checked_add(CST_OFFSET_MS)?;
    (local.rem_euclid(DAY_MS) == 0).then(|| local.div_euclid(DAY_MS))
}

/// `by_path` in its order: path, then stage.
fn ordered(by_path: BTreeMap<(String, usize), (Stage, Counts)>) -> Vec<(String, Stage, Counts)> {
    by_path
        .into_iter()
        .map(|((path, _), (stage, counts))| (path, stage, counts))
        .collect()
}

impl Store {
    /// The statistics of one subtree and period: from the rollups when the period is whole CST
    /// days, from `cases` otherwise. The two give the same figures.
    pub async fn case_stats(&self, q: &StatsQuery) -> Result<CaseStats, StoreError> {
        match (whole_day(q.from), whole_day(q.to)) {
            (Some(from), Some(to)) => self.case_stats_rollup(q, from, to).await,
            _ => self.case_stats_direct(q).await,
        }
    }

    async fn case_stats_rollup(
        &self,
        q: &StatsQuery,
        from_day: i64,
        to_day: i64,
    ) -> Result<CaseStats, StoreError> {
        let (low, high) = scope_bounds(&q.scope_path)?;
        let depth = ancestors(&q.scope_path).count() as i64;
        let bind = |text: &'static str, depth: i64| {
            let mut sql = Sql::new(text);
            sql.args_only([
                q.tenant.clone().into(),
                depth.into(),
                low.clone().into(),
                high.clone().into(),
                from_day.into(),
                to_day.into(),
            ]);
            sql
        };
        // The scope region itself is the only one of its depth in its path range; its children
        // are those one level deeper.
        let (own, children, categories, channels, days) = (
            bind(ROLLUP_BY_NODE, depth),
            bind(ROLLUP_BY_NODE, depth + 1),
            bind(ROLLUP_BY_CATEGORY, depth),
            bind(ROLLUP_BY_CHANNEL, depth),
            bind(ROLLUP_BY_DAY, depth),
        );
        let reader = self.reader();
        let (own, children, categories, channels, days) = tokio::try_join!(
            own.query().fetch_all(reader),
            children.query().fetch_all(reader),
            categories.query().fetch_all(reader),
            channels.query().fetch_all(reader),
            days.query().fetch_all(reader),
        )?;

        let mut out = CaseStats {
            response_histogram: vec![0; BUCKETS],
            ..CaseStats::default()
        };
        // What the scope holds per stage; what its children hold is taken out below, and the
        // rest is located at the scope region itself.
        let mut here: BTreeMap<usize, (Stage, Counts)> = BTreeMap::new();
        for r in &own {
            let stage = stage_of(r)?;
            if stage != Stage::Merged {
                for (slot, n) in out.response_histogram.iter_mut().zip(histogram_row(r)?) {
                    *slot += n;
                }
            }
            here.entry(stage_index(stage))
                .or_insert((stage, Counts::default()))
                .1 += counts_row(r)?;
        }
        let mut by_path = BTreeMap::new();
        for r in &children {
            let stage = stage_of(r)?;
            let counts = counts_row(r)?;
            if let Some((_, rest)) = here.get_mut(&stage_index(stage)) {
                *rest -= counts;
            }
            by_path.insert(
                (r.try_get::<String, _>("region_path")?, stage_index(stage)),
                (stage, counts),
            );
        }
        for (index, (stage, counts)) in here {
            if counts.cases > 0 {
                by_path.insert((q.scope_path.clone(), index), (stage, counts));
            }
        }
        out.by_path = ordered(by_path);
        out.categories = categories
            .iter()
            .map(category_row)
            .collect::<Result<_, _>>()?;
        out.channels = channels
            .iter()
            .map(|r| Ok((r.try_get("channel")?, r.try_get("n")?)))
            .collect::<Result<_, StoreError>>()?;
        out.days = days.iter().map(day_row).collect::<Result<_, _>>()?;
        Ok(out)
    }

    /// The statistics of one subtree and period, read from `cases` (any period).
    pub async fn case_stats_direct(&self, q: &StatsQuery) -> Result<CaseStats, StoreError> {
        let (low, high) = scope_bounds(&q.scope_path)?;
        let bind = |text: &'static str| {
            let mut sql = Sql::new(text);
            sql.args_only([
                q.tenant.clone().into(),
                q.from.into(),
                q.to.into(),
                low.clone().into(),
                high.clone().into(),
            ]);
            sql
        };
        let (by_path, categories, channels, days, histogram) = (
            bind(BY_PATH),
            bind(BY_CATEGORY),
            bind(BY_CHANNEL),
            bind(BY_DAY),
            Self::histogram_sql(q, &low, &high),
        );
        let reader = self.reader();
        let (by_path, categories, channels, days, histogram) = tokio::try_join!(
            by_path.query().fetch_all(reader),
            categories.query().fetch_all(reader),
            channels.query().fetch_all(reader),
            days.query().fetch_all(reader),
            histogram.query().fetch_all(reader),
        )?;

        let mut out = CaseStats {
            response_histogram: vec![0; BUCKETS],
            ..CaseStats::default()
        };
        let mut folded: BTreeMap<(String, usize), (Stage, Counts)> = BTreeMap::new();
        for r in &by_path {
            let stage = stage_of(r)?;
            let path: String = r.try_get("region_path")?;
            folded
                .entry((child_of(&q.scope_path, &path), stage_index(stage)))
                .or_insert((stage, Counts::default()))
                .1 += counts_row(r)?;
        }
        out.by_path = ordered(folded);
        out.categories = categories
            .iter()
            .map(category_row)
            .collect::<Result<_, _>>()?;
        for r in &channels {
            out.channels.push((r.try_get("channel")?, r.try_get("n")?));
        }
        out.days = days.iter().map(day_row).collect::<Result<_, _>>()?;
        for r in &histogram {
            let bucket: i64 = r.try_get("bucket")?;
            if let Some(slot) = usize::try_from(bucket)
                .ok()
                .and_then(|b| out.response_histogram.get_mut(b))
            {
                *slot = r.try_get("n")?;
            }
        }
        Ok(out)
    }

    /// Responded cases per response-time bucket; the bounds are bound as values so the buckets
    /// stay those of the domain.
    fn histogram_sql(q: &StatsQuery, low: &str, high: &str) -> Sql {
        let mut sql = Sql::new("SELECT h.bucket, COUNT(*) AS n FROM (SELECT CASE");
        // Placeholders $1–$5 are the shared filter; the bounds follow as $6 ….
        sql.args_only([
            q.tenant.clone().into(),
            q.from.into(),
            q.to.into(),
            low.to_owned().into(),
            high.to_owned().into(),
        ]);
        for (i, bound) in RESPONSE_BUCKETS_MS.iter().enumerate() {
            sql.push(" WHEN c.responded_at - c.created_at < ")
                .bind(*bound)
                .push(" THEN ")
                .bind(i as i64);
        }
        sql.push(" ELSE ")
            .bind(RESPONSE_BUCKETS_MS.len() as i64)
            .push(" END AS bucket")
            .push(stats_where!())
            .push(" AND c.stage <> 'merged' AND c.responded_at IS NOT NULL) h GROUP BY h.bucket");
        sql
    }

    /// Recomputes the rollups from `cases`, in one transaction (after a restore, an import
    /// outside the store, or to check them).
    pub async fn rebuild_stats_rollup(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        rebuild_rollup(&mut tx, self.backend).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The statistics columns of one case, read in the transaction that changes it (on
    /// PostgreSQL locking the row, so the sweeper's writes cannot slip in between).
    pub(crate) async fn case_facts(
        &self,
        conn: &mut AnyConnection,
        id: i64,
    ) -> Result<Option<CaseFacts>, StoreError> {
        let text = match self.backend {
            Backend::Sqlite => FACTS_BY_ID,
            Backend::Postgres => FACTS_BY_ID_LOCKED,
        };
        let row = sqlx::query(text)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(CaseFacts::from_row).transpose()
    }
}

// ----- keeping the rollups -----------------------------------------------------------------------

macro_rules! fact_columns {
    () => {
        "tenant, created_at, region_path, category_id, channel, stage, responded_at, \
         resolution_due, resolved_at, rework_count, rating, overdue"
    };
}

const FACTS_BY_ID: &str = concat!("SELECT ", fact_columns!(), " FROM cases WHERE id = $1");
const FACTS_BY_ID_LOCKED: &str = concat!(
    "SELECT ",
    fact_columns!(),
    " FROM cases WHERE id = $1 FOR UPDATE"
);
const FACTS_CREATED: &str = concat!(
    "SELECT ",
    fact_columns!(),
    " FROM cases WHERE created_at >= $1 AND created_at < $2"
);

/// What the statistics read of one case: its contribution to the rollups depends on these
/// columns of its own row alone.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CaseFacts {
    pub tenant: String,
    pub created_at: i64,
    pub region_path: String,
    pub category_id: i64,
    pub channel: String,
    pub stage: String,
    pub responded_at: Option<i64>,
    pub resolution_due: i64,
    pub resolved_at: Option<i64>,
    pub rework_count: i64,
    pub rating: Option<String>,
    pub overdue: i64,
}

impl CaseFacts {
    fn from_row(r: &AnyRow) -> Result<CaseFacts, StoreError> {
        Ok(CaseFacts {
            tenant: r.try_get("tenant")?,
            created_at: r.try_get("created_at")?,
            region_path: r.try_get("region_path")?,
            category_id: r.try_get("category_id")?,
            channel: r.try_get("channel")?,
            stage: r.try_get("stage")?,
            responded_at: r.try_get("responded_at")?,
            resolution_due: r.try_get("resolution_due")?,
            resolved_at: r.try_get("resolved_at")?,
            rework_count: r.try_get("rework_count")?,
            rating: r.try_get("rating")?,
            overdue: r.try_get("overdue")?,
        })
    }
}

/// Values per `case_rollup` row: the ten counts, then the histogram.
const BASE_VALUES: usize = 10 + BUCKETS;
/// Tenant, depth, region path, day, then stage / category / channel.
type Key<T> = (String, i64, String, i64, T);

/// Changes to the rollups, summed per row. Rows are written in key order, so concurrent writers
/// on PostgreSQL lock shared rows in the same order and cannot deadlock on them.
#[derive(Debug, Default)]
pub(crate) struct RollupDelta {
    base: BTreeMap<Key<String>, [i64; BASE_VALUES]>,
    categories: BTreeMap<Key<i64>, [i64; 4]>,
    channels: BTreeMap<Key<String>, i64>,
}

fn add_into<const N: usize>(slot: &mut [i64; N], values: &[i64; N], sign: i64) {
    for (s, v) in slot.iter_mut().zip(values) {
        *s += sign * v;
    }
}

impl RollupDelta {
    /// From `old` to `new` (the same case before and after a change).
    pub(crate) fn change(old: &CaseFacts, new: &CaseFacts) -> RollupDelta {
        let mut d = RollupDelta::default();
        if old != new {
            d.add(old, -1);
            d.add(new, 1);
        }
        d
    }

    /// Adds (`sign` 1) or takes out (`sign` -1) one case's contribution. Mirrors the direct
    /// queries above, column by column.
    pub(crate) fn add(&mut self, f: &CaseFacts, sign: i64) {
        let day = (f.created_at + CST_OFFSET_MS) / DAY_MS;
        let mut v = [0i64; BASE_VALUES];
        v[0] = 1;
        if let Some(at) = f.responded_at {
            let ms = at - f.created_at;
            v[1] = 1;
            v[2] = ms;
            let bucket = RESPONSE_BUCKETS_MS
                .iter()
                .position(|b| ms < *b)
                .unwrap_or(RESPONSE_BUCKETS_MS.len());
            v[10 + bucket] = 1;
        }
        if let Some(at) = f.resolved_at {
            v[3] = 1;
            v[4] = i64::from(at <= f.resolution_due);
            v[5] = i64::from(f.rework_count > 0);
        }
        let rating = f.rating.as_deref();
        v[6] = i64::from(rating.is_some());
        v[7] = i64::from(rating == Some("satisfied"));
        v[8] = i64::from(rating == Some("basic"));
        v[9] = f.overdue;
        let counted = f.stage != Stage::Merged.as_str();
        let category = [
            1,
            i64::from(f.stage == Stage::Closed.as_str()),
            v[6],
            v[7] + v[8],
        ];
        for (depth, path) in ancestors(&f.region_path) {
            let key = || (f.tenant.clone(), depth, path.to_owned(), day);
            let (t, d, p, day) = key();
            add_into(
                self.base
                    .entry((t, d, p, day, f.stage.clone()))
                    .or_default(),
                &v,
                sign,
            );
            if counted {
                let (t, d, p, day) = key();
                add_into(
                    self.categories
                        .entry((t, d, p, day, f.category_id))
                        .or_default(),
                    &category,
                    sign,
                );
                let (t, d, p, day) = key();
                *self
                    .channels
                    .entry((t, d, p, day, f.channel.clone()))
                    .or_default() += sign;
            }
        }
    }

    /// Writes the non-zero changes: one upsert per table (per 1,000 parameters).
    pub(crate) async fn write(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        fn head<T: Into<Val>>(k: Key<T>) -> Vec<Val> {
            vec![k.0.into(), k.1.into(), k.2.into(), k.3.into(), k.4.into()]
        }
        fn rows<T: Into<Val>, V: IntoIterator<Item = i64> + Copy>(
            map: BTreeMap<Key<T>, V>,
        ) -> Vec<Vec<Val>> {
            map.into_iter()
                .filter(|(_, v)| v.into_iter().any(|x| x != 0))
                .map(|(k, v)| {
                    let mut row = head(k);
                    row.extend(v.into_iter().map(Val::from));
                    row
                })
                .collect()
        }
        upsert_many(conn, BASE_INSERT, BASE_UPDATE, rows(self.base)).await?;
        upsert_many(
            conn,
            CATEGORY_INSERT,
            CATEGORY_UPDATE,
            rows(self.categories),
        )
        .await?;
        let channels = self.channels.into_iter().map(|(k, n)| (k, [n])).collect();
        upsert_many(conn, CHANNEL_INSERT, CHANNEL_UPDATE, rows(channels)).await?;
        Ok(())
    }
}

const BASE_INSERT: &str = "INSERT INTO case_rollup (tenant, depth, region_path, day, stage, \
     cases, responded, response_ms, resolved, on_time, rework, rated, satisfied, basic, \
     overdue, h0, h1, h2, h3, h4, h5, h6, h7, h8, h9, h10, h11, h12, h13, h14) VALUES ";
const BASE_UPDATE: &str = " ON CONFLICT (tenant, depth, region_path, day, stage) DO UPDATE SET \
     cases = case_rollup.cases + excluded.cases, \
     responded = case_rollup.responded + excluded.responded, \
     response_ms = case_rollup.response_ms + excluded.response_ms, \
     resolved = case_rollup.resolved + excluded.resolved, \
     on_time = case_rollup.on_time + excluded.on_time, \
     rework = case_rollup.rework + excluded.rework, rated = case_rollup.rated + excluded.rated, \
     satisfied = case_rollup.satisfied + excluded.satisfied, \
     basic = case_rollup.basic + excluded.basic, \
     overdue = case_rollup.overdue + excluded.overdue, h0 = case_rollup.h0 + excluded.h0, \
     h1 = case_rollup.h1 + excluded.h1, h2 = case_rollup.h2 + excluded.h2, \
     h3 = case_rollup.h3 + excluded.h3, h4 = case_rollup.h4 + excluded.h4, \
     h5 = case_rollup.h5 + excluded.h5, h6 = case_rollup.h6 + excluded.h6, \
     h7 = case_rollup.h7 + excluded.h7, h8 = case_rollup.h8 + excluded.h8, \
     h9 = case_rollup.h9 + excluded.h9, h10 = case_rollup.h10 + excluded.h10, \
     h11 = case_rollup.h11 + excluded.h11, h12 = case_rollup.h12 + excluded.h12, \
     h13 = case_rollup.h13 + excluded.h13, h14 = case_rollup.h14 + excluded.h14";
const CATEGORY_INSERT: &str = "INSERT INTO case_rollup_categories (tenant, depth, region_path, \
     day, category_id, cases, closed, rated, content) VALUES ";
const CATEGORY_UPDATE: &str = " ON CONFLICT (tenant, depth, region_path, day, category_id) \
     DO UPDATE SET cases = case_rollup_categories.cases + excluded.cases, \
     closed = case_rollup_categories.closed + excluded.closed, \
     rated = case_rollup_categories.rated + excluded.rated, \
     content = case_rollup_categories.content + excluded.content";
const CHANNEL_INSERT: &str = "INSERT INTO case_rollup_channels (tenant, depth, region_path, day, \
     channel, cases) VALUES ";
const CHANNEL_UPDATE: &str = " ON CONFLICT (tenant, depth, region_path, day, channel) \
     DO UPDATE SET cases = case_rollup_channels.cases + excluded.cases";

/// Parameters per statement (see cases::MAX_PARAMS).
const MAX_PARAMS: usize = 1_000;

async fn upsert_many(
    conn: &mut AnyConnection,
    insert: &'static str,
    update: &'static str,
    rows: Vec<Vec<Val>>,
) -> Result<(), StoreError> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(());
    };
    let per_statement = (MAX_PARAMS / width.max(1)).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut sql = Sql::new(insert);
        for (i, row) in rows.by_ref().take(per_statement).enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind_list(row)
                .push(")");
        }
        sql.push(update);
        sql.query().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Cases read per round of a rebuild: 31 days of them.
const REBUILD_SPAN_MS: i64 = 31 * DAY_MS;

/// Empties the rollups and sums `cases` into them again. On PostgreSQL the rollups are locked
/// first: a concurrent case write waits for the rebuild and then adds its change on top.
pub(crate) async fn rebuild_rollup(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::query(
            "LOCK TABLE case_rollup, case_rollup_categories, case_rollup_channels \
             IN EXCLUSIVE MODE",
        )
        .execute(&mut *conn)
        .await?;
    }
    for text in [
        "DELETE FROM case_rollup",
        "DELETE FROM case_rollup_categories",
        "DELETE FROM case_rollup_channels",
    ] {
        sqlx::query(text).execute(&mut *conn).await?;
    }
    let span = sqlx::query(
        "SELECT CAST(MIN(created_at) AS BIGINT) AS lo, CAST(MAX(created_at) AS BIGINT) AS hi \
         FROM cases",
    )
    .fetch_one(&mut *conn)
    .await?;
    let (Some(lo), Some(hi)) = (
        span.try_get::<Option<i64>, _>("lo")?,
        span.try_get::<Option<i64>, _>("hi")?,
    ) else {
        return Ok(());
    };
    let mut from = lo;
    while from <= hi {
        let to = from.saturating_add(REBUILD_SPAN_MS);
        let cases = sqlx::query(FACTS_CREATED)
            .bind(from)
            .bind(to)
            .fetch_all(&mut *conn)
            .await?;
        let mut delta = RollupDelta::default();
        for r in &cases {
            delta.add(&CaseFacts::from_row(r)?, 1);
        }
        delta.write(conn).await?;
        from = to;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fold_to_the_children_of_the_scope() {
        let up: Vec<_> = ancestors("/1/5/23/").collect();
        assert_eq!(up, [(1, "/1/"), (2, "/1/5/"), (3, "/1/5/23/")]);
        assert_eq!(child_of("/1/", "/1/5/23/"), "/1/5/");
        assert_eq!(child_of("/1/5/", "/1/5/"), "/1/5/");
        assert_eq!(child_of("/1/5/", "/1/5/23/"), "/1/5/23/");
    }

    #[test]
    fn only_cst_midnights_are_whole_days() {
        // 2026-01-01T00:00:00+08:00
        let midnight = 1_767_196_800_000;
        assert_eq!(whole_day(midnight), Some(20_454));
        assert_eq!(whole_day(midnight + 3_600_000), None);
    }
}
