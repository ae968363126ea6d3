//! Importing and exporting people lists through the use cases, on every available database, in
//! the demo county: a workbook with good and bad rows is previewed (row, column and rule for
//! each problem), refused whole or imported row by row; oversized files and zip bombs are
//! refused; exports are masked unless a community admin gives a reason, and every export is in
//! the access log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::sync::Arc;

use jinlin_app::people::PeopleQuery;
use jinlin_app::people::import::{self, ImportLimits, ImportStage, RowError};
use jinlin_app::{Actor, App, AppError, Settings};
use jinlin_domain::people::id_check_char;
use jinlin_domain::regions::RegionLevel;
use jinlin_store::audit::NewAudit;
use jinlin_store::people::{AccessFilter, ImportRow, NewPerson};
use jinlin_store::testing::{TestDb, on_every_backend, unique_suffix};
use rust_xlsxwriter::Workbook;

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn id(first17: &str) -> String {
    format!("{first17}{}", id_check_char(first17).unwrap())
}

/// A workbook of the given rows under the given headers, every cell text.
fn xlsx(headers: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in headers.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(r as u32 + 1, c as u16, v).unwrap();
            }
        }
    }
    wb.save_to_buffer().unwrap()
}

/// Every XML part of a workbook, concatenated.
fn workbook_text(bytes: &[u8]) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = String::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        out.push_str(&s);
    }
    out
}

async fn actor(app: &App, username: &str) -> Actor {
    let token = app
        .create_api_token(&Actor::console(), username, "测试")
        .await
        .unwrap();
    app.api_actor(&token).await.unwrap().unwrap()
}

fn has(errors: &[RowError], row: u32, column: &str, rule_part: &str) -> bool {
    errors
        .iter()
        .any(|e| e.row == row && e.column == column && e.rule.contains(rule_part))
}

const PREVIEW: usize = import::PREVIEW_ROWS;

const HEADERS: [&str; 10] = [
    "姓名",
    "楼栋编码",
    "单元",
    "门牌号",
    "户号",
    "与户主关系",
    "身份证号",
    "手机号",
    "标签",
    "未知的列",
];

