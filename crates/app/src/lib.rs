//! Jinlin's use cases and authorization policy.
//!
//! Every use case takes the acting [`Actor`] and enforces jurisdiction here, so pages, the JSON
//! API and the CLI cannot drift apart in what they allow.

pub mod accounts;
pub mod audit;
pub mod cases;
pub mod categories;
pub mod demo;
mod error;
mod intake;
pub mod open311;
pub mod people;
pub mod regions;
pub mod stats;
pub mod vault;
pub mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// `(category id, region id) → unit id`.
pub type RouteTable = HashMap<(i64, i64), i64>;

pub use error::AppError;
use jinlin_domain::grids::GridIndex;
/// Row types the web layer renders (regions, users, posts, audit rows).
pub use jinlin_store as store;
pub use jinlin_store::Store;

/// Policy knobs that come from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Sessions unused for this long are ended (等保: idle timeout).
    pub session_idle_minutes: i64,
    /// Failed logins in a row that lock an account.
    pub lockout_failures: i64,
    /// How long a locked account stays locked.
    pub lockout_minutes: i64,
    /// Optional base-map tile URL template; none by default so no request leaves the machine.
    pub tile_url: Option<String>,
    /// Where photos and other files live (the database may live elsewhere).
    pub data_dir: std::path::PathBuf,
    /// Photos per submission and bytes per photo.
    pub max_photos: usize,
    pub max_photo_bytes: usize,
    /// Optional outbound webhook: case events are POSTed there, HMAC-SHA256 signed.
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    /// The field-encryption key file (outside the database and its backups); by default
    /// `data_dir/field-keys`.
    pub key_file: Option<std::path::PathBuf>,
}

impl Settings {
    pub fn key_file(&self) -> std::path::PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("field-keys"))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_idle_minutes: 30,
            lockout_failures: 5,
            lockout_minutes: 15,
            tile_url: None,
            data_dir: std::path::PathBuf::from("jinlin-data"),
            max_photos: 9,
            max_photo_bytes: 10 * 1024 * 1024,
            webhook_url: None,
            webhook_secret: None,
            key_file: None,
        }
    }
}

/// Milliseconds since the Unix epoch; injectable so tests can move time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    })
}

/// The application: store, settings and the in-memory grid index shared by all requests.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub settings: Settings,
    clock: Clock,
    grid_index: Arc<RwLock<Arc<GridIndex>>>,
    /// Region chains (ancestors, then the region) by code, filled as intake asks; cleared when
    /// the tree changes (grid imports).
    chains: Arc<RwLock<HashMap<String, Arc<Vec<jinlin_store::regions::Region>>>>>,
    /// The routing table `(category, region) → unit`, read on every intake; reloaded on edits.
    routes: Arc<RwLock<Arc<RouteTable>>>,
    /// Active categories, read on every intake; reloaded after an edit.
    categories: Arc<RwLock<Arc<Vec<jinlin_store::cases::Category>>>>,
    /// The working-day calendar, reloaded after an edit.
    calendar: Arc<RwLock<Arc<jinlin_domain::deadlines::Calendar>>>,
    /// SQLite's group commit for intake (None on PostgreSQL).
    intake: Option<intake::IntakeQueue>,
    /// Where sign-up verification codes go (the log by default; a county plugs in its SMS gateway).
    sms: Arc<dyn accounts::SmsSender>,
    /// Argon2 is memory-hard; on 2 cores a burst of logins must not starve everything else.
    hashing: Arc<tokio::sync::Semaphore>,
    /// A real Argon2 hash checked for unknown users, so their sign-in costs the same time.
    dummy_hash: Arc<String>,
    /// Open311 keys' request counts in the current minute.
    open311_windows: Arc<std::sync::Mutex<open311::RateWindows>>,
    /// The field cipher, loaded from the key file on first use.
    cipher: Arc<tokio::sync::OnceCell<Arc<dyn vault::FieldCipher>>>,
    /// Reveals of full numbers per account in the last hour.
    reveals: Arc<std::sync::Mutex<people::RevealWindows>>,
}

