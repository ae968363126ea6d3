//! People, households and dwellings (一户一档; DESIGN sections 2 and 5).
//!
//! Privacy is decided here, once, for pages, the API, import and export:
//! - ID and phone numbers are encrypted before they reach the store ([`crate::vault`]) and found
//!   again through keyed blind indexes; pages get the masked form (110***********1234);
//! - a ciphertext is bound to its row by its own blind index (the associated data), so a
//!   ciphertext moved to another person's row no longer decrypts;
//! - revealing a number takes a stated reason, is rate-limited per account and is logged in the
//!   append-only access log with who, when, which person and why; so is every view of a person;
//! - sensitive care tags (低保, 大病, 社区矫正 …) are visible only to [`may_see_sensitive`] roles;
//! - everything is scoped to the actor's jurisdiction in SQL; a person outside it is "not found"
//!   for the store, and the refusal is audited here.

pub mod export;
pub mod import;

use std::collections::HashMap;
use std::sync::Arc;

use jinlin_domain::accounts::Role;
use jinlin_domain::deadlines::Date;
use jinlin_domain::people::{self as rules, Gender};
use jinlin_domain::regions::RegionLevel;
use jinlin_store::people::{
    AccessFilter, AccessRow, CareTag, DwellingListing, HouseholdFile, NewAccess, NewCareTag,
    NewPerson, Person, PersonFilter, PersonSummary, PersonTag, Placement,
};
use jinlin_store::regions::Region;

use crate::vault::{FieldCipher, FieldRef, KeyRing};
use crate::{Actor, App, AppError, Page};

/// Blind-index column names (the vault derives one key per column).
pub const ID_INDEX: &str = "persons.id_number";
pub const PHONE_INDEX: &str = "persons.phone";
/// Reveals one account may make per hour.
pub const REVEALS_PER_HOUR: usize = 30;
/// Longest accepted reason for a reveal or a clear export.
const MAX_REASON_CHARS: usize = 200;
/// Shortest reason that says something ("回访" is two characters; "a" is not a reason).
const MIN_REASON_CHARS: usize = 2;

/// Roles that work with people's files at all.
pub fn may_use_people(role: Role) -> bool {
    matches!(
        role,
        Role::GridWorker
            | Role::GridHead
            | Role::BuildingHead
            | Role::Police
            | Role::CommunityAdmin
            | Role::StreetAdmin
            | Role::Leader
    )
}

/// Roles that see sensitive care tags (health, poverty relief, correction): the community and
/// street desks that run those programmes, and leaders. Grid workers see the tags their visits
/// need (独居老人, 高龄 …), which are not sensitive.
pub fn may_see_sensitive(role: Role) -> bool {
    matches!(
        role,
        Role::CommunityAdmin | Role::StreetAdmin | Role::Leader
    )
}

/// Roles that may reveal a full number (with a reason): those who phone or visit people.
pub fn may_reveal(role: Role) -> bool {
    matches!(
        role,
        Role::GridWorker | Role::GridHead | Role::Police | Role::CommunityAdmin | Role::StreetAdmin
    )
}

/// Roles that may import and export lists (masked; clear only with a reason, see
/// [`may_export_clear`]).
pub fn may_manage_lists(role: Role) -> bool {
    matches!(
        role,
        Role::CommunityAdmin | Role::StreetAdmin | Role::Leader
    )
}

/// Roles that may export clear ID and phone numbers, with a reason.
pub fn may_export_clear(role: Role) -> bool {
    matches!(role, Role::CommunityAdmin | Role::StreetAdmin)
}

/// A person as typed on a form, a spreadsheet row or an API call (plain text; checked here).
#[derive(Debug, Clone, Default)]
pub struct PersonInput {
    pub name: String,
    /// `male` / `female`; derived from the ID number when that is given.
    pub gender: Option<String>,
    /// YYYY-MM-DD; derived from the ID number when that is given.
    pub birth_date: Option<String>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub ethnic_group: Option<String>,
    pub registered_address: Option<String>,
    pub actual_address: Option<String>,
    /// A [`rules::ResidenceStatus`] code; `registered_here` when empty.
    pub residence_status: Option<String>,
    pub party_member: bool,
    pub notes: String,
}

