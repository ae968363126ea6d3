//! People's files through the use cases, on every available database: numbers encrypted and
//! masked, search by every key, reveal with a reason (logged, limited), sensitive tags by role,
//! jurisdiction (refusals audited), the household file with its members' cases.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jinlin_app::accounts::UserInput;
use jinlin_app::cases::{Channel, Intake, Location};
use jinlin_app::people::{PeopleQuery, PersonInput, REVEALS_PER_HOUR};
use jinlin_app::{Actor, App, AppError, Settings};
use jinlin_domain::accounts::Role;
use jinlin_domain::regions::RegionLevel;
use jinlin_store::audit::{AuditFilter, NewAudit};
use jinlin_store::people::{AccessFilter, NewDwelling, NewHousehold, Placement};
use jinlin_store::testing::{TestDb, on_every_backend};

/// A valid GB 11643 number (the standard's example) and a second one.
const ID_A: &str = "11010519491231002X";
const PHONE_A: &str = "13912345678";

struct Harness {
    app: App,
    db: TestDb,
    clock: Arc<AtomicI64>,
    dir: std::path::PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Harness {
    async fn new(db: TestDb) -> Harness {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        jinlin_app::demo::seed(&db.store, now).await.unwrap();
        let dir = std::env::temp_dir().join(format!(
            "jinlin-people-{}",
            jinlin_store::testing::unique_suffix()
        ));
        let clock = Arc::new(AtomicI64::new(now));
        let c = clock.clone();
        let app = App::with_clock(
            db.store.clone(),
            Settings {
                data_dir: dir.clone(),
                ..Settings::default()
            },
            Arc::new(move || c.load(Ordering::SeqCst)),
        )
        .await
        .unwrap();
        Harness {
            app,
            db,
            clock,
            dir,
        }
    }

    async fn actor(&self, username: &str) -> Actor {
        let token = self
            .app
            .create_api_token(&Actor::console(), username, "测试")
            .await
            .unwrap();
        self.app.api_actor(&token).await.unwrap().unwrap()
    }

    /// A household in the first building of 东霞社区第1网格, with 张三 as its head.
    async fn household_with_zhang_san(&self) -> (i64, i64) {
        let building = self
            .db
            .store
            .regions_at_level(RegionLevel::Building, 1)
            .await
            .unwrap()
            .remove(0);
        let audit = NewAudit {
            actor_name: "test".into(),
            action: "test".into(),
            outcome: "ok".into(),
            ..NewAudit::default()
        };
        let now = self.clock.load(Ordering::SeqCst);
        let dwelling = self
            .db
            .store
            .create_dwelling(
                &NewDwelling {
                    building_id: building.id,
                    unit: "2".into(),
                    floor: Some(3),
                    number: "302".into(),
                    use_type: "residential".into(),
                    occupancy: "owner_occupied".into(),
                    ..NewDwelling::default()
                },
                &audit,
                now,
            )
            .await
            .unwrap();
        let household = self
            .db
            .store
            .create_household(
                &NewHousehold {
                    dwelling_id: dwelling,
                    household_no: Some("H001".into()),
                    notes: String::new(),
                },
                &audit,
                now,
            )
            .await
            .unwrap();
        let desk = self.actor("community").await;
        let person = self
            .app
            .create_person(
                &desk,
                &PersonInput {
                    name: "张三".into(),
                    id_number: Some(ID_A.to_lowercase()),
                    phone: Some(PHONE_A.into()),
                    ethnic_group: Some("汉".into()),
                    ..PersonInput::default()
                },
                Placement::Household {
                    household_id: household,
                    relation: "head".into(),
                },
            )
            .await
            .unwrap();
        (household, person)
    }
}

fn query(q: &str) -> PeopleQuery {
    PeopleQuery {
        q: q.into(),
        page: 1,
        page_size: 20,
        ..PeopleQuery::default()
    }
}

#[tokio::test]
async fn numbers_are_encrypted_masked_and_found_by_every_key() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let (household, person) = h.household_with_zhang_san().await;
        let desk = h.actor("community").await;

        // Nothing of the numbers is stored in the clear.
        let row = h.db.store.person(person, "/").await.unwrap().unwrap();
        assert_eq!(
            row.birth_date.as_deref(),
            Some("1949-12-31"),
            "derived from the ID"
        );
        assert_eq!(row.gender, "female", "the 17th digit is even");
        assert_eq!(
            (row.name_py_full.as_str(), row.name_py_initials.as_str()),
            ("zhangsan", "zs")
        );
        let dump = h.db.store.person_phone_ciphers(&[person]).await.unwrap();
        assert!(!dump[0].0.contains(PHONE_A) && !dump[0].0.contains("5678"));

