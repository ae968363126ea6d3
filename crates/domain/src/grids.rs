//! Grid polygons: GeoJSON import with validation, overlap checks, and the point → grid index.
//!
//! All geometry is WGS-84 [lng, lat]. Areas use an equirectangular projection around the shape's
//! latitude: a few tenths of a percent off at grid scale, which is fine for warnings and display.

use std::collections::HashMap;
use std::f64::consts::PI;
use std::fmt;

use geo::algorithm::validation::{InvalidMultiPolygon, InvalidPolygon, RingRole};
use geo::{
    Area, BooleanOps, BoundingRect, Centroid, Coord, InteriorPoint, Intersects, LineString,
    MultiPolygon, Point, Polygon, Validation,
};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use serde_json::Value;

use crate::regions::{RegionLevel, validate_code, validate_code_format};

/// Overlaps up to this many square metres are digitising noise, not a warning.
pub const OVERLAP_TOLERANCE_M2: f64 = 5.0;
/// Overlaps up to this share of the smaller grid's area are tolerated too (whichever is larger).
pub const OVERLAP_TOLERANCE_RATIO: f64 = 0.005;

/// Metres per degree of latitude on the mean Earth sphere (IUGG R = 6 371 008.8 m).
const M_PER_DEG: f64 = 6_371_008.8 * PI / 180.0;

/// One grid read from an import file.
#[derive(Debug, Clone, PartialEq)]
pub struct GridFeature {
    /// 1-based position of the feature in the file.
    pub index: usize,
    pub code: String,
    pub name: Option<String>,
    /// The compound (小区) code, if the file gave one.
    pub parent_code: Option<String>,
    pub boundary: MultiPolygon<f64>,
}

/// A successfully parsed import file; warnings do not block the import.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedGrids {
    pub features: Vec<GridFeature>,
    pub warnings: Vec<String>,
}

/// One problem with one feature (or, with `index` 0, with the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureError {
    /// 1-based feature number; 0 means the whole file.
    pub index: usize,
    pub code: Option<String>,
    /// What is wrong, in Chinese, naming the rule.
    pub rule: String,
}

impl fmt::Display for FeatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.index, &self.code) {
            (0, _) => write!(f, "文件：{}", self.rule),
            (i, Some(code)) => write!(f, "第{i}个要素（编码 {code}）：{}", self.rule),
            (i, None) => write!(f, "第{i}个要素：{}", self.rule),
        }
    }
}

/// Every problem found in an import file; nothing is imported when there is any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridImportError {
    pub errors: Vec<FeatureError>,
}

impl fmt::Display for GridImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "网格文件有{}处错误，未导入任何网格：", self.errors.len())?;
        for e in &self.errors {
            write!(f, "\n{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GridImportError {}

fn file_error(rule: impl Into<String>) -> GridImportError {
    GridImportError {
        errors: vec![FeatureError {
            index: 0,
            code: None,
            rule: rule.into(),
        }],
    }
}

/// Parses and validates a GeoJSON FeatureCollection (or single Feature) of grids, collecting
/// every error; on success also warns about grids in the file that overlap each other.
pub fn parse_grid_geojson(text: &str) -> Result<ParsedGrids, GridImportError> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| file_error(format!("不是有效的 JSON：{e}")))?;
    let items: Vec<&Value> = match root.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => match root.get("features").and_then(Value::as_array) {
            Some(features) => features.iter().collect(),
            None => return Err(file_error("FeatureCollection 缺少 features 数组")),
        },
        Some("Feature") => vec![&root],
        Some(other) => {
            return Err(file_error(format!(
                "顶层类型应为 FeatureCollection（或单个 Feature），实际为 {other}"
            )));
        }
        None => return Err(file_error("不是 GeoJSON：顶层应为 FeatureCollection")),
    };
    if items.is_empty() {
        return Err(file_error("文件中没有任何要素"));
    }

    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut features = Vec::new();
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let index = i + 1;
        let mut rules = Vec::new();
        let (code, feature) = parse_feature(index, item, &mut rules);
        if let Some(code) = &code {
            if let Some(first) = first_seen.get(code) {
                rules.push(format!(
                    "编码与第{first}个要素重复，同一文件内网格编码必须唯一"
                ));
            } else {
                first_seen.insert(code.clone(), index);
            }
        }
        match feature {
            Some(feature) if rules.is_empty() => {
                if let Some((lng, lat)) = centroid(&feature.boundary)
                    && crate::crs::out_of_china(lng, lat)
                {
                    // Usually swapped [lat, lng] or a projected CRS; legal, but worth a look.
                    warnings.push(format!(
                        "网格 {} 的位置（{lng:.6}, {lat:.6}）不在中国境内，请确认坐标为 WGS-84 [经度, 纬度]",
                        feature.code
                    ));
                }
                features.push(feature);
            }
            _ => errors.extend(rules.into_iter().map(|rule| FeatureError {
                index,
                code: code.clone(),
                rule,
            })),
        }
    }
    if !errors.is_empty() {
        return Err(GridImportError { errors });
    }

    let shapes: Vec<(&str, &MultiPolygon<f64>)> = features
        .iter()
        .map(|f| (f.code.as_str(), &f.boundary))
        .collect();
    warnings.extend(pairwise_overlaps(
        &shapes,
        &shapes,
        OVERLAP_TOLERANCE_M2,
        true,
    ));
    Ok(ParsedGrids { features, warnings })
}

