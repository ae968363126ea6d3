//! People, households and dwellings (实有人口, 一户一档), care tags and the personal-data access
//! log.
//!
//! - A dwelling (房屋) is a unit in a building (a region of level `building`); a household (户)
//!   lives in a dwelling; a person (人员) belongs to at most one household at a time. Membership
//!   rows are never overwritten: a move closes the current row (`left_at`) and opens a new one in
//!   the same transaction, so the history of moves in and out stays. The database itself refuses
//!   a second current membership of a person and a second current head of a household (partial
//!   unique indexes); the store reports either as [`StoreError::Clash`] naming the person.
//! - Dwellings, households and persons carry `tenant` and `region_path` (the building's path),
//!   and every read takes the caller's scope path: a record outside the scope is not found.
//! - ID-card and phone numbers arrive encrypted (`*_cipher`), with a keyed blind index
//!   (`*_bidx`) for exact search and the masked form (`*_masked`, `350***********1234`) for
//!   display; the store never sees a key or a plaintext. Reads return masked forms only; the
//!   ciphertexts come from
//!   [`Store::person_secret`], which writes its access-log row in the same transaction.
//! - `person_access_log` is append-only (database triggers on both backends).
//!
//! Codes (dwelling use, occupancy, gender, access actions) are plain strings; the domain types
//! come later. Relation and residence-status codes are only checked for shape here.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{NewAudit, insert_audit};
use crate::error::{is_unique_violation, is_unique_violation_of};
use crate::regions::parse_level;
use crate::sql::{Sql, Val, like_escape, page_bounds, scope_bounds};
use crate::{Backend, Store, StoreError};

// ----- codes --------------------------------------------------------------------------------

/// Uses of a dwelling (房屋用途).
pub const USE_TYPES: &[(&str, &str)] = &[
    ("residential", "住宅"),
    ("commercial", "商铺"),
    ("office", "办公"),
    ("other", "其他"),
];

/// How a dwelling is occupied (居住情况).
pub const OCCUPANCIES: &[(&str, &str)] = &[
    ("owner_occupied", "自住"),
    ("rented", "出租"),
    ("vacant", "空置"),
    ("other", "其他"),
];

pub const GENDERS: &[(&str, &str)] = &[("male", "男"), ("female", "女"), ("unknown", "未知")];

/// What a personal-data access was.
pub const ACCESS_ACTIONS: &[(&str, &str)] = &[
    ("view", "查看"),
    ("reveal", "查看完整信息"),
    ("export", "导出"),
    ("import", "导入"),
];

/// The relation code of the head of household (户主).
pub const HEAD: &str = "head";

// ----- records ------------------------------------------------------------------------------

/// A dwelling to create, or the new values of one (the building cannot change).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewDwelling {
    /// A region of level `building`.
    pub building_id: i64,
    /// 单元; empty when the building has none.
    pub unit: String,
    /// Negative below ground; `None` for a house without floors.
    pub floor: Option<i64>,
    /// 门牌/室号.
    pub number: String,
    /// residential | commercial | office | other
    pub use_type: String,
    /// owner_occupied | rented | vacant | other (domain::people::Occupancy)
    pub occupancy: String,
    pub area_m2: Option<f64>,
    pub notes: String,
}

/// A stored dwelling.
#[derive(Debug, Clone, PartialEq)]
pub struct Dwelling {
    pub id: i64,
    pub tenant: String,
    pub building_id: i64,
    pub building_name: String,
    pub region_path: String,
    pub unit: String,
    pub floor: Option<i64>,
    pub number: String,
    pub use_type: String,
    pub occupancy: String,
    pub area_m2: Option<f64>,
    pub notes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A household to create, or the new values of one (the dwelling cannot change; people move,
/// households do not). The head follows the member whose relation is [`HEAD`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewHousehold {
    pub dwelling_id: i64,
    /// 户号, if known.
    pub household_no: Option<String>,
    pub notes: String,
}

/// A stored household.
#[derive(Debug, Clone, PartialEq)]
pub struct Household {
    pub id: i64,
    pub tenant: String,
    pub dwelling_id: i64,
    pub head_person_id: Option<i64>,
    pub head_name: Option<String>,
    pub household_no: Option<String>,
    pub notes: String,
    pub region_path: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A household as listed under its dwelling.
#[derive(Debug, Clone, PartialEq)]
pub struct HouseholdBrief {
    pub id: i64,
    pub household_no: Option<String>,
    pub head_person_id: Option<i64>,
    pub head_name: Option<String>,
    /// Current members.
    pub member_count: i64,
}

/// One dwelling of a building with its households.
#[derive(Debug, Clone, PartialEq)]
pub struct DwellingListing {
    pub dwelling: Dwelling,
    pub households: Vec<HouseholdBrief>,
}

/// A person's data as the caller supplies it: pinyin computed, numbers already encrypted and
/// blind-indexed. For each of the ID and phone number, cipher, index and masked form come
/// together or not at all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewPerson {
    pub name: String,
    /// Lowercase ASCII pinyin: 张三 → `zhangsan`.
    pub name_py_full: String,
    /// 张三 → `zs`.
    pub name_py_initials: String,
    /// male | female | unknown
    pub gender: String,
    /// YYYY-MM-DD
    pub birth_date: Option<String>,
    pub id_cipher: Option<String>,
    pub id_bidx: Option<String>,
    /// The ID number as lists show it: first three and last four characters, `350***********123X`.
    pub id_masked: Option<String>,
    pub phone_cipher: Option<String>,
    pub phone_bidx: Option<String>,
    /// `138****5678`.
    pub phone_masked: Option<String>,
    pub ethnic_group: Option<String>,
    pub registered_address: Option<String>,
    pub actual_address: Option<String>,
    /// A code of the people domain (户籍 / 流动 / 人户分离 / 境外 …): lowercase letters, digits, _.
    pub residence_status: String,
    pub party_member: bool,
    pub notes: String,
}

/// Where a new person is recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// As a member of a household, with the relation to its head; the person's region is then
    /// the household's building.
    Household { household_id: i64, relation: String },
    /// At a region (a building, or a community while the dwelling is not known).
    Region(i64),
}

/// A stored person, without the ciphertexts (see [`Store::person_secret`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: i64,
    pub tenant: String,
    pub region_id: i64,
    pub region_name: String,
    pub region_path: String,
    pub name: String,
    pub name_py_full: String,
    pub name_py_initials: String,
    pub gender: String,
    pub birth_date: Option<String>,
    pub id_masked: Option<String>,
    pub phone_masked: Option<String>,
    pub ethnic_group: Option<String>,
    pub registered_address: Option<String>,
    pub actual_address: Option<String>,
    pub residence_status: String,
    pub party_member: bool,
    pub notes: String,
    /// The current household and relation, if any.
    pub household_id: Option<i64>,
    pub relation: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The ciphertexts of a person, for the caller to decrypt.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonSecret {
    pub id_cipher: Option<String>,
    pub phone_cipher: Option<String>,
    /// The blind indexes, which the ciphertexts are bound to (their associated data).
    pub id_bidx: Option<String>,
    pub phone_bidx: Option<String>,
}

/// One membership row (current when `left_at` is `None`) with the person's masked-ready data.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRow {
    pub membership_id: i64,
    pub household_id: i64,
    pub person_id: i64,
    pub name: String,
    pub gender: String,
    pub birth_date: Option<String>,
    pub id_masked: Option<String>,
    pub phone_masked: Option<String>,
    pub relation: String,
    pub joined_at: i64,
    pub joined_reason: String,
    pub left_at: Option<i64>,
    pub left_reason: String,
}

/// The household file (一户一档): the household, its dwelling, its members now (head first) and
/// those who have left (latest first).
#[derive(Debug, Clone, PartialEq)]
pub struct HouseholdFile {
    pub household: Household,
    pub dwelling: Dwelling,
    pub members: Vec<MemberRow>,
    pub past_members: Vec<MemberRow>,
}

/// Which persons to find. `scope_path` (the caller's jurisdiction) always applies; every other
/// criterion that is set narrows further. Pages start at 1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonFilter {
    pub scope_path: String,
    /// Part of the name: for Chinese text, starting at one of the name's first three characters;
    /// text with Latin letters anywhere.
    pub name: Option<String>,
    /// Start of the full pinyin or of the initials (`zhang`, `zs`).
    pub pinyin: Option<String>,
    /// Blind index of an ID number: exact match.
    pub id_bidx: Option<String>,
    /// Blind index of a phone number: exact match.
    pub phone_bidx: Option<String>,
    /// The last four digits of the mobile number (尾号), matched on the masked form, which
    /// shows them anyway.
    pub phone_tail: Option<String>,
    /// Part of the registered or actual address.
    pub address: Option<String>,
    /// A current care tag. A sensitive tag matches only with `include_sensitive_tags`.
    pub tag_code: Option<String>,
    /// A region inside the scope (a community, a grid, a building).
    pub region_id: Option<i64>,
    /// Lets sensitive tags be searched for and listed in the results.
    pub include_sensitive_tags: bool,
    /// Matches counted (and name and pinyin matches listed) at most, plus one to tell "more"
    /// (0: [`SEARCH_CAP`]); an export asks for its own row limit.
    pub cap: i64,
    pub page: u32,
    pub page_size: u32,
}

/// One search result: masked-ready fields only.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonSummary {
    pub id: i64,
    pub region_id: i64,
    pub region_name: String,
    pub region_path: String,
    pub name: String,
    pub gender: String,
    pub birth_date: Option<String>,
    pub id_masked: Option<String>,
    pub phone_masked: Option<String>,
    pub residence_status: String,
    pub party_member: bool,
    pub household_id: Option<i64>,
    pub relation: Option<String>,
    pub dwelling_id: Option<i64>,
    pub unit: Option<String>,
    pub number: Option<String>,
    /// Current care tags (codes, in display order); sensitive ones only with
    /// `include_sensitive_tags`.
    pub tags: Vec<String>,
}

/// One row of a bulk import: a person, the dwelling and household they live in, their tags.
///
/// Rows with the same building, unit and number share a dwelling (an existing one is reused;
/// otherwise the first such row describes it). Within a dwelling, rows with the same household
/// number share a household (an existing household with that number is reused); rows without
/// a number share one new household per dwelling.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportRow {
    /// The spreadsheet line, named in error messages (0: the position in the batch, from 1).
    pub line: u32,
    pub building_id: i64,
    pub unit: String,
    pub floor: Option<i64>,
    pub number: String,
    pub use_type: String,
    pub occupancy: String,
    pub area_m2: Option<f64>,
    pub household_no: Option<String>,
    /// Relation to the head of household ([`HEAD`] for the head).
    pub relation: String,
    pub person: NewPerson,
    /// Care tag codes.
    pub tags: Vec<String>,
}

/// What an import created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub dwellings: usize,
    pub households: usize,
    pub persons: usize,
    pub tags: usize,
}

/// A care tag (重点人群标签).
#[derive(Debug, Clone, PartialEq)]
pub struct CareTag {
    pub code: String,
    pub name: String,
    pub sensitive: bool,
    pub active: bool,
    pub sort: i64,
}

/// A care tag to add, or the new values of one (the code stays).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewCareTag {
    pub code: String,
    pub name: String,
    pub sensitive: bool,
    pub active: bool,
}

/// A tag on a person.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonTag {
    pub id: i64,
    pub person_id: i64,
    pub tag_code: String,
    pub tag_name: String,
    pub sensitive: bool,
    pub since: i64,
    pub until: Option<i64>,
    pub noted_by: Option<i64>,
}

/// A personal-data access to log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewAccess {
    /// District code; when `None`, the person's is used.
    pub tenant: Option<String>,
    pub user_id: Option<i64>,
    pub user_name: String,
    pub person_id: Option<i64>,
    /// view | reveal | export | import
    pub action: String,
    /// The field revealed (`id_number`, `phone`) or what an export held.
    pub field: Option<String>,
    pub reason: String,
    pub row_count: Option<i64>,
    pub ip: Option<String>,
}

/// A logged access.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRow {
    pub id: i64,
    pub tenant: Option<String>,
    pub at: i64,
    pub user_id: Option<i64>,
    pub user_name: String,
    pub person_id: Option<i64>,
    pub action: String,
    pub field: Option<String>,
    pub reason: String,
    pub row_count: Option<i64>,
    pub ip: Option<String>,
}

/// Which accesses to list (`from` inclusive, `to` exclusive). Pages start at 1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessFilter {
    pub user_id: Option<i64>,
    pub person_id: Option<i64>,
    pub action: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub page: u32,
    pub page_size: u32,
}

// ----- checks -------------------------------------------------------------------------------

fn bad(message: impl Into<String>) -> StoreError {
    StoreError::invalid(message)
}

fn one_of(label: &str, value: &str, codes: &[(&str, &str)]) -> Result<(), StoreError> {
    if codes.iter().any(|(c, _)| *c == value) {
        return Ok(());
    }
    let allowed = codes
        .iter()
        .map(|(c, zh)| format!("{c}（{zh}）"))
        .collect::<Vec<_>>()
        .join("、");
    Err(bad(format!("{label}须为 {allowed} 之一，收到“{value}”")))
}

/// A code of another module: 1–32 lowercase letters, digits or `_`.
fn code_shape(label: &str, value: &str) -> Result<(), StoreError> {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "{label}须为 1–32 位小写字母、数字或下划线，收到“{value}”"
        )))
    }
}

fn required(label: &str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        return Err(bad(format!("{label}不能为空")));
    }
    at_most(label, value, max)
}

fn at_most(label: &str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.chars().count() > max {
        return Err(bad(format!("{label}不能超过 {max} 个字")));
    }
    Ok(())
}

fn optional(label: &str, value: Option<&str>, max: usize) -> Result<(), StoreError> {
    value.map_or(Ok(()), |v| at_most(label, v, max))
}

fn pinyin_shape(label: &str, value: &str) -> Result<(), StoreError> {
    if value.len() > 200 || !value.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(bad(format!(
            "{label}只能由小写字母组成（ü 写作 v），收到“{value}”"
        )));
    }
    Ok(())
}

/// `YYYY-MM-DD`, a real date from 1900 on.
fn birth_date(value: &str) -> Result<(), StoreError> {
    let b = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let parsed = (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
        .then(|| Some((digits(0..4)?, digits(5..7)?, digits(8..10)?)))
        .flatten();
    let valid = parsed.is_some_and(|(y, m, d)| {
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let days = match m {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => 0,
        };
        y >= 1900 && d >= 1 && d <= days
    });
    if valid {
        Ok(())
    } else {
        Err(bad(format!(
            "出生日期须为 YYYY-MM-DD 格式的有效日期（1900 年以后），收到“{value}”"
        )))
    }
}

/// Cipher, blind index and masked form of one number: all or none, each of the right shape.
fn sealed(
    label: &str,
    cipher: Option<&str>,
    bidx: Option<&str>,
    masked: Option<&str>,
    shown_ok: fn(u8) -> bool,
) -> Result<(), StoreError> {
    match (cipher, bidx, masked) {
        (None, None, None) => Ok(()),
        (Some(c), Some(i), Some(t)) => {
            if c.is_empty() || c.len() > 2048 {
                return Err(bad(format!("{label}密文须为 1–2048 个字符")));
            }
            if i.is_empty() || i.len() > 128 || !i.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(bad(format!("{label}检索索引须为 1–128 个可见 ASCII 字符")));
            }
            // A masked form shows seven characters at most, so no full number is stored as one.
            let shown = t.bytes().filter(|&b| b != b'*').count();
            let ok = t.len() <= 20 && shown <= 7 && shown < t.len();
            if !ok || !t.bytes().all(|b| b == b'*' || shown_ok(b)) {
                return Err(bad(format!("{label}掩码格式不正确，收到“{t}”")));
            }
            Ok(())
        }
        _ => Err(bad(format!(
            "{label}的密文、检索索引和掩码须同时提供或同时留空"
        ))),
    }
}

