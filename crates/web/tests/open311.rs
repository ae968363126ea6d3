//! `/open311/v2/` end to end, in process, on every available database: discovery, services and
//! definitions, filing (form and multipart), following a request round the closed loop to
//! closed, tokens, updates — every endpoint in XML and JSON — and the spec's errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use jinlin_app::cases::ActionExtras;
use jinlin_app::open311::NewKey;
use jinlin_app::{Actor, App, Settings};
use jinlin_domain::cases::{Action, Assignee};
use jinlin_store::testing::{TestDb, on_every_backend};
use serde_json::Value;
use tower::ServiceExt;

const DISTRICT: &str = "350503000000";
const GRID: &str = "350503001001001";
/// The 1×1 PNG every photo test sends.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

struct Harness {
    router: Router,
    app: App,
    db: TestDb,
    offset: Arc<AtomicI64>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The body parsed as XML (which proves it well-formed) with the root's name checked.
    fn xml(&self, root: &str) -> roxmltree::Document<'_> {
        assert_eq!(
            self.content_type, "text/xml; charset=utf-8",
            "{}",
            self.body
        );
        assert!(
            self.body
                .starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
            "{}",
            self.body
        );
        let doc = roxmltree::Document::parse(&self.body)
            .unwrap_or_else(|e| panic!("not well-formed XML ({e}): {}", self.body));
        assert_eq!(doc.root_element().tag_name().name(), root, "{}", self.body);
        doc
    }

    /// The spec's error document: status, then the one error's code and description.
    fn error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        if self.content_type.starts_with("text/xml") {
            let doc = self.xml("errors");
            let error = doc.root_element().first_element_child().unwrap();
            assert_eq!(error.tag_name().name(), "error");
            let code = child_text(error, "code");
            assert_eq!(code, status.as_u16().to_string());
            child_text(error, "description")
        } else {
            assert_eq!(self.content_type, "application/json; charset=utf-8");
            let v = self.json();
            let errors = v.as_array().unwrap_or_else(|| panic!("not a list: {v}"));
            assert_eq!(errors[0]["code"], u64::from(status.as_u16()), "{v}");
            errors[0]["description"].as_str().unwrap().to_owned()
        }
    }
}

fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> String {
    node.children()
        .find(|c| c.tag_name().name() == name)
        .and_then(|c| c.text())
        .unwrap_or_default()
        .to_owned()
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
        let dir = std::env::temp_dir().join(format!(
            "jinlin-open311-{}",
            jinlin_store::testing::unique_suffix()
        ));
        let offset = Arc::new(AtomicI64::new(0));
        let o = offset.clone();
        let app = App::with_clock(
            db.store.clone(),
            Settings {
                data_dir: dir.clone(),
                ..Settings::default()
            },
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
            _dir: TempDir(dir),
        }
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            content_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(
            Request::get(format!("/open311/v2/{path}"))
                .header(header::HOST, "jinlin.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send(
            Request::post(format!("/open311/v2/{path}"))
                .header(
                    header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    async fn post_multipart(&self, path: &str, form: &[(&str, &str)], media: &[u8]) -> Reply {
        let boundary = "jinlin-open311-boundary";
        let mut body = Vec::new();
        for (k, v) in form {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"photo.png\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(media);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.send(
            Request::post(format!("/open311/v2/{path}"))
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    async fn key(&self, name: &str, per_minute: Option<i64>, token_receipt: bool) -> String {
        self.app
            .create_open311_key(
                &Actor::console(),
                NewKey {
                    name: name.into(),
                    contact: String::new(),
                    district: DISTRICT.into(),
                    per_minute,
                    token_receipt,
                },
            )
            .await
            .unwrap()
            .key
    }

    async fn actor(&self, username: &str) -> Actor {
        let token = self
            .app
            .create_api_token(&Actor::console(), username, "测试")
            .await
            .unwrap();
        self.app.api_actor(&token).await.unwrap().unwrap()
    }

    async fn act(&self, actor: &Actor, id: i64, action: Action) {
        let what = format!("{action:?} by {}", actor.username);
        self.app
            .act(actor, id, action, ActionExtras::default())
            .await
            .unwrap_or_else(|e| panic!("{what} was refused: {e}"));
    }

    /// A point inside the demo grid (its label point), as `(lat, long)` text.
    async fn point(&self) -> (String, String) {
        let grid = self.db.store.region_by_code(GRID).await.unwrap().unwrap();
        let (lng, lat) = grid.centroid.unwrap();
        (lat.to_string(), lng.to_string())
    }

    async fn case_count(&self) -> usize {
        self.app
            .store
            .open311_requests(&jinlin_store::open311::RequestFilter {
                scope_path: "/".into(),
                key_id: None,
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
    }
}

// ----- discovery, services, definitions ----------------------------------------------------------

#[tokio::test]
async fn discovery_services_and_definitions_answer_in_xml_and_json() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;

        let d = h.get("discovery.json").await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.body);
        assert_eq!(d.content_type, "application/json; charset=utf-8");
        let d = d.json();
        for field in ["changeset", "contact", "key_service", "endpoints"] {
            assert!(d.get(field).is_some(), "discovery lacks {field}: {d}");
        }
        assert!(d["contact"].as_str().unwrap().contains(DISTRICT), "{d}");
        let endpoint = &d["endpoints"][0];
        assert_eq!(endpoint["url"], "http://jinlin.example/open311/v2");
        assert_eq!(
            endpoint["specification"],
            "http://wiki.open311.org/GeoReport_v2"
        );
        assert_eq!(endpoint["formats"][0], "text/xml");
        assert!(endpoint["changeset"].as_str().unwrap().ends_with("+08:00"));
        let x = h.get("discovery.xml").await;
        let doc = x.xml("discovery");
        let formats: Vec<&str> = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "format")
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(formats, ["text/xml", "application/json"]);

        // The service list: active leaf categories, spec-shaped.
        let s = h.get("services.json").await;
        assert_eq!(s.status, StatusCode::OK);
        let services = s.json();
        let services = services.as_array().unwrap();
        let by_code = |code: &str| {
            services
                .iter()
                .find(|s| s["service_code"] == code)
                .unwrap_or_else(|| panic!("{code} missing"))
                .clone()
        };
        let lift = by_code("repair.lift");
        assert_eq!(lift["service_name"], "电梯故障");
        assert_eq!(lift["metadata"], true);
        assert_eq!(lift["type"], "realtime");
        assert_eq!(lift["group"], "物业/设施维修");
        assert!(lift["keywords"].as_str().unwrap().contains("电梯"));
        assert_eq!(by_code("E06004")["metadata"], false);
        // Personal requests carry FixMyStreet's `private` keyword; public problems do not.
        assert!(
            by_code("help.elderly")["keywords"]
                .as_str()
                .unwrap()
                .contains("private")
        );
        assert!(
            !by_code("E06004")["keywords"]
                .as_str()
                .unwrap()
                .contains("private")
        );
        assert!(
            !services.iter().any(|s| s["service_code"] == "help"),
            "groups are not services"
        );
        let x = h.get("services.xml").await;
        let doc = x.xml("services");
        let codes: Vec<String> = doc
            .root_element()
            .children()
            .filter(|n| n.tag_name().name() == "service")
            .map(|n| child_text(n, "service_code"))
            .collect();
        assert_eq!(codes.len(), services.len());
        // An empty jurisdiction_id is an absent one; an unknown one is a 404.
        assert_eq!(
            h.get("services.json?jurisdiction_id=").await.status,
            StatusCode::OK
        );
        assert_eq!(
            h.get(&format!("services.json?jurisdiction_id={DISTRICT}"))
                .await
                .status,
            StatusCode::OK
        );
        let e = h.get("services.xml?jurisdiction_id=110101000000").await;
        assert!(e.error(StatusCode::NOT_FOUND).contains("jurisdiction_id"));

        // A definition with attributes in order, value lists for the list types.
        let def = h.get("services/repair.lift.json").await;
        assert_eq!(def.status, StatusCode::OK, "{}", def.body);
        let def = def.json();
        assert_eq!(def["service_code"], "repair.lift");
        let attrs = def["attributes"].as_array().unwrap();
        let orders: Vec<u64> = attrs.iter().map(|a| a["order"].as_u64().unwrap()).collect();
        assert_eq!(orders, [1, 2, 3]);
        assert_eq!(attrs[0]["variable"], false, "a notice to read");
        assert_eq!(attrs[1]["code"], "trapped");
        assert_eq!(attrs[1]["datatype"], "singlevaluelist");
        assert_eq!(attrs[1]["required"], true);
        assert_eq!(attrs[1]["values"][0]["key"], "yes");
        assert_eq!(attrs[1]["values"][0]["name"], "是");
        assert!(attrs[2].get("values").is_none());
        let x = h.get("services/repair.lift.xml").await;
        let doc = x.xml("service_definition");
        let keys: Vec<&str> = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "key")
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(keys, ["yes", "no"]);
        // The `open311` 1.1 client asks for service/ (singular).
        assert_eq!(h.get("service/repair.lift.xml").await.body, x.body);

        // Every datatype of the spec appears in some definition.
        let mut datatypes = std::collections::BTreeSet::new();
        for s in services.iter().filter(|s| s["metadata"] == true) {
            let code = s["service_code"].as_str().unwrap();
            let def = h.get(&format!("services/{code}.json")).await.json();
            for a in def["attributes"].as_array().unwrap() {
                datatypes.insert(a["datatype"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(
            datatypes.into_iter().collect::<Vec<_>>(),
            [
                "datetime",
                "multivaluelist",
                "number",
                "singlevaluelist",
                "string",
                "text"
            ]
        );

        let missing = h.get("services/no.such.json").await;
        assert!(
            missing
                .error(StatusCode::NOT_FOUND)
                .contains("service_code")
        );
        h.get("services/no.such.xml")
            .await
            .error(StatusCode::NOT_FOUND);
        // Unknown endpoints and formats are errors, never a page.
        h.get("nothing.json").await.error(StatusCode::NOT_FOUND);
        h.get("services.html").await.error(StatusCode::NOT_FOUND);
        h.get("a/b/c.json").await.error(StatusCode::NOT_FOUND);
        let put = h
            .send(
                Request::put("/open311/v2/requests.json")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(put.error(StatusCode::BAD_REQUEST).contains("PUT"));
        let delete = h
            .send(
                Request::delete("/open311/v2/requests/1.xml")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        delete.error(StatusCode::BAD_REQUEST);
    })
    .await;
}

// ----- the round trip ----------------------------------------------------------------------------

#[tokio::test]
async fn a_filed_request_follows_the_closed_loop_to_closed() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let key = h.key("市 12345 平台", None, false).await;
        let (lat, long) = h.point().await;
        let filed = h
            .post(
                "requests.json",
                &[
                    ("api_key", key.as_str()),
                    ("jurisdiction_id", DISTRICT),
                    ("service_code", "sanitation.garbage"),
                    ("lat", lat.as_str()),
                    ("long", long.as_str()),
                    ("attribute[bins]", "3"),
                    ("description", "东霞小区 2 号垃圾点三天没清运了\n味道很大"),
                    ("first_name", "三"),
                    ("last_name", "张"),
                    ("phone", "13812345678"),
                    ("email", "zhangsan@example.com"),
                    ("device_id", "device-42"),
                    ("account_id", "acct-7"),
                ],
            )
            .await;
        assert_eq!(filed.status, StatusCode::OK, "{}", filed.body);
        let receipt = filed.json();
        let id = receipt[0]["service_request_id"].as_str().unwrap().to_owned();
        assert!(receipt[0].get("token").is_none(), "never both id and token");
        assert_eq!(receipt[0]["account_id"], "acct-7");
        assert!(receipt[0]["service_notice"].as_str().unwrap().contains(&id));
        let case_id: i64 = id.parse().unwrap();

        // It is an ordinary case: located in the grid, routed, with the answer on its page.
        let case = h.app.store.case_by_id(case_id).await.unwrap().unwrap();
        assert_eq!(case.channel, "open311");
        assert_eq!(case.grid_name.as_deref(), Some("东霞社区第1网格"));
        assert_eq!(case.reporter_name.as_deref(), Some("张三"));
        let desk = h.actor("community").await;
        let detail = h.app.case_detail(&desk, case_id).await.unwrap();
        assert_eq!(detail.answers, vec![("满溢的垃圾桶大约有几个？", "3".to_owned())]);
        assert!(detail.events[0].actor_name.contains("市 12345 平台"));

        // Following it: a one-element array in JSON, service_requests/request in XML.
        let one = h.get(&format!("requests/{id}.json")).await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.body);
        let r = one.json();
        assert_eq!(r.as_array().unwrap().len(), 1);
        let r = &r[0];
        assert_eq!(r["service_request_id"], id.as_str());
        assert_eq!(r["status"], "open");
        assert_eq!(r["service_code"], "sanitation.garbage");
        assert_eq!(r["service_name"], "垃圾清运不及时");
        assert_eq!(r["description"], "东霞小区 2 号垃圾点三天没清运了\n味道很大");
        assert!(r["lat"].is_number() && r["long"].is_number(), "{r}");
        assert_eq!(r["address_id"], GRID);
        for field in ["requested_datetime", "updated_datetime", "expected_datetime"] {
            let t = r[field].as_str().unwrap();
            assert!(t.ends_with("+08:00") && t.contains('T'), "{field}: {t}");
        }
        assert_eq!(
            jinlin_domain::deadlines::parse_w3c(r["expected_datetime"].as_str().unwrap()),
            Some(case.resolution_due / 1000 * 1000)
        );
        // No personal data, in either format.
        let xml = h.get(&format!("requests/{id}.xml")).await;
        xml.xml("service_requests");
        for body in [&one.body, &xml.body] {
            for secret in ["13812345678", "zhangsan@example.com", "张三", "device-42", "acct-7"] {
                assert!(!body.contains(secret), "{secret} leaked: {body}");
            }
        }
        let listed = h
            .get(&format!("requests.xml?service_request_id={id},999999"))
            .await;
        let doc = listed.xml("service_requests");
        let ids: Vec<String> = doc
            .root_element()
            .children()
            .filter(|n| n.tag_name().name() == "request")
            .map(|n| child_text(n, "service_request_id"))
            .collect();
        assert_eq!(ids, std::slice::from_ref(&id));

        // Round the loop: accept, dispatch to the grid worker, take, resolve, verify.
        let worker = h.actor("grid").await;
        h.act(&desk, case_id, Action::Accept).await;
        let open = h.get("requests.json?status=open&service_code=sanitation.garbage").await;
        assert!(open.json().as_array().unwrap().iter().any(|r| r["service_request_id"] == id.as_str()));
        h.act(
            &desk,
            case_id,
            Action::Dispatch {
                to: Assignee::GridWorker(worker.user_id.unwrap()),
            },
        )
        .await;
        h.act(&worker, case_id, Action::Take).await;
        h.offset.fetch_add(60_000, Ordering::SeqCst);
        h.act(
            &worker,
            case_id,
            Action::Resolve {
                result: "已联系环卫所清运，垃圾点已冲洗".into(),
            },
        )
        .await;
        let resolved = h.get(&format!("requests/{id}.json")).await.json();
        assert_eq!(resolved[0]["status"], "open", "awaiting verification is still open");
        assert!(
            resolved[0]["status_notes"]
                .as_str()
                .unwrap()
                .contains("已联系环卫所清运，垃圾点已冲洗"),
            "the latest public note: {resolved}"
        );
        h.act(&worker, case_id, Action::VerifyPass).await;
        let closed = h.get(&format!("requests/{id}.json")).await.json();
        assert_eq!(closed[0]["status"], "closed", "{closed}");
        assert_ne!(closed[0]["updated_datetime"], r["updated_datetime"]);
        let only_closed = h.get("requests.json?status=closed").await.json();
        assert!(only_closed.as_array().unwrap().iter().all(|r| r["status"] == "closed"));
        assert!(only_closed.as_array().unwrap().iter().any(|r| r["service_request_id"] == id.as_str()));

        // The updates a mirroring system pulls, with FixMyStreet's extended statuses.
        let updates = h.get("servicerequestupdates.json").await;
        assert_eq!(updates.status, StatusCode::OK, "{}", updates.body);
        let mine: Vec<Value> = updates
            .json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["service_request_id"] == id.as_str())
            .cloned()
            .collect();
        let statuses: Vec<&str> = mine.iter().map(|u| u["status"].as_str().unwrap()).collect();
        assert_eq!(
            statuses,
            ["OPEN", "INVESTIGATING", "ACTION_SCHEDULED", "IN_PROGRESS", "IN_PROGRESS", "FIXED"]
        );
        assert!(mine.iter().all(|u| u["update_id"].is_string()
            && u["updated_datetime"].as_str().unwrap().ends_with("+08:00")));
        let xml = h.get("servicerequestupdates.xml").await;
        let doc = xml.xml("service_requests_updates");
        assert!(doc.descendants().any(|n| n.tag_name().name() == "request_update"));
        // A window that ends before the request has none of it.
        let before = h
            .get("servicerequestupdates.json?start_date=2020-01-01T00:00:00Z&end_date=2020-01-02T00:00:00Z")
            .await;
        assert_eq!(before.json(), serde_json::json!([]));

        // Changeset download by update time, and pages.
        let changed = h.get("requests.json?updated_after=2020-01-01T00:00:00Z").await.json();
        assert!(changed.as_array().unwrap().iter().any(|r| r["service_request_id"] == id.as_str()));
        let future = h.get("requests.json?updated_after=2999-01-01T00:00:00Z").await.json();
        assert_eq!(future, serde_json::json!([]));
        let page2 = h.get("requests.json?page=2&page_size=10").await;
        assert_eq!(page2.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn multipart_media_attributes_and_token_receipts() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let key = h.key("邻县系统", None, false).await;
        let other = h.key("另一个客户端", None, false).await;
        let (lat, long) = h.point().await;
        let r = h
            .post_multipart(
                "requests.xml",
                &[
                    ("api_key", &key),
                    ("service_code", "noise.construction"),
                    ("lat", &lat),
                    ("long", &long),
                    ("attribute[periods][]", "night"),
                    ("attribute[periods][]", "evening"),
                    ("attribute[site]", "东霞小区 5 号楼 302 装修"),
                    ("description", "每天晚上十点后还在电钻"),
                ],
                PNG,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let doc = r.xml("service_requests");
        let request = doc.root_element().first_element_child().unwrap();
        let id: i64 = child_text(request, "service_request_id").parse().unwrap();
        assert_eq!(h.app.store.case_photos(id).await.unwrap().len(), 1);
        let answers = h.app.store.case_answers(id).await.unwrap();
        assert!(
            answers.contains(&("periods".into(), "night,evening".into())),
            "{answers:?}"
        );

        // A personal appeal is read back only with the key that filed it.
        h.get(&format!("requests/{id}.json"))
            .await
            .error(StatusCode::NOT_FOUND);
        h.get(&format!("requests/{id}.json?api_key={other}"))
            .await
            .error(StatusCode::NOT_FOUND);
        let mine = h.get(&format!("requests/{id}.json?api_key={key}")).await;
        assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
        assert_eq!(mine.json()[0]["service_code"], "noise.construction");
        assert!(
            !h.get("requests.json")
                .await
                .body
                .contains(&format!("\"{id}\""))
        );

        // A key set to answer with tokens: the client polls tokens/ for the number.
        let batch = h.key("按令牌回执的客户端", None, true).await;
        let r = h
            .post(
                "requests.json",
                &[
                    ("api_key", &batch),
                    ("service_code", "E06004"),
                    ("address_id", GRID),
                    ("media_url", "https://city.example/photos/1.jpg"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let receipt = r.json();
        assert!(receipt[0].get("service_request_id").is_none(), "{receipt}");
        let token = receipt[0]["token"].as_str().unwrap().to_owned();
        let t = h.get(&format!("tokens/{token}.json")).await;
        assert_eq!(t.status, StatusCode::OK, "{}", t.body);
        let id = t.json()[0]["service_request_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(t.json()[0]["token"], token.as_str());
        let x = h.get(&format!("tokens/{token}.xml")).await;
        assert_eq!(
            child_text(
                x.xml("service_requests")
                    .root_element()
                    .first_element_child()
                    .unwrap(),
                "service_request_id"
            ),
            id
        );
        // No description given: the service name stands in; the client's photo link comes back.
        let got = h.get(&format!("requests/{id}.json")).await.json();
        let name = h.app.category_by_code("E06004").unwrap().name;
        assert_eq!(got[0]["description"], name.as_str());
        assert_eq!(got[0]["media_url"], "https://city.example/photos/1.jpg");
        h.get("tokens/no-such-token.xml")
            .await
            .error(StatusCode::NOT_FOUND);

        // An address text names a compound and a building of the district.
        let building =
            h.db.store
                .regions_at_level(jinlin_domain::regions::RegionLevel::Building, 1)
                .await
                .unwrap()
                .remove(0);
        let compound =
            h.db.store
                .region_by_id(building.parent_id.unwrap())
                .await
                .unwrap()
                .unwrap();
        let r = h
            .post(
                "requests.json",
                &[
                    ("api_key", &key),
                    ("service_code", "E06004"),
                    (
                        "address_string",
                        &format!("福建省泉州市丰泽区{}{}门口", compound.name, building.name),
                    ),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let id = r.json()[0]["service_request_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let got = h.get(&format!("requests/{id}.json")).await.json();
        assert_eq!(got[0]["address_id"], building.code.as_str());
    })
    .await;
}

// ----- errors ------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_input_gets_the_spec_errors_and_stores_nothing() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let key = h.key("测试", Some(100), false).await;
        let (lat, long) = h.point().await;
        let good = |extra: Vec<(&'static str, String)>| {
            let mut form: Vec<(&'static str, String)> = vec![
                ("api_key", key.clone()),
                ("service_code", "E06004".into()),
                ("lat", lat.clone()),
                ("long", long.clone()),
            ];
            for (k, v) in extra {
                form.retain(|(f, _)| *f != k);
                if !v.is_empty() || k == "jurisdiction_id" {
                    form.push((k, v));
                }
            }
            form
        };
        let post = |form: Vec<(&'static str, String)>, path: &'static str| {
            let h = &h;
            async move {
                let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                h.post(path, &pairs).await
            }
        };
        let before = h.case_count().await;
        type Form = Vec<(&'static str, String)>;
        let cases: Vec<(Form, StatusCode, &str)> = vec![
            (
                good(vec![("service_code", "no.such".into())]),
                StatusCode::NOT_FOUND,
                "service_code",
            ),
            (
                good(vec![("service_code", String::new())]),
                StatusCode::BAD_REQUEST,
                "service_code",
            ),
            (
                good(vec![("lat", String::new()), ("long", String::new())]),
                StatusCode::BAD_REQUEST,
                "位置",
            ),
            (
                good(vec![("long", String::new())]),
                StatusCode::BAD_REQUEST,
                "long",
            ),
            (
                good(vec![("lat", "91".into())]),
                StatusCode::BAD_REQUEST,
                "lat",
            ),
            (
                good(vec![("long", "east".into())]),
                StatusCode::BAD_REQUEST,
                "long",
            ),
            (
                good(vec![("lat", "39.9".into()), ("long", "116.4".into())]),
                StatusCode::BAD_REQUEST,
                "不在任何网格",
            ),
            (
                good(vec![("description", "长".repeat(4001))]),
                StatusCode::BAD_REQUEST,
                "4000",
            ),
            (
                good(vec![("api_key", "jl311_wrong".into())]),
                StatusCode::FORBIDDEN,
                "api_key",
            ),
            (
                good(vec![("api_key", String::new())]),
                StatusCode::FORBIDDEN,
                "api_key",
            ),
            (
                good(vec![("jurisdiction_id", "110101000000".into())]),
                StatusCode::NOT_FOUND,
                "jurisdiction_id",
            ),
            (
                good(vec![("attribute[", "x".into())]),
                StatusCode::BAD_REQUEST,
                "attribute",
            ),
            (
                good(vec![("attribute[colour]", "red".into())]),
                StatusCode::BAD_REQUEST,
                "attribute[colour]",
            ),
            (
                good(vec![("service_code", "repair.lift".into())]),
                StatusCode::BAD_REQUEST,
                "attribute[trapped]",
            ),
            (
                good(vec![
                    ("service_code", "repair.lift".into()),
                    ("attribute[trapped]", "maybe".into()),
                ]),
                StatusCode::BAD_REQUEST,
                "可选",
            ),
            (
                good(vec![
                    ("service_code", "sanitation.garbage".into()),
                    ("attribute[bins]", "many".into()),
                ]),
                StatusCode::BAD_REQUEST,
                "数字",
            ),
            (
                good(vec![("phone", "12345".into())]),
                StatusCode::BAD_REQUEST,
                "phone",
            ),
            (
                good(vec![("email", "not-an-address".into())]),
                StatusCode::BAD_REQUEST,
                "email",
            ),
            (
                good(vec![("media_url", "ftp://x/y".into())]),
                StatusCode::BAD_REQUEST,
                "media_url",
            ),
            (
                good(vec![
                    ("address_id", "999".into()),
                    ("lat", String::new()),
                    ("long", String::new()),
                ]),
                StatusCode::BAD_REQUEST,
                "address_id",
            ),
            (
                good(vec![
                    ("address_string", "火星基地".into()),
                    ("lat", String::new()),
                    ("long", String::new()),
                ]),
                StatusCode::BAD_REQUEST,
                "address_string",
            ),
        ];
        for (form, status, names) in cases {
            for path in ["requests.json", "requests.xml"] {
                let r = post(form.clone(), path).await;
                let description = r.error(status);
                assert!(description.contains(names), "{form:?} → {description}");
            }
        }
        assert_eq!(
            h.case_count().await,
            before,
            "nothing filed by a refused request"
        );

        // An empty jurisdiction_id is absent: the key's district.
        let r = post(
            good(vec![("jurisdiction_id", String::new())]),
            "requests.json",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // The key may also travel in the query string (the `open311` 1.1 client).
        let form: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("service_code", "E06004"), ("lat", &lat), ("long", &long)])
            .finish();
        let r = h
            .send(
                Request::post(format!(
                    "/open311/v2/requests.xml?jurisdiction_id=&api_key={key}"
                ))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);

        // A revoked key is refused.
        let keys = h.app.open311_keys(&Actor::console()).await.unwrap();
        h.app
            .revoke_open311_key(&Actor::console(), keys[0].id)
            .await
            .unwrap();
        post(good(vec![]), "requests.json")
            .await
            .error(StatusCode::FORBIDDEN);

        // Per-minute limit: the third request in a minute is refused; the next minute works.
        let slow = h.key("限速", Some(2), false).await;
        let slow_form = good(vec![("api_key", slow.clone())]);
        for _ in 0..2 {
            assert_eq!(
                post(slow_form.clone(), "requests.json").await.status,
                StatusCode::OK
            );
        }
        let limited = post(slow_form.clone(), "requests.json").await;
        assert!(
            limited
                .error(StatusCode::BAD_REQUEST)
                .contains("每分钟最多提交 2 件")
        );
        h.offset.fetch_add(61_000, Ordering::SeqCst);
        assert_eq!(
            post(slow_form, "requests.json").await.status,
            StatusCode::OK
        );

        // GET errors.
        h.get("requests/999999.json")
            .await
            .error(StatusCode::NOT_FOUND);
        h.get("requests/abc.xml").await.error(StatusCode::NOT_FOUND);
        let e = h
            .get("requests.json?start_date=yesterday")
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(e.contains("start_date"), "{e}");
        let e = h
            .get("requests.xml?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z")
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(e.contains("90"), "{e}");
        h.get("requests.json?status=pending")
            .await
            .error(StatusCode::BAD_REQUEST);
        h.get("requests.json?service_code=no.such")
            .await
            .error(StatusCode::NOT_FOUND);
        h.get("requests.json?page_size=5000")
            .await
            .error(StatusCode::BAD_REQUEST);
        h.get("requests.json?api_key=jl311_wrong")
            .await
            .error(StatusCode::FORBIDDEN);
        h.get("servicerequestupdates.xml?end_date=bad")
            .await
            .error(StatusCode::BAD_REQUEST);
    })
    .await;
}
