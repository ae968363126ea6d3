//! The demo county's case loop: handling units (县直部门 / 共建单位) with their accounts, routes
//! with street-level overrides, five volunteer teams per community, and about 3,000 cases over
//! the 90 days before `now`.
//!
//! Every case is played forward the way the running system would have produced it: intake as
//! `file_case` files it, then each planned step goes through the domain state machine
//! ([`rules::apply`]) and the same row bookkeeping as [`crate::App::act`], and between steps the
//! deadline sweeper takes its turns (escalating, marking overdue, closing after the rating
//! window). So the stored state, stage, deadlines, timestamps and timeline always agree, and a
//! case stops wherever the clock (or its plan) stops it.

use std::collections::HashMap;

use jinlin_domain::accounts::Role;
use jinlin_domain::cases::{self as rules, Action, ActorKind, Assignee, CaseState, Satisfaction};
use jinlin_domain::cases::{Policy, Stage};
use jinlin_domain::categories::{self, HandlingLevel};
use jinlin_domain::deadlines::{self, Calendar, DeadlineSpec};
use jinlin_domain::regions::{NewRegion, RegionLevel};
use jinlin_store::Store;
use jinlin_store::audit::NewAudit;
use jinlin_store::cases::{
    CaseRow, CaseSetup, Category, NewEvent, NewNotification, NewTeam, NewUnit, SeededCase,
    SeededWhistle,
};

use super::catalogue::{self as cat, KINDS, QINLAO, TEAM_KINDS, UNITS};
use super::{DISTRICT_CODE, People, Rng};
use crate::AppError;
use crate::cases::{advance_row, current_due, next_check, sweep_action, sweep_schedule};

/// Cases in the demo county, merged duplicates included.
pub const DEMO_CASES: usize = 3000;
/// How far back the cases go.
pub const DEMO_DAYS: i64 = 90;

const SEED: u64 = 0x4341_5345_5320_2026;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// How long after a case comes due the sweeper gets to it (it runs every few seconds).
const SWEEP_LAG: i64 = 20_000;
/// Share of duplicates (重复件) merged into an earlier case, per mille.
const MERGED_PER_MILLE: usize = 30;
/// Inbox messages are kept for the last few days only.
const INBOX_DAYS: i64 = 3;

/// A handling unit of the demo county and its accounts.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoUnit {
    pub name: String,
    /// department | partner
    pub kind: String,
    /// The street it serves, or None for the whole district.
    pub street_code: Option<String>,
    pub phone: String,
    pub handlers: Vec<String>,
}

/// A volunteer team and the username of its leader.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoTeam {
    pub community_code: String,
    pub name: String,
    pub leader: String,
}

/// Department handler accounts (one per unit; the first unit's is the headline `dept`) and
/// volunteer team leaders (the headline `volunteer` leads 东霞社区亲老服务队).
pub(super) fn plan_staff(
    p: &mut People<'_>,
    regions: &[NewRegion],
) -> (Vec<DemoUnit>, Vec<DemoTeam>) {
    let mut units = Vec::new();
    for (i, (key, name, short, kind, street)) in UNITS.iter().enumerate() {
        let street_code = (!street.is_empty()).then(|| format!("350503{street}000"));
        let username = if i == 0 {
            "dept".to_string()
        } else {
            let region = street_code.as_deref().unwrap_or(DISTRICT_CODE);
            let user = p.add(format!("bm{key}"), Role::DepartmentHandler, region);
            user.display_name = format!("{short}·{}", user.display_name);
            user.username.clone()
        };
        let phone = format!("0595-2{:07}", p.rng.next() % 10_000_000);
        units.push(DemoUnit {
            name: name.to_string(),
            kind: kind.to_string(),
            street_code,
            phone,
            handlers: vec![username],
        });
    }
    let mut teams = Vec::new();
    let communities = regions.iter().filter(|r| r.level == RegionLevel::Community);
    for (c, community) in communities.enumerate() {
        for (k, label) in TEAM_KINDS.iter().enumerate() {
            let leader = if c == 0 && k == QINLAO {
                "volunteer".to_string()
            } else {
                let username = format!("zyd{}{}", community.code, k + 1);
                p.add(username.clone(), Role::Volunteer, &community.code);
                username
            };
            teams.push(DemoTeam {
                community_code: community.code.clone(),
                name: format!("{}{label}", community.name),
                leader,
            });
        }
    }
    (units, teams)
}

/// Someone on a timeline row.
#[derive(Debug, Clone)]
struct Who {
    id: Option<i64>,
    name: String,
    role: &'static str,
}

impl Who {
    fn system() -> Who {
        Who {
            id: None,
            name: "系统".into(),
            role: "system",
        }
    }

    fn named(name: &str, role: &'static str) -> Who {
        Who {
            id: None,
            name: name.into(),
            role,
        }
    }
}

struct Building {
    id: i64,
    path: String,
    name: String,
}

struct Grid {
    id: i64,
    path: String,
    centroid: Option<(f64, f64)>,
    compound: String,
    buildings: Vec<Building>,
    community: usize,
    worker: Who,
}

struct Community {
    id: i64,
    street: usize,
    /// The community desk accounts.
    desk: Vec<Who>,
    /// (team id, leader) per [`TEAM_KINDS`].
    teams: Vec<(i64, Who)>,
}

struct Street {
    id: i64,
    admin: Who,
}

/// Everything a case plan needs, with database ids.
struct World {
    tenant: String,
    district_id: i64,
    cal: Calendar,
    policy: Policy,
    users: HashMap<String, Who>,
    categories: HashMap<String, Category>,
    grids: Vec<Grid>,
    communities: Vec<Community>,
    streets: Vec<Street>,
    /// (unit id, its handler)
    units: Vec<(i64, Who)>,
    /// (category id, region id) → unit index
    routes: HashMap<(i64, i64), usize>,
    leader: Who,
    resident: Who,
    resident_grid: usize,
}

impl World {
    fn user(&self, username: &str) -> Result<Who, AppError> {
        self.users
            .get(username)
            .cloned()
            .ok_or_else(|| AppError::Internal(format!("演示账号 {username} 未写入")))
    }

    fn category(&self, code: &str) -> Result<&Category, AppError> {
        self.categories
            .get(code)
            .ok_or_else(|| AppError::Internal(format!("演示用到的分类 {code} 不存在")))
    }

