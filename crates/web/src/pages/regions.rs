//! Region tree, node detail with staff posts, grid map.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jinlin_app::AppError;
use jinlin_app::store::regions::Region;
use jinlin_domain::accounts::PostKind;
use jinlin_domain::grids;
use jinlin_domain::regions::RegionLevel;
use serde::Deserialize;

use super::{Chrome, render};
use crate::AppState;
use crate::auth::{SignedIn, Ui};
use crate::error::PageError;
use crate::i18n::Tr;

/// A region as a row or tree node.
pub struct Node {
    pub code: String,
    pub name: String,
    pub level: RegionLevel,
    pub level_label: &'static str,
    pub child_count: i64,
    pub has_map: bool,
}

fn node(t: Tr, r: &Region) -> Node {
    Node {
        code: r.code.clone(),
        name: r.name.clone(),
        level: r.level,
        level_label: t.level(&r.level),
        child_count: r.child_count,
        has_map: matches!(
            r.level,
            RegionLevel::District
                | RegionLevel::Street
                | RegionLevel::Community
                | RegionLevel::Compound
                | RegionLevel::Grid
        ),
    }
}

#[derive(Template)]
#[template(path = "regions_tree.html")]
struct TreePage {
    c: Chrome,
    roots: Vec<Node>,
    /// Children of the first root, shown expanded.
    first_children: Vec<Node>,
    q: String,
}

pub async fn tree(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
) -> Result<Response, PageError> {
    let err = |e| PageError::new(e, t.lang);
    let roots = state
        .app
        .region_children(&session.actor, None)
        .await
        .map_err(err)?;
    let first_children = match roots.first() {
        Some(r) => state
            .app
            .region_children(&session.actor, Some(&r.code))
            .await
            .map_err(err)?,
        None => Vec::new(),
    };
    let page = TreePage {
        c: Chrome::new(&session, t, "regions", "/regions"),
        roots: roots.iter().map(|r| node(t, r)).collect(),
        first_children: first_children.iter().map(|r| node(t, r)).collect(),
        q: String::new(),
    };
    Ok(render(&page, t.lang)?.into_response())
}

#[derive(Template)]
#[template(path = "regions_children.html")]
struct ChildrenFragment {
    t: Tr,
    nodes: Vec<Node>,
}

