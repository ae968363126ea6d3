//! People list checks and imports running in the background (导入任务), so a large file does
//! not hold a request open for a minute and the page can show how far it has got.
//!
//! Jobs live in memory, by the upload's random token, and are forgotten an hour after they end.
//! A restart forgets them too; an import still writing is then rolled back (it is one store
//! transaction), so nothing is ever half-written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use jinlin_app::people::import::{ImportOutcome, ImportPreview, ImportStage, RowError};

/// Finished jobs are kept this long.
const KEEP: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Read and check the file (nothing is written).
    Check,
    /// Check again and write the good rows.
    Import,
}

impl JobKind {
    /// The stages the job goes through, in order.
    pub fn stages(self) -> &'static [ImportStage] {
        match self {
            JobKind::Check => &[
                ImportStage::Reading,
                ImportStage::Checking,
                ImportStage::Duplicates,
            ],
            JobKind::Import => &[
                ImportStage::Reading,
                ImportStage::Checking,
                ImportStage::Duplicates,
                ImportStage::Writing,
            ],
        }
    }

    /// Where a stage starts and ends on the bar, in percent. From the million-row xlsx of
    /// docs/benchmarks.md: rows are checked while the file is read, so little checking is left
    /// once it is; reading, checking and duplicates take three tenths of an import, the write
    /// transaction the rest.
    fn span(self, stage: ImportStage) -> (f64, f64) {
        match (self, stage) {
            (JobKind::Check, ImportStage::Reading) => (0.0, 80.0),
            (JobKind::Check, ImportStage::Checking) => (80.0, 86.0),
            (JobKind::Check, _) => (86.0, 99.0),
            (JobKind::Import, ImportStage::Reading) => (0.0, 22.0),
            (JobKind::Import, ImportStage::Checking) => (22.0, 24.0),
            (JobKind::Import, ImportStage::Duplicates) => (24.0, 29.0),
            (JobKind::Import, ImportStage::Writing) => (29.0, WRITTEN_PERSONS),
        }
    }
}

/// Where the bar stands once every person is written. Households, memberships, tags, building
/// the indexes of a first large import and the commit come after and report nothing; for the
/// million rows of docs/benchmarks.md they take about 1.2 times as long as the write up to the
/// last person, so the bar creeps on by that estimate, short of 100 until the job is really
/// done.
const WRITTEN_PERSONS: f64 = 60.0;
const TAIL_SHARE: f64 = 1.2;
const TAIL_END: f64 = 98.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStage {
    Running(ImportStage),
    Done,
    Failed,
}

impl JobStage {
    pub fn zh(self) -> &'static str {
        match self {
            JobStage::Running(s) => s.zh(),
            JobStage::Done => "完成",
            JobStage::Failed => "失败",
        }
    }

    /// Stable code for the page's script.
    pub fn code(self) -> &'static str {
        match self {
            JobStage::Running(s) => stage_code(s),
            JobStage::Done => "done",
            JobStage::Failed => "failed",
        }
    }
}

pub fn stage_code(s: ImportStage) -> &'static str {
    match s {
        ImportStage::Reading => "reading",
        ImportStage::Checking => "checking",
        ImportStage::Duplicates => "duplicates",
        ImportStage::Writing => "writing",
    }
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum JobResult {
    Checked(ImportPreview),
    Imported(ImportOutcome),
    /// What failed, in Chinese, and at which stage.
    Failed {
        title: &'static str,
        message: String,
        at: ImportStage,
    },
}

/// One job as the pages show it.
#[derive(Debug, Clone)]
pub struct Job {
    /// Which run under the token: the import replaces the check, and a task may only report
    /// on its own run.
    run: u64,
    pub owner: i64,
    pub kind: JobKind,
    pub file_name: String,
    pub region: String,
    pub stage: JobStage,
    /// The counts the stage reported last (see [`ImportStage`]).
    pub done: usize,
    pub total: usize,
    /// Never goes back, even when the store retries without a refused row.
    pub percent: u8,
    pub started: Instant,
    pub finished: Option<Instant>,
    pub result: Option<JobResult>,
    /// Errors of the result (the result keeps only the first ones; all are in the report).
    pub error_count: usize,
    /// When the write stage began and when its last person was written, for the estimate of
    /// the rest.
    writing: Option<(Instant, Option<Instant>)>,
}

