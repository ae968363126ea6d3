//! The case state machine (DESIGN section 4): 上报 → 受理 → 派单 → 处置 → 办结 → 核查 → 评价 → 销号,
//! after GB/T 30428 and the 12345 flow (reference/anchors-china.md 1.1.2, 1.3, 1.4), with the side
//! paths merge, urge, supervise, whistle, escalate, extend and suspend.
//!
//! Pure: a use case loads a case, calls [`apply`], stores `new_state` and writes one timeline row
//! from the [`Transition`]. Which *role* may act is the app layer's business; the domain only says
//! which [`ActorKind`] an action belongs to ([`allowed`]).
//!
//! Suspension (挂账) is a flag, not a stage. A parked case keeps its stage, assignee and deadlines
//! and resumes exactly where it stopped; as a stage it would have to remember the stage it came
//! from, and stage counts (处置中 …) would lose the case while parked. While suspended the only
//! legal action is `resume`, so the sweeper does not urge or escalate a parked case either.

use serde::{Deserialize, Serialize};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Longest reason or result text, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;

/// A fieldless enum with a stable id (also its serde name), a Chinese and an English label.
macro_rules! labelled_enum {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident => $id:literal, $zh:literal, $en:literal;)+
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $id)] $variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// Stable snake_case identifier for the database and the API.
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $id,)+ } }
            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
            pub fn zh(self) -> &'static str { match self { $($name::$variant => $zh,)+ } }
            pub fn en(self) -> &'static str { match self { $($name::$variant => $en,)+ } }
        }
    };
}
pub(crate) use labelled_enum;

labelled_enum! {
    /// Where a case stands. `rejected`, `closed` and `merged` are terminal.
    #[derive(Default)]
    pub enum Stage {
        #[default]
        Reported => "reported", "上报", "Reported";
        Accepted => "accepted", "已受理", "Accepted";
        Rejected => "rejected", "已退回（不予受理）", "Rejected";
        Dispatched => "dispatched", "已派单", "Dispatched";
        InProgress => "in_progress", "处置中", "In progress";
        Resolved => "resolved", "已办结待核查", "Resolved, awaiting verification";
        Verified => "verified", "已核查", "Verified";
        Closed => "closed", "已销号", "Closed";
        /// A duplicate merged into another case.
        Merged => "merged", "已合并", "Merged";
    }
}

impl Stage {
    pub fn is_terminal(self) -> bool {
        matches!(self, Stage::Rejected | Stage::Closed | Stage::Merged)
    }

    pub fn is_open(self) -> bool {
        !self.is_terminal()
    }
}

labelled_enum! {
    /// The resident's rating (回访评价).
    pub enum Satisfaction {
        Satisfied => "satisfied", "满意", "Satisfied";
        Basic => "basic", "基本满意", "Basically satisfied";
        Unsatisfied => "unsatisfied", "不满意", "Not satisfied";
    }
}

labelled_enum! {
    /// Who acts, in the case's terms. The app maps roles to kinds: the reporting resident or grid
    /// worker is the `reporter`; community and street desks (community_admin, street_admin) are the
    /// `dispatcher`; the current assignee is the `handler`; the grid worker who checks on site is
    /// the `verifier`; `system` is the deadline sweeper.
    pub enum ActorKind {
        Reporter => "reporter", "上报人", "Reporter";
        Dispatcher => "dispatcher", "受理派单员", "Dispatcher";
        Handler => "handler", "承办人", "Handler";
        Verifier => "verifier", "核查员", "Verifier";
        Leader => "leader", "领导", "Leader";
        System => "system", "系统", "System";
    }
}

labelled_enum! {
    /// The fieldless mirror of [`Action`]: button ids, timeline action ids, table keys.
    pub enum ActionKind {
        Accept => "accept", "受理", "Accept";
        Reject => "reject", "不予受理", "Reject";
        Dispatch => "dispatch", "派单", "Dispatch";
        Take => "take", "签收", "Take";
        Return => "return", "退回重派", "Return for re-dispatch";
        Resolve => "resolve", "办结反馈", "Resolve";
        VerifyPass => "verify_pass", "核查通过", "Verification passed";
        VerifyFail => "verify_fail", "核查不通过", "Verification failed";
        Rate => "rate", "评价", "Rate";
        Reopen => "reopen", "重新办理", "Reopen";
        Close => "close", "销号", "Close";
        Merge => "merge", "合并", "Merge";
        Urge => "urge", "催办", "Urge";
        Supervise => "supervise", "督办", "Supervise";
        Whistle => "whistle", "吹哨", "Blow the whistle";
        Escalate => "escalate", "升级", "Escalate";
        RequestExtension => "request_extension", "申请延期", "Request extension";
        ApproveExtension => "approve_extension", "批准延期", "Approve extension";
        DenyExtension => "deny_extension", "驳回延期", "Deny extension";
        RequestSuspension => "request_suspension", "申请挂账", "Request suspension";
        ApproveSuspension => "approve_suspension", "批准挂账", "Approve suspension";
        DenySuspension => "deny_suspension", "驳回挂账", "Deny suspension";
        Resume => "resume", "恢复办理", "Resume";
        /// The handler is at the door (到场): the on-site limit of help requests is met.
        Arrive => "arrive", "到场", "Arrived on site";
    }
}

/// Who a case is dispatched to. Serialised as `{"kind":"grid_worker","id":12}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Assignee {
    /// A user id.
    GridWorker(i64),
    /// A volunteer team id.
    Team(i64),
    /// A region id.
    Community(i64),
    /// A region id.
    Street(i64),
    /// A unit id (县直部门 / 共建单位).
    Department(i64),
}

impl Assignee {
    pub fn id(self) -> i64 {
        match self {
            Assignee::GridWorker(id)
            | Assignee::Team(id)
            | Assignee::Community(id)
            | Assignee::Street(id)
            | Assignee::Department(id) => id,
        }
    }

    /// "网格员 #12" and so on.
    pub fn zh(self) -> String {
        let label = match self {
            Assignee::GridWorker(_) => "网格员",
            Assignee::Team(_) => "服务队",
            Assignee::Community(_) => "社区",
            Assignee::Street(_) => "街道",
            Assignee::Department(_) => "部门",
        };
        format!("{label} #{}", self.id())
    }
}

