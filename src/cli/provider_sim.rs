//! `herald provider-sim`: a reference SMS and voice-bot provider that speaks herald's HTTP
//! protocol (docs/providers.md) over real HTTP, for trying the daemon and for the tests.
//!
//! It accepts sends, recognises a repeated idempotency key (same id, no second message),
//! draws what happens from the `[sim]` rates of herald.toml (delivery, replies, opt-outs,
//! answers, busy, voicemail, hand-offs), and posts signed callbacks to each send's
//! `callback_url` after the simulated delays times `--time-scale`. `GET /v1/stats` counts
//! requests, accepted sends and repeats; `GET /v1/keys` gives the requests per idempotency
//! key.
//!
//! Faults, to drive herald's retry, backoff and circuit-breaker paths over real HTTP:
//! `--error-rate P` answers a share of requests `503` before accepting them, and
//! `POST /v1/faults` queues faults for the next requests, in order (docs/providers.md).

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Args;

use super::Ctx;
use crate::channel::SimProvider;
use crate::channel::http::SendRequest;
use crate::clock::{Clock, SystemClock};
use crate::domain::campaign::CampaignKind;
use crate::domain::ledger::Report;
use crate::domain::values::Channel;

#[derive(Debug, Args)]
pub struct ProviderSimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub bind: std::net::SocketAddr,
    /// Multiplies the simulated delays before callbacks (0: at once; 1: as drawn).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Share of requests (0 to 1) answered `503 Service Unavailable` before being accepted,
    /// drawn from the idempotency key and the request's number.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Accept sends without posting any callback.
    #[arg(long)]
    pub no_callbacks: bool,
}

/// One queued fault (`POST /v1/faults` takes a list of them), for the next `times`
/// requests (default 1).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case", deny_unknown_fields)]
enum Fault {
    /// Refuse before accepting, with this status (and `Retry-After`, when given).
    Status {
        status: u16,
        retry_after: Option<String>,
        #[serde(default = "one")]
        times: u32,
    },
    /// Refuse with `422 {"error": "invalid_number"}`.
    InvalidNumber {
        #[serde(default = "one")]
        times: u32,
    },
    /// Accept the send, then answer `200` with a body that is not JSON.
    Malformed {
        #[serde(default = "one")]
        times: u32,
    },
    /// Accept the send, then answer only after `delay_ms` (past herald's timeout, say).
    Slow {
        delay_ms: u64,
        #[serde(default = "one")]
        times: u32,
    },
    /// Accept the send, then answer `500` as if it had failed.
    AcceptThenFail {
        #[serde(default = "one")]
        times: u32,
    },
}

fn one() -> u32 {
    1
}

impl Fault {
    fn times(&mut self) -> &mut u32 {
        match self {
            Fault::Status { times, .. }
            | Fault::InvalidNumber { times }
            | Fault::Malformed { times }
            | Fault::Slow { times, .. }
            | Fault::AcceptThenFail { times } => times,
        }
    }
}

#[derive(Default, serde::Serialize)]
struct Stats {
    requests: u64,
    accepted: u64,
    duplicates: u64,
    callbacks_scheduled: u64,
    callbacks_sent: u64,
    callbacks_failed: u64,
    faults_served: u64,
}

struct SimState {
    sim: SimProvider,
    secret: Vec<u8>,
    time_scale: f64,
    seen: Mutex<HashMap<String, String>>,
    requests_by_key: Mutex<HashMap<String, u64>>,
    faults: Mutex<std::collections::VecDeque<Fault>>,
    error_rate: f64,
    callbacks: bool,
    stats: Mutex<Stats>,
    client: reqwest::Client,
}

pub async fn run(ctx: &Ctx, args: &ProviderSimArgs) -> Result<ExitCode> {
    let state = Arc::new(SimState {
        sim: SimProvider::new(ctx.settings.sim.clone()),
        secret: ctx.settings.secret.bytes().to_vec(),
        time_scale: args.time_scale.max(0.0),
        seen: Mutex::new(HashMap::new()),
        requests_by_key: Mutex::new(HashMap::new()),
        faults: Mutex::new(Default::default()),
        error_rate: args.error_rate.clamp(0.0, 1.0),
        callbacks: !args.no_callbacks,
        stats: Mutex::new(Stats::default()),
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?,
    });
    let app = Router::new()
        .route("/v1/messages", post(send_sms))
        .route("/v1/calls", post(send_call))
        .route("/v1/stats", get(stats))
        .route("/v1/keys", get(keys))
        .route("/v1/faults", post(queue_faults))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("listening on {}", args.bind))?;
    eprintln!(
        "provider-sim: listening on http://{} (SMS /v1/messages, calls /v1/calls, /v1/stats)",
        args.bind
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}

async fn send_sms(state: State<Arc<SimState>>, body: Json<SendRequest>) -> Response {
    accept(state, body, Channel::Sms).await
}

async fn send_call(state: State<Arc<SimState>>, body: Json<SendRequest>) -> Response {
    accept(state, body, Channel::VoiceBot).await
}

async fn keys(State(state): State<Arc<SimState>>) -> Json<serde_json::Value> {
    Json(
        serde_json::to_value(&*state.requests_by_key.lock().expect("lock"))
            .expect("keys serialise"),
    )
}

async fn queue_faults(
    State(state): State<Arc<SimState>>,
    Json(faults): Json<Vec<Fault>>,
) -> StatusCode {
    state.faults.lock().expect("lock").extend(faults);
    StatusCode::NO_CONTENT
}