impl Job {
    /// After the last person: on by the time passed against the time the rest should take.
    fn estimate_rest(&mut self) {
        let Some((began, Some(persons_in))) = self.writing.filter(|_| self.running()) else {
            return;
        };
        let expected = (persons_in - began).as_secs_f64() * TAIL_SHARE;
        let part = if expected > 0.0 {
            (persons_in.elapsed().as_secs_f64() / expected).min(1.0)
        } else {
            1.0
        };
        let percent = (WRITTEN_PERSONS + (TAIL_END - WRITTEN_PERSONS) * part).floor() as u8;
        self.percent = self.percent.max(percent);
    }

    pub fn elapsed(&self) -> Duration {
        self.finished.unwrap_or_else(Instant::now) - self.started
    }

    pub fn running(&self) -> bool {
        self.finished.is_none()
    }

    /// The stage the job is at, or ended at.
    pub fn last_stage(&self) -> Option<ImportStage> {
        match (self.stage, &self.result) {
            (JobStage::Running(s), _) => Some(s),
            (_, Some(JobResult::Failed { at, .. })) => Some(*at),
            _ => None,
        }
    }
}

/// Checks and imports running at once, over all users.
pub const MAX_RUNNING: usize = 2;

/// Why [`ImportJobs::start`] started nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotStarted {
    /// A job of this upload is running, or the upload was imported: its page is the one to
    /// watch.
    Underway,
    /// The same user's other upload is still being checked or imported.
    OwnerBusy { token: String, file_name: String },
    /// [`MAX_RUNNING`] jobs are running.
    ServerBusy,
}

impl NotStarted {
    /// What the user is told, in their words.
    pub fn message(&self) -> String {
        match self {
            NotStarted::Underway => "这个文件已在检查或导入中".into(),
            NotStarted::OwnerBusy { file_name, .. } => {
                format!("您上传的“{file_name}”还在检查或导入中，请等它完成后再上传或导入新的文件")
            }
            NotStarted::ServerBusy => format!(
                "系统正在处理 {MAX_RUNNING} 个人员导入，为保证速度一次最多处理这么多，请几分钟后再试"
            ),
        }
    }
}

/// The jobs of every user, by token.
#[derive(Debug, Default)]
pub struct ImportJobs {
    jobs: Mutex<HashMap<String, Job>>,
    runs: AtomicU64,
}

impl ImportJobs {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Job>> {
        // A panic elsewhere while holding the lock leaves plain counters behind: still usable.
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forget_old(jobs: &mut HashMap<String, Job>) {
        jobs.retain(|_, j| j.finished.is_none_or(|f| f.elapsed() < KEEP));
    }

    /// Registers a job under `token`, replacing the check of the same upload, and returns its
    /// run for the task's reports. Nothing changes while a job of the upload is still running
    /// or once it has been imported (so pressing 导入 twice imports once), while the same user
    /// has another upload under way, or while [`MAX_RUNNING`] jobs run: a million-row file
    /// holds about 3.5 GB until its job ends.
    pub fn start(
        &self,
        token: &str,
        owner: i64,
        kind: JobKind,
        file_name: &str,
        region: &str,
    ) -> Result<u64, NotStarted> {
        let mut jobs = self.lock();
        Self::forget_old(&mut jobs);
        if jobs
            .get(token)
            .is_some_and(|j| j.running() || j.kind == JobKind::Import)
        {
            return Err(NotStarted::Underway);
        }
        if let Some((other, j)) = jobs
            .iter()
            .find(|(t, j)| j.running() && j.owner == owner && t.as_str() != token)
        {
            return Err(NotStarted::OwnerBusy {
                token: other.clone(),
                file_name: j.file_name.clone(),
            });
        }
        if jobs.values().filter(|j| j.running()).count() >= MAX_RUNNING {
            return Err(NotStarted::ServerBusy);
        }
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        jobs.insert(
            token.to_owned(),
            Job {
                run,
                owner,
                kind,
                file_name: file_name.to_owned(),
                region: region.to_owned(),
                stage: JobStage::Running(ImportStage::Reading),
                done: 0,
                total: 0,
                percent: 0,
                started: Instant::now(),
                finished: None,
                result: None,
                error_count: 0,
                writing: None,
            },
        );
        Ok(run)
    }

