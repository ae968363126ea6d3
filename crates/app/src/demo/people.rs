//! The demo county's residents (实有人口): dwellings in every building, households of one to five
//! people with plausible relations, names, ages, ID and phone numbers, and care tags.
//!
//! - Buildings are 6-storey walk-ups (most), 11-storey or 18-storey blocks, with one to three
//!   units and two to four dwellings a floor; some walk-ups have shops on the ground floor.
//! - Dwellings are mostly 自住, about a fifth 出租 (their households are 流动人口 with ID numbers
//!   from elsewhere in Fujian or other provinces) and some 空置 (the household is registered
//!   there but lives elsewhere: 人户分离).
//! - Children are 20–35 years younger than their parents and carry the father's surname; the
//!   17th digit of every ID number matches the gender and the 18th is the GB 11643 check
//!   character.
//! - Care tags follow from the household: 独居老人 for people over 70 living alone, 空巢老人 for
//!   elderly couples, 高龄老人 for anyone 80 or over, 留守儿童 for children living with their
//!   grandparents; a few 残疾人, 低保对象, 大病患者 and 退役军人 besides.
//!
//! Everything comes from one constant-seeded generator, so every `jinlin demo` seeds the same
//! people (their ciphertexts differ: the key file is the county's own).

use std::collections::HashSet;

use jinlin_domain::deadlines::Date;
use jinlin_domain::people::id_check_char;
use jinlin_domain::regions::RegionLevel;
use jinlin_store::audit::NewAudit;
use jinlin_store::people::{HEAD, ImportRow};

use super::{DemoCounty, Rng};
use crate::people::{PersonInput, protect_person};
use crate::{App, AppError};

const SEED: u64 = 0x4A49_4E4C_494E_0007;
/// Rows per import transaction (whole households only).
const BATCH: usize = 4000;
/// The district's own ID prefix (丰泽区).
const HOME_PREFIX: &str = "350503";

/// Surnames weighted by how common they are in southern Fujian.
#[rustfmt::skip]
const SURNAMES: [(&str, u32); 30] = [
    ("陈", 120), ("林", 90), ("黄", 70), ("王", 45), ("李", 40), ("张", 40), ("吴", 35),
    ("蔡", 30), ("郑", 30), ("刘", 28), ("许", 25), ("洪", 22), ("苏", 20), ("庄", 20),
    ("杨", 18), ("施", 18), ("谢", 15), ("曾", 15), ("颜", 12), ("傅", 12), ("郭", 12),
    ("肖", 10), ("卢", 10), ("周", 10), ("丁", 8), ("潘", 8), ("方", 8), ("龚", 6), ("蒋", 6),
    ("柯", 6),
];

#[rustfmt::skip]
const MALE_GIVEN: [&str; 40] = [
    "建", "志", "明", "伟", "鸿", "振", "国", "海", "锦", "文", "斌", "俊", "辉", "清", "泉",
    "荣", "宏", "瑞", "彬", "鑫", "强", "军", "平", "东", "华", "福", "源", "杰", "涛", "勇",
    "毅", "浩", "宇", "晨", "子", "轩", "博", "航", "铭", "德",
];

#[rustfmt::skip]
const FEMALE_GIVEN: [&str; 40] = [
    "丽", "娟", "婷", "雅", "晓", "秀", "芳", "玲", "燕", "佳", "雪", "梅", "慧", "静", "淑",
    "惠", "艺", "琳", "思", "诗", "美", "红", "霞", "英", "兰", "萍", "敏", "洁", "颖", "欣",
    "怡", "涵", "琪", "悦", "妍", "月", "珠", "凤", "桂", "莲",
];

#[rustfmt::skip]
const MOBILE_PREFIXES: [&str; 24] = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "158", "159", "166", "177", "180", "182", "186", "187", "188", "189", "199",
];

/// Where 流动人口 come from: elsewhere in Quanzhou and Fujian, and other provinces.
#[rustfmt::skip]
const AWAY_PREFIXES: [&str; 16] = [
    "350502", "350504", "350521", "350524", "350525", "350582", "350583", "350102", "350203",
    "350602", "350802", "360102", "362401", "430102", "511302", "522101",
];

/// (name, shared ethnic group weight): most households are 汉族, some 回族 (泉州's Hui
/// community) and 畲族.
const ETHNIC: [(&str, u32); 3] = [("汉族", 960), ("回族", 25), ("畲族", 15)];

