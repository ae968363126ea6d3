//! People (人员 / 实有人口), households (户) and dwellings (房屋): the pure rules.
//!
//! - Citizen ID numbers after GB 11643-1999 (reference/crates-and-security.md A.12): checksum,
//!   birth date, sex, and the conversion of 15-digit legacy numbers.
//! - Mainland mobile numbers.
//! - Masking for lists and exports (B.2 PI-6): `110***********123X`, `138****5678`.
//! - Pinyin search keys for names (A.11), with the surname readings of heteronym surnames.
//! - The registry's small vocabularies: sex, relation to the head of household, dwelling use and
//!   occupancy, residence status, the seed care tags and the 56 ethnic groups.
//!
//! Pure: "today" is a parameter, never read from a clock.
//!
//! An [`IdNumber`] or [`Mobile`] prints masked with `{:?}`, so a stray debug log line does not leak
//! the number; the clear text is only reachable through `as_str()`.

use std::fmt;

use pinyin::ToPinyin;
use serde::{Deserialize, Serialize};

use crate::cases::labelled_enum;
use crate::deadlines::Date;

/// Errors of this module. Messages are Chinese, name the field and the rule, and never repeat
/// the number itself (error texts end up in logs and screenshots).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeopleError {
    #[error("身份证号：长度应为 18 位（旧证 15 位），现有 {len} 位")]
    IdLength { len: usize },
    #[error("身份证号：前 17 位应为数字，第 18 位应为数字或 X")]
    IdCharacters,
    #[error("身份证号：15 位旧证号码应全部为数字")]
    IdLegacyCharacters,
    #[error("身份证号：校验位错误，请逐位核对")]
    IdChecksum,
    #[error("身份证号：出生日期（第 {positions} 位）不是有效日期")]
    IdBirthDate { positions: &'static str },
    #[error("身份证号：出生日期不能早于 1900 年 1 月 1 日")]
    IdBirthTooEarly,
    #[error("身份证号：出生日期不能晚于今天")]
    IdBirthInFuture,
    #[error("手机号码：应为 11 位数字，以 13–19 开头")]
    Mobile,
}

// ---------------------------------------------------------------------------------------------
// Vocabularies
// ---------------------------------------------------------------------------------------------

labelled_enum! {
    /// Sex as recorded on the ID card (性别).
    pub enum Gender {
        Male => "male", "男", "Male";
        Female => "female", "女", "Female";
    }
}

labelled_enum! {
    /// A member's relation to the head of household (与户主关系), the top level of the 户口簿
    /// relations. In-laws (儿媳, 女婿) and everyone else go under `other`.
    pub enum RelationToHead {
        /// The head of household.
        Head => "head", "本人（户主）", "Head of household";
        Spouse => "spouse", "配偶", "Spouse";
        Son => "son", "子", "Son";
        Daughter => "daughter", "女", "Daughter";
        Parent => "parent", "父母", "Parent";
        Grandparent => "grandparent", "祖父母 / 外祖父母", "Grandparent";
        Grandchild => "grandchild", "孙子女 / 外孙子女", "Grandchild";
        Sibling => "sibling", "兄弟姐妹", "Sibling";
        Other => "other", "其他", "Other";
    }
}

labelled_enum! {
    /// What a dwelling is for (房屋用途).
    pub enum DwellingUse {
        Residential => "residential", "住宅", "Residential";
        Commercial => "commercial", "商铺", "Shop";
        Office => "office", "办公", "Office";
        Other => "other", "其他", "Other";
    }
}

labelled_enum! {
    /// How a dwelling is used (使用方式).
    pub enum Occupancy {
        OwnerOccupied => "owner_occupied", "自住", "Owner-occupied";
        Rented => "rented", "出租", "Rented out";
        Vacant => "vacant", "空置", "Vacant";
        /// Lent to relatives, used as a store room, …
        Other => "other", "其他", "Other";
    }
}

