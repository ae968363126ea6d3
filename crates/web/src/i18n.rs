//! Two languages, one table: every key carries its Chinese and English text side by side, so a
//! key can never exist in one language only. Chinese is the default.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn from_cookie(value: Option<&str>) -> Lang {
        match value {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// Translator handed to templates as `t`.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn s(&self, key: &str) -> &'static str {
        match MESSAGES.iter().find(|(k, _, _)| *k == key) {
            Some((_, zh, en)) => match self.lang {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => "??",
        }
    }

    /// One of two labels a domain type carries itself (`Stage::zh` / `Stage::en` …).
    pub fn pick(&self, zh: &'static str, en: &'static str) -> &'static str {
        match self.lang {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    pub fn is_en(&self) -> bool {
        self.lang == Lang::En
    }

    pub fn role(&self, role: &jinlin_domain::accounts::Role) -> &'static str {
        match self.lang {
            Lang::Zh => role.zh(),
            Lang::En => role.en(),
        }
    }

    pub fn level(&self, level: &jinlin_domain::regions::RegionLevel) -> &'static str {
        match self.lang {
            Lang::Zh => level.zh(),
            Lang::En => level.en(),
        }
    }

    pub fn post(&self, kind: &jinlin_domain::accounts::PostKind) -> &'static str {
        match self.lang {
            Lang::Zh => kind.zh(),
            Lang::En => kind.en(),
        }
    }
}

