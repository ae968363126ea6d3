//! Pages for people without an account: resident sign-up with a verified mobile number, and
//! reporting a problem without signing in (a phone number is enough for the follow-up call).
//! Their forms carry the double-submit CSRF token of the login page.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use jinlin_app::AppError;
use jinlin_app::accounts::SignUp;
use jinlin_app::cases::{Channel, Intake, Location};
use jinlin_domain::crs::Crs;
use serde::Deserialize;

use super::cases::{CategoryGroup, FormData, category_groups};
use super::home::{pre_csrf, set_cookie_header, set_pre_csrf};
use super::render;
use crate::AppState;
use crate::auth::{self, Ui};
use crate::error::PageError;
use crate::i18n::Tr;

#[derive(Deserialize, Default)]
pub struct SignUpForm {
    #[serde(default)]
    step: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    region_code: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage {
    t: Tr,
    here: &'static str,
    csrf: String,
    form: SignUpForm,
    communities: Vec<(String, String)>,
    notice: Option<String>,
    error: Option<String>,
    error_field: String,
}

async fn signup_page(
    state: &AppState,
    t: Tr,
    headers: &HeaderMap,
    form: SignUpForm,
    notice: Option<String>,
    error: Option<AppError>,
) -> Result<Response, PageError> {
    let (csrf, new_cookie) = pre_csrf(headers).map_err(|e| PageError::new(e, t.lang))?;
    let status = crate::error::status_or_ok(error.as_ref());
    let page = SignUpPage {
        t,
        here: "/signup",
        csrf: csrf.clone(),
        // Passwords and codes are never sent back in a page.
        form: SignUpForm {
            password: String::new(),
            code: String::new(),
            ..form
        },
        communities: state
            .app
            .public_communities()
            .await
            .map_err(|e| PageError::new(e, t.lang))?,
        notice,
        error_field: crate::error::field_name(error.as_ref()),
        error: error.map(|e| e.to_string()),
    };
    answer(state, t, status, &page, &csrf, new_cookie)
}

/// A public page, with the form token's cookie when it is new.
fn answer<T: Template>(
    state: &AppState,
    t: Tr,
    status: StatusCode,
    page: &T,
    csrf: &str,
    new_cookie: bool,
) -> Result<Response, PageError> {
    let mut res = (status, render(page, t.lang)?).into_response();
    if new_cookie {
        set_pre_csrf(&mut res, csrf, state.config.cookie_secure);
    }
    Ok(res)
}

pub async fn signup_form(
    State(state): State<AppState>,
    Ui(t): Ui,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    signup_page(&state, t, &headers, SignUpForm::default(), None, None).await
}

pub async fn signup(
    State(state): State<AppState>,
    Ui(t): Ui,
    headers: HeaderMap,
    req: axum::extract::Request,
) -> Result<Response, PageError> {
    let meta = auth::request_meta(&headers, req.extensions());
    let Form(form) =
        <Form<SignUpForm> as axum::extract::FromRequest<AppState>>::from_request(req, &state)
            .await
            .map_err(|_| {
                PageError::new(
                    AppError::invalid("form", "表单无法读取，请刷新后重试"),
                    t.lang,
                )
            })?;
    if form.step == "code" {
        return match state.app.send_signup_code(&form.phone, &meta).await {
            Ok(()) => {
                let notice = format!(
                    "{}{}",
                    t.s("signup.code_sent"),
                    jinlin_app::cases::mask_phone(form.phone.trim())
                );
                signup_page(&state, t, &headers, form, Some(notice), None).await
            }
            Err(e @ AppError::Invalid { .. }) => {
                signup_page(&state, t, &headers, form, None, Some(e)).await
            }
            Err(e) => Err(PageError::new(e, t.lang)),
        };
    }
    let input = SignUp {
        phone: form.phone.clone(),
        code: form.code.clone(),
        password: form.password.clone(),
        display_name: form.display_name.clone(),
        region_code: form.region_code.clone(),
    };
    match state.app.sign_up(input, &meta).await {
        Ok(session) => {
            let mut res = Redirect::to("/cases/new").into_response();
            set_cookie_header(
                &mut res,
                &auth::set_cookie(
                    auth::SESSION_COOKIE,
                    &session.token,
                    state.config.cookie_secure,
                    None,
                ),
            );
            Ok(res)
        }
        Err(e @ AppError::Invalid { .. }) => {
            signup_page(&state, t, &headers, form, None, Some(e)).await
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

/// What the reporter typed, kept when the form comes back with an error.
#[derive(Default)]
pub struct ReportForm {
    pub category: String,
    pub description: String,
    pub lat: String,
    pub lng: String,
    pub region_code: String,
    pub address: String,
    pub reporter_name: String,
    pub reporter_phone: String,
    pub answers: Vec<(String, Vec<String>)>,
}

#[derive(Template)]
#[template(path = "report_public.html")]
struct ReportPage {
    t: Tr,
    questions: super::cases::QuestionsView,
    here: &'static str,
    csrf: String,
    groups: Vec<CategoryGroup>,
    communities: Vec<(String, String)>,
    form: ReportForm,
    error: Option<String>,
    error_field: String,
    max_photos: usize,
    done: Option<i64>,
}

async fn report_page(
    state: &AppState,
    t: Tr,
    headers: &HeaderMap,
    form: ReportForm,
    error: Option<AppError>,
    done: Option<i64>,
) -> Result<Response, PageError> {
    let (csrf, new_cookie) = pre_csrf(headers).map_err(|e| PageError::new(e, t.lang))?;
    let status = crate::error::status_or_ok(error.as_ref());
    let page = ReportPage {
        questions: super::cases::QuestionsView::new(
            &state.app,
            t.s("case.field.questions"),
            form.answers.clone(),
        ),
        t,
        here: "/report",
        csrf: csrf.clone(),
        groups: category_groups(&state.app),
        communities: state
            .app
            .public_communities()
            .await
            .map_err(|e| PageError::new(e, t.lang))?,
        form,
        error_field: crate::error::field_name(error.as_ref()),
        error: error.map(|e| e.to_string()),
        max_photos: state.app.settings.max_photos,
        done,
    };
    answer(state, t, status, &page, &csrf, new_cookie)
}

pub async fn report_form(
    State(state): State<AppState>,
    Ui(t): Ui,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    report_page(&state, t, &headers, ReportForm::default(), None, None).await
}

pub async fn report(
    State(state): State<AppState>,
    Ui(t): Ui,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let f = FormData::read(multipart)
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    let text = |name: &str| f.get(name).unwrap_or_default().to_owned();
    let keep = ReportForm {
        category: text("category"),
        description: text("description"),
        lat: text("lat"),
        lng: text("lng"),
        region_code: text("region_code"),
        address: text("address"),
        reporter_name: text("reporter_name"),
        reporter_phone: text("reporter_phone"),
        answers: f.answers(),
    };
    let intake = (|| -> Result<Intake, AppError> {
        // Left empty: "其他", and the desk classifies it.
        let category_id = match keep.category.as_str() {
            "" => 0,
            c => c
                .parse()
                .map_err(|_| AppError::invalid("category", "事件分类：请重新选择"))?,
        };
        let point = match (keep.lat.parse::<f64>(), keep.lng.parse::<f64>()) {
            (Ok(lat), Ok(lng)) => Some((lat, lng, Crs::Wgs84)),
            _ => None,
        };
        Ok(Intake {
            channel: Channel::Resident,
            category_id,
            description: keep.description.clone(),
            location: Location {
                point,
                region_code: Some(keep.region_code.clone()).filter(|c| !c.is_empty()),
                address: Some(keep.address.clone()).filter(|a| !a.is_empty()),
            },
            reporter_name: Some(keep.reporter_name.clone()).filter(|n| !n.is_empty()),
            reporter_phone: Some(keep.reporter_phone.clone()).filter(|p| !p.is_empty()),
            photos: f.files.clone(),
            answers: keep.answers.clone(),
            open311: None,
        })
    })();
    let result = match intake {
        Ok(intake) => state.app.file_case(None, intake).await,
        Err(e) => Err(e),
    };
    match result {
        // Redirect-after-post would need the number in the URL of a public page; showing it
        // here keeps anyone else from walking case numbers.
        Ok(id) => report_page(&state, t, &headers, ReportForm::default(), None, Some(id)).await,
        Err(e @ AppError::Invalid { .. }) => {
            report_page(&state, t, &headers, keep, Some(e), None).await
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}
