//! Regions and the point → grid lookup.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use jinlin_app::AppError;
use jinlin_app::store::accounts::PostView;
use jinlin_app::store::regions::Region;
use jinlin_domain::crs::Crs;
use serde::Serialize;

use crate::AppState;
use crate::auth::ApiCaller;
use crate::error::{ApiError, ErrorBody};

/// A node of the region tree.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegionDto {
    /// 12-digit admin code, 14-digit compound, 15-digit grid or 20-digit building code.
    pub code: String,
    pub name: String,
    /// `district`, `street`, `community`, `compound`, `grid` or `building`.
    pub level: String,
    pub child_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centroid: Option<Point>,
    /// GeoJSON geometry (WGS-84) of a grid; only on the single-region endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<serde_json::Value>,
}

/// A WGS-84 point.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Point {
    pub lng: f64,
    pub lat: f64,
}

/// A staff member on post.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StaffDto {
    /// `grid_head`, `grid_worker`, `building_head` or `police`.
    pub post: String,
    pub post_name: String,
    pub name: String,
    /// Work phone as posted on the grid's public notice board.
    pub work_phone: Option<String>,
}

/// The grid a point falls in, and who serves it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LocateDto {
    pub code: String,
    pub name: String,
    /// The point converted to WGS-84.
    pub point: Point,
    pub staff: Vec<StaffDto>,
}

fn dto(r: &Region, with_boundary: bool) -> RegionDto {
    RegionDto {
        code: r.code.clone(),
        name: r.name.clone(),
        level: r.level.as_str().into(),
        child_count: r.child_count,
        centroid: r.centroid.map(|(lng, lat)| Point { lng, lat }),
        boundary: if with_boundary {
            r.boundary
                .as_deref()
                .and_then(|b| serde_json::from_str(b).ok())
        } else {
            None
        },
    }
}

fn staff(p: PostView) -> StaffDto {
    StaffDto {
        post: p.kind.as_str().into(),
        post_name: p.kind.zh().into(),
        name: p.display_name,
        work_phone: p.work_phone,
    }
}

#[utoipa::path(get, path = "/api/v1/regions", tag = "regions",
    params(("parent" = Option<String>, Query, description = "Parent code; omitted: the top node of the caller's jurisdiction")),
    responses((status = 200, body = Vec<RegionDto>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<RegionDto>>, ApiError> {
    let parent = q.get("parent").map(|s| s.trim()).filter(|s| !s.is_empty());
    let rows = state.app.region_children(&actor, parent).await?;
    Ok(Json(rows.iter().map(|r| dto(r, false)).collect()))
}

#[utoipa::path(get, path = "/api/v1/regions/{code}", tag = "regions",
    params(("code" = String, Path, description = "Region code")),
    responses((status = 200, body = RegionDto), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(code): Path<String>,
) -> Result<Json<RegionDto>, ApiError> {
    let region = state.app.region(&actor, &code).await?;
    Ok(Json(dto(&region, true)))
}

fn number(q: &HashMap<String, String>, field: &str, zh: &str) -> Result<f64, AppError> {
    let raw = q
        .get(field)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AppError::invalid(field, format!("缺少参数 {field}（{zh}）")))?;
    raw.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            AppError::invalid(field, format!("参数 {field}（{zh}）须为数字，收到“{raw}”"))
        })
}

#[utoipa::path(get, path = "/api/v1/grids/locate", tag = "regions",
    params(
        ("lat" = f64, Query, description = "Latitude"),
        ("lng" = f64, Query, description = "Longitude"),
        ("crs" = Option<String>, Query, description = "wgs84 (default), gcj02 (WeChat/Amap) or bd09 (Baidu)")),
    responses((status = 200, body = LocateDto), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "The point is in no grid"),
        (status = 422, body = ErrorBody, description = "Missing or out-of-range coordinates")))]
pub async fn locate(
    State(state): State<AppState>,
    ApiCaller(_actor): ApiCaller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<LocateDto>, ApiError> {
    let lat = number(&q, "lat", "纬度")?;
    let lng = number(&q, "lng", "经度")?;
    let crs = match q.get("crs").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Crs::Wgs84,
        Some(s) => Crs::parse(s).ok_or_else(|| {
            AppError::invalid(
                "crs",
                format!("坐标系 crs 只能是 wgs84、gcj02 或 bd09，收到“{s}”"),
            )
        })?,
    };
    let located = state.app.locate(lat, lng, crs).await?;
    Ok(Json(LocateDto {
        code: located.grid.code.clone(),
        name: located.grid.name.clone(),
        point: Point {
            lng: located.wgs84.0,
            lat: located.wgs84.1,
        },
        staff: located
            .staff
            .into_iter()
            .chain(located.police)
            .map(staff)
            .collect(),
    }))
}
