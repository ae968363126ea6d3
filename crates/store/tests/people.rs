//! Behaviour of the people store (实有人口, 一户一档) on every available backend: SQLite always,
//! PostgreSQL as well when `JINLIN_TEST_PG_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use jinlin_domain::regions::{NewRegion, RegionLevel};
use jinlin_store::audit::{AuditFilter, NewAudit};
use jinlin_store::people::{
    AccessFilter, HEAD, ImportRow, NewAccess, NewCareTag, NewDwelling, NewHousehold, NewPerson,
    PersonFilter, Placement,
};
use jinlin_store::testing::{TestDb, on_every_backend, raw_pool};
use jinlin_store::{Backend, Store, StoreError};
use sqlx::Row;

// ----- fixtures ----------------------------------------------------------------------------

const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const DAY: i64 = 86_400_000;

const D: &str = "350503000000";
const S1: &str = "350503001000";
const S2: &str = "350503002000";
const C1: &str = "350503001001";
const C2: &str = "350503002001";
const K1: &str = "350503001001001";
const K2: &str = "350503002001001";
const G1: &str = "350503001001001001";
const G2: &str = "350503002001001001";
const B1: &str = "350503001001001001001";
const B1B: &str = "350503001001001001002";
const B2: &str = "350503002001001001001";

fn nr(code: &str, parent: Option<&str>, level: RegionLevel, name: &str) -> NewRegion {
    NewRegion {
        code: code.into(),
        parent_code: parent.map(Into::into),
        level,
        name: name.into(),
        boundary: None,
    }
}

/// 丰泽区 → two streets, each with a community, a compound and a grid; two buildings in grid 1,
/// one in grid 2.
fn tree() -> Vec<NewRegion> {
    use RegionLevel::*;
    vec![
        nr(D, None, District, "丰泽区"),
        nr(S1, Some(D), Street, "东湖街道"),
        nr(S2, Some(D), Street, "丰泽街道"),
        nr(C1, Some(S1), Community, "东霞社区"),
        nr(C2, Some(S2), Community, "丰盛社区"),
        nr(K1, Some(C1), Compound, "东霞小区"),
        nr(K2, Some(C2), Compound, "丰盛小区"),
        nr(G1, Some(K1), Grid, "东霞一网格"),
        nr(G2, Some(K2), Grid, "丰盛一网格"),
        nr(B1, Some(G1), Building, "东霞小区1号楼"),
        nr(B1B, Some(G1), Building, "东霞小区2号楼"),
        nr(B2, Some(G2), Building, "丰盛小区1号楼"),
    ]
}

fn audit(action: &str) -> NewAudit {
    NewAudit {
        actor_id: Some(7),
        actor_name: "社区工作者甲".into(),
        action: action.into(),
        outcome: "ok".into(),
        ..NewAudit::default()
    }
}

/// Regions by code: (id, path).
struct Places {
    d: (i64, String),
    s1: (i64, String),
    c1: (i64, String),
    g1: (i64, String),
    b1: (i64, String),
    b1b: (i64, String),
    b2: (i64, String),
}

async fn seed(store: &Store) -> Places {
    store
        .insert_regions(&tree(), &audit("regions.import"), NOW)
        .await
        .unwrap();
    let get = |code: &'static str| async move {
        let r = store.region_by_code(code).await.unwrap().unwrap();
        (r.id, r.path)
    };
    Places {
        d: get(D).await,
        s1: get(S1).await,
        c1: get(C1).await,
        g1: get(G1).await,
        b1: get(B1).await,
        b1b: get(B1B).await,
        b2: get(B2).await,
    }
}

fn dwelling(building_id: i64, unit: &str, floor: i64, number: &str) -> NewDwelling {
    NewDwelling {
        building_id,
        unit: unit.into(),
        floor: Some(floor),
        number: number.into(),
        use_type: "residential".into(),
        occupancy: "owner_occupied".into(),
        area_m2: Some(89.5),
        notes: String::new(),
    }
}

/// A person; `n` makes the (fake) ciphertexts and blind indexes unique.
fn person(name: &str, full: &str, initials: &str, n: u32) -> NewPerson {
    NewPerson {
        name: name.into(),
        name_py_full: full.into(),
        name_py_initials: initials.into(),
        gender: "female".into(),
        birth_date: Some("1950-03-01".into()),
        id_cipher: Some(format!("v1:k1:cipher-id-{n}")),
        id_bidx: Some(format!("bidx-id-{n}")),
        id_masked: Some(format!("350***********{:04}", n % 10_000)),
        phone_cipher: Some(format!("v1:k1:cipher-phone-{n}")),
        phone_bidx: Some(format!("bidx-phone-{n}")),
        phone_masked: Some(format!("138****{:04}", (n + 5000) % 10_000)),
        ethnic_group: Some("汉族".into()),
        registered_address: Some("泉州市丰泽区东湖街道".into()),
        actual_address: Some(format!("东霞小区1号楼 {n} 室")),
        residence_status: "resident".into(),
        party_member: false,
        notes: String::new(),
    }
}

fn in_household(household_id: i64, relation: &str) -> Placement {
    Placement::Household {
        household_id,
        relation: relation.into(),
    }
}

async fn count(db: &TestDb, table: &str) -> i64 {
    let raw = raw_pool(&db.url).await.unwrap();
    let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n FROM {table}"
    )))
    .fetch_one(&raw)
    .await
    .unwrap()
    .get("n");
    raw.close().await;
    n
}

