//! Field-level encryption ("vault") for ID numbers, phone numbers, door numbers and sensitive
//! tags (DESIGN section 5; reference/crates-and-security.md A.13), with keyed blind indexes so
//! encrypted columns can still be searched by exact value.
//!
//! # Encryption
//!
//! [`FieldCipher`] is the seam: [`KeyRing`] implements it with AES-256-GCM; a 国密 implementation
//! (SM4-GCM + HMAC-SM3) or one backed by a server crypto machine can take its place later without
//! touching the callers.
//!
//! A ciphertext is base64 text (for a TEXT column) of
//!
//! ```text
//! version (1 byte, 0x01) | key id (u32, big-endian) | nonce (12 random bytes) | ciphertext | tag (16)
//! ```
//!
//! The associated data binds a ciphertext to its place: the 5 header bytes, then the table, column
//! and row key (each as a u32 big-endian length and its UTF-8 bytes, so no two triples encode
//! alike). A ciphertext copied to another row or column fails to decrypt. The row key must be known
//! before the row is written and never change (a person's public id, not an id the database
//! assigns on insert).
//!
//! Random 96-bit nonces are safe for well under 2^32 encryptions per key; a county writes a few
//! million values a year, and keys are rotated yearly.
//!
//! # Blind indexes
//!
//! `blind_index(column, value)` = hex of the first 16 bytes of HMAC-SHA256(K_column, value), where
//! K_column = HMAC-SHA256(K_index, "jinlin/blind-index/v1/" ‖ column ‖ 0x01), that is
//! HKDF-Expand(K_index, info = "jinlin/blind-index/v1/" ‖ column, 32 bytes) with the random index
//! key as the pseudorandom key. Each column gets its own key, so equal values in two columns do
//! not give equal indexes. The caller normalises the value first (the parsed ID number's
//! `as_str()`, the parsed mobile number's) and names the column as `table.column`.
//!
//! ID and phone numbers have small input spaces (about 2^33–2^37), so whoever holds the index key
//! can reverse every index by brute force: the key file stays outside the database and its backups.
//!
//! The index key does **not** rotate with the encryption keys: a new index key changes every
//! stored index, so rotating it means decrypting and re-indexing every row (a future `reindex`
//! job: for each row, decrypt, recompute the index under the new key, write both in one
//! transaction, then swap the key). Encryption keys rotate cheaply because old keys stay in the
//! ring to decrypt old values.
//!
//! # Key file
//!
//! A text file outside the database, mode 0600:
//!
//! ```text
//! # comments and blank lines are ignored
//! index <base64 of 32 bytes>
//! enc 1 <base64 of 32 bytes>
//! enc 2 <base64 of 32 bytes>
//! ```
//!
//! Exactly one `index` line; one or more `enc` lines with distinct ids. The highest id encrypts;
//! every id decrypts. [`KeyRing::rotate`] adds the next id. With several app instances, copy the
//! rotated file to every instance and restart them all: an instance still on the old file cannot
//! read values written with the new key.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::AppError;

/// The only ciphertext format so far.
const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
/// Bytes of HMAC output kept in a blind index (hex doubles it).
const INDEX_LEN: usize = 16;
const INDEX_INFO: &[u8] = b"jinlin/blind-index/v1/";

/// Errors of the vault. Key file messages are for the operator who starts the server.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("密钥文件：{path} 不存在，请先生成密钥文件")]
    KeyFileMissing { path: PathBuf },
    #[error("密钥文件：无法读写 {path}：{reason}")]
    KeyFileIo { path: PathBuf, reason: String },
    #[error("密钥文件：第 {line} 行{rule}")]
    KeyFileLine { line: usize, rule: &'static str },
    #[error("密钥文件：缺少加密密钥（enc 行）")]
    NoEncryptionKey,
    #[error("密钥文件：应有且只有一行检索密钥（index 行）")]
    IndexKeyCount,
    #[error("密文格式无效")]
    Format,
    #[error("密文版本 {version} 不受支持")]
    UnsupportedVersion { version: u8 },
    #[error("密文使用的密钥 {id} 不在密钥文件中")]
    UnknownKey { id: u32 },
    #[error("解密失败：密文已损坏、被篡改或不属于该字段")]
    Decrypt,
    #[error("加密失败")]
    Encrypt,
    #[error("检索索引计算失败")]
    Index,
    #[error("系统随机数不可用")]
    Random,
}

