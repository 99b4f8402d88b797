//! Message templates: `templates/CHANNEL/NAME.LOCALE.EXT`, rendered with minijinja.
//!
//! - `sms/NAME.LOCALE.txt`: the message; its GSM-7/UCS-2 encoding and segments are reported.
//! - `email/NAME.LOCALE.txt`: the text part, whose first line is `Subject: ...`;
//!   `email/NAME.LOCALE.html` (optional): the HTML part, auto-escaped.
//! - `voice_bot/NAME.LOCALE.txt`, `agent/NAME.LOCALE.txt` (optional): the opening line or
//!   the script shown to the agent.
//!
//! A contact's locale falls back from `es-MX` to `es`, then to the campaign's default
//! locale, then to the configured default. Templates cannot read files or the environment:
//! minijinja has no such access unless given it, and herald gives none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::diagnostics::Diagnostic;
use crate::domain::campaign::Campaign;
use crate::domain::contact::{AttributeValue, Contact};
use crate::domain::sms::{self, SmsShape};
use crate::domain::values::Channel;

/// Variables a template may read about the contact, besides `attr.*`.
pub const CONTACT_FIELDS: [&str; 7] = [
    "external_id",
    "first_name",
    "last_name",
    "name",
    "locale",
    "timezone",
    "region",
];
/// Top-level variables every template may read.
pub const ROOTS: [&str; 6] = [
    "contact",
    "attr",
    "campaign",
    "step",
    "unsubscribe_url",
    "survey",
];

/// Which part of a message a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Text,
    Html,
}

/// One template file.
#[derive(Clone, Debug)]
pub struct TemplateFile {
    pub channel: Channel,
    pub name: String,
    pub locale: String,
    pub part: Part,
    pub path: PathBuf,
    pub source: String,
}

impl TemplateFile {
    fn key(&self) -> String {
        let ext = match self.part {
            Part::Text => "txt",
            Part::Html => "html",
        };
        format!("{}/{}.{}.{ext}", self.channel, self.name, self.locale)
    }
}

/// A rendered message.
#[derive(Clone, Debug, Serialize)]
pub struct Rendered {
    pub channel: Channel,
    pub template: String,
    pub locale: String,
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    pub sms: Option<SmsShape>,
}

/// Who and what a message is rendered for.
#[derive(Clone, Copy, Debug)]
pub struct RenderFor<'a> {
    pub contact: &'a Contact,
    pub campaign: Option<&'a Campaign>,
    pub step_id: Option<&'a str>,
    /// The attempt's signed unsubscribe link (`None` in previews).
    pub unsubscribe_url: Option<&'a str>,
    /// The attempt's signed survey link, the base of its answer links (`None` in previews).
    pub survey_url: Option<&'a str>,
}

impl<'a> RenderFor<'a> {
    /// A preview: the contact alone.
    pub fn preview(contact: &'a Contact, campaign: Option<&'a Campaign>) -> Self {
        RenderFor {
            contact,
            campaign,
            step_id: None,
            unsubscribe_url: None,
            survey_url: None,
        }
    }
}

/// Every template under a folder, compiled.
pub struct TemplateSet {
    env: Environment<'static>,
    files: BTreeMap<(Channel, String, String, Part), TemplateFile>,
}

impl std::fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateSet")
            .field("files", &self.files.len())
            .finish()
    }
}

fn new_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("money", |v: Value| -> Result<String, minijinja::Error> {
        if v.is_undefined() || v.is_none() {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::UndefinedError,
                "`money` got no value",
            ));
        }
        f64::try_from(v.clone())
            .map(|n| format!("{n:.2}"))
            .map_err(|_| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("`money` needs a number, got `{v}`"),
                )
            })
    });
    env
}

impl TemplateSet {
    pub fn empty() -> TemplateSet {
        TemplateSet {
            env: new_env(),
            files: BTreeMap::new(),
        }
    }