        for q in ["zs", "zhangs", "张", ID_A, &ID_A.to_lowercase(), PHONE_A] {
            let found = h.app.search_people(&desk, &query(q)).await.unwrap();
            assert_eq!(found.total, 1, "{q} finds 张三");
            let line = &found.items[0];
            assert_eq!(line.id_masked, "110***********002X");
            assert_eq!(line.phone_masked, "139****5678");
            assert_eq!(line.summary.household_id, Some(household));
        }
        assert_eq!(
            h.app
                .search_people(&desk, &query("ls"))
                .await
                .unwrap()
                .total,
            0
        );
        // A number of the right shape but a wrong checksum is refused, naming the rule.
        let bad = h
            .app
            .search_people(&desk, &query("110105194912310021"))
            .await
            .unwrap_err();
        assert!(bad.to_string().contains("校验"), "{bad}");
        // Another community's desk does not find 张三, and may not open his page.
        let other = h
            .app
            .create_user(
                &Actor::console(),
                UserInput {
                    username: "other_desk".into(),
                    display_name: "清源社区受理员".into(),
                    role: Role::CommunityAdmin,
                    region_code: "350503002001".into(),
                    work_phone: None,
                    password: None,
                },
            )
            .await;
        assert!(other.is_ok(), "{other:?}");
        let other = h.actor("other_desk").await;
        assert_eq!(
            h.app
                .search_people(&other, &query("zs"))
                .await
                .unwrap()
                .total,
            0
        );
        let refused = h.app.person_view(&other, person).await.unwrap_err();
        assert!(matches!(refused, AppError::Forbidden(_)), "{refused:?}");
        let denied =
            h.db.store
                .list_audit(AuditFilter {
                    action: Some("access".into()),
                    page: 1,
                    page_size: 50,
                    ..AuditFilter::default()
                })
                .await
                .unwrap()
                .0;
        assert!(
            denied
                .iter()
                .any(|a| a.target == format!("person:{person}")),
            "the refusal is audited: {denied:?}"
        );
        // A resident may not look people up at all.
        let resident = h.actor("resident").await;
        assert!(h.app.search_people(&resident, &query("zs")).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn a_reveal_needs_a_reason_is_logged_and_limited() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let (household, person) = h.household_with_zhang_san().await;
        let worker = h.actor("grid").await;

        let view = h.app.person_view(&worker, person).await.unwrap();
        assert!(view.can_reveal);
        let no_reason = h
            .app
            .reveal_person(&worker, person, "id_number", " ")
            .await
            .unwrap_err();
        assert_eq!(no_reason.field(), Some("reason"));
        let id = h
            .app
            .reveal_person(&worker, person, "id_number", "入户走访核对身份")
            .await
            .unwrap();
        assert_eq!(id, ID_A);
        let phone = h
            .app
            .reveal_person(&worker, person, "phone", "电话通知体检")
            .await
            .unwrap();
        assert_eq!(phone, PHONE_A);

        let log = h
            .app
            .people_access_log(
                &h.actor("leader").await,
                AccessFilter {
                    person_id: Some(person),
                    page: 1,
                    page_size: 50,
                    ..AccessFilter::default()
                },
            )
            .await
            .unwrap();
        let actions: Vec<(&str, Option<&str>, &str)> = log
            .items
            .iter()
            .map(|r| (r.action.as_str(), r.field.as_deref(), r.reason.as_str()))
            .collect();
        assert!(actions.contains(&("view", None, "")), "{actions:?}");
        assert!(actions.contains(&("reveal", Some("id_number"), "入户走访核对身份")));
        assert!(actions.contains(&("reveal", Some("phone"), "电话通知体检")));
        assert!(
            log.items
                .iter()
                .all(|r| r.user_name == "grid" || r.user_name == "community")
        );
        // Grid workers may not read the log.
        assert!(
            h.app
                .people_access_log(&worker, AccessFilter::default())
                .await
                .is_err()
        );

        // The hourly limit: the next reveal past it is refused, an hour later it works again.
        for _ in 2..REVEALS_PER_HOUR {
            h.app
                .reveal_person(&worker, person, "phone", "回访")
                .await
                .unwrap();
        }
        let limited = h
            .app
            .reveal_person(&worker, person, "phone", "回访")
            .await
            .unwrap_err();
        assert!(limited.to_string().contains("每小时最多"), "{limited}");
        h.clock.fetch_add(3_600_001, Ordering::SeqCst);
        assert!(
            h.app
                .reveal_person(&worker, person, "phone", "回访")
                .await
                .is_ok()
        );

        // The household file lists the cases its members reported, by their phone.
        let filed = h
            .app
            .file_case(
                None,
                Intake {
                    channel: Channel::Resident,
                    category_id: h.app.category_by_code("repair.street_lamp").unwrap().id,
                    description: "楼下路灯不亮".into(),
                    location: Location {
                        region_code: Some("350503001001001".into()),
                        ..Location::default()
                    },
                    reporter_name: Some("张三".into()),
                    reporter_phone: Some(PHONE_A.into()),
                    photos: Vec::new(),
                    answers: Vec::new(),
                    open311: None,
                },
            )
            .await
            .unwrap();
        let file = h.app.household_view(&worker, household).await.unwrap();
        assert_eq!(file.file.members.len(), 1);
        assert_eq!(file.file.household.head_name.as_deref(), Some("张三"));
        assert_eq!(file.cases.iter().map(|c| c.id).collect::<Vec<_>>(), [filed]);
    })
    .await;
}

