//! Administration of Open311 client keys: make one for a district (shown once), see what each
//! has filed and when it was last used, revoke it.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use jinlin_app::AppError;
use jinlin_app::open311::{DEFAULT_PER_MINUTE, NewKey};
use serde::Deserialize;

use super::{Chrome, format_time, render};
use crate::AppState;
use crate::auth::{SignedIn, Ui};
use crate::error::{PageError, field_name, status_or_ok};
use crate::i18n::Tr;

pub struct KeyLine {
    pub id: i64,
    pub name: String,
    pub contact: String,
    pub district: String,
    pub prefix: String,
    pub per_minute: i64,
    pub token_receipt: bool,
    pub created: String,
    pub last_used: String,
    pub requests: i64,
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "open311_keys.html")]
struct KeysPage {
    c: Chrome,
    endpoint: String,
    keys: Vec<KeyLine>,
    districts: Vec<(String, String)>,
    /// The key just made, shown this once.
    created: Option<(String, String)>,
    error: Option<String>,
    error_field: String,
    form_name: String,
    form_contact: String,
    form_district: String,
    form_per_minute: String,
    form_token: bool,
    default_per_minute: i64,
}

#[derive(Deserialize, Default)]
pub struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    contact: String,
    #[serde(default)]
    district: String,
    #[serde(default)]
    per_minute: String,
    receipt: Option<String>,
}

async fn keys_page(
    state: &AppState,
    session: &crate::auth::Session,
    t: Tr,
    headers: &HeaderMap,
    form: KeyForm,
    created: Option<(String, String)>,
    error: Option<AppError>,
) -> Result<Response, PageError> {
    let keys = state
        .app
        .open311_keys(&session.actor)
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    let districts = state
        .app
        .open311_jurisdictions()
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    let district_name = |tenant: &str| {
        districts
            .iter()
            .find(|(code, _)| code == tenant)
            .map(|(code, name)| format!("{name}（{code}）"))
            .unwrap_or_else(|| tenant.to_owned())
    };
    let view = KeysPage {
        c: Chrome::new(session, t, "open311", "/admin/open311"),
        endpoint: format!("{}/", crate::open311::base_url(state, headers)),
        keys: keys
            .iter()
            .map(|k| KeyLine {
                id: k.id,
                name: k.name.clone(),
                contact: k.contact.clone(),
                district: district_name(&k.tenant),
                prefix: k.key_prefix.clone(),
                per_minute: k.per_minute,
                token_receipt: k.receipt == "token",
                created: format!("{} · {}", format_time(k.created_at), k.created_by),
                last_used: k.last_used_at.map(format_time).unwrap_or_default(),
                requests: k.requests,
                revoked: k.revoked_at.map(format_time),
            })
            .collect(),
        form_district: if form.district.is_empty() {
            districts.first().map(|d| d.0.clone()).unwrap_or_default()
        } else {
            form.district
        },
        districts,
        created,
        error_field: field_name(error.as_ref()),
        error: error.as_ref().map(ToString::to_string),
        form_name: form.name,
        form_contact: form.contact,
        form_per_minute: form.per_minute,
        form_token: form.receipt.is_some(),
        default_per_minute: DEFAULT_PER_MINUTE,
    };
    Ok((status_or_ok(error.as_ref()), render(&view, t.lang)?).into_response())
}

pub async fn keys(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    keys_page(
        &state,
        &session,
        t,
        &headers,
        KeyForm::default(),
        None,
        None,
    )
    .await
}

pub async fn create_key(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    headers: HeaderMap,
    Form(f): Form<KeyForm>,
) -> Result<Response, PageError> {
    let per_minute = match f.per_minute.trim() {
        "" => Ok(None),
        s => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| AppError::invalid("per_minute", "每分钟上限：请填写 1 到 600 之间的整数")),
    };
    let result = match per_minute {
        Ok(per_minute) => {
            state
                .app
                .create_open311_key(
                    &session.actor,
                    NewKey {
                        name: f.name.clone(),
                        contact: f.contact.clone(),
                        district: f.district.clone(),
                        per_minute,
                        token_receipt: f.receipt.is_some(),
                    },
                )
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(created) => {
            keys_page(
                &state,
                &session,
                t,
                &headers,
                KeyForm::default(),
                Some((f.name.trim().to_owned(), created.key)),
                None,
            )
            .await
        }
        Err(e @ AppError::Invalid { .. }) => {
            keys_page(&state, &session, t, &headers, f, None, Some(e)).await
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

pub async fn revoke_key(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    match state.app.revoke_open311_key(&session.actor, id).await {
        // Revoking twice (a double click) lands on the same list.
        Ok(()) | Err(AppError::Conflict { .. }) => {
            Ok(Redirect::to("/admin/open311").into_response())
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}
