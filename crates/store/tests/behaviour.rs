//! Behaviour of the store on every available backend.
//!
//! SQLite always (a fresh temporary file per test). PostgreSQL as well when
//! `JINLIN_TEST_PG_URL` is set, e.g. `postgres://postgres@127.0.0.1:5432`: each test gets its own
//! database `jinlin_test_<pid>_<counter>_<nanos>`, created through the `postgres` maintenance
//! database and dropped afterwards (also when the test fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use geo::{LineString, MultiPolygon, Polygon};
use jinlin_domain::accounts::{PostKind, Role};
use jinlin_domain::regions::{NewRegion, RegionLevel};
use jinlin_store::accounts::NewUser;
use jinlin_store::audit::{AuditFilter, NewAudit};
use jinlin_store::regions::Region;
use jinlin_store::testing::{TestDb, on_every_backend, pg_base, unique_suffix};
use jinlin_store::{Backend, SCHEMA_VERSION, Store, StoreError};
use sqlx::{AnyPool, Row};

// ----- harness -----------------------------------------------------------------------------

async fn raw_pool(url: &str) -> AnyPool {
    jinlin_store::testing::raw_pool(url)
        .await
        .expect("raw connection")
}

// ----- fixtures ----------------------------------------------------------------------------

const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

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

fn nr(code: &str, parent: Option<&str>, level: RegionLevel, name: &str) -> NewRegion {
    NewRegion {
        code: code.into(),
        parent_code: parent.map(Into::into),
        level,
        name: name.into(),
        boundary: None,
    }
}

/// 丰泽区 → two streets → a community, a compound and a grid each; a building in grid 1.
fn tree() -> Vec<NewRegion> {
    use RegionLevel::*;
    let mut g1 = nr(G1, Some(K1), Grid, "东霞一网格");
    g1.boundary = Some(square(118.60, 24.90, 0.01));
    let mut g2 = nr(G2, Some(K2), Grid, "丰盛一网格");
    g2.boundary = Some(square(118.62, 24.90, 0.01));
    vec![
        nr(D, None, District, "丰泽区"),
        nr(S1, Some(D), Street, "东湖街道"),
        nr(S2, Some(D), Street, "丰泽街道"),
        nr(C1, Some(S1), Community, "东霞社区"),
        nr(C2, Some(S2), Community, "丰盛社区"),
        nr(K1, Some(C1), Compound, "东霞小区"),
        nr(K2, Some(C2), Compound, "丰盛小区"),
        g1,
        g2,
        nr(B1, Some(G1), Building, "东霞小区1号楼"),
    ]
}

fn audit(action: &str) -> NewAudit {
    NewAudit {
        actor_name: "tester".into(),
        action: action.into(),
        target: "test".into(),
        outcome: "ok".into(),
        ..NewAudit::default()
    }
}

fn new_user(username: &str, region_code: &str) -> NewUser {
    NewUser {
        username: username.into(),
        display_name: format!("{username} 的姓名"),
        role: Role::GridWorker,
        region_code: region_code.into(),
        work_phone: Some("13800000000".into()),
        password_hash: "$argon2id$test".into(),
    }
}

async fn seed_tree(store: &Store) {
    store
        .insert_regions(&tree(), &audit("regions.import"), NOW)
        .await
        .expect("seed tree");
}

async fn region(store: &Store, code: &str) -> Region {
    store
        .region_by_code(code)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("region {code} missing"))
}

async fn audit_total(store: &Store) -> i64 {
    store
        .list_audit(AuditFilter {
            page: 1,
            page_size: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .1
}

async fn region_total(store: &Store) -> i64 {
    store
        .count_by_level("/")
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum()
}

fn codes(regions: &[Region]) -> Vec<&str> {
    regions.iter().map(|r| r.code.as_str()).collect()
}

// ----- migrations and schema ---------------------------------------------------------------

#[tokio::test]
async fn migrate_is_idempotent() {
    on_every_backend(|db| async move {
        assert_eq!(db.store.schema_version().await.unwrap(), SCHEMA_VERSION);
        db.store.migrate().await.unwrap();
        db.store.migrate().await.unwrap();
        // A second process opening the same database finds nothing to do.
        let again = Store::connect(&db.url).await.unwrap();
        again.migrate().await.unwrap();
        again.close().await;
        assert_eq!(db.store.schema_version().await.unwrap(), SCHEMA_VERSION);
        let raw = raw_pool(&db.url).await;
        let applied: Vec<i64> =
            sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
                .fetch_all(&raw)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get("version"))
                .collect();
        raw.close().await;
        // Versions may have gaps (one reserved for a feature still being built).
        assert_eq!(
            applied,
            jinlin_store::migration_versions(),
            "each migration is recorded once"
        );
        db.store.ping().await.unwrap();
    })
    .await;
}

/// (table, column, nullable)
type Columns = BTreeSet<(String, String, bool)>;

/// Column definitions parsed from the CREATE TABLE statements of a migration file.
fn columns_in_sql(sql: &str) -> Columns {
    let mut out = Columns::new();
    let mut table: Option<String> = None;
    for line in sql.lines() {
        let t = line.trim();
        // ALTER TABLE t ADD COLUMN c TYPE …;
        if let Some(rest) = t.strip_prefix("ALTER TABLE ")
            && let Some((name, col)) = rest.split_once(" ADD COLUMN ")
        {
            let column = col.split_whitespace().next().unwrap_or_default();
            let nullable = !col.contains("NOT NULL");
            out.insert((name.trim().to_string(), column.to_string(), nullable));
            continue;
        }
        // ALTER TABLE t RENAME COLUMN a TO b;
        if let Some(rest) = t.strip_prefix("ALTER TABLE ")
            && let Some((name, cols)) = rest.split_once(" RENAME COLUMN ")
            && let Some((from, to)) = cols.trim_end_matches(';').split_once(" TO ")
        {
            let name = name.trim().to_string();
            let old = out
                .iter()
                .find(|(t, c, _)| *t == name && c == from.trim())
                .cloned();
            if let Some(old) = old {
                out.remove(&old);
                out.insert((name, to.trim().to_string(), old.2));
            }
            continue;
        }
        if let Some(rest) = t.strip_prefix("CREATE TABLE ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            table = Some(name.trim_end_matches('(').to_string());
            continue;
        }
        let Some(current) = &table else { continue };
        // `);` or `) WITHOUT ROWID;`
        if t.starts_with(')') && t.ends_with(';') {
            table = None;
            continue;
        }
        if t.is_empty()
            || t.starts_with("--")
            || [
                "UNIQUE",
                "PRIMARY KEY",
                "CHECK",
                "CONSTRAINT",
                "FOREIGN KEY",
            ]
            .iter()
            .any(|k| t.starts_with(k))
        {
            continue;
        }
        let column = t.split_whitespace().next().unwrap_or_default();
        let nullable = !(t.contains("NOT NULL") || t.contains("PRIMARY KEY"));
        out.insert((current.clone(), column.to_string(), nullable));
    }
    out
}

async fn sqlite_columns(url: &str) -> Columns {
    let raw = raw_pool(url).await;
    let tables = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&raw)
    .await
    .unwrap();
    let mut out = Columns::new();
    for t in tables {
        let table: String = t.get("name");
        let cols = sqlx::query("SELECT name, \"notnull\" AS nn, pk FROM pragma_table_info($1)")
            .bind(table.as_str())
            .fetch_all(&raw)
            .await
            .unwrap();
        for c in cols {
            let not_null: i64 = c.get("nn");
            let pk: i64 = c.get("pk");
            out.insert((table.clone(), c.get("name"), not_null == 0 && pk == 0));
        }
    }
    raw.close().await;
    out
}

