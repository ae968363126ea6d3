//! Excel and CSV import of people lists (reference/crates-and-security.md A.10).
//!
//! The contract is the row of Chinese column headers in [`COLUMNS`]: order is free, unknown
//! columns are ignored, the required ones must be there. A file is checked whole before anything
//! is written ([`App::preview_import`]): every row's problems come back as
//! `{row (spreadsheet line), column (header), rule}`, and [`App::import_people_file`] writes the
//! good rows in ONE store transaction (all of them or none).
//!
//! Uploads are untrusted: the file size is capped, an xlsx's zip directory is read first
//! (entry count and total uncompressed size, against zip bombs) and the sheet is streamed cell
//! by cell with a row limit. Parsing is CPU work: callers run [`parse`] (and the use cases run
//! the checks) on blocking threads.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::io::Cursor;
use std::sync::Arc;

use jinlin_domain::people::{DwellingUse, Occupancy, RelationToHead};
use jinlin_domain::regions::RegionLevel;
use jinlin_store::people::{CareTag, ImportRow, ImportSummary, RegionRef};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::{PersonInput, masked, may_manage_lists, protect_person};
use crate::vault::FieldCipher;
use crate::{Actor, App, AppError};

/// One column of the import contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub header: &'static str,
    pub required: bool,
    /// What goes in it, for the template's 说明 sheet.
    pub explain: &'static str,
    /// The template's example value.
    pub example: &'static str,
}

const fn col(
    header: &'static str,
    required: bool,
    explain: &'static str,
    example: &'static str,
) -> Column {
    Column {
        header,
        required,
        explain,
        example,
    }
}

/// The columns, in the template's order. Indexes into a [`RawRow`] follow this order.
pub const COLUMNS: [Column; 20] = [
    col(
        "楼栋编码",
        true,
        "楼栋的 20 位区划编码（在“区划”页面可查到），楼栋名称不能代替编码",
        "35050300100100100001",
    ),
    col("单元", false, "单元号，没有单元可不填", "1单元"),
    col("楼层", false, "整数，地下层写负数（如 -1）", "3"),
    col("门牌号", true, "室号或门牌号", "302"),
    col(
        "房屋用途",
        false,
        "住宅、商铺、办公、其他；不填为住宅",
        "住宅",
    ),
    col(
        "居住情况",
        false,
        "自住、出租、空置、其他；不填为其他",
        "自住",
    ),
    col(
        "户号",
        false,
        "同一房屋内户号相同的人员为一户；不填时同一房屋的人员为一户",
        "1",
    ),
    col(
        "与户主关系",
        true,
        "户主（或本人）、配偶、子、女、父母、祖父母、孙子女、兄弟姐妹、其他；每户只能有一位户主",
        "户主",
    ),
    col("姓名", true, "最多 50 个字", "张三"),
    col(
        "身份证号",
        false,
        "18 位（旧证 15 位会自动转换）；请把单元格设为“文本”，否则 Excel 会丢失后几位",
        "350503198001010012",
    ),
    col(
        "手机号",
        false,
        "11 位手机号码；请把单元格设为“文本”",
        "13805951234",
    ),
    col("性别", false, "男 或 女；填了身份证号时可不填", "男"),
    col(
        "出生日期",
        false,
        "形如 1980-01-01；填了身份证号时可不填",
        "1980-01-01",
    ),
    col("民族", false, "56 个民族之一，如 汉族、回族", "汉族"),
    col(
        "户籍地址",
        false,
        "最多 200 个字",
        "福建省泉州市丰泽区东湖街道",
    ),
    col("现住址", false, "最多 200 个字", "刺桐花园1幢302室"),
    col(
        "居住状态",
        false,
        "户籍人口、人户分离、流动人口、境外人员、未落户人员；不填为户籍人口",
        "户籍人口",
    ),
    col("党员", false, "是 或 否；不填为否", "否"),
    col(
        "标签",
        false,
        "重点人群标签名称，多个用顿号“、”或逗号分隔，如 独居老人、残疾人",
        "",
    ),
    col("备注", false, "最多 1000 个字", ""),
];

// Column positions, by name, for the checks.
const C_BUILDING: usize = 0;
const C_UNIT: usize = 1;
const C_FLOOR: usize = 2;
const C_NUMBER: usize = 3;
const C_USE: usize = 4;
const C_OCCUPANCY: usize = 5;
const C_HOUSEHOLD: usize = 6;
const C_RELATION: usize = 7;
const C_NAME: usize = 8;
const C_ID: usize = 9;
const C_PHONE: usize = 10;
const C_GENDER: usize = 11;
const C_BIRTH: usize = 12;
const C_ETHNIC: usize = 13;
const C_REG_ADDR: usize = 14;
const C_ACT_ADDR: usize = 15;
const C_STATUS: usize = 16;
const C_PARTY: usize = 17;
const C_TAGS: usize = 18;
const C_NOTES: usize = 19;

/// Good rows shown in a preview.
pub const PREVIEW_ROWS: usize = 20;

/// The largest list accepted: a million residents in the template's columns is about 60 MB.
pub const MAX_FILE_BYTES: usize = 120 * 1024 * 1024;

/// Limits on an uploaded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// Bytes of the file as uploaded.
    pub max_bytes: usize,
    /// Entries in an xlsx's zip directory.
    pub max_zip_entries: usize,
    /// Total uncompressed bytes of an xlsx's entries.
    pub max_uncompressed: u64,
    /// Data rows (after the header).
    pub max_rows: usize,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            max_bytes: MAX_FILE_BYTES,
            max_zip_entries: 1_000,
            max_uncompressed: 2 * 1024 * 1024 * 1024,
            max_rows: 1_100_000,
        }
    }
}

/// A problem with one row (or, at row 1, with the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The spreadsheet line (the header is line 1 in the template).
    pub row: u32,
    /// The Chinese column header; empty when the row as a whole is wrong.
    pub column: String,
    /// What is wrong, in Chinese.
    pub rule: String,
}

impl RowError {
    fn new(row: u32, column: &str, rule: impl Into<String>) -> RowError {
        RowError {
            row,
            column: column.into(),
            rule: rule.into(),
        }
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column.is_empty() {
            write!(f, "第 {} 行：{}", self.row, self.rule)
        } else {
            write!(f, "第 {} 行 {}：{}", self.row, self.column, self.rule)
        }
    }
}

/// One data row as text, by column position ([`COLUMNS`]); `None` for a missing column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    pub line: u32,
    pub cells: Vec<Option<String>>,
}

impl RawRow {
    fn get(&self, c: usize) -> Option<&str> {
        self.cells
            .get(c)
            .and_then(|v| v.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// A file read into rows.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub rows: Vec<RawRow>,
    /// Required columns the header lacks (each an error at the header's line).
    pub missing: Vec<RowError>,
    /// Cells that were read but may be wrong (an ID stored as a number lost its last digits).
    pub warnings: Vec<RowError>,
}

/// The steps of a check or an import, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStage {
    /// The file is read into rows: (rows read, rows the sheet says it has; 0 when it does not).
    Reading,
    /// Every row is checked: (rows checked, rows in the file).
    Checking,
    /// Persons repeated in the file or registered already: (0, 0) when it starts.
    Duplicates,
    /// The good rows are written in one transaction: (persons written, persons to write).
    Writing,
}

impl ImportStage {
    pub fn zh(self) -> &'static str {
        match self {
            ImportStage::Reading => "读取文件",
            ImportStage::Checking => "校验数据",
            ImportStage::Duplicates => "查重",
            ImportStage::Writing => "写入数据库",
        }
    }
}

