//! The region tree 区/县 → 街道 → 社区 → 小区 → 网格 → 楼栋, its codes and grid geometry.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    District,
    Street,
    Community,
    Compound,
    Grid,
    Building,
}

impl RegionLevel {
    pub const ALL: [RegionLevel; 6] = [
        RegionLevel::District,
        RegionLevel::Street,
        RegionLevel::Community,
        RegionLevel::Compound,
        RegionLevel::Grid,
        RegionLevel::Building,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RegionLevel::District => "district",
            RegionLevel::Street => "street",
            RegionLevel::Community => "community",
            RegionLevel::Compound => "compound",
            RegionLevel::Grid => "grid",
            RegionLevel::Building => "building",
        }
    }

    pub fn parse(s: &str) -> Option<RegionLevel> {
        RegionLevel::ALL.into_iter().find(|l| l.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            RegionLevel::District => "区/县",
            RegionLevel::Street => "街道/乡镇",
            RegionLevel::Community => "社区",
            RegionLevel::Compound => "小区",
            RegionLevel::Grid => "网格",
            RegionLevel::Building => "楼栋",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            RegionLevel::District => "District",
            RegionLevel::Street => "Street",
            RegionLevel::Community => "Community",
            RegionLevel::Compound => "Compound",
            RegionLevel::Grid => "Grid",
            RegionLevel::Building => "Building",
        }
    }

    /// The level directly below, if any.
    pub fn child(self) -> Option<RegionLevel> {
        match self {
            RegionLevel::District => Some(RegionLevel::Street),
            RegionLevel::Street => Some(RegionLevel::Community),
            RegionLevel::Community => Some(RegionLevel::Compound),
            RegionLevel::Compound => Some(RegionLevel::Grid),
            RegionLevel::Grid => Some(RegionLevel::Building),
            RegionLevel::Building => None,
        }
    }

    /// The level directly above, if any.
    pub fn parent(self) -> Option<RegionLevel> {
        RegionLevel::ALL
            .into_iter()
            .find(|l| l.child() == Some(self))
    }

    /// Number of digits in a code of this level.
    pub fn code_len(self) -> usize {
        match self {
            RegionLevel::District | RegionLevel::Street | RegionLevel::Community => 12,
            RegionLevel::Compound => 14,
            RegionLevel::Grid => 15,
            RegionLevel::Building => 20,
        }
    }

    /// The coding rule for this level, in words, for forms and error messages.
    pub fn code_rule(self) -> &'static str {
        match self {
            RegionLevel::District => {
                "区县编码应为12位数字：前6位为县级行政区划代码（GB/T 2260，前2位为11-82），后6位为000000"
            }
            RegionLevel::Street => {
                "街道编码应为12位数字：前6位与所属区县一致，第7-9位为街道/乡镇顺序码001-599，后3位为000"
            }
            RegionLevel::Community => {
                "社区编码应为12位数字：前9位与所属街道一致，后3位为社区顺序码001-999"
            }
            RegionLevel::Compound => {
                "小区编码应为14位数字：前12位与所属社区一致，后2位为小区顺序码01-99"
            }
            RegionLevel::Grid => {
                "网格编码应为15位数字：前12位与所属社区（即上级小区编码的前12位）一致，后3位为网格顺序码001-999"
            }
            RegionLevel::Building => {
                "楼栋编码应为20位数字：前15位与所属网格一致，后5位为楼栋顺序码00001-99999"
            }
        }
    }
}

/// A region node to be created (import, demo, admin page). `boundary` is WGS-84 and only
/// grids must have one.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRegion {
    pub code: String,
    pub parent_code: Option<String>,
    pub level: RegionLevel,
    pub name: String,
    pub boundary: Option<geo::MultiPolygon<f64>>,
}

/// Why a region code was refused. Messages are for the user and name the code and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The code does not have its level's shape, or does not extend its parent's code.
    #[error("编码 {code} 不符合规则：{rule}")]
    Invalid { code: String, rule: &'static str },
    /// Every level below the district needs a parent code to check the prefix against.
    #[error("编码 {code} 缺少上级编码：{level}必须挂在{parent_level}之下")]
    MissingParent {
        code: String,
        level: &'static str,
        parent_level: &'static str,
    },
    /// A district is the root of the tree.
    #[error("编码 {code} 不应有上级编码：区县是区划树的根")]
    UnexpectedParent { code: String },
    /// The parent code is not a code of the level directly above.
    #[error(
        "上级编码 {parent} 不符合规则：{level}的上级应为{parent_level}编码（{parent_len}位数字）"
    )]
    WrongParentLevel {
        parent: String,
        level: &'static str,
        parent_level: &'static str,
        parent_len: usize,
    },
}

