//! The closed case loop through the use cases, on every available database (SQLite always;
//! PostgreSQL when JINLIN_TEST_PG_URL is set): intake, every role's actions, jurisdiction,
//! concurrent takes and sweepers, deadlines and escalation, rating and reopening — asserting
//! what the people involved would see: stages, the timeline, their inboxes and the errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use geo::{LineString, MultiPolygon, Polygon};
use jinlin_app::cases::{ActionExtras, Channel, Intake, ListKind, ListQuery, Location, Upload};
use jinlin_app::{Actor, App, AppError, Settings};
use jinlin_domain::accounts::{PostKind, Role};
use jinlin_domain::cases::{Action, ActionKind, Assignee, Satisfaction, Stage};
use jinlin_domain::crs::Crs;
use jinlin_domain::deadlines::DeadlineSpec;
use jinlin_domain::regions::{NewRegion, RegionLevel};
use jinlin_store::Store;
use jinlin_store::accounts::NewUser;
use jinlin_store::audit::{AuditFilter, NewAudit};
use jinlin_store::cases::{CaseRow, EventRow, NotificationRow};
use jinlin_store::testing::{TestDb, on_every_backend, unique_suffix};

// ----- fixture -----------------------------------------------------------------------------

/// Monday 2026-03-02 09:00 in Beijing (01:00 UTC): a working morning.
const T0: i64 = 1_772_413_200_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

const DISTRICT: &str = "350503000000";
const STREET: &str = "350503001000";
const COMMUNITY: &str = "350503001001";
const COMPOUND: &str = "350503001001001";
const GRID: &str = "350503001001001001";
const BUILDING: &str = "350503001001001001001";
const OTHER_STREET: &str = "350503002000";
const OTHER_COMMUNITY: &str = "350503002001";

/// Inside the grid's square (WGS-84).
const INSIDE: (f64, f64) = (24.905, 118.605);
/// Far from every grid.
const OUTSIDE: (f64, f64) = (26.0, 119.5);

/// An appeal the community desk accepts (维修 → 路灯不亮).
const APPEAL: &str = "repair.street_lamp";
/// A help request (求助 → 独居老人求助).
const HELP: &str = "help.elderly";

fn square(x: f64, y: f64, side: f64) -> MultiPolygon<f64> {
    MultiPolygon(vec![Polygon::new(
        LineString::from(vec![
            (x, y),
            (x + side, y),
            (x + side, y + side),
            (x, y + side),
            (x, y),
        ]),
        vec![],
    )])
}

fn region(code: &str, parent: Option<&str>, level: RegionLevel, name: &str) -> NewRegion {
    NewRegion {
        code: code.into(),
        parent_code: parent.map(Into::into),
        level,
        name: name.into(),
        boundary: None,
    }
}

fn setup_audit(action: &str) -> NewAudit {
    NewAudit {
        actor_name: "setup".into(),
        action: action.into(),
        target: "fixture".into(),
        outcome: "ok".into(),
        ..NewAudit::default()
    }
}

/// 丰泽区 → 东湖街道 → 东霞社区 → 东霞小区 → 东霞一网格 (a polygon) → 1号楼, plus 丰泽街道 →
/// 丰盛社区 for the staff of another community; one account per role the loop involves.
struct World {
    db: TestDb,
    app: App,
    clock: Arc<AtomicI64>,
    data_dir: PathBuf,
    grid_id: i64,
    unit_id: i64,
    desk: Actor,
    street: Actor,
    worker: Actor,
    resident: Actor,
    leader: Actor,
    handler: Actor,
    handler2: Actor,
    other: Actor,
    sysadmin: Actor,
}

async fn user(store: &Store, username: &str, name: &str, role: Role, code: &str) -> Actor {
    let id = store
        .create_user(
            &NewUser {
                username: username.into(),
                display_name: name.into(),
                role,
                region_code: code.into(),
                work_phone: None,
                password_hash: "$argon2id$not-used-in-these-tests".into(),
            },
            &setup_audit("user.create"),
            T0,
        )
        .await
        .unwrap();
    let user = store.user_by_id(id).await.unwrap().unwrap();
    jinlin_app::accounts::actor_of(&user)
}

fn clock_of(c: &Arc<AtomicI64>) -> jinlin_app::Clock {
    let c = c.clone();
    Arc::new(move || c.load(Ordering::SeqCst))
}

fn settings(data_dir: &std::path::Path) -> Settings {
    Settings {
        data_dir: data_dir.to_path_buf(),
        ..Settings::default()
    }
}

impl World {
    async fn new(db: TestDb) -> World {
        use RegionLevel::*;
        let store = db.store.clone();
        let mut grid = region(GRID, Some(COMPOUND), Grid, "东霞一网格");
        grid.boundary = Some(square(118.60, 24.90, 0.01));
        let tree = vec![
            region(DISTRICT, None, District, "丰泽区"),
            region(STREET, Some(DISTRICT), Street, "东湖街道"),
            region(COMMUNITY, Some(STREET), Community, "东霞社区"),
            region(COMPOUND, Some(COMMUNITY), Compound, "东霞小区"),
            grid,
            region(BUILDING, Some(GRID), Building, "东霞小区1号楼"),
            region(OTHER_STREET, Some(DISTRICT), Street, "丰泽街道"),
            region(OTHER_COMMUNITY, Some(OTHER_STREET), Community, "丰盛社区"),
        ];
        store
            .insert_regions(&tree, &setup_audit("regions.import"), T0)
            .await
            .unwrap();
        let district = store.region_by_code(DISTRICT).await.unwrap().unwrap();
        let grid_id = store.region_by_code(GRID).await.unwrap().unwrap().id;

        let desk = user(
            &store,
            "desk",
            "社区书记林",
            Role::CommunityAdmin,
            COMMUNITY,
        )
        .await;
        let street = user(&store, "street", "街道干部陈", Role::StreetAdmin, STREET).await;
        let worker = user(&store, "worker", "网格员黄", Role::GridWorker, GRID).await;
        store
            .assign_post(
                worker.user_id.unwrap(),
                GRID,
                PostKind::GridWorker,
                &setup_audit("post.assign"),
                T0,
            )
            .await
            .unwrap();
        let resident = user(&store, "13912345678", "居民王", Role::Resident, COMMUNITY).await;
        let leader = user(&store, "leader", "区领导郑", Role::Leader, DISTRICT).await;
        let handler = user(
            &store,
            "handler",
            "城管员吴",
            Role::DepartmentHandler,
            DISTRICT,
        )
        .await;
        let handler2 = user(
            &store,
            "handler2",
            "城管员周",
            Role::DepartmentHandler,
            DISTRICT,
        )
        .await;
        let other = user(
            &store,
            "other",
            "丰盛社区蔡",
            Role::CommunityAdmin,
            OTHER_COMMUNITY,
        )
        .await;
        let sysadmin = user(&store, "sysadmin", "管理员", Role::Sysadmin, DISTRICT).await;
        let unit_id = store
            .create_unit(
                &district.tenant,
                "区城市管理局",
                "department",
                district.id,
                None,
                &setup_audit("unit.create"),
                T0,
            )
            .await
            .unwrap();
        for h in [&handler, &handler2] {
            store
                .set_user_unit(
                    h.user_id.unwrap(),
                    Some(unit_id),
                    &setup_audit("unit.member"),
                    T0,
                )
                .await
                .unwrap();
        }

        let clock = Arc::new(AtomicI64::new(T0));
        let data_dir = std::env::temp_dir().join(format!("jinlin_case_photos_{}", unique_suffix()));
        let app = App::with_clock(store, settings(&data_dir), clock_of(&clock))
            .await
            .unwrap();
        World {
            db,
            app,
            clock,
            data_dir,
            grid_id,
            unit_id,
            desk,
            street,
            worker,
            resident,
            leader,
            handler,
            handler2,
            other,
            sysadmin,
        }
    }

    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn set_time(&self, at: i64) {
        self.clock.store(at, Ordering::SeqCst);
    }

    fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    /// Another application process on the same database (its own connections).
    async fn second_app(&self, at: i64) -> (App, Arc<AtomicI64>) {
        let store = Store::connect(&self.db.url).await.unwrap();
        let clock = Arc::new(AtomicI64::new(at));
        let app = App::with_clock(store, settings(&self.data_dir), clock_of(&clock))
            .await
            .unwrap();
        (app, clock)
    }

    fn category_id(&self, code: &str) -> i64 {
        self.app
            .category_by_code(code)
            .unwrap_or_else(|| panic!("category {code} is not seeded"))
            .id
    }

    fn intake(&self, code: &str, description: &str) -> Intake {
        Intake {
            channel: Channel::Resident,
            category_id: self.category_id(code),
            description: description.into(),
            location: Location {
                point: Some((INSIDE.0, INSIDE.1, Crs::Wgs84)),
                region_code: None,
                address: Some("东霞小区1号楼前".into()),
            },
            reporter_name: None,
            reporter_phone: None,
            photos: Vec::new(),
            answers: Vec::new(),
            open311: None,
        }
    }

    /// The resident reports from the phone page at a point inside the grid.
    async fn file(&self, code: &str, description: &str) -> i64 {
        self.app
            .file_case(Some(&self.resident), self.intake(code, description))
            .await
            .unwrap()
    }

    async fn act(&self, actor: &Actor, id: i64, action: Action) -> Result<CaseRow, AppError> {
        self.app
            .act(actor, id, action, ActionExtras::default())
            .await
    }

    async fn ok(&self, actor: &Actor, id: i64, action: Action) -> CaseRow {
        let what = format!("{action:?} by {}", actor.username);
        self.act(actor, id, action)
            .await
            .unwrap_or_else(|e| panic!("{what} was refused: {e}"))
    }

    async fn case(&self, id: i64) -> CaseRow {
        self.app.store.case_by_id(id).await.unwrap().unwrap()
    }

    async fn events(&self, id: i64) -> Vec<EventRow> {
        self.app.store.case_events(id).await.unwrap()
    }

    async fn count(&self, id: i64, action: &str) -> usize {
        self.events(id)
            .await
            .iter()
            .filter(|e| e.action == action)
            .count()
    }