async fn audit_total(store: &Store) -> i64 {
    store
        .list_audit(AuditFilter {
            page: 1,
            page_size: 1,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .1
}

fn filter(scope: &str) -> PersonFilter {
    PersonFilter {
        scope_path: scope.into(),
        page: 1,
        page_size: 50,
        ..PersonFilter::default()
    }
}

async fn names(store: &Store, f: &PersonFilter) -> Vec<String> {
    let (rows, total) = store.search_persons(f).await.unwrap();
    assert_eq!(rows.len() as i64, total.min(i64::from(f.page_size)));
    let mut names: Vec<String> = rows.into_iter().map(|p| p.name).collect();
    names.sort();
    names
}

async fn seed_tags(store: &Store) {
    let tags = [
        ("elderly_alone", "独居老人", false),
        ("disabled", "残疾", true),
        ("low_income", "低保", true),
        ("left_behind_child", "留守儿童", false),
    ]
    .map(|(code, name, sensitive)| NewCareTag {
        code: code.into(),
        name: name.into(),
        sensitive,
        active: true,
    });
    assert_eq!(store.seed_care_tags(&tags, NOW).await.unwrap(), 4);
    assert_eq!(store.seed_care_tags(&tags, NOW).await.unwrap(), 0);
}

// ----- dwellings, households, persons --------------------------------------------------------

#[tokio::test]
async fn dwellings_households_and_persons_are_created_and_read() {
    on_every_backend(|db| async move {
        let s = &db.store;
        let p = seed(s).await;
        let all = p.d.1.as_str();

        // Natural order: unit 2 before unit 10, 301 before 1101; a house without floor first.
        let mut ids = Vec::new();
        for (unit, floor, number) in [
            ("10", 1, "101"),
            ("2", 11, "1101"),
            ("2", 3, "301"),
            ("2", 3, "302"),
        ] {
            ids.push(
                s.create_dwelling(&dwelling(p.b1.0, unit, floor, number), &audit("dwelling.create"), NOW)
                    .await
                    .unwrap(),
            );
        }
        let mut shop = dwelling(p.b1.0, "", 0, "商铺1");
        shop.floor = None;
        shop.use_type = "commercial".into();
        shop.occupancy = "rented".into();
        shop.area_m2 = None;
        let shop_id = s.create_dwelling(&shop, &audit("dwelling.create"), NOW).await.unwrap();

        // The same unit and number twice in a building.
        let err = s
            .create_dwelling(&dwelling(p.b1.0, "2", 3, "301"), &audit("dwelling.create"), NOW)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Clash { field, message } if field == "number" && message.contains("301")),
            "{err:?}"
        );
        // Only buildings hold dwellings.
        let err = s
            .create_dwelling(&dwelling(p.g1.0, "1", 1, "101"), &audit("dwelling.create"), NOW)
            .await
            .unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(m) if m.contains("楼栋")), "{err:?}");
        // Bad input names the field.
        let mut bad = dwelling(p.b1.0, "1", 1, "101");
        bad.occupancy = "squatted".into();
        let err = s.create_dwelling(&bad, &audit("dwelling.create"), NOW).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(m) if m.contains("居住情况")), "{err:?}");

        // A household with a head and a spouse, in 2-301.
        let hid = s
            .create_household(
                &NewHousehold {
                    dwelling_id: ids[2],
                    household_no: Some("H0001".into()),
                    notes: String::new(),
                },
                &audit("household.create"),
                NOW,
            )
            .await
            .unwrap();
        let wang = s
            .create_person(&person("王秀英", "wangxiuying", "wxy", 1), &in_household(hid, HEAD), &audit("person.create"), NOW)
            .await
            .unwrap();
        let li = s
            .create_person(&person("李建国", "lijianguo", "ljg", 2), &in_household(hid, "spouse"), &audit("person.create"), NOW)
            .await
            .unwrap();
        // A person known only at the community level.
        let floating = s
            .create_person(&person("赵流动", "zhaoliudong", "zld", 3), &Placement::Region(p.c1.0), &audit("person.create"), NOW)
            .await
            .unwrap();

        let listing = s.dwellings_of_building(p.b1.0, all).await.unwrap();
        let order: Vec<(String, Option<i64>, String)> = listing
            .iter()
            .map(|l| (l.dwelling.unit.clone(), l.dwelling.floor, l.dwelling.number.clone()))
            .collect();
        assert_eq!(
            order,
            vec![
                (String::new(), None, "商铺1".to_string()),
                ("2".into(), Some(3), "301".into()),
                ("2".into(), Some(3), "302".into()),
                ("2".into(), Some(11), "1101".into()),
                ("10".into(), Some(1), "101".into()),
            ]
        );
        assert_eq!(listing[0].dwelling.id, shop_id);
        assert_eq!(listing[0].dwelling.area_m2, None);
        assert_eq!(listing[1].dwelling.area_m2, Some(89.5));
        assert_eq!(listing[1].dwelling.building_name, "东霞小区1号楼");
        assert_eq!(listing[1].households.len(), 1);
        let brief = &listing[1].households[0];
        assert_eq!(
            (brief.id, brief.member_count, brief.head_person_id, brief.head_name.as_deref()),
            (hid, 2, Some(wang), Some("王秀英"))
        );
        assert!(listing[2].households.is_empty());

        // The household file.
        let file = s.household_file(hid, all).await.unwrap().unwrap();
        assert_eq!(file.dwelling.id, ids[2]);
        assert_eq!(file.household.household_no.as_deref(), Some("H0001"));
        assert_eq!(file.household.region_path, p.b1.1);
        let members: Vec<(&str, &str)> = file
            .members
            .iter()
            .map(|m| (m.name.as_str(), m.relation.as_str()))
            .collect();
        assert_eq!(members, vec![("王秀英", "head"), ("李建国", "spouse")]);
        assert!(file.past_members.is_empty());
        assert_eq!(file.members[0].id_masked.as_deref(), Some("350***********0001"));

        // A person: masked-ready fields, current household, region of the building.
        let w = s.person(wang, all).await.unwrap().unwrap();
        assert_eq!((w.region_id, w.region_path.as_str()), (p.b1.0, p.b1.1.as_str()));
        assert_eq!((w.household_id, w.relation.as_deref()), (Some(hid), Some("head")));
        assert_eq!(w.region_name, "东霞小区1号楼");
        assert_eq!((w.id_masked.as_deref(), w.phone_masked.as_deref()), (Some("350***********0001"), Some("138****5001")));
        let f = s.person(floating, all).await.unwrap().unwrap();
        assert_eq!((f.region_id, f.household_id), (p.c1.0, None));

        // Updates.
        let mut changed = person("王秀英", "wangxiuying", "wxy", 1);
        changed.party_member = true;
        changed.actual_address = Some("东霞小区1号楼2单元301".into());
        s.update_person(wang, &changed, &audit("person.update"), NOW + 1).await.unwrap();
        let w = s.person(wang, all).await.unwrap().unwrap();
        assert!(w.party_member);
        assert_eq!(w.updated_at, NOW + 1);
        let mut d = dwelling(p.b1.0, "2", 3, "301");
        d.occupancy = "rented".into();
        s.update_dwelling(ids[2], &d, &audit("dwelling.update"), NOW + 1).await.unwrap();
        assert_eq!(s.dwelling(ids[2], all).await.unwrap().unwrap().occupancy, "rented");
        d.building_id = p.b2.0;
        assert!(matches!(
            s.update_dwelling(ids[2], &d, &audit("dwelling.update"), NOW).await,
            Err(StoreError::Invalid(_))
        ));
        s.update_household(
            hid,
            &NewHousehold { dwelling_id: ids[2], household_no: None, notes: "低保户".into() },
            &audit("household.update"),
            NOW + 1,
        )
        .await
        .unwrap();
        let h = s.household(hid, all).await.unwrap().unwrap();
        assert_eq!((h.household_no, h.notes.as_str()), (None, "低保户"));

        // The ID number is unique per district, on create and on update.
        let err = s
            .create_person(&person("重复", "chongfu", "cf", 1), &in_household(hid, "child"), &audit("person.create"), NOW)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Clash { field, message } if field == "id_number" && message.contains("王秀英")),
            "{err:?}"
        );
        let err = s
            .update_person(li, &person("李建国", "lijianguo", "ljg", 1), &audit("person.update"), NOW)
            .await
            .unwrap_err();
        assert!(matches!(&err, StoreError::Clash { field, .. } if field == "id_number"), "{err:?}");

        // Bad input names the field.
        let mut bad = person("钱", "qian", "q", 9);
        bad.birth_date = Some("1950-02-30".into());
        let err = s.create_person(&bad, &Placement::Region(p.b1.0), &audit("person.create"), NOW).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(m) if m.contains("出生日期")), "{err:?}");
        let mut bad = person("钱", "qian", "q", 9);
        bad.phone_cipher = None;
        let err = s.create_person(&bad, &Placement::Region(p.b1.0), &audit("person.create"), NOW).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(m) if m.contains("手机号")), "{err:?}");
        let mut bad = person("钱", "Qian", "q", 9);
        bad.gender = "m".into();
        let err = s.create_person(&bad, &Placement::Region(p.b1.0), &audit("person.create"), NOW).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(m) if m.contains("拼音") || m.contains("全拼")), "{err:?}");
        let mut bad = person("", "qian", "q", 9);
        bad.gender = "m".into();
        let err = s.create_person(&bad, &Placement::Region(p.b1.0), &audit("person.create"), NOW).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(m) if m.contains("姓名")), "{err:?}");
        assert_eq!(count(&db, "persons").await, 3);

        // Every change wrote its audit entry (tree + 5 dwellings + household + 3 persons
        // + 3 updates); refused ones wrote none.
        assert_eq!(audit_total(s).await, 13);
    })
    .await;
}

// ----- search ------------------------------------------------------------------------------

