//! Embeds the front-end into the binary so a Jinlin server never loads anything from a CDN.
//!
//! Inputs (all under `<workspace>/assets/`):
//! - `static/**`: our own CSS, JS and images, served as `/assets/<relative path>`;
//! - a fixed list of files from npm packages pinned by `package-lock.json`, served under
//!   `/assets/vendor/…`. If `node_modules` is missing or out of date with the lockfile, this
//!   script runs `npm ci` so a fresh clone builds with plain `cargo build`.
//!
//! Output: `$OUT_DIR/embedded_assets.rs`, included by `src/assets.rs`, with the table `ASSETS`
//! (sorted by URL path) and `VENDOR_VERSIONS` (package, version) read from the lockfile.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// npm packages whose files are embedded (their versions are listed on the About page).
const PACKAGES: &[&str] = &["htmx.org", "leaflet", "swagger-ui-dist", "echarts"];

/// (package, file inside the package, URL path). Leaflet's CSS refers to `images/…` relatively,
/// so its images are added beside it by `leaflet_images`.
const VENDOR_FILES: &[(&str, &str, &str)] = &[
    (
        "htmx.org",
        "dist/htmx.min.js",
        "/assets/vendor/htmx/htmx.min.js",
    ),
    (
        "leaflet",
        "dist/leaflet.js",
        "/assets/vendor/leaflet/leaflet.js",
    ),
    (
        "leaflet",
        "dist/leaflet.css",
        "/assets/vendor/leaflet/leaflet.css",
    ),
    (
        "swagger-ui-dist",
        "swagger-ui.css",
        "/assets/vendor/swagger-ui/swagger-ui.css",
    ),
    (
        "swagger-ui-dist",
        "swagger-ui-bundle.js",
        "/assets/vendor/swagger-ui/swagger-ui-bundle.js",
    ),
    (
        "swagger-ui-dist",
        "swagger-ui-standalone-preset.js",
        "/assets/vendor/swagger-ui/swagger-ui-standalone-preset.js",
    ),
    (
        "echarts",
        "dist/echarts.min.js",
        "/assets/vendor/echarts/echarts.min.js",
    ),
];

const NPM_HELP: &str =
    "Jinlin needs the front-end packages: run `cd assets && npm ci` (Node.js 18+ and npm required)";

struct Entry {
    url: String,
    file: PathBuf,
}

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let assets = manifest_dir.join("../../assets");
    let assets = assets
        .canonicalize()
        .unwrap_or_else(|e| panic!("assets folder {} not found: {e}", assets.display()));
    let lockfile_path = assets.join("package-lock.json");
    let installed_path = assets.join("node_modules/.package-lock.json");
    let static_dir = assets.join("static");

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", static_dir.display());
    println!("cargo:rerun-if-changed={}", lockfile_path.display());
    println!(
        "cargo:rerun-if-changed={}",
        assets.join("package.json").display()
    );
    // npm rewrites this file on every install, so a manual `npm ci` (or deleting
    // node_modules) also re-runs this script.
    println!("cargo:rerun-if-changed={}", installed_path.display());

    let lockfile = fs::read_to_string(&lockfile_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", lockfile_path.display()));
    let versions: Vec<(&str, String)> = PACKAGES
        .iter()
        .map(|pkg| {
            let v = locked_version(&lockfile, pkg).unwrap_or_else(|| {
                panic!(
                    "{pkg} is not in {}; run `cd assets && npm install`",
                    lockfile_path.display()
                )
            });
            (*pkg, v)
        })
        .collect();

    if !node_modules_up_to_date(&assets, &installed_path, &versions) {
        npm_ci(&assets);
        if !node_modules_up_to_date(&assets, &installed_path, &versions) {
            panic!(
                "`npm ci` finished but assets/node_modules does not match package-lock.json. {NPM_HELP}"
            );
        }
    }

    let mut entries = Vec::new();
    if static_dir.is_dir() {
        collect_static(&static_dir, &static_dir, &mut entries);
    }
    let node_modules = assets.join("node_modules");
    for (pkg, file, url) in VENDOR_FILES {
        entries.push(Entry {
            url: (*url).to_string(),
            file: node_modules.join(pkg).join(file),
        });
    }
    leaflet_images(&node_modules.join("leaflet/dist/images"), &mut entries);

    entries.sort_by(|a, b| a.url.cmp(&b.url));
    for pair in entries.windows(2) {
        if pair[0].url == pair[1].url {
            panic!(
                "two embedded files want the URL {}: {} and {}",
                pair[0].url,
                pair[0].file.display(),
                pair[1].file.display()
            );
        }
    }

    let out = generate(&entries, &versions);
    let out_path = PathBuf::from(env("OUT_DIR")).join("embedded_assets.rs");
    // Only rewrite when the content changes, so an unrelated rerun does not force a rebuild.
    if fs::read_to_string(&out_path).ok().as_deref() != Some(out.as_str()) {
        fs::write(&out_path, out)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", out_path.display()));
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo did not set {name}"))
}

/// True when every package is installed at the version the lockfile pins and every vendor
/// file exists.
fn node_modules_up_to_date(
    assets: &Path,
    installed_path: &Path,
    versions: &[(&str, String)],
) -> bool {
    let Ok(installed) = fs::read_to_string(installed_path) else {
        return false;
    };
    let versions_match = versions
        .iter()
        .all(|(pkg, v)| locked_version(&installed, pkg).as_deref() == Some(v.as_str()));
    let files_present = VENDOR_FILES
        .iter()
        .all(|(pkg, file, _)| assets.join("node_modules").join(pkg).join(file).is_file());
    versions_match && files_present
}

fn npm_ci(assets: &Path) {
    // On Windows npm is a batch file; Command does not try the .cmd extension on its own.
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    println!(
        "cargo:warning=installing front-end packages: `npm ci` in {}",
        assets.display()
    );
    // --ignore-scripts: no package needs one, and swagger-ui-dist's analytics postinstall
    // would contact the internet.
    let status = Command::new(npm)
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(assets)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("`npm ci` failed ({s}). {NPM_HELP}"),
        Err(e) => panic!("could not run npm ({e}). {NPM_HELP}"),
    }
}