fn row(
    name: &str,
    building: &str,
    number: &str,
    household: &str,
    relation: &str,
    id: &str,
    phone: &str,
) -> Vec<String> {
    [
        name, building, "1单元", number, household, relation, id, phone, "", "忽略",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

type Reports = Arc<std::sync::Mutex<Vec<(ImportStage, usize, usize)>>>;

/// A progress callback that keeps every report.
fn recorder() -> (Reports, import::ImportProgress) {
    let seen: Reports = Arc::default();
    let keep = Arc::clone(&seen);
    let progress: import::ImportProgress =
        Arc::new(move |stage, done, total| keep.lock().unwrap().push((stage, done, total)));
    (seen, progress)
}

/// The demo county seeded, and an app over it with its data folder (removed on drop).
async fn demo_app(db: &TestDb, now: i64) -> (App, TempDir) {
    jinlin_app::demo::seed(&db.store, now).await.unwrap();
    let dir = std::env::temp_dir().join(format!("jinlin-people-import-{}", unique_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let guard = TempDir(dir.clone());
    let settings = Settings {
        data_dir: dir,
        ..Settings::default()
    };
    let app = App::new(db.store.clone(), settings).await.unwrap();
    (app, guard)
}

/// The demo buildings inside `actor`'s community, and one outside it.
fn buildings_of(actor: &Actor) -> (Vec<String>, String) {
    let county = jinlin_app::demo::demo_county();
    let mut inside = Vec::new();
    let mut outside = None;
    for r in county
        .regions
        .iter()
        .filter(|r| r.level == RegionLevel::Building)
    {
        if r.code.starts_with(&actor.region_code) {
            inside.push(r.code.clone());
        } else if outside.is_none() {
            outside = Some(r.code.clone());
        }
    }
    (inside, outside.unwrap())
}

#[tokio::test]
async fn people_lists_import_and_export() {
    on_every_backend(|db: TestDb| async move {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let (app, _guard) = demo_app(&db, now).await;
        let community = actor(&app, "community").await;
        let leader = actor(&app, "leader").await;
        let (buildings, outside) = buildings_of(&community);
        let (b1, b2, b3) = (
            buildings[0].as_str(),
            buildings[1].as_str(),
            buildings[2].as_str(),
        );
        let region = community.region_code.clone();

        let id1 = id("35050319800101001");
        let id2 = id("35050319820202002");
        let id3 = id("35050319900303003");
        let id4 = id("35050319750404004");
        let id5 = id("35050319600505005");
        let mut bad_checksum = id("35050319850606006");
        let last = if bad_checksum.ends_with('0') {
            '1'
        } else {
            '0'
        };
        bad_checksum.pop();
        bad_checksum.push(last);
        let rows = vec![
            row("张三", b1, "301", "1", "户主", &id1, "13805950001"), // 2 good
            row("李四", b1, "301", "1", "配偶", &id2, "13805950002"), // 3 good
            row("王五", b1, "302", "", "户主", &bad_checksum, ""),    // 4 checksum
            row("赵六", b1, "303", "", "户主", &id3, "1380595000"),   // 5 10-digit phone
            row("钱七", "35050399999999999999", "1", "", "户主", "", ""), // 6 unknown building
            row("张三", b1, "301", "1", "子", &id1, ""),              // 7 same person again
            row("周九", b2, "101", "", "户主", &id4, "13805950004"),  // 8 good
            row("郑一", b2, "201", "", "户主", &id5, ""),             // 9 two households …
            row("郑一", b2, "202", "", "户主", &id5, ""),             // 10 … of one person
            row("孙八", &outside, "1", "", "户主", "", ""),           // 11 outside jurisdiction
            row("吴十", b2, "101", "", "邻居", "", ""),               // 12 unknown relation
        ];
        let book = Arc::new(xlsx(&HEADERS, &rows));

        // Preview: counts, masked sample, every problem named by row, column and rule.
        let p = app
            .preview_import(&community, &region, book.clone(), "人员.xlsx", None)
            .await
            .unwrap();
        assert_eq!(p.total_rows, 11);
        assert_eq!(p.valid_rows, 3, "{:#?}", p.errors);
        assert_eq!(p.households, 2);
        assert_eq!(p.sample.len(), 3);
        assert_eq!(p.sample[0].line, 2);
        assert_eq!(p.sample[0].relation, "户主");
        assert!(p.sample[0].id_masked.ends_with(&id1[14..]));
        assert!(!p.sample.iter().any(|s| s.id_masked.contains(&id1)));
        let e = &p.errors;
        assert!(has(e, 4, "身份证号", "校验位"), "{e:#?}");
        assert!(has(e, 5, "手机号", "11 位"), "{e:#?}");
        assert!(has(e, 6, "楼栋编码", "不存在"), "{e:#?}");
        assert!(has(e, 7, "身份证号", "与第 2 行"), "{e:#?}");
        assert!(has(e, 9, "身份证号", "两户"), "{e:#?}");
        assert!(has(e, 10, "身份证号", "两户"), "{e:#?}");
        assert!(has(e, 11, "楼栋编码", "管辖范围"), "{e:#?}");
        assert!(has(e, 12, "与户主关系", "无法识别"), "{e:#?}");
        assert!(!e.iter().any(|e| e.row == 2 || e.row == 3 || e.row == 8));
        assert_eq!(p.error_rows, 8);

        // Roles that do not manage lists may not import.
        let grid = actor(&app, "grid").await;
        let refused = app
            .preview_import(&grid, &grid.region_code, book.clone(), "人员.xlsx", None)
            .await;
        assert!(matches!(refused, Err(AppError::Forbidden(_))));

        // With errors and only_valid = false nothing is imported.
        let out = app
            .import_people_file(&community, &region, book.clone(), "人员.xlsx", false, None)
            .await
            .unwrap();
        assert!(out.summary.is_none());
        assert!(has(&out.errors, 4, "身份证号", "校验位"));
        let query = PeopleQuery {
            region: Some(b1.to_owned()),
            page: 1,
            page_size: 50,
            ..PeopleQuery::default()
        };
        assert_eq!(
            app.search_people(&community, &query).await.unwrap().total,
            0
        );

        // Only the valid rows: two households, three persons; every stage is reported, in order.
        let (seen, progress) = recorder();
        let out = app
            .import_people_file(
                &community,
                &region,
                book.clone(),
                "人员.xlsx",
                true,
                Some(progress),
            )
            .await
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        let mut stages: Vec<ImportStage> = seen.iter().map(|s| s.0).collect();
        stages.dedup();
        assert_eq!(
            stages,
            [
                ImportStage::Reading,
                ImportStage::Checking,
                ImportStage::Duplicates,
                ImportStage::Writing
            ]
        );
        assert!(seen.contains(&(ImportStage::Checking, 11, 11)), "{seen:?}");
        assert_eq!(seen.last(), Some(&(ImportStage::Writing, 3, 3)));
        let summary = out.summary.expect("imported");
        assert_eq!(summary.persons, 3);
        assert_eq!(summary.households, 2);
        assert_eq!(out.skipped_rows, 8);
        let found = app.search_people(&community, &query).await.unwrap();
        assert_eq!(found.total, 2);
        assert_eq!(
            found.items[0].summary.household_id,
            found.items[1].summary.household_id
        );
        let (log, _) = db
            .store
            .person_access_log(&AccessFilter {
                action: Some("import".into()),
                page: 1,
                page_size: 10,
                ..AccessFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].row_count, Some(3));
        assert_eq!(log[0].user_name, "community");

        // The same file again: the persons are registered now.
        let again = app
            .preview_import(&community, &region, book.clone(), "人员.xlsx", None)
            .await
            .unwrap();
        assert_eq!(again.valid_rows, 0);
        assert!(has(&again.errors, 2, "身份证号", "已登记"));

        // A second file without a required column: one error naming it.
        let missing = xlsx(
            &["姓名", "楼栋编码", "门牌号"],
            &[vec!["陈一".into(), b3.into(), "1".into()]],
        );
        let p = app
            .preview_import(&community, &region, Arc::new(missing), "缺列.xlsx", None)
            .await
            .unwrap();
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert!(has(&p.errors, 1, "与户主关系", "缺少必填列"));
        assert_eq!(p.valid_rows, 0);

        // Oversized files and zip bombs are refused before they are parsed.
        let big = Arc::new(vec![b'a'; jinlin_app::people::import::MAX_FILE_BYTES + 1]);
        let e = app
            .preview_import(&community, &region, big, "大.csv", None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("文件过大"), "{e}");
        let mut bomb = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let deflate = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        bomb.start_file("xl/worksheets/sheet1.xml", deflate)
            .unwrap();
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..8 {
            bomb.write_all(&zeros).unwrap();
        }
        let bomb = bomb.finish().unwrap().into_inner();
        assert!(bomb.len() < 100 * 1024);
        let small = ImportLimits {
            max_uncompressed: 4 * 1024 * 1024,
            ..ImportLimits::default()
        };
        let e = import::parse(&bomb, "炸弹.xlsx", &small).unwrap_err();
        assert!(e.to_string().contains("压缩炸弹"), "{e}");
        let mut many = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..1001 {
            many.start_file(format!("x/{i}.xml"), deflate).unwrap();
        }
        let many = many.finish().unwrap().into_inner();
        let e = app
            .preview_import(&community, &region, Arc::new(many), "多.xlsx", None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("个部件"), "{e}");

        // Export: masked by default, without a single full ID.
        let mine = PeopleQuery {
            region: Some(region.clone()),
            ..PeopleQuery::default()
        };
        let masked = app.export_people(&community, &mine, None).await.unwrap();
        let text = workbook_text(&masked);
        assert!(text.contains("导出人"), "watermark");
        assert!(text.contains("共 3 行"));
        for full in [&id1, &id2, &id4] {
            assert!(!text.contains(full.as_str()));
        }
        assert!(text.contains(&id1[14..]));
        assert!(!text.contains("13805950001"));

        // Clear: a reason is required, leaders may not, a community admin with a reason may.
        let e = app
            .export_people(&community, &mine, Some(" "))
            .await
            .unwrap_err();
        assert!(matches!(e, AppError::Invalid { .. }), "{e:?}");
        let e = app
            .export_people(&leader, &PeopleQuery::default(), Some("走访"))
            .await
            .unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
        let clear = app
            .export_people(&community, &mine, Some("入户走访需电话联系"))
            .await
            .unwrap();
        let text = workbook_text(&clear);
        assert!(text.contains(id1.as_str()));
        assert!(text.contains("13805950001"));
        assert!(text.contains("入户走访需电话联系"));
        let (log, _) = db
            .store
            .person_access_log(&AccessFilter {
                action: Some("export".into()),
                page: 1,
                page_size: 10,
                ..AccessFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].reason, "入户走访需电话联系");
        assert_eq!(log[0].field.as_deref(), Some("clear"));
        assert_eq!(log[0].row_count, Some(3));
        assert_eq!(log[1].field.as_deref(), Some("masked"));

        // Over the row limit: refused, naming the limit and the count.
        let building = db.store.region_by_code(b3).await.unwrap().unwrap();
        let many: Vec<ImportRow> = (0..20_001u32)
            .map(|i| ImportRow {
                line: i + 2,
                building_id: building.id,
                number: format!("{}", i / 3),
                use_type: "residential".into(),
                occupancy: "other".into(),
                relation: if i % 3 == 0 { "head" } else { "other" }.into(),
                person: NewPerson {
                    name: "测试".into(),
                    name_py_full: "ceshi".into(),
                    name_py_initials: "cs".into(),
                    gender: "unknown".into(),
                    residence_status: "registered_here".into(),
                    ..NewPerson::default()
                },
                ..ImportRow::default()
            })
            .collect();
        let audit = NewAudit {
            actor_name: "test".into(),
            action: "people.import".into(),
            target: "test".into(),
            outcome: "ok".into(),
            ..NewAudit::default()
        };
        db.store
            .import_people(&many, &audit, now, None)
            .await
            .unwrap();
        let e = app
            .export_people(&community, &mine, None)
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("最多导出 20000 行") && msg.contains("超过"),
            "{msg}"
        );
    })
    .await;
}

/// A file of many thousand rows is checked in batches while it is read: the verdicts keep
/// their lines, problems between rows far apart name each other, and a row whose building lies
/// outside the region is told so wherever it stands.
#[tokio::test]
async fn a_long_file_is_checked_in_file_order() {
    on_every_backend(|db: TestDb| async move {
        let (app, _guard) = demo_app(&db, 1_700_000_000_000).await;
        let community = actor(&app, "community").await;
        let (buildings, outside) = buildings_of(&community);
        const ROWS: usize = 25_000;
        let person_id = |i: usize| {
            let d = i / 900;
            id(&format!(
                "350503{:04}{:02}{:02}{:03}",
                1960 + d / 336,
                1 + (d / 28) % 12,
                1 + d % 28,
                100 + i % 900
            ))
        };
        let mut rows: Vec<Vec<String>> = (0..ROWS)
            .map(|i| {
                let building = &buildings[i % buildings.len()];
                row(
                    "居民",
                    building,
                    &format!("{}", 100 + i),
                    "",
                    "户主",
                    &person_id(i),
                    "",
                )
            })
            .collect();
        // Line n is rows[n - 2].
        rows[20_003][6] = person_id(0); // line 20005: line 2's person, in another household
        rows[14_998][1] = outside.clone(); // line 15000
        rows[11_998][1] = "35050399999999999999".into(); // line 12000: no such building
        rows[19_997][1] = rows[1][1].clone(); // line 19999: a second head of line 3's household
        rows[19_997][3] = rows[1][3].clone();
        let book = Arc::new(xlsx(&HEADERS, &rows));

        let (seen, progress) = recorder();
        let p = app
            .preview_import(
                &community,
                &community.region_code,
                book,
                "全体.xlsx",
                Some(progress),
            )
            .await
            .unwrap();
        let e = &p.errors;
        assert_eq!(p.total_rows, ROWS);
        assert!(has(e, 2, "身份证号", "与第 20005 行"), "{e:#?}");
        assert!(has(e, 20_005, "身份证号", "与第 2 行"), "{e:#?}");
        assert!(has(e, 15_000, "楼栋编码", "管辖范围"), "{e:#?}");
        assert!(has(e, 12_000, "楼栋编码", "不存在"), "{e:#?}");
        assert!(
            has(e, 19_999, "与户主关系", "第 3 行已是该户户主"),
            "{e:#?}"
        );
        assert_eq!(p.error_rows, 5, "{e:#?}");
        assert_eq!(p.valid_rows, ROWS - 5);
        assert!(e.windows(2).all(|w| w[0].row <= w[1].row), "{e:#?}");
        let lines: Vec<u32> = p.sample.iter().map(|s| s.line).collect();
        assert_eq!(lines, (3..3 + PREVIEW as u32).collect::<Vec<_>>());
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.contains(&(ImportStage::Checking, ROWS, ROWS)),
            "{seen:?}"
        );
    })
    .await;
}

#[test]
fn the_error_report_lists_row_column_and_problem() {
    let bytes = import::error_report_xlsx(&[RowError {
        row: 4,
        column: "身份证号".into(),
        rule: "校验位错误".into(),
    }])
    .unwrap();
    let text = workbook_text(&bytes);
    for part in ["行号", "列", "问题", "身份证号", "校验位错误"] {
        assert!(text.contains(part), "{part}");
    }
}
