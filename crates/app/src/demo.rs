//! The demo county: 福建省泉州市丰泽区 with 4 streets, 12 communities, 40 compounds, 150 grids
//! and their buildings, plus a staff account for every post, so `jinlin demo` shows a district
//! that works the way the seed reports describe (一张网, 网格员 per grid, 楼栋长 per few buildings).
//!
//! Streets are real; communities, compounds and people are invented. The output is fully
//! deterministic: a constant-seeded splitmix64 drives every choice.
//!
//! Geometry: a 16 × 16 lattice of vertices over about 8 km × 6 km centred near (118.60, 24.90),
//! column widths and row heights varied by ±15 % and every vertex jittered by under 20 % of its
//! neighbouring cells. Cells share vertices, so grids never overlap, and with that jitter every
//! quadrilateral stays convex. Cells are walked along a Hilbert curve and cut into consecutive
//! runs — 64 cells per street, then communities, compounds and grids of 1–2 cells — so every
//! unit is a contiguous, compact patch.

mod cases;
mod catalogue;
pub mod people;

use std::collections::{HashMap, HashSet};

use geo::{Coord, LineString, MultiPolygon, Polygon};
use jinlin_domain::accounts::{PostKind, Role};
use jinlin_domain::regions::{NewRegion, RegionLevel};

pub use cases::{DEMO_CASES, DEMO_DAYS, DemoTeam, DemoUnit};
pub use people::{PeopleSeeded, demo_people, seed_people};

/// Demo only: the password of every demo account. Never use the demo data in production.
pub const DEMO_PASSWORD: &str = "Jinlin@2026";
/// 丰泽区's administrative division code.
pub const DISTRICT_CODE: &str = "350503000000";
pub const DISTRICT_NAME: &str = "丰泽区";