/// The level a code has by its length and zero pattern alone; `None` if it fits no level.
pub fn level_of_code(code: &str) -> Option<RegionLevel> {
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match code.len() {
        12 if code.ends_with("000000") => Some(RegionLevel::District),
        12 if code.ends_with("000") => Some(RegionLevel::Street),
        12 => Some(RegionLevel::Community),
        14 => Some(RegionLevel::Compound),
        15 => Some(RegionLevel::Grid),
        20 => Some(RegionLevel::Building),
        _ => None,
    }
}

/// Checks a code's own shape for its level (including its ancestors' parts), without the
/// parent-prefix rule.
pub fn validate_code_format(level: RegionLevel, code: &str) -> Result<(), CodeError> {
    if code.bytes().all(|b| b.is_ascii_digit()) && shape_ok(level, code) {
        Ok(())
    } else {
        Err(CodeError::Invalid {
            code: code.to_owned(),
            rule: level.code_rule(),
        })
    }
}

/// `code` must be all ASCII digits. The leading digits of a code are its ancestors' code, so they
/// are checked against the ancestor's rule too.
fn shape_ok(level: RegionLevel, code: &str) -> bool {
    if code.len() != level.code_len() {
        return false;
    }
    // ASCII digits only, so byte slicing is safe and `parse` cannot fail.
    let num = |range: std::ops::Range<usize>| code[range].parse::<u32>().unwrap_or(0);
    match level {
        RegionLevel::District => (11..=82).contains(&num(0..2)) && &code[6..] == "000000",
        RegionLevel::Street => {
            shape_ok(RegionLevel::District, &format!("{}000000", &code[..6]))
                && (1..=599).contains(&num(6..9))
                && &code[9..] == "000"
        }
        RegionLevel::Community => {
            shape_ok(RegionLevel::Street, &format!("{}000", &code[..9])) && num(9..12) >= 1
        }
        RegionLevel::Compound => shape_ok(RegionLevel::Community, &code[..12]) && num(12..14) >= 1,
        RegionLevel::Grid => shape_ok(RegionLevel::Community, &code[..12]) && num(12..15) >= 1,
        RegionLevel::Building => shape_ok(RegionLevel::Grid, &code[..15]) && num(15..20) >= 1,
    }
}

