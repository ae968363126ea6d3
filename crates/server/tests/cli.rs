//! The `jinlin` binary as an operator uses it: accounts and tokens from the command line,
//! backup and restore, grid import errors, and `serve` that creates no default accounts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use jinlin_store::Backend;
use jinlin_store::testing::{TestDb, backends, unique_suffix};

const BIN: &str = env!("CARGO_BIN_EXE_jinlin");

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jinlin_cli_{}", unique_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `jinlin` against `url` with `stdin` piped in.
fn jinlin(url: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(["--database-url", url])
        .args(args)
        .env_remove("JINLIN_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn seeded(backend: Backend) -> TestDb {
    let db = TestDb::create(backend).await.unwrap();
    jinlin_app::demo::seed(&db.store, 1_767_225_600_000)
        .await
        .unwrap();
    db
}

#[tokio::test]
async fn accounts_and_tokens_from_the_command_line() {
    for backend in backends() {
        let db = seeded(backend).await;
        let url = db.url.clone();
        let o = jinlin(
            &url,
            &[
                "user",
                "create",
                "--role",
                "grid_worker",
                "--region",
                "350503001001001",
                "--name",
                "wgy_cli",
                "--display-name",
                "李网格",
            ],
            "Secret2026\n",
        );
        assert!(o.status.success(), "{}", text(&o));
        let user = db.store.user_by_username("wgy_cli").await.unwrap().unwrap();
        assert_eq!(user.display_name, "李网格");

        let o = jinlin(
            &url,
            &[
                "user",
                "create",
                "--role",
                "leader",
                "--region",
                "350503000000",
                "--name",
                "boss",
            ],
            "",
        );
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains("初始密码"),
            "a generated password is printed once: {}",
            text(&o)
        );

        let dup = jinlin(
            &url,
            &[
                "user",
                "create",
                "--role",
                "leader",
                "--region",
                "350503000000",
                "--name",
                "boss",
            ],
            "",
        );
        assert!(!dup.status.success());
        assert!(text(&dup).contains("用户名 已存在"), "{}", text(&dup));
        let role = jinlin(
            &url,
            &[
                "user",
                "create",
                "--role",
                "mayor",
                "--region",
                "350503000000",
                "--name",
                "xx_one",
            ],
            "",
        );
        assert!(
            text(&role).contains("未知角色 mayor") && text(&role).contains("grid_worker"),
            "{}",
            text(&role)
        );
        let region = jinlin(
            &url,
            &[
                "user", "create", "--role", "leader", "--region", "999", "--name", "xx_two",
            ],
            "",
        );
        assert!(
            text(&region).contains("所属区划 999 不存在"),
            "{}",
            text(&region)
        );
        let weak = jinlin(
            &url,
            &[
                "user",
                "create",
                "--role",
                "leader",
                "--region",
                "350503000000",
                "--name",
                "xx_three",
            ],
            "short\n",
        );
        assert!(text(&weak).contains("密码须为 8–128 位"), "{}", text(&weak));

        let o = jinlin(&url, &["token", "create", "--user", "wgy_cli"], "");
        assert!(o.status.success(), "{}", text(&o));
        let token = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        assert!(token.starts_with("jl_") && token.len() > 40, "{token}");
        let app = jinlin_app::App::new(db.store.clone(), jinlin_app::Settings::default())
            .await
            .unwrap();
        let meta = jinlin_app::accounts::RequestMeta::default();
        assert!(
            app.login("wgy_cli", "Secret2026", &meta).await.is_ok(),
            "the piped password was set"
        );
        let actor = app.api_actor(&token).await.unwrap().expect("token works");
        assert_eq!(actor.username, "wgy_cli");
        let none = jinlin(&url, &["token", "create", "--user", "ghost"], "");
        assert!(text(&none).contains("用户 ghost 不存在"), "{}", text(&none));
        db.remove().await.unwrap();
    }
}

#[tokio::test]
async fn backup_and_restore_round_trip_on_sqlite() {
    let dir = temp_dir();
    let url = format!("sqlite://{}", dir.join("jinlin.db").display());
    let store = jinlin_store::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    jinlin_app::demo::seed(&store, 1_767_225_600_000)
        .await
        .unwrap();
    store.close().await;
    let data = dir.to_str().unwrap();
    let backup = dir.join("backup.db");
    let o = Command::new(BIN)
        .args(["--data", data, "backup", "--to", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let again = Command::new(BIN)
        .args(["--data", data, "backup", "--to", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing backup is never overwritten"
    );

    // A change after the backup is undone by the restore.
    let o = Command::new(BIN)
        .args([
            "--data",
            data,
            "user",
            "create",
            "--role",
            "leader",
            "--region",
            "350503000000",
            "--name",
            "after_backup",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let not_a_db = dir.join("notes.txt");
    std::fs::write(&not_a_db, "hello").unwrap();
    let bad = Command::new(BIN)
        .args([
            "--data",
            data,
            "restore",
            "--from",
            not_a_db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success(), "{}", text(&bad));
    let o = Command::new(BIN)
        .args([
            "--data",
            data,
            "restore",
            "--from",
            backup.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let store = jinlin_store::Store::connect(&url).await.unwrap();
    assert!(store.user_by_username("admin").await.unwrap().is_some());
    assert!(
        store
            .user_by_username("after_backup")
            .await
            .unwrap()
            .is_none()
    );
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn postgres_backup_points_to_pg_dump() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let db = TestDb::create(Backend::Postgres).await.unwrap();
    let out = temp_dir().join("x.db");
    let o = jinlin(&db.url, &["backup", "--to", out.to_str().unwrap()], "");
    assert!(!o.status.success());
    assert!(text(&o).contains("pg_dump"), "{}", text(&o));
    db.remove().await.unwrap();
}

#[tokio::test]
async fn grid_import_from_the_command_line_reports_bad_features() {
    for backend in backends() {
        let db = seeded(backend).await;
        let dir = temp_dir();
        let file = dir.join("grids.geojson");
        std::fs::write(
            &file,
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"350503001001001"},"geometry":{"type":"Polygon","coordinates":[[[118.6,24.9],[118.61,24.9],[118.61,95.0],[118.6,24.9]]]}}]}"#,
        )
        .unwrap();
        let o = jinlin(&db.url, &["regions", "import", file.to_str().unwrap()], "");
        assert!(!o.status.success());
        assert!(
            text(&o).contains("第1个要素") && text(&o).contains("纬度"),
            "{}",
            text(&o)
        );
        let missing = jinlin(&db.url, &["regions", "import", "/nonexistent.geojson"], "");
        assert!(text(&missing).contains("无法读取"), "{}", text(&missing));
        std::fs::remove_dir_all(&dir).unwrap();
        db.remove().await.unwrap();
    }
}

/// `serve` on an empty database answers health checks and creates no account at all.
#[tokio::test]
async fn serve_creates_no_default_accounts() {
    let dir = temp_dir();
    let mut child = Command::new(BIN)
        .args([
            "--data",
            dir.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("JINLIN_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.trim_end_matches('/').to_owned();
        }
    };
    let health = http_get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let login = http_get(&addr, "/");
    assert!(
        login.starts_with("HTTP/1.1 303"),
        "signed-out visitors go to the login page: {login}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let store =
        jinlin_store::Store::connect(&format!("sqlite://{}", dir.join("jinlin.db").display()))
            .await
            .unwrap();
    assert!(store.user_by_username("admin").await.unwrap().is_none());
    assert!(
        store
            .list_users("/", None, 1, 10)
            .await
            .unwrap()
            .0
            .is_empty()
    );
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