/// Nothing of the vault is the user's fault: they see the generic internal error, the log gets
/// the detail.
impl From<VaultError> for AppError {
    fn from(e: VaultError) -> Self {
        AppError::Internal(format!("vault: {e}"))
    }
}

/// Where an encrypted value lives; becomes the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRef<'a> {
    pub table: &'a str,
    pub column: &'a str,
    /// A stable key of the row, known before the row is written.
    pub row: &'a str,
}

impl<'a> FieldRef<'a> {
    pub fn new(table: &'a str, column: &'a str, row: &'a str) -> FieldRef<'a> {
        FieldRef { table, column, row }
    }

    /// The header, then each part length-prefixed.
    fn aad(&self, header: &[u8]) -> Vec<u8> {
        let mut out = header.to_vec();
        for part in [self.table, self.column, self.row] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// Encrypts and decrypts single fields and computes their blind indexes.
pub trait FieldCipher: Send + Sync {
    /// Encrypts `plaintext` for `field`; the result is text for a TEXT column.
    fn encrypt(&self, plaintext: &str, field: &FieldRef<'_>) -> Result<String, VaultError>;

    /// Decrypts what [`FieldCipher::encrypt`] produced for the same `field`.
    fn decrypt(
        &self,
        ciphertext: &str,
        field: &FieldRef<'_>,
    ) -> Result<Zeroizing<String>, VaultError>;

    /// The keyed blind index of an already normalised value, for exact-match search; `column`
    /// names the column as `table.column`. Lower-case hex, 32 characters. (Fallible because a
    /// hardware-backed implementation may be unreachable.)
    fn blind_index(&self, column: &str, normalised: &str) -> Result<String, VaultError>;
}

/// AES-256-GCM keys by id, and the blind index key.
pub struct KeyRing {
    keys: BTreeMap<u32, Aes256Gcm>,
    /// The id that encrypts: the highest.
    current: u32,
    index_key: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

/// One parsed `enc` line.
type EncLine = (u32, Zeroizing<[u8; KEY_LEN]>);

impl KeyRing {
    /// Reads a key file.
    pub fn load(path: &Path) -> Result<KeyRing, VaultError> {
        KeyRing::parse(&read_key_file(path)?)
    }

    /// Parses the text of a key file (see the module docs), e.g. from a secret store.
    pub fn parse(text: &str) -> Result<KeyRing, VaultError> {
        let (index, enc) = parse_lines(text)?;
        let mut keys = BTreeMap::new();
        for (id, key) in enc {
            let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| VaultError::Encrypt)?;
            keys.insert(id, cipher);
        }
        let current = keys
            .keys()
            .next_back()
            .copied()
            .ok_or(VaultError::NoEncryptionKey)?;
        Ok(KeyRing {
            keys,
            current,
            index_key: index,
        })
    }

    /// Creates a key file with one encryption key and the index key, mode 0600, if there is none
    /// at `path`; an existing file is loaded, never overwritten (overwriting it would make every
    /// encrypted value unreadable).
    pub fn generate_file(path: &Path) -> Result<KeyRing, VaultError> {
        if path.exists() {
            return KeyRing::load(path);
        }
        let index = Zeroizing::new(B64.encode(&random_key()?[..]));
        let enc = Zeroizing::new(B64.encode(&random_key()?[..]));
        let text = Zeroizing::new(format!(
            "# Jinlin field encryption keys. Keep this file outside the database and its backups,\n\
             # readable by the server's account only (mode 0600). Without it no encrypted field can\n\
             # be read again: back it up separately. Never change the index line.\n\
             index {}\nenc 1 {}\n",
            index.as_str(),
            enc.as_str(),
        ));
        match write_private(path, text.as_bytes(), false) {
            // Someone else created it meanwhile: theirs stands.
            Err(VaultError::KeyFileIo { .. }) if path.exists() => KeyRing::load(path),
            Err(e) => Err(e),
            Ok(()) => KeyRing::parse(&text),
        }
    }

    /// Adds a new encryption key to the key file (replacing the file atomically, mode 0600) and
    /// returns its id. Values encrypted before stay readable with their old keys; the index key is
    /// kept. Processes already running use the new key only after loading the file again.
    pub fn rotate(path: &Path) -> Result<u32, VaultError> {
        let text = read_key_file(path)?;
        let ring = KeyRing::parse(&text)?;
        let id = ring.current.checked_add(1).ok_or(VaultError::Encrypt)?;
        let mut new_text = Zeroizing::new(String::with_capacity(text.len() + 64));
        new_text.push_str(&text);
        if !new_text.ends_with('\n') {
            new_text.push('\n');
        }
        let key = Zeroizing::new(B64.encode(&random_key()?[..]));
        new_text.push_str(&format!("enc {id} "));
        new_text.push_str(&key);
        new_text.push('\n');
        write_private(path, new_text.as_bytes(), true)?;
        Ok(id)
    }

    /// The id of the key new values are encrypted with.
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// All key ids, ascending.
    pub fn key_ids(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }
}

/// A nonce from the operating system's generator, drawn 4 KiB at a time: an import encrypts
/// two million fields, and one system call each cost a second. Each byte is handed out once.
/// (A nonce is public, stored beside its ciphertext; it only has to be unique.)
fn fresh_nonce() -> Result<[u8; NONCE_LEN], VaultError> {
    const POOL: usize = 341 * NONCE_LEN;
    thread_local! {
        static NONCES: std::cell::RefCell<([u8; POOL], usize)> =
            const { std::cell::RefCell::new(([0; POOL], POOL)) };
    }
    NONCES.with_borrow_mut(|(pool, used)| {
        if *used + NONCE_LEN > POOL {
            getrandom::fill(pool).map_err(|_| VaultError::Random)?;
            *used = 0;
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&pool[*used..*used + NONCE_LEN]);
        *used += NONCE_LEN;
        Ok(nonce)
    })
}

impl FieldCipher for KeyRing {
    fn encrypt(&self, plaintext: &str, field: &FieldRef<'_>) -> Result<String, VaultError> {
        let cipher = self.keys.get(&self.current).ok_or(VaultError::Encrypt)?;
        let mut header = [0u8; HEADER_LEN];
        header[0] = VERSION;
        header[1..].copy_from_slice(&self.current.to_be_bytes());
        let nonce = fresh_nonce()?;
        let aad = field.aad(&header);
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Encrypt)?;
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + sealed.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(B64.encode(out))
    }

    fn decrypt(
        &self,
        ciphertext: &str,
        field: &FieldRef<'_>,
    ) -> Result<Zeroizing<String>, VaultError> {
        let bytes = B64
            .decode(ciphertext.trim())
            .map_err(|_| VaultError::Format)?;
        if bytes.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
            return Err(VaultError::Format);
        }
        let (header, rest) = bytes.split_at(HEADER_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        if header[0] != VERSION {
            return Err(VaultError::UnsupportedVersion { version: header[0] });
        }
        let id = ciphertext_header_id(header)?;
        let cipher = self.keys.get(&id).ok_or(VaultError::UnknownKey { id })?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| VaultError::Format)?;
        let aad = field.aad(header);
        let plain = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Decrypt)?;
        match String::from_utf8(plain) {
            Ok(s) => Ok(Zeroizing::new(s)),
            Err(e) => {
                drop(Zeroizing::new(e.into_bytes()));
                Err(VaultError::Decrypt)
            }
        }
    }

    fn blind_index(&self, column: &str, normalised: &str) -> Result<String, VaultError> {
        let mut derive = hmac_sha256(&self.index_key[..])?;
        derive.update(INDEX_INFO);
        derive.update(column.as_bytes());
        derive.update(&[1]);
        let mut column_key = Zeroizing::new([0u8; KEY_LEN]);
        column_key.copy_from_slice(&derive.finalize().into_bytes());
        let mut mac = hmac_sha256(&column_key[..])?;
        mac.update(normalised.as_bytes());
        let tag = mac.finalize().into_bytes();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(INDEX_LEN * 2);
        for b in &tag[..INDEX_LEN] {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        Ok(hex)
    }
}

/// The key id a ciphertext was made with, e.g. to find values still on an old key.
pub fn ciphertext_key_id(ciphertext: &str) -> Result<u32, VaultError> {
    let bytes = B64
        .decode(ciphertext.trim())
        .map_err(|_| VaultError::Format)?;
    if bytes.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(VaultError::Format);
    }
    if bytes[0] != VERSION {
        return Err(VaultError::UnsupportedVersion { version: bytes[0] });
    }
    ciphertext_header_id(&bytes[..HEADER_LEN])
}

fn ciphertext_header_id(header: &[u8]) -> Result<u32, VaultError> {
    let id: [u8; 4] = header
        .get(1..HEADER_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or(VaultError::Format)?;
    Ok(u32::from_be_bytes(id))
}

fn hmac_sha256(key: &[u8]) -> Result<Hmac<Sha256>, VaultError> {
    // HMAC takes keys of any length; the error arm is unreachable in practice.
    <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| VaultError::Index)
}

fn random_key() -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(&mut key[..]).map_err(|_| VaultError::Random)?;
    Ok(key)
}

