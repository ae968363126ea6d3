//! Excel export of people lists (reference/crates-and-security.md A.10, B.2).
//!
//! - Masked by default; clear ID and phone numbers only for [`may_export_clear`] roles, with a
//!   stated reason.
//! - The first row is a watermark: who exported, when, why, which range, how many rows.
//! - Every export (masked or clear) is logged in the personal-data access log with its row
//!   count and reason, and audited.
//! - Every cell is written as a string, so a name such as `=HYPERLINK(…)` stays text.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::{
    PeopleQuery, PersonLine, check_reason, may_export_clear, may_manage_lists, rules, trimmed,
};
use crate::vault::FieldRef;
use crate::{Actor, App, AppError};

/// Most rows one export may hold.
pub const EXPORT_ROW_LIMIT: i64 = 20_000;

const PAGE: u32 = 200;

const HEADERS: [&str; 13] = [
    "序号",
    "姓名",
    "性别",
    "出生日期",
    "年龄",
    "身份证号",
    "手机号",
    "所在区划",
    "单元",
    "门牌号",
    "与户主关系",
    "居住状态",
    "党员",
];

fn xlsx_err(e: XlsxError) -> AppError {
    AppError::Internal(format!("xlsx: {e}"))
}

fn relation_zh(code: Option<&str>) -> &'static str {
    match code {
        None => "",
        Some("head") => "户主",
        Some(c) => rules::RelationToHead::ALL
            .iter()
            .find(|r| r.as_str() == c)
            .map_or("其他", |r| r.zh()),
    }
}

fn status_zh(code: &str) -> &'static str {
    rules::ResidenceStatus::ALL
        .iter()
        .find(|r| r.as_str() == code)
        .map_or("", |r| r.zh())
}

impl App {
    /// The search result of `query` (every page, up to [`EXPORT_ROW_LIMIT`] rows) as xlsx.
    /// `clear`: the reason for exporting full ID and phone numbers; `None` exports them masked.
    pub async fn export_people(
        &self,
        actor: &Actor,
        query: &PeopleQuery,
        clear: Option<&str>,
    ) -> Result<Vec<u8>, AppError> {
        if !may_manage_lists(actor.role) {
            return Err(AppError::Forbidden(
                "只有社区、街道管理员和领导可以导出人员名单".into(),
            ));
        }
        let reason = match clear {
            None => None,
            Some(r) => {
                if !may_export_clear(actor.role) {
                    return self.deny(actor, "people:export:clear").await;
                }
                Some(check_reason("reason", r)?)
            }
        };
        let mut q = PeopleQuery {
            page: 1,
            page_size: PAGE,
            cap: Some(EXPORT_ROW_LIMIT + 1),
            ..query.clone()
        };
        let first = self.search_people(actor, &q).await?;
        if first.total > EXPORT_ROW_LIMIT {
            return Err(AppError::invalid(
                "q",
                format!(
                    "导出行数过多：一次最多导出 {EXPORT_ROW_LIMIT} 行，本次查询超过 {EXPORT_ROW_LIMIT} 行，请缩小范围（按社区、网格或标签）后再导出"
                ),
            ));
        }
        let pages = first.pages();
        let mut lines: Vec<PersonLine> = first.items;
        for page in 2..=pages {
            q.page = page;
            lines.extend(self.search_people(actor, &q).await?.items);
        }
        lines.truncate(EXPORT_ROW_LIMIT as usize);

        // Clear numbers, decrypted here with their row-bound associated data.
        let mut clear_numbers = std::collections::HashMap::new();
        if reason.is_some() {
            let ids: Vec<i64> = lines.iter().map(|l| l.summary.id).collect();
            let ciphers = self.store.person_ciphers(&ids, &actor.scope_path).await?;
            let cipher = self.cipher().await?;
            for (id, c) in ciphers {
                let id_number = match (&c.id_cipher, &c.id_bidx) {
                    (Some(text), Some(bidx)) => cipher
                        .decrypt(text, &FieldRef::new("persons", "id_number", bidx))?
                        .to_string(),
                    _ => String::new(),
                };
                let phone = match (&c.phone_cipher, &c.phone_bidx) {
                    (Some(text), Some(bidx)) => cipher
                        .decrypt(text, &FieldRef::new("persons", "phone", bidx))?
                        .to_string(),
                    _ => String::new(),
                };
                clear_numbers.insert(id, (id_number, phone));
            }
        }

        let scope = match trimmed(&query.region) {
            Some(code) => {
                let r = self.region(actor, &code).await?;
                format!("{}（{}）", r.name, r.code)
            }
            None => format!("{}（{}）", actor.region_name, actor.region_code),
        };
        let mut range = scope;
        if let Some(t) = trimmed(&query.tag) {
            range.push_str(&format!("，标签 {t}"));
        }
        if !query.q.trim().is_empty() {
            range.push_str("，按关键词查找");
        }
        let watermark = format!(
            "导出人：{}（{}）　时间：{}　事由：{}　范围：{}　共 {} 行{}",
            actor.display_name,
            actor.username,
            jinlin_domain::deadlines::format_cst(self.now()),
            reason.as_deref().unwrap_or("—"),
            range,
            lines.len(),
            if reason.is_some() {
                "　含完整身份证号和手机号，请妥善保管，用后删除"
            } else {
                "　号码已脱敏"
            }
        );

        let bytes = workbook(&watermark, &lines, &clear_numbers).map_err(xlsx_err)?;

        let mut access = self.access(actor, "export", None);
        access.field = Some(if reason.is_some() { "clear" } else { "masked" }.into());
        access.reason = reason.clone().unwrap_or_default();
        access.row_count = Some(lines.len() as i64);
        self.store.log_person_access(&access, self.now()).await?;
        self.store
            .append_audit(
                &actor.audit(
                    "people.export",
                    &format!(
                        "people:{}",
                        if reason.is_some() { "clear" } else { "masked" }
                    ),
                    "ok",
                    format!("{range}，{} 行", lines.len()),
                ),
                self.now(),
            )
            .await?;
        Ok(bytes)
    }
}