    async fn inbox_of(&self, actor: &Actor, case_id: i64) -> Vec<NotificationRow> {
        self.app
            .inbox(actor, 1)
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|n| n.case_id == Some(case_id))
            .collect()
    }

    async fn inbox_kinds(&self, actor: &Actor, case_id: i64) -> BTreeSet<String> {
        self.inbox_of(actor, case_id)
            .await
            .into_iter()
            .map(|n| n.kind)
            .collect()
    }

    /// Accept → dispatch to the grid worker → take → resolve.
    async fn to_resolved(&self, id: i64) {
        self.ok(&self.desk, id, Action::Accept).await;
        self.ok(&self.desk, id, dispatch_to(&self.worker)).await;
        self.ok(&self.worker, id, Action::Take).await;
        self.ok(&self.worker, id, resolve()).await;
    }

    async fn finish(self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn dispatch_to(worker: &Actor) -> Action {
    Action::Dispatch {
        to: Assignee::GridWorker(worker.user_id.unwrap()),
    }
}

fn resolve() -> Action {
    Action::Resolve {
        result: "已更换灯泡，路灯恢复照明".into(),
    }
}

fn rate(rating: Satisfaction) -> Action {
    Action::Rate { rating }
}

fn field_of(e: &AppError) -> &str {
    e.field().unwrap_or("")
}

/// A Chinese sentence for the user, not an internal error.
fn assert_chinese(message: &str) {
    assert!(
        message
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "message is not Chinese: {message}"
    );
}

fn minutes_of(spec: DeadlineSpec) -> Option<i64> {
    match spec {
        DeadlineSpec::NaturalMinutes(m) => Some(i64::from(m)),
        _ => None,
    }
}

// ----- 1. the main line ----------------------------------------------------------------------

#[tokio::test]
async fn an_appeal_goes_round_the_whole_loop() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let id = w.file(APPEAL, "小区门口路灯连续三晚不亮").await;
        let filed = w.case(id).await;
        assert_eq!(filed.stage(), Stage::Reported);
        assert_eq!(
            filed.grid_id,
            Some(w.grid_id),
            "the point resolves to the grid"
        );
        assert_eq!(filed.reporter_id, w.resident.user_id);
        assert_eq!(filed.reporter_phone.as_deref(), Some("13912345678"));
        // The community desk hears about the new case; the grid worker not yet.
        assert_eq!(
            w.inbox_kinds(&w.desk, id).await,
            BTreeSet::from(["new_case".to_string()])
        );
        assert!(w.inbox_of(&w.worker, id).await.is_empty());

        w.advance(2 * MINUTE);
        w.ok(&w.desk, id, Action::Accept).await;
        w.advance(MINUTE);
        let dispatched = w.ok(&w.desk, id, dispatch_to(&w.worker)).await;
        assert_eq!(dispatched.stage(), Stage::Dispatched);
        let to_worker = w.inbox_of(&w.worker, id).await;
        assert_eq!(to_worker.len(), 1, "{to_worker:?}");
        assert_eq!(to_worker[0].kind, "dispatch");

        w.advance(5 * MINUTE);
        let taken = w.ok(&w.worker, id, Action::Take).await;
        assert_eq!(taken.stage(), Stage::InProgress);
        assert_eq!(taken.handler_id, w.worker.user_id);
        w.advance(60 * MINUTE);
        let resolved = w.ok(&w.worker, id, resolve()).await;
        assert_eq!(resolved.resolved_at, Some(w.now()));
        w.advance(10 * MINUTE);
        w.ok(&w.worker, id, Action::VerifyPass).await;
        w.advance(60 * MINUTE);
        let rated = w.ok(&w.resident, id, rate(Satisfaction::Satisfied)).await;
        assert_eq!(rated.stage(), Stage::Closed);
        let stored = w.case(id).await;
        assert_eq!(stored.stage(), Stage::Closed);
        assert_eq!(stored.closed_at, Some(w.now()));
        assert_eq!(stored.state.rating, Some(Satisfaction::Satisfied));
        assert_eq!(stored.state.rework_count, 0);

        // One timeline row per transition, with who did it and the stages.
        let desk = w.desk.user_id;
        let worker = w.worker.user_id;
        let resident = w.resident.user_id;
        let expected: Vec<(&str, Option<i64>, Option<&str>, &str)> = vec![
            ("report", resident, None, "reported"),
            ("accept", desk, Some("reported"), "accepted"),
            ("dispatch", desk, Some("accepted"), "dispatched"),
            ("take", worker, Some("dispatched"), "in_progress"),
            ("resolve", worker, Some("in_progress"), "resolved"),
            ("verify_pass", worker, Some("resolved"), "verified"),
            ("rate", resident, Some("verified"), "closed"),
        ];
        let detail = w.app.case_detail(&w.desk, id).await.unwrap();
        let got: Vec<_> = detail
            .events
            .iter()
            .map(|e| {
                (
                    e.action.as_str(),
                    e.actor_id,
                    e.from_stage.as_deref(),
                    e.to_stage.as_str(),
                )
            })
            .collect();
        assert_eq!(got, expected);
        assert!(detail.events.iter().all(|e| !e.actor_name.is_empty()));
        assert!(detail.events.windows(2).all(|p| p[0].at <= p[1].at));
        assert!(detail.actions.is_empty(), "a closed case offers nothing");

        // The resident sees the case under "我的诉求", with its whole public timeline.
        let mine = w
            .app
            .list_cases(&w.resident, ListKind::Mine, &ListQuery::default())
            .await
            .unwrap();
        assert_eq!(mine.total, 1);
        assert_eq!(mine.items[0].case.id, id);
        assert_eq!(mine.items[0].case.stage, Stage::Closed);
        let own = w.app.case_detail(&w.resident, id).await.unwrap();
        assert_eq!(own.events.len(), expected.len());
        assert!(own.phone_clear, "the reporter sees their own number");
        assert!(!detail.phone_clear, "staff see it masked");

        // Inboxes: the resident hears about the milestones, the desk about the new case,
        // the worker about the dispatch; nobody outside hears anything.
        assert_eq!(
            w.inbox_kinds(&w.resident, id).await,
            ["accept", "resolve", "verify_pass"]
                .into_iter()
                .map(String::from)
                .collect()
        );
        assert_eq!(
            w.inbox_kinds(&w.worker, id).await,
            BTreeSet::from(["dispatch".to_string()])
        );
        assert_eq!(
            w.inbox_kinds(&w.desk, id).await,
            BTreeSet::from(["new_case".to_string()])
        );
        for outsider in [&w.other, &w.leader, &w.handler, &w.street] {
            assert!(
                w.inbox_of(outsider, id).await.is_empty(),
                "{} was notified",
                outsider.username
            );
        }
        assert!(w.app.unread_count(&w.resident).await.unwrap() >= 3);
        w.finish().await;
    })
    .await;
}

// ----- 2. help requests ----------------------------------------------------------------------

#[tokio::test]
async fn a_help_request_goes_straight_to_the_grid_worker() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let category = w.app.category_by_code(HELP).unwrap();
        let id = w.file(HELP, "楼上独居的李奶奶两天没开门了").await;
        let late = w.file(HELP, "老人摔倒在楼道里").await;
        let case = w.case(id).await;
        assert_eq!(
            case.stage(),
            Stage::Dispatched,
            "auto-accepted and dispatched"
        );
        assert_eq!(
            case.state.assignee,
            Some(Assignee::GridWorker(w.worker.user_id.unwrap()))
        );
        assert_eq!(case.level, "grid");
        assert_eq!(case.created_at, T0);

        // The deadlines come from the category: 5 minutes to respond, 30 to be at the door.
        let cal = w.app.calendar();
        assert_eq!(case.response_due, category.response.due(&cal, T0));
        let onsite = category
            .onsite
            .expect("help categories have an on-site limit");
        assert_eq!(case.onsite_due, Some(onsite.due(&cal, T0)));
        assert_eq!(
            minutes_of(category.response),
            Some(5),
            "seeded response limit"
        );
        assert_eq!(minutes_of(onsite), Some(30), "seeded on-site limit");
        assert_eq!(case.response_due, T0 + 5 * MINUTE);
        assert_eq!(case.onsite_due, Some(T0 + 30 * MINUTE));

        // The timeline shows the automatic steps, done by the system.
        let events = w.events(id).await;
        let steps: Vec<_> = events
            .iter()
            .map(|e| (e.action.as_str(), e.actor_id, e.to_stage.as_str()))
            .collect();
        assert_eq!(
            steps,
            vec![
                ("report", w.resident.user_id, "reported"),
                ("accept", None, "accepted"),
                ("dispatch", None, "dispatched"),
            ]
        );
        let inbox = w.inbox_of(&w.worker, id).await;
        assert_eq!(inbox.len(), 1, "{inbox:?}");
        assert_eq!(inbox[0].kind, "dispatch");
        assert!(
            inbox[0].title.contains(&category.name),
            "{}",
            inbox[0].title
        );

        // Within the limits: taking is the response, arriving is recorded on the case.
        w.set_time(T0 + 2 * MINUTE);
        w.ok(&w.worker, late, Action::Take).await;
        w.set_time(T0 + 3 * MINUTE);
        let taken = w.ok(&w.worker, id, Action::Take).await;
        assert_eq!(taken.responded_at, Some(T0 + 3 * MINUTE));
        w.advance(17 * MINUTE);
        let arrived = w.ok(&w.worker, id, Action::Arrive).await;
        assert_eq!(arrived.onsite_at, Some(T0 + 20 * MINUTE));
        let stored = w.case(id).await;
        assert_eq!(stored.onsite_at, Some(T0 + 20 * MINUTE));
        assert_eq!(
            stored.stage(),
            Stage::InProgress,
            "arriving keeps the stage"
        );
        assert_eq!(w.count(id, "arrive").await, 1);

        // The second request, taken but never reached, is escalated once the on-site limit
        // has passed; the one reached in time is left alone.
        w.set_time(T0 + 32 * MINUTE);
        w.app.sweep_cases().await.unwrap();
        assert_eq!(
            w.count(late, "escalate").await,
            1,
            "missed the on-site limit"
        );
        assert!(w.case(late).await.overdue);
        assert_eq!(w.count(id, "escalate").await, 0, "arrived in time");
        assert!(!w.case(id).await.overdue);
        w.finish().await;
    })
    .await;
}

