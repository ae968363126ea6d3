//! Configuration: defaults < file < environment (`JINLIN_*`) < command-line flags.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub listen: String,
    pub session_idle_minutes: i64,
    pub lockout_failures: i64,
    pub lockout_minutes: i64,
    pub cookie_secure: bool,
    pub tile_url: Option<String>,
    pub log_format: String,
    /// Photos per submission, and megabytes per photo.
    pub max_photos: usize,
    pub max_photo_mb: usize,
    /// Optional outbound webhook for case events (HMAC-SHA256 signed with webhook_secret).
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    /// Field-encryption keys for ID and phone numbers (default: data_dir/field-keys).
    pub key_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./jinlin-data"),
            database_url: None,
            listen: "127.0.0.1:8080".into(),
            session_idle_minutes: 30,
            lockout_failures: 5,
            lockout_minutes: 15,
            cookie_secure: false,
            tile_url: None,
            log_format: "text".into(),
            max_photos: 9,
            max_photo_mb: 10,
            webhook_url: None,
            webhook_secret: None,
            key_file: None,
        }
    }
}

/// Flags that override everything else when given.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

/// Only these `JINLIN_*` variables are configuration (others, such as test settings, are not).
const KEYS: [&str; 14] = [
    "data_dir",
    "database_url",
    "listen",
    "session_idle_minutes",
    "lockout_failures",
    "lockout_minutes",
    "cookie_secure",
    "tile_url",
    "log_format",
    "max_photos",
    "max_photo_mb",
    "webhook_url",
    "webhook_secret",
    "key_file",
];

impl Config {
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                anyhow::bail!("配置文件 {} 不存在", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            .merge(Env::prefixed("JINLIN_").only(&KEYS))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| anyhow::anyhow!("配置有误：{e}"))?;
        for (name, value) in [
            ("session_idle_minutes", config.session_idle_minutes),
            ("lockout_failures", config.lockout_failures),
            ("lockout_minutes", config.lockout_minutes),
            ("max_photos", config.max_photos as i64),
            ("max_photo_mb", config.max_photo_mb as i64),
        ] {
            if value < 1 {
                anyhow::bail!("配置项 {name} 须为正整数，当前为 {value}");
            }
        }
        if let Some(url) = config
            .webhook_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            jinlin_app::webhooks::check_url(url.trim())
                .map_err(|e| anyhow::anyhow!("配置有误：{e}"))?;
        }
        Ok(config)
    }

    /// The database URL: as configured, or a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.sqlite_path().display()),
        }
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("jinlin.db")
    }

    pub fn is_postgres(&self) -> bool {
        let url = self.database_url();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    pub fn settings(&self) -> jinlin_app::Settings {
        jinlin_app::Settings {
            session_idle_minutes: self.session_idle_minutes,
            lockout_failures: self.lockout_failures,
            lockout_minutes: self.lockout_minutes,
            tile_url: self.tile_url.clone().filter(|u| !u.trim().is_empty()),
            data_dir: self.data_dir.clone(),
            max_photos: self.max_photos,
            max_photo_bytes: self.max_photo_mb.saturating_mul(1024 * 1024),
            webhook_url: self.webhook_url.clone().filter(|u| !u.trim().is_empty()),
            webhook_secret: self.webhook_secret.clone().filter(|u| !u.is_empty()),
            key_file: self.key_file.clone(),
        }
    }
}

pub const EXAMPLE: &str = r#"# Jinlin (近邻) configuration. Every key may also be set as an environment variable
# JINLIN_<KEY> (e.g. JINLIN_LISTEN=0.0.0.0:8080); command-line flags win over both.

# Where the SQLite database and uploaded files live.
data_dir = "./jinlin-data"

# Leave unset for the embedded SQLite database in data_dir.
# For PostgreSQL: database_url = "postgres://jinlin@127.0.0.1:5432/jinlin"
# database_url = ""

# Address and port to serve on. Put a TLS-terminating proxy in front for the internet.
listen = "127.0.0.1:8080"

# Sign-out after this many minutes without activity (等保: idle timeout).
session_idle_minutes = 30

# Lock an account after this many wrong passwords in a row, for lockout_minutes.
lockout_failures = 5
lockout_minutes = 15

# Set to true when Jinlin is reached over HTTPS, so cookies are sent only over TLS.
cookie_secure = false

# Optional base-map tiles for the grid map, e.g. the county's own tile server.
# Without it the map shows grid polygons on a blank background and makes no outside request.
# tile_url = "https://tiles.example.gov.cn/{z}/{x}/{y}.png"

# "text" for people, "json" for log collectors. Logs never contain personal data.
log_format = "text"

# Photos a resident or worker may attach to one report, and the largest photo in megabytes
# (JPEG, PNG or WebP; stored under data_dir/photos).
max_photos = 9
max_photo_mb = 10

# Optional: POST every case event as JSON to this URL, signed with
# X-Jinlin-Signature: sha256=<HMAC-SHA256 of the body with webhook_secret>.
# Failed deliveries are retried with backoff; after the last try they show as dead letters.
# webhook_url = "https://hub.example.gov.cn/jinlin"
# webhook_secret = "change-me"

# The keys that encrypt ID and phone numbers (AES-256-GCM) and make their search indexes. Created
# (mode 0600) on first use. Keep it out of database backups, back it up separately: without it
# the numbers cannot be read. `jinlin keys rotate` adds a new key and re-encrypts.
# key_file = "./jinlin-data/field-keys"
"#;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_matches_the_defaults() {
        let dir = std::env::temp_dir().join(format!("jinlin-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jinlin.toml");
        std::fs::write(&file, EXAMPLE).unwrap();
        let c = Config::load(Some(&file), Overrides::default()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.session_idle_minutes, 30);
        assert!(!c.is_postgres());
        let c = Config::load(
            Some(&file),
            Overrides {
                listen: Some("127.0.0.1:9999".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9999", "flags win over the file");
        std::fs::write(&file, "lockout_failures = 0\n").unwrap();
        let err = Config::load(Some(&file), Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("lockout_failures"), "{err}");
        std::fs::write(&file, "listne = \"x\"\n").unwrap();
        assert!(
            Config::load(Some(&file), Overrides::default()).is_err(),
            "typos are reported"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