/// The version of `node_modules/<pkg>` in an npm v7+ lockfile (also the format of
/// `node_modules/.package-lock.json`). npm always writes `version` first in an entry; a tiny
/// scan keeps serde_json out of the build dependencies.
fn locked_version(lockfile: &str, pkg: &str) -> Option<String> {
    let key = format!("\"node_modules/{pkg}\": {{");
    let start = lockfile.find(&key)? + key.len();
    let rest = &lockfile[start..];
    let entry = &rest[..rest.find('}').unwrap_or(rest.len())];
    let after = entry.split_once("\"version\":")?.1.trim_start();
    let value = after.strip_prefix('"')?;
    Some(value[..value.find('"')?].to_string())
}

fn collect_static(root: &Path, dir: &Path, entries: &mut Vec<Entry>) {
    let read = fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for item in read {
        let item = item.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        let path = item.path();
        let name = item.file_name();
        // Skip editor droppings and dotfiles (.DS_Store, .swp, …).
        if name.to_string_lossy().starts_with('.') || name.to_string_lossy().ends_with('~') {
            continue;
        }
        if path.is_dir() {
            collect_static(root, &path, entries);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            entries.push(Entry {
                url: format!("/assets/{}", rel.join("/")),
                file: path,
            });
        }
    }
}

fn leaflet_images(dir: &Path, entries: &mut Vec<Entry>) {
    let read = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}. {NPM_HELP}", dir.display()));
    for item in read.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        if name.ends_with(".png") {
            entries.push(Entry {
                url: format!("/assets/vendor/leaflet/images/{name}"),
                file: item.path(),
            });
        }
    }
}

fn content_type(url: &str) -> &'static str {
    let ext = url
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "geojson" => "application/geo+json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        _ => {
            println!(
                "cargo:warning=unknown file type for {url}; served as application/octet-stream"
            );
            "application/octet-stream"
        }
    }
}

/// 128-bit FNV-1a: enough to tell versions of a file apart for caching (not a security hash),
/// and no build dependency.
fn etag(bytes: &[u8]) -> String {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut h = OFFSET;
    for b in bytes {
        h ^= u128::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    format!("\"{h:032x}\"")
}

fn generate(entries: &[Entry], versions: &[(&str, String)]) -> String {
    let mut out = String::from(
        "// @generated by crates/web/build.rs — do not edit.\n\n\
         /// Every embedded file, sorted by URL path (binary search in `lookup`).\n\
         pub static ASSETS: &[Asset] = &[\n",
    );
    for e in entries {
        let bytes = fs::read(&e.file)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}. {NPM_HELP}", e.file.display()));
        let file = e
            .file
            .to_str()
            .unwrap_or_else(|| panic!("non-UTF-8 path {}", e.file.display()));
        // `{:?}` of a str is a valid Rust string literal (quotes and backslashes escaped).
        let _ = writeln!(
            out,
            "    Asset {{ path: {:?}, content_type: {:?}, bytes: include_bytes!({:?}), etag: {:?} }},",
            e.url,
            content_type(&e.url),
            file,
            etag(&bytes),
        );
    }
    out.push_str("];\n\n/// (npm package, version) as pinned by assets/package-lock.json.\n");
    out.push_str("pub static VENDOR_VERSIONS: &[(&str, &str)] = &[\n");
    for (pkg, v) in versions {
        let _ = writeln!(out, "    ({pkg:?}, {v:?}),");
    }
    out.push_str("];\n");
    out
}
