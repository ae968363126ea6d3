//! The category taxonomy (事件分类) with per-category time limits and handling tier (DESIGN
//! sections 2 and 4).
//!
//! Two parts:
//! - Jinlin's own groups for what residents bring to a community (求助, 民生诉求, 矛盾纠纷, 安全隐患 …),
//!   with ascii codes such as `help` and `help.elderly`. The 求助 limits (5-minute response,
//!   30-minute on-site) follow the "5分钟内有人回应，半小时内有志愿者上门相助" practice in the seeds.
//! - The urban-management part with GB/T 47678.5-2026 codes (reference/anchors-china.md 1.1.5 b):
//!   管理事项 classes 06–10 as `E06` … with items `E06010`, and 管理部件 classes 01–05 as `C01` … with
//!   items `C01001`. Only codes named in the reference are used; components the reference names
//!   without a code get an ascii code (`C01.street_lamp`) and no `standard_code`, while `standard`
//!   still names the standard they come from.
//!
//! Resolution limits for urban-management events take the figures of reference 1.1.3 where it has
//! one (暴露垃圾 4 工作时, 渣土 2 工作日, 道路保洁 2 工作时, 绿地保洁 4 工作时, 私搭乱建 处罚 7 工作日,
//! 水域不洁 15 工作日) and typical 数字城管 values otherwise.

use serde::{Deserialize, Serialize};

use crate::deadlines::{DeadlineSpec, Urgency};

/// The standard the urban-management codes come from.
pub const GB_STANDARD: &str = "GB/T 47678.5-2026";
/// Longest category name, in characters (the standard's 事项名称 is 30 characters).
pub const MAX_NAME_CHARS: usize = 30;
const MAX_CODE_CHARS: usize = 40;
const MAX_STANDARD_CHARS: usize = 40;
const MAX_DESCRIPTION_CHARS: usize = 200;
const MAX_KEYWORDS: usize = 30;
const MAX_KEYWORD_CHARS: usize = 20;

/// `ALL`, `as_str` (the serde name), `parse`, `zh` and `en` for a fieldless enum.
macro_rules! labels {
    ($name:ident { $($v:ident => $id:literal, $zh:literal, $en:literal;)+ }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)+];
            /// Stable snake_case identifier for the database and the API.
            pub fn as_str(self) -> &'static str { match self { $($name::$v => $id,)+ } }
            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
            pub fn zh(self) -> &'static str { match self { $($name::$v => $zh,)+ } }
            pub fn en(self) -> &'static str { match self { $($name::$v => $en,)+ } }
        }
    };
}

/// The handling tier (分级处置) and the escalation ladder grid → community → street → department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandlingLevel {
    Grid,
    Community,
    Street,
    Department,
}

labels!(HandlingLevel {
    Grid => "grid", "网格", "Grid";
    Community => "community", "社区", "Community";
    Street => "street", "街道", "Street";
    Department => "department", "部门", "Department";
});

impl HandlingLevel {
    /// One step up the ladder; None at Department.
    pub fn next(self) -> Option<HandlingLevel> {
        self.step(1)
    }

    /// `self` raised `steps` times, saturating at Department.
    pub fn raised(self, steps: u8) -> HandlingLevel {
        self.step(usize::from(steps))
            .unwrap_or(HandlingLevel::Department)
    }

    /// `ALL` is ordered bottom to top, like the derived `Ord`.
    fn step(self, steps: usize) -> Option<HandlingLevel> {
        let at = Self::ALL.iter().position(|&l| l == self)?;
        Self::ALL.get(at.saturating_add(steps)).copied()
    }
}

/// What kind of case a category files: 诉求 (a resident's appeal/help request) or 事件 (found by
/// patrol / urban-management event / component problem).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryKind {
    Appeal,
    Help,
    Event,
    Component,
}

labels!(CategoryKind {
    Appeal => "appeal", "诉求", "Appeal";
    Help => "help", "求助", "Help request";
    Event => "event", "事件", "Event";
    Component => "component", "部件", "Component";
});

/// One category of the seeded taxonomy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategorySpec {
    /// Stable code, unique: `E06010` for 管理事项 06010, `C01001` for 管理部件 01001, short ascii for
    /// Jinlin's own groups (`help`, `help.elderly`, `livelihood` …). Top-level groups have no parent.
    pub code: String,
    pub parent: Option<String>,
    /// Chinese name.
    pub name: String,
    pub kind: CategoryKind,
    /// The standard code it maps to, e.g. `Some("06010")` with standard `Some("GB/T 47678.5-2026")`;
    /// 2 digits for a class (大类), 5 for an item (小类); None for Jinlin's own.
    pub standard_code: Option<String>,
    pub standard: Option<String>,
    pub response: DeadlineSpec,
    pub onsite: Option<DeadlineSpec>,
    pub resolution: DeadlineSpec,
    pub urgency: Urgency,
    /// Default handling tier.
    pub level: HandlingLevel,
    /// One line a resident understands.
    pub description: String,
    /// For search and Open311 keywords.
    pub keywords: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// Validates an admin's edit; Err names the field and rule in Chinese, e.g. "名称：不能为空",
