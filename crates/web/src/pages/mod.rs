//! Server-rendered pages. Each handler builds a view model of display-ready strings; templates
//! never see store rows with more than they should show.

mod admin;
mod cases;
mod categories;
mod home;
mod open311;
mod people;
mod people_import;
mod public;
mod regions;
mod staff;
mod stats;

use askama::Template;
use axum::Router;
use axum::response::Html;
use axum::routing::{get, post};
use jinlin_domain::accounts::Role;

use crate::AppState;
use crate::auth::Session;
use crate::error::PageError;
use crate::i18n::Tr;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home::dashboard))
        .route("/login", get(home::login_form).post(home::login))
        .route("/logout", post(home::logout))
        .route("/signup", get(public::signup_form).post(public::signup))
        .route("/report", get(public::report_form).post(public::report))
        .route("/lang/{lang}", get(home::switch_lang))
        .route("/regions", get(regions::tree))
        .route("/regions/search", get(regions::search))
        .route("/regions/{code}", get(regions::detail))
        .route("/regions/{code}/children", get(regions::children))
        .route("/regions/{code}/map", get(regions::map))
        .route("/regions/{code}/grids.geojson", get(regions::grids_geojson))
        .route("/regions/{code}/posts", post(regions::assign_post))
        .route(
            "/regions/{code}/posts/{id}/remove",
            post(regions::remove_post),
        )
        .route("/cases", get(cases::list).post(cases::create))
        .route("/cases/new", get(cases::new_form))
        .route("/cases/{id}", get(cases::detail))
        .route("/cases/{id}/act", post(cases::act))
        .route("/cases/{id}/report-in", post(cases::report_in))
        .route("/cases/{id}/reclassify", post(cases::reclassify))
        .route("/cases/photos/{id}", get(cases::photo))
        .route("/inbox", get(cases::inbox))
        .route("/inbox/read", post(cases::mark_read))
        .route("/staff", get(staff::list).post(staff::create))
        .route("/staff/new", get(staff::new_form))
        .route("/staff/{id}", get(staff::detail))
        .route("/staff/{id}/active", post(staff::set_active))
        .route("/staff/{id}/password", post(staff::reset_password))
        .route(
            "/admin/grids/import",
            get(admin::import_form).post(admin::import),
        )
        .route("/admin/audit", get(admin::audit))
        .route("/admin/webhooks", get(admin::webhooks))
        .route("/admin/categories", get(categories::categories))
        .route(
            "/admin/categories/{id}",
            get(categories::category_form).post(categories::save_category),
        )
        .route("/admin/routing", get(categories::routing))
        .route("/admin/routing/units", post(categories::add_unit))
        .route("/admin/routing/routes", post(categories::set_route))
        .route(
            "/admin/calendar",
            get(categories::calendar).post(categories::set_day),
        )
        .route("/admin/webhooks/{id}/retry", post(admin::retry_webhook))
        .route(
            "/admin/open311",
            get(open311::keys).post(open311::create_key),
        )
        .route("/admin/open311/{id}/revoke", post(open311::revoke_key))
        // people: files
        .route("/people", get(people::search))
        .route("/people/{id}", get(people::person))
        .route("/people/{id}/reveal", post(people::reveal))
        .route("/people/{id}/move", post(people::move_person))
        .route("/households/{id}", get(people::household))
        .route("/regions/{code}/dwellings", get(people::dwellings))
        .route("/admin/people-access", get(people::access_log))
        .route(
            "/admin/care-tags",
            get(people::care_tags).post(people::save_care_tag),
        )
        .route("/api/docs", get(admin::api_docs))
        .route("/stats", get(stats::page))
        .route("/stats/data.json", get(stats::data))
        .route("/stats/export.xlsx", get(stats::export))
        // people: import and export
        .route("/people/import", get(people_import::form))
        .route("/people/import/template.xlsx", get(people_import::template))
        .route(
            "/people/import/preview",
            post(people_import::preview).layer(axum::extract::DefaultBodyLimit::max(
                crate::IMPORT_BODY_LIMIT,
            )),
        )
        .route("/people/import/confirm", post(people_import::confirm))
        .route("/people/import/jobs/{file}", get(people_import::job))
        .route("/people/import/errors/{file}", get(people_import::errors))
        .route("/people/export.xlsx", get(people_import::export))
}

