//! 统计分析: indicators of a region subtree and period, charts (ECharts, fed by
//! `/stats/data.json`, drawn by assets/static/stats.js) and the Excel export.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jinlin_app::AppError;
use jinlin_app::stats::CaseStatsView;
use jinlin_domain::deadlines::Date;
use jinlin_domain::stats::{Indicators, Preset};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use serde::Deserialize;

use super::{Chrome, format_time, render};
use crate::AppState;
use crate::auth::{SignedIn, Ui};
use crate::error::PageError;
use crate::i18n::Tr;

/// `?region=&preset=&from=&to=`; `to` is the last day shown (inclusive), as people read it.
#[derive(Debug, Default, Deserialize)]
pub struct StatsQuery {
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    preset: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

fn parse_date(field: &str, s: &Option<String>) -> Result<Option<Date>, AppError> {
    match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Date::parse(s).map(Some).map_err(|_| {
            AppError::invalid(field, format!("日期“{s}”格式不正确，应形如 2026-01-31"))
        }),
    }
}

impl StatsQuery {
    /// The period as `[from, to)` dates for the app (None: its default).
    fn period(&self, now: i64) -> Result<(Option<Date>, Option<Date>), AppError> {
        if let Some(p) = self.preset.as_deref().and_then(Preset::parse) {
            let (a, b) = p.dates(Date::from_epoch_ms(now));
            return Ok((Some(a), Some(b)));
        }
        let from = parse_date("from", &self.from)?;
        let to = parse_date("to", &self.to)?.map(Date::succ);
        Ok((from, to))
    }

    async fn load(
        &self,
        state: &AppState,
        session: &crate::auth::Session,
        export: bool,
    ) -> Result<CaseStatsView, AppError> {
        let (from, to) = self.period(state.app.now())?;
        let region = self.region.as_deref();
        if export {
            state
                .app
                .export_case_stats(&session.actor, region, from, to)
                .await
        } else {
            state.app.case_stats(&session.actor, region, from, to).await
        }
    }
}

fn pct(r: Option<f64>) -> String {
    r.map_or_else(|| "—".into(), |r| format!("{:.1}%", r * 100.0))
}

fn duration(t: Tr, ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "—".into();
    };
    let minutes = ms as f64 / 60_000.0;
    let (value, unit) = if minutes < 60.0 {
        (minutes, t.s("stats.unit.min"))
    } else if minutes < 48.0 * 60.0 {
        (minutes / 60.0, t.s("stats.unit.hour"))
    } else {
        (minutes / 1440.0, t.s("stats.unit.day"))
    };
    format!("{value:.1} {unit}")
}

/// A KPI card: label, value, the formula (tooltip and footnote).
pub struct Kpi {
    pub label: &'static str,
    pub value: String,
    pub formula: &'static str,
}

fn kpis(t: Tr, i: &Indicators, median: Option<i64>) -> Vec<Kpi> {
    let k = |label: &str, value: String, formula: &str| Kpi {
        label: t.s(label),
        value,
        formula: t.s(formula),
    };
    vec![
        k(
            "stats.kpi.reported",
            i.reported.to_string(),
            "stats.formula.reported",
        ),
        k(
            "stats.kpi.acceptance",
            pct(i.acceptance),
            "stats.formula.acceptance",
        ),
        k(
            "stats.kpi.response",
            format!(
                "{} / {}",
                duration(t, i.response_avg_ms),
                duration(t, median)
            ),
            "stats.formula.response",
        ),
        k("stats.kpi.on_time", pct(i.on_time), "stats.formula.on_time"),
        k(
            "stats.kpi.completion",
            pct(i.completion),
            "stats.formula.completion",
        ),
        k("stats.kpi.rework", pct(i.rework), "stats.formula.rework"),
        k(
            "stats.kpi.satisfaction",
            pct(i.satisfaction),
            "stats.formula.satisfaction",
        ),
    ]
}

pub struct ChildRow {
    pub code: String,
    pub name: String,
    pub level: &'static str,
    pub reported: i64,
    pub acceptance: String,
    pub on_time: String,
    pub completion: String,
    pub rework: String,
    pub satisfaction: String,
    pub overdue: i64,
    /// Whether the child has children of its own (a drill-down is worth it).
    pub drill: bool,
}

