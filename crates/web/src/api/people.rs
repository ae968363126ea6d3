//! People, households and dwellings (一户一档) for machine clients, with the same rules as the
//! pages: numbers masked, full numbers only through a logged reveal with a reason, sensitive tags
//! only for the roles that may see them, everything inside the caller's jurisdiction.

use axum::Json;
use axum::extract::{Path, Query, State};
use jinlin_app::AppError;
use jinlin_app::people::{PeopleQuery, masked};
use jinlin_app::store::people::{Dwelling, HouseholdBrief, MemberRow, PersonTag};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::ApiCaller;
use crate::error::{ApiError, ErrorBody};

use super::ApiJson;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SearchParams {
    /// Read by its shape: an 18- (or 15-) character ID number, an 11-digit mobile, the last
    /// four digits of a mobile (`5678`), pinyin (`zs`, `zhangsan`) or part of a name.
    pub q: Option<String>,
    /// A care tag code, e.g. `elderly_alone` (sensitive tags only for roles that see them).
    pub tag: Option<String>,
    /// A region code inside the caller's jurisdiction (community, grid, building …).
    pub region: Option<String>,
    pub page: Option<u32>,
    /// At most 200, default 20.
    pub page_size: Option<u32>,
}

/// A care tag on a person.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TagDto {
    pub name: String,
    pub sensitive: bool,
}

/// A person as a search lists them: numbers masked.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PersonLineDto {
    pub id: i64,
    pub name: String,
    /// `male`, `female` or `unknown`.
    pub gender: String,
    pub age: Option<u32>,
    /// `350***********1234`
    pub id_number: String,
    /// `138****5678`
    pub phone: String,
    pub region_name: String,
    pub residence_status: String,
    pub party_member: bool,
    pub household_id: Option<i64>,
    pub relation: Option<String>,
    pub dwelling_id: Option<i64>,
    pub unit: Option<String>,
    pub number: Option<String>,
    pub tags: Vec<TagDto>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PersonListDto {
    pub items: Vec<PersonLineDto>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

/// A person's file: numbers masked.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PersonDto {
    pub id: i64,
    pub name: String,
    pub gender: String,
    /// YYYY-MM-DD
    pub birth_date: Option<String>,
    pub age: Option<u32>,
    pub id_number: String,
    pub phone: String,
    pub ethnic_group: Option<String>,
    pub registered_address: Option<String>,
    pub actual_address: Option<String>,
    pub residence_status: String,
    pub party_member: bool,
    pub region_id: i64,
    pub region_name: String,
    pub household_id: Option<i64>,
    pub relation: Option<String>,
    pub tags: Vec<TagDto>,
    /// Whether the caller may ask for a full number (`POST …/reveal`).
    pub can_reveal: bool,
}

/// Which full number to see, and why (logged with the caller's name).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RevealDto {
    /// `id_number` or `phone`.
    pub field: String,
    /// 2–200 characters, e.g. “入户走访需电话联系”.
    #[serde(default)]
    pub reason: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RevealedDto {
    pub field: String,
    pub value: String,
}

/// A dwelling (房屋).
#[derive(Serialize, utoipa::ToSchema)]
pub struct DwellingDto {
    pub id: i64,
    pub building_id: i64,
    pub building_name: String,
    pub unit: String,
    pub floor: Option<i64>,
    pub number: String,
    /// `residential`, `commercial`, `office` or `other`.
    pub use_type: String,
    /// `owner_occupied`, `rented`, `vacant` or `other`.
    pub occupancy: String,
    pub area_m2: Option<f64>,
}

/// A member of a household: numbers masked.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberDto {
    pub person_id: i64,
    pub name: String,
    pub gender: String,
    pub birth_date: Option<String>,
    pub id_number: String,
    pub phone: String,
    /// Relation to the head (`head`, `spouse`, `son` …).
    pub relation: String,
    /// Epoch milliseconds.
    pub joined_at: i64,
    pub left_at: Option<i64>,
    pub tags: Vec<TagDto>,
}

/// A case one of the members reported.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HouseholdCaseDto {
    pub id: i64,
    pub category_name: String,
    pub stage: String,
    pub description: String,
    pub created_at: i64,
}

