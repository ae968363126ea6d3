//! The closed loop (DESIGN section 4): intake from every channel through one use case, every
//! action through one use case, worklists, the deadline sweeper and the inbox.
//!
//! Who may do what: the domain says which [`ActorKind`] performs an action; this module says
//! which kinds an account is *for a given case* ([`App::actor_kinds`]) and which cases it may see
//! ([`App::can_view_case`]), so pages, the API and Open311 cannot drift apart.

use std::path::PathBuf;

use jinlin_domain::accounts::Role;
use jinlin_domain::cases::{
    self as rules, Action, ActionKind, ActorKind, Assignee, CaseState, Stage,
};
use jinlin_domain::categories::{self, CategorySpec, HandlingLevel};
use jinlin_domain::crs::Crs;
use jinlin_domain::deadlines::{self, Calendar, Warning};
use jinlin_domain::regions::RegionLevel;
use jinlin_store::cases::{
    CaseEffects, CaseFilter, CaseRow, CaseSummary, Category, EventRow, NewCase, NewCategory,
    NewEvent, NewNotification, NewPhoto, PhotoRow, Tasks, WhistleRow,
};
use jinlin_store::regions::Region;
use sha2::{Digest, Sha256};

use crate::{Actor, App, AppError, Page};

/// Hides the middle of a phone number: 138****5678 (the one rule lives in the domain).
pub use jinlin_domain::people::mask_phone;

/// Longest description, in characters (Open311 allows 4,000).
pub const MAX_DESCRIPTION_CHARS: usize = 4000;
/// Longest address or name text.
const MAX_SHORT_CHARS: usize = 200;

/// Where a case came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A resident's phone page (with or without an account).
    Resident,
    /// A grid worker's patrol report.
    Patrol,
    /// The hotline desk typing for a caller.
    Hotline,
    /// `POST /api/v1/cases`.
    Api,
    /// `POST /open311/v2/requests`.
    Open311,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Resident => "resident",
            Channel::Patrol => "patrol",
            Channel::Hotline => "hotline",
            Channel::Api => "api",
            Channel::Open311 => "open311",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        [
            Channel::Resident,
            Channel::Patrol,
            Channel::Hotline,
            Channel::Api,
            Channel::Open311,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// An uploaded file as received.
#[derive(Debug, Clone)]
pub struct Upload {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// Where the problem is: a point (any of the three coordinate systems) or a region node picked
/// from a list (a building, a grid), plus free address text.
#[derive(Debug, Clone, Default)]
pub struct Location {
    pub point: Option<(f64, f64, Crs)>,
    pub region_code: Option<String>,
    pub address: Option<String>,
}

/// A new case from any channel.
#[derive(Debug, Clone)]
pub struct Intake {
    pub channel: Channel,
    pub category_id: i64,
    pub description: String,
    pub location: Location,
    /// Required when nobody is signed in (a resident reporting without an account) and on the
    /// hotline desk (the caller's number).
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    pub photos: Vec<Upload>,
    /// Answers to the category's extra questions ([`jinlin_domain::questions`]): `(code,
    /// values)`, several values only for a multi-value list.
    pub answers: Vec<(String, Vec<String>)>,
    /// Set when an Open311 client filed it.
    pub open311: Option<Open311Origin>,
}

/// Who filed a request through Open311, and what it brought beyond a case.
#[derive(Debug, Clone)]
pub struct Open311Origin {
    pub key_id: i64,
    pub key_name: String,
    pub request: jinlin_store::open311::NewOpen311Request,
}

/// A case as a page or the API shows it to one actor.
#[derive(Debug, Clone)]
pub struct CaseDetail {
    pub case: CaseRow,
    pub events: Vec<EventRow>,
    pub photos: Vec<PhotoRow>,
    pub whistles: Vec<WhistleRow>,
    /// Actions this actor may take now, for buttons.
    pub actions: Vec<ActionKind>,
    pub warning: Warning,
    /// Whether the reporter's phone may be shown unmasked (only to the reporter).
    pub phone_clear: bool,
    /// The actor's unit may report in (报到) on a whistle.
    pub can_report_in: bool,
    /// The actor may change the category ([`App::reclassify`]).
    pub can_reclassify: bool,
    /// Answers to the category's extra questions: (question, answer as people read it).
    pub answers: Vec<(&'static str, String)>,
}

/// A case just filed, as intake wrote it.
#[derive(Debug, Clone)]
pub struct Filed {
    pub case: CaseRow,
    /// The timeline rows written with it, all at `at`.
    pub events: Vec<NewEvent>,
    pub at: i64,
    pub actions: Vec<ActionKind>,
    pub warning: Warning,
    pub phone_clear: bool,
}

/// A worklist line with its colour.
#[derive(Debug, Clone)]
pub struct WorkItem {
    pub case: CaseSummary,
    pub warning: Warning,
}

/// Which list a page asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// "我的任务": what waits for this person.
    Tasks,
    /// Every case of the jurisdiction.
    All,
    /// "我的诉求": what this person reported.
    Mine,
}

/// Options of a list besides its kind.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub stage: Option<Stage>,
    pub category_id: Option<i64>,
    pub overdue_only: bool,
    pub supervised_only: bool,
    pub open_only: bool,
    pub channel: Option<String>,
    pub q: Option<String>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub page: u32,
    pub page_size: u32,
}

/// Extra data some actions carry beyond the domain [`Action`].
#[derive(Debug, Clone, Default)]
pub struct ActionExtras {
    /// A free note added to the timeline row.
    pub note: Option<String>,
    pub photos: Vec<Upload>,
    /// Units called in by a whistle.
    pub whistle_units: Vec<i64>,
    /// The version the actor saw; a newer stored version means someone else acted first.
    pub expected_version: Option<i64>,
}

/// An upload that passed the checks: bytes, MIME type, file extension.
type CheckedPhoto = (Vec<u8>, &'static str, &'static str);

/// Accepted image types, by their first bytes (the file name and declared type are not trusted).
pub fn sniff_image(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "jpg"))
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(("image/png", "png"))
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(("image/webp", "webp"))
    } else {
        None
    }
}

fn check_text(field: &str, label: &str, value: &str, max: usize) -> Result<(), AppError> {
    let n = value.trim().chars().count();
    if n == 0 {
        return Err(AppError::invalid(field, format!("{label}：不能为空")));
    }
    if n > max {
        return Err(AppError::invalid(
            field,
            format!("{label}：不能超过 {max} 个字（现有 {n} 个字）"),
        ));
    }
    Ok(())
}

fn optional_text(
    field: &str,
    label: &str,
    value: &Option<String>,
) -> Result<Option<String>, AppError> {
    match value.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(v) => {
            check_text(field, label, v, MAX_SHORT_CHARS)?;
            Ok(Some(v.to_owned()))
        }
    }
}

fn level_of(assignee: Assignee) -> HandlingLevel {
    match assignee {
        Assignee::GridWorker(_) | Assignee::Team(_) => HandlingLevel::Grid,
        Assignee::Community(_) => HandlingLevel::Community,
        Assignee::Street(_) => HandlingLevel::Street,
        Assignee::Department(_) => HandlingLevel::Department,
    }
}

fn is_staff_response(kind: ActionKind) -> bool {
    !matches!(
        kind,
        ActionKind::Urge | ActionKind::Supervise | ActionKind::Escalate | ActionKind::Rate
    )
}

impl App {
    // ----- categories and calendar -----------------------------------------------------------

    /// Active categories, cached; parents before children.
    pub fn categories(&self) -> std::sync::Arc<Vec<Category>> {
        match self.categories.read() {
            Ok(g) => std::sync::Arc::clone(&g),
            Err(p) => std::sync::Arc::clone(&p.into_inner()),
        }
    }

    pub fn category(&self, id: i64) -> Option<Category> {
        self.categories().iter().find(|c| c.id == id).cloned()
    }

    pub fn category_by_code(&self, code: &str) -> Option<Category> {
        self.categories().iter().find(|c| c.code == code).cloned()
    }

    /// Stores the seeded taxonomy's categories that are not stored yet (every start; existing
    /// ones, possibly edited by an admin, are left alone).
    pub async fn seed_categories(&self) -> Result<usize, AppError> {
        let specs: Vec<NewCategory> = categories::seed().iter().map(new_category).collect();
        Ok(self.store.seed_categories(&specs, self.now()).await?)
    }

    /// Reloads the category cache (start-up, after an edit).
    pub async fn reload_categories(&self) -> Result<usize, AppError> {
        let all = self.store.categories(false).await?;
        let n = all.len();
        if let Ok(mut g) = self.categories.write() {
            *g = std::sync::Arc::new(all);
        }
        Ok(n)
    }