/// What someone asks to do to a case. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Accept,
    Reject {
        reason: String,
    },
    /// From `accepted`, or from `dispatched` to re-assign (改派) before the handler takes it.
    Dispatch {
        to: Assignee,
    },
    Take,
    /// The handler says "not ours": back to the dispatcher (回退).
    Return {
        reason: String,
    },
    Resolve {
        result: String,
    },
    VerifyPass,
    /// Back to `in_progress`, counted as rework (返工).
    VerifyFail {
        reason: String,
    },
    Rate {
        rating: Satisfaction,
    },
    Reopen {
        reason: String,
    },
    Close,
    Merge {
        into: i64,
    },
    Urge,
    Supervise {
        deadline: i64,
    },
    Whistle,
    /// Raise the handling tier one level (grid → community → street → department); the sweeper's
    /// move when a deadline passes.
    Escalate,
    RequestExtension {
        until: i64,
        reason: String,
    },
    ApproveExtension,
    DenyExtension,
    RequestSuspension {
        reason: String,
    },
    ApproveSuspension,
    DenySuspension,
    Resume,
    Arrive,
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Accept => ActionKind::Accept,
            Action::Reject { .. } => ActionKind::Reject,
            Action::Dispatch { .. } => ActionKind::Dispatch,
            Action::Take => ActionKind::Take,
            Action::Return { .. } => ActionKind::Return,
            Action::Resolve { .. } => ActionKind::Resolve,
            Action::VerifyPass => ActionKind::VerifyPass,
            Action::VerifyFail { .. } => ActionKind::VerifyFail,
            Action::Rate { .. } => ActionKind::Rate,
            Action::Reopen { .. } => ActionKind::Reopen,
            Action::Close => ActionKind::Close,
            Action::Merge { .. } => ActionKind::Merge,
            Action::Urge => ActionKind::Urge,
            Action::Supervise { .. } => ActionKind::Supervise,
            Action::Whistle => ActionKind::Whistle,
            Action::Escalate => ActionKind::Escalate,
            Action::RequestExtension { .. } => ActionKind::RequestExtension,
            Action::ApproveExtension => ActionKind::ApproveExtension,
            Action::DenyExtension => ActionKind::DenyExtension,
            Action::RequestSuspension { .. } => ActionKind::RequestSuspension,
            Action::ApproveSuspension => ActionKind::ApproveSuspension,
            Action::DenySuspension => ActionKind::DenySuspension,
            Action::Resume => ActionKind::Resume,
            Action::Arrive => ActionKind::Arrive,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExtensionRequest {
    pub until: i64,
    pub reason: String,
}

/// Everything the rules need to know about a case; the store keeps it on the case row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct CaseState {
    pub stage: Stage,
    pub assignee: Option<Assignee>,
    /// Failed verifications plus reopenings (返工).
    pub rework_count: u32,
    pub rating: Option<Satisfaction>,
    pub rated_at: Option<i64>,
    /// When verification passed; starts the rating window.
    pub verified_at: Option<i64>,
    pub pending_extension: Option<ExtensionRequest>,
    pub extension_count: u8,
    /// The deadline granted by the last approved extension.
    pub extended_until: Option<i64>,
    /// The reason of a suspension request awaiting approval.
    pub pending_suspension: Option<String>,
    pub suspended: bool,
    pub supervised_until: Option<i64>,
    pub urge_count: u32,
    /// Tier raises so far (escalations), 0 = the tier it was dispatched to.
    pub escalation_level: u8,
}

/// Tunable limits; a county sets its own (calendar milliseconds; working-day deadlines live in
/// the deadline module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// After verification, how long the reporter may rate before the sweeper closes the case.
    pub rating_window_ms: i64,
    /// After an unsatisfied rating, how long a reopen is allowed.
    pub reopen_window_ms: i64,
    /// Longest single extension, counted from the request.
    pub max_extension_ms: i64,
    /// Approved extensions per case (1st by the desk, 2nd by the centre; anchors 1.1.2).
    pub max_extensions: u8,
    /// grid → community → street → department.
    pub max_escalation_level: u8,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            rating_window_ms: 7 * DAY_MS,
            reopen_window_ms: 7 * DAY_MS,
            max_extension_ms: 15 * DAY_MS,
            max_extensions: 2,
            max_escalation_level: 3,
        }
    }
}

/// The outcome of one legal action: the new state plus what the timeline row needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Stage,
    pub to: Stage,
    pub new_state: CaseState,
    pub counts_as_rework: bool,
    /// Chinese one-liner for the timeline, e.g. "派单至网格员 #12".
    pub note: String,
}

/// Why an action was refused, for mapping to a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// This actor kind never performs this action.
    Forbidden,
    /// Not legal in the current stage.
    WrongStage,
    /// The case is suspended.
    Suspended,
    /// Legal in this stage, but a condition does not hold (window passed, nothing pending …).
    Precondition,
    /// The action's data is unusable (empty reason, deadline in the past …).
    InvalidInput,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::WrongStage => "wrong_stage",
            ErrorKind::Suspended => "suspended",
            ErrorKind::Precondition => "precondition",
            ErrorKind::InvalidInput => "invalid_input",
        }
    }
}

/// "当前状态为“已销号”，不能执行“派单”：案件已结束，不再办理".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("当前状态为“{}”，不能执行“{}”：{}", .stage.zh(), .action.zh(), .rule)]
pub struct TransitionError {
    pub action: ActionKind,
    pub stage: Stage,
    pub kind: ErrorKind,
    pub rule: String,
}

const OPEN: &[Stage] = &[
    Stage::Reported,
    Stage::Accepted,
    Stage::Dispatched,
    Stage::InProgress,
    Stage::Resolved,
    Stage::Verified,
];
const HANDLING: &[Stage] = &[Stage::Dispatched, Stage::InProgress];