/// One planned person: what a form would carry, and where they live.
#[derive(Debug, Clone)]
pub struct PlannedPerson {
    pub building_code: String,
    pub unit: String,
    pub floor: i64,
    pub number: String,
    pub use_type: &'static str,
    pub occupancy: &'static str,
    pub area_m2: f64,
    /// The household's index in the plan (rows of one household are consecutive).
    pub household: usize,
    pub relation: &'static str,
    pub input: PersonInput,
    pub tags: Vec<&'static str>,
}

/// The demo's residents, household by household.
#[derive(Debug, Clone)]
pub struct DemoPeople {
    pub persons: Vec<PlannedPerson>,
    pub households: usize,
    pub dwellings: usize,
}

impl Rng {
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut roll = (self.next() % u64::from(total.max(1))) as u32;
        for (item, w) in items {
            if roll < *w {
                return *item;
            }
            roll -= w;
        }
        items[0].0
    }

    fn between(&mut self, lo: i32, hi: i32) -> i32 {
        lo + self.below((hi - lo + 1).max(1) as usize) as i32
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Sex {
    Male,
    Female,
}

/// One member while a household is planned.
struct Member {
    relation: &'static str,
    sex: Sex,
    age: i32,
    surname: &'static str,
    tags: Vec<&'static str>,
}

fn member(relation: &'static str, sex: Sex, age: i32, surname: &'static str) -> Member {
    Member {
        relation,
        sex,
        age,
        surname,
        tags: Vec::new(),
    }
}

fn opposite(s: Sex) -> Sex {
    match s {
        Sex::Male => Sex::Female,
        Sex::Female => Sex::Male,
    }
}

struct Planner {
    rng: Rng,
    today: Date,
    ids: HashSet<String>,
    phones: HashSet<String>,
}

impl Planner {
    fn surname(&mut self) -> &'static str {
        self.rng.weighted(&SURNAMES)
    }

    fn name(&mut self, surname: &str, sex: Sex) -> String {
        let pool = match sex {
            Sex::Male => &MALE_GIVEN,
            Sex::Female => &FEMALE_GIVEN,
        };
        let mut name = surname.to_owned();
        let chars = if self.rng.chance(250) { 1 } else { 2 };
        for _ in 0..chars {
            name.push_str(self.rng.pick(pool));
        }
        name
    }

    /// A birth date of someone `age` full years old today.
    fn birth(&mut self, age: i32) -> Date {
        loop {
            let month = 1 + self.rng.below(12) as u32;
            let day = 1 + self.rng.below(28) as u32;
            // A birthday still to come this year: born a year earlier.
            let later = (month, day) > (self.today.month(), self.today.day());
            if let Ok(d) = Date::new(self.today.year() - age - i32::from(later), month, day) {
                return d;
            }
        }
    }

    /// A valid, unique 18-character ID number.
    fn id_number(&mut self, prefix: &str, birth: Date, sex: Sex) -> String {
        loop {
            let seq = self.rng.below(500) as u32 * 2 + u32::from(sex == Sex::Male);
            let first17 = format!(
                "{prefix}{:04}{:02}{:02}{seq:03}",
                birth.year(),
                birth.month(),
                birth.day()
            );
            let Some(check) = id_check_char(&first17) else {
                continue;
            };
            let id = format!("{first17}{check}");
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
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

    /// The people registered at a shop: the keeper, perhaps with a spouse, of working age.
    fn shopkeepers(&mut self, size: usize) -> Vec<Member> {
        let sex = if self.rng.chance(600) {
            Sex::Male
        } else {
            Sex::Female
        };
        let age = self.rng.between(25, 58);
        let mut out = vec![member(HEAD, sex, age, self.surname())];
        if size > 1 {
            let spouse_age = (age + self.rng.between(-4, 3)).max(22);
            out.push(member("spouse", opposite(sex), spouse_age, self.surname()));
        }
        out
    }

    /// The members of one household: relations, genders, ages, surnames, household tags.
    fn household(&mut self, size: usize) -> Vec<Member> {
        let head_sex = if self.rng.chance(800) {
            Sex::Male
        } else {
            Sex::Female
        };
        let head_surname = self.surname();
        // The father's surname for the children of the head's generation.
        let couple = |p: &mut Planner, age: i32| -> (Member, Member) {
            let spouse_sex = opposite(head_sex);
            let spouse_age = (age + p.rng.between(-4, 3)).max(21);
            let head = member(HEAD, head_sex, age, head_surname);
            let spouse_surname = p.surname();
            let spouse = member("spouse", spouse_sex, spouse_age, spouse_surname);
            (head, spouse)
        };
        let father_surname = |head: &Member, spouse: &Member| {
            if head.sex == Sex::Male {
                head.surname
            } else {
                spouse.surname
            }
        };
        // 20–35 years younger than both parents.
        let child = |p: &mut Planner, a: i32, b: i32, surname: &'static str| -> Member {
            let (older, diff) = (a.max(b), (a - b).abs());
            let age = (older - p.rng.between(20 + diff, 35)).max(1);
            let sex = if p.rng.chance(510) {
                Sex::Male
            } else {
                Sex::Female
            };
            let relation = if sex == Sex::Male { "son" } else { "daughter" };
            member(relation, sex, age, surname)
        };
        match size {
            1 => {
                // Elderly living alone, or a young single.
                if self.rng.chance(300) {
                    let mut m = member(HEAD, head_sex, self.rng.between(70, 92), head_surname);
                    m.tags.push("elderly_alone");
                    vec![m]
                } else {
                    vec![member(
                        HEAD,
                        head_sex,
                        self.rng.between(22, 45),
                        head_surname,
                    )]
                }
            }
            2 => {
                let roll = self.rng.below(100);
                if roll < 12 {
                    // An elderly couple whose children have left: 空巢老人.
                    let (mut h, mut s) = {
                        let age = self.rng.between(62, 86);
                        couple(self, age)
                    };
                    h.tags.push("empty_nest");
                    s.tags.push("empty_nest");
                    vec![h, s]
                } else if roll < 75 {
                    let (h, s) = {
                        let age = self.rng.between(24, 40);
                        couple(self, age)
                    };
                    vec![h, s]
                } else {
                    // A single parent and a child.
                    let h = member(HEAD, head_sex, self.rng.between(35, 55), head_surname);
                    let c = child(self, h.age, h.age, head_surname);
                    vec![h, c]
                }
            }
            3 if self.rng.chance(120) => {
                // Grandparents raising a grandchild whose parents work away: 留守儿童.
                let (h, s) = {
                    let age = self.rng.between(55, 70);
                    couple(self, age)
                };
                let surname = father_surname(&h, &s);
                let mut g = member(
                    "grandchild",
                    if self.rng.chance(500) {
                        Sex::Male
                    } else {
                        Sex::Female
                    },
                    self.rng.between(4, 13),
                    surname,
                );
                g.tags.push("left_behind_child");
                vec![h, s, g]
            }
            _ => {
                let (h, s) = {
                    let age = self.rng.between(30, 52);
                    couple(self, age)
                };
                let surname = father_surname(&h, &s);
                let mut out = Vec::new();
                let first = child(self, h.age, s.age, surname);
                let wants_parents = size == 5 || (size == 4 && self.rng.chance(400));
                let mut kids = vec![first];
                if size >= 4 && !wants_parents {
                    kids.push(child(self, h.age, s.age, surname));
                }
                // The head's parents, 22–35 years older.
                let mut elders = Vec::new();
                if wants_parents {
                    let father_age = h.age + self.rng.between(24, 35);
                    let mother = h.age + self.rng.between(22, 33);
                    let (f_surname, m_surname) = (h.surname, self.surname());
                    elders.push(member("parent", Sex::Male, father_age, f_surname));
                    elders.push(member("parent", Sex::Female, mother, m_surname));
                    if size == 4 {
                        let keep = self.rng.below(2);
                        elders.remove(keep);
                    }
                }
                out.push(h);
                out.push(s);
                out.append(&mut kids);
                out.append(&mut elders);
                out
            }
        }
    }
}

/// The demo county's residents. Same output on every call (for the same `now`'s date).
pub fn demo_people(county: &DemoCounty, now_ms: i64) -> DemoPeople {
    let mut p = Planner {
        rng: Rng(SEED),
        today: Date::from_epoch_ms(now_ms),
        ids: HashSet::new(),
        phones: HashSet::new(),
    };
    let mut persons = Vec::new();
    let (mut households, mut dwellings) = (0, 0);
    for b in county
        .regions
        .iter()
        .filter(|r| r.level == RegionLevel::Building)
    {
        // Walk-ups of two to six floors (most), 11- and 18-storey blocks.
        let floors: i64 = p.rng.weighted(&[
            (2, 14),
            (3, 18),
            (4, 20),
            (5, 18),
            (6, 24),
            (11, 4),
            (18, 2),
        ]);
        let units = if floors <= 6 {
            p.rng.weighted(&[(1, 88), (2, 10), (3, 2)])
        } else {
            p.rng.weighted(&[(1, 85), (2, 15)])
        };
        let per_floor: i64 = if floors <= 6 {
            p.rng.weighted(&[(2, 85), (3, 12), (4, 3)])
        } else {
            p.rng.weighted(&[(2, 60), (3, 30), (4, 10)])
        };
        let shops = floors <= 6 && p.rng.chance(200);
        for unit in 1..=units {
            for floor in 1..=floors {
                for k in 1..=per_floor {
                    let shop = shops && floor == 1;
                    let (use_type, occupancy) = if shop {
                        (
                            "commercial",
                            p.rng.weighted(&[("rented", 70), ("owner_occupied", 30)]),
                        )
                    } else {
                        (
                            "residential",
                            p.rng.weighted(&[
                                ("owner_occupied", 72),
                                ("rented", 20),
                                ("vacant", 8),
                            ]),
                        )
                    };
                    let area = if shop {
                        f64::from(p.rng.between(30, 90))
                    } else {
                        f64::from(p.rng.between(55, 140))
                    };
                    let size = if shop {
                        1 + p.rng.below(2)
                    } else if occupancy == "rented" {
                        p.rng.weighted(&[(1, 40), (2, 30), (3, 22), (4, 8)])
                    } else {
                        p.rng
                            .weighted(&[(1, 16), (2, 29), (3, 31), (4, 16), (5, 8)])
                    };
                    let members = if shop {
                        p.shopkeepers(size)
                    } else {
                        p.household(size)
                    };
                    let residence = match occupancy {
                        "rented" => "floating",
                        "vacant" => "registered_away",
                        _ if p.rng.chance(40) => "floating",
                        _ => "registered_here",
                    };
                    let prefix = if residence == "floating" {
                        p.rng.pick(&AWAY_PREFIXES)
                    } else {
                        HOME_PREFIX
                    };
                    let ethnic = p.rng.weighted(&ETHNIC);
                    let subsistence = !shop && p.rng.chance(6);
                    let number = format!("{floor}{k:02}");
                    dwellings += 1;
                    for mut m in members {
                        let birth = p.birth(m.age);
                        let sex = m.sex;
                        let id = p.id_number(prefix, birth, sex);
                        let name = p.name(m.surname, sex);
                        let phone =
                            (m.age >= 18 && (m.age < 80 || p.rng.chance(600))).then(|| p.phone());
                        if m.age >= 80 {
                            m.tags.push("oldest_old");
                        }
                        if p.rng.chance(6) {
                            m.tags.push("disabled");
                        }
                        if m.age >= 40 && p.rng.chance(6) {
                            m.tags.push("serious_illness");
                        }
                        if m.age >= 40 && sex == Sex::Male && p.rng.chance(10) {
                            m.tags.push("veteran");
                        }
                        if subsistence {
                            m.tags.push("subsistence");
                        }
                        let party = m.age >= 18 && p.rng.chance(105);
                        persons.push(PlannedPerson {
                            building_code: b.code.clone(),
                            unit: unit.to_string(),
                            floor,
                            number: number.clone(),
                            use_type,
                            occupancy,
                            area_m2: area,
                            household: households,
                            relation: m.relation,
                            input: PersonInput {
                                name,
                                id_number: Some(id),
                                phone,
                                ethnic_group: Some(ethnic.to_owned()),
                                residence_status: Some(residence.to_owned()),
                                party_member: party,
                                ..PersonInput::default()
                            },
                            tags: m.tags,
                        });
                    }
                    households += 1;
                }
            }
        }
    }
    DemoPeople {
        persons,
        households,
        dwellings,
    }
}

/// What [`seed_people`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeopleSeeded {
    pub persons: usize,
    pub households: usize,
    pub dwellings: usize,
}

