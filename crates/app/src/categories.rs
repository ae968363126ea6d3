//! Administration of what the case loop runs on: category limits, handling units, the routing
//! table (category × region → unit, inherited down the tree) and the working-day calendar.
//! County-wide settings, so only system administrators change them; every change is audited
//! and the cached copies are reloaded at once.

use jinlin_domain::accounts::Role;
use jinlin_domain::categories::{self, CategoryKind, CategorySpec, HandlingLevel};
use jinlin_domain::deadlines::{Date, DeadlineSpec, Urgency};
use jinlin_store::cases::{Category, RouteView, Unit};

use crate::cases::new_category;
use crate::{Actor, App, AppError};

/// The limits an administrator may change on a category.
#[derive(Debug, Clone)]
pub struct CategoryEdit {
    pub name: String,
    pub active: bool,
    pub response: DeadlineSpec,
    pub onsite: Option<DeadlineSpec>,
    pub resolution: DeadlineSpec,
    pub urgency: Urgency,
    pub level: HandlingLevel,
}

fn sysadmin_only(actor: &Actor) -> Result<(), AppError> {
    if actor.role == Role::Sysadmin {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "事件分类、承办单位、派单规则和工作日历由系统管理员维护".into(),
        ))
    }
}

/// The form field a domain validation message is about ("响应时限：…" → `response`).
fn field_of(message: &str) -> &'static str {
    let label = message.split('：').next().unwrap_or_default();
    match label {
        "名称" => "name",
        "响应时限" => "response",
        "到场时限" => "onsite",
        "办结时限" => "resolution",
        _ => "category",
    }
}

fn spec_of(c: &Category, parent_code: Option<String>) -> CategorySpec {
    CategorySpec {
        code: c.code.clone(),
        parent: parent_code,
        name: c.name.clone(),
        kind: CategoryKind::parse(&c.kind).unwrap_or(CategoryKind::Appeal),
        standard_code: c.standard_code.clone(),
        standard: c.standard.clone(),
        response: c.response,
        onsite: c.onsite,
        resolution: c.resolution,
        urgency: c.urgency,
        level: HandlingLevel::parse(&c.level).unwrap_or(HandlingLevel::Community),
        description: c.description.clone(),
        keywords: c.keywords.clone(),
    }
}

/// The district an administrator's settings belong to.
async fn tenant_of(app: &App, actor: &Actor) -> Result<String, AppError> {
    app.store
        .region_by_id(actor.region_id)
        .await?
        .map(|r| r.tenant)
        .ok_or_else(|| AppError::Forbidden("账号未绑定区县".into()))
}

impl App {
    /// Every category, inactive ones too, parents before children.
    pub async fn all_categories(&self, actor: &Actor) -> Result<Vec<Category>, AppError> {
        sysadmin_only(actor)?;
        Ok(self.store.categories(true).await?)
    }