fn check_person(p: &NewPerson) -> Result<(), StoreError> {
    required("姓名", &p.name, 50)?;
    pinyin_shape("姓名全拼", &p.name_py_full)?;
    pinyin_shape("姓名拼音首字母", &p.name_py_initials)?;
    one_of("性别", &p.gender, GENDERS)?;
    if let Some(d) = &p.birth_date {
        birth_date(d)?;
    }
    sealed(
        "身份证号",
        p.id_cipher.as_deref(),
        p.id_bidx.as_deref(),
        p.id_masked.as_deref(),
        |b| b.is_ascii_digit() || b == b'X',
    )?;
    sealed(
        "手机号",
        p.phone_cipher.as_deref(),
        p.phone_bidx.as_deref(),
        p.phone_masked.as_deref(),
        |b| b.is_ascii_digit(),
    )?;
    optional("民族", p.ethnic_group.as_deref(), 20)?;
    optional("户籍地址", p.registered_address.as_deref(), 200)?;
    optional("现住地址", p.actual_address.as_deref(), 200)?;
    code_shape("居住状态", &p.residence_status)?;
    at_most("人员备注", &p.notes, 2000)
}

fn check_dwelling_fields(
    unit: &str,
    floor: Option<i64>,
    number: &str,
    use_type: &str,
    occupancy: &str,
    area_m2: Option<f64>,
) -> Result<(), StoreError> {
    at_most("单元", unit, 20)?;
    if unit.trim() != unit {
        return Err(bad("单元首尾不能有空格"));
    }
    if let Some(f) = floor
        && !(-20..=300).contains(&f)
    {
        return Err(bad(format!("楼层须在 -20 到 300 之间，收到 {f}")));
    }
    required("门牌号", number, 30)?;
    if number.trim() != number {
        return Err(bad("门牌号首尾不能有空格"));
    }
    one_of("房屋用途", use_type, USE_TYPES)?;
    one_of("居住情况", occupancy, OCCUPANCIES)?;
    if let Some(a) = area_m2
        && !(a.is_finite() && a > 0.0 && a < 100_000.0)
    {
        return Err(bad(format!("建筑面积须为大于 0 的平方米数，收到 {a}")));
    }
    Ok(())
}

fn check_dwelling(d: &NewDwelling) -> Result<(), StoreError> {
    check_dwelling_fields(
        &d.unit,
        d.floor,
        &d.number,
        &d.use_type,
        &d.occupancy,
        d.area_m2,
    )?;
    at_most("房屋备注", &d.notes, 2000)
}

fn check_household(h: &NewHousehold) -> Result<(), StoreError> {
    if let Some(no) = &h.household_no {
        required("户号", no, 30)?;
    }
    at_most("户备注", &h.notes, 2000)
}

fn check_access(a: &NewAccess) -> Result<(), StoreError> {
    required("访问人", &a.user_name, 100)?;
    one_of("访问类型", &a.action, ACCESS_ACTIONS)?;
    optional("访问字段", a.field.as_deref(), 50)?;
    at_most("访问理由", &a.reason, 500)
}

fn check_care_tag(t: &NewCareTag) -> Result<(), StoreError> {
    code_shape("标签编码", &t.code)?;
    required("标签名称", &t.name, 30)
}

