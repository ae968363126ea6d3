//! The people import wizard end to end, in process, on every available database (SQLite always;
//! PostgreSQL when JINLIN_TEST_PG_URL is set): upload, the check and the import as background
//! jobs whose progress the job page polls, the result on the job page, the job hidden from other
//! users, and the jobs that end without importing anyone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jinlin_app::{App, Settings};
use jinlin_domain::people::id_check_char;
use jinlin_domain::regions::RegionLevel;
use jinlin_store::testing::{TestDb, on_every_backend, unique_suffix};
use serde_json::Value;

mod common;
use common::{Browser, hidden};

const PASSWORD: &str = jinlin_app::demo::DEMO_PASSWORD;

struct Harness {
    router: Router,
    dir: std::path::PathBuf,
    _db: TestDb,
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
        let dir = std::env::temp_dir().join(format!("jinlin-web-import-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let app = App::new(
            db.store.clone(),
            Settings {
                data_dir: dir.clone(),
                ..Settings::default()
            },
        )
        .await
        .unwrap();
        Harness {
            router: jinlin_web::router(app, jinlin_web::WebConfig::default()),
            dir,
            _db: db,
        }
    }

    async fn signed_in(&self, username: &str) -> Browser {
        let mut b = Browser::new(self.router.clone());
        let r = b.login(username, PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "login of {username}");
        b
    }
}

impl Browser {
    async fn upload(&mut self, region: &str, name: &str, bytes: &[u8]) -> String {
        let csrf = self.csrf("/people/import").await;
        let boundary = "----jinlinImportBoundary";
        let mut body = Vec::new();
        for (k, v) in [("_csrf", csrf.as_str()), ("region", region)] {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let req = Request::post("/people/import/preview")
            .header(header::COOKIE, self.cookie_header())
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .unwrap();
        let r = self.send(req).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "upload: {}", r.body);
        let to = r.location();
        assert!(to.starts_with("/people/import/jobs/"), "sent to {to}");
        to
    }

    /// Polls the job's JSON as the page's script does, until the job has ended; returns the
    /// last answer and every percentage seen.
    async fn finished(&mut self, job: &str) -> (Value, Vec<u64>) {
        let mut seen = Vec::new();
        for _ in 0..1200 {
            let r = self.get(&format!("{job}.json")).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            let v = r.json();
            seen.push(v["percent"].as_u64().unwrap());
            if v["finished"].as_bool().unwrap() {
                return (v, seen);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the job {job} did not end within a minute");
    }
}

fn id(first17: &str) -> String {
    format!("{first17}{}", id_check_char(first17).unwrap())
}

/// An ID number whose check character is wrong.
fn bad_id(first17: &str) -> String {
    let good = id_check_char(first17).unwrap();
    format!("{first17}{}", if good == '0' { '1' } else { '0' })
}

/// 东霞社区 (the `community` account's) and its first buildings.
fn community_buildings() -> (String, Vec<String>) {
    let region = "350503001001".to_owned();
    let buildings = jinlin_app::demo::demo_county()
        .regions
        .iter()
        .filter(|r| r.level == RegionLevel::Building && r.code.starts_with(&region))
        .take(2)
        .map(|r| r.code.clone())
        .collect();
    (region, buildings)
}

fn assert_moves_forward(seen: &[u64]) {
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "the bar went back: {seen:?}"
    );
}

#[tokio::test]
async fn a_list_is_checked_and_imported_in_the_background_with_its_progress() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let (region, b) = community_buildings();
        let mut community = h.signed_in("community").await;
        let csv = format!(
            "楼栋编码,门牌号,姓名,与户主关系,身份证号,手机号\n\
             {b0},301,进度测试甲,户主,{id1},13805951201\n\
             {b0},301,进度测试乙,配偶,{id2},\n\
             {b1},102,进度测试丙,户主,{id3},1380595\n",
            b0 = b[0],
            b1 = b[1],
            id1 = id("35050319790315261"),
            id2 = id("35050319810620282"),
            id3 = id("35050319920101303"),
        );

