//! Case statistics for a region subtree and period, within the actor's jurisdiction.

use jinlin_domain::accounts::Role;
use jinlin_domain::cases::Stage;
use jinlin_domain::deadlines::Date;
use jinlin_domain::stats::{Indicators, Preset, Tally, median_from_histogram};
use jinlin_store::regions::Region;
use jinlin_store::stats::{CategoryCount, DayCount, StatsQuery};

use crate::{Actor, App, AppError};

/// Longest period one request may cover.
const MAX_DAYS: i64 = 3 * 366;

/// The default period when none is given.
pub const DEFAULT_PRESET: Preset = Preset::Last30Days;

/// One child region's figures (a street of a district, a community of a street …).
#[derive(Debug, Clone)]
pub struct ChildStats {
    pub region: Region,
    pub indicators: Indicators,
}

/// Everything the statistics page and the export show.
#[derive(Debug, Clone)]
pub struct CaseStatsView {
    pub region: Region,
    /// Root first, inside the actor's jurisdiction only (for the breadcrumb).
    pub ancestors: Vec<Region>,
    /// The period `[from, to)` in CST dates.
    pub from: Date,
    pub to: Date,
    pub totals: Indicators,
    pub response_median_ms: Option<i64>,
    pub stages: Vec<(Stage, i64)>,
    pub categories: Vec<CategoryCount>,
    pub channels: Vec<(String, i64)>,
    /// Every day of the period, zeros included.
    pub days: Vec<DayCount>,
    /// Children with their figures, in code order (children without cases included).
    pub children: Vec<ChildStats>,
    /// Cases located at the region itself rather than below it.
    pub own: Option<Indicators>,
}

/// Roles that may read statistics: staff; not residents, volunteers, nor the system
/// administrator, who runs the system without reading its data by default.
pub fn may_see_stats(role: Role) -> bool {
    role.is_staff() && role != Role::Sysadmin
}

impl App {
    /// The statistics of `region_code` (default: the actor's own region) for `[from, to)`
    /// (default: the last 30 days). Outside the actor's jurisdiction: Forbidden, audited.
    pub async fn case_stats(
        &self,
        actor: &Actor,
        region_code: Option<&str>,
        from: Option<Date>,
        to: Option<Date>,
    ) -> Result<CaseStatsView, AppError> {
        if !may_see_stats(actor.role) {
            return Err(AppError::Forbidden(
                "统计分析仅对工作人员开放（系统管理员默认不查看业务数据）".into(),
            ));
        }
        let code = region_code
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .unwrap_or(&actor.region_code)
            .to_owned();
        let region = self.region(actor, &code).await?;
        let (from, to) = self.period(from, to)?;
        let stats = self
            .store
            .case_stats(&StatsQuery {
                tenant: region.tenant.clone(),
                scope_path: region.path.clone(),
                from: from.start_ms(),
                to: to.start_ms(),
            })
            .await?;

        let children = self.store.children(region.id, &actor.scope_path).await?;
        let mut child_tallies = vec![Tally::default(); children.len()];
        let mut own = Tally::default();
        let mut has_own = false;
        let mut total = Tally::default();
        for (path, stage, counts) in &stats.by_path {
            total.add(*stage, *counts);
            let rest = path.strip_prefix(region.path.as_str()).unwrap_or_default();
            let child_id = rest.split('/').next().and_then(|s| s.parse::<i64>().ok());
            match child_id.and_then(|id| children.iter().position(|c| c.id == id)) {
                Some(i) => child_tallies[i].add(*stage, *counts),
                None => {
                    has_own = true;
                    own.add(*stage, *counts);
                }
            }
        }
        let mut ancestors: Vec<Region> = self
            .store
            .ancestors(&region)
            .await?
            .into_iter()
            .filter(|r| actor.sees_path(&r.path))
            .collect();
        ancestors.sort_by_key(|r| r.depth);

        let first = from.days_since_epoch();
        let mut days: Vec<DayCount> = (first..to.days_since_epoch())
            .map(|day| DayCount {
                day,
                cases: 0,
                closed: 0,
            })
            .collect();
        for d in &stats.days {
            if let Some(slot) = usize::try_from(d.day - first)
                .ok()
                .and_then(|i| days.get_mut(i))
            {
                *slot = *d;
            }
        }

        Ok(CaseStatsView {
            ancestors,
            from,
            to,
            totals: total.indicators(),
            response_median_ms: median_from_histogram(&stats.response_histogram),
            stages: total.by_stage(),
            categories: stats.categories,
            channels: stats.channels,
            days,
            children: children
                .into_iter()
                .zip(child_tallies)
                .map(|(region, t)| ChildStats {
                    region,
                    indicators: t.indicators(),
                })
                .collect(),
            own: has_own.then(|| own.indicators()),
            region,
        })
    }

    /// [`App::case_stats`] for a download, which is audited (exports of case data always are).
    pub async fn export_case_stats(
        &self,
        actor: &Actor,
        region_code: Option<&str>,
        from: Option<Date>,
        to: Option<Date>,
    ) -> Result<CaseStatsView, AppError> {
        let view = self.case_stats(actor, region_code, from, to).await?;
        self.store
            .append_audit(
                &actor.audit(
                    "stats.export",
                    &format!("region:{}", view.region.code),
                    "ok",
                    format!("{} 至 {}（不含）", view.from, view.to),
                ),
                self.now(),
            )
            .await?;
        Ok(view)
    }

    /// The dates of the period: the given ones, or the default preset around today.
    fn period(&self, from: Option<Date>, to: Option<Date>) -> Result<(Date, Date), AppError> {
        let today = Date::from_epoch_ms(self.now());
        let (default_from, default_to) = DEFAULT_PRESET.dates(today);
        let from = from.unwrap_or(default_from);
        let to = to.unwrap_or(if from < default_to {
            default_to
        } else {
            from.succ()
        });
        if to <= from {
            return Err(AppError::invalid("to", "结束日期须晚于开始日期"));
        }
        if to.days_since_epoch() - from.days_since_epoch() > MAX_DAYS {
            return Err(AppError::invalid(
                "from",
                "统计时段最长 3 年，请缩短开始与结束日期之间的间隔",
            ));
        }
        Ok((from, to))
    }
}