fn workbook(
    watermark: &str,
    lines: &[PersonLine],
    clear: &std::collections::HashMap<i64, (String, String)>,
) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let mark = Format::new().set_bold().set_font_color("#C00000");
    let ws = wb.add_worksheet().set_name("人员名单")?;
    ws.write_string_with_format(0, 0, watermark, &mark)?;
    for (c, h) in HEADERS.iter().enumerate() {
        ws.write_string_with_format(1, c as u16, *h, &bold)?;
    }
    for (i, l) in lines.iter().enumerate() {
        let r = i as u32 + 2;
        let s = &l.summary;
        let (id_number, phone) = match clear.get(&s.id) {
            Some((id, phone)) => (id.clone(), phone.clone()),
            None => (l.id_masked.clone(), l.phone_masked.clone()),
        };
        let cells = [
            (i + 1).to_string(),
            s.name.clone(),
            match s.gender.as_str() {
                "male" => "男",
                "female" => "女",
                _ => "",
            }
            .to_owned(),
            s.birth_date.clone().unwrap_or_default(),
            l.age.map(|a| a.to_string()).unwrap_or_default(),
            id_number,
            phone,
            s.region_name.clone(),
            s.unit.clone().unwrap_or_default(),
            s.number.clone().unwrap_or_default(),
            relation_zh(s.relation.as_deref()).to_owned(),
            status_zh(&s.residence_status).to_owned(),
            if s.party_member { "是" } else { "否" }.to_owned(),
        ];
        for (c, v) in cells.iter().enumerate() {
            // write_string never makes a formula, whatever the text starts with.
            ws.write_string(r, c as u16, v)?;
        }
        let tags: Vec<&str> = l.tags.iter().map(|(n, _)| n.as_str()).collect();
        ws.write_string(r, HEADERS.len() as u16, tags.join("、"))?;
    }
    ws.write_string_with_format(1, HEADERS.len() as u16, "标签", &bold)?;
    ws.set_column_width(1, 10)?;
    ws.set_column_width(5, 22)?;
    ws.set_column_width(6, 14)?;
    ws.set_column_width(7, 18)?;
    ws.set_freeze_panes(2, 0)?;
    wb.save_to_buffer()
}