/// The audit entry with `target` filled in when the caller left it empty.
fn targeted(audit: &NewAudit, target: impl FnOnce() -> String) -> NewAudit {
    let mut a = audit.clone();
    if a.target.is_empty() {
        a.target = target();
    }
    a
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// Prefixes a row-level message with its line.
fn at_line(line: u32, e: StoreError) -> StoreError {
    match e {
        StoreError::Invalid(m) => StoreError::Invalid(format!("第 {line} 行：{m}")),
        StoreError::Clash { field, message } => StoreError::Clash {
            field,
            message: format!("第 {line} 行：{message}"),
        },
        other => other,
    }
}

// ----- reading rows -------------------------------------------------------------------------

const DWELLING_SELECT: &str = "SELECT d.id, d.tenant, d.building_id, b.name AS building_name, \
     d.region_path, d.unit, d.floor, d.number, d.use_type, d.occupancy, d.area_m2, d.notes, \
     d.created_at, d.updated_at FROM dwellings d JOIN regions b ON b.id = d.building_id";

/// Natural order inside a building: 2单元 before 10单元, 301 before 1101.
const DWELLING_ORDER: &str = " ORDER BY LENGTH(d.unit), d.unit, \
     CASE WHEN d.floor IS NULL THEN 0 ELSE 1 END, d.floor, LENGTH(d.number), d.number, d.id";

fn dwelling_row(row: &AnyRow) -> Result<Dwelling, StoreError> {
    Ok(Dwelling {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        building_id: row.try_get("building_id")?,
        building_name: row.try_get("building_name")?,
        region_path: row.try_get("region_path")?,
        unit: row.try_get("unit")?,
        floor: row.try_get("floor")?,
        number: row.try_get("number")?,
        use_type: row.try_get("use_type")?,
        occupancy: row.try_get("occupancy")?,
        area_m2: row.try_get("area_m2")?,
        notes: row.try_get("notes")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const HOUSEHOLD_SELECT: &str = "SELECT h.id, h.tenant, h.dwelling_id, h.head_person_id, \
     p.name AS head_name, h.household_no, h.notes, h.region_path, h.created_at, h.updated_at \
     FROM households h LEFT JOIN persons p ON p.id = h.head_person_id";

fn household_row(row: &AnyRow) -> Result<Household, StoreError> {
    Ok(Household {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        dwelling_id: row.try_get("dwelling_id")?,
        head_person_id: row.try_get("head_person_id")?,
        head_name: row.try_get("head_name")?,
        household_no: row.try_get("household_no")?,
        notes: row.try_get("notes")?,
        region_path: row.try_get("region_path")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const PERSON_SELECT: &str = "SELECT p.id, p.tenant, p.region_id, r.name AS region_name, \
     p.region_path, p.name, p.name_py_full, p.name_py_initials, p.gender, p.birth_date, \
     p.id_masked, p.phone_masked, p.ethnic_group, p.registered_address, p.actual_address, \
     p.residence_status, p.party_member, p.notes, m.household_id, m.relation, p.created_at, \
     p.updated_at FROM persons p JOIN regions r ON r.id = p.region_id \
     LEFT JOIN household_members m ON m.person_id = p.id AND m.left_at IS NULL";

fn person_row(row: &AnyRow) -> Result<Person, StoreError> {
    Ok(Person {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        region_id: row.try_get("region_id")?,
        region_name: row.try_get("region_name")?,
        region_path: row.try_get("region_path")?,
        name: row.try_get("name")?,
        name_py_full: row.try_get("name_py_full")?,
        name_py_initials: row.try_get("name_py_initials")?,
        gender: row.try_get("gender")?,
        birth_date: row.try_get("birth_date")?,
        id_masked: row.try_get("id_masked")?,
        phone_masked: row.try_get("phone_masked")?,
        ethnic_group: row.try_get("ethnic_group")?,
        registered_address: row.try_get("registered_address")?,
        actual_address: row.try_get("actual_address")?,
        residence_status: row.try_get("residence_status")?,
        party_member: row.try_get::<i64, _>("party_member")? != 0,
        notes: row.try_get("notes")?,
        household_id: row.try_get("household_id")?,
        relation: row.try_get("relation")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const MEMBER_SELECT: &str = "SELECT m.id, m.household_id, m.person_id, p.name, p.gender, \
     p.birth_date, p.id_masked, p.phone_masked, m.relation, m.joined_at, m.joined_reason, \
     m.left_at, m.left_reason FROM household_members m JOIN persons p ON p.id = m.person_id";

fn member_row(row: &AnyRow) -> Result<MemberRow, StoreError> {
    Ok(MemberRow {
        membership_id: row.try_get("id")?,
        household_id: row.try_get("household_id")?,
        person_id: row.try_get("person_id")?,
        name: row.try_get("name")?,
        gender: row.try_get("gender")?,
        birth_date: row.try_get("birth_date")?,
        id_masked: row.try_get("id_masked")?,
        phone_masked: row.try_get("phone_masked")?,
        relation: row.try_get("relation")?,
        joined_at: row.try_get("joined_at")?,
        joined_reason: row.try_get("joined_reason")?,
        left_at: row.try_get("left_at")?,
        left_reason: row.try_get("left_reason")?,
    })
}

fn care_tag_row(row: &AnyRow) -> Result<CareTag, StoreError> {
    Ok(CareTag {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        sensitive: row.try_get::<i64, _>("sensitive")? != 0,
        active: row.try_get::<i64, _>("active")? != 0,
        sort: row.try_get("sort")?,
    })
}

fn access_row(row: &AnyRow) -> Result<AccessRow, StoreError> {
    Ok(AccessRow {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        at: row.try_get("at")?,
        user_id: row.try_get("user_id")?,
        user_name: row.try_get("user_name")?,
        person_id: row.try_get("person_id")?,
        action: row.try_get("action")?,
        field: row.try_get("field")?,
        reason: row.try_get("reason")?,
        row_count: row.try_get("row_count")?,
        ip: row.try_get("ip")?,
    })
}

// ----- writing helpers ----------------------------------------------------------------------

/// What a write needs to know about a building.
#[derive(Debug, Clone)]
struct Building {
    tenant: String,
    path: String,
}

async fn building_on(conn: &mut AnyConnection, id: i64) -> Result<Building, StoreError> {
    let row = sqlx::query("SELECT tenant, path, level, name FROM regions WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| bad(format!("楼栋（区划编号 {id}）不存在")))?;
    let level = parse_level(&row.try_get::<String, _>("level")?)?;
    if level != jinlin_domain::regions::RegionLevel::Building {
        let name: String = row.try_get("name")?;
        return Err(bad(format!(
            "房屋须登记在楼栋下，{name}（区划编号 {id}）是{}",
            level.zh()
        )));
    }
    Ok(Building {
        tenant: row.try_get("tenant")?,
        path: row.try_get("path")?,
    })
}

/// What a membership change needs to know about a person.
#[derive(Debug, Clone)]
struct PersonRef {
    id: i64,
    tenant: String,
    name: String,
}

async fn person_on(conn: &mut AnyConnection, id: i64) -> Result<PersonRef, StoreError> {
    let row = sqlx::query("SELECT tenant, name FROM persons WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(PersonRef {
        id,
        tenant: row.try_get("tenant")?,
        name: row.try_get("name")?,
    })
}

/// What a membership change needs to know about a household.
#[derive(Debug, Clone)]
struct HouseholdRef {
    id: i64,
    tenant: String,
    region_path: String,
    building_id: i64,
    head: Option<(i64, String)>,
}

async fn household_on(conn: &mut AnyConnection, id: i64) -> Result<HouseholdRef, StoreError> {
    let row = sqlx::query(
        "SELECT h.tenant, h.region_path, d.building_id, h.head_person_id, p.name AS head_name \
         FROM households h JOIN dwellings d ON d.id = h.dwelling_id \
         LEFT JOIN persons p ON p.id = h.head_person_id WHERE h.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| bad(format!("户（编号 {id}）不存在")))?;
    let head_id: Option<i64> = row.try_get("head_person_id")?;
    let head_name: Option<String> = row.try_get("head_name")?;
    Ok(HouseholdRef {
        id,
        tenant: row.try_get("tenant")?,
        region_path: row.try_get("region_path")?,
        building_id: row.try_get("building_id")?,
        head: head_id.map(|h| (h, head_name.unwrap_or_default())),
    })
}

fn head_clash(household: i64, head: &(i64, String)) -> StoreError {
    StoreError::clash(
        "relation",
        format!(
            "户（编号 {household}）已有户主 {}（人员编号 {}），请先变更原户主与户主的关系",
            head.1, head.0
        ),
    )
}

fn two_households(person: &PersonRef) -> StoreError {
    StoreError::clash(
        "person",
        format!(
            "{}（人员编号 {}）已是另一户的现有成员，同一人不能同时属于两户；迁户请用“迁移”",
            person.name, person.id
        ),
    )
}

/// Opens a membership of `person` in `household` (the person must have none) and moves the
/// person's region to the household's building.
async fn open_membership(
    conn: &mut AnyConnection,
    person: &PersonRef,
    household: &HouseholdRef,
    relation: &str,
    at: i64,
    reason: &str,
    now: i64,
) -> Result<i64, StoreError> {
    code_shape("与户主关系", relation)?;
    at_most("迁入原因", reason, 500)?;
    if person.tenant != household.tenant {
        return Err(bad(format!(
            "{}属于另一区县，不能迁入本区县的户；请在迁入地新建人员档案",
            person.name
        )));
    }
    if relation == HEAD
        && let Some(head) = &household.head
        && head.0 != person.id
    {
        return Err(head_clash(household.id, head));
    }
    let id: i64 = sqlx::query(
        "INSERT INTO household_members (tenant, household_id, person_id, relation, joined_at, \
         joined_reason, left_reason) VALUES ($1, $2, $3, $4, $5, $6, '') RETURNING id",
    )
    .bind(household.tenant.as_str())
    .bind(household.id)
    .bind(person.id)
    .bind(relation)
    .bind(at)
    .bind(reason)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        if is_unique_violation_of(
            &e,
            "household_members_current",
            "household_members.person_id",
        ) {
            two_households(person)
        } else if is_unique_violation_of(
            &e,
            "household_members_head",
            "household_members.household_id",
        ) {
            StoreError::clash("relation", format!("户（编号 {}）已有户主", household.id))
        } else {
            StoreError::Db(e)
        }
    })?
    .try_get("id")?;
    if relation == HEAD {
        sqlx::query("UPDATE households SET head_person_id = $1, updated_at = $2 WHERE id = $3")
            .bind(person.id)
            .bind(now)
            .bind(household.id)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "UPDATE persons SET region_id = $1, region_path = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(household.building_id)
    .bind(household.region_path.as_str())
    .bind(now)
    .bind(person.id)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// The current membership of a person: (membership id, household id, relation, joined_at).
async fn current_membership(
    conn: &mut AnyConnection,
    person_id: i64,
) -> Result<Option<(i64, i64, String, i64)>, StoreError> {
    let row = sqlx::query(
        "SELECT id, household_id, relation, joined_at FROM household_members \
         WHERE person_id = $1 AND left_at IS NULL",
    )
    .bind(person_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get("id")?,
            r.try_get("household_id")?,
            r.try_get("relation")?,
            r.try_get("joined_at")?,
        ))
    })
    .transpose()
}

/// Closes a current membership; a head leaving leaves the household without a head.
async fn close_membership(
    conn: &mut AnyConnection,
    person_id: i64,
    current: &(i64, i64, String, i64),
    at: i64,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    let (id, household, relation, joined_at) = current;
    at_most("迁出原因", reason, 500)?;
    if at < *joined_at {
        return Err(bad("迁出时间不能早于迁入时间"));
    }
    sqlx::query("UPDATE household_members SET left_at = $1, left_reason = $2 WHERE id = $3")
        .bind(at)
        .bind(reason)
        .bind(*id)
        .execute(&mut *conn)
        .await?;
    if relation == HEAD {
        sqlx::query(
            "UPDATE households SET head_person_id = NULL, updated_at = $1 \
             WHERE id = $2 AND head_person_id = $3",
        )
        .bind(now)
        .bind(*household)
        .bind(person_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Another person of `tenant` holding the ID blind index `bidx`, as a clash naming them.
async fn id_taken(
    conn: &mut AnyConnection,
    tenant: &str,
    bidx: Option<&str>,
    except: Option<i64>,
) -> Result<Option<StoreError>, StoreError> {
    let Some(bidx) = bidx else { return Ok(None) };
    let row =
        sqlx::query("SELECT id, name FROM persons WHERE id_bidx = $1 AND tenant = $2 AND id <> $3")
            .bind(bidx)
            .bind(tenant)
            .bind(except.unwrap_or(0))
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|r| {
        let id: i64 = r.try_get("id")?;
        let name: String = r.try_get("name")?;
        Ok(StoreError::clash(
            "id_number",
            format!("该身份证号已登记为 {name}（人员编号 {id}）"),
        ))
    })
    .transpose()
}

fn id_violation(e: sqlx::Error) -> StoreError {
    if is_unique_violation_of(&e, "persons_id_bidx", "persons.id_bidx, persons.tenant") {
        StoreError::clash("id_number", "该身份证号已登记")
    } else {
        StoreError::Db(e)
    }
}

/// The values of a person row after `id`, in `person_columns!()` order.
fn person_values(p: &NewPerson, tenant: &str, region_id: i64, path: &str, now: i64) -> [Val; 22] {
    [
        tenant.into(),
        region_id.into(),
        path.into(),
        p.name.as_str().into(),
        p.name_py_full.as_str().into(),
        p.name_py_initials.as_str().into(),
        p.gender.as_str().into(),
        p.birth_date.clone().into(),
        p.id_cipher.clone().into(),
        p.id_bidx.clone().into(),
        p.id_masked.clone().into(),
        p.phone_cipher.clone().into(),
        p.phone_bidx.clone().into(),
        p.phone_masked.clone().into(),
        p.ethnic_group.clone().into(),
        p.registered_address.clone().into(),
        p.actual_address.clone().into(),
        p.residence_status.as_str().into(),
        flag(p.party_member).into(),
        p.notes.as_str().into(),
        now.into(),
        now.into(),
    ]
}

/// The columns of a person row after `id`.
macro_rules! person_columns {
    () => {
        "tenant, region_id, region_path, name, name_py_full, name_py_initials, gender, \
         birth_date, id_cipher, id_bidx, id_masked, phone_cipher, phone_bidx, phone_masked, \
         ethnic_group, registered_address, actual_address, residence_status, party_member, \
         notes, created_at, updated_at"
    };
}

/// Most values in one statement of a bulk insert (SQLite allows 32766, PostgreSQL 65535).
const MAX_BINDS: usize = 30_000;

/// Inserts `count` rows with multi-row INSERTs of up to [`MAX_BINDS`] values each; `row(i)`
/// gives the values of row `i`, asked for only when its statement is built (an import never
/// holds all rows' values at once). `head` is `INSERT INTO t (a, b, …) VALUES `; every row has
/// `width` values. On PostgreSQL the rows go as JSON instead ([`insert_many_json`]).
async fn insert_many<R: IntoIterator<Item = Val>>(
    conn: &mut AnyConnection,
    backend: Backend,
    head: &'static str,
    width: usize,
    count: usize,
    row: impl Fn(usize) -> R,
) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres
        && count > 1
        && let Some((table, columns)) = parse_insert_head(head)
    {
        return insert_many_json(conn, table, &columns, count, row).await;
    }
    let per_chunk = (MAX_BINDS / width.max(1)).max(1);
    let statement = |start: usize| {
        let end = count.min(start + per_chunk);
        let mut sql = Sql::bulk(head, backend);
        for i in start..end {
            sql.push(if i == start { "(" } else { ", (" });
            sql.bind_list(row(i));
            sql.push(")");
        }
        sql.into_query()
    };
    let mut next = (count > 0).then(|| statement(0));
    let mut start = 0;
    while let Some(query) = next.take() {
        start += per_chunk;
        let (done, built) = overlap(query.execute(&mut *conn), || {
            (start < count).then(|| statement(start))
        })
        .await;
        done?;
        next = built;
    }
    Ok(())
}

/// Runs `work` on this thread while `fut` is under way, and returns both results. `fut` is
/// polled once first: that hands a statement to SQLite's worker thread, or writes it to
/// PostgreSQL's socket as far as the socket takes it. A bulk insert builds its next statement
/// this way while the database runs the last one, instead of the two taking turns.
async fn overlap<F: std::future::Future, T>(fut: F, work: impl FnOnce() -> T) -> (F::Output, T) {
    let mut fut = std::pin::pin!(fut);
    let early = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
    let done = work();
    let out = match early {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => fut.await,
    };
    (out, done)
}

/// The table and columns of `INSERT INTO t (a, b, …) VALUES `.
fn parse_insert_head(head: &str) -> Option<(&str, Vec<&str>)> {
    let rest = head.strip_prefix("INSERT INTO ")?;
    let (table, rest) = rest.split_once(" (")?;
    let (columns, _) = rest.split_once(") VALUES")?;
    let columns: Vec<&str> = columns.split(',').map(str::trim).collect();
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    (plain(table) && columns.iter().all(|c| plain(c))).then_some((table, columns))
}

/// Rows in one JSON document per statement on PostgreSQL.
const JSON_ROWS: usize = 10_000;

/// PostgreSQL: the rows as one JSON array of arrays per statement, unpacked by the server
/// (`jsonb_array_elements`, a cast per column). Thirty thousand bound values per `VALUES`
/// statement cost the server more to plan and both sides more to encode than the inserts
/// themselves, and the client and server took turns instead of working at once. A column with
/// one value in the whole statement (the district, the time, an empty note) is sent once, not in
/// every row: a quarter of the server's time for a million household memberships.
async fn insert_many_json<R: IntoIterator<Item = Val>>(
    conn: &mut AnyConnection,
    table: &str,
    columns: &[&str],
    count: usize,
    row: impl Fn(usize) -> R,
) -> Result<(), sqlx::Error> {
    let types: HashMap<String, String> = sqlx::query(
        "SELECT CAST(column_name AS TEXT) AS c, CAST(data_type AS TEXT) AS t \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("c")?, r.try_get("t")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    let mut casts = Vec::with_capacity(columns.len());
    for c in columns {
        match types.get(*c).map(String::as_str) {
            Some(t @ ("bigint" | "integer" | "text" | "double precision")) => casts.push(t),
            _ => {
                return Err(sqlx::Error::Protocol(format!(
                    "bulk insert into {table}: column {c} has no JSON cast"
                )));
            }
        }
    }
    // One statement text for each set of columns that stay the same.
    let mut statements: HashMap<Vec<bool>, String> = HashMap::new();
    let statement = |same: &[bool]| {
        let (mut select, mut fixed) = (Vec::new(), Vec::new());
        let (mut varying, mut once) = (0, 0);
        for (k, ty) in casts.iter().enumerate() {
            if same[k] {
                fixed.push(format!("CAST(c ->> {once} AS {ty}) AS k{once}"));
                select.push(format!("k.k{once}"));
                once += 1;
            } else {
                select.push(format!("CAST(r ->> {varying} AS {ty})"));
                varying += 1;
            }
        }
        let insert = format!(
            "INSERT INTO {table} ({}) SELECT {} FROM jsonb_array_elements(CAST($1 AS JSONB)) AS r",
            columns.join(", "),
            select.join(", ")
        );
        if fixed.is_empty() {
            insert
        } else {
            // Materialised: the casts of the fixed values run once, not once a row.
            format!(
                "WITH k AS MATERIALIZED (SELECT {} FROM (SELECT CAST($2 AS JSONB) AS c) AS c0) \
                 {insert} CROSS JOIN k",
                fixed.join(", ")
            )
        }
    };
    // One JSON document of rows (and one of the values that stay the same) per statement.
    let document = |start: usize| -> Result<(Vec<bool>, String, String), sqlx::Error> {
        let end = count.min(start + JSON_ROWS);
        let rows: Vec<Vec<Val>> = (start..end).map(|i| row(i).into_iter().collect()).collect();
        let first = rows.first().map(Vec::as_slice).unwrap_or_default();
        let same: Vec<bool> = (0..columns.len())
            .map(|k| {
                first
                    .get(k)
                    .is_some_and(|v| rows.iter().all(|r| r.get(k) == Some(v)))
            })
            .collect();
        let mut doc = Vec::with_capacity(rows.len() * 200);
        doc.push(b'[');
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                doc.push(b',');
            }
            doc.push(b'[');
            let varying = r.iter().zip(&same).filter(|(_, same)| !**same);
            for (k, (v, _)) in varying.enumerate() {
                if k > 0 {
                    doc.push(b',');
                }
                push_json(&mut doc, v)?;
            }
            doc.push(b']');
        }
        doc.push(b']');
        let mut fixed_doc = vec![b'['];
        let fixed = first.iter().zip(&same).filter(|(_, same)| **same);
        for (k, (v, _)) in fixed.enumerate() {
            if k > 0 {
                fixed_doc.push(b',');
            }
            push_json(&mut fixed_doc, v)?;
        }
        fixed_doc.push(b']');
        let text = |d: Vec<u8>| String::from_utf8(d).map_err(|e| sqlx::Error::Encode(Box::new(e)));
        Ok((same, text(doc)?, text(fixed_doc)?))
    };
    let clock = std::time::Instant::now();
    let mut server = std::time::Duration::ZERO;
    let mut next = (count > 0).then(|| document(0)).transpose()?;
    let mut start = 0;
    while let Some((same, text, fixed)) = next.take() {
        start += JSON_ROWS;
        let sql = statements
            .entry(same.clone())
            .or_insert_with(|| statement(&same));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(text);
        if same.contains(&true) {
            query = query.bind(fixed);
        }
        let t = std::time::Instant::now();
        let mut built_in = std::time::Duration::ZERO;
        let (done, built) = overlap(query.execute(&mut *conn), || {
            let b = std::time::Instant::now();
            let built = (start < count).then(|| document(start));
            built_in = b.elapsed();
            built
        })
        .await;
        // What the client waited for, beyond building the next document meanwhile.
        server += t.elapsed().saturating_sub(built_in);
        done?;
        next = built.transpose()?;
    }
    tracing::debug!(
        table,
        count,
        ms = clock.elapsed().as_millis(),
        server_ms = server.as_millis(),
        "bulk insert"
    );
    Ok(())
}

fn push_json(out: &mut Vec<u8>, v: &Val) -> Result<(), sqlx::Error> {
    let written = match v {
        Val::Int(Some(n)) => serde_json::to_writer(&mut *out, n),
        Val::Float(Some(f)) => serde_json::to_writer(&mut *out, f),
        Val::Text(Some(t)) => serde_json::to_writer(&mut *out, t),
        Val::Int(None) | Val::Float(None) | Val::Text(None) => {
            out.extend_from_slice(b"null");
            Ok(())
        }
    };
    written.map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// `n` fresh ids of `table`, ascending (SQLite: after MAX(id) under the write lock of
/// `BEGIN IMMEDIATE`; PostgreSQL: from the identity sequence).
async fn reserve_ids(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &'static str,
    n: usize,
    locked: bool,
) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let n = i64::try_from(n).map_err(|_| bad("一次导入的数据过多"))?;
    match backend {
        Backend::Postgres if locked => {
            // Nobody else inserts into the locked table, so nobody else draws from its
            // sequence: one jump instead of a million nextval calls (seven seconds).
            let hi: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(setval(pg_get_serial_sequence('{table}', 'id'), \
                 nextval(pg_get_serial_sequence('{table}', 'id')) + $1 - 1) AS BIGINT) AS hi"
            )))
            .bind(n)
            .fetch_one(&mut *conn)
            .await?
            .try_get("hi")?;
            Ok((hi - n + 1..=hi).collect())
        }
        Backend::Sqlite => {
            let max: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS m FROM {table}"
            )))
            .fetch_one(&mut *conn)
            .await?
            .try_get("m")?;
            Ok((max + 1..=max + n).collect())
        }
        Backend::Postgres => {
            // The values come back as runs (one, unless other sessions took values meanwhile):
            // a million rows of one id each took seconds to fetch.
            let runs = sqlx::query(sqlx::AssertSqlSafe(format!(
                "WITH v AS (SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id \
                 FROM generate_series(1, $1)), \
                 r AS (SELECT id, id - row_number() OVER (ORDER BY id) AS run FROM v) \
                 SELECT CAST(MIN(id) AS BIGINT) AS lo, CAST(MAX(id) AS BIGINT) AS hi \
                 FROM r GROUP BY run ORDER BY lo"
            )))
            .bind(n)
            .fetch_all(&mut *conn)
            .await?;
            let mut ids = Vec::with_capacity(usize::try_from(n).unwrap_or_default());
            for r in &runs {
                ids.extend(r.try_get::<i64, _>("lo")?..=r.try_get::<i64, _>("hi")?);
            }
            Ok(ids)
        }
    }
}

/// Values per `IN (…)` list of a lookup.
const LOOKUP_CHUNK: usize = 500;

async fn insert_access(
    conn: &mut AnyConnection,
    a: &NewAccess,
    now: i64,
) -> Result<(), StoreError> {
    check_access(a)?;
    sqlx::query(
        "INSERT INTO person_access_log (tenant, at, user_id, user_name, person_id, action, \
         field, reason, row_count, ip) \
         VALUES (COALESCE($1, (SELECT tenant FROM persons WHERE id = $5)), $2, $3, $4, $5, $6, \
         $7, $8, $9, $10)",
    )
    .bind(a.tenant.clone())
    .bind(now)
    .bind(a.user_id)
    .bind(a.user_name.as_str())
    .bind(a.person_id)
    .bind(a.action.as_str())
    .bind(a.field.clone())
    .bind(a.reason.as_str())
    .bind(a.row_count)
    .bind(a.ip.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `[low, high)` of the ASCII strings starting with `prefix` (lowercase letters only).
/// The range of names starting with `part` (in byte order, which is code point order), when
/// `part` is Chinese (no ASCII, which LIKE would lower-case).
fn name_bounds(part: &str) -> Option<(String, String)> {
    if part.bytes().any(|b| b.is_ascii()) {
        return None;
    }
    let last = part.chars().next_back()?;
    let mut high = part[..part.len() - last.len_utf8()].to_owned();
    match char::from_u32(u32::from(last) + 1) {
        Some(next) => high.push(next),
        None => {
            high.push(last);
            high.push(char::MAX);
        }
    }
    Some((part.to_owned(), high))
}

/// Matches a search counts up to; past it the caller asks for a narrower search.
pub const SEARCH_CAP: i64 = 1000;

/// An indexed search key: the column or expression (written in this crate, as in the
/// migrations) and the condition of a partial index.
struct KeyIndex {
    expr: &'static str,
    only: &'static str,
}

/// Where a part of a Chinese name can start: the first, second or third character (every place
/// in a name of up to three characters). The third is indexed for longer names only.
const NAME_KEYS: [KeyIndex; 3] = [
    KeyIndex {
        expr: "name",
        only: "",
    },
    KeyIndex {
        expr: "substr(name, 2)",
        only: "",
    },
    KeyIndex {
        expr: "substr(name, 3)",
        only: " AND length(name) > 2",
    },
];

/// Full pinyin and initials.
const PY_KEYS: [KeyIndex; 2] = [
    KeyIndex {
        expr: "name_py_full",
        only: "",
    },
    KeyIndex {
        expr: "name_py_initials",
        only: "",
    },
];

/// How a key range keeps to the searcher's jurisdiction.
enum KeyScope<'a> {
    /// On each row's `region_path` (the range selects `id`).
    Rows(&'a (String, String)),
    /// In the index, on the building (`region_id`) each key is stored with: the buildings whose
    /// path lies in every one of these ranges (the range selects `id, region_id`). SQLite walks
    /// the key's index in order and looks each building up in the list it builds once.
    InRegions(Vec<&'a (String, String)>),
    /// The same on PostgreSQL, with the buildings' ids written out: given `IN (SELECT …)` it
    /// joins building by building, each join reading the key's whole range (seconds for two
    /// common initials), and an array from a subquery is searched linearly for every index
    /// entry; a list of constants is hashed and tested on each entry in key order.
    Ids(Vec<i64>),
    /// The scope holds every person (the range selects `id, region_id`).
    All,
}

/// ` WHERE path >= … AND path < …` for `FROM regions`: the regions inside every range.
fn regions_within(sql: &mut Sql, ranges: &[&(String, String)]) {
    for (i, range) in ranges.iter().enumerate() {
        sql.push(if i == 0 { " WHERE" } else { " AND" })
            .push(" path >= ")
            .bind(range.0.as_str())
            .push(" AND path < ")
            .bind(range.1.as_str());
    }
}

/// The persons in `scope` whose `key` lies in `lo..hi`, walked in index order and cut after
/// `cap` + 1 rows: a common surname or two initials match a fifth of a district, and neither
/// database then has to gather all of them to pick one page.
fn key_range(sql: &mut Sql, key: &KeyIndex, lo: &str, hi: &str, scope: &KeyScope<'_>, cap: i64) {
    let cols = match scope {
        KeyScope::Rows(_) => "id",
        KeyScope::InRegions(_) | KeyScope::Ids(_) | KeyScope::All => "id, region_id",
    };
    sql.push("SELECT ")
        .push(cols)
        .push(" FROM (SELECT ")
        .push(cols)
        .push(" FROM persons WHERE ")
        .push(key.expr)
        .push(" >= ")
        .bind(lo)
        .push(" AND ")
        .push(key.expr)
        .push(" < ")
        .bind(hi)
        .push(key.only);
    match scope {
        KeyScope::Rows(range) => {
            sql.push(" AND region_path >= ")
                .bind(range.0.as_str())
                .push(" AND region_path < ")
                .bind(range.1.as_str());
        }
        KeyScope::InRegions(ranges) => {
            sql.push(" AND region_id IN (SELECT id FROM regions");
            regions_within(sql, ranges);
            sql.push(")");
        }
        KeyScope::Ids(list) => {
            // `+ 0` keeps the list a filter on each entry rather than one index probe per id.
            sql.push(" AND region_id + 0 IN (")
                .push_ints(list)
                .push(")");
        }
        KeyScope::All => {}
    }
    sql.push(" ORDER BY ")
        .push(key.expr)
        .push(" LIMIT ")
        .bind(cap + 1)
        .push(") AS k");
}

fn prefix_bounds(prefix: &str) -> Option<(String, String)> {
    let last = *prefix.as_bytes().last()?;
    let mut high = prefix[..prefix.len() - 1].to_owned();
    high.push(char::from(last + 1));
    Some((prefix.to_owned(), high))
}

// ----- the store ----------------------------------------------------------------------------

impl Store {
    // ----- dwellings -------------------------------------------------------------------------

    /// Registers a dwelling in a building. `Clash { field: "number" }` when the building
    /// already has that unit and number.
    pub async fn create_dwelling(
        &self,
        d: &NewDwelling,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        check_dwelling(d)?;
        let mut tx = self.begin_write().await?;
        let b = building_on(&mut tx, d.building_id).await?;
        let mut sql = Sql::new(
            "INSERT INTO dwellings (tenant, building_id, region_path, unit, floor, number, \
             use_type, occupancy, area_m2, notes, created_at, updated_at) VALUES (",
        );
        sql.bind_list::<Val>([
            b.tenant.as_str().into(),
            d.building_id.into(),
            b.path.as_str().into(),
            d.unit.as_str().into(),
            d.floor.into(),
            d.number.as_str().into(),
            d.use_type.as_str().into(),
            d.occupancy.as_str().into(),
            d.area_m2.into(),
            d.notes.as_str().into(),
            now.into(),
            now.into(),
        ])
        .push(") RETURNING id");
        let id: i64 = sql
            .into_query()
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| dwelling_violation(e, d))?
            .try_get("id")?;
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("dwelling:{id}")),
            Some(&b.tenant),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Changes a dwelling's unit, floor, number, use, occupancy, area and notes.
    pub async fn update_dwelling(
        &self,
        id: i64,
        d: &NewDwelling,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        check_dwelling(d)?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT tenant, building_id FROM dwellings WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let tenant: String = row.try_get("tenant")?;
        if row.try_get::<i64, _>("building_id")? != d.building_id {
            return Err(bad("房屋不能改到其他楼栋；请在新楼栋登记房屋并迁移人员"));
        }
        let mut sql = Sql::new("UPDATE dwellings SET unit = ");
        sql.bind(d.unit.as_str())
            .push(", floor = ")
            .bind(d.floor)
            .push(", number = ")
            .bind(d.number.as_str())
            .push(", use_type = ")
            .bind(d.use_type.as_str())
            .push(", occupancy = ")
            .bind(d.occupancy.as_str())
            .push(", area_m2 = ")
            .bind(d.area_m2)
            .push(", notes = ")
            .bind(d.notes.as_str())
            .push(", updated_at = ")
            .bind(now)
            .push(" WHERE id = ")
            .bind(id);
        sql.into_query()
            .execute(&mut *tx)
            .await
            .map_err(|e| dwelling_violation(e, d))?;
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("dwelling:{id}")),
            Some(&tenant),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A dwelling inside `scope_path`.
    pub async fn dwelling(
        &self,
        id: i64,
        scope_path: &str,
    ) -> Result<Option<Dwelling>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{DWELLING_SELECT} WHERE d.id = $1 AND d.region_path >= $2 AND d.region_path < $3"
        )))
        .bind(id)
        .bind(lo)
        .bind(hi)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(dwelling_row).transpose()
    }

    /// The dwellings of a building inside `scope_path`, by unit, floor and number, each with its
    /// households and their current member counts.
    pub async fn dwellings_of_building(
        &self,
        building_id: i64,
        scope_path: &str,
    ) -> Result<Vec<DwellingListing>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{DWELLING_SELECT} WHERE d.building_id = $1 AND d.region_path >= $2 \
             AND d.region_path < $3{DWELLING_ORDER}"
        )))
        .bind(building_id)
        .bind(lo.as_str())
        .bind(hi.as_str())
        .fetch_all(self.reader())
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(DwellingListing {
                    dwelling: dwelling_row(r)?,
                    households: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let households = sqlx::query(
            "SELECT h.id, h.dwelling_id, h.household_no, h.head_person_id, p.name AS head_name, \
             (SELECT COUNT(*) FROM household_members m \
              WHERE m.household_id = h.id AND m.left_at IS NULL) AS member_count \
             FROM households h JOIN dwellings d ON d.id = h.dwelling_id \
             LEFT JOIN persons p ON p.id = h.head_person_id \
             WHERE d.building_id = $1 AND h.region_path >= $2 AND h.region_path < $3 \
             ORDER BY h.id",
        )
        .bind(building_id)
        .bind(lo)
        .bind(hi)
        .fetch_all(self.reader())
        .await?;
        let index: HashMap<i64, usize> = out
            .iter()
            .enumerate()
            .map(|(i, l)| (l.dwelling.id, i))
            .collect();
        for r in &households {
            let dwelling: i64 = r.try_get("dwelling_id")?;
            if let Some(&i) = index.get(&dwelling) {
                out[i].households.push(HouseholdBrief {
                    id: r.try_get("id")?,
                    household_no: r.try_get("household_no")?,
                    head_person_id: r.try_get("head_person_id")?,
                    head_name: r.try_get("head_name")?,
                    member_count: r.try_get("member_count")?,
                });
            }
        }
        Ok(out)
    }

    // ----- households ------------------------------------------------------------------------

    /// Creates a household (without members) at a dwelling.
    pub async fn create_household(
        &self,
        h: &NewHousehold,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        check_household(h)?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT tenant, region_path FROM dwellings WHERE id = $1")
            .bind(h.dwelling_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| bad(format!("房屋（编号 {}）不存在", h.dwelling_id)))?;
        let tenant: String = row.try_get("tenant")?;
        let path: String = row.try_get("region_path")?;
        let id: i64 = sqlx::query(
            "INSERT INTO households (tenant, dwelling_id, head_person_id, household_no, notes, \
             region_path, created_at, updated_at) VALUES ($1, $2, NULL, $3, $4, $5, $6, $6) \
             RETURNING id",
        )
        .bind(tenant.as_str())
        .bind(h.dwelling_id)
        .bind(h.household_no.clone())
        .bind(h.notes.as_str())
        .bind(path)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("household:{id}")),
            Some(&tenant),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Changes a household's number and notes.
    pub async fn update_household(
        &self,
        id: i64,
        h: &NewHousehold,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        check_household(h)?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT tenant, dwelling_id FROM households WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let tenant: String = row.try_get("tenant")?;
        if row.try_get::<i64, _>("dwelling_id")? != h.dwelling_id {
            return Err(bad("户不能改到其他房屋；请迁移人员"));
        }
        sqlx::query(
            "UPDATE households SET household_no = $1, notes = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(h.household_no.clone())
        .bind(h.notes.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("household:{id}")),
            Some(&tenant),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A household inside `scope_path`.
    pub async fn household(
        &self,
        id: i64,
        scope_path: &str,
    ) -> Result<Option<Household>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{HOUSEHOLD_SELECT} WHERE h.id = $1 AND h.region_path >= $2 AND h.region_path < $3"
        )))
        .bind(id)
        .bind(lo)
        .bind(hi)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(household_row).transpose()
    }

    /// The household file (一户一档) of a household inside `scope_path`.
    pub async fn household_file(
        &self,
        id: i64,
        scope_path: &str,
    ) -> Result<Option<HouseholdFile>, StoreError> {
        let Some(household) = self.household(id, scope_path).await? else {
            return Ok(None);
        };
        let Some(dwelling) = self.dwelling(household.dwelling_id, scope_path).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MEMBER_SELECT} WHERE m.household_id = $1 \
             ORDER BY CASE WHEN m.relation = 'head' THEN 0 ELSE 1 END, m.joined_at, m.id"
        )))
        .bind(id)
        .fetch_all(self.reader())
        .await?;
        let all = rows.iter().map(member_row).collect::<Result<Vec<_>, _>>()?;
        let (members, mut past_members): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|m| m.left_at.is_none());
        past_members.sort_by(|a, b| {
            b.left_at
                .cmp(&a.left_at)
                .then(b.membership_id.cmp(&a.membership_id))
        });
        Ok(Some(HouseholdFile {
            household,
            dwelling,
            members,
            past_members,
        }))
    }

    // ----- persons ---------------------------------------------------------------------------

    /// Records a person, in a household or at a region; returns the id.
    /// `Clash { field: "id_number" }` when the district already has the ID number.
    pub async fn create_person(
        &self,
        p: &NewPerson,
        place: &Placement,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        check_person(p)?;
        let mut tx = self.begin_write().await?;
        let (tenant, region_id, path, household) = match place {
            Placement::Household {
                household_id,
                relation,
            } => {
                code_shape("与户主关系", relation)?;
                let h = household_on(&mut tx, *household_id).await?;
                (
                    h.tenant.clone(),
                    h.building_id,
                    h.region_path.clone(),
                    Some((h, relation)),
                )
            }
            Placement::Region(region_id) => {
                let row = sqlx::query("SELECT tenant, path FROM regions WHERE id = $1")
                    .bind(*region_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| bad(format!("区划（编号 {region_id}）不存在")))?;
                (
                    row.try_get("tenant")?,
                    *region_id,
                    row.try_get("path")?,
                    None,
                )
            }
        };
        if let Some(e) = id_taken(&mut tx, &tenant, p.id_bidx.as_deref(), None).await? {
            return Err(e);
        }
        let mut sql = Sql::new(concat!(
            "INSERT INTO persons (",
            person_columns!(),
            ") VALUES ("
        ));
        sql.bind_list(person_values(p, &tenant, region_id, &path, now))
            .push(") RETURNING id");
        let id: i64 = sql
            .into_query()
            .fetch_one(&mut *tx)
            .await
            .map_err(id_violation)?
            .try_get("id")?;
        if let Some((h, relation)) = household {
            let person = PersonRef {
                id,
                tenant: tenant.clone(),
                name: p.name.clone(),
            };
            open_membership(&mut tx, &person, &h, relation, now, "登记", now).await?;
        }
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("person:{id}")),
            Some(&tenant),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Replaces a person's data (the region follows their household; see
    /// [`Store::move_person`]).
    pub async fn update_person(
        &self,
        id: i64,
        p: &NewPerson,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        check_person(p)?;
        let mut tx = self.begin_write().await?;
        let person = person_on(&mut tx, id).await?;
        if let Some(e) = id_taken(&mut tx, &person.tenant, p.id_bidx.as_deref(), Some(id)).await? {
            return Err(e);
        }
        sqlx::query(
            "UPDATE persons SET name = $1, name_py_full = $2, name_py_initials = $3, gender = $4, \
             birth_date = $5, id_cipher = $6, id_bidx = $7, id_masked = $8, phone_cipher = $9, \
             phone_bidx = $10, phone_masked = $11, ethnic_group = $12, registered_address = $13, \
             actual_address = $14, residence_status = $15, party_member = $16, notes = $17, \
             updated_at = $18 WHERE id = $19",
        )
        .bind(p.name.as_str())
        .bind(p.name_py_full.as_str())
        .bind(p.name_py_initials.as_str())
        .bind(p.gender.as_str())
        .bind(p.birth_date.clone())
        .bind(p.id_cipher.clone())
        .bind(p.id_bidx.clone())
        .bind(p.id_masked.clone())
        .bind(p.phone_cipher.clone())
        .bind(p.phone_bidx.clone())
        .bind(p.phone_masked.clone())
        .bind(p.ethnic_group.clone())
        .bind(p.registered_address.clone())
        .bind(p.actual_address.clone())
        .bind(p.residence_status.as_str())
        .bind(flag(p.party_member))
        .bind(p.notes.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(id_violation)?;
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("person:{id}")),
            Some(&person.tenant),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many persons and households there are inside `scope_path`.
    pub async fn people_counts(&self, scope_path: &str) -> Result<(i64, i64), StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM persons WHERE region_path >= $1 AND region_path < $2) \
             AS persons, (SELECT COUNT(*) FROM households WHERE region_path >= $1 \
             AND region_path < $2) AS households",
        )
        .bind(lo.as_str())
        .bind(hi.as_str())
        .fetch_one(self.reader())
        .await?;
        Ok((row.try_get("persons")?, row.try_get("households")?))
    }

    /// A person inside `scope_path`, with masked-ready fields only.
    pub async fn person(&self, id: i64, scope_path: &str) -> Result<Option<Person>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PERSON_SELECT} WHERE p.id = $1 AND p.region_path >= $2 AND p.region_path < $3"
        )))
        .bind(id)
        .bind(lo)
        .bind(hi)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(person_row).transpose()
    }

    /// The ciphertexts of a person inside `scope_path`, for a reveal. The access (action
    /// `reveal`, with a reason) is logged in the same transaction; a person outside the scope
    /// gives `None` and logs nothing.
    pub async fn person_secret(
        &self,
        id: i64,
        scope_path: &str,
        access: &NewAccess,
        now: i64,
    ) -> Result<Option<PersonSecret>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        if access.action != "reveal" {
            return Err(bad("查看完整信息的访问类型须为 reveal"));
        }
        if access.reason.trim().is_empty() {
            return Err(bad("查看完整信息须填写理由"));
        }
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT tenant, id_cipher, phone_cipher, id_bidx, phone_bidx FROM persons \
             WHERE id = $1 AND region_path >= $2 AND region_path < $3",
        )
        .bind(id)
        .bind(lo)
        .bind(hi)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let logged = NewAccess {
            tenant: Some(row.try_get("tenant")?),
            person_id: Some(id),
            ..access.clone()
        };
        insert_access(&mut tx, &logged, now).await?;
        let secret = PersonSecret {
            id_cipher: row.try_get("id_cipher")?,
            phone_cipher: row.try_get("phone_cipher")?,
            id_bidx: row.try_get("id_bidx")?,
            phone_bidx: row.try_get("phone_bidx")?,
        };
        tx.commit().await?;
        Ok(Some(secret))
    }

    /// The phone ciphertexts of some persons with their indexes, for matching them against case
    /// reporters (nobody is shown the numbers, so nothing is logged).
    pub async fn person_phone_ciphers(
        &self,
        ids: &[i64],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new(
            "SELECT phone_cipher, phone_bidx FROM persons WHERE phone_cipher IS NOT NULL \
             AND id IN (",
        );
        sql.bind_list(ids.iter().copied()).push(")");
        let rows = sql.query().fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("phone_cipher")?, r.try_get("phone_bidx")?)))
            .collect()
    }

    /// The ids of the regions whose path lies in every one of `ranges`.
    async fn region_ids_within(
        &self,
        ranges: &[&(String, String)],
    ) -> Result<Vec<i64>, StoreError> {
        let mut sql = Sql::new("SELECT id FROM regions");
        regions_within(&mut sql, ranges);
        let rows = sql.into_query().fetch_all(self.reader()).await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// Whether `scope_path` is everything: `/`, or the only root region (a single district).
    async fn holds_every_person(&self, scope_path: &str) -> Result<bool, StoreError> {
        if scope_path == "/" {
            return Ok(true);
        }
        let roots = sqlx::query("SELECT path FROM regions WHERE parent_id IS NULL LIMIT 2")
            .fetch_all(self.reader())
            .await?;
        Ok(roots.len() == 1 && roots[0].try_get::<String, _>("path")? == scope_path)
    }

    /// A page of persons matching `f`, ordered by place (region path) then id, and the total.
    pub async fn search_persons(
        &self,
        f: &PersonFilter,
    ) -> Result<(Vec<PersonSummary>, i64), StoreError> {
        let scope = scope_bounds(&f.scope_path)?;
        let cap = if f.cap > 0 { f.cap } else { SEARCH_CAP };
        let narrow = match f.region_id {
            None => None,
            Some(region) => {
                let row = sqlx::query("SELECT path FROM regions WHERE id = $1")
                    .bind(region)
                    .fetch_optional(self.reader())
                    .await?
                    .ok_or_else(|| bad(format!("区划（编号 {region}）不存在")))?;
                Some(scope_bounds(&row.try_get::<String, _>("path")?)?)
            }
        };
        let pinyin = match f.pinyin.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(p) => {
                let p = p.to_ascii_lowercase();
                pinyin_shape("拼音", &p)?;
                prefix_bounds(&p)
            }
        };
        let name_range = f
            .name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(name_bounds);
        let phone_tail = match f
            .phone_tail
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(t) if t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()) => Some(t),
            Some(t) => return Err(bad(format!("手机尾号须是 4 位数字，收到“{t}”"))),
        };
        let row_scope = KeyScope::Rows(&scope);
        let where_ = |sql: &mut Sql| {
            sql.push(" WHERE p.region_path >= ")
                .bind(scope.0.as_str())
                .push(" AND p.region_path < ")
                .bind(scope.1.as_str());
            if let Some((lo, hi)) = &narrow {
                sql.push(" AND p.region_path >= ")
                    .bind(lo.as_str())
                    .push(" AND p.region_path < ")
                    .bind(hi.as_str());
            }
            if let Some(name) = f.name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                // A part of a Chinese name is looked for where it starts at one of the first three
                // characters (in names of up to three characters: everywhere); those rows come
                // from the name indexes and LIKE keeps the ones that hold it. Text with Latin
                // letters is looked for everywhere in the scope.
                if let Some((lo, hi)) = name_bounds(name) {
                    sql.push(" AND p.id IN (");
                    for (i, key) in NAME_KEYS.iter().enumerate() {
                        if i > 0 {
                            sql.push(" UNION ALL ");
                        }
                        key_range(sql, key, &lo, &hi, &row_scope, cap);
                    }
                    sql.push(")");
                }
                sql.push(" AND LOWER(p.name) LIKE ")
                    .bind(format!("%{}%", like_escape(&name.to_ascii_lowercase())))
                    .push(" ESCAPE '\\'");
            }
            // Selective keys go in as id lists, so both databases start from their index and
            // check the scope on the few rows found (left to itself, SQLite would walk the whole
            // scope's range of persons_path and test each row).
            if let Some((lo, hi)) = &pinyin {
                sql.push(" AND p.id IN (");
                key_range(sql, &PY_KEYS[0], lo, hi, &row_scope, cap);
                sql.push(" UNION ALL ");
                key_range(sql, &PY_KEYS[1], lo, hi, &row_scope, cap);
                sql.push(")");
            }
            if let Some(b) = f.id_bidx.as_deref().filter(|s| !s.is_empty()) {
                sql.push(" AND p.id_bidx = ").bind(b);
            }
            if let Some(b) = f.phone_bidx.as_deref().filter(|s| !s.is_empty()) {
                sql.push(" AND p.phone_bidx = ").bind(b);
            }
            if let Some(t) = phone_tail {
                // The expression of persons_phone_tail, so both databases search that index.
                sql.push(" AND substr(p.phone_masked, 8) = ").bind(t);
            }
            if let Some(a) = f
                .address
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                let pattern = format!("%{}%", like_escape(a));
                sql.push(" AND (p.registered_address LIKE ")
                    .bind(pattern.as_str())
                    .push(" ESCAPE '\\' OR p.actual_address LIKE ")
                    .bind(pattern)
                    .push(" ESCAPE '\\')");
            }
            if let Some(tag) = f.tag_code.as_deref().filter(|s| !s.is_empty()) {
                sql.push(
                    " AND p.id IN (SELECT t.person_id FROM person_tags t \
                     JOIN care_tags c ON c.code = t.tag_code WHERE t.until IS NULL AND t.tag_code = ",
                )
                .bind(tag);
                if !f.include_sensitive_tags {
                    sql.push(" AND c.sensitive = 0");
                }
                sql.push(")");
            }
        };

        let keyed = name_range.is_some()
            || pinyin.is_some()
            || f.id_bidx.as_deref().is_some_and(|s| !s.is_empty())
            || f.phone_bidx.as_deref().is_some_and(|s| !s.is_empty())
            || phone_tail.is_some();
        let (limit, offset) = page_bounds(f.page, f.page_size);
        let (page_ids, total) = if keyed {
            // A keyed search matches a bounded set (the caps, or one number), read once.
            let only_keys = f.address.as_deref().is_none_or(|s| s.trim().is_empty())
                && f.tag_code.as_deref().is_none_or(str::is_empty)
                && f.id_bidx.as_deref().is_none_or(str::is_empty)
                && f.phone_bidx.as_deref().is_none_or(str::is_empty)
                && phone_tail.is_none()
                && (name_range.is_some() != pinyin.is_some());
            let ranges: Vec<&(String, String)> = [Some(&scope), narrow.as_ref()]
                .into_iter()
                .flatten()
                .collect();
            let key_scope = if !only_keys {
                None
            } else if narrow.is_none() && self.holds_every_person(&f.scope_path).await? {
                Some(KeyScope::All)
            } else if self.backend() == Backend::Postgres {
                let ids = self.region_ids_within(&ranges).await?;
                if ids.is_empty() {
                    return Ok((Vec::new(), 0));
                }
                Some(KeyScope::Ids(ids))
            } else {
                Some(KeyScope::InRegions(ranges))
            };
            // The matches as (id, region_path), each person once.
            let matches = |sql: &mut Sql| match &key_scope {
                Some(key_scope) => {
                    // Name or pinyin alone: the indexes hold the key and the building, so the
                    // scope is tested in the index and no person row is read until the page.
                    // UNION, not UNION ALL: one person can match in two indexes (林林 for 林).
                    let (keys, (lo, hi)): (&[KeyIndex], _) = match (&name_range, &pinyin) {
                        (Some(b), _) => (&NAME_KEYS, b),
                        (None, Some(b)) => (&PY_KEYS, b),
                        (None, None) => (&[], &(String::new(), String::new())),
                    };
                    sql.push("SELECT k.id, r.path AS region_path FROM (");
                    for (i, key) in keys.iter().enumerate() {
                        if i > 0 {
                            sql.push(" UNION ");
                        }
                        key_range(sql, key, lo, hi, key_scope, cap);
                    }
                    sql.push(") AS k JOIN regions r ON r.id = k.region_id");
                }
                None => {
                    sql.push("SELECT p.id, p.region_path FROM persons p");
                    where_(sql);
                }
            };
            // One statement pages and counts them, so only the page's ids leave the database.
            let mut page = Sql::new("SELECT m.id, COUNT(*) OVER () AS n FROM (");
            matches(&mut page);
            page.push(") AS m ORDER BY m.region_path, m.id LIMIT ")
                .bind(limit)
                .push(" OFFSET ")
                .bind(offset);
            let rows = page.into_query().fetch_all(self.reader()).await?;
            let total = match rows.first() {
                Some(r) => r.try_get("n")?,
                None if offset == 0 => 0,
                None => {
                    // Past the last page: the count alone.
                    let mut count = Sql::new("SELECT COUNT(*) AS n FROM (");
                    matches(&mut count);
                    count.push(") AS m");
                    count
                        .into_query()
                        .fetch_one(self.reader())
                        .await?
                        .try_get("n")?
                }
            };
            let ids = rows
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<Vec<i64>, _>>()?;
            (Some(ids), total)
        } else {
            // Counted up to the cap too: the leader's list of a whole district would otherwise
            // count millions of index entries for a number the page shows as "more than".
            let mut count = Sql::new("SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM persons p");
            where_(&mut count);
            count.push(" LIMIT ").bind(cap + 1).push(") AS c");
            let total: i64 = count
                .into_query()
                .fetch_one(self.reader())
                .await?
                .try_get("n")?;
            (None, total)
        };
        if page_ids.as_ref().is_some_and(Vec::is_empty) {
            return Ok((Vec::new(), total));
        }
        let mut list = Sql::new(
            "SELECT p.id, p.region_id, r.name AS region_name, p.region_path, p.name, p.gender, \
             p.birth_date, p.id_masked, p.phone_masked, p.residence_status, p.party_member, \
             m.household_id, m.relation, h.dwelling_id, d.unit, d.number FROM persons p \
             JOIN regions r ON r.id = p.region_id \
             LEFT JOIN household_members m ON m.person_id = p.id AND m.left_at IS NULL \
             LEFT JOIN households h ON h.id = m.household_id \
             LEFT JOIN dwellings d ON d.id = h.dwelling_id WHERE p.id IN (",
        );
        match page_ids {
            Some(ids) => {
                list.bind_list(ids);
            }
            None => {
                // The page's ids first, from the indexes; only those rows are then read whole.
                list.push("SELECT p.id FROM persons p");
                where_(&mut list);
                list.push(" ORDER BY p.region_path, p.id LIMIT ")
                    .bind(limit)
                    .push(" OFFSET ")
                    .bind(offset);
            }
        }
        list.push(") ORDER BY p.region_path, p.id");
        let rows = list.into_query().fetch_all(self.reader()).await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(PersonSummary {
                    id: r.try_get("id")?,
                    region_id: r.try_get("region_id")?,
                    region_name: r.try_get("region_name")?,
                    region_path: r.try_get("region_path")?,
                    name: r.try_get("name")?,
                    gender: r.try_get("gender")?,
                    birth_date: r.try_get("birth_date")?,
                    id_masked: r.try_get("id_masked")?,
                    phone_masked: r.try_get("phone_masked")?,
                    residence_status: r.try_get("residence_status")?,
                    party_member: r.try_get::<i64, _>("party_member")? != 0,
                    household_id: r.try_get("household_id")?,
                    relation: r.try_get("relation")?,
                    dwelling_id: r.try_get("dwelling_id")?,
                    unit: r.try_get("unit")?,
                    number: r.try_get("number")?,
                    tags: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if !items.is_empty() {
            let mut tags = Sql::new(
                "SELECT t.person_id, t.tag_code FROM person_tags t \
                 JOIN care_tags c ON c.code = t.tag_code WHERE t.until IS NULL",
            );
            if !f.include_sensitive_tags {
                tags.push(" AND c.sensitive = 0");
            }
            tags.push(" AND t.person_id IN (")
                .bind_list(items.iter().map(|p| p.id))
                .push(") ORDER BY c.sort, c.code");
            let rows = tags.into_query().fetch_all(self.reader()).await?;
            let index: HashMap<i64, usize> =
                items.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
            for r in &rows {
                let person: i64 = r.try_get("person_id")?;
                if let Some(&i) = index.get(&person) {
                    items[i].tags.push(r.try_get("tag_code")?);
                }
            }
        }
        Ok((items, total))
    }

    // ----- memberships -----------------------------------------------------------------------

    /// Moves a person into `to_household` with `relation` at time `at`: closes their current
    /// membership (if any) and opens the new one, in one transaction. Moving within the same
    /// household records a change of relation (户主变更: first the old head, then the new).
    /// Returns the new membership's id.
    #[allow(clippy::too_many_arguments)]
    pub async fn move_person(
        &self,
        person_id: i64,
        to_household: i64,
        relation: &str,
        at: i64,
        reason: &str,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        code_shape("与户主关系", relation)?;
        let mut tx = self.begin_write().await?;
        let person = person_on(&mut tx, person_id).await?;
        if let Some(current) = current_membership(&mut tx, person_id).await? {
            if current.1 == to_household && current.2 == relation {
                return Err(bad(format!("{}已是该户成员，与户主关系未变", person.name)));
            }
            close_membership(&mut tx, person_id, &current, at, reason, now).await?;
        }
        // Read after closing: a head changing relation within the household has left the seat.
        let household = household_on(&mut tx, to_household).await?;
        let id = open_membership(&mut tx, &person, &household, relation, at, reason, now).await?;
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("person:{person_id}")),
            Some(&person.tenant),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Adds a person who belongs to no household now to `household_id`. A person who is a
    /// current member elsewhere gives `Clash { field: "person" }` (the database refuses a
    /// second current membership), and nothing is written.
    #[allow(clippy::too_many_arguments)]
    pub async fn join_household(
        &self,
        person_id: i64,
        household_id: i64,
        relation: &str,
        at: i64,
        reason: &str,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let person = person_on(&mut tx, person_id).await?;
        let household = household_on(&mut tx, household_id).await?;
        let id = open_membership(&mut tx, &person, &household, relation, at, reason, now).await?;
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("person:{person_id}")),
            Some(&person.tenant),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Closes a person's current membership (moved away, deceased …); the person keeps their
    /// last region.
    pub async fn leave_household(
        &self,
        person_id: i64,
        at: i64,
        reason: &str,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let person = person_on(&mut tx, person_id).await?;
        let current = current_membership(&mut tx, person_id)
            .await?
            .ok_or_else(|| bad(format!("{}当前不属于任何户", person.name)))?;
        close_membership(&mut tx, person_id, &current, at, reason, now).await?;
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("person:{person_id}")),
            Some(&person.tenant),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every membership of a person inside `scope_path`, oldest first (moves in and out).
    pub async fn person_memberships(
        &self,
        person_id: i64,
        scope_path: &str,
    ) -> Result<Vec<MemberRow>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MEMBER_SELECT} WHERE m.person_id = $1 AND p.region_path >= $2 \
             AND p.region_path < $3 ORDER BY m.joined_at, m.id"
        )))
        .bind(person_id)
        .bind(lo)
        .bind(hi)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(member_row).collect()
    }

    // ----- care tags -------------------------------------------------------------------------

    /// Adds the care tags whose codes are not stored yet, in the given order; returns how many
    /// were added. Running it again adds nothing.
    pub async fn seed_care_tags(&self, tags: &[NewCareTag], now: i64) -> Result<usize, StoreError> {
        for t in tags {
            check_care_tag(t)?;
        }
        let mut tx = self.begin_write().await?;
        let mut added = 0;
        for (sort, t) in tags.iter().enumerate() {
            let exists = sqlx::query("SELECT code FROM care_tags WHERE code = $1")
                .bind(t.code.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_some() {
                continue;
            }
            insert_care_tag(&mut tx, t, i64::try_from(sort).unwrap_or(i64::MAX), now).await?;
            added += 1;
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Adds one care tag at the end of the list. `Conflict { field: "code" }` for a taken code.
    pub async fn create_care_tag(
        &self,
        t: &NewCareTag,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        check_care_tag(t)?;
        let mut tx = self.begin_write().await?;
        let sort: i64 =
            sqlx::query("SELECT CAST(COALESCE(MAX(sort), 0) + 1 AS BIGINT) AS s FROM care_tags")
                .fetch_one(&mut *tx)
                .await?
                .try_get("s")?;
        insert_care_tag(&mut tx, t, sort, now).await?;
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("care_tag:{}", t.code)),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes a care tag's name, sensitivity and active flag.
    pub async fn update_care_tag(
        &self,
        code: &str,
        t: &NewCareTag,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        required("标签名称", &t.name, 30)?;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE care_tags SET name = $1, sensitive = $2, active = $3, updated_at = $4 \
             WHERE code = $5",
        )
        .bind(t.name.as_str())
        .bind(flag(t.sensitive))
        .bind(flag(t.active))
        .bind(now)
        .bind(code)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("care_tag:{code}")),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Care tags in display order.
    pub async fn care_tags(&self, include_inactive: bool) -> Result<Vec<CareTag>, StoreError> {
        let rows = if include_inactive {
            sqlx::query(
                "SELECT code, name, sensitive, active, sort FROM care_tags ORDER BY sort, code",
            )
            .fetch_all(self.reader())
            .await?
        } else {
            sqlx::query(
                "SELECT code, name, sensitive, active, sort FROM care_tags WHERE active = 1 \
                 ORDER BY sort, code",
            )
            .fetch_all(self.reader())
            .await?
        };
        rows.iter().map(care_tag_row).collect()
    }

    /// Puts a care tag on a person from `since`. `Clash { field: "tag" }` when the person has it
    /// already.
    #[allow(clippy::too_many_arguments)]
    pub async fn tag_person(
        &self,
        person_id: i64,
        tag_code: &str,
        since: i64,
        noted_by: Option<i64>,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let person = person_on(&mut tx, person_id).await?;
        let active: i64 = sqlx::query("SELECT active FROM care_tags WHERE code = $1")
            .bind(tag_code)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| bad(format!("标签“{tag_code}”不存在")))?
            .try_get("active")?;
        if active == 0 {
            return Err(bad(format!("标签“{tag_code}”已停用")));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO person_tags (person_id, tag_code, since, until, noted_by) \
             VALUES ($1, $2, $3, NULL, $4) RETURNING id",
        )
        .bind(person_id)
        .bind(tag_code)
        .bind(since)
        .bind(noted_by)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::clash("tag", format!("{}已有标签“{tag_code}”", person.name))
            } else {
                StoreError::Db(e)
            }
        })?
        .try_get("id")?;
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("person:{person_id}")),
            Some(&person.tenant),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Ends a person's current tag at `until` (the row stays, for the history).
    pub async fn end_person_tag(
        &self,
        person_id: i64,
        tag_code: &str,
        until: i64,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let person = person_on(&mut tx, person_id).await?;
        let done = sqlx::query(
            "UPDATE person_tags SET until = $1 \
             WHERE person_id = $2 AND tag_code = $3 AND until IS NULL AND since <= $1",
        )
        .bind(until)
        .bind(person_id)
        .bind(tag_code)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(bad(format!(
                "{}没有自该时间前起的标签“{tag_code}”",
                person.name
            )));
        }
        insert_audit(
            &mut tx,
            &targeted(audit, || format!("person:{person_id}")),
            Some(&person.tenant),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A person's tags inside `scope_path`, current ones (and with `include_ended` past ones);
    /// sensitive tags only with `include_sensitive`.
    pub async fn person_tags(
        &self,
        person_id: i64,
        scope_path: &str,
        include_sensitive: bool,
        include_ended: bool,
    ) -> Result<Vec<PersonTag>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let mut sql = Sql::new(
            "SELECT t.id, t.person_id, t.tag_code, c.name AS tag_name, c.sensitive, t.since, \
             t.until, t.noted_by FROM person_tags t JOIN care_tags c ON c.code = t.tag_code \
             JOIN persons p ON p.id = t.person_id WHERE t.person_id = ",
        );
        sql.bind(person_id)
            .push(" AND p.region_path >= ")
            .bind(lo)
            .push(" AND p.region_path < ")
            .bind(hi);
        if !include_sensitive {
            sql.push(" AND c.sensitive = 0");
        }
        if !include_ended {
            sql.push(" AND t.until IS NULL");
        }
        sql.push(" ORDER BY c.sort, c.code, t.since");
        let rows = sql.into_query().fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| {
                Ok(PersonTag {
                    id: r.try_get("id")?,
                    person_id: r.try_get("person_id")?,
                    tag_code: r.try_get("tag_code")?,
                    tag_name: r.try_get("tag_name")?,
                    sensitive: r.try_get::<i64, _>("sensitive")? != 0,
                    since: r.try_get("since")?,
                    until: r.try_get("until")?,
                    noted_by: r.try_get("noted_by")?,
                })
            })
            .collect()
    }

    // ----- access log ------------------------------------------------------------------------

    /// Appends one entry to the personal-data access log.
    pub async fn log_person_access(&self, access: &NewAccess, now: i64) -> Result<(), StoreError> {
        let mut conn = self.writer().acquire().await?;
        insert_access(&mut conn, access, now).await
    }

    /// One page of the access log, newest first, and the total matching the filter.
    pub async fn person_access_log(
        &self,
        f: &AccessFilter,
    ) -> Result<(Vec<AccessRow>, i64), StoreError> {
        let where_ = |sql: &mut Sql| {
            sql.push(" WHERE 1 = 1");
            if let Some(u) = f.user_id {
                sql.push(" AND user_id = ").bind(u);
            }
            if let Some(p) = f.person_id {
                sql.push(" AND person_id = ").bind(p);
            }
            if let Some(a) = f.action.as_deref().filter(|s| !s.is_empty()) {
                sql.push(" AND action = ").bind(a);
            }
            if let Some(from) = f.from {
                sql.push(" AND at >= ").bind(from);
            }
            if let Some(to) = f.to {
                sql.push(" AND at < ").bind(to);
            }
        };
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM person_access_log");
        where_(&mut count);
        let total: i64 = count
            .into_query()
            .fetch_one(self.reader())
            .await?
            .try_get("n")?;
        let (limit, offset) = page_bounds(f.page, f.page_size);
        let mut list = Sql::new(
            "SELECT id, tenant, at, user_id, user_name, person_id, action, field, reason, \
             row_count, ip FROM person_access_log",
        );
        where_(&mut list);
        list.push(" ORDER BY at DESC, id DESC LIMIT ")
            .bind(limit)
            .push(" OFFSET ")
            .bind(offset);
        let rows = list.into_query().fetch_all(self.reader()).await?;
        let rows = rows.iter().map(access_row).collect::<Result<Vec<_>, _>>()?;
        Ok((rows, total))
    }
}