#[tokio::test]
async fn persons_are_found_by_each_key() {
    on_every_backend(|db| async move {
        let s = &db.store;
        let p = seed(s).await;
        seed_tags(s).await;
        let all = p.d.1.as_str();
        let d1 = s.create_dwelling(&dwelling(p.b1.0, "1", 1, "101"), &audit("d"), NOW).await.unwrap();
        let d2 = s.create_dwelling(&dwelling(p.b1b.0, "1", 1, "101"), &audit("d"), NOW).await.unwrap();
        let h1 = s.create_household(&NewHousehold { dwelling_id: d1, ..NewHousehold::default() }, &audit("h"), NOW).await.unwrap();
        let h2 = s.create_household(&NewHousehold { dwelling_id: d2, ..NewHousehold::default() }, &audit("h"), NOW).await.unwrap();
        let zhang = s.create_person(&person("张三", "zhangsan", "zs", 1), &in_household(h1, HEAD), &audit("p"), NOW).await.unwrap();
        let mut z4 = person("张四丰", "zhangsifeng", "zsf", 2);
        z4.registered_address = Some("晋江市陈埭镇".into());
        let zsf = s.create_person(&z4, &in_household(h1, "sibling"), &audit("p"), NOW).await.unwrap();
        let li = s.create_person(&person("李娜", "lina", "ln", 3), &in_household(h2, HEAD), &audit("p"), NOW).await.unwrap();
        let mut w = person("Wang 50%_x", "wang", "w", 4);
        w.actual_address = None;
        w.registered_address = None;
        let _wang = s.create_person(&w, &Placement::Region(p.c1.0), &audit("p"), NOW).await.unwrap();

        // Everyone in the district; page size and total.
        assert_eq!(names(s, &filter(all)).await.len(), 4);
        let (page, total) = s
            .search_persons(&PersonFilter { page: 2, page_size: 3, ..filter(all) })
            .await
            .unwrap();
        assert_eq!((page.len(), total), (1, 4));

        // Name substring (LIKE specials are literal; ASCII case does not matter).
        assert_eq!(names(s, &PersonFilter { name: Some("张".into()), ..filter(all) }).await, ["张三", "张四丰"]);
        assert_eq!(names(s, &PersonFilter { name: Some("四".into()), ..filter(all) }).await, ["张四丰"]);
        assert_eq!(names(s, &PersonFilter { name: Some("50%_".into()), ..filter(all) }).await, ["Wang 50%_x"]);
        assert_eq!(names(s, &PersonFilter { name: Some("wANG".into()), ..filter(all) }).await, ["Wang 50%_x"]);
        assert!(names(s, &PersonFilter { name: Some("%".into()), ..filter(all) }).await.len() == 1);

        // A keyed search pages and counts too, also past its last page.
        {
            let by_zhang = PersonFilter { name: Some("张".into()), page_size: 1, ..filter(all) };
            let (first, total) = s.search_persons(&by_zhang).await.unwrap();
            assert_eq!((first.len(), total), (1, 2));
            let (second, total) = s.search_persons(&PersonFilter { page: 2, ..by_zhang.clone() }).await.unwrap();
            assert_eq!((second.len(), total), (1, 2));
            assert_ne!(first[0].id, second[0].id);
            let (past, total) = s.search_persons(&PersonFilter { page: 9, ..by_zhang.clone() }).await.unwrap();
            assert_eq!((past.len(), total), (0, 2));
        }

        // Pinyin prefix, full or initials, any case.
        assert_eq!(names(s, &PersonFilter { pinyin: Some("zhang".into()), ..filter(all) }).await, ["张三", "张四丰"]);
        assert_eq!(names(s, &PersonFilter { pinyin: Some("zhangs".into()), ..filter(all) }).await, ["张三", "张四丰"]);
        assert_eq!(names(s, &PersonFilter { pinyin: Some("zhangsa".into()), ..filter(all) }).await, ["张三"]);
        assert_eq!(names(s, &PersonFilter { pinyin: Some("ZSF".into()), ..filter(all) }).await, ["张四丰"]);
        // `l` starts both lina and ln: 李娜 is listed once.
        assert_eq!(names(s, &PersonFilter { pinyin: Some("l".into()), ..filter(all) }).await, ["李娜"]);
        assert!(matches!(
            s.search_persons(&PersonFilter { pinyin: Some("张".into()), ..filter(all) }).await,
            Err(StoreError::Invalid(m)) if m.contains("拼音")
        ));

        // Blind indexes: exact only.
        assert_eq!(names(s, &PersonFilter { id_bidx: Some("bidx-id-3".into()), ..filter(all) }).await, ["李娜"]);
        assert!(names(s, &PersonFilter { id_bidx: Some("bidx-id-".into()), ..filter(all) }).await.is_empty());
        assert_eq!(names(s, &PersonFilter { phone_bidx: Some("bidx-phone-2".into()), ..filter(all) }).await, ["张四丰"]);
        // The last four digits of the mobile (138****5002), inside the scope only.
        let tail = |t: &str| PersonFilter { phone_tail: Some(t.into()), ..filter(all) };
        assert_eq!(names(s, &tail("5002")).await, ["张四丰"]);
        assert!(names(s, &PersonFilter { region_id: Some(p.b1b.0), ..tail("5002") }).await.is_empty());
        assert!(names(s, &tail("0000")).await.is_empty());
        assert!(matches!(s.search_persons(&tail("50")).await, Err(StoreError::Invalid(m)) if m.contains("手机尾号")));

        // Address: registered or actual.
        assert_eq!(names(s, &PersonFilter { address: Some("陈埭".into()), ..filter(all) }).await, ["张四丰"]);
        assert_eq!(names(s, &PersonFilter { address: Some("丰泽区".into()), ..filter(all) }).await, ["张三", "李娜"]);

        // Region narrower than the scope: one building, the grid, the community.
        assert_eq!(names(s, &PersonFilter { region_id: Some(p.b1b.0), ..filter(all) }).await, ["李娜"]);
        assert_eq!(names(s, &PersonFilter { region_id: Some(p.g1.0), ..filter(all) }).await, ["张三", "张四丰", "李娜"]);
        assert_eq!(names(s, &PersonFilter { region_id: Some(p.c1.0), ..filter(all) }).await.len(), 4);

        // Tags: a plain tag always; a sensitive one only with the flag, also in the rows.
        s.tag_person(zhang, "elderly_alone", NOW, Some(7), &audit("tag"), NOW).await.unwrap();
        s.tag_person(zhang, "low_income", NOW, Some(7), &audit("tag"), NOW).await.unwrap();
        s.tag_person(li, "low_income", NOW, Some(7), &audit("tag"), NOW).await.unwrap();
        let err = s.tag_person(li, "low_income", NOW, None, &audit("tag"), NOW).await.unwrap_err();
        assert!(matches!(&err, StoreError::Clash { field, message } if field == "tag" && message.contains("李娜")), "{err:?}");
        assert!(matches!(
            s.tag_person(li, "no_such_tag", NOW, None, &audit("tag"), NOW).await,
            Err(StoreError::Invalid(m)) if m.contains("no_such_tag")
        ));
        assert_eq!(names(s, &PersonFilter { tag_code: Some("elderly_alone".into()), ..filter(all) }).await, ["张三"]);
        assert!(names(s, &PersonFilter { tag_code: Some("low_income".into()), ..filter(all) }).await.is_empty());
        let sensitive = PersonFilter { tag_code: Some("low_income".into()), include_sensitive_tags: true, ..filter(all) };
        assert_eq!(names(s, &sensitive).await, ["张三", "李娜"]);
        let (rows, _) = s.search_persons(&PersonFilter { name: Some("张三".into()), ..filter(all) }).await.unwrap();
        assert_eq!(rows[0].tags, ["elderly_alone"]);
        let (rows, _) = s
            .search_persons(&PersonFilter { name: Some("张三".into()), include_sensitive_tags: true, ..filter(all) })
            .await
            .unwrap();
        assert_eq!(rows[0].tags, ["elderly_alone", "low_income"]);
        // Masked-ready row: masked numbers, household and dwelling, no ciphertext anywhere.
        let row = &rows[0];
        assert_eq!((row.id_masked.as_deref(), row.phone_masked.as_deref()), (Some("350***********0001"), Some("138****5001")));
        assert_eq!((row.household_id, row.relation.as_deref(), row.dwelling_id), (Some(h1), Some("head"), Some(d1)));
        assert_eq!((row.unit.as_deref(), row.number.as_deref()), (Some("1"), Some("101")));
        assert!(!format!("{row:?}").contains("cipher"));

        // An ended tag no longer matches; the history keeps it.
        s.end_person_tag(zhang, "elderly_alone", NOW + DAY, &audit("untag"), NOW + DAY).await.unwrap();
        assert!(names(s, &PersonFilter { tag_code: Some("elderly_alone".into()), ..filter(all) }).await.is_empty());
        let tags = s.person_tags(zhang, all, true, true).await.unwrap();
        assert_eq!(tags.len(), 2);
        assert!(tags.iter().any(|t| t.tag_code == "elderly_alone" && t.until == Some(NOW + DAY)));
        let tags = s.person_tags(zhang, all, false, false).await.unwrap();
        assert!(tags.is_empty(), "{tags:?}");
        // It can be put on again.
        s.tag_person(zhang, "elderly_alone", NOW + 2 * DAY, None, &audit("tag"), NOW).await.unwrap();
        assert_eq!(names(s, &PersonFilter { tag_code: Some("elderly_alone".into()), ..filter(all) }).await, ["张三"]);

        // Criteria combine.
        assert_eq!(
            names(s, &PersonFilter { pinyin: Some("zs".into()), address: Some("陈埭".into()), ..filter(all) }).await,
            ["张四丰"]
        );
        assert!(names(s, &PersonFilter { pinyin: Some("zs".into()), region_id: Some(p.b1b.0), ..filter(all) }).await.is_empty());
        let _ = zsf;

        // Care tags: list, deactivate, rename.
        let listed = s.care_tags(false).await.unwrap();
        assert_eq!(listed.len(), 4);
        assert_eq!(listed[0].code, "elderly_alone");
        s.update_care_tag(
            "left_behind_child",
            &NewCareTag { code: String::new(), name: "留守儿童（含困境儿童）".into(), sensitive: true, active: false },
            &audit("care_tag.update"),
            NOW,
        )
        .await
        .unwrap();
        assert_eq!(s.care_tags(false).await.unwrap().len(), 3);
        let all_tags = s.care_tags(true).await.unwrap();
        let changed = all_tags.iter().find(|t| t.code == "left_behind_child").unwrap();
        assert!(changed.sensitive && !changed.active);
        assert!(matches!(
            s.tag_person(li, "left_behind_child", NOW, None, &audit("tag"), NOW).await,
            Err(StoreError::Invalid(m)) if m.contains("停用")
        ));
        s.create_care_tag(
            &NewCareTag { code: "veteran".into(), name: "退役军人".into(), sensitive: false, active: true },
            &audit("care_tag.create"),
            NOW,
        )
        .await
        .unwrap();
        assert!(matches!(
            s.create_care_tag(
                &NewCareTag { code: "veteran".into(), name: "退役军人".into(), sensitive: false, active: true },
                &audit("care_tag.create"),
                NOW,
            )
            .await,
            Err(StoreError::Conflict { field }) if field == "code"
        ));
        assert_eq!(s.care_tags(false).await.unwrap().last().unwrap().code, "veteran");
    })
    .await;
}