// ----- 3. two people at once -----------------------------------------------------------------

#[tokio::test]
async fn of_two_people_taking_a_case_at_once_one_wins() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let unit = Assignee::Department(w.unit_id);
        let id = w.file(APPEAL, "路灯杆倾斜，有倒塌危险").await;
        w.ok(&w.desk, id, Action::Accept).await;
        w.ok(&w.desk, id, Action::Dispatch { to: unit }).await;
        let units_inbox = (
            w.inbox_kinds(&w.handler, id).await,
            w.inbox_kinds(&w.handler2, id).await,
        );
        assert!(units_inbox.0.contains("dispatch") && units_inbox.1.contains("dispatch"));

        let (a, b) = tokio::join!(
            w.act(&w.handler, id, Action::Take),
            w.act(&w.handler2, id, Action::Take)
        );
        let (winner, loser) = match (a, b) {
            (Ok(_), Err(e)) => (&w.handler, e),
            (Err(e), Ok(_)) => (&w.handler2, e),
            (a, b) => panic!("exactly one take must succeed: {a:?} / {b:?}"),
        };
        assert!(
            matches!(loser, AppError::Conflict { .. }),
            "the loser is told of a conflict: {loser:?}"
        );
        let said = loser.to_string();
        assert_chinese(&said);
        assert!(
            said.contains("刷新") || said.contains(Stage::InProgress.zh()),
            "says someone else was first: {said}"
        );
        let case = w.case(id).await;
        assert_eq!(case.stage(), Stage::InProgress);
        assert_eq!(case.handler_id, winner.user_id);
        assert_eq!(w.count(id, "take").await, 1);

        // Acting on what one saw: a stale version is refused even where the action would be
        // legal, and nothing is written.
        let id2 = w.file(APPEAL, "另一盏路灯闪烁").await;
        w.ok(&w.desk, id2, Action::Accept).await;
        let seen = w
            .ok(&w.desk, id2, Action::Dispatch { to: unit })
            .await
            .version;
        let first = w
            .app
            .act(
                &w.handler,
                id2,
                Action::Take,
                ActionExtras {
                    expected_version: Some(seen),
                    ..ActionExtras::default()
                },
            )
            .await;
        assert!(first.is_ok(), "{first:?}");
        let before = w.events(id2).await.len();
        let second = w
            .app
            .act(
                &w.handler2,
                id2,
                Action::RequestExtension {
                    until: w.now() + 3 * DAY,
                    reason: "需要采购配件".into(),
                },
                ActionExtras {
                    expected_version: Some(seen),
                    ..ActionExtras::default()
                },
            )
            .await
            .unwrap_err();
        match &second {
            AppError::Conflict { field, message } => {
                assert_eq!(field, "version");
                assert!(message.contains("刷新"), "{message}");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(w.events(id2).await.len(), before);
        assert_eq!(w.case(id2).await.handler_id, w.handler.user_id);
        w.finish().await;
    })
    .await;
}

// ----- 4. refused actions --------------------------------------------------------------------

#[tokio::test]
async fn refused_actions_say_why_and_write_nothing() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let id = w.file(APPEAL, "路灯不亮").await;
        let before = w.case(id).await;

        let e = w.act(&w.resident, id, Action::Accept).await.unwrap_err();
        match &e {
            AppError::Forbidden(m) => {
                assert!(m.contains("受理"), "names the action: {m}");
                assert!(m.contains("受理派单员"), "names who may: {m}");
            }
            other => panic!("expected Forbidden, got {other:?}"),
        }
        let e = w.act(&w.worker, id, Action::Accept).await.unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
        let e = w.act(&w.leader, id, Action::Take).await.unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
        let e = w.act(&w.resident, id, rate(Satisfaction::Satisfied)).await;
        assert!(matches!(e, Err(AppError::Conflict { .. })), "{e:?}");
        let after = w.case(id).await;
        assert_eq!(after.stage(), Stage::Reported);
        assert_eq!(after.version, before.version);
        assert_eq!(w.events(id).await.len(), 1, "only the report row");

        // Round the loop to 已销号, then try to take it.
        w.to_resolved(id).await;
        w.ok(&w.worker, id, Action::VerifyPass).await;
        w.ok(&w.resident, id, rate(Satisfaction::Basic)).await;
        let closed = w.case(id).await;
        assert_eq!(closed.stage(), Stage::Closed);
        let rows = w.events(id).await.len();
        let e = w.act(&w.worker, id, Action::Take).await.unwrap_err();
        match &e {
            AppError::Conflict { message, .. } => {
                assert!(
                    message.contains(Stage::Closed.zh()),
                    "names the stage: {message}"
                )
            }
            other => panic!("expected Conflict, got {other:?}"),
        }
        let e = w
            .act(&w.desk, id, dispatch_to(&w.worker))
            .await
            .unwrap_err();
        assert!(matches!(e, AppError::Conflict { .. }), "{e:?}");
        assert_eq!(w.events(id).await.len(), rows);
        assert_eq!(w.case(id).await.version, closed.version);
        w.finish().await;
    })
    .await;
}

// ----- 5. jurisdiction -----------------------------------------------------------------------