fn dwelling_violation(e: sqlx::Error, d: &NewDwelling) -> StoreError {
    if is_unique_violation(&e) {
        let unit = if d.unit.is_empty() {
            String::new()
        } else {
            format!("{} ", d.unit)
        };
        StoreError::clash("number", format!("该楼栋已有 {unit}{} 的房屋", d.number))
    } else {
        StoreError::Db(e)
    }
}

async fn insert_care_tag(
    conn: &mut AnyConnection,
    t: &NewCareTag,
    sort: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO care_tags (code, name, sensitive, active, sort, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(t.code.as_str())
    .bind(t.name.as_str())
    .bind(flag(t.sensitive))
    .bind(flag(t.active))
    .bind(sort)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(crate::error::unique_as_conflict("code"))?;
    Ok(())
}

// ----- bulk import --------------------------------------------------------------------------

fn check_import_row(r: &ImportRow) -> Result<(), StoreError> {
    check_dwelling_fields(
        &r.unit,
        r.floor,
        &r.number,
        &r.use_type,
        &r.occupancy,
        r.area_m2,
    )?;
    if let Some(no) = &r.household_no {
        required("户号", no, 30)?;
    }
    code_shape("与户主关系", &r.relation)?;
    check_person(&r.person)?;
    for t in &r.tags {
        code_shape("标签编码", t)?;
    }
    Ok(())
}

/// The checks [`Store::import_people`] makes of one row on its own (without the database), so a
/// caller can name a bad row before the import.
pub fn check_import(r: &ImportRow) -> Result<(), StoreError> {
    check_import_row(r)
}

/// A dwelling of the import: found in the database or to be created from `first_row`.
struct DwellingPlan {
    existing: Option<i64>,
    first_row: usize,
}

/// A household of the import.
struct HouseholdPlan {
    existing: Option<i64>,
    dwelling: usize,
    first_row: usize,
    /// The household already has a head.
    has_head: bool,
    head_row: Option<usize>,
}

/// Why an import stopped.
enum ImportStop {
    Store(StoreError),
    /// A persons INSERT hit the unique ID index: some row's ID number is already registered.
    IdTaken,
}

impl From<StoreError> for ImportStop {
    fn from(e: StoreError) -> ImportStop {
        ImportStop::Store(e)
    }
}

impl From<sqlx::Error> for ImportStop {
    fn from(e: sqlx::Error) -> ImportStop {
        ImportStop::Store(StoreError::Db(e))
    }
}

/// Distinct values in first-seen order, each with the first row it appears in.
fn distinct<K: std::hash::Hash + Eq + Clone>(keys: impl Iterator<Item = K>) -> Vec<(K, usize)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, k) in keys.enumerate() {
        if seen.insert(k.clone()) {
            out.push((k, i));
        }
    }
    out
}

