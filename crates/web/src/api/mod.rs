//! `/api/v1`: JSON for machine clients (bearer tokens) and the pages' own scripts (session).
//! The OpenAPI 3.1 document is generated from these handlers.

mod cases;
mod people;
mod regions;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Serialize;
use utoipa::OpenApi;

use crate::AppState;
use crate::auth::ApiCaller;
use crate::error::{ApiError, ErrorBody, ErrorDetail};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Jinlin 近邻 API",
        description = "近邻党建 · 网格化基层治理平台的接口。机器客户端使用 `Authorization: Bearer <令牌>`（`jinlin token create --user NAME` 生成）；所有数据按令牌所属账号的管辖范围过滤。",
        version = "1"
    ),
    paths(me, regions::list, regions::get_one, regions::locate, cases::create, cases::list, cases::get_one, cases::act, people::search, people::get_one, people::reveal, people::household, people::dwellings),
    components(schemas(ErrorBody, ErrorDetail, Me, regions::RegionDto, regions::StaffDto, regions::LocateDto, regions::Point, cases::NewCaseDto, cases::AnswerDto, cases::CaseDto, cases::EventDto, cases::CaseListDto, cases::CaseLineDto, cases::ActionDto, people::TagDto, people::PersonLineDto, people::PersonListDto, people::PersonDto, people::RevealDto, people::RevealedDto, people::DwellingDto, people::MemberDto, people::HouseholdCaseDto, people::HouseholdDto, people::HouseholdBriefDto, people::DwellingLineDto, people::BuildingDwellingsDto)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/me", get(me))
        .route("/regions", get(regions::list))
        .route("/regions/{code}", get(regions::get_one))
        .route("/grids/locate", get(regions::locate))
        .route("/cases", get(cases::list).post(cases::create))
        .route("/cases/{id}", get(cases::get_one))
        .route("/cases/{id}/actions", post(cases::act))
        .route("/people", get(people::search))
        .route("/people/{id}", get(people::get_one))
        .route("/people/{id}/reveal", post(people::reveal))
        .route("/households/{id}", get(people::household))
        .route("/dwellings", get(people::dwellings))
        .fallback(not_found)
}

async fn openapi_json() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(ErrorBody {
            error: ErrorDetail {
                code: "not_found".into(),
                message: "接口不存在".into(),
                field: None,
            },
        }),
    )
}

/// Liveness and database reachability, for load balancers and monitoring.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.app.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "database_unavailable"})),
            )
        }
    }
}

/// The calling account.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The account's number (what `{"kind": "grid_worker", "id": …}` in a dispatch names).
    pub id: Option<i64>,
    pub username: String,
    pub display_name: String,
    /// Role identifier, e.g. `grid_worker`.
    pub role: String,
    /// Code of the region the account is bound to; its jurisdiction is that subtree.
    pub region_code: String,
    pub region_name: String,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "accounts",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(ApiCaller(actor): ApiCaller) -> Json<Me> {
    Json(Me {
        id: actor.user_id,
        username: actor.username,
        display_name: actor.display_name,
        role: actor.role.as_str().into(),
        region_code: actor.region_code,
        region_name: actor.region_name,
    })
}

/// A JSON body whose rejection is answered in the API's own error format (the field and the
/// rule, in Chinese), not axum's plain text.
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(ApiError(jinlin_app::AppError::invalid(
                "body",
                format!("请求体不是有效的 JSON 或缺少必填字段：{}", e.body_text()),
            ))),
        }
    }
}