labelled_enum! {
    /// Where a person's household registration (户籍) is, against where they live (实有人口).
    pub enum ResidenceStatus {
        /// Registered here and living here (人户一致).
        RegisteredHere => "registered_here", "户籍人口（人户一致）", "Registered and living here";
        /// Registered here, living elsewhere (户在人不在).
        RegisteredAway => "registered_away", "人户分离（户在人不在）", "Registered here, living elsewhere";
        /// Living here, registered elsewhere (人在户不在, 流动人口).
        Floating => "floating", "流动人口（人在户不在）", "Living here, registered elsewhere";
        /// Foreign nationals and residents of Hong Kong, Macao and Taiwan (境外人员).
        Foreign => "foreign", "境外人员", "Foreign national";
        /// Living here without any household registration (未落户人员).
        Unregistered => "unregistered", "未落户人员", "Without household registration";
    }
}

/// A care tag (重点人群标签) offered when a county starts; counties edit the list afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CareTagSpec {
    /// Stable snake_case identifier.
    pub code: &'static str,
    /// Chinese name, as shown.
    pub name: &'static str,
    /// English name.
    pub en: &'static str,
    /// Sensitive personal information (PIPL art. 28, reference/crates-and-security.md B.2 PI-4):
    /// stored encrypted, shown only to roles allowed to see sensitive tags, every view audited.
    pub sensitive: bool,
}

/// The care tags a new county starts with.
///
/// Sensitive: health (残疾人, 大病), minors (留守儿童: all data of children under 14 is sensitive),
/// poverty relief (低保, 特困), and special groups and community correction (特定身份).
/// Not sensitive: age and living alone (独居, 空巢, 高龄) follow from the household file itself
/// and are the point of the tag: grid workers and building heads visit these people weekly and
/// must see the tag on their worklist, so hiding it would defeat the visit. 退役军人 and 优抚对象 are
/// honoured publicly (光荣之家 plaques on the door); a disabled veteran's disability is recorded
/// with the sensitive 残疾人 tag.
pub fn care_tag_seed() -> Vec<CareTagSpec> {
    const fn tag(
        code: &'static str,
        name: &'static str,
        en: &'static str,
        sensitive: bool,
    ) -> CareTagSpec {
        CareTagSpec {
            code,
            name,
            en,
            sensitive,
        }
    }
    vec![
        tag("elderly_alone", "独居老人", "Elderly living alone", false),
        tag("empty_nest", "空巢老人", "Empty-nest elderly", false),
        tag(
            "oldest_old",
            "高龄老人（80 岁以上）",
            "Aged 80 or over",
            false,
        ),
        tag("disabled", "残疾人", "Person with disability", true),
        tag("serious_illness", "大病患者", "Serious illness", true),
        tag("left_behind_child", "留守儿童", "Left-behind child", true),
        tag(
            "subsistence",
            "低保对象",
            "Minimum subsistence allowance",
            true,
        ),
        tag(
            "extreme_poverty",
            "特困人员",
            "Extreme poverty support",
            true,
        ),
        tag(
            "entitled_group",
            "优抚对象",
            "Entitled group (military families)",
            false,
        ),
        tag("special_group", "特殊人群", "Special group", true),
        tag(
            "community_correction",
            "社区矫正对象",
            "Under community correction",
            true,
        ),
        tag("veteran", "退役军人", "Veteran", false),
    ]
}

/// The 56 ethnic groups (民族) in the order of GB/T 3304-1991, so a group's code is its position
/// plus one (汉族 01 … 基诺族 56).
pub const ETHNIC_GROUPS: [&str; 56] = [
    "汉族",
    "蒙古族",
    "回族",
    "藏族",
    "维吾尔族",
    "苗族",
    "彝族",
    "壮族",
    "布依族",
    "朝鲜族",
    "满族",
    "侗族",
    "瑶族",
    "白族",
    "土家族",
    "哈尼族",
    "哈萨克族",
    "傣族",
    "黎族",
    "傈僳族",
    "佤族",
    "畲族",
    "高山族",
    "拉祜族",
    "水族",
    "东乡族",
    "纳西族",
    "景颇族",
    "柯尔克孜族",
    "土族",
    "达斡尔族",
    "仫佬族",
    "羌族",
    "布朗族",
    "撒拉族",
    "毛南族",
    "仡佬族",
    "锡伯族",
    "阿昌族",
    "普米族",
    "塔吉克族",
    "怒族",
    "乌孜别克族",
    "俄罗斯族",
    "鄂温克族",
    "德昂族",
    "保安族",
    "裕固族",
    "京族",
    "塔塔尔族",
    "独龙族",
    "鄂伦春族",
    "赫哲族",
    "门巴族",
    "珞巴族",
    "基诺族",
];