/// An identifier from the catalogue, quoted all the same.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Imports of fewer persons than this keep their indexes: writing a few thousand entries is
/// quicker than building an index again.
const REBUILD_MIN: usize = 5_000;

/// Before a large import into a small register: drops the secondary indexes (and on
/// PostgreSQL the foreign keys) of the tables it fills and returns the statements that build
/// them again, to run once the rows are in.
///
/// Entering a million persons into eight indexes in random key order costs SQLite about five
/// times what sorting them into fresh indexes does, and PostgreSQL checks every foreign key
/// row by row. Worth it while the rows already there (which the rebuild reads too) are at most
/// twice the new ones. All of it is inside the import's transaction: until it commits, other
/// connections see the old indexes (SQLite) or wait for the people tables (PostgreSQL, where
/// dropping an index locks its table); a rollback puts everything back as it was.
async fn drop_for_bulk_load(
    conn: &mut AnyConnection,
    backend: Backend,
    new_persons: usize,
) -> Result<Vec<String>, StoreError> {
    if new_persons < REBUILD_MIN {
        return Ok(Vec::new());
    }
    let existing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM persons")
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    if usize::try_from(existing).unwrap_or(usize::MAX) > new_persons.saturating_mul(2) {
        return Ok(Vec::new());
    }
    if backend == Backend::Postgres {
        // Dropping an index locks its table anyway: all five at once, in one order.
        sqlx::query(
            "LOCK TABLE dwellings, households, persons, household_members, person_tags \
             IN ACCESS EXCLUSIVE MODE",
        )
        .execute(&mut *conn)
        .await?;
    }
    // The secondary indexes only: not those behind a primary key or a constraint.
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ('dwellings', 'households', 'persons', 'household_members', \
             'person_tags') \
             ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT CAST(c.relname AS TEXT) AS name, pg_get_indexdef(c.oid) AS sql \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_class t ON t.oid = i.indrelid \
             WHERE t.relnamespace = CAST(current_schema() AS regnamespace) \
             AND t.relname IN ('dwellings', 'households', 'persons', 'household_members', \
             'person_tags') \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid) \
             ORDER BY c.relname"
        }
    };
    let mut creates = Vec::new();
    for r in sqlx::query(sql).fetch_all(&mut *conn).await? {
        let name: String = r.try_get("name")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {}", quoted(&name))))
            .execute(&mut *conn)
            .await?;
        creates.push(r.try_get("sql")?);
    }
    if backend == Backend::Postgres {
        // PostgreSQL checks each new row's foreign keys one by one (about 4.5 s a million);
        // adding a key back checks all rows in one join.
        let keys = sqlx::query(
            "SELECT CAST(conrelid::regclass AS TEXT) AS tbl, CAST(conname AS TEXT) AS name, \
             pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE contype = 'f' \
             AND connamespace = CAST(current_schema() AS regnamespace) \
             AND CAST(conrelid::regclass AS TEXT) IN ('dwellings', 'households', 'persons', \
             'household_members', 'person_tags') ORDER BY conname",
        )
        .fetch_all(&mut *conn)
        .await?;
        for r in keys {
            let table = quoted(&r.try_get::<String, _>("tbl")?);
            let name = quoted(&r.try_get::<String, _>("name")?);
            let def: String = r.try_get("def")?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE {table} DROP CONSTRAINT {name}"
            )))
            .execute(&mut *conn)
            .await?;
            creates.push(format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}"));
        }
    }
    if backend == Backend::Postgres && !creates.is_empty() {
        // Sorting a million keys in memory instead of in 64 MB runs on disk (unless the server
        // already allows more).
        sqlx::query(
            "SELECT set_config('maintenance_work_mem', '262144', true) FROM pg_settings \
             WHERE name = 'maintenance_work_mem' AND CAST(setting AS BIGINT) < 262144",
        )
        .fetch_all(&mut *conn)
        .await?;
    }
    Ok(creates)
}

