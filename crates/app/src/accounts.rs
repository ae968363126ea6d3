//! Sign-in, sessions, API tokens, staff accounts and their posts.

use base64::Engine;
use jinlin_domain::accounts::{PostKind, Role};
use jinlin_store::accounts::{NewUser, PostView, User};
use sha2::{Digest, Sha256};

use crate::{Actor, App, AppError, Page};

/// A verified sign-in: the cookie value and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
}

/// A live session resolved from its cookie.
#[derive(Debug, Clone)]
pub struct SessionActor {
    pub actor: Actor,
    pub csrf_token: String,
}

/// Random URL-safe token with 256 bits of entropy.
pub fn random_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(format!("getrandom: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Only hashes of session and API tokens are stored, so a leaked database grants no access.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A readable generated password (no 0/O/1/l confusion) for accounts created without one.
pub fn generate_password() -> Result<String, AppError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 14];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(format!("getrandom: {e}")))?;
    let mut s: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    // Guarantee the mix the password rule asks for.
    s.push('7');
    s.push('k');
    Ok(s)
}

pub fn validate_password(password: &str) -> Result<(), AppError> {
    let chars = password.chars().count();
    let has_letter = password.chars().any(|c| c.is_ascii_alphabetic());
    let has_digit = password.chars().any(|c| c.is_ascii_digit());
    if !(8..=128).contains(&chars) || !has_letter || !has_digit {
        return Err(AppError::invalid(
            "password",
            "密码须为 8–128 位，且同时包含字母和数字",
        ));
    }
    Ok(())
}

/// The password typed (checked against the rule) or a generated one, which is returned a
/// second time so it can be shown once.
fn given_or_generated(password: Option<String>) -> Result<(String, Option<String>), AppError> {
    match password.filter(|p| !p.is_empty()) {
        Some(p) => {
            validate_password(&p)?;
            Ok((p, None))
        }
        None => {
            let p = generate_password()?;
            Ok((p.clone(), Some(p)))
        }
    }
}

pub fn validate_username(username: &str) -> Result<(), AppError> {
    let ok = (3..=32).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
        && username
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "username",
            "用户名须为 3–32 位小写字母、数字或 _ . -，并以字母开头",
        ))
    }
}

/// Mainland mobile numbers: 11 digits starting 13–19 (the domain's rule), exactly as given.
pub fn validate_mobile(field: &str, phone: &str) -> Result<(), AppError> {
    match jinlin_domain::people::parse_mobile(phone) {
        Ok(m) if m.as_str() == phone => Ok(()),
        _ => Err(AppError::invalid(
            field,
            "手机号须为 11 位数字，以 13–19 开头",
        )),
    }
}

/// Argon2id in a blocking thread; the semaphore keeps at most two hashes running.
pub async fn hash_password(app: &App, password: &str) -> Result<String, AppError> {
    let _permit = app
        .hashing
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || password_auth::generate_hash(password))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
}

async fn verify_password(app: &App, password: &str, hash: &str) -> Result<bool, AppError> {
    let _permit = app
        .hashing
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || password_auth::verify_password(password, &hash).is_ok())
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
}

pub fn actor_of(user: &User) -> Actor {
    Actor {
        user_id: Some(user.id),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        role: user.role,
        region_id: user.region_id,
        region_code: user.region_code.clone(),
        region_name: user.region_name.clone(),
        scope_path: user.region_path.clone(),
        request_id: None,
        ip: None,
    }
}

/// Context of a request for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

fn anonymous_audit(
    meta: &RequestMeta,
    actor_id: Option<i64>,
    name: &str,
    action: &str,
    outcome: &str,
    detail: String,
) -> jinlin_store::audit::NewAudit {
    jinlin_store::audit::NewAudit {
        actor_id,
        actor_name: name.into(),
        action: action.into(),
        target: format!("user:{name}"),
        outcome: outcome.into(),
        detail,
        request_id: meta.request_id.clone(),
        ip: meta.ip.clone(),
        tenant: None,
    }
}

