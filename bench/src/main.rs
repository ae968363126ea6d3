//! `jinlin-bench`: fills a database with the demo county plus many cases (straight into the
//! store, not through HTTP), and drives a running `jinlin serve` with concurrent clients,
//! printing one JSON line of throughput and latency percentiles per run. `bench/run.sh` ties
//! the two together and writes the numbers down.

mod http;
mod people;
mod xlsx;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use jinlin_domain::cases::{Assignee, CaseState, Satisfaction, Stage};
use jinlin_domain::deadlines::Urgency;
use jinlin_domain::regions::RegionLevel;
use jinlin_store::Store;
use jinlin_store::cases::{CaseRow, NewEvent, SeededCase};

#[derive(Parser)]
#[command(
    name = "jinlin-bench",
    about = "Jinlin load benchmark and data generator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Seed the demo county (if empty) and add `--cases` cases spread over `--days` days.
    Fill {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 1_000_000)]
        cases: usize,
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// Residents to add through the people import (0: none).
        #[arg(long, default_value_t = 0)]
        people: usize,
        /// The server's field-key file (created if missing), for the blind indexes.
        #[arg(long)]
        key_file: Option<std::path::PathBuf>,
    },
    /// Write a people list of `--rows` residents as an xlsx in the import template's shape.
    PeopleXlsx {
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
    },
    /// Drive a running server: `intake` POSTs cases, `get` requests one path over and over.
    Load {
        /// e.g. 127.0.0.1:8080
        #[arg(long)]
        addr: String,
        #[arg(long)]
        scenario: String,
        /// Bearer token (API) …
        #[arg(long, default_value = "")]
        token: String,
        /// … or a demo login for pages (signs in once per client).
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value = "Jinlin@2026")]
        password: String,
        /// For `get`: the path to request.
        #[arg(long, default_value = "/api/v1/cases?view=tasks")]
        path: String,
        /// For `intake`: where the cases are (WGS-84) and their category code.
        #[arg(long, default_value_t = 0.0)]
        lat: f64,
        #[arg(long, default_value_t = 0.0)]
        lng: f64,
        #[arg(long, default_value = "")]
        category: String,
        /// For `people`: `name`, `initials`, `phone`, `id` (of residents 0..`--people`) or `browse`.
        #[arg(long, default_value = "name")]
        kind: String,
        #[arg(long, default_value_t = 1_000_000)]
        people: u64,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Requests a second from all clients together, each sent at its time whether or not
        /// the one before has come back late (latency counts from that time); 0: each client
        /// sends the next as soon as it has the answer.
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// A label for the JSON line (e.g. the database).
        #[arg(long, default_value = "")]
        label: String,
    },
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Fill {
            database_url,
            cases,
            days,
            people,
            key_file,
        } => fill(&database_url, cases, days, people, key_file).await,
        Command::PeopleXlsx { out, rows } => {
            let started = Instant::now();
            let bytes = xlsx::write(&out, rows)?;
            println!(
                "{{\"scenario\":\"people_xlsx\",\"rows\":{rows},\"bytes\":{bytes},\"seconds\":{:.1}}}",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Load {
            addr,
            scenario,
            token,
            user,
            password,
            path,
            lat,
            lng,
            category,
            kind,
            people,
            clients,
            seconds,
            rate,
            label,
        } => {
            let spec = Arc::new(LoadSpec {
                addr,
                scenario,
                token,
                user,
                password,
                path,
                lat,
                lng,
                category,
                kind,
                people,
            });
            load(spec, clients, rate, Duration::from_secs(seconds), &label).await
        }
    }
}

// ----- fill -----------------------------------------------------------------------------------

/// A small deterministic generator (xorshift), so two fills give the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Grid {
    id: i64,
    path: String,
    tenant: String,
    community: Option<i64>,
    centroid: Option<(f64, f64)>,
    worker: Option<i64>,
}

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