    fn running_job<'j>(
        jobs: &'j mut HashMap<String, Job>,
        token: &str,
        run: u64,
    ) -> Option<&'j mut Job> {
        jobs.get_mut(token).filter(|j| j.run == run && j.running())
    }

    /// A progress report of a running job.
    pub fn progress(&self, token: &str, run: u64, stage: ImportStage, done: usize, total: usize) {
        let mut jobs = self.lock();
        let Some(job) = Self::running_job(&mut jobs, token, run) else {
            return;
        };
        job.stage = JobStage::Running(stage);
        job.done = done;
        job.total = total;
        if stage == ImportStage::Writing {
            let now = Instant::now();
            let began = job.writing.map_or(now, |(began, _)| began);
            // A retry of the transaction writes everyone again.
            job.writing = Some((began, (total > 0 && done >= total).then_some(now)));
        }
        let (from, to) = job.kind.span(stage);
        let part = if total > 0 {
            (done as f64 / total as f64).min(1.0)
        } else {
            0.0
        };
        let percent = (from + (to - from) * part).floor() as u8;
        job.percent = job.percent.max(percent);
    }

    /// Ends a job; a check's or an import's errors are cut to the first `keep_errors`.
    pub fn finish(&self, token: &str, run: u64, mut result: JobResult, keep_errors: usize) {
        let mut jobs = self.lock();
        let Some(job) = Self::running_job(&mut jobs, token, run) else {
            return;
        };
        let errors: Option<&mut Vec<RowError>> = match &mut result {
            JobResult::Checked(p) => Some(&mut p.errors),
            JobResult::Imported(o) => Some(&mut o.errors),
            JobResult::Failed { .. } => None,
        };
        if let Some(errors) = errors {
            job.error_count = errors.len();
            errors.truncate(keep_errors);
            errors.shrink_to_fit();
        }
        job.stage = match result {
            JobResult::Failed { .. } => JobStage::Failed,
            _ => {
                job.percent = 100;
                JobStage::Done
            }
        };
        job.finished = Some(Instant::now());
        job.result = Some(result);
    }

    /// A copy of the job, if `owner` started it (anyone else is told it does not exist).
    pub fn get(&self, token: &str, owner: i64) -> Option<Job> {
        let mut jobs = self.lock();
        let job = jobs.get_mut(token).filter(|j| j.owner == owner)?;
        job.estimate_rest();
        Some(job.clone())
    }

    /// The stage a run is at (for its task, to say where it failed).
    pub fn stage_of(&self, token: &str, run: u64) -> Option<ImportStage> {
        self.lock()
            .get(token)
            .filter(|j| j.run == run)
            .and_then(Job::last_stage)
    }

    /// The owner's jobs of the last hour, newest first, without their results.
    pub fn of_owner(&self, owner: i64) -> Vec<(String, Job)> {
        let mut jobs = self.lock();
        Self::forget_old(&mut jobs);
        let mut out: Vec<(String, Job)> = jobs
            .iter()
            .filter(|(_, j)| j.owner == owner)
            .map(|(t, j)| {
                let mut j = j.clone();
                j.result = None;
                (t.clone(), j)
            })
            .collect();
        out.sort_by_key(|(_, j)| std::cmp::Reverse(j.started));
        out
    }
}