/// What a search asks for. `q` is read by its shape: 18 (or 15) characters of an ID number, 11
/// digits of a mobile, ASCII letters as pinyin (`zs`, `zhangsan`), anything else as part of a name
/// (or, with `address`, of an address).
#[derive(Debug, Clone, Default)]
pub struct PeopleQuery {
    pub q: String,
    pub address: Option<String>,
    pub tag: Option<String>,
    /// A region code inside the actor's jurisdiction.
    pub region: Option<String>,
    pub page: u32,
    pub page_size: u32,
    /// Name and pinyin matches counted at most (None: the store's search cap); an export
    /// asks for one more than its row limit.
    pub cap: Option<i64>,
}

/// A person line as pages show it: numbers masked.
#[derive(Debug, Clone)]
pub struct PersonLine {
    pub summary: PersonSummary,
    pub id_masked: String,
    pub phone_masked: String,
    pub age: Option<u32>,
    /// Tag names, in display order (sensitive ones only for those who may see them).
    pub tags: Vec<(String, bool)>,
}

/// A person's page.
#[derive(Debug, Clone)]
pub struct PersonView {
    pub person: Person,
    pub id_masked: String,
    pub phone_masked: String,
    pub age: Option<u32>,
    pub tags: Vec<PersonTag>,
    pub memberships: Vec<jinlin_store::people::MemberRow>,
    pub can_reveal: bool,
}

/// A household's file with what pages need next to it.
#[derive(Debug, Clone)]
pub struct HouseholdView {
    pub file: HouseholdFile,
    pub building: Region,
    /// Current members' tags by person id.
    pub tags: HashMap<i64, Vec<PersonTag>>,
    /// Cases the members reported (their phone numbers as reporters), newest first.
    pub cases: Vec<jinlin_store::cases::CaseSummary>,
}

fn today(ms: i64) -> Date {
    Date::from_epoch_ms(ms)
}

