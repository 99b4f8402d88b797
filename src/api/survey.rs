//! The survey's web pages: one-click answer links from e-mails and the comment page.
//!
//! - `GET /s/{token}/{question}/{value}` records the answer (one click from the e-mail)
//!   and shows the next question, or thanks. Prefetches (`Sec-Purpose: prefetch`,
//!   `Purpose: prefetch`, `HEAD`) record nothing. Mail scanners that follow every link
//!   with a plain GET are told apart by the engine: a link answer is applied a minute
//!   after the click, and when three or more different answers to one question came by
//!   link within that minute of each other, none of them is recorded.
//! - `GET /s/{token}` and `GET /s/{token}/{question}` show a question with its answers as
//!   links, or a text box for a comment.
//! - `POST /s/{token}/{question}` (form field `answer`) records a typed answer.
//!
//! The token is the attempt's key signed with the secret (as for unsubscribe links); a
//! forged or altered one is 404. Answers go to the inbox like provider callbacks, so the
//! engine applies them once and in order: a later answer replaces an earlier one.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::ApiState;
use crate::domain::campaign::{Question, QuestionKind, Survey};
use crate::domain::ledger::Report;
use crate::domain::survey;
use crate::store::Store;
use crate::templates::escape_html as escape;

/// The longest typed answer kept.
const MAX_ANSWER: usize = 2_000;

pub async fn survey_page<S: Store>(
    State(state): State<Arc<ApiState<S>>>,
    Path(token): Path<String>,
) -> Response {
    match find(&state, &token).await {
        Ok((_, survey)) => match survey.questions.first() {
            Some(q) => page(&token, Some(q), None),
            None => thanks(),
        },
        Err(r) => r,
    }
}

pub async fn question_page<S: Store>(
    State(state): State<Arc<ApiState<S>>>,
    Path((token, question)): Path<(String, String)>,
) -> Response {
    match find(&state, &token).await {
        Ok((_, survey)) => match survey.questions.iter().find(|q| q.id == question) {
            Some(q) => page(&token, Some(q), None),
            None => not_found(),
        },
        Err(r) => r,
    }
}

pub async fn answer_link<S: Store>(
    State(state): State<Arc<ApiState<S>>>,
    method: Method,
    headers: HeaderMap,
    Path((token, question, value)): Path<(String, String, String)>,
) -> Response {
    let prefetch = method == Method::HEAD
        || ["sec-purpose", "purpose", "x-purpose"].iter().any(|h| {
            headers
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("prefetch") || v.contains("preview"))
        });
    let how = if prefetch { Via::Prefetch } else { Via::Link };
    record(&state, &token, &question, &value, how).await
}

/// How an answer came.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    /// A link followed: recorded a minute later, unless a link scan shows up meanwhile.
    Link,
    /// A typed answer posted from the page.
    Form,
    /// A prefetch or preview: shown, never recorded.
    Prefetch,
}

#[derive(Deserialize)]
pub struct AnswerForm {
    answer: String,
}

pub async fn answer_form<S: Store>(
    State(state): State<Arc<ApiState<S>>>,
    Path((token, question)): Path<(String, String)>,
    Form(form): Form<AnswerForm>,
) -> Response {
    let answer: String = form.answer.trim().chars().take(MAX_ANSWER).collect();
    if answer.is_empty() {
        return match find(&state, &token).await {
            Ok((_, survey)) => next_page(&token, &survey, &question),
            Err(r) => r,
        };
    }
    record(&state, &token, &question, &answer, Via::Form).await
}