/// Checks a code for its level and, below the district, that it extends its parent's code.
pub fn validate_code(
    level: RegionLevel,
    code: &str,
    parent_code: Option<&str>,
) -> Result<(), CodeError> {
    validate_code_format(level, code)?;
    let Some(parent_level) = level.parent() else {
        return match parent_code {
            None => Ok(()),
            Some(_) => Err(CodeError::UnexpectedParent {
                code: code.to_owned(),
            }),
        };
    };
    let Some(parent) = parent_code else {
        return Err(CodeError::MissingParent {
            code: code.to_owned(),
            level: level.zh(),
            parent_level: parent_level.zh(),
        });
    };
    if level_of_code(parent) != Some(parent_level) {
        return Err(CodeError::WrongParentLevel {
            parent: parent.to_owned(),
            level: level.zh(),
            parent_level: parent_level.zh(),
            parent_len: parent_level.code_len(),
        });
    }
    // How many leading digits a child shares with its parent. A grid skips the compound's two
    // digits: grids are numbered inside the community (DB11 6+3+3+3).
    let shared = match level {
        RegionLevel::Street => 6,
        RegionLevel::Community => 9,
        RegionLevel::Compound | RegionLevel::Grid => 12,
        RegionLevel::Building => 15,
        RegionLevel::District => 0,
    };
    if code[..shared] == parent[..shared] {
        Ok(())
    } else {
        Err(CodeError::Invalid {
            code: code.to_owned(),
            rule: level.code_rule(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DISTRICT: &str = "350503000000";
    const STREET: &str = "350503001000";
    const COMMUNITY: &str = "350503001002";
    const COMPOUND: &str = "35050300100203";
    const GRID: &str = "350503001002004";
    const BUILDING: &str = "35050300100200400005";

    #[test]
    fn a_well_formed_chain_validates() {
        validate_code(RegionLevel::District, DISTRICT, None).unwrap();
        validate_code(RegionLevel::Street, STREET, Some(DISTRICT)).unwrap();
        validate_code(RegionLevel::Community, COMMUNITY, Some(STREET)).unwrap();
        validate_code(RegionLevel::Compound, COMPOUND, Some(COMMUNITY)).unwrap();
        validate_code(RegionLevel::Grid, GRID, Some(COMPOUND)).unwrap();
        validate_code(RegionLevel::Building, BUILDING, Some(GRID)).unwrap();
    }

    #[test]
    fn level_of_code_reads_length_and_zeros() {
        let cases = [
            (DISTRICT, Some(RegionLevel::District)),
            (STREET, Some(RegionLevel::Street)),
            (COMMUNITY, Some(RegionLevel::Community)),
            (COMPOUND, Some(RegionLevel::Compound)),
            (GRID, Some(RegionLevel::Grid)),
            (BUILDING, Some(RegionLevel::Building)),
            ("35050300100", None),
            ("3505030010020041", None),
            ("35050300100a", None),
            ("", None),
        ];
        for (code, level) in cases {
            assert_eq!(level_of_code(code), level, "{code}");
        }
    }

    #[test]
    fn district_rules() {
        for bad in [
            "100000000000",
            "830000000000",
            "000000000000",
            "350503000100",
            "35050300000",
            "35050３000000",
        ] {
            assert!(
                validate_code(RegionLevel::District, bad, None).is_err(),
                "{bad}"
            );
        }
        validate_code(RegionLevel::District, "110101000000", None).unwrap();
        validate_code(RegionLevel::District, "820000000000", None).unwrap();
        assert_eq!(
            validate_code(RegionLevel::District, DISTRICT, Some(DISTRICT)),
            Err(CodeError::UnexpectedParent {
                code: DISTRICT.into()
            })
        );
    }

    #[test]
    fn street_rules() {
        let v = |c: &str, p: &str| validate_code(RegionLevel::Street, c, Some(p));
        v("350503599000", DISTRICT).unwrap();
        assert!(v("350503000000", DISTRICT).is_err(), "street 000");
        assert!(v("350503600000", DISTRICT).is_err(), "street 600");
        assert!(v("350503001001", DISTRICT).is_err(), "must end in 000");
        assert!(v("350504001000", DISTRICT).is_err(), "other district");
        assert!(matches!(
            validate_code(RegionLevel::Street, STREET, None),
            Err(CodeError::MissingParent { .. })
        ));
        assert!(matches!(
            v(STREET, STREET),
            Err(CodeError::WrongParentLevel { .. })
        ));
    }

    #[test]
    fn community_compound_grid_building_rules() {
        let v = |l, c: &str, p: &str| validate_code(l, c, Some(p));
        assert!(v(RegionLevel::Community, "350503001999", STREET).is_ok());
        assert!(
            v(RegionLevel::Community, "350503002001", STREET).is_err(),
            "other street"
        );
        assert!(v(RegionLevel::Compound, "35050300100299", COMMUNITY).is_ok());
        assert!(
            v(RegionLevel::Compound, "35050300100200", COMMUNITY).is_err(),
            "seq 00"
        );
        assert!(
            v(RegionLevel::Compound, "35050300100301", COMMUNITY).is_err(),
            "other community"
        );
        // A grid shares the community's 12 digits, not the compound's 14.
        assert!(v(RegionLevel::Grid, "350503001002999", "35050300100277").is_ok());
        assert!(
            v(RegionLevel::Grid, "350503001002000", COMPOUND).is_err(),
            "seq 000"
        );
        assert!(
            v(RegionLevel::Grid, "350503001003001", COMPOUND).is_err(),
            "other community"
        );
        assert!(matches!(
            v(RegionLevel::Grid, GRID, COMMUNITY),
            Err(CodeError::WrongParentLevel { .. })
        ));
        assert!(v(RegionLevel::Building, "35050300100200499999", GRID).is_ok());
        assert!(
            v(RegionLevel::Building, "35050300100200400000", GRID).is_err(),
            "seq 0"
        );
        assert!(
            v(RegionLevel::Building, "35050300100200500001", GRID).is_err(),
            "other grid"
        );
    }

    #[test]
    fn format_checks_the_ancestor_parts() {
        let f = validate_code_format;
        assert!(f(RegionLevel::Grid, GRID).is_ok());
        assert!(
            f(RegionLevel::Grid, "000000000000001").is_err(),
            "no county"
        );
        assert!(
            f(RegionLevel::Grid, "350503000002001").is_err(),
            "street 000"
        );
        assert!(
            f(RegionLevel::Grid, "350503001000001").is_err(),
            "community 000"
        );
        assert!(
            f(RegionLevel::Community, "990503001001").is_err(),
            "province 99"
        );
        assert!(
            f(RegionLevel::Building, "35050300100200000001").is_err(),
            "grid 000"
        );
        assert!(f(RegionLevel::Compound, "35050300100201").is_ok());
    }

    #[test]
    fn messages_name_the_code_and_the_rule() {
        let err = validate_code(RegionLevel::Street, "350504001000", Some(DISTRICT)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("编码 350504001000 不符合规则：街道编码应为12位数字"),
            "{msg}"
        );
        assert!(msg.contains("前6位与所属区县一致"), "{msg}");
        let msg = validate_code(RegionLevel::Grid, GRID, Some(COMMUNITY))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(COMMUNITY) && msg.contains("小区"), "{msg}");
    }

    #[test]
    fn parent_and_child_are_inverse() {
        for l in RegionLevel::ALL {
            if let Some(c) = l.child() {
                assert_eq!(c.parent(), Some(l));
            }
        }
        assert_eq!(RegionLevel::District.parent(), None);
    }
}