#[tokio::test]
async fn sensitive_tags_only_for_the_roles_that_need_them() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let (_, person) = h.household_with_zhang_san().await;
        let audit = NewAudit {
            actor_name: "test".into(),
            action: "test".into(),
            outcome: "ok".into(),
            ..NewAudit::default()
        };
        let now = h.clock.load(Ordering::SeqCst);
        let tags = h.db.store.care_tags(false).await.unwrap();
        let sensitive = tags.iter().find(|t| t.sensitive).unwrap().clone();
        let open = tags
            .iter()
            .find(|t| t.code == "elderly_alone")
            .unwrap()
            .clone();
        for t in [&sensitive, &open] {
            h.db.store
                .tag_person(person, &t.code, now, None, &audit, now)
                .await
                .unwrap();
        }
        let desk = h.actor("community").await;
        let worker = h.actor("grid").await;
        let names = |v: &jinlin_app::people::PersonView| -> Vec<String> {
            v.tags.iter().map(|t| t.tag_name.clone()).collect()
        };
        let seen_by_desk = names(&h.app.person_view(&desk, person).await.unwrap());
        assert!(seen_by_desk.contains(&sensitive.name) && seen_by_desk.contains(&open.name));
        let seen_by_worker = names(&h.app.person_view(&worker, person).await.unwrap());
        assert!(seen_by_worker.contains(&open.name), "{seen_by_worker:?}");
        assert!(
            !seen_by_worker.contains(&sensitive.name),
            "{seen_by_worker:?}"
        );
        // Searching by a sensitive tag is refused to the worker, allowed to the desk.
        let by_tag = |code: &str| PeopleQuery {
            tag: Some(code.into()),
            page: 1,
            page_size: 20,
            ..PeopleQuery::default()
        };
        assert!(
            h.app
                .search_people(&worker, &by_tag(&sensitive.code))
                .await
                .is_err()
        );
        assert_eq!(
            h.app
                .search_people(&desk, &by_tag(&sensitive.code))
                .await
                .unwrap()
                .total,
            1
        );
        let line = &h
            .app
            .search_people(&worker, &by_tag(&open.code))
            .await
            .unwrap()
            .items[0];
        assert!(line.tags.iter().all(|(name, _)| name != &sensitive.name));
        // A person in two households at once is impossible.
        let again = h
            .app
            .create_person(
                &desk,
                &PersonInput {
                    name: "张三".into(),
                    id_number: Some(ID_A.into()),
                    ..PersonInput::default()
                },
                Placement::Region(
                    h.db.store
                        .person(person, "/")
                        .await
                        .unwrap()
                        .unwrap()
                        .region_id,
                ),
            )
            .await
            .unwrap_err();
        assert!(matches!(again, AppError::Conflict { .. }), "{again:?}");
        let bad_phone = h
            .app
            .create_person(
                &desk,
                &PersonInput {
                    name: "李四".into(),
                    phone: Some("1391234567".into()),
                    ..PersonInput::default()
                },
                Placement::Region(
                    h.db.store
                        .person(person, "/")
                        .await
                        .unwrap()
                        .unwrap()
                        .region_id,
                ),
            )
            .await
            .unwrap_err();
        assert_eq!(bad_phone.field(), Some("phone"));
    })
    .await;
}

#[tokio::test]
async fn admins_keep_the_care_tag_list() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let street = h.actor("street").await;
        let code = h.app.add_care_tag(&street, "失独家庭", true).await.unwrap();
        assert!(code.starts_with("tag_sdjt"), "{code}");
        let again = h
            .app
            .add_care_tag(&street, "失独家庭", true)
            .await
            .unwrap_err();
        assert!(matches!(again, AppError::Conflict { .. }), "{again:?}");
        let blank = h.app.add_care_tag(&street, " ", false).await.unwrap_err();
        assert_eq!(blank.field(), Some("name"));
        let worker = h.actor("grid").await;
        assert!(h.app.add_care_tag(&worker, "随便", false).await.is_err());
        // Sensitive: the grid worker does not get it in pick lists; once it is not, they do.
        let names = |tags: Vec<jinlin_store::people::CareTag>| -> Vec<String> {
            tags.into_iter().map(|t| t.name).collect()
        };
        assert!(!names(h.app.care_tags_for(&worker).await.unwrap()).contains(&"失独家庭".into()));
        h.app
            .update_care_tag(&street, &code, "失独家庭", false, true)
            .await
            .unwrap();
        assert!(names(h.app.care_tags_for(&worker).await.unwrap()).contains(&"失独家庭".into()));
        // Retired: gone from pick lists, still in the admin list.
        h.app
            .update_care_tag(&street, &code, "失独家庭", false, false)
            .await
            .unwrap();
        assert!(!names(h.app.care_tags_for(&street).await.unwrap()).contains(&"失独家庭".into()));
        assert!(names(h.app.care_tags_admin(&street).await.unwrap()).contains(&"失独家庭".into()));
    })
    .await;
}