impl App {
    pub async fn new(store: Store, settings: Settings) -> Result<App, AppError> {
        Self::with_clock(store, settings, system_clock()).await
    }

    pub async fn with_clock(
        store: Store,
        settings: Settings,
        clock: Clock,
    ) -> Result<App, AppError> {
        let intake = (store.backend() == jinlin_store::Backend::Sqlite)
            .then(|| intake::IntakeQueue::start(store.clone()));
        let app = App {
            intake,
            store,
            settings,
            clock,
            grid_index: Arc::new(RwLock::new(Arc::new(GridIndex::new(Vec::new())))),
            chains: Arc::new(RwLock::new(HashMap::new())),
            routes: Arc::new(RwLock::new(Arc::new(HashMap::new()))),
            categories: Arc::new(RwLock::new(Arc::new(Vec::new()))),
            calendar: Arc::new(RwLock::new(Arc::new(
                jinlin_domain::deadlines::Calendar::new(),
            ))),
            sms: Arc::new(accounts::LogSms),
            hashing: Arc::new(tokio::sync::Semaphore::new(2)),
            dummy_hash: Arc::new(String::new()),
            open311_windows: Arc::default(),
            cipher: Arc::default(),
            reveals: Arc::default(),
        };
        let dummy = accounts::hash_password(&app, &accounts::random_token()?).await?;
        let app = App {
            dummy_hash: Arc::new(dummy),
            ..app
        };
        app.reload_grid_index().await?;
        app.seed_categories().await?;
        app.seed_care_tags().await?;
        app.reload_categories().await?;
        app.reload_calendar().await?;
        app.reload_routes().await?;
        Ok(app)
    }

    /// Encrypts personal data with `cipher` instead of the key file's ring.
    pub fn with_cipher(self, cipher: Arc<dyn vault::FieldCipher>) -> App {
        App {
            cipher: Arc::new(tokio::sync::OnceCell::new_with(Some(cipher))),
            ..self
        }
    }

    /// Sends sign-up codes through `sms` instead of the log.
    pub fn with_sms(self, sms: Arc<dyn accounts::SmsSender>) -> App {
        App { sms, ..self }
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// Who is acting: a signed-in staff member or resident, an API client, or the local CLI.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub username: String,
    pub display_name: String,
    pub role: jinlin_domain::accounts::Role,
    pub region_id: i64,
    pub region_code: String,
    pub region_name: String,
    /// Materialised path of the account's region; everything it may see starts with it.
    pub scope_path: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    /// The operator at the server's console (CLI): full jurisdiction, audited by name.
    pub fn console() -> Actor {
        Actor {
            user_id: None,
            username: "console".into(),
            display_name: "命令行".into(),
            role: jinlin_domain::accounts::Role::Sysadmin,
            region_id: 0,
            region_code: String::new(),
            region_name: String::new(),
            scope_path: "/".into(),
            request_id: None,
            ip: None,
        }
    }

    pub fn sees_path(&self, path: &str) -> bool {
        path.starts_with(&self.scope_path)
    }

    pub(crate) fn audit(
        &self,
        action: &str,
        target: &str,
        outcome: &str,
        detail: String,
    ) -> jinlin_store::audit::NewAudit {
        jinlin_store::audit::NewAudit {
            actor_id: self.user_id,
            actor_name: self.username.clone(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.into(),
            detail,
            request_id: self.request_id.clone(),
            ip: self.ip.clone(),
            tenant: None,
        }
    }
}

/// One page of a list, with the total for "第 2 / 9 页".
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

impl<T> Page<T> {
    pub fn pages(&self) -> u32 {
        let size = i64::from(self.page_size.max(1));
        (((self.total + size - 1) / size).max(1)) as u32
    }
}
