//! `/api/v1/people`, `/households`, `/dwellings` end to end, in process, on every available
//! database, over the demo county and its residents: search by initials, jurisdiction (with the
//! refusal audited), reveals with a reason (and their access-log row), and sensitive tags seen
//! only by the roles allowed to.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use jinlin_app::{Actor, App, Settings};
use jinlin_store::audit::{AuditFilter, NewAudit};
use jinlin_store::people::AccessFilter;
use jinlin_store::testing::{TestDb, on_every_backend};
use serde_json::Value;
use tower::ServiceExt;

/// The first grid of 东霞社区 (the `grid` account's; the `community` account's community).
const GRID: &str = "350503001001001";
/// 2026-01-01 00:00 China Standard Time.
const NOW: i64 = 1_767_196_800_000;

struct Harness {
    router: Router,
    app: App,
    db: TestDb,
    dir: std::path::PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Reply {
    status: StatusCode,
    body: Value,
}

impl Harness {
    async fn new(db: TestDb) -> Harness {
        let dir = std::env::temp_dir().join(format!(
            "jinlin-people-api-{}",
            jinlin_store::testing::unique_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        jinlin_app::demo::seed(&db.store, NOW).await.unwrap();
        let app = App::with_clock(
            db.store.clone(),
            Settings {
                data_dir: dir.clone(),
                ..Settings::default()
            },
            Arc::new(|| NOW),
        )
        .await
        .unwrap();
        let county = jinlin_app::demo::demo_county();
        jinlin_app::demo::seed_people(&app, &county, NOW)
            .await
            .unwrap()
            .unwrap();
        let router = jinlin_web::router(app.clone(), jinlin_web::WebConfig::default());
        Harness {
            router,
            app,
            db,
            dir,
        }
    }

    async fn token(&self, username: &str) -> String {
        self.app
            .create_api_token(&Actor::console(), username, "测试")
            .await
            .unwrap()
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        Reply { status, body }
    }

    async fn get(&self, token: &str, path: &str) -> Reply {
        self.send(
            Request::get(path)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        self.send(
            Request::post(path)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    /// A demo resident of `grid`: (name, initials, building code, full ID number).
    fn resident_of(&self, grid: &str) -> (String, String, String, String) {
        let plan = jinlin_app::demo::demo_people(&jinlin_app::demo::demo_county(), NOW);
        let p = plan
            .persons
            .iter()
            .find(|p| p.building_code.starts_with(grid) && p.input.phone.is_some())
            .unwrap();
        let (_, initials) = jinlin_domain::people::name_pinyin(&p.input.name);
        (
            p.input.name.clone(),
            initials,
            p.building_code.clone(),
            p.input.id_number.clone().unwrap(),
        )
    }

    /// Finds the resident through the API as `token`; returns the search line.
    async fn find(&self, token: &str, initials: &str, building: &str, name: &str) -> Value {
        let r = self
            .get(
                token,
                &format!("/api/v1/people?q={initials}&region={building}&page_size=200"),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} ({initials}) not found: {}", r.body))
    }
}

#[tokio::test]
async fn search_jurisdiction_and_reveal() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let desk = h.token("community").await;
        let (name, initials, building, id_number) = h.resident_of(GRID);

        // Initials find the person; numbers come masked.
        let line = h.find(&desk, &initials, &building, &name).await;
        let id = line["id"].as_i64().unwrap();
        let masked = line["id_number"].as_str().unwrap();
        assert_eq!(
            masked,
            format!("{}{}{}", &id_number[..3], "*".repeat(11), &id_number[14..])
        );
        assert!(line["phone"].as_str().unwrap().contains("****"));

        // So does the ID number itself, and the person's file is masked too.
        let r = h.get(&desk, &format!("/api/v1/people?q={id_number}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["total"], 1, "{}", r.body);
        assert_eq!(r.body["items"][0]["id"], id);
        // The last four digits of the mobile (尾号) find the person too, in the desk's community.
        let phone = line["phone"].as_str().unwrap();
        let tail = &phone[phone.len() - 4..];
        let r = h
            .get(&desk, &format!("/api/v1/people?q={tail}&page_size=200"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.iter().any(|l| l["id"] == id), "{}", r.body);
        assert!(
            items
                .iter()
                .all(|l| l["phone"].as_str().unwrap().ends_with(tail)),
            "{}",
            r.body
        );
        let r = h.get(&desk, &format!("/api/v1/people/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["name"], name.as_str());
        assert_eq!(r.body["id_number"], masked);
        assert!(!r.body.to_string().contains(&id_number));

        // Another community's desk: refused, and the refusal is audited.
        let other = h.token("sqgz350503001002").await;
        for path in [
            format!("/api/v1/people/{id}"),
            format!("/api/v1/households/{}", line["household_id"]),
        ] {
            let r = h.get(&other, &path).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
            assert!(r.body["error"]["message"].is_string(), "{}", r.body);
        }
        let r = h
            .post(
                &other,
                &format!("/api/v1/people/{id}/reveal"),
                serde_json::json!({"field": "id_number", "reason": "核实身份"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        let (audit, _) =
            h.db.store
                .list_audit(AuditFilter {
                    actor: None,
                    action: Some("access".into()),
                    page: 1,
                    page_size: 200,
                })
                .await
                .unwrap();
        let denied: Vec<_> = audit
            .iter()
            .filter(|a| a.actor_name == "sqgz350503001002" && a.outcome == "denied")
            .map(|a| a.target.as_str())
            .collect();
        assert!(
            denied.contains(&format!("person:{id}").as_str()),
            "{denied:?}"
        );
        assert!(
            denied.iter().any(|t| t.starts_with("household:")),
            "{denied:?}"
        );
        // Nor does the other desk's search reach the person.
        let r = h
            .get(&other, &format!("/api/v1/people?q={id_number}"))
            .await;
        assert_eq!(r.body["total"], 0, "{}", r.body);

        // A reveal needs a reason; with one, the full number comes back and is logged.
        let reveal = format!("/api/v1/people/{id}/reveal");
        let r = h
            .post(&desk, &reveal, serde_json::json!({"field": "id_number"}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.body["error"]["field"], "reason", "{}", r.body);
        let r = h
            .post(
                &desk,
                &reveal,
                serde_json::json!({"field": "id_number", "reason": "办理高龄补贴核对身份"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["value"], id_number.as_str());
        let (log, _) =
            h.db.store
                .person_access_log(&AccessFilter {
                    person_id: Some(id),
                    action: Some("reveal".into()),
                    page: 1,
                    page_size: 50,
                    ..AccessFilter::default()
                })
                .await
                .unwrap();
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0].user_name, "community");
        assert_eq!(log[0].field.as_deref(), Some("id_number"));
        assert_eq!(log[0].reason, "办理高龄补贴核对身份");
        let r = h
            .post(
                &desk,
                &reveal,
                serde_json::json!({"field": "password", "reason": "核实"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.body["error"]["field"], "field", "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn sensitive_tags_households_and_dwellings() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let desk = h.token("community").await;
        let grid = h.token("grid").await;
        let (name, initials, building, _) = h.resident_of(GRID);
        let line = h.find(&grid, &initials, &building, &name).await;
        let id = line["id"].as_i64().unwrap();
        let household = line["household_id"].as_i64().unwrap();
        h.db.store
            .tag_person(
                id,
                "subsistence",
                NOW,
                None,
                &NewAudit {
                    actor_name: "test".into(),
                    action: "person.tag".into(),
                    target: format!("person:{id}"),
                    outcome: "ok".into(),
                    ..NewAudit::default()
                },
                NOW,
            )
            .await
            .unwrap();
        let names = |v: &Value| -> Vec<String> {
            v["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect()
        };

        // The community desk sees 低保; the grid worker does not, anywhere.
        let seen = h.get(&desk, &format!("/api/v1/people/{id}")).await;
        assert!(
            names(&seen.body).contains(&"低保对象".to_owned()),
            "{}",
            seen.body
        );
        let hidden = h.get(&grid, &format!("/api/v1/people/{id}")).await;
        assert_eq!(hidden.status, StatusCode::OK, "{}", hidden.body);
        assert!(!hidden.body.to_string().contains("低保"), "{}", hidden.body);
        let line = h.find(&grid, &initials, &building, &name).await;
        assert!(!line.to_string().contains("低保"), "{line}");
        let line = h.find(&desk, &initials, &building, &name).await;
        assert!(names(&line).contains(&"低保对象".to_owned()), "{line}");
        let r = h.get(&grid, "/api/v1/people?tag=subsistence").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        let r = h.get(&desk, "/api/v1/people?tag=subsistence").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["id"] == id),
            "{}",
            r.body
        );

        // The household file: dwelling, members masked, tags by role.
        let path = format!("/api/v1/households/{household}");
        let desk_file = h.get(&desk, &path).await;
        assert_eq!(desk_file.status, StatusCode::OK, "{}", desk_file.body);
        assert_eq!(desk_file.body["building_code"], building.as_str());
        let members = desk_file.body["members"].as_array().unwrap();
        assert!(members.iter().any(|m| m["person_id"] == id));
        assert!(members.iter().all(|m| {
            let shown = m["id_number"].as_str().unwrap();
            shown.len() == 18 && &shown[3..14] == "***********"
        }));
        assert_eq!(members[0]["relation"], "head");
        assert!(desk_file.body.to_string().contains("低保对象"));
        let grid_file = h.get(&grid, &path).await;
        assert_eq!(grid_file.status, StatusCode::OK, "{}", grid_file.body);
        assert!(!grid_file.body.to_string().contains("低保"));

        // The building's dwellings list the household.
        let r = h
            .get(&grid, &format!("/api/v1/dwellings?building={building}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let dwellings = r.body["dwellings"].as_array().unwrap();
        assert!(!dwellings.is_empty());
        assert!(
            dwellings.iter().any(|d| d["households"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["id"] == household)),
            "{}",
            r.body
        );
        let r = h.get(&grid, "/api/v1/dwellings").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.body["error"]["field"], "building");
        // A building of another grid is outside the grid worker's jurisdiction.
        let r = h
            .get(&grid, "/api/v1/dwellings?building=35050300100100200001")
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        let openapi = h.get(&grid, "/api/v1/openapi.json").await;
        for p in [
            "/api/v1/people",
            "/api/v1/people/{id}",
            "/api/v1/people/{id}/reveal",
            "/api/v1/households/{id}",
            "/api/v1/dwellings",
        ] {
            assert!(openapi.body["paths"][p].is_object(), "{p} not documented");
        }
    })
    .await;
}
