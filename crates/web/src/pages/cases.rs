//! The closed loop in the browser: reporting (resident, patrol, hotline desk), worklists, the
//! case page with its timeline and every action the viewer may take, photos and the inbox.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jinlin_app::cases::{
    ActionExtras, CaseDetail, Channel, DispatchOptions, Intake, ListKind, ListQuery, Location,
    Upload, WorkItem, mask_phone,
};
use jinlin_app::{Actor, AppError};
use jinlin_domain::accounts::Role;
use jinlin_domain::cases::{Action, ActionKind, Assignee, Satisfaction, Stage};
use jinlin_domain::crs::Crs;
use jinlin_domain::deadlines::Warning;
use serde::Deserialize;

use super::{Chrome, Pager, format_time, render};
use crate::AppState;
use crate::auth::{SignedIn, Ui, percent_encode};
use crate::error::PageError;
use crate::i18n::Tr;

// ----- forms ----------------------------------------------------------------------------------

/// A multipart form read into text fields and uploaded files.
#[derive(Default)]
pub struct FormData {
    fields: HashMap<String, Vec<String>>,
    pub files: Vec<Upload>,
}

/// Longest text field accepted from a form (descriptions are checked again, in characters).
const MAX_FIELD_BYTES: usize = 64 * 1024;

impl FormData {
    pub async fn read(mut m: Multipart) -> Result<FormData, AppError> {
        let mut out = FormData::default();
        let bad = |e: axum::extract::multipart::MultipartError| {
            AppError::invalid("form", format!("表单无法读取：{}", e.body_text()))
        };
        while let Some(field) = m.next_field().await.map_err(bad)? {
            let name = field.name().unwrap_or_default().to_owned();
            if let Some(file_name) = field.file_name().map(str::to_owned) {
                let bytes = field.bytes().await.map_err(bad)?;
                if !bytes.is_empty() {
                    out.files.push(Upload {
                        file_name,
                        bytes: bytes.to_vec(),
                    });
                }
                continue;
            }
            let text = field.text().await.map_err(bad)?;
            if text.len() > MAX_FIELD_BYTES {
                return Err(AppError::invalid(&name, format!("字段 {name}：内容过长")));
            }
            out.fields.entry(name).or_default().push(text);
        }
        Ok(out)
    }

    /// The first value of a field, trimmed; None when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .and_then(|v| v.first())
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .get(name)
            .map(|v| {
                v.iter()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Answers to extra questions: fields named `answer.CODE` (several for a multi-value list).
    pub fn answers(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = self
            .fields
            .iter()
            .filter_map(|(name, values)| {
                let code = name.strip_prefix("answer.")?;
                Some((code.to_owned(), values.clone()))
            })
            .collect();
        out.sort();
        out
    }

    fn owned(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    fn number<T: std::str::FromStr>(&self, name: &str, label: &str) -> Result<Option<T>, AppError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| AppError::invalid(name, format!("{label}：“{v}”不是有效的数字"))),
        }
    }
}

/// `2026-12-03T18:00` (a datetime-local field, Beijing time) → epoch milliseconds.
pub fn parse_local_datetime(s: &str) -> Option<i64> {
    let (date, time) = s.trim().split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min) = (t.next()??, t.next()??);
    let date = jinlin_domain::deadlines::Date::new(
        i32::try_from(y).ok()?,
        u32::try_from(m).ok()?,
        u32::try_from(day).ok()?,
    )
    .ok()?;
    if !(0..24).contains(&h) || !(0..60).contains(&min) {
        return None;
    }
    // Date::start_ms is midnight in China Standard Time.
    Some(date.start_ms() + (h * 60 + min) * 60_000)
}

fn required_text(f: &FormData, name: &str, label: &str) -> Result<String, AppError> {
    f.owned(name)
        .ok_or_else(|| AppError::invalid(name, format!("{label}：不能为空")))
}