#[tokio::test]
async fn reads_stay_inside_the_scope() {
    on_every_backend(|db| async move {
        let s = &db.store;
        let p = seed(s).await;
        seed_tags(s).await;
        let d1 = s
            .create_dwelling(&dwelling(p.b1.0, "1", 1, "101"), &audit("d"), NOW)
            .await
            .unwrap();
        let d2 = s
            .create_dwelling(&dwelling(p.b2.0, "1", 1, "101"), &audit("d"), NOW)
            .await
            .unwrap();
        let h1 = s
            .create_household(
                &NewHousehold {
                    dwelling_id: d1,
                    ..NewHousehold::default()
                },
                &audit("h"),
                NOW,
            )
            .await
            .unwrap();
        let h2 = s
            .create_household(
                &NewHousehold {
                    dwelling_id: d2,
                    ..NewHousehold::default()
                },
                &audit("h"),
                NOW,
            )
            .await
            .unwrap();
        let inside = s
            .create_person(
                &person("张三", "zhangsan", "zs", 1),
                &in_household(h1, HEAD),
                &audit("p"),
                NOW,
            )
            .await
            .unwrap();
        let outside = s
            .create_person(
                &person("张三", "zhangsan", "zs", 2),
                &in_household(h2, HEAD),
                &audit("p"),
                NOW,
            )
            .await
            .unwrap();
        s.tag_person(outside, "elderly_alone", NOW, None, &audit("tag"), NOW)
            .await
            .unwrap();

        // Street 1's staff: the person in street 2 is invisible, by every key.
        let street = p.s1.1.as_str();
        for f in [
            filter(street),
            PersonFilter {
                name: Some("张三".into()),
                ..filter(street)
            },
            PersonFilter {
                pinyin: Some("zs".into()),
                ..filter(street)
            },
            PersonFilter {
                id_bidx: Some("bidx-id-2".into()),
                ..filter(street)
            },
            PersonFilter {
                phone_bidx: Some("bidx-phone-2".into()),
                ..filter(street)
            },
            PersonFilter {
                tag_code: Some("elderly_alone".into()),
                ..filter(street)
            },
            PersonFilter {
                region_id: Some(p.b2.0),
                ..filter(street)
            },
            PersonFilter {
                region_id: Some(p.d.0),
                ..filter(street)
            },
        ] {
            let (rows, total) = s.search_persons(&f).await.unwrap();
            assert!(rows.iter().all(|r| r.id == inside), "{f:?} → {rows:?}");
            assert!(total <= 1, "{f:?}");
        }
        let (rows, total) = s.search_persons(&filter(street)).await.unwrap();
        assert_eq!((rows.len(), total, rows[0].id), (1, 1, inside));

        // Direct reads by id are scoped too.
        assert!(s.person(outside, street).await.unwrap().is_none());
        assert!(s.person(inside, street).await.unwrap().is_some());
        assert!(s.household(h2, street).await.unwrap().is_none());
        assert!(s.household_file(h2, street).await.unwrap().is_none());
        assert!(s.dwelling(d2, street).await.unwrap().is_none());
        assert!(
            s.dwellings_of_building(p.b2.0, street)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.person_memberships(outside, street)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.person_tags(outside, street, true, true)
                .await
                .unwrap()
                .is_empty()
        );

        // No reveal outside the scope, and nothing logged for it.
        let reveal = NewAccess {
            user_id: Some(7),
            user_name: "社区工作者甲".into(),
            action: "reveal".into(),
            field: Some("id_number".into()),
            reason: "核实身份".into(),
            ..NewAccess::default()
        };
        assert!(
            s.person_secret(outside, street, &reveal, NOW)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(count(&db, "person_access_log").await, 0);
        let secret = s
            .person_secret(inside, street, &reveal, NOW)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(secret.id_cipher.as_deref(), Some("v1:k1:cipher-id-1"));
        assert_eq!(secret.phone_cipher.as_deref(), Some("v1:k1:cipher-phone-1"));

        // A second district in the same database: the first district's leader, whose scope is a
        // whole root, still finds only their own 张三 by name and by pinyin.
        use RegionLevel::*;
        let other = [
            nr("350582000000", None, District, "晋江市"),
            nr("350582001000", Some("350582000000"), Street, "青阳街道"),
            nr("350582001001", Some("350582001000"), Community, "青华社区"),
            nr(
                "350582001001001",
                Some("350582001001"),
                Compound,
                "青华小区",
            ),
            nr(
                "350582001001001001",
                Some("350582001001001"),
                Grid,
                "青华一网格",
            ),
            nr(
                "350582001001001001001",
                Some("350582001001001001"),
                Building,
                "青华小区1号楼",
            ),
        ];
        s.insert_regions(&other, &audit("regions.import"), NOW)
            .await
            .unwrap();
        let far = s
            .region_by_code("350582001001001001001")
            .await
            .unwrap()
            .unwrap();
        let far_d = s
            .create_dwelling(&dwelling(far.id, "1", 1, "101"), &audit("d"), NOW)
            .await
            .unwrap();
        let far_h = s
            .create_household(
                &NewHousehold {
                    dwelling_id: far_d,
                    ..NewHousehold::default()
                },
                &audit("h"),
                NOW,
            )
            .await
            .unwrap();
        let far_p = s
            .create_person(
                &person("张三", "zhangsan", "zs", 3),
                &in_household(far_h, HEAD),
                &audit("p"),
                NOW,
            )
            .await
            .unwrap();
        for f in [
            PersonFilter {
                name: Some("张".into()),
                ..filter(&p.d.1)
            },
            PersonFilter {
                name: Some("三".into()),
                ..filter(&p.d.1)
            },
            PersonFilter {
                pinyin: Some("zs".into()),
                ..filter(&p.d.1)
            },
            PersonFilter {
                pinyin: Some("zhang".into()),
                ..filter(&p.d.1)
            },
        ] {
            let (rows, total) = s.search_persons(&f).await.unwrap();
            let mut ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            ids.sort_unstable();
            assert_eq!((ids, total), (vec![inside, outside], 2), "{f:?}");
        }
        let (rows, _) = s
            .search_persons(&PersonFilter {
                name: Some("张三".into()),
                ..filter("/")
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), 3, "the whole database holds three 张三");
        assert!(rows.iter().any(|r| r.id == far_p));

        // The grid scope of a sibling street sees nothing of street 1; a malformed scope is refused.
        assert_eq!(s.search_persons(&filter(&p.g1.1)).await.unwrap().1, 1);
        assert!(matches!(
            s.search_persons(&filter("/1")).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.person(inside, "").await,
            Err(StoreError::Invalid(_))
        ));
    })
    .await;
}

// ----- memberships -------------------------------------------------------------------------

#[tokio::test]
async fn a_person_cannot_be_in_two_households_at_once() {
    on_every_backend(|db| async move {
        let s = &db.store;
        let p = seed(s).await;
        let all = p.d.1.as_str();
        let d1 = s.create_dwelling(&dwelling(p.b1.0, "1", 1, "101"), &audit("d"), NOW).await.unwrap();
        let d2 = s.create_dwelling(&dwelling(p.b1b.0, "1", 2, "201"), &audit("d"), NOW).await.unwrap();
        let h1 = s.create_household(&NewHousehold { dwelling_id: d1, ..NewHousehold::default() }, &audit("h"), NOW).await.unwrap();
        let h2 = s.create_household(&NewHousehold { dwelling_id: d2, ..NewHousehold::default() }, &audit("h"), NOW).await.unwrap();
        let wang = s.create_person(&person("王秀英", "wangxiuying", "wxy", 1), &in_household(h1, HEAD), &audit("p"), NOW).await.unwrap();
        let chen = s.create_person(&person("陈大明", "chendaming", "cdm", 2), &in_household(h2, HEAD), &audit("p"), NOW).await.unwrap();
        let audits = audit_total(s).await;

        // Joining a second household while still in the first: refused, naming the person.
        let err = s
            .join_household(wang, h2, HEAD, NOW + DAY, "投靠子女", &audit("member.join"), NOW + DAY)
            .await
            .unwrap_err();
        // (h2 has a head already; as a spouse the only clash left is the membership itself.)
        assert!(matches!(&err, StoreError::Clash { field, .. } if field == "relation"), "{err:?}");
        let err = s
            .join_household(wang, h2, "parent", NOW + DAY, "投靠子女", &audit("member.join"), NOW + DAY)
            .await
            .unwrap_err();
        match &err {
            StoreError::Clash { field, message } => {
                assert_eq!(field, "person");
                assert!(message.contains("王秀英") && message.contains(&wang.to_string()), "{message}");
                assert!(message.contains("两户"), "{message}");
            }
            other => panic!("expected a clash, got {other:?}"),
        }
        // Nothing half-written: no membership, no head change, no region change, no audit.
        let file = s.household_file(h2, all).await.unwrap().unwrap();
        assert_eq!(file.members.len(), 1);
        assert_eq!(file.household.head_person_id, Some(chen));
        let w = s.person(wang, all).await.unwrap().unwrap();
        assert_eq!((w.household_id, w.region_id), (Some(h1), p.b1.0));
        assert_eq!(count(&db, "household_members").await, 2);
        assert_eq!(audit_total(s).await, audits);

        // The database itself refuses it, whoever writes.
        let raw = raw_pool(&db.url).await.unwrap();
        let direct = sqlx::query(
            "INSERT INTO household_members (tenant, household_id, person_id, relation, joined_at, \
             joined_reason, left_reason) VALUES ($1, $2, $3, 'parent', $4, '', '')",
        )
        .bind(D)
        .bind(h2)
        .bind(wang)
        .bind(NOW)
        .execute(&raw)
        .await;
        assert!(direct.is_err(), "a second current membership must be refused");
        // … and a second current head of one household.
        let third = s.create_person(&person("周三", "zhousan", "zs", 3), &Placement::Region(p.b1.0), &audit("p"), NOW).await.unwrap();
        let direct = sqlx::query(
            "INSERT INTO household_members (tenant, household_id, person_id, relation, joined_at, \
             joined_reason, left_reason) VALUES ($1, $2, $3, 'head', $4, '', '')",
        )
        .bind(D)
        .bind(h2)
        .bind(third)
        .bind(NOW)
        .execute(&raw)
        .await;
        assert!(direct.is_err(), "a second current head must be refused");
        raw.close().await;

        // A person in no household may join; as a second head they may not.
        let err = s.join_household(third, h2, HEAD, NOW, "", &audit("member.join"), NOW).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Clash { field, message } if field == "relation" && message.contains("陈大明")),
            "{err:?}"
        );
        s.join_household(third, h2, "child", NOW, "出生", &audit("member.join"), NOW).await.unwrap();
        let t = s.person(third, all).await.unwrap().unwrap();
        assert_eq!((t.household_id, t.region_id), (Some(h2), p.b1b.0));
    })
    .await;
}

