//! Jinlin's persistence: one [`Store`] over sqlx `Any`, SQLite by default, PostgreSQL when
//! configured.
//!
//! House rules (DESIGN §3, reference/crates-and-security.md A.2):
//! - one SQL text per query, valid on both databases, with `$1 …` placeholders (dynamic SQL is
//!   built with the crate's own `$N` builder, never `QueryBuilder<Any>`, which emits `?`);
//! - times are BIGINT epoch milliseconds, flags INTEGER 0/1 read as `i64`, JSON/GeoJSON TEXT,
//!   aggregates other than `COUNT(*)` are CAST to BIGINT / DOUBLE PRECISION;
//! - every administrative change writes its audit row in the same transaction;
//! - jurisdiction is enforced in SQL: list queries take the caller's scope path;
//! - on SQLite, writes go through a single-connection writer pool and start with
//!   `BEGIN IMMEDIATE`; reads use a small read-only pool. PostgreSQL uses one pool.
//!
//! Feature modules carry the same names as in the other crates: [`accounts`], [`audit`],
//! [`cases`], [`open311`], [`people`], [`regions`], [`stats`].

pub mod accounts;
pub mod audit;
pub mod cases;
mod error;
pub mod open311;
pub mod people;
pub mod regions;
mod sql;
pub mod stats;
pub mod testing;

use std::path::Path;
use std::sync::Arc;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, AssertSqlSafe, Connection, Row, Transaction};

pub use error::StoreError;

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The database handle. Cloning is cheap (the pools are reference-counted).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// SQLite: exactly one connection, so writers queue here instead of failing with BUSY.
    /// PostgreSQL: the one pool.
    writer: AnyPool,
    /// SQLite: read-only connections (`query_only`). PostgreSQL: the same pool as `writer`.
    reader: AnyPool,
    /// SQLite: the connection URL, for the extra connection a backup uses.
    sqlite_url: Option<Arc<str>>,
}

/// The page cache of every SQLite connection: 32 MiB instead of 2.
pub(crate) const SQLITE_CACHE_PRAGMA: &str = "PRAGMA cache_size = -32768";

/// Connections in the SQLite read pool.
const SQLITE_READERS: u32 = 4;
/// Connections in the PostgreSQL pool.
const POSTGRES_POOL: u32 = 10;

/// One embedded migration: a version, a name and the SQL for each backend.
struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// The schema version the newest migration brings (the highest version).
pub const SCHEMA_VERSION: i64 = highest_version(MIGRATIONS);

const fn highest_version(migrations: &[Migration]) -> i64 {
    let mut max = 0;
    let mut i = 0;
    while i < migrations.len() {
        if migrations[i].version > max {
            max = migrations[i].version;
        }
        i += 1;
    }
    max
}

/// The versions of every migration this program knows, ascending. Versions need not be
/// contiguous: a feature built alongside another may take a later number first, and the
/// missing one is applied whenever it arrives (each migration is looked up by its own version,
/// not by "everything above the highest applied").
pub fn migration_versions() -> Vec<i64> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

/// All migrations in ascending version order (a unit test checks it). Never edit one that has
/// shipped. Gaps are allowed: a version reserved for a feature still being built is inserted in
/// its place when it is merged, and databases that already have the later ones apply it then.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "cases",
        sqlite: include_str!("../migrations/sqlite/0002_cases.sql"),
        postgres: include_str!("../migrations/postgres/0002_cases.sql"),
    },
    Migration {
        version: 3,
        name: "stats",
        sqlite: include_str!("../migrations/sqlite/0003_stats.sql"),
        postgres: include_str!("../migrations/postgres/0003_stats.sql"),
    },
    Migration {
        version: ROLLUP_VERSION,
        name: "rollup",
        sqlite: include_str!("../migrations/sqlite/0004_rollup.sql"),
        postgres: include_str!("../migrations/postgres/0004_rollup.sql"),
    },
    Migration {
        version: 5,
        name: "worklists",
        sqlite: include_str!("../migrations/sqlite/0005_worklists.sql"),
        postgres: include_str!("../migrations/postgres/0005_worklists.sql"),
    },
    Migration {
        version: 6,
        name: "open311",
        sqlite: include_str!("../migrations/sqlite/0006_open311.sql"),
        postgres: include_str!("../migrations/postgres/0006_open311.sql"),
    },
    Migration {
        version: 7,
        name: "people",
        sqlite: include_str!("../migrations/sqlite/0007_people.sql"),
        postgres: include_str!("../migrations/postgres/0007_people.sql"),
    },
    Migration {
        version: 8,
        name: "people_search",
        sqlite: include_str!("../migrations/sqlite/0008_people_search.sql"),
        postgres: include_str!("../migrations/postgres/0008_people_search.sql"),
    },
    Migration {
        version: 9,
        name: "people_masks",
        sqlite: include_str!("../migrations/sqlite/0009_people_masks.sql"),
        postgres: include_str!("../migrations/postgres/0009_people_masks.sql"),
    },
    Migration {
        version: 10,
        name: "people_phone_tail",
        sqlite: include_str!("../migrations/sqlite/0010_people_phone_tail.sql"),
        postgres: include_str!("../migrations/postgres/0010_people_phone_tail.sql"),
    },
];