/// Called with the stage and (done, total) as a check or an import goes on; see
/// [`ImportStage`] for what the counts are at each stage. Called from blocking threads too.
pub type ImportProgress = Arc<dyn Fn(ImportStage, usize, usize) + Send + Sync>;

/// A good row as a preview shows it: numbers masked.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewRow {
    pub line: u32,
    pub building: String,
    pub unit: String,
    pub number: String,
    pub household_no: String,
    pub relation: String,
    pub name: String,
    pub gender: String,
    pub id_masked: String,
    pub phone_masked: String,
    pub tags: String,
}

/// What a file would import.
#[derive(Debug, Clone, Default)]
pub struct ImportPreview {
    pub file_name: String,
    /// Data rows in the file.
    pub total_rows: usize,
    pub valid_rows: usize,
    /// Rows with at least one error.
    pub error_rows: usize,
    /// Households and dwellings the good rows describe (new or existing).
    pub households: usize,
    pub dwellings: usize,
    /// The first [`PREVIEW_ROWS`] good rows.
    pub sample: Vec<PreviewRow>,
    /// Every error, by row then column.
    pub errors: Vec<RowError>,
    pub warnings: Vec<RowError>,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportOutcome {
    /// `None` when nothing was imported.
    pub summary: Option<ImportSummary>,
    pub total_rows: usize,
    /// Rows left out because of their errors.
    pub skipped_rows: usize,
    pub errors: Vec<RowError>,
    pub warnings: Vec<RowError>,
}

// ----- template ------------------------------------------------------------------------------

fn xlsx_err(e: XlsxError) -> AppError {
    AppError::Internal(format!("xlsx: {e}"))
}

/// The import template: the header row and one example row, and a sheet 说明 explaining every
/// column. ID and phone columns are text, so Excel keeps every digit.
pub fn template_xlsx() -> Result<Vec<u8>, AppError> {
    let mut wb = Workbook::new();
    let head = Format::new().set_bold().set_background_color("#DDEBF7");
    let required = Format::new()
        .set_bold()
        .set_font_color("#C00000")
        .set_background_color("#DDEBF7");
    let text = Format::new().set_num_format("@");
    let ws = wb.add_worksheet().set_name("人员").map_err(xlsx_err)?;
    for (c, column) in COLUMNS.iter().enumerate() {
        let c = c as u16;
        let f = if column.required { &required } else { &head };
        ws.write_string_with_format(0, c, column.header, f)
            .map_err(xlsx_err)?;
        ws.set_column_format(c, &text).map_err(xlsx_err)?;
        ws.set_column_width(c, if c == C_BUILDING as u16 { 24 } else { 14 })
            .map_err(xlsx_err)?;
        ws.write_string_with_format(1, c, column.example, &text)
            .map_err(xlsx_err)?;
    }
    ws.set_freeze_panes(1, 0).map_err(xlsx_err)?;

    let ws = wb.add_worksheet().set_name("说明").map_err(xlsx_err)?;
    let lines = [
        "填写说明：第一行是列名，请勿修改列名；列的顺序可以调整，多余的列会被忽略。",
        "红色列名为必填列：楼栋编码、门牌号、姓名、与户主关系。第二行是示例，导入前请删除。",
        "同一楼栋、单元、门牌号的人员登记在同一房屋；同一房屋内户号相同的人员为一户。",
        "身份证号、手机号请设为文本格式；导入前系统会逐行检查，有问题的行会列出行号、列名和原因。",
    ];
    for (i, line) in lines.iter().enumerate() {
        ws.write_string(i as u32, 0, *line).map_err(xlsx_err)?;
    }
    let top = lines.len() as u32 + 1;
    for (c, h) in ["列名", "是否必填", "填写要求"].iter().enumerate() {
        ws.write_string_with_format(top, c as u16, *h, &head)
            .map_err(xlsx_err)?;
    }
    for (i, column) in COLUMNS.iter().enumerate() {
        let r = top + 1 + i as u32;
        ws.write_string(r, 0, column.header).map_err(xlsx_err)?;
        ws.write_string(r, 1, if column.required { "必填" } else { "选填" })
            .map_err(xlsx_err)?;
        ws.write_string(r, 2, column.explain).map_err(xlsx_err)?;
    }
    ws.set_column_width(0, 14).map_err(xlsx_err)?;
    ws.set_column_width(2, 90).map_err(xlsx_err)?;
    wb.save_to_buffer().map_err(xlsx_err)
}

/// The errors as a workbook to download: 行号, 列, 问题.
pub fn error_report_xlsx(errors: &[RowError]) -> Result<Vec<u8>, AppError> {
    let mut wb = Workbook::new();
    let head = Format::new().set_bold();
    let ws = wb.add_worksheet().set_name("导入问题").map_err(xlsx_err)?;
    for (c, h) in ["行号", "列", "问题"].iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &head)
            .map_err(xlsx_err)?;
    }
    for (i, e) in errors.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_number(r, 0, f64::from(e.row)).map_err(xlsx_err)?;
        ws.write_string(r, 1, &e.column).map_err(xlsx_err)?;
        ws.write_string(r, 2, &e.rule).map_err(xlsx_err)?;
    }
    ws.set_column_width(1, 14).map_err(xlsx_err)?;
    ws.set_column_width(2, 80).map_err(xlsx_err)?;
    wb.save_to_buffer().map_err(xlsx_err)
}

// ----- reading files -------------------------------------------------------------------------

fn file_error(message: impl Into<String>) -> AppError {
    AppError::invalid("file", message)
}

/// Reads an uploaded `.xlsx` or `.csv` (UTF-8 with or without BOM, or GB18030 as Excel saves
/// it on Chinese Windows) into rows of text. CPU-bound: run it on a blocking thread.
pub fn parse(bytes: &[u8], file_name: &str, limits: &ImportLimits) -> Result<Parsed, AppError> {
    parse_with(bytes, file_name, limits, None, None)
}

/// Where the rows of a file go as they are read: in batches of [`EMIT_ROWS`] to a checker, or
/// (`None`) all into [`Parsed::rows`].
type Emit<'e> = Option<&'e mut dyn FnMut(Vec<RawRow>)>;

/// [`parse`], reporting [`ImportStage::Reading`] every [`READ_STEP`] rows.
fn parse_with(
    bytes: &[u8],
    file_name: &str,
    limits: &ImportLimits,
    progress: Option<&ImportProgress>,
    emit: Emit<'_>,
) -> Result<Parsed, AppError> {
    if bytes.is_empty() {
        return Err(file_error("文件是空的，请选择填好的人员表"));
    }
    if bytes.len() > limits.max_bytes {
        return Err(file_error(format!(
            "文件过大：最大 {} MB，收到 {:.1} MB；请分成几个文件导入",
            limits.max_bytes / (1024 * 1024),
            bytes.len() as f64 / (1024.0 * 1024.0)
        )));
    }
    let lower = file_name.to_ascii_lowercase();
    let is_zip = bytes.starts_with(b"PK\x03\x04");
    if lower.ends_with(".xlsx") || (is_zip && !lower.ends_with(".csv")) {
        if !is_zip {
            return Err(file_error(
                "文件不是有效的 xlsx 表格；旧版 .xls 请在 Excel 中另存为 .xlsx",
            ));
        }
        read_xlsx(bytes, limits, progress, emit)
    } else if lower.ends_with(".csv") || lower.ends_with(".txt") {
        read_csv(bytes, limits, progress, emit)
    } else if lower.ends_with(".xls") {
        Err(file_error(
            "不支持旧版 .xls 文件，请在 Excel 中“另存为” .xlsx 后再导入",
        ))
    } else {
        Err(file_error("只能导入 .xlsx 或 .csv 文件"))
    }
}