#[tokio::test]
async fn moves_keep_the_history() {
    on_every_backend(|db| async move {
        let s = &db.store;
        let p = seed(s).await;
        let all = p.d.1.as_str();
        let d1 = s
            .create_dwelling(&dwelling(p.b1.0, "1", 1, "101"), &audit("d"), NOW)
            .await
            .unwrap();
        let d2 = s
            .create_dwelling(&dwelling(p.b2.0, "3", 5, "502"), &audit("d"), NOW)
            .await
            .unwrap();
        let h1 = s
            .create_household(
                &NewHousehold {
                    dwelling_id: d1,
                    ..NewHousehold::default()
                },
                &audit("h"),
                NOW,
            )
            .await
            .unwrap();
        let h2 = s
            .create_household(
                &NewHousehold {
                    dwelling_id: d2,
                    ..NewHousehold::default()
                },
                &audit("h"),
                NOW,
            )
            .await
            .unwrap();
        let wang = s
            .create_person(
                &person("王秀英", "wangxiuying", "wxy", 1),
                &in_household(h1, HEAD),
                &audit("p"),
                NOW,
            )
            .await
            .unwrap();
        let li = s
            .create_person(
                &person("李建国", "lijianguo", "ljg", 2),
                &in_household(h1, "spouse"),
                &audit("p"),
                NOW,
            )
            .await
            .unwrap();

        // The head moves to another street's household: one transaction closes and opens.
        s.move_person(
            wang,
            h2,
            HEAD,
            NOW + DAY,
            "购房迁居",
            &audit("person.move"),
            NOW + DAY,
        )
        .await
        .unwrap();
        let history = s.person_memberships(wang, all).await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(
            (history[0].household_id, history[0].left_at),
            (h1, Some(NOW + DAY))
        );
        assert_eq!(history[0].left_reason, "购房迁居");
        assert_eq!(history[0].relation, "head");
        assert_eq!((history[1].household_id, history[1].left_at), (h2, None));
        assert_eq!(
            (history[1].joined_at, history[1].joined_reason.as_str()),
            (NOW + DAY, "购房迁居")
        );
        // The person now lives in street 2 (jurisdiction follows the dwelling) …
        let w = s.person(wang, all).await.unwrap().unwrap();
        assert_eq!(
            (w.region_id, w.region_path.as_str(), w.household_id),
            (p.b2.0, p.b2.1.as_str(), Some(h2))
        );
        assert!(s.person(wang, &p.s1.1).await.unwrap().is_none());
        // … household 1 lost its head and lists her as a past member; household 2 has her as head.
        let old = s.household_file(h1, all).await.unwrap().unwrap();
        assert_eq!(old.household.head_person_id, None);
        assert_eq!(
            old.members.iter().map(|m| m.person_id).collect::<Vec<_>>(),
            [li]
        );
        assert_eq!(old.past_members.len(), 1);
        assert_eq!(
            (old.past_members[0].person_id, old.past_members[0].left_at),
            (wang, Some(NOW + DAY))
        );
        let new = s.household_file(h2, all).await.unwrap().unwrap();
        assert_eq!(new.household.head_person_id, Some(wang));
        assert_eq!(new.household.head_name.as_deref(), Some("王秀英"));

        // 户主变更 within household 1: the spouse becomes head (a relation change is a row too).
        s.move_person(
            li,
            h1,
            HEAD,
            NOW + 2 * DAY,
            "户主变更",
            &audit("person.move"),
            NOW + 2 * DAY,
        )
        .await
        .unwrap();
        let h = s.household(h1, all).await.unwrap().unwrap();
        assert_eq!(h.head_person_id, Some(li));
        let history = s.person_memberships(li, all).await.unwrap();
        let relations: Vec<(&str, bool)> = history
            .iter()
            .map(|m| (m.relation.as_str(), m.left_at.is_none()))
            .collect();
        assert_eq!(relations, [("spouse", false), ("head", true)]);
        // The same household and relation again is no move.
        assert!(matches!(
            s.move_person(li, h1, HEAD, NOW + 3 * DAY, "", &audit("person.move"), NOW)
                .await,
            Err(StoreError::Invalid(_))
        ));
        // A move cannot end before it began.
        assert!(matches!(
            s.move_person(li, h2, "other", NOW, "", &audit("person.move"), NOW).await,
            Err(StoreError::Invalid(m)) if m.contains("迁出时间")
        ));
        // Moving in as a second head is refused and changes nothing.
        let err = s
            .move_person(li, h2, HEAD, NOW + 3 * DAY, "", &audit("person.move"), NOW)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Clash { field, .. } if field == "relation"),
            "{err:?}"
        );
        assert_eq!(
            s.person(li, all).await.unwrap().unwrap().household_id,
            Some(h1)
        );
        assert_eq!(
            s.household(h1, all).await.unwrap().unwrap().head_person_id,
            Some(li)
        );
        assert_eq!(s.person_memberships(li, all).await.unwrap().len(), 2);

        // Leaving closes the row; the person keeps their last region; joining again opens a new row.
        s.leave_household(li, NOW + 4 * DAY, "迁往外省", &audit("person.leave"), NOW)
            .await
            .unwrap();
        let l = s.person(li, all).await.unwrap().unwrap();
        assert_eq!((l.household_id, l.region_id), (None, p.b1.0));
        assert_eq!(
            s.household(h1, all).await.unwrap().unwrap().head_person_id,
            None
        );
        assert!(matches!(
            s.leave_household(li, NOW + 5 * DAY, "", &audit("person.leave"), NOW)
                .await,
            Err(StoreError::Invalid(_))
        ));
        s.join_household(
            li,
            h1,
            HEAD,
            NOW + 9 * DAY,
            "回迁",
            &audit("member.join"),
            NOW,
        )
        .await
        .unwrap();
        assert_eq!(s.person_memberships(li, all).await.unwrap().len(), 3);
        assert_eq!(count(&db, "household_members").await, 5);
        let file = s.household_file(h1, all).await.unwrap().unwrap();
        assert_eq!(file.members.len(), 1);
        assert_eq!(file.past_members.len(), 3, "{:#?}", file.past_members);
    })
    .await;
}