async fn import_on(
    conn: &mut AnyConnection,
    backend: Backend,
    rows: &[ImportRow],
    lines: &[u32],
    audit: &NewAudit,
    now: i64,
    progress: Option<&(dyn Fn(usize, usize) + Send + Sync)>,
) -> Result<ImportSummary, ImportStop> {
    let fail = |row: usize, e: StoreError| ImportStop::Store(at_line(lines[row], e));

    // Buildings: each must exist and be a building.
    let building_ids = distinct(rows.iter().map(|r| r.building_id));
    let mut buildings: HashMap<i64, Building> = HashMap::with_capacity(building_ids.len());
    for chunk in building_ids.chunks(LOOKUP_CHUNK) {
        let mut sql = Sql::new("SELECT id, tenant, path, level, name FROM regions WHERE id IN (");
        sql.bind_list(chunk.iter().map(|(id, _)| *id)).push(")");
        for r in sql.into_query().fetch_all(&mut *conn).await? {
            let id: i64 = r.try_get("id")?;
            let level = parse_level(&r.try_get::<String, _>("level")?)?;
            if level != jinlin_domain::regions::RegionLevel::Building {
                let name: String = r.try_get("name")?;
                let row = chunk.iter().find(|(b, _)| *b == id).map_or(0, |(_, i)| *i);
                return Err(fail(
                    row,
                    bad(format!(
                        "房屋须登记在楼栋下，{name}（区划编号 {id}）是{}",
                        level.zh()
                    )),
                ));
            }
            buildings.insert(
                id,
                Building {
                    tenant: r.try_get("tenant")?,
                    path: r.try_get("path")?,
                },
            );
        }
    }
    if let Some((id, row)) = building_ids
        .iter()
        .find(|(id, _)| !buildings.contains_key(id))
    {
        return Err(fail(*row, bad(format!("楼栋（区划编号 {id}）不存在"))));
    }
    let building = |i: usize| &buildings[&rows[i].building_id];

    // Care tags: each must exist and be active.
    let codes = distinct(rows.iter().flat_map(|r| r.tags.iter().map(String::as_str)));
    let codes: Vec<(&str, usize)> = codes
        .into_iter()
        .map(|(code, _)| {
            let row = rows
                .iter()
                .position(|r| r.tags.iter().any(|t| t == code))
                .unwrap_or(0);
            (code, row)
        })
        .collect();
    let mut active_tags = HashMap::new();
    for chunk in codes.chunks(LOOKUP_CHUNK) {
        let mut sql = Sql::new("SELECT code, active FROM care_tags WHERE code IN (");
        sql.bind_list(chunk.iter().map(|(c, _)| *c)).push(")");
        for r in sql.into_query().fetch_all(&mut *conn).await? {
            active_tags.insert(
                r.try_get::<String, _>("code")?,
                r.try_get::<i64, _>("active")? != 0,
            );
        }
    }
    for (code, row) in &codes {
        match active_tags.get(*code) {
            None => return Err(fail(*row, bad(format!("标签“{code}”不存在")))),
            Some(false) => return Err(fail(*row, bad(format!("标签“{code}”已停用")))),
            Some(true) => {}
        }
    }

    // The same ID number twice in the batch.
    let mut ids_seen: HashMap<(&str, &str), usize> = HashMap::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        if let Some(bidx) = r.person.id_bidx.as_deref()
            && let Some(first) = ids_seen.insert((building(i).tenant.as_str(), bidx), i)
        {
            return Err(fail(
                i,
                StoreError::clash("id_number", format!("身份证号与第 {} 行相同", lines[first])),
            ));
        }
    }

    // Dwellings: existing ones by (building, unit, number), the others from their first row.
    let mut existing_dwellings: HashMap<(i64, String, String), i64> = HashMap::new();
    for chunk in building_ids.chunks(LOOKUP_CHUNK) {
        let mut sql =
            Sql::new("SELECT id, building_id, unit, number FROM dwellings WHERE building_id IN (");
        sql.bind_list(chunk.iter().map(|(id, _)| *id)).push(")");
        for r in sql.into_query().fetch_all(&mut *conn).await? {
            existing_dwellings.insert(
                (
                    r.try_get("building_id")?,
                    r.try_get("unit")?,
                    r.try_get("number")?,
                ),
                r.try_get("id")?,
            );
        }
    }
    let mut dwellings: Vec<DwellingPlan> = Vec::new();
    let mut dwelling_index: HashMap<(i64, &str, &str), usize> = HashMap::with_capacity(rows.len());
    let mut dwelling_of_row = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let key = (r.building_id, r.unit.as_str(), r.number.as_str());
        let d = *dwelling_index.entry(key).or_insert_with(|| {
            // (No keys to clone for a lookup into an empty register.)
            let existing = if existing_dwellings.is_empty() {
                None
            } else {
                existing_dwellings
                    .get(&(r.building_id, r.unit.clone(), r.number.clone()))
                    .copied()
            };
            dwellings.push(DwellingPlan {
                existing,
                first_row: i,
            });
            dwellings.len() - 1
        });
        dwelling_of_row.push(d);
    }

    // Households: existing numbered ones of existing dwellings; the others new.
    let old_dwellings: Vec<i64> = dwellings.iter().filter_map(|d| d.existing).collect();
    let mut existing_households: HashMap<(i64, String), (i64, bool)> = HashMap::new();
    for chunk in old_dwellings.chunks(LOOKUP_CHUNK) {
        let mut sql = Sql::new(
            "SELECT id, dwelling_id, household_no, head_person_id FROM households \
             WHERE household_no IS NOT NULL AND dwelling_id IN (",
        );
        sql.bind_list(chunk.iter().copied()).push(") ORDER BY id");
        for r in sql.into_query().fetch_all(&mut *conn).await? {
            let head: Option<i64> = r.try_get("head_person_id")?;
            existing_households
                .entry((r.try_get("dwelling_id")?, r.try_get("household_no")?))
                .or_insert((r.try_get("id")?, head.is_some()));
        }
    }
    let mut households: Vec<HouseholdPlan> = Vec::new();
    let mut household_index: HashMap<(usize, Option<&str>), usize> =
        HashMap::with_capacity(rows.len());
    let mut household_of_row = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let d = dwelling_of_row[i];
        let key = (d, r.household_no.as_deref());
        let h = *household_index.entry(key).or_insert_with(|| {
            let existing = match (dwellings[d].existing, &r.household_no) {
                (Some(dw), Some(no)) => existing_households.get(&(dw, no.clone())).copied(),
                _ => None,
            };
            households.push(HouseholdPlan {
                existing: existing.map(|e| e.0),
                dwelling: d,
                first_row: i,
                has_head: existing.is_some_and(|e| e.1),
                head_row: None,
            });
            households.len() - 1
        });
        if r.relation == HEAD {
            let plan = &mut households[h];
            if plan.has_head {
                return Err(fail(
                    i,
                    StoreError::clash("relation", "该户已有户主，不能再导入一位户主"),
                ));
            }
            if let Some(first) = plan.head_row {
                return Err(fail(
                    i,
                    StoreError::clash(
                        "relation",
                        format!("与第 {} 行同为一户的户主", lines[first]),
                    ),
                ));
            }
            plan.head_row = Some(i);
        }
        household_of_row.push(h);
    }

    tracing::debug!("people import: planned");
    let rebuild = drop_for_bulk_load(conn, backend, rows.len()).await?;
    let locked = !rebuild.is_empty();
    if locked && backend == Backend::Sqlite {
        // Rows only appended and indexes sorted afresh need no large page cache: it would be
        // fresh memory to fault in, written out at commit all the same. The usual 32 MiB also
        // bounds each sorted run of an index build, so with helper threads SQLite sorts runs on
        // both cores while it reads the table (index builds 14.6 s → 10.6 s for a million).
        // `import_people` puts the threads back.
        sqlx::query(crate::SQLITE_CACHE_PRAGMA)
            .execute(&mut *conn)
            .await?;
        sqlx::query("PRAGMA threads = 2")
            .execute(&mut *conn)
            .await?;
    }
    // Ids up front, so every row is written in multi-row INSERTs.
    let new_dwellings = dwellings.iter().filter(|d| d.existing.is_none()).count();
    let new_households = households.iter().filter(|h| h.existing.is_none()).count();
    let mut fresh = reserve_ids(conn, backend, "dwellings", new_dwellings, locked)
        .await?
        .into_iter();
    let dwelling_ids: Vec<i64> = dwellings
        .iter()
        .map(|d| d.existing.or_else(|| fresh.next()).unwrap_or_default())
        .collect();
    let person_ids = reserve_ids(conn, backend, "persons", rows.len(), locked).await?;
    let mut fresh = reserve_ids(conn, backend, "households", new_households, locked)
        .await?
        .into_iter();
    let household_ids: Vec<i64> = households
        .iter()
        .map(|h| h.existing.or_else(|| fresh.next()).unwrap_or_default())
        .collect();

    let clock = std::time::Instant::now();

    let created: Vec<usize> = (0..dwellings.len())
        .filter(|&d| dwellings[d].existing.is_none())
        .collect();
    insert_many(
        conn,
        backend,
        "INSERT INTO dwellings (id, tenant, building_id, region_path, unit, floor, number, \
         use_type, occupancy, area_m2, notes, created_at, updated_at) VALUES ",
        13,
        created.len(),
        |k| {
            let d = created[k];
            let first = dwellings[d].first_row;
            let r = &rows[first];
            let b = building(first);
            [
                Val::from(dwelling_ids[d]),
                b.tenant.as_str().into(),
                r.building_id.into(),
                b.path.as_str().into(),
                r.unit.as_str().into(),
                r.floor.into(),
                r.number.as_str().into(),
                r.use_type.as_str().into(),
                r.occupancy.as_str().into(),
                r.area_m2.into(),
                "".into(),
                now.into(),
                now.into(),
            ]
        },
    )
    .await?;

    // Persons in blocks of whole INSERTs, so a caller can show how far the import has got.
    let block = (MAX_BINDS / 23).max(1) * 8;
    for start in (0..rows.len()).step_by(block) {
        let end = rows.len().min(start + block);
        insert_many(
            conn,
            backend,
            concat!("INSERT INTO persons (id, ", person_columns!(), ") VALUES "),
            23,
            end - start,
            |k| {
                let i = start + k;
                let (r, b) = (&rows[i], building(i));
                std::iter::once(Val::from(person_ids[i])).chain(person_values(
                    &r.person,
                    &b.tenant,
                    r.building_id,
                    &b.path,
                    now,
                ))
            },
        )
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                ImportStop::IdTaken
            } else {
                ImportStop::Store(StoreError::Db(e))
            }
        })?;
        if let Some(p) = progress {
            p(end, rows.len());
        }
    }

    let created: Vec<usize> = (0..households.len())
        .filter(|&h| households[h].existing.is_none())
        .collect();
    insert_many(
        conn,
        backend,
        "INSERT INTO households (id, tenant, dwelling_id, head_person_id, household_no, notes, \
         region_path, created_at, updated_at) VALUES ",
        9,
        created.len(),
        |k| {
            let h = &households[created[k]];
            let r = &rows[h.first_row];
            let b = building(h.first_row);
            [
                Val::from(household_ids[created[k]]),
                b.tenant.as_str().into(),
                dwelling_ids[h.dwelling].into(),
                h.head_row.map(|i| person_ids[i]).into(),
                r.household_no.clone().into(),
                "".into(),
                b.path.as_str().into(),
                now.into(),
                now.into(),
            ]
        },
    )
    .await?;
    for (h, &id) in households.iter().zip(&household_ids) {
        if let (Some(_), Some(head)) = (h.existing, h.head_row) {
            sqlx::query("UPDATE households SET head_person_id = $1, updated_at = $2 WHERE id = $3")
                .bind(person_ids[head])
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
    }

    insert_many(
        conn,
        backend,
        "INSERT INTO household_members (tenant, household_id, person_id, relation, joined_at, \
         joined_reason, left_reason) VALUES ",
        7,
        rows.len(),
        |i| {
            [
                Val::from(building(i).tenant.as_str()),
                household_ids[household_of_row[i]].into(),
                person_ids[i].into(),
                rows[i].relation.as_str().into(),
                now.into(),
                "导入".into(),
                "".into(),
            ]
        },
    )
    .await?;

    // Each code once per person.
    let mut tag_rows: Vec<(i64, &str)> = Vec::new();
    for (r, &id) in rows.iter().zip(&person_ids) {
        for (code, _) in distinct(r.tags.iter().map(String::as_str)) {
            tag_rows.push((id, code));
        }
    }
    insert_many(
        conn,
        backend,
        "INSERT INTO person_tags (person_id, tag_code, since, noted_by) VALUES ",
        4,
        tag_rows.len(),
        |k| {
            let (id, code) = tag_rows[k];
            [
                Val::from(id),
                code.into(),
                now.into(),
                audit.actor_id.into(),
            ]
        },
    )
    .await?;

    tracing::debug!(
        ms = clock.elapsed().as_millis(),
        "people import: rows inserted"
    );
    for create in &rebuild {
        sqlx::query(sqlx::AssertSqlSafe(create.as_str()))
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                if is_unique_violation_of(&e, "persons_id_bidx", "persons.id_bidx, persons.tenant")
                {
                    ImportStop::IdTaken
                } else {
                    ImportStop::Store(StoreError::Db(e))
                }
            })?;
    }
    tracing::debug!(
        ms = clock.elapsed().as_millis(),
        indexes = rebuild.len(),
        "people import: indexes built"
    );

    let tenant = building(0).tenant.clone();
    let audit = targeted(audit, || format!("persons:{}", rows.len()));
    insert_audit(conn, &audit, Some(&tenant), now).await?;
    insert_access(
        conn,
        &NewAccess {
            tenant: Some(tenant),
            user_id: audit.actor_id,
            user_name: audit.actor_name.clone(),
            person_id: None,
            action: "import".into(),
            field: None,
            reason: audit.detail.chars().take(500).collect(),
            row_count: i64::try_from(rows.len()).ok(),
            ip: audit.ip.clone(),
        },
        now,
    )
    .await?;
    Ok(ImportSummary {
        dwellings: new_dwellings,
        households: new_households,
        persons: rows.len(),
        tags: tag_rows.len(),
    })
}