#[tokio::test]
async fn other_communities_and_system_administrators_do_not_see_cases() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let id = w.file(APPEAL, "路灯不亮").await;

        let e = w.app.case_detail(&w.other, id).await.unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
        assert_chinese(&e.to_string());
        let denied = w
            .app
            .store
            .list_audit(AuditFilter {
                actor: None,
                action: Some("access".into()),
                page: 1,
                page_size: 50,
            })
            .await
            .unwrap()
            .0;
        let target = format!("case:{id}");
        let rows: Vec<_> = denied
            .iter()
            .filter(|r| r.target == target && r.outcome == "denied")
            .collect();
        assert_eq!(rows.len(), 1, "{denied:?}");
        assert_eq!(rows[0].actor_id, w.other.user_id);

        // Nor can they act on it, and their lists do not show it.
        let e = w.act(&w.other, id, Action::Accept).await.unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
        let theirs = w
            .app
            .list_cases(&w.other, ListKind::All, &ListQuery::default())
            .await
            .unwrap();
        assert_eq!(theirs.total, 0);
        assert_eq!(w.events(id).await.len(), 1);
        // The district leader and the street do see it.
        assert!(w.app.case_detail(&w.leader, id).await.is_ok());
        let streets = w
            .app
            .list_cases(&w.street, ListKind::All, &ListQuery::default())
            .await
            .unwrap();
        assert_eq!(streets.total, 1);

        let e = w
            .app
            .list_cases(&w.sysadmin, ListKind::All, &ListQuery::default())
            .await
            .unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
        let e = w.app.case_detail(&w.sysadmin, id).await.unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
        w.finish().await;
    })
    .await;
}

// ----- 6. the sweeper ------------------------------------------------------------------------

#[tokio::test]
async fn the_sweeper_escalates_overdue_cases_once() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let category = w.app.category_by_code(APPEAL).unwrap();
        assert_eq!(category.level, "community");

        // Nobody responds: at the response deadline the case goes up to the street.
        let ignored = w.file(APPEAL, "路灯不亮，一直没人管").await;
        let response_due = w.case(ignored).await.response_due;
        w.set_time(response_due - MINUTE);
        assert_eq!(w.app.sweep_cases().await.unwrap(), 0, "not due yet");
        assert_eq!(w.count(ignored, "escalate").await, 0);
        w.set_time(response_due + MINUTE);
        assert_eq!(w.app.sweep_cases().await.unwrap(), 1);
        let up = w.case(ignored).await;
        assert_eq!(up.level, "street");
        assert_eq!(up.state.escalation_level, 1);
        assert!(up.overdue);
        assert_eq!(up.stage(), Stage::Reported, "escalation keeps the stage");
        let rows: Vec<_> = w
            .events(ignored)
            .await
            .into_iter()
            .filter(|e| e.action == "escalate")
            .collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].actor_id, None, "done by the system");
        assert_eq!(rows[0].from_stage.as_deref(), Some("reported"));
        let to_street = w.inbox_of(&w.street, ignored).await;
        assert_eq!(to_street.len(), 1, "{to_street:?}");
        assert_eq!(to_street[0].kind, "escalate");
        // Sweeping again at once changes nothing: each tier gets time.
        assert_eq!(w.app.sweep_cases().await.unwrap(), 0);
        assert_eq!(w.count(ignored, "escalate").await, 1);
        let overdue = w
            .app
            .list_cases(
                &w.desk,
                ListKind::All,
                &ListQuery {
                    overdue_only: true,
                    ..ListQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(overdue.total, 1);

        // Accepted but never dispatched: acceptance is the response, so the case is held to
        // its resolution deadline, and escalated when that passes.
        let parked = w.file(APPEAL, "受理后无人派单的路灯").await;
        w.advance(MINUTE);
        w.ok(&w.desk, parked, Action::Accept).await;
        let resolution_due = w.case(parked).await.resolution_due;
        w.set_time(resolution_due + MINUTE);
        w.app.sweep_cases().await.unwrap();
        let up = w.case(parked).await;
        assert_eq!(up.stage(), Stage::Accepted);
        assert_eq!(up.level, "street");
        assert!(up.overdue);
        assert_eq!(w.count(parked, "escalate").await, 1);
        assert_eq!(w.inbox_kinds(&w.street, parked).await.len(), 1);
        w.finish().await;
    })
    .await;
}

#[tokio::test]
async fn two_sweepers_on_one_database_escalate_each_case_once() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let mut ids = Vec::new();
        for i in 0..6 {
            ids.push(w.file(APPEAL, &format!("第{i}盏路灯不亮")).await);
        }
        let due = w.case(ids[0]).await.response_due;
        let later = due + MINUTE;
        w.set_time(later);
        let (other, _clock) = w.second_app(later).await;
        let (a, b) = tokio::join!(w.app.sweep_cases(), other.sweep_cases());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(
            a + b,
            ids.len(),
            "every case changed by exactly one sweeper"
        );
        for &id in &ids {
            assert_eq!(w.count(id, "escalate").await, 1, "case {id}");
            let case = w.case(id).await;
            assert_eq!(case.state.escalation_level, 1);
            assert_eq!(case.level, "street");
        }
        assert_eq!(
            w.app.inbox(&w.street, 1).await.unwrap().total,
            ids.len() as i64,
            "one notice per case"
        );
        other.store.close().await;

        // Restart: the sweepers were down for days. A fresh process catches up: a new case's
        // missed deadline, and a verified case whose rating window ran out meanwhile.
        w.set_time(later + MINUTE);
        let missed = w.file(APPEAL, "停机期间上报的路灯问题").await;
        let verified = w.file(APPEAL, "已修好待评价的路灯").await;
        w.to_resolved(verified).await;
        w.ok(&w.worker, verified, Action::VerifyPass).await;
        let restart_at = later + 10 * DAY;
        let (restarted, _clock) = w.second_app(restart_at).await;
        restarted.sweep_cases().await.unwrap();
        let m = w.case(missed).await;
        assert_eq!(w.count(missed, "escalate").await, 1);
        assert!(m.overdue);
        assert_eq!(m.level, "street");
        let v = w.case(verified).await;
        assert_eq!(v.stage(), Stage::Closed, "closed after the rating window");
        assert_eq!(v.closed_at, Some(restart_at));
        let close = w
            .events(verified)
            .await
            .into_iter()
            .filter(|e| e.action == "close")
            .collect::<Vec<_>>();
        assert_eq!(close.len(), 1);
        assert_eq!(close[0].actor_id, None);
        assert_eq!(w.count(verified, "escalate").await, 0);
        // The cases escalated before the restart climb one more tier, once.
        for &id in &ids {
            assert_eq!(w.count(id, "escalate").await, 2, "case {id}");
            assert_eq!(w.case(id).await.level, "department");
        }
        restarted.sweep_cases().await.unwrap();
        assert_eq!(w.count(missed, "escalate").await, 1, "no double escalation");
        restarted.store.close().await;
        w.finish().await;
    })
    .await;
}

// ----- 7. rating and reopening ---------------------------------------------------------------