/// The official name and GB/T 3304 code of an ethnic group, given with or without the trailing
/// 族 (`"维吾尔"` → `("维吾尔族", 5)`).
pub fn ethnic_group(name: &str) -> Option<(&'static str, u8)> {
    let name = name.trim();
    let bare = name.strip_suffix('族').unwrap_or(name);
    ETHNIC_GROUPS
        .iter()
        .zip(1u8..)
        .find(|(g, _)| g.strip_suffix('族') == Some(bare))
        .map(|(g, code)| (*g, code))
}

/// Whether `name` is one of the 56 ethnic groups, with or without the trailing 族.
pub fn is_ethnic_group(name: &str) -> bool {
    ethnic_group(name).is_some()
}

// ---------------------------------------------------------------------------------------------
// ID numbers (GB 11643-1999)
// ---------------------------------------------------------------------------------------------

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK_CHARS: [u8; 11] = *b"10X98765432";

/// A valid 18-character citizen ID number, check character upper-case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber {
    number: String,
    birth: Date,
}

impl IdNumber {
    /// The 18 characters, e.g. for encryption and the blind index.
    pub fn as_str(&self) -> &str {
        &self.number
    }

    pub fn birth_date(&self) -> Date {
        self.birth
    }

    /// From the parity of the 17th digit (the sequence code): odd is male.
    pub fn gender(&self) -> Gender {
        match self.number.as_bytes().get(16) {
            Some(d) if (d - b'0') % 2 == 1 => Gender::Male,
            _ => Gender::Female,
        }
    }

    /// The six-digit administrative division code (GB/T 2260) of the place of first registration.
    /// Not checked against a code list: codes change over time and old numbers keep old codes.
    pub fn region_prefix(&self) -> &str {
        self.number.get(..6).unwrap_or_default()
    }

    /// Age in whole years (周岁) on `day`; 0 before the birth date. Born on 29 February, one turns
    /// a year older on 1 March in common years.
    pub fn age_on(&self, day: Date) -> u32 {
        let b = self.birth;
        if day <= b {
            return 0;
        }
        let years = u32::try_from(day.year() - b.year()).unwrap_or(0);
        if (day.month(), day.day()) < (b.month(), b.day()) {
            years.saturating_sub(1)
        } else {
            years
        }
    }

    /// `110***********123X`.
    pub fn masked(&self) -> String {
        mask_id_number(&self.number)
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdNumber").field(&self.masked()).finish()
    }
}

/// The check character of the first 17 digits of an ID number, or `None` if `first17` is not
/// exactly 17 ASCII digits.
pub fn id_check_char(first17: &str) -> Option<char> {
    let b = first17.as_bytes();
    if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    ID_CHECK_CHARS
        .get(usize::try_from(sum % 11).unwrap_or(0))
        .map(|&c| char::from(c))
}

/// Parses a citizen ID number: 18 characters (a lower-case `x` is accepted and upper-cased) or a
/// 15-digit legacy number, which is converted to 18 (the year gets its "19", a check character is
/// computed). Surrounding spaces and full-width digits (from Chinese input methods) are accepted.
/// The birth date must be a real date from 1900-01-01 to `today`.
pub fn parse_id_number(input: &str, today: Date) -> Result<IdNumber, PeopleError> {
    let s: String = input.trim().chars().map(half_width).collect();
    let len = s.chars().count();
    match len {
        18 => {
            let number = s.to_ascii_uppercase();
            let b = number.as_bytes();
            let last_ok = b.get(17).is_some_and(|c| c.is_ascii_digit() || *c == b'X');
            if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) || !last_ok {
                return Err(PeopleError::IdCharacters);
            }
            if id_check_char(&number[..17]).map(u32::from) != Some(u32::from(b[17])) {
                return Err(PeopleError::IdChecksum);
            }
            let birth = birth_date(&b[6..14], "7–14", today)?;
            Ok(IdNumber { number, birth })
        }
        15 => {
            let b = s.as_bytes();
            if b.len() != 15 || !b.iter().all(u8::is_ascii_digit) {
                return Err(PeopleError::IdLegacyCharacters);
            }
            let first17 = format!("{}19{}", &s[..6], &s[6..]);
            let birth = birth_date(&first17.as_bytes()[6..14], "7–12", today)?;
            let check = id_check_char(&first17).ok_or(PeopleError::IdLegacyCharacters)?;
            Ok(IdNumber {
                number: format!("{first17}{check}"),
                birth,
            })
        }
        _ => Err(PeopleError::IdLength { len }),
    }
}