async fn postgres_columns(url: &str) -> Columns {
    let raw = raw_pool(url).await;
    let rows = sqlx::query(
        "SELECT CAST(table_name AS TEXT) AS t, CAST(column_name AS TEXT) AS c, \
         CAST(is_nullable AS TEXT) AS n FROM information_schema.columns \
         WHERE table_schema = current_schema()",
    )
    .fetch_all(&raw)
    .await
    .unwrap();
    raw.close().await;
    rows.iter()
        .map(|r| {
            let n: String = r.get("n");
            (r.get("t"), r.get("c"), n == "YES")
        })
        .collect()
}

fn assert_same(what: &str, left_name: &str, left: &Columns, right_name: &str, right: &Columns) {
    let only_left: Vec<_> = left.difference(right).collect();
    let only_right: Vec<_> = right.difference(left).collect();
    assert!(
        only_left.is_empty() && only_right.is_empty(),
        "{what}: (table, column, nullable) differ\n only in {left_name}: {only_left:#?}\n only in {right_name}: {only_right:#?}"
    );
}

/// The two migration folders must describe the same tables, columns and nullability. Without
/// PostgreSQL the PG file is parsed and compared with the live SQLite schema; with it, the live
/// catalogues of both databases are compared as well.
#[tokio::test]
async fn schemas_of_both_databases_match() {
    let sqlite_sql = [
        include_str!("../migrations/sqlite/0001_foundation.sql"),
        include_str!("../migrations/sqlite/0002_cases.sql"),
        include_str!("../migrations/sqlite/0003_stats.sql"),
        include_str!("../migrations/sqlite/0004_rollup.sql"),
        include_str!("../migrations/sqlite/0005_worklists.sql"),
        include_str!("../migrations/sqlite/0006_open311.sql"),
        include_str!("../migrations/sqlite/0007_people.sql"),
        include_str!("../migrations/sqlite/0008_people_search.sql"),
        include_str!("../migrations/sqlite/0009_people_masks.sql"),
        include_str!("../migrations/sqlite/0010_people_phone_tail.sql"),
    ]
    .concat();
    let postgres_sql = [
        include_str!("../migrations/postgres/0001_foundation.sql"),
        include_str!("../migrations/postgres/0002_cases.sql"),
        include_str!("../migrations/postgres/0003_stats.sql"),
        include_str!("../migrations/postgres/0004_rollup.sql"),
        include_str!("../migrations/postgres/0005_worklists.sql"),
        include_str!("../migrations/postgres/0006_open311.sql"),
        include_str!("../migrations/postgres/0007_people.sql"),
        include_str!("../migrations/postgres/0008_people_search.sql"),
        include_str!("../migrations/postgres/0009_people_masks.sql"),
        include_str!("../migrations/postgres/0010_people_phone_tail.sql"),
    ]
    .concat();
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let live_sqlite = sqlite_columns(&db.url).await;
    db.remove().await.unwrap();

    let mut live_sqlite_tables_from_files = live_sqlite.clone();
    live_sqlite_tables_from_files.retain(|(t, _, _)| t != "schema_migrations");
    let parsed_sqlite = columns_in_sql(&sqlite_sql);
    let parsed_postgres = columns_in_sql(&postgres_sql);
    assert!(
        parsed_postgres.len() > 40,
        "the parser found too few columns: {parsed_postgres:#?}"
    );
    for table in [
        "regions",
        "users",
        "sessions",
        "api_tokens",
        "posts",
        "audit_log",
        "dwellings",
        "households",
        "persons",
        "household_members",
        "care_tags",
        "person_tags",
        "person_access_log",
    ] {
        assert!(
            parsed_postgres.iter().any(|(t, _, _)| t == table),
            "table {table} missing from the PostgreSQL migration"
        );
    }
    assert_same(
        "parser check",
        "sqlite file",
        &parsed_sqlite,
        "live sqlite",
        &live_sqlite_tables_from_files,
    );
    assert_same(
        "migration files",
        "postgres file",
        &parsed_postgres,
        "live sqlite",
        &live_sqlite_tables_from_files,
    );

    if pg_base().is_some() {
        let db = TestDb::create(Backend::Postgres).await.unwrap();
        let live_postgres = postgres_columns(&db.url).await;
        db.remove().await.unwrap();
        assert_same(
            "live databases",
            "postgres",
            &live_postgres,
            "sqlite",
            &live_sqlite,
        );
    } else {
        eprintln!(
            "JINLIN_TEST_PG_URL unset: compared the PostgreSQL migration file with live SQLite only"
        );
    }
}

// ----- regions -----------------------------------------------------------------------------