// ----- import ------------------------------------------------------------------------------

fn import_row(
    building_id: i64,
    number: &str,
    no: Option<&str>,
    relation: &str,
    p: NewPerson,
) -> ImportRow {
    ImportRow {
        line: 0,
        building_id,
        unit: "1".into(),
        floor: Some(1),
        number: number.into(),
        use_type: "residential".into(),
        occupancy: "owner_occupied".into(),
        area_m2: Some(70.0),
        household_no: no.map(Into::into),
        relation: relation.into(),
        person: p,
        tags: Vec::new(),
    }
}

async fn nothing_imported(db: &TestDb) {
    for table in [
        "dwellings",
        "households",
        "persons",
        "household_members",
        "person_tags",
        "person_access_log",
    ] {
        assert_eq!(count(db, table).await, 0, "{table} must stay empty");
    }
}

#[tokio::test]
async fn import_is_all_or_nothing() {
    on_every_backend(|db| async move {
        let s = &db.store;
        let p = seed(s).await;
        seed_tags(s).await;
        let all = p.d.1.as_str();
        let audits = audit_total(s).await;
        let good = || {
            let mut rows = vec![
                import_row(p.b1.0, "101", None, HEAD, person("张三", "zhangsan", "zs", 1)),
                import_row(p.b1.0, "101", None, "spouse", person("李四", "lisi", "ls", 2)),
                import_row(p.b1.0, "102", Some("H9"), HEAD, person("王五", "wangwu", "ww", 3)),
                import_row(p.b1.0, "102", Some("H10"), HEAD, person("赵六", "zhaoliu", "zl", 4)),
                import_row(p.b2.0, "101", None, "child", person("孙七", "sunqi", "sq", 5)),
            ];
            rows[0].tags = vec!["elderly_alone".into(), "low_income".into(), "elderly_alone".into()];
            rows[4].tags = vec!["left_behind_child".into()];
            rows[4].area_m2 = None;
            for (i, r) in rows.iter_mut().enumerate() {
                r.line = u32::try_from(i).unwrap() + 2; // line 1 is the spreadsheet header
            }
            rows
        };

        // A bad value in the middle: nothing of the batch is kept.
        let mut rows = good();
        rows[2].person.birth_date = Some("19600101".into());
        let err = s.import_people(&rows, &audit("people.import"), NOW, None).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(m) if m.starts_with("第 4 行") && m.contains("出生日期")), "{err:?}");
        nothing_imported(&db).await;

        // An unknown tag, a region that is not a building.
        let mut rows = good();
        rows[3].tags = vec!["no_such_tag".into()];
        let err = s.import_people(&rows, &audit("people.import"), NOW, None).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(m) if m.starts_with("第 5 行") && m.contains("no_such_tag")), "{err:?}");
        let mut rows = good();
        rows[1].building_id = p.g1.0;
        let err = s.import_people(&rows, &audit("people.import"), NOW, None).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(m) if m.starts_with("第 3 行") && m.contains("楼栋")), "{err:?}");
        // Two heads of one household; one ID number twice.
        let mut rows = good();
        rows[1].relation = HEAD.into();
        let err = s.import_people(&rows, &audit("people.import"), NOW, None).await.unwrap_err();
        assert!(matches!(&err, StoreError::Clash { field, message } if field == "relation" && message.contains("第 2 行")), "{err:?}");
        let mut rows = good();
        rows[3].person.id_bidx = rows[1].person.id_bidx.clone();
        let err = s.import_people(&rows, &audit("people.import"), NOW, None).await.unwrap_err();
        assert!(matches!(&err, StoreError::Clash { field, message } if field == "id_number" && message.starts_with("第 5 行")), "{err:?}");
        nothing_imported(&db).await;
        assert_eq!(audit_total(s).await, audits);

        // An ID number already registered: found by the database in the middle of the inserts;
        // the rows written before it are rolled back.
        let d = s.create_dwelling(&dwelling(p.b1b.0, "1", 1, "101"), &audit("d"), NOW).await.unwrap();
        let h = s.create_household(&NewHousehold { dwelling_id: d, household_no: Some("H10".into()), notes: String::new() }, &audit("h"), NOW).await.unwrap();
        let known = s.create_person(&person("周八", "zhouba", "zb", 4), &in_household(h, HEAD), &audit("p"), NOW).await.unwrap();
        let err = s.import_people(&good(), &audit("people.import"), NOW, None).await.unwrap_err();
        match &err {
            StoreError::Clash { field, message } => {
                assert_eq!(field, "id_number");
                assert!(message.starts_with("第 5 行") && message.contains("周八") && message.contains(&known.to_string()), "{message}");
            }
            other => panic!("expected a clash, got {other:?}"),
        }
        assert_eq!(count(&db, "persons").await, 1);
        assert_eq!(count(&db, "dwellings").await, 1);
        assert_eq!(count(&db, "households").await, 1);
        assert_eq!(count(&db, "household_members").await, 1);
        assert_eq!(count(&db, "person_access_log").await, 0);

        // The good batch goes in whole, with one audit entry and one access-log row. Rows of
        // one dwelling share it; within it, household numbers group the households; an existing
        // dwelling and a numbered household are reused.
        let mut rows = good();
        rows[3].person = person("赵六", "zhaoliu", "zl", 40);
        rows.push(import_row(p.b1b.0, "101", Some("H10"), "child", person("周小八", "zhouxiaoba", "zxb", 6)));
        let audits = audit_total(s).await;
        let mut who = audit("people.import");
        who.detail = "2026 年人口普查底册".into();
        let reported = std::sync::Mutex::new(Vec::new());
        let report = |done: usize, total: usize| reported.lock().unwrap().push((done, total));
        let summary = s.import_people(&rows, &who, NOW + DAY, Some(&report)).await.unwrap();
        assert_eq!((summary.persons, summary.dwellings, summary.households, summary.tags), (6, 3, 4, 3));
        assert_eq!(*reported.lock().unwrap(), [(6, 6)], "one block of persons, reported once written");
        assert_eq!(audit_total(s).await, audits + 1);
        assert_eq!(count(&db, "persons").await, 7);
        assert_eq!(count(&db, "dwellings").await, 4);
        assert_eq!(count(&db, "households").await, 5);
        assert_eq!(count(&db, "household_members").await, 7);
        let (log, total) = s.person_access_log(&AccessFilter { page: 1, page_size: 10, ..AccessFilter::default() }).await.unwrap();
        assert_eq!(total, 1);
        assert_eq!((log[0].action.as_str(), log[0].row_count, log[0].user_id), ("import", Some(6), Some(7)));
        assert_eq!((log[0].reason.as_str(), log[0].tenant.as_deref()), ("2026 年人口普查底册", Some(D)));

        let listing = s.dwellings_of_building(p.b1.0, all).await.unwrap();
        assert_eq!(listing.len(), 2);
        assert_eq!(listing[0].households.len(), 1);
        assert_eq!(listing[0].households[0].member_count, 2);
        assert_eq!(listing[0].households[0].head_name.as_deref(), Some("张三"));
        let numbers: Vec<Option<&str>> = listing[1].households.iter().map(|h| h.household_no.as_deref()).collect();
        assert_eq!(numbers, [Some("H9"), Some("H10")]);
        let reused = s.household_file(h, all).await.unwrap().unwrap();
        assert_eq!(reused.members.len(), 2, "the import joined the existing household H10");
        // No head in B2's household: the child came alone.
        let b2 = s.dwellings_of_building(p.b2.0, all).await.unwrap();
        assert_eq!((b2[0].households[0].head_person_id, b2[0].dwelling.area_m2), (None, None));
        // Persons are searchable at once, with tags (repeated codes kept once).
        assert_eq!(names(s, &PersonFilter { region_id: Some(p.b1.0), ..filter(all) }).await, ["张三", "李四", "王五", "赵六"]);
        let (rows, _) = s
            .search_persons(&PersonFilter { tag_code: Some("low_income".into()), include_sensitive_tags: true, ..filter(all) })
            .await
            .unwrap();
        assert_eq!((rows.len(), rows[0].name.as_str()), (1, "张三"));
        assert_eq!(rows[0].tags, ["elderly_alone", "low_income"]);
        assert_eq!(rows[0].relation.as_deref(), Some("head"));

        // An existing household with a head cannot get a second one from an import.
        let rows = vec![import_row(p.b1b.0, "101", Some("H10"), HEAD, person("吴九", "wujiu", "wj", 9))];
        let err = s.import_people(&rows, &audit("people.import"), NOW, None).await.unwrap_err();
        assert!(matches!(&err, StoreError::Clash { field, message } if field == "relation" && message.starts_with("第 1 行")), "{err:?}");
        assert!(matches!(s.import_people(&[], &audit("people.import"), NOW, None).await, Err(StoreError::Invalid(_))));
    })
    .await;
}

