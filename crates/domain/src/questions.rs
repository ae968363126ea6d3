//! Extra questions a category asks beyond the description (电梯里有没有人被困？噪音在什么时段？).
//!
//! They are Open311's service attributes: every datatype of GeoReport v2 (`string`, `number`,
//! `datetime`, `text`, `singlevaluelist`, `multivaluelist`), an order, required or not, and value
//! lists of `(key, name)`. Any intake channel may answer them; [`check_answers`] is the one place
//! answers are validated, and stores them as text (list keys joined by `,`, numbers normalised,
//! date-times in W3C form with China's offset).

use crate::deadlines::{format_w3c, parse_w3c};

/// Longest answer to a `string` question, in characters.
pub const MAX_STRING_CHARS: usize = 200;
/// Longest answer to a `text` question, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// What kind of answer a question takes (Open311 `datatype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datatype {
    String,
    Number,
    Datetime,
    Text,
    SingleValueList,
    MultiValueList,
}

impl Datatype {
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::String => "string",
            Datatype::Number => "number",
            Datatype::Datetime => "datetime",
            Datatype::Text => "text",
            Datatype::SingleValueList => "singlevaluelist",
            Datatype::MultiValueList => "multivaluelist",
        }
    }

    /// The hint shown next to the field when the question gives none.
    pub fn hint(self) -> &'static str {
        match self {
            Datatype::String => "单行文字",
            Datatype::Number => "数字",
            Datatype::Datetime => "日期时间，如 2026-12-01T08:30:00+08:00",
            Datatype::Text => "多行文字",
            Datatype::SingleValueList => "从列表中选一项",
            Datatype::MultiValueList => "从列表中选一项或多项",
        }
    }
}

/// One question of a category.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// Stable ascii code, unique within the category (`attribute[code]` in Open311).
    pub code: &'static str,
    /// Display order, unique within the category, from 1.
    pub order: u32,
    /// False for a notice the reporter reads and does not answer.
    pub variable: bool,
    pub datatype: Datatype,
    pub required: bool,
    /// The question, or the notice text.
    pub description: &'static str,
    pub datatype_description: &'static str,
    /// `(key, name)` for the two list datatypes.
    pub values: &'static [(&'static str, &'static str)],
}

const fn ask(
    code: &'static str,
    order: u32,
    datatype: Datatype,
    required: bool,
    description: &'static str,
    datatype_description: &'static str,
    values: &'static [(&'static str, &'static str)],
) -> Question {
    Question {
        code,
        order,
        variable: true,
        datatype,
        required,
        description,
        datatype_description,
        values,
    }
}

const fn notice(code: &'static str, order: u32, description: &'static str) -> Question {
    Question {
        code,
        order,
        variable: false,
        datatype: Datatype::Text,
        required: false,
        description,
        datatype_description: "",
        values: &[],
    }
}

const YES_NO: &[(&str, &str)] = &[("yes", "是"), ("no", "否")];

use Datatype::{Datetime, MultiValueList, Number, SingleValueList, Text};

/// The questions of each category that has any, by category code.
#[rustfmt::skip]
static QUESTIONS: &[(&str, &[Question])] = &[
    ("repair.lift", &[
        notice("lift_notice", 1, "有人被困时请先按轿厢内的警铃或拨打轿厢内张贴的救援电话，不要强行扒门。"),
        ask("trapped", 2, SingleValueList, true, "电梯里现在有人被困吗？", "", YES_NO),
        ask("lift_no", 3, Datatype::String, false, "电梯编号（轿厢内“使用标志”上的注册代码或编号）", "如 31103502012018020001", &[]),
    ]),
    ("repair.pipe_leak", &[
        ask("leak_kind", 1, SingleValueList, true, "漏水的是哪一类管道？", "", &[
            ("supply", "公共供水管道"), ("drain", "下水道、化粪池"), ("heating", "暖气管道"), ("unknown", "说不清"),
        ]),
        ask("flooding", 2, SingleValueList, false, "水是否已经漫进楼道或住户家中？", "", YES_NO),
    ]),
    ("safety.gas", &[
        notice("gas_notice", 1, "闻到燃气味请立即开窗通风，不要开关电器、不要使用明火，到室外安全处拨打燃气抢修电话。"),
        ask("smell_since", 2, Datetime, false, "大约从什么时候开始闻到燃气味？", "", &[]),
    ]),
    ("safety.fire_lane", &[
        ask("blocked_by", 1, MultiValueList, true, "通道被什么堵住了？（可多选）", "", &[
            ("sundries", "杂物"), ("ebike", "电动车、自行车"), ("car", "机动车"), ("locked", "安全出口上锁"),
        ]),
    ]),
    ("noise.construction", &[
        ask("periods", 1, MultiValueList, true, "噪音通常出现在哪些时段？（可多选）", "", &[
            ("morning", "早上 6–8 点"), ("day", "白天"), ("evening", "晚上 20–22 点"), ("night", "夜间 22 点以后"),
        ]),
        ask("site", 2, Datatype::String, false, "施工地点（工地名称或装修户门牌）", "", &[]),
    ]),
    ("sanitation.garbage", &[
        ask("bins", 1, Number, false, "满溢的垃圾桶大约有几个？", "整数", &[]),
        ask("days", 2, Number, false, "已经几天没有清运？", "整数", &[]),
    ]),
    ("parking.disorder", &[
        ask("plate", 1, Datatype::String, false, "车牌号（如看得清）", "如 闽C·12345", &[]),
    ]),
    ("parking.fire_lane", &[
        ask("plate", 1, Datatype::String, false, "车牌号（如看得清）", "如 闽C·12345", &[]),
    ]),
    ("dispute.neighbour", &[
        ask("talked", 1, SingleValueList, true, "双方之前是否当面协商过？", "", YES_NO),
        ask("history", 2, Text, false, "之前协商或调解的经过", "", &[]),
    ]),
];

