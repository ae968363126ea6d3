//! The web layer end to end, in process, on every available database (SQLite always;
//! PostgreSQL when JINLIN_TEST_PG_URL is set): sign-in, sessions, CSRF, jurisdiction, the JSON
//! API, grid lookup and import, staff management — with the errors a user would see.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use jinlin_app::{Actor, App, Settings};
use jinlin_domain::crs;
use jinlin_store::audit::AuditFilter;
use jinlin_store::testing::{TestDb, on_every_backend};
use tower::ServiceExt;

mod common;
use common::{Browser, Reply, hidden};

const PASSWORD: &str = jinlin_app::demo::DEMO_PASSWORD;
/// 东霞社区 (the `community` account's jurisdiction) and a community of another street.
const OWN_COMMUNITY: &str = "350503001001";
const OTHER_STREET: &str = "350503002000";

struct Harness {
    router: Router,
    app: App,
    db: TestDb,
    /// Milliseconds added to the real clock, so tests can let time pass.
    offset: Arc<AtomicI64>,
}

impl Harness {
    async fn new(db: TestDb) -> Harness {
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
        };
        jinlin_app::demo::seed(&db.store, now()).await.unwrap();
        let offset = Arc::new(AtomicI64::new(0));
        let o = offset.clone();
        let app = App::with_clock(
            db.store.clone(),
            Settings::default(),
            Arc::new(move || now() + o.load(Ordering::SeqCst)),
        )
        .await
        .unwrap();
        let router = jinlin_web::router(app.clone(), jinlin_web::WebConfig::default());
        Harness {
            router,
            app,
            db,
            offset,
        }
    }

    fn advance_minutes(&self, minutes: i64) {
        self.offset.fetch_add(minutes * 60_000, Ordering::SeqCst);
    }

    fn browser(&self) -> Browser {
        Browser::new(self.router.clone())
    }

    async fn audit(&self, action: &str) -> Vec<jinlin_store::audit::AuditRow> {
        self.db
            .store
            .list_audit(AuditFilter {
                actor: None,
                action: Some(action.into()),
                page: 1,
                page_size: 200,
            })
            .await
            .unwrap()
            .0
    }

    async fn token_for(&self, username: &str) -> String {
        self.app
            .create_api_token(&Actor::console(), username, "测试")
            .await
            .unwrap()
    }
}

impl Browser {
    async fn signed_in(h: &Harness, username: &str) -> Browser {
        let mut b = h.browser();
        let r = b.login(username, PASSWORD).await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "login of {username}: {}",
            r.body
        );
        b
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn api_get(h: &Harness, path: &str, token: Option<&str>) -> Reply {
    let mut req = Request::get(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    h.browser().send(req.body(Body::empty()).unwrap()).await
}

// ----- sign-in and sessions -------------------------------------------------------------------

#[tokio::test]
async fn sign_in_shows_clear_errors_and_audits_every_attempt() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let mut b = h.browser();
        let r = b.get("/").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(
            r.location().starts_with("/login?next=/"),
            "{}",
            r.location()
        );

        let wrong = b.login("community", "not-the-password1").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.body.contains("用户名或密码错误"), "{}", wrong.body);
        let unknown = b.login("nobody", PASSWORD).await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
        assert!(
            unknown.body.contains("用户名或密码错误"),
            "same message for an unknown user"
        );

        let ok = b.login("community", PASSWORD).await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER);
        let home = b.get("/").await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(
            home.body.contains("东霞社区"),
            "dashboard names the jurisdiction"
        );

        let logins = h.audit("login").await;
        let outcomes: Vec<_> = logins
            .iter()
            .map(|r| (r.actor_name.as_str(), r.outcome.as_str()))
            .collect();
        assert!(outcomes.contains(&("community", "failed")), "{outcomes:?}");
        assert!(outcomes.contains(&("nobody", "failed")), "{outcomes:?}");
        assert!(outcomes.contains(&("community", "ok")), "{outcomes:?}");

        let csrf = b.csrf("/").await;
        let out = b.post_form("/logout", &[("_csrf", &csrf)]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert_eq!(b.get("/").await.status, StatusCode::SEE_OTHER, "signed out");
    })
    .await;
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_for_fifteen_minutes() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let mut b = h.browser();
        for _ in 0..4 {
            assert_eq!(
                b.login("grid", "wrong-password1").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        let fifth = b.login("grid", "wrong-password1").await;
        assert_eq!(fifth.status, StatusCode::LOCKED);
        assert!(fifth.body.contains("账号已锁定"), "{}", fifth.body);
        let right = b.login("grid", PASSWORD).await;
        assert_eq!(
            right.status,
            StatusCode::LOCKED,
            "even the right password waits"
        );
        h.advance_minutes(16);
        assert_eq!(
            b.login("grid", PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
    })
    .await;
}

#[tokio::test]
async fn an_idle_session_expires_after_thirty_minutes() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let mut b = Browser::signed_in(&h, "community").await;
        h.advance_minutes(20);
        assert_eq!(
            b.get("/regions").await.status,
            StatusCode::OK,
            "20 idle minutes are fine"
        );
        h.advance_minutes(29);
        assert_eq!(
            b.get("/regions").await.status,
            StatusCode::OK,
            "activity restarted the clock"
        );
        h.advance_minutes(31);
        let r = b.get("/regions").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(r.location().contains("expired=1"), "{}", r.location());
        let login = b.get(&r.location()).await;
        assert!(
            login.body.contains("长时间未操作"),
            "the login page says why"
        );
    })
    .await;
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        // Login form without the double-submit token.
        let mut anon = h.browser();
        let r = anon
            .post_form("/login", &[("username", "admin"), ("password", PASSWORD)])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.body.contains("安全校验码"), "{}", r.body);

        let mut b = Browser::signed_in(&h, "community").await;
        let fields = [
            ("username", "wgy_new"),
            ("display_name", "新网格员"),
            ("role", "grid_worker"),
            ("region_code", OWN_COMMUNITY),
        ];
        assert_eq!(
            b.post_form("/staff", &fields).await.status,
            StatusCode::FORBIDDEN
        );
        let mut forged = fields.to_vec();
        forged.push(("_csrf", "forged-token"));
        assert_eq!(
            b.post_form("/staff", &forged).await.status,
            StatusCode::FORBIDDEN
        );
        assert!(
            h.db.store
                .user_by_username("wgy_new")
                .await
                .unwrap()
                .is_none()
        );
        // htmx sends the token as a header; that works too.
        let csrf = b.csrf("/staff/new").await;
        let req = Request::post("/staff")
            .header(header::COOKIE, b.cookie_header())
            .header("X-CSRF-Token", csrf)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(
                "username=wgy_new&display_name=%E6%96%B0&role=grid_worker&region_code=350503001001",
            ))
            .unwrap();
        assert_eq!(b.send(req).await.status, StatusCode::OK);
        assert!(
            h.db.store
                .user_by_username("wgy_new")
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

// ----- jurisdiction -----------------------------------------------------------------------------

#[tokio::test]
async fn staff_see_only_their_subtree_and_refusals_are_audited() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let mut b = Browser::signed_in(&h, "community").await;
        assert_eq!(
            b.get(&format!("/regions/{OWN_COMMUNITY}")).await.status,
            StatusCode::OK
        );
        let other = b.get(&format!("/regions/{OTHER_STREET}")).await;
        assert_eq!(other.status, StatusCode::FORBIDDEN);
        assert!(other.body.contains("不在您的管辖范围内"), "{}", other.body);
        let tree = b.get("/regions").await;
        assert!(
            tree.body.contains("东霞社区") && !tree.body.contains("丰泽区"),
            "tree starts at the jurisdiction"
        );
        let search = b.get("/regions/search?q=%E7%A4%BE%E5%8C%BA").await; // 社区
        assert_eq!(search.status, StatusCode::OK);
        assert!(
            !search.body.contains(OTHER_STREET),
            "search stays inside the subtree"
        );
        let staff = b.get("/staff?q=jd").await;
        assert!(
            !staff.body.contains(&format!("jd{OTHER_STREET}")),
            "other streets' staff are hidden"
        );

        let token = h.token_for("community").await;
        let api = api_get(&h, &format!("/api/v1/regions/{OTHER_STREET}"), Some(&token)).await;
        assert_eq!(api.status, StatusCode::FORBIDDEN);
        assert_eq!(api.json()["error"]["code"], "forbidden");
        let denied = h.audit("access").await;
        let targets: Vec<_> = denied
            .iter()
            .filter(|r| r.outcome == "denied" && r.actor_name == "community")
            .map(|r| r.target.clone())
            .collect();
        assert_eq!(
            targets,
            vec![
                format!("region:{OTHER_STREET}"),
                format!("region:{OTHER_STREET}")
            ],
            "both refusals (page and API) are on record"
        );
    })
    .await;
}

