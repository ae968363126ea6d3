//! Sign-in, sign-out, language switch and the dashboard.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use jinlin_app::AppError;
use jinlin_app::store::accounts::PostView;
use serde::Deserialize;

use super::{Chrome, render};
use crate::AppState;
use crate::auth::{self, SignedIn, Ui};
use crate::error::PageError;
use crate::i18n::Tr;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: Tr,
    csrf: String,
    next: String,
    username: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

pub async fn login_form(
    State(state): State<AppState>,
    Ui(t): Ui,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let (csrf, new_cookie) = pre_csrf(&headers).map_err(|e| PageError::new(e, t.lang))?;
    let page = LoginPage {
        t,
        csrf: csrf.clone(),
        next: auth::safe_next(q.next.as_deref()),
        username: String::new(),
        error: None,
        notice: q.expired.is_some().then(|| t.s("login.expired")),
    };
    let mut res = render(&page, t.lang)?.into_response();
    if new_cookie {
        set_pre_csrf(&mut res, &csrf, state.config.cookie_secure);
    }
    Ok(res)
}

/// The double-submit CSRF token of a form shown before sign-in, and whether its cookie is new.
pub fn pre_csrf(headers: &HeaderMap) -> Result<(String, bool), AppError> {
    match auth::cookie(headers, auth::PRE_CSRF_COOKIE) {
        Some(c) if c.len() >= 32 => Ok((c.to_owned(), false)),
        _ => Ok((jinlin_app::accounts::random_token()?, true)),
    }
}

pub fn set_pre_csrf(res: &mut Response, csrf: &str, secure: bool) {
    set_cookie_header(
        res,
        &auth::set_cookie(auth::PRE_CSRF_COOKIE, csrf, secure, None),
    );
}

pub fn set_cookie_header(res: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    Ui(t): Ui,
    headers: HeaderMap,
    req_parts: axum::extract::Request,
) -> Result<Response, PageError> {
    let meta = auth::request_meta(&headers, req_parts.extensions());
    let Form(form) = Form::<LoginForm>::from_request(req_parts, &state)
        .await
        .map_err(|_| PageError::new(AppError::invalid("username", "请填写用户名和密码"), t.lang))?;
    match state.app.login(&form.username, &form.password, &meta).await {
        Ok(session) => {
            let mut res = Redirect::to(&auth::safe_next(form.next.as_deref())).into_response();
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
        Err(e @ (AppError::BadCredentials | AppError::Locked { .. })) => {
            let status = crate::error::status_of(&e);
            let page = LoginPage {
                t,
                csrf: auth::cookie(&headers, auth::PRE_CSRF_COOKIE)
                    .unwrap_or_default()
                    .to_owned(),
                next: auth::safe_next(form.next.as_deref()),
                username: form.username.chars().take(32).collect(),
                error: Some(e.to_string()),
                notice: None,
            };
            Ok((status, render(&page, t.lang)?).into_response())
        }
        Err(e) => Err(PageError::new(e, t.lang)),
    }
}

use axum::extract::FromRequest;

pub async fn logout(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, PageError> {
    let lang = crate::i18n::Lang::Zh;
    state
        .app
        .logout(&session.token, &session.actor)
        .await
        .map_err(|e| PageError::new(e, lang))?;
    let mut res = Redirect::to("/login").into_response();
    set_cookie_header(
        &mut res,
        &auth::set_cookie(
            auth::SESSION_COOKIE,
            "",
            state.config.cookie_secure,
            Some(0),
        ),
    );
    Ok(res)
}

#[derive(Deserialize)]
pub struct LangQuery {
    back: Option<String>,
}

pub async fn switch_lang(
    State(state): State<AppState>,
    axum::extract::Path(lang): axum::extract::Path<String>,
    Query(q): Query<LangQuery>,
) -> Response {
    let value = if lang == "en" { "en" } else { "zh" };
    let mut res = Redirect::to(&auth::safe_next(q.back.as_deref())).into_response();
    set_cookie_header(
        &mut res,
        &auth::set_cookie(
            auth::LANG_COOKIE,
            value,
            state.config.cookie_secure,
            Some(365 * 86400),
        ),
    );
    res
}

struct CountCard {
    label: &'static str,
    value: i64,
}

/// A count of the signed-in person's own work, linking to the list behind it.
struct WorkCard {
    label: &'static str,
    value: i64,
    href: &'static str,
    alert: bool,
}

struct PostLine {
    post: &'static str,
    region_name: String,
    region_code: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
    counts: Vec<CountCard>,
    work: Vec<WorkCard>,
    posts: Vec<PostLine>,
}

/// 待办 / 超期 / 督办 / 未读 for the dashboard; nothing for roles without cases.
async fn work_cards(
    app: &jinlin_app::App,
    actor: &jinlin_app::Actor,
    t: Tr,
) -> Result<Vec<WorkCard>, AppError> {
    use jinlin_app::cases::{ListKind, ListQuery};
    use jinlin_domain::accounts::Role;
    if actor.role == Role::Sysadmin {
        return Ok(Vec::new());
    }
    let count = |kind: ListKind, q: ListQuery| async move {
        let q = ListQuery { page_size: 1, ..q };
        app.list_cases(actor, kind, &q).await.map(|p| p.total)
    };
    let mut cards = Vec::new();
    if actor.role.is_staff() {
        let open = ListQuery {
            open_only: true,
            ..ListQuery::default()
        };
        let overdue = ListQuery {
            open_only: true,
            overdue_only: true,
            ..ListQuery::default()
        };
        let tasks = count(ListKind::Tasks, open.clone()).await?;
        let late = count(ListKind::Tasks, overdue).await?;
        cards.push(WorkCard {
            label: t.s("home.tasks"),
            value: tasks,
            href: "/cases?view=tasks&open=1",
            alert: false,
        });
        cards.push(WorkCard {
            label: t.s("home.overdue"),
            value: late,
            href: "/cases?view=tasks&open=1&overdue=1",
            alert: late > 0,
        });
    } else {
        let mine = ListQuery {
            open_only: true,
            ..ListQuery::default()
        };
        cards.push(WorkCard {
            label: t.s("home.my_open"),
            value: count(ListKind::Mine, mine).await?,
            href: "/cases?view=mine&open=1",
            alert: false,
        });
    }
    cards.push(WorkCard {
        label: t.s("home.unread"),
        value: app.unread_count(actor).await?,
        href: "/inbox",
        alert: false,
    });
    Ok(cards)
}

pub async fn dashboard(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
) -> Result<Response, PageError> {
    let app = &state.app;
    let actor = &session.actor;
    let err = |e| PageError::new(e, t.lang);
    let counts = app
        .region_counts(actor)
        .await
        .map_err(err)?
        .into_iter()
        .map(|(level, value)| CountCard {
            label: t.level(&level),
            value,
        })
        .collect();
    let posts = match actor.user_id {
        Some(id) => app.posts_of_user(actor, id).await.map_err(err)?,
        None => Vec::new(),
    };
    let posts = posts
        .into_iter()
        .map(|(p, code, name): (PostView, String, String)| PostLine {
            post: t.post(&p.kind),
            region_name: name,
            region_code: code,
        })
        .collect();
    let work = work_cards(app, actor, t).await.map_err(err)?;
    let page = HomePage {
        c: Chrome::new(&session, t, "home", "/"),
        counts,
        work,
        posts,
    };
    Ok(render(&page, t.lang)?.into_response())
}
