//! `herald provider-sim`: a reference SMS and voice-bot provider that speaks herald's HTTP
//! protocol (docs/providers.md) over real HTTP, for trying the daemon and for the tests.
//!
//! It accepts sends, recognises a repeated idempotency key (same id, no second message),
//! draws what happens from the `[sim]` rates of herald.toml (delivery, replies, opt-outs,
//! answers, busy, voicemail, hand-offs), and posts signed callbacks to each send's
//! `callback_url` after the simulated delays times `--time-scale`. `GET /v1/stats` counts
//! requests, accepted sends and repeats.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use axum::extract::State;
use axum::http::StatusCode;
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
}

#[derive(Default, serde::Serialize)]
struct Stats {
    requests: u64,
    accepted: u64,
    duplicates: u64,
    callbacks_sent: u64,
    callbacks_failed: u64,
}

struct SimState {
    sim: SimProvider,
    secret: Vec<u8>,
    time_scale: f64,
    seen: Mutex<HashMap<String, String>>,
    stats: Mutex<Stats>,
    client: reqwest::Client,
}

pub async fn run(ctx: &Ctx, args: &ProviderSimArgs) -> Result<ExitCode> {
    let state = Arc::new(SimState {
        sim: SimProvider::new(ctx.settings.sim.clone()),
        secret: ctx.settings.secret.bytes().to_vec(),
        time_scale: args.time_scale.max(0.0),
        seen: Mutex::new(HashMap::new()),
        stats: Mutex::new(Stats::default()),
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?,
    });
    let app = Router::new()
        .route("/v1/messages", post(send_sms))
        .route("/v1/calls", post(send_call))
        .route("/v1/stats", get(stats))
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

async fn send_sms(
    state: State<Arc<SimState>>,
    body: Json<SendRequest>,
) -> (StatusCode, Json<serde_json::Value>) {
    accept(state, body, Channel::Sms).await
}

async fn send_call(
    state: State<Arc<SimState>>,
    body: Json<SendRequest>,
) -> (StatusCode, Json<serde_json::Value>) {
    accept(state, body, Channel::VoiceBot).await
}

async fn stats(State(state): State<Arc<SimState>>) -> Json<serde_json::Value> {
    Json(serde_json::to_value(&*state.stats.lock().expect("lock")).expect("stats serialise"))
}

async fn accept(
    State(state): State<Arc<SimState>>,
    Json(req): Json<SendRequest>,
    channel: Channel,
) -> (StatusCode, Json<serde_json::Value>) {
    let (id, duplicate) = {
        let mut seen = state.seen.lock().expect("lock");
        let mut stats = state.stats.lock().expect("lock");
        stats.requests += 1;
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
    if !duplicate {
        let kind: CampaignKind = serde_json::from_value(req.context["campaign_kind"].clone())
            .unwrap_or(CampaignKind::Reminder);
        let now = SystemClock.now();
        let questions: Vec<crate::channel::AskedQuestion> =
            serde_json::from_value(req.context["questions"].clone()).unwrap_or_default();
        for (event_key, report, at) in
            state
                .sim
                .events(&req.idempotency_key, channel, kind, &questions, now)
        {
            let state = state.clone();
            let (key, url) = (req.idempotency_key.clone(), req.callback_url.clone());
            tokio::spawn(async move {
                let delay = ((at - now).num_milliseconds().max(0) as f64 * state.time_scale) as u64;
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                callback(&state, &url, &event_key, &key, report, at).await;
            });
        }
    }
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "id": id, "duplicate": duplicate })),
    )
}

/// Posts one signed callback, trying a few times if herald is unavailable.
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
    for attempt in 0..5u32 {
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
        tokio::time::sleep(std::time::Duration::from_millis(200 * 2u64.pow(attempt))).await;
    }
    state.stats.lock().expect("lock").callbacks_failed += 1;
}