/// The index key and the `enc` lines of a key file.
fn parse_lines(text: &str) -> Result<(Zeroizing<[u8; KEY_LEN]>, Vec<EncLine>), VaultError> {
    let mut index = None;
    let mut enc: Vec<EncLine> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let err = |rule| VaultError::KeyFileLine { line, rule };
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = raw.split_whitespace().collect();
        match parts.as_slice() {
            ["index", key] => {
                if index.is_some() {
                    return Err(VaultError::IndexKeyCount);
                }
                index = Some(decode_key(key).ok_or(err(BAD_KEY))?);
            }
            ["enc", id, key] => {
                let id: u32 = id
                    .parse()
                    .ok()
                    .filter(|&i| i > 0)
                    .ok_or(err("的密钥编号应为正整数"))?;
                if enc.iter().any(|(i, _)| *i == id) {
                    return Err(err("的密钥编号与前面重复"));
                }
                enc.push((id, decode_key(key).ok_or(err(BAD_KEY))?));
            }
            _ => return Err(err("格式错误：应为“index <密钥>”或“enc <编号> <密钥>”")),
        }
    }
    let index = index.ok_or(VaultError::IndexKeyCount)?;
    if enc.is_empty() {
        return Err(VaultError::NoEncryptionKey);
    }
    Ok((index, enc))
}