fn trimmed(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Checks a reason someone gives for a reveal or a clear export.
pub fn check_reason(field: &str, reason: &str) -> Result<String, AppError> {
    let r = reason.trim();
    let n = r.chars().count();
    if n < MIN_REASON_CHARS {
        return Err(AppError::invalid(
            field,
            "事由：查看或导出完整号码须写明事由（如“入户走访需电话联系”）",
        ));
    }
    if n > MAX_REASON_CHARS {
        return Err(AppError::invalid(
            field,
            format!("事由：不能超过 {MAX_REASON_CHARS} 个字"),
        ));
    }
    Ok(r.to_owned())
}

/// Turns a typed person into what the store keeps: checked, pinyin added, numbers encrypted and
/// indexed. `field_prefix` goes before field names in errors (an import names its column there).
pub fn protect_person(
    cipher: &dyn FieldCipher,
    input: &PersonInput,
    now_ms: i64,
) -> Result<NewPerson, AppError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 50 {
        return Err(AppError::invalid("name", "姓名：不能为空，最多 50 个字"));
    }
    let mut gender = trimmed(&input.gender);
    let mut birth_date = trimmed(&input.birth_date);
    if let Some(g) = &gender {
        let code = match g.as_str() {
            "男" => "male",
            "女" => "female",
            other => other,
        };
        if Gender::parse(code).is_none() {
            return Err(AppError::invalid("gender", "性别：只能是 男 或 女"));
        }
        gender = Some(code.to_owned());
    }
    if let Some(b) = &birth_date {
        let d = Date::parse(b)
            .map_err(|_| AppError::invalid("birth_date", "出生日期：格式应为 1950-01-31"))?;
        if d > today(now_ms) || d.year() < 1900 {
            return Err(AppError::invalid(
                "birth_date",
                "出生日期：不能晚于今天，也不能早于 1900 年",
            ));
        }
        birth_date = Some(d.to_string());
    }
    let (mut id_cipher, mut id_bidx, mut id_masked) = (None, None, None);
    if let Some(raw) = trimmed(&input.id_number) {
        let id = rules::parse_id_number(&raw, today(now_ms))
            .map_err(|e| AppError::invalid("id_number", e.to_string()))?;
        let derived_gender = id.gender().as_str().to_owned();
        let derived_birth = id.birth_date().to_string();
        if gender.as_deref().is_some_and(|g| g != derived_gender) {
            return Err(AppError::invalid("gender", "性别：与身份证号第 17 位不符"));
        }
        if birth_date.as_deref().is_some_and(|b| b != derived_birth) {
            return Err(AppError::invalid(
                "birth_date",
                "出生日期：与身份证号第 7–14 位不符",
            ));
        }
        gender = Some(derived_gender);
        birth_date = Some(derived_birth);
        let bidx = cipher.blind_index(ID_INDEX, id.as_str())?;
        id_cipher =
            Some(cipher.encrypt(id.as_str(), &FieldRef::new("persons", "id_number", &bidx))?);
        id_masked = Some(id.masked());
        id_bidx = Some(bidx);
    }
    let (mut phone_cipher, mut phone_bidx, mut phone_masked) = (None, None, None);
    if let Some(raw) = trimmed(&input.phone) {
        let phone =
            rules::parse_mobile(&raw).map_err(|e| AppError::invalid("phone", e.to_string()))?;
        let bidx = cipher.blind_index(PHONE_INDEX, phone.as_str())?;
        phone_cipher =
            Some(cipher.encrypt(phone.as_str(), &FieldRef::new("persons", "phone", &bidx))?);
        phone_masked = Some(phone.masked());
        phone_bidx = Some(bidx);
    }
    let ethnic_group = match trimmed(&input.ethnic_group) {
        None => None,
        Some(e) => Some(
            rules::ethnic_group(&e)
                .map(|(name, _)| name.to_owned())
                .ok_or_else(|| {
                    AppError::invalid("ethnic_group", format!("民族：“{e}”不是 56 个民族之一"))
                })?,
        ),
    };
    let residence_status = match trimmed(&input.residence_status) {
        None => rules::ResidenceStatus::RegisteredHere.as_str().to_owned(),
        Some(s) => rules::ResidenceStatus::ALL
            .iter()
            .find(|r| r.as_str() == s || r.zh() == s || r.zh().starts_with(&s))
            .map(|r| r.as_str().to_owned())
            .ok_or_else(|| {
                let all: Vec<&str> = rules::ResidenceStatus::ALL.iter().map(|r| r.zh()).collect();
                AppError::invalid(
                    "residence_status",
                    format!("居住状态：“{s}”无法识别（可选：{}）", all.join("、")),
                )
            })?,
    };
    let (full, initials) = rules::name_pinyin(name);
    let short =
        |field: &str, label: &str, v: &Option<String>| -> Result<Option<String>, AppError> {
            match trimmed(v) {
                Some(s) if s.chars().count() > 200 => {
                    Err(AppError::invalid(field, format!("{label}：最多 200 个字")))
                }
                other => Ok(other),
            }
        };
    Ok(NewPerson {
        name: name.to_owned(),
        name_py_full: full,
        name_py_initials: initials,
        gender: gender.unwrap_or_else(|| "unknown".into()),
        birth_date,
        id_cipher,
        id_bidx,
        id_masked,
        phone_cipher,
        phone_bidx,
        phone_masked,
        ethnic_group,
        registered_address: short("registered_address", "户籍地址", &input.registered_address)?,
        actual_address: short("actual_address", "现住址", &input.actual_address)?,
        residence_status,
        party_member: input.party_member,
        notes: input.notes.trim().chars().take(1000).collect(),
    })
}

/// A number as lists show it: the masked form stored beside its ciphertext (so a list never
/// decrypts to mask), or nothing.
pub fn masked(stored: &Option<String>) -> String {
    stored.clone().unwrap_or_default()
}

fn age_of(birth: &Option<String>, now_ms: i64) -> Option<u32> {
    let b = Date::parse(birth.as_deref()?).ok()?;
    let t = today(now_ms);
    let mut age = t.year() - b.year();
    if (t.month(), t.day()) < (b.month(), b.day()) {
        age -= 1;
    }
    u32::try_from(age).ok()
}