// ----- API ---------------------------------------------------------------------------------

#[tokio::test]
async fn the_api_answers_bearer_clients_with_json() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let health = api_get(&h, "/healthz", None).await;
        assert_eq!(health.status, StatusCode::OK);
        assert_eq!(health.json()["status"], "ok");

        let none = api_get(&h, "/api/v1/regions", None).await;
        assert_eq!(none.status, StatusCode::UNAUTHORIZED);
        assert_eq!(none.json()["error"]["code"], "unauthenticated");
        let bad = api_get(&h, "/api/v1/regions", Some("jl_not-a-token")).await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);

        let token = h.token_for("admin").await;
        let top = api_get(&h, "/api/v1/regions", Some(&token)).await;
        assert_eq!(top.status, StatusCode::OK);
        assert_eq!(top.json()[0]["code"], "350503000000");
        let streets = api_get(&h, "/api/v1/regions?parent=350503000000", Some(&token)).await;
        assert_eq!(streets.json().as_array().unwrap().len(), 4);
        let grid = api_get(&h, "/api/v1/regions/350503001001001", Some(&token)).await;
        assert_eq!(grid.status, StatusCode::OK, "{}", grid.body);
        assert_eq!(grid.json()["level"], "grid");
        assert_eq!(
            grid.json()["boundary"]["type"],
            "MultiPolygon",
            "{}",
            grid.body
        );
        assert!(
            grid.json()["boundary"]["coordinates"][0][0]
                .as_array()
                .unwrap()
                .len()
                >= 4
        );
        let missing = api_get(&h, "/api/v1/regions/999999999999", Some(&token)).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.json()["error"]["code"], "not_found");

        let doc = api_get(&h, "/api/v1/openapi.json", None).await.json();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        for path in [
            "/api/v1/regions",
            "/api/v1/regions/{code}",
            "/api/v1/grids/locate",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} documented");
        }
    })
    .await;
}

#[tokio::test]
async fn locate_finds_the_grid_in_every_coordinate_system_and_rejects_bad_points() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let token = h.token_for("grid").await;
        let grid =
            h.db.store
                .region_by_code("350503001001001")
                .await
                .unwrap()
                .unwrap();
        let (lng, lat) = grid.centroid.unwrap();
        let wgs = api_get(
            &h,
            &format!("/api/v1/grids/locate?lat={lat}&lng={lng}"),
            Some(&token),
        )
        .await;
        assert_eq!(wgs.status, StatusCode::OK, "{}", wgs.body);
        let answer = wgs.json();
        assert_eq!(answer["code"], "350503001001001");
        let posts: Vec<_> = answer["staff"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["post"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            posts.contains(&"grid_worker".to_owned()) && posts.contains(&"police".to_owned()),
            "{posts:?}"
        );

        // The same spot as a WeChat/Amap (GCJ-02) and a Baidu (BD-09) device reports it.
        let (glng, glat) = crs::wgs84_to_gcj02(lng, lat);
        let (blng, blat) = crs::gcj02_to_bd09(glng, glat);
        for (x, y, name) in [(glng, glat, "gcj02"), (blng, blat, "bd09")] {
            let r = api_get(
                &h,
                &format!("/api/v1/grids/locate?lat={y}&lng={x}&crs={name}"),
                Some(&token),
            )
            .await;
            assert_eq!(r.json()["code"], "350503001001001", "{name}: {}", r.body);
        }
        // Taken as WGS-84, the GCJ-02 point is hundreds of metres off and lands elsewhere or nowhere.
        let naive = api_get(
            &h,
            &format!("/api/v1/grids/locate?lat={blat}&lng={blng}"),
            Some(&token),
        )
        .await;
        assert_ne!(naive.json()["code"], "350503001001001");

        for (query, field, status) in [
            ("lat=91&lng=118.6", "lat", StatusCode::UNPROCESSABLE_ENTITY),
            ("lat=24.9&lng=181", "lng", StatusCode::UNPROCESSABLE_ENTITY),
            ("lat=abc&lng=118.6", "lat", StatusCode::UNPROCESSABLE_ENTITY),
            ("lng=118.6", "lat", StatusCode::UNPROCESSABLE_ENTITY),
            (
                "lat=24.9&lng=118.6&crs=utm",
                "crs",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        ] {
            let r = api_get(&h, &format!("/api/v1/grids/locate?{query}"), Some(&token)).await;
            assert_eq!(r.status, status, "{query}: {}", r.body);
            assert_eq!(r.json()["error"]["field"], field, "{query}");
        }
        let outside = api_get(&h, "/api/v1/grids/locate?lat=39.9&lng=116.4", Some(&token)).await;
        assert_eq!(outside.status, StatusCode::NOT_FOUND);
        assert!(
            outside.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("不在任何网格内")
        );
    })
    .await;
}

// ----- grid import --------------------------------------------------------------------------