/// `YYYYMMDD` (ASCII digits) as a date within 1900-01-01 ..= `today`.
fn birth_date(yyyymmdd: &[u8], positions: &'static str, today: Date) -> Result<Date, PeopleError> {
    let num = |r: std::ops::Range<usize>| {
        yyyymmdd
            .get(r)
            .unwrap_or_default()
            .iter()
            .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'))
    };
    let year = i32::try_from(num(0..4)).unwrap_or(0);
    let date = Date::new(year, num(4..6), num(6..8))
        .map_err(|_| PeopleError::IdBirthDate { positions })?;
    if date.year() < 1900 {
        return Err(PeopleError::IdBirthTooEarly);
    }
    if date > today {
        return Err(PeopleError::IdBirthInFuture);
    }
    Ok(date)
}

// ---------------------------------------------------------------------------------------------
// Mobile numbers
// ---------------------------------------------------------------------------------------------

/// A mainland mobile number: 11 digits, `1[3-9]` and nine more.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mobile(String);

impl Mobile {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****5678`.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

impl fmt::Debug for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Mobile").field(&self.masked()).finish()
    }
}

/// Parses a mainland mobile number (`^1[3-9]\d{9}$`); surrounding spaces and full-width digits
/// are accepted.
pub fn parse_mobile(input: &str) -> Result<Mobile, PeopleError> {
    let s: String = input.trim().chars().map(half_width).collect();
    let b = s.as_bytes();
    let ok = b.len() == 11
        && b.iter().all(u8::is_ascii_digit)
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1]);
    if ok {
        Ok(Mobile(s))
    } else {
        Err(PeopleError::Mobile)
    }
}

// ---------------------------------------------------------------------------------------------
// Masking
// ---------------------------------------------------------------------------------------------

/// Keeps the first `head` and last `tail` characters and stars the rest; a text too short to
/// hide anything in between is starred whole. The length in characters never changes.
fn mask_middle(s: &str, head: usize, tail: usize) -> String {
    let n = s.chars().count();
    if n <= head + tail {
        return "*".repeat(n);
    }
    s.chars()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { c } else { '*' })
        .collect()
}

/// Hides the middle of an ID number: first 3 and last 4 characters stay, `110***********123X`.
pub fn mask_id_number(id: &str) -> String {
    mask_middle(id, 3, 4)
}

/// Hides the middle of a phone number: `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    mask_middle(phone, 3, 4)
}

// ---------------------------------------------------------------------------------------------
// Pinyin search keys
// ---------------------------------------------------------------------------------------------

/// Surnames whose surname reading differs from the character's first reading in the pinyin
/// data (曾 is céng first, 解 jiě …). Compound surnames come first: the longest match wins.
const SURNAME_READINGS: &[(&str, &[&str])] = &[
    ("尉迟", &["yu", "chi"]),
    ("万俟", &["mo", "qi"]),
    ("澹台", &["tan", "tai"]),
    ("单", &["shan"]),
    ("曾", &["zeng"]),
    ("解", &["xie"]),
    ("仇", &["qiu"]),
    ("区", &["ou"]),
    ("查", &["zha"]),
    ("朴", &["piao"]),
    ("盖", &["ge"]),
    ("乐", &["yue"]),
    ("覃", &["qin"]),
    ("翟", &["zhai"]),
    ("繁", &["po"]),
    ("员", &["yun"]),
    ("缪", &["miao"]),
    ("召", &["shao"]),
    ("阚", &["kan"]),
    ("秘", &["bi"]),
    ("种", &["chong"]),
    ("重", &["chong"]),
    ("折", &["she"]),
    ("隗", &["wei"]),
    ("能", &["nai"]),
    ("佴", &["nai"]),
    ("薄", &["bo"]),
    ("都", &["du"]),
    ("句", &["gou"]),
    ("洗", &["xian"]),
    ("粘", &["nian"]),
    ("藏", &["zang"]),
    ("祭", &["zhai"]),
    ("么", &["yao"]),
];

