//! Open311 GeoReport v2 (reference/anchors-intl.md §1): client keys bound to a district, and the
//! use cases behind `/open311/v2/`. A request filed here is an ordinary case: it goes through
//! [`App::file`] like every other channel, so location, routing and deadlines are the same.
//!
//! What clients may read: public-space problems of the jurisdiction, plus the personal requests
//! (appeals, help) the same key filed; never a reporter's name, phone or e-mail.

use std::collections::HashMap;

use jinlin_domain::accounts::Role;
use jinlin_domain::cases::Stage;
use jinlin_domain::crs::Crs;
use jinlin_domain::questions::{Question, questions_for};
use jinlin_domain::regions::RegionLevel;
use jinlin_store::cases::Category;
use jinlin_store::open311::{
    NewOpen311Key, NewOpen311Request, Open311Case, Open311KeyRow, Open311Update, RequestFilter,
    UpdateFilter,
};

use crate::accounts::{random_token, token_hash};
use crate::cases::{Channel, Intake, Location, MAX_DESCRIPTION_CHARS, Open311Origin, Upload};
use crate::{Actor, App, AppError};

/// Requests per minute a new key may file unless the admin sets another limit.
pub const DEFAULT_PER_MINUTE: i64 = 30;
/// Rows `GET requests` returns at most (the spec's default volume).
pub const MAX_ROWS: i64 = 1000;
/// Longest window of `start_date`/`end_date`, in days.
pub const MAX_WINDOW_DAYS: i64 = 90;
const DAY_MS: i64 = 86_400_000;
const KEY_PREFIX: &str = "jl311_";

/// An admin's new key.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub contact: String,
    /// The district (its 6- or 12-digit code) the key files requests in.
    pub district: String,
    pub per_minute: Option<i64>,
    /// Answer POST requests with a token to poll instead of the case number.
    pub token_receipt: bool,
}

/// A key just made; `key` is shown once and never stored.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub id: i64,
    pub key: String,
}

/// An Open311 client that presented a valid key.
#[derive(Debug, Clone)]
pub struct Client {
    pub key_id: i64,
    pub name: String,
    pub tenant: String,
    pub token_receipt: bool,
    per_minute: i64,
}

/// `POST requests` as the client sent it (strings as given; checked here).
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub jurisdiction_id: Option<String>,
    pub service_code: Option<String>,
    pub lat: Option<String>,
    pub long: Option<String>,
    pub address_string: Option<String>,
    pub address_id: Option<String>,
    pub attributes: Vec<(String, Vec<String>)>,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub media_url: Option<String>,
    pub media: Vec<Upload>,
}

/// What `POST requests` answers.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub service_request_id: Option<String>,
    pub token: Option<String>,
    pub service_notice: String,
    pub account_id: Option<String>,
}

/// `GET requests` filters as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct RequestQuery {
    pub jurisdiction_id: Option<String>,
    pub service_request_id: Option<String>,
    pub service_code: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub updated_after: Option<String>,
    pub updated_before: Option<String>,
    pub status: Option<String>,
    pub page: Option<String>,
    pub page_size: Option<String>,
}

/// An Open311 service: a category a client may file under.
#[derive(Debug, Clone)]
pub struct Service {
    pub category: Category,
    /// The parent group's name.
    pub group: String,
    pub questions: &'static [Question],
    /// Personal requests: only the filing client reads them back.
    pub private: bool,
}

/// `open` or `closed`: only a verified, closed, rejected or merged case is done with.
pub fn status_of(stage: Stage) -> &'static str {
    match stage {
        Stage::Verified | Stage::Closed | Stage::Rejected | Stage::Merged => "closed",
        _ => "open",
    }
}