fn child_row(code: &str, name: &str, level: &'static str, i: &Indicators, drill: bool) -> ChildRow {
    ChildRow {
        code: code.into(),
        name: name.into(),
        level,
        reported: i.reported,
        acceptance: pct(i.acceptance),
        on_time: pct(i.on_time),
        completion: pct(i.completion),
        rework: pct(i.rework),
        satisfaction: pct(i.satisfaction),
        overdue: i.overdue,
        drill,
    }
}

pub struct PresetLink {
    pub id: &'static str,
    pub label: &'static str,
    pub active: bool,
}

pub struct Crumb {
    pub code: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "stats.html")]
struct StatsPage {
    c: Chrome,
    region_code: String,
    region_name: String,
    crumbs: Vec<Crumb>,
    from: String,
    /// The last day, inclusive.
    to: String,
    presets: Vec<PresetLink>,
    custom: bool,
    kpis: Vec<Kpi>,
    empty: bool,
    children: Vec<ChildRow>,
    own: Option<ChildRow>,
    /// The query string for links to data.json, the export and drill-downs (without region).
    period_query: String,
}

fn last_day(v: &CaseStatsView) -> Date {
    Date::from_days_since_epoch(v.to.days_since_epoch() - 1).unwrap_or(v.to)
}

/// GET /stats
pub async fn page(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<StatsQuery>,
) -> Result<Response, PageError> {
    let v = q
        .load(&state, &session, false)
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    let to = last_day(&v).to_string();
    let from = v.from.to_string();
    let period_query = format!("from={from}&to={to}");
    let preset = q.preset.as_deref().and_then(Preset::parse);
    let custom = preset.is_none() && (q.from.is_some() || q.to.is_some());
    let presets = Preset::ALL
        .iter()
        .map(|p| PresetLink {
            id: p.as_str(),
            label: t.s(preset_key(*p)),
            active: preset == Some(*p) || (preset.is_none() && !custom && *p == Preset::Last30Days),
        })
        .collect();
    let here = format!("/stats?region={}&{period_query}", v.region.code);
    let page = StatsPage {
        c: Chrome::new(&session, t, "stats", &here),
        region_code: v.region.code.clone(),
        region_name: v.region.name.clone(),
        crumbs: v
            .ancestors
            .iter()
            .map(|r| Crumb {
                code: r.code.clone(),
                name: r.name.clone(),
            })
            .collect(),
        from,
        to,
        presets,
        custom,
        kpis: kpis(t, &v.totals, v.response_median_ms),
        empty: v.totals.reported == 0 && v.totals.merged == 0,
        children: v
            .children
            .iter()
            .map(|c| {
                child_row(
                    &c.region.code,
                    &c.region.name,
                    t.level(&c.region.level),
                    &c.indicators,
                    c.region.child_count > 0,
                )
            })
            .collect(),
        own: v.own.as_ref().map(|i| {
            child_row(
                &v.region.code,
                t.s("stats.own"),
                t.level(&v.region.level),
                i,
                false,
            )
        }),
        period_query,
    };
    Ok(render(&page, t.lang)?.into_response())
}

fn preset_key(p: Preset) -> &'static str {
    match p {
        Preset::Last30Days => "stats.preset.30d",
        Preset::ThisWeek => "stats.preset.week",
        Preset::ThisMonth => "stats.preset.month",
        Preset::ThisQuarter => "stats.preset.quarter",
        Preset::ThisYear => "stats.preset.year",
    }
}

fn channel_label(t: Tr, id: &str) -> String {
    if t.is_en() {
        match id {
            "resident" => "Resident".into(),
            "patrol" => "Patrol".into(),
            "hotline" => "Hotline".into(),
            "api" => "API".into(),
            other => other.into(),
        }
    } else {
        jinlin_app::store::cases::channel_zh(id).into()
    }
}