/// The main line: every move of a stage-line action. `dispatch` from `dispatched` (改派) and an
/// unsatisfied `rate` keep the stage; a satisfied or basic `rate` closes.
pub const TRANSITIONS: &[(Stage, ActionKind, Stage)] = {
    use ActionKind as A;
    use Stage as S;
    &[
        (S::Reported, A::Accept, S::Accepted),
        (S::Reported, A::Reject, S::Rejected),
        (S::Accepted, A::Dispatch, S::Dispatched),
        (S::Dispatched, A::Dispatch, S::Dispatched),
        (S::Dispatched, A::Take, S::InProgress),
        (S::Dispatched, A::Return, S::Accepted),
        (S::InProgress, A::Return, S::Accepted),
        (S::InProgress, A::Resolve, S::Resolved),
        (S::Resolved, A::VerifyPass, S::Verified),
        (S::Resolved, A::VerifyFail, S::InProgress),
        (S::Verified, A::Rate, S::Closed),
        (S::Verified, A::Rate, S::Verified),
        (S::Verified, A::Reopen, S::InProgress),
        (S::Verified, A::Close, S::Closed),
        (S::Reported, A::Merge, S::Merged),
        (S::Accepted, A::Merge, S::Merged),
        (S::Dispatched, A::Merge, S::Merged),
        (S::InProgress, A::Merge, S::Merged),
        (S::Resolved, A::Merge, S::Merged),
        (S::Verified, A::Merge, S::Merged),
    ]
};

/// Side actions never change the stage; each is legal in the listed stages.
pub const SIDE_ACTIONS: &[(ActionKind, &[Stage])] = &[
    // Urging makes sense until the handler reports back; after that the case waits for checks.
    (
        ActionKind::Urge,
        &[
            Stage::Reported,
            Stage::Accepted,
            Stage::Dispatched,
            Stage::InProgress,
        ],
    ),
    (ActionKind::Supervise, OPEN),
    (ActionKind::Escalate, OPEN),
    // The community calls departments in before anyone is working on it.
    (
        ActionKind::Whistle,
        &[Stage::Reported, Stage::Accepted, Stage::Dispatched],
    ),
    (ActionKind::RequestExtension, HANDLING),
    (ActionKind::ApproveExtension, HANDLING),
    (ActionKind::DenyExtension, HANDLING),
    (ActionKind::RequestSuspension, HANDLING),
    (ActionKind::ApproveSuspension, HANDLING),
    (ActionKind::DenySuspension, HANDLING),
    (ActionKind::Resume, HANDLING),
    (ActionKind::Arrive, &[Stage::InProgress]),
];

/// Whether the tables allow `action` in `stage` at all.
pub fn stage_permits(stage: Stage, action: ActionKind) -> bool {
    TRANSITIONS
        .iter()
        .any(|&(from, kind, _)| from == stage && kind == action)
        || SIDE_ACTIONS
            .iter()
            .any(|&(kind, stages)| kind == action && stages.contains(&stage))
}

/// Which actor kind performs which action.
pub fn allowed(action: ActionKind, actor: ActorKind) -> bool {
    use ActionKind as A;
    use ActorKind as K;
    match action {
        A::Accept | A::Reject | A::Dispatch | A::Merge | A::Whistle => actor == K::Dispatcher,
        A::Take
        | A::Return
        | A::Resolve
        | A::RequestExtension
        | A::RequestSuspension
        | A::Arrive => actor == K::Handler,
        A::VerifyPass | A::VerifyFail => actor == K::Verifier,
        A::Rate => actor == K::Reporter,
        A::Reopen => matches!(actor, K::Reporter | K::Dispatcher),
        // The dispatcher closes after verification; the sweeper once the rating window passed.
        A::Close => matches!(actor, K::Dispatcher | K::System),
        A::Urge => matches!(actor, K::Reporter | K::Dispatcher | K::Leader | K::System),
        A::Supervise => actor == K::Leader,
        A::Escalate => actor == K::System,
        A::ApproveExtension | A::DenyExtension | A::ApproveSuspension | A::DenySuspension => {
            matches!(actor, K::Dispatcher | K::Leader)
        }
        A::Resume => matches!(actor, K::Dispatcher | K::Handler),
    }
}

/// Every check of [`apply`] except the action's data: whether the button should be offered.
pub fn check(
    state: &CaseState,
    action: ActionKind,
    actor: ActorKind,
    now_ms: i64,
    policy: &Policy,
) -> Result<(), TransitionError> {
    let fail = |kind, rule: String| {
        Err(TransitionError {
            action,
            stage: state.stage,
            kind,
            rule,
        })
    };
    if !allowed(action, actor) {
        let who: Vec<_> = ActorKind::ALL
            .iter()
            .filter(|&&k| allowed(action, k))
            .map(|k| k.zh())
            .collect();
        let rule = format!("{}无权执行，应由{}执行", actor.zh(), who.join("或"));
        return fail(ErrorKind::Forbidden, rule);
    }
    if state.stage.is_terminal() {
        return fail(ErrorKind::WrongStage, "案件已结束，不再办理".into());
    }
    if !stage_permits(state.stage, action) {
        let stages: Vec<_> = Stage::ALL
            .iter()
            .filter(|&&s| stage_permits(s, action))
            .map(|s| format!("“{}”", s.zh()))
            .collect();
        let rule = format!("只能在{}状态下执行", stages.join("、"));
        return fail(ErrorKind::WrongStage, rule);
    }
    if state.suspended && action != ActionKind::Resume {
        return fail(
            ErrorKind::Suspended,
            "案件已挂账，挂账期间只能恢复办理".into(),
        );
    }
    use ActionKind as A;
    let rule = match action {
        A::Resume if !state.suspended => "案件未挂账".to_string(),
        A::Rate if state.rating.is_some() => "已评价，不能重复评价".into(),
        A::Rate if passed(state.verified_at, policy.rating_window_ms, now_ms) => format!(
            "核查通过后{}内可以评价，评价期已过",
            span(policy.rating_window_ms)
        ),
        A::Reopen if state.rating != Some(Satisfaction::Unsatisfied) => {
            "只有评价为“不满意”后才能重新办理".into()
        }
        A::Reopen if passed(state.rated_at, policy.reopen_window_ms, now_ms) => format!(
            "不满意评价后{}内可以重新办理，已超过期限",
            span(policy.reopen_window_ms)
        ),
        A::Close if actor == ActorKind::System && !close_due(state, now_ms, policy) => {
            "评价期未满，系统不能自动销号".into()
        }
        A::Escalate if state.escalation_level >= policy.max_escalation_level => {
            "已升至最高处置层级".into()
        }
        A::RequestExtension if state.pending_extension.is_some() => "已有待审批的延期申请".into(),
        A::RequestExtension if state.extension_count >= policy.max_extensions => {
            format!("已延期{}次，达到上限", state.extension_count)
        }
        A::ApproveExtension | A::DenyExtension if state.pending_extension.is_none() => {
            "没有待审批的延期申请".into()
        }
        A::RequestSuspension if state.pending_suspension.is_some() => "已有待审批的挂账申请".into(),
        A::ApproveSuspension | A::DenySuspension if state.pending_suspension.is_none() => {
            "没有待审批的挂账申请".into()
        }
        _ => return Ok(()),
    };
    fail(ErrorKind::Precondition, rule)
}