/// The zip directory, before any entry is inflated: too many entries or too many bytes
/// uncompressed is refused (a zip bomb looks small on disk).
fn check_zip(bytes: &[u8], limits: &ImportLimits) -> Result<(), AppError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|_| file_error("文件不是有效的 xlsx 表格（压缩结构损坏）"))?;
    if archive.len() > limits.max_zip_entries {
        return Err(file_error(format!(
            "文件结构异常：包含 {} 个部件，超过上限 {}，已拒绝",
            archive.len(),
            limits.max_zip_entries
        )));
    }
    // The sizes of the central directory (what a data descriptor says is checked again by the
    // zip reader while inflating).
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|_| file_error("文件不是有效的 xlsx 表格（压缩结构损坏）"))?;
        total = total.saturating_add(entry.size());
    }
    if total > limits.max_uncompressed {
        return Err(file_error(format!(
            "文件结构异常：解压后超过 {} MB（疑似压缩炸弹），已拒绝",
            limits.max_uncompressed / (1024 * 1024)
        )));
    }
    Ok(())
}

/// Maps header cells to column positions; returns `(position in file → column)`.
struct HeaderMap {
    by_file_col: HashMap<usize, usize>,
}

fn normalise_header(h: &str) -> String {
    h.trim()
        .trim_start_matches('*')
        .trim_end_matches('*')
        .trim_end_matches("（必填）")
        .trim_end_matches("(必填)")
        .trim()
        .to_owned()
}

impl HeaderMap {
    fn new(cells: &[String]) -> HeaderMap {
        let mut by_file_col = HashMap::new();
        for (i, h) in cells.iter().enumerate() {
            let h = normalise_header(h);
            if let Some(c) = COLUMNS.iter().position(|c| c.header == h) {
                // The first column of a name wins.
                if !by_file_col.values().any(|&v| v == c) {
                    by_file_col.insert(i, c);
                }
            }
        }
        HeaderMap { by_file_col }
    }

    fn missing(&self, line: u32) -> Vec<RowError> {
        COLUMNS
            .iter()
            .enumerate()
            .filter(|(i, c)| c.required && !self.by_file_col.values().any(|v| v == i))
            .map(|(_, c)| RowError::new(line, c.header, format!("缺少必填列“{}”", c.header)))
            .collect()
    }

    fn is_header(cells: &[String]) -> bool {
        cells
            .iter()
            .any(|h| matches!(normalise_header(h).as_str(), "姓名" | "楼栋编码"))
    }
}

/// Rows read between two progress reports while a file is read.
const READ_STEP: usize = 20_000;

/// Rows handed to a checker at once while a file is read.
const EMIT_ROWS: usize = 10_000;

/// Collects rows: finds the header (in the first five lines; the first line otherwise), then
/// turns every later non-empty line into a [`RawRow`].
struct RowSink<'l, 'e> {
    limits: &'l ImportLimits,
    header: Option<(u32, HeaderMap)>,
    pending: Vec<(u32, Vec<String>)>,
    parsed: Parsed,
    /// Data rows so far (with an emitter, most of them are no longer in `parsed.rows`).
    read: usize,
    emit: Emit<'e>,
    progress: Option<&'l ImportProgress>,
    /// Data rows the file seems to have (0: not known), for the progress reports.
    expected: usize,
}

impl<'l, 'e> RowSink<'l, 'e> {
    fn new(
        limits: &'l ImportLimits,
        progress: Option<&'l ImportProgress>,
        emit: Emit<'e>,
    ) -> RowSink<'l, 'e> {
        RowSink {
            limits,
            header: None,
            pending: Vec::new(),
            parsed: Parsed::default(),
            read: 0,
            emit,
            progress,
            expected: 0,
        }
    }

    fn line(&mut self, line: u32, cells: Vec<String>) -> Result<(), AppError> {
        if cells.iter().all(|c| c.trim().is_empty()) {
            return Ok(());
        }
        if self.header.is_none() {
            if HeaderMap::is_header(&cells) {
                self.header = Some((line, HeaderMap::new(&cells)));
                self.pending.clear();
                return Ok(());
            }
            self.pending.push((line, cells));
            if self.pending.len() < 5 {
                return Ok(());
            }
            // No recognisable header in the first lines: the first line is the header.
            let mut pending = std::mem::take(&mut self.pending).into_iter();
            if let Some((l, h)) = pending.next() {
                self.header = Some((l, HeaderMap::new(&h)));
            }
            for (l, c) in pending {
                self.data(l, c)?;
            }
            return Ok(());
        }
        self.data(line, cells)
    }