/// Writes the demo residents into a database that has the demo county but no persons yet,
/// encrypting with the app's key file. Returns `None` (and writes nothing) otherwise.
pub async fn seed_people(
    app: &App,
    county: &DemoCounty,
    now: i64,
) -> Result<Option<PeopleSeeded>, AppError> {
    let store = &app.store;
    if store.people_counts("/").await?.0 > 0 {
        return Ok(None);
    }
    let plan = demo_people(county, now);
    let mut building_ids = std::collections::HashMap::new();
    for r in county
        .regions
        .iter()
        .filter(|r| r.level == RegionLevel::Building)
    {
        match store.region_by_code(&r.code).await? {
            Some(b) if b.level == RegionLevel::Building => {
                building_ids.insert(r.code.as_str(), b.id);
            }
            // Not the demo county's tree: leave it alone.
            _ => return Ok(None),
        }
    }
    let cipher = app.cipher().await?;
    let audit = NewAudit {
        actor_name: "demo".into(),
        action: "demo.people".into(),
        target: "persons".into(),
        outcome: "ok".into(),
        detail: "演示数据".into(),
        ..NewAudit::default()
    };
    let mut batch: Vec<ImportRow> = Vec::with_capacity(BATCH + 8);
    let persons = &plan.persons;
    for (i, planned) in persons.iter().enumerate() {
        let person = protect_person(cipher.as_ref(), &planned.input, now)?;
        batch.push(ImportRow {
            line: 0,
            building_id: building_ids[planned.building_code.as_str()],
            unit: planned.unit.clone(),
            floor: Some(planned.floor),
            number: planned.number.clone(),
            use_type: planned.use_type.into(),
            occupancy: planned.occupancy.into(),
            area_m2: Some(planned.area_m2),
            household_no: None,
            relation: planned.relation.into(),
            person,
            tags: planned.tags.iter().map(|t| (*t).to_owned()).collect(),
        });
        let household_ends = persons
            .get(i + 1)
            .is_none_or(|next| next.household != planned.household);
        if batch.len() >= BATCH && household_ends {
            store.import_people(&batch, &audit, now, None).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.import_people(&batch, &audit, now, None).await?;
    }
    Ok(Some(PeopleSeeded {
        persons: plan.persons.len(),
        households: plan.households,
        dwellings: plan.dwellings,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use jinlin_domain::people::parse_id_number;

    /// 2026-01-01 00:00 China Standard Time.
    const NOW: i64 = 1_767_196_800_000;

    #[test]
    fn plausible_households() {
        let county = super::super::demo_county();
        let plan = demo_people(&county, NOW);
        let today = Date::from_epoch_ms(NOW);
        let n = plan.persons.len();
        assert!((15_000..=30_000).contains(&n), "{n} persons");
        eprintln!("{n} persons, {} households", plan.households);
        let mut ids = HashSet::new();
        let (mut tagged, mut party, mut home) = (0, 0, 0);
        for p in &plan.persons {
            let id = p.input.id_number.as_deref().unwrap();
            let parsed = parse_id_number(id, today).unwrap();
            assert!(ids.insert(id.to_owned()));
            if parsed.region_prefix() == HOME_PREFIX {
                home += 1;
            }
            let name_len = p.input.name.chars().count();
            assert!((2..=3).contains(&name_len), "{}", p.input.name);
            if let Some(phone) = &p.input.phone {
                jinlin_domain::people::parse_mobile(phone).unwrap();
            }
            tagged += usize::from(!p.tags.is_empty());
            party += usize::from(p.input.party_member);
        }
        let share = |k: usize| k * 1000 / n;
        assert!(
            (30..=90).contains(&share(tagged)),
            "tagged ‰ {}",
            share(tagged)
        );
        assert!(
            (50..=110).contains(&share(party)),
            "party ‰ {}",
            share(party)
        );
        assert!(share(home) > 600, "home ‰ {}", share(home));
        // Children share the father's surname and are 20–35 years younger than their parents.
        let mut start = 0;
        while start < n {
            let h = plan.persons[start].household;
            let end = (start..n)
                .find(|&i| plan.persons[i].household != h)
                .unwrap_or(n);
            let members = &plan.persons[start..end];
            assert_eq!(members.iter().filter(|m| m.relation == HEAD).count(), 1);
            assert!((1..=5).contains(&members.len()));
            let age = |m: &PlannedPerson| {
                parse_id_number(m.input.id_number.as_deref().unwrap(), today)
                    .unwrap()
                    .age_on(today) as i32
            };
            let male = |m: &PlannedPerson| {
                parse_id_number(m.input.id_number.as_deref().unwrap(), today)
                    .unwrap()
                    .gender()
                    == jinlin_domain::people::Gender::Male
            };
            let parents: Vec<&PlannedPerson> = members
                .iter()
                .filter(|m| m.relation == HEAD || m.relation == "spouse")
                .collect();
            let father = parents.iter().find(|m| male(m));
            for c in members
                .iter()
                .filter(|m| m.relation == "son" || m.relation == "daughter")
            {
                assert_eq!(male(c), c.relation == "son");
                for p in &parents {
                    let gap = age(p) - age(c);
                    assert!((19..=36).contains(&gap), "{} {gap}", c.input.name);
                }
                if let Some(f) = father {
                    assert_eq!(
                        c.input.name.chars().next(),
                        f.input.name.chars().next(),
                        "{} {}",
                        c.input.name,
                        f.input.name
                    );
                }
            }
            start = end;
        }
        assert_eq!(
            format!("{plan:?}"),
            format!("{:?}", demo_people(&county, NOW)),
            "deterministic"
        );
    }

    #[tokio::test]
    async fn seeded_people_are_found_and_their_numbers_are_valid() {
        use sqlx::Row;

        use crate::people::{ID_INDEX, PeopleQuery};
        use crate::vault::FieldRef;

        jinlin_store::testing::on_every_backend(|db| async move {
            let dir = std::env::temp_dir().join(format!(
                "jinlin-demo-people-{}",
                jinlin_store::testing::unique_suffix()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let app = crate::App::with_clock(
                db.store.clone(),
                crate::Settings {
                    data_dir: dir.clone(),
                    ..crate::Settings::default()
                },
                std::sync::Arc::new(|| NOW),
            )
            .await
            .unwrap();
            assert!(super::super::seed(&db.store, NOW).await.unwrap());
            let county = super::super::demo_county();
            let started = std::time::Instant::now();
            let seeded = seed_people(&app, &county, NOW).await.unwrap().unwrap();
            eprintln!(
                "{:?}: {} persons, {} households in {:?}",
                db.backend,
                seeded.persons,
                seeded.households,
                started.elapsed()
            );
            assert!(dir.join("field-keys").exists(), "the key file is the app's");
            assert!(
                seed_people(&app, &county, NOW).await.unwrap().is_none(),
                "a second seed is a no-op"
            );
            let (persons, households) = db.store.people_counts("/").await.unwrap();
            assert_eq!(persons as usize, seeded.persons);
            assert_eq!(households as usize, seeded.households);

            // The community desk finds a resident of its community by the initials of the name.
            let user = db
                .store
                .user_by_username("community")
                .await
                .unwrap()
                .unwrap();
            let actor = crate::accounts::actor_of(&user);
            let plan = demo_people(&county, NOW);
            let target = plan
                .persons
                .iter()
                .find(|p| p.building_code.starts_with(&user.region_code))
                .unwrap();
            let (_, initials) = jinlin_domain::people::name_pinyin(&target.input.name);
            let q = PeopleQuery {
                q: initials.to_uppercase(),
                region: Some(target.building_code.clone()),
                page_size: 200,
                ..PeopleQuery::default()
            };
            let page = app.search_people(&actor, &q).await.unwrap();
            let id = target.input.id_number.as_deref().unwrap();
            assert!(
                page.items.iter().any(
                    |l| l.summary.name == target.input.name && l.id_masked.ends_with(&id[14..])
                ),
                "{} ({initials}) not found",
                target.input.name
            );

            // Every stored ID number decrypts to a valid one.
            let cipher = app.cipher().await.unwrap();
            let pool = jinlin_store::testing::raw_pool(&db.url).await.unwrap();
            let rows = sqlx::query("SELECT id_cipher, id_bidx FROM persons")
                .fetch_all(&pool)
                .await
                .unwrap();
            assert_eq!(rows.len(), seeded.persons);
            let today = Date::from_epoch_ms(NOW);
            for r in &rows {
                let c: String = r.try_get("id_cipher").unwrap();
                let bidx: String = r.try_get("id_bidx").unwrap();
                let plain = cipher
                    .decrypt(&c, &FieldRef::new("persons", "id_number", &bidx))
                    .unwrap();
                let parsed = parse_id_number(&plain, today).unwrap();
                assert_eq!(cipher.blind_index(ID_INDEX, parsed.as_str()).unwrap(), bidx);
            }
            pool.close().await;
            let _ = std::fs::remove_dir_all(&dir);
        })
        .await;
    }
}