    /// The unit handling a category at a region path, as `Store::route_for` finds it: the
    /// deepest region with a route wins, then the most specific category.
    fn route(&self, category: &Category, path: &str) -> Option<usize> {
        let mut chain = vec![category.id];
        chain.extend(category.parent_id);
        let regions: Vec<i64> = path.split('/').filter_map(|s| s.parse().ok()).collect();
        regions.iter().rev().find_map(|r| {
            chain
                .iter()
                .find_map(|c| self.routes.get(&(*c, *r)).copied())
        })
    }
}

/// Writes units, teams, routes and the cases. Called once, right after the accounts.
pub(super) async fn seed(
    store: &Store,
    county: &super::DemoCounty,
    audit: &NewAudit,
    now: i64,
) -> Result<(), AppError> {
    let specs: Vec<_> = categories::seed()
        .iter()
        .map(crate::cases::new_category)
        .collect();
    store.seed_categories(&specs, now).await?;
    let mut world = load_world(store, county).await?;
    let setup = case_setup(&world, county)?;
    let (unit_ids, team_ids) = store.seed_case_setup(&setup, audit, now).await?;
    for (u, &id) in county.units.iter().zip(&unit_ids) {
        let handler = world.user(u.handlers.first().map_or("", String::as_str))?;
        world.units.push((id, handler));
    }
    for &(category, region, unit) in &setup.routes {
        world.routes.insert((category, region), unit);
    }
    for ((t, team), &id) in county.teams.iter().enumerate().zip(&team_ids) {
        let leader = world.user(&team.leader)?;
        if let Some(c) = world.communities.get_mut(t / TEAM_KINDS.len()) {
            c.teams.push((id, leader));
        }
    }
    let mut rng = Rng(SEED);
    let mut plans = featured(&world)?;
    plans.extend(random_plans(&mut rng, &world, now)?);
    let mut cases = Vec::with_capacity(plans.len());
    for plan in &plans {
        cases.push(play(&mut rng, &world, plan, now)?);
    }
    let ids = store.seed_cases(&cases).await?;
    let duplicates = duplicates(&mut rng, &world, &plans, &cases, &ids, now)?;
    store.seed_cases(&duplicates).await?;
    Ok(())
}

async fn load_world(store: &Store, county: &super::DemoCounty) -> Result<World, AppError> {
    let mut users = HashMap::new();
    for page in 1.. {
        let (batch, total) = store.list_users("/", None, page, 500).await?;
        let last = batch.is_empty() || i64::from(page) * 500 >= total;
        for u in batch {
            let who = Who {
                id: Some(u.id),
                name: u.display_name,
                role: u.role.as_str(),
            };
            users.insert(u.username, who);
        }
        if last {
            break;
        }
    }
    let get = |username: &str| -> Result<Who, AppError> {
        users
            .get(username)
            .cloned()
            .ok_or_else(|| AppError::Internal(format!("演示账号 {username} 未写入")))
    };
    let regions = store.regions_under("/").await?;
    let stored: HashMap<&str, &jinlin_store::regions::Region> =
        regions.iter().map(|r| (r.code.as_str(), r)).collect();
    let region = |code: &str| {
        stored
            .get(code)
            .copied()
            .ok_or_else(|| AppError::Internal(format!("演示区划 {code} 未写入")))
    };
    let planned = |level: RegionLevel| county.regions.iter().filter(move |r| r.level == level);
    let username_of = |role: Role, code: &str| -> Vec<String> {
        county
            .users
            .iter()
            .filter(|u| u.role == role && u.region_code == code)
            .map(|u| u.username.clone())
            .collect()
    };

    let mut streets = Vec::new();
    for s in planned(RegionLevel::Street) {
        let admin = username_of(Role::StreetAdmin, &s.code);
        streets.push(Street {
            id: region(&s.code)?.id,
            admin: get(admin.first().map_or("", String::as_str))?,
        });
    }
    let mut communities = Vec::new();
    let community_codes: Vec<&str> = planned(RegionLevel::Community)
        .map(|c| c.code.as_str())
        .collect();
    for c in planned(RegionLevel::Community) {
        let desk = username_of(Role::CommunityAdmin, &c.code)
            .iter()
            .map(|u| get(u))
            .collect::<Result<Vec<_>, _>>()?;
        let street = planned(RegionLevel::Street)
            .position(|s| c.parent_code.as_deref() == Some(s.code.as_str()))
            .unwrap_or(0);
        communities.push(Community {
            id: region(&c.code)?.id,
            street,
            desk,
            teams: Vec::new(),
        });
    }
    let mut grids = Vec::new();
    for g in planned(RegionLevel::Grid) {
        let here = region(&g.code)?;
        let compound = g
            .parent_code
            .as_deref()
            .and_then(|p| county.regions.iter().find(|r| r.code == p))
            .map(|r| r.name.clone())
            .unwrap_or_default();
        let mut buildings = Vec::new();
        for b in county
            .regions
            .iter()
            .filter(|b| b.parent_code.as_deref() == Some(g.code.as_str()))
        {
            let stored = region(&b.code)?;
            buildings.push(Building {
                id: stored.id,
                path: stored.path.clone(),
                name: b.name.clone(),
            });
        }
        let worker = county
            .users
            .iter()
            .find(|u| u.role == Role::GridWorker && u.posts.iter().any(|(_, code)| *code == g.code))
            .map_or("", |u| u.username.as_str());
        grids.push(Grid {
            id: here.id,
            path: here.path.clone(),
            centroid: here.centroid,
            compound,
            buildings,
            community: community_codes
                .iter()
                .position(|c| g.code.starts_with(c))
                .unwrap_or(0),
            worker: get(worker)?,
        });
    }
    let categories = store
        .categories(false)
        .await?
        .into_iter()
        .map(|c| (c.code.clone(), c))
        .collect();
    let cal = deadlines::china_official(&deadlines::OFFICIAL_YEARS)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let resident_grid = county
        .users
        .iter()
        .find(|u| u.username == "resident")
        .and_then(|u| planned(RegionLevel::Grid).position(|g| g.code == u.region_code))
        .unwrap_or(0);
    Ok(World {
        tenant: DISTRICT_CODE.to_string(),
        district_id: region(DISTRICT_CODE)?.id,
        cal,
        policy: Policy::default(),
        leader: get("leader")?,
        resident: get("resident")?,
        resident_grid,
        users,
        categories,
        grids,
        communities,
        streets,
        units: Vec::new(),
        routes: HashMap::new(),
    })
}

