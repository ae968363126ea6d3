//! Fresh, migrated databases for tests of Jinlin's crates: SQLite always (a temporary file), and
//! PostgreSQL too when `JINLIN_TEST_PG_URL` names a server (e.g.
//! `postgres://postgres@127.0.0.1:5432`). Each PostgreSQL test gets its own database
//! `jinlin_test_<pid>_<counter>_<nanos>`, dropped afterwards even when the test fails.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, AssertSqlSafe};

use crate::{Backend, Store, StoreError};

pub const PG_ENV: &str = "JINLIN_TEST_PG_URL";
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name part unique within this machine and run.
pub fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos
    )
}

/// A migrated test database and how to reach it without the store.
#[derive(Clone)]
pub struct TestDb {
    pub store: Store,
    pub url: String,
    pub backend: Backend,
    cleanup: Cleanup,
}

#[derive(Clone)]
enum Cleanup {
    File(PathBuf),
    Postgres { admin_url: String, name: String },
}

/// `postgres://user@host:port[/db][?query]` with the database replaced by `db`.
pub fn pg_url_with_db(base: &str, db: &str) -> String {
    let (main, query) = match base.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (base, None),
    };
    let after_scheme = main.find("://").map_or(0, |i| i + 3);
    let prefix = match main[after_scheme..].find('/') {
        Some(i) => &main[..after_scheme + i],
        None => main,
    };
    match query {
        Some(q) => format!("{prefix}/{db}?{q}"),
        None => format!("{prefix}/{db}"),
    }
}

/// A raw single-connection pool, for what the store must not offer (catalogue queries,
/// attempts to alter the audit log).
pub async fn raw_pool(url: &str) -> Result<AnyPool, StoreError> {
    sqlx::any::install_default_drivers();
    Ok(AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?)
}

/// The PostgreSQL server to test against, if any.
pub fn pg_base() -> Option<String> {
    std::env::var(PG_ENV).ok().filter(|s| !s.trim().is_empty())
}

/// The backends available to this test run.
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if pg_base().is_some() {
        backends.push(Backend::Postgres);
    }
    backends
}

impl TestDb {
    /// A fresh, migrated database on `backend`.
    pub async fn create(backend: Backend) -> Result<TestDb, StoreError> {
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("jinlin_test_{}.db", unique_suffix()));
                let url = format!("sqlite://{}", path.display());
                let store = Store::connect(&url).await?;
                store.migrate().await?;
                Ok(TestDb {
                    store,
                    url,
                    backend,
                    cleanup: Cleanup::File(path),
                })
            }
            Backend::Postgres => {
                let base = pg_base().ok_or_else(|| {
                    StoreError::Unsupported(format!("{PG_ENV} 未设置，无法创建 PostgreSQL 测试库"))
                })?;
                let name = format!("jinlin_test_{}", unique_suffix());
                let admin_url = pg_url_with_db(&base, "postgres");
                let admin = raw_pool(&admin_url).await?;
                sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&admin)
                    .await?;
                admin.close().await;
                let url = pg_url_with_db(&base, &name);
                let store = Store::connect(&url).await?;
                store.migrate().await?;
                Ok(TestDb {
                    store,
                    url,
                    backend,
                    cleanup: Cleanup::Postgres { admin_url, name },
                })
            }
        }
    }

    /// Closes the store and removes the database.
    pub async fn remove(self) -> Result<(), StoreError> {
        self.store.close().await;
        match self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(p));
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let admin = raw_pool(&admin_url).await?;
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&admin)
                .await?;
                admin.close().await;
            }
        }
        Ok(())
    }
}

/// Runs `test` on a fresh database of every available backend, one after the other. The
/// database is removed even when the test panics; the first panic is raised again at the end.
pub async fn on_every_backend<F, Fut>(test: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut failure = None;
    for backend in backends() {
        let db = match TestDb::create(backend).await {
            Ok(db) => db,
            Err(e) => panic!("cannot create a {} test database: {e}", backend.as_str()),
        };
        let outcome = tokio::spawn(test(db.clone())).await;
        if let Err(e) = db.remove().await {
            eprintln!(
                "could not remove the {} test database: {e}",
                backend.as_str()
            );
        }
        if let Err(e) = outcome {
            eprintln!("test failed on {}", backend.as_str());
            if failure.is_none() {
                failure = Some(e);
            }
        }
    }
    if let Some(e) = failure {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("test task failed: {e}");
    }
}