fn multipart(csrf: &str, file: &str) -> (String, Vec<u8>) {
    let boundary = "----jinlinTestBoundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"grids.geojson\"\r\n\
         Content-Type: application/geo+json\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

async fn upload(b: &mut Browser, file: &str) -> Reply {
    let csrf = b.csrf("/admin/grids/import").await;
    let (ct, body) = multipart(&csrf, file);
    let req = Request::post("/admin/grids/import")
        .header(header::COOKIE, b.cookie_header())
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .unwrap();
    b.send(req).await
}

#[tokio::test]
async fn grid_import_is_all_or_nothing_and_names_the_bad_feature() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let mut b = Browser::signed_in(&h, "admin").await;
        // A new grid far from the demo grids, under the first compound.
        let square = |x: f64, y: f64| {
            serde_json::json!({"type": "Polygon", "coordinates": [[[x, y], [x + 0.002, y], [x + 0.002, y + 0.002], [x, y + 0.002], [x, y]]]})
        };
        let good = serde_json::json!({"type": "Feature", "properties": {"code": "350503001001901", "name": "新建测试网格", "parent": "35050300100101"}, "geometry": square(118.70, 24.80)});
        let open_ring = serde_json::json!({"type": "Feature", "properties": {"code": "350503001001902", "name": "坏网格", "parent": "35050300100101"},
            "geometry": {"type": "Polygon", "coordinates": [[[118.71, 24.80], [118.712, 24.80], [118.712, 24.802], [118.71, 24.802]]]}});
        let file = serde_json::json!({"type": "FeatureCollection", "features": [good.clone(), open_ring]}).to_string();
        let r = upload(&mut b, &file).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("第2个要素") && r.body.contains("350503001001902"), "{}", r.body);
        assert!(r.body.contains("未导入任何数据"));
        assert!(h.db.store.region_by_code("350503001001901").await.unwrap().is_none(), "nothing imported");

        let bad_json = upload(&mut b, "{not json").await;
        assert_eq!(bad_json.status, StatusCode::UNPROCESSABLE_ENTITY);

        let file = serde_json::json!({"type": "FeatureCollection", "features": [good]}).to_string();
        let r = upload(&mut b, &file).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("导入完成"));
        let created = h.db.store.region_by_code("350503001001901").await.unwrap().unwrap();
        assert_eq!(created.name, "新建测试网格");
        let token = h.token_for("admin").await;
        let found = api_get(&h, "/api/v1/grids/locate?lat=24.801&lng=118.701", Some(&token)).await;
        assert_eq!(found.json()["code"], "350503001001901", "the lookup index was rebuilt");
        assert!(h.audit("grids.import").await.len() == 1);

        // A community worker may not import grids.
        let mut c = Browser::signed_in(&h, "community").await;
        assert_eq!(c.get("/admin/grids/import").await.status, StatusCode::FORBIDDEN);
    })
    .await;
}

// ----- staff management -----------------------------------------------------------------------