async fn fill(
    url: &str,
    count: usize,
    days: i64,
    residents: usize,
    key_file: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let store = Store::connect(url).await.context("connect")?;
    store.migrate().await?;
    let now = jinlin_app::system_clock()();
    let started = Instant::now();
    if jinlin_app::demo::seed(&store, now).await? {
        eprintln!(
            "demo county seeded in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    if residents > 0 {
        let key_file = key_file.context("--people needs --key-file (the server's)")?;
        people::fill_people(&store, &key_file, residents, now).await?;
    }
    if count == 0 {
        store.close().await;
        return Ok(());
    }
    let grids_raw = store.regions_at_level(RegionLevel::Grid, 5000).await?;
    let mut grids = Vec::new();
    for g in grids_raw {
        let staff = store.grid_staff(g.id).await?;
        let worker = staff.iter().find(|s| s.2 == "grid_worker").map(|s| s.0);
        let community = store
            .ancestors(&g)
            .await?
            .into_iter()
            .find(|r| r.level == RegionLevel::Community)
            .map(|r| r.id);
        grids.push(Grid {
            id: g.id,
            path: g.path,
            tenant: g.tenant,
            community,
            centroid: g.centroid,
            worker,
        });
    }
    let categories: Vec<_> = store
        .categories(false)
        .await?
        .into_iter()
        .filter(|c| c.parent_id.is_some())
        .collect();
    anyhow::ensure!(
        !grids.is_empty() && !categories.is_empty(),
        "no grids or categories"
    );
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let batch = 20_000;
    let mut done = 0;
    let fill_started = Instant::now();
    while done < count {
        let n = batch.min(count - done);
        let mut cases = Vec::with_capacity(n);
        for _ in 0..n {
            let g = &grids[rng.below(grids.len() as u64) as usize];
            let k = &categories[rng.below(categories.len() as u64) as usize];
            // Older days carry fewer cases; most cases are long closed.
            let age = (rng.below(days as u64 * DAY as u64) as i64).min(days * DAY - 1);
            let created = now - age;
            let open = age < 14 * DAY && rng.below(100) < 25 || rng.below(1000) < 3;
            let stage = if open {
                match rng.below(10) {
                    0 => Stage::Reported,
                    1 => Stage::Accepted,
                    2..=4 => Stage::Dispatched,
                    5..=7 => Stage::InProgress,
                    8 => Stage::Resolved,
                    _ => Stage::Verified,
                }
            } else if rng.below(100) < 4 {
                Stage::Rejected
            } else {
                Stage::Closed
            };
            let assignee = match stage {
                Stage::Reported | Stage::Accepted | Stage::Rejected => None,
                _ => g.worker.map(Assignee::GridWorker),
            };
            let responded =
                (stage != Stage::Reported).then(|| created + rng.below(90) as i64 * MINUTE);
            let resolved = matches!(stage, Stage::Resolved | Stage::Verified | Stage::Closed)
                .then(|| created + (1 + rng.below(5 * 24 * 60)) as i64 * MINUTE);
            let rating = (stage == Stage::Closed).then(|| match rng.below(100) {
                0..=5 => Satisfaction::Unsatisfied,
                6..=20 => Satisfaction::Basic,
                _ => Satisfaction::Satisfied,
            });
            let resolution_due = created + 5 * DAY;
            let state = CaseState {
                stage,
                assignee,
                rating,
                rework_count: u32::from(rng.below(100) < 4),
                ..CaseState::default()
            };
            let closed_at = stage
                .is_terminal()
                .then(|| resolved.unwrap_or(created) + DAY);
            let row = CaseRow {
                id: 0,
                tenant: g.tenant.clone(),
                category_id: k.id,
                category_name: String::new(),
                category_kind: k.kind.clone(),
                channel: ["resident", "patrol", "hotline", "api"][rng.below(4) as usize].into(),
                description: format!("{}：压测数据 #{}", k.name, done + cases.len()),
                address: None,
                lat: g.centroid.map(|c| c.1),
                lng: g.centroid.map(|c| c.0),
                region_id: g.id,
                region_name: String::new(),
                region_path: g.path.clone(),
                grid_id: Some(g.id),
                grid_name: None,
                community_id: g.community,
                reporter_id: None,
                reporter_name: Some("压测".into()),
                reporter_phone: None,
                state,
                urgency: Urgency::Normal,
                level: "grid".into(),
                handler_id: (stage == Stage::InProgress).then_some(g.worker).flatten(),
                handler_name: None,
                unit_id: None,
                unit_name: None,
                overdue: open && now > resolution_due,
                merged_into: None,
                response_due: created + 30 * MINUTE,
                responded_at: responded,
                onsite_due: None,
                onsite_at: None,
                resolution_due,
                resolved_at: resolved,
                closed_at,
                next_check_at: open.then_some(resolution_due),
                created_at: created,
                updated_at: closed_at.unwrap_or(created),
                version: 1,
            };
            let events = vec![(
                created,
                NewEvent {
                    actor_name: "压测".into(),
                    actor_role: "resident".into(),
                    action: "report".into(),
                    from_stage: None,
                    to_stage: stage.as_str().into(),
                    note: "压测数据".into(),
                    public: true,
                    ..NewEvent::default()
                },
            )];
            cases.push(SeededCase {
                row,
                events,
                whistles: Vec::new(),
                notifications: Vec::new(),
            });
        }
        store.seed_cases(&cases).await?;
        done += n;
        let rate = done as f64 / fill_started.elapsed().as_secs_f64();
        eprintln!("{done} cases ({rate:.0}/s)");
    }
    println!(
        "{{\"filled\":{count},\"seconds\":{:.1}}}",
        fill_started.elapsed().as_secs_f64()
    );
    store.close().await;
    Ok(())
}

// ----- load -----------------------------------------------------------------------------------

struct LoadSpec {
    addr: String,
    scenario: String,
    token: String,
    user: Option<String>,
    password: String,
    path: String,
    lat: f64,
    lng: f64,
    category: String,
    kind: String,
    people: u64,
}

/// Signs in through the login form like a browser and returns the session cookie.
async fn sign_in(conn: &mut http::Conn, user: &str, password: &str) -> anyhow::Result<String> {
    let form = conn.request("GET", "/login", &[], None).await?;
    let csrf = form
        .cookie("jinlin_csrf")
        .context("no CSRF cookie on the login page")?;
    let body = format!(
        "_csrf={csrf}&username={user}&password={}&next=%2F",
        password.replace('@', "%40")
    );
    let cookie = format!("jinlin_csrf={csrf}");
    let done = conn
        .request(
            "POST",
            "/login",
            &[
                ("Cookie", cookie.as_str()),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            Some(&body),
        )
        .await?;
    let session = done
        .cookie("jinlin_session")
        .context("login did not set a session (wrong user or password?)")?;
    Ok(format!("jinlin_session={session}"))
}

async fn load(
    spec: Arc<LoadSpec>,
    clients: usize,
    rate: f64,
    duration: Duration,
    label: &str,
) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let spec = spec.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = http::Conn::new(&spec.addr);
            let cookie = match &spec.user {
                Some(u) => Some(sign_in(&mut conn, u, &spec.password).await?),
                None => None,
            };
            let bearer = format!("Bearer {}", spec.token);
            let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
            match &cookie {
                Some(c) => headers.push(("Cookie", c.as_str())),
                None => headers.push(("Authorization", bearer.as_str())),
            }
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut n = 0u64;
            let mut pick = Rng(0x5DEE_CE66_D1CE_4E5B ^ (client as u64 + 1).wrapping_mul(0x9E37));
            // At a fixed rate the clients take turns: client c sends at c/rate, (c + clients)/rate …
            let every = (rate > 0.0).then(|| Duration::from_secs_f64(clients as f64 / rate));
            let mut due = started + every.map_or(Duration::ZERO, |e| e * client as u32 / clients as u32);
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let t0 = match every {
                    Some(e) => {
                        tokio::time::sleep_until(due.into()).await;
                        let t = due;
                        due += e;
                        t
                    }
                    None => Instant::now(),
                };
                let reply = if spec.scenario == "intake" {
                    let body = format!(
                        "{{\"category\":\"{}\",\"description\":\"压测上报 {client}-{n}：楼道灯不亮\",\"lat\":{},\"lng\":{}}}",
                        spec.category, spec.lat, spec.lng
                    );
                    conn.request("POST", "/api/v1/cases", &headers, Some(&body)).await
                } else if spec.scenario == "people" {
                    let q = people::query(&spec.kind, pick.below(spec.people));
                    let path = format!("/api/v1/people?q={}", people::encode(&q));
                    conn.request("GET", &path, &headers, None).await
                } else {
                    conn.request("GET", &spec.path, &headers, None).await
                };
                let ok = match &reply {
                    Ok(r) => (200..300).contains(&r.status),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t0.elapsed());
                } else {
                    errors += 1;
                    if errors == 1 {
                        match &reply {
                            Ok(r) => eprintln!(
                                "client {client}: HTTP {} {}",
                                r.status,
                                String::from_utf8_lossy(&r.body).chars().take(200).collect::<String>()
                            ),
                            Err(e) => eprintln!("client {client}: {e}"),
                        }
                    }
                }
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await??;
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i].as_secs_f64() * 1000.0
    };
    println!(
        "{}",
        serde_json::json!({
            "label": label,
            "scenario": spec.scenario,
            "path": match spec.scenario.as_str() {
                "intake" => "/api/v1/cases (POST)".to_owned(),
                "people" => format!("/api/v1/people?q=<{}>", spec.kind),
                _ => spec.path.clone(),
            },
            "people": (spec.scenario == "people").then_some(spec.people),
            "clients": clients,
            "rate": (rate > 0.0).then_some(rate),
            "seconds": (elapsed * 10.0).round() / 10.0,
            "ok": all.len(),
            "errors": errors,
            "per_second": ((all.len() as f64 / elapsed) * 10.0).round() / 10.0,
            "p50_ms": (pct(0.50) * 100.0).round() / 100.0,
            "p90_ms": (pct(0.90) * 100.0).round() / 100.0,
            "p99_ms": (pct(0.99) * 100.0).round() / 100.0,
            "max_ms": (pct(1.0) * 100.0).round() / 100.0,
        })
    );
    Ok(())
}