        // The check: the job ends at 100 %, and its page shows the result with the button.
        let job = community.upload(&region, "名单.csv", csv.as_bytes()).await;
        let (v, seen) = community.finished(&job).await;
        assert_moves_forward(&seen);
        assert_eq!(
            (
                v["stage"].as_str(),
                v["stage_name"].as_str(),
                v["percent"].as_u64()
            ),
            (Some("done"), Some("完成"), Some(100)),
            "{v}"
        );
        assert!(v["failed"].is_null(), "{v}");
        assert!(v["detail"].as_str().unwrap().contains("可导入 2 行"), "{v}");
        let page = community.get(&job).await;
        assert_eq!(page.status, StatusCode::OK);
        let page = page.body;
        assert!(page.contains("检查完成：名单.csv"), "{page}");
        assert!(page.contains("检查结果：名单.csv"), "{page}");
        assert!(page.contains("手机号"), "the bad phone of line 4 is listed");
        assert!(
            !page.contains("http-equiv=\"refresh\""),
            "an ended job does not refresh"
        );
        let token = hidden(&page, "token");
        assert_eq!(job, format!("/people/import/jobs/{token}"));

        // Someone else (even with the right to import) does not see the job.
        let mut street = h.signed_in("street").await;
        assert_eq!(
            street.get(&format!("{job}.json")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(street.get(&job).await.status, StatusCode::NOT_FOUND);
        let csrf = street.csrf("/people/import").await;
        let r = street
            .post_form(
                "/people/import/confirm",
                &[("_csrf", &csrf), ("token", &token)],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "another user cannot import it"
        );

        // The import: sent to the same job page, which ends at 100 % with the outcome.
        let csrf = community.csrf(&job).await;
        let r = community
            .post_form(
                "/people/import/confirm",
                &[("_csrf", &csrf), ("token", &token)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), job);
        let (v, seen) = community.finished(&job).await;
        assert_moves_forward(&seen);
        assert_eq!(
            (v["stage_name"].as_str(), v["percent"].as_u64()),
            (Some("完成"), Some(100)),
            "{v}"
        );
        assert!(v["detail"].as_str().unwrap().contains("导入 2 人"), "{v}");
        let page = community.get(&job).await.body;
        assert!(page.contains("导入完成：名单.csv"), "{page}");
        assert!(page.contains("导入 2 人"), "{page}");
        assert!(page.contains("有问题的 1 行未导入"), "{page}");
        let report = format!("/people/import/errors/{token}.xlsx");
        assert!(page.contains(&report), "the error report is offered");
        let xlsx = community.get(&report).await;
        assert_eq!(
            (xlsx.status, &xlsx.bytes[..2]),
            (StatusCode::OK, &b"PK"[..])
        );

        // Pressed again: no second import, the same job.
        let r = community
            .post_form(
                "/people/import/confirm",
                &[("_csrf", &csrf), ("token", &token)],
            )
            .await;
        assert_eq!(
            (r.status, r.location()),
            (StatusCode::SEE_OTHER, job.clone())
        );

        // The persons are on file at once, and only once.
        let found = community.get("/people?q=进度测试").await.body;
        assert_eq!(found.matches("进度测试甲").count(), 1, "{found}");
        assert_eq!(found.matches("进度测试乙").count(), 1, "{found}");
        assert!(
            !found.contains("进度测试丙"),
            "the bad row was not imported"
        );

        // The form lists the job of the last hour.
        let form = community.get("/people/import").await.body;
        assert!(
            form.contains(&job) && form.contains("导入 · 完成"),
            "{form}"
        );
    })
    .await;
}

