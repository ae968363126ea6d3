//! `/open311/v2/`: GeoReport v2 in XML (required by the spec, `text/xml; charset=utf-8`) and JSON
//! (bare arrays, the spec's "Spark convention"), plus FixMyStreet's `servicerequestupdates`.
//!
//! The format is the path suffix (`services.xml`), not a header, so the two routes below take
//! the last segment whole and split it here. Parameters are read from the query string and the
//! form body alike (clients put `api_key` and `jurisdiction_id` in either), an empty value counts
//! as absent, and unknown parameters are ignored. Every error is the spec's `errors` document
//! with 404 (unknown thing), 403 (key) or 400 (anything else) — never a page.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jinlin_app::AppError;
use jinlin_app::cases::Upload;
use jinlin_app::open311::{Client, RequestQuery, Service, Submission, extended_status, status_of};
use jinlin_app::store::open311::{Open311Case, Open311Update};
use jinlin_domain::cases::Stage;
use jinlin_domain::deadlines::format_w3c;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/{file}",
            get(get_top).post(post_top).fallback(wrong_method),
        )
        .route("/{dir}/{file}", get(get_nested).fallback(wrong_method))
        .fallback(not_found)
}

// ----- formats and documents --------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Xml,
    Json,
}

/// `services.xml` → (`services`, Xml). Ids may hold dots (`help.elderly.json`): the format is
/// what follows the last one.
fn split_format(file: &str) -> Option<(&str, Format)> {
    let (name, ext) = file.rsplit_once('.')?;
    let format = match ext {
        "xml" => Format::Xml,
        "json" => Format::Json,
        _ => return None,
    };
    (!name.is_empty()).then_some((name, format))
}

/// A document both formats are written from.
#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Number(f64),
    Bool(bool),
    /// A JSON object; XML child elements in order.
    Object(Vec<(&'static str, Node)>),
    /// A JSON array; in XML each item is an element named by the first field.
    List(&'static str, Vec<Node>),
}

fn text(s: impl Into<String>) -> Node {
    Node::Text(s.into())
}

/// Fields with `None` values are left out (the spec's "may be omitted").
fn object(fields: Vec<(&'static str, Option<Node>)>) -> Node {
    Node::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect(),
    )
}

fn xml_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn write_xml(name: &str, node: &Node, out: &mut String) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    match node {
        Node::Text(s) => xml_escape(s, out),
        Node::Number(n) => out.push_str(&number_text(*n)),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Object(fields) => {
            for (k, v) in fields {
                write_xml(k, v, out);
            }
        }
        Node::List(item, items) => {
            for v in items {
                write_xml(item, v, out);
            }
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match node {
        Node::Text(s) => Value::String(s.clone()),
        Node::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => Value::from(*n as i64),
        Node::Number(n) => serde_json::Number::from_f64(*n)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Node::Bool(b) => Value::Bool(*b),
        Node::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), to_json(v)))
                .collect(),
        ),
        Node::List(_, items) => Value::Array(items.iter().map(to_json).collect()),
    }
}