/// GET /stats/data.json — what the charts draw.
pub async fn data(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<StatsQuery>,
) -> Result<Response, PageError> {
    let v = q
        .load(&state, &session, false)
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    let stage_label = |s: jinlin_domain::cases::Stage| if t.is_en() { s.en() } else { s.zh() };
    let body = serde_json::json!({
        "region": { "code": v.region.code, "name": v.region.name },
        "from": v.from.to_string(),
        "to": last_day(&v).to_string(),
        "labels": {
            "stages": t.s("stats.chart.stages"),
            "trend": t.s("stats.chart.trend"),
            "reported": t.s("stats.series.reported"),
            "closed": t.s("stats.series.closed"),
            "categories": t.s("stats.chart.categories"),
            "channels": t.s("stats.chart.channels"),
            "empty": t.s("stats.empty"),
        },
        "stages": v.stages.iter().map(|(s, n)| serde_json::json!({
            "id": s.as_str(), "label": stage_label(*s), "n": n,
        })).collect::<Vec<_>>(),
        "days": v.days.iter().map(|d| serde_json::json!({
            "date": Date::from_days_since_epoch(d.day).map(|x| x.to_string()).unwrap_or_default(),
            "cases": d.cases,
            "closed": d.closed,
        })).collect::<Vec<_>>(),
        "categories": v.categories.iter().take(10).map(|c| serde_json::json!({
            "name": c.name, "n": c.cases,
        })).collect::<Vec<_>>(),
        "channels": v.channels.iter().map(|(id, n)| serde_json::json!({
            "id": id, "label": channel_label(t, id), "n": n,
        })).collect::<Vec<_>>(),
    });
    Ok(axum::Json(body).into_response())
}