/// Reads one feature, pushing every problem onto `rules`; returns its code (for messages) and
/// the feature when there was no problem.
fn parse_feature(
    index: usize,
    item: &Value,
    rules: &mut Vec<String>,
) -> (Option<String>, Option<GridFeature>) {
    if item.get("type").and_then(Value::as_str) != Some("Feature") {
        rules.push("不是 GeoJSON Feature 对象（type 应为 \"Feature\"）".into());
        return (None, None);
    }
    let props = item.get("properties");
    let mut optional = |key| {
        text_property(props, key).unwrap_or_else(|rule| {
            rules.push(rule);
            None
        })
    };
    let parent_code = optional("parent");
    let name = optional("name");
    let code = match text_property(props, "code") {
        Ok(Some(code)) => {
            let checked = match &parent_code {
                Some(parent) => validate_code(RegionLevel::Grid, &code, Some(parent)),
                None => validate_code_format(RegionLevel::Grid, &code),
            };
            if let Err(e) = checked {
                rules.push(e.to_string());
            }
            Some(code)
        }
        Ok(None) => {
            rules.push("缺少 code 属性（15位网格编码）".into());
            None
        }
        Err(rule) => {
            rules.push(rule);
            None
        }
    };
    let boundary = match item.get("geometry").filter(|g| !g.is_null()) {
        None => {
            rules.push("缺少几何对象（geometry）".into());
            None
        }
        Some(g) => checked_boundary(g, rules),
    };
    let feature = match (&code, boundary) {
        (Some(code), Some(boundary)) if rules.is_empty() => Some(GridFeature {
            index,
            code: code.clone(),
            name,
            parent_code,
            boundary,
        }),
        _ => None,
    };
    (code, feature)
}

/// A string property, trimmed; empty counts as absent. Whole numbers are accepted because GIS
/// tools often export code columns as numbers.
fn text_property(props: Option<&Value>, key: &str) -> Result<Option<String>, String> {
    match props.and_then(|p| p.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
        Some(_) => Err(format!("{key} 属性应为字符串")),
    }
}

type RawPolygons = Vec<Vec<Vec<Coord<f64>>>>;