#[tokio::test]
async fn jobs_that_import_no_one_say_why() {
    on_every_backend(|db| async move {
        let h = Harness::new(db).await;
        let (region, b) = community_buildings();
        let mut community = h.signed_in("community").await;

        // Only bad rows: the check offers no import; importing anyway imports no one.
        let csv = format!(
            "楼栋编码,门牌号,姓名,与户主关系,身份证号\n\
             {b0},1,全错甲,户主,{bad}\n\
             35050399999999999999,2,全错乙,户主,\n",
            b0 = b[0],
            bad = bad_id("35050319900101123"),
        );
        let job = community.upload(&region, "全错.csv", csv.as_bytes()).await;
        let (v, _) = community.finished(&job).await;
        assert_eq!(v["stage_name"], "完成", "{v}");
        let page = community.get(&job).await.body;
        assert!(page.contains("没有可以导入的行"), "{page}");
        assert!(!page.contains("action=\"/people/import/confirm\""));
        let token = job.trim_start_matches("/people/import/jobs/").to_owned();
        let csrf = community.csrf(&job).await;
        let r = community
            .post_form(
                "/people/import/confirm",
                &[("_csrf", &csrf), ("token", &token)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let (v, _) = community.finished(&job).await;
        assert_eq!(
            (v["percent"].as_u64(), v["stage_name"].as_str()),
            (Some(100), Some("完成"))
        );
        assert!(
            v["detail"].as_str().unwrap().contains("未导入任何人员"),
            "{v}"
        );
        let page = community.get(&job).await.body;
        assert!(page.contains("未导入任何人员"), "{page}");
        assert!(page.contains("alert-error"), "{page}");
        assert!(page.contains("校验位"), "the row's error is listed: {page}");
        assert!(
            !community
                .get("/people?q=全错")
                .await
                .body
                .contains("全错甲")
        );

        // A file that cannot be read: the job fails at 读取文件 and says why, in red.
        let job = community
            .upload(&region, "名单.xls", b"\xd0\xcf\x11\xe0 old excel")
            .await;
        let (v, _) = community.finished(&job).await;
        assert_eq!(
            (v["stage"].as_str(), v["stage_name"].as_str()),
            (Some("failed"), Some("失败")),
            "{v}"
        );
        let failed = v["failed"].as_str().unwrap();
        assert!(
            failed.contains("文件无法导入") && failed.contains(".xls"),
            "{failed}"
        );
        let page = community.get(&job).await;
        assert_eq!(page.status, StatusCode::OK);
        let page = page.body;
        assert!(page.contains("class=\"alert alert-error\""), "{page}");
        assert!(page.contains("另存为"), "{page}");
        assert!(
            page.contains("job-step is-failed"),
            "the step that failed is marked: {page}"
        );
        assert!(
            page.contains("action=\"/people/import/preview\""),
            "the form is there to try again"
        );

        // An import that fails (the upload's region no longer the user's: it was changed on
        // disk): the job ends as failed, in red, naming the step, and nothing is written.
        let csv = format!(
            "楼栋编码,门牌号,姓名,与户主关系\n{b0},5,半途甲,户主\n",
            b0 = b[0]
        );
        let job = community.upload(&region, "半途.csv", csv.as_bytes()).await;
        let (v, _) = community.finished(&job).await;
        assert_eq!(v["stage_name"], "完成", "{v}");
        let token = job.trim_start_matches("/people/import/jobs/").to_owned();
        let meta = h.dir.join("imports").join(format!("{token}.meta"));
        let text = std::fs::read_to_string(&meta).unwrap();
        std::fs::write(&meta, text.replace(&region, "350503002000")).unwrap();
        let csrf = community.csrf(&job).await;
        let r = community
            .post_form(
                "/people/import/confirm",
                &[("_csrf", &csrf), ("token", &token)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let (v, _) = community.finished(&job).await;
        assert_eq!(v["stage"], "failed", "{v}");
        let failed = v["failed"].as_str().unwrap();
        assert!(
            failed.starts_with("导入失败，没有写入任何人员：在“读取文件”这一步出错"),
            "{failed}"
        );
        let page = community.get(&job).await.body;
        assert!(page.contains("导入失败：半途.csv"), "{page}");
        assert!(page.contains("整体撤销"), "{page}");
        assert!(
            !community
                .get("/people?q=半途")
                .await
                .body
                .contains("半途甲")
        );

        // A forgotten or made-up job.
        let r = community
            .get("/people/import/jobs/abcdefghijklmnopqrstuvwxyz.json")
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.json()["error"]["code"], "not_found");
    })
    .await;
}