#[tokio::test]
async fn a_community_worker_creates_an_account_and_posts_it_to_a_grid() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let mut b = Browser::signed_in(&h, "community").await;
        let csrf = b.csrf("/staff/new").await;
        let mut fields = vec![
            ("_csrf", csrf.as_str()),
            ("username", "wgy_zhang"),
            ("display_name", "张晓明"),
            ("role", "grid_worker"),
            ("region_code", "350503001001001"),
            ("work_phone", "1381234567"),
            ("password", ""),
        ];
        let bad = b.post_form("/staff", &fields).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("手机号须为 11 位数字"), "{}", bad.body);
        assert!(bad.body.contains("张晓明"), "the form keeps what was typed");

        fields[5] = ("work_phone", "13812345678");
        fields[4] = ("region_code", OTHER_STREET);
        assert_eq!(
            b.post_form("/staff", &fields).await.status,
            StatusCode::FORBIDDEN,
            "outside the jurisdiction"
        );
        fields[4] = ("region_code", "350503001001001");
        let ok = b.post_form("/staff", &fields).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        let marker = "class=\"mono secret\">";
        let start = ok.body.find(marker).expect("generated password shown once") + marker.len();
        let password = ok.body[start..].split('<').next().unwrap().to_owned();
        let again = b.post_form("/staff", &fields).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert!(again.body.contains("用户名 已存在"), "{}", again.body);

        let csrf = b.csrf("/regions/350503001001001").await;
        let r = b
            .post_form(
                "/regions/350503001001001/posts",
                &[
                    ("_csrf", &csrf),
                    ("kind", "grid_worker"),
                    ("username", "wgy_zhang"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let detail = b.get("/regions/350503001001001").await;
        assert!(
            detail.body.contains("张晓明"),
            "the new grid worker is listed on the grid"
        );
        let twice = b
            .post_form(
                "/regions/350503001001001/posts",
                &[
                    ("_csrf", &csrf),
                    ("kind", "grid_worker"),
                    ("username", "wgy_zhang"),
                ],
            )
            .await;
        assert!(twice.location().contains("error="), "{}", twice.location());
        let wrong_level = b
            .post_form(
                &format!("/regions/{OWN_COMMUNITY}/posts"),
                &[
                    ("_csrf", &csrf),
                    ("kind", "grid_worker"),
                    ("username", "wgy_zhang"),
                ],
            )
            .await;
        assert!(
            wrong_level.location().contains("error="),
            "a grid post cannot sit on a community"
        );

        let mut newcomer = h.browser();
        assert_eq!(
            newcomer.login("wgy_zhang", &password).await.status,
            StatusCode::SEE_OTHER
        );
        let home = newcomer.get("/").await;
        assert!(
            home.body.contains("class=\"phone\""),
            "grid workers get the phone layout"
        );
        assert!(home.body.contains("网格员"));

        let created = h.audit("user.create").await;
        assert!(
            created
                .iter()
                .any(|r| r.actor_name == "community" && r.target == "user:wgy_zhang")
        );
        assert!(!h.audit("post.assign").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn pages_carry_security_headers_and_speak_english_on_request() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let mut b = Browser::signed_in(&h, "admin").await;
        let page = b.get("/staff").await;
        let csp = page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(page.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(page.headers.contains_key("x-request-id"));
        assert!(!page.body.contains("<script>"), "no inline script");
        let asset = b.get("/assets/app.css").await;
        assert_eq!(asset.status, StatusCode::OK);
        assert_ne!(asset.headers[header::CACHE_CONTROL], "no-store");

        let r = b.get("/lang/en?back=/regions").await;
        assert_eq!(r.location(), "/regions");
        let en = b.get("/regions").await;
        assert!(en.body.contains("Regions and grids"), "English page");
        let evil = b.get("/lang/zh?back=//evil.example").await;
        assert_eq!(evil.location(), "/", "no open redirect");

        let audit = b.get("/admin/audit?action=login").await;
        assert_eq!(audit.status, StatusCode::OK);
        assert!(audit.body.contains("admin"));
        let mut c = Browser::signed_in(&h, "community").await;
        assert_eq!(
            c.get("/admin/audit").await.status,
            StatusCode::FORBIDDEN,
            "audit log is for sysadmins"
        );
    })
    .await;
}

// ----- the case loop ----------------------------------------------------------------------------

/// A multipart form with text fields and `(field, file name, bytes)` files.
fn multipart_form(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----jinlinCaseBoundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (k, name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Browser {
    async fn post_multipart(
        &mut self,
        path: &str,
        csrf_from: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> Reply {
        let csrf = self.csrf(csrf_from).await;
        let mut all = vec![("_csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let (ct, body) = multipart_form(&all, files);
        let req = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }
}

/// The buttons (`data-action="…"`) a case page offers.
fn offered(body: &str) -> Vec<String> {
    body.split("data-action=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_owned())
        .collect()
}

fn case_id_from(location: &str) -> i64 {
    location
        .trim_start_matches("/cases/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("not a case location: {location}"))
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01";
const FIRST_GRID: &str = "350503001001001";

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

async fn act(b: &mut Browser, id: i64, action: &str, extra: &[(&str, &str)]) -> Reply {
    let page = b.get(&format!("/cases/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let version = hidden(&page.body, "version");
    let mut fields = vec![("action", action), ("version", version.as_str())];
    fields.extend_from_slice(extra);
    b.post_multipart(
        &format!("/cases/{id}/act"),
        &format!("/cases/{id}"),
        &fields,
        &[],
    )
    .await
}

#[tokio::test]
async fn a_resident_report_goes_round_the_loop_in_the_browser() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let category = h.app.category_by_code("environment.corridor").or_else(|| {
            h.app
                .categories()
                .iter()
                .find(|c| c.parent_id.is_some() && c.kind == "appeal")
                .cloned()
        });
        let category = category.unwrap().id.to_string();
        let mut resident = Browser::signed_in(&h, "resident").await;
        let form = resident.get("/cases/new").await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains("我要反映") && form.body.contains("<optgroup"));

        // Bad input comes back on the form, naming the field, keeping what was typed.
        let no_place = resident
            .post_multipart(
                "/cases",
                "/cases/new",
                &[("category", &category), ("description", "楼道堆满纸箱")],
                &[],
            )
            .await;
        assert_eq!(no_place.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(no_place.body.contains("位置："), "{}", no_place.body);
        assert!(no_place.body.contains("楼道堆满纸箱"), "description kept");
        let gif = resident
            .post_multipart(
                "/cases",
                "/cases/new",
                &[
                    ("category", &category),
                    ("description", "楼道堆满纸箱"),
                    ("region_code", FIRST_GRID),
                ],
                &[("photos", "a.gif", b"GIF89a...")],
            )
            .await;
        assert_eq!(gif.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            gif.body.contains("只接受 JPEG、PNG 或 WebP"),
            "{}",
            gif.body
        );
        let long = "很".repeat(4001);
        let too_long = resident
            .post_multipart(
                "/cases",
                "/cases/new",
                &[
                    ("category", &category),
                    ("description", &long),
                    ("region_code", FIRST_GRID),
                ],
                &[],
            )
            .await;
        assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            too_long.body.contains("不能超过 4000 个字"),
            "{}",
            too_long.body
        );

        let filed = resident
            .post_multipart(
                "/cases",
                "/cases/new",
                &[
                    ("category", &category),
                    ("description", "3号楼2单元楼道堆满纸箱，堵住了消防通道"),
                    ("region_code", FIRST_GRID),
                    ("address", "3号楼2单元"),
                ],
                &[("photos", "corridor.png", PNG)],
            )
            .await;
        assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", filed.body);
        let id = case_id_from(&filed.location());
        let page = resident.get(&filed.location()).await;
        assert!(page.body.contains("已收到您反映的问题"));
        assert!(page.body.contains("/cases/photos/"), "the photo is shown");
        let mine = resident.get("/cases?view=mine").await;
        assert!(
            mine.body.contains(&format!("#{id}")),
            "listed under 我的诉求"
        );

        // The community desk accepts and dispatches to the grid worker; a stale form conflicts.
        let mut desk = Browser::signed_in(&h, "community").await;
        let tasks = desk
            .get(&format!("/cases?view=tasks&q={}", encode("堵住了消防通道")))
            .await;
        assert!(
            tasks.body.contains(&format!("#{id}")),
            "in the desk's tasks"
        );
        let page = desk.get(&format!("/cases/{id}")).await;
        assert!(offered(&page.body).contains(&"accept".to_owned()));
        let stale_version = hidden(&page.body, "version");
        assert_eq!(
            act(&mut desk, id, "accept", &[]).await.status,
            StatusCode::SEE_OTHER
        );
        let stale = desk
            .post_multipart(
                &format!("/cases/{id}/act"),
                &format!("/cases/{id}"),
                &[
                    ("action", "reject"),
                    ("version", &stale_version),
                    ("reason", "重复"),
                ],
                &[],
            )
            .await;
        assert_eq!(stale.status, StatusCode::CONFLICT);
        assert!(stale.body.contains("刚被他人处理"), "{}", stale.body);
        let worker = h.db.store.user_by_username("grid").await.unwrap().unwrap();
        let to = format!("grid_worker:{}", worker.id);
        let no_target = act(&mut desk, id, "dispatch", &[]).await;
        assert_eq!(no_target.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(no_target.body.contains("派单对象"), "{}", no_target.body);
        assert_eq!(
            act(&mut desk, id, "dispatch", &[("to", &to)]).await.status,
            StatusCode::SEE_OTHER
        );

        // The resident cannot act for the handler.
        let refused = resident
            .post_multipart(
                &format!("/cases/{id}/act"),
                &format!("/cases/{id}"),
                &[("action", "take")],
                &[],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

        let mut grid = Browser::signed_in(&h, "grid").await;
        let inbox = grid.get("/inbox").await;
        assert!(
            inbox.body.contains(&format!("新派单：案件 #{id}")),
            "dispatch notice in the inbox"
        );
        assert_eq!(
            act(&mut grid, id, "take", &[]).await.status,
            StatusCode::SEE_OTHER
        );
        let empty_result = act(&mut grid, id, "resolve", &[]).await;
        assert_eq!(empty_result.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(empty_result.body.contains("办理结果：不能为空"));
        assert_eq!(
            act(
                &mut grid,
                id,
                "resolve",
                &[("result", "已联系物业清理，通道畅通")]
            )
            .await
            .status,
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            act(&mut grid, id, "verify_pass", &[]).await.status,
            StatusCode::SEE_OTHER
        );

        let page = resident.get(&format!("/cases/{id}")).await;
        let buttons = offered(&page.body);
        assert!(buttons.contains(&"rate".to_owned()), "{buttons:?}");
        assert!(!buttons.contains(&"take".to_owned()), "{buttons:?}");
        assert_eq!(
            act(&mut resident, id, "rate", &[("rating", "satisfied")])
                .await
                .status,
            StatusCode::SEE_OTHER
        );
        let done = resident.get(&format!("/cases/{id}")).await;
        assert!(done.body.contains("已销号") && done.body.contains("满意"));
        for step in ["受理", "派单", "签收", "办结反馈", "核查通过", "评价"] {
            assert!(done.body.contains(step), "timeline lacks {step}");
        }
        let stored = h.db.store.case_events(id).await.unwrap();
        assert_eq!(stored.len(), 7, "one timeline row per step: {stored:#?}");
    })
    .await;
}

#[tokio::test]
async fn hotline_entry_needs_the_callers_phone_and_staff_see_it_masked() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let category = h
            .app
            .categories()
            .iter()
            .find(|c| c.parent_id.is_some())
            .unwrap()
            .id
            .to_string();
        let mut desk = Browser::signed_in(&h, "community").await;
        let form = desk.get("/cases/new").await;
        assert!(form.body.contains("热线代录"));
        let fields = [
            ("category", category.as_str()),
            ("description", "来电反映：小区路灯不亮"),
            ("region_code", FIRST_GRID),
            ("reporter_name", "王阿姨"),
        ];
        let no_phone = desk
            .post_multipart("/cases", "/cases/new", &fields, &[])
            .await;
        assert_eq!(no_phone.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(no_phone.body.contains("联系电话"), "{}", no_phone.body);
        let mut with_bad = fields.to_vec();
        with_bad.push(("reporter_phone", "1381234"));
        let bad = desk
            .post_multipart("/cases", "/cases/new", &with_bad, &[])
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        let mut ok = fields.to_vec();
        ok.push(("reporter_phone", "13812345678"));
        let filed = desk.post_multipart("/cases", "/cases/new", &ok, &[]).await;
        assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", filed.body);
        let page = desk.get(&filed.location()).await;
        assert!(page.body.contains("138****5678"), "masked for staff");
        assert!(
            !page.body.contains("13812345678"),
            "never in clear for staff"
        );
    })
    .await;
}

#[tokio::test]
async fn photos_and_cases_stay_inside_the_jurisdiction() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let category = h
            .app
            .categories()
            .iter()
            .find(|c| c.parent_id.is_some())
            .unwrap()
            .id
            .to_string();
        let mut resident = Browser::signed_in(&h, "resident").await;
        let filed = resident
            .post_multipart(
                "/cases",
                "/cases/new",
                &[
                    ("category", &category),
                    ("description", "井盖松动"),
                    ("region_code", FIRST_GRID),
                ],
                &[("photos", "p.png", PNG)],
            )
            .await;
        let id = case_id_from(&filed.location());
        let photo = h.db.store.case_photos(id).await.unwrap()[0].id;
        let own = resident.get(&format!("/cases/photos/{photo}")).await;
        assert_eq!(own.status, StatusCode::OK);
        assert_eq!(own.headers[header::CONTENT_TYPE], "image/png");

        // Staff of another street see neither the case nor its photo; the refusal is audited.
        h.app
            .create_user(
                &Actor::console(),
                jinlin_app::accounts::UserInput {
                    display_name: "外街道社工".into(),
                    username: "outsider".into(),
                    role: jinlin_domain::accounts::Role::StreetAdmin,
                    region_code: OTHER_STREET.into(),
                    work_phone: None,
                    password: Some(PASSWORD.into()),
                },
            )
            .await
            .unwrap();
        let mut outsider = Browser::signed_in(&h, "outsider").await;
        assert_eq!(
            outsider.get(&format!("/cases/{id}")).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            outsider.get(&format!("/cases/photos/{photo}")).await.status,
            StatusCode::FORBIDDEN
        );
        let list = outsider.get("/cases?view=all").await;
        assert!(
            !list.body.contains(&format!("#{id}<")),
            "not listed outside"
        );
        assert!(
            h.audit("access")
                .await
                .iter()
                .any(|a| a.target == format!("case:{id}") && a.outcome == "denied"),
            "refusal audited"
        );
        // The system administrator reads no cases at all (personal data).
        let mut admin = Browser::signed_in(&h, "admin").await;
        assert_eq!(admin.get("/cases").await.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn the_api_files_lists_and_moves_cases_with_json_errors() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let grid =
            h.db.store
                .region_by_code(FIRST_GRID)
                .await
                .unwrap()
                .unwrap();
        let (lng, lat) = grid.centroid.unwrap();
        let token = h.token_for("grid").await;
        let post = |path: String, body: String| {
            let token = token.clone();
            let router = h.router.clone();
            async move {
                let req = Request::post(path)
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body))
                    .unwrap();
                Browser::new(router).send(req).await
            }
        };
        let category = h
            .app
            .categories()
            .iter()
            .find(|c| {
                c.parent_id.is_some()
                    && c.kind == "event"
                    && jinlin_domain::questions::questions_for(&c.code).is_empty()
            })
            .unwrap()
            .code
            .clone();
        // A category with a required question: unanswered is refused naming it, answered files.
        let unanswered = post(
            "/api/v1/cases".into(),
            serde_json::json!({
                "category": "safety.fire_lane", "description": "楼道被堵", "lat": lat, "lng": lng
            })
            .to_string(),
        )
        .await;
        assert_eq!(unanswered.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(unanswered.json()["error"]["field"], "answers.blocked_by");
        let answered = post(
            "/api/v1/cases".into(),
            serde_json::json!({
                "category": "safety.fire_lane", "description": "楼道被堵", "lat": lat, "lng": lng,
                "answers": {"blocked_by": ["sundries", "ebike"]}
            })
            .to_string(),
        )
        .await;
        assert_eq!(answered.status, StatusCode::CREATED, "{}", answered.body);
        let answered_id = answered.json()["id"].as_i64().unwrap();
        assert_eq!(
            h.app.store.case_answers(answered_id).await.unwrap(),
            vec![("blocked_by".to_owned(), "sundries,ebike".to_owned())]
        );
        let created = post(
            "/api/v1/cases".into(),
            serde_json::json!({
                "category": category, "description": "巡查发现：人行道井盖缺失",
                "lat": lat, "lng": lng
            })
            .to_string(),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let case = created.json();
        assert_eq!(case["stage"], "reported");
        assert_eq!(case["grid_name"], grid.name.as_str());
        let id = case["id"].as_i64().unwrap();

        let unknown = post(
            "/api/v1/cases".into(),
            serde_json::json!({"category": "nope", "description": "x", "lat": lat, "lng": lng})
                .to_string(),
        )
        .await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(unknown.json()["error"]["field"], "category");
        let outside = post(
            "/api/v1/cases".into(),
            serde_json::json!({"category": category, "description": "x", "lat": 39.9, "lng": 116.4})
                .to_string(),
        )
        .await;
        assert_eq!(
            outside.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            outside.body
        );
        assert_eq!(outside.json()["error"]["field"], "location");
        let broken = post("/api/v1/cases".into(), "{\"description\":".into()).await;
        assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(broken.json()["error"]["code"], "invalid");

        let mine = api_get(&h, "/api/v1/cases?view=mine", Some(&token)).await;
        assert_eq!(mine.status, StatusCode::OK);
        assert!(
            mine.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == id)
        );
        let bad_view = api_get(&h, "/api/v1/cases?view=everything", Some(&token)).await;
        assert_eq!(bad_view.status, StatusCode::UNPROCESSABLE_ENTITY);

        // A grid worker may not accept; the desk may, once.
        let refused = post(
            format!("/api/v1/cases/{id}/actions"),
            serde_json::json!({"action": {"action": "accept"}}).to_string(),
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        let desk = h.token_for("community").await;
        let accept = |version: i64| {
            let router = h.router.clone();
            let desk = desk.clone();
            async move {
                let req = Request::post(format!("/api/v1/cases/{id}/actions"))
                    .header(header::AUTHORIZATION, format!("Bearer {desk}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(
                        serde_json::json!({"action": {"action": "accept"}, "version": version})
                            .to_string(),
                    ))
                    .unwrap();
                Browser::new(router).send(req).await
            }
        };
        let first = accept(case["version"].as_i64().unwrap()).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(first.json()["stage"], "accepted");
        assert!(
            first.json()["actions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "dispatch")
        );
        let again = accept(case["version"].as_i64().unwrap()).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

        let doc = api_get(&h, "/api/v1/openapi.json", None).await.json();
        for p in [
            "/api/v1/cases",
            "/api/v1/cases/{id}",
            "/api/v1/cases/{id}/actions",
        ] {
            assert!(
                doc["paths"][p].is_object(),
                "{p} missing from the OpenAPI document"
            );
        }
    })
    .await;
}

/// Keeps the texts it was asked to send, so a test can read the code like a phone would.
#[derive(Default)]
struct Inbox(std::sync::Mutex<Vec<(String, String)>>);

impl jinlin_app::accounts::SmsSender for Inbox {
    fn send(&self, phone: &str, text: &str) -> Result<(), jinlin_app::AppError> {
        self.0.lock().unwrap().push((phone.into(), text.into()));
        Ok(())
    }
}

#[tokio::test]
async fn a_resident_signs_up_with_a_texted_code_and_can_report() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let texts = Arc::new(Inbox::default());
        let app = h.app.clone().with_sms(texts.clone());
        let router = jinlin_web::router(app, jinlin_web::WebConfig::default());
        let mut b = Browser::new(router);
        let page = b.get("/signup").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("东霞社区"), "communities to choose from");
        let csrf = hidden(&page.body, "_csrf");
        let phone = "13900001111";
        let sent = b
            .post_form(
                "/signup",
                &[("_csrf", &csrf), ("step", "code"), ("phone", phone)],
            )
            .await;
        assert!(
            sent.body.contains("验证码已发送至 139****1111"),
            "{}",
            sent.body
        );
        let again = b
            .post_form(
                "/signup",
                &[("_csrf", &csrf), ("step", "code"), ("phone", phone)],
            )
            .await;
        assert!(
            again.body.contains("发送太频繁"),
            "one code a minute: {}",
            again.body
        );
        let code: String = {
            let texts = texts.0.lock().unwrap();
            assert_eq!(texts.len(), 1, "exactly one text sent");
            assert_eq!(texts[0].0, phone);
            texts[0]
                .1
                .chars()
                .filter(char::is_ascii_digit)
                .take(6)
                .collect()
        };
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let form = |code: &str| -> Vec<(String, String)> {
            [
                ("_csrf", csrf.as_str()),
                ("step", "create"),
                ("phone", phone),
                ("code", code),
                ("display_name", "林美华"),
                ("region_code", OWN_COMMUNITY),
                ("password", "Linmh2026"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        };
        let bad = form(wrong);
        let refused = b.post_form("/signup", &pairs(&bad)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains("验证码：不正确"), "{}", refused.body);
        assert!(
            !refused.body.contains("Linmh2026"),
            "the password is not echoed"
        );
        let good = form(&code);
        let good = pairs(&good);
        let done = b.post_form("/signup", &good).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location(), "/cases/new");
        let form = b.get("/cases/new").await;
        assert_eq!(form.status, StatusCode::OK, "signed in after sign-up");
        assert!(form.body.contains("林美华"), "contact prefilled");
        // The code is spent: a second account with it is refused.
        let mut other = h.browser();
        let csrf2 = other.csrf("/signup").await;
        let reuse = other
            .post_form(
                "/signup",
                &[
                    ("_csrf", &csrf2),
                    ("step", "create"),
                    ("phone", phone),
                    ("code", code.as_str()),
                    ("display_name", "冒名"),
                    ("region_code", OWN_COMMUNITY),
                    ("password", "Other2026x"),
                ],
            )
            .await;
        assert_eq!(reuse.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!h.audit("signup").await.is_empty(), "sign-up audited");
    })
    .await;
}

#[tokio::test]
async fn anyone_can_report_without_an_account_by_leaving_a_phone_number() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let category = h
            .app
            .categories()
            .iter()
            .find(|c| c.parent_id.is_some())
            .unwrap()
            .id
            .to_string();
        let mut visitor = h.browser();
        let page = visitor.get("/report").await;
        assert_eq!(page.status, StatusCode::OK);
        let fields = [
            ("category", category.as_str()),
            ("description", "小区门口路灯坏了一周"),
            ("region_code", OWN_COMMUNITY),
            ("reporter_name", "陈先生"),
        ];
        let no_phone = visitor
            .post_multipart("/report", "/report", &fields, &[])
            .await;
        assert_eq!(no_phone.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(no_phone.body.contains("联系电话"), "{}", no_phone.body);
        assert!(no_phone.body.contains("小区门口路灯坏了一周"), "kept");
        let mut ok = fields.to_vec();
        ok.push(("reporter_phone", "13712345678"));
        let done = visitor.post_multipart("/report", "/report", &ok, &[]).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert!(done.body.contains("已收到您反映的问题"));
        let (cases, _) =
            h.db.store
                .list_cases(&jinlin_store::cases::CaseFilter {
                    scope_path: "/".into(),
                    page: 1,
                    page_size: 10,
                    q: Some("路灯坏了一周".into()),
                    ..Default::default()
                })
                .await
                .unwrap();
        assert_eq!(cases.len(), 1, "stored once");
        let mut desk = Browser::signed_in(&h, "community").await;
        let seen = desk.get(&format!("/cases/{}", cases[0].id)).await;
        assert!(
            seen.body.contains("137****5678"),
            "the desk sees the caller, masked"
        );
        // Without the form's token nothing is filed.
        let req = Request::post("/report")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("description=x"))
            .unwrap();
        assert_eq!(h.browser().send(req).await.status, StatusCode::FORBIDDEN);
    })
    .await;
}

// ----- statistics --------------------------------------------------------------------------

#[tokio::test]
async fn statistics_page_charts_and_excel_export_respect_jurisdiction() {
    use jinlin_app::cases::{Channel, Intake, Location};
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        // A month of its own, far from the demo county's cases.
        h.advance_minutes(400 * 24 * 60);
        let category = h.app.categories()[0].id;
        for n in 0..3 {
            h.app
                .file_case(
                    None,
                    Intake {
                        channel: Channel::Resident,
                        category_id: category,
                        description: format!("楼道灯不亮 {n}"),
                        location: Location {
                            point: None,
                            region_code: Some(OWN_COMMUNITY.into()),
                            address: None,
                        },
                        reporter_name: Some("张三".into()),
                        reporter_phone: Some("13800000000".into()),
                        photos: Vec::new(),
                        answers: Vec::new(),
                        open311: None,
                    },
                )
                .await
                .unwrap();
        }

        let mut leader = Browser::signed_in(&h, "leader").await;
        let page = leader.get("/stats").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for text in [
            "统计分析",
            "有效上报",
            "按期办结率",
            "满意率 = (满意 + 基本满意)",
            "东湖街道",
        ] {
            assert!(page.body.contains(text), "{text} missing");
        }
        assert!(page.body.contains("/assets/vendor/echarts/echarts.min.js"));
        assert!(page.body.contains("href=\"/stats\""), "navigation entry");

        let data = leader.get("/stats/data.json?preset=month").await;
        assert_eq!(data.status, StatusCode::OK, "{}", data.body);
        let json = data.json();
        let reported: i64 = json["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["n"].as_i64().unwrap())
            .sum();
        assert_eq!(reported, 3);
        assert_eq!(json["categories"][0]["n"], 3);
        assert_eq!(json["channels"][0]["id"], "resident");

        // A year with nothing in it shows the empty state.
        let empty = leader.get("/stats?from=2020-01-01&to=2020-12-31").await;
        assert_eq!(empty.status, StatusCode::OK);
        assert!(empty.body.contains("该时段内没有案件"));
        let bad = leader.get("/stats?from=2020-13-01").await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert!(bad.body.contains("2026-01-31"), "names the expected format");

        let req = Request::get("/stats/export.xlsx?preset=year")
            .header(header::COOKIE, leader.cookie_header())
            .body(Body::empty())
            .unwrap();
        let res = h.router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .contains("spreadsheetml")
        );
        let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        assert_eq!(&bytes[..2], b"PK");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut workbook = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("xl/workbook.xml").unwrap(), &mut workbook)
            .unwrap();
        for sheet in ["指标", "分类", "下级区划"] {
            assert!(
                workbook.contains(&format!("name=\"{sheet}\"")),
                "{workbook}"
            );
        }
        let mut strings = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/sharedStrings.xml").unwrap(),
            &mut strings,
        )
        .unwrap();
        assert!(
            strings.contains("导出人") && strings.contains("丰泽区"),
            "{strings}"
        );
        assert_eq!(
            h.audit("stats.export").await.len(),
            1,
            "the export is audited"
        );

        // Residents have no statistics; staff see only their own subtree, refusals audited.
        let mut resident = Browser::signed_in(&h, "resident").await;
        assert_eq!(resident.get("/stats").await.status, StatusCode::FORBIDDEN);
        assert_eq!(
            resident.get("/stats/export.xlsx").await.status,
            StatusCode::FORBIDDEN
        );
        let mut community = Browser::signed_in(&h, "community").await;
        assert_eq!(community.get("/stats").await.status, StatusCode::OK);
        let denied_before = h.audit("access").await.len();
        let other = community
            .get(&format!("/stats/data.json?region={OTHER_STREET}"))
            .await;
        assert_eq!(other.status, StatusCode::FORBIDDEN);
        assert_eq!(h.audit("access").await.len(), denied_before + 1);
    })
    .await;
}