/// The structure of a (Multi)Polygon geometry object: polygons → rings → [lng, lat] coordinates.
fn read_polygons(g: &Value) -> Result<RawPolygons, String> {
    let kind = g
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("（缺少 type）");
    let coordinates = g.get("coordinates").ok_or("几何对象缺少 coordinates")?;
    let polygons: Vec<&Value> = match kind {
        "Polygon" => vec![coordinates],
        "MultiPolygon" => coordinates
            .as_array()
            .ok_or("MultiPolygon 的 coordinates 应为数组")?
            .iter()
            .collect(),
        other => {
            return Err(format!(
                "几何类型应为 Polygon 或 MultiPolygon，实际为 {other}"
            ));
        }
    };
    if polygons.is_empty() {
        return Err("MultiPolygon 不含任何多边形".into());
    }
    let multi = polygons.len() > 1;
    polygons
        .iter()
        .enumerate()
        .map(|(p, polygon)| {
            let rings = polygon
                .as_array()
                .filter(|r| !r.is_empty())
                .ok_or_else(|| format!("{}缺少外环", polygon_label(multi, p)))?;
            rings
                .iter()
                .enumerate()
                .map(|(r, ring)| {
                    let label = ring_label(multi, p, r);
                    let bad =
                        || format!("{label}的坐标格式错误，每个坐标应为 [经度, 纬度] 两个数字");
                    ring.as_array()
                        .ok_or_else(bad)?
                        .iter()
                        .map(|pos| match pos.as_array().map(Vec::as_slice) {
                            Some([x, y, ..]) => match (x.as_f64(), y.as_f64()) {
                                (Some(x), Some(y)) => Ok(Coord { x, y }),
                                _ => Err(bad()),
                            },
                            _ => Err(bad()),
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn polygon_label(multi: bool, p: usize) -> String {
    if multi {
        format!("第{}个多边形的", p + 1)
    } else {
        String::new()
    }
}

fn ring_label(multi: bool, p: usize, r: usize) -> String {
    match r {
        0 => format!("{}外环", polygon_label(multi, p)),
        r => format!("{}第{r}个内环", polygon_label(multi, p)),
    }
}

/// The import rules on top of the structure: ring length and closure, coordinate ranges, then
/// geo's validity (no self-intersection, holes inside, parts not overlapping).
fn checked_boundary(g: &Value, rules: &mut Vec<String>) -> Option<MultiPolygon<f64>> {
    let polygons = match read_polygons(g) {
        Ok(p) => p,
        Err(rule) => {
            rules.push(rule);
            return None;
        }
    };
    let multi = polygons.len() > 1;
    let before = rules.len();
    for (p, rings) in polygons.iter().enumerate() {
        for (r, ring) in rings.iter().enumerate() {
            let label = ring_label(multi, p, r);
            if ring.len() < 4 {
                rules.push(format!(
                    "{label}至少需要4个坐标（首尾相同），实际为{}个",
                    ring.len()
                ));
            } else if ring.first() != ring.last() {
                rules.push(format!("{label}未闭合（首尾坐标不同）"));
            }
            if let Some((k, c)) = ring
                .iter()
                .enumerate()
                .find(|(_, c)| !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y))
            {
                rules.push(format!(
                    "{label}第{}个坐标 [{}, {}] 超出范围（经度应在-180~180，纬度应在-90~90）",
                    k + 1,
                    c.x,
                    c.y
                ));
            }
        }
    }
    if rules.len() > before {
        return None;
    }
    let boundary = to_multi_polygon(polygons);
    for problem in boundary.validation_errors() {
        rules.push(validity_rule(multi, &problem));
    }
    if rules.len() == before && boundary.unsigned_area() == 0.0 {
        rules.push("多边形面积为0".into());
    }
    (rules.len() == before).then_some(boundary)
}

fn to_multi_polygon(polygons: RawPolygons) -> MultiPolygon<f64> {
    MultiPolygon(
        polygons
            .into_iter()
            .map(|rings| {
                let mut rings = rings.into_iter().map(LineString);
                let exterior = rings.next().unwrap_or_else(|| LineString(Vec::new()));
                Polygon::new(exterior, rings.collect())
            })
            .collect(),
    )
}

fn validity_rule(multi: bool, problem: &InvalidMultiPolygon) -> String {
    let ring = |p: usize, role: &RingRole| match role {
        RingRole::Exterior => ring_label(multi, p, 0),
        RingRole::Interior(i) => ring_label(multi, p, i + 1),
    };
    match problem {
        InvalidMultiPolygon::InvalidPolygon(idx, e) => {
            let p = idx.0;
            match e {
                InvalidPolygon::TooFewPointsInRing(r) => {
                    format!("{}至少需要3个不同的点", ring(p, r))
                }
                InvalidPolygon::SelfIntersection(r) => {
                    format!("{}自相交（边与边交叉或自接触）", ring(p, r))
                }
                InvalidPolygon::NonFiniteCoord(r, k) => {
                    format!("{}第{}个坐标不是有限数值", ring(p, r), k.0 + 1)
                }
                InvalidPolygon::InteriorRingNotContainedInExteriorRing(r) => {
                    format!("{}不在外环之内", ring(p, r))
                }
                InvalidPolygon::IntersectingRingsOnALine(a, b)
                | InvalidPolygon::IntersectingRingsOnAnArea(a, b) => {
                    format!("{}与{}相交（环之间只能在单点相接）", ring(p, a), ring(p, b))
                }
            }
        }
        InvalidMultiPolygon::ElementsOverlaps(a, b) => {
            format!("第{}个与第{}个多边形重叠", a.0 + 1, b.0 + 1)
        }
        InvalidMultiPolygon::ElementsTouchOnALine(a, b) => format!(
            "第{}个与第{}个多边形沿边相接（应合并为一个多边形）",
            a.0 + 1,
            b.0 + 1
        ),
    }
}

/// Area in square metres (equirectangular around the shape's mid-latitude).
pub fn area_m2(shape: &MultiPolygon<f64>) -> f64 {
    let Some(rect) = shape.bounding_rect() else {
        return 0.0;
    };
    let mid_lat = (rect.min().y + rect.max().y) / 2.0;
    shape.unsigned_area() * M_PER_DEG * M_PER_DEG * mid_lat.to_radians().cos()
}

/// Area of the intersection of two shapes, in square metres.
pub fn overlap_area_m2(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> f64 {
    area_m2(&a.intersection(b))
}

/// Warnings for new grids overlapping stored ones by more than
/// `max(tolerance_m2, OVERLAP_TOLERANCE_RATIO × the smaller area)`; a new grid is not compared
/// with a stored grid of the same code, which it replaces.
pub fn overlap_warnings(
    new: &[(String, MultiPolygon<f64>)],
    existing: &[(String, MultiPolygon<f64>)],
    tolerance_m2: f64,
) -> Vec<String> {
    fn view(v: &[(String, MultiPolygon<f64>)]) -> Vec<(&str, &MultiPolygon<f64>)> {
        v.iter().map(|(c, s)| (c.as_str(), s)).collect()
    }
    pairwise_overlaps(&view(new), &view(existing), tolerance_m2, false)
}

/// Overlap warnings between `a` and `b` (R-tree prefiltered); with `same_set`, each unordered
/// pair once.
fn pairwise_overlaps(
    a: &[(&str, &MultiPolygon<f64>)],
    b: &[(&str, &MultiPolygon<f64>)],
    tolerance_m2: f64,
    same_set: bool,
) -> Vec<String> {
    let tree = bbox_tree(b.iter().map(|(_, s)| *s));
    let mut warnings = Vec::new();
    for (i, (a_code, a_shape)) in a.iter().enumerate() {
        let Some(envelope) = envelope(a_shape) else {
            continue;
        };
        let mut candidates: Vec<usize> = tree
            .locate_in_envelope_intersecting(&envelope)
            .map(|g| g.data)
            .filter(|&j| if same_set { j > i } else { b[j].0 != *a_code })
            .collect();
        candidates.sort_unstable();
        for j in candidates {
            let (b_code, b_shape) = b[j];
            let overlap = overlap_area_m2(a_shape, b_shape);
            let smaller = area_m2(a_shape).min(area_m2(b_shape));
            if overlap > tolerance_m2.max(OVERLAP_TOLERANCE_RATIO * smaller) {
                warnings.push(format!(
                    "网格 {a_code} 与 网格 {b_code} 重叠约 {overlap:.0} 平方米"
                ));
            }
        }
    }
    warnings
}

fn envelope(shape: &MultiPolygon<f64>) -> Option<AABB<[f64; 2]>> {
    let r = shape.bounding_rect()?;
    Some(AABB::from_corners(
        [r.min().x, r.min().y],
        [r.max().x, r.max().y],
    ))
}

type BoxTree = RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>;

/// An R-tree of bounding boxes whose data is the shape's position; empty shapes are left out.
fn bbox_tree<'a>(shapes: impl Iterator<Item = &'a MultiPolygon<f64>>) -> BoxTree {
    RTree::bulk_load(
        shapes
            .enumerate()
            .filter_map(|(i, s)| {
                let e = envelope(s)?;
                Some(GeomWithData::new(Rectangle::from_aabb(e), i))
            })
            .collect(),
    )
}

/// The boundary as a GeoJSON geometry object (what the database stores).
pub fn to_geojson(boundary: &MultiPolygon<f64>) -> Value {
    Value::from(&geojson::GeometryValue::from(boundary))
}

/// Reads a stored GeoJSON Polygon or MultiPolygon geometry back (structure only; rings are
/// closed automatically).
pub fn from_geojson_geometry(text: &str) -> Result<MultiPolygon<f64>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("不是有效的 GeoJSON 几何对象：{e}"))?;
    read_polygons(&value).map(to_multi_polygon)
}

/// A label position (lng, lat): the centroid, or an interior point when the centroid falls
/// outside (C-shaped grids).
pub fn centroid(boundary: &MultiPolygon<f64>) -> Option<(f64, f64)> {
    let c = boundary.centroid()?;
    let p = if boundary.intersects(&c) {
        c
    } else {
        boundary.interior_point().unwrap_or(c)
    };
    Some((p.x(), p.y()))
}

/// Point → grid lookup over many grid polygons.
#[derive(Debug, Clone)]
pub struct GridIndex {
    tree: BoxTree,
    /// Sorted by code, so the lowest position among hits is the lowest code.
    grids: Vec<(String, MultiPolygon<f64>)>,
}

impl GridIndex {
    /// Builds the index; grids with an empty boundary are dropped.
    pub fn new(mut grids: Vec<(String, MultiPolygon<f64>)>) -> Self {
        grids.retain(|(_, s)| s.bounding_rect().is_some());
        grids.sort_by(|a, b| a.0.cmp(&b.0));
        let tree = bbox_tree(grids.iter().map(|(_, s)| s));
        GridIndex { tree, grids }
    }

    /// The grid containing the point (boundary included); on a shared edge, the lowest code.
    pub fn locate(&self, lng: f64, lat: f64) -> Option<&str> {
        let point = Point::new(lng, lat);
        self.tree
            .locate_all_at_point(&[lng, lat])
            .map(|g| g.data)
            .filter(|&i| self.grids[i].1.intersects(&point))
            .min()
            .map(|i| self.grids[i].0.as_str())
    }

    /// Number of indexed grids.
    pub fn len(&self) -> usize {
        self.grids.len()
    }

    /// Whether no grid is indexed.
    pub fn is_empty(&self) -> bool {
        self.grids.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use geo::GeodesicArea;
    use proptest::prelude::*;
    use serde_json::json;

    const G1: &str = "350503001001001";
    const G2: &str = "350503001001002";
    const G3: &str = "350503001001003";
    const COMPOUND: &str = "35050300100101";

    /// A closed square ring [lng, lat] with its lower-left corner at (x, y).
    fn ring(x: f64, y: f64, s: f64) -> Value {
        json!([[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]])
    }

    fn square(x: f64, y: f64, s: f64) -> MultiPolygon<f64> {
        from_geojson_geometry(
            &json!({"type": "Polygon", "coordinates": [ring(x, y, s)]}).to_string(),
        )
        .unwrap()
    }

    fn feature(props: Value, geometry: Value) -> Value {
        json!({"type": "Feature", "properties": props, "geometry": geometry})
    }

    fn polygon(rings: Value) -> Value {
        json!({"type": "Polygon", "coordinates": rings})
    }

    fn collection(features: Vec<Value>) -> String {
        json!({"type": "FeatureCollection", "features": features}).to_string()
    }

    fn errors_of(text: &str) -> Vec<String> {
        parse_grid_geojson(text)
            .unwrap_err()
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn parses_adjacent_grids_without_warnings() {
        let text = collection(vec![
            feature(
                json!({"code": G1, "name": " 一网格 ", "parent": COMPOUND}),
                polygon(json!([ring(118.0, 24.0, 0.002)])),
            ),
            feature(
                json!({"code": G2}),
                polygon(json!([ring(118.002, 24.0, 0.002)])),
            ),
        ]);
        let parsed = parse_grid_geojson(&text).unwrap();
        assert_eq!(parsed.warnings, Vec::<String>::new());
        assert_eq!(parsed.features.len(), 2);
        let first = &parsed.features[0];
        assert_eq!(
            (
                first.index,
                first.code.as_str(),
                first.name.as_deref(),
                first.parent_code.as_deref()
            ),
            (1, G1, Some("一网格"), Some(COMPOUND))
        );
        assert_eq!(parsed.features[1].index, 2);
        assert_eq!(parsed.features[1].name, None);
    }

    #[test]
    fn accepts_a_single_feature_and_multipolygons() {
        let geometry = json!({"type": "MultiPolygon", "coordinates": [
            [ring(118.0, 24.0, 0.001)],
            [ring(118.01, 24.0, 0.001)],
        ]});
        let text = feature(json!({"code": G1}), geometry).to_string();
        let parsed = parse_grid_geojson(&text).unwrap();
        assert_eq!(parsed.features[0].boundary.0.len(), 2);
    }

    #[test]
    fn file_level_errors() {
        let cases = [
            ("{not json", "文件：不是有效的 JSON"),
            (
                r#"{"type":"Polygon","coordinates":[]}"#,
                "文件：顶层类型应为 FeatureCollection",
            ),
            (
                r#"{"type":"FeatureCollection"}"#,
                "文件：FeatureCollection 缺少 features",
            ),
            (
                r#"{"type":"FeatureCollection","features":[]}"#,
                "文件：文件中没有任何要素",
            ),
            ("[]", "文件：不是 GeoJSON"),
        ];
        for (text, expected) in cases {
            let errors = errors_of(text);
            assert_eq!(errors.len(), 1, "{text}");
            assert!(errors[0].starts_with(expected), "{text}: {errors:?}");
        }
    }

    #[test]
    fn collects_every_error_and_returns_nothing() {
        let ok = |x: f64| polygon(json!([ring(x, 24.0, 0.001)]));
        let bowtie = json!([[
            [118.0, 24.0],
            [118.001, 24.001],
            [118.001, 24.0],
            [118.0, 24.001],
            [118.0, 24.0]
        ]]);
        let hole_outside = json!([ring(118.0, 24.0, 0.001), ring(118.01, 24.01, 0.0005)]);
        let text = collection(vec![
            feature(json!({"code": G1}), ok(118.0)),       // 1: fine
            feature(json!({"name": "无编码"}), ok(118.1)), // 2
            feature(
                json!({"code": G3}),
                polygon(json!([[
                    [118.0, 24.0],
                    [118.001, 24.0],
                    [118.001, 24.001],
                    [118.0, 24.001],
                    [118.0, 24.0005]
                ]])),
            ), // 3
            feature(json!({"code": "350503001001"}), ok(118.2)), // 4: community code
            feature(json!({"code": G1}), ok(118.3)),       // 5: duplicate
            feature(json!({"code": "350503001001004"}), Value::Null), // 6
            feature(
                json!({"code": "350503001001005"}),
                json!({"type": "LineString", "coordinates": [[118.0, 24.0], [118.1, 24.1]]}),
            ), // 7
            feature(
                json!({"code": "350503001001006"}),
                polygon(json!([[[118.0, 24.0], [118.1, 24.0], [118.0, 24.0]]])),
            ), // 8
            feature(
                json!({"code": "350503001001007"}),
                polygon(json!([[
                    [118.0, 24.0],
                    [118.1, 91.0],
                    [118.1, 24.1],
                    [118.0, 24.0]
                ]])),
            ), // 9
            feature(json!({"code": "350503001001008"}), polygon(bowtie)), // 10
            feature(json!({"code": "350503001001009"}), polygon(hole_outside)), // 11
            feature(
                json!({"code": "350503001002001", "parent": COMPOUND}),
                ok(118.4),
            ), // 12
            feature(
                json!({"code": 350503001001010_u64}),
                polygon(json!([[[118.0, 24.0], [118.0]]])),
            ), // 13
            json!({"type": "Point"}),                      // 14
        ]);
        let errors = parse_grid_geojson(&text).unwrap_err().errors;
        let indexes: Vec<usize> = errors.iter().map(|e| e.index).collect();
        assert_eq!(indexes, (2..=14).collect::<Vec<_>>(), "{errors:#?}");
        let msg: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let expect = [
            "第2个要素：缺少 code 属性",
            "第3个要素（编码 350503001001003）：外环未闭合（首尾坐标不同）",
            "第4个要素（编码 350503001001）：编码 350503001001 不符合规则：网格编码应为15位数字",
            "第5个要素（编码 350503001001001）：编码与第1个要素重复",
            "第6个要素（编码 350503001001004）：缺少几何对象（geometry）",
            "第7个要素（编码 350503001001005）：几何类型应为 Polygon 或 MultiPolygon，实际为 LineString",
            "第8个要素（编码 350503001001006）：外环至少需要4个坐标（首尾相同），实际为3个",
            "第9个要素（编码 350503001001007）：外环第2个坐标 [118.1, 91] 超出范围",
            "第10个要素（编码 350503001001008）：外环自相交",
            "第11个要素（编码 350503001001009）：第1个内环不在外环之内",
            "第12个要素（编码 350503001002001）：编码 350503001002001 不符合规则：网格编码",
            "第13个要素（编码 350503001001010）：外环的坐标格式错误",
            "第14个要素：不是 GeoJSON Feature 对象",
        ];
        for (m, e) in msg.iter().zip(expect) {
            assert!(m.starts_with(e), "{m}\n  expected prefix {e}");
        }
        let whole = parse_grid_geojson(&text).unwrap_err().to_string();
        assert!(whole.starts_with("网格文件有13处错误"), "{whole}");
    }

    #[test]
    fn names_the_part_of_a_multipolygon() {
        let open = json!([
            [118.01, 24.0],
            [118.011, 24.0],
            [118.011, 24.001],
            [118.01, 24.001]
        ]);
        let geometry =
            json!({"type": "MultiPolygon", "coordinates": [[ring(118.0, 24.0, 0.001)], [open]]});
        let errors = errors_of(&feature(json!({"code": G1}), geometry).to_string());
        assert_eq!(
            errors,
            vec![format!(
                "第1个要素（编码 {G1}）：第2个多边形的外环未闭合（首尾坐标不同）"
            )]
        );

        let overlapping = json!({"type": "MultiPolygon", "coordinates": [[ring(118.0, 24.0, 0.002)], [ring(118.001, 24.0, 0.002)]]});
        let errors = errors_of(&feature(json!({"code": G1}), overlapping).to_string());
        assert!(errors[0].ends_with("第1个与第2个多边形重叠"), "{errors:?}");
    }

    #[test]
    fn overlap_inside_the_file_is_a_warning_with_its_area() {
        // Second square shifted by a quarter of its width: overlap is 3/4 of one square.
        let text = collection(vec![
            feature(
                json!({"code": G1}),
                polygon(json!([ring(118.0, 24.0, 0.002)])),
            ),
            feature(
                json!({"code": G2}),
                polygon(json!([ring(118.0005, 24.0, 0.002)])),
            ),
            feature(
                json!({"code": G3}),
                polygon(json!([ring(118.1, 24.0, 0.002)])),
            ),
        ]);
        let parsed = parse_grid_geojson(&text).unwrap();
        assert_eq!(parsed.features.len(), 3);
        assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
        let expected = 0.75 * area_m2(&square(118.0, 24.0, 0.002));
        assert!(parsed.warnings[0].starts_with(&format!("网格 {G1} 与 网格 {G2} 重叠约 ")));
        let shown: f64 = parsed.warnings[0]
            .trim_start_matches(&format!("网格 {G1} 与 网格 {G2} 重叠约 "))
            .trim_end_matches(" 平方米")
            .parse()
            .unwrap();
        assert!((shown - expected).abs() <= 1.0, "{shown} vs {expected}");
    }

    #[test]
    fn warns_when_the_grid_is_not_in_china() {
        // Swapped [lat, lng].
        let text = feature(
            json!({"code": G1}),
            polygon(json!([ring(24.0, 80.0, 0.001)])),
        )
        .to_string();
        let parsed = parse_grid_geojson(&text).unwrap();
        assert!(
            parsed.warnings[0].contains("不在中国境内"),
            "{:?}",
            parsed.warnings
        );
    }

    #[test]
    fn area_agrees_with_geodesic_area() {
        for (x, y, s) in [
            (118.0, 24.0, 0.01),
            (87.6, 43.8, 0.003),
            (126.6, 45.7, 0.02),
        ] {
            let shape = square(x, y, s);
            let geodesic = shape.geodesic_area_unsigned();
            let ours = area_m2(&shape);
            assert!(
                (ours / geodesic - 1.0).abs() < 0.005,
                "{ours} vs {geodesic}"
            );
        }
        assert_eq!(area_m2(&MultiPolygon(vec![])), 0.0);
    }

    #[test]
    fn overlap_area_of_touching_and_crossing_squares() {
        let a = square(118.0, 24.0, 0.002);
        assert!(
            overlap_area_m2(&a, &square(118.002, 24.0, 0.002)) < 1e-3,
            "shared edge"
        );
        assert!(
            overlap_area_m2(&a, &square(118.1, 24.0, 0.002)) == 0.0,
            "apart"
        );
        let quarter = overlap_area_m2(&a, &square(118.001, 24.001, 0.002));
        let expected = area_m2(&square(118.001, 24.001, 0.001));
        assert!(
            (quarter - expected).abs() < 0.01 * expected,
            "{quarter} vs {expected}"
        );
    }

    #[test]
    fn overlap_warnings_against_stored_grids() {
        let stored = vec![(G1.to_owned(), square(118.0, 24.0, 0.002))];
        // ~45 000 m² grids: 0.5% is ~225 m², above the 5 m² floor.
        let small_overlap = square(118.0019, 24.0, 0.002); // 5% overlap, ~2 260 m²
        let tiny_overlap = square(118.001995, 24.0, 0.002); // 0.25% overlap, ~113 m²
        let new = vec![
            (G2.to_owned(), small_overlap),
            (G3.to_owned(), tiny_overlap),
            (G1.to_owned(), square(118.0, 24.0, 0.003)), // same code: a replacement
        ];
        let warnings = overlap_warnings(&new, &stored, OVERLAP_TOLERANCE_M2);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with(&format!("网格 {G2} 与 网格 {G1} 重叠约")));
        // A huge absolute tolerance silences it.
        assert!(overlap_warnings(&new, &stored, 1e9).is_empty());
    }

    #[test]
    fn geojson_round_trip() {
        let shape = MultiPolygon(vec![
            square(118.0, 24.0, 0.01).0.remove(0),
            square(118.1, 24.0, 0.01).0.remove(0),
        ]);
        let value = to_geojson(&shape);
        assert_eq!(value["type"], "MultiPolygon");
        assert_eq!(from_geojson_geometry(&value.to_string()).unwrap(), shape);

        let poly = json!({"type": "Polygon", "coordinates": [ring(118.0, 24.0, 0.01)]}).to_string();
        assert_eq!(
            from_geojson_geometry(&poly).unwrap(),
            square(118.0, 24.0, 0.01)
        );
        assert!(from_geojson_geometry(r#"{"type":"Point","coordinates":[1,2]}"#).is_err());
        assert!(from_geojson_geometry(r#"{"type":"Polygon","coordinates":[[[1]]]}"#).is_err());
        assert!(from_geojson_geometry("nonsense").is_err());
    }

    #[test]
    fn centroid_sits_inside() {
        let (x, y) = centroid(&square(118.0, 24.0, 0.002)).unwrap();
        assert!((x - 118.001).abs() < 1e-9 && (y - 24.001).abs() < 1e-9);
        // A thin C shape whose centroid falls in the gap.
        let c = from_geojson_geometry(
            &json!({"type": "Polygon", "coordinates": [[
                [0.0, 0.0], [3.0, 0.0], [3.0, 0.2], [0.2, 0.2], [0.2, 2.8], [3.0, 2.8],
                [3.0, 3.0], [0.0, 3.0], [0.0, 0.0]
            ]]})
            .to_string(),
        )
        .unwrap();
        let (x, y) = centroid(&c).unwrap();
        assert!(c.intersects(&Point::new(x, y)), "({x}, {y})");
        assert_eq!(centroid(&MultiPolygon(vec![])), None);
    }

    const X0: f64 = 116.0;
    const Y0: f64 = 39.0;
    const STEP: f64 = 0.25;
    const COLS: usize = 4;
    const ROWS: usize = 3;

    fn lattice_code(row: usize, col: usize) -> String {
        format!("350503001001{:03}", row * COLS + col + 1)
    }

    /// A lattice of adjacent squares, inserted in reverse code order to exercise the sort.
    fn lattice() -> GridIndex {
        let mut grids = Vec::new();
        for row in (0..ROWS).rev() {
            for col in (0..COLS).rev() {
                let (x, y) = (X0 + col as f64 * STEP, Y0 + row as f64 * STEP);
                grids.push((lattice_code(row, col), square(x, y, STEP)));
            }
        }
        GridIndex::new(grids)
    }

    /// Brute force over the closed squares: the lowest code whose square holds the point.
    fn expected(x: f64, y: f64) -> Option<String> {
        let mut hits = Vec::new();
        for row in 0..ROWS {
            for col in 0..COLS {
                let (x0, y0) = (X0 + col as f64 * STEP, Y0 + row as f64 * STEP);
                if (x0..=x0 + STEP).contains(&x) && (y0..=y0 + STEP).contains(&y) {
                    hits.push(lattice_code(row, col));
                }
            }
        }
        hits.into_iter().min()
    }

    /// Coordinates around the lattice; half the time snapped to multiples of STEP/2 so shared
    /// edges and corners are hit exactly.
    fn coordinate(lo: f64, cells: usize) -> impl Strategy<Value = f64> {
        let hi = lo + cells as f64 * STEP;
        prop_oneof![
            (lo - 0.3)..(hi + 0.3),
            (-2..=(2 * cells as i32 + 2)).prop_map(move |k| lo + f64::from(k) * STEP / 2.0),
        ]
    }

    proptest! {
        #[test]
        fn lattice_points_resolve_to_their_square(
            x in coordinate(X0, COLS),
            y in coordinate(Y0, ROWS),
        ) {
            let index = lattice();
            prop_assert_eq!(index.locate(x, y).map(str::to_owned), expected(x, y));
        }
    }

    #[test]
    fn edges_and_corners_go_to_the_lowest_code() {
        let index = lattice();
        assert_eq!(index.len(), ROWS * COLS);
        // Edge between columns 0 and 1 of row 0.
        assert_eq!(
            index.locate(X0 + STEP, Y0 + 0.1),
            Some(lattice_code(0, 0).as_str())
        );
        // Corner shared by four squares.
        assert_eq!(
            index.locate(X0 + STEP, Y0 + STEP),
            Some(lattice_code(0, 0).as_str())
        );
        // Outer corner and just outside.
        assert_eq!(index.locate(X0, Y0), Some(lattice_code(0, 0).as_str()));
        assert_eq!(index.locate(X0 - 1e-9, Y0), None);
        assert_eq!(index.locate(f64::NAN, Y0), None);
        let empty = GridIndex::new(vec![(G1.to_owned(), MultiPolygon(vec![]))]);
        assert!(empty.is_empty());
        assert_eq!(empty.locate(X0, Y0), None);
    }

    #[test]
    fn exact_test_rejects_bounding_box_hits() {
        // A triangle: the upper-left half of its bounding box is outside.
        let triangle = from_geojson_geometry(
            r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}"#,
        )
        .unwrap();
        let index = GridIndex::new(vec![(G1.to_owned(), triangle)]);
        assert_eq!(index.locate(0.9, 0.1), Some(G1));
        assert_eq!(index.locate(0.1, 0.9), None);
    }
}
