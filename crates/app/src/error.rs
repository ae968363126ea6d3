use jinlin_store::StoreError;

/// One error type for every use case; the web layer maps it to an HTTP status and a stable
/// code, and shows `message` (Chinese, names the field and the rule) to the user.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("未登录或令牌无效：网页请先登录，接口请提供有效的 Authorization: Bearer 令牌")]
    Unauthenticated,
    #[error("用户名或密码错误")]
    BadCredentials,
    #[error("账号已锁定，请在 {minutes} 分钟后再试或联系管理员")]
    Locked { minutes: i64 },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{message}")]
    Conflict { field: String, message: String },
    #[error("系统内部错误，请稍后重试")]
    Internal(String),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> AppError {
        AppError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Stable machine-readable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "unauthenticated",
            AppError::BadCredentials => "bad_credentials",
            AppError::Locked { .. } => "account_locked",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Invalid { .. } => "invalid",
            AppError::Conflict { .. } => "conflict",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Invalid { field, .. } | AppError::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound("记录不存在".into()),
            StoreError::Conflict { field } => AppError::Conflict {
                message: format!("{} 已存在，不能重复", field_zh(&field)),
                field,
            },
            StoreError::Clash { field, message } => AppError::Conflict { field, message },
            StoreError::Invalid(message) => AppError::Invalid {
                field: String::new(),
                message,
            },
            StoreError::Unsupported(message) => AppError::Invalid {
                field: String::new(),
                message,
            },
            other => AppError::Internal(other.to_string()),
        }
    }
}

fn field_zh(field: &str) -> &str {
    match field {
        "username" => "用户名",
        "code" => "编码",
        "post" => "该岗位",
        _ => field,
    }
}