/// The domain action a form asks for.
pub fn action_from_form(kind: ActionKind, f: &FormData) -> Result<Action, AppError> {
    use ActionKind as K;
    Ok(match kind {
        K::Accept => Action::Accept,
        K::Reject => Action::Reject {
            reason: required_text(f, "reason", "不予受理的理由")?,
        },
        K::Dispatch => Action::Dispatch {
            to: parse_assignee(f.get("to"))?,
        },
        K::Take => Action::Take,
        K::Return => Action::Return {
            reason: required_text(f, "reason", "退回理由")?,
        },
        K::Resolve => Action::Resolve {
            result: required_text(f, "result", "办理结果")?,
        },
        K::VerifyPass => Action::VerifyPass,
        K::VerifyFail => Action::VerifyFail {
            reason: required_text(f, "reason", "核查不通过的原因")?,
        },
        K::Rate => Action::Rate {
            rating: f
                .get("rating")
                .and_then(|r| Satisfaction::ALL.iter().copied().find(|s| s.as_str() == r))
                .ok_or_else(|| AppError::invalid("rating", "评价：请选择满意、基本满意或不满意"))?,
        },
        K::Reopen => Action::Reopen {
            reason: required_text(f, "reason", "重新办理的原因")?,
        },
        K::Close => Action::Close,
        K::Merge => Action::Merge {
            into: f
                .number("into", "合并到的案件编号")?
                .ok_or_else(|| AppError::invalid("into", "合并到的案件编号：不能为空"))?,
        },
        K::Urge => Action::Urge,
        K::Supervise => Action::Supervise {
            deadline: f
                .get("deadline")
                .and_then(parse_local_datetime)
                .ok_or_else(|| AppError::invalid("deadline", "督办时限：请选择日期和时间"))?,
        },
        K::Whistle => Action::Whistle,
        K::Escalate => Action::Escalate,
        K::RequestExtension => Action::RequestExtension {
            until: f
                .get("until")
                .and_then(parse_local_datetime)
                .ok_or_else(|| AppError::invalid("until", "延期至：请选择日期和时间"))?,
            reason: required_text(f, "reason", "延期理由")?,
        },
        K::ApproveExtension => Action::ApproveExtension,
        K::DenyExtension => Action::DenyExtension,
        K::RequestSuspension => Action::RequestSuspension {
            reason: required_text(f, "reason", "挂账理由")?,
        },
        K::ApproveSuspension => Action::ApproveSuspension,
        K::DenySuspension => Action::DenySuspension,
        K::Resume => Action::Resume,
        K::Arrive => Action::Arrive,
    })
}

/// `grid_worker:12`, `team:3`, `department:5`, `community:40`, `street:7`.
fn parse_assignee(v: Option<&str>) -> Result<Assignee, AppError> {
    let bad = || AppError::invalid("to", "派单对象：请选择网格员、服务队、部门、社区或街道");
    let (kind, id) = v.and_then(|v| v.split_once(':')).ok_or_else(bad)?;
    let id: i64 = id.parse().map_err(|_| bad())?;
    Ok(match kind {
        "grid_worker" => Assignee::GridWorker(id),
        "team" => Assignee::Team(id),
        "department" => Assignee::Department(id),
        "community" => Assignee::Community(id),
        "street" => Assignee::Street(id),
        _ => return Err(bad()),
    })
}

// ----- shared view pieces ---------------------------------------------------------------------

pub(super) fn pe(t: Tr) -> impl Fn(AppError) -> PageError {
    move |e| PageError::new(e, t.lang)
}

/// "剩余 3 小时" / "超期 2 天" between now and a deadline.
pub fn time_left(t: Tr, now: i64, due: i64) -> String {
    let diff = due - now;
    let mins = diff.abs() / 60_000;
    let amount = if mins < 60 {
        format!("{} {}", mins.max(1), t.s("time.minutes"))
    } else if mins < 48 * 60 {
        format!("{} {}", mins / 60, t.s("time.hours"))
    } else {
        format!("{} {}", mins / (24 * 60), t.s("time.days"))
    };
    if diff >= 0 {
        format!("{} {amount}", t.s("time.left"))
    } else {
        format!("{} {amount}", t.s("time.overdue"))
    }
}

fn stage_label(t: Tr, s: Stage) -> &'static str {
    t.pick(s.zh(), s.en())
}

fn warning_label(t: Tr, w: Warning) -> &'static str {
    match w {
        Warning::Blue => t.s("warning.blue"),
        Warning::Yellow => t.s("warning.yellow"),
        Warning::Orange => t.s("warning.orange"),
        Warning::Red => t.s("warning.red"),
    }
}

fn short(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

/// One line of a worklist, display-ready.
pub struct ItemView {
    pub id: i64,
    pub category: String,
    pub stage: &'static str,
    pub stage_id: &'static str,
    pub warning: &'static str,
    pub warning_label: &'static str,
    pub summary: String,
    pub place: String,
    pub created: String,
    pub due: String,
    pub flags: Vec<&'static str>,
    pub open: bool,
}

fn item_view(t: Tr, now: i64, w: &WorkItem) -> ItemView {
    let c = &w.case;
    let open = c.stage.is_open();
    let due_at = if c.responded_at.is_none() {
        c.response_due
    } else {
        c.resolution_due
    };
    let mut flags = Vec::new();
    // A finished case was late once; on a list that flag would read as work still waiting.
    if c.overdue && open {
        flags.push(t.s("case.flag.overdue"));
    }
    if c.supervised {
        flags.push(t.s("case.flag.supervised"));
    }
    if c.suspended {
        flags.push(t.s("case.flag.suspended"));
    }
    if c.pending {
        flags.push(t.s("case.flag.pending"));
    }
    ItemView {
        id: c.id,
        category: c.category_name.clone(),
        stage: stage_label(t, c.stage),
        stage_id: c.stage.as_str(),
        warning: w.warning.as_str(),
        warning_label: warning_label(t, w.warning),
        summary: short(&c.description, 60),
        place: match &c.address {
            Some(a) if !a.is_empty() => format!("{} · {}", c.region_name, short(a, 20)),
            _ => c.region_name.clone(),
        },
        created: format_time(c.created_at),
        due: if open && !c.suspended {
            time_left(t, now, due_at)
        } else {
            String::new()
        },
        flags,
        open,
    }
}

// ----- worklists ------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct ListParams {
    view: Option<String>,
    stage: Option<String>,
    category: Option<String>,
    #[serde(default)]
    q: String,
    overdue: Option<String>,
    supervised: Option<String>,
    open: Option<String>,
    page: Option<u32>,
}

