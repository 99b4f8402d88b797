//! The daemon's HTTP API (axum): provider callbacks, one-click unsubscribe links, health
//! and metrics.
//!
//! - `POST /webhooks/{provider}`: a provider's status report or an inbound reply, signed
//!   (`X-Herald-Timestamp`, `X-Herald-Signature: v1=HEX`, HMAC-SHA256 of `TIMESTAMP.BODY`
//!   under the secret). A bad or missing signature, or a timestamp more than 5 minutes
//!   away, is refused with 401. Accepted events go to the inbox, unique per (provider,
//!   event id): a repeat is acknowledged and ignored.
//! - `GET /u/{token}` shows a confirmation page; `POST /u/{token}` (RFC 8058 one-click,
//!   or the page's button) records the opt-out. The token is the attempt's key signed
//!   with the secret; a forged or altered one is 404.
//! - `GET /s/{token}/...`: the survey's answer links and comment page (see `survey`).
//! - `GET /healthz`, `GET /metrics` (Prometheus text).
//!
//! Handlers only record: the engine applies inbox items within a tick, so a callback and
//! the daemon's own work never race on an attempt.

mod survey;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::clock::Clock;
use crate::config::Secret;
use crate::domain::ledger::Report;
use crate::domain::outcome::Outcome;
use crate::store::Store;

/// How far a callback's timestamp may be from now.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// What the handlers share.
pub struct ApiState<S: Store> {
    pub store: S,
    pub secret: Secret,
    pub clock: Arc<dyn Clock>,
    /// The engine's send latency histogram.
    pub send_latency: Arc<crate::metrics::SendLatency>,
    /// The daemon's queue, for its depth.
    pub queue: Option<crate::queue::Jobs>,
    /// The token the desk API wants; `None` turns the desk API off.
    pub agent_token: Option<Secret>,
    /// The token `/metrics` wants; `None`: open (the API then listens on loopback only).
    pub api_token: Option<Secret>,
    /// The campaigns, for the skills agent steps need.
    pub catalog: Option<Arc<crate::catalog::Catalog>>,
    /// The contact policy the desk checks before it gives a call.
    pub settings: Arc<crate::config::Settings>,
}

pub fn router<S: Store + 'static>(state: Arc<ApiState<S>>) -> Router {
    Router::new()
        .route("/healthz", get(healthz::<S>))
        .route("/metrics", get(metrics::<S>))
        .route("/webhooks/{provider}", post(webhook::<S>))
        .route(
            "/u/{token}",
            get(unsubscribe_page::<S>).post(unsubscribe::<S>),
        )
        .route("/s/{token}", get(survey::survey_page::<S>))
        .route(
            "/s/{token}/{question}",
            get(survey::question_page::<S>).post(survey::answer_form::<S>),
        )
        .route(
            "/s/{token}/{question}/{value}",
            get(survey::answer_link::<S>),
        )
        .route("/agent/next", get(agent_next::<S>))
        .route("/agent/done", post(agent_done::<S>))
        .with_state(state)
}

async fn healthz<S: Store>(State(state): State<Arc<ApiState<S>>>) -> Response {
    match state.store.inbox_pending().await {
        Ok(pending) => {
            Json(serde_json::json!({ "status": "ok", "inbox_pending": pending })).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "database unavailable" })),
            )
                .into_response()
        }
    }
}

/// Why the API may not listen on `bind` with these settings (empty: it may). On loopback
/// anything goes; anywhere else the world can reach it, so the links and callbacks must
/// be signed with a real secret, and `/metrics` needs a token.
pub fn exposure_problems(settings: &crate::config::Settings) -> Vec<String> {
    if settings.api_bind.ip().is_loopback() {
        return Vec::new();
    }
    let mut problems = Vec::new();
    if settings.secret_is_default {
        problems.push(
            "links and callbacks would be signed with the development secret, which anyone can forge: set HERALD_SECRET (16+ characters)"
                .to_string(),
        );
    }
    if settings.api_token.is_none() {
        problems.push(
            "/metrics would be open to anyone: set HERALD_API_TOKEN (it is then asked for as `Authorization: Bearer`)"
                .to_string(),
        );
    }
    problems
}