    /// Loads every template under `dir`; problems come back as diagnostics and the
    /// broken files are left out.
    pub fn load(dir: &Path) -> (TemplateSet, Vec<Diagnostic>) {
        let mut set = TemplateSet::empty();
        let mut problems = Vec::new();
        let Ok(channels) = std::fs::read_dir(dir) else {
            return (set, problems);
        };
        let mut paths: Vec<PathBuf> = channels.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for channel_dir in paths {
            let label = channel_dir.display().to_string();
            if !channel_dir.is_dir() {
                continue;
            }
            let dir_name = channel_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("");
            let Ok(channel) = dir_name.parse::<Channel>() else {
                let hint =
                    crate::domain::suggest(dir_name, Channel::ALL.iter().map(|c| c.as_str()))
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_default();
                problems.push(
                    Diagnostic::error(label, "template folder is not a channel")
                        .found(dir_name)
                        .expected("sms, email, voice_bot or agent")
                        .hint(hint),
                );
                continue;
            };
            let mut files: Vec<PathBuf> = std::fs::read_dir(&channel_dir)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            files.sort();
            for path in files.into_iter().filter(|p| p.is_file()) {
                match set.add_file(channel, &path) {
                    Ok(()) => {}
                    Err(d) => problems.push(*d),
                }
            }
        }
        (set, problems)
    }

    /// Adds one template from text (used by `load` and by tests).
    pub fn add(
        &mut self,
        channel: Channel,
        name: &str,
        locale: &str,
        part: Part,
        path: PathBuf,
        source: String,
    ) -> Result<(), Box<Diagnostic>> {
        let file = TemplateFile {
            channel,
            name: name.to_string(),
            locale: locale.to_string(),
            part,
            path,
            source,
        };
        let key = file.key();
        let label = file.path.display().to_string();
        if channel == Channel::Email
            && part == Part::Text
            && subject_and_body(&file.source).is_none()
        {
            return Err(Box::new(
                Diagnostic::error(
                    label,
                    "the text part of an e-mail starts with its subject line",
                )
                .at(1, 1)
                .expected("`Subject: ...` on the first line, then a blank line, then the body"),
            ));
        }
        if let Err(e) = self
            .env
            .add_template_owned(key.clone(), file.source.clone())
        {
            return Err(Box::new(
                Diagnostic::error(
                    label,
                    format!(
                        "template syntax: {}",
                        e.detail().unwrap_or("invalid template")
                    ),
                )
                .at(e.line().unwrap_or(1), 1),
            ));
        }
        self.files.insert(
            (channel, file.name.clone(), file.locale.clone(), part),
            file,
        );
        Ok(())
    }

    fn add_file(&mut self, channel: Channel, path: &Path) -> Result<(), Box<Diagnostic>> {
        let label = path.display().to_string();
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let parts: Vec<&str> = file_name.split('.').collect();
        let bad_name = || {
            Box::new(
                Diagnostic::error(&label, "template file name is not NAME.LOCALE.EXT")
                    .found(file_name)
                    .expected(format!(
                        "e.g. `{channel}/payment_reminder.en.txt` (and `.html` for e-mail)"
                    )),
            )
        };
        let [name, locale, ext] = parts.as_slice() else {
            return Err(bad_name());
        };
        let part = match *ext {
            "txt" => Part::Text,
            "html" if channel == Channel::Email => Part::Html,
            _ => return Err(bad_name()),
        };
        let source = std::fs::read_to_string(path).map_err(|e| {
            Box::new(Diagnostic::error(
                &label,
                format!("cannot read the template: {e}"),
            ))
        })?;
        self.add(channel, name, locale, part, path.to_path_buf(), source)
    }

    /// Locales a template exists in (for its text part).
    pub fn locales(&self, channel: Channel, name: &str) -> BTreeSet<String> {
        self.files
            .keys()
            .filter(|(c, n, _, p)| *c == channel && n == name && *p == Part::Text)
            .map(|(_, _, l, _)| l.clone())
            .collect()
    }

    pub fn files(&self) -> impl Iterator<Item = &TemplateFile> {
        self.files.values()
    }

    pub fn get(
        &self,
        channel: Channel,
        name: &str,
        locale: &str,
        part: Part,
    ) -> Option<&TemplateFile> {
        self.files
            .get(&(channel, name.to_string(), locale.to_string(), part))
    }