/// A demo account and the posts (岗位) it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub region_code: String,
    pub work_phone: Option<String>,
    /// (post kind, region code of the grid / building / community it is held at)
    pub posts: Vec<(PostKind, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DemoCounty {
    /// Level by level, each level sorted by code, so parents always precede children.
    pub regions: Vec<NewRegion>,
    /// The headline accounts of [`demo_logins`] first, then the staff of every unit.
    pub users: Vec<DemoUser>,
    /// Handling units (县直部门 / 共建单位), the headline `dept` account's first.
    pub units: Vec<DemoUnit>,
    /// Five volunteer teams per community.
    pub teams: Vec<DemoTeam>,
}

/// The headline accounts, in the order README lists them.
#[rustfmt::skip]
pub const HEADLINE_USERNAMES: [&str; 11] = [
    "admin", "leader", "street", "community", "gridhead", "grid", "building", "police", "dept",
    "volunteer", "resident",
];

const SEED: u64 = 0x4A49_4E4C_494E_2026;
/// Lattice cells per side; a power of two for the Hilbert walk.
const SIDE: usize = 16;
const STREET_CELLS: usize = SIDE * SIDE / 4;
const WIDTH_M: f64 = 8000.0;
const HEIGHT_M: f64 = 6000.0;
const CENTRE: (f64, f64) = (118.60, 24.90);
/// Metres per degree at latitude 24.9°.
const M_PER_DEG_LNG: f64 = 101_031.0;
const M_PER_DEG_LAT: f64 = 110_771.0;
/// Vertex jitter as a share of the smaller neighbouring cell; below 0.25 quads stay convex.
const JITTER: f64 = 0.2;

/// (street number, street, its three communities)
const STREETS: [(&str, &str, [&str; 3]); 4] = [
    ("001", "东湖街道", ["东霞社区", "湖心社区", "星光社区"]),
    ("002", "丰泽街道", ["丰盛社区", "刺桐社区", "田安社区"]),
    ("003", "泉秀街道", ["泉秀社区", "云鹿社区", "宝洲社区"]),
    ("004", "清源街道", ["清源社区", "源和社区", "群石社区"]),
];

#[rustfmt::skip]
const COMPOUND_NAMES: [&str; 40] = [
    "刺桐花园", "东湖花园", "湖滨苑", "星光公寓", "东霞新村", "丰泽新村", "丰盛佳园", "田安公寓",
    "古榕小区", "紫荆苑", "榕城雅居", "刺桐新城", "丰华小区", "体育新村", "状元府", "泉秀小区",
    "云鹿花苑", "宝洲雅居", "泉山花园", "滨江名邸", "凤凰城", "锦绣庄", "百源小区", "少林新村",
    "华侨新村", "桂花园", "阳光花园", "金色家园", "清源山庄", "源和里", "群石新村", "温陵小区",
    "金山苑", "海景花园", "清风苑", "北峰雅园", "宝山新村", "聚龙小区", "万安小区", "后茂小区",
];

#[rustfmt::skip]
const SURNAMES: [&str; 24] = [
    "陈", "林", "黄", "王", "李", "张", "吴", "蔡", "郑", "刘", "许", "洪", "苏", "庄", "杨", "施",
    "谢", "曾", "颜", "傅", "郭", "肖", "卢", "周",
];

#[rustfmt::skip]
const GIVEN: [&str; 40] = [
    "建", "志", "明", "丽", "娟", "伟", "婷", "雅", "晓", "鸿", "振", "国", "秀", "芳", "玲", "海",
    "锦", "文", "斌", "燕", "佳", "俊", "雪", "梅", "辉", "清", "泉", "荣", "宏", "慧", "静", "淑",
    "惠", "艺", "瑞", "彬", "鑫", "琳", "思", "诗",
];

#[rustfmt::skip]
const MOBILE_PREFIXES: [&str; 15] = [
    "135", "136", "137", "138", "139", "150", "151", "152", "158", "159", "180", "186", "187",
    "188", "189",
];

/// splitmix64: tiny, deterministic, good enough for demo data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in [-1, 1).
    fn signed(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// (column, row) of a lattice cell; row 0 is the northern edge.
type Cell = (usize, usize);

/// Vertices `v[col][row]`, col and row in 0..=SIDE, already in WGS-84.
struct Lattice {
    v: Vec<Vec<Coord<f64>>>,
}

impl Lattice {
    fn new(rng: &mut Rng) -> Lattice {
        let widths = spacing(rng, WIDTH_M);
        let heights = spacing(rng, HEIGHT_M);
        let offsets = |sizes: &[f64], i: usize| -> (f64, f64) {
            let before = sizes[..i].iter().sum::<f64>();
            let prev = if i == 0 { f64::MAX } else { sizes[i - 1] };
            let next = sizes.get(i).copied().unwrap_or(f64::MAX);
            (before, JITTER * prev.min(next))
        };
        let v = (0..=SIDE)
            .map(|col| {
                let (x, slack_x) = offsets(&widths, col);
                (0..=SIDE)
                    .map(|row| {
                        let (y, slack_y) = offsets(&heights, row);
                        to_wgs84(x + slack_x * rng.signed(), y + slack_y * rng.signed())
                    })
                    .collect()
            })
            .collect();
        Lattice { v }
    }

    fn at(&self, col: usize, row: usize) -> Coord<f64> {
        self.v[col][row]
    }

    /// One cell, or two edge-sharing cells, as a counter-clockwise polygon.
    fn polygon(&self, cells: &[Cell]) -> Polygon<f64> {
        let (c, r) = cells.iter().copied().min().unwrap_or((0, 0));
        let ring = match cells {
            [_, _] if cells.iter().any(|&(col, _)| col != c) => vec![
                self.at(c, r + 1),
                self.at(c + 1, r + 1),
                self.at(c + 2, r + 1),
                self.at(c + 2, r),
                self.at(c + 1, r),
                self.at(c, r),
            ],
            [_, _] => vec![
                self.at(c, r + 2),
                self.at(c + 1, r + 2),
                self.at(c + 1, r + 1),
                self.at(c + 1, r),
                self.at(c, r),
                self.at(c, r + 1),
            ],
            _ => vec![
                self.at(c, r + 1),
                self.at(c + 1, r + 1),
                self.at(c + 1, r),
                self.at(c, r),
            ],
        };
        Polygon::new(LineString::new(ring), vec![])
    }
}

/// SIDE sizes varied by ±15 % that add up to `total` metres.
fn spacing(rng: &mut Rng, total: f64) -> Vec<f64> {
    let raw: Vec<f64> = (0..SIDE).map(|_| 1.0 + 0.15 * rng.signed()).collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|r| r * total / sum).collect()
}

/// Metres east / south of the north-west corner to WGS-84, rounded to 1e-7° (about 1 cm).
fn to_wgs84(x: f64, y: f64) -> Coord<f64> {
    let round = |d: f64| (d * 1e7).round() / 1e7;
    Coord {
        x: round(CENTRE.0 + (x - WIDTH_M / 2.0) / M_PER_DEG_LNG),
        y: round(CENTRE.1 + (HEIGHT_M / 2.0 - y) / M_PER_DEG_LAT),
    }
}

/// The d-th cell of a Hilbert curve over an n × n square (n a power of two).
fn hilbert(n: usize, d: usize) -> Cell {
    let (mut x, mut y, mut t, mut s) = (0, 0, d, 1);
    while s < n {
        let rx = 1 & (t / 2);
        let ry = 1 & (t ^ rx);
        if ry == 0 {
            if rx == 1 {
                x = s - 1 - x;
                y = s - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        x += s * rx;
        y += s * ry;
        t /= 4;
        s *= 2;
    }
    (x, y)
}

fn region(level: RegionLevel, code: String, parent: &str, name: String) -> NewRegion {
    NewRegion {
        code,
        parent_code: Some(parent.to_string()),
        level,
        name,
        boundary: None,
    }
}

/// The demo district: regions and accounts. Same output on every call.
pub fn demo_county() -> DemoCounty {
    let mut rng = Rng(SEED);
    let lattice = Lattice::new(&mut rng);
    let regions = plan_regions(&mut rng, &lattice);
    let (users, units, teams) = plan_users(&mut rng, &regions);
    DemoCounty {
        regions,
        users,
        units,
        teams,
    }
}

fn plan_regions(rng: &mut Rng, lattice: &Lattice) -> Vec<NewRegion> {
    let walk: Vec<Cell> = (0..SIDE * SIDE).map(|d| hilbert(SIDE, d)).collect();
    // streets, communities, compounds, grids, buildings
    let mut levels: [Vec<NewRegion>; 5] = Default::default();
    let mut compound_no = 0;
    for (s, (street_no, street_name, communities)) in STREETS.iter().enumerate() {
        let street_code = format!("350503{street_no}000");
        levels[0].push(region(
            RegionLevel::Street,
            street_code.clone(),
            DISTRICT_CODE,
            street_name.to_string(),
        ));
        // 150 grids = 38 + 38 + 37 + 37; each street has 10 compounds of 3–4 grids (4·f + 3·(10-f))
        // and 64 cells, so (64 - grids) grids take two cells.
        let grid_total = if s < 2 { 38 } else { 37 };
        let mut cell_counts = vec![2; STREET_CELLS - grid_total];
        cell_counts.resize(grid_total, 1);
        rng.shuffle(&mut cell_counts);
        let mut grid_counts = vec![4; grid_total - 30];
        grid_counts.resize(10, 3);
        rng.shuffle(&mut grid_counts);
        let mut per_community = [3; 3];
        per_community[s % 3] = 4;

        let mut cursor = s * STREET_CELLS;
        let (mut next_grid, mut next_compound) = (0, 0);
        for (c, community_name) in communities.iter().enumerate() {
            let community_code = format!("{}{:03}", &street_code[..9], c + 1);
            levels[1].push(region(
                RegionLevel::Community,
                community_code.clone(),
                &street_code,
                community_name.to_string(),
            ));
            // compounds[k][i] = the cells of grid i of compound k
            let mut compounds: Vec<Vec<Vec<Cell>>> = Vec::new();
            for _ in 0..per_community[c] {
                let grids = (0..grid_counts[next_compound])
                    .map(|_| {
                        let cells = walk[cursor..cursor + cell_counts[next_grid]].to_vec();
                        cursor += cells.len();
                        next_grid += 1;
                        cells
                    })
                    .collect();
                compounds.push(grids);
                next_compound += 1;
            }
            // Grid numbers run north → south, west → east across the whole community.
            let mut anchors: Vec<((usize, usize), usize, usize)> = compounds
                .iter()
                .enumerate()
                .flat_map(|(k, grids)| {
                    grids.iter().enumerate().map(move |(i, cells)| {
                        let anchor = cells.iter().map(|&(col, row)| (row, col)).min();
                        (anchor.unwrap_or_default(), k, i)
                    })
                })
                .collect();
            anchors.sort();
            let mut seq: HashMap<(usize, usize), usize> = HashMap::new();
            for (n, (_, k, i)) in anchors.into_iter().enumerate() {
                seq.insert((k, i), n + 1);
            }

            for (k, grids) in compounds.iter().enumerate() {
                let compound_code = format!("{community_code}{:02}", k + 1);
                let compound_name = COMPOUND_NAMES[compound_no % COMPOUND_NAMES.len()];
                compound_no += 1;
                levels[2].push(region(
                    RegionLevel::Compound,
                    compound_code.clone(),
                    &community_code,
                    compound_name.to_string(),
                ));
                let mut ordered: Vec<(usize, &Vec<Cell>)> = grids
                    .iter()
                    .enumerate()
                    .map(|(i, cells)| (seq.get(&(k, i)).copied().unwrap_or(0), cells))
                    .collect();
                ordered.sort();
                let counts: Vec<usize> = ordered.iter().map(|_| 4 + rng.below(5)).collect();
                let lettered = counts.iter().sum::<usize>() <= 26 && rng.below(3) == 0;
                let numbered = rng.pick(&["号楼", "号楼", "幢", "栋"]);
                let mut building_no = 0;
                for ((n, cells), count) in ordered.into_iter().zip(counts) {
                    let grid_code = format!("{community_code}{n:03}");
                    let mut grid = region(
                        RegionLevel::Grid,
                        grid_code.clone(),
                        &compound_code,
                        format!("{community_name}第{n}网格"),
                    );
                    grid.boundary = Some(MultiPolygon::new(vec![lattice.polygon(cells)]));
                    levels[3].push(grid);
                    for b in 1..=count {
                        building_no += 1;
                        let name = if lettered {
                            format!("{}栋", char::from(b'A' + (building_no - 1) as u8))
                        } else {
                            format!("{building_no}{numbered}")
                        };
                        levels[4].push(region(
                            RegionLevel::Building,
                            format!("{grid_code}{b:05}"),
                            &grid_code,
                            name,
                        ));
                    }
                }
            }
        }
    }
    let mut regions = vec![NewRegion {
        code: DISTRICT_CODE.to_string(),
        parent_code: None,
        level: RegionLevel::District,
        name: DISTRICT_NAME.to_string(),
        boundary: None,
    }];
    for mut level in levels {
        level.sort_by(|a, b| a.code.cmp(&b.code));
        regions.extend(level);
    }
    regions
}

/// Hands out names and unique work phones.
struct People<'r> {
    rng: &'r mut Rng,
    phones: HashSet<String>,
    users: Vec<DemoUser>,
}

impl People<'_> {
    fn name(&mut self) -> String {
        let mut name = self.rng.pick(&SURNAMES).to_string();
        let given = if self.rng.below(5) == 0 { 1 } else { 2 };
        for _ in 0..given {
            name.push_str(self.rng.pick(&GIVEN));
        }
        name
    }

    fn phone(&mut self) -> String {
        loop {
            let prefix = self.rng.pick(&MOBILE_PREFIXES);
            let phone = format!("{prefix}{:08}", self.rng.next() % 100_000_000);
            if self.phones.insert(phone.clone()) {
                return phone;
            }
        }
    }

    /// A new account with a generated name (and a work phone if staff), to be adjusted.
    fn add(&mut self, username: String, role: Role, region_code: &str) -> &mut DemoUser {
        let display_name = self.name();
        let work_phone = role.is_staff().then(|| self.phone());
        self.users.push(DemoUser {
            username,
            display_name,
            role,
            region_code: region_code.to_string(),
            work_phone,
            posts: Vec::new(),
        });
        let last = self.users.len() - 1;
        &mut self.users[last]
    }
}

fn plan_users(
    rng: &mut Rng,
    regions: &[NewRegion],
) -> (Vec<DemoUser>, Vec<DemoUnit>, Vec<DemoTeam>) {
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in regions {
        if let Some(parent) = &r.parent_code {
            children.entry(parent).or_default().push(&r.code);
        }
    }
    let kids = |code: &str| children.get(code).cloned().unwrap_or_default();
    let at = |level: RegionLevel| regions.iter().filter(move |r| r.level == level);
    let first = |level: RegionLevel| at(level).next().map(|r| r.code.clone()).unwrap_or_default();
    let (street, community, grid) = (
        first(RegionLevel::Street),
        first(RegionLevel::Community),
        first(RegionLevel::Grid),
    );
    let compound = regions
        .iter()
        .find(|r| r.code == grid)
        .and_then(|r| r.parent_code.clone())
        .unwrap_or_default();
    let building_group = |grid: &str| -> Vec<Vec<String>> {
        kids(grid)
            .chunks(3)
            .map(|c| c.iter().map(|b| b.to_string()).collect())
            .collect()
    };
    let posts = |kind: PostKind, codes: &[String]| -> Vec<(PostKind, String)> {
        codes.iter().map(|c| (kind, c.clone())).collect()
    };
    let compound_grids = |compound: &str| -> Vec<String> {
        kids(compound).into_iter().map(str::to_string).collect()
    };
    let first_group = building_group(&grid).into_iter().next().unwrap_or_default();

    let mut p = People {
        rng,
        phones: HashSet::new(),
        users: Vec::new(),
    };
    let one = |kind: PostKind, code: &str| vec![(kind, code.to_string())];
    let (d, c, g) = (DISTRICT_CODE, community.as_str(), grid.as_str());
    let heads = posts(PostKind::GridHead, &compound_grids(&compound));
    let building_heads = posts(PostKind::BuildingHead, &first_group);
    let headline = [
        ("林志远", Role::Sysadmin, d, vec![]),
        ("黄振东", Role::Leader, d, vec![]),
        ("陈秀英", Role::StreetAdmin, street.as_str(), vec![]),
        ("王丽娟", Role::CommunityAdmin, c, vec![]),
        ("蔡明辉", Role::GridHead, compound.as_str(), heads),
        ("庄晓婷", Role::GridWorker, g, one(PostKind::GridWorker, g)),
        ("许国平", Role::BuildingHead, g, building_heads),
        ("郑志强", Role::Police, c, one(PostKind::Police, c)),
        ("区城管局·吴建国", Role::DepartmentHandler, d, vec![]),
        ("苏雅琴", Role::Volunteer, c, vec![]),
        ("洪美玲", Role::Resident, g, vec![]),
    ];
    for (username, (name, role, region, held)) in HEADLINE_USERNAMES.iter().zip(headline) {
        let user = p.add(username.to_string(), role, region);
        user.display_name = name.to_string();
        user.posts = held;
    }

    // Everyone else; positions the headline accounts already fill are skipped.
    for s in at(RegionLevel::Street).filter(|r| r.code != street) {
        p.add(format!("jd{}", s.code), Role::StreetAdmin, &s.code);
    }
    for r in at(RegionLevel::Community) {
        let code = r.code.as_str();
        if code != community {
            p.add(format!("sqsj{code}"), Role::CommunityAdmin, code);
            p.add(format!("mj{code}"), Role::Police, code).posts = one(PostKind::Police, code);
        }
        p.add(format!("sqgz{code}"), Role::CommunityAdmin, code);
    }
    // One 网格长 per compound, bound to the compound so it sees every grid it heads.
    for r in at(RegionLevel::Compound).filter(|r| r.code != compound) {
        let grids = compound_grids(&r.code);
        p.add(format!("wgz{}", r.code), Role::GridHead, &r.code)
            .posts = posts(PostKind::GridHead, &grids);
    }
    // A 网格员 per grid and a 楼栋长 per (up to) three buildings.
    for r in at(RegionLevel::Grid) {
        let code = r.code.as_str();
        if code != grid {
            p.add(format!("wgy{code}"), Role::GridWorker, code).posts =
                one(PostKind::GridWorker, code);
        }
        for group in building_group(code)
            .into_iter()
            .filter(|b| *b != first_group)
        {
            // Bound to the grid, so the head sees all the buildings it looks after.
            let seat = group.first().cloned().unwrap_or_default();
            p.add(format!("ldz{seat}"), Role::BuildingHead, code).posts =
                posts(PostKind::BuildingHead, &group);
        }
    }
    // Last, so the accounts above stay what they were before units and teams existed.
    let (units, teams) = cases::plan_staff(&mut p, regions);
    (p.users, units, teams)
}

/// The headline accounts listed in README and printed at start: (username, role, region name).
/// A building is named with its compound ("刺桐花园1幢"), since "1幢" alone says little.
pub fn demo_logins(county: &DemoCounty) -> Vec<(String, Role, String)> {
    let by_code: HashMap<&str, &NewRegion> = county
        .regions
        .iter()
        .map(|r| (r.code.as_str(), r))
        .collect();
    let parent = |r: &NewRegion| by_code.get(r.parent_code.as_deref()?).copied();
    let label = |code: &str| -> String {
        let Some(r) = by_code.get(code).copied() else {
            return String::new();
        };
        match (r.level, parent(r).and_then(parent)) {
            (RegionLevel::Building, Some(compound)) => format!("{}{}", compound.name, r.name),
            _ => r.name.clone(),
        }
    };
    HEADLINE_USERNAMES
        .iter()
        .filter_map(|&u| county.users.iter().find(|x| x.username == u))
        .map(|u| (u.username.clone(), u.role, label(&u.region_code)))
        .collect()
}

/// Writes the demo county into an empty database: regions, accounts and posts, units, teams
/// and routes, then the cases, each in one transaction. Returns false (and writes nothing) when
/// the database already has regions.
pub async fn seed(store: &jinlin_store::Store, now: i64) -> Result<bool, crate::AppError> {
    use jinlin_store::accounts::NewUser;
    use jinlin_store::audit::NewAudit;

    if store.count_by_level("/").await?.iter().any(|(_, n)| *n > 0) {
        return Ok(false);
    }
    let county = demo_county();
    let audit = |action: &str, target: &str| NewAudit {
        actor_name: "demo".into(),
        action: action.into(),
        target: target.into(),
        outcome: "ok".into(),
        detail: "演示数据".into(),
        ..NewAudit::default()
    };
    store
        .insert_regions(&county.regions, &audit("demo.regions", "regions"), now)
        .await?;
    // All demo accounts share one password, so it is hashed once.
    let hash = tokio::task::spawn_blocking(|| password_auth::generate_hash(DEMO_PASSWORD))
        .await
        .map_err(|e| crate::AppError::Internal(e.to_string()))?;
    let users: Vec<NewUser> = county
        .users
        .iter()
        .map(|u| NewUser {
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
            region_code: u.region_code.clone(),
            work_phone: u.work_phone.clone(),
            password_hash: hash.clone(),
        })
        .collect();
    let posts: Vec<(String, String, PostKind)> = county
        .users
        .iter()
        .flat_map(|u| {
            u.posts
                .iter()
                .map(|(kind, code)| (u.username.clone(), code.clone(), *kind))
        })
        .collect();
    store
        .seed_accounts(&users, &posts, &audit("demo.accounts", "users"), now)
        .await?;
    cases::seed(store, &county, &audit("demo.cases", "cases"), now).await?;
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use geo::{BoundingRect, GeodesicArea, Intersects, Validation, Winding};
    use jinlin_domain::grids;
    use jinlin_domain::regions::validate_code;

    fn of(county: &DemoCounty, level: RegionLevel) -> Vec<&NewRegion> {
        county.regions.iter().filter(|r| r.level == level).collect()
    }

    fn grid_polygons(county: &DemoCounty) -> Vec<(&str, &MultiPolygon<f64>)> {
        of(county, RegionLevel::Grid)
            .into_iter()
            .map(|g| (g.code.as_str(), g.boundary.as_ref().expect("grid boundary")))
            .collect()
    }

    #[test]
    fn exact_counts_per_level() {
        let county = demo_county();
        let counts: Vec<usize> = RegionLevel::ALL
            .iter()
            .map(|&l| of(&county, l).len())
            .collect();
        assert_eq!(counts[..5], [1, 4, 12, 40, 150]);
        let grids = of(&county, RegionLevel::Grid);
        for g in grids {
            let n = county
                .regions
                .iter()
                .filter(|b| b.parent_code.as_deref() == Some(g.code.as_str()))
                .count();
            assert!((4..=8).contains(&n), "{} has {n} buildings", g.code);
        }
        assert_eq!(counts[5], county.regions.len() - 207);
    }

    #[test]
    fn codes_follow_the_rules_and_parents_come_first() {
        let county = demo_county();
        let mut seen: HashMap<&str, &NewRegion> = HashMap::new();
        for r in &county.regions {
            let parent = r.parent_code.as_deref();
            validate_code(r.level, &r.code, parent)
                .unwrap_or_else(|e| panic!("{} {}: {e}", r.code, r.name));
            if let Some(p) = parent {
                let p = seen
                    .get(p)
                    .unwrap_or_else(|| panic!("{} before its parent", r.code));
                assert_eq!(Some(p.level), r.level.parent(), "{}", r.code);
                let (shared, len) = match r.level {
                    RegionLevel::Street => (6, 12),
                    RegionLevel::Community => (9, 12),
                    RegionLevel::Compound => (12, 14),
                    RegionLevel::Grid => (12, 15),
                    RegionLevel::Building => (15, 20),
                    RegionLevel::District => unreachable!(),
                };
                assert_eq!(r.code.len(), len);
                assert_eq!(r.code[..shared], p.code[..shared], "{}", r.code);
                assert!(
                    r.code[shared..].bytes().any(|b| b != b'0') || r.level == RegionLevel::Street
                );
            } else {
                assert_eq!(r.code, DISTRICT_CODE);
            }
            assert!(
                seen.insert(&r.code, r).is_none(),
                "duplicate code {}",
                r.code
            );
            assert!(!r.name.is_empty());
        }
        for s in of(&county, RegionLevel::Street) {
            assert!(
                s.code.ends_with("000")
                    && (1..=599).contains(&s.code[6..9].parse::<u32>().unwrap())
            );
        }
        // Compound names are unique; building names unique within their compound.
        let compounds: HashSet<&str> = of(&county, RegionLevel::Compound)
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(compounds.len(), 40);
        let mut names = HashSet::new();
        for b in of(&county, RegionLevel::Building) {
            let compound = seen[b.parent_code.as_deref().unwrap()]
                .parent_code
                .clone()
                .unwrap();
            assert!(names.insert((compound, b.name.clone())), "{} twice", b.name);
        }
    }

    #[test]
    fn grids_are_valid_polygons_near_fengze() {
        let county = demo_county();
        for r in &county.regions {
            assert_eq!(
                r.boundary.is_some(),
                r.level == RegionLevel::Grid,
                "{}",
                r.code
            );
        }
        for (code, mp) in grid_polygons(&county) {
            assert!(mp.is_valid(), "{code} invalid");
            assert_eq!(mp.0.len(), 1);
            let poly = &mp.0[0];
            assert!(
                poly.exterior().is_closed() && poly.exterior().is_ccw(),
                "{code}"
            );
            assert!(poly.interiors().is_empty());
            let bbox = mp.bounding_rect().unwrap();
            assert!(
                bbox.min().x > 118.55 && bbox.max().x < 118.65,
                "{code} {bbox:?}"
            );
            assert!(
                bbox.min().y > 24.86 && bbox.max().y < 24.94,
                "{code} {bbox:?}"
            );
            let area = mp.geodesic_area_unsigned();
            assert!((80_000.0..500_000.0).contains(&area), "{code}: {area} m²");
        }
    }

    #[test]
    fn no_two_grids_overlap() {
        let county = demo_county();
        let grids = grid_polygons(&county);
        let boxes: Vec<_> = grids
            .iter()
            .map(|(_, p)| p.bounding_rect().unwrap())
            .collect();
        let mut neighbours = 0;
        for i in 0..grids.len() {
            for j in i + 1..grids.len() {
                if !boxes[i].intersects(&boxes[j]) {
                    continue;
                }
                neighbours += 1;
                let overlap = grids::overlap_area_m2(grids[i].1, grids[j].1);
                assert!(
                    overlap < 1.0,
                    "{} and {} overlap by {overlap} m²",
                    grids[i].0,
                    grids[j].0
                );
            }
        }
        assert!(
            neighbours > 150,
            "the bbox pruning must still compare neighbours"
        );
    }

    #[test]
    fn grids_tile_the_lattice_and_units_are_contiguous() {
        let county = demo_county();
        let lattice = Lattice::new(&mut Rng(SEED));
        let mut outline = Vec::new();
        outline.extend((0..SIDE).map(|c| lattice.at(c, SIDE)));
        outline.extend((1..=SIDE).rev().map(|r| lattice.at(SIDE, r)));
        outline.extend((1..=SIDE).rev().map(|c| lattice.at(c, 0)));
        outline.extend((0..SIDE).map(|r| lattice.at(0, r)));
        let outline = Polygon::new(LineString::new(outline), vec![]);
        assert!(outline.is_valid() && outline.exterior().is_ccw());
        let district = outline.geodesic_area_unsigned();
        assert!((44e6..52e6).contains(&district), "district {district} m²");

        let grids = grid_polygons(&county);
        let sum: f64 = grids.iter().map(|(_, p)| p.geodesic_area_unsigned()).sum();
        assert!(
            (sum - district).abs() < 1e-4 * district,
            "{sum} vs {district}"
        );
        let union = geo::unary_union(grids.iter().map(|(_, p)| *p));
        assert_eq!(union.0.len(), 1, "the district is one piece");
        assert!(union.0[0].interiors().is_empty(), "no holes");
        assert!((union.geodesic_area_unsigned() - district).abs() < 1e-4 * district);

        // Every street, community and compound is one contiguous patch.
        for level in [
            RegionLevel::Street,
            RegionLevel::Community,
            RegionLevel::Compound,
        ] {
            for unit in of(&county, level) {
                let belongs = |g: &&NewRegion| match level {
                    RegionLevel::Compound => g.parent_code.as_deref() == Some(unit.code.as_str()),
                    RegionLevel::Street => g.code.starts_with(&unit.code[..9]),
                    _ => g.code.starts_with(&unit.code),
                };
                let mine: Vec<&MultiPolygon<f64>> = of(&county, RegionLevel::Grid)
                    .into_iter()
                    .filter(belongs)
                    .filter_map(|g| g.boundary.as_ref())
                    .collect();
                assert!(!mine.is_empty(), "{}", unit.code);
                let patch = geo::unary_union(mine);
                assert_eq!(patch.0.len(), 1, "{} {} is in pieces", unit.code, unit.name);
            }
        }
    }

    #[test]
    fn grids_are_numbered_north_to_south_within_the_community() {
        let county = demo_county();
        for c in of(&county, RegionLevel::Community) {
            let tops: Vec<f64> = of(&county, RegionLevel::Grid)
                .into_iter()
                .filter(|g| g.code.starts_with(&c.code))
                .map(|g| {
                    g.boundary
                        .as_ref()
                        .unwrap()
                        .bounding_rect()
                        .unwrap()
                        .max()
                        .y
                })
                .collect();
            assert!(!tops.is_empty());
            // Row-major by lattice row: the first grid is among the northernmost.
            let max = tops.iter().copied().fold(f64::MIN, f64::max);
            assert!(
                max - tops[0] < 0.005,
                "{}: first grid is not in the top row",
                c.code
            );
        }
    }

    #[test]
    fn users_cover_every_post_and_are_well_formed() {
        let county = demo_county();
        let regions: HashMap<&str, &NewRegion> = county
            .regions
            .iter()
            .map(|r| (r.code.as_str(), r))
            .collect();
        let mut usernames = HashSet::new();
        let mut phones = HashSet::new();
        crate::accounts::validate_password(DEMO_PASSWORD).unwrap();
        for u in &county.users {
            assert!(
                usernames.insert(u.username.as_str()),
                "duplicate {}",
                u.username
            );
            crate::accounts::validate_username(&u.username).unwrap();
            assert!(!u.display_name.is_empty() && u.display_name.chars().count() <= 32);
            assert!(
                u.display_name.chars().all(|c| !c.is_ascii()),
                "{}",
                u.display_name
            );
            assert!(
                regions.contains_key(u.region_code.as_str()),
                "{}",
                u.username
            );
            match &u.work_phone {
                Some(p) => {
                    crate::accounts::validate_mobile("work_phone", p).unwrap();
                    assert!(["13", "15", "18"].contains(&&p[..2]));
                    assert!(phones.insert(p.clone()), "phone {p} twice");
                }
                None => assert!(!u.role.is_staff(), "{} lacks a phone", u.username),
            }
            for (kind, code) in &u.posts {
                assert_eq!(
                    regions[code.as_str()].level,
                    kind.level(),
                    "{} {code}",
                    u.username
                );
            }
        }
        let held = |kind: PostKind, code: &str| {
            county
                .users
                .iter()
                .filter(|u| u.posts.contains(&(kind, code.to_string())))
                .count()
        };
        for g in of(&county, RegionLevel::Grid) {
            assert_eq!(held(PostKind::GridWorker, &g.code), 1, "{}", g.code);
            assert_eq!(held(PostKind::GridHead, &g.code), 1, "{}", g.code);
        }
        for b in of(&county, RegionLevel::Building) {
            assert_eq!(held(PostKind::BuildingHead, &b.code), 1, "{}", b.code);
        }
        for c in of(&county, RegionLevel::Community) {
            assert_eq!(held(PostKind::Police, &c.code), 1, "{}", c.code);
            let admins = county
                .users
                .iter()
                .filter(|u| u.role == Role::CommunityAdmin && u.region_code == c.code)
                .count();
            assert_eq!(admins, 2, "{}", c.code);
        }
        for s in of(&county, RegionLevel::Street) {
            assert!(
                county
                    .users
                    .iter()
                    .any(|u| u.role == Role::StreetAdmin && u.region_code == s.code)
            );
        }
    }

    #[test]
    fn headline_logins() {
        let county = demo_county();
        let logins = demo_logins(&county);
        let expected = [
            ("admin", Role::Sysadmin, RegionLevel::District),
            ("leader", Role::Leader, RegionLevel::District),
            ("street", Role::StreetAdmin, RegionLevel::Street),
            ("community", Role::CommunityAdmin, RegionLevel::Community),
            ("gridhead", Role::GridHead, RegionLevel::Compound),
            ("grid", Role::GridWorker, RegionLevel::Grid),
            ("building", Role::BuildingHead, RegionLevel::Grid),
            ("police", Role::Police, RegionLevel::Community),
            ("dept", Role::DepartmentHandler, RegionLevel::District),
            ("volunteer", Role::Volunteer, RegionLevel::Community),
            ("resident", Role::Resident, RegionLevel::Grid),
        ];
        assert_eq!(logins.len(), expected.len());
        for ((name, role, region), (u, r, level)) in logins.iter().zip(expected) {
            assert_eq!((name.as_str(), *role), (u, r));
            let user = county.users.iter().find(|x| x.username == u).unwrap();
            let node = county
                .regions
                .iter()
                .find(|x| x.code == user.region_code)
                .unwrap();
            assert_eq!(node.level, level, "{u}");
            assert!(region.ends_with(&node.name), "{u}: {region}");
        }
        let first_grid = &of(&county, RegionLevel::Grid)[0].code;
        assert_eq!(first_grid, "350503001001001");
        let grid = county.users.iter().find(|u| u.username == "grid").unwrap();
        assert_eq!(grid.posts, vec![(PostKind::GridWorker, first_grid.clone())]);
        let building = county
            .users
            .iter()
            .find(|u| u.username == "building")
            .unwrap();
        assert_eq!(
            &building.region_code, first_grid,
            "bound to the grid of its buildings"
        );
        assert_eq!(building.posts[0].1, format!("{first_grid}00001"));
    }

    #[test]
    fn grids_import_cleanly_and_every_grid_locates_to_itself() {
        let county = demo_county();
        let features: Vec<serde_json::Value> = of(&county, RegionLevel::Grid)
            .into_iter()
            .map(|g| {
                serde_json::json!({
                    "type": "Feature",
                    "properties": { "code": g.code, "parent": g.parent_code, "name": g.name },
                    "geometry": grids::to_geojson(g.boundary.as_ref().unwrap()),
                })
            })
            .collect();
        let text = serde_json::json!({ "type": "FeatureCollection", "features": features });
        let parsed = grids::parse_grid_geojson(&text.to_string()).unwrap();
        assert_eq!(parsed.features.len(), 150);
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);

        let index = grids::GridIndex::new(
            grid_polygons(&county)
                .into_iter()
                .map(|(code, p)| (code.to_string(), p.clone()))
                .collect(),
        );
        for (code, p) in grid_polygons(&county) {
            let (lng, lat) = grids::centroid(p).unwrap();
            assert_eq!(index.locate(lng, lat), Some(code));
        }
    }

    use jinlin_domain::cases::Stage;

    /// 2026-01-01 00:00 China Standard Time.
    const NOW: i64 = 1_767_196_800_000;

    async fn scalar(db: &jinlin_store::testing::TestDb, sql: &str) -> i64 {
        use sqlx::Row;
        let pool = jinlin_store::testing::raw_pool(&db.url).await.unwrap();
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        pool.close().await;
        n
    }

    #[tokio::test]
    async fn seeding_builds_a_working_case_loop_on_every_backend() {
        jinlin_store::testing::on_every_backend(|db| async move {
            assert!(seed(&db.store, NOW).await.unwrap());
            assert!(
                !seed(&db.store, NOW).await.unwrap(),
                "a second seed is a no-op"
            );
            let n = |sql: &'static str| {
                let db = db.clone();
                async move { scalar(&db, sql).await }
            };
            assert_eq!(n("SELECT COUNT(*) FROM cases").await, DEMO_CASES as i64);
            assert_eq!(n("SELECT COUNT(*) FROM units").await, 15);
            assert_eq!(n("SELECT COUNT(*) FROM teams").await, 60);
            let oldest = n("SELECT CAST(MIN(created_at) AS BIGINT) FROM cases").await;
            assert!(oldest >= NOW - DEMO_DAYS * 86_400_000, "{oldest}");
            assert!(n("SELECT CAST(MAX(created_at) AS BIGINT) FROM cases").await < NOW);
            for stage in Stage::ALL {
                let sql = format!(
                    "SELECT COUNT(*) FROM cases WHERE stage = '{}'",
                    stage.as_str()
                );
                let count = scalar(&db, &sql).await;
                assert!(count >= 3, "{count} cases {}", stage.as_str());
            }
            for channel in ["resident", "patrol", "hotline", "api"] {
                let sql = format!("SELECT COUNT(*) FROM cases WHERE channel = '{channel}'");
                assert!(scalar(&db, &sql).await > 100, "{channel}");
            }
            // Each case's latest timeline row ends where the case stands.
            let astray = "SELECT COUNT(*) FROM cases c WHERE c.stage <> (SELECT e.to_stage \
                 FROM case_events e WHERE e.case_id = c.id ORDER BY e.id DESC LIMIT 1)";
            assert_eq!(n(astray).await, 0);
            let first = "SELECT COUNT(*) FROM cases c WHERE (SELECT e.action FROM case_events e \
                 WHERE e.case_id = c.id ORDER BY e.id LIMIT 1) <> 'report'";
            assert_eq!(n(first).await, 0);
            assert_eq!(
                n("SELECT COUNT(*) FROM cases WHERE is_open = 0 AND closed_at IS NULL").await,
                0
            );
            assert_eq!(
                n(
                    "SELECT COUNT(*) FROM cases WHERE resolved_at IS NOT NULL AND \
                   resolved_at < created_at"
                )
                .await,
                0
            );
            assert!(n("SELECT COUNT(*) FROM cases WHERE overdue = 1 AND is_open = 1").await > 10);
            assert!(n("SELECT COUNT(*) FROM case_events WHERE action = 'escalate'").await > 50);
            assert!(n("SELECT COUNT(*) FROM cases WHERE supervised = 1").await > 20);
            assert!(n("SELECT COUNT(*) FROM cases WHERE suspended = 1").await > 0);
            assert!(n("SELECT COUNT(*) FROM cases WHERE pending = 1").await > 0);
            assert!(n("SELECT COUNT(*) FROM cases WHERE rework_count > 0").await > 50);
            assert!(n("SELECT COUNT(*) FROM case_whistles").await > 50);
            assert!(n("SELECT COUNT(*) FROM case_whistles WHERE reported_in_at IS NULL").await > 0);
            let satisfied = n("SELECT COUNT(*) FROM cases WHERE rating = 'satisfied'").await;
            let unsatisfied = n("SELECT COUNT(*) FROM cases WHERE rating = 'unsatisfied'").await;
            assert!(
                satisfied > 10 * unsatisfied && unsatisfied > 0,
                "{satisfied} {unsatisfied}"
            );
            assert!(n("SELECT COUNT(*) FROM cases WHERE merged_into IS NOT NULL").await > 50);
            assert_eq!(n("SELECT COUNT(DISTINCT grid_id) FROM cases").await, 150);
            let titled = "SELECT COUNT(*) FROM notifications WHERE title LIKE '%{case}%'";
            assert_eq!(n(titled).await, 0, "every message names its case");
            let unread = "SELECT COUNT(*) FROM notifications n JOIN users u ON u.id = n.user_id \
                 WHERE u.username = 'grid' AND n.read_at IS NULL";
            assert!(n(unread).await > 0, "the grid worker has unread messages");

            // The stored state agrees with the columns, and routes with the store's lookup.
            let app = crate::App::with_clock(
                db.store.clone(),
                crate::Settings::default(),
                std::sync::Arc::new(|| NOW),
            )
            .await
            .unwrap();
            let ids: Vec<i64> = (1..=DEMO_CASES as i64).step_by(37).collect();
            for id in ids {
                let case = db.store.case_by_id(id).await.unwrap().unwrap();
                let s = &case.state;
                assert_eq!(case.closed_at.is_some(), s.stage.is_terminal(), "#{id}");
                if matches!(s.stage, Stage::Resolved | Stage::Verified) {
                    assert!(
                        case.resolved_at.is_some() && case.responded_at.is_some(),
                        "#{id}"
                    );
                }
                let events = db.store.case_events(id).await.unwrap();
                assert!(
                    events.windows(2).all(|w| w[0].at <= w[1].at),
                    "#{id} in order"
                );
                let region = db
                    .store
                    .region_by_id(case.region_id)
                    .await
                    .unwrap()
                    .unwrap();
                let mut path: Vec<i64> = db
                    .store
                    .ancestors(&region)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.id)
                    .collect();
                path.push(region.id);
                let category = app.category(case.category_id).unwrap();
                let unit = app.route_for(&app.category_chain(&category), &path);
                assert_eq!(case.unit_id, unit, "#{id} {}", category.code);
            }

            // The headline accounts have work waiting.
            use crate::cases::{ListKind, ListQuery};
            let q = ListQuery::default();
            for (username, kind) in [
                ("grid", ListKind::Tasks),
                ("community", ListKind::Tasks),
                ("dept", ListKind::Tasks),
                ("volunteer", ListKind::Tasks),
                ("resident", ListKind::Mine),
            ] {
                let user = db.store.user_by_username(username).await.unwrap().unwrap();
                let actor = crate::accounts::actor_of(&user);
                let page = app.list_cases(&actor, kind, &q).await.unwrap();
                assert!(page.total >= 3, "{username}: {}", page.total);
                if username != "resident" {
                    let overdue = ListQuery {
                        overdue_only: true,
                        ..ListQuery::default()
                    };
                    let late = app.list_cases(&actor, kind, &overdue).await.unwrap();
                    assert!(late.total >= 1, "{username} has nothing overdue");
                }
            }
        })
        .await;
    }

    #[test]
    fn deterministic() {
        assert_eq!(demo_county(), demo_county());
    }
}