/// The actions `actor` may perform now (for rendering buttons); [`apply`] succeeds for each of
/// them given well-formed data.
pub fn available_actions(
    state: &CaseState,
    actor: ActorKind,
    now_ms: i64,
    policy: &Policy,
) -> Vec<ActionKind> {
    ActionKind::ALL
        .iter()
        .copied()
        .filter(|&a| check(state, a, actor, now_ms, policy).is_ok())
        .collect()
}

/// Asks for the next state. Pure: the caller persists `new_state` and one timeline row.
pub fn apply(
    state: &CaseState,
    action: &Action,
    actor: ActorKind,
    now_ms: i64,
    policy: &Policy,
) -> Result<Transition, TransitionError> {
    let kind = action.kind();
    check(state, kind, actor, now_ms, policy)?;
    validate(action, now_ms, policy).map_err(|rule| TransitionError {
        action: kind,
        stage: state.stage,
        kind: ErrorKind::InvalidInput,
        rule,
    })?;
    let from = state.stage;
    let mut s = state.clone();
    let mut rework = false;
    let (to, note) = match action {
        Action::Accept => (Stage::Accepted, "受理".to_string()),
        Action::Reject { reason } => (Stage::Rejected, format!("不予受理：{}", reason.trim())),
        Action::Dispatch { to } => {
            s.assignee = Some(*to);
            let verb = if from == Stage::Dispatched {
                "改派"
            } else {
                "派单"
            };
            (Stage::Dispatched, format!("{verb}至{}", to.zh()))
        }
        Action::Take => (Stage::InProgress, "签收并开始处置".into()),
        Action::Return { reason } => {
            s.assignee = None;
            (Stage::Accepted, format!("退回重新派单：{}", reason.trim()))
        }
        Action::Resolve { result } => (Stage::Resolved, format!("办结反馈：{}", result.trim())),
        Action::VerifyPass => {
            s.verified_at = Some(now_ms);
            (Stage::Verified, "核查通过，待评价".into())
        }
        Action::VerifyFail { reason } => {
            rework = true;
            (
                Stage::InProgress,
                format!("核查不通过，返工：{}", reason.trim()),
            )
        }
        Action::Rate { rating } => {
            s.rating = Some(*rating);
            s.rated_at = Some(now_ms);
            if *rating == Satisfaction::Unsatisfied {
                let window = span(policy.reopen_window_ms);
                (
                    Stage::Verified,
                    format!("评价：不满意（{window}内可重新办理）"),
                )
            } else {
                (Stage::Closed, format!("评价：{}，销号", rating.zh()))
            }
        }
        Action::Reopen { reason } => {
            rework = true;
            (s.rating, s.rated_at, s.verified_at) = (None, None, None);
            (
                Stage::InProgress,
                format!("不满意，重新办理：{}", reason.trim()),
            )
        }
        Action::Close if actor == ActorKind::System => (Stage::Closed, "评价期满，自动销号".into()),
        Action::Close => (Stage::Closed, "销号".into()),
        Action::Merge { into } => (Stage::Merged, format!("作为重复件合并至案件 #{into}")),
        Action::Urge => {
            s.urge_count = s.urge_count.saturating_add(1);
            (from, format!("催办（第{}次）", s.urge_count))
        }
        Action::Supervise { deadline } => {
            s.supervised_until = Some(*deadline);
            (from, "挂牌督办，限期办结".into())
        }
        Action::Whistle => (from, "吹哨，召集部门报到".into()),
        Action::Escalate => {
            s.escalation_level = s.escalation_level.saturating_add(1);
            (from, format!("超期升级（第{}级）", s.escalation_level))
        }
        Action::RequestExtension { until, reason } => {
            let reason = reason.trim().to_string();
            let note = format!("申请延期：{reason}");
            s.pending_extension = Some(ExtensionRequest {
                until: *until,
                reason,
            });
            (from, note)
        }
        Action::ApproveExtension => {
            s.extended_until = s.pending_extension.take().map(|r| r.until);
            s.extension_count = s.extension_count.saturating_add(1);
            (from, "批准延期".into())
        }
        Action::DenyExtension => {
            s.pending_extension = None;
            (from, "驳回延期申请".into())
        }
        Action::RequestSuspension { reason } => {
            s.pending_suspension = Some(reason.trim().to_string());
            (from, format!("申请挂账：{}", reason.trim()))
        }
        Action::ApproveSuspension => {
            s.pending_suspension = None;
            s.suspended = true;
            (from, "批准挂账".into())
        }
        Action::DenySuspension => {
            s.pending_suspension = None;
            (from, "驳回挂账申请".into())
        }
        Action::Resume => {
            s.suspended = false;
            (from, "恢复办理".into())
        }
        Action::Arrive => (from, "已到达现场".into()),
    };
    if rework {
        s.rework_count = s.rework_count.saturating_add(1);
    }
    if !HANDLING.contains(&to) {
        // Requests belong to the handling stages; leaving them settles the question.
        (s.pending_extension, s.pending_suspension) = (None, None);
    }
    s.stage = to;
    Ok(Transition {
        from,
        to,
        new_state: s,
        counts_as_rework: rework,
        note,
    })
}

