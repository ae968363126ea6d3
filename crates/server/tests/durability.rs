//! A case the API acknowledged (201 with its number) is never lost: `jinlin serve` takes a
//! burst of reports from concurrent clients, is killed with SIGKILL part-way through, and after
//! a restart on the same database every acknowledged case is there with its description and
//! its report row on the timeline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jinlin_app::{Actor, App, Settings};
use jinlin_domain::categories::CategoryKind;
use jinlin_store::testing::{TestDb, backends, unique_suffix};
use jinlin_store::{Backend, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_jinlin");
/// The grid the reports come from, and the demo grid worker who files them.
const GRID: &str = "350503001001001";
const USER: &str = "grid";
/// Reports in the burst, and the clients sending them at once.
const REQUESTS: usize = 400;
const CLIENTS: usize = 16;
/// The server is killed once this many reports have been acknowledged.
const KILL_AFTER: usize = 100;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const START_TIMEOUT: Duration = Duration::from_secs(20);
const BURST_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `jinlin serve`, killed (SIGKILL) and reaped when dropped, whatever happens.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server on a port of the system's choosing and waits until `/healthz` answers.
    async fn start(url: &str, data: &Path, log: &Path) -> Server {
        let log = File::options().create(true).append(true).open(log).unwrap();
        let mut child = Command::new(BIN)
            .args(["--database-url", url, "--data", data.to_str().unwrap()])
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("JINLIN_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the address line, then keeps draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("http://").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.trim_end_matches('/').to_owned());
                }
            }
        });
        let mut server = Server {
            child,
            addr: String::new(),
        };
        server.addr = tokio::task::spawn_blocking(move || rx.recv_timeout(START_TIMEOUT))
            .await
            .unwrap()
            .expect("the server printed its address in time");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match request(&server.addr, "GET", "/healthz", None, None).await {
                Ok((200, _)) => break,
                other => assert!(
                    Instant::now() < deadline,
                    "the server did not become healthy: {other:?}"
                ),
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited while starting: {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// SIGKILL: no graceful shutdown, no chance to flush anything.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// One HTTP/1.1 request on its own connection (`Connection: close`): the status and the body.
async fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    json: Option<&str>,
) -> Result<(u16, String), String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        let body = json.unwrap_or("");
        if json.is_some() {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        head.push_str(body);
        s.write_all(head.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let raw = String::from_utf8(raw).map_err(|e| format!("not UTF-8: {e}"))?;
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("incomplete response: {raw:?}"))?;
        let status = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("bad status line: {head:?}"))?;
        let chunked = head.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("transfer-encoding:") && l.contains("chunked")
        });
        let body = if chunked {
            dechunk(body)?
        } else {
            body.to_owned()
        };
        Ok((status, body))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| "timed out".to_owned())?
}

fn dechunk(mut rest: &str) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").ok_or("truncated chunk")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("chunk size: {e}"))?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(after.get(..size).ok_or("truncated chunk")?);
        rest = after.get(size + 2..).ok_or("truncated chunk")?;
    }
}

fn description(n: usize) -> String {
    format!("楼道堆放杂物，压力测试 #{n}")
}

/// What the burst saw.
#[derive(Default)]
struct Outcome {
    /// `(n, case id)` of every 201.
    acked: Vec<(usize, i64)>,
    /// Requests that got no answer (refused, reset, cut off, timed out).
    failed: usize,
    /// Answers other than 201 and failed requests before the kill (should be none); status 0
    /// for no answer.
    rejected: Vec<(usize, u16, String)>,
}

/// The database under test: a SQLite file in a data directory, or a PostgreSQL test database.
struct Db {
    url: String,
    data: PathBuf,
    pg: Option<TestDb>,
}