impl App {
    /// Password sign-in with lockout; every attempt is audited.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> Result<NewSession, AppError> {
        let now = self.now();
        let username = username.trim().to_lowercase();
        let Some(user) = self.store.user_by_username(&username).await? else {
            let _ = verify_password(self, password, &self.dummy_hash).await;
            self.store
                .append_audit(
                    &anonymous_audit(meta, None, &username, "login", "failed", "未知用户".into()),
                    now,
                )
                .await?;
            return Err(AppError::BadCredentials);
        };
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            self.store
                .append_audit(
                    &anonymous_audit(
                        meta,
                        Some(user.id),
                        &username,
                        "login",
                        "denied",
                        "账号锁定中".into(),
                    ),
                    now,
                )
                .await?;
            return Err(AppError::Locked {
                minutes: ((until - now) / 60_000).max(1),
            });
        }
        if !user.active {
            let _ = verify_password(self, password, &self.dummy_hash).await;
            self.store
                .append_audit(
                    &anonymous_audit(
                        meta,
                        Some(user.id),
                        &username,
                        "login",
                        "denied",
                        "账号已停用".into(),
                    ),
                    now,
                )
                .await?;
            return Err(AppError::BadCredentials);
        }
        if !verify_password(self, password, &user.password_hash).await? {
            let locked = self
                .store
                .record_login_failure(
                    user.id,
                    now,
                    self.settings.lockout_failures,
                    self.settings.lockout_minutes * 60_000,
                )
                .await?;
            let detail = match locked {
                Some(_) => format!(
                    "密码错误，已连续 {} 次，账号锁定",
                    self.settings.lockout_failures
                ),
                None => "密码错误".to_string(),
            };
            self.store
                .append_audit(
                    &anonymous_audit(meta, Some(user.id), &username, "login", "failed", detail),
                    now,
                )
                .await?;
            return Err(match locked {
                Some(_) => AppError::Locked {
                    minutes: self.settings.lockout_minutes,
                },
                None => AppError::BadCredentials,
            });
        }
        self.store.reset_login_failures(user.id).await?;
        let token = random_token()?;
        let csrf_token = random_token()?;
        self.store
            .create_session(
                &token_hash(&token),
                user.id,
                &csrf_token,
                meta.user_agent.as_deref(),
                now,
            )
            .await?;
        self.store
            .append_audit(
                &anonymous_audit(meta, Some(user.id), &username, "login", "ok", String::new()),
                now,
            )
            .await?;
        Ok(NewSession { token, csrf_token })
    }

    pub async fn logout(&self, token: &str, actor: &Actor) -> Result<(), AppError> {
        self.store.delete_session(&token_hash(token)).await?;
        self.store
            .append_audit(
                &actor.audit(
                    "logout",
                    &format!("user:{}", actor.username),
                    "ok",
                    String::new(),
                ),
                self.now(),
            )
            .await?;
        Ok(())
    }

    /// Resolves a session cookie; idle sessions are ended here as well as by the sweeper.
    pub async fn session(&self, token: &str) -> Result<Option<SessionActor>, AppError> {
        let now = self.now();
        let hash = token_hash(token);
        let Some((session, user)) = self.store.session_by_token_hash(&hash).await? else {
            return Ok(None);
        };
        let idle_ms = self.settings.session_idle_minutes * 60_000;
        if now - session.last_seen_at > idle_ms || !user.active {
            self.store.delete_session(&hash).await?;
            return Ok(None);
        }
        // One write a minute is enough for the idle clock and spares the single SQLite writer.
        // That writer may be held for a minute by a large people import: then the clock waits
        // for a later request rather than this one waiting for the import.
        if now - session.last_seen_at > 60_000 {
            let touch = self.store.touch_session(session.id, now);
            if let Ok(done) =
                tokio::time::timeout(std::time::Duration::from_millis(250), touch).await
            {
                done?;
            }
        }
        Ok(Some(SessionActor {
            actor: actor_of(&user),
            csrf_token: session.csrf_token,
        }))
    }

    /// Ends sessions that have been idle too long (called periodically).
    pub async fn sweep_sessions(&self) -> Result<u64, AppError> {
        let cutoff = self.now() - self.settings.session_idle_minutes * 60_000;
        Ok(self.store.delete_idle_sessions(cutoff).await?)
    }

    /// Resolves an `Authorization: Bearer` token of a machine client.
    pub async fn api_actor(&self, token: &str) -> Result<Option<Actor>, AppError> {
        let user = self
            .store
            .user_by_api_token(&token_hash(token), self.now())
            .await?;
        Ok(user.filter(|u| u.active).as_ref().map(actor_of))
    }

    /// Issues an API token for a user; only the hash is kept, the token is shown once.
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        username: &str,
        name: &str,
    ) -> Result<String, AppError> {
        let user = self.user_in_scope_by_name(actor, username).await?;
        if actor.user_id != Some(user.id) && !actor.role.manages_staff() {
            return Err(AppError::Forbidden("无权为其他用户创建令牌".into()));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(AppError::invalid("name", "令牌名称须为 1–64 个字符"));
        }
        let token = format!("jl_{}", random_token()?);
        self.store
            .create_api_token(
                user.id,
                name,
                &token_hash(&token),
                &actor.audit(
                    "token.create",
                    &format!("user:{}", user.username),
                    "ok",
                    name.to_string(),
                ),
                self.now(),
            )
            .await?;
        Ok(token)
    }

    async fn user_in_scope_by_name(&self, actor: &Actor, username: &str) -> Result<User, AppError> {
        let user = self
            .store
            .user_by_username(username)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("用户 {username} 不存在")))?;
        self.require_user_in_scope(actor, user).await
    }

    async fn require_user_in_scope(&self, actor: &Actor, user: User) -> Result<User, AppError> {
        if actor.sees_path(&user.region_path) {
            Ok(user)
        } else {
            self.deny(actor, &format!("user:{}", user.username)).await
        }
    }

    /// Records a refused access and returns the 403 error.
    pub(crate) async fn deny<T>(&self, actor: &Actor, target: &str) -> Result<T, AppError> {
        self.store
            .append_audit(
                &actor.audit("access", target, "denied", "超出管辖范围".into()),
                self.now(),
            )
            .await?;
        Err(AppError::Forbidden("该数据不在您的管辖范围内".into()))
    }

    pub async fn user(&self, actor: &Actor, id: i64) -> Result<User, AppError> {
        let user = self
            .store
            .user_by_id(id)
            .await?
            .ok_or_else(|| AppError::NotFound("用户不存在".into()))?;
        self.require_user_in_scope(actor, user).await
    }

    pub async fn list_users(
        &self,
        actor: &Actor,
        query: Option<&str>,
        page: u32,
        page_size: u32,
    ) -> Result<Page<User>, AppError> {
        if !actor.role.is_staff() {
            return Err(AppError::Forbidden("仅工作人员可查看人员名单".into()));
        }
        let page = page.max(1);
        let page_size = page_size.clamp(1, 200);
        let query = query.map(str::trim).filter(|q| !q.is_empty());
        let (items, total) = self
            .store
            .list_users(&actor.scope_path, query, page, page_size)
            .await?;
        Ok(Page {
            items,
            total,
            page,
            page_size,
        })
    }

    /// Creates an account inside the actor's jurisdiction. Returns the new id and, when no
    /// password was given, the generated one (shown once).
    pub async fn create_user(
        &self,
        actor: &Actor,
        input: UserInput,
    ) -> Result<(i64, Option<String>), AppError> {
        if !actor.role.manages_staff() {
            return Err(AppError::Forbidden(
                "仅社区、街道工作人员和系统管理员可以创建账号".into(),
            ));
        }
        let username = input.username.trim().to_lowercase();
        validate_username(&username)?;
        let display_name = input.display_name.trim().to_string();
        if display_name.is_empty() || display_name.chars().count() > 32 {
            return Err(AppError::invalid("display_name", "姓名须为 1–32 个字符"));
        }
        if input.role == Role::Sysadmin && actor.role != Role::Sysadmin {
            return Err(AppError::Forbidden(
                "只有系统管理员可以创建系统管理员".into(),
            ));
        }
        let work_phone = input
            .work_phone
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        if let Some(phone) = &work_phone {
            validate_mobile("work_phone", phone)?;
        }
        let region = self
            .store
            .region_by_code(input.region_code.trim())
            .await?
            .ok_or_else(|| {
                AppError::invalid(
                    "region",
                    format!("所属区划 {} 不存在", input.region_code.trim()),
                )
            })?;
        if !actor.sees_path(&region.path) {
            return self.deny(actor, &format!("region:{}", region.code)).await;
        }
        let (password, generated) = given_or_generated(input.password)?;
        let password_hash = hash_password(self, &password).await?;
        let id = self
            .store
            .create_user(
                &NewUser {
                    username: username.clone(),
                    display_name,
                    role: input.role,
                    region_code: region.code.clone(),
                    work_phone,
                    password_hash,
                },
                &actor.audit(
                    "user.create",
                    &format!("user:{username}"),
                    "ok",
                    format!("角色 {}，所属 {}", input.role.as_str(), region.code),
                ),
                self.now(),
            )
            .await?;
        Ok((id, generated))
    }

    pub async fn set_user_active(
        &self,
        actor: &Actor,
        user_id: i64,
        active: bool,
    ) -> Result<(), AppError> {
        if !actor.role.manages_staff() {
            return Err(AppError::Forbidden("无权停用或启用账号".into()));
        }
        let user = self.user(actor, user_id).await?;
        if actor.user_id == Some(user.id) {
            return Err(AppError::invalid("active", "不能停用自己的账号"));
        }
        let action = if active {
            "user.enable"
        } else {
            "user.disable"
        };
        self.store
            .set_active(
                user.id,
                active,
                &actor.audit(
                    action,
                    &format!("user:{}", user.username),
                    "ok",
                    String::new(),
                ),
                self.now(),
            )
            .await?;
        Ok(())
    }

    /// Resets a password (admin) or changes one's own; ends the user's sessions.
    pub async fn set_password(
        &self,
        actor: &Actor,
        user_id: i64,
        password: Option<String>,
    ) -> Result<Option<String>, AppError> {
        let user = self.user(actor, user_id).await?;
        if actor.user_id != Some(user.id) && !actor.role.manages_staff() {
            return Err(AppError::Forbidden("无权重置他人密码".into()));
        }
        let (password, generated) = given_or_generated(password)?;
        let hash = hash_password(self, &password).await?;
        self.store
            .set_password(
                user.id,
                &hash,
                &actor.audit(
                    "user.password",
                    &format!("user:{}", user.username),
                    "ok",
                    String::new(),
                ),
                self.now(),
            )
            .await?;
        Ok(generated)
    }

    /// Assigns a post (网格长/网格员 at a grid, 楼栋长 at a building, 社区民警 at a community).
    pub async fn assign_post(
        &self,
        actor: &Actor,
        username: &str,
        region_code: &str,
        kind: PostKind,
    ) -> Result<(), AppError> {
        if !actor.role.manages_staff() {
            return Err(AppError::Forbidden("无权调整岗位".into()));
        }
        let user = self.user_in_scope_by_name(actor, username.trim()).await?;
        let region = self.region(actor, region_code.trim()).await?;
        if region.level != kind.level() {
            return Err(AppError::invalid(
                "kind",
                format!(
                    "{}岗位只能设在{}上，{} 是{}",
                    kind.zh(),
                    kind.level().zh(),
                    region.name,
                    region.level.zh()
                ),
            ));
        }
        self.store
            .assign_post(
                user.id,
                &region.code,
                kind,
                &actor.audit(
                    "post.assign",
                    &format!("region:{}", region.code),
                    "ok",
                    format!("{} {}", kind.as_str(), user.username),
                ),
                self.now(),
            )
            .await
            .map_err(|e| match AppError::from(e) {
                AppError::Conflict { .. } => AppError::Conflict {
                    field: "kind".into(),
                    message: format!("{} 已是{}的{}", user.display_name, region.name, kind.zh()),
                },
                other => other,
            })?;
        Ok(())
    }

    pub async fn remove_post(
        &self,
        actor: &Actor,
        region_code: &str,
        post_id: i64,
    ) -> Result<(), AppError> {
        if !actor.role.manages_staff() {
            return Err(AppError::Forbidden("无权调整岗位".into()));
        }
        let region = self.region(actor, region_code).await?;
        let posts = self.store.posts_at(region.id).await?;
        let post = posts
            .iter()
            .find(|p| p.id == post_id)
            .ok_or_else(|| AppError::NotFound("岗位不存在".into()))?;
        self.store
            .remove_post(
                post.id,
                &actor.audit(
                    "post.remove",
                    &format!("region:{}", region.code),
                    "ok",
                    format!("{} {}", post.kind.as_str(), post.username),
                ),
                self.now(),
            )
            .await?;
        Ok(())
    }

    pub async fn posts_of_user(
        &self,
        actor: &Actor,
        user_id: i64,
    ) -> Result<Vec<(PostView, String, String)>, AppError> {
        let user = self.user(actor, user_id).await?;
        Ok(self.store.posts_of_user(user.id).await?)
    }
}