    fn data(&mut self, line: u32, cells: Vec<String>) -> Result<(), AppError> {
        let Some((_, map)) = &self.header else {
            return Ok(());
        };
        if self.read >= self.limits.max_rows {
            return Err(file_error(format!(
                "行数过多：一次最多导入 {} 行，请分成几个文件",
                self.limits.max_rows
            )));
        }
        let mut out = vec![None; COLUMNS.len()];
        for (i, v) in cells.into_iter().enumerate() {
            if let Some(&c) = map.by_file_col.get(&i) {
                out[c] = Some(v);
            }
        }
        self.parsed.rows.push(RawRow { line, cells: out });
        self.read += 1;
        let read = self.read;
        if let Some(emit) = self.emit.as_mut()
            && self.parsed.rows.len() >= EMIT_ROWS
        {
            emit(std::mem::take(&mut self.parsed.rows));
        }
        if let Some(p) = self.progress
            && read.is_multiple_of(READ_STEP)
        {
            // The sheet's own count may be wrong (or missing): never past 100 %.
            let expected = if self.expected >= read {
                self.expected
            } else {
                0
            };
            p(ImportStage::Reading, read, expected);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Parsed, AppError> {
        if self.header.is_none() {
            let mut pending = std::mem::take(&mut self.pending).into_iter();
            match pending.next() {
                None => return Err(file_error("表格是空的：没有列名行，也没有数据")),
                Some((l, h)) => self.header = Some((l, HeaderMap::new(&h))),
            }
            for (l, c) in pending {
                self.data(l, c)?;
            }
        }
        if let Some((line, map)) = &self.header {
            self.parsed.missing = map.missing(*line);
        }
        if let Some(emit) = self.emit.as_mut()
            && !self.parsed.rows.is_empty()
        {
            emit(std::mem::take(&mut self.parsed.rows));
        }
        Ok(self.parsed)
    }
}

/// An integer written without exponent; `None` if `f` is not a whole number.
/// Beyond 15 significant digits the digits are those Excel shows (the rest are zeros), not the
/// binary value's.
fn whole(f: f64) -> Option<String> {
    if !(f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21) {
        return None;
    }
    if f.abs() < 1e15 {
        return Some(format!("{f:.0}"));
    }
    // `3.50503198001010e17` → 350503198001010 followed by zeros.
    let e = format!("{:.14e}", f.abs());
    let (mantissa, exp) = e.split_once('e')?;
    let exp: usize = exp.parse().ok()?;
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() < exp + 1 {
        digits.push('0');
    }
    Some(if f < 0.0 {
        format!("-{digits}")
    } else {
        digits
    })
}

fn read_xlsx(
    bytes: &[u8],
    limits: &ImportLimits,
    progress: Option<&ImportProgress>,
    emit: Emit<'_>,
) -> Result<Parsed, AppError> {
    use calamine::{DataRef, Reader, Xlsx};

    check_zip(bytes, limits)?;
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes))
        .map_err(|e| file_error(format!("无法读取 xlsx 表格：{e}")))?;
    let names = book.sheet_names();
    let Some(first) = names.first().cloned() else {
        return Err(file_error("表格中没有工作表"));
    };
    let mut reader = book
        .worksheet_cells_reader(&first)
        .map_err(|e| file_error(format!("无法读取工作表“{first}”：{e}")))?;
    let mut sink = RowSink::new(limits, progress, emit);
    // The sheet's declared last row (0-based, so the data rows below a header in line 1).
    sink.expected = reader.dimensions().end.0 as usize;
    let mut warnings = Vec::new();
    let mut current: Option<(u32, Vec<String>)> = None;
    while let Some(cell) = reader
        .next_cell()
        .map_err(|e| file_error(format!("工作表“{first}”读取出错：{e}")))?
    {
        let (r, c) = cell.get_position();
        let line = r + 1;
        let c = c as usize;
        if c >= 200 {
            continue;
        }
        let text = match cell.get_value() {
            DataRef::Empty => continue,
            DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
            DataRef::SharedString(s) => (*s).to_owned(),
            DataRef::Int(i) => i.to_string(),
            DataRef::Float(f) => match whole(*f) {
                Some(s) => {
                    // Above 2^53 a number has lost digits: an ID typed into a number cell.
                    if f.abs() >= 9_007_199_254_740_992.0 {
                        warnings.push((line, c));
                    }
                    s
                }
                None => f.to_string(),
            },
            DataRef::Bool(b) => if *b { "是" } else { "否" }.to_owned(),
            DataRef::DateTime(d) => {
                let (y, m, dd, ..) = d.to_ymd_hms_milli();
                format!("{y:04}-{m:02}-{dd:02}")
            }
            DataRef::Error(_) => String::new(),
        };
        match &mut current {
            Some((l, cells)) if *l == line => {
                if cells.len() <= c {
                    cells.resize(c + 1, String::new());
                }
                cells[c] = text;
            }
            _ => {
                if let Some((l, cells)) = current.take() {
                    sink.line(l, cells)?;
                }
                let mut cells = vec![String::new(); c + 1];
                cells[c] = text;
                current = Some((line, cells));
            }
        }
    }
    if let Some((l, cells)) = current.take() {
        sink.line(l, cells)?;
    }
    drop(reader);
    let header_cols = sink
        .header
        .as_ref()
        .map(|(_, m)| m.by_file_col.clone())
        .unwrap_or_default();
    let mut parsed = sink.finish()?;
    for (line, c) in warnings {
        if let Some(&col) = header_cols.get(&c) {
            parsed.warnings.push(RowError::new(
                line,
                COLUMNS[col].header,
                "该单元格是数字格式，超过 15 位的数字已被 Excel 截断，请把该列设为文本后重新填写",
            ));
        }
    }
    Ok(parsed)
}

fn read_csv(
    bytes: &[u8],
    limits: &ImportLimits,
    progress: Option<&ImportProgress>,
    emit: Emit<'_>,
) -> Result<Parsed, AppError> {
    let text: std::borrow::Cow<'_, str> = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => std::str::from_utf8(rest)
            .map_err(|_| file_error("CSV 文件的 UTF-8 编码有误"))?
            .into(),
        None => match std::str::from_utf8(bytes) {
            Ok(s) => s.into(),
            Err(_) => {
                let (s, _, bad) = encoding_rs::GB18030.decode(bytes);
                if bad {
                    return Err(file_error(
                        "CSV 文件编码无法识别：请保存为 UTF-8 或 GB18030（Excel 的“CSV（逗号分隔）”）",
                    ));
                }
                s
            }
        },
    };
    let mut sink = RowSink::new(limits, progress, emit);
    // Lines after the header; quoted line breaks make it an estimate.
    sink.expected = text
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        .saturating_sub(1);
    let mut line = 1u32;
    let mut start_line = 1u32;
    let mut cells: Vec<String> = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if quoted {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    cell.push('\n');
                }
                other => cell.push(other),
            }
            continue;
        }
        match ch {
            '"' if cell.is_empty() => quoted = true,
            ',' => cells.push(std::mem::take(&mut cell)),
            '\r' => {}
            '\n' => {
                cells.push(std::mem::take(&mut cell));
                sink.line(start_line, std::mem::take(&mut cells))?;
                line += 1;
                start_line = line;
            }
            other => cell.push(other),
        }
    }
    if !cell.is_empty() || !cells.is_empty() {
        cells.push(cell);
        sink.line(start_line, cells)?;
    }
    sink.finish()
}

// ----- checking rows -------------------------------------------------------------------------

/// What the checks of a file need to know from the database.
struct Context {
    buildings: HashMap<String, Result<RegionRef, String>>,
    tags: Vec<CareTag>,
}

fn relation_code(s: &str) -> Option<&'static str> {
    let code = match s {
        "户主" | "本人" | "本人（户主）" | "本人(户主)" | "户主本人" => "head",
        "配偶" | "妻" | "夫" | "妻子" | "丈夫" => "spouse",
        "子" | "儿子" | "长子" | "次子" => "son",
        "女" | "女儿" | "长女" | "次女" => "daughter",
        "父母" | "父亲" | "母亲" | "父" | "母" => "parent",
        "祖父母" | "外祖父母" | "祖父" | "祖母" | "外祖父" | "外祖母" => {
            "grandparent"
        }
        "孙子女" | "外孙子女" | "孙子" | "孙女" | "外孙子" | "外孙女" => {
            "grandchild"
        }
        "兄弟姐妹" | "兄" | "弟" | "姐" | "妹" | "哥哥" | "弟弟" | "姐姐" | "妹妹" => {
            "sibling"
        }
        "其他" | "儿媳" | "女婿" => "other",
        other => RelationToHead::ALL
            .iter()
            .find(|r| r.as_str() == other || r.zh() == other)
            .map(|r| r.as_str())?,
    };
    Some(code)
}

fn relation_zh(code: &str) -> &'static str {
    RelationToHead::ALL
        .iter()
        .find(|r| r.as_str() == code)
        .map_or("其他", |r| if code == "head" { "户主" } else { r.zh() })
}

/// The person field names of [`protect_person`] as the file's headers.
fn header_of_field(field: &str) -> &'static str {
    match field {
        "name" => "姓名",
        "gender" => "性别",
        "birth_date" => "出生日期",
        "id_number" => "身份证号",
        "phone" => "手机号",
        "ethnic_group" => "民族",
        "registered_address" => "户籍地址",
        "actual_address" => "现住址",
        "residence_status" => "居住状态",
        _ => "",
    }
}

/// A message's "列名：" prefix dropped, since the column is named separately.
fn rule_of(message: &str, header: &str) -> String {
    let m = message.strip_prefix(header).unwrap_or(message);
    let m = m.strip_prefix('码').unwrap_or(m);
    let m = m.strip_prefix('：').unwrap_or(m);
    m.to_owned()
}

/// The household a row belongs to: (building, unit, number, 户号).
type HouseholdKey = (String, String, String, Option<String>);