    /// The locale a contact gets: theirs, its language, the campaign's default, the
    /// configured default; the first one the template exists in.
    pub fn pick_locale(&self, channel: Channel, name: &str, wanted: &[&str]) -> Option<String> {
        let available = self.locales(channel, name);
        let mut chain: Vec<String> = Vec::new();
        for w in wanted {
            chain.push(w.to_string());
            if let Some((lang, _)) = w.split_once(['-', '_']) {
                chain.push(lang.to_string());
            }
        }
        chain.into_iter().find(|l| available.contains(l))
    }

    /// Variables a template file reads that are not given to templates.
    pub fn unknown_variables(
        &self,
        file: &TemplateFile,
        attributes: &BTreeSet<String>,
    ) -> Vec<String> {
        let Ok(t) = self.env.get_template(&file.key()) else {
            return Vec::new();
        };
        let mut unknown: Vec<String> = t
            .undeclared_variables(true)
            .into_iter()
            .filter(|v| {
                let mut parts = v.splitn(3, '.');
                let root = parts.next().unwrap_or("");
                let field = parts.next();
                match (root, field) {
                    ("contact", Some(f)) => !CONTACT_FIELDS.contains(&f),
                    ("attr", Some(a)) => !attributes.contains(a),
                    ("campaign", Some(f)) => !["id", "name", "kind"].contains(&f),
                    ("step", Some(f)) => !["id", "channel"].contains(&f),
                    (r, _) => !ROOTS.contains(&r),
                }
            })
            .collect();
        unknown.sort();
        unknown
    }

    /// Renders a template for a contact.
    pub fn render(
        &self,
        channel: Channel,
        name: &str,
        to: &RenderFor<'_>,
        default_locale: &str,
    ) -> Result<Rendered, String> {
        let RenderFor {
            contact,
            campaign,
            step_id,
            unsubscribe_url,
            survey_url,
        } = *to;
        let mut wanted: Vec<&str> = Vec::new();
        if let Some(l) = &contact.locale {
            wanted.push(l);
        }
        if let Some(l) = campaign.and_then(|c| c.default_locale.as_deref()) {
            wanted.push(l);
        }
        wanted.push(default_locale);
        let locale = self.pick_locale(channel, name, &wanted).ok_or_else(|| {
            let have: Vec<String> = self.locales(channel, name).into_iter().collect();
            if have.is_empty() {
                format!("there is no {channel} template `{name}` (expected templates/{channel}/{name}.LOCALE.txt)")
            } else {
                format!("the {channel} template `{name}` has no version for {} (it has {})", wanted.join(", "), have.join(", "))
            }
        })?;
        let ctx = context(
            contact,
            campaign,
            step_id,
            channel,
            unsubscribe_url,
            survey_url,
        );
        let render = |part: Part| -> Result<Option<String>, String> {
            let Some(file) = self.get(channel, name, &locale, part) else {
                return Ok(None);
            };
            let t = self
                .env
                .get_template(&file.key())
                .map_err(|e| e.to_string())?;
            t.render(&ctx)
                .map(Some)
                .map_err(|e| format!("{}: {}", file.path.display(), describe(&e)))
        };
        let text = render(Part::Text)?.unwrap_or_default();
        let html = render(Part::Html)?;
        let (subject, text) = if channel == Channel::Email {
            let (s, b) =
                subject_and_body(&text).ok_or("the e-mail text part lost its subject line")?;
            (Some(s.to_string()), b.to_string())
        } else {
            (None, text.trim_end().to_string())
        };
        let sms = (channel == Channel::Sms).then(|| sms::shape(&text));
        Ok(Rendered {
            channel,
            template: name.to_string(),
            locale,
            subject,
            text,
            html,
            sms,
        })
    }
}

fn describe(e: &minijinja::Error) -> String {
    let mut s = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    if let Some(line) = e.line() {
        s = format!("line {line}: {s}");
    }
    if e.kind() == minijinja::ErrorKind::UndefinedError {
        s.push_str(" (a variable is missing for this contact: use `| default(\"...\")` for optional values)");
    }
    s
}

/// Splits `Subject: ...\n\nbody`.
fn subject_and_body(text: &str) -> Option<(&str, &str)> {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let subject = first.strip_prefix("Subject:")?.trim();
    Some((subject, rest.trim_start_matches(['\r', '\n'])))
}