/// The migration that creates the statistics rollups; applying it fills them from the cases.
const ROLLUP_VERSION: i64 = 4;

/// Splits a migration file into statements.
///
/// Rule: a statement ends at a line that starts in column 0 (no indentation), is not a `--`
/// comment, and ends with `;`. Statements whose bodies contain `;` (SQLite trigger bodies,
/// PL/pgSQL functions) indent those inner lines, so only the final `END;` / `$$;` line ends
/// them. Chunks holding only comments and blank lines are dropped.
fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        current.push_str(line);
        current.push('\n');
        let trimmed = line.trim_end();
        let ends = !line.starts_with(char::is_whitespace)
            && !trimmed.starts_with("--")
            && trimmed.ends_with(';');
        if ends {
            push_statement(&mut out, std::mem::take(&mut current));
        }
    }
    push_statement(&mut out, current);
    out
}

fn push_statement(out: &mut Vec<String>, chunk: String) {
    let has_code = chunk.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with("--")
    });
    if has_code {
        out.push(chunk.trim().to_owned());
    }
}

/// Sets up every new SQLite connection: WAL, durable commits, a busy timeout, foreign keys,
/// and for the read pool `query_only`, so a write sent to a reader fails loudly.
async fn sqlite_pragmas(conn: &mut AnyConnection, read_only: bool) -> Result<(), sqlx::Error> {
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut *conn)
        .await?;
    sqlx::query("PRAGMA synchronous = FULL")
        .execute(&mut *conn)
        .await?;
    sqlx::query("PRAGMA busy_timeout = 5000")
        .execute(&mut *conn)
        .await?;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await?;
    // 32 MiB of pages per connection instead of 2: worklists and case pages at a million
    // cases read far more than the default keeps.
    sqlx::query(SQLITE_CACHE_PRAGMA).execute(&mut *conn).await?;
    sqlx::query("PRAGMA secure_delete = ON")
        .execute(&mut *conn)
        .await?;
    if read_only {
        sqlx::query("PRAGMA query_only = ON")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The file path of a `sqlite://PATH?…` URL.
fn sqlite_file(url: &str) -> &str {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    rest.split('?').next().unwrap_or_default()
}

/// `sqlite://PATH` with `mode=rwc` added (create the file if missing) unless a mode is given.
fn sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let file = sqlite_file(url);
    if file.is_empty() || file.contains(":memory:") || rest.contains("mode=memory") {
        return Err(StoreError::invalid(
            "SQLite 数据库须是文件路径（如 sqlite://jinlin-data/jinlin.db），不支持内存数据库",
        ));
    }
    Ok(if rest.contains("mode=") {
        url.to_owned()
    } else if rest.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

impl Store {
    /// Opens the database named by `url`: `sqlite://PATH` (the file is created if missing) or
    /// `postgres://…` / `postgresql://…`. Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        if url.starts_with("sqlite:") {
            let url = sqlite_url(url)?;
            // A new database may live in a directory that does not exist yet.
            if let Some(dir) = Path::new(sqlite_file(&url)).parent()
                && !dir.as_os_str().is_empty()
            {
                tokio::fs::create_dir_all(dir).await.map_err(|e| {
                    StoreError::invalid(format!("无法创建数据库目录 {}：{e}", dir.display()))
                })?;
            }
            let writer = AnyPoolOptions::new()
                .max_connections(1)
                .after_connect(|conn, _meta| Box::pin(sqlite_pragmas(conn, false)))
                .connect(&url)
                .await?;
            // The writer has created the file and switched it to WAL; readers may open now.
            let reader = AnyPoolOptions::new()
                .max_connections(SQLITE_READERS)
                .after_connect(|conn, _meta| Box::pin(sqlite_pragmas(conn, true)))
                .connect(&url)
                .await?;
            Ok(Store {
                backend: Backend::Sqlite,
                writer,
                reader,
                sqlite_url: Some(url.into()),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(POSTGRES_POOL)
                .connect(url)
                .await?;
            Ok(Store {
                backend: Backend::Postgres,
                writer: pool.clone(),
                reader: pool,
                sqlite_url: None,
            })
        } else {
            Err(StoreError::invalid(
                "数据库地址须以 sqlite:// 或 postgres:// 开头",
            ))
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Closes every connection (graceful shutdown; tests before deleting the database).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// The pool for reads.
    pub(crate) fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// The pool for single-statement writes outside a transaction.
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (take the write lock up front,
    /// no BUSY on upgrade), a plain `BEGIN` on PostgreSQL.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(self.writer.begin_with(self.begin_statement()).await?)
    }

    /// The statement [`Store::begin_write`] begins with, for a connection already in hand.
    pub(crate) fn begin_statement(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// Applies every pending migration, each in its own transaction together with its row in
    /// `schema_migrations`. Safe to run again (and, on PostgreSQL, from several processes at
    /// once: the migration table is locked while a migration is applied).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (\
             version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(self.writer())
        .await?;
        for m in MIGRATIONS {
            let mut tx = self.begin_write().await?;
            if self.backend == Backend::Postgres {
                sqlx::query("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
            }
            let applied: i64 =
                sqlx::query("SELECT COUNT(*) AS n FROM schema_migrations WHERE version = $1")
                    .bind(m.version)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
            if applied > 0 {
                tx.rollback().await?;
                continue;
            }
            let text = match self.backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
            };
            for (index, statement) in split_statements(text).into_iter().enumerate() {
                sqlx::raw_sql(AssertSqlSafe(statement))
                    .execute(&mut *tx)
                    .await
                    .map_err(|source| StoreError::Migration {
                        version: m.version,
                        index: index + 1,
                        source,
                    })?;
            }
            if m.version == ROLLUP_VERSION {
                stats::rebuild_rollup(&mut tx, self.backend).await?;
            }
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(
                version = m.version,
                name = m.name,
                backend = self.backend.as_str(),
                "migration applied"
            );
        }
        let version = self.schema_version().await?;
        let known = SCHEMA_VERSION;
        if version > known {
            tracing::warn!(
                database = version,
                program = known,
                "the database schema is newer than this program"
            );
        }
        Ok(())
    }

    /// The highest applied migration version (0 for an empty database). With gaps in the
    /// numbering this does not prove every lower version is applied; [`Store::migrate`] checks
    /// each known version by itself.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) AS v FROM schema_migrations",
        )
        .fetch_one(self.reader())
        .await?;
        Ok(row.try_get("v")?)
    }

    /// Writes a consistent copy of a live SQLite database to `path` (`VACUUM INTO`); refuses to
    /// overwrite an existing file. The copy is read on a connection of its own, so in WAL mode
    /// writers are not held up meanwhile. PostgreSQL databases are backed up with `pg_dump`.
    pub async fn backup_to(&self, path: &Path) -> Result<(), StoreError> {
        let Some(url) = self.sqlite_url.as_deref() else {
            return Err(StoreError::Unsupported(
                "PostgreSQL 数据库请用 pg_dump 备份，例如：pg_dump -Fc -f jinlin.dump \"$DATABASE_URL\"；\
                 恢复用 pg_restore"
                    .into(),
            ));
        };
        if path.exists() {
            return Err(StoreError::invalid(format!(
                "备份文件 {} 已存在，不会覆盖；请换一个文件名",
                path.display()
            )));
        }
        let target = path.to_str().ok_or_else(|| {
            StoreError::invalid(format!("备份路径 {} 含有无法识别的字符", path.display()))
        })?;
        let mut conn = AnyConnection::connect(url).await?;
        sqlite_pragmas(&mut conn, false).await?;
        let result = sqlx::query("VACUUM INTO $1")
            .bind(target)
            .persistent(false)
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
        if let Err(e) = result {
            // VACUUM INTO may leave an empty file behind when it fails early.
            if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
        Ok(())
    }
}

/// Milliseconds since the Unix epoch (only for `schema_migrations.applied_at`; everything else
/// takes `now` from the caller so tests can move time).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_unindented_semicolons() {
        let sql = "-- header; with a semicolon\nCREATE TABLE a (\n    x BIGINT\n);\n\
                   CREATE INDEX a_x ON a (x);\n\
                   CREATE TRIGGER t BEFORE UPDATE ON a\nBEGIN\n    SELECT RAISE(ABORT, 'no');\nEND;\n\
                   -- trailing comment\n";
        let parts = split_statements(sql);
        assert_eq!(parts.len(), 3, "{parts:#?}");
        assert!(parts[0].contains("CREATE TABLE a"));
        assert_eq!(parts[1], "CREATE INDEX a_x ON a (x);");
        assert!(parts[2].starts_with("CREATE TRIGGER") && parts[2].ends_with("END;"));
    }

    #[test]
    fn both_migration_sets_split_cleanly() {
        for m in MIGRATIONS {
            let lite = split_statements(m.sqlite);
            let pg = split_statements(m.postgres);
            assert!(lite.iter().all(|s| s.ends_with(';')), "{lite:#?}");
            assert!(pg.iter().all(|s| s.ends_with(';')), "{pg:#?}");
            let tables = |v: &[String]| v.iter().filter(|s| s.starts_with("CREATE TABLE")).count();
            assert_eq!(tables(&lite), tables(&pg));
        }
    }

    #[test]
    fn migration_versions_ascend_without_repeats() {
        let versions = migration_versions();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        assert_eq!(versions.last().copied(), Some(SCHEMA_VERSION));
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        assert_eq!(
            sqlite_url("sqlite://a.db").ok().as_deref(),
            Some("sqlite://a.db?mode=rwc")
        );
        assert_eq!(
            sqlite_url("sqlite://a.db?cache=private").ok().as_deref(),
            Some("sqlite://a.db?cache=private&mode=rwc")
        );
        assert_eq!(
            sqlite_url("sqlite://a.db?mode=ro").ok().as_deref(),
            Some("sqlite://a.db?mode=ro")
        );
        assert!(sqlite_url("sqlite::memory:").is_err());
    }
}