/// A checked row, ready for the store, with what the preview shows.
struct Checked {
    row: ImportRow,
    building_name: String,
    tenant: String,
    household: HouseholdKey,
    tag_names: Vec<String>,
}

fn check_row(
    ctx: &Context,
    cipher: &dyn FieldCipher,
    raw: &RawRow,
    now: i64,
) -> Result<Checked, Vec<RowError>> {
    let line = raw.line;
    let mut errors = Vec::new();
    let err = |errors: &mut Vec<RowError>, c: usize, rule: String| {
        errors.push(RowError::new(line, COLUMNS[c].header, rule));
    };

    let mut building = None;
    match raw.get(C_BUILDING) {
        None => err(&mut errors, C_BUILDING, "必填，请填写 20 位楼栋编码".into()),
        Some(code) if code.len() != 20 || !code.bytes().all(|b| b.is_ascii_digit()) => err(
            &mut errors,
            C_BUILDING,
            format!("“{code}”不是 20 位数字的楼栋编码（楼栋名称不能代替编码）"),
        ),
        Some(code) => match ctx.buildings.get(code) {
            Some(Ok(b)) => building = Some(b),
            Some(Err(rule)) => err(&mut errors, C_BUILDING, rule.clone()),
            None => err(&mut errors, C_BUILDING, format!("楼栋编码 {code} 不存在")),
        },
    }
    let unit = raw.get(C_UNIT).unwrap_or_default().to_owned();
    if unit.chars().count() > 20 {
        err(&mut errors, C_UNIT, "最多 20 个字".into());
    }
    let floor = match raw.get(C_FLOOR) {
        None => None,
        Some(f) => {
            let digits = f
                .trim_end_matches(['层', '楼', 'F', 'f'])
                .replace('负', "-");
            match digits.trim().parse::<i64>() {
                Ok(n) if (-20..=300).contains(&n) => Some(n),
                Ok(_) => {
                    err(&mut errors, C_FLOOR, "楼层须在 -20 到 300 之间".into());
                    None
                }
                Err(_) => {
                    err(
                        &mut errors,
                        C_FLOOR,
                        format!("“{f}”不是整数楼层（地下层写负数，如 -1）"),
                    );
                    None
                }
            }
        }
    };
    let number = raw.get(C_NUMBER).unwrap_or_default().to_owned();
    if number.is_empty() {
        err(&mut errors, C_NUMBER, "必填，请填写室号或门牌号".into());
    } else if number.chars().count() > 30 {
        err(&mut errors, C_NUMBER, "最多 30 个字".into());
    }
    let use_type = match raw.get(C_USE) {
        None => DwellingUse::Residential.as_str(),
        Some(u) => match DwellingUse::ALL
            .iter()
            .find(|d| d.zh() == u || d.as_str() == u)
        {
            Some(d) => d.as_str(),
            None => {
                err(
                    &mut errors,
                    C_USE,
                    format!("“{u}”无法识别（可选：住宅、商铺、办公、其他）"),
                );
                ""
            }
        },
    };
    let occupancy = match raw.get(C_OCCUPANCY) {
        None => Occupancy::Other.as_str(),
        Some(u) => match Occupancy::ALL
            .iter()
            .find(|d| d.zh() == u || d.as_str() == u)
        {
            Some(d) => d.as_str(),
            None => {
                err(
                    &mut errors,
                    C_OCCUPANCY,
                    format!("“{u}”无法识别（可选：自住、出租、空置、其他）"),
                );
                ""
            }
        },
    };
    let household_no = raw.get(C_HOUSEHOLD).map(str::to_owned);
    if household_no
        .as_ref()
        .is_some_and(|h| h.chars().count() > 30)
    {
        err(&mut errors, C_HOUSEHOLD, "最多 30 个字".into());
    }
    let relation = match raw.get(C_RELATION) {
        None => {
            err(&mut errors, C_RELATION, "必填，户主填“户主”".into());
            ""
        }
        Some(r) => relation_code(r).unwrap_or_else(|| {
            err(
                &mut errors,
                C_RELATION,
                format!(
                    "“{r}”无法识别（可选：户主、配偶、子、女、父母、祖父母、孙子女、兄弟姐妹、其他）"
                ),
            );
            ""
        }),
    };
    let party_member = match raw.get(C_PARTY) {
        None => false,
        Some("是" | "党员" | "中共党员" | "Y" | "y" | "1" | "TRUE" | "true") => true,
        Some("否" | "非党员" | "群众" | "N" | "n" | "0" | "FALSE" | "false") => false,
        Some(other) => {
            err(&mut errors, C_PARTY, format!("“{other}”只能填 是 或 否"));
            false
        }
    };
    let mut tags = Vec::new();
    let mut tag_names = Vec::new();
    if let Some(list) = raw.get(C_TAGS) {
        for name in list
            .split(['、', ',', '，', ';', '；', '/'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let found = ctx.tags.iter().find(|t| {
                t.code == name
                    || t.name == name
                    || t.name.split(['（', '(']).next().map(str::trim) == Some(name)
            });
            match found {
                Some(t) if t.active => {
                    if !tags.contains(&t.code) {
                        tags.push(t.code.clone());
                        tag_names.push(t.name.clone());
                    }
                }
                Some(t) => err(&mut errors, C_TAGS, format!("标签“{}”已停用", t.name)),
                None => err(&mut errors, C_TAGS, format!("没有“{name}”这个标签")),
            }
        }
    }
    let input = PersonInput {
        name: raw.get(C_NAME).unwrap_or_default().to_owned(),
        gender: raw.get(C_GENDER).map(str::to_owned),
        birth_date: raw.get(C_BIRTH).map(|b| b.replace(['/', '.'], "-")),
        id_number: raw.get(C_ID).map(str::to_owned),
        phone: raw.get(C_PHONE).map(|p| p.replace([' ', '-'], "")),
        ethnic_group: raw.get(C_ETHNIC).map(str::to_owned),
        registered_address: raw.get(C_REG_ADDR).map(str::to_owned),
        actual_address: raw.get(C_ACT_ADDR).map(str::to_owned),
        residence_status: raw.get(C_STATUS).map(str::to_owned),
        party_member,
        notes: raw.get(C_NOTES).unwrap_or_default().to_owned(),
    };
    let person = match protect_person(cipher, &input, now) {
        Ok(p) => Some(p),
        Err(AppError::Invalid { field, message }) => {
            let header = header_of_field(&field);
            errors.push(RowError::new(line, header, rule_of(&message, header)));
            None
        }
        Err(e) => {
            errors.push(RowError::new(line, "", e.to_string()));
            None
        }
    };
    match (building, person) {
        (Some(b), Some(person)) if errors.is_empty() => {
            let checked = Checked {
                household: (
                    b.code.clone(),
                    unit.clone(),
                    number.clone(),
                    household_no.clone(),
                ),
                building_name: b.name.clone(),
                tenant: b.tenant.clone(),
                tag_names,
                row: ImportRow {
                    line,
                    building_id: b.id,
                    unit,
                    floor,
                    number,
                    use_type: use_type.into(),
                    occupancy: occupancy.into(),
                    area_m2: None,
                    household_no,
                    relation: relation.into(),
                    person,
                    tags,
                },
            };
            // What the store would still refuse (e.g. a name whose pinyin is not letters only).
            match jinlin_store::people::check_import(&checked.row) {
                Ok(()) => Ok(checked),
                Err(e) => {
                    let message = match e {
                        jinlin_store::StoreError::Invalid(m) => m,
                        other => other.to_string(),
                    };
                    let column = COLUMNS
                        .iter()
                        .map(|c| c.header)
                        .find(|h| message.starts_with(h))
                        .unwrap_or_default();
                    let rule = if message.starts_with("姓名全拼") || message.starts_with("姓名拼音")
                    {
                        "姓名只能由汉字、字母和间隔号组成，不能含数字或其他符号".to_owned()
                    } else {
                        message
                    };
                    let column = if rule.starts_with("姓名只能") {
                        "姓名"
                    } else {
                        column
                    };
                    Err(vec![RowError::new(line, column, rule)])
                }
            }
        }
        _ => Err(errors),
    }
}

/// A file checked against the rules and the database.
struct Analysis {
    total_rows: usize,
    good: Vec<Checked>,
    errors: Vec<RowError>,
    warnings: Vec<RowError>,
}

impl Analysis {
    fn error_rows(&self) -> usize {
        let rows: HashSet<u32> = self.errors.iter().map(|e| e.row).collect();
        rows.len()
    }
}

/// One row's verdict: ready for the store, or its errors.
type RowResult = Result<Checked, Vec<RowError>>;

/// Threads that check rows: one a core (at most 8).
fn checker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
}

