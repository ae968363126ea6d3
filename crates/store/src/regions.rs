//! The region tree 区/县 → 街道 → 社区 → 小区 → 网格 → 楼栋, stored with a materialised path
//! of ids (`/1/5/23/`) so a jurisdiction is one index range, and grid boundaries as GeoJSON.

use std::collections::{HashMap, HashSet};

use geo::MultiPolygon;
use jinlin_domain::grids;
use jinlin_domain::regions::{NewRegion, RegionLevel};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{NewAudit, insert_audit};
use crate::error::unique_as_conflict;
use crate::sql::{Sql, like_escape, scope_bounds};
use crate::{Backend, Store, StoreError};

/// A stored region.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub id: i64,
    /// District code at the root of the path.
    pub tenant: String,
    pub code: String,
    pub parent_id: Option<i64>,
    pub level: RegionLevel,
    pub name: String,
    /// Materialised path of ids, root first: `/1/5/23/`.
    pub path: String,
    /// 0 for a root.
    pub depth: i64,
    /// GeoJSON geometry text (WGS-84), if the region has a boundary.
    pub boundary: Option<String>,
    /// Label point `(lng, lat)`, WGS-84.
    pub centroid: Option<(f64, f64)>,
    pub child_count: i64,
}

/// Columns of [`Region`]; the statement continues with a WHERE on alias `r`.
macro_rules! region_select {
    () => {
        "SELECT r.id, r.tenant, r.code, r.parent_id, r.level, r.name, r.path, r.depth, \
         r.boundary, r.centroid_lng, r.centroid_lat, \
         (SELECT COUNT(*) FROM regions c WHERE c.parent_id = r.id) AS child_count \
         FROM regions r"
    };
}

pub(crate) fn parse_level(s: &str) -> Result<RegionLevel, StoreError> {
    RegionLevel::parse(s)
        .ok_or_else(|| StoreError::invalid(format!("数据库中有未知的区划层级“{s}”")))
}

fn region_row(row: &AnyRow) -> Result<Region, StoreError> {
    let level: String = row.try_get("level")?;
    let lng: Option<f64> = row.try_get("centroid_lng")?;
    let lat: Option<f64> = row.try_get("centroid_lat")?;
    Ok(Region {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        code: row.try_get("code")?,
        parent_id: row.try_get("parent_id")?,
        level: parse_level(&level)?,
        name: row.try_get("name")?,
        path: row.try_get("path")?,
        depth: row.try_get("depth")?,
        boundary: row.try_get("boundary")?,
        centroid: lng.zip(lat),
        child_count: row.try_get("child_count")?,
    })
}

fn region_rows(rows: &[AnyRow]) -> Result<Vec<Region>, StoreError> {
    rows.iter().map(region_row).collect()
}

/// What the insert needs to know about a parent.
#[derive(Debug, Clone)]
struct ParentInfo {
    id: i64,
    tenant: String,
    path: String,
    depth: i64,
    level: RegionLevel,
}

fn check_code(code: &str) -> Result<(), StoreError> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(format!(
            "区划编码“{code}”须为 1–64 位字母、数字、- 或 _"
        )))
    }
}

fn check_name(code: &str, name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.trim() != name || name.chars().count() > 100 {
        return Err(StoreError::invalid(format!(
            "区划 {code} 的名称须为 1–100 个字，且首尾不能有空格"
        )));
    }
    Ok(())
}

/// Boundary as stored: GeoJSON text and label point.
fn boundary_columns(
    code: &str,
    shape: &MultiPolygon<f64>,
) -> Result<(String, Option<(f64, f64)>), StoreError> {
    if shape.0.is_empty() {
        return Err(StoreError::invalid(format!("区划 {code} 的边界为空")));
    }
    Ok((grids::to_geojson(shape).to_string(), grids::centroid(shape)))
}

/// Rows per multi-row INSERT (13 values each; far below both databases' parameter limits).
const INSERT_CHUNK: usize = 200;