/// The extended status names of FixMyStreet's Open311 extension, for one timeline row.
pub fn extended_status(action: &str, stage: Stage) -> &'static str {
    match action {
        "reopen" => return "REOPEN",
        "return" | "escalate" | "whistle" => return "INTERNAL_REFERRAL",
        "merge" => return "DUPLICATE",
        _ => {}
    }
    match stage {
        Stage::Reported => "OPEN",
        Stage::Accepted => "INVESTIGATING",
        Stage::Dispatched => "ACTION_SCHEDULED",
        Stage::InProgress | Stage::Resolved => "IN_PROGRESS",
        Stage::Verified | Stage::Closed => "FIXED",
        Stage::Rejected => "NO_FURTHER_ACTION",
        Stage::Merged => "DUPLICATE",
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn bad(param: &str, message: impl Into<String>) -> AppError {
    AppError::invalid(param, message)
}

/// Open311 parameter names for the fields intake names.
fn param_of(field: &str) -> String {
    match field {
        "location" | "lat" | "lng" => "lat".into(),
        "reporter_phone" => "phone".into(),
        "reporter_name" => "first_name".into(),
        "address" => "address_string".into(),
        "photos" => "media".into(),
        "category" => "service_code".into(),
        f => match f.strip_prefix("answers.") {
            Some(code) => format!("attribute[{code}]"),
            None => f.to_owned(),
        },
    }
}

fn optional_short(param: &str, v: &Option<String>, max: usize) -> Result<Option<String>, AppError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) if s.chars().count() > max => Err(bad(
            param,
            format!("{param}：不能超过 {max} 个字符 / longer than {max} characters"),
        )),
        Some(s) => Ok(Some(s.to_owned())),
    }
}

impl App {
    // ----- keys --------------------------------------------------------------------------------