const BAD_KEY: &str = "的密钥应为 32 字节的 base64 编码";

fn decode_key(text: &str) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    let bytes = Zeroizing::new(B64.decode(text).ok()?);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if bytes.len() != KEY_LEN {
        return None;
    }
    key.copy_from_slice(&bytes);
    Some(key)
}

fn io_error(path: &Path, e: &std::io::Error) -> VaultError {
    VaultError::KeyFileIo {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

fn read_key_file(path: &Path) -> Result<Zeroizing<String>, VaultError> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => VaultError::KeyFileMissing {
            path: path.to_owned(),
        },
        _ => io_error(path, &e),
    })?;
    warn_if_shared(path);
    Ok(Zeroizing::new(text))
}

/// A key file others can read is logged, not refused: a secret mounted read-only by a container
/// runtime may carry a wider mode that the server cannot change.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = %format!("{:o}", meta.permissions().mode() & 0o777),
                "key file is readable by other accounts; it should be 0600"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Writes a file readable by the owner only. `replace`: write a temporary file beside it and
/// rename it over `path` (atomic on one file system); otherwise create `path`, failing if it
/// exists.
fn write_private(path: &Path, bytes: &[u8], replace: bool) -> Result<(), VaultError> {
    let mut target = path.to_owned();
    if replace {
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(".tmp");
        target.set_file_name(name);
        // A leftover from an interrupted rotation.
        let _ = std::fs::remove_file(&target);
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&target).map_err(|e| io_error(path, &e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(path, &e))?;
    drop(file);
    if replace {
        std::fs::rename(&target, path).map_err(|e| io_error(path, &e))?;
        // Make the rename durable too; best effort.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh empty directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "jinlin-vault-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const ID: FieldRef<'static> = FieldRef {
        table: "people",
        column: "id_number",
        row: "p-0001",
    };

    fn ring() -> KeyRing {
        let dir = TempDir::new();
        KeyRing::generate_file(&dir.path("keys")).unwrap()
    }

    #[test]
    fn nonces_stay_unique_across_pool_refills() {
        // Three pools' worth, so the pool is drawn again twice.
        let nonces: std::collections::HashSet<[u8; NONCE_LEN]> =
            (0..1_000).map(|_| fresh_nonce().unwrap()).collect();
        assert_eq!(nonces.len(), 1_000);
        assert!(!nonces.contains(&[0u8; NONCE_LEN]));
    }

    #[test]
    fn round_trip() {
        let ring = ring();
        let c = ring.encrypt("11010519491231002X", &ID).unwrap();
        assert_eq!(
            ring.decrypt(&c, &ID).unwrap().as_str(),
            "11010519491231002X"
        );
        // Random nonces: the same value encrypts differently each time.
        let again = ring.encrypt("11010519491231002X", &ID).unwrap();
        assert_ne!(c, again);
        assert_eq!(
            ring.decrypt(&again, &ID).unwrap().as_str(),
            "11010519491231002X"
        );
        // version | key id | nonce | ciphertext | tag.
        let bytes = B64.decode(&c).unwrap();
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..5], &1u32.to_be_bytes());
        assert_eq!(bytes.len(), 5 + 12 + 18 + 16);
        assert_eq!(ciphertext_key_id(&c).unwrap(), 1);
        // Empty and non-ASCII values too.
        for v in ["", "张三 · 幸福小区 3 栋 2 单元 501"] {
            let c = ring.encrypt(v, &ID).unwrap();
            assert_eq!(ring.decrypt(&c, &ID).unwrap().as_str(), v);
        }
    }

    #[test]
    fn a_ciphertext_only_opens_in_its_own_place() {
        let ring = ring();
        let c = ring.encrypt("13812345678", &ID).unwrap();
        for other in [
            FieldRef::new("people", "id_number", "p-0002"),
            FieldRef::new("people", "phone", "p-0001"),
            FieldRef::new("households", "id_number", "p-0001"),
            // Moving text between the parts does not help.
            FieldRef::new("people", "id_numberp", "-0001"),
        ] {
            assert!(
                matches!(ring.decrypt(&c, &other), Err(VaultError::Decrypt)),
                "{other:?}"
            );
        }
    }

    #[test]
    fn tampering_is_detected() {
        let ring = ring();
        let c = ring.encrypt("13812345678", &ID).unwrap();
        let bytes = B64.decode(&c).unwrap();
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            let r = ring.decrypt(&B64.encode(&t), &ID);
            assert!(r.is_err(), "byte {i}");
        }
        assert!(matches!(
            ring.decrypt(&B64.encode(&bytes[..bytes.len() - 1]), &ID),
            Err(VaultError::Decrypt)
        ));
        assert!(matches!(
            ring.decrypt(&B64.encode(&bytes[..20]), &ID),
            Err(VaultError::Format)
        ));
        assert!(matches!(
            ring.decrypt("not base64!", &ID),
            Err(VaultError::Format)
        ));
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert!(matches!(
            ring.decrypt(&B64.encode(&v2), &ID),
            Err(VaultError::UnsupportedVersion { version: 2 })
        ));
        let mut unknown = bytes;
        unknown[1..5].copy_from_slice(&7u32.to_be_bytes());
        assert!(matches!(
            ring.decrypt(&B64.encode(&unknown), &ID),
            Err(VaultError::UnknownKey { id: 7 })
        ));
    }

    #[test]
    fn after_rotation_old_values_still_open_and_new_ones_use_the_new_key() {
        let dir = TempDir::new();
        let path = dir.path("keys");
        let before = KeyRing::generate_file(&path).unwrap();
        let old = before.encrypt("13812345678", &ID).unwrap();
        let index = before.blind_index("people.phone", "13812345678").unwrap();

        assert_eq!(KeyRing::rotate(&path).unwrap(), 2);
        let after = KeyRing::load(&path).unwrap();
        assert_eq!(after.key_ids(), vec![1, 2]);
        assert_eq!(after.current_key_id(), 2);
        assert_eq!(after.decrypt(&old, &ID).unwrap().as_str(), "13812345678");
        let new = after.encrypt("13812345678", &ID).unwrap();
        assert_eq!(ciphertext_key_id(&new).unwrap(), 2);
        // A process still on the old file cannot read it.
        assert!(matches!(
            before.decrypt(&new, &ID),
            Err(VaultError::UnknownKey { id: 2 })
        ));
        // The index key stays.
        assert_eq!(
            after.blind_index("people.phone", "13812345678").unwrap(),
            index
        );

        assert_eq!(KeyRing::rotate(&path).unwrap(), 3);
        assert_eq!(KeyRing::load(&path).unwrap().current_key_id(), 3);
        assert!(!dir.path("keys.tmp").exists());
    }

    #[test]
    fn blind_indexes() {
        let ring = ring();
        let a = ring.blind_index("people.phone", "13812345678").unwrap();
        assert_eq!(a, ring.blind_index("people.phone", "13812345678").unwrap());
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, ring.blind_index("people.phone", "13812345679").unwrap());
        assert_ne!(
            a,
            ring.blind_index("people.emergency_phone", "13812345678")
                .unwrap()
        );
        // Another key file, other indexes.
        assert_ne!(
            a,
            self::ring()
                .blind_index("people.phone", "13812345678")
                .unwrap()
        );
    }

    #[test]
    fn the_blind_index_derivation_is_pinned() {
        // Computed independently: HMAC-SHA256(HMAC-SHA256(K, info ‖ column ‖ 0x01), value)[..16]
        // with K = 00 01 … 1f.
        let k = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let ring = KeyRing::parse(&format!("index {k}\nenc 1 {k}\n")).unwrap();
        assert_eq!(
            ring.blind_index("people.id_number", "11010519491231002X")
                .unwrap(),
            "f1c8d3909d291d4d4fc59006ecfc2f14"
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new();
        let path = dir.path("keys");
        KeyRing::generate_file(&path).unwrap();
        let mode = || std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(), 0o600);
        KeyRing::rotate(&path).unwrap();
        assert_eq!(mode(), 0o600);
    }

    #[test]
    fn an_existing_key_file_is_never_overwritten() {
        let dir = TempDir::new();
        let path = dir.path("keys");
        let first = KeyRing::generate_file(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let second = KeyRing::generate_file(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let c = first.encrypt("x", &ID).unwrap();
        assert_eq!(second.decrypt(&c, &ID).unwrap().as_str(), "x");
    }

    #[test]
    fn missing_and_corrupt_key_files_are_explained() {
        let dir = TempDir::new();
        let missing = dir.path("nope");
        let e = KeyRing::load(&missing).unwrap_err();
        assert!(matches!(e, VaultError::KeyFileMissing { .. }));
        assert_eq!(
            e.to_string(),
            format!("密钥文件：{} 不存在，请先生成密钥文件", missing.display())
        );
        assert!(matches!(
            KeyRing::rotate(&missing),
            Err(VaultError::KeyFileMissing { .. })
        ));

        let k = B64.encode([7u8; 32]);
        let short = B64.encode([7u8; 16]);
        let cases = [
            (
                format!("index {k}\nenc 1 {short}\n"),
                "密钥文件：第 2 行的密钥应为 32 字节的 base64 编码",
            ),
            (
                format!("index {k}\nenc 1 ???\n"),
                "密钥文件：第 2 行的密钥应为 32 字节的 base64 编码",
            ),
            (
                format!("# keys\n\nindex {k}\nenc one {k}\n"),
                "密钥文件：第 4 行的密钥编号应为正整数",
            ),
            (
                format!("index {k}\nenc 0 {k}\n"),
                "密钥文件：第 2 行的密钥编号应为正整数",
            ),
            (
                format!("index {k}\nenc 1 {k}\nenc 1 {k}\n"),
                "密钥文件：第 3 行的密钥编号与前面重复",
            ),
            (
                format!("index {k}\nkey 1 {k}\n"),
                "密钥文件：第 2 行格式错误：应为“index <密钥>”或“enc <编号> <密钥>”",
            ),
            (
                format!("enc 1 {k}\n"),
                "密钥文件：应有且只有一行检索密钥（index 行）",
            ),
            (
                format!("index {k}\nindex {k}\nenc 1 {k}\n"),
                "密钥文件：应有且只有一行检索密钥（index 行）",
            ),
            (format!("index {k}\n"), "密钥文件：缺少加密密钥（enc 行）"),
            (
                String::new(),
                "密钥文件：应有且只有一行检索密钥（index 行）",
            ),
        ];
        for (text, message) in cases {
            let path = dir.path("corrupt");
            std::fs::write(&path, &text).unwrap();
            assert_eq!(
                KeyRing::load(&path).unwrap_err().to_string(),
                message,
                "{text}"
            );
            // The message never shows key material.
            assert!(!message.contains(&k));
        }
    }

    #[test]
    fn keys_stay_out_of_debug_output() {
        let dir = TempDir::new();
        let path = dir.path("keys");
        let ring = KeyRing::generate_file(&path).unwrap();
        let shown = format!("{ring:?}");
        assert_eq!(shown, "KeyRing { key_ids: [1], current: 1, .. }");
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let key = line.rsplit(' ').next().unwrap();
            assert!(!shown.contains(key));
        }
    }

    #[test]
    fn works_behind_the_trait() {
        let ring = ring();
        let cipher: &dyn FieldCipher = &ring;
        let c = cipher.encrypt("v", &ID).unwrap();
        assert_eq!(cipher.decrypt(&c, &ID).unwrap().as_str(), "v");
        assert_eq!(
            cipher.blind_index("t.c", "v").unwrap(),
            ring.blind_index("t.c", "v").unwrap()
        );
    }
}