/// GET /stats/export.xlsx — sheets 指标, 分类, 下级区划, each headed by region, period, who
/// exported and when. The export is audited by the app.
pub async fn export(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<StatsQuery>,
) -> Result<Response, PageError> {
    let v = q
        .load(&state, &session, true)
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    let who = format!(
        "{}（{}）",
        session.actor.display_name, session.actor.username
    );
    let bytes = workbook(&v, &who, &format_time(state.app.now()))
        .map_err(|e| PageError::new(AppError::Internal(format!("xlsx: {e}")), t.lang))?;
    let name = format!("stats-{}-{}-{}.xlsx", v.region.code, v.from, last_day(&v));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// The workbook, in Chinese (the language of the offices it is sent to).
fn workbook(v: &CaseStatsView, who: &str, when: &str) -> Result<Vec<u8>, XlsxError> {
    let bold = Format::new().set_bold();
    let percent = Format::new().set_num_format("0.0%");
    let mut wb = Workbook::new();
    let header_lines = [
        "近邻 · 案件统计".to_owned(),
        format!("区划：{}（{}）", v.region.name, v.region.code),
        format!("时段：{} 至 {}", v.from, last_day(v)),
        format!("导出人：{who}　导出时间：{when}"),
    ];
    let zh = Tr {
        lang: crate::i18n::Lang::Zh,
    };

    let ws = wb.add_worksheet().set_name("指标")?;
    for (i, line) in header_lines.iter().enumerate() {
        ws.write_string_with_format(i as u32, 0, line, &bold)?;
    }
    let mut row = 5u32;
    for (c, h) in ["指标", "数值", "公式"].iter().enumerate() {
        ws.write_string_with_format(row, c as u16, *h, &bold)?;
    }
    let i = &v.totals;
    let rates: [(&str, Option<f64>, &str); 5] = [
        ("受理率", i.acceptance, "stats.formula.acceptance"),
        ("按期办结率", i.on_time, "stats.formula.on_time"),
        ("办结率", i.completion, "stats.formula.completion"),
        ("返工率", i.rework, "stats.formula.rework"),
        ("满意率", i.satisfaction, "stats.formula.satisfaction"),
    ];
    let counts: [(&str, i64, &str); 5] = [
        ("有效上报", i.reported, "stats.formula.reported"),
        ("合并件", i.merged, ""),
        ("不予受理", i.rejected, ""),
        ("已销号", i.closed, ""),
        ("超期", i.overdue, ""),
    ];
    for (label, n, formula) in counts {
        row += 1;
        ws.write_string(row, 0, label)?;
        ws.write_number(row, 1, n as f64)?;
        if !formula.is_empty() {
            ws.write_string(row, 2, zh.s(formula))?;
        }
    }
    for (label, r, formula) in rates {
        row += 1;
        ws.write_string(row, 0, label)?;
        match r {
            Some(r) => ws.write_number_with_format(row, 1, r, &percent)?,
            None => ws.write_string(row, 1, "—")?,
        };
        ws.write_string(row, 2, zh.s(formula))?;
    }
    for (label, ms) in [
        ("平均响应时长（分钟）", i.response_avg_ms),
        ("中位响应时长（分钟）", v.response_median_ms),
    ] {
        row += 1;
        ws.write_string(row, 0, label)?;
        match ms {
            Some(ms) => ws.write_number(row, 1, (ms as f64 / 60_000.0 * 10.0).round() / 10.0)?,
            None => ws.write_string(row, 1, "—")?,
        };
        ws.write_string(row, 2, zh.s("stats.formula.response"))?;
    }
    row += 2;
    ws.write_string_with_format(row, 0, "各阶段件数", &bold)?;
    for (stage, n) in &v.stages {
        row += 1;
        ws.write_string(row, 0, stage.zh())?;
        ws.write_number(row, 1, *n as f64)?;
    }
    ws.set_column_width(0, 22)?;
    ws.set_column_width(1, 12)?;
    ws.set_column_width(2, 70)?;

    let ws = wb.add_worksheet().set_name("分类")?;
    for (i, line) in header_lines.iter().enumerate() {
        ws.write_string_with_format(i as u32, 0, line, &bold)?;
    }
    let row = 5u32;
    for (c, h) in [
        "事件分类",
        "件数",
        "已销号",
        "已评价",
        "满意及基本满意",
        "满意率",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string_with_format(row, c as u16, *h, &bold)?;
    }
    for (k, cat) in v.categories.iter().enumerate() {
        let r = row + 1 + k as u32;
        ws.write_string(r, 0, &cat.name)?;
        ws.write_number(r, 1, cat.cases as f64)?;
        ws.write_number(r, 2, cat.closed as f64)?;
        ws.write_number(r, 3, cat.rated as f64)?;
        ws.write_number(r, 4, cat.content as f64)?;
        if cat.rated > 0 {
            ws.write_number_with_format(r, 5, cat.content as f64 / cat.rated as f64, &percent)?;
        } else {
            ws.write_string(r, 5, "—")?;
        }
    }
    ws.set_column_width(0, 28)?;

    let ws = wb.add_worksheet().set_name("下级区划")?;
    for (i, line) in header_lines.iter().enumerate() {
        ws.write_string_with_format(i as u32, 0, line, &bold)?;
    }
    let row = 5u32;
    let heads = [
        "区划",
        "编码",
        "层级",
        "有效上报",
        "受理率",
        "按期办结率",
        "办结率",
        "返工率",
        "满意率",
        "超期",
    ];
    for (c, h) in heads.iter().enumerate() {
        ws.write_string_with_format(row, c as u16, *h, &bold)?;
    }
    let mut lines: Vec<(String, String, &str, &Indicators)> = v
        .children
        .iter()
        .map(|c| {
            (
                c.region.name.clone(),
                c.region.code.clone(),
                c.region.level.zh(),
                &c.indicators,
            )
        })
        .collect();
    if let Some(own) = &v.own {
        lines.push((
            zh.s("stats.own").into(),
            v.region.code.clone(),
            v.region.level.zh(),
            own,
        ));
    }
    for (k, (name, code, level, ind)) in lines.iter().enumerate() {
        let r = row + 1 + k as u32;
        ws.write_string(r, 0, name)?;
        ws.write_string(r, 1, code)?;
        ws.write_string(r, 2, *level)?;
        ws.write_number(r, 3, ind.reported as f64)?;
        for (c, rate) in [
            ind.acceptance,
            ind.on_time,
            ind.completion,
            ind.rework,
            ind.satisfaction,
        ]
        .iter()
        .enumerate()
        {
            let col = 4 + c as u16;
            match rate {
                Some(x) => ws.write_number_with_format(r, col, *x, &percent)?,
                None => ws.write_string(r, col, "—")?,
            };
        }
        ws.write_number(r, 9, ind.overdue as f64)?;
    }
    ws.set_column_width(0, 20)?;
    ws.set_column_width(1, 22)?;
    wb.save_to_buffer()
}