/// What a form or the CLI gives to create an account.
#[derive(Debug, Clone)]
pub struct UserInput {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub region_code: String,
    pub work_phone: Option<String>,
    pub password: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rule() {
        assert!(validate_username("grid01").is_ok());
        assert!(validate_username("1grid").is_err());
        assert!(validate_username("张三").is_err());
        assert!(validate_username("ab").is_err());
    }

    #[test]
    fn mobiles_are_eleven_digits() {
        assert!(validate_mobile("p", "13812345678").is_ok());
        assert!(validate_mobile("p", "12812345678").is_err());
        assert!(validate_mobile("p", "1381234567").is_err());
        assert!(validate_mobile("p", "1381234567a").is_err());
    }

    #[test]
    fn generated_passwords_pass_the_password_rule() {
        for _ in 0..20 {
            assert!(validate_password(&generate_password().unwrap()).is_ok());
        }
        assert!(validate_password("short1").is_err());
        assert!(validate_password("onlyletters").is_err());
    }

    #[test]
    fn token_hashes_are_stable_and_distinct() {
        assert_eq!(token_hash("a"), token_hash("a"));
        assert_ne!(token_hash("a"), token_hash("b"));
        assert_ne!(random_token().unwrap(), random_token().unwrap());
    }
}

// ----- resident sign-up ----------------------------------------------------------------------