/// Units (bound to their street or the district), their accounts, teams and routes.
fn case_setup(world: &World, county: &super::DemoCounty) -> Result<CaseSetup, AppError> {
    let street_id = |code: &Option<String>| -> Option<i64> {
        let no = code.as_deref()?.get(6..9)?.parse::<usize>().ok()?;
        world.streets.get(no.checked_sub(1)?).map(|s| s.id)
    };
    let mut setup = CaseSetup {
        tenant: world.tenant.clone(),
        ..CaseSetup::default()
    };
    for (i, u) in county.units.iter().enumerate() {
        setup.units.push(NewUnit {
            name: u.name.clone(),
            kind: u.kind.clone(),
            region_id: street_id(&u.street_code).unwrap_or(world.district_id),
            phone: Some(u.phone.clone()),
        });
        for h in &u.handlers {
            if let Some(id) = world.user(h)?.id {
                setup.members.push((id, i));
            }
        }
    }
    for (t, team) in county.teams.iter().enumerate() {
        let community = world
            .communities
            .get(t / TEAM_KINDS.len())
            .ok_or_else(|| AppError::Internal(format!("服务队 {} 没有社区", team.name)))?;
        setup.teams.push(NewTeam {
            region_id: community.id,
            name: team.name.clone(),
            leader_id: world.user(&team.leader)?.id,
        });
    }
    let unit = |key: &str| {
        UNITS
            .iter()
            .position(|u| u.0 == key)
            .ok_or_else(|| AppError::Internal(format!("未知部门 {key}")))
    };
    for (code, key) in cat::DISTRICT_ROUTES {
        let c = world.category(code)?.id;
        setup.routes.push((c, world.district_id, unit(key)?));
    }
    for (code, street, key) in cat::STREET_ROUTES {
        let c = world.category(code)?.id;
        let s = street_id(&Some(format!("350503{street}000")))
            .ok_or_else(|| AppError::Internal(format!("未知街道 {street}")))?;
        setup.routes.push((c, s, unit(key)?));
    }
    Ok(setup)
}

// ----- plans --------------------------------------------------------------------------------

/// How a case is meant to go; [`play`] turns it into a timeline.
#[derive(Debug, Clone, Default)]
struct Plan {
    kind: usize,
    grid: usize,
    created: i64,
    channel: &'static str,
    /// Reported by the headline resident account.
    own: bool,
    /// Hand it to the community's team when the category has one.
    team: bool,
    /// The case goes no further than this stage.
    halt: Option<Stage>,
    reject: bool,
    whistle: bool,
    /// The whistled units have not reported in yet.
    whistle_open: bool,
    urge: bool,
    supervise: bool,
    extend: bool,
    /// The extension request still awaits approval.
    extend_pending: bool,
    suspend: bool,
    rework: bool,
    returned: bool,
    late_response: bool,
    late_resolution: bool,
    rating: Option<Satisfaction>,
    reopen: bool,
    /// A duplicate: merged into this case id, at the same place.
    merge_into: Option<(i64, Place)>,
}

#[derive(Debug, Clone, Default)]
struct Place {
    region_id: i64,
    path: String,
    address: String,
    point: Option<(f64, f64)>,
    description: String,
}

fn kind_index(code: &str) -> Result<usize, AppError> {
    KINDS
        .iter()
        .position(|k| k.code == code)
        .ok_or_else(|| AppError::Internal(format!("演示目录中没有分类 {code}")))
}

/// (category, grid, age in hours, channel, reported by the headline resident, halt, tweak)
type Featured = (
    &'static str,
    usize,
    i64,
    &'static str,
    bool,
    Option<Stage>,
    fn(&mut Plan),
);

/// Cases the headline accounts find in their lists: the grid worker's and the community's
/// queues, the resident's own appeals, the department's and the volunteer team's work.
fn featured(world: &World) -> Result<Vec<Plan>, AppError> {
    let home = world.resident_grid;
    let neighbours: Vec<usize> = (0..world.grids.len())
        .filter(|&g| g != home && world.grids[g].community == world.grids[home].community)
        .collect();
    let near = |i: usize| neighbours.get(i).copied().unwrap_or(home);
    let base = Plan {
        channel: "resident",
        rating: Some(Satisfaction::Satisfied),
        ..Plan::default()
    };
    use Stage::{Accepted, Dispatched, InProgress, Reported, Resolved, Verified};
    #[rustfmt::skip]
    let list: Vec<Featured> = vec![
        ("help.elderly", home, 2, "resident", true, Some(InProgress), |_| {}),
        ("sanitation.corridor", home, 70, "patrol", false, Some(Dispatched), |_| {}),
        ("repair.stair_light", home, 144, "resident", true, Some(InProgress), |_| {}),
        ("E06036", home, 20, "patrol", false, Some(Resolved), |_| {}),
        ("noise.household", home, 3, "resident", true, Some(Reported), |_| {}),
        ("dispute.neighbour", home, 40, "resident", true, Some(Accepted), |_| {}),
        ("parking.fire_lane", home, 26, "hotline", false, Some(InProgress), |p| p.urge = true),
        ("help.repair", home, 5, "hotline", false, Some(Dispatched), |_| {}),
        ("livelihood.elderly_care", home, 22, "resident", true, Some(Dispatched), |p| p.team = true),
        ("help.elderly", near(1), 3, "hotline", false, Some(InProgress), |p| p.team = true),
        ("livelihood.elderly_care", near(2), 300, "resident", false, Some(InProgress), |p| p.team = true),
        ("repair.pipe_leak", home, 480, "resident", true, None, |_| {}),
        ("safety.ebike_charging", home, 60, "resident", true, Some(Verified), |_| {}),
        ("sanitation.garbage", home, 100, "resident", true, None, |p| p.rating = Some(Satisfaction::Unsatisfied)),
        ("consult.policy", home, 200, "resident", true, None, |p| p.reject = true),
        ("C01.street_lamp", near(0), 48, "resident", false, Some(Dispatched), |_| {}),
        ("E07003", near(1), 110, "patrol", false, Some(InProgress), |_| {}),
        ("C01.street_lamp", near(2), 260, "hotline", false, Some(InProgress), |p| p.supervise = true),
        ("C03001", near(3), 30, "resident", false, Some(Accepted), |p| { p.whistle = true; p.whistle_open = true }),
        ("E06001", near(4), 50, "patrol", false, Some(InProgress), |p| { p.extend = true; p.extend_pending = true }),
        ("E06010", near(5), 1, "patrol", false, Some(Reported), |_| {}),
    ];
    let mut plans = Vec::new();
    for (code, grid, hours, channel, own, halt, edit) in list {
        let mut plan = Plan {
            kind: kind_index(code)?,
            grid,
            created: -hours * HOUR,
            channel: channel_id(channel),
            own,
            halt,
            ..base.clone()
        };
        edit(&mut plan);
        plans.push(plan);
    }
    Ok(plans)
}