/// `1234567` → `1,234,567`.
pub fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `0.4 秒`, `42 秒`, `1 分 05 秒`, `1 小时 02 分`.
pub fn duration_zh(d: Duration) -> String {
    let s = d.as_secs();
    if s < 10 {
        format!("{:.1} 秒", d.as_secs_f64())
    } else if s < 60 {
        format!("{s} 秒")
    } else if s < 3600 {
        format!("{} 分 {:02} 秒", s / 60, s % 60)
    } else {
        format!("{} 小时 {:02} 分", s / 3600, s % 3600 / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_durations_read_the_chinese_way() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(12_345), "12,345");
        assert_eq!(grouped(1_000_000), "1,000,000");
        assert_eq!(duration_zh(Duration::from_millis(420)), "0.4 秒");
        assert_eq!(duration_zh(Duration::from_secs(42)), "42 秒");
        assert_eq!(duration_zh(Duration::from_secs(65)), "1 分 05 秒");
        assert_eq!(duration_zh(Duration::from_secs(3720)), "1 小时 02 分");
    }

    #[test]
    fn the_bar_only_moves_forward_and_reaches_100_when_done() {
        let jobs = ImportJobs::default();
        let check = jobs.start("t", 7, JobKind::Check, "名单.xlsx", "350503001001");
        let check = check.unwrap_or_default();
        assert_eq!(
            jobs.start("t", 7, JobKind::Import, "名单.xlsx", ""),
            Err(NotStarted::Underway),
            "still checking"
        );
        jobs.finish(
            "t",
            check,
            JobResult::Checked(ImportPreview::default()),
            200,
        );
        let run = jobs.start("t", 7, JobKind::Import, "名单.xlsx", "350503001001");
        let run = run.unwrap_or_default();
        // The check's task can no longer touch the import.
        jobs.progress("t", check, ImportStage::Writing, 10, 10);
        assert_eq!(jobs.get("t", 7).map(|j| j.percent), Some(0));
        jobs.progress("t", run, ImportStage::Checking, 50, 100);
        assert_eq!(jobs.get("t", 7).map(|j| j.percent), Some(23));
        jobs.progress("t", run, ImportStage::Writing, 50, 100);
        assert_eq!(jobs.get("t", 7).map(|j| j.percent), Some(44));
        // A retry of the write starts again from 0: the bar stays.
        jobs.progress("t", run, ImportStage::Writing, 0, 99);
        assert_eq!(jobs.get("t", 7).map(|j| j.percent), Some(44));
        // Every person written: the rest is estimated, never 100 before the end.
        jobs.progress("t", run, ImportStage::Writing, 99, 99);
        std::thread::sleep(Duration::from_millis(20));
        let p = jobs.get("t", 7).map_or(0, |j| j.percent);
        assert!((60..=98).contains(&p), "{p}");
        assert!(jobs.get("t", 8).is_none(), "another user does not see it");
        jobs.finish("t", run, JobResult::Imported(ImportOutcome::default()), 200);
        let j = jobs.get("t", 7);
        assert_eq!(
            j.as_ref().map(|j| (j.stage, j.percent)),
            Some((JobStage::Done, 100))
        );
        assert_eq!(
            jobs.start("t", 7, JobKind::Import, "名单.xlsx", ""),
            Err(NotStarted::Underway),
            "imported once"
        );
    }

    #[test]
    fn one_upload_per_user_and_two_on_the_server_at_once() {
        let jobs = ImportJobs::default();
        let first = jobs.start("a", 7, JobKind::Check, "东霞社区.xlsx", "350503001001");
        assert!(first.is_ok());
        let busy = jobs.start("b", 7, JobKind::Check, "第二份.xlsx", "350503001001");
        assert_eq!(
            busy,
            Err(NotStarted::OwnerBusy {
                token: "a".into(),
                file_name: "东霞社区.xlsx".into()
            })
        );
        assert!(
            busy.err()
                .is_some_and(|e| e.message().contains("东霞社区.xlsx"))
        );
        assert!(jobs.start("c", 8, JobKind::Check, "丰泽.xlsx", "").is_ok());
        let full = jobs.start("d", 9, JobKind::Check, "泉秀.xlsx", "");
        assert_eq!(full, Err(NotStarted::ServerBusy));
        assert!(
            full.err()
                .is_some_and(|e| e.message().contains("几分钟后再试"))
        );
        // Once the first check is done, its user may upload again, and there is room.
        jobs.finish(
            "a",
            first.unwrap_or_default(),
            JobResult::Checked(ImportPreview::default()),
            200,
        );
        assert!(
            jobs.start("b", 7, JobKind::Check, "第二份.xlsx", "")
                .is_ok()
        );
        // Importing the checked file while the same user's other check runs waits as well.
        assert!(matches!(
            jobs.start("a", 7, JobKind::Import, "东霞社区.xlsx", ""),
            Err(NotStarted::OwnerBusy { token, .. }) if token == "b"
        ));
    }
}
