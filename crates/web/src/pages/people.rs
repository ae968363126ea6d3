//! People's files (一户一档): search, a person's page with reveal-with-reason, a household's file,
//! a building's dwellings grid, and the personal-data access log.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use jinlin_app::AppError;
use jinlin_app::people::{HouseholdView, PeopleQuery, PersonLine, PersonView};
use jinlin_app::store::people::{AccessFilter, AccessRow, CareTag, DwellingListing};
use jinlin_domain::people as rules;
use serde::Deserialize;

use super::cases::pe;
use super::{Chrome, Pager, format_time, render};
use crate::AppState;
use crate::auth::{SignedIn, Ui, percent_encode};
use crate::error::{PageError, field_name, status_or_ok};
use crate::i18n::Tr;

pub fn gender_zh(code: &str) -> &'static str {
    rules::Gender::parse(code).map(|g| g.zh()).unwrap_or("未知")
}

pub fn relation_zh(code: &str) -> &'static str {
    rules::RelationToHead::parse(code)
        .map(|r| r.zh())
        .unwrap_or("其他")
}

fn residence_zh(code: &str) -> &'static str {
    rules::ResidenceStatus::parse(code)
        .map(|r| r.zh())
        .unwrap_or("")
}

// ----- search -----------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    address: String,
    page: Option<u32>,
}

#[derive(Template)]
#[template(path = "people_search.html")]
struct SearchPage {
    c: Chrome,
    q: String,
    tag: String,
    region: String,
    address: String,
    tags: Vec<CareTag>,
    rows: Vec<PersonLine>,
    searched: bool,
    pager: Pager,
    export_href: String,
    can_export: bool,
    can_export_clear: bool,
    error: Option<String>,
    error_field: String,
}

impl SearchPage {
    fn gender(&self, code: &str) -> &'static str {
        gender_zh(code)
    }
    fn relation(&self, code: &Option<String>) -> &'static str {
        code.as_deref().map(relation_zh).unwrap_or("")
    }
}

pub async fn search(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let actor = &session.actor;
    let tags = state.app.care_tags_for(actor).await.map_err(pe(t))?;
    let query = PeopleQuery {
        q: q.q.clone(),
        address: Some(q.address.clone()),
        tag: Some(q.tag.clone()),
        region: Some(q.region.clone()),
        page: q.page.unwrap_or(1),
        page_size: 20,
        cap: None,
    };
    let filters = format!(
        "q={}&tag={}&region={}&address={}",
        percent_encode(&q.q),
        percent_encode(&q.tag),
        percent_encode(&q.region),
        percent_encode(&q.address)
    );
    let (rows, pager, error) = match state.app.search_people(actor, &query).await {
        Ok(page) => {
            let pager = Pager::new(&page, &format!("/people?{filters}"));
            (page.items, pager, None)
        }
        Err(e @ (AppError::Invalid { .. } | AppError::Forbidden(_))) => (
            Vec::new(),
            Pager {
                page: 1,
                pages: 1,
                total: 0,
                prev: None,
                next: None,
            },
            Some(e),
        ),
        Err(e) => return Err(PageError::new(e, t.lang)),
    };
    let view = SearchPage {
        c: Chrome::new(&session, t, "people", &format!("/people?{filters}")),
        searched: !(q.q.is_empty() && q.tag.is_empty() && q.address.is_empty()),
        export_href: format!("/people/export.xlsx?{filters}"),
        can_export: jinlin_app::people::may_manage_lists(actor.role),
        can_export_clear: jinlin_app::people::may_export_clear(actor.role),
        q: q.q,
        tag: q.tag,
        region: q.region,
        address: q.address,
        tags,
        rows,
        pager,
        error_field: field_name(error.as_ref()),
        error: error.as_ref().map(ToString::to_string),
    };
    let status = match &error {
        Some(AppError::Forbidden(_)) => axum::http::StatusCode::FORBIDDEN,
        e => status_or_ok(e.as_ref()),
    };
    Ok((status, render(&view, t.lang)?).into_response())
}

// ----- a person ---------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    c: Chrome,
    v: PersonView,
    /// A number just revealed: (field, value).
    revealed: Option<(String, String)>,
    error: Option<String>,
    error_field: String,
    reason: String,
}

impl PersonPage {
    fn gender(&self) -> &'static str {
        gender_zh(&self.v.person.gender)
    }
    fn relation(&self, code: &str) -> &'static str {
        relation_zh(code)
    }
    fn residence(&self) -> &'static str {
        residence_zh(&self.v.person.residence_status)
    }
    fn time(&self, ms: &i64) -> String {
        format_time(*ms)
    }
    fn relations(&self) -> &'static [rules::RelationToHead] {
        rules::RelationToHead::ALL
    }
    fn shown(&self, field: &str) -> Option<&str> {
        self.revealed
            .as_ref()
            .filter(|(f, _)| f == field)
            .map(|(_, v)| v.as_str())
    }
}

