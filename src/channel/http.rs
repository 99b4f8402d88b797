//! SMS and voice-bot providers over HTTP, with the JSON protocol in `docs/providers.md`:
//! `POST {url}/v1/messages` (SMS) or `POST {url}/v1/calls` (voice bot), the attempt's
//! idempotency key in the body and the `Idempotency-Key` header, and a `callback_url` on
//! herald's API where the provider reports what happened (signed).
//!
//! A 2xx answer means accepted; 429, 5xx, a timeout, a refused connection or an unreadable
//! answer are temporary (the attempt is retried with backoff, never before a
//! `Retry-After` the provider sends); a 4xx whose JSON body says
//! `{"error": "invalid_number"}` marks the number as dead (it is suppressed); any other 4xx
//! is permanent for the attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Outbound, Receipt, SendError};
use crate::domain::values::Channel;
use crate::domain::values::mask_contact_details;

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
        now: DateTime<Utc>,
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
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, now));
        let body = response.text().await.unwrap_or_default();
        // The provider's body may quote the number: masked before it is recorded.
        let why = format!(
            "{} answered {status}: {}",
            self.name,
            mask_contact_details(&body.chars().take(200).collect::<String>())
        );
        Err(classify(status.as_u16(), &body, retry_after, why))
    }
}

/// What a refusal means, by status, body and `Retry-After`.
fn classify(status: u16, body: &str, retry_after: Option<DateTime<Utc>>, why: String) -> SendError {
    let temporary = status == 429 || (500..600).contains(&status);
    match retry_after {
        Some(until) if temporary => SendError::Throttled { why, until },
        _ if temporary => SendError::Temporary(why),
        _ => {
            let code = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("error")?.as_str().map(str::to_string));
            match code.as_deref() {
                Some("invalid_number") => SendError::BadAddress(why),
                _ => SendError::Permanent(why),
            }
        }
    }
}

/// The longest wait a `Retry-After` may ask for: beyond it herald retries anyway (with
/// backoff), so a provider's mistake cannot park a campaign for months.
pub const MAX_RETRY_AFTER: chrono::Duration = chrono::Duration::hours(6);

/// Reads `Retry-After`: seconds (`120`) or an HTTP date (`Wed, 25 Nov 2026 10:00:00 GMT`),
/// capped at [`MAX_RETRY_AFTER`]. `None` when unreadable or already past.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    let until = match value.parse::<u64>() {
        Ok(secs) => {
            now + chrono::Duration::seconds(secs.min(MAX_RETRY_AFTER.num_seconds() as u64) as i64)
        }
        Err(_) => DateTime::parse_from_rfc2822(value)
            .ok()?
            .with_timezone(&Utc),
    };
    (until > now).then(|| until.min(now + MAX_RETRY_AFTER))
}

/// A reqwest error without the URL (which may carry credentials).
fn without_url(e: &reqwest::Error) -> String {
    let mut e2 = format!("{e}");
    if let Some(url) = e.url() {
        e2 = e2.replace(url.as_str(), "<provider>");
    }
    e2
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_caps_them() {
        assert_eq!(
            retry_after("120", now()),
            Some(now() + chrono::Duration::seconds(120))
        );
        assert_eq!(
            retry_after("Wed, 25 Nov 2026 10:05:00 GMT", now()),
            Some(now() + chrono::Duration::minutes(5))
        );
        assert_eq!(
            retry_after("99999999", now()),
            Some(now() + MAX_RETRY_AFTER)
        );
        assert_eq!(
            retry_after("Wed, 25 Nov 2026 09:00:00 GMT", now()),
            None,
            "past"
        );
        assert_eq!(retry_after("0", now()), None);
        assert_eq!(retry_after("soon", now()), None);
        assert_eq!(retry_after("-5", now()), None);
    }

    #[test]
    fn refusals_are_classified_by_status_body_and_retry_after() {
        let later = Some(now() + chrono::Duration::seconds(30));
        let kind = |status, body: &str, ra| match classify(status, body, ra, String::new()) {
            SendError::Temporary(_) => "temporary",
            SendError::Throttled { .. } => "throttled",
            SendError::Permanent(_) => "permanent",
            SendError::BadAddress(_) => "bad_address",
        };
        assert_eq!(kind(429, "", later), "throttled");
        assert_eq!(kind(503, "", later), "throttled");
        assert_eq!(kind(429, "", None), "temporary");
        assert_eq!(kind(500, "oops", None), "temporary");
        assert_eq!(
            kind(422, r#"{"error":"invalid_number"}"#, None),
            "bad_address"
        );
        assert_eq!(
            kind(400, r#"{"error":"invalid_number"}"#, later),
            "bad_address"
        );
        assert_eq!(kind(400, r#"{"error":"bad_request"}"#, None), "permanent");
        assert_eq!(kind(401, "not json", None), "permanent");
    }
}
