//! Many residents, fast: person `i` is a pure function of `i` (name, ID number, phone, household),
//! so `fill` can write millions through `Store::import_people` and `load --scenario people` can
//! ask for any of them by name, pinyin initials, phone or ID number without reading the database.
//!
//! - Households follow a fixed cycle of sizes (23 persons in 8 households), one per dwelling, the
//!   dwellings dealt round the demo buildings; so every batch holds whole households.
//! - ID numbers are unique by construction: a bijective scramble of `i` picks prefix, birth date
//!   and sequence; the check character is GB 11643's. Phones likewise (prefix, then a scramble).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use jinlin_app::people::{PersonInput, protect_person};
use jinlin_app::vault::{FieldCipher, KeyRing};
use jinlin_domain::deadlines::Date;
use jinlin_domain::people::id_check_char;
use jinlin_domain::regions::RegionLevel;
use jinlin_store::Store;
use jinlin_store::audit::NewAudit;
use jinlin_store::people::{HEAD, ImportRow, NewCareTag};

/// Household sizes, cycled.
const SIZES: [usize; 8] = [3, 2, 4, 1, 3, 5, 2, 3];
const CYCLE: usize = 23;
/// Persons per import transaction (a multiple of the cycle: whole households).
const BATCH: usize = CYCLE * 1000;

#[rustfmt::skip]
const SURNAMES: [(&str, u64); 24] = [
    ("陈", 120), ("林", 90), ("黄", 70), ("王", 45), ("李", 40), ("张", 40), ("吴", 35),
    ("蔡", 30), ("郑", 30), ("刘", 28), ("许", 25), ("洪", 22), ("苏", 20), ("庄", 20),
    ("杨", 18), ("施", 18), ("谢", 15), ("曾", 15), ("颜", 12), ("傅", 12), ("郭", 12),
    ("肖", 10), ("卢", 10), ("周", 10),
];

#[rustfmt::skip]
const GIVEN: [&str; 64] = [
    "建", "志", "明", "伟", "鸿", "振", "国", "海", "锦", "文", "斌", "俊", "辉", "清", "泉", "荣",
    "宏", "瑞", "彬", "鑫", "强", "军", "平", "东", "华", "福", "源", "杰", "涛", "勇", "毅", "浩",
    "丽", "娟", "婷", "雅", "晓", "秀", "芳", "玲", "燕", "佳", "雪", "梅", "慧", "静", "淑", "惠",
    "艺", "琳", "思", "诗", "美", "红", "霞", "英", "兰", "萍", "敏", "洁", "颖", "欣", "怡", "涵",
];

#[rustfmt::skip]
const MOBILE: [&str; 20] = [
    "130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "158", "159",
    "166", "177", "186", "187", "188", "189", "199",
];

#[rustfmt::skip]
const PREFIXES: [&str; 8] = [
    "350503", "350503", "350503", "350503", "350503", "350582", "350583", "430102",
];

const TAGS: [&str; 4] = ["elderly_alone", "oldest_old", "disabled", "subsistence"];

/// Days of birth dates: 1940-01-01 and the 29,200 days after.
const DAYS: u64 = 29_200;
/// ID space: 8 prefix slots × DAYS × 500 sequence pairs.
const ID_SPACE: u64 = 8 * DAYS * 500;

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One generated resident.
pub struct Resident {
    pub name: String,
    pub id_number: String,
    pub phone: Option<String>,
    pub household: u64,
    pub head: bool,
    pub tag: Option<&'static str>,
}

/// Person `i`.
pub fn resident(i: u64) -> Resident {
    let h = mix(i);
    let mut roll = h % 700;
    let mut surname = SURNAMES[0].0;
    for (s, w) in SURNAMES {
        if roll < w {
            surname = s;
            break;
        }
        roll -= w;
    }
    let mut name = surname.to_owned();
    let g = h >> 10;
    name.push_str(GIVEN[(g % 64) as usize]);
    if !(g >> 6).is_multiple_of(5) {
        name.push_str(GIVEN[((g >> 9) % 64) as usize]);
    }
    // Unique by construction: i → j is a bijection of 0..ID_SPACE (the multiplier is odd and
    // prime to 5 and 73, the other factors of ID_SPACE).
    let j = (i % ID_SPACE).wrapping_mul(2_654_435_761) % ID_SPACE;
    let (pair, rest) = (j % 500, j / 500);
    let (day, slot) = (rest % DAYS, rest / DAYS);
    let male = (h >> 20) & 1;
    let birth = Date::from_epoch_ms(-946_771_200_000 + day as i64 * 86_400_000);
    let first17 = format!(
        "{}{:04}{:02}{:02}{:03}",
        PREFIXES[slot as usize],
        birth.year(),
        birth.month(),
        birth.day(),
        pair * 2 + male
    );
    let check = id_check_char(&first17).unwrap_or('0');
    let phone = (!(h >> 24).is_multiple_of(10)).then(|| {
        let k = i / MOBILE.len() as u64;
        format!(
            "{}{:08}",
            MOBILE[(i % MOBILE.len() as u64) as usize],
            k.wrapping_mul(37_139_213) % 100_000_000
        )
    });
    let (cycle, offset) = (i / CYCLE as u64, (i % CYCLE as u64) as usize);
    let (mut start, mut k) = (0, 0);
    while start + SIZES[k] <= offset {
        start += SIZES[k];
        k += 1;
    }
    Resident {
        name,
        id_number: format!("{first17}{check}"),
        phone,
        household: cycle * SIZES.len() as u64 + k as u64,
        head: offset == start,
        tag: (h >> 30)
            .is_multiple_of(20)
            .then(|| TAGS[((h >> 35) % 4) as usize]),
    }
}