/// The fault for this request, if any: the next queued one, or a drawn `503`.
fn next_fault(state: &SimState, key: &str, request_no: u64) -> Option<Fault> {
    let mut queue = state.faults.lock().expect("lock");
    if let Some(front) = queue.front_mut() {
        let mut fault = front.clone();
        *fault.times() = 1;
        let left = front.times();
        *left = left.saturating_sub(1);
        if *left == 0 {
            queue.pop_front();
        }
        return Some(fault);
    }
    drop(queue);
    if state.error_rate > 0.0 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        (key, request_no).hash(&mut h);
        if (h.finish() % 1_000_000) as f64 / 1_000_000.0 < state.error_rate {
            return Some(Fault::Status {
                status: 503,
                retry_after: None,
                times: 1,
            });
        }
    }
    None
}

async fn stats(State(state): State<Arc<SimState>>) -> Json<serde_json::Value> {
    Json(serde_json::to_value(&*state.stats.lock().expect("lock")).expect("stats serialise"))
}

async fn accept(
    State(state): State<Arc<SimState>>,
    Json(req): Json<SendRequest>,
    channel: Channel,
) -> Response {
    let request_no = {
        let mut stats = state.stats.lock().expect("lock");
        stats.requests += 1;
        stats.requests
    };
    *state
        .requests_by_key
        .lock()
        .expect("lock")
        .entry(req.idempotency_key.clone())
        .or_default() += 1;
    let fault = next_fault(&state, &req.idempotency_key, request_no);
    if fault.is_some() {
        state.stats.lock().expect("lock").faults_served += 1;
    }
    // Refusals happen before the send is accepted: nothing goes out.
    match &fault {
        Some(Fault::Status {
            status,
            retry_after,
            ..
        }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response =
                (status, Json(serde_json::json!({ "error": "fault" }))).into_response();
            if let Some(ra) = retry_after
                && let Ok(value) = axum::http::HeaderValue::from_str(ra)
            {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
            return response;
        }
        Some(Fault::InvalidNumber { .. }) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({ "error": "invalid_number" })),
            )
                .into_response();
        }
        _ => {}
    }
    let (id, duplicate) = {
        let mut seen = state.seen.lock().expect("lock");
        let mut stats = state.stats.lock().expect("lock");
        match seen.get(&req.idempotency_key) {
            Some(id) => {
                stats.duplicates += 1;
                (id.clone(), true)
            }
            None => {
                stats.accepted += 1;
                let id = format!("ps-{}", stats.accepted);
                seen.insert(req.idempotency_key.clone(), id.clone());
                (id, false)
            }
        }
    };
    if !duplicate && state.callbacks {
        let kind: CampaignKind = serde_json::from_value(req.context["campaign_kind"].clone())
            .unwrap_or(CampaignKind::Reminder);
        let now = SystemClock.now();
        let questions: Vec<crate::channel::AskedQuestion> =
            serde_json::from_value(req.context["questions"].clone()).unwrap_or_default();
        let events = state
            .sim
            .events(&req.idempotency_key, channel, kind, &questions, now);
        state.stats.lock().expect("lock").callbacks_scheduled += events.len() as u64;
        for (event_key, report, at) in events {
            let state = state.clone();
            let (key, url) = (req.idempotency_key.clone(), req.callback_url.clone());
            tokio::spawn(async move {
                let delay = ((at - now).num_milliseconds().max(0) as f64 * state.time_scale) as u64;
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                callback(&state, &url, &event_key, &key, report, at).await;
            });
        }
    }
    // Faults after acceptance: the message went out, the answer says otherwise.
    match fault {
        Some(Fault::Malformed { .. }) => (StatusCode::OK, "{\"id\": ").into_response(),
        Some(Fault::AcceptThenFail { .. }) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": "fault" })),
        )
            .into_response(),
        Some(Fault::Slow { delay_ms, .. }) => {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
            accepted(&id, duplicate)
        }
        _ => accepted(&id, duplicate),
    }
}

fn accepted(id: &str, duplicate: bool) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "id": id, "duplicate": duplicate })),
    )
        .into_response()
}

/// Posts one signed callback, trying again for about 20 s while herald is unavailable (a
/// daemon restarting, say), as real providers do for longer.
async fn callback(
    state: &SimState,
    url: &str,
    event_id: &str,
    key: &str,
    report: Report,
    at: chrono::DateTime<chrono::Utc>,
) {
    let body = match report {
        Report::Outcome { outcome, detail } => serde_json::json!({
            "event_id": event_id, "idempotency_key": key, "type": "status", "status": outcome, "detail": detail, "occurred_at": at,
        }),
        Report::Reply { text } => serde_json::json!({
            "event_id": event_id, "idempotency_key": key, "type": "reply", "text": text, "occurred_at": at,
        }),
        Report::Answer { question, text } => serde_json::json!({
            "event_id": event_id, "idempotency_key": key, "type": "answer", "question": question, "text": text, "occurred_at": at,
        }),
    }
    .to_string();
    for attempt in 0..12u32 {
        let (ts, sig) =
            crate::api::sign_callback(&state.secret, body.as_bytes(), SystemClock.now());
        let sent = state
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-Herald-Timestamp", ts)
            .header("X-Herald-Signature", sig)
            .body(body.clone())
            .send()
            .await;
        if matches!(&sent, Ok(r) if r.status().is_success()) {
            state.stats.lock().expect("lock").callbacks_sent += 1;
            return;
        }
        let wait = (100 * 2u64.pow(attempt)).min(2_000);
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    }
    state.stats.lock().expect("lock").callbacks_failed += 1;
}