/// Sends a text message. The default [`LogSms`] writes it to the log; a county plugs in its SMS
/// gateway here.
pub trait SmsSender: Send + Sync {
    fn send(&self, phone: &str, text: &str) -> Result<(), AppError>;
}

/// Writes the message to the log, the phone number masked (for demos and intranets without an
/// SMS gateway: the desk reads the code from the log and tells the caller).
pub struct LogSms;

impl SmsSender for LogSms {
    fn send(&self, phone: &str, text: &str) -> Result<(), AppError> {
        tracing::info!(phone = %crate::cases::mask_phone(phone), text, "sms");
        Ok(())
    }
}

const SIGNUP: &str = "signup";
/// A code is good for 10 minutes and 5 guesses; one per minute and 5 per hour per number.
const CODE_TTL_MS: i64 = 10 * 60_000;
const CODE_GUESSES: i64 = 5;
const CODE_GAP_MS: i64 = 60_000;
const CODES_PER_HOUR: i64 = 5;

fn code_hash(phone: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("jinlin-sms:{phone}:{code}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a resident fills in to open an account.
#[derive(Debug, Clone, Default)]
pub struct SignUp {
    pub phone: String,
    pub code: String,
    pub password: String,
    pub display_name: String,
    /// The community, compound, grid or building they live in.
    pub region_code: String,
}

impl App {
    /// Sends a sign-up verification code to a mobile number not yet registered.
    pub async fn send_signup_code(&self, phone: &str, meta: &RequestMeta) -> Result<(), AppError> {
        let phone = phone.trim();
        validate_mobile("phone", phone)?;
        if self.store.user_by_username(phone).await?.is_some() {
            return Err(AppError::invalid(
                "phone",
                "手机号：该号码已注册，请直接登录",
            ));
        }
        let now = self.now();
        if let Some(last) = self.store.latest_sms_code(phone, SIGNUP).await?
            && now - last.created_at < CODE_GAP_MS
        {
            let wait = (CODE_GAP_MS - (now - last.created_at)) / 1000 + 1;
            return Err(AppError::invalid(
                "phone",
                format!("验证码：发送太频繁，请 {wait} 秒后再试"),
            ));
        }
        if self.store.sms_codes_since(phone, now - 3_600_000).await? >= CODES_PER_HOUR {
            return Err(AppError::invalid(
                "phone",
                "验证码：一小时内最多获取 5 次，请稍后再试",
            ));
        }
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(format!("getrandom: {e}")))?;
        let code = format!("{:06}", u32::from_le_bytes(bytes) % 1_000_000);
        self.store
            .insert_sms_code(
                phone,
                SIGNUP,
                &code_hash(phone, &code),
                now,
                now + CODE_TTL_MS,
            )
            .await?;
        self.sms.send(
            phone,
            &format!("【近邻】您的注册验证码是{code}，10分钟内有效。如非本人操作请忽略。"),
        )?;
        let masked = crate::cases::mask_phone(phone);
        self.store
            .append_audit(
                &anonymous_audit(meta, None, &masked, "signup.code", "ok", String::new()),
                now,
            )
            .await?;
        Ok(())
    }

    /// Opens a resident account with a verified mobile number and signs it in.
    pub async fn sign_up(&self, form: SignUp, meta: &RequestMeta) -> Result<NewSession, AppError> {
        let phone = form.phone.trim().to_owned();
        validate_mobile("phone", &phone)?;
        let name = form.display_name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 32 {
            return Err(AppError::invalid("display_name", "姓名：须为 1–32 个字"));
        }
        validate_password(&form.password)?;
        let region = self
            .store
            .region_by_code(form.region_code.trim())
            .await?
            .filter(|r| {
                matches!(
                    r.level,
                    jinlin_domain::regions::RegionLevel::Community
                        | jinlin_domain::regions::RegionLevel::Compound
                        | jinlin_domain::regions::RegionLevel::Grid
                        | jinlin_domain::regions::RegionLevel::Building
                )
            })
            .ok_or_else(|| AppError::invalid("region_code", "居住社区：请选择您居住的社区"))?;
        let now = self.now();
        let code = form.code.trim();
        let stored = self
            .store
            .latest_sms_code(&phone, SIGNUP)
            .await?
            .filter(|c| c.used_at.is_none() && c.expires_at > now)
            .ok_or_else(|| AppError::invalid("code", "验证码：已过期或未获取，请重新获取"))?;
        if stored.attempts >= CODE_GUESSES {
            return Err(AppError::invalid(
                "code",
                "验证码：错误次数过多，请重新获取",
            ));
        }
        let given = code_hash(&phone, code);
        let same = given.len() == stored.code_hash.len()
            && given
                .bytes()
                .zip(stored.code_hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            self.store.sms_code_failed(stored.id).await?;
            return Err(AppError::invalid("code", "验证码：不正确，请核对短信"));
        }
        let password_hash = hash_password(self, &form.password).await?;
        let masked = crate::cases::mask_phone(&phone);
        self.store
            .create_user_with_code(
                &NewUser {
                    username: phone.clone(),
                    display_name: name,
                    role: Role::Resident,
                    region_code: region.code.clone(),
                    work_phone: None,
                    password_hash,
                },
                stored.id,
                &anonymous_audit(
                    meta,
                    None,
                    &masked,
                    "signup",
                    "ok",
                    format!("居住 {}", region.code),
                ),
                now,
            )
            .await
            .map_err(|e| match e {
                jinlin_store::StoreError::Conflict { field } if field == "username" => {
                    AppError::invalid("phone", "手机号：该号码已注册，请直接登录")
                }
                jinlin_store::StoreError::Conflict { .. } => {
                    AppError::invalid("code", "验证码：已被使用，请重新获取")
                }
                other => other.into(),
            })?;
        self.login(&phone, &form.password, meta).await
    }
}
