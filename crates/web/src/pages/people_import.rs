//! 人员导入与导出: the import wizard (upload → check → import the valid rows) and the xlsx
//! export of a people search.
//!
//! The check and the import run as background jobs ([`crate::import_jobs`]): the form posts,
//! the browser is sent to `/people/import/jobs/<token>`, which shows the progress (polled from
//! app.js, or refreshed by the page itself without script) and then the result.
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
use axum::response::{IntoResponse, Redirect, Response};
use jinlin_app::AppError;
use jinlin_app::people::import::{
    self, ImportOutcome, ImportPreview, ImportProgress, ImportStage, RowError,
};
use jinlin_app::people::{PeopleQuery, may_manage_lists};
use serde::Deserialize;

use super::{Chrome, render};
use crate::AppState;
use crate::auth::{Session, SignedIn, Ui};
use crate::error::{ApiError, PageError};
use crate::import_jobs::{
    ImportJobs, Job as ImportJob, JobKind, JobResult, JobStage, NotStarted, duration_zh, grouped,
    stage_code,
};

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
    /// The bold start of the failure alert.
    failure_title: &'static str,
    /// The upload form (not while a job runs or shows its result).
    show_form: bool,
    /// The progress card of a job page.
    job: Option<JobCard>,
    /// The page refreshes itself (a running job, for browsers without script).
    refresh: bool,
    /// The user's jobs of the last hour, on the form.
    recent: Vec<RecentJob>,
}

/// A job in the list on the form.
struct RecentJob {
    href: String,
    file_name: String,
    what: &'static str,
    /// 进行中 37% / 完成 / 失败.
    state: String,
    /// `running`, `done` or `failed`.
    class: &'static str,
    elapsed: String,
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
            failure_title: "文件无法导入",
            show_form: true,
            job: None,
            refresh: false,
            recent: Vec::new(),
        }
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
    view.recent = state
        .imports
        .of_owner(session.actor.user_id.unwrap_or(0))
        .into_iter()
        .take(5)
        .map(|(token, j)| RecentJob {
            href: format!("/people/import/jobs/{token}"),
            file_name: j.file_name.clone(),
            what: match j.kind {
                JobKind::Check => "检查",
                JobKind::Import => "导入",
            },
            state: match j.stage {
                JobStage::Running(_) => format!("进行中 {}%", j.percent),
                other => other.zh().to_owned(),
            },
            class: match j.stage {
                JobStage::Running(_) => "running",
                JobStage::Done => "done",
                JobStage::Failed => "failed",
            },
            elapsed: duration_zh(j.elapsed()),
        })
        .collect();
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

/// POST /people/import/preview (multipart: region, file) — saves the upload and starts its
/// check in the background; the browser follows to the job page.
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
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        let mut view = ImportPage::new(Chrome::new(&session, t, "people_import", "/people/import"));
        view.regions = region_choices(&state, &session)
            .await
            .map_err(page_err(t.lang))?;
        view.region = region;
        view.failure = Some("请选择要导入的人员表（.xlsx 或 .csv）".into());
        return Ok((
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            render(&view, t.lang)?,
        )
            .into_response());
    };
    let dir = imports_dir(&state);
    sweep(&dir).await;
    let token = jinlin_app::accounts::random_token().map_err(page_err(t.lang))?;
    let token = token.replace(['+', '/', '='], "");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| PageError::new(internal(e), t.lang))?;
    let owner = session.actor.user_id.unwrap_or(0);
    let name = name.replace('\n', " ");
    let meta = format!("{owner}\n{region}\n{name}");
    let write = async || -> std::io::Result<()> {
        tokio::fs::write(dir.join(format!("{token}.bin")), &bytes).await?;
        tokio::fs::write(dir.join(format!("{token}.meta")), meta.as_bytes()).await?;
        Ok(())
    };
    write()
        .await
        .map_err(|e| PageError::new(internal(e), t.lang))?;
    match state
        .imports
        .start(&token, owner, JobKind::Check, &name, &region)
    {
        Ok(run) => {
            let job = Job {
                state: state.clone(),
                actor: session.actor.clone(),
                token: token.clone(),
                run,
                region,
                name,
                bytes: Arc::new(bytes),
            };
            tokio::spawn(job.check());
        }
        // A fresh token: nothing runs under it.
        Err(NotStarted::Underway) => {}
        Err(busy) => {
            for ext in ["bin", "meta"] {
                let _ = tokio::fs::remove_file(dir.join(format!("{token}.{ext}"))).await;
            }
            return Err(PageError::new(not_started(&busy), t.lang));
        }
    }
    Ok(Redirect::to(&format!("/people/import/jobs/{token}")).into_response())
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    token: String,
}

