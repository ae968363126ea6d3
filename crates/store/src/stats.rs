//! Aggregates over the cases of one region subtree and period, for the statistics page.
//!
//! Every query reads `cases` through the covering index `cases_stats` (tenant, created_at, …;
//! migration 0003) and returns sums the domain turns into indicators
//! ([`jinlin_domain::stats`]). The five queries are independent and run concurrently.

use jinlin_domain::cases::Stage;
use jinlin_domain::stats::{Counts, RESPONSE_BUCKETS_MS};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Sql, scope_bounds};
use crate::{Store, StoreError};

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
    /// Sums per (deepest region path, stage); children and totals are folded from these.
    pub by_path: Vec<(String, Stage, Counts)>,
    /// Most cases first.
    pub categories: Vec<CategoryCount>,
    /// (channel, cases), most first.
    pub channels: Vec<(String, i64)>,
    pub days: Vec<DayCount>,
    /// Responded cases per bucket of [`RESPONSE_BUCKETS_MS`] (one more bucket than bounds).
    pub response_histogram: Vec<i64>,
}

/// The filter shared by every statistics query: `$1` tenant, `$2`/`$3` period, `$4`/`$5` path
/// range. The equality on tenant and range on created_at match `cases_stats`.
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

impl Store {
    /// The statistics of one subtree and period.
    pub async fn case_stats(&self, q: &StatsQuery) -> Result<CaseStats, StoreError> {
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
            response_histogram: vec![0; RESPONSE_BUCKETS_MS.len() + 1],
            ..CaseStats::default()
        };
        for r in &by_path {
            let stage: String = r.try_get("stage")?;
            let stage = Stage::parse(&stage)
                .ok_or_else(|| StoreError::invalid(format!("数据库中有未知的案件状态“{stage}”")))?;
            out.by_path
                .push((r.try_get("region_path")?, stage, counts_row(r)?));
        }
        for r in &categories {
            out.categories.push(CategoryCount {
                category_id: r.try_get("category_id")?,
                name: r.try_get("name")?,
                cases: r.try_get("n")?,
                closed: r.try_get("closed")?,
                rated: r.try_get("rated")?,
                content: r.try_get("content")?,
            });
        }
        for r in &channels {
            out.channels.push((r.try_get("channel")?, r.try_get("n")?));
        }
        for r in &days {
            out.days.push(DayCount {
                day: r.try_get("day")?,
                cases: r.try_get("n")?,
                closed: r.try_get("closed")?,
            });
        }
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
}