impl Store {
    /// Imports many people at once, with their dwellings, households, memberships and tags, in
    /// ONE transaction: all rows or none. Writes one audit entry and one access-log row (action
    /// `import`, the row count). Errors name the row's `line`: `Invalid` for bad input (a
    /// missing building or tag, a bad date …), `Clash` for an ID number repeated in the batch
    /// or already registered in the district, or a second head of a household. `progress`, if
    /// given, is called with (persons written, persons to write) after each block of persons;
    /// they are not committed until the whole import is.
    pub async fn import_people(
        &self,
        rows: &[ImportRow],
        audit: &NewAudit,
        now: i64,
        progress: Option<&(dyn Fn(usize, usize) + Send + Sync)>,
    ) -> Result<ImportSummary, StoreError> {
        if rows.is_empty() {
            return Err(bad("没有可导入的人员"));
        }
        let lines: Vec<u32> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if r.line > 0 {
                    r.line
                } else {
                    u32::try_from(i + 1).unwrap_or(u32::MAX)
                }
            })
            .collect();
        // A million rows take a second to check on one core.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8));
        let part = rows.len().div_ceil(threads).max(1);
        let first_bad = std::thread::scope(|s| {
            let checks: Vec<_> = rows
                .chunks(part)
                .zip(lines.chunks(part))
                .map(|(rows, lines)| {
                    s.spawn(move || {
                        rows.iter().zip(lines).find_map(|(r, &line)| {
                            check_import_row(r).err().map(|e| at_line(line, e))
                        })
                    })
                })
                .collect();
            // In file order: the first part with a bad row names the first bad row.
            checks.into_iter().find_map(|h| {
                h.join()
                    .unwrap_or_else(|_| Some(bad("检查导入数据时出现内部错误")))
            })
        });
        if let Some(e) = first_bad {
            return Err(e);
        }
        // A large import into a large register writes eight person indexes in random order;
        // with the writer's usual 32 MiB page cache SQLite rereads index pages for every
        // batch. The cache grows for the import (to at most 1 GiB, sized by the rows) and is
        // put back after it. (Into a small register the indexes are built afresh instead: see
        // `drop_for_bulk_load`.)
        let bulk = self.backend() == Backend::Sqlite && rows.len() > 50_000;
        let mut conn = self.writer().acquire().await?;
        let reset_after = self.backend() == Backend::Sqlite && rows.len() >= REBUILD_MIN;
        if bulk {
            let kib = (rows.len() as i64).clamp(65_536, 1_048_576);
            sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA cache_size = -{kib}")))
                .execute(&mut *conn)
                .await?;
        }
        let outcome = self
            .import_in(&mut conn, rows, &lines, audit, now, progress)
            .await;
        if reset_after {
            let reset = async {
                sqlx::query(crate::SQLITE_CACHE_PRAGMA)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("PRAGMA threads = 0").execute(&mut *conn).await
            }
            .await;
            if let Err(e) = reset {
                // A connection with a 1 GiB cache or sorter threads must not serve the next writes.
                tracing::warn!(error = %e, "could not reset the writer after the people import");
                conn.close_on_drop();
            }
        }
        outcome
    }

    async fn import_in(
        &self,
        conn: &mut AnyConnection,
        rows: &[ImportRow],
        lines: &[u32],
        audit: &NewAudit,
        now: i64,
        progress: Option<&(dyn Fn(usize, usize) + Send + Sync)>,
    ) -> Result<ImportSummary, StoreError> {
        let mut tx = sqlx::Connection::begin_with(conn, self.begin_statement()).await?;
        let result = import_on(&mut tx, self.backend(), rows, lines, audit, now, progress).await;
        match result {
            Ok(summary) => {
                tx.commit().await?;
                if self.backend() == Backend::Postgres {
                    // Fresh statistics, so the next searches plan for the new rows instead of
                    // waiting for autovacuum. Only a hint: the import itself is done.
                    let analyze = sqlx::query(
                        "ANALYZE dwellings, households, persons, household_members, person_tags",
                    )
                    .execute(self.writer())
                    .await;
                    if let Err(e) = analyze {
                        tracing::warn!(error = %e, "ANALYZE after the people import failed");
                    }
                }
                Ok(summary)
            }
            Err(ImportStop::Store(e)) => Err(e),
            Err(ImportStop::IdTaken) => {
                tx.rollback().await?;
                Err(self.registered_id_in(rows, lines).await?)
            }
        }
    }

    /// After an import hit the unique ID index: the first row whose ID number is registered.
    async fn registered_id_in(
        &self,
        rows: &[ImportRow],
        lines: &[u32],
    ) -> Result<StoreError, StoreError> {
        let with_id: Vec<(usize, &str)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.person.id_bidx.as_deref().map(|b| (i, b)))
            .collect();
        for chunk in with_id.chunks(LOOKUP_CHUNK) {
            let mut sql =
                Sql::new("SELECT id, name, id_bidx, tenant FROM persons WHERE id_bidx IN (");
            sql.bind_list(chunk.iter().map(|(_, b)| *b)).push(")");
            let found = sql.into_query().fetch_all(self.reader()).await?;
            let mut taken: HashMap<(String, String), (i64, String)> = HashMap::new();
            for r in &found {
                taken.insert(
                    (r.try_get("tenant")?, r.try_get("id_bidx")?),
                    (r.try_get("id")?, r.try_get("name")?),
                );
            }
            if taken.is_empty() {
                continue;
            }
            let tenants = self
                .tenants_of(chunk.iter().map(|(i, _)| rows[*i].building_id))
                .await?;
            for (i, bidx) in chunk {
                let tenant = tenants
                    .get(&rows[*i].building_id)
                    .cloned()
                    .unwrap_or_default();
                if let Some((id, name)) = taken.get(&(tenant, (*bidx).to_owned())) {
                    return Ok(at_line(
                        lines[*i],
                        StoreError::clash(
                            "id_number",
                            format!("该身份证号已登记为 {name}（人员编号 {id}）"),
                        ),
                    ));
                }
            }
        }
        Ok(StoreError::clash(
            "id_number",
            "导入数据中有已登记的身份证号",
        ))
    }

    async fn tenants_of(
        &self,
        building_ids: impl Iterator<Item = i64>,
    ) -> Result<HashMap<i64, String>, StoreError> {
        let ids: Vec<i64> = distinct(building_ids)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut out = HashMap::new();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let mut sql = Sql::new("SELECT id, tenant FROM regions WHERE id IN (");
            sql.bind_list(chunk.iter().copied()).push(")");
            for r in sql.into_query().fetch_all(self.reader()).await? {
                out.insert(r.try_get("id")?, r.try_get("tenant")?);
            }
        }
        Ok(out)
    }
}