/// Inserts `regions` on `conn` (inside the caller's transaction) and returns their ids.
///
/// Parents are resolved by code, from the database or from earlier entries of the batch. Ids
/// are reserved up front (SQLite: after MAX(id) under the write lock of `BEGIN IMMEDIATE`;
/// PostgreSQL: from the identity sequence), so each row's path is known before it is written
/// and the whole batch goes in a few multi-row INSERTs.
async fn insert_regions_on(
    conn: &mut AnyConnection,
    backend: Backend,
    regions: &[NewRegion],
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    if regions.is_empty() {
        return Ok(Vec::new());
    }
    // Validate everything before touching the database.
    let mut seen = HashSet::new();
    for r in regions {
        check_code(&r.code)?;
        check_name(&r.code, &r.name)?;
        if !seen.insert(r.code.as_str()) {
            return Err(StoreError::conflict("code"));
        }
    }
    let batch_index: HashMap<&str, usize> = regions
        .iter()
        .enumerate()
        .map(|(i, r)| (r.code.as_str(), i))
        .collect();

    let ids = reserve_region_ids(conn, backend, regions.len()).await?;

    let mut known: HashMap<String, ParentInfo> = HashMap::new();
    let mut rows: Vec<[crate::sql::Val; 13]> = Vec::with_capacity(regions.len());
    for (i, (r, &id)) in regions.iter().zip(&ids).enumerate() {
        let parent = match &r.parent_code {
            None => None,
            Some(pc) => {
                if !known.contains_key(pc) {
                    if let Some(&j) = batch_index.get(pc.as_str()) {
                        // In the batch but not yet seen: it comes later (or is this node).
                        debug_assert!(j >= i);
                        return Err(StoreError::invalid(format!(
                            "上级区划 {pc} 须排在下级 {} 之前",
                            r.code
                        )));
                    }
                    let row = sqlx::query(
                        "SELECT id, tenant, path, depth, level FROM regions WHERE code = $1",
                    )
                    .bind(pc.as_str())
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or_else(|| StoreError::invalid(format!("上级区划 {pc} 不存在")))?;
                    let level: String = row.try_get("level")?;
                    known.insert(
                        pc.clone(),
                        ParentInfo {
                            id: row.try_get("id")?,
                            tenant: row.try_get("tenant")?,
                            path: row.try_get("path")?,
                            depth: row.try_get("depth")?,
                            level: parse_level(&level)?,
                        },
                    );
                }
                known.get(pc)
            }
        };
        if let Some(p) = parent
            && r.level <= p.level
        {
            return Err(StoreError::invalid(format!(
                "{}（{}）不能设在{}之下：下级的层级须低于上级",
                r.code,
                r.level.zh(),
                p.level.zh()
            )));
        }
        let (parent_id, tenant, path, depth) = match parent {
            Some(p) => (
                Some(p.id),
                p.tenant.clone(),
                format!("{}{id}/", p.path),
                p.depth + 1,
            ),
            None => (None, r.code.clone(), format!("/{id}/"), 0),
        };
        let (boundary, centroid) = match &r.boundary {
            Some(shape) => {
                let (text, c) = boundary_columns(&r.code, shape)?;
                (Some(text), c)
            }
            None => (None, None),
        };
        known.insert(
            r.code.clone(),
            ParentInfo {
                id,
                tenant: tenant.clone(),
                path: path.clone(),
                depth,
                level: r.level,
            },
        );
        rows.push([
            id.into(),
            tenant.into(),
            r.code.clone().into(),
            parent_id.into(),
            r.level.as_str().into(),
            r.name.clone().into(),
            path.into(),
            depth.into(),
            boundary.into(),
            centroid.map(|c| c.0).into(),
            centroid.map(|c| c.1).into(),
            now.into(),
            now.into(),
        ]);
    }

    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut sql = Sql::new(
            "INSERT INTO regions (id, tenant, code, parent_id, level, name, path, depth, \
             boundary, centroid_lng, centroid_lat, created_at, updated_at) VALUES ",
        );
        for (i, row) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.bind_list(row.iter().cloned());
            sql.push(")");
        }
        sql.query()
            .execute(&mut *conn)
            .await
            .map_err(unique_as_conflict("code"))?;
    }
    Ok(ids)
}