impl Rendered {
    /// An SMS whose text is given, not rendered from a file (a survey follow-up).
    pub fn plain_sms(text: &str, name: &str) -> Rendered {
        Rendered {
            channel: Channel::Sms,
            template: name.to_string(),
            locale: String::new(),
            subject: None,
            text: text.to_string(),
            html: None,
            sms: Some(sms::shape(text)),
        }
    }
}

/// Escapes text for HTML content and attribute values (herald's own pages: survey
/// answers, reports).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The variables a template sees.
pub fn context(
    contact: &Contact,
    campaign: Option<&Campaign>,
    step_id: Option<&str>,
    channel: Channel,
    unsubscribe_url: Option<&str>,
    survey_url: Option<&str>,
) -> Value {
    let name = match (&contact.first_name, &contact.last_name) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(f), None) => Some(f.clone()),
        (None, Some(l)) => Some(l.clone()),
        (None, None) => None,
    };
    let mut c = BTreeMap::new();
    c.insert("external_id", Value::from(contact.external_id.clone()));
    let mut opt = |k: &'static str, v: Option<String>| {
        if let Some(v) = v {
            c.insert(k, Value::from(v));
        }
    };
    opt("first_name", contact.first_name.clone());
    opt("last_name", contact.last_name.clone());
    opt("name", name);
    opt("locale", contact.locale.clone());
    opt("timezone", contact.timezone.map(|t| t.name().to_string()));
    let attr: BTreeMap<String, Value> = contact
        .attributes
        .iter()
        .map(|(k, v)| {
            let value = match v {
                AttributeValue::Number(n) => Value::from(*n),
                AttributeValue::Bool(b) => Value::from(*b),
                AttributeValue::Date(d) => Value::from(d.to_string()),
                AttributeValue::Text(t) => Value::from(t.clone()),
            };
            (k.clone(), value)
        })
        .collect();
    let mut root: BTreeMap<&str, Value> = BTreeMap::new();
    root.insert(
        "contact",
        Value::from_object(ContactValue {
            fields: c,
            phone: contact.phone.clone(),
            region: std::sync::OnceLock::new(),
        }),
    );
    root.insert("attr", Value::from_serialize(&attr));
    // Without a campaign (a preview), templates still see a `campaign` to read from.
    let (id, name, kind) = campaign.map_or(("preview", "Preview", "preview"), |c| {
        (c.id.as_str(), c.name.as_str(), c.kind.as_str())
    });
    root.insert(
        "campaign",
        Value::from_serialize(BTreeMap::from([("id", id), ("name", name), ("kind", kind)])),
    );
    root.insert(
        "step",
        Value::from_serialize(BTreeMap::from([
            ("id", step_id.unwrap_or("preview")),
            ("channel", channel.as_str()),
        ])),
    );
    root.insert(
        "unsubscribe_url",
        // A preview has no attempt to sign a link for.
        Value::from(unsubscribe_url.unwrap_or("https://unsubscribe.invalid/preview")),
    );
    if let Some(survey) = campaign.and_then(|c| c.survey.as_ref()) {
        root.insert(
            "survey",
            survey_context(
                survey,
                survey_url.unwrap_or("https://survey.invalid/preview"),
            ),
        );
    }
    Value::from_serialize(&root)
}

/// `contact` in a template. Its `region` is read from the phone number's numbering plan
/// only when a template asks for it: that lookup costs more than the rest of the context
/// together, and most templates never use it.
#[derive(Debug)]
struct ContactValue {
    fields: BTreeMap<&'static str, Value>,
    phone: Option<crate::domain::values::PhoneNumber>,
    region: std::sync::OnceLock<Option<Value>>,
}

impl ContactValue {
    fn region(&self) -> Option<&Value> {
        self.region
            .get_or_init(|| {
                self.phone
                    .as_ref()
                    .and_then(|p| p.region())
                    .map(Value::from)
            })
            .as_ref()
    }
}