/// "响应时限：必须在1到10080分钟之间".
pub fn validate(spec: &CategorySpec) -> Result<(), String> {
    check_code("代码", &spec.code)?;
    if let Some(parent) = &spec.parent {
        check_code("上级分类", parent)?;
        if parent == &spec.code {
            return Err("上级分类：不能是自己".into());
        }
    }
    check_text("名称", &spec.name, MAX_NAME_CHARS)?;
    if let Some(code) = &spec.standard_code {
        let digits = if spec.parent.is_none() { 2 } else { 5 };
        if code.len() != digits || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(
                "标准代码：顶层分类应为2位大类代码，下级分类应为5位小类代码（均为数字）".into(),
            );
        }
        if spec.standard.is_none() {
            return Err("标准：填写了标准代码时必须注明所依据的标准".into());
        }
    }
    if let Some(standard) = &spec.standard {
        check_text("标准", standard, MAX_STANDARD_CHARS)?;
    }
    check_limit("响应时限", spec.response, (10_080, 40, 5))?;
    if let Some(onsite) = spec.onsite {
        check_limit("到场时限", onsite, (10_080, 40, 5))?;
        if let (DeadlineSpec::NaturalMinutes(r), DeadlineSpec::NaturalMinutes(o)) =
            (spec.response, onsite)
            && o < r
        {
            return Err("到场时限：不能短于响应时限".into());
        }
    }
    check_limit("办结时限", spec.resolution, (43_200, 200, 60))?;
    check_text("说明", &spec.description, MAX_DESCRIPTION_CHARS)?;
    if spec.keywords.len() > MAX_KEYWORDS {
        return Err(format!("关键词：最多{MAX_KEYWORDS}个"));
    }
    for (i, kw) in spec.keywords.iter().enumerate() {
        check_text("关键词", kw, MAX_KEYWORD_CHARS)?;
        if spec.keywords[..i].contains(kw) {
            return Err(format!("关键词：“{kw}”重复了"));
        }
    }
    Ok(())
}