/// POST /people/import/confirm — starts the import of the checked file's valid rows in the
/// background; the browser follows to the job page.
pub async fn confirm(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    require_lists(&session, t.lang)?;
    let token = checked_token(f.token.trim()).map_err(page_err(t.lang))?;
    let owner = session.actor.user_id.unwrap_or(0);
    let to_job = Redirect::to(&format!("/people/import/jobs/{token}")).into_response();
    // Pressed twice, or in two tabs (or before the check is done): the page of the job
    // already under way is the one to watch.
    if state
        .imports
        .get(token, owner)
        .is_some_and(|j| j.running() || j.kind == JobKind::Import)
    {
        return Ok(to_job);
    }
    let dir = imports_dir(&state);
    let gone = || PageError::new(gone_error(), t.lang);
    let meta = tokio::fs::read_to_string(dir.join(format!("{token}.meta")))
        .await
        .map_err(|_| gone())?;
    let mut lines = meta.splitn(3, '\n');
    let uploader: i64 = lines.next().and_then(|s| s.parse().ok()).unwrap_or(-1);
    let region = lines.next().unwrap_or_default().to_owned();
    let name = lines.next().unwrap_or_default().to_owned();
    if uploader != owner {
        return Err(gone());
    }
    let bytes = tokio::fs::read(dir.join(format!("{token}.bin")))
        .await
        .map_err(|_| gone())?;
    let run = match state
        .imports
        .start(token, owner, JobKind::Import, &name, &region)
    {
        Ok(run) => run,
        Err(NotStarted::Underway) => return Ok(to_job),
        Err(busy) => return Err(PageError::new(not_started(&busy), t.lang)),
    };
    let job = Job {
        state: state.clone(),
        actor: session.actor.clone(),
        token: token.to_owned(),
        run,
        region,
        name,
        bytes: Arc::new(bytes),
    };
    tokio::spawn(job.import());
    Ok(to_job)
}

/// A job refused for another one under way: a conflict the user waits out.
fn not_started(busy: &NotStarted) -> AppError {
    AppError::Conflict {
        field: "file".into(),
        message: busy.message(),
    }
}

fn gone_error() -> AppError {
    AppError::NotFound("导入文件已过期或不存在，请重新上传".into())
}

/// A check or an import running in its own task.
struct Job {
    state: AppState,
    actor: jinlin_app::Actor,
    token: String,
    run: u64,
    region: String,
    name: String,
    bytes: Arc<Vec<u8>>,
}

/// Ends a job as failed if its task stops without ending it (a panic): the page would
/// otherwise wait for ever.
struct Unfinished {
    jobs: Arc<ImportJobs>,
    token: String,
    run: u64,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        // After a normal end this changes nothing: the run is no longer running.
        let at = self
            .jobs
            .stage_of(&self.token, self.run)
            .unwrap_or(ImportStage::Reading);
        self.jobs.finish(
            &self.token,
            self.run,
            JobResult::Failed {
                title: "处理中断",
                message: format!(
                    "在“{}”这一步意外中断（系统内部错误），没有写入任何数据，请重新上传",
                    at.zh()
                ),
                at,
            },
            0,
        );
    }
}

impl Job {
    fn progress(&self) -> ImportProgress {
        let jobs = Arc::clone(&self.state.imports);
        let (token, run) = (self.token.clone(), self.run);
        Arc::new(move |stage, done, total| jobs.progress(&token, run, stage, done, total))
    }

    fn guard(&self) -> Unfinished {
        Unfinished {
            jobs: Arc::clone(&self.state.imports),
            token: self.token.clone(),
            run: self.run,
        }
    }

    /// The stage the job is at (where it failed).
    fn stage_now(&self) -> ImportStage {
        self.state
            .imports
            .stage_of(&self.token, self.run)
            .unwrap_or(ImportStage::Reading)
    }

    fn finish(&self, result: JobResult, keep_errors: usize) {
        self.state
            .imports
            .finish(&self.token, self.run, result, keep_errors);
    }

    fn dir(&self) -> PathBuf {
        imports_dir(&self.state)
    }

    async fn forget_upload(&self) {
        let dir = self.dir();
        let _ = tokio::fs::remove_file(dir.join(format!("{}.bin", self.token))).await;
        let _ = tokio::fs::remove_file(dir.join(format!("{}.meta", self.token))).await;
    }