#[tokio::test]
async fn an_unsatisfied_resident_may_reopen_within_seven_days() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let id = w.file(APPEAL, "路灯修了又坏").await;
        w.to_resolved(id).await;
        w.ok(&w.worker, id, Action::VerifyPass).await;
        let rated = w.ok(&w.resident, id, rate(Satisfaction::Unsatisfied)).await;
        assert_eq!(rated.stage(), Stage::Verified, "not closed after 不满意");
        assert!(
            w.app
                .case_detail(&w.resident, id)
                .await
                .unwrap()
                .actions
                .contains(&ActionKind::Reopen)
        );

        w.advance(6 * DAY);
        let reopened = w
            .ok(
                &w.resident,
                id,
                Action::Reopen {
                    reason: "第二天又不亮了".into(),
                },
            )
            .await;
        assert_eq!(reopened.stage(), Stage::InProgress);
        let stored = w.case(id).await;
        assert_eq!(stored.stage(), Stage::InProgress);
        assert_eq!(stored.state.rework_count, 1);
        assert_eq!(stored.state.rating, None, "the old rating no longer stands");
        assert_eq!(
            stored.handler_id, w.worker.user_id,
            "back with the same handler"
        );

        // Second round, unsatisfied again; eight days later it is too late.
        w.ok(&w.worker, id, resolve()).await;
        w.ok(&w.worker, id, Action::VerifyPass).await;
        w.ok(&w.resident, id, rate(Satisfaction::Unsatisfied)).await;
        w.advance(8 * DAY);
        let rows = w.events(id).await.len();
        let e = w
            .act(
                &w.resident,
                id,
                Action::Reopen {
                    reason: "还是不亮".into(),
                },
            )
            .await
            .unwrap_err();
        match &e {
            AppError::Conflict { message, .. } => {
                assert!(message.contains("7天"), "names the window: {message}")
            }
            other => panic!("expected Conflict, got {other:?}"),
        }
        assert_eq!(w.events(id).await.len(), rows);
        assert_eq!(w.case(id).await.state.rework_count, 1);
        assert!(
            !w.app
                .case_detail(&w.resident, id)
                .await
                .unwrap()
                .actions
                .contains(&ActionKind::Reopen)
        );
        w.finish().await;
    })
    .await;
}

// ----- 8. bad input --------------------------------------------------------------------------

#[tokio::test]
async fn bad_intake_is_refused_naming_the_field() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let ok = || w.intake(APPEAL, "路灯不亮");
        let mut cases: Vec<(&str, Option<&Actor>, Intake)> = Vec::new();

        let mut i = ok();
        i.category_id = 999_999;
        cases.push(("category", Some(&w.resident), i));
        let mut i = ok();
        i.location = Location::default();
        cases.push(("location", Some(&w.resident), i));
        let mut i = ok();
        i.location.point = Some((OUTSIDE.0, OUTSIDE.1, Crs::Wgs84));
        cases.push(("location", Some(&w.resident), i));
        let mut i = ok();
        i.description = "灯".repeat(jinlin_app::cases::MAX_DESCRIPTION_CHARS + 1);
        cases.push(("description", Some(&w.resident), i));
        let mut i = ok();
        i.description = "   ".into();
        cases.push(("description", Some(&w.resident), i));
        let mut i = ok();
        i.photos = vec![Upload {
            file_name: "lamp.gif".into(),
            bytes: b"GIF89a\x01\x00\x01\x00".to_vec(),
        }];
        cases.push(("photos", Some(&w.resident), i));
        let mut i = ok();
        i.photos = vec![Upload {
            file_name: "lamp.jpg".into(),
            bytes: b"this is not a picture".to_vec(),
        }];
        cases.push(("photos", Some(&w.resident), i));
        let mut i = ok();
        i.channel = Channel::Hotline;
        i.reporter_name = Some("张先生".into());
        cases.push(("reporter_phone", Some(&w.desk), i));
        let mut i = ok();
        i.channel = Channel::Hotline;
        i.reporter_phone = Some("1391234567".into());
        cases.push(("reporter_phone", Some(&w.desk), i));
        let mut i = ok();
        i.reporter_phone = Some("139123456789".into());
        cases.push(("reporter_phone", None, i));
        let mut i = ok();
        i.reporter_phone = None;
        cases.push(("reporter_phone", None, i));

        for (field, actor, intake) in cases {
            let what = format!(
                "{field}: {:?}",
                intake.description.chars().take(8).collect::<String>()
            );
            let e = w.app.file_case(actor, intake).await.unwrap_err();
            assert!(matches!(e, AppError::Invalid { .. }), "{what}: {e:?}");
            assert_eq!(field_of(&e), field, "{what}: {e}");
            assert_chinese(&e.to_string());
        }
        // Nothing was stored for any of them.
        let all = w
            .app
            .list_cases(&w.desk, ListKind::All, &ListQuery::default())
            .await
            .unwrap();
        assert_eq!(all.total, 0);

        // The same intake with a real phone number goes through (so the refusals above were
        // about the field named).
        let mut i = ok();
        i.channel = Channel::Hotline;
        i.reporter_phone = Some("13912345679".into());
        let id = w.app.file_case(Some(&w.desk), i).await.unwrap();
        assert_eq!(w.case(id).await.channel, "hotline");
        let mut i = ok();
        i.photos = vec![Upload {
            file_name: "lamp.png".into(),
            bytes: b"\x89PNG\r\n\x1a\n0000".to_vec(),
        }];
        let id = w.app.file_case(Some(&w.resident), i).await.unwrap();
        assert_eq!(w.app.store.case_photos(id).await.unwrap().len(), 1);
        w.finish().await;
    })
    .await;
}

// ----- 9. rework, extension, suspension ------------------------------------------------------