/// A whole document: in XML the root element `root` around `node`; in JSON `node` itself (a
/// bare array for lists).
fn document(format: Format, status: StatusCode, root: &str, node: &Node) -> Response {
    let (body, content_type) = match format {
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
            write_xml(root, node, &mut out);
            (out, "text/xml; charset=utf-8")
        }
        Format::Json => (to_json(node).to_string(), "application/json; charset=utf-8"),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Public read data; a 311 web app on another origin may read it.
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn error_document(format: Format, status: StatusCode, description: String) -> Response {
    let node = Node::List(
        "error",
        vec![object(vec![
            ("code", Some(Node::Number(f64::from(status.as_u16())))),
            ("description", Some(text(description))),
        ])],
    );
    document(format, status, "errors", &node)
}

/// The spec's statuses: 404 unknown thing, 403 key, 400 anything else.
fn error_response(format: Format, e: AppError) -> Response {
    let status = match &e {
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Forbidden(_) | AppError::Unauthenticated => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    };
    if let AppError::Internal(detail) = &e {
        tracing::error!(%detail, "open311 request failed");
    }
    let message = e.to_string();
    let description = match e.field().filter(|f| !f.is_empty()) {
        Some(f) if !message.starts_with(f) => format!("{f}：{message}"),
        _ => message,
    };
    error_document(format, status, description)
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let format = if uri.path().ends_with(".json") {
        Format::Json
    } else {
        Format::Xml
    };
    error_document(
        format,
        StatusCode::NOT_FOUND,
        format!(
            "没有这个接口：{} / no such endpoint (see discovery.xml)",
            uri.path()
        ),
    )
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let format = if uri.path().ends_with(".json") {
        Format::Json
    } else {
        Format::Xml
    };
    error_document(
        format,
        StatusCode::BAD_REQUEST,
        format!(
            "{method} {}：只接受 GET（提交诉求为 POST requests） / method not supported",
            uri.path()
        ),
    )
}

fn unknown_file(file: &str) -> Response {
    match split_format(file) {
        Some((_, format)) => error_document(
            format,
            StatusCode::NOT_FOUND,
            format!("没有这个接口：{file} / no such endpoint (see discovery.xml)"),
        ),
        None => error_document(
            Format::Xml,
            StatusCode::NOT_FOUND,
            format!("{file}：须以 .xml 或 .json 结尾 / the format suffix must be .xml or .json"),
        ),
    }
}

// ----- parameters -------------------------------------------------------------------------------

/// Parameters from the query string and the body, in order; empty values are kept here and
/// treated as absent by [`Params::get`].
#[derive(Debug, Default)]
struct Params(Vec<(String, String)>);

impl Params {
    fn from_query(query: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.clone())
    }

    fn request_query(&self) -> RequestQuery {
        RequestQuery {
            jurisdiction_id: self.get("jurisdiction_id"),
            service_request_id: self.get("service_request_id"),
            service_code: self.get("service_code"),
            start_date: self.get("start_date"),
            end_date: self.get("end_date"),
            updated_after: self.get("updated_after"),
            updated_before: self.get("updated_before"),
            status: self.get("status"),
            page: self.get("page"),
            page_size: self.get("page_size"),
        }
    }

    /// `attribute[code]=v` and `attribute[code][]=v1&attribute[code][]=v2`.
    fn attributes(&self) -> Result<Vec<(String, Vec<String>)>, AppError> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (k, v) in &self.0 {
            if k != "attribute" && !k.starts_with("attribute[") {
                continue;
            }
            let rest = &k["attribute".len()..];
            let code = rest
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix("[]").unwrap_or(r).strip_suffix(']'))
                .filter(|c| {
                    !c.is_empty()
                        && c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                })
                .ok_or_else(|| {
                    AppError::invalid(
                        k,
                        format!(
                            "{k}：写法应为 attribute[代码] 或 attribute[代码][] / malformed attribute"
                        ),
                    )
                })?;
            match out.iter_mut().find(|(c, _)| c == code) {
                Some((_, values)) => values.push(v.clone()),
                None => out.push((code.to_owned(), vec![v.clone()])),
            }
        }
        Ok(out)
    }
}

/// The client behind `api_key`, when one was sent (required only to file).
async fn optional_client(state: &AppState, params: &Params) -> Result<Option<Client>, AppError> {
    match params.get("api_key") {
        None => Ok(None),
        Some(key) => state.app.open311_client(Some(&key)).await.map(Some),
    }
}

// ----- GET --------------------------------------------------------------------------------------

async fn get_top(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let Some((name, format)) = split_format(&file) else {
        return unknown_file(&file);
    };
    let params = Params::from_query(uri.query());
    let result = match name {
        "discovery" => discovery(&state, &headers).await.map(|n| ("discovery", n)),
        "services" => services(&state, &params).await.map(|n| ("services", n)),
        "requests" => requests(&state, &params)
            .await
            .map(|n| ("service_requests", n)),
        "servicerequestupdates" => updates(&state, &params)
            .await
            .map(|n| ("service_requests_updates", n)),
        _ => return unknown_file(&file),
    };
    match result {
        Ok((root, node)) => document(format, StatusCode::OK, root, &node),
        Err(e) => error_response(format, e),
    }
}