    /// The working-day calendar: the official holiday pattern plus the county's own edits.
    /// The unit a category is routed to at a place: the deepest region with a rule wins, then
    /// the most specific category (the case's own before its group). `category_ids` most
    /// specific first; `region_ids` root first.
    pub fn route_for(&self, category_ids: &[i64], region_ids: &[i64]) -> Option<i64> {
        let routes = match self.routes.read() {
            Ok(g) => std::sync::Arc::clone(&g),
            Err(p) => std::sync::Arc::clone(&p.into_inner()),
        };
        region_ids.iter().rev().find_map(|r| {
            category_ids
                .iter()
                .find_map(|c| routes.get(&(*c, *r)).copied())
        })
    }

    /// A category's id and its ancestors' ids, most specific first (routing looks them up in
    /// that order).
    pub fn category_chain(&self, category: &Category) -> Vec<i64> {
        let mut ids = vec![category.id];
        let mut parent = category.parent_id;
        while let Some(p) = parent {
            ids.push(p);
            parent = self.category(p).and_then(|c| c.parent_id);
        }
        ids
    }

    /// Reloads the routing table (start-up and after an edit).
    pub async fn reload_routes(&self) -> Result<usize, AppError> {
        let map: std::collections::HashMap<(i64, i64), i64> = self
            .store
            .all_routes()
            .await?
            .into_iter()
            .map(|(c, r, u)| ((c, r), u))
            .collect();
        let n = map.len();
        if let Ok(mut g) = self.routes.write() {
            *g = std::sync::Arc::new(map);
        }
        Ok(n)
    }

    pub fn calendar(&self) -> std::sync::Arc<Calendar> {
        match self.calendar.read() {
            Ok(g) => std::sync::Arc::clone(&g),
            Err(p) => std::sync::Arc::clone(&p.into_inner()),
        }
    }

    pub async fn reload_calendar(&self) -> Result<(), AppError> {
        let mut cal = deadlines::china_official(&deadlines::OFFICIAL_YEARS)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        for (day, kind, _) in self.store.calendar_days().await? {
            let Ok(date) = deadlines::Date::parse(&day) else {
                continue;
            };
            if kind == "holiday" {
                cal.add_holiday(date);
            } else {
                cal.add_workday(date);
            }
        }
        if let Ok(mut g) = self.calendar.write() {
            *g = std::sync::Arc::new(cal);
        }
        Ok(())
    }

    /// The colour of a case now: against the response limit until someone responds, then
    /// against the resolution limit.
    #[allow(clippy::too_many_arguments)]
    pub fn case_warning(
        &self,
        category_id: i64,
        stage: Stage,
        created_at: i64,
        responded: bool,
        response_due: i64,
        resolution_due: i64,
        urgency: deadlines::Urgency,
    ) -> Warning {
        if stage.is_terminal() || matches!(stage, Stage::Verified) {
            return Warning::Blue;
        }
        let cal = self.calendar();
        let Some(cat) = self.category(category_id) else {
            return if self.now() >= resolution_due {
                Warning::Red
            } else {
                Warning::Blue
            };
        };
        let now = self.now();
        if !responded {
            deadlines::warning(&cal, cat.response, created_at, response_due, now, urgency)
        } else {
            deadlines::warning(
                &cal,
                cat.resolution,
                created_at,
                resolution_due,
                now,
                urgency,
            )
        }
    }

    // ----- intake ----------------------------------------------------------------------------

    /// Files a case from any channel. `actor` is `None` for a resident without an account.
    /// Returns the new case's id once it is durably stored.
    pub async fn file_case(&self, actor: Option<&Actor>, intake: Intake) -> Result<i64, AppError> {
        self.file(actor, intake).await.map(|f| f.case.id)
    }

    /// [`App::file_case`], answering with the case as stored, built from what was written
    /// rather than read back (intake is the hot path; the API answers with this).
    pub async fn file(&self, actor: Option<&Actor>, intake: Intake) -> Result<Filed, AppError> {
        let now = self.now();
        // 0: the reporter did not know the category; the desk classifies it later.
        let category = if intake.category_id == 0 {
            self.category_by_code("other")
        } else {
            self.category(intake.category_id)
        }
        .ok_or_else(|| AppError::invalid("category", "事件分类：不存在或已停用，请重新选择"))?;
        check_text(
            "description",
            "问题描述",
            &intake.description,
            MAX_DESCRIPTION_CHARS,
        )?;
        let address = optional_text("address", "地址", &intake.location.address)?;
        let mut reporter_name = optional_text("reporter_name", "联系人", &intake.reporter_name)?;
        let mut reporter_phone = match intake
            .reporter_phone
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(p) => {
                crate::accounts::validate_mobile("reporter_phone", p)?;
                Some(p.to_owned())
            }
        };
        if (intake.channel == Channel::Open311) != intake.open311.is_some() {
            return Err(AppError::Internal(
                "an Open311 intake carries its origin, and only it".into(),
            ));
        }
        match (actor, intake.channel) {
            // An Open311 client answers for its requests with its key; a phone is optional.
            (None, Channel::Open311) => {}
            (None, _) | (Some(_), Channel::Hotline) if reporter_phone.is_none() => {
                return Err(AppError::invalid(
                    "reporter_phone",
                    "联系电话：未登录上报或热线代录时必须填写 11 位手机号码，便于回访",
                ));
            }
            _ => {}
        }
        if let Some(a) = actor {
            match intake.channel {
                Channel::Patrol
                    if !matches!(
                        a.role,
                        Role::GridWorker | Role::GridHead | Role::BuildingHead | Role::Police
                    ) =>
                {
                    return Err(AppError::Forbidden(
                        "只有网格员、网格长、楼栋长和民警可以巡查上报".into(),
                    ));
                }
                Channel::Hotline if !matches!(a.role, Role::CommunityAdmin | Role::StreetAdmin) => {
                    return Err(AppError::Forbidden(
                        "只有社区和街道受理员可以热线代录".into(),
                    ));
                }
                _ => {}
            }
            if intake.channel != Channel::Hotline {
                if reporter_name.is_none() {
                    reporter_name = Some(a.display_name.clone());
                }
                if reporter_phone.is_none()
                    && a.role == Role::Resident
                    && crate::accounts::validate_mobile("", &a.username).is_ok()
                {
                    reporter_phone = Some(a.username.clone());
                }
            }
        }
        let photos = self.check_photos(&intake.photos)?;
        let (chain, lat_lng) = self.resolve_location(actor, &intake.location).await?;
        // After the location: where it is matters more than the details, and is asked first.
        let answers = jinlin_domain::questions::check_answers(
            jinlin_domain::questions::questions_for(&category.code),
            &intake.answers,
        )
        .map_err(|e| AppError::invalid(&format!("answers.{}", e.code), e.message))?;
        let Some(region) = chain.last().cloned() else {
            return Err(AppError::Internal("empty region chain".into()));
        };
        let grid = chain.iter().find(|r| r.level == RegionLevel::Grid).cloned();
        let community = chain
            .iter()
            .find(|r| r.level == RegionLevel::Community)
            .cloned();
        let path_ids: Vec<i64> = chain.iter().map(|r| r.id).collect();
        let cat_ids = self.category_chain(&category);
        let unit_id = self.route_for(&cat_ids, &path_ids);

        let cal = self.calendar();
        let response_due = category.response.due(&cal, now);
        let onsite_due = category.onsite.map(|s| s.due(&cal, now));
        let resolution_due = category.resolution.due(&cal, now);