// ----- import checks and key rotation -------------------------------------------------------

/// A region named in an import file, found by its code.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionRef {
    pub id: i64,
    pub tenant: String,
    pub code: String,
    pub level: jinlin_domain::regions::RegionLevel,
    pub name: String,
    pub path: String,
}

/// The ciphertexts of one person with the blind indexes they are bound to, for re-encryption.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonCiphers {
    pub id: i64,
    pub id_cipher: Option<String>,
    pub id_bidx: Option<String>,
    pub phone_cipher: Option<String>,
    pub phone_bidx: Option<String>,
    pub id_masked: Option<String>,
    pub phone_masked: Option<String>,
}

const REGION_REF_SELECT: &str = "SELECT id, tenant, code, level, name, path FROM regions";

fn region_ref(r: &AnyRow) -> Result<RegionRef, StoreError> {
    Ok(RegionRef {
        id: r.try_get("id")?,
        tenant: r.try_get("tenant")?,
        code: r.try_get("code")?,
        level: parse_level(&r.try_get::<String, _>("level")?)?,
        name: r.try_get("name")?,
        path: r.try_get("path")?,
    })
}

impl Store {
    /// The regions with these codes, by code (absent codes are simply missing), in chunked
    /// `IN` lists.
    pub async fn regions_by_codes(
        &self,
        codes: &[String],
    ) -> Result<HashMap<String, RegionRef>, StoreError> {
        let mut out = HashMap::with_capacity(codes.len());
        for chunk in codes.chunks(LOOKUP_CHUNK) {
            let mut sql = Sql::new(REGION_REF_SELECT);
            sql.push(" WHERE code IN (")
                .bind_list(chunk.iter().map(String::as_str))
                .push(")");
            for r in sql.into_query().fetch_all(self.reader()).await? {
                let region = region_ref(&r)?;
                out.insert(region.code.clone(), region);
            }
        }
        Ok(out)
    }

    /// Every building inside the subtree at `scope_path` (the region's own path), so that an
    /// import can check its rows while the file is still being read.
    pub async fn buildings_within(&self, scope_path: &str) -> Result<Vec<RegionRef>, StoreError> {
        let range = scope_bounds(scope_path)?;
        let mut sql = Sql::new(REGION_REF_SELECT);
        regions_within(&mut sql, &[&range]);
        sql.push(" AND level = ")
            .bind(jinlin_domain::regions::RegionLevel::Building.as_str());
        let rows = sql.into_query().fetch_all(self.reader()).await?;
        rows.iter().map(region_ref).collect()
    }

    /// Which of these ID blind indexes are already registered in the district `tenant` (ID
    /// numbers are unique per district), in chunked `IN` lists.
    pub async fn existing_id_bidx(
        &self,
        tenant: &str,
        bidx: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let mut out = HashSet::new();
        // A first import into an empty district need not look its million numbers up.
        let any = sqlx::query(
            "SELECT 1 AS one FROM persons WHERE tenant = $1 AND id_bidx IS NOT NULL LIMIT 1",
        )
        .bind(tenant)
        .fetch_optional(self.reader())
        .await?;
        if any.is_none() {
            return Ok(out);
        }
        // Larger lists than other lookups: an import checks up to a million numbers.
        for chunk in bidx.chunks(LOOKUP_CHUNK * 10) {
            // Thousands of values: plain placeholders on SQLite (see Sql::bulk).
            let mut sql = Sql::bulk(
                "SELECT id_bidx FROM persons WHERE tenant = ",
                self.backend(),
            );
            sql.bind(tenant)
                .push(" AND id_bidx IN (")
                .bind_list(chunk.iter().map(String::as_str))
                .push(")");
            for r in sql.into_query().fetch_all(self.reader()).await? {
                out.insert(r.try_get::<String, _>("id_bidx")?);
            }
        }
        Ok(out)
    }

    /// Up to `limit` persons with an ID or phone ciphertext and an id above `after`, by id.
    pub async fn person_ciphers_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<PersonCiphers>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, id_cipher, id_bidx, phone_cipher, phone_bidx, id_masked, phone_masked \
             FROM persons \
             WHERE id > $1 AND (id_cipher IS NOT NULL OR phone_cipher IS NOT NULL) \
             ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PersonCiphers {
                    id: r.try_get("id")?,
                    id_cipher: r.try_get("id_cipher")?,
                    id_bidx: r.try_get("id_bidx")?,
                    phone_cipher: r.try_get("phone_cipher")?,
                    phone_bidx: r.try_get("phone_bidx")?,
                    id_masked: r.try_get("id_masked")?,
                    phone_masked: r.try_get("phone_masked")?,
                })
            })
            .collect()
    }

    /// The ciphertexts of these persons inside `scope_path` (for a clear export, which the
    /// caller logs), by id.
    pub async fn person_ciphers(
        &self,
        ids: &[i64],
        scope_path: &str,
    ) -> Result<HashMap<i64, PersonCiphers>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let mut sql = Sql::new(
                "SELECT id, id_cipher, id_bidx, phone_cipher, phone_bidx, id_masked, phone_masked \
             FROM persons \
                 WHERE region_path >= ",
            );
            sql.bind(lo.as_str())
                .push(" AND region_path < ")
                .bind(hi.as_str())
                .push(" AND id IN (")
                .bind_list(chunk.iter().copied())
                .push(")");
            for r in sql.into_query().fetch_all(self.reader()).await? {
                let c = PersonCiphers {
                    id: r.try_get("id")?,
                    id_cipher: r.try_get("id_cipher")?,
                    id_bidx: r.try_get("id_bidx")?,
                    phone_cipher: r.try_get("phone_cipher")?,
                    phone_bidx: r.try_get("phone_bidx")?,
                    id_masked: r.try_get("id_masked")?,
                    phone_masked: r.try_get("phone_masked")?,
                };
                out.insert(c.id, c);
            }
        }
        Ok(out)
    }

    /// Replaces the ciphertexts and masked forms of some persons (same plaintexts under a new
    /// key: the blind indexes stay), in one transaction, with one audit entry.
    pub async fn replace_person_ciphers(
        &self,
        rows: &[PersonCiphers],
        audit: &NewAudit,
        now: i64,
    ) -> Result<usize, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        for r in rows {
            sqlx::query(
                "UPDATE persons SET id_cipher = $1, phone_cipher = $2, id_masked = $3, \
                 phone_masked = $4 WHERE id = $5",
            )
            .bind(r.id_cipher.clone())
            .bind(r.phone_cipher.clone())
            .bind(r.id_masked.clone())
            .bind(r.phone_masked.clone())
            .bind(r.id)
            .execute(&mut *tx)
            .await?;
        }
        insert_audit(&mut tx, audit, None, now).await?;
        tx.commit().await?;
        Ok(rows.len())
    }
}