/// A household's file (一户一档).
#[derive(Serialize, utoipa::ToSchema)]
pub struct HouseholdDto {
    pub id: i64,
    pub household_no: Option<String>,
    pub head_person_id: Option<i64>,
    pub building_code: String,
    pub building_name: String,
    pub dwelling: DwellingDto,
    /// Current members, head first.
    pub members: Vec<MemberDto>,
    /// Those who have left, latest first.
    pub past_members: Vec<MemberDto>,
    pub cases: Vec<HouseholdCaseDto>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HouseholdBriefDto {
    pub id: i64,
    pub household_no: Option<String>,
    pub head_person_id: Option<i64>,
    pub head_name: Option<String>,
    pub member_count: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DwellingLineDto {
    pub dwelling: DwellingDto,
    pub households: Vec<HouseholdBriefDto>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BuildingDwellingsDto {
    pub building_code: String,
    pub building_name: String,
    pub dwellings: Vec<DwellingLineDto>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct DwellingParams {
    /// Building code (20 digits).
    pub building: Option<String>,
}

fn tags(t: &[PersonTag]) -> Vec<TagDto> {
    t.iter()
        .map(|t| TagDto {
            name: t.tag_name.clone(),
            sensitive: t.sensitive,
        })
        .collect()
}

fn dwelling(d: &Dwelling) -> DwellingDto {
    DwellingDto {
        id: d.id,
        building_id: d.building_id,
        building_name: d.building_name.clone(),
        unit: d.unit.clone(),
        floor: d.floor,
        number: d.number.clone(),
        use_type: d.use_type.clone(),
        occupancy: d.occupancy.clone(),
        area_m2: d.area_m2,
    }
}

fn member(m: &MemberRow, t: &[PersonTag]) -> MemberDto {
    MemberDto {
        person_id: m.person_id,
        name: m.name.clone(),
        gender: m.gender.clone(),
        birth_date: m.birth_date.clone(),
        id_number: masked(&m.id_masked),
        phone: masked(&m.phone_masked),
        relation: m.relation.clone(),
        joined_at: m.joined_at,
        left_at: m.left_at,
        tags: tags(t),
    }
}

fn brief(h: &HouseholdBrief) -> HouseholdBriefDto {
    HouseholdBriefDto {
        id: h.id,
        household_no: h.household_no.clone(),
        head_person_id: h.head_person_id,
        head_name: h.head_name.clone(),
        member_count: h.member_count,
    }
}

#[utoipa::path(get, path = "/api/v1/people", tag = "people", params(SearchParams),
    responses((status = 200, body = PersonListDto), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Query(p): Query<SearchParams>,
) -> Result<Json<PersonListDto>, ApiError> {
    let q = PeopleQuery {
        q: p.q.unwrap_or_default(),
        address: None,
        tag: p.tag,
        region: p.region,
        page: p.page.unwrap_or(1),
        page_size: p.page_size.unwrap_or(20),
        cap: None,
    };
    let page = state.app.search_people(&actor, &q).await?;
    Ok(Json(PersonListDto {
        items: page
            .items
            .into_iter()
            .map(|l| PersonLineDto {
                id: l.summary.id,
                name: l.summary.name,
                gender: l.summary.gender,
                age: l.age,
                id_number: l.id_masked,
                phone: l.phone_masked,
                region_name: l.summary.region_name,
                residence_status: l.summary.residence_status,
                party_member: l.summary.party_member,
                household_id: l.summary.household_id,
                relation: l.summary.relation,
                dwelling_id: l.summary.dwelling_id,
                unit: l.summary.unit,
                number: l.summary.number,
                tags: l
                    .tags
                    .into_iter()
                    .map(|(name, sensitive)| TagDto { name, sensitive })
                    .collect(),
            })
            .collect(),
        total: page.total,
        page: page.page,
        page_size: page.page_size,
    }))
}

#[utoipa::path(get, path = "/api/v1/people/{id}", tag = "people",
    params(("id" = i64, Path, description = "Person number")),
    responses((status = 200, body = PersonDto), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<PersonDto>, ApiError> {
    let v = state.app.person_view(&actor, id).await?;
    let p = v.person;
    Ok(Json(PersonDto {
        id: p.id,
        name: p.name,
        gender: p.gender,
        birth_date: p.birth_date,
        age: v.age,
        id_number: v.id_masked,
        phone: v.phone_masked,
        ethnic_group: p.ethnic_group,
        registered_address: p.registered_address,
        actual_address: p.actual_address,
        residence_status: p.residence_status,
        party_member: p.party_member,
        region_id: p.region_id,
        region_name: p.region_name,
        household_id: p.household_id,
        relation: p.relation,
        tags: tags(&v.tags),
        can_reveal: v.can_reveal,
    }))
}

#[utoipa::path(post, path = "/api/v1/people/{id}/reveal", tag = "people", request_body = RevealDto,
    params(("id" = i64, Path, description = "Person number")),
    responses((status = 200, body = RevealedDto), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "No reason, an unknown field, or too many reveals this hour")))]
pub async fn reveal(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<RevealDto>,
) -> Result<Json<RevealedDto>, ApiError> {
    let value = state
        .app
        .reveal_person(&actor, id, body.field.trim(), &body.reason)
        .await?;
    Ok(Json(RevealedDto {
        field: body.field.trim().to_owned(),
        value,
    }))
}

#[utoipa::path(get, path = "/api/v1/households/{id}", tag = "people",
    params(("id" = i64, Path, description = "Household number")),
    responses((status = 200, body = HouseholdDto), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn household(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<HouseholdDto>, ApiError> {
    let v = state.app.household_view(&actor, id).await?;
    let tags_of = |person: i64| v.tags.get(&person).map(Vec::as_slice).unwrap_or_default();
    let h = &v.file.household;
    Ok(Json(HouseholdDto {
        id: h.id,
        household_no: h.household_no.clone(),
        head_person_id: h.head_person_id,
        building_code: v.building.code.clone(),
        building_name: v.building.name.clone(),
        dwelling: dwelling(&v.file.dwelling),
        members: v
            .file
            .members
            .iter()
            .map(|m| member(m, tags_of(m.person_id)))
            .collect(),
        past_members: v.file.past_members.iter().map(|m| member(m, &[])).collect(),
        cases: v
            .cases
            .iter()
            .map(|c| HouseholdCaseDto {
                id: c.id,
                category_name: c.category_name.clone(),
                stage: c.stage.as_str().into(),
                description: c.description.clone(),
                created_at: c.created_at,
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/dwellings", tag = "people", params(DwellingParams),
    responses((status = 200, body = BuildingDwellingsDto), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn dwellings(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Query(p): Query<DwellingParams>,
) -> Result<Json<BuildingDwellingsDto>, ApiError> {
    let code = p
        .building
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AppError::invalid("building", "缺少参数 building（楼栋编码）"))?;
    let (building, rows) = state.app.building_dwellings(&actor, code).await?;
    Ok(Json(BuildingDwellingsDto {
        building_code: building.code,
        building_name: building.name,
        dwellings: rows
            .iter()
            .map(|r| DwellingLineDto {
                dwelling: dwelling(&r.dwelling),
                households: r.households.iter().map(brief).collect(),
            })
            .collect(),
    }))
}
