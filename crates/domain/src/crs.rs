//! WGS-84 ↔ GCJ-02 ↔ BD-09. Everything is stored in WGS-84; these convert at the edges
//! (Amap/Tencent basemaps and phones report GCJ-02, Baidu BD-09).
//!
//! GCJ-02 is the widely published Krasovsky-ellipsoid offset formula; it has no closed-form
//! inverse, so GCJ-02 → WGS-84 iterates.

use std::f64::consts::PI;

/// Krasovsky 1940 semi-major axis, as the published GCJ-02 formula uses.
const A: f64 = 6378245.0;
/// Krasovsky 1940 first eccentricity squared, digits as published (easy to compare by eye).
#[allow(clippy::excessive_precision)]
const EE: f64 = 0.006_693_421_622_965_943_23;
/// Baidu's angular constant.
const X_PI: f64 = PI * 3000.0 / 180.0;

/// A coordinate reference system a client may send or expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Crs {
    /// GPS / storage.
    Wgs84,
    /// 火星坐标: Amap, Tencent, most phones in China.
    Gcj02,
    /// Baidu.
    Bd09,
}

impl Crs {
    /// Reads "wgs84", "gcj02" or "bd09", ignoring case.
    pub fn parse(s: &str) -> Option<Crs> {
        [Crs::Wgs84, Crs::Gcj02, Crs::Bd09]
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The identifier the API carries.
    pub fn as_str(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        }
    }
}

/// Converts a point in `crs` to WGS-84 (lng, lat).
pub fn to_wgs84(crs: Crs, lng: f64, lat: f64) -> (f64, f64) {
    match crs {
        Crs::Wgs84 => (lng, lat),
        Crs::Gcj02 => gcj02_to_wgs84(lng, lat),
        Crs::Bd09 => {
            let (g_lng, g_lat) = bd09_to_gcj02(lng, lat);
            gcj02_to_wgs84(g_lng, g_lat)
        }
    }
}

/// Converts a WGS-84 point to `crs` (lng, lat).
pub fn from_wgs84(crs: Crs, lng: f64, lat: f64) -> (f64, f64) {
    match crs {
        Crs::Wgs84 => (lng, lat),
        Crs::Gcj02 => wgs84_to_gcj02(lng, lat),
        Crs::Bd09 => {
            let (g_lng, g_lat) = wgs84_to_gcj02(lng, lat);
            gcj02_to_bd09(g_lng, g_lat)
        }
    }
}

/// The common rectangle test: GCJ-02 applies no offset outside it.
pub fn out_of_china(lng: f64, lat: f64) -> bool {
    !(lng > 73.66 && lng < 135.05 && lat > 3.86 && lat < 53.55)
}

/// WGS-84 → GCJ-02; unchanged outside China.
pub fn wgs84_to_gcj02(lng: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lng, lat) {
        return (lng, lat);
    }
    let (d_lng, d_lat) = gcj_offset(lng, lat);
    (lng + d_lng, lat + d_lat)
}

/// GCJ-02 → WGS-84 by fixed-point iteration on the forward offset (error well under 1e-6°).
pub fn gcj02_to_wgs84(lng: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lng, lat) {
        return (lng, lat);
    }
    let (mut w_lng, mut w_lat) = (lng, lat);
    // The offset varies slowly (its slope is ~1e-5 per degree), so each step gains ~5 digits.
    for _ in 0..10 {
        let (g_lng, g_lat) = wgs84_to_gcj02(w_lng, w_lat);
        let (e_lng, e_lat) = (g_lng - lng, g_lat - lat);
        w_lng -= e_lng;
        w_lat -= e_lat;
        if e_lng.abs() < 1e-12 && e_lat.abs() < 1e-12 {
            break;
        }
    }
    (w_lng, w_lat)
}