/// Checks the action's own data.
fn validate(action: &Action, now_ms: i64, policy: &Policy) -> Result<(), String> {
    fn text(field: &str, value: &str) -> Result<(), String> {
        match value.trim().chars().count() {
            0 => Err(format!("必须填写{field}")),
            n if n > MAX_TEXT_CHARS => Err(format!("{field}不能超过{MAX_TEXT_CHARS}字")),
            _ => Ok(()),
        }
    }
    match action {
        Action::Reject { reason }
        | Action::Return { reason }
        | Action::VerifyFail { reason }
        | Action::Reopen { reason }
        | Action::RequestSuspension { reason } => text("原因", reason),
        Action::Resolve { result } => text("办理结果", result),
        Action::Dispatch { to } if to.id() <= 0 => Err("派单对象编号无效".into()),
        Action::Merge { into } if *into <= 0 => Err("合并目标案件编号无效".into()),
        Action::Supervise { deadline } if *deadline <= now_ms => {
            Err("督办期限必须晚于当前时间".into())
        }
        Action::RequestExtension { until, reason } => {
            text("延期原因", reason)?;
            if *until <= now_ms {
                Err("延期截止时间必须晚于当前时间".into())
            } else if until.saturating_sub(now_ms) > policy.max_extension_ms {
                Err(format!("单次延期不能超过{}", span(policy.max_extension_ms)))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Whether more than `window` has passed since `since` (never, if `since` is unknown).
fn passed(since: Option<i64>, window: i64, now_ms: i64) -> bool {
    since.is_some_and(|t| now_ms.saturating_sub(t) > window)
}

/// The sweeper may close once nobody can rate or reopen any more.
fn close_due(state: &CaseState, now_ms: i64, policy: &Policy) -> bool {
    match state.rating {
        None => passed(state.verified_at, policy.rating_window_ms, now_ms),
        Some(Satisfaction::Unsatisfied) => passed(state.rated_at, policy.reopen_window_ms, now_ms),
        Some(_) => true,
    }
}

/// "7天", "36小时", "90分钟".
fn span(ms: i64) -> String {
    if ms % DAY_MS == 0 {
        format!("{}天", ms / DAY_MS)
    } else if ms % HOUR_MS == 0 {
        format!("{}小时", ms / HOUR_MS)
    } else {
        format!("{}分钟", ms / 60_000)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ActorKind as K;
    use Satisfaction as Sat;
    use proptest::prelude::*;
    use std::collections::{HashSet, VecDeque};

    const T0: i64 = 1_700_000_000_000;

    fn go(s: &CaseState, a: Action, k: ActorKind, now: i64) -> Result<Transition, TransitionError> {
        apply(s, &a, k, now, &Policy::default())
    }
    fn ok(s: &CaseState, a: Action, k: ActorKind, now: i64) -> CaseState {
        go(s, a, k, now).unwrap().new_state
    }
    /// `refuse!(state, action, ActorKind, now => ErrorKind)`.
    macro_rules! refuse {
        ($s:expr, $a:expr, $k:ident, $now:expr => $want:ident) => {
            assert_eq!(go(&$s, $a, K::$k, $now).unwrap_err().kind, ErrorKind::$want)
        };
    }
    fn why() -> String {
        "现场情况复杂".into()
    }
    fn dispatch(to: Assignee) -> Action {
        Action::Dispatch { to }
    }
    fn rate(rating: Satisfaction) -> Action {
        Action::Rate { rating }
    }
    fn reopen() -> Action {
        Action::Reopen { reason: why() }
    }
    fn extend(until: i64) -> Action {
        Action::RequestExtension {
            until,
            reason: why(),
        }
    }

    /// Walks the main line (everything at T0) until `stage`.
    fn at(stage: Stage) -> CaseState {
        let steps = [
            (Action::Accept, K::Dispatcher),
            (dispatch(Assignee::GridWorker(7)), K::Dispatcher),
            (Action::Take, K::Handler),
            (Action::Resolve { result: why() }, K::Handler),
            (Action::VerifyPass, K::Verifier),
        ];
        let mut s = CaseState::default();
        for (a, k) in steps {
            if s.stage == stage {
                break;
            }
            s = ok(&s, a, k, T0);
        }
        assert_eq!(s.stage, stage);
        s
    }

    /// Well-formed data for each kind.
    fn sample(kind: ActionKind, now: i64) -> Action {
        use ActionKind as A;
        let r = why();
        match kind {
            A::Accept => Action::Accept,
            A::Reject => Action::Reject { reason: r },
            A::Dispatch => dispatch(Assignee::Department(3)),
            A::Take => Action::Take,
            A::Return => Action::Return { reason: r },
            A::Resolve => Action::Resolve { result: r },
            A::VerifyPass => Action::VerifyPass,
            A::VerifyFail => Action::VerifyFail { reason: r },
            A::Rate => rate(Sat::Satisfied),
            A::Reopen => reopen(),
            A::Close => Action::Close,
            A::Merge => Action::Merge { into: 42 },
            A::Urge => Action::Urge,
            A::Supervise => Action::Supervise { deadline: now + 1 },
            A::Whistle => Action::Whistle,
            A::Escalate => Action::Escalate,
            A::RequestExtension => extend(now + DAY_MS),
            A::ApproveExtension => Action::ApproveExtension,
            A::DenyExtension => Action::DenyExtension,
            A::RequestSuspension => Action::RequestSuspension { reason: r },
            A::ApproveSuspension => Action::ApproveSuspension,
            A::DenySuspension => Action::DenySuspension,
            A::Resume => Action::Resume,
            A::Arrive => Action::Arrive,
        }
    }

    fn documented(from: Stage, kind: ActionKind, to: Stage) -> bool {
        let side = |&(k, ss): &(ActionKind, &[Stage])| k == kind && ss.contains(&from);
        TRANSITIONS.contains(&(from, kind, to)) || (from == to && SIDE_ACTIONS.iter().any(side))
    }

    #[test]
    fn labels_round_trip_and_match_serde() {
        macro_rules! round_trip {
            ($($t:ty),+) => {$(
                for &v in <$t>::ALL {
                    let json = format!("\"{}\"", v.as_str());
                    assert_eq!(serde_json::to_string(&v).unwrap(), json);
                    assert_eq!(<$t>::parse(v.as_str()), Some(v));
                    assert!(!v.zh().is_empty() && !v.en().is_empty());
                }
            )+};
        }
        round_trip!(Stage, ActionKind, ActorKind, Sat);
        assert_eq!(Stage::parse("in_progress"), Some(Stage::InProgress));
        assert_eq!(Stage::parse("nope"), None);
        assert_eq!(
            (Stage::Closed.zh(), Stage::Closed.en()),
            ("已销号", "Closed")
        );
        let ended: Vec<_> = Stage::ALL.iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(ended, [&Stage::Rejected, &Stage::Closed, &Stage::Merged]);
        assert!(Stage::Verified.is_open());
        // Every action kind is either on the main line or a side action, never both.
        for &k in ActionKind::ALL {
            let main = TRANSITIONS.iter().any(|r| r.1 == k);
            assert!(main != SIDE_ACTIONS.iter().any(|r| r.0 == k), "{k:?}");
        }
    }

    #[test]
    fn main_line_closes_with_notes() {
        let s = at(Stage::Accepted);
        let t = go(&s, dispatch(Assignee::GridWorker(12)), K::Dispatcher, T0).unwrap();
        assert_eq!((t.from, t.to), (Stage::Accepted, Stage::Dispatched));
        assert_eq!(t.note, "派单至网格员 #12");
        assert_eq!(t.new_state.assignee, Some(Assignee::GridWorker(12)));
        let again = go(&t.new_state, dispatch(Assignee::Team(3)), K::Dispatcher, T0);
        assert_eq!(again.unwrap().note, "改派至服务队 #3");
        let v = at(Stage::Verified);
        assert_eq!(v.verified_at, Some(T0));
        let t = go(&v, rate(Sat::Basic), K::Reporter, T0 + DAY_MS).unwrap();
        assert_eq!(
            (t.to, t.new_state.rating),
            (Stage::Closed, Some(Sat::Basic))
        );
        assert_eq!(t.note, "评价：基本满意，销号");
        assert!(!t.counts_as_rework);
    }

    #[test]
    fn errors_name_action_stage_and_rule() {
        let closed = ok(&at(Stage::Verified), Action::Close, K::Dispatcher, T0);
        let e = go(&closed, dispatch(Assignee::Street(1)), K::Dispatcher, T0);
        let msg = "当前状态为“已销号”，不能执行“派单”：案件已结束，不再办理";
        assert_eq!(e.unwrap_err().to_string(), msg);
        let e = go(&at(Stage::InProgress), Action::Accept, K::Dispatcher, T0).unwrap_err();
        assert_eq!(e.kind, ErrorKind::WrongStage);
        assert_eq!(e.rule, "只能在“上报”状态下执行");
        let e = go(&CaseState::default(), Action::Accept, K::Reporter, T0).unwrap_err();
        assert_eq!(
            (e.kind.as_str(), e.action),
            ("forbidden", ActionKind::Accept)
        );
        assert_eq!(e.rule, "上报人无权执行，应由受理派单员执行");
    }

    #[test]
    fn reject_needs_a_reason_and_ends_the_case() {
        let s = CaseState::default();
        refuse!(s, Action::Reject { reason: " ".into() }, Dispatcher, T0 => InvalidInput);
        let long = "长".repeat(MAX_TEXT_CHARS + 1);
        refuse!(s, Action::Reject { reason: long }, Dispatcher, T0 => InvalidInput);
        let r = ok(&s, Action::Reject { reason: why() }, K::Dispatcher, T0);
        assert_eq!(r.stage, Stage::Rejected);
        let none = |&k| available_actions(&r, k, T0, &Policy::default()).is_empty();
        assert!(ActorKind::ALL.iter().all(none));
    }

    #[test]
    fn handler_returns_to_the_dispatcher() {
        for stage in [Stage::Dispatched, Stage::InProgress] {
            let t = go(&at(stage), Action::Return { reason: why() }, K::Handler, T0);
            let t = t.unwrap();
            assert_eq!((t.to, t.new_state.assignee), (Stage::Accepted, None));
        }
        refuse!(at(Stage::Resolved), Action::Return { reason: why() }, Handler, T0 => WrongStage);
        refuse!(at(Stage::Accepted), dispatch(Assignee::Department(0)), Dispatcher, T0 => InvalidInput);
    }

    #[test]
    fn failed_verification_is_rework() {
        let s = at(Stage::Resolved);
        let t = go(&s, Action::VerifyFail { reason: why() }, K::Verifier, T0).unwrap();
        assert_eq!((t.to, t.counts_as_rework), (Stage::InProgress, true));
        assert_eq!(t.new_state.rework_count, 1);
        refuse!(s, Action::VerifyPass, Handler, T0 => Forbidden);
    }

    #[test]
    fn unsatisfied_rating_allows_reopen_within_the_window() {
        let v = at(Stage::Verified);
        refuse!(v, reopen(), Reporter, T0 => Precondition);
        let t = go(&v, rate(Sat::Unsatisfied), K::Reporter, T0 + DAY_MS).unwrap();
        assert_eq!(t.to, Stage::Verified);
        assert_eq!(t.note, "评价：不满意（7天内可重新办理）");
        let u = t.new_state;
        refuse!(u, rate(Sat::Satisfied), Reporter, T0 => Precondition);
        refuse!(u, reopen(), Reporter, T0 + 9 * DAY_MS => Precondition);
        let t = go(&u, reopen(), K::Dispatcher, T0 + 8 * DAY_MS).unwrap();
        assert_eq!((t.to, t.counts_as_rework), (Stage::InProgress, true));
        let n = t.new_state;
        assert_eq!((n.rework_count, n.rating, n.verified_at), (1, None, None));
    }

    #[test]
    fn close_by_dispatcher_or_by_the_sweeper_after_the_windows() {
        let v = at(Stage::Verified);
        let late = T0 + 7 * DAY_MS + 1;
        refuse!(v, rate(Sat::Satisfied), Reporter, late => Precondition);
        refuse!(v, Action::Close, System, late - 1 => Precondition);
        let t = go(&v, Action::Close, K::System, late).unwrap();
        assert_eq!(
            (t.to, t.note.as_str()),
            (Stage::Closed, "评价期满，自动销号")
        );
        assert_eq!(
            ok(&v, Action::Close, K::Dispatcher, T0).stage,
            Stage::Closed
        );
        let u = ok(&v, rate(Sat::Unsatisfied), K::Reporter, T0 + DAY_MS);
        refuse!(u, Action::Close, System, late => Precondition);
        assert_eq!(
            ok(&u, Action::Close, K::System, late + DAY_MS).stage,
            Stage::Closed
        );
        refuse!(at(Stage::Resolved), Action::Close, Dispatcher, T0 => WrongStage);
    }

    #[test]
    fn merge_only_open_cases() {
        let m = go(
            &at(Stage::InProgress),
            Action::Merge { into: 9 },
            K::Dispatcher,
            T0,
        );
        let m = m.unwrap();
        assert_eq!(
            (m.to, m.note.as_str()),
            (Stage::Merged, "作为重复件合并至案件 #9")
        );
        refuse!(m.new_state, Action::Merge { into: 9 }, Dispatcher, T0 => WrongStage);
        refuse!(CaseState::default(), Action::Merge { into: 0 }, Dispatcher, T0 => InvalidInput);
    }

    #[test]
    fn urge_supervise_whistle_keep_the_stage() {
        let s = at(Stage::InProgress);
        let u = ok(
            &ok(&s, Action::Urge, K::Reporter, T0),
            Action::Urge,
            K::System,
            T0,
        );
        assert_eq!((u.stage, u.urge_count), (Stage::InProgress, 2));
        let sup = Action::Supervise { deadline: T0 + 1 };
        refuse!(s, sup.clone(), Dispatcher, T0 => Forbidden);
        assert_eq!(ok(&s, sup, K::Leader, T0).supervised_until, Some(T0 + 1));
        refuse!(s, Action::Supervise { deadline: T0 }, Leader, T0 => InvalidInput);
        refuse!(s, Action::Whistle, Dispatcher, T0 => WrongStage);
        let a = at(Stage::Accepted);
        assert_eq!(ok(&a, Action::Whistle, K::Dispatcher, T0), a);
        let closed = ok(&at(Stage::Verified), Action::Close, K::Dispatcher, T0);
        refuse!(closed, Action::Urge, Reporter, T0 => WrongStage);
    }

    #[test]
    fn escalation_stops_at_the_top_tier() {
        let mut s = at(Stage::Dispatched);
        for level in 1..=3 {
            s = ok(&s, Action::Escalate, K::System, T0);
            assert_eq!(s.escalation_level, level);
        }
        refuse!(s, Action::Escalate, System, T0 => Precondition);
    }

    #[test]
    fn extensions_are_requested_then_decided() {
        let s = at(Stage::InProgress);
        refuse!(s, extend(T0 + 16 * DAY_MS), Handler, T0 => InvalidInput);
        refuse!(s, extend(T0), Handler, T0 => InvalidInput);
        refuse!(s, Action::ApproveExtension, Dispatcher, T0 => Precondition);
        let p = ok(&s, extend(T0 + 3 * DAY_MS), K::Handler, T0);
        refuse!(p, extend(T0 + DAY_MS), Handler, T0 => Precondition);
        assert_eq!(ok(&p, Action::DenyExtension, K::Leader, T0), s);
        let once = ok(&p, Action::ApproveExtension, K::Dispatcher, T0);
        assert_eq!(
            (once.extension_count, once.pending_extension.is_none()),
            (1, true)
        );
        assert_eq!(once.extended_until, Some(T0 + 3 * DAY_MS));
        let asked = ok(&once, extend(T0 + DAY_MS), K::Handler, T0);
        let twice = ok(&asked, Action::ApproveExtension, K::Dispatcher, T0);
        let e = go(&twice, extend(T0 + DAY_MS), K::Handler, T0).unwrap_err();
        assert_eq!(e.rule, "已延期2次，达到上限");
        // Resolving settles a pending request.
        let r = ok(&asked, Action::Resolve { result: why() }, K::Handler, T0);
        assert_eq!(r.pending_extension, None);
    }

    #[test]
    fn suspension_parks_the_case_until_resumed() {
        let s = at(Stage::InProgress);
        refuse!(s, Action::Resume, Dispatcher, T0 => Precondition);
        let p = ok(
            &s,
            Action::RequestSuspension { reason: why() },
            K::Handler,
            T0,
        );
        assert_eq!(p.pending_suspension, Some(why()));
        assert_eq!(ok(&p, Action::DenySuspension, K::Dispatcher, T0), s);
        let parked = ok(&p, Action::ApproveSuspension, K::Leader, T0);
        assert!(parked.suspended && parked.stage == Stage::InProgress);
        for &k in ActorKind::ALL {
            let avail = available_actions(&parked, k, T0, &Policy::default());
            assert!(avail.iter().all(|&a| a == ActionKind::Resume), "{avail:?}");
        }
        refuse!(parked, Action::Escalate, System, T0 => Suspended);
        assert_eq!(ok(&parked, Action::Resume, K::Handler, T0), s);
    }

    #[test]
    fn actions_and_state_serialise() {
        let a = dispatch(Assignee::GridWorker(12));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            r#"{"action":"dispatch","to":{"kind":"grid_worker","id":12}}"#
        );
        assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), a);
        let s = at(Stage::Verified);
        let back: CaseState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            serde_json::from_str::<CaseState>("{}").unwrap(),
            CaseState::default()
        );
    }

    /// Explores states from `reported` (one per shape) and checks every table row is taken.
    #[test]
    fn every_table_row_is_reachable() {
        let mut seen = HashSet::new();
        let mut shapes = HashSet::new();
        let mut queue = VecDeque::from([CaseState::default()]);
        while let Some(s) = queue.pop_front() {
            let mut actions: Vec<_> = ActionKind::ALL.iter().map(|&k| sample(k, T0)).collect();
            actions.push(rate(Sat::Unsatisfied));
            for a in &actions {
                for &k in ActorKind::ALL {
                    let Ok(t) = apply(&s, a, k, T0, &Policy::default()) else {
                        continue;
                    };
                    seen.insert((t.from, a.kind(), t.to));
                    let n = &t.new_state;
                    let (ext, sus) = (
                        n.pending_extension.is_some(),
                        n.pending_suspension.is_some(),
                    );
                    if shapes.insert((n.stage, n.rating, ext, sus, n.suspended)) {
                        queue.push_back(t.new_state);
                    }
                }
            }
        }
        for row in TRANSITIONS {
            assert!(seen.contains(row), "unreachable {row:?}");
        }
        for &(kind, stages) in SIDE_ACTIONS {
            for &st in stages {
                assert!(
                    seen.contains(&(st, kind, st)),
                    "unreachable {kind:?} in {st:?}"
                );
            }
        }
    }

    /// One random step: `mode` 0 picks any action and actor, 1 any available pair, 2 an available
    /// main-line pair that does not end the case (so walks get deep).
    #[derive(Debug, Clone)]
    struct Step {
        mode: u8,
        pick: usize,
        data: u32,
        time: (bool, i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        let time = prop_oneof![
            9 => (0..10 * DAY_MS).prop_map(|d| (false, d)),
            1 => (-i64::MAX / 2..i64::MAX / 2).prop_map(|t| (true, t)),
        ];
        (0..3u8, any::<usize>(), any::<u32>(), time).prop_map(|(mode, pick, data, time)| Step {
            mode,
            pick,
            data,
            time,
        })
    }

    /// An action of `kind` with random, sometimes invalid, data.
    fn random_action(kind: ActionKind, d: u32, now: i64) -> Action {
        let pick = |n: usize, shift: u32| (d >> shift) as usize % n;
        let text = ["", "  ", "原因", why().as_str()][pick(4, 0)].to_string();
        let days: [i64; 5] = [-1, 1, 40, i64::MAX, i64::MIN];
        let at = now.saturating_add(days[pick(5, 2)].saturating_mul(DAY_MS));
        let to: [fn(i64) -> Assignee; 3] = [Assignee::GridWorker, Assignee::Team, Assignee::Street];
        let to = to[pick(3, 5)](i64::from(d >> 7 & 1));
        match sample(kind, now) {
            Action::Reject { .. } => Action::Reject { reason: text },
            Action::Return { .. } => Action::Return { reason: text },
            Action::Resolve { .. } => Action::Resolve { result: text },
            Action::VerifyFail { .. } => Action::VerifyFail { reason: text },
            Action::Reopen { .. } => Action::Reopen { reason: text },
            Action::RequestSuspension { .. } => Action::RequestSuspension { reason: text },
            Action::RequestExtension { .. } => Action::RequestExtension {
                until: at,
                reason: text,
            },
            Action::Supervise { .. } => Action::Supervise { deadline: at },
            Action::Dispatch { .. } => dispatch(to),
            Action::Merge { .. } => Action::Merge {
                into: i64::from(d >> 8 & 1),
            },
            Action::Rate { .. } => rate(Sat::ALL[pick(3, 9)]),
            a => a,
        }
    }

    proptest! {
        #[test]
        fn random_walks_keep_the_invariants(steps in prop::collection::vec(step(), 1..80)) {
            let policy = Policy::default();
            let mut state = CaseState::default();
            let mut now = T0;
            for st in steps {
                now = if st.time.0 { st.time.1 } else { now.saturating_add(st.time.1) };
                let mut pairs = Vec::new();
                for &actor in ActorKind::ALL {
                    let avail = available_actions(&state, actor, now, &policy);
                    // The buttons are exactly the actions that succeed with well-formed data.
                    for &k in ActionKind::ALL {
                        let works = apply(&state, &sample(k, now), actor, now, &policy).is_ok();
                        prop_assert_eq!(avail.contains(&k), works, "{:?} by {:?} in {:?}", k, actor, state);
                    }
                    pairs.extend(avail.into_iter().map(|k| (k, actor)));
                }
                if state.stage.is_terminal() {
                    prop_assert!(pairs.is_empty());
                }
                let ends = [ActionKind::Merge, ActionKind::Reject];
                let main_line = |&(k, _): &(ActionKind, ActorKind)| TRANSITIONS.iter().any(|r| r.1 == k);
                let progress: Vec<_> =
                    pairs.iter().copied().filter(|p| main_line(p) && !ends.contains(&p.0)).collect();
                let (kind, actor) = match st.mode {
                    1 if !pairs.is_empty() => pairs[st.pick % pairs.len()],
                    2 if !progress.is_empty() => progress[st.pick % progress.len()],
                    _ => (
                        ActionKind::ALL[st.pick % ActionKind::ALL.len()],
                        ActorKind::ALL[st.pick / 64 % ActorKind::ALL.len()],
                    ),
                };
                let action = random_action(kind, st.data, now);
                match apply(&state, &action, actor, now, &policy) {
                    Ok(t) => {
                        prop_assert!(state.stage.is_open());
                        prop_assert!(allowed(kind, actor));
                        prop_assert_eq!(t.from, state.stage);
                        prop_assert_eq!(t.new_state.stage, t.to);
                        prop_assert!(documented(t.from, kind, t.to), "{:?} {:?} {:?}", t.from, kind, t.to);
                        if t.to == Stage::Closed {
                            prop_assert_eq!(t.from, Stage::Verified);
                        }
                        let rework = matches!(kind, ActionKind::VerifyFail | ActionKind::Reopen);
                        prop_assert_eq!(t.counts_as_rework, rework);
                        prop_assert_eq!(t.new_state.rework_count, state.rework_count + u32::from(rework));
                        prop_assert!(!t.note.is_empty());
                        if t.new_state.suspended || t.new_state.pending_extension.is_some() {
                            prop_assert!(HANDLING.contains(&t.to));
                        }
                        state = t.new_state;
                    }
                    Err(e) => {
                        prop_assert_eq!((e.action, e.stage), (kind, state.stage));
                        prop_assert_eq!(e.kind == ErrorKind::Forbidden, !allowed(kind, actor));
                        prop_assert!(e.to_string().contains(kind.zh()));
                    }
                }
            }
        }
    }
}