// ----- outbound webhook -----------------------------------------------------------------------

/// A receiver on a free local port that answers every POST with `status` and keeps what it got.
async fn receiver(status: u16) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then as many body bytes as Content-Length says.
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                keep.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).into_owned());
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}/hooks/jinlin"), got)
}

#[tokio::test]
async fn case_events_are_pushed_signed_retried_and_kept_as_dead_letters() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let (ok_url, got) = receiver(200).await;
        let clock_offset = h.offset.clone();
        let now = move || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
                + clock_offset.load(Ordering::SeqCst)
        };
        let with_hook = |url: &str| Settings {
            webhook_url: Some(url.to_owned()),
            webhook_secret: Some("s3cret".into()),
            ..Settings::default()
        };
        let app = App::with_clock(
            h.db.store.clone(),
            with_hook(&ok_url),
            Arc::new(now.clone()),
        )
        .await
        .unwrap();
        let category = app
            .categories()
            .iter()
            .find(|c| c.parent_id.is_some())
            .unwrap()
            .id;
        let intake = || jinlin_app::cases::Intake {
            channel: jinlin_app::cases::Channel::Resident,
            category_id: category,
            description: "楼道灯不亮".into(),
            location: jinlin_app::cases::Location {
                point: None,
                region_code: Some(FIRST_GRID.into()),
                address: None,
            },
            reporter_name: Some("陈先生".into()),
            reporter_phone: Some("13712345678".into()),
            photos: Vec::new(),
            answers: Vec::new(),
            open311: None,
        };
        let id = app.file_case(None, intake()).await.unwrap();
        assert_eq!(app.deliver_webhooks().await.unwrap(), 1);
        let request = got.lock().unwrap()[0].clone();
        assert!(
            request.starts_with("POST /hooks/jinlin HTTP/1.1"),
            "{request}"
        );
        assert!(request.contains("X-Jinlin-Event: case.created"));
        let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
        let signed = jinlin_app::webhooks::signature("s3cret", body.as_bytes());
        assert!(request.contains(&format!("X-Jinlin-Signature: sha256={signed}")));
        let payload: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(payload["event"], "case.created");
        assert!(
            !body.contains("13712345678") && !body.contains("陈先生"),
            "no personal data"
        );
        assert_eq!(app.deliver_webhooks().await.unwrap(), 0, "delivered once");
        let _ = id;

        // A receiver that fails: retried with growing waits, then a dead letter an admin resends.
        let (bad_url, bad_got) = receiver(500).await;
        let failing = App::with_clock(h.db.store.clone(), with_hook(&bad_url), Arc::new(now))
            .await
            .unwrap();
        failing.file_case(None, intake()).await.unwrap();
        for _ in 0..8 {
            assert_eq!(failing.deliver_webhooks().await.unwrap(), 0);
            h.advance_minutes(13 * 60);
        }
        assert_eq!(
            bad_got.lock().unwrap().len(),
            8,
            "first try and seven retries"
        );
        let admin = jinlin_app::accounts::actor_of(
            &h.db.store.user_by_username("admin").await.unwrap().unwrap(),
        );
        let dead = failing.webhook_deliveries(&admin, "dead", 1).await.unwrap();
        assert_eq!(dead.total, 1);
        assert!(
            dead.items[0]
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("500")
        );
        let mut page = Browser::signed_in(&h, "admin").await;
        let list = page.get("/admin/webhooks?status=dead").await;
        assert!(list.body.contains("HTTP 500"), "{}", list.body);
        let retried = page
            .post_form(
                &format!("/admin/webhooks/{}/retry", dead.items[0].id),
                &[("_csrf", &hidden(&list.body, "_csrf"))],
            )
            .await;
        assert_eq!(retried.status, StatusCode::SEE_OTHER);
        assert_eq!(
            failing
                .webhook_deliveries(&admin, "dead", 1)
                .await
                .unwrap()
                .total,
            0
        );
        let mut desk = Browser::signed_in(&h, "community").await;
        assert_eq!(
            desk.get("/admin/webhooks").await.status,
            StatusCode::FORBIDDEN
        );
    })
    .await;
}