        // A help request in a grid with a grid worker goes straight to that worker (一拨我就来);
        // everything else waits for the desk to accept.
        let policy = rules::Policy::default();
        let mut state = CaseState::default();
        let mut more_events = Vec::new();
        let mut notify = Vec::new();
        let mut level = HandlingLevel::parse(&category.level).unwrap_or(HandlingLevel::Community);
        let grid_staff = match &grid {
            Some(g) => self.store.grid_staff(g.id).await?,
            None => Vec::new(),
        };
        let worker = grid_staff
            .iter()
            .find(|(_, _, kind)| kind == "grid_worker")
            .or_else(|| grid_staff.iter().find(|(_, _, kind)| kind == "grid_head"))
            .cloned();
        if category.kind == "help"
            && let Some((worker_id, worker_name, _)) = &worker
        {
            for action in [
                Action::Accept,
                Action::Dispatch {
                    to: Assignee::GridWorker(*worker_id),
                },
            ] {
                let t = rules::apply(&state, &action, ActorKind::Dispatcher, now, &policy)
                    .map_err(|e| AppError::Internal(e.to_string()))?;
                more_events.push(NewEvent {
                    actor_id: None,
                    actor_name: "系统".into(),
                    actor_role: "system".into(),
                    action: action.kind().as_str().into(),
                    from_stage: Some(t.from.as_str().into()),
                    to_stage: t.to.as_str().into(),
                    note: if matches!(action, Action::Accept) {
                        "求助类诉求自动受理".into()
                    } else {
                        format!("按网格自动派单至网格员{worker_name}")
                    },
                    public: true,
                });
                state = t.new_state;
            }
            level = HandlingLevel::Grid;
            notify.push(NewNotification {
                user_id: *worker_id,
                kind: "dispatch".into(),
                title: format!("新求助：{}", category.name),
                body: format!(
                    "{}，请{}内响应，{}到场",
                    short(&intake.description, 40),
                    category.response,
                    category
                        .onsite
                        .map(|s| format!("{s}内"))
                        .unwrap_or_default()
                ),
            });
        } else if let Some(c) = &community {
            for id in self
                .store
                .staff_at(c.id, Role::CommunityAdmin.as_str())
                .await?
            {
                notify.push(NewNotification {
                    user_id: id,
                    kind: "new_case".into(),
                    title: format!(
                        "新{}待受理：{}",
                        if category.kind == "help" {
                            "求助"
                        } else {
                            "案件"
                        },
                        category.name
                    ),
                    body: short(&intake.description, 60),
                });
            }
        }
        let tenant = region.tenant.clone();
        let new = NewCase {
            tenant: tenant.clone(),
            category_id: category.id,
            channel: intake.channel.as_str().into(),
            description: intake.description.trim().to_owned(),
            address,
            lat: lat_lng.map(|p| p.0),
            lng: lat_lng.map(|p| p.1),
            region_id: region.id,
            region_path: region.path.clone(),
            grid_id: grid.as_ref().map(|g| g.id),
            community_id: community.as_ref().map(|c| c.id),
            reporter_id: actor.and_then(|a| {
                if intake.channel == Channel::Hotline {
                    None
                } else {
                    a.user_id
                }
            }),
            reporter_name,
            reporter_phone,
            state: state.clone(),
            urgency: category.urgency,
            level: level.as_str().into(),
            unit_id,
            response_due,
            onsite_due,
            resolution_due,
            next_check_at: None,
            created_at: now,
        };
        let mut row_for_schedule = preview_row(&new, &category);
        row_for_schedule.state = state;
        let next = next_check(&row_for_schedule, &policy, now);
        let new = NewCase {
            next_check_at: next,
            ..new
        };
        let stored = self.store_photos(&photos).await?;
        let event = NewEvent {
            actor_id: actor.and_then(|a| a.user_id),
            actor_name: match (actor, &intake.open311) {
                (Some(a), _) => a.display_name.clone(),
                (None, Some(o)) => format!("Open311：{}", o.key_name),
                (None, None) => "居民（未登录）".into(),
            },
            actor_role: actor
                .map(|a| a.role.as_str().to_owned())
                .unwrap_or_else(|| "resident".into()),
            action: "report".into(),
            from_stage: None,
            to_stage: Stage::Reported.as_str().into(),
            note: format!(
                "{}：{}",
                jinlin_store::cases::channel_zh(intake.channel.as_str()),
                category.name
            ),
            public: true,
        };
        let effects = CaseEffects {
            event,
            more_events,
            photos: stored
                .into_iter()
                .map(|(sha, mime, bytes)| NewPhoto {
                    sha256: sha,
                    mime: mime.into(),
                    bytes,
                    uploaded_by: actor.and_then(|a| a.user_id),
                })
                .collect(),
            notifications: notify,
            answers,
            open311: intake.open311.map(|o| o.request),
            webhook: self.webhook_event(
                "case.created",
                None,
                &new.tenant,
                &category.code,
                Stage::Reported,
            ),
            ..CaseEffects::default()
        };
        let id = match &self.intake {
            Some(queue) => queue.file(new.clone(), effects.clone()).await?,
            None => self.store.create_case(&new, &effects).await?,
        };
        let mut case = preview_row(&new, &category);
        case.id = id;
        case.description = new.description;
        case.address = new.address;
        case.lat = new.lat;
        case.lng = new.lng;
        case.region_name = region.name.clone();
        case.grid_name = grid.as_ref().map(|g| g.name.clone());
        case.reporter_name = new.reporter_name;
        case.reporter_phone = new.reporter_phone;
        case.next_check_at = new.next_check_at;
        let mut events = vec![effects.event];
        events.extend(effects.more_events);
        let actions = match actor {
            Some(a) => self.actions_for(a, &case).await?,
            None => Vec::new(),
        };
        let warning = self.case_warning(
            case.category_id,
            case.stage(),
            case.created_at,
            false,
            case.response_due,
            case.resolution_due,
            case.urgency,
        );
        Ok(Filed {
            phone_clear: actor
                .is_some_and(|a| a.user_id.is_some() && a.user_id == case.reporter_id),
            at: now,
            case,
            events,
            actions,
            warning,
        })
    }

    /// The region a report is about, as its chain (root first, the region last): the grid the
    /// point falls in, or the node picked from a list; and the point in WGS-84 `(lat, lng)`.
    async fn resolve_location(
        &self,
        actor: Option<&Actor>,
        loc: &Location,
    ) -> Result<(std::sync::Arc<Vec<Region>>, Option<(f64, f64)>), AppError> {
        if let Some((lat, lng, crs)) = loc.point {
            let (chain, (wlng, wlat)) =
                self.locate_grid(lat, lng, crs).await.map_err(|e| match e {
                    AppError::NotFound(m) => AppError::invalid(
                        "location",
                        format!("位置：{m}，请在地图上重新选点或选择楼栋"),
                    ),
                    other => other,
                })?;
            return Ok((chain, Some((wlat, wlng))));
        }
        let Some(code) = loc
            .region_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        else {
            return Err(AppError::invalid(
                "location",
                "位置：请在地图上选点，或选择所在楼栋/网格",
            ));
        };
        let chain = self.region_chain(code).await?.ok_or_else(|| {
            AppError::invalid("location", format!("位置：区划编码 {code} 不存在"))
        })?;
        let Some(region) = chain.last() else {
            return Err(AppError::Internal("empty region chain".into()));
        };
        if !matches!(
            region.level,
            RegionLevel::Building
                | RegionLevel::Grid
                | RegionLevel::Compound
                | RegionLevel::Community
        ) {
            return Err(AppError::invalid(
                "location",
                "位置：请选择到社区、小区、网格或楼栋",
            ));
        }
        if let Some(a) = actor
            && a.role.is_staff()
            && !a.sees_path(&region.path)
        {
            return self.deny(a, &format!("region:{code}")).await;
        }
        let point = region.centroid.map(|(lng, lat)| (lat, lng));
        Ok((chain, point))
    }

    /// Checks every upload before anything is written.
    fn check_photos(&self, uploads: &[Upload]) -> Result<Vec<CheckedPhoto>, AppError> {
        let limits = &self.settings;
        if uploads.len() > limits.max_photos {
            return Err(AppError::invalid(
                "photos",
                format!("照片：最多 {} 张", limits.max_photos),
            ));
        }
        uploads
            .iter()
            .filter(|u| !u.bytes.is_empty())
            .map(|u| {
                if u.bytes.len() > limits.max_photo_bytes {
                    return Err(AppError::invalid(
                        "photos",
                        format!(
                            "照片“{}”：超过 {} MB 上限",
                            u.file_name,
                            limits.max_photo_bytes / (1024 * 1024)
                        ),
                    ));
                }
                let (mime, ext) = sniff_image(&u.bytes).ok_or_else(|| {
                    AppError::invalid(
                        "photos",
                        format!("照片“{}”：只接受 JPEG、PNG 或 WebP 图片", u.file_name),
                    )
                })?;
                Ok((u.bytes.clone(), mime, ext))
            })
            .collect()
    }

    /// Writes photos content-addressed under the data directory (durably, before the database
    /// row that names them): `(sha256, mime, bytes)`.
    async fn store_photos(
        &self,
        photos: &[CheckedPhoto],
    ) -> Result<Vec<(String, &'static str, i64)>, AppError> {
        let mut out = Vec::with_capacity(photos.len());
        for (bytes, mime, ext) in photos {
            let sha = hex(&Sha256::digest(bytes));
            let path = self.photo_path(&sha, ext);
            if tokio::fs::metadata(&path).await.is_err() {
                let dir = path.parent().map(PathBuf::from).unwrap_or_default();
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(|e| AppError::Internal(format!("照片目录：{e}")))?;
                let tmp = dir.join(format!(".{sha}.tmp"));
                let bytes = bytes.clone();
                let (tmp2, path2) = (tmp.clone(), path.clone());
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    use std::io::Write;
                    let mut f = std::fs::File::create(&tmp2)?;
                    f.write_all(&bytes)?;
                    f.sync_all()?;
                    std::fs::rename(&tmp2, &path2)
                })
                .await
                .map_err(|e| AppError::Internal(e.to_string()))?
                .map_err(|e| AppError::Internal(format!("保存照片：{e}")))?;
            }
            out.push((sha, *mime, bytes.len() as i64));
        }
        Ok(out)
    }

    fn photo_path(&self, sha: &str, ext: &str) -> PathBuf {
        let prefix = sha.get(..2).unwrap_or("00");
        self.settings
            .data_dir
            .join("photos")
            .join(prefix)
            .join(format!("{sha}.{ext}"))
    }

    /// A photo's bytes, if the actor may see its case.
    pub async fn case_photo(
        &self,
        actor: &Actor,
        photo_id: i64,
    ) -> Result<(String, Vec<u8>), AppError> {
        let photo = self
            .store
            .photo_by_id(photo_id)
            .await?
            .ok_or_else(|| AppError::NotFound("照片不存在".into()))?;
        self.case_for(actor, photo.case_id).await?;
        let ext = match photo.mime.as_str() {
            "image/png" => "png",
            "image/webp" => "webp",
            _ => "jpg",
        };
        let bytes = tokio::fs::read(self.photo_path(&photo.sha256, ext))
            .await
            .map_err(|_| AppError::NotFound("照片文件已丢失".into()))?;
        Ok((photo.mime, bytes))
    }

    // ----- reading ---------------------------------------------------------------------------

    /// The case, if the actor may see it (a refusal is audited).
    pub async fn case_for(&self, actor: &Actor, id: i64) -> Result<CaseRow, AppError> {
        let case = self
            .store
            .case_by_id(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("案件 #{id} 不存在")))?;
        if self.can_view_case(actor, &case).await? {
            Ok(case)
        } else {
            self.deny(actor, &format!("case:{id}")).await
        }
    }

    /// Jurisdiction for cases: residents see what they reported, volunteers what their team
    /// got, department handlers what reached their unit, other staff their subtree. System
    /// administrators do not read cases (personal data).
    pub async fn can_view_case(&self, actor: &Actor, case: &CaseRow) -> Result<bool, AppError> {
        let me = actor.user_id;
        Ok(match actor.role {
            Role::Sysadmin => false,
            Role::Resident => me.is_some() && case.reporter_id == me,
            Role::Volunteer => {
                case.reporter_id == me && me.is_some()
                    || case.handler_id == me && me.is_some()
                    || match (case.state.assignee, me) {
                        (Some(Assignee::Team(t)), Some(uid)) => {
                            self.store.teams_led_by(uid).await?.contains(&t)
                        }
                        _ => false,
                    }
            }
            Role::DepartmentHandler => {
                let unit = match me {
                    Some(uid) => self.store.user_unit(uid).await?,
                    None => None,
                };
                case.handler_id == me && me.is_some()
                    || unit.is_some_and(|u| {
                        case.unit_id == Some(u)
                            || case.state.assignee == Some(Assignee::Department(u))
                    })
                    || match unit {
                        Some(u) => self
                            .store
                            .case_whistles(case.id)
                            .await?
                            .iter()
                            .any(|w| w.unit_id == u),
                        None => false,
                    }
            }
            _ => actor.sees_path(&case.region_path),
        })
    }

    /// What the actor is for this case (several at once: a community desk dispatches and may
    /// also handle what was dispatched to the community).
    pub async fn actor_kinds(
        &self,
        actor: &Actor,
        case: &CaseRow,
    ) -> Result<Vec<ActorKind>, AppError> {
        let mut kinds = Vec::new();
        let Some(me) = actor.user_id else {
            return Ok(kinds);
        };
        if case.reporter_id == Some(me) {
            kinds.push(ActorKind::Reporter);
        }
        let in_scope = actor.sees_path(&case.region_path);
        if matches!(actor.role, Role::CommunityAdmin | Role::StreetAdmin) && in_scope {
            kinds.push(ActorKind::Dispatcher);
        }
        let handler = match case.state.assignee {
            Some(Assignee::GridWorker(uid)) => uid == me,
            Some(Assignee::Team(t)) => self.store.teams_led_by(me).await?.contains(&t),
            Some(Assignee::Department(u)) => {
                actor.role == Role::DepartmentHandler && self.store.user_unit(me).await? == Some(u)
            }
            Some(Assignee::Community(r)) => {
                actor.role == Role::CommunityAdmin && actor.region_id == r
            }
            Some(Assignee::Street(r)) => actor.role == Role::StreetAdmin && actor.region_id == r,
            None => false,
        };
        if handler || case.handler_id == Some(me) && case.state.assignee.is_some() {
            kinds.push(ActorKind::Handler);
        }
        let verifier = match case.grid_id {
            Some(g) => {
                matches!(actor.role, Role::GridWorker | Role::GridHead)
                    && self.store.grids_of_user(me).await?.contains(&g)
            }
            None => actor.role == Role::CommunityAdmin && in_scope,
        };
        if verifier {
            kinds.push(ActorKind::Verifier);
        }
        if actor.role == Role::Leader && in_scope {
            kinds.push(ActorKind::Leader);
        }
        Ok(kinds)
    }

    /// A case with its timeline, photos and the actions the actor may take now.
    pub async fn case_detail(&self, actor: &Actor, id: i64) -> Result<CaseDetail, AppError> {
        let case = self.case_for(actor, id).await?;
        let actions = self.actions_for(actor, &case).await?;
        let mut events = self.store.case_events(id).await?;
        if !actor.role.is_staff() {
            events.retain(|e| e.public);
        }
        let whistles = self.store.case_whistles(id).await?;
        let can_report_in = if actor.role == Role::DepartmentHandler {
            match actor.user_id {
                Some(uid) => match self.store.user_unit(uid).await? {
                    Some(u) => whistles
                        .iter()
                        .any(|w| w.unit_id == u && w.reported_in_at.is_none()),
                    None => false,
                },
                None => false,
            }
        } else {
            false
        };
        let warning = self.case_warning(
            case.category_id,
            case.stage(),
            case.created_at,
            case.responded_at.is_some(),
            case.response_due,
            case.resolution_due,
            case.urgency,
        );
        // Merging is the desk's alone and legal while the case is open.
        let can_reclassify = actions.contains(&ActionKind::Merge)
            && matches!(
                case.stage(),
                Stage::Reported | Stage::Accepted | Stage::Dispatched | Stage::InProgress
            );
        let questions = self
            .category(case.category_id)
            .map(|c| jinlin_domain::questions::questions_for(&c.code))
            .unwrap_or(&[]);
        let answers = self
            .store
            .case_answers(id)
            .await?
            .into_iter()
            .filter_map(|(code, value)| {
                let q = questions.iter().find(|q| q.code == code)?;
                Some((
                    q.description,
                    jinlin_domain::questions::answer_label(q, &value),
                ))
            })
            .collect();
        Ok(CaseDetail {
            answers,
            can_reclassify,
            phone_clear: case.reporter_id.is_some() && case.reporter_id == actor.user_id,
            photos: self.store.case_photos(id).await?,
            events,
            whistles,
            actions,
            warning,
            can_report_in,
            case,
        })
    }

    /// The actions `actor` may take on `case` now, in the order buttons show them.
    pub async fn actions_for(
        &self,
        actor: &Actor,
        case: &CaseRow,
    ) -> Result<Vec<ActionKind>, AppError> {
        let kinds = self.actor_kinds(actor, case).await?;
        let now = self.now();
        let policy = rules::Policy::default();
        let mut actions: Vec<ActionKind> = Vec::new();
        for &k in &kinds {
            for a in rules::available_actions(&case.state, k, now, &policy) {
                if reporter_may(k, a, case, now) && !actions.contains(&a) {
                    actions.push(a);
                }
            }
        }
        actions.sort_by_key(|a| ActionKind::ALL.iter().position(|x| x == a));
        Ok(actions)
    }

    /// A worklist page.
    pub async fn list_cases(
        &self,
        actor: &Actor,
        kind: ListKind,
        q: &ListQuery,
    ) -> Result<Page<WorkItem>, AppError> {
        if actor.role == Role::Sysadmin {
            return Err(AppError::Forbidden(
                "系统管理员不查看案件（个人信息保护）".into(),
            ));
        }
        if let Some(text) = &q.q
            && text.chars().count() > 50
        {
            return Err(AppError::invalid("q", "搜索词：不能超过 50 个字"));
        }
        let me = actor
            .user_id
            .ok_or_else(|| AppError::Forbidden("请先登录".into()))?;
        let mut f = CaseFilter {
            scope_path: actor.scope_path.clone(),
            // "Overdue" means late work still waiting; a finished case was late, not overdue.
            open_only: q.open_only || q.overdue_only,
            stage: q.stage,
            category_id: q.category_id,
            overdue_only: q.overdue_only,
            supervised_only: q.supervised_only,
            channel: q.channel.clone(),
            q: q.q.clone(),
            created_from: q.created_from,
            created_to: q.created_to,
            page: q.page.max(1),
            page_size: if q.page_size == 0 {
                20
            } else {
                q.page_size.min(100)
            },
            ..CaseFilter::default()
        };
        let restricted = matches!(
            actor.role,
            Role::Resident | Role::Volunteer | Role::DepartmentHandler
        );
        match kind {
            ListKind::Mine => {
                f.scope_path = "/".into();
                f.reporter_id = Some(me);
            }
            ListKind::All if restricted => {
                return Err(AppError::Forbidden(
                    "只能查看与本人或本单位有关的案件".into(),
                ));
            }
            ListKind::All => {}
            ListKind::Tasks => {
                let unit = if actor.role == Role::DepartmentHandler {
                    self.store.user_unit(me).await?
                } else {
                    None
                };
                if restricted {
                    f.scope_path = "/".into();
                }
                f.tasks = Some(Tasks {
                    user_id: me,
                    grid_ids: if matches!(actor.role, Role::GridWorker | Role::GridHead) {
                        self.store.grids_of_user(me).await?
                    } else {
                        Vec::new()
                    },
                    unit_id: unit,
                    team_ids: self.store.teams_led_by(me).await?,
                    desk: matches!(
                        actor.role,
                        Role::CommunityAdmin | Role::StreetAdmin | Role::Leader
                    ),
                });
            }
        }
        let (items, total) = self.store.list_cases(&f).await?;
        let items = items
            .into_iter()
            .map(|c| WorkItem {
                warning: self.case_warning(
                    c.category_id,
                    c.stage,
                    c.created_at,
                    c.responded_at.is_some(),
                    c.response_due,
                    c.resolution_due,
                    c.urgency,
                ),
                case: c,
            })
            .collect();
        Ok(Page {
            items,
            total,
            page: f.page,
            page_size: f.page_size,
        })
    }

    // ----- acting ----------------------------------------------------------------------------

    /// Performs one action on a case: checks jurisdiction and role, asks the state machine,
    /// and stores the new state with one timeline row. Two people acting at once: the second
    /// gets a conflict.
    pub async fn act(
        &self,
        actor: &Actor,
        case_id: i64,
        action: Action,
        extras: ActionExtras,
    ) -> Result<CaseRow, AppError> {
        let case = self.case_for(actor, case_id).await?;
        if let Some(v) = extras.expected_version
            && v != case.version
        {
            return Err(conflict());
        }
        let kinds = self.actor_kinds(actor, &case).await?;
        let kind = action.kind();
        let now = self.now();
        if kinds
            .iter()
            .all(|&k| !rules::allowed(kind, k) || !reporter_may(k, kind, &case, now))
            && kinds
                .iter()
                .any(|&k| k == ActorKind::Reporter && rules::allowed(kind, k))
        {
            return Err(AppError::Conflict {
                field: "action".into(),
                message: format!(
                    "催办：响应时限（{}）未到，工作人员会在时限内响应，到时仍无人处理再催办",
                    deadlines::format_cst(case.response_due)
                ),
            });
        }
        let Some(&as_kind) = kinds
            .iter()
            .find(|k| rules::allowed(kind, **k) && reporter_may(**k, kind, &case, now))
        else {
            let who: Vec<_> = ActorKind::ALL
                .iter()
                .filter(|&&k| rules::allowed(kind, k))
                .map(|k| k.zh())
                .collect();
            return Err(AppError::Forbidden(format!(
                "您不能对该案件执行“{}”：应由{}执行",
                kind.zh(),
                who.join("或")
            )));
        };
        let note = optional_long(&extras.note)?;
        self.check_action_data(actor, &case, &action, &extras)
            .await?;
        let photos = self.check_photos(&extras.photos)?;
        let updated = self
            .transition(
                &case,
                &action,
                as_kind,
                Some(actor),
                note,
                photos,
                &extras.whistle_units,
            )
            .await?;
        Ok(updated)
    }

    /// Checks what the state machine cannot: that a dispatch target or merge target exists
    /// and is within reach.
    async fn check_action_data(
        &self,
        actor: &Actor,
        case: &CaseRow,
        action: &Action,
        extras: &ActionExtras,
    ) -> Result<(), AppError> {
        match action {
            Action::Dispatch { to } => match *to {
                Assignee::GridWorker(uid) => {
                    let user = self
                        .store
                        .user_by_id(uid)
                        .await?
                        .filter(|u| {
                            u.active
                                && (actor.sees_path(&u.region_path)
                                    || case.region_path.starts_with(&u.region_path))
                        })
                        .ok_or_else(|| {
                            AppError::invalid("to", "派单对象：该网格员不存在或不在本辖区")
                        })?;
                    if !matches!(
                        user.role,
                        Role::GridWorker
                            | Role::GridHead
                            | Role::BuildingHead
                            | Role::CommunityAdmin
                    ) {
                        return Err(AppError::invalid(
                            "to",
                            "派单对象：只能派给网格员、网格长或楼栋长",
                        ));
                    }
                }
                Assignee::Team(t) => {
                    self.store
                        .team_by_id(t)
                        .await?
                        .ok_or_else(|| AppError::invalid("to", "派单对象：服务队不存在"))?;
                }
                Assignee::Department(u) => {
                    let unit = self
                        .store
                        .unit_by_id(u)
                        .await?
                        .ok_or_else(|| AppError::invalid("to", "派单对象：部门不存在"))?;
                    if unit.tenant != case.tenant || !unit.active {
                        return Err(AppError::invalid(
                            "to",
                            "派单对象：部门不属于本区县或已停用",
                        ));
                    }
                }
                Assignee::Community(r) | Assignee::Street(r) => {
                    let region = self
                        .store
                        .region_by_id(r)
                        .await?
                        .ok_or_else(|| AppError::invalid("to", "派单对象：区划不存在"))?;
                    if !case.region_path.starts_with(&region.path) {
                        return Err(AppError::invalid(
                            "to",
                            "派单对象：只能派给案件所在的社区或街道",
                        ));
                    }
                }
            },
            Action::Merge { into } => {
                if *into == case.id {
                    return Err(AppError::invalid("into", "合并目标：不能合并到案件本身"));
                }
                let target = self
                    .store
                    .case_by_id(*into)
                    .await?
                    .filter(|t| actor.sees_path(&t.region_path))
                    .ok_or_else(|| {
                        AppError::invalid(
                            "into",
                            format!("合并目标：案件 #{into} 不存在或不在本辖区"),
                        )
                    })?;
                if target.stage().is_terminal() {
                    return Err(AppError::invalid(
                        "into",
                        format!("合并目标：案件 #{into} 已结束"),
                    ));
                }
            }
            Action::Whistle => {
                if extras.whistle_units.is_empty() {
                    return Err(AppError::invalid("units", "吹哨：请至少选择一个部门"));
                }
                for &u in &extras.whistle_units {
                    let unit = self.store.unit_by_id(u).await?;
                    if unit.is_none_or(|x| x.tenant != case.tenant) {
                        return Err(AppError::invalid("units", "吹哨：所选部门不存在"));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies a legal action and stores it (shared by people and the sweeper).
    #[allow(clippy::too_many_arguments)]
    async fn transition(
        &self,
        case: &CaseRow,
        action: &Action,
        kind: ActorKind,
        actor: Option<&Actor>,
        note: Option<String>,
        photos: Vec<CheckedPhoto>,
        whistle_units: &[i64],
    ) -> Result<CaseRow, AppError> {
        let now = self.now();
        let policy = rules::Policy::default();
        let t = rules::apply(&case.state, action, kind, now, &policy).map_err(|e| {
            use rules::ErrorKind as E;
            match e.kind {
                E::Forbidden => AppError::Forbidden(e.to_string()),
                E::InvalidInput => AppError::invalid("action", e.to_string()),
                E::WrongStage | E::Suspended | E::Precondition => AppError::Conflict {
                    field: "stage".into(),
                    message: e.to_string(),
                },
            }
        })?;
        let ak = action.kind();
        let row = advance_row(
            case,
            &t,
            action,
            kind,
            actor.and_then(|a| a.user_id),
            now,
            &policy,
        );
        let mut text = t.note.clone();
        // The domain names the assignee by id; the timeline should say who it is.
        if let Action::Dispatch { to } = action {
            let verb = if t.from == Stage::Dispatched {
                "改派"
            } else {
                "派单"
            };
            text = format!("{verb}至{}", self.assignee_label(*to).await?);
        }
        if let Some(n) = &note {
            text.push_str("。备注：");
            text.push_str(n);
        }
        let stored = self.store_photos(&photos).await?;
        let notifications = self
            .notifications_for(&row, action, actor, whistle_units)
            .await?;
        let cat_code = self
            .category(row.category_id)
            .map(|c| c.code)
            .unwrap_or_default();
        let effects = CaseEffects {
            event: NewEvent {
                actor_id: actor.and_then(|a| a.user_id),
                actor_name: actor
                    .map(|a| a.display_name.clone())
                    .unwrap_or_else(|| "系统".into()),
                actor_role: actor
                    .map(|a| a.role.as_str().to_owned())
                    .unwrap_or_else(|| "system".into()),
                action: ak.as_str().into(),
                from_stage: Some(t.from.as_str().into()),
                to_stage: t.to.as_str().into(),
                note: text,
                public: !matches!(
                    ak,
                    ActionKind::Supervise | ActionKind::Escalate | ActionKind::Whistle
                ),
            },
            photos: stored
                .into_iter()
                .map(|(sha, mime, bytes)| NewPhoto {
                    sha256: sha,
                    mime: mime.into(),
                    bytes,
                    uploaded_by: actor.and_then(|a| a.user_id),
                })
                .collect(),
            notifications,
            webhook: self.webhook_event(
                &format!("case.{}", ak.as_str()),
                Some(row.id),
                &row.tenant,
                &cat_code,
                t.to,
            ),
            whistle_units: whistle_units.to_vec(),
            ..CaseEffects::default()
        };
        self.save_change(row, &effects, now).await
    }

    /// The desk changes a case's category (分类) while nobody has reported back on it: the
    /// routed unit, the urgency and the resolution deadline follow the new category (unless an
    /// extension was granted), the response deadline stays. One timeline row.
    pub async fn reclassify(
        &self,
        actor: &Actor,
        case_id: i64,
        category_id: i64,
        expected_version: Option<i64>,
    ) -> Result<CaseRow, AppError> {
        let case = self.case_for(actor, case_id).await?;
        if expected_version.is_some_and(|v| v != case.version) {
            return Err(conflict());
        }
        if !self
            .actor_kinds(actor, &case)
            .await?
            .contains(&ActorKind::Dispatcher)
        {
            return Err(AppError::Forbidden(
                "只有社区、街道受理员可以调整事件分类".into(),
            ));
        }
        if !matches!(
            case.stage(),
            Stage::Reported | Stage::Accepted | Stage::Dispatched | Stage::InProgress
        ) {
            return Err(AppError::Conflict {
                field: "stage".into(),
                message: format!("当前状态为“{}”，不能再调整分类", case.stage().zh()),
            });
        }
        let category = self
            .category(category_id)
            .ok_or_else(|| AppError::invalid("category", "事件分类：不存在或已停用"))?;
        if category.id == case.category_id {
            return Err(AppError::invalid("category", "事件分类：与原分类相同"));
        }
        let old_name = case.category_name.clone();
        let now = self.now();
        let policy = rules::Policy::default();
        let mut row = case.clone();
        row.category_id = category.id;
        row.category_name = category.name.clone();
        row.urgency = category.urgency;
        if row.state.extended_until.is_none() {
            row.resolution_due = category.resolution.due(&self.calendar(), case.created_at);
        }
        let chain: Vec<i64> = case
            .region_path
            .split('/')
            .filter_map(|s| s.parse().ok())
            .collect();
        let cat_ids = self.category_chain(&category);
        if !matches!(row.state.assignee, Some(Assignee::Department(_))) {
            row.unit_id = self.route_for(&cat_ids, &chain).or(row.unit_id);
        }
        if row.responded_at.is_none() {
            row.responded_at = Some(now);
        }
        row.next_check_at = next_check(&row, &policy, now);
        let effects = CaseEffects {
            event: NewEvent {
                actor_id: actor.user_id,
                actor_name: actor.display_name.clone(),
                actor_role: actor.role.as_str().into(),
                action: "reclassify".into(),
                from_stage: Some(case.stage().as_str().into()),
                to_stage: case.stage().as_str().into(),
                note: format!("分类由“{old_name}”调整为“{}”", category.name),
                public: true,
            },
            ..CaseEffects::default()
        };
        self.save_change(row, &effects, now).await
    }

    /// Stores a changed case with its timeline row and effects; a newer stored version means
    /// someone acted first.
    async fn save_change(
        &self,
        mut row: CaseRow,
        effects: &CaseEffects,
        now: i64,
    ) -> Result<CaseRow, AppError> {
        self.store
            .update_case(&row, effects, now)
            .await
            .map_err(|e| match e {
                jinlin_store::StoreError::Conflict { field } if field == "version" => conflict(),
                other => other.into(),
            })?;
        row.version += 1;
        Ok(row)
    }

    /// A department reports in (报到) on a whistle: one timeline row, no change of stage.
    pub async fn report_in(&self, actor: &Actor, case_id: i64) -> Result<(), AppError> {
        let case = self.case_for(actor, case_id).await?;
        let uid = actor
            .user_id
            .ok_or_else(|| AppError::Forbidden("请先登录".into()))?;
        let unit = match self.store.user_unit(uid).await? {
            Some(u) if actor.role == Role::DepartmentHandler => u,
            _ => {
                return Err(AppError::Forbidden(
                    "只有被召集部门的工作人员可以报到".into(),
                ));
            }
        };
        let now = self.now();
        let mut row = case.clone();
        if row.responded_at.is_none() {
            row.responded_at = Some(now);
        }
        let effects = CaseEffects {
            event: NewEvent {
                actor_id: Some(uid),
                actor_name: actor.display_name.clone(),
                actor_role: actor.role.as_str().into(),
                action: "report_in".into(),
                from_stage: Some(case.stage().as_str().into()),
                to_stage: case.stage().as_str().into(),
                note: "部门报到".into(),
                public: false,
            },
            report_in: Some((unit, uid)),
            ..CaseEffects::default()
        };
        self.save_change(row, &effects, now).await.map(|_| ())
    }

    /// Who hears about a change.
    async fn notifications_for(
        &self,
        row: &CaseRow,
        action: &Action,
        actor: Option<&Actor>,
        whistle_units: &[i64],
    ) -> Result<Vec<NewNotification>, AppError> {
        let mut users: Vec<i64> = Vec::new();
        let title;
        match action {
            Action::Dispatch { to } => {
                title = format!("新派单：案件 #{}", row.id);
                users.extend(self.assignee_users(*to, row).await?);
            }
            Action::Urge
            | Action::Supervise { .. }
            | Action::VerifyFail { .. }
            | Action::Reopen { .. } => {
                title = format!("案件 #{} {}", row.id, action.kind().zh());
                match row.handler_id {
                    Some(h) => users.push(h),
                    None => {
                        if let Some(a) = row.state.assignee {
                            users.extend(self.assignee_users(a, row).await?);
                        }
                    }
                }
            }
            Action::Resolve { .. } => {
                title = format!("案件 #{} 已办结，请核查", row.id);
                if let Some(g) = row.grid_id {
                    users.extend(self.store.grid_staff(g).await?.into_iter().map(|s| s.0));
                }
            }
            Action::Return { .. }
            | Action::RequestExtension { .. }
            | Action::RequestSuspension { .. } => {
                title = format!("案件 #{} {}，待处理", row.id, action.kind().zh());
                if let Some(c) = row.community_id {
                    users.extend(
                        self.store
                            .staff_at(c, Role::CommunityAdmin.as_str())
                            .await?,
                    );
                }
            }
            Action::Escalate => {
                title = format!(
                    "案件 #{} 超期升级至{}",
                    row.id,
                    HandlingLevel::parse(&row.level)
                        .map(|l| l.zh())
                        .unwrap_or("")
                );
                users.extend(self.escalation_targets(row).await?);
            }
            Action::Whistle => {
                title = format!("吹哨报到：案件 #{}", row.id);
                for &u in whistle_units {
                    users.extend(self.store.unit_members(u).await?);
                }
            }
            _ => {
                title = format!("您的诉求 #{} {}", row.id, row.state.stage.zh());
            }
        }
        // The reporter hears about the milestones of their case.
        if matches!(
            action,
            Action::Accept
                | Action::Reject { .. }
                | Action::Resolve { .. }
                | Action::VerifyPass
                | Action::Close
                | Action::Merge { .. }
        ) && let Some(r) = row.reporter_id
        {
            users.push(r);
        }
        let me = actor.and_then(|a| a.user_id);
        users.sort_unstable();
        users.dedup();
        Ok(users
            .into_iter()
            .filter(|u| Some(*u) != me)
            .map(|user_id| NewNotification {
                user_id,
                kind: action.kind().as_str().into(),
                title: title.clone(),
                body: short(&row.description, 60),
            })
            .collect())
    }

    /// "网格员庄晓婷", "服务队亲老帮帮团", "部门丰泽区城市管理局", "社区东霞社区" …
    async fn assignee_label(&self, to: Assignee) -> Result<String, AppError> {
        let name = match to {
            Assignee::GridWorker(uid) => self.store.user_by_id(uid).await?.map(|u| u.display_name),
            Assignee::Team(t) => self.store.team_by_id(t).await?.map(|t| t.name),
            Assignee::Department(u) => self.store.unit_by_id(u).await?.map(|u| u.name),
            Assignee::Community(r) | Assignee::Street(r) => {
                self.store.region_by_id(r).await?.map(|r| r.name)
            }
        };
        Ok(match (to, name) {
            (Assignee::GridWorker(_), Some(n)) => format!("网格员{n}"),
            (Assignee::Team(_), Some(n)) | (Assignee::Department(_), Some(n)) => n,
            (Assignee::Community(_) | Assignee::Street(_), Some(n)) => n,
            (_, None) => to.zh(),
        })
    }

    async fn assignee_users(&self, to: Assignee, row: &CaseRow) -> Result<Vec<i64>, AppError> {
        Ok(match to {
            Assignee::GridWorker(uid) => vec![uid],
            Assignee::Team(t) => self
                .store
                .team_by_id(t)
                .await?
                .and_then(|t| t.leader_id)
                .into_iter()
                .collect(),
            Assignee::Department(u) => self.store.unit_members(u).await?,
            Assignee::Community(r) => {
                self.store
                    .staff_at(r, Role::CommunityAdmin.as_str())
                    .await?
            }
            Assignee::Street(r) => {
                let _ = row;
                self.store.staff_at(r, Role::StreetAdmin.as_str()).await?
            }
        })
    }

    /// The people of the tier a case was escalated to.
    async fn escalation_targets(&self, row: &CaseRow) -> Result<Vec<i64>, AppError> {
        let level = HandlingLevel::parse(&row.level).unwrap_or(HandlingLevel::Community);
        let region = self.store.region_by_id(row.region_id).await?;
        let mut chain = match &region {
            Some(r) => self.store.ancestors(r).await?,
            None => Vec::new(),
        };
        chain.extend(region);
        let find = |lvl: RegionLevel| chain.iter().find(|r| r.level == lvl).map(|r| r.id);
        Ok(match level {
            HandlingLevel::Grid | HandlingLevel::Community => match find(RegionLevel::Community) {
                Some(c) => {
                    self.store
                        .staff_at(c, Role::CommunityAdmin.as_str())
                        .await?
                }
                None => Vec::new(),
            },
            HandlingLevel::Street => match find(RegionLevel::Street) {
                Some(s) => self.store.staff_at(s, Role::StreetAdmin.as_str()).await?,
                None => Vec::new(),
            },
            HandlingLevel::Department => {
                let mut users = match row.unit_id {
                    Some(u) => self.store.unit_members(u).await?,
                    None => Vec::new(),
                };
                if let Some(d) = find(RegionLevel::District) {
                    users.extend(self.store.staff_at(d, Role::Leader.as_str()).await?);
                }
                users
            }
        })
    }

    // ----- the sweeper -----------------------------------------------------------------------

    /// One round of the deadline sweeper: escalates cases whose deadline passed (one tier per
    /// round and step), closes cases whose rating window ran out, and reschedules the rest.
    /// Safe with several processes on one PostgreSQL: cases are claimed with a lease (`FOR
    /// UPDATE SKIP LOCKED`) and every change checks the case's version. Returns the number of
    /// cases changed.
    pub async fn sweep_cases(&self) -> Result<usize, AppError> {
        let now = self.now();
        let ids = self.store.claim_due_cases(now, 200, 60_000).await?;
        let policy = rules::Policy::default();
        let mut changed = 0;
        for id in ids {
            let Some(case) = self.store.case_by_id(id).await? else {
                continue;
            };
            let result = match sweep_action(&case, now, &policy) {
                Some(action) => self
                    .transition(
                        &case,
                        &action,
                        ActorKind::System,
                        None,
                        None,
                        Vec::new(),
                        &[],
                    )
                    .await
                    .map(|_| true),
                None => {
                    let (overdue, next) = sweep_schedule(&case, now, &policy);
                    self.store
                        .set_case_schedule(case.id, overdue, next)
                        .await
                        .map(|_| overdue && !case.overdue)
                        .map_err(AppError::from)
                }
            };
            match result {
                Ok(true) => changed += 1,
                Ok(false) => {}
                // Someone acted on the case meanwhile; it is rescheduled by that action.
                Err(AppError::Conflict { .. }) => {}
                Err(e) => tracing::warn!(case = id, error = %e, "sweeper could not update a case"),
            }
        }
        Ok(changed)
    }

    // ----- inbox -----------------------------------------------------------------------------

    pub async fn inbox(
        &self,
        actor: &Actor,
        page: u32,
    ) -> Result<Page<jinlin_store::cases::NotificationRow>, AppError> {
        let uid = actor
            .user_id
            .ok_or_else(|| AppError::Forbidden("请先登录".into()))?;
        let (items, total) = self.store.notifications(uid, page.max(1), 20).await?;
        Ok(Page {
            items,
            total,
            page: page.max(1),
            page_size: 20,
        })
    }

    pub async fn unread_count(&self, actor: &Actor) -> Result<i64, AppError> {
        match actor.user_id {
            Some(uid) => Ok(self.store.unread_count(uid).await?),
            None => Ok(0),
        }
    }

    pub async fn mark_read(&self, actor: &Actor, id: Option<i64>) -> Result<u64, AppError> {
        let uid = actor
            .user_id
            .ok_or_else(|| AppError::Forbidden("请先登录".into()))?;
        Ok(self.store.mark_read(uid, id, self.now()).await?)
    }

    /// The webhook delivery row for an event, when a webhook is configured.
    fn webhook_event(
        &self,
        event: &str,
        case_id: Option<i64>,
        tenant: &str,
        category: &str,
        stage: Stage,
    ) -> Option<(String, String)> {
        self.settings.webhook_url.as_ref()?;
        // No personal data leaves in the payload: the receiver asks the API for details.
        let payload = serde_json::json!({
            "event": event,
            "case_id": case_id,
            "district": tenant,
            "category": category,
            "stage": stage.as_str(),
            "at": self.now(),
        });
        Some((event.to_owned(), payload.to_string()))
    }
}

/// A reporter urges only once the response limit has passed: before that, someone is still
/// due to answer, and an urge would only page them twice.
fn reporter_may(kind: ActorKind, action: ActionKind, case: &CaseRow, now: i64) -> bool {
    !(kind == ActorKind::Reporter && action == ActionKind::Urge && now < case.response_due)
}

fn conflict() -> AppError {
    AppError::Conflict {
        field: "version".into(),
        message: "该案件刚被他人处理，请刷新后再操作".into(),
    }
}

fn optional_long(value: &Option<String>) -> Result<Option<String>, AppError> {
    match value.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(v) => {
            check_text("note", "备注", v, rules::MAX_TEXT_CHARS)?;
            Ok(Some(v.to_owned()))
        }
    }
}

fn short(s: &str, n: usize) -> String {
    let t: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        format!("{t}…")
    } else {
        t
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The deadline that matters now for a case.
pub(crate) fn current_due(case: &CaseRow, policy: &rules::Policy) -> Option<i64> {
    let s = &case.state;
    if s.stage.is_terminal() || s.suspended {
        return None;
    }
    if s.stage == Stage::Verified {
        // The sweeper's close waits for the rating window and, after an unsatisfied rating,
        // for the reopen window (`rules::check`); looking earlier would find nothing to do.
        return match (s.rating, s.rated_at) {
            (Some(rules::Satisfaction::Unsatisfied), Some(at)) => {
                Some(at + policy.reopen_window_ms)
            }
            _ => s.verified_at.map(|v| v + policy.rating_window_ms),
        };
    }
    let mut due = case.resolution_due;
    if case.responded_at.is_none() {
        due = due.min(case.response_due);
    }
    if let Some(onsite) = case.onsite_due
        && case.onsite_at.is_none()
    {
        due = due.min(onsite);
    }
    if let Some(sup) = s.supervised_until {
        due = due.min(sup);
    }
    Some(due)
}

fn due_passed(case: &CaseRow, now: i64) -> bool {
    current_due(case, &rules::Policy::default()).is_some_and(|d| now >= d)
}

/// When the sweeper must look at the case again: at its current deadline, or, once that has
/// passed, one escalation step later (the span of the case's own deadline, between 5 minutes
/// and a day), so each tier gets time before the next one is called.
pub(crate) fn next_check(case: &CaseRow, policy: &rules::Policy, now: i64) -> Option<i64> {
    let due = current_due(case, policy)?;
    if due > now {
        return Some(due);
    }
    if case.state.stage == Stage::Verified {
        return Some(now);
    }
    if case.state.escalation_level >= policy.max_escalation_level {
        return None;
    }
    let span = (due - case.created_at).clamp(5 * 60_000, 24 * 3_600_000);
    Some(now + span)
}

/// The row after a legal transition `t`: the columns the state machine does not keep (who took
/// it, the tier, response, on-site, resolution and closing times, the sweeper's next look).
/// Shared by [`App::transition`] and the demo county, so seeded cases are stored the same way.
pub(crate) fn advance_row(
    case: &CaseRow,
    t: &rules::Transition,
    action: &Action,
    kind: ActorKind,
    actor_id: Option<i64>,
    now: i64,
    policy: &rules::Policy,
) -> CaseRow {
    let mut row = case.clone();
    row.state = t.new_state.clone();
    let ak = action.kind();
    if kind != ActorKind::System
        && kind != ActorKind::Reporter
        && is_staff_response(ak)
        && row.responded_at.is_none()
    {
        row.responded_at = Some(now);
    }
    match action {
        Action::Take => row.handler_id = actor_id,
        Action::Return { .. } => row.handler_id = None,
        Action::Dispatch { to } => {
            row.handler_id = None;
            row.level = level_of(*to).as_str().into();
            if let Assignee::Department(u) = to {
                row.unit_id = Some(*u);
            }
        }
        Action::Arrive if row.onsite_at.is_none() => row.onsite_at = Some(now),
        Action::Resolve { .. } => row.resolved_at = Some(now),
        Action::Merge { into } => row.merged_into = Some(*into),
        Action::ApproveExtension => {
            if let Some(until) = row.state.extended_until {
                row.resolution_due = until;
            }
        }
        Action::Escalate => {
            let lvl = HandlingLevel::parse(&row.level).unwrap_or(HandlingLevel::Grid);
            row.level = lvl.next().unwrap_or(lvl).as_str().into();
            row.overdue = true;
        }
        _ => {}
    }
    if t.to.is_terminal() && row.closed_at.is_none() {
        row.closed_at = Some(now);
    }
    row.next_check_at = next_check(&row, policy, now);
    row
}

/// The sweeper's move on a case that came due: close a verified case whose rating window ran
/// out, escalate anything else past its deadline; None when neither is due or allowed.
pub(crate) fn sweep_action(case: &CaseRow, now: i64, policy: &rules::Policy) -> Option<Action> {
    let action = if case.stage() == Stage::Verified {
        Action::Close
    } else {
        Action::Escalate
    };
    let allowed = rules::check(&case.state, action.kind(), ActorKind::System, now, policy).is_ok();
    (allowed && due_passed(case, now)).then_some(action)
}

/// When the sweeper may not act (an action moved the deadline, or no tier is left): the
/// overdue flag and the next check, stored without a timeline row.
pub(crate) fn sweep_schedule(
    case: &CaseRow,
    now: i64,
    policy: &rules::Policy,
) -> (bool, Option<i64>) {
    let over = due_passed(case, now) && case.stage() != Stage::Verified;
    let next = if over {
        None
    } else {
        next_check(case, policy, now)
    };
    (case.overdue || over, next)
}

/// A row with the values a new case will have, for scheduling before it is stored.
pub(crate) fn preview_row(c: &NewCase, category: &Category) -> CaseRow {
    CaseRow {
        id: 0,
        tenant: c.tenant.clone(),
        category_id: c.category_id,
        category_name: category.name.clone(),
        category_kind: category.kind.clone(),
        channel: c.channel.clone(),
        description: String::new(),
        address: None,
        lat: None,
        lng: None,
        region_id: c.region_id,
        region_name: String::new(),
        region_path: c.region_path.clone(),
        grid_id: c.grid_id,
        grid_name: None,
        community_id: c.community_id,
        reporter_id: c.reporter_id,
        reporter_name: None,
        reporter_phone: None,
        state: c.state.clone(),
        urgency: c.urgency,
        level: c.level.clone(),
        handler_id: None,
        handler_name: None,
        unit_id: c.unit_id,
        unit_name: None,
        overdue: false,
        merged_into: None,
        response_due: c.response_due,
        responded_at: None,
        onsite_due: c.onsite_due,
        onsite_at: None,
        resolution_due: c.resolution_due,
        resolved_at: None,
        closed_at: None,
        next_check_at: None,
        created_at: c.created_at,
        updated_at: c.created_at,
        version: 0,
    }
}

/// The store's form of a category spec.
pub fn new_category(c: &CategorySpec) -> NewCategory {
    NewCategory {
        code: c.code.clone(),
        parent_code: c.parent.clone(),
        name: c.name.clone(),
        kind: c.kind.as_str().into(),
        standard_code: c.standard_code.clone(),
        standard: c.standard.clone(),
        response: c.response,
        onsite: c.onsite,
        resolution: c.resolution,
        urgency: c.urgency,
        level: c.level.as_str().into(),
        description: c.description.clone(),
        keywords: c.keywords.clone(),
        active: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(
            sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]).map(|x| x.0),
            Some("image/jpeg")
        );
        assert_eq!(
            sniff_image(b"\x89PNG\r\n\x1a\n....").map(|x| x.0),
            Some("image/png")
        );
        assert_eq!(
            sniff_image(b"RIFF\0\0\0\0WEBPVP8 ").map(|x| x.0),
            Some("image/webp")
        );
        assert_eq!(sniff_image(b"GIF89a"), None);
        assert_eq!(sniff_image(b"<svg></svg>"), None);
    }
}

/// Whom a desk may dispatch a case to, for the dispatch form.
#[derive(Debug, Clone, Default)]
pub struct DispatchOptions {
    /// `(user id, name, note)`: the case's grid staff first, then the community's.
    pub workers: Vec<(i64, String, String)>,
    /// `(team id, name)`.
    pub teams: Vec<(i64, String)>,
    /// `(unit id, name)`; the routed unit first.
    pub units: Vec<(i64, String)>,
    pub community: Option<(i64, String)>,
    pub street: Option<(i64, String)>,
}

impl App {
    /// The dispatch and whistle choices for a case the actor dispatches.
    pub async fn dispatch_options(
        &self,
        actor: &Actor,
        case: &CaseRow,
    ) -> Result<DispatchOptions, AppError> {
        let mut out = DispatchOptions::default();
        let Some(region) = self.store.region_by_id(case.region_id).await? else {
            return Ok(out);
        };
        let mut chain = self.store.ancestors(&region).await?;
        chain.push(region);
        let community = chain
            .iter()
            .find(|r| r.level == RegionLevel::Community)
            .cloned();
        let street = chain
            .iter()
            .find(|r| r.level == RegionLevel::Street)
            .cloned();
        if let Some(g) = case.grid_id {
            for (id, name, kind) in self.store.grid_staff(g).await? {
                if kind == "grid_worker" || kind == "grid_head" {
                    let post = if kind == "grid_worker" {
                        "本网格网格员"
                    } else {
                        "本网格网格长"
                    };
                    out.workers.push((id, name, post.into()));
                }
            }
        }
        if let Some(c) = &community {
            let (users, _) = self.store.list_users(&c.path, None, 1, 500).await?;
            for u in users {
                let fits = u.active
                    && matches!(
                        u.role,
                        Role::GridWorker | Role::GridHead | Role::BuildingHead
                    )
                    && (actor.sees_path(&u.region_path)
                        || case.region_path.starts_with(&u.region_path));
                if fits && !out.workers.iter().any(|w| w.0 == u.id) {
                    out.workers.push((
                        u.id,
                        u.display_name,
                        format!("{}·{}", u.role.zh(), u.region_name),
                    ));
                }
            }
        }
        let ids: Vec<i64> = chain.iter().map(|r| r.id).collect();
        out.teams = self
            .store
            .teams_along(&ids)
            .await?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect();
        let mut units: Vec<(i64, String)> = self
            .store
            .units(&case.tenant)
            .await?
            .into_iter()
            .filter(|u| u.active)
            .map(|u| (u.id, u.name))
            .collect();
        if let Some(routed) = case.unit_id
            && let Some(pos) = units.iter().position(|u| u.0 == routed)
        {
            let u = units.remove(pos);
            units.insert(0, u);
        }
        out.units = units;
        out.community = community.map(|c| (c.id, c.name));
        out.street = street.map(|s| (s.id, s.name));
        Ok(out)
    }

    /// Places a reporter may pick instead of a map pin: the buildings of a grid account, the
    /// grids of a community or street account. `(code, label)`.
    pub async fn location_choices(&self, actor: &Actor) -> Result<Vec<(String, String)>, AppError> {
        let Some(home) = self.store.region_by_id(actor.region_id).await? else {
            return Ok(Vec::new());
        };
        match home.level {
            RegionLevel::Grid | RegionLevel::Compound | RegionLevel::Building => {
                let grid = if home.level == RegionLevel::Building {
                    match home.parent_id {
                        Some(p) => self.store.region_by_id(p).await?.unwrap_or(home),
                        None => home,
                    }
                } else {
                    home
                };
                let mut out = vec![(grid.code.clone(), format!("{}（整个网格）", grid.name))];
                for b in self.store.children(grid.id, "/").await? {
                    out.push((b.code, b.name));
                }
                Ok(out)
            }
            _ => Ok(self
                .store
                .grid_boundaries(&home.path)
                .await?
                .into_iter()
                .map(|(code, name, _)| (code, name))
                .collect()),
        }
    }
}