/// Checks `Authorization: Bearer TOKEN` against `expected`, in constant time.
fn bearer_ok(headers: &HeaderMap, expected: &Secret) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    crate::signing::constant_eq(given.as_bytes(), expected.bytes())
}

async fn metrics<S: Store>(State(state): State<Arc<ApiState<S>>>, headers: HeaderMap) -> Response {
    use std::fmt::Write;
    if let Some(token) = &state.api_token
        && !bearer_ok(&headers, token)
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "error": "bad or missing API token" })),
        )
            .into_response();
    }
    let (Ok(counts), Ok(pending)) = (
        state.store.attempt_counts().await,
        state.store.inbox_pending().await,
    ) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP herald_attempts Attempts in the ledger by channel and state."
    );
    let _ = writeln!(out, "# TYPE herald_attempts gauge");
    for (channel, st, n) in counts {
        let _ = writeln!(
            out,
            "herald_attempts{{channel=\"{channel}\",state=\"{st}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP herald_inbox_pending Provider events received and not applied yet."
    );
    let _ = writeln!(out, "# TYPE herald_inbox_pending gauge");
    let _ = writeln!(out, "herald_inbox_pending {pending}");
    if let Some(jobs) = &state.queue
        && let Ok(counts) = jobs.counts().await
    {
        let _ = writeln!(
            out,
            "# HELP herald_queue_tasks Tasks in the daemon's queue by queue and status."
        );
        let _ = writeln!(out, "# TYPE herald_queue_tasks gauge");
        for (queue, status, n) in counts {
            let _ = writeln!(
                out,
                "herald_queue_tasks{{queue=\"{queue}\",status=\"{status}\"}} {n}"
            );
        }
    }
    state.send_latency.render(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// A provider callback's body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Callback {
    /// Unique per provider: a repeat of the same event is ignored.
    pub event_id: String,
    /// The attempt's idempotency key, as sent to the provider. An inbound reply may give
    /// `from` instead: it then answers the latest message sent to that number.
    pub idempotency_key: Option<String>,
    /// The sender's phone number (E.164), for inbound replies without a key.
    pub from: Option<String>,
    /// `status` (with `status`), `reply` (with `text`) or `answer` (with `question` and
    /// `text`).
    #[serde(rename = "type")]
    pub kind: String,
    pub status: Option<Outcome>,
    pub detail: Option<String>,
    pub text: Option<String>,
    /// The survey question an `answer` callback answers.
    pub question: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Checks `v1=HEX` over `TIMESTAMP.BODY`.
pub fn check_signature(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), &'static str> {
    let ts = headers
        .get("x-herald-timestamp")
        .and_then(|v| v.to_str().ok())
        .ok_or("missing X-Herald-Timestamp")?;
    let sig = headers
        .get("x-herald-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or("missing X-Herald-Signature")?;
    let ts_num: i64 = ts
        .parse()
        .map_err(|_| "X-Herald-Timestamp is not a number of seconds")?;
    // `abs_diff`: a timestamp near i64::MIN or MAX would overflow a subtraction.
    if now.timestamp().abs_diff(ts_num) > SIGNATURE_TOLERANCE_SECS.unsigned_abs() {
        return Err("the timestamp is too far from now (replayed or clock skew)");
    }
    let hex = sig
        .strip_prefix("v1=")
        .ok_or("the signature is not v1=HEX")?;
    let mut signed = Vec::with_capacity(ts.len() + 1 + body.len());
    signed.extend_from_slice(ts.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    if crate::signing::verify(secret, &signed, hex) {
        Ok(())
    } else {
        Err("the signature does not match")
    }
}

/// The headers a provider sends with a callback body (also used by `provider-sim` and tests).
pub fn sign_callback(secret: &[u8], body: &[u8], now: DateTime<Utc>) -> (String, String) {
    let ts = now.timestamp().to_string();
    let mut signed = ts.clone().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(body);
    (ts, format!("v1={}", crate::signing::sign(secret, &signed)))
}

/// Reads a callback body (after its signature was checked): its fields and the report it
/// carries, or why it cannot be read.
pub fn decode_callback(body: &[u8]) -> Result<(Callback, Report), String> {
    let callback: Callback =
        serde_json::from_slice(body).map_err(|e| format!("malformed callback: {e}"))?;
    let report = match (
        callback.kind.as_str(),
        callback.status,
        callback.text.clone(),
        callback.question.clone(),
    ) {
        ("status", Some(outcome), _, _) => Report::Outcome {
            outcome,
            detail: callback.detail.clone(),
        },
        ("reply", _, Some(text), _) => Report::Reply { text },
        ("answer", _, Some(text), Some(question)) => Report::Answer { question, text },
        _ => {
            return Err("a callback is `type: status` with `status`, `type: reply` with `text`, or `type: answer` with `question` and `text`".into());
        }
    };
    Ok((callback, report))
}

async fn webhook<S: Store>(
    State(state): State<Arc<ApiState<S>>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    if let Err(why) = check_signature(state.secret.bytes(), &headers, &body, now) {
        tracing::warn!(%provider, why, "callback refused");
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "error": why })),
        )
            .into_response();
    }
    let (callback, report) = match decode_callback(&body) {
        Ok(decoded) => decoded,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": error })),
            )
                .into_response();
        }
    };
    let due = callback.occurred_at.map_or(now, |t| t.min(now));
    let key = match (callback.idempotency_key, &callback.from, &report) {
        (Some(key), _, _) => key,
        (None, Some(from), Report::Reply { .. }) => {
            match reply_key(&state.store, from, now).await {
                Ok(Ok(key)) => key,
                Ok(Err(reason)) => {
                    // Nothing to attach it to: acknowledged so the provider does not retry.
                    tracing::warn!(%provider, reason, "reply by phone number not attributed");
                    return (
                        StatusCode::ACCEPTED,
                        Json(serde_json::json!({ "accepted": false, "reason": reason })),
                    )
                        .into_response();
                }
                Err(response) => return *response,
            }
        }
        _ => {
            let error =
                "a callback names the attempt (`idempotency_key`), or a reply its sender (`from`)";
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": error })),
            )
                .into_response();
        }
    };
    let item = (callback.event_id, key, report, due);
    match state
        .store
        .inbox_push(&provider, std::slice::from_ref(&item), now)
        .await
    {
        Ok(added) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "accepted": true, "duplicate": added == 0 })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "storing a callback failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// The key of the latest SMS sent to `from` within 30 days: the message a reply without a