impl minijinja::value::Object for ContactValue {
    fn get_value(self: &std::sync::Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "region" => self.region().cloned(),
            k => self.fields.get(k).cloned(),
        }
    }

    fn enumerate(self: &std::sync::Arc<Self>) -> minijinja::value::Enumerator {
        let mut keys: Vec<Value> = self.fields.keys().map(|k| Value::from(*k)).collect();
        if self.region().is_some() {
            keys.push(Value::from("region"));
            keys.sort();
        }
        minijinja::value::Enumerator::Values(keys)
    }
}

/// `survey.url`, and per question `survey.QUESTION.text` and `survey.QUESTION.answers`:
/// the one-click links (`{value, url}`) of a scored or choice question, so an e-mail can
/// offer `0 1 2 ... 10` as links, and `survey.QUESTION.url` for the question's own page.
fn survey_context(survey: &crate::domain::campaign::Survey, base: &str) -> Value {
    use crate::domain::campaign::QuestionKind;
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    out.insert("url".into(), Value::from(base.to_string()));
    for q in &survey.questions {
        let values: Vec<String> = match q.kind {
            QuestionKind::Nps => (0..=10).map(|n| n.to_string()).collect(),
            QuestionKind::Csat => (1..=5).map(|n| n.to_string()).collect(),
            QuestionKind::Choice => (1..=q.choices.len()).map(|n| n.to_string()).collect(),
            QuestionKind::Text => Vec::new(),
        };
        let answers: Vec<BTreeMap<&str, String>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let label = match q.kind {
                    QuestionKind::Choice => q.choices[i].clone(),
                    _ => v.clone(),
                };
                BTreeMap::from([
                    ("value", v.clone()),
                    ("label", label),
                    ("url", format!("{base}/{}/{v}", q.id)),
                ])
            })
            .collect();
        out.insert(
            q.id.clone(),
            Value::from_serialize(serde_json::json!({
                "text": q.text,
                "url": format!("{base}/{}", q.id),
                "answers": answers,
            })),
        );
    }
    Value::from_serialize(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::Consents;

    fn contact(locale: &str) -> Contact {
        Contact {
            id: 1,
            external_id: "C1".into(),
            first_name: Some("Zoë".into()),
            last_name: Some("<Smith>".into()),
            phone: None,
            email: None,
            locale: Some(locale.into()),
            timezone: None,
            attributes: [("balance".to_string(), AttributeValue::Number(120.5))]
                .into_iter()
                .collect(),
            consent: Consents::default(),
            tags: vec![],
        }
    }

    fn set() -> TemplateSet {
        let mut s = TemplateSet::empty();
        s.add(
            Channel::Sms,
            "due",
            "en",
            Part::Text,
            "t/sms/due.en.txt".into(),
            "Hi {{ contact.first_name }}, you owe {{ attr.balance | money }}".into(),
        )
        .unwrap();
        s.add(
            Channel::Sms,
            "due",
            "es",
            Part::Text,
            "t/sms/due.es.txt".into(),
            "Hola {{ contact.first_name }}".into(),
        )
        .unwrap();
        s.add(
            Channel::Email,
            "due",
            "en",
            Part::Text,
            "t/email/due.en.txt".into(),
            "Subject: Balance for {{ contact.name }}\n\nDear {{ contact.name }}".into(),
        )
        .unwrap();
        s.add(
            Channel::Email,
            "due",
            "en",
            Part::Html,
            "t/email/due.en.html".into(),
            "<p>Dear {{ contact.name }}</p>".into(),
        )
        .unwrap();
        s
    }

    #[test]
    fn locales_fall_back_from_region_to_language_to_default() {
        let s = set();
        assert_eq!(
            s.render(
                Channel::Sms,
                "due",
                &RenderFor::preview(&contact("es-MX"), None),
                "en"
            )
            .unwrap()
            .locale,
            "es"
        );
        assert_eq!(
            s.render(
                Channel::Sms,
                "due",
                &RenderFor::preview(&contact("fr"), None),
                "en"
            )
            .unwrap()
            .locale,
            "en"
        );
    }

    #[test]
    fn html_is_escaped_and_the_text_part_keeps_the_raw_name() {
        let r = set()
            .render(
                Channel::Email,
                "due",
                &RenderFor::preview(&contact("en"), None),
                "en",
            )
            .unwrap();
        assert_eq!(r.subject.as_deref(), Some("Balance for Zoë <Smith>"));
        assert_eq!(r.text, "Dear Zoë <Smith>");
        assert_eq!(r.html.as_deref(), Some("<p>Dear Zoë &lt;Smith&gt;</p>"));
    }

    #[test]
    fn sms_shape_is_reported() {
        let r = set()
            .render(
                Channel::Sms,
                "due",
                &RenderFor::preview(&contact("en"), None),
                "en",
            )
            .unwrap();
        assert_eq!(r.text, "Hi Zoë, you owe 120.50");
        assert_eq!(
            r.sms.unwrap().encoding,
            sms::SmsEncoding::Ucs2,
            "ë is not in GSM-7"
        );
    }

    #[test]
    fn the_region_is_read_from_the_phone_number_when_a_template_asks() {
        let mut s = set();
        s.add(
            Channel::Sms,
            "where",
            "en",
            Part::Text,
            "t/sms/where.en.txt".into(),
            "{{ contact.region | default('none') }} {% if (contact.region | default('')) == 'GB' %}uk{% endif %} \
             {{ contact | list | join(',') }}"
                .into(),
        )
        .unwrap();
        let render = |c: &Contact| {
            s.render(Channel::Sms, "where", &RenderFor::preview(c, None), "en")
                .unwrap()
                .text
        };
        let mut c = contact("en");
        assert_eq!(
            render(&c),
            "none  external_id,first_name,last_name,locale,name"
        );
        c.phone = Some(crate::domain::values::PhoneNumber::parse("+447400123456", None).unwrap());
        assert_eq!(
            render(&c),
            "GB uk external_id,first_name,last_name,locale,name,region"
        );
    }

    #[test]
    fn templates_can_read_no_file_and_no_environment() {
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin".into());
        let hostile = [
            "{% include '/etc/passwd' %}",
            "{% include '../../herald.toml' %}",
            "{% import '/etc/hostname' as h %}",
            "{{ env('PATH') }}",
            "{{ getenv('PATH') }}",
            "{{ environ.PATH }}",
            "{{ os.environ }}",
            "{{ open('/etc/passwd').read() }}",
            "{{ self.__init__.__globals__ }}",
            "{{ cycler.__init__.__globals__.os }}",
        ];
        for (i, source) in hostile.iter().enumerate() {
            let mut s = set();
            let name = format!("h{i}");
            let added = s.add(
                Channel::Sms,
                &name,
                "en",
                Part::Text,
                format!("t/sms/{name}.en.txt").into(),
                source.to_string(),
            );
            let rendered = added.ok().and_then(|()| {
                s.render(
                    Channel::Sms,
                    &name,
                    &RenderFor::preview(&contact("en"), None),
                    "en",
                )
                .ok()
            });
            if let Some(r) = rendered {
                assert!(
                    !r.text.contains(&path) && !r.text.contains("root:"),
                    "{source} rendered {:?}",
                    r.text
                );
                assert!(r.text.trim().is_empty(), "{source} rendered {:?}", r.text);
            }
        }
    }

    #[test]
    fn variables_no_contact_has_are_found() {
        let mut s = set();
        s.add(
            Channel::Sms,
            "bad",
            "en",
            Part::Text,
            "t/sms/bad.en.txt".into(),
            "{{ contact.nickname }} {{ attr.balanse }} {{ attr.balance }} {{ foo }}".into(),
        )
        .unwrap();
        let file = s
            .get(Channel::Sms, "bad", "en", Part::Text)
            .unwrap()
            .clone();
        let known: BTreeSet<String> = ["balance".to_string()].into();
        assert_eq!(
            s.unknown_variables(&file, &known),
            vec!["attr.balanse", "contact.nickname", "foo"]
        );
    }

    #[test]
    fn an_email_without_a_subject_line_is_refused() {
        let mut s = TemplateSet::empty();
        let err = s
            .add(
                Channel::Email,
                "x",
                "en",
                Part::Text,
                "x".into(),
                "Hello".into(),
            )
            .unwrap_err();
        assert!(err.message.contains("subject"), "{}", err.message);
    }
}