fn checker_panicked() -> AppError {
    AppError::Internal("import: a row checker panicked".into())
}

/// A well-formed building code (whether it exists is for the database to say).
fn is_building_code(code: &str) -> bool {
    code.len() == 20 && code.bytes().all(|b| b.is_ascii_digit())
}

/// Checks rows on all cores; results in file order.
fn check_all(
    ctx: &Context,
    cipher: &dyn FieldCipher,
    rows: &[RawRow],
    now: i64,
) -> Result<Vec<RowResult>, AppError> {
    let threads = checker_threads();
    const BLOCK: usize = 10_000;
    let mut out = Vec::with_capacity(rows.len());
    for group in rows.chunks(BLOCK * threads) {
        let parts: Vec<Vec<RowResult>> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .chunks(BLOCK)
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|r| check_row(ctx, cipher, r, now))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| checker_panicked()))
                .collect::<Result<_, _>>()
        })?;
        for p in parts {
            out.extend(p);
        }
    }
    Ok(out)
}

/// A file read while its rows were checked.
struct Streamed {
    total_rows: usize,
    missing: Vec<RowError>,
    warnings: Vec<RowError>,
    /// Verdicts in file order, without the rows in `later`.
    checked: Vec<RowResult>,
    /// Rows naming a building code the context does not hold, for a second look once the
    /// codes are looked up.
    later: Vec<RawRow>,
    read_ms: u64,
}

/// Reads a file on this thread while the other cores check its rows against `ctx` batch by
/// batch; once the file is read this thread checks too. Reading an xlsx is one core's work, and
/// the checks need not wait for it (on two cores a third thread would slow the reader down).
/// Rows whose building `ctx` does not know come back unchecked in [`Streamed::later`].
fn read_and_check(
    bytes: &[u8],
    file_name: &str,
    limits: &ImportLimits,
    progress: Option<&ImportProgress>,
    ctx: &Context,
    cipher: &dyn FieldCipher,
    now: i64,
) -> Result<Streamed, AppError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let started = std::time::Instant::now();
    let threads = checker_threads();
    // A few batches in flight: the reader runs ahead of the checkers by this much at most.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<RawRow>)>(threads * 2);
    let rx = std::sync::Mutex::new(rx);
    let checked_rows = AtomicUsize::new(0);
    let total = std::sync::OnceLock::<usize>::new();
    // Set when the file turns out unreadable: the batches left are not worth checking.
    let given_up = AtomicBool::new(false);
    let panicked = AtomicBool::new(false);
    type Done = Vec<(usize, Vec<RowResult>, Vec<RawRow>)>;
    let work = || {
        let mut done: Done = Vec::new();
        loop {
            let next = match rx.lock() {
                Ok(rx) => rx.recv(),
                Err(_) => break,
            };
            let Ok((seq, batch)) = next else { break };
            if given_up.load(Ordering::Relaxed) {
                continue;
            }
            let n = batch.len();
            // A checker that panicked would leave the reader blocked on a full channel: the
            // batch is given up instead, and the channel kept draining.
            let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut verdicts = Vec::with_capacity(n);
                let mut later = Vec::new();
                for raw in batch {
                    match raw.get(C_BUILDING) {
                        Some(code)
                            if is_building_code(code) && !ctx.buildings.contains_key(code) =>
                        {
                            later.push(raw);
                        }
                        _ => verdicts.push(check_row(ctx, cipher, &raw, now)),
                    }
                }
                (verdicts, later)
            }));
            let Ok((verdicts, later)) = checked else {
                panicked.store(true, Ordering::Relaxed);
                given_up.store(true, Ordering::Relaxed);
                continue;
            };
            let so_far = checked_rows.fetch_add(n, Ordering::Relaxed) + n;
            if let (Some(p), Some(&total)) = (progress, total.get()) {
                p(ImportStage::Checking, so_far, total);
            }
            done.push((seq, verdicts, later));
        }
        done
    };
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.saturating_sub(1).max(1))
            .map(|_| s.spawn(work))
            .collect();

        let mut sent = 0usize;
        let parsed = {
            let tx = tx;
            let mut seq = 0usize;
            let mut send = |batch: Vec<RawRow>| {
                sent += batch.len();
                // Fails only once every checker is gone, which the joins report.
                let _ = tx.send((seq, batch));
                seq += 1;
            };
            parse_with(bytes, file_name, limits, progress, Some(&mut send))
            // The sender is dropped here: the checkers stop once the channel is empty.
        };
        let read_ms = started.elapsed().as_millis() as u64;
        if parsed.is_err() {
            given_up.store(true, Ordering::Relaxed);
        }
        let _ = total.set(sent);
        if let Some(p) = progress {
            p(
                ImportStage::Checking,
                checked_rows.load(Ordering::Relaxed),
                sent,
            );
        }
        let mut done: Done = if threads > 1 { work() } else { Vec::new() };
        for w in workers {
            done.extend(w.join().map_err(|_| checker_panicked())?);
        }
        let parsed = parsed?;
        if panicked.load(Ordering::Relaxed) {
            return Err(checker_panicked());
        }
        done.sort_unstable_by_key(|(seq, ..)| *seq);
        let mut checked = Vec::with_capacity(sent);
        let mut later = Vec::new();
        for (_, v, l) in done {
            checked.extend(v);
            later.extend(l);
        }
        Ok(Streamed {
            total_rows: sent,
            missing: parsed.missing,
            warnings: parsed.warnings,
            checked,
            later,
            read_ms,
        })
    })
}