/// key answers. A number that several contacts share is not guessed at.
async fn reply_key<S: Store>(
    store: &S,
    from: &str,
    now: DateTime<Utc>,
) -> Result<Result<String, &'static str>, Box<Response>> {
    let phone = crate::domain::values::PhoneNumber::parse(from, None).map_err(|e| {
        Box::new(
            (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": format!("`from` is not a phone number: {e}") })),
            )
                .into_response(),
        )
    })?;
    let found = store
        .latest_sms_to(&phone, now - chrono::Duration::days(30))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "finding the message a reply answers failed");
            Box::new(StatusCode::SERVICE_UNAVAILABLE.into_response())
        })?;
    Ok(match found {
        None => Err("no message was sent to this number in the last 30 days"),
        Some((_, holders)) if holders > 1 => {
            Err("several contacts have this number: send the idempotency key")
        }
        Some((key, _)) => Ok(key),
    })
}

async fn unsubscribe_page<S: Store>(
    State(state): State<Arc<ApiState<S>>>,
    Path(token): Path<String>,
) -> Response {
    if crate::signing::open_link_token(state.secret.bytes(), &token).is_none() {
        return (
            StatusCode::NOT_FOUND,
            Html("<p>This link is not valid.</p>"),
        )
            .into_response();
    }
    // The token is hex and the key's own characters: safe to put back in the form.
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>Unsubscribe</title>\
         <p>Stop receiving these messages?</p>\
         <form method=post action=\"/u/{token}\"><button name=List-Unsubscribe value=One-Click>Unsubscribe</button></form>"
    ))
    .into_response()
}

