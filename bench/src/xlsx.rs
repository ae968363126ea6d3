//! A people list as a county would keep it in Excel, for timing `jinlin people import` on a
//! realistic file: the import template's Chinese headers, the residents of [`crate::people`],
//! households spread over the demo county's buildings.

use std::path::Path;

use anyhow::Context;
use jinlin_domain::regions::RegionLevel;
use rust_xlsxwriter::Workbook;

use crate::people::resident;

const HEADERS: [&str; 12] = [
    "楼栋编码",
    "单元",
    "楼层",
    "门牌号",
    "房屋用途",
    "居住情况",
    "户号",
    "与户主关系",
    "姓名",
    "身份证号",
    "手机号",
    "标签",
];

/// Writes residents `0..rows` to `path`; returns the file's size in bytes.
pub fn write(path: &Path, rows: u64) -> anyhow::Result<u64> {
    let county = jinlin_app::demo::demo_county();
    let buildings: Vec<String> = county
        .regions
        .iter()
        .filter(|r| r.level == RegionLevel::Building)
        .map(|r| r.code.clone())
        .collect();
    anyhow::ensure!(!buildings.is_empty(), "the demo county has no buildings");
    let tag_names: Vec<(&str, &str)> = jinlin_domain::people::care_tag_seed()
        .into_iter()
        .map(|t| (t.code, t.name))
        .collect();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("人员")?;
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string(0, c as u16, *h)?;
    }
    for i in 0..rows {
        let r = resident(i);
        let row = (i + 1) as u32;
        let b = &buildings[(r.household % buildings.len() as u64) as usize];
        let slot = r.household / buildings.len() as u64;
        let (unit, floor, room) = (slot % 3 + 1, slot / 3 % 30 + 1, slot / 90 + 1);
        let number = format!("{floor}{room:02}");
        let cells = [
            b.clone(),
            unit.to_string(),
            floor.to_string(),
            number,
            "住宅".into(),
            "自住".into(),
            format!("H{}", r.household),
            if r.head { "户主" } else { "子" }.into(),
            r.name,
            r.id_number,
            r.phone.unwrap_or_default(),
            r.tag
                .and_then(|code| tag_names.iter().find(|(c, _)| *c == code))
                .map(|(_, n)| (*n).to_owned())
                .unwrap_or_default(),
        ];
        for (c, v) in cells.iter().enumerate() {
            if !v.is_empty() {
                sheet.write_string(row, c as u16, v)?;
            }
        }
    }
    book.save(path)
        .with_context(|| format!("写入 {}", path.display()))?;
    Ok(std::fs::metadata(path)?.len())
}