/// `n` fresh region ids, ascending.
async fn reserve_region_ids(
    conn: &mut AnyConnection,
    backend: Backend,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
    let n = i64::try_from(n).map_err(|_| StoreError::invalid("一次导入的区划过多"))?;
    match backend {
        Backend::Sqlite => {
            let max: i64 =
                sqlx::query("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS m FROM regions")
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get("m")?;
            Ok((max + 1..=max + n).collect())
        }
        Backend::Postgres => {
            let rows = sqlx::query(
                "SELECT CAST(nextval(pg_get_serial_sequence('regions', 'id')) AS BIGINT) AS id \
                 FROM generate_series(1, $1)",
            )
            .bind(n)
            .fetch_all(&mut *conn)
            .await?;
            let mut ids = rows
                .iter()
                .map(|r| r.try_get::<i64, _>("id"))
                .collect::<Result<Vec<_>, _>>()?;
            ids.sort_unstable();
            Ok(ids)
        }
    }
}

/// Sets the boundaries of existing grids on `conn`; every code must exist and be a grid.
async fn set_boundaries_on(
    conn: &mut AnyConnection,
    boundaries: &[(String, MultiPolygon<f64>)],
    now: i64,
) -> Result<usize, StoreError> {
    for (code, shape) in boundaries {
        let row = sqlx::query("SELECT id, level FROM regions WHERE code = $1")
            .bind(code.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::invalid(format!("网格 {code} 不存在")))?;
        let level = parse_level(&row.try_get::<String, _>("level")?)?;
        if level != RegionLevel::Grid {
            return Err(StoreError::invalid(format!(
                "{code} 是{}，不是网格，不能设置网格边界",
                level.zh()
            )));
        }
        let id: i64 = row.try_get("id")?;
        let (text, centroid) = boundary_columns(code, shape)?;
        sqlx::query(
            "UPDATE regions SET boundary = $1, centroid_lng = $2, centroid_lat = $3, \
             updated_at = $4 WHERE id = $5",
        )
        .bind(text)
        // Not cached: a NULL float would fix the parameter as float4 on PostgreSQL (see
        // `Sql::query`).
        .persistent(false)
        .bind(centroid.map(|c| c.0))
        .bind(centroid.map(|c| c.1))
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(boundaries.len())
}

impl Store {
    /// Inserts a batch of regions, all or nothing, with one audit entry. Parents are found by
    /// code in the database or earlier in the batch; a child's level must be below its
    /// parent's. Errors: `Conflict { field: "code" }` for a code that is taken (or repeated in
    /// the batch), `Invalid("上级区划 X 不存在")` for a missing parent.
    pub async fn insert_regions(
        &self,
        regions: &[NewRegion],
        audit: &NewAudit,
        now: i64,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        insert_regions_on(&mut tx, self.backend(), regions, now).await?;
        let tenant = tenant_of_first(&mut tx, regions).await?;
        insert_audit(&mut tx, audit, tenant.as_deref(), now).await?;
        tx.commit().await?;
        Ok(regions.len())
    }

    /// Creates one region (same rules as [`Store::insert_regions`]) and returns its id.
    pub async fn create_region(
        &self,
        region: NewRegion,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let batch = [region];
        let ids = insert_regions_on(&mut tx, self.backend(), &batch, now).await?;
        let tenant = tenant_of_first(&mut tx, &batch).await?;
        insert_audit(&mut tx, audit, tenant.as_deref(), now).await?;
        tx.commit().await?;
        ids.first().copied().ok_or(StoreError::NotFound)
    }

    /// Replaces the boundaries of existing grids, all or nothing; every code must exist and be a
    /// grid (else `Invalid` naming the code). The label point is computed here.
    pub async fn set_boundaries(
        &self,
        boundaries: &[(String, MultiPolygon<f64>)],
        audit: &NewAudit,
        now: i64,
    ) -> Result<usize, StoreError> {
        self.import_grids(&[], boundaries, audit, now)
            .await
            .map(|(_, updated)| updated)
    }

    /// A grid import in one transaction: creates `new_regions` and replaces the boundaries of
    /// the existing grids in `boundaries`, with one audit entry. Returns (created, updated).
    pub async fn import_grids(
        &self,
        new_regions: &[NewRegion],
        boundaries: &[(String, MultiPolygon<f64>)],
        audit: &NewAudit,
        now: i64,
    ) -> Result<(usize, usize), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_regions_on(&mut tx, self.backend(), new_regions, now).await?;
        let updated = set_boundaries_on(&mut tx, boundaries, now).await?;
        let tenant = match tenant_of_first(&mut tx, new_regions).await? {
            Some(t) => Some(t),
            None => match boundaries.first() {
                Some((code, _)) => tenant_of_code(&mut tx, code).await?,
                None => None,
            },
        };
        insert_audit(&mut tx, audit, tenant.as_deref(), now).await?;
        tx.commit().await?;
        Ok((new_regions.len(), updated))
    }

    /// Renames a region.
    pub async fn rename_region(
        &self,
        id: i64,
        name: &str,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT code, tenant FROM regions WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let code: String = row.try_get("code")?;
        let tenant: String = row.try_get("tenant")?;
        check_name(&code, name)?;
        insert_audit(&mut tx, audit, Some(&tenant), now).await?;
        sqlx::query("UPDATE regions SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(name)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn region_by_code(&self, code: &str) -> Result<Option<Region>, StoreError> {
        let row = sqlx::query(concat!(region_select!(), " WHERE r.code = $1"))
            .bind(code)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(region_row).transpose()
    }

    pub async fn region_by_id(&self, id: i64) -> Result<Option<Region>, StoreError> {
        let row = sqlx::query(concat!(region_select!(), " WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(region_row).transpose()
    }

    /// Every region inside `scope_path`, ordered by code (bulk work over a whole district).
    pub async fn regions_under(&self, scope_path: &str) -> Result<Vec<Region>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let rows = sqlx::query(concat!(
            region_select!(),
            " WHERE r.path >= $1 AND r.path < $2 ORDER BY r.code"
        ))
        .bind(lo)
        .bind(hi)
        .fetch_all(self.reader())
        .await?;
        region_rows(&rows)
    }

    /// Children of `parent_id` that lie inside `scope_path`, ordered by code.
    pub async fn children(
        &self,
        parent_id: i64,
        scope_path: &str,
    ) -> Result<Vec<Region>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let rows = sqlx::query(concat!(
            region_select!(),
            " WHERE r.parent_id = $1 AND r.path >= $2 AND r.path < $3 ORDER BY r.code"
        ))
        .bind(parent_id)
        .bind(lo)
        .bind(hi)
        .fetch_all(self.reader())
        .await?;
        region_rows(&rows)
    }

    /// The top nodes of a jurisdiction: the node whose path is `scope_path`, or for `/` every
    /// root. (Generally: the shallowest regions inside the scope.)
    pub async fn roots(&self, scope_path: &str) -> Result<Vec<Region>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let rows = sqlx::query(concat!(
            region_select!(),
            " WHERE r.path >= $1 AND r.path < $2 AND r.depth = \
             (SELECT MIN(m.depth) FROM regions m WHERE m.path >= $1 AND m.path < $2) \
             ORDER BY r.code"
        ))
        .bind(lo)
        .bind(hi)
        .fetch_all(self.reader())
        .await?;
        region_rows(&rows)
    }

    /// The ancestors of `region`, root first (not the region itself).
    pub async fn ancestors(&self, region: &Region) -> Result<Vec<Region>, StoreError> {
        let ids: Vec<i64> = region
            .path
            .split('/')
            .filter_map(|s| s.parse::<i64>().ok())
            .filter(|id| *id != region.id)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new(region_select!());
        sql.push(" WHERE r.id IN (")
            .bind_list(ids)
            .push(") ORDER BY r.depth");
        let rows = sql.query().fetch_all(self.reader()).await?;
        region_rows(&rows)
    }

    /// Every region of one level, by code, at most `limit` (public pick lists: the communities a
    /// resident may live in).
    pub async fn regions_at_level(
        &self,
        level: RegionLevel,
        limit: u32,
    ) -> Result<Vec<Region>, StoreError> {
        let rows = sqlx::query(concat!(
            region_select!(),
            " WHERE r.level = $1 ORDER BY r.code LIMIT $2"
        ))
        .bind(level.as_str())
        .bind(i64::from(limit.clamp(1, 5000)))
        .fetch_all(self.reader())
        .await?;
        region_rows(&rows)
    }

    /// Regions inside `scope_path` whose name contains `q` or whose code starts with `q`,
    /// shallowest first, at most `limit` (1–200).
    pub async fn search_regions(
        &self,
        scope_path: &str,
        q: &str,
        limit: u32,
    ) -> Result<Vec<Region>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let q = q.trim();
        if q.is_empty() {
            return Ok(Vec::new());
        }
        let escaped = like_escape(q);
        let rows = sqlx::query(concat!(
            region_select!(),
            " WHERE r.path >= $1 AND r.path < $2 \
             AND (r.name LIKE $3 ESCAPE '\\' OR r.code LIKE $4 ESCAPE '\\') \
             ORDER BY r.depth, r.code LIMIT $5"
        ))
        .bind(lo)
        .bind(hi)
        .bind(format!("%{escaped}%"))
        .bind(format!("{escaped}%"))
        .bind(i64::from(limit.clamp(1, 200)))
        .fetch_all(self.reader())
        .await?;
        region_rows(&rows)
    }

    /// Grids with a boundary inside `scope_path`: (code, name, GeoJSON geometry text), by code.
    /// With scope `/` this feeds the point → grid index.
    pub async fn grid_boundaries(
        &self,
        scope_path: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let rows = sqlx::query(
            "SELECT code, name, boundary FROM regions \
             WHERE level = 'grid' AND boundary IS NOT NULL AND path >= $1 AND path < $2 \
             ORDER BY code",
        )
        .bind(lo)
        .bind(hi)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("code")?,
                    r.try_get("name")?,
                    r.try_get("boundary")?,
                ))
            })
            .collect()
    }

    /// How many regions of each level lie inside `scope_path`, in level order (levels with no
    /// region are left out).
    pub async fn count_by_level(
        &self,
        scope_path: &str,
    ) -> Result<Vec<(RegionLevel, i64)>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let rows = sqlx::query(
            "SELECT level, COUNT(*) AS n FROM regions WHERE path >= $1 AND path < $2 \
             GROUP BY level",
        )
        .bind(lo)
        .bind(hi)
        .fetch_all(self.reader())
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let level: String = r.try_get("level")?;
                Ok((parse_level(&level)?, r.try_get::<i64, _>("n")?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by_key(|(level, _)| *level);
        Ok(out)
    }
}

/// Tenant of the first region of a batch just inserted on `conn`.
async fn tenant_of_first(
    conn: &mut AnyConnection,
    regions: &[NewRegion],
) -> Result<Option<String>, StoreError> {
    match regions.first() {
        Some(r) => tenant_of_code(conn, &r.code).await,
        None => Ok(None),
    }
}

async fn tenant_of_code(
    conn: &mut AnyConnection,
    code: &str,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT tenant FROM regions WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("tenant")?),
        None => None,
    })
}
