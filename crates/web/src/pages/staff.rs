//! Staff accounts inside the jurisdiction: list, create, enable/disable, reset password.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jinlin_app::AppError;
use jinlin_app::accounts::UserInput;
use jinlin_app::store::accounts::User;
use jinlin_domain::accounts::Role;
use serde::Deserialize;

use super::{Chrome, Pager, format_time, render};
use crate::AppState;
use crate::auth::{SignedIn, Ui, percent_encode};
use crate::error::PageError;
use crate::i18n::Tr;

pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub role: &'static str,
    pub region_name: String,
    pub region_code: String,
    pub phone: String,
    pub status: &'static str,
    pub active: bool,
}

fn row(t: Tr, u: &User, now: i64) -> UserRow {
    let status = if !u.active {
        t.s("staff.inactive")
    } else if u.locked_until.is_some_and(|l| l > now) {
        t.s("staff.locked")
    } else {
        t.s("staff.active")
    };
    UserRow {
        id: u.id,
        username: u.username.clone(),
        name: u.display_name.clone(),
        role: t.role(&u.role),
        region_name: u.region_name.clone(),
        region_code: u.region_code.clone(),
        phone: u.work_phone.clone().unwrap_or_default(),
        status,
        active: u.active,
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    page: Option<u32>,
}

#[derive(Template)]
#[template(path = "staff_list.html")]
struct ListPage {
    c: Chrome,
    q: String,
    rows: Vec<UserRow>,
    pager: Pager,
    can_create: bool,
}

pub async fn list(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let page = state
        .app
        .list_users(&session.actor, Some(&q.q), q.page.unwrap_or(1), 20)
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    let now = state.app.now();
    let base = format!("/staff?q={}", percent_encode(&q.q));
    let view = ListPage {
        c: Chrome::new(&session, t, "staff", &base),
        q: q.q,
        rows: page.items.iter().map(|u| row(t, u, now)).collect(),
        pager: Pager::new(&page, &base),
        can_create: session.actor.role.manages_staff(),
    };
    Ok(render(&view, t.lang)?.into_response())
}

#[derive(Deserialize, Default)]
pub struct NewUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    region_code: String,
    #[serde(default)]
    work_phone: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "staff_new.html")]
struct NewPage {
    c: Chrome,
    form: NewUserForm,
    roles: Vec<(&'static str, &'static str)>,
    error: Option<String>,
    error_field: String,
}

impl NewPage {
    fn role_selected(&self, value: &str) -> bool {
        self.form.role == value
    }
}

fn roles_for(t: Tr, actor_role: Role) -> Vec<(&'static str, &'static str)> {
    Role::ALL
        .into_iter()
        .filter(|r| *r != Role::Sysadmin || actor_role == Role::Sysadmin)
        .map(|r| (r.as_str(), t.role(&r)))
        .collect()
}

pub async fn new_form(Ui(t): Ui, SignedIn(session): SignedIn) -> Result<Response, PageError> {
    if !session.actor.role.manages_staff() {
        return Err(PageError::new(
            AppError::Forbidden("仅社区、街道工作人员和系统管理员可以创建账号".into()),
            t.lang,
        ));
    }
    let view = NewPage {
        roles: roles_for(t, session.actor.role),
        form: NewUserForm {
            region_code: session.actor.region_code.clone(),
            role: "grid_worker".into(),
            ..NewUserForm::default()
        },
        c: Chrome::new(&session, t, "staff", "/staff/new"),
        error: None,
        error_field: String::new(),
    };
    Ok(render(&view, t.lang)?.into_response())
}

#[derive(Template)]
#[template(path = "staff_created.html")]
struct CreatedPage {
    c: Chrome,
    id: i64,
    username: String,
    password: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Form(form): Form<NewUserForm>,
) -> Result<Response, PageError> {
    let result = match Role::parse(&form.role) {
        None => Err(AppError::invalid("role", "请选择角色")),
        Some(role) => {
            state
                .app
                .create_user(
                    &session.actor,
                    UserInput {
                        username: form.username.clone(),
                        display_name: form.display_name.clone(),
                        role,
                        region_code: form.region_code.clone(),
                        work_phone: Some(form.work_phone.clone()),
                        password: Some(form.password.clone()),
                    },
                )
                .await
        }
    };
    match result {
        Ok((id, generated)) => {
            let view = CreatedPage {
                c: Chrome::new(&session, t, "staff", "/staff"),
                id,
                username: form.username.trim().to_lowercase(),
                password: generated,
            };
            Ok(render(&view, t.lang)?.into_response())
        }
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            let status = crate::error::status_of(&e);
            let view = NewPage {
                c: Chrome::new(&session, t, "staff", "/staff/new"),
                roles: roles_for(t, session.actor.role),
                error: Some(e.to_string()),
                error_field: e.field().unwrap_or_default().to_owned(),
                form: NewUserForm {
                    password: String::new(),
                    ..form
                },
            };
            Ok((status, render(&view, t.lang)?).into_response())
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

pub struct PostLine {
    pub kind: &'static str,
    pub region_code: String,
    pub region_name: String,
}

#[derive(Template)]
#[template(path = "staff_detail.html")]
struct DetailPage {
    c: Chrome,
    user: UserRow,
    created_at: String,
    posts: Vec<PostLine>,
    can_manage: bool,
    is_self: bool,
    new_password: Option<String>,
}

async fn detail_page(
    state: &AppState,
    t: Tr,
    session: &crate::auth::Session,
    id: i64,
    new_password: Option<String>,
) -> Result<Response, PageError> {
    let err = |e| PageError::new(e, t.lang);
    let user = state.app.user(&session.actor, id).await.map_err(err)?;
    let posts = state
        .app
        .posts_of_user(&session.actor, id)
        .await
        .map_err(err)?;
    let view = DetailPage {
        c: Chrome::new(session, t, "staff", &format!("/staff/{id}")),
        created_at: format_time(user.created_at),
        posts: posts
            .into_iter()
            .map(|(p, code, name)| PostLine {
                kind: t.post(&p.kind),
                region_code: code,
                region_name: name,
            })
            .collect(),
        can_manage: session.actor.role.manages_staff(),
        is_self: session.actor.user_id == Some(user.id),
        user: row(t, &user, state.app.now()),
        new_password,
    };
    Ok(render(&view, t.lang)?.into_response())
}

pub async fn detail(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    detail_page(&state, t, &session, id, None).await
}

#[derive(Deserialize)]
pub struct ActiveForm {
    active: String,
}

pub async fn set_active(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
    Form(form): Form<ActiveForm>,
) -> Result<Response, PageError> {
    state
        .app
        .set_user_active(&session.actor, id, form.active == "1")
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    Ok(Redirect::to(&format!("/staff/{id}")).into_response())
}

/// Resets to a generated password, shown once on the detail page.
pub async fn reset_password(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let generated = state
        .app
        .set_password(&session.actor, id, None)
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    detail_page(&state, t, &session, id, generated).await
}