async fn unsubscribe<S: Store>(
    State(state): State<Arc<ApiState<S>>>,
    Path(token): Path<String>,
) -> Response {
    let Some(key) = crate::signing::open_link_token(state.secret.bytes(), &token) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<p>This link is not valid.</p>"),
        )
            .into_response();
    };
    let now = state.clock.now();
    let report = Report::Outcome {
        outcome: Outcome::OptedOut,
        detail: Some("one-click unsubscribe".into()),
    };
    let item = (format!("unsubscribe:{key}"), key.to_string(), report, now);
    match state
        .store
        .inbox_push("unsubscribe", std::slice::from_ref(&item), now)
        .await
    {
        Ok(_) => Html("<p>You are unsubscribed. You will not receive these messages again.</p>")
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "recording an unsubscribe failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Checks `Authorization: Bearer TOKEN` for the desk API, in constant time.
fn agent_auth<S: Store>(state: &ApiState<S>, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(expected) = &state.agent_token else {
        let error = "the agent desk API is off: set HERALD_AGENT_TOKEN";
        return Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                Json(serde_json::json!({ "error": error })),
            )
                .into_response(),
        ));
    };
    if bearer_ok(headers, expected) {
        Ok(())
    } else {
        Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({ "error": "bad agent token" })),
            )
                .into_response(),
        ))
    }
}

#[derive(Deserialize)]
struct AgentQuery {
    agent: String,
}

async fn agent_next<S: Store>(
    State(state): State<Arc<ApiState<S>>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<AgentQuery>,
) -> Response {
    if let Err(r) = agent_auth(&state, &headers) {
        return *r;
    }
    let Some(catalog) = &state.catalog else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match crate::desk::next(
        &state.store,
        catalog,
        &state.settings,
        &q.agent,
        state.clock.now(),
    )
    .await
    {
        Ok(next) => Json(next).into_response(),
        Err(e @ crate::desk::DeskError::UnknownAgent(_)) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "desk next failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentDone {
    agent: String,
    attempt: i64,
    disposition: Outcome,
    note: Option<String>,
}

async fn agent_done<S: Store>(
    State(state): State<Arc<ApiState<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = agent_auth(&state, &headers) {
        return *r;
    }
    let done: AgentDone = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": e.to_string() })),
            )
                .into_response();
        }
    };
    match crate::desk::done(
        &state.store,
        &done.agent,
        done.attempt,
        done.disposition,
        done.note.as_deref(),
        state.clock.now(),
    )
    .await
    {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "accepted": true })),
        )
            .into_response(),
        Err(
            e @ (crate::desk::DeskError::NotHeld { .. }
            | crate::desk::DeskError::NotADisposition(_)),
        ) => (
            StatusCode::CONFLICT,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "desk done failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve<S: Store + 'static>(
    listener: tokio::net::TcpListener,
    state: Arc<ApiState<S>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod exposure_tests {
    use super::*;

    fn settings(bind: &str, default_secret: bool, token: bool) -> crate::config::Settings {
        let mut s = crate::config::Settings::load(&crate::config::Overrides::default())
            .expect("defaults load");
        s.api_bind = bind.parse().unwrap();
        s.secret_is_default = default_secret;
        s.api_token = token.then(|| Secret::new("token-token-token"));
        s
    }

    #[test]
    fn only_loopback_may_run_without_a_secret_and_a_token() {
        assert!(exposure_problems(&settings("127.0.0.1:8080", true, false)).is_empty());
        assert!(exposure_problems(&settings("[::1]:8080", true, false)).is_empty());
        assert_eq!(
            exposure_problems(&settings("0.0.0.0:8080", true, false)).len(),
            2
        );
        assert_eq!(
            exposure_problems(&settings("10.1.2.3:8080", false, false)).len(),
            1
        );
        assert_eq!(
            exposure_problems(&settings("0.0.0.0:8080", true, true)).len(),
            1
        );
        assert!(exposure_problems(&settings("0.0.0.0:8080", false, true)).is_empty());
    }
}