impl Db {
    async fn create(backend: Backend) -> Db {
        let data = std::env::temp_dir().join(format!("jinlin_durability_{}", unique_suffix()));
        std::fs::create_dir_all(&data).unwrap();
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", data.join("jinlin.db").display());
                let store = Store::connect(&url).await.unwrap();
                store.migrate().await.unwrap();
                store.close().await;
                Db {
                    url,
                    data,
                    pg: None,
                }
            }
            Backend::Postgres => {
                let db = TestDb::create(Backend::Postgres).await.unwrap();
                Db {
                    url: db.url.clone(),
                    data,
                    pg: Some(db),
                }
            }
        }
    }

    async fn remove(self) {
        if let Some(db) = self.pg {
            db.remove().await.unwrap();
        }
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Seeds the demo county; returns an API token for the grid worker, a point inside their grid
/// and an event category code.
async fn prepare(url: &str) -> (String, (f64, f64), String) {
    let store = Store::connect(url).await.unwrap();
    jinlin_app::demo::seed(&store, 1_767_225_600_000)
        .await
        .unwrap();
    let (lng, lat) = store
        .region_by_code(GRID)
        .await
        .unwrap()
        .expect("the demo grid exists")
        .centroid
        .expect("the demo grid has a boundary");
    let category = jinlin_domain::categories::seed()
        .into_iter()
        .find(|c| {
            c.kind == CategoryKind::Event
                && c.parent.is_some()
                && jinlin_domain::questions::questions_for(&c.code).is_empty()
        })
        .expect("an event category")
        .code;
    let app = App::new(store.clone(), Settings::default()).await.unwrap();
    let token = app
        .create_api_token(&Actor::console(), USER, "压力测试")
        .await
        .unwrap();
    store.close().await;
    (token, (lat, lng), category)
}

async fn burst(
    addr: &str,
    token: &str,
    point: (f64, f64),
    category: &str,
    server: &mut Server,
) -> (Outcome, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (next, acked_count, killed, outcome) = (
            next.clone(),
            acked_count.clone(),
            killed.clone(),
            outcome.clone(),
        );
        let (addr, token, category) = (addr.to_owned(), token.to_owned(), category.to_owned());
        clients.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= REQUESTS {
                    break;
                }
                let body = serde_json::json!({
                    "category": category,
                    "description": description(n),
                    "lat": point.0,
                    "lng": point.1,
                })
                .to_string();
                let answer =
                    request(&addr, "POST", "/api/v1/cases", Some(&token), Some(&body)).await;
                let mut o = outcome.lock().unwrap();
                match answer {
                    Ok((201, body)) => {
                        let v: serde_json::Value = serde_json::from_str(&body)
                            .unwrap_or_else(|e| panic!("201 without JSON ({e}): {body}"));
                        let id = v["id"].as_i64().unwrap_or_else(|| panic!("no id: {body}"));
                        assert_eq!(v["description"], description(n), "{body}");
                        o.acked.push((n, id));
                        acked_count.fetch_add(1, Ordering::SeqCst);
                    }
                    // Before the kill every report must be answered with 201.
                    Ok((status, body)) if !killed.load(Ordering::SeqCst) => {
                        o.rejected.push((n, status, body));
                    }
                    Err(e) if !killed.load(Ordering::SeqCst) => o.rejected.push((n, 0, e)),
                    // After the kill anything but a 201 counts as unanswered.
                    Ok(_) | Err(_) => o.failed += 1,
                }
            }
        }));
    }
    // Kill the server once enough reports are acknowledged, while the others are in flight.
    let deadline = Instant::now() + BURST_TIMEOUT;
    while acked_count.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "only {} reports acknowledged in {BURST_TIMEOUT:?}; rejected: {:?}",
            acked_count.load(Ordering::SeqCst),
            outcome
                .lock()
                .unwrap()
                .rejected
                .iter()
                .take(3)
                .collect::<Vec<_>>()
        );
        // A client that stops early has panicked or run out of reports: the burst is over.
        if let Some(i) = clients.iter().position(|c| c.is_finished()) {
            clients.swap_remove(i).await.unwrap();
            panic!(
                "the burst ended before {KILL_AFTER} acknowledgements; rejected: {:?}",
                outcome
                    .lock()
                    .unwrap()
                    .rejected
                    .iter()
                    .take(3)
                    .collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    killed.store(true, Ordering::SeqCst);
    server.kill();
    let started_at_kill = next.load(Ordering::SeqCst).min(REQUESTS);
    for c in clients {
        tokio::time::timeout(BURST_TIMEOUT, c)
            .await
            .expect("the clients finished after the kill")
            .unwrap();
    }
    let outcome = Arc::try_unwrap(outcome)
        .ok()
        .expect("every client has finished")
        .into_inner()
        .unwrap();
    (outcome, started_at_kill)
}

async fn acknowledged_cases_survive_a_kill(backend: Backend, url: String, data: PathBuf) {
    let (token, point, category) = prepare(&url).await;
    let log = data.join("serve.log");

    let mut server = Server::start(&url, &data, &log).await;
    let addr = server.addr.clone();
    let (outcome, started_at_kill) = burst(&addr, &token, point, &category, &mut server).await;
    drop(server);
    assert!(
        outcome.rejected.is_empty(),
        "reports refused before the kill: {:?}",
        outcome.rejected.iter().take(3).collect::<Vec<_>>()
    );
    let acked = outcome.acked.len();
    assert!(acked >= KILL_AFTER, "{acked} acknowledged");
    assert!(
        outcome.failed > 0 && acked < REQUESTS && started_at_kill < REQUESTS,
        "the kill did not land mid-burst: {acked} acknowledged, {} failed, {started_at_kill} \
         started at the kill",
        outcome.failed
    );

    // Restart on the same database: every acknowledged case is there, as reported.
    let server = Server::start(&url, &data, &log).await;
    let mut lost = Vec::new();
    for (n, id) in &outcome.acked {
        match request(
            &server.addr,
            "GET",
            &format!("/api/v1/cases/{id}"),
            Some(&token),
            None,
        )
        .await
        {
            Ok((200, body)) => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["id"].as_i64(), Some(*id), "{body}");
                assert_eq!(v["description"], description(*n), "case #{id}: {body}");
            }
            other => lost.push((*n, *id, other)),
        }
    }
    drop(server);
    let ids: std::collections::HashSet<i64> = outcome.acked.iter().map(|a| a.1).collect();
    assert_eq!(ids.len(), acked, "every acknowledgement names its own case");

    // The database is consistent: every stored case has its report on the timeline.
    let store = Store::connect(&url).await.unwrap();
    let mut stored = Vec::new();
    for page in 1.. {
        let (items, total) = store
            .list_cases(&jinlin_store::cases::CaseFilter {
                scope_path: "/".into(),
                page,
                page_size: 500,
                ..Default::default()
            })
            .await
            .unwrap();
        let empty = items.is_empty();
        stored.extend(items.into_iter().map(|c| c.id));
        if empty || i64::try_from(stored.len()).unwrap() >= total {
            break;
        }
    }
    for id in &stored {
        let events = store.case_events(*id).await.unwrap();
        assert!(
            events.iter().any(|e| e.action == "report"),
            "case #{id} has no report row: {:?}",
            events.iter().map(|e| &e.action).collect::<Vec<_>>()
        );
    }
    let stored: std::collections::HashSet<i64> = stored.into_iter().collect();
    let missing: Vec<_> = ids.difference(&stored).collect();
    store.close().await;
    eprintln!(
        "{}: {acked} acknowledged, {} lost, {} unanswered, {started_at_kill} sent before the \
         kill, {} cases stored",
        backend.as_str(),
        lost.len() + missing.len(),
        outcome.failed,
        stored.len()
    );
    assert!(
        lost.is_empty() && missing.is_empty(),
        "acknowledged but lost on {}: {:?} (not stored: {missing:?}); server log {}",
        backend.as_str(),
        lost.iter().take(5).collect::<Vec<_>>(),
        log.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_reports_survive_sigkill() {
    for backend in backends() {
        let db = Db::create(backend).await;
        let outcome = tokio::spawn(acknowledged_cases_survive_a_kill(
            backend,
            db.url.clone(),
            db.data.clone(),
        ))
        .await;
        // The database goes even when the test fails; the server log stays then.
        if outcome.is_ok() {
            db.remove().await;
        } else if let Some(pg) = db.pg {
            pg.remove().await.unwrap();
        }
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}
