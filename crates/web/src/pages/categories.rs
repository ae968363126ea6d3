//! The county's case settings for system administrators: category limits, handling units and
//! the routing table, and the working-day calendar.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jinlin_app::AppError;
use jinlin_app::categories::CategoryEdit;
use jinlin_domain::categories::HandlingLevel;
use jinlin_domain::deadlines::{DeadlineSpec, Urgency};
use serde::Deserialize;

use super::{Chrome, render};
use crate::AppState;
use crate::auth::{SignedIn, Ui};
use crate::error::PageError;
use crate::i18n::Tr;

fn pe(t: Tr) -> impl Fn(AppError) -> PageError {
    move |e| PageError::new(e, t.lang)
}

pub struct CategoryLine {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub child: bool,
    pub response: String,
    pub onsite: String,
    pub resolution: String,
    pub urgency: &'static str,
    pub level: &'static str,
    pub active: bool,
}

fn urgency_label(t: Tr, u: Urgency) -> &'static str {
    match u {
        Urgency::Normal => t.s("settings.urgency.normal"),
        Urgency::Urgent => t.s("settings.urgency.urgent"),
        Urgency::Critical => t.s("settings.urgency.critical"),
    }
}

#[derive(Template)]
#[template(path = "settings_categories.html")]
struct CategoriesPage {
    c: Chrome,
    rows: Vec<CategoryLine>,
    flash: Option<String>,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn categories(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<Done>,
) -> Result<Response, PageError> {
    let all = state
        .app
        .all_categories(&session.actor)
        .await
        .map_err(pe(t))?;
    let view = CategoriesPage {
        c: Chrome::new(&session, t, "settings", "/admin/categories"),
        rows: all
            .iter()
            .map(|k| CategoryLine {
                id: k.id,
                code: k.code.clone(),
                name: k.name.clone(),
                child: k.parent_id.is_some(),
                response: k.response.to_string(),
                onsite: k.onsite.map(|o| o.to_string()).unwrap_or_default(),
                resolution: k.resolution.to_string(),
                urgency: urgency_label(t, k.urgency),
                level: HandlingLevel::parse(&k.level)
                    .map(|l| t.pick(l.zh(), l.en()))
                    .unwrap_or(""),
                active: k.active,
            })
            .collect(),
        flash: q.done.map(|_| t.s("settings.saved").to_owned()),
    };
    Ok(render(&view, t.lang)?.into_response())
}

/// A deadline as the form shows it: amount and unit.
fn split_spec(s: DeadlineSpec) -> (u32, &'static str) {
    match s {
        DeadlineSpec::NaturalMinutes(m) => (m, "natural_minutes"),
        DeadlineSpec::WorkingHours(h) => (h, "working_hours"),
        DeadlineSpec::WorkingDays(d) => (d, "working_days"),
    }
}

#[derive(Deserialize, Default)]
pub struct CategoryForm {
    #[serde(default)]
    name: String,
    active: Option<String>,
    #[serde(default)]
    response: String,
    #[serde(default)]
    onsite: String,
    #[serde(default)]
    resolution: String,
    #[serde(default)]
    resolution_unit: String,
    #[serde(default)]
    urgency: String,
    #[serde(default)]
    level: String,
}

#[derive(Template)]
#[template(path = "settings_category.html")]
struct CategoryPage {
    c: Chrome,
    id: i64,
    code: String,
    form: CategoryForm,
    levels: Vec<(&'static str, &'static str)>,
    urgencies: Vec<(&'static str, &'static str)>,
    units: Vec<(&'static str, &'static str)>,
    error: Option<String>,
    error_field: String,
}

async fn category_page(
    state: &AppState,
    session: &crate::auth::Session,
    t: Tr,
    id: i64,
    form: Option<CategoryForm>,
    error: Option<AppError>,
) -> Result<Response, PageError> {
    let all = state
        .app
        .all_categories(&session.actor)
        .await
        .map_err(pe(t))?;
    let k = all.iter().find(|k| k.id == id).ok_or_else(|| {
        PageError::new(AppError::NotFound(format!("事件分类 #{id} 不存在")), t.lang)
    })?;
    let (amount, unit) = split_spec(k.resolution);
    let form = form.unwrap_or_else(|| CategoryForm {
        name: k.name.clone(),
        active: k.active.then(|| "1".into()),
        response: split_spec(k.response).0.to_string(),
        onsite: k
            .onsite
            .map(|o| split_spec(o).0.to_string())
            .unwrap_or_default(),
        resolution: amount.to_string(),
        resolution_unit: unit.into(),
        urgency: match k.urgency {
            Urgency::Normal => "normal",
            Urgency::Urgent => "urgent",
            Urgency::Critical => "critical",
        }
        .into(),
        level: k.level.clone(),
    });
    let status = crate::error::status_or_ok(error.as_ref());
    let view = CategoryPage {
        c: Chrome::new(session, t, "settings", "/admin/categories"),
        id,
        code: k.code.clone(),
        form,
        levels: HandlingLevel::ALL
            .iter()
            .map(|l| (l.as_str(), t.pick(l.zh(), l.en())))
            .collect(),
        urgencies: vec![
            ("normal", t.s("settings.urgency.normal")),
            ("urgent", t.s("settings.urgency.urgent")),
            ("critical", t.s("settings.urgency.critical")),
        ],
        units: vec![
            ("natural_minutes", t.s("settings.unit.minutes")),
            ("working_hours", t.s("settings.unit.working_hours")),
            ("working_days", t.s("settings.unit.working_days")),
        ],
        error_field: crate::error::field_name(error.as_ref()),
        error: error.map(|e| e.to_string()),
    };
    Ok((status, render(&view, t.lang)?).into_response())
}

pub async fn category_form(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    category_page(&state, &session, t, id, None, None).await
}

fn minutes(v: &str, field: &str, label: &str) -> Result<u32, AppError> {
    v.trim()
        .parse()
        .map_err(|_| AppError::invalid(field, format!("{label}：请填写整数")))
}

fn edit_of(f: &CategoryForm) -> Result<CategoryEdit, AppError> {
    let amount = minutes(&f.resolution, "resolution", "办结时限")?;
    Ok(CategoryEdit {
        name: f.name.clone(),
        active: f.active.is_some(),
        response: DeadlineSpec::NaturalMinutes(minutes(&f.response, "response", "响应时限")?),
        onsite: match f.onsite.trim() {
            "" => None,
            v => Some(DeadlineSpec::NaturalMinutes(minutes(
                v,
                "onsite",
                "到场时限",
            )?)),
        },
        resolution: match f.resolution_unit.as_str() {
            "natural_minutes" => DeadlineSpec::NaturalMinutes(amount),
            "working_hours" => DeadlineSpec::WorkingHours(amount),
            "working_days" => DeadlineSpec::WorkingDays(amount),
            _ => return Err(AppError::invalid("resolution", "办结时限：请选择单位")),
        },
        urgency: match f.urgency.as_str() {
            "urgent" => Urgency::Urgent,
            "critical" => Urgency::Critical,
            "normal" => Urgency::Normal,
            _ => return Err(AppError::invalid("urgency", "紧急程度：请选择")),
        },
        level: HandlingLevel::parse(&f.level)
            .ok_or_else(|| AppError::invalid("level", "处置层级：请选择"))?,
    })
}

pub async fn save_category(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
    Form(f): Form<CategoryForm>,
) -> Result<Response, PageError> {
    let result = match edit_of(&f) {
        Ok(edit) => state.app.edit_category(&session.actor, id, edit).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/categories?done=1").into_response()),
        Err(e @ AppError::Invalid { .. }) => {
            category_page(&state, &session, t, id, Some(f), Some(e)).await
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

// ----- units and routing ----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "settings_routing.html")]
struct RoutingPage {
    c: Chrome,
    units: Vec<(i64, String, &'static str, String)>,
    routes: Vec<(String, String, String)>,
    categories: Vec<(i64, String)>,
    flash: Option<String>,
    error: Option<String>,
}

async fn routing_page(
    state: &AppState,
    session: &crate::auth::Session,
    t: Tr,
    flash: Option<String>,
    error: Option<AppError>,
) -> Result<Response, PageError> {
    let app = &state.app;
    let units = app.handling_units(&session.actor).await.map_err(pe(t))?;
    let routes = app.routing_table(&session.actor).await.map_err(pe(t))?;
    let categories = app
        .all_categories(&session.actor)
        .await
        .map_err(pe(t))?
        .into_iter()
        .filter(|k| k.active)
        .map(|k| {
            let name = if k.parent_id.is_some() {
                format!("　{}", k.name)
            } else {
                k.name
            };
            (k.id, name)
        })
        .collect();
    let status = crate::error::status_or_ok(error.as_ref());
    let view = RoutingPage {
        c: Chrome::new(session, t, "routing", "/admin/routing"),
        units: units
            .into_iter()
            .map(|u| {
                let kind = if u.kind == "partner" {
                    t.s("settings.unit_kind.partner")
                } else {
                    t.s("settings.unit_kind.department")
                };
                (u.id, u.name, kind, u.phone.unwrap_or_default())
            })
            .collect(),
        routes: routes
            .into_iter()
            .map(|r| (r.category_name, r.region_name, r.unit_name))
            .collect(),
        categories,
        flash,
        error: error.map(|e| e.to_string()),
    };
    Ok((status, render(&view, t.lang)?).into_response())
}

pub async fn routing(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<Done>,
) -> Result<Response, PageError> {
    let flash = q.done.map(|_| t.s("settings.saved").to_owned());
    routing_page(&state, &session, t, flash, None).await
}

#[derive(Deserialize)]
pub struct UnitForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    phone: String,
}

pub async fn add_unit(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Form(f): Form<UnitForm>,
) -> Result<Response, PageError> {
    match state
        .app
        .add_unit(&session.actor, &f.name, &f.kind, Some(&f.phone))
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/routing?done=1").into_response()),
        Err(e @ AppError::Invalid { .. }) => routing_page(&state, &session, t, None, Some(e)).await,
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

#[derive(Deserialize)]
pub struct RouteForm {
    category: Option<i64>,
    #[serde(default)]
    region: String,
    unit: Option<i64>,
}

pub async fn set_route(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Form(f): Form<RouteForm>,
) -> Result<Response, PageError> {
    let result = match (f.category, f.unit) {
        (Some(c), Some(u)) => state.app.set_route(&session.actor, c, &f.region, u).await,
        (None, _) => Err(AppError::invalid("category", "事件分类：请选择")),
        (_, None) => Err(AppError::invalid("unit", "承办单位：请选择")),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/routing?done=1").into_response()),
        Err(e @ AppError::Invalid { .. }) => routing_page(&state, &session, t, None, Some(e)).await,
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

// ----- calendar -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "settings_calendar.html")]
struct CalendarPage {
    c: Chrome,
    days: Vec<(String, &'static str, String)>,
    flash: Option<String>,
    error: Option<String>,
}

async fn calendar_page(
    state: &AppState,
    session: &crate::auth::Session,
    t: Tr,
    flash: Option<String>,
    error: Option<AppError>,
) -> Result<Response, PageError> {
    let days = state
        .app
        .calendar_exceptions(&session.actor)
        .await
        .map_err(pe(t))?;
    let status = crate::error::status_or_ok(error.as_ref());
    let view = CalendarPage {
        c: Chrome::new(session, t, "calendar", "/admin/calendar"),
        days: days
            .into_iter()
            .map(|(day, kind, note)| {
                let label = if kind == "holiday" {
                    t.s("settings.holiday")
                } else {
                    t.s("settings.workday")
                };
                (day, label, note)
            })
            .collect(),
        flash,
        error: error.map(|e| e.to_string()),
    };
    Ok((status, render(&view, t.lang)?).into_response())
}

pub async fn calendar(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<Done>,
) -> Result<Response, PageError> {
    let flash = q.done.map(|_| t.s("settings.saved").to_owned());
    calendar_page(&state, &session, t, flash, None).await
}

#[derive(Deserialize)]
pub struct DayForm {
    #[serde(default)]
    day: String,
    /// holiday | workday | clear
    #[serde(default)]
    kind: String,
    #[serde(default)]
    note: String,
}

pub async fn set_day(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Form(f): Form<DayForm>,
) -> Result<Response, PageError> {
    let kind = (f.kind != "clear").then_some(f.kind.as_str());
    match state
        .app
        .set_calendar_day(&session.actor, &f.day, kind, &f.note)
        .await
    {
        Ok(()) => Ok(Redirect::to("/admin/calendar?done=1").into_response()),
        Err(e @ AppError::Invalid { .. }) => {
            calendar_page(&state, &session, t, None, Some(e)).await
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}
