//! A tiny SQL builder that numbers placeholders `$1, $2 …` (valid on SQLite and PostgreSQL).
//!
//! `sqlx::QueryBuilder<Any>` emits `?`, which PostgreSQL rejects, so dynamic statements (optional
//! filters, multi-row inserts, `IN` lists) are built here. Only fixed SQL fragments written in
//! this crate are pushed as text; every value goes through [`Sql::bind`].

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

use crate::{Backend, StoreError};

/// A bound value. `Any` supports only a few types; these are the ones the store uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Int(Option<i64>),
    Text(Option<String>),
    Float(Option<f64>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(Some(v))
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Val {
        Val::Int(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(Some(v.to_owned()))
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(Some(v))
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Val {
        Val::Text(v)
    }
}
impl From<Option<f64>> for Val {
    fn from(v: Option<f64>) -> Val {
        Val::Float(v)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Val>,
    /// Placeholders are a plain `?` (SQLite bulk statements; see [`Sql::bulk`]).
    anonymous: bool,
}

impl Sql {
    pub(crate) fn new(text: &'static str) -> Sql {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
            anonymous: false,
        }
    }

    /// A statement carrying thousands of values (a multi-row INSERT). On SQLite its
    /// placeholders are a plain `?`: SQLite keeps numbered and named parameters (`$N`, `?N`) in
    /// a list it searches linearly, both when it parses `$N` and when sqlx asks for each
    /// parameter's name before binding it, so a statement of 30,000 `$N` costs about a second
    /// where 30,000 `?` cost milliseconds. Every value must be bound in text order, each once
    /// (which [`Sql::bind`] does). PostgreSQL keeps `$N`.
    pub(crate) fn bulk(text: &'static str, backend: Backend) -> Sql {
        Sql {
            anonymous: backend == Backend::Sqlite,
            ..Sql::new(text)
        }
    }

    /// Appends a fixed fragment of SQL (never user input).
    pub(crate) fn push(&mut self, text: &'static str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends integers as literals, `1,2,3`: for a list PostgreSQL should see as constants
    /// (it hashes a constant `IN` list; bound values it searches one by one). Integers only, so
    /// nothing but digits, signs and commas reaches the text.
    pub(crate) fn push_ints(&mut self, values: &[i64]) -> &mut Sql {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            self.text.push_str(&v.to_string());
        }
        self
    }

    /// Appends the next placeholder (`$N`, or `?` in a SQLite bulk statement) and remembers
    /// its value.
    pub(crate) fn bind(&mut self, value: impl Into<Val>) -> &mut Sql {
        self.args.push(value.into());
        if self.anonymous {
            self.text.push('?');
        } else {
            self.text.push('$');
            self.text.push_str(&self.args.len().to_string());
        }
        self
    }

    /// Values for placeholders already written in the text (a fixed statement's `$1 …`).
    pub(crate) fn args_only(&mut self, values: impl IntoIterator<Item = Val>) -> &mut Sql {
        self.args.extend(values);
        self
    }

    /// Appends `$a, $b, …` for a list of values.
    pub(crate) fn bind_list<V: Into<Val>>(
        &mut self,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Sql {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(v);
        }
        self
    }

    /// The statement with its values bound, ready to run.
    ///
    /// Statements with a float value are not cached as prepared statements: sqlx 0.9.0's `Any`
    /// sends `None::<f64>` to PostgreSQL as a *float4* NULL (`AnyArguments::convert_into` swaps
    /// Real/Double for NULLs), so a cached statement first run with NULL rejects a later
    /// `Some(f64)` with "incorrect binary data format in bind parameter" (22P03).
    pub(crate) fn query(&self) -> Query<'static, Any, AnyArguments> {
        let has_float = self.args.iter().any(|v| matches!(v, Val::Float(_)));
        let mut q = sqlx::query(AssertSqlSafe(self.text.clone())).persistent(!has_float);
        for v in &self.args {
            q = match v {
                Val::Int(v) => q.bind(*v),
                Val::Text(v) => q.bind(v.clone()),
                Val::Float(v) => q.bind(*v),
            };
        }
        q
    }

    /// Like [`Sql::query`], consuming the builder (no copy of the text and values; bulk inserts).
    pub(crate) fn into_query(self) -> Query<'static, Any, AnyArguments> {
        let has_float = self.args.iter().any(|v| matches!(v, Val::Float(_)));
        let mut q = sqlx::query(AssertSqlSafe(self.text)).persistent(!has_float);
        for v in self.args {
            q = match v {
                Val::Int(v) => q.bind(v),
                Val::Text(v) => q.bind(v),
                Val::Float(v) => q.bind(v),
            };
        }
        q
    }
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `LIMIT`/`OFFSET` for a 1-based page; the page size is clamped to 1..=500.
pub(crate) fn page_bounds(page: u32, page_size: u32) -> (i64, i64) {
    let size = i64::from(page_size.clamp(1, 500));
    let page = i64::from(page.max(1));
    (size, (page - 1) * size)
}

/// The range `[low, high)` of materialised paths inside the subtree rooted at `scope`
/// (`"/"` is everything). Paths hold only digits and `/`, and `'/' < '0'` in byte order, so
/// every path that starts with `/1/5/` sorts in `["/1/5/", "/1/50")` and nothing else does.
/// A range (rather than `LIKE 'prefix%'`) uses the plain btree index on both databases.
pub(crate) fn scope_bounds(scope: &str) -> Result<(String, String), StoreError> {
    let valid = scope.starts_with('/')
        && scope.ends_with('/')
        && scope
            .split('/')
            .filter(|s| !s.is_empty())
            .all(|s| s.bytes().all(|b| b.is_ascii_digit()))
        && !scope.contains("//");
    if !valid {
        return Err(StoreError::invalid(format!(
            "管辖范围路径格式不正确：{scope}（应形如 /1/5/）"
        )));
    }
    let high = format!("{}0", &scope[..scope.len() - 1]);
    Ok((scope.to_owned(), high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered() {
        let mut s = Sql::new("SELECT 1 WHERE a = ");
        s.bind(1i64)
            .push(" AND b IN (")
            .bind_list(["x", "y"])
            .push(")");
        assert_eq!(s.text, "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(s.args.len(), 3);
    }

    #[test]
    fn bulk_statements_use_plain_placeholders_on_sqlite() {
        let mut s = Sql::bulk("INSERT INTO t (a, b) VALUES ", Backend::Sqlite);
        s.push("(")
            .bind_list([1i64, 2])
            .push("), (")
            .bind_list([3i64, 4])
            .push(")");
        assert_eq!(s.text, "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)");
        let mut s = Sql::bulk("INSERT INTO t (a) VALUES ", Backend::Postgres);
        s.push("(").bind(1i64).push("), (").bind(2i64).push(")");
        assert_eq!(s.text, "INSERT INTO t (a) VALUES ($1), ($2)");
    }

    #[test]
    fn like_specials_are_escaped() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn scope_bounds_cover_exactly_the_subtree() {
        let (lo, hi) = scope_bounds("/1/5/").unwrap_or_default();
        for inside in ["/1/5/", "/1/5/23/", "/1/5/9/99/"] {
            assert!(lo.as_str() <= inside && inside < hi.as_str(), "{inside}");
        }
        for outside in ["/1/", "/1/50/", "/1/51/", "/1/6/", "/1/4/9/", "/2/"] {
            assert!(
                !(lo.as_str() <= outside && outside < hi.as_str()),
                "{outside}"
            );
        }
        let (lo, hi) = scope_bounds("/").unwrap_or_default();
        assert!(lo.as_str() <= "/1/" && "/999/8/" < hi.as_str());
        for bad in ["", "1/", "/1", "/a/", "//", "/1//"] {
            assert!(scope_bounds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_are_clamped() {
        assert_eq!(page_bounds(0, 0), (1, 0));
        assert_eq!(page_bounds(3, 20), (20, 40));
        assert_eq!(page_bounds(1, 10_000), (500, 0));
    }
}