/// Adds `count` residents (persons `from..from + count`) to the demo buildings.
pub async fn fill_people(
    store: &Store,
    key_file: &std::path::Path,
    count: usize,
    now: i64,
) -> anyhow::Result<()> {
    let ring: Arc<dyn FieldCipher> =
        Arc::new(KeyRing::generate_file(key_file).context("key file")?);
    let buildings: Vec<i64> = store
        .regions_at_level(RegionLevel::Building, 100_000)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    anyhow::ensure!(!buildings.is_empty(), "no buildings");
    // The care tags the server seeds when it starts.
    let tags: Vec<NewCareTag> = jinlin_domain::people::care_tag_seed()
        .into_iter()
        .map(|t| NewCareTag {
            code: t.code.into(),
            name: t.name.into(),
            sensitive: t.sensitive,
            active: true,
        })
        .collect();
    store.seed_care_tags(&tags, now).await?;
    let from = store.people_counts("/").await?.0 as u64;
    anyhow::ensure!(
        from.is_multiple_of(CYCLE as u64),
        "{from} persons already: not a whole number of household cycles"
    );
    let audit = NewAudit {
        actor_name: "bench".into(),
        action: "bench.people".into(),
        target: "persons".into(),
        outcome: "ok".into(),
        detail: "压测数据".into(),
        ..NewAudit::default()
    };
    // Encryption on one thread, the database on the other.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<ImportRow>>(2);
    let total = count as u64;
    let nb = buildings.len() as u64;
    // Households per building, so a batch touches few buildings (the import looks up their
    // existing dwellings).
    let households = (from + total).div_ceil(CYCLE as u64) * SIZES.len() as u64;
    let per_building = households.div_ceil(nb).max(1);
    let producer = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut i = from;
        let end = from + total;
        while i < end {
            let n = (BATCH as u64).min(end - i);
            let mut rows = Vec::with_capacity(n as usize);
            for p in i..i + n {
                let r = resident(p);
                let input = PersonInput {
                    name: r.name,
                    id_number: Some(r.id_number),
                    phone: r.phone,
                    ..PersonInput::default()
                };
                let person = protect_person(ring.as_ref(), &input, now)
                    .map_err(|e| anyhow::anyhow!("person {p}: {e}"))?;
                let hh = r.household;
                rows.push(ImportRow {
                    line: 0,
                    building_id: buildings[(hh / per_building).min(nb - 1) as usize],
                    unit: "1".into(),
                    floor: Some((hh % 18) as i64 + 1),
                    number: hh.to_string(),
                    use_type: "residential".into(),
                    occupancy: "owner_occupied".into(),
                    area_m2: None,
                    household_no: None,
                    relation: if r.head { HEAD } else { "other" }.into(),
                    person,
                    tags: r.tag.map(|t| vec![t.to_owned()]).unwrap_or_default(),
                });
            }
            if tx.blocking_send(rows).is_err() {
                break;
            }
            i += n;
        }
        Ok(())
    });
    let started = Instant::now();
    let mut done = 0usize;
    while let Some(rows) = rx.recv().await {
        store.import_people(&rows, &audit, now, None).await?;
        done += rows.len();
        if done % (BATCH * 20) < BATCH || done == count {
            let rate = done as f64 / started.elapsed().as_secs_f64();
            eprintln!("{done} persons ({rate:.0}/s)");
        }
    }
    producer.await??;
    println!(
        "{{\"filled_people\":{count},\"seconds\":{:.1}}}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The query of kind `kind` for person `i`: `name`, `initials`, `phone` or `id`; `browse` is
/// no query at all (the list of everyone in the jurisdiction, as the page first opens).
pub fn query(kind: &str, i: u64) -> String {
    let r = resident(i);
    match kind {
        "name" => r.name,
        "initials" => jinlin_domain::people::name_pinyin(&r.name).1,
        "browse" => String::new(),
        // One in ten has no mobile: the next resident who has one (an empty query would list
        // the whole district instead of searching).
        "phone" => (i..).find_map(|j| resident(j).phone).unwrap_or_default(),
        _ => r.id_number,
    }
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