#[tokio::test]
async fn rework_extension_and_suspension() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let id = w.file(APPEAL, "路灯不亮").await;
        w.to_resolved(id).await;
        let failed = w
            .ok(
                &w.worker,
                id,
                Action::VerifyFail {
                    reason: "现场查看仍不亮".into(),
                },
            )
            .await;
        assert_eq!(failed.stage(), Stage::InProgress);
        let stored = w.case(id).await;
        assert_eq!(stored.state.rework_count, 1);
        assert_eq!(stored.stage(), Stage::InProgress);
        let fail_row = w.events(id).await.pop().unwrap();
        assert_eq!(fail_row.action, "verify_fail");
        assert_eq!(fail_row.from_stage.as_deref(), Some("resolved"));
        assert_eq!(fail_row.to_stage, "in_progress");

        // Extension: requested by the handler, approved by the desk; the deadline moves.
        let old_due = stored.resolution_due;
        let until = old_due + 5 * DAY;
        w.ok(
            &w.worker,
            id,
            Action::RequestExtension {
                until,
                reason: "需要供电公司配合更换线路".into(),
            },
        )
        .await;
        assert_eq!(
            w.case(id).await.resolution_due,
            old_due,
            "not before approval"
        );
        assert!(
            w.inbox_kinds(&w.desk, id)
                .await
                .contains("request_extension")
        );
        let e = w
            .act(&w.worker, id, Action::ApproveExtension)
            .await
            .unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
        w.ok(&w.desk, id, Action::ApproveExtension).await;
        let extended = w.case(id).await;
        assert_eq!(extended.resolution_due, until);
        assert_eq!(extended.state.extension_count, 1);
        assert!(extended.state.pending_extension.is_none());

        // Suspension: once approved, only resuming is possible.
        w.ok(
            &w.worker,
            id,
            Action::RequestSuspension {
                reason: "等待道路改造完成".into(),
            },
        )
        .await;
        w.ok(&w.desk, id, Action::ApproveSuspension).await;
        let parked = w.case(id).await;
        assert!(parked.state.suspended);
        assert_eq!(parked.stage(), Stage::InProgress, "the stage is kept");
        for who in [&w.worker, &w.desk] {
            let d = w.app.case_detail(who, id).await.unwrap();
            assert_eq!(d.actions, vec![ActionKind::Resume], "{}", who.username);
        }
        let rows = w.events(id).await.len();
        let e = w.act(&w.worker, id, resolve()).await.unwrap_err();
        match &e {
            AppError::Conflict { message, .. } => assert!(message.contains("挂账"), "{message}"),
            other => panic!("expected Conflict, got {other:?}"),
        }
        assert_eq!(w.events(id).await.len(), rows);
        // A parked case is not escalated, however long it waits.
        w.set_time(until + 30 * DAY);
        w.app.sweep_cases().await.unwrap();
        assert_eq!(w.count(id, "escalate").await, 0);

        w.ok(&w.worker, id, Action::Resume).await;
        assert!(!w.case(id).await.state.suspended);
        let resolved = w.ok(&w.worker, id, resolve()).await;
        assert_eq!(resolved.stage(), Stage::Resolved);
        w.finish().await;
    })
    .await;
}

// ----- whistle and report-in -----------------------------------------------------------------

#[tokio::test]
async fn a_whistle_calls_the_department_in_and_it_reports_in() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let id = w.file(APPEAL, "整条街的路灯线路老化").await;
        w.ok(&w.desk, id, Action::Accept).await;
        let whistled = w
            .app
            .act(
                &w.desk,
                id,
                Action::Whistle,
                ActionExtras {
                    whistle_units: vec![w.unit_id],
                    ..ActionExtras::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            whistled.stage(),
            Stage::Accepted,
            "a whistle keeps the stage"
        );
        assert_eq!(w.count(id, "whistle").await, 1);

        // Both members of the unit hear of it and find it among their tasks.
        for h in [&w.handler, &w.handler2] {
            assert!(
                w.inbox_kinds(h, id).await.contains("whistle"),
                "{} was not told of the whistle",
                h.username
            );
            let tasks = w
                .app
                .list_cases(h, ListKind::Tasks, &ListQuery::default())
                .await
                .unwrap();
            assert!(
                tasks.items.iter().any(|i| i.case.id == id),
                "{} does not find the case among the tasks",
                h.username
            );
        }
        let detail = w.app.case_detail(&w.handler, id).await.unwrap();
        assert!(detail.can_report_in);
        assert_eq!(detail.whistles.len(), 1);
        assert_eq!(detail.whistles[0].reported_in_at, None);

        // Someone without a unit cannot report in.
        let e = w.app.report_in(&w.resident, id).await.unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");

        w.advance(20 * MINUTE);
        w.app.report_in(&w.handler, id).await.unwrap();
        let row = w.events(id).await.pop().unwrap();
        assert_eq!(row.action, "report_in");
        assert_eq!(row.actor_id, w.handler.user_id);
        assert_eq!(row.to_stage, "accepted");
        let detail = w.app.case_detail(&w.handler2, id).await.unwrap();
        assert_eq!(detail.whistles[0].reported_in_at, Some(w.now()));
        assert!(!detail.can_report_in, "the unit has reported in");

        // Reporting in twice is refused and writes nothing.
        let rows = w.events(id).await.len();
        let e = w.app.report_in(&w.handler2, id).await.unwrap_err();
        assert!(matches!(e, AppError::Invalid { .. }), "{e:?}");
        assert_chinese(&e.to_string());
        assert_eq!(w.events(id).await.len(), rows);
        assert_eq!(w.count(id, "report_in").await, 1);
        // The case is no longer waiting for the unit.
        let tasks = w
            .app
            .list_cases(&w.handler2, ListKind::Tasks, &ListQuery::default())
            .await
            .unwrap();
        assert!(tasks.items.iter().all(|i| i.case.id != id));
        w.finish().await;
    })
    .await;
}

// ----- worklists and colours -----------------------------------------------------------------

#[tokio::test]
async fn worklists_show_each_person_what_waits_for_them() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let tasks = |who: &Actor| {
            let app = w.app.clone();
            let who = who.clone();
            async move {
                app.list_cases(&who, ListKind::Tasks, &ListQuery::default())
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|i| i.case.id)
                    .collect::<Vec<_>>()
            }
        };
        let id = w.file(APPEAL, "路灯不亮").await;
        assert_eq!(tasks(&w.desk).await, vec![id], "waits for acceptance");
        assert!(tasks(&w.worker).await.is_empty());
        w.ok(&w.desk, id, Action::Accept).await;
        w.ok(&w.desk, id, dispatch_to(&w.worker)).await;
        assert_eq!(tasks(&w.worker).await, vec![id]);
        w.ok(&w.worker, id, Action::Take).await;
        // Not ours: back to the desk, nobody handles it any more.
        let returned = w
            .ok(
                &w.worker,
                id,
                Action::Return {
                    reason: "属于供电公司线路".into(),
                },
            )
            .await;
        assert_eq!(returned.stage(), Stage::Accepted);
        assert_eq!(returned.handler_id, None);
        assert!(tasks(&w.worker).await.is_empty());
        assert_eq!(tasks(&w.desk).await, vec![id]);
        assert!(w.inbox_kinds(&w.desk, id).await.contains("return"));
        let e = w.act(&w.worker, id, resolve()).await.unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
        // Residents have no "all cases" list.
        let e = w
            .app
            .list_cases(&w.resident, ListKind::All, &ListQuery::default())
            .await
            .unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
        w.finish().await;
    })
    .await;
}