    /// Changes a category's name, limits, urgency, level or whether it is offered.
    pub async fn edit_category(
        &self,
        actor: &Actor,
        id: i64,
        edit: CategoryEdit,
    ) -> Result<(), AppError> {
        sysadmin_only(actor)?;
        let current = self
            .store
            .category_by_id(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("事件分类 #{id} 不存在")))?;
        let parent = match current.parent_id {
            Some(p) => self.store.category_by_id(p).await?.map(|c| c.code),
            None => None,
        };
        let spec = CategorySpec {
            name: edit.name.trim().to_owned(),
            response: edit.response,
            onsite: edit.onsite,
            resolution: edit.resolution,
            urgency: edit.urgency,
            level: edit.level,
            ..spec_of(&current, parent)
        };
        categories::validate(&spec).map_err(|m| AppError::invalid(field_of(&m), m))?;
        let mut stored = new_category(&spec);
        stored.active = edit.active;
        self.store
            .update_category(
                id,
                &stored,
                &actor.audit(
                    "category.update",
                    &format!("category:{}", current.code),
                    "ok",
                    format!(
                        "响应{} 到场{} 办结{} {}",
                        spec.response,
                        spec.onsite
                            .map(|o| o.to_string())
                            .unwrap_or_else(|| "—".into()),
                        spec.resolution,
                        if edit.active { "启用" } else { "停用" }
                    ),
                ),
                self.now(),
            )
            .await?;
        self.reload_categories().await?;
        Ok(())
    }

    /// The district's handling units.
    pub async fn handling_units(&self, actor: &Actor) -> Result<Vec<Unit>, AppError> {
        sysadmin_only(actor)?;
        let tenant = tenant_of(self, actor).await?;
        Ok(self.store.units(&tenant).await?)
    }

    /// Adds a county department (`department`) or partner unit (`partner`).
    pub async fn add_unit(
        &self,
        actor: &Actor,
        name: &str,
        kind: &str,
        phone: Option<&str>,
    ) -> Result<i64, AppError> {
        sysadmin_only(actor)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(AppError::invalid("name", "单位名称：须为 1–60 个字"));
        }
        if !matches!(kind, "department" | "partner") {
            return Err(AppError::invalid(
                "kind",
                "单位类型：只能是职能部门或共建单位",
            ));
        }
        let phone = phone.map(str::trim).filter(|p| !p.is_empty());
        if let Some(p) = phone
            && (p.len() > 20 || !p.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
        {
            return Err(AppError::invalid("phone", "联系电话：只能包含数字和“-”"));
        }
        let tenant = tenant_of(self, actor).await?;
        self.store
            .create_unit(
                &tenant,
                name,
                kind,
                actor.region_id,
                phone,
                &actor.audit("unit.create", &format!("unit:{name}"), "ok", kind.into()),
                self.now(),
            )
            .await
            .map_err(|e| match e {
                jinlin_store::StoreError::Conflict { .. } => {
                    AppError::invalid("name", format!("单位名称：“{name}”已存在"))
                }
                other => other.into(),
            })
    }

    /// The routing table of the district.
    pub async fn routing_table(&self, actor: &Actor) -> Result<Vec<RouteView>, AppError> {
        sysadmin_only(actor)?;
        let tenant = tenant_of(self, actor).await?;
        Ok(self.store.routes(&tenant).await?)
    }

    /// Routes a category in a region's subtree to a unit (replacing the region's own rule for
    /// it; deeper rules still win below).
    pub async fn set_route(
        &self,
        actor: &Actor,
        category_id: i64,
        region_code: &str,
        unit_id: i64,
    ) -> Result<(), AppError> {
        sysadmin_only(actor)?;
        let category = self
            .store
            .category_by_id(category_id)
            .await?
            .ok_or_else(|| AppError::invalid("category", "事件分类：不存在"))?;
        let region = self
            .store
            .region_by_code(region_code.trim())
            .await?
            .filter(|r| actor.sees_path(&r.path))
            .ok_or_else(|| {
                AppError::invalid(
                    "region",
                    format!("区划：编码“{}”不存在或不在本辖区", region_code.trim()),
                )
            })?;
        let unit = self
            .store
            .unit_by_id(unit_id)
            .await?
            .filter(|u| u.tenant == region.tenant)
            .ok_or_else(|| AppError::invalid("unit", "承办单位：不存在或不属于本区县"))?;
        self.store
            .set_route(
                category.id,
                region.id,
                unit.id,
                &actor.audit(
                    "route.set",
                    &format!("route:{}@{}", category.code, region.code),
                    "ok",
                    unit.name.clone(),
                ),
                self.now(),
            )
            .await?;
        self.reload_routes().await?;
        Ok(())
    }

    /// Holidays and make-up workdays entered by the county (on top of the official calendar).
    pub async fn calendar_exceptions(
        &self,
        actor: &Actor,
    ) -> Result<Vec<(String, String, String)>, AppError> {
        sysadmin_only(actor)?;
        Ok(self.store.calendar_days().await?)
    }

    /// Marks a day as a holiday or a make-up workday, or clears it (`kind` None); deadlines
    /// computed from now on use the new calendar.
    pub async fn set_calendar_day(
        &self,
        actor: &Actor,
        day: &str,
        kind: Option<&str>,
        note: &str,
    ) -> Result<(), AppError> {
        sysadmin_only(actor)?;
        let date = Date::parse(day.trim())
            .map_err(|_| AppError::invalid("day", "日期：格式应为 2026-10-01"))?;
        if let Some(k) = kind
            && !matches!(k, "holiday" | "workday")
        {
            return Err(AppError::invalid("kind", "类型：只能是节假日或调休上班"));
        }
        let note = note.trim();
        if note.chars().count() > 40 {
            return Err(AppError::invalid("note", "说明：不能超过 40 个字"));
        }
        let day = date.to_string();
        self.store
            .set_calendar_day(
                &day,
                kind.map(|k| (k, note)),
                &actor.audit(
                    "calendar.set",
                    &format!("day:{day}"),
                    "ok",
                    kind.unwrap_or("cleared").into(),
                ),
                self.now(),
            )
            .await?;
        self.reload_calendar().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages_point_at_their_field() {
        assert_eq!(field_of("响应时限：必须在1到10080分钟之间"), "response");
        assert_eq!(field_of("到场时限：不能短于响应时限"), "onsite");
        assert_eq!(field_of("名称：不能为空"), "name");
        assert_eq!(field_of("别的问题"), "category");
    }
}