/// Records an answer (not a prefetch's) and shows what comes next.
async fn record<S: Store>(
    state: &ApiState<S>,
    token: &str,
    question: &str,
    text: &str,
    via: Via,
) -> Response {
    let (key, survey) = match find(state, token).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let Some(q) = survey.questions.iter().find(|q| q.id == question) else {
        return not_found();
    };
    // A value the question cannot take is shown the question again, not recorded.
    if let survey::Reading::OutOfRange { .. } | survey::Reading::Unclear =
        survey::read_answer(q, text)
    {
        return page(
            token,
            Some(q),
            Some("That answer is not one of the choices. Please pick one below."),
        );
    }
    if via != Via::Prefetch {
        let now = state.clock.now();
        let digest = crate::signing::sign(key.as_bytes(), text.as_bytes());
        let kind = if via == Via::Link { "link" } else { "form" };
        let event_key = format!(
            "{kind}:{question}:{}:{}:{key}",
            &digest[..16],
            now.timestamp()
        );
        let report = Report::Answer {
            question: question.to_string(),
            text: text.to_string(),
        };
        // A link answer waits out the scan window, so the engine can see whether it was
        // one of a scanner's sweep over every answer link.
        let due = match via {
            Via::Link => now + survey::LINK_SCAN_WINDOW,
            _ => now,
        };
        let item = (event_key, key.clone(), report, due);
        if let Err(e) = state
            .store
            .inbox_push("web", std::slice::from_ref(&item), now)
            .await
        {
            tracing::error!(error = %e, "recording a survey answer failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    next_page(token, &survey, question)
}

/// The question after `question`, or thanks.
fn next_page(token: &str, survey: &Survey, question: &str) -> Response {
    match survey
        .questions
        .iter()
        .skip_while(|q| q.id != question)
        .nth(1)
    {
        Some(next) => page(token, Some(next), None),
        None => thanks(),
    }
}

/// The attempt key of a token and its campaign's survey.
async fn find<S: Store>(state: &ApiState<S>, token: &str) -> Result<(String, Survey), Response> {
    let Some(key) = crate::signing::open_link_token(state.secret.bytes(), token) else {
        return Err(not_found());
    };
    let attempt = match state.store.attempt_by_key(key).await {
        Ok(Some(a)) => a,
        Ok(None) => return Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "reading the attempt of a survey link failed");
            return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
        }
    };
    let survey = state
        .catalog
        .as_ref()
        .and_then(|c| c.campaign(&attempt.campaign).ok())
        .and_then(|l| l.campaign.survey.clone());
    match survey {
        Some(s) => Ok((key.to_string(), s)),
        None => Err((
            StatusCode::GONE,
            Html(shell("<p>This survey is closed. Thank you.</p>")),
        )
            .into_response()),
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(shell("<p>This link is not valid.</p>")),
    )
        .into_response()
}

fn thanks() -> Response {
    Html(shell(
        "<h1>Thank you</h1><p>Your answers are recorded. You can close this page.</p>",
    ))
    .into_response()
}

/// A question with its answers as links (scored and choice questions) or a text box.
fn page(token: &str, q: Option<&Question>, notice: Option<&str>) -> Response {
    let Some(q) = q else { return thanks() };
    let mut body = String::new();
    if let Some(n) = notice {
        body.push_str(&format!("<p class=notice>{}</p>", escape(n)));
    }
    body.push_str(&format!("<h1>{}</h1>", escape(&q.text)));
    // The token is the key's own characters and hex: safe in a URL path.
    let base = format!("/s/{token}/{}", escape(&q.id));
    let link = |value: &str, label: &str| {
        format!(
            "<a class=choice href=\"{base}/{}\">{}</a>",
            escape(value),
            escape(label)
        )
    };
    match q.kind {
        QuestionKind::Nps | QuestionKind::Csat => {
            let (lo, hi) = survey::scale(q.kind).expect("scored");
            body.push_str("<p class=scale>");
            for n in lo..=hi {
                body.push_str(&link(&n.to_string(), &n.to_string()));
            }
            body.push_str("</p>");
        }
        QuestionKind::Choice => {
            body.push_str("<p class=scale>");
            for (i, c) in q.choices.iter().enumerate() {
                body.push_str(&link(&(i + 1).to_string(), c));
            }
            body.push_str("</p>");
        }
        QuestionKind::Text => body.push_str(&format!(
            "<form method=post action=\"{base}\"><textarea name=answer rows=5 maxlength={MAX_ANSWER} \
             aria-label=\"Your answer\"></textarea><p><button>Send</button></p></form>"
        )),
    }
    Html(shell(&body)).into_response()
}

fn shell(body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\"><title>Survey</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1f2933}}\
         h1{{font-size:1.3rem}}.scale{{display:flex;flex-wrap:wrap;gap:.4rem}}\
         .choice{{display:inline-block;min-width:2.2rem;padding:.5rem;text-align:center;border:1px solid #7b8794;border-radius:.4rem;text-decoration:none;color:inherit}}\
         .choice:hover{{background:#e4e7eb}}textarea{{width:100%}}.notice{{color:#b44d12}}</style>\
         <body>{body}</body></html>"
    )
}