async fn person_page(
    state: &AppState,
    session: &crate::auth::Session,
    t: Tr,
    id: i64,
    revealed: Option<(String, String)>,
    error: Option<AppError>,
    reason: String,
) -> Result<Response, PageError> {
    let v = state
        .app
        .person_view(&session.actor, id)
        .await
        .map_err(pe(t))?;
    let view = PersonPage {
        c: Chrome::new(session, t, "people", &format!("/people/{id}")),
        v,
        revealed,
        error_field: field_name(error.as_ref()),
        error: error.as_ref().map(ToString::to_string),
        reason,
    };
    Ok((status_or_ok(error.as_ref()), render(&view, t.lang)?).into_response())
}

pub async fn person(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    person_page(&state, &session, t, id, None, None, String::new()).await
}

#[derive(Deserialize)]
pub struct RevealForm {
    #[serde(default)]
    field: String,
    #[serde(default)]
    reason: String,
}

/// Shows a full number once, on this answer only (it is not put in a URL or kept).
pub async fn reveal(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
    Form(f): Form<RevealForm>,
) -> Result<Response, PageError> {
    match state
        .app
        .reveal_person(&session.actor, id, &f.field, &f.reason)
        .await
    {
        Ok(value) => {
            let mut r = person_page(
                &state,
                &session,
                t,
                id,
                Some((f.field, value)),
                None,
                String::new(),
            )
            .await?;
            r.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            Ok(r)
        }
        Err(e @ AppError::Invalid { .. }) => {
            person_page(&state, &session, t, id, None, Some(e), f.reason).await
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

#[derive(Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    household: String,
    #[serde(default)]
    relation: String,
    #[serde(default)]
    reason: String,
    /// `leave` moves the person out of any household.
    #[serde(default)]
    kind: String,
}

pub async fn move_person(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
    Form(f): Form<MoveForm>,
) -> Result<Response, PageError> {
    let to = if f.kind == "leave" {
        Ok(None)
    } else {
        f.household
            .trim()
            .trim_start_matches('#')
            .parse::<i64>()
            .map(Some)
            .map_err(|_| {
                AppError::invalid("household", "迁入户：请填写户的编号（户档页标题中的 #号）")
            })
    };
    let result = match to {
        Ok(to) => {
            state
                .app
                .move_person(&session.actor, id, to, &f.relation, &f.reason)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(axum::response::Redirect::to(&format!("/people/{id}")).into_response()),
        Err(e @ AppError::Invalid { .. }) => {
            person_page(&state, &session, t, id, None, Some(e), String::new()).await
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

// ----- a household ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "household.html")]
struct HouseholdPage {
    c: Chrome,
    v: HouseholdView,
}

impl HouseholdPage {
    fn gender(&self, code: &str) -> &'static str {
        gender_zh(code)
    }
    fn relation(&self, code: &str) -> &'static str {
        relation_zh(code)
    }
    fn masked(&self, stored: &Option<String>) -> String {
        jinlin_app::people::masked(stored)
    }
    fn time(&self, ms: &i64) -> String {
        format_time(*ms)
    }
    fn day(&self, ms: &i64) -> String {
        format_time(*ms).chars().take(10).collect()
    }
    fn tags(&self, person_id: &i64) -> Vec<(String, bool)> {
        self.v
            .tags
            .get(person_id)
            .map(|ts| {
                ts.iter()
                    .map(|t| (t.tag_name.clone(), t.sensitive))
                    .collect()
            })
            .unwrap_or_default()
    }
    fn use_zh(&self) -> &'static str {
        rules::DwellingUse::parse(&self.v.file.dwelling.use_type)
            .map(|u| u.zh())
            .unwrap_or("")
    }
    fn occupancy_zh(&self) -> &'static str {
        rules::Occupancy::parse(&self.v.file.dwelling.occupancy)
            .map(|u| u.zh())
            .unwrap_or("")
    }
    fn stage_zh(&self, stage: &jinlin_domain::cases::Stage) -> &'static str {
        stage.zh()
    }
}

pub async fn household(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let v = state
        .app
        .household_view(&session.actor, id)
        .await
        .map_err(pe(t))?;
    let view = HouseholdPage {
        c: Chrome::new(&session, t, "people", &format!("/households/{id}")),
        v,
    };
    Ok(render(&view, t.lang)?.into_response())
}

// ----- a building's dwellings ---------------------------------------------------------------------

pub struct UnitView {
    pub unit: String,
    /// Floors top down, each with its dwellings.
    pub floors: Vec<(String, Vec<DwellingListing>)>,
}

#[derive(Template)]
#[template(path = "dwellings.html")]
struct DwellingsPage {
    c: Chrome,
    building_name: String,
    building_code: String,
    units: Vec<UnitView>,
    dwellings: usize,
    households: usize,
    persons: i64,
}

impl DwellingsPage {
    fn occupancy(&self, code: &str) -> &'static str {
        rules::Occupancy::parse(code).map(|u| u.zh()).unwrap_or("")
    }
    fn use_zh(&self, code: &str) -> &'static str {
        rules::DwellingUse::parse(code)
            .map(|u| u.zh())
            .unwrap_or("")
    }
}