// ----- case settings ----------------------------------------------------------------------------

#[tokio::test]
async fn admins_change_limits_routes_and_the_calendar_and_new_cases_follow() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let category = h
            .app
            .categories()
            .iter()
            .find(|c| c.parent_id.is_some() && c.kind == "appeal")
            .unwrap()
            .clone();
        let mut admin = Browser::signed_in(&h, "admin").await;
        let list = admin.get("/admin/categories").await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.body.contains(&category.name));
        let path = format!("/admin/categories/{}", category.id);
        let csrf = admin.csrf(&path).await;
        let form = |response: &str, onsite: &str| -> Vec<(String, String)> {
            [
                ("_csrf", csrf.as_str()),
                ("name", category.name.as_str()),
                ("active", "1"),
                ("response", response),
                ("onsite", onsite),
                ("resolution", "2"),
                ("resolution_unit", "working_days"),
                ("urgency", "urgent"),
                ("level", "grid"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        };
        let bad = form("60", "30");
        let refused = admin.post_form(&path, &pairs(&bad)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            refused.body.contains("到场时限：不能短于响应时限"),
            "{}",
            refused.body
        );
        let good = form("15", "");
        let saved = admin.post_form(&path, &pairs(&good)).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        let now_cat = h.app.category(category.id).unwrap();
        assert_eq!(
            now_cat.response,
            jinlin_domain::deadlines::DeadlineSpec::NaturalMinutes(15)
        );

        // A unit and a route for the district: new cases of that category go to the unit.
        let routing = admin.get("/admin/routing").await;
        let csrf = hidden(&routing.body, "_csrf");
        let added = admin
            .post_form(
                "/admin/routing/units",
                &[
                    ("_csrf", &csrf),
                    ("name", "丰泽区城市管理局测试科"),
                    ("kind", "department"),
                    ("phone", "0595-22000000"),
                ],
            )
            .await;
        assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
        let unit = h
            .app
            .handling_units(&jinlin_app::accounts::actor_of(
                &h.db.store.user_by_username("admin").await.unwrap().unwrap(),
            ))
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.name == "丰泽区城市管理局测试科")
            .unwrap();
        let bad_region = admin
            .post_form(
                "/admin/routing/routes",
                &[
                    ("_csrf", &csrf),
                    ("category", &category.id.to_string()),
                    ("region", "999999999999"),
                    ("unit", &unit.id.to_string()),
                ],
            )
            .await;
        assert_eq!(bad_region.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad_region.body.contains("区划："), "{}", bad_region.body);
        let routed = admin
            .post_form(
                "/admin/routing/routes",
                &[
                    ("_csrf", &csrf),
                    ("category", &category.id.to_string()),
                    ("region", "350503000000"),
                    ("unit", &unit.id.to_string()),
                ],
            )
            .await;
        assert_eq!(routed.status, StatusCode::SEE_OTHER, "{}", routed.body);

        // A local holiday tomorrow pushes a working-day deadline out by a day.
        let file = || async {
            let id = h
                .app
                .file_case(
                    None,
                    jinlin_app::cases::Intake {
                        channel: jinlin_app::cases::Channel::Resident,
                        category_id: category.id,
                        description: "测试时限".into(),
                        location: jinlin_app::cases::Location {
                            point: None,
                            region_code: Some(FIRST_GRID.into()),
                            address: None,
                        },
                        reporter_name: None,
                        reporter_phone: Some("13712345678".into()),
                        photos: Vec::new(),
                        answers: Vec::new(),
                        open311: None,
                    },
                )
                .await
                .unwrap();
            h.db.store.case_by_id(id).await.unwrap().unwrap()
        };
        let before = file().await;
        assert_eq!(before.unit_id, Some(unit.id), "routed to the unit");
        assert_eq!(before.response_due - before.created_at, 15 * 60_000);
        // Mark the next three days off (whatever they are) and file again.
        let today = jinlin_domain::deadlines::Date::from_epoch_ms(h.app.now());
        let mut day = today;
        for _ in 0..3 {
            day = day.succ();
            let cal = admin.get("/admin/calendar").await;
            let done = admin
                .post_form(
                    "/admin/calendar",
                    &[
                        ("_csrf", &hidden(&cal.body, "_csrf")),
                        ("day", &day.to_string()),
                        ("kind", "holiday"),
                        ("note", "测试放假"),
                    ],
                )
                .await;
            assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        }
        let after = file().await;
        assert!(
            after.resolution_due > before.resolution_due,
            "holidays push the deadline: {} vs {}",
            after.resolution_due,
            before.resolution_due
        );
        let bad_day = admin
            .post_form(
                "/admin/calendar",
                &[("_csrf", &csrf), ("day", "2026-02-30"), ("kind", "holiday")],
            )
            .await;
        assert_eq!(bad_day.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!h.audit("category.update").await.is_empty());
        assert!(!h.audit("calendar.set").await.is_empty());

        let mut desk = Browser::signed_in(&h, "community").await;
        assert_eq!(
            desk.get("/admin/categories").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            desk.get("/admin/routing").await.status,
            StatusCode::FORBIDDEN
        );
    })
    .await;
}