/// GCJ-02 → BD-09.
pub fn gcj02_to_bd09(lng: f64, lat: f64) -> (f64, f64) {
    let z = (lng * lng + lat * lat).sqrt() + 0.00002 * (lat * X_PI).sin();
    let theta = lat.atan2(lng) + 0.000003 * (lng * X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

/// BD-09 → GCJ-02: the usual one-step inverse, refined against the forward formula.
pub fn bd09_to_gcj02(lng: f64, lat: f64) -> (f64, f64) {
    let (x, y) = (lng - 0.0065, lat - 0.006);
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * X_PI).cos();
    let (mut g_lng, mut g_lat) = (z * theta.cos(), z * theta.sin());
    // The one-step inverse is only good to ~1e-6°; two corrections bring it to float noise.
    for _ in 0..2 {
        let (b_lng, b_lat) = gcj02_to_bd09(g_lng, g_lat);
        g_lng -= b_lng - lng;
        g_lat -= b_lat - lat;
    }
    (g_lng, g_lat)
}

/// The GCJ-02 offset (Δlng, Δlat) in degrees at a WGS-84 point.
fn gcj_offset(lng: f64, lat: f64) -> (f64, f64) {
    let (x, y) = (lng - 105.0, lat - 35.0);
    let mut d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    d_lat += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    d_lat += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    d_lat += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    let mut d_lng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    d_lng += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    d_lng += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    d_lng += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;

    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - EE * rad_lat.sin().powi(2);
    let sqrt_magic = magic.sqrt();
    (
        (d_lng * 180.0) / (A / sqrt_magic * rad_lat.cos() * PI),
        (d_lat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrt_magic) * PI),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn china() -> impl Strategy<Value = (f64, f64)> {
        (73.67..135.04f64, 3.87..53.54f64)
    }

    fn close(a: (f64, f64), b: (f64, f64), tol: f64) -> bool {
        (a.0 - b.0).abs() < tol && (a.1 - b.1).abs() < tol
    }

    #[test]
    fn parse_and_as_str() {
        assert_eq!(Crs::parse("GCJ02"), Some(Crs::Gcj02));
        assert_eq!(Crs::parse("bd09"), Some(Crs::Bd09));
        assert_eq!(Crs::parse("Wgs84"), Some(Crs::Wgs84));
        assert_eq!(Crs::parse("epsg3857"), None);
        for c in [Crs::Wgs84, Crs::Gcj02, Crs::Bd09] {
            assert_eq!(Crs::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn tiananmen_matches_published_pair() {
        // Widely published pair: WGS-84 (116.397428, 39.90923) ↔ GCJ-02 ≈ (116.403672, 39.910634)
        // (offsets of roughly +600 m east, +150 m north).
        let gcj = wgs84_to_gcj02(116.397428, 39.90923);
        assert!(close(gcj, (116.403672, 39.910634), 2e-5), "{gcj:?}");
        let back = to_wgs84(Crs::Gcj02, gcj.0, gcj.1);
        assert!(close(back, (116.397428, 39.90923), 1e-8), "{back:?}");
    }

    proptest! {
        #[test]
        fn wgs_gcj_round_trip((lng, lat) in china()) {
            let (g_lng, g_lat) = wgs84_to_gcj02(lng, lat);
            // The offset is real (hundreds of metres), so the round trip is not trivially identity.
            prop_assert!((g_lng - lng).abs() + (g_lat - lat).abs() > 1e-4);
            let back = gcj02_to_wgs84(g_lng, g_lat);
            prop_assert!(close(back, (lng, lat), 1e-6), "{:?} vs {:?}", back, (lng, lat));
        }

        #[test]
        fn wgs_bd_round_trip((lng, lat) in china()) {
            let (b_lng, b_lat) = from_wgs84(Crs::Bd09, lng, lat);
            let back = to_wgs84(Crs::Bd09, b_lng, b_lat);
            prop_assert!(close(back, (lng, lat), 1e-5), "{:?} vs {:?}", back, (lng, lat));
        }

        #[test]
        fn outside_china_unchanged(lng in -180.0..180.0f64, lat in -90.0..90.0f64) {
            prop_assume!(out_of_china(lng, lat));
            prop_assert_eq!(wgs84_to_gcj02(lng, lat), (lng, lat));
            prop_assert_eq!(gcj02_to_wgs84(lng, lat), (lng, lat));
            prop_assert_eq!(to_wgs84(Crs::Gcj02, lng, lat), (lng, lat));
        }

        #[test]
        fn agrees_with_coordtransform_crate((lng, lat) in china()) {
            // The oracle gates on its own China mask; its *_in_mainland functions skip the gate,
            // matching ours inside the rectangle.
            let ours = wgs84_to_gcj02(lng, lat);
            let theirs = coordtransform::wgs84_to_gcj02_in_mainland(lng, lat);
            prop_assert!(close(ours, theirs, 1e-9), "{:?} vs {:?}", ours, theirs);

            let ours = gcj02_to_wgs84(lng, lat);
            let theirs = coordtransform::gcj02_to_wgs84_in_mainland(lng, lat);
            prop_assert!(close(ours, theirs, 1e-8), "{:?} vs {:?}", ours, theirs);

            let ours = gcj02_to_bd09(lng, lat);
            let theirs = coordtransform::gcj02_to_bd09(lng, lat);
            prop_assert!(close(ours, theirs, 1e-9), "{:?} vs {:?}", ours, theirs);

            let ours = bd09_to_gcj02(lng, lat);
            let theirs = coordtransform::bd09_to_gcj02(lng, lat);
            prop_assert!(close(ours, theirs, 1e-8), "{:?} vs {:?}", ours, theirs);
        }
    }
}