fn channel_id(channel: &str) -> &'static str {
    match channel {
        "patrol" => "patrol",
        "hotline" => "hotline",
        "api" => "api",
        _ => "resident",
    }
}

/// Cases per hour of the day (China Standard Time): quiet at night, busiest mid-morning.
const HOURLY: [usize; 24] = [
    1, 1, 0, 0, 0, 1, 2, 4, 7, 9, 9, 8, 5, 5, 7, 8, 8, 7, 6, 6, 6, 4, 3, 2,
];

fn random_plans(rng: &mut Rng, world: &World, now: i64) -> Result<Vec<Plan>, AppError> {
    let featured = featured(world)?.len();
    let merged = DEMO_CASES * MERGED_PER_MILLE / 1000;
    let total_weight: u32 = KINDS.iter().map(|k| k.weight).sum();
    let hour_weight: usize = HOURLY.iter().sum();
    let today = deadlines::Date::from_epoch_ms(now).start_ms();
    let mut plans = Vec::new();
    for _ in 0..DEMO_CASES.saturating_sub(featured + merged) {
        let mut pick = (rng.next() % u64::from(total_weight.max(1))) as u32;
        let kind = KINDS
            .iter()
            .position(|k| {
                let hit = pick < k.weight;
                pick = pick.saturating_sub(k.weight);
                hit
            })
            .unwrap_or(0);
        let mut hour_pick = rng.below(hour_weight);
        let hour = HOURLY
            .iter()
            .position(|&w| {
                let hit = hour_pick < w;
                hour_pick = hour_pick.saturating_sub(w);
                hit
            })
            .unwrap_or(9) as i64;
        // Use has grown since the platform started, so recent days carry more cases.
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let day = ((DEMO_DAYS as f64) * (1.0 - u.sqrt())) as i64;
        let mut created = today - day * DAY + hour * HOUR + rng.below(60) as i64 * MINUTE;
        if created > now - 2 * MINUTE {
            created -= DAY;
        }
        let age = now - created;
        let k = &KINDS[kind];
        let help = k.code.starts_with("help.");
        let channel = if (rng.below(100) as u32) < k.patrol {
            "patrol"
        } else {
            match rng.below(10) {
                0..=4 => "resident",
                5..=7 => "hotline",
                _ if help => "hotline",
                _ => "api",
            }
        };
        let halt_share = if age < 2 * DAY {
            35
        } else if age < 10 * DAY {
            12
        } else {
            2
        };
        let halt = (rng.below(100) < halt_share).then(|| {
            if age < 10 * DAY {
                match rng.below(100) {
                    0..=7 => Stage::Reported,
                    8..=19 => Stage::Accepted,
                    20..=44 => Stage::Dispatched,
                    45..=79 => Stage::InProgress,
                    80..=91 => Stage::Resolved,
                    _ => Stage::Verified,
                }
            } else if rng.below(10) < 3 {
                Stage::Dispatched
            } else {
                Stage::InProgress
            }
        });
        let stuck = halt == Some(Stage::InProgress) && age > 10 * DAY;
        let mut plan = Plan {
            kind,
            grid: rng.below(world.grids.len().max(1)),
            created: created - now,
            channel,
            team: rng.below(2) == 0,
            halt,
            reject: !help && rng.below(100) < 4,
            whistle: !help && rng.below(100) < 4,
            urge: rng.below(100) < 8,
            supervise: rng.below(100) < 3 || stuck && rng.below(2) == 0,
            extend: rng.below(100) < 3,
            suspend: stuck && rng.below(100) < 35,
            rework: rng.below(100) < 5,
            returned: !help && rng.below(100) < 3,
            late_response: rng.below(100) < 4,
            late_resolution: rng.below(100) < 6,
            ..Plan::default()
        };
        plan.extend_pending = plan.extend && halt == Some(Stage::InProgress) && rng.below(2) == 0;
        plan.rating = match rng.below(100) {
            0..=21 => None,
            22..=27 => Some(Satisfaction::Unsatisfied),
            28..=39 => Some(Satisfaction::Basic),
            _ => Some(Satisfaction::Satisfied),
        };
        plan.reopen = plan.rating == Some(Satisfaction::Unsatisfied) && rng.below(10) < 6;
        plans.push(plan);
    }
    Ok(plans)
}

/// Duplicates (重复件) of earlier cases, reported by someone else shortly after and merged by
/// the community desk while the first case is still open.
fn duplicates(
    rng: &mut Rng,
    world: &World,
    plans: &[Plan],
    cases: &[SeededCase],
    ids: &[i64],
    now: i64,
) -> Result<Vec<SeededCase>, AppError> {
    let wanted = DEMO_CASES * MERGED_PER_MILLE / 1000;
    let mut out = Vec::new();
    for _ in 0..wanted * 20 {
        if out.len() >= wanted || cases.is_empty() {
            break;
        }
        let i = rng.below(cases.len());
        let (plan, case) = (&plans[i], &cases[i]);
        if KINDS[plan.kind].code.starts_with("help.") || plan.own {
            continue;
        }
        let created = case.row.created_at + (10 + rng.below(170) as i64) * MINUTE;
        let merge_by = created + 45 * MINUTE;
        if merge_by >= now || case.row.closed_at.is_some_and(|c| c <= merge_by) {
            continue;
        }
        let place = Place {
            region_id: case.row.region_id,
            path: case.row.region_path.clone(),
            address: case.row.address.clone().unwrap_or_default(),
            point: case.row.lat.zip(case.row.lng),
            description: format!("又有居民反映：{}", case.row.description),
        };
        let dup = Plan {
            kind: plan.kind,
            grid: plan.grid,
            created: created - now,
            channel: if rng.below(2) == 0 {
                "resident"
            } else {
                "hotline"
            },
            merge_into: Some((ids[i], place)),
            ..Plan::default()
        };
        out.push(play(rng, world, &dup, now)?);
    }
    Ok(out)
}

// ----- playing a plan -----------------------------------------------------------------------

/// Who performs a step; resolved to a person when the step is played.
#[derive(Debug, Clone, Copy)]
enum By {
    Desk,
    Handler,
    Verifier,
    Reporter,
    Leader,
    Unit(usize),
}

#[derive(Debug, Clone)]
enum Do {
    Act(Action),
    /// 督办 with a three-day deadline.
    Supervise,
    /// Ask for five more days.
    Extend(String),
    Whistle(Vec<usize>),
    ReportIn(usize),
}