impl App {
    fn require_lists(&self, actor: &Actor) -> Result<(), AppError> {
        // The operator at the server's console (CLI) imports as well.
        let console = actor.user_id.is_none() && actor.username == "console";
        if may_manage_lists(actor.role) || console {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "只有社区、街道管理员和领导可以导入、导出人员名单".into(),
            ))
        }
    }

    /// Reads and checks a file: the rows, the buildings (each must exist, be a building, lie in
    /// the actor's jurisdiction and in `region_code`), every field, and duplicate persons in the
    /// file and against those already registered.
    async fn analyse(
        &self,
        actor: &Actor,
        region_code: &str,
        bytes: Arc<Vec<u8>>,
        file_name: &str,
        progress: Option<ImportProgress>,
    ) -> Result<Analysis, AppError> {
        self.require_lists(actor)?;
        let region = self.region(actor, region_code.trim()).await?;
        let started = std::time::Instant::now();
        let report = |stage: ImportStage, done: usize, total: usize| {
            if let Some(p) = &progress {
                p(stage, done, total);
            }
        };
        report(ImportStage::Reading, 0, 0);
        // The region's buildings are known before the file is read, so rows are checked as
        // they arrive; a code outside the region is looked up afterwards for its message.
        let mut buildings = HashMap::new();
        for b in self.store.buildings_within(&region.path).await? {
            if actor.sees_path(&b.path) {
                buildings.insert(b.code.clone(), Ok(b));
            }
        }
        let tags = self.store.care_tags(true).await?;
        let ctx = Arc::new(Context {
            buildings,
            tags: tags.clone(),
        });
        let cipher = self.cipher().await?;
        let now = self.now();
        let streamed = {
            let name = file_name.to_owned();
            let progress = progress.clone();
            let cipher = Arc::clone(&cipher);
            tokio::task::spawn_blocking(move || {
                read_and_check(
                    &bytes,
                    &name,
                    &ImportLimits::default(),
                    progress.as_ref(),
                    &ctx,
                    cipher.as_ref(),
                    now,
                )
            })
            .await
            .map_err(|e| AppError::Internal(e.to_string()))??
        };
        let Streamed {
            total_rows,
            missing,
            warnings,
            mut checked,
            later,
            read_ms,
        } = streamed;
        if !missing.is_empty() {
            return Ok(Analysis {
                total_rows,
                good: Vec::new(),
                errors: missing,
                warnings,
            });
        }
        if total_rows == 0 {
            return Err(file_error("表格中只有列名，没有人员数据"));
        }

        if !later.is_empty() {
            // Codes outside the region (or nowhere): each is looked up once, for the message
            // that says what it is.
            let codes: Vec<String> = later
                .iter()
                .filter_map(|r| r.get(C_BUILDING))
                .map(str::to_owned)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let found = self.store.regions_by_codes(&codes).await?;
            let mut buildings = HashMap::with_capacity(found.len());
            for (code, b) in found {
                let verdict = if b.level != RegionLevel::Building {
                    Err(format!("{code}（{}）是{}，不是楼栋", b.name, b.level.zh()))
                } else if !actor.sees_path(&b.path) {
                    Err(format!("楼栋 {code} 不在您的管辖范围内"))
                } else if !b.path.starts_with(&region.path) {
                    Err(format!(
                        "楼栋 {code}（{}）不在所选区划“{}”内",
                        b.name, region.name
                    ))
                } else {
                    // Added while the file was read.
                    Ok(b)
                };
                buildings.insert(code, verdict);
            }
            let ctx = Context { buildings, tags };
            let rechecked =
                tokio::task::spawn_blocking(move || check_all(&ctx, cipher.as_ref(), &later, now))
                    .await
                    .map_err(|e| AppError::Internal(e.to_string()))??;
            let any_good = rechecked.iter().any(Result::is_ok);
            checked.extend(rechecked);
            if any_good {
                // Good rows go on in file order: duplicates and heads name the earlier line.
                checked.sort_by_key(|c| match c {
                    Ok(c) => c.row.line,
                    Err(e) => e.first().map_or(0, |e| e.row),
                });
            }
        }
        tracing::info!(
            rows = total_rows,
            parse_ms = read_ms,
            check_ms = (started.elapsed().as_millis() as u64).saturating_sub(read_ms),
            "people import: file read and rows checked"
        );
        let mut errors = Vec::new();
        let mut good = Vec::with_capacity(checked.len());
        for c in checked {
            match c {
                Ok(c) => good.push(c),
                Err(e) => errors.extend(e),
            }
        }

        report(ImportStage::Duplicates, 0, 0);
        // The same person twice in the file; twice in two households marks both rows.
        let mut bad_lines: HashSet<u32> = HashSet::new();
        let mut first_of: HashMap<&str, usize> = HashMap::with_capacity(good.len());
        for (i, c) in good.iter().enumerate() {
            let Some(bidx) = c.row.person.id_bidx.as_deref() else {
                continue;
            };
            match first_of.get(bidx) {
                None => {
                    first_of.insert(bidx, i);
                }
                Some(&f) => {
                    let first = &good[f];
                    let (a, b) = (first.row.line, c.row.line);
                    if first.household == c.household {
                        errors.push(RowError::new(
                            b,
                            "身份证号",
                            format!("重复人员：与第 {a} 行身份证号相同"),
                        ));
                    } else {
                        errors.push(RowError::new(
                            b,
                            "身份证号",
                            format!("重复人员：与第 {a} 行身份证号相同，同一人不能登记在两户"),
                        ));
                        if bad_lines.insert(a) {
                            errors.push(RowError::new(
                                a,
                                "身份证号",
                                format!("重复人员：与第 {b} 行身份证号相同，同一人不能登记在两户"),
                            ));
                        }
                    }
                    bad_lines.insert(b);
                }
            }
        }
        drop(first_of);

        // Registered already (ID numbers are unique per district).
        let mut by_tenant: HashMap<&str, Vec<String>> = HashMap::new();
        for c in &good {
            if let Some(b) = &c.row.person.id_bidx {
                by_tenant.entry(&c.tenant).or_default().push(b.clone());
            }
        }
        let mut taken: HashMap<String, HashSet<String>> = HashMap::new();
        for (tenant, list) in by_tenant {
            let found = self.store.existing_id_bidx(tenant, &list).await?;
            taken.insert(tenant.to_owned(), found);
        }
        for c in &good {
            if let Some(b) = &c.row.person.id_bidx
                && taken.get(&c.tenant).is_some_and(|t| t.contains(b))
            {
                errors.push(RowError::new(
                    c.row.line,
                    "身份证号",
                    "重复人员：该身份证号已登记，请在人员档案中修改，不要重复导入",
                ));
                bad_lines.insert(c.row.line);
            }
        }

        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "people import: duplicates checked"
        );
        // Two heads in one household of the file.
        let mut heads: HashMap<&HouseholdKey, u32> = HashMap::with_capacity(good.len());
        for c in &good {
            if c.row.relation == "head" && !bad_lines.contains(&c.row.line) {
                if let Some(first) = heads.get(&c.household) {
                    errors.push(RowError::new(
                        c.row.line,
                        "与户主关系",
                        format!("一户只能有一位户主，第 {first} 行已是该户户主"),
                    ));
                } else {
                    heads.insert(&c.household, c.row.line);
                }
            }
        }
        let heads_bad: Vec<u32> = errors
            .iter()
            .filter(|e| e.column == "与户主关系" && e.rule.starts_with("一户只能"))
            .map(|e| e.row)
            .collect();
        drop(heads);
        bad_lines.extend(heads_bad);
        good.retain(|c| !bad_lines.contains(&c.row.line));
        errors.sort_by_key(|e| e.row);
        Ok(Analysis {
            total_rows,
            good,
            errors,
            warnings,
        })
    }

    /// Checks an uploaded file without writing anything: counts, the first good rows (masked)
    /// and every row error.
    pub async fn preview_import(
        &self,
        actor: &Actor,
        region_code: &str,
        bytes: Arc<Vec<u8>>,
        file_name: &str,
        progress: Option<ImportProgress>,
    ) -> Result<ImportPreview, AppError> {
        let a = self
            .analyse(actor, region_code, bytes, file_name, progress)
            .await?;
        let households: HashSet<&HouseholdKey> = a.good.iter().map(|c| &c.household).collect();
        let dwellings: HashSet<(&str, &str, &str)> = a
            .good
            .iter()
            .map(|c| {
                (
                    c.household.0.as_str(),
                    c.household.1.as_str(),
                    c.household.2.as_str(),
                )
            })
            .collect();
        let sample = a
            .good
            .iter()
            .take(PREVIEW_ROWS)
            .map(|c| PreviewRow {
                line: c.row.line,
                building: c.building_name.clone(),
                unit: c.row.unit.clone(),
                number: c.row.number.clone(),
                household_no: c.row.household_no.clone().unwrap_or_default(),
                relation: relation_zh(&c.row.relation).into(),
                name: c.row.person.name.clone(),
                gender: match c.row.person.gender.as_str() {
                    "male" => "男",
                    "female" => "女",
                    _ => "",
                }
                .into(),
                id_masked: masked(&c.row.person.id_masked),
                phone_masked: masked(&c.row.person.phone_masked),
                tags: c.tag_names.join("、"),
            })
            .collect();
        Ok(ImportPreview {
            file_name: file_name.to_owned(),
            total_rows: a.total_rows,
            valid_rows: a.good.len(),
            error_rows: a.error_rows(),
            households: households.len(),
            dwellings: dwellings.len(),
            sample,
            warnings: a.warnings.clone(),
            errors: a.errors,
        })
    }

    /// Imports a file's good rows in one transaction (the store writes the audit entry and the
    /// access-log row with the row count). With `only_valid` false, a file with any error
    /// imports nothing.
    pub async fn import_people_file(
        &self,
        actor: &Actor,
        region_code: &str,
        bytes: Arc<Vec<u8>>,
        file_name: &str,
        only_valid: bool,
        progress: Option<ImportProgress>,
    ) -> Result<ImportOutcome, AppError> {
        let mut a = self
            .analyse(actor, region_code, bytes, file_name, progress.clone())
            .await?;
        let mut outcome = ImportOutcome {
            summary: None,
            total_rows: a.total_rows,
            skipped_rows: a.error_rows(),
            errors: Vec::new(),
            warnings: std::mem::take(&mut a.warnings),
        };
        let detail = format!(
            "{}：区划 {region_code}，{} 行",
            file_name.chars().take(100).collect::<String>(),
            a.total_rows
        );
        if (!a.errors.is_empty() && !only_valid) || a.good.is_empty() {
            self.store
                .append_audit(
                    &actor.audit(
                        "people.import",
                        &format!("region:{region_code}"),
                        "failed",
                        format!("{detail}，有 {} 个问题，未导入", a.errors.len()),
                    ),
                    self.now(),
                )
                .await?;
            outcome.errors = a.errors;
            return Ok(outcome);
        }
        let mut rows: Vec<ImportRow> = a.good.into_iter().map(|c| c.row).collect();
        let mut errors = a.errors;
        let writing =
            progress.map(|p| move |done: usize, total: usize| p(ImportStage::Writing, done, total));
        // A row the store still refuses (an existing household that already has a head, an ID
        // registered meanwhile) is left out and the rest tried again, a few times at most.
        for _ in 0..5 {
            let audit = actor.audit(
                "people.import",
                &format!("region:{region_code}"),
                "ok",
                detail.clone(),
            );
            let started = std::time::Instant::now();
            if let Some(w) = &writing {
                w(0, rows.len());
            }
            let written = writing
                .as_ref()
                .map(|w| w as &(dyn Fn(usize, usize) + Send + Sync));
            match self
                .store
                .import_people(&rows, &audit, self.now(), written)
                .await
            {
                Ok(summary) => {
                    tracing::info!(
                        persons = summary.persons,
                        store_ms = started.elapsed().as_millis() as u64,
                        "people import: written"
                    );
                    outcome.summary = Some(summary);
                    break;
                }
                Err(e) => {
                    let e = AppError::from(e);
                    let (field, message) = match &e {
                        AppError::Invalid { field, message }
                        | AppError::Conflict { field, message } => (field.clone(), message.clone()),
                        _ => return Err(e),
                    };
                    let Some((line, rule)) = line_of(&message) else {
                        return Err(e);
                    };
                    if !only_valid {
                        errors.push(RowError::new(line, store_header(&field), rule));
                        break;
                    }
                    errors.push(RowError::new(line, store_header(&field), rule));
                    rows.retain(|r| r.line != line);
                    if rows.is_empty() {
                        break;
                    }
                }
            }
        }
        errors.sort_by_key(|e| e.row);
        let bad: HashSet<u32> = errors.iter().map(|e| e.row).collect();
        outcome.skipped_rows = bad.len();
        outcome.errors = errors;
        Ok(outcome)
    }
}