// ----- access log --------------------------------------------------------------------------

#[tokio::test]
async fn the_access_log_is_append_only() {
    on_every_backend(|db| async move {
        let s = &db.store;
        let p = seed(s).await;
        let all = p.d.1.as_str();
        let someone = s.create_person(&person("张三", "zhangsan", "zs", 1), &Placement::Region(p.b1.0), &audit("p"), NOW).await.unwrap();
        let access = |user: i64, action: &str| NewAccess {
            user_id: Some(user),
            user_name: format!("user{user}"),
            person_id: Some(someone),
            action: action.into(),
            ..NewAccess::default()
        };
        s.log_person_access(&access(1, "view"), NOW).await.unwrap();
        s.log_person_access(
            &NewAccess { person_id: None, row_count: Some(120), field: Some("花名册".into()), reason: "上报街道".into(), ..access(2, "export") },
            NOW + 10,
        )
        .await
        .unwrap();
        // A reveal needs a reason, and logs itself.
        let mut reveal = access(1, "reveal");
        assert!(matches!(s.person_secret(someone, all, &reveal, NOW).await, Err(StoreError::Invalid(m)) if m.contains("理由")));
        reveal.reason = "核实低保申请".into();
        reveal.field = Some("id_number".into());
        reveal.ip = Some("10.0.0.8".into());
        assert!(s.person_secret(someone, all, &reveal, NOW + 20).await.unwrap().is_some());
        assert!(matches!(
            s.log_person_access(&access(1, "peek"), NOW).await,
            Err(StoreError::Invalid(m)) if m.contains("访问类型")
        ));

        let page = |f: AccessFilter| async move {
            s.person_access_log(&AccessFilter { page: 1, page_size: 10, ..f }).await.unwrap()
        };
        let (rows, total) = page(AccessFilter::default()).await;
        assert_eq!(total, 3);
        assert_eq!(rows[0].action, "reveal", "newest first");
        assert_eq!((rows[0].reason.as_str(), rows[0].field.as_deref(), rows[0].ip.as_deref()), ("核实低保申请", Some("id_number"), Some("10.0.0.8")));
        assert_eq!(rows[0].tenant.as_deref(), Some(D), "the tenant comes from the person");
        assert_eq!(rows[1].tenant, None, "an export of no one person names no district unless told");
        assert_eq!(page(AccessFilter { user_id: Some(1), ..AccessFilter::default() }).await.1, 2);
        assert_eq!(page(AccessFilter { action: Some("export".into()), ..AccessFilter::default() }).await.0[0].row_count, Some(120));
        assert_eq!(page(AccessFilter { person_id: Some(someone), ..AccessFilter::default() }).await.1, 2);
        assert_eq!(page(AccessFilter { from: Some(NOW + 10), to: Some(NOW + 20), ..AccessFilter::default() }).await.1, 1);

        let raw = raw_pool(&db.url).await.unwrap();
        let update = sqlx::query("UPDATE person_access_log SET reason = 'x'").execute(&raw).await;
        assert!(update.unwrap_err().to_string().contains("append-only"));
        let delete = sqlx::query("DELETE FROM person_access_log").execute(&raw).await;
        assert!(delete.unwrap_err().to_string().contains("append-only"));
        if db.backend == Backend::Postgres {
            let truncate = sqlx::query("TRUNCATE person_access_log").execute(&raw).await;
            assert!(truncate.is_err(), "TRUNCATE must be refused");
        }
        raw.close().await;
        assert_eq!(count(&db, "person_access_log").await, 3);
    })
    .await;
}

// ----- a quick measurement (not a test of speed) --------------------------------------------

/// `i` in letters (digit d → the d-th letter), for pinyin that must be letters only.
/// The indexes and (PostgreSQL) constraints of the database, with their definitions.
async fn schema_objects(db: &TestDb) -> Vec<String> {
    let raw = raw_pool(&db.url).await.unwrap();
    let sql = match db.backend {
        Backend::Sqlite => {
            "SELECT name || ': ' || sql AS d FROM sqlite_master \
             WHERE type = 'index' AND sql IS NOT NULL ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT CAST(indexname AS TEXT) || ': ' || indexdef AS d FROM pg_indexes \
             WHERE schemaname = current_schema() \
             UNION ALL SELECT CAST(conname AS TEXT) || ': ' || pg_get_constraintdef(oid) \
             FROM pg_constraint WHERE connamespace = CAST(current_schema() AS regnamespace) \
             ORDER BY 1"
        }
    };
    sqlx::query(sql)
        .fetch_all(&raw)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("d"))
        .collect()
}