#[derive(Debug, Clone, Copy)]
enum Gap {
    Ms(i64),
    /// At most this, and at most this share of the time left to the next deadline: people who
    /// are on time stay on time however short the limit.
    Capped(i64, f64),
    /// This share of the time left until the deadline that matters now (resolution, or a
    /// supervision deadline before it).
    DueShare(f64),
}

struct Step {
    gap: Gap,
    by: By,
    what: Do,
}

/// The case as it is built up, with its timeline.
struct Sim<'w> {
    world: &'w World,
    row: CaseRow,
    events: Vec<(i64, NewEvent)>,
    whistles: Vec<SeededWhistle>,
    grid: usize,
    desk: usize,
    reporter: Who,
    /// `(created_at, read_at, message)`; titles carry `{case}` for the id.
    inbox: Vec<(i64, Option<i64>, NewNotification)>,
    now: i64,
}

impl Sim<'_> {
    /// Inbox messages for the last few days, to the people `App::act` would tell.
    fn notify(&mut self, at: i64, action: &Action, actor: &Who) {
        if at < self.now - INBOX_DAYS * DAY {
            return;
        }
        let assignee = |sim: &Sim<'_>| -> Vec<Who> {
            match sim.row.state.assignee {
                Some(Assignee::Community(_)) => sim.community().desk.clone(),
                Some(_) => vec![sim.handler()],
                None => Vec::new(),
            }
        };
        let (title, mut to) = match action {
            Action::Dispatch { .. } => ("新派单：案件 #{case}".to_string(), assignee(self)),
            Action::Urge
            | Action::Supervise { .. }
            | Action::VerifyFail { .. }
            | Action::Reopen { .. } => {
                let title = format!("案件 #{{case}} {}", action.kind().zh());
                (title, assignee(self))
            }
            Action::Resolve { .. } => (
                "案件 #{case} 已办结，请核查".to_string(),
                vec![self.world.grids[self.grid].worker.clone()],
            ),
            Action::Return { .. }
            | Action::RequestExtension { .. }
            | Action::RequestSuspension { .. } => {
                let title = format!("案件 #{{case}} {}，待处理", action.kind().zh());
                (title, self.community().desk.clone())
            }
            _ => (
                format!("您的诉求 #{{case}} {}", self.row.state.stage.zh()),
                Vec::new(),
            ),
        };
        if matches!(
            action,
            Action::Accept
                | Action::Reject { .. }
                | Action::Resolve { .. }
                | Action::VerifyPass
                | Action::Close
        ) && self.reporter.id.is_some()
        {
            to.push(self.reporter.clone());
        }
        let body: String = self.row.description.chars().take(60).collect();
        let read = (at < self.now - DAY).then_some(at + HOUR);
        let mut seen = Vec::new();
        for who in to {
            let Some(user_id) = who
                .id
                .filter(|id| Some(*id) != actor.id && !seen.contains(id))
            else {
                continue;
            };
            seen.push(user_id);
            let message = NewNotification {
                user_id,
                kind: action.kind().as_str().into(),
                title: title.clone(),
                body: body.clone(),
            };
            self.inbox.push((at, read, message));
        }
    }

    fn community(&self) -> &Community {
        let grid = &self.world.grids[self.grid()];
        &self.world.communities[grid.community]
    }

    fn grid(&self) -> usize {
        self.grid
    }

    fn desk(&self) -> Who {
        let desk = &self.community().desk;
        desk.get(self.desk % desk.len().max(1))
            .cloned()
            .unwrap_or_else(Who::system)
    }

    /// Whoever holds the case now.
    fn handler(&self) -> Who {
        let w = self.world;
        match self.row.state.assignee {
            Some(Assignee::GridWorker(_)) | None => w.grids[self.grid()].worker.clone(),
            Some(Assignee::Team(t)) => self
                .community()
                .teams
                .iter()
                .find(|(id, _)| *id == t)
                .map(|(_, leader)| leader.clone())
                .unwrap_or_else(Who::system),
            Some(Assignee::Community(_)) => {
                let desk = &self.community().desk;
                desk.get((self.desk + 1) % desk.len().max(1))
                    .cloned()
                    .unwrap_or_else(Who::system)
            }
            Some(Assignee::Street(_)) => w.streets[self.community().street].admin.clone(),
            Some(Assignee::Department(u)) => w
                .units
                .iter()
                .find(|(id, _)| *id == u)
                .map(|(_, h)| h.clone())
                .unwrap_or_else(Who::system),
        }
    }

    fn person(&self, by: By) -> (Who, ActorKind) {
        match by {
            By::Desk => (self.desk(), ActorKind::Dispatcher),
            By::Handler => (self.handler(), ActorKind::Handler),
            By::Verifier => (
                self.world.grids[self.grid()].worker.clone(),
                ActorKind::Verifier,
            ),
            By::Reporter => (self.reporter.clone(), ActorKind::Reporter),
            By::Leader => (self.world.leader.clone(), ActorKind::Leader),
            By::Unit(u) => (
                self.world
                    .units
                    .get(u)
                    .map(|(_, h)| h.clone())
                    .unwrap_or_else(Who::system),
                ActorKind::Handler,
            ),
        }
    }

    fn record(
        &mut self,
        at: i64,
        who: &Who,
        action: &str,
        from: Stage,
        note: String,
        public: bool,
    ) {
        self.events.push((
            at,
            NewEvent {
                actor_id: who.id,
                actor_name: who.name.clone(),
                actor_role: who.role.into(),
                action: action.into(),
                from_stage: Some(from.as_str().into()),
                to_stage: self.row.state.stage.as_str().into(),
                note,
                public,
            },
        ));
        self.row.updated_at = at;
    }

    /// One transition, stored the way `App::transition` stores it.
    fn commit(
        &mut self,
        at: i64,
        action: &Action,
        t: &rules::Transition,
        kind: ActorKind,
        who: &Who,
    ) {
        self.row = advance_row(&self.row, t, action, kind, who.id, at, &self.world.policy);
        self.row.version += 1;
        if kind != ActorKind::System {
            self.notify(at, action, who);
        }
        let public = !matches!(
            action,
            Action::Supervise { .. } | Action::Escalate | Action::Whistle
        );
        self.record(
            at,
            who,
            action.kind().as_str(),
            t.from,
            t.note.clone(),
            public,
        );
    }

    /// The sweeper's rounds up to `until`.
    fn sweep_until(&mut self, until: i64) {
        let policy = &self.world.policy;
        // Each round escalates, closes or settles the schedule; a few dozen cover any case.
        for _ in 0..64 {
            let Some(next) = self.row.next_check_at else {
                return;
            };
            let at = next + SWEEP_LAG;
            if at > until {
                return;
            }
            match sweep_action(&self.row, at, policy) {
                Some(action) => {
                    match rules::apply(&self.row.state, &action, ActorKind::System, at, policy) {
                        Ok(t) => self.commit(at, &action, &t, ActorKind::System, &Who::system()),
                        Err(_) => self.row.next_check_at = None,
                    }
                }
                None => {
                    let (overdue, next) = sweep_schedule(&self.row, at, policy);
                    self.row.overdue = overdue;
                    self.row.next_check_at = next;
                }
            }
        }
    }
}

