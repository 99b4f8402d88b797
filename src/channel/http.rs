//! SMS and voice-bot providers over HTTP, with the JSON protocol in `docs/providers.md`:
//! `POST {url}/v1/messages` (SMS) or `POST {url}/v1/calls` (voice bot), the attempt's
//! idempotency key in the body and the `Idempotency-Key` header, and a `callback_url` on
//! herald's API where the provider reports what happened (signed).
//!
//! A 2xx answer means accepted; 429, 5xx, a timeout or a refused connection are temporary
//! (the attempt is rescheduled with backoff); any other 4xx is permanent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Outbound, Receipt, SendError};
use crate::domain::values::Channel;

/// `[sms]` or `[voice_bot]` in herald.toml with `provider = "http"`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpProviderConfig {
    /// `http` (or `sim`, the default).
    pub provider: Option<String>,
    /// Base URL of the provider's API.
    pub url: Option<String>,
    /// The provider's name in callback URLs (`/webhooks/NAME`); default `sms` or `voice_bot`.
    pub name: Option<String>,
    /// Environment variable holding the API key sent as `Authorization: Bearer`.
    pub api_key_env: Option<String>,
    /// Per-request timeout in seconds (default 10).
    pub timeout_secs: Option<u64>,
    /// Requests in flight at once to this provider from each daemon (default 8).
    pub concurrency: Option<usize>,
    /// The most this channel may send, across every campaign and every daemon sharing the
    /// database (`50/s`, `600/m`), whatever the provider; campaigns' own `rate_limits`
    /// apply on top.
    pub rate: Option<String>,
}

/// The send request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendRequest {
    pub idempotency_key: String,
    pub to: String,
    /// The message (SMS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The bot flow (voice bot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    pub callback_url: String,
    /// What the bot or the provider may use: campaign, kind, step, the contact's first name
    /// and locale. No other personal data is sent.
    pub context: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct SendAnswer {
    id: String,
}

#[derive(Clone, Debug)]
pub struct HttpProvider {
    client: reqwest::Client,
    /// Bounds the requests in flight to this provider.
    in_flight: std::sync::Arc<tokio::sync::Semaphore>,
    endpoint: String,
    name: String,
    api_key: Option<String>,
}

impl HttpProvider {
    pub fn new(config: &HttpProviderConfig, channel: Channel) -> Result<HttpProvider, String> {
        let url = config
            .url
            .as_deref()
            .ok_or_else(|| format!("[{channel}] provider = \"http\" needs `url`"))?;
        let path = match channel {
            Channel::Sms => "v1/messages",
            Channel::VoiceBot => "v1/calls",
            other => return Err(format!("no HTTP provider protocol for {other}")),
        };
        let api_key =
            match &config.api_key_env {
                Some(var) => Some(std::env::var(var).map_err(|_| {
                    format!("[{channel}] api_key_env names ${var}, which is not set")
                })?),
                None => None,
            };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs.unwrap_or(10)))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(HttpProvider {
            client,
            in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(
                config.concurrency.unwrap_or(8).max(1),
            )),
            endpoint: format!("{}/{path}", url.trim_end_matches('/')),
            name: config.name.clone().unwrap_or_else(|| channel.to_string()),
            api_key,
        })
    }

    /// The name callbacks use (`/webhooks/NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn send(
        &self,
        out: &Outbound<'_>,
        public_url: &str,
        _now: DateTime<Utc>,
    ) -> Result<Receipt, SendError> {
        let key = &out.attempt.idempotency_key;
        let to = out
            .contact
            .phone
            .as_ref()
            .ok_or_else(|| SendError::Permanent("the contact has no phone number".into()))?;
        let request = SendRequest {
            idempotency_key: key.clone(),
            to: to.as_str().to_string(),
            text: out.message.map(|m| m.text.clone()),
            flow: out.flow.map(str::to_string),
            callback_url: format!("{public_url}/webhooks/{}", self.name),
            context: serde_json::json!({
                "campaign": out.attempt.campaign,
                "campaign_kind": out.campaign_kind,
                "step": out.attempt.step,
                "first_name": out.contact.first_name,
                "locale": out.contact.locale,
                "questions": out.questions,
            }),
        };
        let mut call = self
            .client
            .post(&self.endpoint)
            .header("Idempotency-Key", key)
            .json(&request);
        if let Some(k) = &self.api_key {
            call = call.bearer_auth(k);
        }
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| SendError::Temporary("provider closed".into()))?;
        let response = call
            .send()
            .await
            .map_err(|e| SendError::Temporary(format!("{}: {}", self.name, without_url(&e))))?;
        let status = response.status();
        if status.is_success() {
            let answer: SendAnswer = response.json().await.map_err(|e| {
                SendError::Temporary(format!(
                    "{}: unreadable answer: {}",
                    self.name,
                    without_url(&e)
                ))
            })?;
            return Ok(Receipt {
                provider_ref: answer.id,
                later: Vec::new(),
            });
        }
        let body = response.text().await.unwrap_or_default();
        let why = format!(
            "{} answered {status}: {}",
            self.name,
            body.chars().take(200).collect::<String>()
        );
        if status.as_u16() == 429 || status.is_server_error() {
            Err(SendError::Temporary(why))
        } else {
            Err(SendError::Permanent(why))
        }
    }
}

/// A reqwest error without the URL (which may carry credentials).
fn without_url(e: &reqwest::Error) -> String {
    let mut e2 = format!("{e}");
    if let Some(url) = e.url() {
        e2 = e2.replace(url.as_str(), "<provider>");
    }
    e2
}