/// The questions of a category, in display order (empty for most categories).
pub fn questions_for(category_code: &str) -> &'static [Question] {
    QUESTIONS
        .iter()
        .find(|(code, _)| *code == category_code)
        .map(|(_, q)| *q)
        .unwrap_or(&[])
}

/// Why an answer was refused: the question's code and a Chinese message naming the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerError {
    pub code: String,
    pub message: String,
}

fn refuse(code: &str, message: String) -> AnswerError {
    AnswerError {
        code: code.to_owned(),
        message,
    }
}

/// Checks `answers` (`(code, values)`; several values only for a multi-value list) against
/// `questions` and returns them as stored: `(code, text)` in question order. Answers to notices
/// are ignored; an unknown code, a missing required answer, or a value of the wrong kind is
/// refused.
pub fn check_answers(
    questions: &[Question],
    answers: &[(String, Vec<String>)],
) -> Result<Vec<(String, String)>, AnswerError> {
    for (code, _) in answers {
        if !questions.iter().any(|q| q.code == code) {
            return Err(refuse(
                code,
                format!("补充信息“{code}”：本分类没有这个问题"),
            ));
        }
    }
    let mut out = Vec::new();
    for q in questions.iter().filter(|q| q.variable) {
        let given: Vec<&str> = answers
            .iter()
            .filter(|(code, _)| code == q.code)
            .flat_map(|(_, v)| v.iter().map(|s| s.trim()))
            .filter(|s| !s.is_empty())
            .collect();
        if given.is_empty() {
            if q.required {
                return Err(refuse(
                    q.code,
                    format!("补充信息“{}”：必须回答", q.description),
                ));
            }
            continue;
        }
        if q.datatype != MultiValueList && given.len() > 1 {
            return Err(refuse(
                q.code,
                format!("补充信息“{}”：只能填一个值", q.description),
            ));
        }
        let value = match q.datatype {
            Datatype::String | Text => {
                let max = if q.datatype == Text {
                    MAX_TEXT_CHARS
                } else {
                    MAX_STRING_CHARS
                };
                let n = given[0].chars().count();
                if n > max {
                    return Err(refuse(
                        q.code,
                        format!(
                            "补充信息“{}”：不能超过 {max} 个字（现有 {n} 个字）",
                            q.description
                        ),
                    ));
                }
                given[0].to_owned()
            }
            Number => match given[0].parse::<f64>() {
                Ok(n) if n.is_finite() => format_number(n),
                _ => {
                    return Err(refuse(
                        q.code,
                        format!("补充信息“{}”：应填数字，收到“{}”", q.description, given[0]),
                    ));
                }
            },
            Datetime => match parse_w3c(given[0]) {
                Some(ms) => format_w3c(ms),
                None => {
                    return Err(refuse(
                        q.code,
                        format!(
                            "补充信息“{}”：日期时间格式应为 2026-12-01T08:30:00+08:00，收到“{}”",
                            q.description, given[0]
                        ),
                    ));
                }
            },
            SingleValueList | MultiValueList => {
                let mut keys: Vec<&str> = Vec::new();
                for v in &given {
                    let Some((key, _)) = q.values.iter().find(|(k, _)| k == v) else {
                        let allowed: Vec<&str> = q.values.iter().map(|(k, _)| *k).collect();
                        return Err(refuse(
                            q.code,
                            format!(
                                "补充信息“{}”：“{v}”不在可选值中（可选：{}）",
                                q.description,
                                allowed.join("、")
                            ),
                        ));
                    };
                    if !keys.contains(key) {
                        keys.push(key);
                    }
                }
                keys.join(",")
            }
        };
        out.push((q.code.to_owned(), value));
    }
    Ok(out)
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A stored answer as people read it: list keys become their names.
pub fn answer_label(question: &Question, stored: &str) -> String {
    match question.datatype {
        SingleValueList | MultiValueList => stored
            .split(',')
            .map(|k| {
                question
                    .values
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, name)| *name)
                    .unwrap_or(k)
            })
            .collect::<Vec<_>>()
            .join("、"),
        _ => stored.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::categories::seed;

    fn answer(code: &str, values: &[&str]) -> (String, Vec<String>) {
        (
            code.to_owned(),
            values.iter().map(|v| (*v).to_owned()).collect(),
        )
    }

    #[test]
    fn every_question_belongs_to_a_seeded_category_and_is_well_formed() {
        let codes: Vec<String> = seed().into_iter().map(|c| c.code).collect();
        let mut datatypes = std::collections::HashSet::new();
        for (category, questions) in QUESTIONS {
            assert!(codes.iter().any(|c| c == category), "{category}");
            let mut orders: Vec<u32> = questions.iter().map(|q| q.order).collect();
            orders.sort_unstable();
            orders.dedup();
            assert_eq!(orders.len(), questions.len(), "{category}: orders unique");
            for q in *questions {
                datatypes.insert(q.datatype.as_str());
                let is_list = matches!(q.datatype, SingleValueList | MultiValueList);
                assert_eq!(is_list, !q.values.is_empty(), "{category}.{}", q.code);
                assert!(q.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            }
        }
        // Open311 clients render all six; the seed exercises each.
        assert_eq!(datatypes.len(), 6, "{datatypes:?}");
    }

    #[test]
    fn answers_are_checked_and_normalised() {
        let lift = questions_for("repair.lift");
        assert_eq!(
            check_answers(
                lift,
                &[answer("trapped", &["yes"]), answer("lift_no", &[" A1 "])]
            )
            .unwrap(),
            vec![
                ("trapped".to_owned(), "yes".to_owned()),
                ("lift_no".to_owned(), "A1".to_owned())
            ]
        );
        let missing = check_answers(lift, &[]).unwrap_err();
        assert_eq!(missing.code, "trapped");
        assert!(missing.message.contains("必须回答"), "{missing:?}");
        let bad = check_answers(lift, &[answer("trapped", &["maybe"])]).unwrap_err();
        assert!(bad.message.contains("可选：yes、no"), "{bad:?}");
        let unknown = check_answers(lift, &[answer("colour", &["red"])]).unwrap_err();
        assert_eq!(unknown.code, "colour");

        let noise = questions_for("noise.construction");
        let ok =
            check_answers(noise, &[answer("periods", &["night", "evening", "night"])]).unwrap();
        assert_eq!(ok[0].1, "night,evening");
        assert_eq!(
            answer_label(&noise[0], &ok[0].1),
            "夜间 22 点以后、晚上 20–22 点"
        );

        let garbage = questions_for("sanitation.garbage");
        assert_eq!(
            check_answers(garbage, &[answer("bins", &["3.0"])]).unwrap()[0].1,
            "3"
        );
        assert!(check_answers(garbage, &[answer("bins", &["three"])]).is_err());
        assert!(check_answers(garbage, &[answer("bins", &["1", "2"])]).is_err());

        let gas = questions_for("safety.gas");
        assert_eq!(
            check_answers(gas, &[answer("smell_since", &["2026-12-01T00:30:00Z"])]).unwrap()[0].1,
            "2026-12-01T08:30:00+08:00"
        );
        assert!(check_answers(gas, &[answer("smell_since", &["yesterday"])]).is_err());
        // A notice takes no answer; one sent anyway is dropped.
        assert!(
            check_answers(gas, &[answer("gas_notice", &["ok"])])
                .unwrap()
                .is_empty()
        );

        let long = "字".repeat(MAX_STRING_CHARS + 1);
        assert!(
            check_answers(
                lift,
                &[answer("trapped", &["no"]), answer("lift_no", &[&long])]
            )
            .is_err()
        );
        assert!(questions_for("other").is_empty());
    }
}