    /// Writes (or, without errors, removes) the error report of the upload.
    async fn keep_report(&self, errors: &[RowError]) {
        let report = self.dir().join(format!("{}.errors.xlsx", self.token));
        if errors.is_empty() {
            let _ = tokio::fs::remove_file(&report).await;
        } else {
            match import::error_report_xlsx(errors) {
                Ok(bytes) => {
                    if let Err(e) = tokio::fs::write(&report, bytes).await {
                        tracing::warn!(error = %e, "people import: error report not written");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "people import: error report not made"),
            }
        }
    }

    async fn check(self) {
        let _guard = self.guard();
        let result = self
            .state
            .app
            .preview_import(
                &self.actor,
                &self.region,
                Arc::clone(&self.bytes),
                &self.name,
                Some(self.progress()),
            )
            .await;
        match result {
            Ok(p) => {
                self.keep_report(&p.errors).await;
                self.finish(JobResult::Checked(p), ERRORS_SHOWN);
            }
            Err(e) => {
                self.forget_upload().await;
                let at = self.stage_now();
                let (title, message) = match &e {
                    AppError::Invalid { .. } => ("文件无法导入", e.to_string()),
                    _ => {
                        log_failure(&e);
                        ("检查未完成", failed_at(at, &e, "请核对后重新上传"))
                    }
                };
                self.finish(JobResult::Failed { title, message, at }, 0);
            }
        }
    }

    async fn import(self) {
        let _guard = self.guard();
        let result = self
            .state
            .app
            .import_people_file(
                &self.actor,
                &self.region,
                Arc::clone(&self.bytes),
                &self.name,
                true,
                Some(self.progress()),
            )
            .await;
        self.forget_upload().await;
        match result {
            Ok(out) => {
                self.keep_report(&out.errors).await;
                self.finish(JobResult::Imported(out), ERRORS_SHOWN);
            }
            Err(e) => {
                log_failure(&e);
                let at = self.stage_now();
                let message = failed_at(
                    at,
                    &e,
                    "本次导入已整体撤销，数据库里没有留下任何一条；请改正后重新上传",
                );
                self.finish(
                    JobResult::Failed {
                        title: "导入失败，没有写入任何人员",
                        message,
                        at,
                    },
                    0,
                );
            }
        }
    }
}

/// `在“写入数据库”这一步出错：…。{then}。` (an internal error only as such: its detail is in
/// the log).
fn failed_at(at: ImportStage, e: &AppError, then: &str) -> String {
    match e {
        AppError::Internal(_) => format!(
            "在“{}”这一步出现系统内部错误。{then}；问题仍在时请联系系统管理员。",
            at.zh()
        ),
        other => format!(
            "在“{}”这一步出错：{}。{then}。",
            at.zh(),
            other.to_string().trim_end_matches('。')
        ),
    }
}

fn log_failure(e: &AppError) {
    match e {
        AppError::Internal(detail) => {
            tracing::error!(error = %detail, "people import job failed");
        }
        other => tracing::info!(error = %other, "people import job refused"),
    }
}

/// `/people/import/jobs/{token}` or `{token}.json`: a job the signed-in user started.
fn own_job(state: &AppState, session: &Session, token: &str) -> Result<ImportJob, AppError> {
    let token = checked_token(token)?;
    state
        .imports
        .get(token, session.actor.user_id.unwrap_or(0))
        .ok_or_else(|| {
            AppError::NotFound("导入任务已过期或不存在（结果保留 1 小时），请重新上传".into())
        })
}

/// What the progress card and the JSON say below the stage name.
fn job_detail(job: &ImportJob) -> String {
    match (&job.stage, &job.result) {
        (JobStage::Running(ImportStage::Reading), _) if job.done == 0 => {
            "正在打开文件（文件大时要稍等一会儿）".into()
        }
        (JobStage::Running(ImportStage::Reading), _) => {
            format!("已读取 {} 行", grouped(job.done))
        }
        (JobStage::Running(ImportStage::Checking), _) => {
            format!("已校验 {} / {} 行", grouped(job.done), grouped(job.total))
        }
        (JobStage::Running(ImportStage::Duplicates), _) => {
            "正在核对重复的身份证号（表内和已登记的人员）".into()
        }
        (JobStage::Running(ImportStage::Writing), _) if job.total > 0 && job.done >= job.total => {
            format!(
                "{} 人已写入，正在保存房屋、住户关系和标签，马上完成",
                grouped(job.total)
            )
        }
        (JobStage::Running(ImportStage::Writing), _) => {
            format!("已写入 {} / {} 人", grouped(job.done), grouped(job.total))
        }
        (_, Some(JobResult::Checked(p))) => format!(
            "共 {} 行：可导入 {} 行，有问题 {} 行",
            grouped(p.total_rows),
            grouped(p.valid_rows),
            grouped(p.error_rows)
        ),
        (_, Some(JobResult::Imported(o))) => match &o.summary {
            Some(s) => format!(
                "共 {} 行：导入 {} 人",
                grouped(o.total_rows),
                grouped(s.persons)
            ),
            None => format!("共 {} 行：未导入任何人员", grouped(o.total_rows)),
        },
        (_, Some(JobResult::Failed { at, .. })) => match job.kind {
            JobKind::Check => format!("在“{}”这一步出错，原因见下方", at.zh()),
            JobKind::Import => format!("在“{}”这一步出错，没有写入任何数据", at.zh()),
        },
        _ => String::new(),
    }
}

/// One step of the progress card.
struct StepView {
    name: &'static str,
    code: &'static str,
    /// `done`, `current`, `failed` or `todo`.
    state: &'static str,
}

/// The progress card of a job page.
struct JobCard {
    title: String,
    /// `running`, `done` or `failed`.
    state: &'static str,
    percent: u8,
    stage: &'static str,
    detail: String,
    elapsed: String,
    steps: Vec<StepView>,
    poll: String,
}

impl JobCard {
    fn new(token: &str, job: &ImportJob) -> JobCard {
        let what = match job.kind {
            JobKind::Check => "检查",
            JobKind::Import => "导入",
        };
        let (state, title) = match (job.stage, &job.result) {
            (JobStage::Running(_), _) => ("running", format!("正在{what}")),
            (JobStage::Failed, _) => ("failed", format!("{what}失败")),
            (_, Some(JobResult::Imported(o))) if o.summary.is_none() => {
                ("done", "导入结束".to_owned())
            }
            _ => ("done", format!("{what}完成")),
        };
        let at = job.last_stage();
        let stages = job.kind.stages();
        let at_index = at.and_then(|s| stages.iter().position(|&x| x == s));
        let steps = stages
            .iter()
            .enumerate()
            .map(|(i, &s)| StepView {
                name: s.zh(),
                code: stage_code(s),
                state: match (job.stage, at_index) {
                    (JobStage::Done, _) => "done",
                    (_, Some(a)) if i < a => "done",
                    (JobStage::Failed, Some(a)) if i == a => "failed",
                    (_, Some(a)) if i == a => "current",
                    _ => "todo",
                },
            })
            .collect();
        JobCard {
            title: format!("{title}：{}", job.file_name),
            state,
            percent: job.percent,
            stage: job.stage.zh(),
            detail: job_detail(job),
            elapsed: duration_zh(job.elapsed()),
            steps,
            poll: format!("/people/import/jobs/{token}.json"),
        }
    }
}

/// GET /people/import/jobs/{token} (the page) and /people/import/jobs/{token}.json (its
/// progress, polled by the page's script).
pub async fn job(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(file): Path<String>,
) -> Result<Response, PageError> {
    require_lists(&session, t.lang)?;
    if let Some(token) = file.strip_suffix(".json") {
        return Ok(match own_job(&state, &session, token) {
            Ok(job) => job_json(&job).into_response(),
            Err(e) => ApiError(e).into_response(),
        });
    }
    let job = own_job(&state, &session, &file).map_err(page_err(t.lang))?;
    let token = file;
    let here = format!("/people/import/jobs/{token}");
    let mut view = ImportPage::new(Chrome::new(&session, t, "people_import", &here));
    view.job = Some(JobCard::new(&token, &job));
    view.region = job.region.clone();
    view.token = token;
    view.show_form = false;
    let more = |shown: usize| job.error_count.saturating_sub(shown);
    match job.result {
        None => view.refresh = true,
        Some(JobResult::Checked(p)) => {
            view.errors = p.errors.clone();
            view.more_errors = more(p.errors.len());
            view.preview = Some(p);
        }
        Some(JobResult::Imported(o)) => {
            view.errors = o.errors.clone();
            view.more_errors = more(o.errors.len());
            view.outcome = Some(o);
        }
        Some(JobResult::Failed { title, message, .. }) => {
            view.failure_title = title;
            view.failure = Some(message);
            view.regions = region_choices(&state, &session)
                .await
                .map_err(page_err(t.lang))?;
            view.show_form = true;
        }
    }
    Ok(render(&view, t.lang)?.into_response())
}

fn job_json(job: &ImportJob) -> axum::Json<serde_json::Value> {
    let failed = match &job.result {
        Some(JobResult::Failed { title, message, .. }) => Some(format!("{title}：{message}")),
        _ => None,
    };
    axum::Json(serde_json::json!({
        "stage": job.stage.code(),
        "stage_name": job.stage.zh(),
        "done": job.done,
        "total": job.total,
        "percent": job.percent,
        "detail": job_detail(job),
        "elapsed": duration_zh(job.elapsed()),
        "elapsed_ms": u64::try_from(job.elapsed().as_millis()).unwrap_or(u64::MAX),
        "finished": !job.running(),
        "failed": failed,
    }))
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