pub async fn dwellings(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let (building, list) = state
        .app
        .building_dwellings(&session.actor, &code)
        .await
        .map_err(pe(t))?;
    let households = list.iter().map(|d| d.households.len()).sum();
    let persons = list
        .iter()
        .flat_map(|d| d.households.iter().map(|h| h.member_count))
        .sum();
    let dwellings = list.len();
    let mut units: Vec<UnitView> = Vec::new();
    for d in list {
        let unit = if d.dwelling.unit.is_empty() {
            "—".to_owned()
        } else {
            d.dwelling.unit.clone()
        };
        let floor = d
            .dwelling
            .floor
            .map(|f| format!("{f} 层"))
            .unwrap_or_else(|| "—".into());
        let u = match units.iter_mut().find(|u| u.unit == unit) {
            Some(u) => u,
            None => {
                units.push(UnitView {
                    unit: unit.clone(),
                    floors: Vec::new(),
                });
                let last = units.len() - 1;
                &mut units[last]
            }
        };
        match u.floors.iter_mut().find(|(f, _)| *f == floor) {
            Some((_, ds)) => ds.push(d),
            None => u.floors.push((floor, vec![d])),
        }
    }
    // Top floor first, as the building stands.
    for u in &mut units {
        u.floors.reverse();
    }
    let view = DwellingsPage {
        c: Chrome::new(&session, t, "people", &format!("/regions/{code}/dwellings")),
        building_name: building.name,
        building_code: building.code,
        units,
        dwellings,
        households,
        persons,
    };
    Ok(render(&view, t.lang)?.into_response())
}

// ----- the access log ---------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct AccessQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    person: String,
    page: Option<u32>,
}

#[derive(Template)]
#[template(path = "people_access.html")]
struct AccessPage {
    c: Chrome,
    action: String,
    person: String,
    rows: Vec<AccessRow>,
    pager: Pager,
}

impl AccessPage {
    fn time(&self, ms: &i64) -> String {
        format_time(*ms)
    }
    fn action_zh(&self, code: &str) -> &'static str {
        jinlin_app::store::people::ACCESS_ACTIONS
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, zh)| *zh)
            .unwrap_or("")
    }
    fn field_zh(&self, f: &Option<String>) -> String {
        match f.as_deref() {
            Some("id_number") => "身份证号".into(),
            Some("phone") => "手机号".into(),
            Some("masked") => "号码遮挡".into(),
            Some("clear") => "含完整号码".into(),
            Some(other) => other.replace("household:", "户 #"),
            None => String::new(),
        }
    }
}

pub async fn access_log(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<AccessQuery>,
) -> Result<Response, PageError> {
    let page = state
        .app
        .people_access_log(
            &session.actor,
            AccessFilter {
                action: Some(q.action.clone()).filter(|a| !a.is_empty()),
                person_id: q.person.trim().parse().ok(),
                page: q.page.unwrap_or(1),
                page_size: 50,
                ..AccessFilter::default()
            },
        )
        .await
        .map_err(pe(t))?;
    let person = q.person.trim().to_owned();
    let base = format!(
        "/admin/people-access?action={}&person={person}",
        percent_encode(&q.action)
    );
    let view = AccessPage {
        c: Chrome::new(&session, t, "people_access", &base),
        pager: Pager::new(&page, &base),
        rows: page.items,
        action: q.action,
        person,
    };
    Ok(render(&view, t.lang)?.into_response())
}

// ----- care tags --------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "care_tags.html")]
struct TagsPage {
    c: Chrome,
    tags: Vec<CareTag>,
    error: Option<String>,
    flash: Option<&'static str>,
}

async fn tags_page(
    state: &AppState,
    session: &crate::auth::Session,
    t: Tr,
    error: Option<AppError>,
    flash: Option<&'static str>,
) -> Result<Response, PageError> {
    let tags = state
        .app
        .care_tags_admin(&session.actor)
        .await
        .map_err(pe(t))?;
    let view = TagsPage {
        c: Chrome::new(session, t, "care_tags", "/admin/care-tags"),
        tags,
        error: error.as_ref().map(ToString::to_string),
        flash,
    };
    Ok((status_or_ok(error.as_ref()), render(&view, t.lang)?).into_response())
}

#[derive(Deserialize, Default)]
pub struct TagsQuery {
    done: Option<String>,
}

pub async fn care_tags(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<TagsQuery>,
) -> Result<Response, PageError> {
    let flash = q.done.is_some().then_some("已保存");
    tags_page(&state, &session, t, None, flash).await
}

#[derive(Deserialize)]
pub struct TagForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    sensitive: Option<String>,
    active: Option<String>,
}

pub async fn save_care_tag(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Form(f): Form<TagForm>,
) -> Result<Response, PageError> {
    let result = if f.code.is_empty() {
        state
            .app
            .add_care_tag(&session.actor, &f.name, f.sensitive.is_some())
            .await
            .map(|_| ())
    } else {
        state
            .app
            .update_care_tag(
                &session.actor,
                &f.code,
                &f.name,
                f.sensitive.is_some(),
                f.active.is_some(),
            )
            .await
    };
    match result {
        Ok(()) => Ok(axum::response::Redirect::to("/admin/care-tags?done=1").into_response()),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            tags_page(&state, &session, t, Some(e), None).await
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}