#[tokio::test]
async fn insert_regions_is_all_or_nothing() {
    on_every_backend(|db| async move {
        let s = &db.store;
        // The 5th node names a parent that exists nowhere.
        let mut batch = tree();
        batch[4].parent_code = Some("350599999000".into());
        let err = s.insert_regions(&batch, &audit("regions.import"), NOW).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(m) if m.contains("350599999000") && m.contains("不存在")),
            "{err:?}"
        );
        assert_eq!(region_total(s).await, 0, "no region of the failed batch is kept");
        assert_eq!(audit_total(s).await, 0, "and no audit entry");

        // A child listed before its parent.
        let mut batch = tree();
        batch.swap(1, 3);
        let err = s.insert_regions(&batch, &audit("regions.import"), NOW).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(m) if m.contains(S1)), "{err:?}");
        assert_eq!(region_total(s).await, 0);

        // A street below a grid breaks the level order.
        let mut batch = tree();
        batch.push(nr("350503009000", Some(G1), RegionLevel::Street, "错层街道"));
        let err = s.insert_regions(&batch, &audit("regions.import"), NOW).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(_)), "{err:?}");
        assert_eq!(region_total(s).await, 0);

        // The whole tree goes in.
        assert_eq!(s.insert_regions(&tree(), &audit("regions.import"), NOW).await.unwrap(), 10);
        assert_eq!(region_total(s).await, 10);
        let (entries, total) = s
            .list_audit(AuditFilter { page: 1, page_size: 10, ..AuditFilter::default() })
            .await
            .unwrap();
        assert_eq!(total, 1);
        assert_eq!(entries[0].tenant.as_deref(), Some(D), "tenant filled from the regions");

        let d = region(s, D).await;
        assert_eq!((d.parent_id, d.depth, d.path.clone()), (None, 0, format!("/{}/", d.id)));
        assert_eq!(d.child_count, 2);
        let s1 = region(s, S1).await;
        let g1 = region(s, G1).await;
        assert_eq!(g1.depth, 4);
        assert!(g1.path.starts_with(&s1.path) && g1.path.ends_with(&format!("/{}/", g1.id)));
        for code in [D, S1, S2, C1, C2, K1, K2, G1, G2, B1] {
            assert_eq!(region(s, code).await.tenant, D, "tenant of {code}");
        }
        assert_eq!(g1.level, RegionLevel::Grid);
        let boundary: serde_json::Value =
            serde_json::from_str(g1.boundary.as_deref().unwrap()).unwrap();
        assert_eq!(boundary["type"], "MultiPolygon");
        let (lng, lat) = g1.centroid.unwrap();
        assert!((lng - 118.605).abs() < 1e-9 && (lat - 24.905).abs() < 1e-9);
        assert_eq!(region(s, B1).await.centroid, None);
        assert_eq!(s.region_by_id(g1.id).await.unwrap(), Some(g1.clone()));

        // Ancestors, root first.
        let ancestors = s.ancestors(&g1).await.unwrap();
        assert_eq!(codes(&ancestors), vec![D, S1, C1, K1]);
        assert!(s.ancestors(&d).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn duplicate_codes_conflict() {
    on_every_backend(|db| async move {
        let s = &db.store;
        seed_tree(s).await;
        let audits = audit_total(s).await;
        // A new street and then a taken code: neither is kept.
        let batch = vec![
            nr("350503003000", Some(D), RegionLevel::Street, "泉秀街道"),
            nr(C1, Some(S1), RegionLevel::Community, "重复社区"),
        ];
        let err = s
            .insert_regions(&batch, &audit("regions.import"), NOW)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict { field } if field == "code"),
            "{err:?}"
        );
        assert!(s.region_by_code("350503003000").await.unwrap().is_none());
        assert_eq!(region(s, C1).await.name, "东霞社区");

        // The same code twice in one batch.
        let batch = vec![
            nr("350503003000", Some(D), RegionLevel::Street, "泉秀街道"),
            nr("350503003000", Some(D), RegionLevel::Street, "泉秀街道"),
        ];
        let err = s
            .insert_regions(&batch, &audit("regions.import"), NOW)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict { field } if field == "code"),
            "{err:?}"
        );

        let err = s
            .create_region(
                nr(S2, Some(D), RegionLevel::Street, "又一个"),
                &audit("region.create"),
                NOW,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict { field } if field == "code"),
            "{err:?}"
        );
        assert_eq!(
            audit_total(s).await,
            audits,
            "failed changes leave no audit entry"
        );

        // create_region works through the same path.
        let id = s
            .create_region(
                nr("350503003000", Some(D), RegionLevel::Street, "泉秀街道"),
                &audit("region.create"),
                NOW,
            )
            .await
            .unwrap();
        let r = s.region_by_id(id).await.unwrap().unwrap();
        assert_eq!(
            (r.code.as_str(), r.depth, r.tenant.as_str()),
            ("350503003000", 1, D)
        );
        assert_eq!(region(s, D).await.child_count, 3);

        s.rename_region(id, "泉秀街道办事处", &audit("region.rename"), NOW + 1)
            .await
            .unwrap();
        assert_eq!(
            s.region_by_id(id).await.unwrap().unwrap().name,
            "泉秀街道办事处"
        );
        assert!(matches!(
            s.rename_region(id, "  ", &audit("region.rename"), NOW)
                .await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.rename_region(999_999, "无", &audit("region.rename"), NOW)
                .await,
            Err(StoreError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn queries_stay_inside_the_scope() {
    on_every_backend(|db| async move {
        let s = &db.store;
        seed_tree(s).await;
        for (name, code) in [("east1", C1), ("east2", G1), ("west1", C2), ("west2", G2)] {
            s.create_user(&new_user(name, code), &audit("user.create"), NOW)
                .await
                .unwrap();
        }
        let d = region(s, D).await;
        let s1 = region(s, S1).await;
        let s2 = region(s, S2).await;

        // Users.
        let (users, total) = s.list_users(&s1.path, None, 1, 50).await.unwrap();
        assert_eq!(total, 2);
        assert_eq!(
            users
                .iter()
                .map(|u| u.username.as_str())
                .collect::<Vec<_>>(),
            ["east1", "east2"]
        );
        assert!(users.iter().all(|u| u.region_path.starts_with(&s1.path)));
        let (_, total) = s.list_users(&d.path, None, 1, 50).await.unwrap();
        assert_eq!(total, 4);
        let (users, total) = s.list_users("/", Some("WEST"), 1, 1).await.unwrap();
        assert_eq!((users.len(), total), (1, 2), "paged, case-insensitive");
        assert_eq!(users[0].username, "west1");
        let (users, _) = s.list_users("/", Some("west"), 2, 1).await.unwrap();
        assert_eq!(users[0].username, "west2");
        let (users, total) = s.list_users(&s1.path, Some("west"), 1, 50).await.unwrap();
        assert!(users.is_empty() && total == 0);
        let (_, total) = s.list_users("/", Some("%"), 1, 50).await.unwrap();
        assert_eq!(total, 0, "LIKE wildcards in the query are literal");

        // Tree navigation.
        assert_eq!(codes(&s.children(d.id, &s1.path).await.unwrap()), vec![S1]);
        assert_eq!(codes(&s.children(d.id, "/").await.unwrap()), vec![S1, S2]);
        assert!(s.children(s2.id, &s1.path).await.unwrap().is_empty());
        assert_eq!(codes(&s.roots(&s1.path).await.unwrap()), vec![S1]);
        assert_eq!(codes(&s.roots("/").await.unwrap()), vec![D]);

        // Search.
        assert_eq!(
            codes(&s.search_regions(&s1.path, "社区", 10).await.unwrap()),
            vec![C1]
        );
        assert_eq!(
            codes(&s.search_regions(&d.path, "社区", 10).await.unwrap()),
            vec![C1, C2]
        );
        assert!(
            s.search_regions(&s1.path, "350503002", 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            codes(&s.search_regions(&s1.path, "350503001001", 2).await.unwrap()),
            vec![C1, K1],
            "code prefix, shallowest first, limited"
        );

        // Map and counts.
        let grids = s.grid_boundaries(&s1.path).await.unwrap();
        assert_eq!(grids.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(), [G1]);
        assert_eq!(grids[0].1, "东霞一网格");
        assert_eq!(s.grid_boundaries("/").await.unwrap().len(), 2);
        assert_eq!(
            s.count_by_level(&s1.path).await.unwrap(),
            vec![
                (RegionLevel::Street, 1),
                (RegionLevel::Community, 1),
                (RegionLevel::Compound, 1),
                (RegionLevel::Grid, 1),
                (RegionLevel::Building, 1),
            ]
        );

        // A malformed scope is refused, not widened.
        assert!(matches!(
            s.list_users("", None, 1, 10).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.children(d.id, "/1").await,
            Err(StoreError::Invalid(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn grid_boundaries_are_replaced_all_or_nothing() {
    on_every_backend(|db| async move {
        let s = &db.store;
        seed_tree(s).await;
        // Single inserts, without and with a boundary.
        s.create_region(
            nr(
                "350503001001001001002",
                Some(G1),
                RegionLevel::Building,
                "2号楼",
            ),
            &audit("region.create"),
            NOW,
        )
        .await
        .unwrap();
        let mut grid = nr(
            "350503001001001003",
            Some(K1),
            RegionLevel::Grid,
            "东霞三网格",
        );
        grid.boundary = Some(square(118.64, 24.90, 0.01));
        s.create_region(grid, &audit("region.create"), NOW)
            .await
            .unwrap();
        assert!(region(s, "350503001001001003").await.centroid.is_some());
        let before = region(s, G1).await;

        // The second entry is a community: nothing changes.
        let err = s
            .set_boundaries(
                &[
                    (G1.into(), square(118.70, 24.95, 0.02)),
                    (C1.into(), square(1.0, 1.0, 1.0)),
                ],
                &audit("grids.import"),
                NOW,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(m) if m.contains(C1)),
            "{err:?}"
        );
        assert_eq!(region(s, G1).await, before);
        let err = s
            .set_boundaries(
                &[("350503001001001099".into(), square(1.0, 1.0, 1.0))],
                &audit("grids.import"),
                NOW,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(m) if m.contains("350503001001001099")),
            "{err:?}"
        );

        assert_eq!(
            s.set_boundaries(
                &[(G1.into(), square(118.70, 24.95, 0.02))],
                &audit("grids.import"),
                NOW
            )
            .await
            .unwrap(),
            1
        );
        let (lng, lat) = region(s, G1).await.centroid.unwrap();
        assert!((lng - 118.71).abs() < 1e-9 && (lat - 24.96).abs() < 1e-9);

        // An import creates new grids and updates existing ones in one go.
        let mut new_grid = nr(
            "350503001001001002",
            Some(K1),
            RegionLevel::Grid,
            "东霞二网格",
        );
        new_grid.boundary = Some(square(118.61, 24.90, 0.01));
        let (created, updated) = s
            .import_grids(
                &[new_grid],
                &[(G2.into(), square(118.63, 24.91, 0.01))],
                &audit("grids.import"),
                NOW,
            )
            .await
            .unwrap();
        assert_eq!((created, updated), (1, 1));
        assert_eq!(s.grid_boundaries("/").await.unwrap().len(), 4);
        assert_eq!(region(s, K1).await.child_count, 3);
    })
    .await;
}

// ----- audit -------------------------------------------------------------------------------

#[tokio::test]
async fn audit_log_is_append_only() {
    on_every_backend(|db| async move {
        let s = &db.store;
        let mut entry = audit("login");
        entry.outcome = "failed".into();
        entry.detail = "密码错误".into();
        entry.ip = Some("10.0.0.1".into());
        s.append_audit(&entry, NOW).await.unwrap();

        let raw = raw_pool(&db.url).await;
        let update = sqlx::query("UPDATE audit_log SET outcome = 'ok'")
            .execute(&raw)
            .await;
        assert!(update.is_err(), "UPDATE must be refused");
        assert!(update.unwrap_err().to_string().contains("append-only"));
        let delete = sqlx::query("DELETE FROM audit_log").execute(&raw).await;
        assert!(delete.is_err(), "DELETE must be refused");
        if db.store.backend() == Backend::Postgres {
            let truncate = sqlx::query("TRUNCATE audit_log").execute(&raw).await;
            assert!(truncate.is_err(), "TRUNCATE must be refused");
        }
        raw.close().await;

        let (rows, total) = s
            .list_audit(AuditFilter {
                page: 1,
                page_size: 10,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 1);
        let row = &rows[0];
        assert_eq!(
            (
                row.outcome.as_str(),
                row.detail.as_str(),
                row.ip.as_deref(),
                row.at
            ),
            ("failed", "密码错误", Some("10.0.0.1"), NOW)
        );

        let mut bad = audit("login");
        bad.outcome = "maybe".into();
        assert!(matches!(
            s.append_audit(&bad, NOW).await,
            Err(StoreError::Invalid(_))
        ));

        // Filters: actor exact, action prefix; newest first.
        let mut other = audit("user.create");
        other.actor_name = "admin".into();
        s.append_audit(&other, NOW + 10).await.unwrap();
        other.action = "user.disable".into();
        s.append_audit(&other, NOW + 20).await.unwrap();
        let (rows, total) = s
            .list_audit(AuditFilter {
                actor: Some("admin".into()),
                action: None,
                page: 1,
                page_size: 10,
            })
            .await
            .unwrap();
        assert_eq!(total, 2);
        assert_eq!(rows[0].action, "user.disable");
        let (_, total) = s
            .list_audit(AuditFilter {
                actor: None,
                action: Some("user.".into()),
                page: 1,
                page_size: 10,
            })
            .await
            .unwrap();
        assert_eq!(total, 2);
        let (rows, total) = s
            .list_audit(AuditFilter {
                actor: None,
                action: None,
                page: 2,
                page_size: 2,
            })
            .await
            .unwrap();
        assert_eq!((rows.len(), total), (1, 3));
        assert_eq!(rows[0].action, "login");
    })
    .await;
}

#[tokio::test]
async fn admin_changes_and_their_audit_are_written_together() {
    on_every_backend(|db| async move {
        let s = &db.store;
        seed_tree(s).await;
        let base = audit_total(s).await;

        let id = s
            .create_user(&new_user("grid01", G1), &audit("user.create"), NOW)
            .await
            .unwrap();
        assert_eq!(audit_total(s).await, base + 1);
        let user = s.user_by_id(id).await.unwrap().unwrap();
        assert_eq!(user.username, "grid01");
        assert_eq!(
            (user.role, user.active, user.failed_logins),
            (Role::GridWorker, true, 0)
        );
        assert_eq!(
            (user.region_code.as_str(), user.region_name.as_str()),
            (G1, "东霞一网格")
        );
        assert_eq!(user.region_path, region(s, G1).await.path);
        assert_eq!(user.tenant, D);
        assert_eq!(
            s.user_by_username("grid01").await.unwrap(),
            Some(user.clone())
        );
        assert!(s.user_by_username("nobody").await.unwrap().is_none());

        // The audit entry is written first in the transaction: a failing insert takes it back.
        let err = s
            .create_user(&new_user("grid01", G2), &audit("user.create"), NOW)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict { field } if field == "username"),
            "{err:?}"
        );
        let err = s
            .create_user(
                &new_user("grid02", "350599999999"),
                &audit("user.create"),
                NOW,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
        let err = s
            .set_active(999_999, false, &audit("user.disable"), NOW)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound));
        assert_eq!(
            audit_total(s).await,
            base + 1,
            "failed changes leave no audit entry"
        );
        let (_, total) = s.list_users("/", None, 1, 10).await.unwrap();
        assert_eq!(total, 1);

        let (rows, _) = s
            .list_audit(AuditFilter {
                action: Some("user.create".into()),
                page: 1,
                page_size: 5,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].tenant.as_deref(), Some(D));
    })
    .await;
}

// ----- accounts ----------------------------------------------------------------------------

#[tokio::test]
async fn login_failures_lock_at_the_threshold_and_reset_clears() {
    on_every_backend(|db| async move {
        let s = &db.store;
        seed_tree(s).await;
        let id = s
            .create_user(&new_user("grid01", G1), &audit("user.create"), NOW)
            .await
            .unwrap();
        const LOCK: i64 = 15 * 60_000;

        assert_eq!(
            s.record_login_failure(id, NOW, 3, LOCK).await.unwrap(),
            None
        );
        assert_eq!(
            s.record_login_failure(id, NOW + 1, 3, LOCK).await.unwrap(),
            None
        );
        assert_eq!(s.user_by_id(id).await.unwrap().unwrap().failed_logins, 2);
        assert_eq!(
            s.record_login_failure(id, NOW + 2, 3, LOCK).await.unwrap(),
            Some(NOW + 2 + LOCK)
        );
        let user = s.user_by_id(id).await.unwrap().unwrap();
        assert_eq!(user.locked_until, Some(NOW + 2 + LOCK));
        assert_eq!(user.failed_logins, 0, "the count restarts once locked");

        // After the lock has expired, one failure does not lock again.
        let later = NOW + 2 + LOCK + 1;
        assert_eq!(
            s.record_login_failure(id, later, 3, LOCK).await.unwrap(),
            None
        );

        s.reset_login_failures(id).await.unwrap();
        let user = s.user_by_id(id).await.unwrap().unwrap();
        assert_eq!((user.failed_logins, user.locked_until), (0, None));

        assert!(matches!(
            s.record_login_failure(999_999, NOW, 3, LOCK).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.record_login_failure(id, NOW, 0, LOCK).await,
            Err(StoreError::Invalid(_))
        ));

        // An administrator's password reset also unlocks.
        for i in 0..3 {
            s.record_login_failure(id, NOW + i, 3, LOCK).await.unwrap();
        }
        s.set_password(id, "$argon2id$new", &audit("user.password"), NOW + 5)
            .await
            .unwrap();
        let user = s.user_by_id(id).await.unwrap().unwrap();
        assert_eq!(
            (user.password_hash.as_str(), user.locked_until),
            ("$argon2id$new", None)
        );
    })
    .await;
}

#[tokio::test]
async fn sessions_are_created_found_touched_and_ended() {
    on_every_backend(|db| async move {
        let s = &db.store;
        seed_tree(s).await;
        let id = s
            .create_user(&new_user("grid01", G1), &audit("user.create"), NOW)
            .await
            .unwrap();
        let other = s
            .create_user(&new_user("grid02", G2), &audit("user.create"), NOW)
            .await
            .unwrap();

        let sid = s
            .create_session("hash-a", id, "csrf-a", Some("Firefox"), NOW)
            .await
            .unwrap();
        s.create_session("hash-b", id, "csrf-b", None, NOW - 3_600_000)
            .await
            .unwrap();
        s.create_session("hash-c", other, "csrf-c", None, NOW)
            .await
            .unwrap();
        assert!(matches!(
            s.create_session("hash-x", 999_999, "c", None, NOW).await,
            Err(StoreError::NotFound)
        ));

        let (session, user) = s.session_by_token_hash("hash-a").await.unwrap().unwrap();
        assert_eq!(
            (
                session.id,
                session.user_id,
                session.csrf_token.as_str(),
                session.user_agent.as_deref()
            ),
            (sid, id, "csrf-a", Some("Firefox"))
        );
        assert_eq!((session.created_at, session.last_seen_at), (NOW, NOW));
        assert_eq!(user.username, "grid01");
        assert!(s.session_by_token_hash("nope").await.unwrap().is_none());

        s.touch_session(sid, NOW + 60_000).await.unwrap();
        let (session, _) = s.session_by_token_hash("hash-a").await.unwrap().unwrap();
        assert_eq!(session.last_seen_at, NOW + 60_000);

        // Idle sweep: only hash-b was last seen an hour ago.
        assert_eq!(s.delete_idle_sessions(NOW - 1).await.unwrap(), 1);
        assert!(s.session_by_token_hash("hash-b").await.unwrap().is_none());

        s.delete_session("hash-a").await.unwrap();
        assert!(s.session_by_token_hash("hash-a").await.unwrap().is_none());
        s.delete_session("hash-a").await.unwrap();

        // Password change and deactivation end sessions.
        s.create_session("hash-d", id, "csrf-d", None, NOW)
            .await
            .unwrap();
        s.set_password(id, "$argon2id$x", &audit("user.password"), NOW)
            .await
            .unwrap();
        assert!(s.session_by_token_hash("hash-d").await.unwrap().is_none());
        assert!(
            s.session_by_token_hash("hash-c").await.unwrap().is_some(),
            "other users keep theirs"
        );
        s.set_active(other, false, &audit("user.disable"), NOW)
            .await
            .unwrap();
        assert!(s.session_by_token_hash("hash-c").await.unwrap().is_none());
        assert!(!s.user_by_id(other).await.unwrap().unwrap().active);
        s.set_active(other, true, &audit("user.enable"), NOW)
            .await
            .unwrap();
        assert!(s.user_by_id(other).await.unwrap().unwrap().active);
    })
    .await;
}

#[tokio::test]
async fn api_tokens_work_until_revoked() {
    on_every_backend(|db| async move {
        let s = &db.store;
        seed_tree(s).await;
        let id = s
            .create_user(&new_user("robot", C1), &audit("user.create"), NOW)
            .await
            .unwrap();
        let base = audit_total(s).await;
        let tid = s
            .create_api_token(id, "报表同步", "tok-hash", &audit("token.create"), NOW)
            .await
            .unwrap();
        assert_eq!(audit_total(s).await, base + 1);

        let user = s
            .user_by_api_token("tok-hash", NOW + 1_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.id, id);
        assert!(s.user_by_api_token("other", NOW).await.unwrap().is_none());
        let tokens = s.list_api_tokens(id).await.unwrap();
        assert_eq!(tokens.len(), 1);
        assert_eq!(
            (
                tokens[0].id,
                tokens[0].name.as_str(),
                tokens[0].last_used_at,
                tokens[0].revoked_at
            ),
            (tid, "报表同步", Some(NOW + 1_000), None)
        );
        assert_eq!(
            s.api_token_by_id(tid).await.unwrap(),
            Some(tokens[0].clone())
        );

        s.revoke_api_token(tid, &audit("token.revoke"), NOW + 2_000)
            .await
            .unwrap();
        assert!(
            s.user_by_api_token("tok-hash", NOW + 3_000)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            s.list_api_tokens(id).await.unwrap()[0].revoked_at,
            Some(NOW + 2_000)
        );
        assert!(matches!(
            s.revoke_api_token(tid, &audit("token.revoke"), NOW).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(audit_total(s).await, base + 2);
    })
    .await;
}

#[tokio::test]
async fn posts_are_assigned_once_and_removed() {
    on_every_backend(|db| async move {
        let s = &db.store;
        seed_tree(s).await;
        let worker = s
            .create_user(&new_user("grid01", G1), &audit("user.create"), NOW)
            .await
            .unwrap();
        let mut officer = new_user("police01", C1);
        officer.role = Role::Police;
        let officer = s
            .create_user(&officer, &audit("user.create"), NOW)
            .await
            .unwrap();
        let g1 = region(s, G1).await;

        let pid = s
            .assign_post(worker, G1, PostKind::GridWorker, &audit("post.assign"), NOW)
            .await
            .unwrap();
        s.assign_post(worker, G1, PostKind::GridHead, &audit("post.assign"), NOW)
            .await
            .unwrap();
        let err = s
            .assign_post(worker, G1, PostKind::GridWorker, &audit("post.assign"), NOW)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict { field } if field == "post"),
            "{err:?}"
        );
        let err = s
            .assign_post(officer, G1, PostKind::Police, &audit("post.assign"), NOW)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Invalid(_)),
            "police belong at a community"
        );
        assert!(matches!(
            s.assign_post(
                worker,
                "350599999999",
                PostKind::GridWorker,
                &audit("post.assign"),
                NOW
            )
            .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.assign_post(
                999_999,
                G1,
                PostKind::GridWorker,
                &audit("post.assign"),
                NOW
            )
            .await,
            Err(StoreError::NotFound)
        ));
        s.assign_post(officer, C1, PostKind::Police, &audit("post.assign"), NOW)
            .await
            .unwrap();

        let at_g1 = s.posts_at(g1.id).await.unwrap();
        assert_eq!(
            at_g1.iter().map(|p| p.kind).collect::<Vec<_>>(),
            [PostKind::GridHead, PostKind::GridWorker]
        );
        let p = at_g1.iter().find(|p| p.id == pid).unwrap();
        assert_eq!(
            (
                p.user_id,
                p.username.as_str(),
                p.work_phone.as_deref(),
                p.region_id,
                p.active
            ),
            (worker, "grid01", Some("13800000000"), g1.id, true)
        );
        assert_eq!(s.post_by_id(pid).await.unwrap().as_ref(), Some(p));
        let mine = s.posts_of_user(worker).await.unwrap();
        assert_eq!(mine.len(), 2);
        assert!(
            mine.iter()
                .all(|(_, code, name)| code == G1 && name == "东霞一网格")
        );
        assert_eq!(s.posts_at(region(s, C1).await.id).await.unwrap().len(), 1);

        let audits = audit_total(s).await;
        s.remove_post(pid, &audit("post.remove"), NOW)
            .await
            .unwrap();
        assert_eq!(s.posts_at(g1.id).await.unwrap().len(), 1);
        assert!(matches!(
            s.remove_post(pid, &audit("post.remove"), NOW).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(audit_total(s).await, audits + 1);
    })
    .await;
}

// ----- operations --------------------------------------------------------------------------

#[tokio::test]
async fn backup_copies_a_live_sqlite_database() {
    on_every_backend(|db| async move {
        let s = &db.store;
        seed_tree(s).await;
        s.create_user(&new_user("grid01", G1), &audit("user.create"), NOW)
            .await
            .unwrap();
        let target = std::env::temp_dir().join(format!("jinlin_backup_{}.db", unique_suffix()));
        match s.backend() {
            Backend::Postgres => {
                let err = s.backup_to(&target).await.unwrap_err();
                assert!(
                    matches!(&err, StoreError::Unsupported(m) if m.contains("pg_dump")),
                    "{err:?}"
                );
                assert!(!target.exists());
            }
            Backend::Sqlite => {
                s.backup_to(&target).await.unwrap();
                let err = s.backup_to(&target).await.unwrap_err();
                assert!(
                    matches!(err, StoreError::Invalid(_)),
                    "an existing file is not overwritten"
                );

                let copy = Store::connect(&format!("sqlite://{}", target.display()))
                    .await
                    .unwrap();
                copy.migrate().await.unwrap();
                assert_eq!(region_total(&copy).await, region_total(s).await);
                assert_eq!(
                    copy.region_by_code(G1).await.unwrap(),
                    s.region_by_code(G1).await.unwrap()
                );
                assert_eq!(
                    copy.user_by_username("grid01").await.unwrap(),
                    s.user_by_username("grid01").await.unwrap()
                );
                assert_eq!(audit_total(&copy).await, audit_total(s).await);
                copy.close().await;
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = target.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(p));
                }
            }
        }
    })
    .await;
}

/// The demo county has about 1,500 regions; loading them must take well under a second.
///
/// Also a regression test: chunks of the multi-row INSERT share one SQL text, and a chunk
/// whose row N has a boundary follows one whose row N has none. sqlx 0.9 sends a NULL f64 to
/// PostgreSQL as float4, so a cached prepared statement made this fail with 22P03.
#[tokio::test]
async fn a_county_of_regions_loads_in_one_quick_transaction() {
    on_every_backend(|db| async move {
        use RegionLevel::*;
        let mut batch = vec![nr(D, None, District, "丰泽区")];
        for st in 1..=4 {
            let street = format!("350503{st:03}000");
            batch.push(nr(&street, Some(D), Street, &format!("街道{st}")));
            for c in 1..=3 {
                let community = format!("350503{st:03}{c:03}");
                batch.push(nr(
                    &community,
                    Some(&street),
                    Community,
                    &format!("社区{st}-{c}"),
                ));
                for k in 1..=4 {
                    let compound = format!("{community}{k:03}");
                    batch.push(nr(
                        &compound,
                        Some(&community),
                        Compound,
                        &format!("小区{k}"),
                    ));
                    for g in 1..=3 {
                        let grid = format!("{compound}{g:03}");
                        let mut node = nr(&grid, Some(&compound), Grid, &format!("网格{g}"));
                        node.boundary = Some(square(118.5 + f64::from(g) * 0.01, 24.9, 0.01));
                        batch.push(node);
                        for b in 1..=10 {
                            batch.push(nr(
                                &format!("{grid}{b:03}"),
                                Some(&grid),
                                Building,
                                &format!("{b}号楼"),
                            ));
                        }
                    }
                }
            }
        }
        let n = batch.len();
        assert!(n > 1_400, "{n}");
        let started = Instant::now();
        db.store
            .insert_regions(&batch, &audit("demo"), NOW)
            .await
            .unwrap();
        let elapsed = started.elapsed();
        eprintln!(
            "{} regions on {}: {elapsed:?}",
            n,
            db.store.backend().as_str()
        );
        assert_eq!(region_total(&db.store).await, n as i64);
        assert_eq!(db.store.grid_boundaries("/").await.unwrap().len(), 144);
        // Generous for an unoptimised test build on a busy 2-core machine.
        assert!(elapsed.as_secs_f64() < 3.0, "took {elapsed:?}");
    })
    .await;
}

/// Many tasks writing at once: the single SQLite writer queues them (no SQLITE_BUSY), and
/// PostgreSQL takes them in parallel.
#[tokio::test]
async fn concurrent_writes_all_succeed() {
    on_every_backend(|db| async move {
        seed_tree(&db.store).await;
        let user = db
            .store
            .create_user(&new_user("grid01", G1), &audit("user.create"), NOW)
            .await
            .unwrap();
        let base = audit_total(&db.store).await;
        let mut tasks = Vec::new();
        for i in 0..40_i64 {
            let s = db.store.clone();
            tasks.push(tokio::spawn(async move {
                s.append_audit(&audit("load"), NOW + i).await.unwrap();
                s.create_session(&format!("h{i}"), user, "c", None, NOW + i)
                    .await
                    .unwrap();
                s.set_active(user, true, &audit("user.enable"), NOW + i)
                    .await
                    .unwrap();
                assert!(
                    s.session_by_token_hash(&format!("h{i}"))
                        .await
                        .unwrap()
                        .is_some()
                );
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(audit_total(&db.store).await, base + 80);
        assert_eq!(
            db.store.delete_idle_sessions(NOW + 1_000).await.unwrap(),
            40
        );
    })
    .await;
}

#[tokio::test]
async fn sqlite_connect_creates_the_directory_and_refuses_memory() {
    let dir = std::env::temp_dir().join(format!("jinlin_test_dir_{}", unique_suffix()));
    let file = dir.join("sub").join("jinlin.db");
    let store = Store::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store.close().await;
    assert!(file.exists());
    std::fs::remove_dir_all(&dir).unwrap();

    assert!(matches!(
        Store::connect("sqlite::memory:").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        Store::connect("mysql://localhost/x").await,
        Err(StoreError::Invalid(_))
    ));
}

// ----- statistics --------------------------------------------------------------------------

fn category(code: &str, name: &str) -> jinlin_store::cases::NewCategory {
    use jinlin_domain::deadlines::{DeadlineSpec, Urgency};
    jinlin_store::cases::NewCategory {
        code: code.into(),
        parent_code: None,
        name: name.into(),
        kind: "appeal".into(),
        standard_code: None,
        standard: None,
        response: DeadlineSpec::NaturalMinutes(30),
        onsite: None,
        resolution: DeadlineSpec::WorkingDays(3),
        urgency: Urgency::Normal,
        level: "community".into(),
        description: String::new(),
        keywords: Vec::new(),
        active: true,
    }
}

/// One case as the statistics see it.
struct Spec {
    grid: &'static str,
    category: i64,
    channel: &'static str,
    created: i64,
    stage: jinlin_domain::cases::Stage,
    responded_min: Option<i64>,
    /// Some(true): resolved before the deadline; Some(false): after it.
    on_time: Option<bool>,
    rework: u32,
    rating: Option<jinlin_domain::cases::Satisfaction>,
    overdue: bool,
}

async fn file(store: &Store, s: &Spec) -> i64 {
    use jinlin_domain::cases::{CaseState, Stage};
    use jinlin_store::cases::{CaseEffects, NewCase};
    const DAY: i64 = 86_400_000;
    let grid = region(store, s.grid).await;
    let id = store
        .create_case(
            &NewCase {
                tenant: grid.tenant.clone(),
                category_id: s.category,
                channel: s.channel.into(),
                description: "路灯不亮".into(),
                address: None,
                lat: None,
                lng: None,
                region_id: grid.id,
                region_path: grid.path.clone(),
                grid_id: Some(grid.id),
                community_id: None,
                reporter_id: None,
                reporter_name: None,
                reporter_phone: None,
                state: CaseState::default(),
                urgency: jinlin_domain::deadlines::Urgency::Normal,
                level: "community".into(),
                unit_id: None,
                response_due: s.created + 1_800_000,
                onsite_due: None,
                resolution_due: s.created + 3 * DAY,
                next_check_at: None,
                created_at: s.created,
            },
            &CaseEffects::default(),
        )
        .await
        .unwrap();
    let mut row = store.case_by_id(id).await.unwrap().unwrap();
    row.state.stage = s.stage;
    row.state.rework_count = s.rework;
    row.state.rating = s.rating;
    row.responded_at = s.responded_min.map(|m| s.created + m * 60_000);
    row.resolved_at = s
        .on_time
        .map(|ok| s.created + if ok { DAY } else { 4 * DAY });
    row.closed_at = s.stage.is_terminal().then_some(s.created + 5 * DAY);
    row.overdue = s.overdue;
    if s.stage == Stage::Merged {
        row.merged_into = Some(1);
    }
    store
        .update_case(&row, &CaseEffects::default(), s.created + 5 * DAY)
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn statistics_compute_each_indicator_for_a_subtree_and_period() {
    use jinlin_domain::cases::{Satisfaction as R, Stage as St};
    use jinlin_domain::stats::{Tally, median_from_histogram};
    use jinlin_store::stats::StatsQuery;
    on_every_backend(|db| async move {
        let s = &db.store;
        seed_tree(s).await;
        let a = s
            .create_category(&category("T01", "路灯"), &audit("category.create"), NOW)
            .await
            .unwrap();
        let b = s
            .create_category(&category("T02", "噪声"), &audit("category.create"), NOW)
            .await
            .unwrap();
        const H: i64 = 3_600_000;
        let base = Spec {
            grid: G1,
            category: a,
            channel: "resident",
            created: NOW + H,
            stage: St::Reported,
            responded_min: None,
            on_time: None,
            rework: 0,
            rating: None,
            overdue: false,
        };
        let specs = [
            // 1: still waiting for acceptance
            Spec { ..base },
            // 2: rejected
            Spec {
                stage: St::Rejected,
                responded_min: Some(1),
                ..base
            },
            // 3: a merged duplicate — left out of every figure
            Spec {
                stage: St::Merged,
                category: b,
                responded_min: Some(600),
                ..base
            },
            // 4: closed on time, satisfied
            Spec {
                stage: St::Closed,
                responded_min: Some(2),
                on_time: Some(true),
                rating: Some(R::Satisfied),
                ..base
            },
            // 5: other street, closed late after rework, basically satisfied
            Spec {
                grid: G2,
                channel: "hotline",
                stage: St::Closed,
                responded_min: Some(20),
                on_time: Some(false),
                rework: 1,
                rating: Some(R::Basic),
                ..base
            },
            // 6: other street, next day, closed on time, not satisfied
            Spec {
                grid: G2,
                category: b,
                channel: "hotline",
                created: NOW + 30 * H,
                stage: St::Closed,
                responded_min: Some(4),
                on_time: Some(true),
                rating: Some(R::Unsatisfied),
                ..base
            },
            // 7: next day, failed verification, back in progress and overdue
            Spec {
                category: b,
                created: NOW + 31 * H,
                stage: St::InProgress,
                responded_min: Some(6),
                on_time: Some(true),
                rework: 1,
                overdue: true,
                ..base
            },
            // 8: before the period
            Spec {
                created: NOW - 24 * H,
                stage: St::Closed,
                responded_min: Some(1),
                on_time: Some(true),
                rating: Some(R::Satisfied),
                ..base
            },
        ];
        for spec in &specs {
            file(s, spec).await;
        }
        let district = region(s, D).await;
        let q = StatsQuery {
            tenant: district.tenant.clone(),
            scope_path: district.path.clone(),
            from: NOW,
            to: NOW + 10 * 24 * H,
        };
        let stats = s.case_stats(&q).await.unwrap();
        let mut tally = Tally::default();
        for (_, stage, counts) in &stats.by_path {
            tally.add(*stage, *counts);
        }
        let i = tally.indicators();
        assert_eq!((i.reported, i.merged, i.rejected, i.closed), (6, 1, 1, 3));
        assert_eq!(i.acceptance, Some(4.0 / 6.0), "受理率");
        assert_eq!(i.response_avg_ms, Some(((1 + 2 + 20 + 4 + 6) * 60_000) / 5));
        assert_eq!(i.on_time, Some(3.0 / 4.0), "按期办结率");
        assert_eq!(i.completion, Some(3.0 / 5.0), "办结率");
        assert_eq!(i.rework, Some(2.0 / 4.0), "返工率");
        assert_eq!(i.satisfaction, Some(2.0 / 3.0), "满意率");
        assert_eq!(i.overdue, 1);
        // Responses 1, 2, 4, 6, 20 minutes: the median lies in the 1–5 minute bucket.
        let median = median_from_histogram(&stats.response_histogram).unwrap();
        assert!((60_000..300_000).contains(&median), "{median}");
        assert_eq!(stats.response_histogram.iter().sum::<i64>(), 5);

        let cats: Vec<_> = stats
            .categories
            .iter()
            .map(|c| (c.name.as_str(), c.cases, c.closed, c.rated, c.content))
            .collect();
        assert_eq!(cats, [("路灯", 4, 2, 2, 2), ("噪声", 2, 1, 1, 0)]);
        assert_eq!(
            stats.channels,
            [("hotline".to_owned(), 2), ("resident".to_owned(), 4)]
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
        );
        let first = jinlin_domain::stats::day_number(NOW + H);
        let days: Vec<_> = stats
            .days
            .iter()
            .map(|d| (d.day - first, d.cases, d.closed))
            .collect();
        assert_eq!(days, [(0, 4, 2), (1, 2, 1)]);
        let paths: BTreeSet<_> = stats.by_path.iter().map(|(p, _, _)| p.clone()).collect();
        let g1 = region(s, G1).await;
        let g2 = region(s, G2).await;
        // Folded to the children of the district: the two streets.
        let (s1, s2) = (region(s, S1).await, region(s, S2).await);
        assert!(g1.path.starts_with(&s1.path) && g2.path.starts_with(&s2.path));
        assert_eq!(paths, BTreeSet::from([s1.path.clone(), s2.path.clone()]));

        // One street: only its cases.
        let s1 = region(s, S1).await;
        let street = s
            .case_stats(&StatsQuery {
                scope_path: s1.path.clone(),
                ..q.clone()
            })
            .await
            .unwrap();
        let mut t = Tally::default();
        for (_, stage, counts) in &street.by_path {
            t.add(*stage, *counts);
        }
        assert_eq!(t.indicators().reported, 4);
        assert_eq!(t.indicators().satisfaction, Some(1.0));

        // An empty period is empty, not an error.
        let empty = s
            .case_stats(&StatsQuery {
                from: NOW + 100 * 24 * H,
                to: NOW + 101 * 24 * H,
                ..q.clone()
            })
            .await
            .unwrap();
        assert!(empty.by_path.is_empty() && empty.days.is_empty());
        assert_eq!(empty.response_histogram, vec![0; 15]);
        assert!(
            s.case_stats(&StatsQuery {
                scope_path: "1/".into(),
                ..q
            })
            .await
            .is_err()
        );
    })
    .await;
}

/// Every non-zero row of the three rollup tables, in key order.
async fn rollup_rows(url: &str) -> Vec<String> {
    let raw = raw_pool(url).await;
    let mut out = Vec::new();
    for (table, key) in [
        ("case_rollup", "stage"),
        ("case_rollup_categories", "category_id"),
        ("case_rollup_channels", "channel"),
    ] {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM {table} ORDER BY tenant, depth, region_path, day, {key}"
        )))
        .fetch_all(&raw)
        .await
        .unwrap();
        for r in rows {
            let mut values = Vec::new();
            let mut nonzero = false;
            for i in 0..r.len() {
                match r.try_get::<i64, _>(i) {
                    Ok(v) => {
                        nonzero |= i >= 5 && v != 0;
                        values.push(v.to_string());
                    }
                    Err(_) => values.push(r.get::<String, _>(i)),
                }
            }
            if nonzero {
                out.push(format!("{table} {}", values.join(" ")));
            }
        }
    }
    raw.close().await;
    out
}

/// Random case changes through the store's write paths (filing, updates, the sweeper's overdue
/// flag, the bulk loader) keep the rollups equal to a rebuild from `cases`, and the statistics
/// read from them equal those read from `cases` directly, for every region and several periods.
#[tokio::test]
async fn statistics_rollups_follow_every_case_write() {
    use jinlin_domain::cases::{CaseState, Satisfaction, Stage};
    use jinlin_store::cases::{CaseEffects, NewCase, SeededCase};
    use jinlin_store::stats::StatsQuery;
    const MIN: i64 = 60_000;
    const DAY: i64 = 86_400_000;
    // CST midnight starting 2026-01-01 (NOW is 08:00 CST).
    const MIDNIGHT: i64 = NOW - 8 * 3_600_000;
    struct Lcg(u64);
    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }
    on_every_backend(|db| async move {
        let s = &db.store;
        seed_tree(s).await;
        let mut categories = Vec::new();
        for (code, name) in [("T01", "路灯"), ("T02", "噪声"), ("T03", "垃圾")] {
            categories.push(
                s.create_category(&category(code, name), &audit("category.create"), NOW)
                    .await
                    .unwrap(),
            );
        }
        let mut places = Vec::new();
        for code in [G1, G2, B1, C1, S2] {
            places.push(region(s, code).await);
        }
        let channels = ["resident", "patrol", "hotline", "api"];
        let mut rng = Lcg(7);
        let mut ids = Vec::new();
        for _ in 0..40 {
            let at = &places[rng.below(places.len() as u64) as usize];
            let created = MIDNIGHT - 5 * DAY + rng.below(30 * DAY as u64) as i64;
            let c = NewCase {
                tenant: at.tenant.clone(),
                category_id: categories[rng.below(3) as usize],
                channel: channels[rng.below(4) as usize].into(),
                description: "随机".into(),
                address: None,
                lat: None,
                lng: None,
                region_id: at.id,
                region_path: at.path.clone(),
                grid_id: None,
                community_id: None,
                reporter_id: None,
                reporter_name: None,
                reporter_phone: None,
                state: CaseState::default(),
                urgency: jinlin_domain::deadlines::Urgency::Normal,
                level: "community".into(),
                unit_id: None,
                response_due: created + 30 * MIN,
                onsite_due: None,
                resolution_due: created + 3 * DAY,
                next_check_at: None,
                created_at: created,
            };
            ids.push(s.create_case(&c, &CaseEffects::default()).await.unwrap());
        }
        let responses = [0, 3, 7, 40, 200, 900, 2_000, 5_000, 12_000];
        for round in 0..160 {
            let id = ids[rng.below(ids.len() as u64) as usize];
            let mut row = s.case_by_id(id).await.unwrap().unwrap();
            match rng.below(6) {
                0 => {
                    s.set_case_schedule(id, rng.below(2) == 0, None)
                        .await
                        .unwrap();
                    continue;
                }
                1 => row.category_id = categories[rng.below(3) as usize],
                2 => {
                    row.responded_at = (rng.below(4) > 0).then(|| {
                        row.created_at + responses[rng.below(responses.len() as u64) as usize] * MIN
                    })
                }
                3 => {
                    row.resolved_at = (rng.below(3) > 0)
                        .then(|| row.created_at + rng.below(6 * DAY as u64) as i64);
                    row.state.rework_count = rng.below(3) as u32;
                }
                4 => {
                    row.state.rating = match rng.below(4) {
                        0 => None,
                        1 => Some(Satisfaction::Satisfied),
                        2 => Some(Satisfaction::Basic),
                        _ => Some(Satisfaction::Unsatisfied),
                    }
                }
                _ => {}
            }
            row.state.stage = Stage::ALL[rng.below(Stage::ALL.len() as u64) as usize];
            row.overdue = rng.below(5) == 0;
            if round % 40 == 39 {
                // A stale version changes nothing.
                let mut stale = row.clone();
                stale.version -= 1;
                stale.state.stage = Stage::Merged;
                let err = s
                    .update_case(&stale, &CaseEffects::default(), NOW)
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
            }
            s.update_case(&row, &CaseEffects::default(), NOW)
                .await
                .unwrap();
        }
        // The bulk loader: copies of stored cases, moved to other days.
        let mut seeded = Vec::new();
        for (i, id) in ids.iter().take(12).enumerate() {
            let mut row = s.case_by_id(*id).await.unwrap().unwrap();
            row.created_at += (i as i64 - 6) * DAY;
            seeded.push(SeededCase {
                row,
                events: Vec::new(),
                whistles: Vec::new(),
                notifications: Vec::new(),
            });
        }
        s.seed_cases(&seeded).await.unwrap();

        let kept = rollup_rows(&db.url).await;
        assert!(kept.len() > 100, "{}", kept.len());
        s.rebuild_stats_rollup().await.unwrap();
        assert_eq!(kept, rollup_rows(&db.url).await, "rollups = rebuild");

        let district = region(s, D).await;
        let mut scopes = vec![district.clone()];
        for code in [S1, S2, C1, C2, K1, K2, G1, G2, B1] {
            scopes.push(region(s, code).await);
        }
        let periods = [
            (MIDNIGHT - 20 * DAY, MIDNIGHT + 40 * DAY),
            (MIDNIGHT, MIDNIGHT + DAY),
            (MIDNIGHT + 3 * DAY, MIDNIGHT + 17 * DAY),
            (MIDNIGHT + 100 * DAY, MIDNIGHT + 101 * DAY),
        ];
        let mut compared = 0;
        for scope in &scopes {
            for (from, to) in periods {
                let q = StatsQuery {
                    tenant: district.tenant.clone(),
                    scope_path: scope.path.clone(),
                    from,
                    to,
                };
                let direct = s.case_stats_direct(&q).await.unwrap();
                assert_eq!(
                    s.case_stats(&q).await.unwrap(),
                    direct,
                    "{} {from}",
                    scope.code
                );
                compared += usize::from(!direct.by_path.is_empty());
            }
        }
        assert!(compared > 20, "{compared}");
    })
    .await;
}