/// Search keys for a name: the full pinyin and the initials, lower-case ASCII without tones
/// (张三 → `("zhangsan", "zs")`; ü is written `v`, as input methods type it: 吕 → `lv`).
///
/// The first character (or compound surname) is read as a surname (曾 → zeng, 单 → shan);
/// other heteronyms take their most common reading. ASCII letters and digits are kept,
/// lower-cased, each run of them giving one initial (`Tom张` → `("tomzhang", "tz")`); anything
/// else (the middle dot of 阿依古丽·买买提, spaces, other scripts) is dropped.
pub fn name_pinyin(name: &str) -> (String, String) {
    let name: String = name.trim().chars().map(half_width).collect();
    let mut full = String::new();
    let mut initials = String::new();
    let mut push = |syllable: &str| {
        if let Some(first) = syllable.chars().next() {
            initials.push(first);
        }
        full.push_str(syllable);
    };
    let mut rest = name.as_str();
    if let Some((surname, readings)) = SURNAME_READINGS.iter().find(|(s, _)| name.starts_with(s)) {
        for r in *readings {
            push(r);
        }
        rest = &name[surname.len()..];
    }
    let mut word = String::new();
    for c in rest.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
            continue;
        }
        if !word.is_empty() {
            push(&word);
            word.clear();
        }
        if let Some(p) = c.to_pinyin() {
            push(&ascii_syllable(p.plain()));
        }
    }
    if !word.is_empty() {
        push(&word);
    }
    (full, initials)
}