pub struct Tab {
    pub id: &'static str,
    pub label: &'static str,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "cases_list.html")]
struct ListPage {
    c: Chrome,
    title: &'static str,
    tabs: Vec<Tab>,
    view: &'static str,
    items: Vec<ItemView>,
    pager: Pager,
    q: String,
    stage: String,
    stages: Vec<(&'static str, &'static str)>,
    overdue: bool,
    supervised: bool,
    open_only: bool,
    can_report: bool,
    report_label: &'static str,
    empty_hint: &'static str,
}

/// The lists a role has, first is the default.
fn views_for(role: Role) -> &'static [&'static str] {
    match role {
        Role::Resident => &["mine"],
        Role::Volunteer | Role::DepartmentHandler => &["tasks", "mine"],
        Role::Leader | Role::Police => &["all", "tasks"],
        Role::Sysadmin => &[],
        _ => &["tasks", "all", "mine"],
    }
}

/// What "new case" means for a role: the channel and its button label key.
fn report_channel(role: Role) -> Option<(Channel, &'static str)> {
    match role {
        Role::Resident | Role::Volunteer => Some((Channel::Resident, "case.new.resident")),
        Role::GridWorker | Role::GridHead | Role::BuildingHead | Role::Police => {
            Some((Channel::Patrol, "case.new.patrol"))
        }
        Role::CommunityAdmin | Role::StreetAdmin => Some((Channel::Hotline, "case.new.hotline")),
        _ => None,
    }
}

/// The i18n key of the "new case" entry for a role.
pub fn report_label(role: Role) -> Option<&'static str> {
    report_channel(role).map(|r| r.1)
}

pub async fn list(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let actor = &session.actor;
    let views = views_for(actor.role);
    let Some(&default_view) = views.first() else {
        return Err(PageError::new(
            AppError::Forbidden("系统管理员不查看案件（个人信息保护）".into()),
            t.lang,
        ));
    };
    let view = p
        .view
        .as_deref()
        .and_then(|v| views.iter().copied().find(|x| *x == v))
        .unwrap_or(default_view);
    let kind = match view {
        "all" => ListKind::All,
        "mine" => ListKind::Mine,
        _ => ListKind::Tasks,
    };
    let stage = p.stage.as_deref().and_then(Stage::parse);
    let query = ListQuery {
        stage,
        category_id: p.category.as_deref().and_then(|c| c.parse().ok()),
        overdue_only: p.overdue.is_some(),
        supervised_only: p.supervised.is_some(),
        open_only: p.open.is_some(),
        q: Some(p.q.trim().to_owned()).filter(|q| !q.is_empty()),
        page: p.page.unwrap_or(1),
        page_size: 20,
        ..ListQuery::default()
    };
    let page = state
        .app
        .list_cases(actor, kind, &query)
        .await
        .map_err(pe(t))?;
    let now = state.app.now();
    let mut base = format!("/cases?view={view}&q={}", percent_encode(p.q.trim()));
    if let Some(s) = stage {
        base.push_str(&format!("&stage={}", s.as_str()));
    }
    for (flag, on) in [
        ("overdue", query.overdue_only),
        ("supervised", query.supervised_only),
        ("open", query.open_only),
    ] {
        if on {
            base.push_str(&format!("&{flag}=1"));
        }
    }
    let label = |v: &str| match v {
        "all" => t.s("case.view.all"),
        "mine" => t.s("case.view.mine"),
        _ => t.s("case.view.tasks"),
    };
    let report = report_channel(actor.role);
    let view_page = ListPage {
        c: Chrome::new(&session, t, "cases", &base),
        title: label(view),
        tabs: views
            .iter()
            .map(|&v| Tab {
                id: v,
                label: label(v),
                active: v == view,
            })
            .collect(),
        view,
        items: page.items.iter().map(|w| item_view(t, now, w)).collect(),
        pager: Pager::new(&page, &base),
        q: p.q.trim().to_owned(),
        stage: stage.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        stages: Stage::ALL
            .iter()
            .map(|s| (s.as_str(), stage_label(t, *s)))
            .collect(),
        overdue: query.overdue_only,
        supervised: query.supervised_only,
        open_only: query.open_only,
        can_report: report.is_some(),
        report_label: report.map(|r| t.s(r.1)).unwrap_or(""),
        empty_hint: match view {
            "mine" => t.s("case.empty.mine"),
            "all" => t.s("case.empty.all"),
            _ => t.s("case.empty.tasks"),
        },
    };
    Ok(render(&view_page, t.lang)?.into_response())
}

// ----- reporting ------------------------------------------------------------------------------

