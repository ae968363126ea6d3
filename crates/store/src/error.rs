//! The store's error type. Messages meant for people are Chinese; database details stay in
//! [`StoreError::Db`] and are logged by the layers above, never shown.

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row the operation is about does not exist.
    #[error("记录不存在")]
    NotFound,
    /// A unique value is taken; `field` names it (`username`, `code`, `post`, …).
    #[error("{field} 已存在")]
    Conflict { field: String },
    /// A rule that admits one row only is broken (a person in two households at once, a second
    /// head of household, an ID number registered twice). `message` (Chinese) names the record
    /// it clashes with; `field` names the input that caused it (`person`, `relation`,
    /// `id_number`, …).
    #[error("{message}")]
    Clash { field: String, message: String },
    /// The input breaks a rule the store checks; the message is for people (Chinese).
    #[error("{0}")]
    Invalid(String),
    /// The operation is not available on this database backend.
    #[error("{0}")]
    Unsupported(String),
    /// A migration statement failed; the migration's transaction was rolled back.
    #[error("数据库迁移 {version} 的第 {index} 条语句失败：{source}")]
    Migration {
        version: i64,
        index: usize,
        source: sqlx::Error,
    },
    /// Any other database error.
    #[error("数据库错误：{0}")]
    Db(#[from] sqlx::Error),
}

impl StoreError {
    pub(crate) fn invalid(message: impl Into<String>) -> StoreError {
        StoreError::Invalid(message.into())
    }

    pub(crate) fn clash(field: &str, message: impl Into<String>) -> StoreError {
        StoreError::Clash {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn conflict(field: &str) -> StoreError {
        StoreError::Conflict {
            field: field.to_owned(),
        }
    }
}

/// Is this a unique-constraint violation (both backends)?
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// Is this a unique violation of the index `index` (PostgreSQL names it) on `columns`
/// (SQLite names the columns: "UNIQUE constraint failed: t.a, t.b")?
pub(crate) fn is_unique_violation_of(e: &sqlx::Error, index: &str, columns: &str) -> bool {
    match e {
        sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            d.constraint() == Some(index) || d.message().contains(index) || {
                let m = d.message();
                m.strip_prefix("UNIQUE constraint failed: ")
                    .is_some_and(|cols| cols.trim() == columns)
            }
        }
        _ => false,
    }
}

/// Is this a foreign-key violation (both backends)?
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

/// Maps a unique violation to `Conflict { field }`, anything else to `Db`.
pub(crate) fn unique_as_conflict(field: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::conflict(field)
        } else {
            StoreError::Db(e)
        }
    }
}