    fn require_key_admin(&self, actor: &Actor) -> Result<(), AppError> {
        if actor.role == Role::Sysadmin {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "仅系统管理员可以管理 Open311 接入密钥".into(),
            ))
        }
    }

    /// Makes a key for a client of one district. The key is returned once; only its hash is kept.
    pub async fn create_open311_key(
        &self,
        actor: &Actor,
        new: NewKey,
    ) -> Result<CreatedKey, AppError> {
        self.require_key_admin(actor)?;
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(AppError::invalid(
                "name",
                "客户端名称：不能为空，最多 60 个字",
            ));
        }
        let contact = new.contact.trim();
        if contact.chars().count() > 100 {
            return Err(AppError::invalid("contact", "联系人：最多 100 个字"));
        }
        let per_minute = new.per_minute.unwrap_or(DEFAULT_PER_MINUTE);
        if !(1..=600).contains(&per_minute) {
            return Err(AppError::invalid(
                "per_minute",
                "每分钟上限：须在 1 到 600 之间",
            ));
        }
        let district = self
            .district(new.district.trim())
            .await
            .map_err(|e| match e {
                AppError::NotFound(m) => AppError::invalid("district", m),
                other => other,
            })?;
        if !actor.sees_path(&district.path) {
            return self.deny(actor, &format!("region:{}", district.code)).await;
        }
        let key = format!("{KEY_PREFIX}{}", random_token()?);
        let row = NewOpen311Key {
            tenant: district.tenant.clone(),
            name: name.to_owned(),
            contact: contact.to_owned(),
            key_hash: token_hash(&key),
            key_prefix: key.chars().take(KEY_PREFIX.len() + 6).collect(),
            per_minute,
            receipt: if new.token_receipt { "token" } else { "id" }.into(),
            created_by: actor.username.clone(),
        };
        let audit = actor.audit(
            "open311.key.create",
            &format!("open311_key:{}", row.key_prefix),
            "ok",
            format!("{name}（{}），每分钟 {per_minute} 件", district.name),
        );
        let id = self
            .store
            .create_open311_key(&row, &audit, self.now())
            .await?;
        Ok(CreatedKey { id, key })
    }

    pub async fn open311_keys(&self, actor: &Actor) -> Result<Vec<Open311KeyRow>, AppError> {
        self.require_key_admin(actor)?;
        Ok(self.store.open311_keys(None).await?)
    }

    pub async fn revoke_open311_key(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        self.require_key_admin(actor)?;
        let key = self
            .store
            .open311_key(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("密钥 {id} 不存在")))?;
        let audit = actor.audit(
            "open311.key.revoke",
            &format!("open311_key:{}", key.key_prefix),
            "ok",
            key.name.clone(),
        );
        if !self
            .store
            .revoke_open311_key(id, &audit, self.now())
            .await?
        {
            return Err(AppError::Conflict {
                field: "id".into(),
                message: format!("密钥“{}”已经停用", key.name),
            });
        }
        Ok(())
    }

    /// The client a key belongs to. A missing, unknown or revoked key is refused (403); a key over
    /// its per-minute limit too (400, the spec's "anything else").
    pub async fn open311_client(&self, api_key: Option<&str>) -> Result<Client, AppError> {
        let Some(key) = api_key.map(str::trim).filter(|k| !k.is_empty()) else {
            return Err(AppError::Forbidden(
                "api_key：提交诉求须提供接入密钥 / an api_key is required".into(),
            ));
        };
        let row = self
            .store
            .open311_key_by_hash(&token_hash(key))
            .await?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(|| {
                AppError::Forbidden("api_key：密钥无效或已停用 / invalid or revoked api_key".into())
            })?;
        let client = Client {
            key_id: row.id,
            name: row.name,
            tenant: row.tenant,
            token_receipt: row.receipt == "token",
            per_minute: row.per_minute,
        };
        Ok(client)
    }

    /// Counts one request against the key's per-minute limit (a fixed one-minute window per
    /// process; several `serve` processes each keep their own count).
    fn take_rate(&self, client: &Client) -> Result<(), AppError> {
        let minute = self.now().div_euclid(60_000);
        let mut windows = match self.open311_windows.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if windows.len() > 10_000 {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let entry = windows.entry(client.key_id).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= client.per_minute {
            return Err(AppError::invalid(
                "api_key",
                format!(
                    "api_key：每分钟最多提交 {} 件，请稍后再试 / rate limit of {} requests per minute reached",
                    client.per_minute, client.per_minute
                ),
            ));
        }
        entry.1 += 1;
        Ok(())
    }

    // ----- jurisdictions and services -------------------------------------------------------

    async fn district(&self, code: &str) -> Result<jinlin_store::regions::Region, AppError> {
        let chain = self.region_chain(code).await?;
        chain
            .and_then(|c| c.last().cloned())
            .filter(|r| r.level == RegionLevel::District)
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "jurisdiction_id：没有编码为 {code} 的区县 / unknown jurisdiction"
                ))
            })
    }

    /// The scope path of `jurisdiction_id` (`/` when absent or empty: every district).
    pub async fn open311_scope(
        &self,
        jurisdiction_id: &Option<String>,
    ) -> Result<String, AppError> {
        match non_empty(jurisdiction_id) {
            None => Ok("/".into()),
            Some(code) => Ok(self.district(code).await?.path),
        }
    }

    /// Every district code this server answers for (discovery lists them).
    pub async fn open311_jurisdictions(&self) -> Result<Vec<(String, String)>, AppError> {
        Ok(self
            .store
            .regions_at_level(RegionLevel::District, 1000)
            .await?
            .into_iter()
            .map(|r| (r.code, r.name))
            .collect())
    }

    /// Categories a client may file under: active leaves, in taxonomy order.
    pub fn open311_services(&self) -> Vec<Service> {
        let categories = self.categories();
        categories
            .iter()
            .filter(|c| c.active && !categories.iter().any(|k| k.parent_id == Some(c.id)))
            .map(|c| Service {
                group: c
                    .parent_id
                    .and_then(|p| categories.iter().find(|k| k.id == p))
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| c.name.clone()),
                questions: questions_for(&c.code),
                private: !jinlin_store::open311::PUBLIC_KINDS.contains(&c.kind.as_str()),
                category: c.clone(),
            })
            .collect()
    }

    pub fn open311_service(&self, code: &str) -> Result<Service, AppError> {
        self.open311_services()
            .into_iter()
            .find(|s| s.category.code == code)
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "service_code：没有服务 {code} / unknown service_code"
                ))
            })
    }

    /// When the service list or a definition last changed (discovery's `changeset`).
    pub async fn open311_changeset(&self) -> Result<i64, AppError> {
        Ok(self.store.categories_changed_at().await?)
    }

    // ----- filing ------------------------------------------------------------------------------

    /// `POST requests`: files a case for `client`. Errors name the Open311 parameter in `field`.
    pub async fn submit_open311(
        &self,
        client: &Client,
        s: Submission,
    ) -> Result<Receipt, AppError> {
        self.submit_checked(client, s).await.map_err(|e| match e {
            AppError::Invalid { field, message } => AppError::Invalid {
                field: param_of(&field),
                message,
            },
            other => other,
        })
    }

    async fn submit_checked(&self, client: &Client, s: Submission) -> Result<Receipt, AppError> {
        if let Some(code) = non_empty(&s.jurisdiction_id) {
            let district = self.district(code).await?;
            if district.tenant != client.tenant {
                return Err(AppError::Forbidden(format!(
                    "api_key：此密钥只能向辖区 {} 提交 / the key is not valid for jurisdiction {code}",
                    client.tenant
                )));
            }
        }
        let code = non_empty(&s.service_code)
            .ok_or_else(|| bad("service_code", "service_code：必须填写 / required"))?;
        let service = self.open311_service(code)?;
        let location = self.open311_location(client, &s).await?;
        let description = match non_empty(&s.description) {
            Some(d) => {
                let n = d.chars().count();
                if n > MAX_DESCRIPTION_CHARS {
                    return Err(bad(
                        "description",
                        format!(
                            "description：不能超过 {MAX_DESCRIPTION_CHARS} 个字符（现有 {n} 个） / longer than {MAX_DESCRIPTION_CHARS} characters"
                        ),
                    ));
                }
                d.to_owned()
            }
            None => service.category.name.clone(),
        };
        let email = optional_short("email", &s.email, 200)?;
        if let Some(e) = &email
            && !(e.contains('@') && !e.starts_with('@') && !e.ends_with('@'))
        {
            return Err(bad(
                "email",
                "email：邮箱格式不正确 / not an e-mail address",
            ));
        }
        let media_url = optional_short("media_url", &s.media_url, 500)?;
        if let Some(u) = &media_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(bad(
                "media_url",
                "media_url：须为 http:// 或 https:// 开头的网址 / must be an http(s) URL",
            ));
        }
        let first_name = optional_short("first_name", &s.first_name, 50)?;
        let last_name = optional_short("last_name", &s.last_name, 50)?;
        let reporter_name = match (&last_name, &first_name) {
            (None, None) => None,
            (Some(l), Some(f)) if l.chars().chain(f.chars()).all(|c| !c.is_ascii()) => {
                Some(format!("{l}{f}"))
            }
            (Some(l), Some(f)) => Some(format!("{f} {l}")),
            (Some(n), None) | (None, Some(n)) => Some(n.clone()),
        };
        let request = NewOpen311Request {
            key_id: client.key_id,
            token: random_token()?,
            email,
            device_id: optional_short("device_id", &s.device_id, 100)?,
            account_id: optional_short("account_id", &s.account_id, 100)?,
            first_name,
            last_name,
            media_url,
        };
        let token = request.token.clone();
        let account_id = request.account_id.clone();
        self.take_rate(client)?;
        let filed = self
            .file(
                None,
                Intake {
                    channel: Channel::Open311,
                    category_id: service.category.id,
                    description,
                    location,
                    reporter_name,
                    reporter_phone: non_empty(&s.phone).map(str::to_owned),
                    photos: s.media,
                    answers: s.attributes,
                    open311: Some(Open311Origin {
                        key_id: client.key_id,
                        key_name: client.name.clone(),
                        request,
                    }),
                },
            )
            .await?;
        let notice = format!(
            "已收到，编号 {}，预计 {} 前办结",
            filed.case.id,
            jinlin_domain::deadlines::format_cst(filed.case.resolution_due)
        );
        Ok(if client.token_receipt {
            Receipt {
                service_request_id: None,
                token: Some(token),
                service_notice: notice,
                account_id,
            }
        } else {
            Receipt {
                service_request_id: Some(filed.case.id.to_string()),
                token: None,
                service_notice: notice,
                account_id,
            }
        })
    }

    /// Where a submission is: `lat`+`long`, else `address_id` (a region code), else
    /// `address_string` matched against the district's community, compound and building names.
    /// The place must lie in the client's district.
    async fn open311_location(
        &self,
        client: &Client,
        s: &Submission,
    ) -> Result<Location, AppError> {
        let address = optional_short("address_string", &s.address_string, 200)?;
        match (non_empty(&s.lat), non_empty(&s.long)) {
            (Some(lat), Some(lng)) => {
                let parse = |param: &str, v: &str, max: f64| -> Result<f64, AppError> {
                    match v.parse::<f64>() {
                        Ok(x) if x.is_finite() && x.abs() <= max => Ok(x),
                        _ => Err(bad(
                            param,
                            format!(
                                "{param}：应为 -{max} 到 {max} 之间的数字（WGS-84），收到“{v}” / out of range"
                            ),
                        )),
                    }
                };
                let lat = parse("lat", lat, 90.0)?;
                let lng = parse("long", lng, 180.0)?;
                let (chain, _) =
                    self.locate_grid(lat, lng, Crs::Wgs84)
                        .await
                        .map_err(|e| match e {
                            AppError::NotFound(m) => {
                                bad("lat", format!("lat/long：{m} / outside every grid"))
                            }
                            other => other,
                        })?;
                if chain.first().is_none_or(|r| r.tenant != client.tenant) {
                    return Err(bad(
                        "lat",
                        format!(
                            "lat/long：该位置不在辖区 {} 内 / outside the key's jurisdiction",
                            client.tenant
                        ),
                    ));
                }
                return Ok(Location {
                    point: Some((lat, lng, Crs::Wgs84)),
                    region_code: None,
                    address,
                });
            }
            (Some(_), None) => {
                return Err(bad(
                    "long",
                    "long：有 lat 时必须同时提供 long / long is required with lat",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "lat",
                    "lat：有 long 时必须同时提供 lat / lat is required with long",
                ));
            }
            (None, None) => {}
        }
        if let Some(code) = non_empty(&s.address_id) {
            let region = self
                .region_chain(code)
                .await?
                .and_then(|c| c.last().cloned())
                .filter(|r| r.tenant == client.tenant)
                .ok_or_else(|| {
                    bad(
                        "address_id",
                        format!("address_id：本辖区没有编码为 {code} 的地址 / unknown address_id"),
                    )
                })?;
            return Ok(Location {
                point: None,
                region_code: Some(region.code),
                address,
            });
        }
        if let Some(text) = &address {
            let district = self.district(&client.tenant).await?;
            let code = self
                .store
                .match_address(&district.path, text)
                .await?
                .ok_or_else(|| {
                    bad(
                        "address_string",
                        format!(
                            "address_string：无法从“{text}”识别社区、小区或楼栋，请改用 lat/long 或 address_id / address not recognised"
                        ),
                    )
                })?;
            return Ok(Location {
                point: None,
                region_code: Some(code),
                address,
            });
        }
        Err(bad(
            "lat",
            "位置：须提供 lat 和 long、address_string 或 address_id 之一 / a location is required",
        ))
    }

    // ----- reading -----------------------------------------------------------------------------

    /// `GET requests`: the spec's defaults (the last 90 days, at most 1,000 rows) with the
    /// `page`/`page_size` and `updated_after`/`updated_before` extensions.
    pub async fn open311_requests(
        &self,
        q: &RequestQuery,
        client: Option<&Client>,
    ) -> Result<Vec<Open311Case>, AppError> {
        let scope_path = self.open311_scope(&q.jurisdiction_id).await?;
        let page = parse_count("page", &q.page, 1, i64::MAX)?.unwrap_or(1);
        let page_size = parse_count("page_size", &q.page_size, 1, MAX_ROWS)?.unwrap_or(MAX_ROWS);
        let mut f = RequestFilter {
            scope_path,
            key_id: client.map(|c| c.key_id),
            limit: page_size,
            offset: (page - 1).saturating_mul(page_size),
            ..RequestFilter::default()
        };
        if let Some(ids) = non_empty(&q.service_request_id) {
            let ids = ids
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<i64>().map_err(|_| {
                        bad(
                            "service_request_id",
                            format!("service_request_id：“{s}”不是编号 / not a request id"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            f.ids = Some(ids);
            return Ok(self.store.open311_requests(&f).await?);
        }
        if let Some(codes) = non_empty(&q.service_code) {
            for code in codes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                f.category_ids.push(self.open311_service(code)?.category.id);
            }
        }
        if let Some(status) = non_empty(&q.status) {
            let mut open = false;
            let mut closed = false;
            for s in status.split(',').map(str::trim) {
                match s {
                    "open" => open = true,
                    "closed" => closed = true,
                    other => {
                        return Err(bad(
                            "status",
                            format!("status：只能是 open 或 closed，收到“{other}”"),
                        ));
                    }
                }
            }
            // The stages whose Open311 status was asked for: one rule, `status_of`.
            f.stages = (open != closed).then(|| {
                let wanted = if open { "open" } else { "closed" };
                Stage::ALL
                    .iter()
                    .filter(|s| status_of(**s) == wanted)
                    .map(|s| s.as_str().to_owned())
                    .collect()
            });
        }
        let start = parse_time("start_date", &q.start_date)?;
        let end = parse_time("end_date", &q.end_date)?;
        f.updated_from = parse_time("updated_after", &q.updated_after)?;
        f.updated_to = parse_time("updated_before", &q.updated_before)?;
        let window = MAX_WINDOW_DAYS * DAY_MS;
        let (from, to) = match (start, end) {
            (Some(s), Some(e)) => (Some(s), Some(e)),
            (Some(s), None) => (Some(s), Some(s.saturating_add(window))),
            (None, Some(e)) => (Some(e.saturating_sub(window)), Some(e)),
            // A changeset download asks by update time only.
            (None, None) if f.updated_from.is_some() || f.updated_to.is_some() => (None, None),
            (None, None) => {
                let now = self.now();
                (Some(now - window), Some(now))
            }
        };
        if let (Some(s), Some(e)) = (from, to) {
            if e < s {
                return Err(bad(
                    "end_date",
                    "end_date：不能早于 start_date / before start_date",
                ));
            }
            if e - s > window {
                return Err(bad(
                    "end_date",
                    format!(
                        "end_date：查询区间不能超过 {MAX_WINDOW_DAYS} 天 / the range may not exceed {MAX_WINDOW_DAYS} days"
                    ),
                ));
            }
        }
        f.created_from = from;
        f.created_to = to;
        Ok(self.store.open311_requests(&f).await?)
    }

    /// `GET requests/{id}`.
    pub async fn open311_request(
        &self,
        jurisdiction_id: &Option<String>,
        id: &str,
        client: Option<&Client>,
    ) -> Result<Open311Case, AppError> {
        let not_found = || {
            AppError::NotFound(format!(
                "service_request_id：没有编号为 {id} 的诉求 / unknown service_request_id"
            ))
        };
        let n = id.trim().parse::<i64>().map_err(|_| not_found())?;
        let f = RequestFilter {
            scope_path: self.open311_scope(jurisdiction_id).await?,
            ids: Some(vec![n]),
            key_id: client.map(|c| c.key_id),
            limit: 1,
            ..RequestFilter::default()
        };
        self.store
            .open311_requests(&f)
            .await?
            .into_iter()
            .next()
            .ok_or_else(not_found)
    }

    /// `GET tokens/{token}`: the case number a token stands for.
    pub async fn open311_token(&self, token: &str) -> Result<i64, AppError> {
        self.store
            .open311_token(token.trim())
            .await?
            .ok_or_else(|| AppError::NotFound("token：没有这个令牌 / unknown token".into()))
    }

    /// `GET servicerequestupdates`: public timeline rows between `start_date` and `end_date`
    /// (default: the last 24 hours; at most 90 days).
    pub async fn open311_updates(
        &self,
        q: &RequestQuery,
        client: Option<&Client>,
    ) -> Result<Vec<Open311Update>, AppError> {
        let scope_path = self.open311_scope(&q.jurisdiction_id).await?;
        let page = parse_count("page", &q.page, 1, i64::MAX)?.unwrap_or(1);
        let page_size = parse_count("page_size", &q.page_size, 1, MAX_ROWS)?.unwrap_or(MAX_ROWS);
        let now = self.now();
        let start = parse_time("start_date", &q.start_date)?;
        let end = parse_time("end_date", &q.end_date)?;
        let to = end.unwrap_or(now + 1);
        let from = start.unwrap_or(to - DAY_MS);
        if to < from {
            return Err(bad(
                "end_date",
                "end_date：不能早于 start_date / before start_date",
            ));
        }
        if to - from > MAX_WINDOW_DAYS * DAY_MS {
            return Err(bad(
                "end_date",
                format!(
                    "end_date：查询区间不能超过 {MAX_WINDOW_DAYS} 天 / the range may not exceed {MAX_WINDOW_DAYS} days"
                ),
            ));
        }
        Ok(self
            .store
            .open311_updates(&UpdateFilter {
                scope_path,
                from,
                to,
                key_id: client.map(|c| c.key_id),
                limit: page_size,
                offset: (page - 1).saturating_mul(page_size),
            })
            .await?)
    }
}

/// Who answers for a case, as `agency_responsible`: the handling unit, else the community.
pub fn agency_of(case: &Open311Case) -> Option<String> {
    case.unit_name
        .clone()
        .or_else(|| case.community_name.as_ref().map(|c| format!("{c}居委会")))
}

fn parse_time(param: &str, v: &Option<String>) -> Result<Option<i64>, AppError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) => jinlin_domain::deadlines::parse_w3c(s)
            .map(Some)
            .ok_or_else(|| {
                bad(
                    param,
                    format!("{param}：时间格式应为 2026-12-01T00:00:00+08:00（W3C），收到“{s}”"),
                )
            }),
    }
}

fn parse_count(
    param: &str,
    v: &Option<String>,
    min: i64,
    max: i64,
) -> Result<Option<i64>, AppError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(bad(
                param,
                if max == i64::MAX {
                    format!("{param}：应为不小于 {min} 的整数，收到“{s}”")
                } else {
                    format!("{param}：应为 {min} 到 {max} 之间的整数，收到“{s}”")
                },
            )),
        },
    }
}

/// Per-key request counts of the current minute.
pub(crate) type RateWindows = HashMap<i64, (i64, i64)>;