/// A toneless syllable in ASCII: ü → v, ê → e, anything else outside a–z dropped.
fn ascii_syllable(plain: &str) -> String {
    plain
        .chars()
        .filter_map(|c| match c {
            'ü' => Some('v'),
            'ê' => Some('e'),
            c if c.is_ascii_alphabetic() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// A search query in the form the pinyin keys are stored in: full-width letters and digits made
/// half-width, lower-cased, all whitespace (including the ideographic space) removed.
pub fn normalise_search(q: &str) -> String {
    q.chars()
        .map(half_width)
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Full-width ASCII forms (ｘ, １) as their ASCII characters; everything else unchanged.
fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn date(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn today() -> Date {
        date("2026-05-01")
    }

    fn id(s: &str) -> IdNumber {
        parse_id_number(s, today()).unwrap()
    }

    /// A valid number from its first 17 digits.
    fn complete(first17: &str) -> String {
        format!("{first17}{}", id_check_char(first17).unwrap())
    }

    #[test]
    fn the_standard_example_is_valid() {
        let n = id("11010519491231002X");
        assert_eq!(n.as_str(), "11010519491231002X");
        assert_eq!(n.birth_date(), date("1949-12-31"));
        assert_eq!(n.gender(), Gender::Female);
        assert_eq!(n.region_prefix(), "110105");
        assert_eq!(n.masked(), "110***********002X");
    }

    #[test]
    fn lower_case_x_spaces_and_full_width_digits_are_accepted() {
        assert_eq!(id(" 11010519491231002x ").as_str(), "11010519491231002X");
        assert_eq!(
            id("１１０１０５１９４９１２３１００２ｘ").as_str(),
            "11010519491231002X"
        );
    }

    #[test]
    fn male_numbers_have_an_odd_seventeenth_digit() {
        let n = id(&complete("44030619850614001"));
        assert_eq!(n.gender(), Gender::Male);
        assert_eq!(n.birth_date(), date("1985-06-14"));
    }

    #[test]
    fn errors_name_the_field_and_the_rule() {
        let err = |s: &str| parse_id_number(s, today()).unwrap_err().to_string();
        assert_eq!(
            err("1101051949"),
            "身份证号：长度应为 18 位（旧证 15 位），现有 10 位"
        );
        assert_eq!(err(""), "身份证号：长度应为 18 位（旧证 15 位），现有 0 位");
        assert_eq!(
            err("11010519491231002Y"),
            "身份证号：前 17 位应为数字，第 18 位应为数字或 X"
        );
        assert_eq!(
            err("1101051949123100X2"),
            "身份证号：前 17 位应为数字，第 18 位应为数字或 X"
        );
        assert_eq!(
            err("110105194912310021"),
            "身份证号：校验位错误，请逐位核对"
        );
        assert_eq!(
            err("11010549123100X"),
            "身份证号：15 位旧证号码应全部为数字"
        );
        assert_eq!(
            err(&complete("11010520230229001")),
            "身份证号：出生日期（第 7–14 位）不是有效日期"
        );
        assert_eq!(
            err(&complete("11010519491301001")),
            "身份证号：出生日期（第 7–14 位）不是有效日期"
        );
        assert_eq!(
            err(&complete("11010518991231001")),
            "身份证号：出生日期不能早于 1900 年 1 月 1 日"
        );
        assert_eq!(
            err(&complete("11010520260502001")),
            "身份证号：出生日期不能晚于今天"
        );
        assert_eq!(
            err("110105490231002"),
            "身份证号：出生日期（第 7–12 位）不是有效日期"
        );
        // Errors never repeat the number.
        assert!(!err("110105194912310021").contains("1949"));
    }

    #[test]
    fn the_edges_of_the_birth_date_range_are_inclusive() {
        assert_eq!(
            id(&complete("11010519000101001")).birth_date(),
            date("1900-01-01")
        );
        assert_eq!(id(&complete("11010520260501001")).birth_date(), today());
        assert_eq!(
            id(&complete("11010520240229001")).birth_date(),
            date("2024-02-29")
        );
    }

    #[test]
    fn legacy_numbers_are_converted() {
        let n = id("110105491231002");
        assert_eq!(n.as_str(), "11010519491231002X");
        assert_eq!(n.birth_date(), date("1949-12-31"));
    }

    #[test]
    fn check_chars_follow_the_table() {
        assert_eq!(id_check_char("11010519491231002"), Some('X'));
        assert_eq!(id_check_char("1101051949123100"), None);
        assert_eq!(id_check_char("1101051949123100a"), None);
        // Every check character occurs.
        let mut seen: Vec<char> = (0..200)
            .map(|i| id_check_char(&format!("11010519800101{i:03}")).unwrap())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 11);
    }

    #[test]
    fn age_counts_whole_years() {
        let n = id(&complete("11010519460501001"));
        assert_eq!(n.age_on(date("2026-04-30")), 79);
        assert_eq!(n.age_on(date("2026-05-01")), 80);
        assert_eq!(n.age_on(date("1946-05-01")), 0);
        assert_eq!(n.age_on(date("1900-01-01")), 0);
        let leap = id(&complete("11010520000229001"));
        assert_eq!(leap.age_on(date("2001-02-28")), 0);
        assert_eq!(leap.age_on(date("2001-03-01")), 1);
    }

    #[test]
    fn debug_output_is_masked() {
        assert_eq!(
            format!("{:?}", id("11010519491231002X")),
            "IdNumber(\"110***********002X\")"
        );
        assert_eq!(
            format!("{:?}", parse_mobile("13812345678").unwrap()),
            "Mobile(\"138****5678\")"
        );
    }

    #[test]
    fn mobiles() {
        assert_eq!(
            parse_mobile(" 13812345678 ").unwrap().as_str(),
            "13812345678"
        );
        assert_eq!(
            parse_mobile("１９９１２３４５６７８").unwrap().as_str(),
            "19912345678"
        );
        for bad in [
            "12812345678",
            "1381234567",
            "138123456789",
            "1381234567a",
            "23812345678",
            "+8613812345678",
            "",
        ] {
            assert_eq!(
                parse_mobile(bad).unwrap_err().to_string(),
                "手机号码：应为 11 位数字，以 13–19 开头",
                "{bad}"
            );
        }
    }

    #[test]
    fn masks() {
        assert_eq!(mask_id_number("110105194912311234"), "110***********1234");
        assert_eq!(mask_id_number("110105491231002"), "110********1002");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("123"), "***");
        // Seven characters would show all of them: starred whole.
        assert_eq!(mask_phone("1234567"), "*******");
        assert_eq!(mask_phone("12345678"), "123*5678");
        assert_eq!(mask_phone(""), "");
    }

    #[test]
    fn pinyin_keys() {
        let py = |s: &str| name_pinyin(s);
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(py("张三"), pair("zhangsan", "zs"));
        assert_eq!(py(" 李 四 "), pair("lisi", "ls"));
        assert_eq!(py("吕布"), pair("lvbu", "lb"));
        assert_eq!(py("Tom张"), pair("tomzhang", "tz"));
        assert_eq!(py("张3"), pair("zhang3", "z3"));
        assert_eq!(py("ＡＢ王"), pair("abwang", "aw"));
        assert_eq!(py("阿依古丽·买买提"), pair("ayigulimaimaiti", "ayglmmt"));
        assert_eq!(py("Zoë"), pair("zo", "z"));
        assert_eq!(py(""), pair("", ""));
        assert_eq!(py("·"), pair("", ""));
    }

    #[test]
    fn heteronym_surnames_take_the_surname_reading() {
        let full = |s: &str| name_pinyin(s).0;
        assert_eq!(full("单田芳"), "shantianfang");
        assert_eq!(full("曾国藩"), "zengguofan");
        assert_eq!(full("解缙"), "xiejin");
        assert_eq!(full("仇英"), "qiuying");
        assert_eq!(full("区伟"), "ouwei");
        assert_eq!(full("查良镛"), "zhaliangyong");
        assert_eq!(full("朴树"), "piaoshu");
        assert_eq!(full("盖叫天"), "gejiaotian");
        assert_eq!(full("乐毅"), "yueyi");
        assert_eq!(full("覃明"), "qinming");
        assert_eq!(full("翟志刚"), "zhaizhigang");
        assert_eq!(full("繁钦"), "poqin");
        assert_eq!(full("员半千"), "yunbanqian");
        assert_eq!(name_pinyin("尉迟恭"), ("yuchigong".into(), "ycg".into()));
        assert_eq!(full("万俟卨"), "moqixie");
        // Only the first character is a surname; elsewhere the common reading stands.
        assert_eq!(full("张单"), "zhangdan");
        assert_eq!(full("万明"), "wanming");
    }

    #[test]
    fn search_queries_are_normalised() {
        assert_eq!(normalise_search(" Zhang San "), "zhangsan");
        assert_eq!(normalise_search("ＺＳ\u{3000}1"), "zs1");
        assert_eq!(normalise_search("张 三"), "张三");
    }

    #[test]
    fn ethnic_groups() {
        assert_eq!(ETHNIC_GROUPS.len(), 56);
        let mut sorted = ETHNIC_GROUPS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 56);
        assert!(ETHNIC_GROUPS.iter().all(|g| g.ends_with('族')));
        assert_eq!(ethnic_group("汉"), Some(("汉族", 1)));
        assert_eq!(ethnic_group("维吾尔族"), Some(("维吾尔族", 5)));
        assert_eq!(ethnic_group(" 基诺 "), Some(("基诺族", 56)));
        assert!(is_ethnic_group("土族") && is_ethnic_group("土家"));
        assert!(is_ethnic_group("水"));
        assert!(!is_ethnic_group("汉族族"));
        assert!(!is_ethnic_group("族"));
        assert!(!is_ethnic_group(""));
        assert!(!is_ethnic_group("穿青人"));
    }

    #[test]
    fn care_tags() {
        let tags = care_tag_seed();
        let mut codes: Vec<&str> = tags.iter().map(|t| t.code).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), tags.len());
        let sensitive = |code: &str| tags.iter().find(|t| t.code == code).unwrap().sensitive;
        for code in [
            "disabled",
            "serious_illness",
            "left_behind_child",
            "subsistence",
            "extreme_poverty",
            "special_group",
            "community_correction",
        ] {
            assert!(sensitive(code), "{code}");
        }
        for code in ["elderly_alone", "empty_nest", "oldest_old", "veteran"] {
            assert!(!sensitive(code), "{code}");
        }
    }

    #[test]
    fn vocabulary_ids_round_trip() {
        macro_rules! round_trip {
            ($($t:ty),+) => {$(
                for v in <$t>::ALL {
                    assert_eq!(<$t>::parse(v.as_str()), Some(*v));
                    assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{}\"", v.as_str()));
                    assert!(!v.zh().is_empty() && !v.en().is_empty());
                }
            )+};
        }
        round_trip!(
            Gender,
            RelationToHead,
            DwellingUse,
            Occupancy,
            ResidenceStatus
        );
    }

    /// Region code, a birth date from 1900-01-01 to today, and a sequence code: 17 digits.
    fn first17() -> impl Strategy<Value = String> {
        let days = date("1900-01-01").days_since_epoch()..=today().days_since_epoch();
        ("[0-9]{6}", days, 0u32..1000).prop_map(|(region, day, seq)| {
            let d = Date::from_days_since_epoch(day).unwrap();
            format!(
                "{region}{:04}{:02}{:02}{seq:03}",
                d.year(),
                d.month(),
                d.day()
            )
        })
    }

    proptest! {
        #[test]
        fn any_seventeen_digits_with_their_check_char_parse(f in first17()) {
            let s = complete(&f);
            let n = parse_id_number(&s, today()).unwrap();
            prop_assert_eq!(n.as_str(), s.as_str());
            prop_assert_eq!(&n.birth_date().to_string().replace('-', ""), &f[6..14]);
            let lower = s.to_ascii_lowercase();
            prop_assert_eq!(parse_id_number(&lower, today()).unwrap(), n);
        }

        #[test]
        fn changing_any_one_character_fails(f in first17(), pos in 0usize..18, delta in 1u8..=10) {
            let mut b = complete(&f).into_bytes();
            if pos == 17 {
                // Any of the ten other check characters.
                let i = ID_CHECK_CHARS.iter().position(|&c| c == b[17]).unwrap();
                b[17] = ID_CHECK_CHARS[(i + usize::from(delta)) % 11];
            } else {
                // Any of the nine other digits.
                b[pos] = b'0' + (b[pos] - b'0' + 1 + (delta - 1) % 9) % 10;
            }
            let changed = String::from_utf8(b).unwrap();
            prop_assert!(parse_id_number(&changed, today()).is_err(), "{}", changed);
        }

        #[test]
        fn legacy_conversion_keeps_birth_date_and_gender(
            region in "[0-9]{6}",
            day in date("1900-01-01").days_since_epoch()..=date("1999-12-31").days_since_epoch(),
            seq in 0u32..1000,
        ) {
            let d = Date::from_days_since_epoch(day).unwrap();
            let legacy = format!("{region}{:02}{:02}{:02}{seq:03}", d.year() % 100, d.month(), d.day());
            let n = parse_id_number(&legacy, today()).unwrap();
            prop_assert_eq!(n.birth_date(), d);
            let male = seq % 2 == 1;
            prop_assert_eq!(n.gender() == Gender::Male, male);
            prop_assert_eq!(n.region_prefix(), region.as_str());
            // The converted number is valid in its own right.
            prop_assert_eq!(parse_id_number(n.as_str(), today()).unwrap(), n.clone());
            prop_assert_eq!(&n.as_str()[6..8], "19");
        }

        #[test]
        fn masking_keeps_length_and_reveals_at_most_seven_characters(s in "\\PC{0,40}") {
            for masked in [mask_id_number(&s), mask_phone(&s)] {
                let orig: Vec<char> = s.chars().collect();
                let out: Vec<char> = masked.chars().collect();
                prop_assert_eq!(out.len(), orig.len());
                let shown: Vec<usize> = (0..out.len()).filter(|&i| out[i] != '*').collect();
                prop_assert!(shown.len() <= 7);
                for i in shown {
                    prop_assert_eq!(out[i], orig[i]);
                    prop_assert!(i < 3 || i + 4 >= orig.len());
                }
            }
        }

        #[test]
        fn pinyin_keys_are_lower_case_ascii(s in "\\PC{0,12}") {
            let (full, initials) = name_pinyin(&s);
            prop_assert!(full.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            prop_assert!(initials.len() <= full.len());
            prop_assert!(initials.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        }
    }
}