async fn get_nested(
    State(state): State<AppState>,
    Path((dir, file)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Response {
    let Some((id, format)) = split_format(&file) else {
        return unknown_file(&file);
    };
    let params = Params::from_query(uri.query());
    let result = match dir.as_str() {
        // `service/` is what the `open311` 1.1 client asks for.
        "services" | "service" => service_definition(&state, &params, id)
            .await
            .map(|n| ("service_definition", n)),
        "requests" => one_request(&state, &params, id)
            .await
            .map(|n| ("service_requests", n)),
        "tokens" => token(&state, id).await.map(|n| ("service_requests", n)),
        _ => return unknown_file(&format!("{dir}/{file}")),
    };
    match result {
        Ok((root, node)) => document(format, StatusCode::OK, root, &node),
        Err(e) => error_response(format, e),
    }
}

/// `http(s)://HOST/open311/v2` as the client reached it (https when Jinlin is served over TLS).
pub(crate) fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.config.cookie_secure {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}/open311/v2")
}

async fn discovery(state: &AppState, headers: &HeaderMap) -> Result<Node, AppError> {
    let changeset = format_w3c(state.app.open311_changeset().await?);
    let url = base_url(state, headers);
    let jurisdictions: Vec<String> = state
        .app
        .open311_jurisdictions()
        .await?
        .into_iter()
        .map(|(code, name)| format!("{code} {name}"))
        .collect();
    Ok(object(vec![
        ("changeset", Some(text(changeset.clone()))),
        (
            "contact",
            Some(text(format!(
                "县（区）网格化服务管理中心；jurisdiction_id 为区县编码：{}",
                jurisdictions.join("，")
            ))),
        ),
        (
            "key_service",
            Some(text(
                "提交诉求需要接入密钥：请向本县（区）网格化服务管理中心申请，由系统管理员在“Open311 接入”页面或用 jinlin open311 key create 创建；查询无需密钥。",
            )),
        ),
        (
            "endpoints",
            Some(Node::List(
                "endpoint",
                vec![object(vec![
                    (
                        "specification",
                        Some(text("http://wiki.open311.org/GeoReport_v2")),
                    ),
                    ("url", Some(text(url))),
                    ("changeset", Some(text(changeset))),
                    ("type", Some(text("production"))),
                    (
                        "formats",
                        Some(Node::List(
                            "format",
                            vec![text("text/xml"), text("application/json")],
                        )),
                    ),
                ])],
            )),
        ),
    ]))
}

fn service_node(s: &Service) -> Node {
    let mut keywords = s.category.keywords.clone();
    if s.private {
        // FixMyStreet's keyword for categories whose reports are not shown publicly.
        keywords.push("private".into());
    }
    object(vec![
        ("service_code", Some(text(s.category.code.clone()))),
        ("service_name", Some(text(s.category.name.clone()))),
        ("description", Some(text(s.category.description.clone()))),
        ("metadata", Some(Node::Bool(!s.questions.is_empty()))),
        ("type", Some(text("realtime"))),
        ("keywords", Some(text(keywords.join(",")))),
        ("group", Some(text(s.group.clone()))),
    ])
}

async fn services(state: &AppState, params: &Params) -> Result<Node, AppError> {
    state
        .app
        .open311_scope(&params.get("jurisdiction_id"))
        .await?;
    Ok(Node::List(
        "service",
        state
            .app
            .open311_services()
            .iter()
            .map(service_node)
            .collect(),
    ))
}

async fn service_definition(
    state: &AppState,
    params: &Params,
    code: &str,
) -> Result<Node, AppError> {
    state
        .app
        .open311_scope(&params.get("jurisdiction_id"))
        .await?;
    let service = state.app.open311_service(code)?;
    let attributes = service
        .questions
        .iter()
        .map(|q| {
            let is_list = !q.values.is_empty();
            object(vec![
                ("variable", Some(Node::Bool(q.variable))),
                ("code", Some(text(q.code))),
                ("datatype", Some(text(q.datatype.as_str()))),
                ("required", Some(Node::Bool(q.required))),
                (
                    "datatype_description",
                    Some(text(if q.datatype_description.is_empty() {
                        q.datatype.hint()
                    } else {
                        q.datatype_description
                    })),
                ),
                ("order", Some(Node::Number(f64::from(q.order)))),
                ("description", Some(text(q.description))),
                (
                    "values",
                    is_list.then(|| {
                        Node::List(
                            "value",
                            q.values
                                .iter()
                                .map(|(k, n)| {
                                    object(vec![("key", Some(text(*k))), ("name", Some(text(*n)))])
                                })
                                .collect(),
                        )
                    }),
                ),
            ])
        })
        .collect();
    Ok(object(vec![
        ("service_code", Some(text(service.category.code))),
        ("attributes", Some(Node::List("attribute", attributes))),
    ]))
}

fn request_node(c: &Open311Case) -> Node {
    let stage = Stage::parse(&c.stage).unwrap_or_default();
    object(vec![
        ("service_request_id", Some(text(c.id.to_string()))),
        ("status", Some(text(status_of(stage)))),
        ("status_notes", c.status_note.clone().map(text)),
        ("service_name", Some(text(c.category_name.clone()))),
        ("service_code", Some(text(c.category_code.clone()))),
        ("description", Some(text(c.description.clone()))),
        (
            "agency_responsible",
            jinlin_app::open311::agency_of(c).map(text),
        ),
        ("requested_datetime", Some(text(format_w3c(c.created_at)))),
        ("updated_datetime", Some(text(format_w3c(c.updated_at)))),
        (
            "expected_datetime",
            Some(text(format_w3c(c.resolution_due))),
        ),
        ("address", c.address.clone().map(text)),
        ("address_id", Some(text(c.region_code.clone()))),
        ("lat", c.lat.map(Node::Number)),
        ("long", c.lng.map(Node::Number)),
        ("media_url", c.media_url.clone().map(text)),
    ])
}

async fn requests(state: &AppState, params: &Params) -> Result<Node, AppError> {
    let client = optional_client(state, params).await?;
    let rows = state
        .app
        .open311_requests(&params.request_query(), client.as_ref())
        .await?;
    Ok(Node::List(
        "request",
        rows.iter().map(request_node).collect(),
    ))
}

async fn one_request(state: &AppState, params: &Params, id: &str) -> Result<Node, AppError> {
    let client = optional_client(state, params).await?;
    let row = state
        .app
        .open311_request(&params.get("jurisdiction_id"), id, client.as_ref())
        .await?;
    Ok(Node::List("request", vec![request_node(&row)]))
}

async fn token(state: &AppState, token: &str) -> Result<Node, AppError> {
    let id = state.app.open311_token(token).await?;
    Ok(Node::List(
        "request",
        vec![object(vec![
            ("service_request_id", Some(text(id.to_string()))),
            ("token", Some(text(token))),
        ])],
    ))
}

fn update_node(u: &Open311Update) -> Node {
    let stage = Stage::parse(&u.to_stage).unwrap_or_default();
    object(vec![
        ("update_id", Some(text(u.id.to_string()))),
        ("service_request_id", Some(text(u.case_id.to_string()))),
        ("status", Some(text(extended_status(&u.action, stage)))),
        ("updated_datetime", Some(text(format_w3c(u.at)))),
        ("description", Some(text(u.note.clone()))),
        ("external_status_code", Some(text(u.action.clone()))),
    ])
}

async fn updates(state: &AppState, params: &Params) -> Result<Node, AppError> {
    let client = optional_client(state, params).await?;
    let rows = state
        .app
        .open311_updates(&params.request_query(), client.as_ref())
        .await?;
    Ok(Node::List(
        "request_update",
        rows.iter().map(update_node).collect(),
    ))
}

// ----- POST requests ----------------------------------------------------------------------------

async fn post_top(
    State(state): State<AppState>,
    Path(file): Path<String>,
    request: Request,
) -> Response {
    let Some((name, format)) = split_format(&file) else {
        return unknown_file(&file);
    };
    if name != "requests" {
        return error_document(
            format,
            StatusCode::NOT_FOUND,
            format!("{file}：只有 requests 接受 POST / only requests accepts POST"),
        );
    }
    match post_request(&state, request).await {
        Ok(node) => document(format, StatusCode::OK, "service_requests", &node),
        Err(e) => error_response(format, e),
    }
}

async fn post_request(state: &AppState, request: Request) -> Result<Node, AppError> {
    let mut params = Params::from_query(request.uri().query());
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut media = Vec::new();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| AppError::invalid("media", format!("请求体：{e}")))?;
        loop {
            let field = multipart.next_field().await.map_err(|e| {
                AppError::invalid("media", format!("media：上传中断或超过大小上限（{e}）"))
            })?;
            let Some(field) = field else { break };
            let name = field.name().unwrap_or_default().to_owned();
            let file_name = field.file_name().map(str::to_owned);
            let bytes = field.bytes().await.map_err(|e| {
                AppError::invalid("media", format!("media：上传中断或超过大小上限（{e}）"))
            })?;
            if matches!(name.as_str(), "media" | "media[]") {
                if !bytes.is_empty() {
                    media.push(Upload {
                        file_name: file_name.unwrap_or_else(|| "media".into()),
                        bytes: bytes.to_vec(),
                    });
                }
            } else {
                let value = String::from_utf8(bytes.to_vec()).map_err(|_| {
                    AppError::invalid(&name, format!("{name}：不是 UTF-8 文本 / not UTF-8"))
                })?;
                params.0.push((name, value));
            }
        }
    } else {
        let body = Bytes::from_request(request, &())
            .await
            .map_err(|e| AppError::invalid("", format!("请求体：{e}")))?;
        params.0.extend(form_urlencoded::parse(&body).into_owned());
    }
    let client = state
        .app
        .open311_client(params.get("api_key").as_deref())
        .await?;
    let submission = Submission {
        jurisdiction_id: params.get("jurisdiction_id"),
        service_code: params.get("service_code"),
        lat: params.get("lat"),
        long: params.get("long"),
        address_string: params.get("address_string"),
        address_id: params.get("address_id"),
        attributes: params.attributes()?,
        email: params.get("email"),
        device_id: params.get("device_id"),
        account_id: params.get("account_id"),
        first_name: params.get("first_name"),
        last_name: params.get("last_name"),
        phone: params.get("phone"),
        description: params.get("description"),
        media_url: params.get("media_url"),
        media,
    };
    let receipt = state.app.submit_open311(&client, submission).await?;
    Ok(Node::List(
        "request",
        vec![object(vec![
            ("service_request_id", receipt.service_request_id.map(text)),
            ("token", receipt.token.map(text)),
            ("service_notice", Some(text(receipt.service_notice))),
            ("account_id", receipt.account_id.map(text)),
        ])],
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_the_last_suffix() {
        assert_eq!(
            split_format("services.xml"),
            Some(("services", Format::Xml))
        );
        assert_eq!(
            split_format("help.elderly.json"),
            Some(("help.elderly", Format::Json))
        );
        assert_eq!(split_format("services.html"), None);
        assert_eq!(split_format("services"), None);
        assert_eq!(split_format(".json"), None);
    }

    #[test]
    fn xml_text_is_escaped_and_control_characters_dropped() {
        let mut out = String::new();
        write_xml("d", &text("a<b>&\"'\u{1}c"), &mut out);
        assert_eq!(out, "<d>a&lt;b&gt;&amp;&quot;&apos;c</d>");
    }

    #[test]
    fn attributes_read_both_shapes_and_refuse_malformed_keys() {
        let p = Params(vec![
            ("attribute[trapped]".into(), "yes".into()),
            ("attribute[periods][]".into(), "night".into()),
            ("attribute[periods][]".into(), "day".into()),
            ("api_key".into(), "k".into()),
        ]);
        assert_eq!(
            p.attributes().unwrap(),
            vec![
                ("trapped".to_owned(), vec!["yes".to_owned()]),
                (
                    "periods".to_owned(),
                    vec!["night".to_owned(), "day".to_owned()]
                )
            ]
        );
        for bad in [
            "attribute[",
            "attribute[]",
            "attribute[a][b]",
            "attribute[a b]",
            "attribute",
        ] {
            let p = Params(vec![(bad.into(), "x".into())]);
            assert!(p.attributes().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_empty_parameter_is_absent() {
        let p = Params::from_query(Some("jurisdiction_id=&service_code=E06004"));
        assert_eq!(p.get("jurisdiction_id"), None);
        assert_eq!(p.get("service_code").as_deref(), Some("E06004"));
    }
}