fn minutes(rng: &mut Rng, from: i64, to: i64) -> i64 {
    (from + rng.below((to - from).max(1) as usize) as i64) * MINUTE
}

fn share(rng: &mut Rng, from: f64, to: f64) -> f64 {
    from + (to - from) * (rng.next() >> 11) as f64 / (1u64 << 53) as f64
}

fn fill(text: &str, rng: &mut Rng, compound: &str, building: &str, road: &str) -> String {
    text.replace("{c}", compound)
        .replace("{b}", building)
        .replace("{r}", road)
        .replace("{u}", &(1 + rng.below(3)).to_string())
        .replace("{f}", &(2 + rng.below(16)).to_string())
}

fn reporter_name(rng: &mut Rng) -> String {
    let title = rng.pick(&["先生", "女士", "阿姨", "阿伯"]);
    format!("{}{title}", rng.pick(&super::SURNAMES))
}

fn mobile(rng: &mut Rng) -> String {
    format!(
        "{}{:08}",
        rng.pick(&super::MOBILE_PREFIXES),
        rng.next() % 100_000_000
    )
}

/// Files the case as intake would and plays its plan until it stops or `now` is reached.
fn play(rng: &mut Rng, world: &World, plan: &Plan, now: i64) -> Result<SeededCase, AppError> {
    let kind = &KINDS[plan.kind];
    let category = world.category(kind.code)?;
    let grid = &world.grids[plan.grid];
    let community = &world.communities[grid.community];
    let created = now + plan.created;
    let help = category.kind == "help";

    let place = match &plan.merge_into {
        Some((_, place)) => place.clone(),
        None => {
            let text = rng.pick(kind.texts);
            let road = rng.pick(&cat::ROADS);
            let building = &grid.buildings[rng.below(grid.buildings.len().max(1))];
            let description = fill(text, rng, &grid.compound, &building.name, road);
            if text.contains("{r}") {
                let jitter = |rng: &mut Rng| (rng.next() % 400) as f64 * 1e-6 - 2e-4;
                let point = grid
                    .centroid
                    .map(|(lng, lat)| (lat + jitter(rng), lng + jitter(rng)));
                Place {
                    region_id: grid.id,
                    path: grid.path.clone(),
                    address: format!("{road}{}号附近", 1 + rng.below(300)),
                    point,
                    description,
                }
            } else {
                Place {
                    region_id: building.id,
                    path: building.path.clone(),
                    address: format!("{}{}", grid.compound, building.name),
                    point: None,
                    description,
                }
            }
        }
    };
    let (reporter, reporter_phone, intake_actor) = if plan.own {
        (world.resident.clone(), None, world.resident.clone())
    } else if plan.channel == "patrol" {
        (grid.worker.clone(), None, grid.worker.clone())
    } else {
        let name = reporter_name(rng);
        let phone = mobile(rng);
        let actor = match plan.channel {
            "hotline" => community
                .desk
                .get(rng.below(community.desk.len().max(1)))
                .cloned()
                .unwrap_or_else(Who::system),
            "api" => Who::named("12345政务服务便民热线（接口）", "api"),
            _ => Who::named("居民（未登录）", "resident"),
        };
        (Who::named(&name, "resident"), Some(phone), actor)
    };
    let cal = &world.cal;
    let level = HandlingLevel::parse(&category.level).unwrap_or(HandlingLevel::Community);
    let unit = world.route(category, &place.path);
    let row = CaseRow {
        id: 0,
        tenant: world.tenant.clone(),
        category_id: category.id,
        category_name: category.name.clone(),
        category_kind: category.kind.clone(),
        channel: plan.channel.into(),
        description: place.description.clone(),
        address: Some(place.address.clone()),
        lat: place.point.map(|p| p.0),
        lng: place.point.map(|p| p.1),
        region_id: place.region_id,
        region_name: String::new(),
        region_path: place.path.clone(),
        grid_id: Some(grid.id),
        grid_name: None,
        community_id: Some(community.id),
        reporter_id: reporter.id,
        reporter_name: Some(reporter.name.clone()),
        reporter_phone,
        state: CaseState::default(),
        urgency: category.urgency,
        level: level.as_str().into(),
        handler_id: None,
        handler_name: None,
        unit_id: unit.and_then(|u| world.units.get(u)).map(|u| u.0),
        unit_name: None,
        overdue: false,
        merged_into: None,
        response_due: category.response.due(cal, created),
        responded_at: None,
        onsite_due: category.onsite.map(|s| s.due(cal, created)),
        onsite_at: None,
        resolution_due: category.resolution.due(cal, created),
        resolved_at: None,
        closed_at: None,
        next_check_at: None,
        created_at: created,
        updated_at: created,
        version: 0,
    };
    let mut sim = Sim {
        world,
        row,
        events: Vec::new(),
        whistles: Vec::new(),
        grid: plan.grid,
        desk: rng.below(2),
        reporter,
        inbox: Vec::new(),
        now,
    };
    let note = format!(
        "{}：{}",
        jinlin_store::cases::channel_zh(plan.channel),
        category.name
    );
    sim.events.push((
        created,
        NewEvent {
            actor_id: intake_actor.id,
            actor_name: intake_actor.name.clone(),
            actor_role: intake_actor.role.into(),
            action: "report".into(),
            from_stage: None,
            to_stage: Stage::Reported.as_str().into(),
            note,
            public: true,
        },
    ));
    if help {
        // 一拨我就来: intake accepts and dispatches a help request to the grid worker at once.
        for action in [
            Action::Accept,
            Action::Dispatch {
                to: Assignee::GridWorker(grid.worker.id.unwrap_or_default()),
            },
        ] {
            let t = rules::apply(
                &sim.row.state,
                &action,
                ActorKind::Dispatcher,
                created,
                &world.policy,
            )
            .map_err(|e| AppError::Internal(e.to_string()))?;
            sim.row.state = t.new_state;
            let note = if matches!(action, Action::Accept) {
                "求助类诉求自动受理".to_string()
            } else {
                format!("按网格自动派单至网格员{}", grid.worker.name)
            };
            let kind = action.kind();
            sim.record(created, &Who::system(), kind.as_str(), t.from, note, true);
        }
        sim.row.level = HandlingLevel::Grid.as_str().into();
    }
    sim.row.next_check_at = next_check(&sim.row, &world.policy, created);
    if created >= now - INBOX_DAYS * DAY && plan.merge_into.is_none() {
        let (kind, title, to) = if help {
            let title = format!("新求助：{}", category.name);
            ("dispatch", title, vec![grid.worker.clone()])
        } else {
            let title = format!("新案件待受理：{}", category.name);
            ("new_case", title, community.desk.clone())
        };
        let body: String = sim.row.description.chars().take(60).collect();
        let read = (created < now - DAY).then_some(created + HOUR);
        for user_id in to.iter().filter_map(|w| w.id) {
            let message = NewNotification {
                user_id,
                kind: kind.into(),
                title: title.clone(),
                body: body.clone(),
            };
            sim.inbox.push((created, read, message));
        }
    }

    let steps = script(rng, world, plan, &sim, category, unit);
    let mut at = created;
    for step in steps {
        let gap = match step.gap {
            Gap::Ms(ms) => ms,
            Gap::Capped(ms, f) => match current_due(&sim.row, &world.policy) {
                Some(due) if due > at => ms.min(((due - at) as f64 * f) as i64),
                _ => ms,
            },
            Gap::DueShare(f) => {
                let due = current_due(&sim.row, &world.policy).unwrap_or(sim.row.resolution_due);
                let left = due - at;
                if left > 0 {
                    ((left as f64 * f) as i64).max(10 * MINUTE)
                } else {
                    (f * 6.0 * HOUR as f64) as i64
                }
            }
        };
        at += gap.max(MINUTE / 2);
        if at > now {
            break;
        }
        sim.sweep_until(at);
        if sim.row.state.stage.is_terminal() {
            break;
        }
        let (who, kind) = sim.person(step.by);
        let (action, units) = match step.what {
            Do::Act(a) => (a, Vec::new()),
            Do::Supervise => (
                Action::Supervise {
                    deadline: at + 3 * DAY,
                },
                Vec::new(),
            ),
            Do::Extend(reason) => {
                let until = (sim.row.resolution_due.max(at) + 5 * DAY).min(at + 15 * DAY);
                (Action::RequestExtension { until, reason }, Vec::new())
            }
            Do::Whistle(units) => (Action::Whistle, units),
            Do::ReportIn(u) => {
                let unit_id = world.units.get(u).map(|x| x.0);
                let Some(w) = sim
                    .whistles
                    .iter_mut()
                    .find(|w| Some(w.unit_id) == unit_id && w.reported_in.is_none())
                else {
                    continue;
                };
                w.reported_in = Some((at, who.id.unwrap_or_default()));
                if sim.row.responded_at.is_none() {
                    sim.row.responded_at = Some(at);
                }
                sim.row.version += 1;
                let stage = sim.row.state.stage;
                sim.record(at, &who, "report_in", stage, "部门报到".into(), false);
                continue;
            }
        };
        let Ok(t) = rules::apply(&sim.row.state, &action, kind, at, &world.policy) else {
            break;
        };
        if plan.halt == Some(t.from) && t.to != t.from {
            break;
        }
        sim.commit(at, &action, &t, kind, &who);
        for u in units {
            if let Some(&(unit_id, _)) = world.units.get(u) {
                sim.whistles.push(SeededWhistle {
                    unit_id,
                    called_at: at,
                    called_by: who.id,
                    reported_in: None,
                });
            }
        }
    }
    sim.sweep_until(now);
    Ok(SeededCase {
        row: sim.row,
        events: sim.events,
        whistles: sim.whistles,
        notifications: sim.inbox,
    })
}