#[tokio::test]
async fn a_report_without_a_category_goes_to_other_and_the_desk_classifies_it() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let mut resident = Browser::signed_in(&h, "resident").await;
        let filed = resident
            .post_multipart(
                "/cases",
                "/cases/new",
                &[
                    ("description", "不知道找谁：楼下有人养鸽子，味道很大"),
                    ("region_code", FIRST_GRID),
                ],
                &[],
            )
            .await;
        assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", filed.body);
        let id = case_id_from(&filed.location());
        let stored = h.db.store.case_by_id(id).await.unwrap().unwrap();
        assert_eq!(stored.category_name, "其他");
        let target = h
            .app
            .categories()
            .iter()
            .find(|c| {
                c.parent_id.is_some()
                    && c.kind == "event"
                    && jinlin_domain::questions::questions_for(&c.code).is_empty()
            })
            .unwrap()
            .clone();
        let mut desk = Browser::signed_in(&h, "community").await;
        let page = desk.get(&format!("/cases/{id}")).await;
        assert!(offered(&page.body).contains(&"reclassify".to_owned()));
        let version = hidden(&page.body, "version");
        let done = desk
            .post_multipart(
                &format!("/cases/{id}/reclassify"),
                &format!("/cases/{id}"),
                &[("category", &target.id.to_string()), ("version", &version)],
                &[],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        let after = h.db.store.case_by_id(id).await.unwrap().unwrap();
        assert_eq!(after.category_id, target.id);
        assert_eq!(
            after.resolution_due,
            target.resolution.due(&h.app.calendar(), after.created_at),
            "the deadline follows the new category"
        );
        let page = desk.get(&format!("/cases/{id}")).await;
        assert!(page.body.contains(&format!("调整为“{}”", target.name)));
        // Residents cannot reclassify.
        let refused = resident
            .post_multipart(
                &format!("/cases/{id}/reclassify"),
                &format!("/cases/{id}"),
                &[("category", &target.id.to_string())],
                &[],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    })
    .await;
}
