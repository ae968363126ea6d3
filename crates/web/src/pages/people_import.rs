//! 人员导入与导出: the import wizard (upload → check → import the valid rows) and the xlsx
//! export of a people search.
//!
//! Between the check and the import the uploaded file waits in `data_dir/imports/<token>.bin`
//! (with `<token>.meta`: uploader, region, file name), named by a random token in a hidden
//! field; it is deleted after the import, and any upload older than an hour is deleted whenever
//! someone uploads. The error report of the last check or import is `<token>.errors.xlsx`.

use std::path::PathBuf;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jinlin_app::AppError;
use jinlin_app::people::import::{self, ImportOutcome, ImportPreview, RowError};
use jinlin_app::people::{PeopleQuery, may_manage_lists};
use serde::Deserialize;

use super::{Chrome, render};
use crate::AppState;
use crate::auth::{Session, SignedIn, Ui};
use crate::error::PageError;

/// Uploads older than this are deleted.
const KEEP_MS: u128 = 60 * 60 * 1000;
/// Errors shown on the page (all of them are in the report).
const ERRORS_SHOWN: usize = 200;

#[derive(Template)]
#[template(path = "people_import.html")]
struct ImportPage {
    c: Chrome,
    regions: Vec<(String, String)>,
    region: String,
    preview: Option<ImportPreview>,
    token: String,
    errors: Vec<RowError>,
    more_errors: usize,
    outcome: Option<ImportOutcome>,
    failure: Option<String>,
}

impl ImportPage {
    fn new(c: Chrome) -> ImportPage {
        ImportPage {
            c,
            regions: Vec::new(),
            region: String::new(),
            preview: None,
            token: String::new(),
            errors: Vec::new(),
            more_errors: 0,
            outcome: None,
            failure: None,
        }
    }

    fn show_errors(&mut self, errors: &[RowError]) {
        self.errors = errors.iter().take(ERRORS_SHOWN).cloned().collect();
        self.more_errors = errors.len().saturating_sub(ERRORS_SHOWN);
    }
}

fn page_err(lang: crate::i18n::Lang) -> impl Fn(AppError) -> PageError {
    move |e| PageError::new(e, lang)
}

fn require_lists(session: &Session, lang: crate::i18n::Lang) -> Result<(), PageError> {
    if may_manage_lists(session.actor.role) {
        Ok(())
    } else {
        Err(PageError::new(
            AppError::Forbidden("只有社区、街道管理员和领导可以导入、导出人员名单".into()),
            lang,
        ))
    }
}

fn imports_dir(state: &AppState) -> PathBuf {
    state.app.settings.data_dir.join("imports")
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("import file: {e}"))
}

/// A token from a form or a path, checked so it cannot name another file.
fn checked_token(token: &str) -> Result<&str, AppError> {
    let ok = (16..=100).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(token)
    } else {
        Err(AppError::NotFound(
            "导入文件已过期或不存在，请重新上传".into(),
        ))
    }
}

/// Deletes uploads and reports older than an hour.
async fn sweep(dir: &std::path::Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(e)) = entries.next_entry().await {
        let old = e
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_millis() > KEEP_MS);
        if old {
            let _ = tokio::fs::remove_file(e.path()).await;
        }
    }
}

/// The actor's own region and the regions under it, for the select.
async fn region_choices(
    state: &AppState,
    session: &Session,
) -> Result<Vec<(String, String)>, AppError> {
    let a = &session.actor;
    let mut out = vec![(a.region_code.clone(), a.region_name.clone())];
    for r in state.app.region_children(a, Some(&a.region_code)).await? {
        out.push((r.code, format!("　{}", r.name)));
    }
    Ok(out)
}

/// GET /people/import
pub async fn form(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
) -> Result<Response, PageError> {
    require_lists(&session, t.lang)?;
    let mut view = ImportPage::new(Chrome::new(&session, t, "people_import", "/people/import"));
    view.regions = region_choices(&state, &session)
        .await
        .map_err(page_err(t.lang))?;
    view.region = session.actor.region_code.clone();
    Ok(render(&view, t.lang)?.into_response())
}

/// GET /people/import/template.xlsx
pub async fn template(Ui(t): Ui, SignedIn(session): SignedIn) -> Result<Response, PageError> {
    require_lists(&session, t.lang)?;
    let bytes = import::template_xlsx().map_err(page_err(t.lang))?;
    Ok(xlsx_response("people-import-template.xlsx", bytes))
}

fn xlsx_response(name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response()
}