/// htmx fragment: the children of one node in the tree.
pub async fn children(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let nodes = state
        .app
        .region_children(&session.actor, Some(&code))
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    let page = ChildrenFragment {
        t,
        nodes: nodes.iter().map(|r| node(t, r)).collect(),
    };
    Ok(render(&page, t.lang)?.into_response())
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub struct SearchHit {
    pub node: Node,
    pub trail: String,
}

#[derive(Template)]
#[template(path = "regions_search.html")]
struct SearchPage {
    c: Chrome,
    q: String,
    hits: Vec<SearchHit>,
}

pub async fn search(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let err = |e| PageError::new(e, t.lang);
    let found = state
        .app
        .search_regions(&session.actor, &q.q, 50)
        .await
        .map_err(err)?;
    let mut hits = Vec::with_capacity(found.len());
    for r in &found {
        let trail = state
            .app
            .region_ancestors(r)
            .await
            .map_err(err)?
            .iter()
            .filter(|a| a.id != r.id)
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(" › ");
        hits.push(SearchHit {
            node: node(t, r),
            trail,
        });
    }
    let here = format!("/regions/search?q={}", crate::auth::percent_encode(&q.q));
    let page = SearchPage {
        c: Chrome::new(&session, t, "regions", &here),
        q: q.q,
        hits,
    };
    Ok(render(&page, t.lang)?.into_response())
}

pub struct PostRow {
    pub id: i64,
    pub kind: &'static str,
    pub name: String,
    pub username: String,
    pub phone: String,
    pub user_id: i64,
}

#[derive(Template)]
#[template(path = "region_detail.html")]
struct DetailPage {
    c: Chrome,
    region: Node,
    trail: Vec<Node>,
    children: Vec<Node>,
    posts: Vec<PostRow>,
    can_manage_posts: bool,
    post_kinds: Vec<(&'static str, &'static str)>,
    area: Option<String>,
    centroid: Option<String>,
    is_grid: bool,
    has_boundary: bool,
    flash: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct FlashQuery {
    ok: Option<String>,
    error: Option<String>,
}

pub async fn detail(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(code): Path<String>,
    Query(flash): Query<FlashQuery>,
) -> Result<Response, PageError> {
    let app = &state.app;
    let err = |e| PageError::new(e, t.lang);
    let region = app.region(&session.actor, &code).await.map_err(err)?;
    let trail = app.region_ancestors(&region).await.map_err(err)?;
    let children = app
        .region_children(&session.actor, Some(&code))
        .await
        .map_err(err)?;
    let posts = app.region_posts(&region).await.map_err(err)?;
    let boundary = region
        .boundary
        .as_deref()
        .and_then(|b| grids::from_geojson_geometry(b).ok());
    let kinds = PostKind::ALL
        .into_iter()
        .filter(|k| k.level() == region.level)
        .map(|k| (k.as_str(), t.post(&k)))
        .collect::<Vec<_>>();
    let page = DetailPage {
        c: Chrome::new(&session, t, "regions", &format!("/regions/{code}")),
        can_manage_posts: app.can_manage_posts(&session.actor, &region) && !kinds.is_empty(),
        post_kinds: kinds,
        area: boundary
            .as_ref()
            .map(|b| format!("{:.0} ㎡", grids::area_m2(b))),
        centroid: region
            .centroid
            .map(|(lng, lat)| format!("{lat:.6}, {lng:.6}")),
        is_grid: region.level == RegionLevel::Grid,
        has_boundary: boundary.is_some(),
        region: node(t, &region),
        trail: trail
            .iter()
            .filter(|a| a.id != region.id)
            .filter(|a| session.actor.sees_path(&a.path))
            .map(|a| node(t, a))
            .collect(),
        children: children.iter().map(|r| node(t, r)).collect(),
        posts: posts
            .into_iter()
            .map(|p| PostRow {
                id: p.id,
                kind: t.post(&p.kind),
                name: p.display_name,
                username: p.username,
                phone: p.work_phone.unwrap_or_default(),
                user_id: p.user_id,
            })
            .collect(),
        flash: flash.ok.map(|_| {
            if t.is_en() {
                "Saved".into()
            } else {
                "已保存".into()
            }
        }),
        error: flash.error,
    };
    Ok(render(&page, t.lang)?.into_response())
}

#[derive(Deserialize)]
pub struct PostForm {
    username: String,
    kind: String,
}

pub async fn assign_post(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(code): Path<String>,
    Form(form): Form<PostForm>,
) -> Result<Response, PageError> {
    let Some(kind) = PostKind::parse(&form.kind) else {
        return Err(PageError::new(
            AppError::invalid("kind", "请选择岗位：网格长、网格员、楼栋长或社区民警"),
            t.lang,
        ));
    };
    let target = match state
        .app
        .assign_post(&session.actor, &form.username, &code, kind)
        .await
    {
        Ok(()) => format!("/regions/{code}?ok=1"),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. } | AppError::NotFound(_))) => {
            format!(
                "/regions/{code}?error={}",
                crate::auth::percent_encode(&e.to_string())
            )
        }
        Err(e) => return Err(PageError::new(e, t.lang)),
    };
    Ok(Redirect::to(&target).into_response())
}

pub async fn remove_post(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path((code, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    state
        .app
        .remove_post(&session.actor, &code, id)
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    Ok(Redirect::to(&format!("/regions/{code}?ok=1")).into_response())
}

#[derive(Template)]
#[template(path = "region_map.html")]
struct MapPage {
    c: Chrome,
    region: Node,
    tile_url: String,
    grid_count: usize,
}

pub async fn map(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let err = |e| PageError::new(e, t.lang);
    let region = state.app.region(&session.actor, &code).await.map_err(err)?;
    let grid_count = state
        .app
        .grid_boundaries(&session.actor, &code)
        .await
        .map_err(err)?
        .len();
    let page = MapPage {
        c: Chrome::new(&session, t, "map", &format!("/regions/{code}/map")),
        region: node(t, &region),
        tile_url: state.app.settings.tile_url.clone().unwrap_or_default(),
        grid_count,
    };
    Ok(render(&page, t.lang)?.into_response())
}

/// The grids below a node as a GeoJSON FeatureCollection, with their staff for the popups.
pub async fn grids_geojson(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let err = |e| PageError::new(e, t.lang);
    let rows = state
        .app
        .grid_boundaries(&session.actor, &code)
        .await
        .map_err(err)?;
    let mut features = Vec::with_capacity(rows.len());
    for (code, name, boundary) in rows {
        let geometry: serde_json::Value =
            serde_json::from_str(&boundary).unwrap_or(serde_json::Value::Null);
        features.push(serde_json::json!({
            "type": "Feature",
            "properties": { "code": code, "name": name },
            "geometry": geometry,
        }));
    }
    Ok(axum::Json(serde_json::json!({
        "type": "FeatureCollection",
        "features": features,
    }))
    .into_response())
}