/// `第 12 行：…` → (12, …).
fn line_of(message: &str) -> Option<(u32, String)> {
    let rest = message.strip_prefix("第 ")?;
    let (n, rule) = rest.split_once(" 行：")?;
    Some((n.parse().ok()?, rule.to_owned()))
}

fn store_header(field: &str) -> &'static str {
    match field {
        "id_number" => "身份证号",
        "relation" => "与户主关系",
        "number" => "门牌号",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_numbers_print_without_exponent() {
        assert_eq!(
            whole(350_503_198_001_010_000.0).as_deref(),
            Some("350503198001010000")
        );
        assert_eq!(whole(13_805_951_234.0).as_deref(), Some("13805951234"));
        assert_eq!(whole(3.5), None);
    }

    #[test]
    fn csv_with_bom_quotes_and_gb18030() {
        let limits = ImportLimits::default();
        let text = "\u{feff}姓名,楼栋编码,门牌号,与户主关系,备注\r\n张三,35050300100100100001,302,户主,\"有,逗号\"\r\n";
        let p = parse(text.as_bytes(), "a.csv", &limits).unwrap_or_default();
        assert!(p.missing.is_empty());
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].line, 2);
        assert_eq!(p.rows[0].get(C_NAME), Some("张三"));
        assert_eq!(p.rows[0].get(C_NOTES), Some("有,逗号"));
        let (gbk, _, _) = encoding_rs::GB18030.encode("姓名,门牌号\n李四,1\n");
        let p = parse(&gbk, "b.csv", &limits).unwrap_or_default();
        assert_eq!(p.rows[0].get(C_NAME), Some("李四"));
        let missing: Vec<&str> = p.missing.iter().map(|e| e.column.as_str()).collect();
        assert_eq!(missing, ["楼栋编码", "与户主关系"]);
    }

    #[test]
    fn the_template_reads_back_as_its_own_example() {
        let bytes = template_xlsx().unwrap_or_default();
        let p = parse(&bytes, "模板.xlsx", &ImportLimits::default()).unwrap_or_default();
        assert!(p.missing.is_empty(), "{:?}", p.missing);
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].get(C_ID), Some("350503198001010012"));
        assert_eq!(p.rows[0].get(C_RELATION), Some("户主"));
    }

    #[test]
    fn relations_read_as_codes() {
        assert_eq!(relation_code("户主"), Some("head"));
        assert_eq!(relation_code("本人（户主）"), Some("head"));
        assert_eq!(relation_code("女"), Some("daughter"));
        assert_eq!(relation_code("邻居"), None);
        assert_eq!(
            line_of("第 12 行：该户已有户主"),
            Some((12, "该户已有户主".into()))
        );
    }
}