/// The steps a case is meant to take after intake.
fn script(
    rng: &mut Rng,
    world: &World,
    plan: &Plan,
    sim: &Sim<'_>,
    category: &Category,
    unit: Option<usize>,
) -> Vec<Step> {
    let step = |gap: i64, by: By, what: Do| Step {
        gap: Gap::Ms(gap),
        by,
        what,
    };
    let act = |gap: i64, by: By, a: Action| step(gap, by, Do::Act(a));
    let on_time = |gap: i64, by: By, a: Action| Step {
        gap: Gap::Capped(gap, 0.3),
        by,
        what: Do::Act(a),
    };
    let mut s = Vec::new();
    if let Some((into, _)) = &plan.merge_into {
        s.push(act(
            minutes(rng, 5, 40),
            By::Desk,
            Action::Merge { into: *into },
        ));
        return s;
    }
    let help = category.kind == "help";
    let grid = &world.grids[plan.grid];
    let community = &world.communities[grid.community];
    let response = match category.response {
        DeadlineSpec::NaturalMinutes(m) => i64::from(m),
        _ => 30,
    };
    let pick = |rng: &mut Rng, items: &[&str]| rng.pick(items).to_string();
    if plan.reject && !help {
        let gap = minutes(rng, 2, (response / 2).max(3));
        s.push(act(
            gap,
            By::Desk,
            Action::Reject {
                reason: pick(rng, &cat::REJECT_REASONS),
            },
        ));
        return s;
    }
    let team = team_kind_for(category)
        .filter(|_| plan.team)
        .and_then(|k| community.teams.get(k))
        .map(|(id, _)| Assignee::Team(*id));
    let department = unit
        .and_then(|u| world.units.get(u))
        .map(|(id, _)| Assignee::Department(*id));
    let by_level = match HandlingLevel::parse(&category.level) {
        Some(HandlingLevel::Grid) => Assignee::GridWorker(grid.worker.id.unwrap_or_default()),
        Some(HandlingLevel::Street) => Assignee::Street(world.streets[community.street].id),
        Some(HandlingLevel::Department) => department.unwrap_or(Assignee::Community(community.id)),
        _ => Assignee::Community(community.id),
    };
    let target = team.unwrap_or(by_level);
    if !help {
        if plan.whistle {
            let mut units: Vec<usize> = unit.into_iter().collect();
            let extra = [0, 1, 7][rng.below(3)];
            if !units.contains(&extra) {
                units.push(extra);
            }
            s.push(step(
                minutes(rng, 3, 20),
                By::Desk,
                Do::Whistle(units.clone()),
            ));
            if !plan.whistle_open {
                for u in units {
                    s.push(step(minutes(rng, 10, 120), By::Unit(u), Do::ReportIn(u)));
                }
            }
        }
        if plan.late_response {
            let late = (response as f64 * share(rng, 1.2, 3.0)) as i64 * MINUTE;
            s.push(act(late, By::Desk, Action::Accept));
        } else {
            let accept = if plan.channel == "hotline" {
                minutes(rng, 1, 5)
            } else {
                ((response as f64 * share(rng, 0.1, 0.7)) as i64).max(1) * MINUTE
            };
            s.push(on_time(accept, By::Desk, Action::Accept));
        }
        let gap = minutes(rng, 2, 30);
        s.push(on_time(gap, By::Desk, Action::Dispatch { to: target }));
    } else if let Some(team) = team {
        // The desk hands the request on to the community's team (改派) before anyone takes it.
        let gap = minutes(rng, 1, 3);
        s.push(on_time(gap, By::Desk, Action::Dispatch { to: team }));
    }
    let take_gap = |rng: &mut Rng, to: Assignee| {
        if help {
            if plan.late_response {
                minutes(rng, 6, 20)
            } else {
                minutes(rng, 1, 4)
            }
        } else if category.onsite.is_some() {
            minutes(rng, 2, 10)
        } else {
            match to {
                Assignee::GridWorker(_) => minutes(rng, 5, 90),
                Assignee::Team(_) => minutes(rng, 10, 120),
                Assignee::Community(_) => minutes(rng, 10, 240),
                Assignee::Street(_) => minutes(rng, 30, 360),
                Assignee::Department(_) => minutes(rng, 60, 1200),
            }
        }
    };
    // Late cases take their time; the others keep to the deadline however short it is.
    let take = |gap: i64| Step {
        gap: if plan.late_response {
            Gap::Ms(gap)
        } else {
            Gap::Capped(gap, 0.3)
        },
        by: By::Handler,
        what: Do::Act(Action::Take),
    };
    let first = if help {
        team.unwrap_or(Assignee::GridWorker(0))
    } else {
        target
    };
    if plan.returned && !help {
        let reason = pick(rng, &cat::RETURN_REASONS);
        let gap = take_gap(rng, first);
        s.push(on_time(gap, By::Handler, Action::Return { reason }));
        let alt = match target {
            Assignee::Department(_) => Assignee::Community(community.id),
            _ => department.unwrap_or(Assignee::GridWorker(grid.worker.id.unwrap_or_default())),
        };
        let gap = minutes(rng, 10, 60);
        s.push(on_time(gap, By::Desk, Action::Dispatch { to: alt }));
        s.push(take(take_gap(rng, alt)));
    } else {
        s.push(take(take_gap(rng, first)));
    }
    if category.onsite.is_some() {
        let gap = if help {
            minutes(rng, 8, 20)
        } else {
            minutes(rng, 5, 15)
        };
        s.push(on_time(gap, By::Handler, Action::Arrive));
    }
    let has_account = sim.reporter.id.is_some();
    if plan.urge {
        // A resident with an account urges from the phone; callers urge through the desk.
        let by = if plan.own { By::Reporter } else { By::Desk };
        s.push(act(minutes(rng, 60, 2880), by, Action::Urge));
    }
    if plan.supervise {
        s.push(step(minutes(rng, 30, 1440), By::Leader, Do::Supervise));
    }
    if plan.extend {
        s.push(step(
            minutes(rng, 60, 600),
            By::Handler,
            Do::Extend(pick(rng, &cat::EXTENSION_REASONS)),
        ));
        if !plan.extend_pending {
            s.push(act(
                minutes(rng, 30, 240),
                By::Desk,
                Action::ApproveExtension,
            ));
        }
    }
    if plan.suspend {
        let reason = pick(rng, &cat::SUSPENSION_REASONS);
        s.push(act(
            minutes(rng, 60, 600),
            By::Handler,
            Action::RequestSuspension { reason },
        ));
        s.push(act(
            minutes(rng, 30, 240),
            By::Desk,
            Action::ApproveSuspension,
        ));
    }
    let result = KINDS[plan.kind].result.to_string();
    let resolve_share = if plan.late_resolution {
        share(rng, 1.1, 1.8)
    } else {
        share(rng, 0.1, 0.85)
    };
    s.push(Step {
        gap: Gap::DueShare(resolve_share),
        by: By::Handler,
        what: Do::Act(Action::Resolve {
            result: result.clone(),
        }),
    });
    if plan.rework {
        let reason = pick(rng, &cat::FAIL_REASONS);
        s.push(act(
            minutes(rng, 20, 360),
            By::Verifier,
            Action::VerifyFail { reason },
        ));
        s.push(act(
            minutes(rng, 120, 1440),
            By::Handler,
            Action::Resolve {
                result: result.clone(),
            },
        ));
    }
    s.push(on_time(
        minutes(rng, 20, 360),
        By::Verifier,
        Action::VerifyPass,
    ));
    if plan.channel == "patrol" {
        s.push(act(minutes(rng, 60, 1200), By::Desk, Action::Close));
        return s;
    }
    match plan.rating {
        None => {}
        Some(Satisfaction::Unsatisfied) => {
            let rating = Satisfaction::Unsatisfied;
            s.push(act(
                minutes(rng, 60, 4320),
                By::Reporter,
                Action::Rate { rating },
            ));
            if plan.reopen {
                let by = if has_account { By::Reporter } else { By::Desk };
                let reason = pick(rng, &cat::REOPEN_REASONS);
                s.push(act(minutes(rng, 120, 2880), by, Action::Reopen { reason }));
                s.push(act(
                    minutes(rng, 240, 1440),
                    By::Handler,
                    Action::Resolve { result },
                ));
                s.push(on_time(
                    minutes(rng, 20, 360),
                    By::Verifier,
                    Action::VerifyPass,
                ));
                let rating = if rng.below(3) == 0 {
                    Satisfaction::Basic
                } else {
                    Satisfaction::Satisfied
                };
                s.push(act(
                    minutes(rng, 60, 2880),
                    By::Reporter,
                    Action::Rate { rating },
                ));
            }
        }
        Some(rating) => s.push(act(
            minutes(rng, 60, 4320),
            By::Reporter,
            Action::Rate { rating },
        )),
    }
    s
}

fn team_kind_for(category: &Category) -> Option<usize> {
    cat::team_kind(&category.code)
}