fn check_code(field: &str, code: &str) -> Result<(), String> {
    if code.is_empty() {
        return Err(format!("{field}：不能为空"));
    }
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(format!("{field}：不能超过{MAX_CODE_CHARS}个字符"));
    }
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    if !code.bytes().all(ok) || code.starts_with('.') || code.ends_with('.') {
        return Err(format!(
            "{field}：只能由英文字母、数字、点、下划线和连字符组成，且不能以点开头或结尾"
        ));
    }
    Ok(())
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("{field}：不能为空"));
    }
    if text.trim() != text {
        return Err(format!("{field}：首尾不能有空格"));
    }
    if text.chars().count() > max {
        return Err(format!("{field}：不能超过{max}个字"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{field}：只能写一行，不能含换行等控制字符"));
    }
    Ok(())
}

/// `caps` = (natural minutes, working hours, working days) upper bounds; the lower bound is 1.
fn check_limit(field: &str, spec: DeadlineSpec, caps: (u32, u32, u32)) -> Result<(), String> {
    let (amount, cap, unit) = match spec {
        DeadlineSpec::NaturalMinutes(m) => (m, caps.0, "分钟"),
        DeadlineSpec::WorkingHours(h) => (h, caps.1, "个工作时"),
        DeadlineSpec::WorkingDays(d) => (d, caps.2, "个工作日"),
    };
    if (1..=cap).contains(&amount) {
        Ok(())
    } else {
        Err(format!("{field}：必须在1到{cap}{unit}之间"))
    }
}

// ---------------------------------------------------------------------------------------------
// The seed
// ---------------------------------------------------------------------------------------------

/// Time limits, urgency and tier shared by a group and inherited by its children.
#[derive(Clone, Copy)]
struct Limits {
    response: DeadlineSpec,
    onsite: Option<DeadlineSpec>,
    resolution: DeadlineSpec,
    urgency: Urgency,
    level: HandlingLevel,
}

/// Pushes groups and their children; the modifiers (`level`, `urgency` …) edit the last one.
#[derive(Default)]
struct Builder {
    specs: Vec<CategorySpec>,
    /// Index of the current group in `specs`.
    group: usize,
}

/// The name first, then the extra space-separated keywords.
fn keywords(name: &str, extra: &str) -> Vec<String> {
    let extra = extra.split_whitespace().filter(|k| *k != name);
    std::iter::once(name)
        .chain(extra)
        .map(str::to_owned)
        .collect()
}

impl Builder {
    fn group(
        &mut self,
        code: &str,
        name: &str,
        kind: CategoryKind,
        l: Limits,
        description: &str,
        kw: &str,
    ) -> &mut Self {
        self.group = self.specs.len();
        self.specs.push(CategorySpec {
            code: code.into(),
            parent: None,
            name: name.into(),
            kind,
            standard_code: None,
            standard: None,
            response: l.response,
            onsite: l.onsite,
            resolution: l.resolution,
            urgency: l.urgency,
            level: l.level,
            description: description.into(),
            keywords: keywords(name, kw),
        });
        self
    }

    /// A child of the current group, inheriting its kind, standard and limits.
    fn item(&mut self, code: String, name: &str, description: String, kw: &str) -> &mut Self {
        let Some(g) = self.specs.get(self.group) else {
            return self;
        };
        let spec = CategorySpec {
            code,
            parent: Some(g.code.clone()),
            name: name.into(),
            standard_code: None,
            description,
            keywords: keywords(name, kw),
            ..g.clone()
        };
        self.specs.push(spec);
        self
    }

    /// A Jinlin child `<group>.<suffix>`.
    fn child(&mut self, suffix: &str, name: &str, description: &str, kw: &str) -> &mut Self {
        let Some(g) = self.specs.get(self.group) else {
            return self;
        };
        let code = format!("{}.{suffix}", g.code);
        self.item(code, name, description.into(), kw)
    }

    /// Maps the last entry to a GB/T 47678.5 code.
    fn standard(&mut self, code: &str) -> &mut Self {
        self.edit(|s| {
            s.standard_code = Some(code.to_owned());
            s.standard = Some(GB_STANDARD.to_owned());
        })
    }

    fn edit(&mut self, f: impl FnOnce(&mut CategorySpec)) -> &mut Self {
        if let Some(last) = self.specs.last_mut() {
            f(last);
        }
        self
    }

    fn level(&mut self, level: HandlingLevel) -> &mut Self {
        self.edit(|s| s.level = level)
    }

    fn urgency(&mut self, urgency: Urgency) -> &mut Self {
        self.edit(|s| s.urgency = urgency)
    }

    fn kind(&mut self, kind: CategoryKind) -> &mut Self {
        self.edit(|s| s.kind = kind)
    }

    fn resolution(&mut self, resolution: DeadlineSpec) -> &mut Self {
        self.edit(|s| s.resolution = resolution)
    }

    /// Response and on-site limits in natural minutes.
    fn fast(&mut self, response: u32, onsite: Option<u32>) -> &mut Self {
        self.edit(|s| {
            s.response = DeadlineSpec::NaturalMinutes(response);
            s.onsite = onsite.map(DeadlineSpec::NaturalMinutes);
        })
    }
}

/// The GB/T 47678.5 rows: (code or ascii slug when the reference names no code, name,
/// resolution, tier, extra keywords).
mod gb {
    use super::HandlingLevel;
    use super::HandlingLevel::{Community as C, Department as D, Grid as G, Street as S};
    use crate::deadlines::DeadlineSpec::{self, WorkingDays as Wd, WorkingHours as Wh};

    pub(super) type Row = (
        &'static str,
        &'static str,
        DeadlineSpec,
        HandlingLevel,
        &'static str,
    );
    /// (class code, class name, description, rows).
    pub(super) type Class = (&'static str, &'static str, &'static str, &'static [Row]);

    #[rustfmt::skip]
    pub(super) const EVENTS: &[Class] = &[
        ("06", "市容环境类", "街面和小区周边的垃圾、违建、脏乱、破损等市容环境问题", &[
            ("06001", "私搭乱建", Wd(7), D, "违建 违章建筑 乱搭建"),
            ("06002", "店面无证装修", Wd(5), D, "装修"),
            ("06003", "违章接坡", Wd(5), S, ""),
            ("06004", "建筑物外立面污损", Wd(5), C, "外墙"),
            ("06005", "临街阳台屋顶脏乱差", Wd(3), C, "阳台 屋顶"),
            ("06006", "擅自挂彩旗", Wh(8), G, "彩旗"),
            ("06007", "沿街晾挂", Wh(4), G, "晾晒"),
            ("06008", "擅自架设管线杆线", Wd(5), D, "飞线"),
            ("06009", "空调室外机低挂", Wd(5), C, "空调外机"),
            ("06010", "暴露垃圾", Wh(4), G, "垃圾 乱扔垃圾"),
            ("06011", "积存垃圾渣土", Wd(2), C, "渣土 垃圾"),
            ("06012", "道路不洁", Wh(2), G, "路面脏 保洁"),
            ("06013", "道路破损", Wd(3), D, "坑洼 路面"),
            ("06014", "道路遗撒", Wh(4), C, "遗撒"),
            ("06015", "沙(河)滩不洁", Wd(1), C, "河滩"),
            ("06016", "交通标线不清晰", Wd(5), D, "标线"),
            ("06017", "绿地脏乱", Wh(4), G, "绿地 草坪"),
            ("06018", "绿化弃料", Wd(1), C, "树枝"),
            ("06019", "非装饰性吊挂", Wh(8), G, "树挂 吊挂"),
            ("06020", "焚烧垃圾树叶", Wh(2), G, "焚烧 烧垃圾"),
            ("06021", "病虫害", Wd(5), D, "虫害"),
            ("06022", "非法伐树", Wd(3), D, "砍树"),
            ("06023", "堤岸破损", Wd(5), D, "河堤"),
            ("06024", "水域秩序乱象", Wd(3), S, ""),
            ("06025", "水域不洁", Wd(15), C, "河面 漂浮物"),
            ("06026", "河道污染", Wd(5), D, "污染"),
            ("06027", "油烟污染", Wd(5), D, "油烟"),
            ("06028", "噪声扰民", Wd(3), S, "噪音"),
            ("06029", "露天烧烤", Wh(4), S, "烧烤"),
            ("06030", "乱倒乱排污水废水", Wd(2), D, "污水"),
            ("06032", "非正规垃圾填埋场", Wd(10), D, "填埋"),
            ("06033", "乱丢弃医疗废物", Wh(4), D, "医疗废物"),
            ("06034", "废弃车辆", Wd(5), S, "僵尸车"),
            ("06035", "废弃家具设备", Wd(1), G, "旧家具"),
            ("06036", "乱堆杂物", Wd(1), G, "堆物 杂物"),
            ("06037", "动物尸体", Wh(4), C, ""),
            ("06038", "擅自饲养家禽家畜", Wd(5), C, "养鸡 家禽"),
            ("06039", "违章开设道口", Wd(5), D, "道口"),
            ("06040", "私设地锁阻车桩", Wd(2), C, "地锁"),
            ("06041", "垃圾未分类", Wd(1), G, "垃圾分类"),
            ("06042", "垃圾站(箱)满溢", Wh(4), C, "垃圾桶满 垃圾箱"),
            ("06043", "遮阳篷破损", Wd(3), C, "遮阳棚"),
            ("06044", "节庆装饰物破损", Wd(2), C, "灯笼"),
            ("06045", "非法占绿毁绿", Wd(5), D, "毁绿 占绿 种菜"),
            ("06046", "占用河道", Wd(10), D, "河道"),
            ("06047", "公园秩序", Wd(1), S, "公园"),
            ("06048", "边坡破损", Wd(5), D, "边坡"),
            ("06049", "台阶破损", Wd(5), C, "台阶"),
            ("06050", "路缘石缺损", Wd(5), D, "路沿石"),
            ("06051", "盲道缺损", Wd(5), D, "盲道"),
            ("06052", "无障碍坡道破损", Wd(5), D, "无障碍"),
        ]),
        ("07", "宣传广告类", "小广告、违规户外广告和牌匾、标语等宣传品问题", &[
            ("07001", "非法小广告", Wh(8), G, "小广告 牛皮癣 乱贴乱画"),
            ("07002", "街头散发广告", Wh(2), G, "发传单"),
            ("07003", "违规户外广告", Wd(5), D, "户外广告 广告牌"),
            ("07004", "广告语言文字不规范", Wd(5), C, "错别字"),
            ("07006", "违规牌匾标识", Wd(5), D, "招牌 牌匾"),
            ("07007", "违规标语宣传品", Wd(1), C, "横幅 标语"),
            ("07008", "公益性宣传品缺损", Wd(3), C, "公益广告"),
        ]),
        ("08", "施工管理类", "工地扰民、扬尘、占道、渣土运输和无证施工等问题", &[
            ("08001", "施工扰民", Wd(1), D, "施工噪音 夜间施工"),
            ("08002", "施工占道", Wd(2), D, "占道"),
            ("08003", "无证掘路", Wd(1), D, "挖路"),
            ("08004", "工地扬尘", Wh(4), D, "扬尘 灰尘"),
            ("08005", "施工废弃料", Wd(2), D, "建筑垃圾"),
            ("08006", "施工物料乱堆放", Wd(2), D, "堆料"),
            ("08007", "围挡问题", Wd(2), D, "围挡"),
            ("08008", "工地道路未硬化", Wd(5), D, ""),
            ("08009", "出入口道路破损", Wd(5), D, ""),
            ("08010", "未场光地净", Wd(5), D, ""),
            ("08011", "渣土车未安装密闭装置", Wd(1), D, "渣土车"),
            ("08012", "车轮夹带", Wh(4), D, "带泥上路"),
            ("08013", "违规高空悬吊作业", Wh(2), D, "高空作业"),
            ("08014", "预埋件裸露", Wd(2), D, ""),
            ("08015", "施工公示牌污损", Wd(3), D, "公示牌"),
            ("08016", "无证建设", Wd(5), D, "违建"),
        ]),
        ("09", "街面秩序类", "流动摊贩、占道经营、乱停放、占用消防和无障碍通道等街面秩序问题", &[
            ("09001", "无照经营游商", Wh(2), S, "流动摊贩 小贩"),
            ("09002", "早(夜)市管理问题", Wd(1), S, "夜市 早市"),
            ("09003", "流浪乞讨", Wh(4), C, "乞讨 流浪"),
            ("09004", "废品收购乱象", Wd(2), S, "废品"),
            ("09005", "店外经营", Wh(4), G, "出店经营"),
            ("09006", "占道经营", Wh(4), S, "摆摊"),
            ("09008", "非法出版物销售", Wd(1), D, ""),
            ("09009", "机动车乱停放", Wh(2), S, "乱停车 违停"),
            ("09010", "非机动车乱停放", Wh(4), G, "电动车 自行车"),
            ("09011", "共享单车乱象", Wh(8), C, "共享单车"),
            ("09012", "占用消防通道", Wh(2), S, "消防通道"),
            ("09013", "临街屠宰", Wh(4), S, "宰杀"),
            ("09014", "畜力车进城", Wh(2), S, "马车"),
            ("09015", "无证餐饮", Wd(5), D, "餐饮"),
            ("09016", "违规设置停车场", Wd(5), D, "停车场"),
            ("09017", "违规占用桥下空间", Wd(5), S, "桥下"),
            ("09018", "履带车违规上路", Wh(2), D, "履带车"),
            ("09019", "占用无障碍通道", Wh(4), G, "无障碍"),
            ("09020", "农贸市场秩序问题", Wd(1), S, "菜市场"),
            ("09021", "占道洗车", Wh(4), S, "洗车"),
            ("09022", "占道促销宣传", Wh(4), G, "促销"),
        ]),
        ("10", "其他事项类", "道路积雪结冰、架空线缆脱落等其他城市管理问题", &[
            ("10001", "道路积雪、结冰", Wh(8), S, "积雪 结冰 路滑"),
            ("10002", "架空线缆脱落", Wh(4), D, "电线 线缆"),
        ]),
    ];

    #[rustfmt::skip]
    pub(super) const COMPONENTS: &[Class] = &[
        ("01", "市政公用设施", "井盖、路灯、立杆、充电桩等市政公用设施破损、丢失或故障", &[
            ("01001", "供水井盖", Wh(4), D, "井盖 自来水"),
            ("01077", "综合杆", Wd(3), D, "杆"),
            ("pole", "立杆", Wd(3), D, "杆"),
            ("street_lamp", "路灯", Wd(2), D, "路灯不亮"),
            ("kiosk", "报刊亭", Wd(5), D, "报亭"),
            ("fitness", "健身设施", Wd(5), D, "健身器材"),
            ("transformer", "变压器", Wh(8), D, "变电箱"),
            ("charger", "充电桩", Wd(3), D, "充电"),
            ("parcel_locker", "快递柜", Wd(3), D, "快递"),
            ("lift", "公用电梯", Wh(8), D, "电梯"),
        ]),
        ("02", "交通设施", "停车场、隧道等交通设施破损或故障", &[
            ("02001", "停车场", Wd(5), D, ""),
            ("02044", "公路隧道", Wh(8), D, "隧道"),
        ]),
        ("03", "市容环卫设施", "公共厕所、烟头收集器等环卫设施破损或故障", &[
            ("03001", "公共厕所", Wd(1), D, "公厕 厕所"),
            ("03016", "烟头收集器", Wd(3), D, "烟头"),
        ]),
        ("04", "园林绿化设施", "古树名木、林地及管护设施受损", &[
            ("04001", "古树名木", Wd(1), D, "古树"),
            ("04014", "林地及管护设施", Wd(5), D, "林地"),
        ]),
        ("05", "其他设施", "公房地下室、加油加气充电站、文物古迹等其他部件问题", &[
            ("05002", "公房地下室", Wd(5), D, "地下室"),
            ("05003", "车辆加油(气、电)站", Wd(2), D, "加油站 加气站"),
            ("05009", "文物古迹", Wd(3), D, "文物"),
        ]),
    ];

    /// Items that warn early (urgent): hazards to life or traffic.
    pub(super) const URGENT: &[&str] = &[
        "06033",
        "08013",
        "09012",
        "10001",
        "10002",
        "01001",
        "lift",
        "transformer",
        "02044",
    ];

    /// Resident-facing lines for the high-frequency items (reference 1.1.5: 06010, 06011, 06012,
    /// 06017, 06036, 06042, 06045, 07003, 09005, 09006), telling the look-alikes apart.
    #[rustfmt::skip]
    pub(super) const NOTES: &[(&str, &str)] = &[
        ("06010", "路面、绿地等处散落、未装袋的生活垃圾（垃圾桶满溢请选“垃圾站(箱)满溢”）"),
        ("06011", "长期堆积、成堆的垃圾或建筑渣土（零散垃圾请选“暴露垃圾”）"),
        ("06012", "路面有泥土、油污、纸屑等，没有清扫干净"),
        ("06017", "绿地、花坛里有垃圾、杂物，脏乱"),
        ("06036", "在道路、楼前空地上乱堆放杂物、物料"),
        ("06042", "垃圾桶、垃圾站装满后溢出，未及时清运"),
        ("06045", "在绿地里种菜、堆物、停车或毁坏花草树木"),
        ("07003", "未经许可或破损、有安全隐患的户外广告牌"),
        ("09005", "临街店铺把商品、桌椅摆到门外经营（无店铺的路边摊请选“占道经营”）"),
        ("09006", "在道路、人行道上摆摊设点经营"),
    ];
}

/// The seeded taxonomy (returned fresh; admins edit the stored copy).
pub fn seed() -> Vec<CategorySpec> {
    let mut b = Builder::default();
    jinlin(&mut b);
    urban(&mut b);
    b.specs
}

fn lim(
    response: u32,
    onsite: Option<u32>,
    resolution: DeadlineSpec,
    urgency: Urgency,
    level: HandlingLevel,
) -> Limits {
    Limits {
        response: DeadlineSpec::NaturalMinutes(response),
        onsite: onsite.map(DeadlineSpec::NaturalMinutes),
        resolution,
        urgency,
        level,
    }
}

/// Jinlin's own groups.
#[rustfmt::skip]
fn jinlin(b: &mut Builder) {
    use CategoryKind::{Appeal, Event, Help};
    use DeadlineSpec::{WorkingDays as Wd, WorkingHours as Wh};
    use HandlingLevel::{Community, Department, Grid, Street};
    use Urgency::{Critical, Normal, Urgent};

    b.group("help", "求助", Help, lim(5, Some(30), Wh(8), Urgent, Grid),
        "遇到急事需要帮忙：5分钟内有人回应，半小时内有人上门", "帮忙 急事 上门")
        .child("elderly", "独居老人求助", "独居、空巢老人需要照看、代办或上门查看", "老人 空巢 独居")
        .child("medical", "紧急送医协助", "有人突发疾病需要陪同送医（危及生命请先拨打120）", "送医 就医 急病")
        .urgency(Critical).resolution(Wh(4))
        .child("repair", "水电急修求助", "家中停水停电、跑水、断电等需要紧急维修", "停水 停电 跑水")
        .child("disabled", "残疾人求助", "残疾人出行、生活上需要帮助", "残疾 轮椅")
        .child("other", "其他求助", "其他需要尽快有人帮忙的事", "");
    b.group("livelihood", "民生诉求", Appeal, lim(1440, None, Wd(7), Normal, Community),
        "养老、医疗、就业、教育等生活中的困难和诉求", "民生 困难")
        .child("elderly_care", "养老服务", "居家养老、助餐、养老补贴等问题", "养老 助餐 高龄补贴")
        .child("health", "医疗卫生", "社区卫生服务、医保报销、家庭医生等问题", "医保 家庭医生 看病")
        .child("employment", "就业社保", "找工作、失业登记、社保缴纳与待遇等问题", "就业 社保 养老保险")
        .child("education", "教育入学", "入学、转学、学位、托育等问题", "入学 学位 托育")
        .child("assistance", "社会救助", "低保、临时救助、困难帮扶等问题", "低保 救助 困难");
    b.group("consult", "咨询", Appeal, lim(240, None, Wd(3), Normal, Community),
        "想了解政策、办事流程，社区给您答复", "问 了解")
        .child("policy", "政策咨询", "补贴、社保、户籍等政策怎么规定", "政策 补贴")
        .child("guide", "办事指引", "某件事去哪里办、要带什么材料", "办事 材料 流程")
        .level(Grid);
    b.group("dispute", "矛盾纠纷", Appeal, lim(240, None, Wd(15), Normal, Community),
        "邻里、家庭、物业等矛盾，请社区调解员帮忙调解", "调解 矛盾 纠纷")
        .child("neighbour", "邻里纠纷", "与邻居因漏水、噪音、占用公共空间等发生矛盾", "邻居 邻里")
        .child("family", "家庭纠纷", "婚姻、赡养、抚养、继承等家庭矛盾", "婚姻 赡养 继承")
        .child("property", "物业纠纷", "与物业公司在收费、服务等方面的矛盾", "物业费 物业")
        .child("labour", "劳资纠纷", "拖欠工资、劳动合同等劳资矛盾", "欠薪 工资 劳动合同")
        .level(Street);
    b.group("safety", "安全隐患", Event, lim(15, Some(60), Wh(8), Urgent, Grid),
        "可能引发火灾、燃气事故、坠物伤人等的安全隐患（正在发生的火灾请拨打119）", "隐患 安全")
        .child("fire_lane", "消防通道堵塞", "楼道、消防通道被杂物或车辆堵塞", "消防通道 楼道堆物")
        .resolution(Wh(4))
        .child("ebike_charging", "电动车违规充电", "电动车进楼入户、飞线充电", "电动车 飞线 充电")
        .resolution(Wh(4))
        .child("gas", "燃气隐患", "闻到燃气味、燃气管道或设施老化破损", "燃气 煤气 漏气")
        .urgency(Critical).fast(5, Some(30)).resolution(Wh(4)).level(Department)
        .child("falling", "高空坠物隐患", "外墙、窗户、广告牌等有脱落危险，或有人高空抛物", "坠物 抛物 外墙")
        .resolution(Wd(2)).level(Community);
    b.group("sanitation", "环境卫生", Event, lim(30, None, Wd(1), Normal, Grid),
        "小区和楼道内的垃圾、杂物、卫生问题", "卫生 垃圾")
        .child("garbage", "垃圾清运不及时", "小区内垃圾没有及时清运", "垃圾 清运")
        .child("corridor", "楼道杂物", "楼道、楼梯间堆放杂物", "楼道 杂物")
        .child("pets", "宠物粪便", "宠物粪便无人清理、宠物扰民", "宠物 狗")
        .child("greenery", "小区绿化", "小区绿化缺管护、树木需修剪", "绿化 修剪")
        .resolution(Wd(5)).level(Community);
    b.group("repair", "物业/设施维修", Appeal, lim(30, None, Wd(3), Normal, Community),
        "小区电梯、照明、管道等公共设施坏了需要维修", "维修 报修 设施")
        .child("lift", "电梯故障", "电梯停运、异响、困人（困人请同时拨打电梯内救援电话）", "电梯 困人")
        .urgency(Urgent).fast(5, Some(30)).resolution(Wh(8))
        .child("street_lamp", "路灯不亮", "小区或道路路灯不亮、闪烁", "路灯")
        .child("stair_light", "楼道照明", "楼道灯不亮、声控灯失灵", "楼道灯 声控灯")
        .resolution(Wd(2)).level(Grid)
        .child("pipe_leak", "管道漏水", "公共管道滴漏、爆管、下水道堵塞", "漏水 滴漏 堵塞")
        .fast(5, Some(30)).resolution(Wh(8));
    b.group("noise", "噪音", Appeal, lim(60, None, Wd(3), Normal, Community),
        "施工、生活、商业经营产生的噪音扰民", "噪音 扰民 吵")
        .child("construction", "施工噪音", "装修、工地施工噪音，特别是夜间施工", "施工 装修 夜间")
        .level(Street)
        .child("household", "生活噪音", "邻居或室内活动产生的噪音", "邻居 广场舞")
        .level(Grid)
        .child("commercial", "商业噪音", "店铺音响、喇叭叫卖等噪音", "音响 喇叭");
    b.group("parking", "停车", Event, lim(30, None, Wh(4), Normal, Grid),
        "小区和周边道路的停车秩序问题", "停车 车辆")
        .child("disorder", "乱停放", "车辆乱停乱放，影响通行", "乱停车 堵路")
        .child("fire_lane", "占用消防通道停车", "车辆停在消防通道、消防登高场地", "消防通道")
        .urgency(Urgent).fast(15, None).resolution(Wh(2))
        .child("space_dispute", "车位纠纷", "车位被占用、车位归属等矛盾", "车位 占车位")
        .kind(Appeal).resolution(Wd(5)).level(Community);
    b.group("other", "其他", Appeal, lim(1440, None, Wd(5), Normal, Community),
        "找不到合适分类的诉求、意见和建议", "建议 意见");
}

/// The GB/T 47678.5 管理事项 and 管理部件 classes.
fn urban(b: &mut Builder) {
    use CategoryKind::{Component, Event};
    use DeadlineSpec::WorkingDays as Wd;
    use HandlingLevel::Community;
    use Urgency::{Normal, Urgent};

    for (classes, prefix, kind) in [(gb::EVENTS, "E", Event), (gb::COMPONENTS, "C", Component)] {
        for &(class, class_name, description, rows) in classes {
            let group = format!("{prefix}{class}");
            let l = lim(30, None, Wd(5), Normal, Community);
            b.group(&group, class_name, kind, l, description, "城管")
                .standard(class);
            for &(code, name, resolution, level, keywords) in rows {
                let coded = code.bytes().all(|c| c.is_ascii_digit());
                let id = if coded {
                    format!("{prefix}{code}")
                } else {
                    format!("{group}.{code}")
                };
                let description = match gb::NOTES.iter().find(|n| n.0 == code) {
                    Some(&(_, note)) => note.to_owned(),
                    None if kind == Component => {
                        format!("{name}破损、缺失、移位或故障，拍照并标注位置上报")
                    }
                    None => format!("发现“{name}”问题，拍照并标注位置上报"),
                };
                b.item(id, name, description, keywords)
                    .resolution(resolution)
                    .level(level);
                if coded {
                    b.standard(code);
                }
                if gb::URGENT.contains(&code) {
                    b.urgency(Urgent).fast(15, None);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn by_code() -> HashMap<String, CategorySpec> {
        seed().into_iter().map(|s| (s.code.clone(), s)).collect()
    }

    #[test]
    fn seed_codes_are_unique_and_parents_exist() {
        let specs = seed();
        let codes: HashSet<_> = specs.iter().map(|s| s.code.as_str()).collect();
        assert_eq!(codes.len(), specs.len(), "duplicate codes");
        let all = by_code();
        for s in &specs {
            if let Some(p) = &s.parent {
                let parent = all
                    .get(p)
                    .unwrap_or_else(|| panic!("{}: no parent {p}", s.code));
                assert!(parent.parent.is_none(), "{}: two levels only", s.code);
                assert_eq!(
                    parent.kind == CategoryKind::Component,
                    s.kind == CategoryKind::Component
                );
            }
        }
        let mut siblings = HashSet::new();
        for s in &specs {
            assert!(
                siblings.insert((s.parent.clone(), s.name.clone())),
                "{}: same name",
                s.name
            );
        }
    }

    #[test]
    fn every_seeded_spec_validates() {
        for s in seed() {
            assert_eq!(validate(&s), Ok(()), "{}", s.code);
        }
    }

    #[test]
    fn help_answers_in_five_minutes_and_arrives_in_thirty() {
        let specs = seed();
        let help: Vec<_> = specs
            .iter()
            .filter(|s| s.code == "help" || s.parent.as_deref() == Some("help"))
            .collect();
        assert!(help.len() >= 5);
        for s in help {
            assert_eq!(s.kind, CategoryKind::Help);
            assert_eq!(s.response, DeadlineSpec::NaturalMinutes(5), "{}", s.code);
            assert_eq!(
                s.onsite,
                Some(DeadlineSpec::NaturalMinutes(30)),
                "{}",
                s.code
            );
            assert!(s.urgency >= Urgency::Urgent);
            assert_eq!(s.level, HandlingLevel::Grid);
        }
        assert_eq!(by_code()["help.elderly"].name, "独居老人求助");
    }

    #[test]
    fn gb_codes_follow_the_reference() {
        let all = by_code();
        for s in all.values() {
            let Some(code) = &s.standard_code else {
                continue;
            };
            assert_eq!(s.standard.as_deref(), Some(GB_STANDARD));
            let prefix = if s.kind == CategoryKind::Component {
                "C"
            } else {
                "E"
            };
            assert_eq!(s.code, format!("{prefix}{code}"));
            match &s.parent {
                None => assert_eq!(code.len(), 2),
                Some(p) => {
                    assert_eq!(code.len(), 5, "{}", s.code);
                    assert!(code.bytes().all(|b| b.is_ascii_digit()));
                    assert_eq!(all[p].standard_code.as_deref(), Some(&code[..2]));
                }
            }
        }
        for (code, name) in [
            ("E06010", "暴露垃圾"),
            ("E06011", "积存垃圾渣土"),
            ("E06042", "垃圾站(箱)满溢"),
            ("E07001", "非法小广告"),
            ("E07003", "违规户外广告"),
            ("E08016", "无证建设"),
            ("E09005", "店外经营"),
            ("E10001", "道路积雪、结冰"),
            ("C01001", "供水井盖"),
            ("C05003", "车辆加油(气、电)站"),
        ] {
            assert_eq!(all[code].name, name);
        }
        assert_eq!(all["E06010"].resolution, DeadlineSpec::WorkingHours(4));
        assert_eq!(all["E08004"].level, HandlingLevel::Department);
        // Codes the reference skips are not invented.
        for gap in ["E06031", "E07005", "E09007"] {
            assert!(!all.contains_key(gap));
        }
        let count = |p: &str| {
            all.values()
                .filter(|s| s.parent.as_deref() == Some(p))
                .count()
        };
        let counts: Vec<_> = ["E06", "E07", "E08", "E09", "E10"].map(count).to_vec();
        assert_eq!(counts, [51, 7, 16, 21, 2]);
        // Components the reference names without a code carry the standard but no code.
        let lamp = &all["C01.street_lamp"];
        assert_eq!(
            (lamp.name.as_str(), lamp.standard_code.as_deref()),
            ("路灯", None)
        );
    }

    #[test]
    fn the_ladder_climbs_and_saturates() {
        use HandlingLevel::*;
        assert_eq!(Grid.next(), Some(Community));
        assert_eq!(Street.next(), Some(Department));
        assert_eq!(Department.next(), None);
        assert_eq!(Grid.raised(0), Grid);
        assert_eq!(Grid.raised(2), Street);
        assert_eq!(Community.raised(200), Department);
        assert!(Grid < Department);
        for &l in HandlingLevel::ALL {
            assert_eq!(HandlingLevel::parse(l.as_str()), Some(l));
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
        }
        assert_eq!(Street.zh(), "街道");
        assert_eq!(HandlingLevel::parse("city"), None);
        for &k in CategoryKind::ALL {
            assert_eq!(CategoryKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(CategoryKind::Help.zh(), "求助");
    }

    #[test]
    fn validate_names_the_field() {
        let base = by_code()["help.elderly"].clone();
        let err = |f: &dyn Fn(&mut CategorySpec)| {
            let mut s = base.clone();
            f(&mut s);
            validate(&s).unwrap_err()
        };
        assert_eq!(err(&|s| s.name = "  ".into()), "名称：不能为空");
        assert_eq!(err(&|s| s.name = "长".repeat(31)), "名称：不能超过30个字");
        assert_eq!(
            err(&|s| s.response = DeadlineSpec::NaturalMinutes(0)),
            "响应时限：必须在1到10080分钟之间"
        );
        assert_eq!(
            err(&|s| s.resolution = DeadlineSpec::WorkingDays(61)),
            "办结时限：必须在1到60个工作日之间"
        );
        assert_eq!(
            err(&|s| s.onsite = Some(DeadlineSpec::NaturalMinutes(2))),
            "到场时限：不能短于响应时限"
        );
        assert!(err(&|s| s.code = "求助".into()).starts_with("代码："));
        assert!(err(&|s| s.parent = Some(s.code.clone())).starts_with("上级分类："));
        assert!(err(&|s| s.standard_code = Some("123".into())).starts_with("标准代码："));
        assert!(err(&|s| s.standard_code = Some("06010".into())).starts_with("标准："));
        assert!(err(&|s| s.description = "两\n行".into()).starts_with("说明："));
        assert!(err(&|s| s.keywords.push(s.keywords[0].clone())).starts_with("关键词："));
    }

    #[test]
    fn specs_round_trip_through_json() {
        let specs = seed();
        let json = serde_json::to_string(&specs).unwrap();
        assert_eq!(
            serde_json::from_str::<Vec<CategorySpec>>(&json).unwrap(),
            specs
        );
    }
}