impl App {
    /// The field cipher, loaded (or created, mode 0600) from the key file on first use.
    pub async fn cipher(&self) -> Result<Arc<dyn FieldCipher>, AppError> {
        let path = self.settings.key_file();
        let ring = self
            .cipher
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir).map_err(|e| {
                            AppError::Internal(format!("密钥目录 {}：{e}", dir.display()))
                        })?;
                    }
                    KeyRing::generate_file(&path).map_err(AppError::from)
                })
                .await
                .map_err(|e| AppError::Internal(e.to_string()))?
                .map(|r| Arc::new(r) as Arc<dyn FieldCipher>)
            })
            .await?;
        Ok(Arc::clone(ring))
    }

    fn require_people(&self, actor: &Actor) -> Result<(), AppError> {
        if may_use_people(actor.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden("您的角色不能查看实有人口信息".into()))
        }
    }

    fn access(&self, actor: &Actor, action: &str, person_id: Option<i64>) -> NewAccess {
        NewAccess {
            tenant: None,
            user_id: actor.user_id,
            user_name: actor.username.clone(),
            person_id,
            action: action.into(),
            field: None,
            reason: String::new(),
            row_count: None,
            ip: actor.ip.clone(),
        }
    }

    /// A person inside the actor's jurisdiction; outside it (or absent) is 404 for the caller and
    /// an audited refusal when the person exists elsewhere.
    async fn person_in_scope(&self, actor: &Actor, id: i64) -> Result<Person, AppError> {
        self.require_people(actor)?;
        if let Some(p) = self.store.person(id, &actor.scope_path).await? {
            return Ok(p);
        }
        if self.store.person(id, "/").await?.is_some() {
            return self.deny(actor, &format!("person:{id}")).await;
        }
        Err(AppError::NotFound(format!("人员 {id} 不存在")))
    }

    /// Finds people in the actor's jurisdiction.
    pub async fn search_people(
        &self,
        actor: &Actor,
        q: &PeopleQuery,
    ) -> Result<Page<PersonLine>, AppError> {
        self.require_people(actor)?;
        let sensitive = may_see_sensitive(actor.role);
        let mut f = PersonFilter {
            scope_path: actor.scope_path.clone(),
            include_sensitive_tags: sensitive,
            page: q.page.max(1),
            page_size: q.page_size.clamp(1, 200),
            cap: q.cap.unwrap_or(jinlin_store::people::SEARCH_CAP),
            ..PersonFilter::default()
        };
        let text: String = q.q.split_whitespace().collect();
        if !text.is_empty() {
            let upper = text.to_uppercase();
            let digits = upper.bytes().all(|b| b.is_ascii_digit() || b == b'X');
            if digits && (upper.len() == 18 || upper.len() == 15) {
                let id = rules::parse_id_number(&upper, today(self.now()))
                    .map_err(|e| AppError::invalid("q", e.to_string()))?;
                f.id_bidx = Some(self.cipher().await?.blind_index(ID_INDEX, id.as_str())?);
            } else if digits && upper.len() == 11 {
                let phone = rules::parse_mobile(&upper)
                    .map_err(|e| AppError::invalid("q", e.to_string()))?;
                f.phone_bidx = Some(
                    self.cipher()
                        .await?
                        .blind_index(PHONE_INDEX, phone.as_str())?,
                );
            } else if text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit()) {
                // Four digits are the end of a mobile number (尾号): no name holds digits.
                f.phone_tail = Some(text.clone());
            } else if text.bytes().all(|b| b.is_ascii_alphabetic()) {
                f.pinyin = Some(rules::normalise_search(&text));
            } else {
                f.name = Some(text.clone());
            }
        }
        f.address = trimmed(&q.address);
        if let Some(tag) = trimmed(&q.tag) {
            let known = self.store.care_tags(false).await?;
            let t = known
                .iter()
                .find(|t| t.code == tag)
                .ok_or_else(|| AppError::invalid("tag", format!("标签：没有“{tag}”这个标签")))?;
            if t.sensitive && !sensitive {
                return Err(AppError::Forbidden(format!(
                    "“{}”是敏感标签，您的角色不能按它查找",
                    t.name
                )));
            }
            f.tag_code = Some(tag);
        }
        if let Some(code) = trimmed(&q.region) {
            let region = self.region(actor, &code).await?;
            f.region_id = Some(region.id);
        }
        let (items, total) = self.store.search_persons(&f).await?;
        // Name and pinyin matches are counted up to the cap; the page says to narrow down.
        let total = total.min(f.cap);
        let tags = self.store.care_tags(true).await?;
        let now = self.now();
        Ok(Page {
            items: items
                .into_iter()
                .map(|s| PersonLine {
                    id_masked: masked(&s.id_masked),
                    phone_masked: masked(&s.phone_masked),
                    age: age_of(&s.birth_date, now),
                    tags: s
                        .tags
                        .iter()
                        .filter_map(|c| tags.iter().find(|t| &t.code == c))
                        .filter(|t| sensitive || !t.sensitive)
                        .map(|t| (t.name.clone(), t.sensitive))
                        .collect(),
                    summary: s,
                })
                .collect(),
            total,
            page: f.page,
            page_size: f.page_size,
        })
    }

    /// A person's page; the view is logged.
    pub async fn person_view(&self, actor: &Actor, id: i64) -> Result<PersonView, AppError> {
        let person = self.person_in_scope(actor, id).await?;
        self.store
            .log_person_access(&self.access(actor, "view", Some(id)), self.now())
            .await?;
        let tags = self
            .store
            .person_tags(id, &actor.scope_path, may_see_sensitive(actor.role), false)
            .await?;
        let memberships = self.store.person_memberships(id, &actor.scope_path).await?;
        Ok(PersonView {
            id_masked: masked(&person.id_masked),
            phone_masked: masked(&person.phone_masked),
            age: age_of(&person.birth_date, self.now()),
            can_reveal: may_reveal(actor.role),
            person,
            tags,
            memberships,
        })
    }

    /// The full ID or phone number of a person, for a stated reason; logged and rate-limited.
    pub async fn reveal_person(
        &self,
        actor: &Actor,
        id: i64,
        field: &str,
        reason: &str,
    ) -> Result<String, AppError> {
        let person = self.person_in_scope(actor, id).await?;
        if !may_reveal(actor.role) {
            return self.deny(actor, &format!("person:{id}:{field}")).await;
        }
        if !matches!(field, "id_number" | "phone") {
            return Err(AppError::invalid("field", "只能查看身份证号或手机号"));
        }
        let reason = check_reason("reason", reason)?;
        self.take_reveal(actor)?;
        let mut access = self.access(actor, "reveal", Some(id));
        access.field = Some(field.into());
        access.reason = reason;
        let secret = self
            .store
            .person_secret(id, &actor.scope_path, &access, self.now())
            .await?
            .ok_or_else(|| AppError::NotFound(format!("人员 {id} 不存在")))?;
        let (cipher_text, column) = match field {
            "id_number" => (secret.id_cipher.clone(), "id_number"),
            _ => (secret.phone_cipher.clone(), "phone"),
        };
        let Some(cipher_text) = cipher_text else {
            return Err(AppError::NotFound(format!(
                "{}没有登记{}",
                person.name,
                if field == "id_number" {
                    "身份证号"
                } else {
                    "手机号"
                }
            )));
        };
        let bidx = match field {
            "id_number" => secret.id_bidx,
            _ => secret.phone_bidx,
        }
        .unwrap_or_default();
        let plain = self
            .cipher()
            .await?
            .decrypt(&cipher_text, &FieldRef::new("persons", column, &bidx))?;
        Ok(plain.to_string())
    }

    /// Counts a reveal against the per-hour limit of the account.
    fn take_reveal(&self, actor: &Actor) -> Result<(), AppError> {
        let now = self.now();
        let mut reveals = match self.reveals.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let key = actor.user_id.unwrap_or(0);
        let recent = reveals.entry(key).or_default();
        recent.retain(|t| now - *t < 3_600_000);
        if recent.len() >= REVEALS_PER_HOUR {
            return Err(AppError::invalid(
                "reason",
                format!("查看完整号码过于频繁：每小时最多 {REVEALS_PER_HOUR} 次，请稍后再试"),
            ));
        }
        recent.push(now);
        Ok(())
    }

    /// Records a new person in a household or at a building, checked and encrypted.
    pub async fn create_person(
        &self,
        actor: &Actor,
        input: &PersonInput,
        placement: Placement,
    ) -> Result<i64, AppError> {
        self.require_people(actor)?;
        if !matches!(
            actor.role,
            Role::GridWorker | Role::GridHead | Role::CommunityAdmin | Role::StreetAdmin
        ) {
            return Err(AppError::Forbidden(
                "只有网格员、网格长和社区、街道工作人员可以登记人员".into(),
            ));
        }
        match &placement {
            Placement::Household { household_id, .. } => {
                if self
                    .store
                    .household(*household_id, &actor.scope_path)
                    .await?
                    .is_none()
                {
                    return Err(AppError::NotFound(format!("户 {household_id} 不存在")));
                }
            }
            Placement::Region(region_id) => {
                let region = self
                    .store
                    .region_by_id(*region_id)
                    .await?
                    .ok_or_else(|| AppError::NotFound("区划不存在".into()))?;
                if !actor.sees_path(&region.path) {
                    return self.deny(actor, &format!("region:{}", region.code)).await;
                }
            }
        }
        let person = protect_person(self.cipher().await?.as_ref(), input, self.now())?;
        let audit = actor.audit("person.create", "person", "ok", person.name.clone());
        Ok(self
            .store
            .create_person(&person, &placement, &audit, self.now())
            .await?)
    }

    /// Moves a person to another household of the jurisdiction (迁入), or out of any household
    /// (迁出) when `to_household` is `None`; the old membership is closed, never overwritten.
    pub async fn move_person(
        &self,
        actor: &Actor,
        person_id: i64,
        to_household: Option<i64>,
        relation: &str,
        reason: &str,
    ) -> Result<(), AppError> {
        let person = self.person_in_scope(actor, person_id).await?;
        if !matches!(
            actor.role,
            Role::GridWorker | Role::GridHead | Role::CommunityAdmin | Role::StreetAdmin
        ) {
            return Err(AppError::Forbidden(
                "只有网格员、网格长和社区、街道工作人员可以办理迁入迁出".into(),
            ));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(AppError::invalid(
                "move_reason",
                "迁移原因：不能为空，最多 200 个字（如“购房迁入”“投靠子女”）",
            ));
        }
        let now = self.now();
        match to_household {
            Some(h) => {
                if rules::RelationToHead::parse(relation).is_none() {
                    return Err(AppError::invalid("relation", "与户主关系：请选择"));
                }
                if self.store.household(h, &actor.scope_path).await?.is_none() {
                    return Err(AppError::invalid(
                        "household",
                        format!("迁入户：本辖区没有编号为 {h} 的户"),
                    ));
                }
                if person.household_id == Some(h) {
                    return Err(AppError::invalid("household", "迁入户：已经是该户成员"));
                }
                let audit = actor.audit(
                    "person.move",
                    &format!("person:{person_id}"),
                    "ok",
                    format!("迁入户 #{h}：{reason}"),
                );
                let moved = if person.household_id.is_some() {
                    self.store
                        .move_person(person_id, h, relation, now, reason, &audit, now)
                        .await
                } else {
                    self.store
                        .join_household(person_id, h, relation, now, reason, &audit, now)
                        .await
                };
                moved?;
            }
            None => {
                if person.household_id.is_none() {
                    return Err(AppError::invalid(
                        "household",
                        "迁出：该人员当前不在任何户中",
                    ));
                }
                let audit = actor.audit(
                    "person.leave",
                    &format!("person:{person_id}"),
                    "ok",
                    format!("迁出：{reason}"),
                );
                self.store
                    .leave_household(person_id, now, reason, &audit, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// A household's file (一户一档); each member counts as viewed.
    pub async fn household_view(&self, actor: &Actor, id: i64) -> Result<HouseholdView, AppError> {
        self.require_people(actor)?;
        let Some(file) = self.store.household_file(id, &actor.scope_path).await? else {
            if self.store.household(id, "/").await?.is_some() {
                return self.deny(actor, &format!("household:{id}")).await;
            }
            return Err(AppError::NotFound(format!("户 {id} 不存在")));
        };
        let building = self
            .store
            .region_by_id(file.dwelling.building_id)
            .await?
            .ok_or_else(|| AppError::NotFound("楼栋不存在".into()))?;
        let sensitive = may_see_sensitive(actor.role);
        let mut tags = HashMap::new();
        for m in &file.members {
            tags.insert(
                m.person_id,
                self.store
                    .person_tags(m.person_id, &actor.scope_path, sensitive, false)
                    .await?,
            );
        }
        let cases = self.household_cases(actor, &file).await?;
        let mut access = self.access(actor, "view", None);
        access.field = Some(format!("household:{id}"));
        access.row_count = Some(file.members.len() as i64);
        self.store.log_person_access(&access, self.now()).await?;
        Ok(HouseholdView {
            file,
            building,
            tags,
            cases,
        })
    }

    /// Cases the members reported, found by their phone numbers (decrypted here, never shown).
    async fn household_cases(
        &self,
        actor: &Actor,
        file: &HouseholdFile,
    ) -> Result<Vec<jinlin_store::cases::CaseSummary>, AppError> {
        let cipher = self.cipher().await?;
        let ids: Vec<i64> = file.members.iter().map(|m| m.person_id).collect();
        let mut phones = Vec::new();
        for (c, bidx) in self.store.person_phone_ciphers(&ids).await? {
            let plain = cipher.decrypt(&c, &FieldRef::new("persons", "phone", &bidx))?;
            phones.push(plain.to_string());
        }
        if phones.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .store
            .cases_reported_by_phones(&actor.scope_path, &phones, 50)
            .await?)
    }

    /// A building's dwellings with their households, for the grid view.
    pub async fn building_dwellings(
        &self,
        actor: &Actor,
        building_code: &str,
    ) -> Result<(Region, Vec<DwellingListing>), AppError> {
        self.require_people(actor)?;
        let building = self.region(actor, building_code).await?;
        if building.level != RegionLevel::Building {
            return Err(AppError::invalid(
                "building",
                format!("{} 不是楼栋", building.name),
            ));
        }
        let dwellings = self
            .store
            .dwellings_of_building(building.id, &actor.scope_path)
            .await?;
        Ok((building, dwellings))
    }

    /// The care tags, for pick lists (sensitive ones only for those who may see them).
    pub async fn care_tags_for(&self, actor: &Actor) -> Result<Vec<CareTag>, AppError> {
        let sensitive = may_see_sensitive(actor.role);
        Ok(self
            .store
            .care_tags(false)
            .await?
            .into_iter()
            .filter(|t| sensitive || !t.sensitive)
            .collect())
    }

    fn require_tag_admin(&self, actor: &Actor) -> Result<(), AppError> {
        if matches!(actor.role, Role::Sysadmin | Role::StreetAdmin) {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "仅系统管理员和街道管理员可以维护重点人群标签".into(),
            ))
        }
    }

    /// Every care tag, active or not, for the admin list.
    pub async fn care_tags_admin(&self, actor: &Actor) -> Result<Vec<CareTag>, AppError> {
        self.require_tag_admin(actor)?;
        Ok(self.store.care_tags(true).await?)
    }

    /// Adds a care tag; its code comes from the name's pinyin (`独居老人` → `djlr`), made unique.
    pub async fn add_care_tag(
        &self,
        actor: &Actor,
        name: &str,
        sensitive: bool,
    ) -> Result<String, AppError> {
        self.require_tag_admin(actor)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 30 {
            return Err(AppError::invalid(
                "name",
                "标签名称：不能为空，最多 30 个字",
            ));
        }
        let existing = self.store.care_tags(true).await?;
        if existing.iter().any(|t| t.name == name) {
            return Err(AppError::Conflict {
                field: "name".into(),
                message: format!("标签“{name}”已经存在"),
            });
        }
        let (_, initials) = rules::name_pinyin(name);
        let base = if initials.is_empty() {
            "tag".to_owned()
        } else {
            format!("tag_{initials}")
        };
        let mut code = base.clone();
        let mut n = 2;
        while existing.iter().any(|t| t.code == code) {
            code = format!("{base}{n}");
            n += 1;
        }
        let audit = actor.audit(
            "care_tag.create",
            &format!("care_tag:{code}"),
            "ok",
            format!("{name}{}", if sensitive { "（敏感）" } else { "" }),
        );
        self.store
            .create_care_tag(
                &NewCareTag {
                    code: code.clone(),
                    name: name.to_owned(),
                    sensitive,
                    active: true,
                },
                &audit,
                self.now(),
            )
            .await?;
        Ok(code)
    }

    /// Renames a tag, marks it sensitive or not, or retires it (tags on people stay on record).
    pub async fn update_care_tag(
        &self,
        actor: &Actor,
        code: &str,
        name: &str,
        sensitive: bool,
        active: bool,
    ) -> Result<(), AppError> {
        self.require_tag_admin(actor)?;
        let audit = actor.audit(
            "care_tag.update",
            &format!("care_tag:{code}"),
            "ok",
            format!(
                "{}{}{}",
                name.trim(),
                if sensitive {
                    "，敏感"
                } else {
                    "，非敏感"
                },
                if active { "" } else { "，停用" }
            ),
        );
        Ok(self
            .store
            .update_care_tag(
                code,
                &NewCareTag {
                    code: code.to_owned(),
                    name: name.trim().to_owned(),
                    sensitive,
                    active,
                },
                &audit,
                self.now(),
            )
            .await?)
    }

    /// Seeds the care tag list from the domain (once; admins edit it afterwards).
    pub async fn seed_care_tags(&self) -> Result<usize, AppError> {
        let tags: Vec<NewCareTag> = rules::care_tag_seed()
            .into_iter()
            .map(|t| NewCareTag {
                code: t.code.into(),
                name: t.name.into(),
                sensitive: t.sensitive,
                active: true,
            })
            .collect();
        Ok(self.store.seed_care_tags(&tags, self.now()).await?)
    }

    /// Who looked at, revealed, exported or imported personal data (system and street admins,
    /// leaders).
    pub async fn people_access_log(
        &self,
        actor: &Actor,
        filter: AccessFilter,
    ) -> Result<Page<AccessRow>, AppError> {
        if !matches!(
            actor.role,
            Role::Sysadmin | Role::StreetAdmin | Role::Leader
        ) {
            return Err(AppError::Forbidden(
                "仅系统管理员、街道管理员和领导可以查看个人信息访问记录".into(),
            ));
        }
        let page = filter.page.max(1);
        let page_size = filter.page_size.clamp(1, 200);
        let (items, total) = self
            .store
            .person_access_log(&AccessFilter {
                page,
                page_size,
                ..filter
            })
            .await?;
        Ok(Page {
            items,
            total,
            page,
            page_size,
        })
    }
}

