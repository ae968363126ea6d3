//! The region tree seen through jurisdiction, grid import and point → grid lookup.

use std::sync::Arc;

use jinlin_domain::accounts::Role;
use jinlin_domain::crs::{self, Crs};
use jinlin_domain::grids::{self, GridIndex};
use jinlin_domain::regions::{NewRegion, RegionLevel};
use jinlin_store::accounts::PostView;
use jinlin_store::regions::Region;

use crate::{Actor, App, AppError};

/// The answer to "which grid is this point in".
#[derive(Debug, Clone)]
pub struct Located {
    pub grid: Region,
    /// The point in WGS-84 (lng, lat), after conversion from the input system.
    pub wgs84: (f64, f64),
    pub staff: Vec<PostView>,
    /// Community police are posted at the community, not the grid.
    pub police: Vec<PostView>,
}

/// Result of a grid import: what was created or updated, and overlap warnings.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub warnings: Vec<String>,
}

impl App {
    /// One node, if the actor's jurisdiction covers it; a refusal is audited.
    pub async fn region(&self, actor: &Actor, code: &str) -> Result<Region, AppError> {
        let region = self
            .store
            .region_by_code(code)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("区划 {code} 不存在")))?;
        if actor.sees_path(&region.path) {
            Ok(region)
        } else {
            self.deny(actor, &format!("region:{code}")).await
        }
    }

    /// Children of a node (or the actor's own top node when `parent` is None).
    pub async fn region_children(
        &self,
        actor: &Actor,
        parent: Option<&str>,
    ) -> Result<Vec<Region>, AppError> {
        match parent {
            Some(code) => {
                let region = self.region(actor, code).await?;
                Ok(self.store.children(region.id, &actor.scope_path).await?)
            }
            None => Ok(self.store.roots(&actor.scope_path).await?),
        }
    }

    pub async fn region_ancestors(&self, region: &Region) -> Result<Vec<Region>, AppError> {
        Ok(self.store.ancestors(region).await?)
    }

    pub async fn search_regions(
        &self,
        actor: &Actor,
        query: &str,
        limit: u32,
    ) -> Result<Vec<Region>, AppError> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        if query.chars().count() > 40 {
            return Err(AppError::invalid("q", "搜索词不能超过 40 个字"));
        }
        Ok(self
            .store
            .search_regions(&actor.scope_path, query, limit.clamp(1, 100))
            .await?)
    }

    /// Staff posted at a node.
    pub async fn region_posts(&self, region: &Region) -> Result<Vec<PostView>, AppError> {
        Ok(self.store.posts_at(region.id).await?)
    }

    /// Counts of nodes per level in the actor's jurisdiction (home page).
    pub async fn region_counts(&self, actor: &Actor) -> Result<Vec<(RegionLevel, i64)>, AppError> {
        Ok(self.store.count_by_level(&actor.scope_path).await?)
    }

    /// Grid polygons below a node, for the map: (code, name, GeoJSON geometry text).
    pub async fn grid_boundaries(
        &self,
        actor: &Actor,
        code: &str,
    ) -> Result<Vec<(String, String, String)>, AppError> {
        let region = self.region(actor, code).await?;
        Ok(self.store.grid_boundaries(&region.path).await?)
    }

    /// Which grid a point falls in. `crs` is the coordinate system the caller's device uses.
    pub async fn locate(&self, lat: f64, lng: f64, crs: Crs) -> Result<Located, AppError> {
        let (chain, wgs84) = self.locate_grid(lat, lng, crs).await?;
        let grid = chain
            .last()
            .cloned()
            .ok_or_else(|| AppError::Internal("empty region chain".into()))?;
        let staff = self.store.posts_at(grid.id).await?;
        let mut police = Vec::new();
        for ancestor in chain.iter() {
            if ancestor.level == RegionLevel::Community {
                police = self.store.posts_at(ancestor.id).await?;
            }
        }
        Ok(Located {
            grid,
            wgs84,
            staff,
            police,
        })
    }

    /// The grid a point falls in, as its region chain (root first, the grid last), and the
    /// point in WGS-84 `(lng, lat)`. Checks the ranges like [`App::locate`].
    pub async fn locate_grid(
        &self,
        lat: f64,
        lng: f64,
        crs: Crs,
    ) -> Result<(Arc<Vec<Region>>, (f64, f64)), AppError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(AppError::invalid("lat", "纬度 lat 须在 -90 到 90 之间"));
        }
        if !lng.is_finite() || !(-180.0..=180.0).contains(&lng) {
            return Err(AppError::invalid("lng", "经度 lng 须在 -180 到 180 之间"));
        }
        let (wlng, wlat) = crs::to_wgs84(crs, lng, lat);
        let code = {
            let index = self.current_grid_index();
            index.locate(wlng, wlat).map(str::to_owned)
        };
        let code = code.ok_or_else(|| {
            AppError::NotFound(format!("坐标 ({lat:.6}, {lng:.6}) 不在任何网格内"))
        })?;
        let chain = self
            .region_chain(&code)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("网格 {code} 已被删除")))?;
        Ok((chain, (wlng, wlat)))
    }

    /// A region and its ancestors, root first and the region last; cached, since intake asks
    /// for it on every report and the tree changes only on imports.
    pub async fn region_chain(&self, code: &str) -> Result<Option<Arc<Vec<Region>>>, AppError> {
        if let Ok(g) = self.chains.read()
            && let Some(c) = g.get(code)
        {
            return Ok(Some(Arc::clone(c)));
        }
        let Some(region) = self.store.region_by_code(code).await? else {
            return Ok(None);
        };
        let mut chain = self.store.ancestors(&region).await?;
        chain.push(region);
        let chain = Arc::new(chain);
        if let Ok(mut g) = self.chains.write() {
            g.insert(code.to_owned(), Arc::clone(&chain));
        }
        Ok(Some(chain))
    }

    fn current_grid_index(&self) -> Arc<GridIndex> {
        match self.grid_index.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Rebuilds the point → grid index from the database (start-up and after imports).
    pub async fn reload_grid_index(&self) -> Result<usize, AppError> {
        let rows = self.store.grid_boundaries("/").await?;
        let index = tokio::task::spawn_blocking(move || {
            let polygons = rows
                .into_iter()
                .filter_map(|(code, _, text)| {
                    grids::from_geojson_geometry(&text).ok().map(|p| (code, p))
                })
                .collect();
            GridIndex::new(polygons)
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
        let len = index.len();
        // Imports add grids and may re-parent them: cached chains are stale.
        match self.chains.write() {
            Ok(mut g) => g.clear(),
            Err(poisoned) => poisoned.into_inner().clear(),
        }
        match self.grid_index.write() {
            Ok(mut guard) => *guard = Arc::new(index),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(index),
        }
        Ok(len)
    }

    /// Imports grid polygons from GeoJSON: existing grids get their boundary replaced, new codes
    /// become grids under the compound named in `parent`. All or nothing.
    pub async fn import_grids(
        &self,
        actor: &Actor,
        geojson: &str,
    ) -> Result<ImportReport, AppError> {
        if !actor.role.manages_regions() {
            return Err(AppError::Forbidden(
                "仅街道工作人员和系统管理员可以导入网格".into(),
            ));
        }
        let parsed = grids::parse_grid_geojson(geojson).map_err(|e| AppError::Invalid {
            field: "file".into(),
            message: e.to_string(),
        })?;
        let mut report = ImportReport {
            warnings: parsed.warnings,
            ..ImportReport::default()
        };
        let mut errors = Vec::new();
        let mut new_regions = Vec::new();
        let mut updates = Vec::new();
        for feature in parsed.features {
            let label = format!("第{}个要素（编码 {}）", feature.index, feature.code);
            match self.store.region_by_code(&feature.code).await? {
                Some(existing) => {
                    if existing.level != RegionLevel::Grid {
                        errors.push(format!(
                            "{label}：该编码是{}，不是网格",
                            existing.level.zh()
                        ));
                    } else if !actor.sees_path(&existing.path) {
                        errors.push(format!("{label}：不在您的管辖范围内"));
                    } else {
                        report.updated.push(feature.code.clone());
                        updates.push((feature.code, feature.boundary));
                    }
                }
                None => {
                    let Some(parent_code) = feature.parent_code.clone() else {
                        errors.push(format!(
                            "{label}：新网格须在 properties.parent 中给出所属小区编码"
                        ));
                        continue;
                    };
                    let Some(name) = feature.name.clone().filter(|n| !n.trim().is_empty()) else {
                        errors.push(format!("{label}：新网格须在 properties.name 中给出名称"));
                        continue;
                    };
                    match self.store.region_by_code(&parent_code).await? {
                        Some(parent) if parent.level != RegionLevel::Compound => {
                            errors.push(format!(
                                "{label}：上级 {parent_code} 是{}，网格的上级应为小区",
                                parent.level.zh()
                            ))
                        }
                        Some(parent) if !actor.sees_path(&parent.path) => {
                            errors.push(format!("{label}：上级 {parent_code} 不在您的管辖范围内"))
                        }
                        Some(_) => {
                            if let Err(e) = jinlin_domain::regions::validate_code(
                                RegionLevel::Grid,
                                &feature.code,
                                Some(&parent_code),
                            ) {
                                errors.push(format!("{label}：{e}"));
                                continue;
                            }
                            report.created.push(feature.code.clone());
                            new_regions.push(NewRegion {
                                code: feature.code,
                                parent_code: Some(parent_code),
                                level: RegionLevel::Grid,
                                name: name.trim().to_string(),
                                boundary: Some(feature.boundary),
                            });
                        }
                        None => errors.push(format!("{label}：上级小区 {parent_code} 不存在")),
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(AppError::invalid("file", errors.join("\n")));
        }
        // Warn about overlaps with stored grids that this file does not replace.
        let incoming: Vec<(String, geo::MultiPolygon<f64>)> = updates
            .iter()
            .cloned()
            .chain(
                new_regions
                    .iter()
                    .filter_map(|r| r.boundary.clone().map(|b| (r.code.clone(), b))),
            )
            .collect();
        let replaced: std::collections::HashSet<&str> =
            incoming.iter().map(|(c, _)| c.as_str()).collect();
        let stored: Vec<(String, geo::MultiPolygon<f64>)> = self
            .store
            .grid_boundaries(&actor.scope_path)
            .await?
            .into_iter()
            .filter(|(code, _, _)| !replaced.contains(code.as_str()))
            .filter_map(|(code, _, text)| {
                grids::from_geojson_geometry(&text).ok().map(|p| (code, p))
            })
            .collect();
        report.warnings.extend(grids::overlap_warnings(
            &incoming,
            &stored,
            grids::OVERLAP_TOLERANCE_M2,
        ));
        let audit = actor.audit(
            "grids.import",
            "regions",
            "ok",
            format!(
                "新建 {} 个，更新 {} 个网格边界",
                report.created.len(),
                report.updated.len()
            ),
        );
        self.store
            .import_grids(&new_regions, &updates, &audit, self.now())
            .await?;
        self.reload_grid_index().await?;
        Ok(report)
    }

    /// May this actor manage staff posts at this node?
    pub fn can_manage_posts(&self, actor: &Actor, region: &Region) -> bool {
        actor.role.manages_staff()
            && actor.sees_path(&region.path)
            && matches!(
                region.level,
                RegionLevel::Grid | RegionLevel::Building | RegionLevel::Community
            )
    }

    pub fn can_import_grids(&self, actor: &Actor) -> bool {
        actor.role.manages_regions() || actor.role == Role::Sysadmin
    }
}

impl App {
    /// The communities anyone may pick when signing up or reporting without an account:
    /// `(code, "东湖街道 · 东霞社区")`. Names of public offices, no personal data.
    pub async fn public_communities(&self) -> Result<Vec<(String, String)>, AppError> {
        let streets = self
            .store
            .regions_at_level(RegionLevel::Street, 5000)
            .await?;
        let communities = self
            .store
            .regions_at_level(RegionLevel::Community, 5000)
            .await?;
        Ok(communities
            .into_iter()
            .map(|c| {
                let street = streets
                    .iter()
                    .find(|s| Some(s.id) == c.parent_id)
                    .map(|s| s.name.as_str())
                    .unwrap_or("");
                let label = if street.is_empty() {
                    c.name.clone()
                } else {
                    format!("{street} · {}", c.name)
                };
                (c.code, label)
            })
            .collect())
    }
}