/// POST /people/import/preview (multipart: region, file)
pub async fn preview(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    require_lists(&session, t.lang)?;
    let mut region = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name() {
            Some("region") => region = field.text().await.unwrap_or_default(),
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let bytes = field.bytes().await.map_err(|_| {
                    PageError::new(
                        AppError::invalid("file", "文件上传中断或超过 120 MB，请重试"),
                        t.lang,
                    )
                })?;
                file = Some((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    let mut view = ImportPage::new(Chrome::new(&session, t, "people_import", "/people/import"));
    view.regions = region_choices(&state, &session)
        .await
        .map_err(page_err(t.lang))?;
    view.region = region.clone();
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        view.failure = Some("请选择要导入的人员表（.xlsx 或 .csv）".into());
        return Ok((
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            render(&view, t.lang)?,
        )
            .into_response());
    };
    let bytes = Arc::new(bytes);
    let result = state
        .app
        .preview_import(&session.actor, &region, Arc::clone(&bytes), &name)
        .await;
    let p = match result {
        Ok(p) => p,
        Err(e @ AppError::Invalid { .. }) => {
            view.failure = Some(e.to_string());
            return Ok((
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                render(&view, t.lang)?,
            )
                .into_response());
        }
        Err(e) => return Err(PageError::new(e, t.lang)),
    };
    let dir = imports_dir(&state);
    sweep(&dir).await;
    let token = jinlin_app::accounts::random_token().map_err(page_err(t.lang))?;
    let token = token.replace(['+', '/', '='], "");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| PageError::new(internal(e), t.lang))?;
    let meta = format!(
        "{}\n{}\n{}",
        session.actor.user_id.unwrap_or(0),
        region,
        name.replace('\n', " ")
    );
    let write = async || -> std::io::Result<()> {
        tokio::fs::write(dir.join(format!("{token}.bin")), bytes.as_slice()).await?;
        tokio::fs::write(dir.join(format!("{token}.meta")), meta.as_bytes()).await?;
        if !p.errors.is_empty()
            && let Ok(report) = import::error_report_xlsx(&p.errors)
        {
            tokio::fs::write(dir.join(format!("{token}.errors.xlsx")), report).await?;
        }
        Ok(())
    };
    write()
        .await
        .map_err(|e| PageError::new(internal(e), t.lang))?;
    view.show_errors(&p.errors);
    view.token = token;
    view.preview = Some(p);
    Ok(render(&view, t.lang)?.into_response())
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    token: String,
}

/// POST /people/import/confirm — imports the valid rows of the checked file.
pub async fn confirm(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    require_lists(&session, t.lang)?;
    let token = checked_token(f.token.trim()).map_err(page_err(t.lang))?;
    let dir = imports_dir(&state);
    let gone = || {
        PageError::new(
            AppError::NotFound("导入文件已过期或不存在，请重新上传".into()),
            t.lang,
        )
    };
    let meta = tokio::fs::read_to_string(dir.join(format!("{token}.meta")))
        .await
        .map_err(|_| gone())?;
    let mut lines = meta.splitn(3, '\n');
    let owner: i64 = lines.next().and_then(|s| s.parse().ok()).unwrap_or(-1);
    let region = lines.next().unwrap_or_default().to_owned();
    let name = lines.next().unwrap_or_default().to_owned();
    if owner != session.actor.user_id.unwrap_or(0) {
        return Err(gone());
    }
    let bytes = tokio::fs::read(dir.join(format!("{token}.bin")))
        .await
        .map_err(|_| gone())?;
    let out = state
        .app
        .import_people_file(&session.actor, &region, Arc::new(bytes), &name, true, None)
        .await;
    let _ = tokio::fs::remove_file(dir.join(format!("{token}.bin"))).await;
    let _ = tokio::fs::remove_file(dir.join(format!("{token}.meta"))).await;
    let out = out.map_err(page_err(t.lang))?;
    let report = dir.join(format!("{token}.errors.xlsx"));
    if out.errors.is_empty() {
        let _ = tokio::fs::remove_file(&report).await;
    } else if let Ok(bytes) = import::error_report_xlsx(&out.errors) {
        let _ = tokio::fs::write(&report, bytes).await;
    }
    let mut view = ImportPage::new(Chrome::new(&session, t, "people_import", "/people/import"));
    view.show_errors(&out.errors);
    view.token = token.to_owned();
    view.region = region;
    view.outcome = Some(out);
    Ok(render(&view, t.lang)?.into_response())
}

/// GET /people/import/errors/{token}.xlsx — the error report of a check or an import.
pub async fn errors(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(file): Path<String>,
) -> Result<Response, PageError> {
    require_lists(&session, t.lang)?;
    let token = file.strip_suffix(".xlsx").unwrap_or(&file);
    let token = checked_token(token).map_err(page_err(t.lang))?;
    let bytes = tokio::fs::read(imports_dir(&state).join(format!("{token}.errors.xlsx")))
        .await
        .map_err(|_| {
            PageError::new(
                AppError::NotFound("错误报告已过期或不存在（保留 1 小时），请重新检查文件".into()),
                t.lang,
            )
        })?;
    Ok(xlsx_response("people-import-errors.xlsx", bytes))
}

#[derive(Debug, Default, Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    clear: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// GET /people/export.xlsx?q=&tag=&region=[&clear=1&reason=]
pub async fn export(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<ExportQuery>,
) -> Result<Response, PageError> {
    let query = PeopleQuery {
        q: q.q,
        tag: q.tag.filter(|s| !s.trim().is_empty()),
        region: q.region.filter(|s| !s.trim().is_empty()),
        ..PeopleQuery::default()
    };
    let clear = q
        .clear
        .as_deref()
        .is_some_and(|c| c == "1")
        .then(|| q.reason.clone().unwrap_or_default());
    let bytes = state
        .app
        .export_people(&session.actor, &query, clear.as_deref())
        .await
        .map_err(page_err(t.lang))?;
    let name = format!(
        "people-{}{}.xlsx",
        query
            .region
            .as_deref()
            .unwrap_or(&session.actor.region_code),
        if clear.is_some() { "-clear" } else { "" }
    );
    Ok(xlsx_response(&name, bytes))
}
