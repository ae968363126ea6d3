//! Reading the audit trail (writing happens inside each use case's transaction).

use jinlin_domain::accounts::Role;
use jinlin_store::audit::{AuditFilter, AuditRow};

use crate::{Actor, App, AppError, Page};

impl App {
    pub async fn list_audit(
        &self,
        actor: &Actor,
        filter: AuditFilter,
    ) -> Result<Page<AuditRow>, AppError> {
        if actor.role != Role::Sysadmin {
            return Err(AppError::Forbidden("仅系统管理员可以查看审计日志".into()));
        }
        let page = filter.page.max(1);
        let page_size = filter.page_size.clamp(1, 200);
        let (items, total) = self
            .store
            .list_audit(AuditFilter {
                page,
                page_size,
                ..filter
            })
            .await?;
        Ok(Page {
            items,
            total,
            page,
            page_size,
        })
    }
}