/// The extra questions of every category that has some, for the report forms: the page script
/// shows (and enables) only the chosen category's set. `given` refills a page shown again.
pub struct QuestionsView {
    pub legend: &'static str,
    pub sets: Vec<(i64, &'static [jinlin_domain::questions::Question])>,
    given: Vec<(String, Vec<String>)>,
}

impl QuestionsView {
    pub fn new(
        app: &jinlin_app::App,
        legend: &'static str,
        given: Vec<(String, Vec<String>)>,
    ) -> Self {
        let sets = app
            .categories()
            .iter()
            .filter(|c| c.active)
            .map(|c| (c.id, jinlin_domain::questions::questions_for(&c.code)))
            .filter(|(_, q)| !q.is_empty())
            .collect();
        QuestionsView {
            legend,
            sets,
            given,
        }
    }

    pub fn value(&self, code: &str) -> &str {
        self.given
            .iter()
            .find(|(c, _)| c == code)
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn checked(&self, code: &str, key: &str) -> bool {
        self.given
            .iter()
            .any(|(c, v)| c == code && v.iter().any(|x| x == key))
    }
}

pub struct CategoryGroup {
    pub name: String,
    pub options: Vec<(i64, String)>,
}

#[derive(Template)]
#[template(path = "case_new.html")]
struct NewPage {
    c: Chrome,
    questions: QuestionsView,
    title: &'static str,
    hint: &'static str,
    channel: &'static str,
    hotline: bool,
    /// A patrol report's contact is the grid worker: no contact fields.
    patrol: bool,
    groups: Vec<CategoryGroup>,
    places: Vec<(String, String)>,
    map_code: String,
    tile_url: String,
    form: NewForm,
    error: Option<String>,
    error_field: String,
    max_photos: usize,
}

/// What the reporter typed, kept when the form comes back with an error.
#[derive(Default)]
pub struct NewForm {
    pub category: String,
    pub description: String,
    pub lat: String,
    pub lng: String,
    pub crs: String,
    pub region_code: String,
    pub address: String,
    pub reporter_name: String,
    pub reporter_phone: String,
    pub answers: Vec<(String, Vec<String>)>,
}

impl NewPage {
    fn category_selected(&self, id: &i64) -> bool {
        self.form.category == id.to_string()
    }
    fn place_selected(&self, code: &str) -> bool {
        self.form.region_code == code
    }
}

/// Categories grouped under their top-level group, in the taxonomy's order.
pub fn category_groups(app: &jinlin_app::App) -> Vec<CategoryGroup> {
    let all = app.categories();
    let mut groups = Vec::new();
    for root in all.iter().filter(|c| c.parent_id.is_none()) {
        let children: Vec<(i64, String)> = all
            .iter()
            .filter(|c| c.parent_id == Some(root.id))
            .map(|c| (c.id, c.name.clone()))
            .collect();
        let options = if children.is_empty() {
            vec![(root.id, root.name.clone())]
        } else {
            children
        };
        groups.push(CategoryGroup {
            name: root.name.clone(),
            options,
        });
    }
    groups
}

async fn new_page(
    state: &AppState,
    session: &crate::auth::Session,
    t: Tr,
    form: NewForm,
    error: Option<AppError>,
) -> Result<Response, PageError> {
    let actor = &session.actor;
    let Some((channel, title_key)) = report_channel(actor.role) else {
        return Err(PageError::new(
            AppError::Forbidden("您的角色不能在此登记案件".into()),
            t.lang,
        ));
    };
    let places = state.app.location_choices(actor).await.map_err(pe(t))?;
    let status = match &error {
        Some(e) => crate::error::status_of(e),
        None => StatusCode::OK,
    };
    let page = NewPage {
        questions: QuestionsView::new(
            &state.app,
            t.s("case.field.questions"),
            form.answers.clone(),
        ),
        c: Chrome::new(session, t, "report", "/cases/new"),
        title: t.s(title_key),
        hint: match channel {
            Channel::Hotline => t.s("case.new.hotline_hint"),
            Channel::Patrol => t.s("case.new.patrol_hint"),
            _ => t.s("case.new.resident_hint"),
        },
        channel: channel.as_str(),
        hotline: channel == Channel::Hotline,
        patrol: channel == Channel::Patrol,
        groups: category_groups(&state.app),
        places,
        map_code: actor.region_code.clone(),
        tile_url: state.app.settings.tile_url.clone().unwrap_or_default(),
        form,
        error_field: crate::error::field_name(error.as_ref()),
        error: error.map(|e| e.to_string()),
        max_photos: state.app.settings.max_photos,
    };
    Ok((status, render(&page, t.lang)?).into_response())
}

pub async fn new_form(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
) -> Result<Response, PageError> {
    // A resident reports for themselves: their name is the contact unless they change it.
    let form = NewForm {
        reporter_name: if session.actor.role.is_staff() {
            String::new()
        } else {
            session.actor.display_name.clone()
        },
        ..NewForm::default()
    };
    new_page(&state, &session, t, form, None).await
}

fn intake_from_form(actor: &Actor, f: &FormData) -> Result<Intake, AppError> {
    let (channel, _) = report_channel(actor.role)
        .ok_or_else(|| AppError::Forbidden("您的角色不能在此登记案件".into()))?;
    // Left empty: "其他", and the desk classifies it.
    let category_id = f.number::<i64>("category", "事件分类")?.unwrap_or(0);
    let lat = f.number::<f64>("lat", "纬度")?;
    let lng = f.number::<f64>("lng", "经度")?;
    let crs = match f.get("crs") {
        None => Crs::Wgs84,
        Some(c) => Crs::parse(c)
            .ok_or_else(|| AppError::invalid("crs", "坐标系：只能是 wgs84、gcj02 或 bd09"))?,
    };
    let point = match (lat, lng) {
        (Some(lat), Some(lng)) => Some((lat, lng, crs)),
        (None, None) => None,
        _ => {
            return Err(AppError::invalid("location", "位置：经度和纬度须同时填写"));
        }
    };
    Ok(Intake {
        channel,
        category_id,
        description: f.get("description").unwrap_or_default().to_owned(),
        location: Location {
            point,
            region_code: f.owned("region_code"),
            address: f.owned("address"),
        },
        reporter_name: f.owned("reporter_name"),
        reporter_phone: f.owned("reporter_phone"),
        photos: f.files.clone(),
        answers: f.answers(),
        open311: None,
    })
}

pub async fn create(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let f = FormData::read(multipart).await.map_err(pe(t))?;
    let keep = NewForm {
        category: f.get("category").unwrap_or_default().into(),
        description: f.get("description").unwrap_or_default().into(),
        lat: f.get("lat").unwrap_or_default().into(),
        lng: f.get("lng").unwrap_or_default().into(),
        crs: f.get("crs").unwrap_or_default().into(),
        region_code: f.get("region_code").unwrap_or_default().into(),
        address: f.get("address").unwrap_or_default().into(),
        reporter_name: f.get("reporter_name").unwrap_or_default().into(),
        reporter_phone: f.get("reporter_phone").unwrap_or_default().into(),
        answers: f.answers(),
    };
    let result = match intake_from_form(&session.actor, &f) {
        Ok(intake) => state.app.file_case(Some(&session.actor), intake).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(id) => Ok(Redirect::to(&format!("/cases/{id}?done=report")).into_response()),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            new_page(&state, &session, t, keep, Some(e)).await
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

// ----- the case page --------------------------------------------------------------------------

pub struct EventView {
    pub at: String,
    pub actor: String,
    pub role: &'static str,
    pub action: &'static str,
    pub to_stage: &'static str,
    pub note: String,
    pub photos: Vec<i64>,
    pub internal: bool,
}

/// One action button (and the inputs it needs).
pub struct ActionView {
    pub id: &'static str,
    pub label: &'static str,
    /// reason | result | dispatch | rating | merge | deadline | extension | whistle | none
    pub input: &'static str,
    pub primary: bool,
    pub danger: bool,
}

pub struct Fact {
    pub label: &'static str,
    pub value: String,
    pub warn: bool,
}

#[derive(Template)]
#[template(path = "case_detail.html")]
struct DetailPage {
    c: Chrome,
    id: i64,
    version: i64,
    category: String,
    stage: &'static str,
    stage_id: &'static str,
    warning: &'static str,
    warning_label: &'static str,
    open: bool,
    description: String,
    facts: Vec<Fact>,
    photos: Vec<i64>,
    events: Vec<EventView>,
    actions: Vec<ActionView>,
    options: DispatchOptions,
    whistles: Vec<(String, String)>,
    can_report_in: bool,
    /// Category groups for the desk's 改分类 form (empty when it may not).
    reclassify: Vec<CategoryGroup>,
    category_id: i64,
    lat: String,
    lng: String,
    tile_url: String,
    flash: Option<String>,
    error: Option<String>,
    ratings: Vec<(&'static str, &'static str)>,
    back: &'static str,
}

fn action_view(t: Tr, k: ActionKind) -> ActionView {
    use ActionKind as K;
    let input = match k {
        K::Reject | K::Return | K::VerifyFail | K::Reopen | K::RequestSuspension => "reason",
        K::Resolve => "result",
        K::Dispatch => "dispatch",
        K::Rate => "rating",
        K::Merge => "merge",
        K::Supervise => "deadline",
        K::RequestExtension => "extension",
        K::Whistle => "whistle",
        _ => "none",
    };
    ActionView {
        id: k.as_str(),
        label: t.pick(k.zh(), k.en()),
        input,
        primary: matches!(
            k,
            K::Accept | K::Dispatch | K::Take | K::Resolve | K::VerifyPass | K::Rate | K::Arrive
        ),
        danger: matches!(k, K::Reject | K::VerifyFail | K::Return),
    }
}

fn detail_view(
    state: &AppState,
    session: &crate::auth::Session,
    t: Tr,
    d: CaseDetail,
    options: DispatchOptions,
    flash: Option<String>,
    error: Option<String>,
) -> DetailPage {
    let c = &d.case;
    let now = state.app.now();
    let open = c.stage().is_open();
    let mut facts = vec![
        Fact {
            label: t.s("case.category"),
            value: c.category_name.clone(),
            warn: false,
        },
        Fact {
            label: t.s("case.channel"),
            value: jinlin_app::store::cases::channel_zh(&c.channel).to_owned(),
            warn: false,
        },
        Fact {
            label: t.s("case.place"),
            value: {
                let mut s = c.region_name.clone();
                if let Some(g) = &c.grid_name
                    && *g != c.region_name
                {
                    s = format!("{g} · {s}");
                }
                if let Some(a) = c.address.as_deref().filter(|a| !a.is_empty()) {
                    s.push_str(" · ");
                    s.push_str(a);
                }
                s
            },
            warn: false,
        },
        Fact {
            label: t.s("case.reporter"),
            value: {
                let name = c.reporter_name.clone().unwrap_or_default();
                let phone = c
                    .reporter_phone
                    .as_deref()
                    .map(|p| {
                        if d.phone_clear {
                            p.to_owned()
                        } else {
                            mask_phone(p)
                        }
                    })
                    .unwrap_or_default();
                format!("{name} {phone}").trim().to_owned()
            },
            warn: false,
        },
        Fact {
            label: t.s("case.created"),
            value: format_time(c.created_at),
            warn: false,
        },
        Fact {
            label: t.s("case.response_due"),
            value: match c.responded_at {
                Some(r) => format!(
                    "{} · {} {}",
                    format_time(c.response_due),
                    t.s("case.responded_at"),
                    format_time(r)
                ),
                None if open => format!(
                    "{} · {}",
                    format_time(c.response_due),
                    time_left(t, now, c.response_due)
                ),
                None => format_time(c.response_due),
            },
            warn: c.responded_at.is_none() && open && now > c.response_due,
        },
    ];
    if let Some(due) = c.onsite_due {
        facts.push(Fact {
            label: t.s("case.onsite_due"),
            value: match c.onsite_at {
                Some(a) => format!(
                    "{} · {} {}",
                    format_time(due),
                    t.s("case.onsite_at"),
                    format_time(a)
                ),
                None if open => format!("{} · {}", format_time(due), time_left(t, now, due)),
                None => format_time(due),
            },
            warn: c.onsite_at.is_none() && open && now > due,
        });
    }
    facts.push(Fact {
        label: t.s("case.resolution_due"),
        value: match c.resolved_at {
            Some(r) => format!(
                "{} · {} {}",
                format_time(c.resolution_due),
                t.s("case.resolved_at"),
                format_time(r)
            ),
            None if open && !c.state.suspended => format!(
                "{} · {}",
                format_time(c.resolution_due),
                time_left(t, now, c.resolution_due)
            ),
            None => format_time(c.resolution_due),
        },
        warn: c.resolved_at.is_none() && open && now > c.resolution_due,
    });
    let level = jinlin_domain::categories::HandlingLevel::parse(&c.level)
        .map(|l| t.pick(l.zh(), l.en()))
        .unwrap_or("");
    let handler = c
        .handler_name
        .clone()
        .or_else(|| c.unit_name.clone())
        .unwrap_or_else(|| {
            if c.state.assignee.is_some() {
                t.s("case.awaiting_take").to_owned()
            } else {
                t.s("case.nobody").to_owned()
            }
        });
    facts.push(Fact {
        label: t.s("case.level"),
        value: format!("{level} · {handler}"),
        warn: false,
    });
    if c.state.rework_count > 0 || c.state.urge_count > 0 {
        facts.push(Fact {
            label: t.s("case.counts"),
            value: format!(
                "{} {} · {} {}",
                t.s("case.rework"),
                c.state.rework_count,
                t.s("case.urges"),
                c.state.urge_count
            ),
            warn: c.state.rework_count > 0,
        });
    }
    if let Some(r) = c.state.rating {
        facts.push(Fact {
            label: t.s("case.rating"),
            value: t.pick(r.zh(), r.en()).to_owned(),
            warn: r == Satisfaction::Unsatisfied,
        });
    }
    if let Some(until) = c.state.supervised_until {
        facts.push(Fact {
            label: t.s("case.supervised_until"),
            value: format_time(until),
            warn: true,
        });
    }
    if let Some(req) = &c.state.pending_extension {
        facts.push(Fact {
            label: t.s("case.pending_extension"),
            value: format!("{} · {}", format_time(req.until), req.reason),
            warn: true,
        });
    }
    if let Some(reason) = &c.state.pending_suspension {
        facts.push(Fact {
            label: t.s("case.pending_suspension"),
            value: reason.clone(),
            warn: true,
        });
    }
    for (question, answer) in &d.answers {
        facts.push(Fact {
            label: question,
            value: answer.clone(),
            warn: false,
        });
    }
    if let Some(into) = c.merged_into {
        facts.push(Fact {
            label: t.s("case.merged_into"),
            value: format!("#{into}"),
            warn: false,
        });
    }
    let event_photos = |id: i64| -> Vec<i64> {
        d.photos
            .iter()
            .filter(|p| p.event_id == Some(id))
            .map(|p| p.id)
            .collect()
    };
    let events = d
        .events
        .iter()
        .map(|e| EventView {
            at: format_time(e.at),
            actor: e.actor_name.clone(),
            role: Role::parse(&e.actor_role)
                .map(|r| t.role(&r))
                .unwrap_or_else(|| t.s("case.system")),
            action: ActionKind::parse(&e.action)
                .map(|a| t.pick(a.zh(), a.en()))
                .unwrap_or_else(|| match e.action.as_str() {
                    "report" => t.s("case.action.report"),
                    "report_in" => t.s("case.action.report_in"),
                    "reclassify" => t.s("case.action.reclassify"),
                    _ => "",
                }),
            // Only a move is worth an arrow: not the report itself ("上报 → 上报"), nor a side
            // action that leaves the stage as it was ("督办 → 上报").
            to_stage: match e.from_stage.as_deref() {
                Some(from) if from != e.to_stage => Stage::parse(&e.to_stage)
                    .map(|s| stage_label(t, s))
                    .unwrap_or(""),
                _ => "",
            },
            // "受理" under 受理 says nothing new.
            note: if ActionKind::parse(&e.action).is_some_and(|a| a.zh() == e.note) {
                String::new()
            } else {
                e.note.clone()
            },
            photos: event_photos(e.id),
            internal: !e.public,
        })
        .collect();
    let unit_name = |id: i64| {
        options
            .units
            .iter()
            .find(|u| u.0 == id)
            .map(|u| u.1.clone())
            .unwrap_or_else(|| format!("#{id}"))
    };
    let whistles = d
        .whistles
        .iter()
        .map(|w| {
            (
                unit_name(w.unit_id),
                match w.reported_in_at {
                    Some(at) => format!("{} {}", t.s("case.reported_in"), format_time(at)),
                    None => t.s("case.awaiting_report_in").to_owned(),
                },
            )
        })
        .collect();
    DetailPage {
        c: Chrome::new(session, t, "cases", &format!("/cases/{}", c.id)),
        id: c.id,
        version: c.version,
        category: c.category_name.clone(),
        stage: stage_label(t, c.stage()),
        stage_id: c.stage().as_str(),
        warning: d.warning.as_str(),
        warning_label: warning_label(t, d.warning),
        open,
        description: c.description.clone(),
        facts,
        photos: d.photos.iter().map(|p| p.id).collect(),
        events,
        actions: {
            let mut kinds: Vec<ActionKind> = d
                .actions
                .iter()
                .copied()
                // Calling in departments needs departments to call.
                .filter(|&k| k != ActionKind::Whistle || !options.units.is_empty())
                .collect();
            // 到场 comes before 办结反馈: that is the order the work happens in.
            let rank = |k: &ActionKind| {
                let at = |x: ActionKind| ActionKind::ALL.iter().position(|y| *y == x).unwrap_or(0);
                if *k == ActionKind::Arrive {
                    at(ActionKind::Resolve) * 2 - 1
                } else {
                    at(*k) * 2
                }
            };
            kinds.sort_by_key(rank);
            kinds.iter().map(|&k| action_view(t, k)).collect()
        },
        options,
        whistles,
        can_report_in: d.can_report_in,
        reclassify: if d.can_reclassify {
            category_groups(&state.app)
        } else {
            Vec::new()
        },
        category_id: c.category_id,
        lat: c.lat.map(|v| format!("{v:.6}")).unwrap_or_default(),
        lng: c.lng.map(|v| format!("{v:.6}")).unwrap_or_default(),
        tile_url: state.app.settings.tile_url.clone().unwrap_or_default(),
        flash,
        error,
        ratings: Satisfaction::ALL
            .iter()
            .map(|s| (s.as_str(), t.pick(s.zh(), s.en())))
            .collect(),
        back: if session.actor.role == Role::Resident {
            "/cases?view=mine"
        } else {
            "/cases"
        },
    }
}

#[derive(Deserialize)]
pub struct DetailQuery {
    done: Option<String>,
}

async fn detail_response(
    state: &AppState,
    session: &crate::auth::Session,
    t: Tr,
    id: i64,
    flash: Option<String>,
    error: Option<AppError>,
) -> Result<Response, PageError> {
    let d = state
        .app
        .case_detail(&session.actor, id)
        .await
        .map_err(pe(t))?;
    let needs_options = d
        .actions
        .iter()
        .any(|a| matches!(a, ActionKind::Dispatch | ActionKind::Whistle))
        || !d.whistles.is_empty();
    let options = if needs_options {
        state
            .app
            .dispatch_options(&session.actor, &d.case)
            .await
            .map_err(pe(t))?
    } else {
        DispatchOptions::default()
    };
    let status = crate::error::status_or_ok(error.as_ref());
    let view = detail_view(
        state,
        session,
        t,
        d,
        options,
        flash,
        error.map(|e| e.to_string()),
    );
    Ok((status, render(&view, t.lang)?).into_response())
}

pub async fn detail(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, PageError> {
    let flash = q.done.as_deref().map(|d| match d {
        "report" if session.actor.role.is_staff() => t.s("case.flash.registered").to_owned(),
        "report" => t.s("case.flash.reported").to_owned(),
        "report_in" => t.s("case.flash.reported_in").to_owned(),
        "reclassify" => t.s("case.flash.reclassified").to_owned(),
        other => match ActionKind::parse(other) {
            Some(k) => format!("{}{}", t.s("case.flash.done"), t.pick(k.zh(), k.en())),
            None => String::new(),
        },
    });
    detail_response(
        &state,
        &session,
        t,
        id,
        flash.filter(|f| !f.is_empty()),
        None,
    )
    .await
}

pub async fn act(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let f = FormData::read(multipart).await.map_err(pe(t))?;
    let kind = f
        .get("action")
        .and_then(ActionKind::parse)
        .ok_or_else(|| PageError::new(AppError::invalid("action", "操作：未知的操作"), t.lang))?;
    let result = async {
        let action = action_from_form(kind, &f)?;
        let units = f
            .all("units")
            .iter()
            .map(|u| {
                u.parse::<i64>()
                    .map_err(|_| AppError::invalid("units", "吹哨：部门选择有误"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let extras = ActionExtras {
            note: f.owned("note"),
            photos: f.files.clone(),
            whistle_units: units,
            expected_version: f.number("version", "版本")?,
        };
        state.app.act(&session.actor, id, action, extras).await
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{id}?done={}", kind.as_str())).into_response()),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            detail_response(&state, &session, t, id, None, Some(e)).await
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

pub async fn reclassify(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let f = FormData::read(multipart).await.map_err(pe(t))?;
    let result = async {
        let category = f
            .number::<i64>("category", "事件分类")?
            .ok_or_else(|| AppError::invalid("category", "事件分类：请选择"))?;
        state
            .app
            .reclassify(&session.actor, id, category, f.number("version", "版本")?)
            .await
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{id}?done=reclassify")).into_response()),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            detail_response(&state, &session, t, id, None, Some(e)).await
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

pub async fn report_in(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    match state.app.report_in(&session.actor, id).await {
        Ok(()) => Ok(Redirect::to(&format!("/cases/{id}?done=report_in")).into_response()),
        Err(e @ AppError::Conflict { .. }) => {
            detail_response(&state, &session, t, id, None, Some(e)).await
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

/// A case photo, only for those who may see the case.
pub async fn photo(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let (mime, bytes) = state
        .app
        .case_photo(&session.actor, id)
        .await
        .map_err(pe(t))?;
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&mime).unwrap_or(HeaderValue::from_static("image/jpeg")),
    );
    // Photos are personal data: the browser keeps them only for this user, briefly.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    Ok(res)
}

// ----- inbox ----------------------------------------------------------------------------------

pub struct NoteView {
    pub id: i64,
    pub case_id: Option<i64>,
    pub title: String,
    pub body: String,
    pub at: String,
    pub unread: bool,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    c: Chrome,
    items: Vec<NoteView>,
    pager: Pager,
    unread: i64,
}

#[derive(Deserialize)]
pub struct PageParam {
    page: Option<u32>,
}

pub async fn inbox(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(p): Query<PageParam>,
) -> Result<Response, PageError> {
    let page = state
        .app
        .inbox(&session.actor, p.page.unwrap_or(1))
        .await
        .map_err(pe(t))?;
    let unread = state
        .app
        .unread_count(&session.actor)
        .await
        .map_err(pe(t))?;
    let view = InboxPage {
        c: Chrome::new(&session, t, "inbox", "/inbox"),
        items: page
            .items
            .iter()
            .map(|n| NoteView {
                id: n.id,
                case_id: n.case_id,
                title: n.title.clone(),
                body: n.body.clone(),
                at: format_time(n.created_at),
                unread: n.read_at.is_none(),
            })
            .collect(),
        pager: Pager::new(&page, "/inbox"),
        unread,
    };
    Ok(render(&view, t.lang)?.into_response())
}

#[derive(Deserialize)]
pub struct ReadForm {
    id: Option<i64>,
    next: Option<String>,
}

pub async fn mark_read(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    axum::Form(f): axum::Form<ReadForm>,
) -> Result<Response, PageError> {
    state
        .app
        .mark_read(&session.actor, f.id)
        .await
        .map_err(pe(t))?;
    Ok(Redirect::to(&crate::auth::safe_next(f.next.as_deref())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_fields_are_beijing_time() {
        // 2026-12-03 18:00 in Beijing is 10:00 UTC.
        let ms = parse_local_datetime("2026-12-03T18:00").unwrap_or_default();
        assert_eq!(format_time(ms), "2026-12-03 18:00");
        assert_eq!(parse_local_datetime("2026-13-03T18:00"), None);
        assert_eq!(parse_local_datetime("2026-12-03T25:00"), None);
        assert_eq!(parse_local_datetime("yesterday"), None);
    }

    #[test]
    fn dispatch_targets_are_parsed() {
        assert_eq!(
            parse_assignee(Some("grid_worker:12")).ok(),
            Some(Assignee::GridWorker(12))
        );
        assert!(parse_assignee(Some("mayor:1")).is_err());
        assert!(parse_assignee(Some("team:x")).is_err());
        assert!(parse_assignee(None).is_err());
    }

    #[test]
    fn remaining_time_reads_naturally() {
        let t = Tr {
            lang: crate::i18n::Lang::Zh,
        };
        assert_eq!(time_left(t, 0, 3 * 3_600_000), "剩余 3 小时");
        assert_eq!(time_left(t, 3 * 86_400_000, 0), "超期 3 天");
        assert_eq!(time_left(t, 0, 20 * 60_000), "剩余 20 分钟");
    }
}