/// Per-account reveal times in the last hour.
pub(crate) type RevealWindows = HashMap<i64, Vec<i64>>;

/// Persons re-encrypted per transaction by [`App::rotate_field_key`].
pub const ROTATE_BATCH: u32 = 1_000;

impl App {
    /// Adds a new encryption key to the key file and re-encrypts every person's ID and phone
    /// ciphertext with it, [`ROTATE_BATCH`] persons per transaction (blind indexes stay: the
    /// index key does not change). Console only. `progress` gets the persons done so far.
    /// Returns the new key id and the number of persons re-encrypted. A server already running
    /// keeps encrypting with the old key until restarted; both stay readable.
    pub async fn rotate_field_key(
        &self,
        actor: &Actor,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<(u32, usize), AppError> {
        if !(actor.user_id.is_none() && actor.role == Role::Sysadmin) {
            return Err(AppError::Forbidden("密钥轮换只能在服务器命令行执行".into()));
        }
        let path = self.settings.key_file();
        let ring = tokio::task::spawn_blocking(move || {
            KeyRing::rotate(&path).and_then(|id| KeyRing::load(&path).map(|r| (id, r)))
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
        let (id, ring) = ring?;
        self.store
            .append_audit(
                &actor.audit("keys.rotate", "field-keys", "ok", format!("新密钥 {id}")),
                self.now(),
            )
            .await?;
        // The masked forms are written again too: rows masked before the first three
        // characters were shown get them.
        let reencrypt = |text: &Option<String>,
                         shown: &Option<String>,
                         column: &str,
                         bidx: &Option<String>,
                         mask: fn(&str) -> String|
         -> Result<(Option<String>, Option<String>), AppError> {
            match (text, bidx) {
                (Some(t), Some(b)) => {
                    let field = FieldRef::new("persons", column, b);
                    let plain = ring.decrypt(t, &field)?;
                    Ok((Some(ring.encrypt(&plain, &field)?), Some(mask(&plain))))
                }
                (t, _) => Ok((t.clone(), shown.clone())),
            }
        };
        let (mut after, mut done) = (0i64, 0usize);
        loop {
            let batch = self.store.person_ciphers_after(after, ROTATE_BATCH).await?;
            let Some(last) = batch.last() else {
                break;
            };
            after = last.id;
            let mut rows = Vec::with_capacity(batch.len());
            for p in batch {
                let (id_cipher, id_masked) = reencrypt(
                    &p.id_cipher,
                    &p.id_masked,
                    "id_number",
                    &p.id_bidx,
                    rules::mask_id_number,
                )?;
                let (phone_cipher, phone_masked) = reencrypt(
                    &p.phone_cipher,
                    &p.phone_masked,
                    "phone",
                    &p.phone_bidx,
                    rules::mask_phone,
                )?;
                rows.push(jinlin_store::people::PersonCiphers {
                    id_cipher,
                    phone_cipher,
                    id_masked,
                    phone_masked,
                    ..p
                });
            }
            let audit = actor.audit(
                "keys.reencrypt",
                "persons",
                "ok",
                format!("密钥 {id}：{} 人", rows.len()),
            );
            done += self
                .store
                .replace_person_ciphers(&rows, &audit, self.now())
                .await?;
            progress(done);
        }
        Ok((id, done))
    }
}