/// A first import of thousands of residents builds the person indexes afresh after its rows
/// are in (and on PostgreSQL adds the foreign keys back): the database must come out with
/// every index and key it had, searches must find the new residents, a registered ID number
/// must still stop the import, and text must arrive exactly as sent.
#[tokio::test]
async fn a_large_first_import_keeps_indexes_keys_and_rules() {
    on_every_backend(|db| async move {
        let s = &db.store;
        let p = seed(s).await;
        seed_tags(s).await;
        let all = p.d.1.as_str();
        let d = s.create_dwelling(&dwelling(p.b1b.0, "1", 1, "101"), &audit("d"), NOW).await.unwrap();
        let h = s.create_household(&NewHousehold { dwelling_id: d, household_no: None, notes: String::new() }, &audit("h"), NOW).await.unwrap();
        let known = s.create_person(&person("周八", "zhouba", "zb", 99_999), &in_household(h, HEAD), &audit("p"), NOW).await.unwrap();
        let before = schema_objects(&db).await;
        // 林 and the number in Chinese digits: 林四三二一.
        let one = |i: usize| -> String {
            let digits = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
            std::iter::once('林').chain(i.to_string().bytes().map(|b| digits[usize::from(b - b'0')])).collect()
        };

        let n = 6_000u32;
        let rows = || -> Vec<ImportRow> {
            (0..n)
                .map(|i| {
                    let household = i / 3;
                    let mut row = import_row(
                        if household % 2 == 0 { p.b1.0 } else { p.b2.0 },
                        &format!("{}", 100 + household),
                        None,
                        if i % 3 == 0 { HEAD } else { "child" },
                        person(&one(i as usize), &format!("lin{}", letters(i as usize)), "l", i),
                    );
                    row.line = i + 2;
                    if i % 50 == 0 {
                        row.tags = vec!["elderly_alone".into()];
                    }
                    row
                })
                .collect()
        };
        // Line 4,002 carries the ID number of 周八, who is registered already.
        let mut clash = rows();
        clash[4_000].person.id_bidx = Some("bidx-id-99999".into());
        let err = s.import_people(&clash, &audit("people.import"), NOW, None).await.unwrap_err();
        match &err {
            StoreError::Clash { field, message } => {
                assert_eq!(field, "id_number");
                assert!(message.starts_with("第 4002 行") && message.contains("周八") && message.contains(&known.to_string()), "{message}");
            }
            other => panic!("expected a clash, got {other:?}"),
        }
        assert_eq!(count(&db, "persons").await, 1, "nothing of the batch is kept");
        assert_eq!(schema_objects(&db).await, before, "the rollback puts every index back");
        assert_eq!(names(s, &PersonFilter { name: Some("周八".into()), ..filter(all) }).await, ["周八"]);

        let mut good = rows();
        let odd = "他说：\"好\" C:\\居委会\\名单\n第二行\t制表 😀";
        good[17].person.notes = odd.into();
        let summary = s.import_people(&good, &audit("people.import"), NOW, None).await.unwrap();
        assert_eq!((summary.persons, summary.households, summary.tags), (6_000, 2_000, 120));
        assert_eq!(schema_objects(&db).await, before, "every index and key is back, as it was");
        assert_eq!(count(&db, "persons").await, 6_001);

        // Found through the rebuilt indexes: name prefix and middle, initials, ID, region.
        assert_eq!(names(s, &PersonFilter { name: Some(one(4_321)), ..filter(all) }).await, [one(4_321)]);
        assert_eq!(names(s, &PersonFilter { name: Some("四三二一".into()), ..filter(all) }).await, [one(4_321)]);
        assert_eq!(names(s, &PersonFilter { pinyin: Some(format!("lin{}", letters(5_998))), ..filter(all) }).await, [one(5_998)]);
        assert_eq!(names(s, &PersonFilter { id_bidx: Some("bidx-id-17".into()), ..filter(all) }).await, [one(17)]);
        // 4,323 lives in household 1,441, in B2.
        let named = |region: i64| PersonFilter { region_id: Some(region), name: Some(one(4_323)), ..filter(all) };
        assert_eq!(names(s, &named(p.b2.0)).await, [one(4_323)]);
        assert!(names(s, &named(p.b1.0)).await.is_empty());
        let (found, _) = s.search_persons(&PersonFilter { id_bidx: Some("bidx-id-17".into()), ..filter(all) }).await.unwrap();
        let stored = s.person(found[0].id, all).await.unwrap().unwrap();
        assert_eq!(stored.notes, odd, "quotes, backslashes, line breaks and emoji arrive as sent");

        // The unique ID index is back: a small import with a number of the batch is refused.
        let again = vec![import_row(p.b1b.0, "201", None, HEAD, person("吴九", "wujiu", "wj", 17))];
        let err = s.import_people(&again, &audit("people.import"), NOW, None).await.unwrap_err();
        assert!(matches!(&err, StoreError::Clash { field, message } if field == "id_number" && message.contains(&one(17))), "{err:?}");
        assert_eq!(count(&db, "persons").await, 6_001);
    })
    .await;
}

fn letters(i: usize) -> String {
    i.to_string()
        .bytes()
        .map(|b| char::from(b - b'0' + b'a'))
        .collect()
}

/// Imports `JINLIN_IMPORT_ROWS` (default 100,000) people into a fresh database of each backend
/// and prints how long it took. Run with
/// `cargo test -p jinlin-store --test people -- --ignored --nocapture import_speed`.
#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn import_speed() {
    let n: usize = std::env::var("JINLIN_IMPORT_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    on_every_backend(move |db| async move {
        let s = &db.store;
        let p = seed(s).await;
        seed_tags(s).await;
        // 50 dwellings per building, 2.5 people per household, one household per dwelling.
        let buildings = n.div_ceil(125);
        let mut regions = Vec::new();
        for b in 0..buildings {
            regions.push(nr(
                &format!("{G1}{:03}{b:05}", 9),
                Some(G1),
                RegionLevel::Building,
                &format!("{b}号楼"),
            ));
        }
        let started = Instant::now();
        s.insert_regions(&regions, &audit("regions.import"), NOW)
            .await
            .unwrap();
        eprintln!("{buildings} buildings: {:?}", started.elapsed());
        let mut ids = Vec::new();
        for r in &regions {
            ids.push(s.region_by_code(&r.code).await.unwrap().unwrap().id);
        }
        let surnames = ["张", "李", "王", "陈", "林", "黄", "吴", "郑"];
        let rows: Vec<ImportRow> = (0..n)
            .map(|i| {
                let household = i * 2 / 5;
                let building = household / 50;
                let number = household % 50;
                let first_in_household = i * 2 % 5 < 2;
                let name = format!("{}{}", surnames[i % surnames.len()], i);
                let mut p = person(
                    &name,
                    &format!("zhang{}", letters(i)),
                    "zs",
                    u32::try_from(i).unwrap(),
                );
                p.id_bidx = Some(format!("{:064x}", i));
                p.phone_bidx = Some(format!("{:064x}", i + 1_000_000_000));
                p.id_cipher = Some(format!("v1:k1:{}", "A".repeat(60)));
                p.phone_cipher = Some(format!("v1:k1:{}", "B".repeat(48)));
                let mut row = import_row(
                    ids[building],
                    &format!("{}{:02}", number / 4 + 1, number % 4 + 1),
                    None,
                    if first_in_household { HEAD } else { "child" },
                    p,
                );
                row.unit = format!("{}", number % 3 + 1);
                if i % 10 == 0 {
                    row.tags = vec!["elderly_alone".into()];
                }
                row
            })
            .collect();
        let started = Instant::now();
        // When the last block of persons was in (the rest is households, members, tags, commit).
        let persons_in = std::sync::Mutex::new(None);
        let report = |done: usize, total: usize| {
            if done == total {
                *persons_in.lock().unwrap() = Some(started.elapsed());
            }
        };
        let summary = s
            .import_people(&rows, &audit("people.import"), NOW, Some(&report))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        eprintln!("persons written after {:?}", persons_in.lock().unwrap());
        eprintln!(
            "import of {n} people on {}: {elapsed:?} ({:.0} people/s) — {summary:?}",
            db.backend.as_str(),
            n as f64 / elapsed.as_secs_f64()
        );
        let started = Instant::now();
        let (_, total) = s
            .search_persons(&PersonFilter {
                pinyin: Some(format!("zhang{}", letters(1234))),
                ..filter(&p.d.1)
            })
            .await
            .unwrap();
        eprintln!("pinyin search: {total} hits in {:?}", started.elapsed());
        let started = Instant::now();
        let (_, total) = s
            .search_persons(&PersonFilter {
                name: Some("陈".into()),
                ..filter(&p.d.1)
            })
            .await
            .unwrap();
        eprintln!(
            "name substring over the district: {total} hits in {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let (_, total) = s
            .search_persons(&PersonFilter {
                id_bidx: Some(format!("{:064x}", n / 2)),
                ..filter(&p.d.1)
            })
            .await
            .unwrap();
        eprintln!("ID search: {total} hit in {:?}", started.elapsed());
        let _ = p.s1;
    })
    .await;
}