#[tokio::test]
async fn moves_keep_the_history() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let (first, person) = h.household_with_zhang_san().await;
        let desk = h.actor("community").await;
        let dwelling = h
            .app
            .household_view(&desk, first)
            .await
            .unwrap()
            .file
            .dwelling
            .id;
        let audit = NewAudit {
            actor_name: "test".into(),
            action: "test".into(),
            outcome: "ok".into(),
            ..NewAudit::default()
        };
        let second =
            h.db.store
                .create_household(
                    &NewHousehold {
                        dwelling_id: dwelling,
                        household_no: Some("H002".into()),
                        notes: String::new(),
                    },
                    &audit,
                    h.clock.load(Ordering::SeqCst),
                )
                .await
                .unwrap();
        let no_reason = h
            .app
            .move_person(&desk, person, Some(second), "head", "")
            .await
            .unwrap_err();
        assert_eq!(no_reason.field(), Some("move_reason"));
        h.clock.fetch_add(1000, Ordering::SeqCst);
        h.app
            .move_person(&desk, person, Some(second), "head", "分户")
            .await
            .unwrap();
        let view = h.app.person_view(&desk, person).await.unwrap();
        assert_eq!(view.person.household_id, Some(second));
        let history: Vec<(i64, bool)> = view
            .memberships
            .iter()
            .map(|m| (m.household_id, m.left_at.is_some()))
            .collect();
        assert!(
            history.contains(&(first, true)) && history.contains(&(second, false)),
            "{history:?}"
        );
        assert!(
            h.app
                .household_view(&desk, first)
                .await
                .unwrap()
                .file
                .members
                .is_empty()
        );
        h.app
            .move_person(&desk, person, None, "", "迁往外地")
            .await
            .unwrap();
        let view = h.app.person_view(&desk, person).await.unwrap();
        assert_eq!(view.person.household_id, None);
        assert_eq!(view.memberships.len(), 2, "both memberships are kept");
        let resident = h.actor("resident").await;
        assert!(
            h.app
                .move_person(&resident, person, Some(first), "head", "x")
                .await
                .is_err()
        );
    })
    .await;
}

#[tokio::test]
async fn broad_searches_stop_at_a_thousand_and_narrow_ones_still_find() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let (_, zhang) = h.household_with_zhang_san().await;
        let building =
            h.db.store
                .regions_at_level(RegionLevel::Building, 1)
                .await
                .unwrap()
                .remove(0);
        let rows: Vec<jinlin_store::people::ImportRow> = (0..1_050)
            .map(|i| jinlin_store::people::ImportRow {
                line: i + 2,
                building_id: building.id,
                unit: "9".into(),
                number: format!("{}", i / 3),
                use_type: "residential".into(),
                occupancy: "other".into(),
                relation: if i % 3 == 0 { "head" } else { "other" }.into(),
                person: jinlin_store::people::NewPerson {
                    name: "测试".into(),
                    name_py_full: "ceshi".into(),
                    name_py_initials: "cs".into(),
                    gender: "unknown".into(),
                    residence_status: "registered_here".into(),
                    ..jinlin_store::people::NewPerson::default()
                },
                ..jinlin_store::people::ImportRow::default()
            })
            .collect();
        let audit = NewAudit {
            actor_name: "test".into(),
            action: "people.import".into(),
            target: "test".into(),
            outcome: "ok".into(),
            ..NewAudit::default()
        };
        h.db.store
            .import_people(&rows, &audit, h.clock.load(Ordering::SeqCst), None)
            .await
            .unwrap();
        let desk = h.actor("community").await;
        for q in ["cs", "测试", "ceshi"] {
            let page = h.app.search_people(&desk, &query(q)).await.unwrap();
            assert_eq!(page.total, 1000, "{q}: counted up to the cap");
            assert_eq!(page.items.len(), 20);
        }
        let found = h.app.search_people(&desk, &query("zs")).await.unwrap();
        assert_eq!(
            found.items.iter().map(|l| l.summary.id).collect::<Vec<_>>(),
            [zhang]
        );
    })
    .await;
}