#[tokio::test]
async fn an_unanswered_help_request_shows_red_once_its_response_time_is_up() {
    use jinlin_domain::deadlines::Warning;
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let id = w.file(HELP, "独居老人电话打不通").await;
        let due = w.case(id).await.response_due;
        w.set_time(due + MINUTE);
        let detail = w.app.case_detail(&w.worker, id).await.unwrap();
        assert_eq!(detail.warning, Warning::Red, "nobody answered in time");
        let list = w
            .app
            .list_cases(&w.worker, ListKind::Tasks, &ListQuery::default())
            .await
            .unwrap();
        assert_eq!(list.items.len(), 1);
        assert_eq!(list.items[0].warning, Warning::Red);
        // Once taken, it is measured against the resolution limit again.
        w.ok(&w.worker, id, Action::Take).await;
        let detail = w.app.case_detail(&w.worker, id).await.unwrap();
        assert_ne!(detail.warning, Warning::Red);
        w.finish().await;
    })
    .await;
}

#[tokio::test]
async fn the_sweeper_does_not_close_while_a_reopen_is_still_allowed() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let id = w.file(APPEAL, "路灯亮度不够").await;
        w.to_resolved(id).await;
        w.ok(&w.worker, id, Action::VerifyPass).await;
        let verified_at = w.now();
        // Rated on the last day of the rating window; the sweeper runs after the window.
        w.set_time(verified_at + 6 * DAY);
        w.ok(&w.resident, id, rate(Satisfaction::Unsatisfied)).await;
        w.set_time(verified_at + 8 * DAY);
        w.app.sweep_cases().await.unwrap();
        assert_eq!(w.case(id).await.stage(), Stage::Verified);
        w.set_time(verified_at + 12 * DAY);
        w.app.sweep_cases().await.unwrap();
        let reopened = w
            .ok(
                &w.resident,
                id,
                Action::Reopen {
                    reason: "亮度还是不够".into(),
                },
            )
            .await;
        assert_eq!(reopened.stage(), Stage::InProgress);

        // Left unsatisfied and not reopened, it is closed once the reopen window ends.
        let other = w.file(APPEAL, "另一处路灯").await;
        w.to_resolved(other).await;
        w.ok(&w.worker, other, Action::VerifyPass).await;
        w.ok(&w.resident, other, rate(Satisfaction::Unsatisfied))
            .await;
        w.advance(7 * DAY + MINUTE);
        w.app.sweep_cases().await.unwrap();
        assert_eq!(w.case(other).await.stage(), Stage::Closed);
        assert_eq!(w.count(other, "close").await, 1);
        w.finish().await;
    })
    .await;
}

// ----- side paths: merge, urge, supervise ----------------------------------------------------

#[tokio::test]
async fn duplicates_are_merged_and_leaders_supervise() {
    on_every_backend(|db| async move {
        let w = World::new(db).await;
        let original = w.file(APPEAL, "3号路灯不亮").await;
        let duplicate = w.file(APPEAL, "3号路灯还是不亮").await;
        w.ok(&w.desk, original, Action::Accept).await;

        let e = w
            .act(&w.desk, duplicate, Action::Merge { into: duplicate })
            .await
            .unwrap_err();
        assert_eq!(field_of(&e), "into", "{e}");
        let merged = w
            .ok(&w.desk, duplicate, Action::Merge { into: original })
            .await;
        assert_eq!(merged.stage(), Stage::Merged);
        let stored = w.case(duplicate).await;
        assert_eq!(stored.merged_into, Some(original));
        assert!(stored.closed_at.is_some());
        assert!(
            w.inbox_kinds(&w.resident, duplicate)
                .await
                .contains("merge"),
            "the reporter is told the case was merged"
        );
        // Nothing merges into a case that has ended.
        let third = w.file(APPEAL, "3号路灯又不亮").await;
        let e = w
            .act(&w.desk, third, Action::Merge { into: duplicate })
            .await
            .unwrap_err();
        assert_eq!(field_of(&e), "into", "{e}");

        // The resident urges, the leader supervises with a deadline of its own.
        w.ok(&w.desk, original, dispatch_to(&w.worker)).await;
        w.ok(&w.worker, original, Action::Take).await;
        // Within the response limit someone is still due to answer: no urging yet.
        let early = w
            .act(&w.resident, original, Action::Urge)
            .await
            .unwrap_err();
        assert!(early.to_string().contains("响应时限"), "{early}");
        let due = w.case(original).await.response_due;
        w.advance(due - w.now() + MINUTE);
        w.ok(&w.resident, original, Action::Urge).await;
        assert_eq!(w.case(original).await.state.urge_count, 1);
        assert!(w.inbox_kinds(&w.worker, original).await.contains("urge"));
        let deadline = w.now() + 60 * MINUTE;
        let e = w
            .act(&w.desk, original, Action::Supervise { deadline })
            .await
            .unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
        w.ok(&w.leader, original, Action::Supervise { deadline })
            .await;
        assert_eq!(
            w.case(original).await.state.supervised_until,
            Some(deadline)
        );
        assert!(
            w.inbox_kinds(&w.worker, original)
                .await
                .contains("supervise")
        );
        let supervised = w
            .app
            .list_cases(
                &w.leader,
                ListKind::All,
                &ListQuery {
                    supervised_only: true,
                    ..ListQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(supervised.total, 1);
        // Missing the leader's deadline escalates, long before the resolution deadline.
        assert!(w.case(original).await.resolution_due > deadline + MINUTE);
        w.set_time(deadline + MINUTE);
        w.app.sweep_cases().await.unwrap();
        assert_eq!(w.count(original, "escalate").await, 1);
        assert!(w.case(original).await.overdue);
        w.finish().await;
    })
    .await;
}

#[tokio::test]
async fn a_burst_of_reports_is_written_whole_each_with_its_timeline() {
    on_every_backend(|db| async move {
        let w = std::sync::Arc::new(World::new(db).await);
        let mut tasks = Vec::new();
        for n in 0..40 {
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                w.app
                    .file_case(
                        Some(&w.resident),
                        w.intake(APPEAL, &format!("路灯不亮 #{n}")),
                    )
                    .await
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap().unwrap());
        }
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 40, "every report got its own case");
        for (n, id) in ids.iter().enumerate() {
            let case = w.case(*id).await;
            assert_eq!(
                case.description,
                format!("路灯不亮 #{n}"),
                "answers match their reports"
            );
            assert_eq!(w.count(*id, "report").await, 1, "one report row each");
        }
        // A refused report in the middle of a burst fails alone.
        let bad = Intake {
            description: "很".repeat(5000),
            ..w.intake(APPEAL, "")
        };
        let (a, b, c) = tokio::join!(
            w.app.file_case(Some(&w.resident), w.intake(APPEAL, "甲")),
            w.app.file_case(Some(&w.resident), bad),
            w.app.file_case(Some(&w.resident), w.intake(APPEAL, "乙")),
        );
        assert!(a.is_ok() && c.is_ok() && b.is_err());
    })
    .await;
}