/// What every signed-in page shows around its content: top bar, navigation, language.
pub struct Chrome {
    pub t: Tr,
    pub user_name: String,
    pub role: Role,
    pub region_name: String,
    pub region_code: String,
    pub csrf: String,
    /// Which navigation entry is active.
    pub nav: &'static str,
    pub phone: bool,
    pub can_staff: bool,
    pub can_import: bool,
    pub can_audit: bool,
    /// Works on cases (everyone but the system administrator).
    pub can_cases: bool,
    /// The "new case" entry: its label, when the role reports.
    pub report_label: Option<&'static str>,
    /// 统计分析 in the navigation (desk roles that review their area's figures).
    pub can_stats: bool,
    /// 实有人口 in the navigation (roles that work with people's files).
    pub can_people: bool,
    /// 个人信息访问记录 (who saw, revealed, exported personal data).
    pub can_people_log: bool,
    /// 重点人群标签 (the care tag list).
    pub can_tags: bool,
    /// 人员导入导出 (roles that manage people lists).
    pub can_people_lists: bool,
    /// Current path, so the language switch can come back here.
    pub here: String,
}

impl Chrome {
    pub fn new(session: &Session, t: Tr, nav: &'static str, here: &str) -> Chrome {
        let a = &session.actor;
        Chrome {
            t,
            user_name: a.display_name.clone(),
            role: a.role,
            region_name: a.region_name.clone(),
            region_code: a.region_code.clone(),
            csrf: session.csrf_token.clone(),
            nav,
            phone: a.role.prefers_phone_layout(),
            can_staff: a.role.is_staff(),
            can_import: a.role.manages_regions(),
            can_audit: a.role == Role::Sysadmin,
            can_people: jinlin_app::people::may_use_people(a.role),
            can_people_log: matches!(a.role, Role::Sysadmin | Role::StreetAdmin | Role::Leader),
            can_tags: matches!(a.role, Role::Sysadmin | Role::StreetAdmin),
            can_cases: a.role != Role::Sysadmin,
            report_label: cases::report_label(a.role).map(|k| t.s(k)),
            can_stats: matches!(
                a.role,
                Role::Leader | Role::StreetAdmin | Role::CommunityAdmin | Role::GridHead
            ),
            can_people_lists: jinlin_app::people::may_manage_lists(a.role),
            here: crate::auth::percent_encode(here),
        }
    }
}

pub fn render<T: Template>(t: &T, lang: crate::i18n::Lang) -> Result<Html<String>, PageError> {
    t.render().map(Html).map_err(|e| {
        PageError::new(
            jinlin_app::AppError::Internal(format!("template: {e}")),
            lang,
        )
    })
}

/// `2026-11-22 14:05` in China Standard Time (UTC+8, no daylight saving).
pub fn format_time(ms: i64) -> String {
    jinlin_domain::deadlines::format_cst(ms)
}

/// Pagination links that keep the query.
pub struct Pager {
    pub page: u32,
    pub pages: u32,
    pub total: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    pub fn new<T>(p: &jinlin_app::Page<T>, base: &str) -> Pager {
        let pages = p.pages();
        let sep = if base.contains('?') { '&' } else { '?' };
        let link = |n: u32| format!("{base}{sep}page={n}");
        Pager {
            page: p.page,
            pages,
            total: p.total,
            prev: (p.page > 1).then(|| link(p.page - 1)),
            next: (p.page < pages).then(|| link(p.page + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_show_in_beijing_time() {
        // 2026-11-22 00:00:00 UTC is 08:00 in Beijing.
        assert_eq!(super::format_time(1_795_305_600_000), "2026-11-22 08:00");
    }
}