pub const MESSAGES: &[(&str, &str, &str)] = &[
    ("app.name", "近邻", "Jinlin"),
    (
        "app.tagline",
        "近邻党建 · 网格化基层治理平台",
        "Neighbourhood governance platform",
    ),
    (
        "app.slogan",
        "一张网格管到底，近邻服务暖人心",
        "One grid over the whole territory, neighbours serving neighbours",
    ),
    ("nav.home", "工作台", "Dashboard"),
    ("nav.regions", "区划网格", "Regions & grids"),
    ("nav.map", "网格地图", "Grid map"),
    ("nav.staff", "人员账号", "Staff accounts"),
    ("nav.import", "网格导入", "Import grids"),
    ("nav.audit", "审计日志", "Audit log"),
    ("nav.api", "接口文档", "API docs"),
    ("nav.me", "我的", "Me"),
    ("nav.section.work", "日常工作", "Daily work"),
    ("nav.section.admin", "系统管理", "Administration"),
    ("lang.switch", "English", "中文"),
    ("action.logout", "退出登录", "Sign out"),
    ("action.login", "登录", "Sign in"),
    ("action.search", "搜索", "Search"),
    ("action.save", "保存", "Save"),
    ("action.create", "创建", "Create"),
    ("action.cancel", "取消", "Cancel"),
    ("action.view", "查看", "View"),
    ("action.map", "查看地图", "Show map"),
    ("action.assign", "添加岗位", "Add post"),
    ("action.remove", "移除", "Remove"),
    ("action.locate", "定位", "Locate"),
    ("action.import", "开始导入", "Import"),
    ("action.disable", "停用账号", "Disable account"),
    ("action.enable", "启用账号", "Enable account"),
    ("action.reset_password", "重置密码", "Reset password"),
    ("action.new_user", "新建账号", "New account"),
    ("action.prev", "上一页", "Previous"),
    ("action.next", "下一页", "Next"),
    ("action.expand", "展开", "Expand"),
    ("login.title", "登录近邻", "Sign in to Jinlin"),
    ("login.username", "用户名", "Username"),
    ("login.password", "密码", "Password"),
    (
        "login.hint",
        "工作人员使用单位分配的账号登录；连续输错 5 次将锁定 15 分钟。",
        "Staff sign in with the account issued by their office; 5 wrong passwords in a row lock the account for 15 minutes.",
    ),
    (
        "login.expired",
        "您已长时间未操作，请重新登录。",
        "Your session expired after inactivity. Please sign in again.",
    ),
    ("home.title", "工作台", "Dashboard"),
    ("home.welcome", "您好", "Hello"),
    ("home.jurisdiction", "管辖范围", "Jurisdiction"),
    ("home.counts", "辖区概况", "Overview"),
    ("home.posts", "我的岗位", "My posts"),
    (
        "home.no_posts",
        "您目前没有网格、楼栋或社区岗位。",
        "You hold no grid, building or community post.",
    ),
    ("home.quick", "常用功能", "Shortcuts"),
    ("regions.title", "区划与网格", "Regions and grids"),
    (
        "regions.subtitle",
        "区/县 → 街道 → 社区 → 小区 → 网格 → 楼栋",
        "District → street → community → compound → grid → building",
    ),
    (
        "regions.search_placeholder",
        "输入名称或编码，如“东霞”或 350503001",
        "Name or code, e.g. 350503001",
    ),
    ("regions.search_results", "搜索结果", "Search results"),
    (
        "regions.no_results",
        "没有找到匹配的区划或网格",
        "No region or grid matches",
    ),
    (
        "regions.no_results_hint",
        "请换一个关键词，或检查编码是否输入完整。",
        "Try another word or check the code.",
    ),
    ("regions.children", "下级区划", "Sub-regions"),
    ("regions.no_children", "暂无下级区划", "No sub-regions yet"),
    ("regions.staff", "岗位人员", "Posted staff"),
    (
        "regions.no_staff",
        "该节点暂未配备岗位人员",
        "No staff posted here yet",
    ),
    ("regions.code", "编码", "Code"),
    ("regions.name", "名称", "Name"),
    ("regions.level", "层级", "Level"),
    ("regions.count", "下级数", "Children"),
    ("regions.area", "面积", "Area"),
    ("regions.centroid", "中心点", "Centre"),
    ("regions.boundary", "网格边界", "Grid boundary"),
    (
        "regions.no_boundary",
        "尚未导入边界",
        "No boundary imported yet",
    ),
    ("regions.detail", "基本信息", "Details"),
    ("regions.post_kind", "岗位", "Post"),
    (
        "regions.username_hint",
        "填写已有账号的用户名",
        "Username of an existing account",
    ),
    ("map.title", "网格地图", "Grid map"),
    (
        "map.hint",
        "点击地图任意位置，查看该点所属网格及网格员；也可输入坐标定位。",
        "Click anywhere to find the grid and its staff, or enter coordinates.",
    ),
    ("map.lat", "纬度", "Latitude"),
    ("map.lng", "经度", "Longitude"),
    (
        "map.empty",
        "该范围内还没有带边界的网格",
        "No grid with a boundary here yet",
    ),
    ("map.grids", "个网格", "grids"),
    ("staff.title", "人员账号", "Staff accounts"),
    (
        "staff.subtitle",
        "管辖范围内的工作人员、志愿者和居民账号",
        "Accounts in your jurisdiction",
    ),
    (
        "staff.search_placeholder",
        "按用户名或姓名搜索",
        "Search by username or name",
    ),
    ("staff.empty", "没有符合条件的账号", "No matching accounts"),
    (
        "staff.empty_hint",
        "可以点击右上角“新建账号”添加工作人员。",
        "Use “New account” to add staff.",
    ),
    ("staff.username", "用户名", "Username"),
    ("staff.display_name", "姓名", "Name"),
    ("staff.role", "角色", "Role"),
    ("staff.region", "所属区划", "Region"),
    (
        "staff.region_hint",
        "填写区划编码，账号只能看到该区划及其下级",
        "Region code; the account sees this node and below",
    ),
    ("staff.phone", "工作电话", "Work phone"),
    ("staff.status", "状态", "Status"),
    ("staff.active", "正常", "Active"),
    ("staff.inactive", "已停用", "Disabled"),
    ("staff.locked", "已锁定", "Locked"),
    ("staff.password", "初始密码", "Initial password"),
    (
        "staff.password_hint",
        "留空则自动生成，仅显示一次；至少 8 位且含字母和数字",
        "Leave empty to generate one (shown once); 8+ characters with letters and digits",
    ),
    ("staff.new_title", "新建账号", "New account"),
    ("staff.created", "账号已创建", "Account created"),
    (
        "staff.generated",
        "请将以下初始密码告知本人，页面关闭后不再显示：",
        "Give this initial password to the person; it is not shown again:",
    ),
    ("staff.posts", "所任岗位", "Posts held"),
    ("staff.created_at", "创建时间", "Created"),
    ("import.title", "导入网格边界", "Import grid boundaries"),
    (
        "import.hint",
        "上传 GeoJSON（WGS-84 坐标）。每个要素的 properties 需包含 code（15 位网格编码）；新网格还需 name 和 parent（所属小区编码）。文件中任何一处错误都会整体回退，不会导入一半。",
        "Upload GeoJSON (WGS-84). Each feature needs properties.code (15-digit grid code); new grids also need name and parent (compound code). Any error rolls the whole file back.",
    ),
    ("import.file", "GeoJSON 文件", "GeoJSON file"),
    ("import.done", "导入完成", "Import finished"),
    ("import.created", "新建网格", "Grids created"),
    ("import.updated", "更新边界", "Boundaries updated"),
    ("import.warnings", "提醒", "Warnings"),
    (
        "import.failed",
        "导入失败，未导入任何数据",
        "Import failed; nothing was imported",
    ),
    ("audit.title", "审计日志", "Audit log"),
    (
        "audit.subtitle",
        "登录、失败尝试、越权访问和所有管理操作，只增不改",
        "Sign-ins, failures, refused access and every administrative change; append-only",
    ),
    ("audit.at", "时间", "Time"),
    ("audit.actor", "操作人", "Actor"),
    ("audit.action", "操作", "Action"),
    ("audit.target", "对象", "Target"),
    ("audit.outcome", "结果", "Outcome"),
    ("audit.detail", "说明", "Detail"),
    ("audit.empty", "暂无审计记录", "No audit entries"),
    ("common.total", "共", "Total"),
    ("common.items", "条", "items"),
    ("common.page", "页", "page"),
    ("common.none", "无", "None"),
    ("error.title", "出错了", "Something went wrong"),
    ("error.back", "返回工作台", "Back to dashboard"),
    ("error.forbidden", "无权访问", "Access denied"),
    ("error.not_found", "页面不存在", "Not found"),
    ("api.title", "接口文档", "API documentation"),
    ("nav.webhooks", "推送记录", "Webhook deliveries"),
    ("nav.categories", "事件分类", "Categories"),
    ("nav.routing", "派单规则", "Routing"),
    ("nav.calendar", "工作日历", "Working calendar"),
    (
        "settings.categories",
        "事件分类与时限",
        "Categories and time limits",
    ),
    (
        "settings.categories_hint",
        "每类事件的响应、到场、办结时限，紧急程度和默认处置层级。修改后新登记的案件立即按新时限计算。",
        "Response, on-site and resolution limits, urgency and default tier of every category; new cases use changes at once.",
    ),
    ("settings.name", "名称", "Name"),
    ("settings.code", "代码", "Code"),
    ("settings.response", "响应时限", "Response"),
    ("settings.onsite", "到场时限", "On site"),
    ("settings.onsite_none", "不要求到场", "Not required"),
    ("settings.resolution", "办结时限", "Resolution"),
    ("settings.unit", "单位", "Unit"),
    ("settings.unit.minutes", "分钟", "minutes"),
    ("settings.unit.working_hours", "工作时", "working hours"),
    ("settings.unit.working_days", "工作日", "working days"),
    ("settings.urgency", "紧急程度", "Urgency"),
    ("settings.urgency.normal", "一般", "Normal"),
    ("settings.urgency.urgent", "紧急", "Urgent"),
    ("settings.urgency.critical", "特急", "Critical"),
    ("settings.level", "默认处置层级", "Default tier"),
    (
        "settings.active",
        "启用（居民和网格员可选择）",
        "Active (offered when reporting)",
    ),
    ("settings.inactive", "已停用", "inactive"),
    ("settings.edit", "修改", "Edit"),
    ("settings.save", "保存", "Save"),
    ("settings.saved", "已保存。", "Saved."),
    (
        "settings.routing",
        "承办单位与派单规则",
        "Units and routing",
    ),
    (
        "settings.routing_hint",
        "某类事件在某个区划由哪个单位承办；规则对该区划及下级全部有效，下级另设规则的以下级为准。",
        "Which unit handles a category in a region; a rule covers the whole subtree unless a deeper rule overrides it.",
    ),
    ("settings.units", "承办单位", "Handling units"),
    ("settings.no_units", "还没有承办单位。", "No units yet."),
    ("settings.new_unit", "新增单位", "New unit"),
    ("settings.unit_kind", "类型", "Kind"),
    ("settings.unit_kind.department", "职能部门", "Department"),
    ("settings.unit_kind.partner", "共建单位", "Partner unit"),
    ("settings.phone", "联系电话", "Phone"),
    ("settings.routes", "派单规则", "Routing rules"),
    (
        "settings.no_routes",
        "还没有派单规则，案件由社区受理后人工派单。",
        "No rules yet: the community desk dispatches by hand.",
    ),
    ("settings.category", "事件分类", "Category"),
    ("settings.region", "区划", "Region"),
    ("settings.region_code", "区划编码", "Region code"),
    ("settings.unit_handling", "承办单位", "Handling unit"),
    ("settings.calendar", "工作日历", "Working calendar"),
    (
        "settings.calendar_hint",
        "已内置国家法定节假日和调休；在此补充本地的节假日或调休上班日，以工作日计算的时限随之调整。",
        "Official holidays and make-up workdays are built in; add local ones here and working-day deadlines follow.",
    ),
    ("settings.day", "日期", "Date"),
    ("settings.day_kind", "类型", "Kind"),
    ("settings.holiday", "节假日（不上班）", "Holiday"),
    ("settings.workday", "调休上班", "Make-up workday"),
    ("settings.note", "说明", "Note"),
    ("settings.note_ph", "例如：县庆放假", "e.g. county day off"),
    (
        "settings.no_days",
        "没有本地补充的日期。",
        "No local changes.",
    ),
    ("webhooks.title", "推送记录", "Webhook deliveries"),
    (
        "webhooks.subtitle",
        "案件事件以签名 JSON 推送到配置的地址；失败自动重试，重试用尽的列在“失败”中。",
        "Case events are POSTed as signed JSON; failures are retried with backoff and end up under Dead.",
    ),
    (
        "webhooks.off",
        "未配置推送地址（webhook_url），不会推送任何事件。",
        "No webhook_url is configured: nothing is sent.",
    ),
    ("webhooks.dead", "失败", "Dead"),
    ("webhooks.pending", "待推送", "Pending"),
    ("webhooks.delivered", "已送达", "Delivered"),
    ("webhooks.empty", "没有记录", "Nothing here"),
    ("webhooks.event", "事件", "Event"),
    ("webhooks.case", "案件", "Case"),
    ("webhooks.at", "产生时间", "Created"),
    ("webhooks.attempts", "尝试次数", "Attempts"),
    ("webhooks.next", "下次尝试", "Next attempt"),
    ("webhooks.error", "最近错误", "Last error"),
    ("webhooks.retry", "重新推送", "Retry"),
    ("nav.open311", "Open311 接入", "Open311 clients"),
    ("nav.people", "实有人口", "Residents"),
    (
        "nav.people_access",
        "个人信息访问记录",
        "Personal data access",
    ),
    ("nav.care_tags", "重点人群标签", "Care tags"),
    ("open311.title", "Open311 接入密钥", "Open311 client keys"),
    (
        "open311.subtitle",
        "其他城市的 311 应用、FixMyStreet 或数据平台按 Open311 GeoReport v2 标准接入：查询无需密钥，提交诉求须用本页发放的密钥，每个密钥只能向一个区县提交。",
        "311 apps, FixMyStreet installs and data platforms connect through Open311 GeoReport v2: reading needs no key; filing needs a key made here, bound to one district.",
    ),
    ("open311.endpoint", "接口地址", "Endpoint"),
    ("open311.discovery", "服务发现", "Discovery"),
    ("open311.new", "发放新密钥", "New key"),
    ("open311.name", "客户端名称", "Client name"),
    (
        "open311.name_ph",
        "例如：市 12345 平台",
        "e.g. city 311 app",
    ),
    ("open311.contact", "对接联系人", "Contact"),
    (
        "open311.contact_ph",
        "姓名和电话，便于出问题时联系",
        "Name and phone, for when something goes wrong",
    ),
    ("open311.district", "可提交的区县", "District"),
    ("open311.per_minute", "每分钟上限", "Requests per minute"),
    (
        "open311.receipt",
        "以令牌回执（客户端轮询 tokens/ 取编号）",
        "Answer with a token (the client polls tokens/)",
    ),
    ("open311.create", "生成密钥", "Create key"),
    (
        "open311.created",
        "密钥已生成。请现在复制交给对接方，离开本页后将无法再次查看：",
        "Key created. Copy it now and hand it over; it is not shown again:",
    ),
    ("open311.keys", "已发放的密钥", "Keys"),
    ("open311.empty", "还没有发放任何密钥。", "No keys yet."),
    ("open311.prefix", "密钥前缀", "Key prefix"),
    ("open311.requests", "已提交", "Filed"),
    ("open311.last_used", "最近使用", "Last used"),
    ("open311.created_at", "发放", "Created"),
    ("open311.status", "状态", "Status"),
    ("open311.active", "有效", "Active"),
    ("open311.revoked", "已停用", "Revoked"),
    ("open311.revoke", "停用", "Revoke"),
    (
        "open311.revoke_confirm",
        "停用后该客户端将无法再提交诉求，确定吗？",
        "The client will no longer be able to file. Revoke?",
    ),
    ("open311.token", "令牌回执", "Token receipt"),
    ("open311.never", "从未使用", "Never"),
    // Sign-up and reporting without an account.
    ("signup.title", "居民注册", "Resident sign-up"),
    (
        "signup.subtitle",
        "用手机号注册后，可以随时反映问题、查看办理进度、评价结果。",
        "With an account you can report problems, follow them and rate the result.",
    ),
    ("signup.phone", "手机号", "Mobile number"),
    ("signup.send_code", "获取验证码", "Send code"),
    ("signup.code_sent", "验证码已发送至 ", "Code sent to "),
    ("signup.code", "短信验证码", "SMS code"),
    ("signup.name", "姓名", "Name"),
    ("signup.community", "居住社区", "Community you live in"),
    ("signup.password", "设置密码", "Password"),
    (
        "signup.password_hint",
        "至少 8 位，须同时包含字母和数字",
        "At least 8 characters with letters and digits",
    ),
    ("signup.submit", "注册并登录", "Sign up"),
    ("public.report_title", "反映问题", "Report a problem"),
    (
        "public.report_hint",
        "不用注册，留下手机号即可，社区会电话联系您。",
        "No account needed: leave your phone number and the community will call you back.",
    ),
    (
        "public.report_link",
        "不注册，直接反映问题",
        "Report without an account",
    ),
    (
        "public.signup_link",
        "注册账号，随时查看进度",
        "Sign up to follow it online",
    ),
    (
        "public.done_title",
        "已收到您反映的问题",
        "We have received your report",
    ),
    ("public.done_number", "受理编号", "Reference"),
    (
        "public.done_hint",
        "社区工作人员会尽快处理并电话联系您。求助类 5 分钟内有人回应。",
        "Community staff will handle it and call you back; help requests are answered within 5 minutes.",
    ),
    ("public.again", "再反映一件", "Report another"),
    ("login.signup", "居民注册", "Sign up as a resident"),
    (
        "login.report",
        "不登录反映问题",
        "Report without signing in",
    ),
    // The case loop.
    ("home.work", "我的工作", "My work"),
    ("home.tasks", "待办案件", "Open tasks"),
    ("home.overdue", "其中超期", "Of which overdue"),
    ("home.my_open", "办理中的诉求", "Appeals in progress"),
    ("home.unread", "未读消息", "Unread messages"),
    ("nav.cases", "案件办理", "Cases"),
    ("nav.report", "登记上报", "Report"),
    ("nav.inbox", "消息", "Inbox"),
    ("nav.my_cases", "我的诉求", "My appeals"),
    ("nav.tasks", "我的任务", "My tasks"),
    ("time.minutes", "分钟", "min"),
    ("time.hours", "小时", "h"),
    ("time.days", "天", "d"),
    ("time.left", "剩余", "due in"),
    ("time.overdue", "超期", "overdue by"),
    ("warning.blue", "正常", "On time"),
    ("warning.yellow", "时限过半", "Half the time used"),
    ("warning.orange", "即将超期", "Nearly due"),
    ("warning.red", "已超期", "Overdue"),
    ("case.view.tasks", "我的任务", "My tasks"),
    ("case.view.all", "全部案件", "All cases"),
    ("case.view.mine", "我的诉求", "My appeals"),
    (
        "case.empty.tasks",
        "眼下没有待办的案件，辛苦了。",
        "Nothing waits for you right now.",
    ),
    (
        "case.empty.all",
        "所选条件下没有案件。",
        "No cases match these filters.",
    ),
    (
        "case.empty.mine",
        "您还没有反映过问题。遇到困难或发现问题，点“我要反映”告诉我们。",
        "You have not reported anything yet. Use “Report a problem” to tell us.",
    ),
    ("case.empty.title", "没有案件", "No cases"),
    ("case.flag.overdue", "超期", "Overdue"),
    ("case.flag.supervised", "督办", "Supervised"),
    ("case.flag.suspended", "挂账", "Suspended"),
    ("case.flag.pending", "待审批", "Awaiting approval"),
    ("case.filter.stage", "办理阶段", "Stage"),
    ("case.filter.any_stage", "全部阶段", "Any stage"),
    ("case.filter.overdue", "只看超期", "Overdue only"),
    ("case.filter.supervised", "只看督办", "Supervised only"),
    ("case.filter.open", "只看未办结", "Open only"),
    (
        "case.filter.q",
        "搜索描述或地址",
        "Search description or address",
    ),
    ("case.col.case", "案件", "Case"),
    ("case.col.stage", "阶段", "Stage"),
    ("case.col.place", "位置", "Place"),
    ("case.col.created", "上报时间", "Reported"),
    ("case.col.due", "时限", "Deadline"),
    ("case.new.resident", "我要反映", "Report a problem"),
    ("case.new.patrol", "巡查上报", "Patrol report"),
    ("case.new.hotline", "热线代录", "Hotline entry"),
    (
        "case.new.resident_hint",
        "说清楚什么事、在哪里，能拍照最好。求助类 5 分钟内有人回应，30 分钟内有人上门。",
        "Say what is wrong and where; a photo helps. Help requests are answered within 5 minutes and someone is at your door within 30.",
    ),
    (
        "case.new.patrol_hint",
        "巡查发现的问题：定位、拍照、写清现象，提交后进入社区受理。",
        "What the patrol found: locate, photograph, describe; the community desk takes it from there.",
    ),
    (
        "case.new.hotline_hint",
        "替来电群众登记：联系电话必填，便于回访。",
        "Entered for a caller: the caller's phone is required for the follow-up call.",
    ),
    ("case.field.category", "事件分类", "Category"),
    ("case.field.choose", "请选择", "Choose"),
    ("case.field.description", "问题描述", "What is wrong"),
    (
        "case.field.questions",
        "补充信息（请根据实际情况填写）",
        "A few more questions",
    ),
    (
        "case.field.description_ph",
        "例如：3号楼2单元楼道堆满纸箱，堵住了消防通道",
        "e.g. cardboard boxes block the stairwell of building 3, unit 2",
    ),
    ("case.field.location", "位置", "Location"),
    ("case.field.use_location", "使用当前位置", "Use my location"),
    (
        "case.field.map_hint",
        "或在地图上点选位置",
        "or tap the map to drop a pin",
    ),
    ("case.field.place", "所在楼栋 / 网格", "Building / grid"),
    (
        "case.field.place_none",
        "不选（以地图定位为准）",
        "None (use the map pin)",
    ),
    ("case.field.address", "详细地址", "Address"),
    (
        "case.field.address_ph",
        "例如：东霞新村3号楼2单元",
        "e.g. building 3, unit 2",
    ),
    ("case.field.photos", "照片", "Photos"),
    (
        "case.field.photos_hint",
        "可拍照或从相册选择，JPEG / PNG / WebP",
        "Take or choose photos: JPEG, PNG or WebP",
    ),
    ("case.field.reporter_name", "联系人", "Contact name"),
    ("case.field.reporter_phone", "联系电话", "Contact phone"),
    ("case.field.submit", "提交", "Submit"),
    ("case.field.pin", "已选位置", "Pinned"),
    ("case.category", "分类", "Category"),
    ("case.channel", "来源", "Channel"),
    ("case.place", "位置", "Place"),
    ("case.reporter", "反映人", "Reporter"),
    ("case.created", "上报时间", "Reported at"),
    ("case.response_due", "响应时限", "Response due"),
    ("case.responded_at", "已于", "answered"),
    ("case.onsite_due", "到场时限", "On site due"),
    ("case.onsite_at", "到场于", "arrived"),
    ("case.resolution_due", "办结时限", "Resolution due"),
    ("case.resolved_at", "办结于", "resolved"),
    ("case.level", "处置层级", "Handled by"),
    ("case.nobody", "待派单", "Not dispatched"),
    (
        "case.awaiting_take",
        "已派单，待签收",
        "Dispatched, not yet taken",
    ),
    ("case.counts", "返工 / 催办", "Rework / urges"),
    ("case.rework", "返工", "rework"),
    ("case.urges", "催办", "urges"),
    ("case.rating", "群众评价", "Rating"),
    ("case.supervised_until", "督办时限", "Supervision due"),
    ("case.pending_extension", "延期申请", "Extension requested"),
    (
        "case.pending_suspension",
        "挂账申请",
        "Suspension requested",
    ),
    ("case.merged_into", "已合并到", "Merged into"),
    ("case.system", "系统", "System"),
    ("case.action.report", "上报", "Reported"),
    ("case.action.report_in", "报到", "Reported in"),
    ("case.action.reclassify", "改分类", "Reclassified"),
    ("case.reclassify", "调整分类", "Change category"),
    (
        "case.flash.reclassified",
        "分类已调整，时限和承办单位已按新分类更新。",
        "Category changed; deadlines and routing follow it.",
    ),
    (
        "case.field.choose_or_skip",
        "不确定的可不选，由社区分类",
        "Not sure? Leave it: the community will classify it",
    ),
    ("case.reported_in", "已报到", "reported in"),
    ("case.awaiting_report_in", "待报到", "awaiting report-in"),
    ("case.description", "问题描述", "Description"),
    ("case.facts", "案件信息", "Case facts"),
    ("case.photos", "现场照片", "Photos"),
    ("case.timeline", "办理过程", "Timeline"),
    ("case.internal", "内部", "internal"),
    ("case.actions", "可执行的操作", "What you can do"),
    (
        "case.no_actions",
        "当前没有需要您处理的操作。",
        "Nothing for you to do on this case now.",
    ),
    (
        "case.closed_note",
        "本案件已结束。",
        "This case is finished.",
    ),
    ("case.whistles", "吹哨报到", "Departments called in"),
    ("case.report_in", "报到", "Report in"),
    ("case.map", "位置地图", "Location"),
    ("case.back", "返回列表", "Back to the list"),
    ("case.input.reason", "理由", "Reason"),
    ("case.input.result", "办理结果", "Result"),
    (
        "case.input.result_ph",
        "写清怎么处理的、处理到什么程度，可附照片",
        "What was done, and how far; photos welcome",
    ),
    ("case.input.to", "派给", "Dispatch to"),
    ("case.input.workers", "网格人员", "Grid staff"),
    ("case.input.teams", "志愿服务队", "Volunteer teams"),
    (
        "case.input.units",
        "职能部门 / 共建单位",
        "Departments / partner units",
    ),
    ("case.input.tiers", "上级", "Higher tier"),
    ("case.input.into", "合并到案件编号", "Merge into case no."),
    ("case.input.deadline", "督办时限", "Supervision deadline"),
    ("case.input.until", "延期至", "Extend until"),
    (
        "case.input.units_call",
        "召集部门",
        "Departments to call in",
    ),
    ("case.input.note", "备注（选填）", "Note (optional)"),
    ("case.input.photos", "附照片（选填）", "Photos (optional)"),
    (
        "case.flash.reported",
        "已收到您反映的问题，我们会尽快处理，可在“我的诉求”查看进度。",
        "Received. Follow its progress under “My appeals”.",
    ),
    ("case.flash.reported_in", "已报到。", "Reported in."),
    (
        "case.flash.registered",
        "已登记，案件已进入办理流程。",
        "Registered: the case is on its way.",
    ),
    ("case.count_prefix", "共", "Total"),
    ("case.count_unit", "件", "cases"),
    ("case.flash.done", "已完成：", "Done: "),
    ("inbox.title", "消息", "Inbox"),
    ("inbox.unread", "条未读", "unread"),
    ("inbox.read_all", "全部标为已读", "Mark all read"),
    ("inbox.read", "标为已读", "Mark read"),
    ("inbox.open", "查看案件", "Open case"),
    (
        "inbox.empty",
        "暂无消息。派单、催办、办结等提醒会出现在这里。",
        "No messages. Dispatches, urges and results show up here.",
    ),
    ("stats.nav", "统计分析", "Statistics"),
    ("stats.title", "统计分析", "Case statistics"),
    (
        "stats.subtitle",
        "按区划和时段统计案件办理情况；点击下级区划可逐级下钻",
        "Case handling by region and period; click a sub-region to drill down",
    ),
    ("stats.period", "统计时段", "Period"),
    ("stats.from", "开始日期", "From"),
    ("stats.to", "结束日期", "To"),
    ("stats.apply", "查询", "Apply"),
    ("stats.custom", "自定义", "Custom"),
    ("stats.preset.30d", "近30天", "Last 30 days"),
    ("stats.preset.week", "本周", "This week"),
    ("stats.preset.month", "本月", "This month"),
    ("stats.preset.quarter", "本季度", "This quarter"),
    ("stats.preset.year", "本年", "This year"),
    ("stats.export", "导出 Excel", "Export to Excel"),
    ("stats.kpi.reported", "有效上报", "Valid reports"),
    ("stats.kpi.acceptance", "受理率", "Acceptance rate"),
    (
        "stats.kpi.response",
        "响应时长（平均 / 中位）",
        "Response time (mean / median)",
    ),
    ("stats.kpi.on_time", "按期办结率", "On-time resolution rate"),
    ("stats.kpi.completion", "办结率", "Closure rate"),
    ("stats.kpi.rework", "返工率", "Rework rate"),
    ("stats.kpi.satisfaction", "满意率", "Satisfaction rate"),
    (
        "stats.formula.reported",
        "有效上报 = 时段内上报的案件 − 合并的重复件",
        "Valid reports = cases reported in the period − merged duplicates",
    ),
    (
        "stats.formula.acceptance",
        "受理率 = 已受理及后续阶段的案件 ÷ 有效上报",
        "Acceptance rate = cases accepted or further ÷ valid reports",
    ),
    (
        "stats.formula.response",
        "响应时长 = 首次工作人员响应时间 − 上报时间（已响应的案件；中位数按分段直方图估算）",
        "Response time = first staff response − report time (responded cases; the median is estimated from a histogram)",
    ),
    (
        "stats.formula.on_time",
        "按期办结率 = 在办结时限内办结的案件 ÷ 已办结的案件",
        "On-time rate = cases resolved by their deadline ÷ resolved cases",
    ),
    (
        "stats.formula.completion",
        "办结率 = 已销号 ÷ (有效上报 − 不予受理)",
        "Closure rate = closed ÷ (valid reports − rejected)",
    ),
    (
        "stats.formula.rework",
        "返工率 = 曾返工（核查不通过或重新办理）的已办结案件 ÷ 已办结的案件",
        "Rework rate = resolved cases that needed rework ÷ resolved cases",
    ),
    (
        "stats.formula.satisfaction",
        "满意率 = (满意 + 基本满意) ÷ 已评价的案件",
        "Satisfaction rate = (satisfied + basically satisfied) ÷ rated cases",
    ),
    ("stats.formulas", "指标口径", "How the figures are computed"),
    ("stats.chart.stages", "各阶段件数", "Cases by stage"),
    ("stats.chart.trend", "每日上报趋势", "Daily reports"),
    (
        "stats.chart.categories",
        "事件分类前 10",
        "Top 10 categories",
    ),
    ("stats.chart.channels", "上报渠道", "Channels"),
    ("stats.series.reported", "上报", "Reported"),
    ("stats.series.closed", "其中已销号", "Of which closed"),
    ("stats.children", "下级区划", "Sub-regions"),
    ("stats.col.region", "区划", "Region"),
    ("stats.col.level", "层级", "Level"),
    ("stats.col.overdue", "超期", "Overdue"),
    ("stats.own", "本级直接上报", "Reported at this level"),
    ("stats.drill", "下钻", "Drill down"),
    ("stats.empty", "该时段内没有案件", "No cases in this period"),
    (
        "stats.empty_hint",
        "换一个时段或区划再试；案件上报后这里会显示统计。",
        "Try another period or region; figures appear once cases are reported.",
    ),
    ("stats.unit.min", "分钟", "min"),
    ("stats.unit.hour", "小时", "h"),
    ("stats.unit.day", "天", "d"),
    // people import/export
    (
        "people_import.nav",
        "人员导入导出",
        "People import and export",
    ),
    ("people_import.title", "人员导入", "Import people"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_key_exists() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for part in text.split("t.s(\"").skip(1) {
                let key = part.split('"').next().unwrap_or_default();
                if !MESSAGES.iter().any(|(k, _, _)| *k == key) {
                    missing.push(format!("{}: {key}", entry.path().display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from MESSAGES: {missing:?}"
        );
    }

    #[test]
    fn keys_are_unique_and_english_is_not_chinese() {
        let mut keys: Vec<_> = MESSAGES.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "duplicate i18n keys");
        for (k, _, en) in MESSAGES {
            if *k != "lang.switch" {
                assert!(
                    !en.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                    "English text of {k} contains Chinese"
                );
            }
        }
        let en = Tr { lang: Lang::En };
        assert_eq!(en.s("nav.regions"), "Regions & grids");
        assert_eq!(Tr { lang: Lang::Zh }.s("nav.regions"), "区划网格");
    }
}
