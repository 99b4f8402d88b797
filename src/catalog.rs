//! The catalog: campaign definitions and templates loaded and checked together.
//!
//! Every problem in every file is collected before anything is used. A definition with an
//! error is never handed out (it does not half-load): [`Catalog::campaign`] refuses it with
//! its diagnostics. Checks that need more than one file live here: templates missing for
//! a channel or locale, template variables no contact has, tags no rule or import ever
//! sets, windows the policy clips.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::diagnostics::{Diagnostic, SourceMap, parse_strict};
use crate::domain::campaign::{Campaign, CampaignDef};
use crate::domain::segment::Segment;
use crate::domain::values::Channel;
use crate::templates::{Part, TemplateSet};

/// A definition that passed every check.
#[derive(Debug)]
pub struct LoadedCampaign {
    pub campaign: Campaign,
    pub file: PathBuf,
    pub source: String,
    /// SHA-256 of the file's text: the campaign version.
    pub hash: String,
}

/// What the store and the config know about contacts, for cross-checks.
#[derive(Clone, Debug, Default)]
pub struct Known {
    pub attributes: BTreeSet<String>,
    pub tags: BTreeSet<String>,
}

#[derive(Debug)]
pub struct Catalog {
    pub campaigns: Vec<LoadedCampaign>,
    pub templates: TemplateSet,
    pub diagnostics: Vec<Diagnostic>,
    /// Ids of definitions that failed to load.
    pub broken: BTreeSet<String>,
}

impl Catalog {
    /// Loads definitions from `paths` (files or folders of `*.toml`) and templates from
    /// the configured folder.
    pub fn load(paths: &[PathBuf], settings: &Settings, known: &Known) -> Catalog {
        let (templates, mut diagnostics) = TemplateSet::load(&settings.templates_dir);
        let mut files = Vec::new();
        for p in paths {
            if p.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                    .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                    .unwrap_or_default();
                found.retain(|f| f.extension().is_some_and(|e| e == "toml"));
                found.sort();
                files.extend(found);
            } else if p.exists() {
                files.push(p.clone());
            } else {
                diagnostics.push(Diagnostic::error(
                    p.display().to_string(),
                    "no such file or folder",
                ));
            }
        }
        // The first file for each id; a second one with the same id makes the id ambiguous.
        let mut files_by_id: std::collections::BTreeMap<String, PathBuf> = Default::default();
        for f in &files {
            let id = f
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            files_by_id.entry(id).or_insert_with(|| f.clone());
        }
        let mut parsed: Vec<(CampaignDef, SourceMap, PathBuf, String, String)> = Vec::new();
        let mut broken = BTreeSet::new();
        for file in files {
            let label = file.display().to_string();
            let id = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    diagnostics.push(Diagnostic::error(
                        &label,
                        format!("cannot read the file: {e}"),
                    ));
                    broken.insert(id);
                    continue;
                }
            };
            if let Some(first) = files_by_id.get(&id).filter(|f| **f != file) {
                diagnostics.push(
                    Diagnostic::error(
                        &label,
                        format!("campaign `{id}` is also defined by {}", first.display()),
                    )
                    .hint("the file name is the campaign id: rename one of the files"),
                );
                broken.insert(id);
                continue;
            }
            match parse_strict::<CampaignDef>(&label, &text) {
                Ok((def, map)) => parsed.push((def, map, file, id, text)),
                Err(mut d) => {
                    diagnostics.append(&mut d);
                    broken.insert(id);
                }
            }
        }

        // Tags any definition's rules add, or that the config or the store know.
        let mut known_tags = known.tags.clone();
        known_tags.extend(settings.tags.iter().cloned());
        for (def, ..) in &parsed {
            known_tags.extend(def.tags.iter().filter_map(|r| r.add.clone()));
        }
        if paths.iter().all(|p| p != &settings.jobs_dir) {
            known_tags.extend(tags_added_in(&settings.jobs_dir));
        }
        let mut known_attrs = known.attributes.clone();
        known_attrs.extend(settings.attributes.keys().cloned());

        let mut campaigns = Vec::new();
        for (def, map, file, id, text) in parsed {
            if broken.contains(&id) {
                continue;
            }
            let label = file.display().to_string();
            let before = diagnostics.len();
            let located = |e: &str| -> (usize, usize) { map.locate(e) };
            // Cross-file checks run even when the file has errors of its own, so one
            // validation shows everything.
            cross_check(
                &def,
                &label,
                &map,
                &templates,
                settings,
                &known_tags,
                &known_attrs,
                &mut diagnostics,
            );
            match def.check(&id) {
                Err(errors) => {
                    for e in errors {
                        let (line, column) = located(&e.path);
                        let mut d = Diagnostic::error(&label, e.message)
                            .at(line, column)
                            .key(&e.path);
                        d.found = e.found;
                        d.expected = e.expected;
                        d.hint = e.hint;
                        diagnostics.push(d);
                    }
                }
                Ok(campaign) => {
                    if diagnostics[before..].iter().all(|d| !d.is_error()) {
                        let hash = crate::signing::sha256_hex(text.as_bytes());
                        campaigns.push(LoadedCampaign {
                            campaign,
                            file,
                            source: text,
                            hash,
                        });
                        continue;
                    }
                }
            }
            broken.insert(id);
        }
        // Template files with variables no contact has, once per file.
        // With no attribute known at all (no [attributes] in herald.toml, no contacts yet),
        // `attr.*` cannot be checked and is left alone, as in filters.
        for file in templates.files() {
            for var in templates
                .unknown_variables(file, &known_attrs)
                .into_iter()
                .filter(|v| !(known_attrs.is_empty() && v.starts_with("attr.")))
            {
                let (line, column) = find_in(&file.source, var.rsplit('.').next().unwrap_or(&var));
                let candidates: Vec<String> = match var.split_once('.') {
                    Some(("attr", _)) => known_attrs.iter().map(|a| format!("attr.{a}")).collect(),
                    Some(("contact", _)) => crate::templates::CONTACT_FIELDS
                        .iter()
                        .map(|f| format!("contact.{f}"))
                        .collect(),
                    _ => crate::templates::ROOTS
                        .iter()
                        .map(|r| r.to_string())
                        .collect(),
                };
                let hint = crate::domain::suggest(&var, candidates.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| {
                        if var.starts_with("attr.") {
                            "declare the attribute under [attributes] in herald.toml, or import contacts that have it".into()
                        } else {
                            String::new()
                        }
                    });
                diagnostics.push(
                    Diagnostic::error(
                        file.path.display().to_string(),
                        "the template uses a variable no contact has",
                    )
                    .at(line, column)
                    .found(&var)
                    .hint(hint),
                );
            }
        }
        // A broken template makes every campaign that uses it broken.
        let bad_templates: BTreeSet<(String, String)> = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .filter_map(|d| template_id_of(Path::new(&d.file), &settings.templates_dir))
            .collect();
        campaigns.retain(|c| {
            let uses_bad = c.campaign.steps.iter().any(|s| {
                s.templates()
                    .into_iter()
                    .any(|t| bad_templates.contains(&(s.channel.to_string(), t.to_string())))
            });
            if uses_bad {
                broken.insert(c.campaign.id.clone());
            }
            !uses_bad
        });
        Catalog {
            campaigns,
            templates,
            diagnostics,
            broken,
        }
    }

    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// A campaign that loaded cleanly, or the reason it is not available.
    pub fn campaign(&self, id: &str) -> Result<&LoadedCampaign, String> {
        if let Some(c) = self.campaigns.iter().find(|c| c.campaign.id == id) {
            return Ok(c);
        }
        if self.broken.contains(id) {
            return Err(format!(
                "campaign `{id}` has errors; run `herald validate` to see them"
            ));
        }
        let names: Vec<&str> = self
            .campaigns
            .iter()
            .map(|c| c.campaign.id.as_str())
            .chain(self.broken.iter().map(String::as_str))
            .collect();
        let hint = crate::domain::suggest(id, names.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        Err(format!(
            "there is no campaign `{id}`{hint}; campaigns: {}",
            names.join(", ")
        ))
    }
}

/// Tags the rules of every readable definition in a folder add (for validating one file
/// against the others).
fn tags_added_in(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|text| toml::from_str::<CampaignDef>(&text).ok())
        .flat_map(|def| def.tags.into_iter().filter_map(|r| r.add))
        .collect()
}

/// (channel, name) of a template file under the templates folder.
fn template_id_of(path: &Path, templates_dir: &Path) -> Option<(String, String)> {
    if !path.starts_with(templates_dir) {
        return None;
    }
    let channel = path.parent()?.file_name()?.to_str()?.to_string();
    let name = path.file_name()?.to_str()?.split('.').next()?.to_string();
    Some((channel, name))
}

fn find_in(text: &str, needle: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        if let Some(col) = line.find(needle) {
            return (i + 1, line[..col].chars().count() + 1);
        }
    }
    (1, 1)
}

#[allow(clippy::too_many_arguments)]
fn cross_check(
    def: &CampaignDef,
    label: &str,
    map: &SourceMap,
    templates: &TemplateSet,
    settings: &Settings,
    known_tags: &BTreeSet<String>,
    known_attrs: &BTreeSet<String>,
    out: &mut Vec<Diagnostic>,
) {
    let at = |key: &str| map.locate(key);
    let default_locale = def
        .default_locale
        .clone()
        .unwrap_or_else(|| settings.default_locale.clone());
    let uses = def.steps.iter().enumerate().flat_map(|(i, step)| {
        let own = step
            .template
            .as_ref()
            .map(|t| (step, format!("steps[{i}].template"), t));
        let variants = step.variants.iter().enumerate().filter_map(move |(j, v)| {
            v.template
                .as_ref()
                .map(|t| (step, format!("steps[{i}].variants[{j}].template"), t))
        });
        own.into_iter().chain(variants)
    });
    for (step, key, name) in uses {
        let (line, col) = at(&key);
        let have = templates.locales(step.channel, name);
        let mut needed: Vec<&str> = vec![default_locale.as_str()];
        needed.extend(def.locales.iter().map(String::as_str));
        for locale in needed {
            if !have.contains(locale) {
                let mut d = Diagnostic::error(
                    label,
                    format!(
                        "template missing for channel {} and locale {locale}",
                        step.channel
                    ),
                )
                .at(line, col)
                .key(&key)
                .found(name)
                .expected(format!(
                    "{}/{}/{name}.{locale}.txt",
                    settings.templates_dir.display(),
                    step.channel
                ));
                let others: BTreeSet<String> = templates
                    .files()
                    .filter(|f| f.channel == step.channel)
                    .map(|f| f.name.clone())
                    .collect();
                if let Some(s) = crate::domain::suggest(name, others.iter().map(String::as_str)) {
                    d = d.hint(format!("did you mean `{s}`?"));
                } else if !have.is_empty() {
                    d = d.hint(format!(
                        "it exists in: {}",
                        have.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                out.push(d);
            }
        }
        if step.channel == Channel::Email {
            for locale in &have {
                if templates
                    .get(Channel::Email, name, locale, Part::Html)
                    .is_none()
                {
                    out.push(
                        Diagnostic::warning(label, format!("e-mail template `{name}` ({locale}) has no HTML part: it will be sent as plain text"))
                            .at(line, col)
                            .key(&key),
                    );
                }
            }
        }
    }
    // Filters that parse (the ones that do not are reported by the definition's own check).
    let mut filters: Vec<(String, Segment)> = Vec::new();
    if let Some(seg) = def
        .audience
        .segment
        .as_deref()
        .and_then(|s| Segment::parse(s).ok())
    {
        filters.push(("audience.segment".to_string(), seg));
    }
    if let Some(seg) = def.goal.as_deref().and_then(|s| Segment::parse(s).ok()) {
        filters.push(("goal".to_string(), seg));
    }
    if let Some(seg) = def.exit.as_deref().and_then(|s| Segment::parse(s).ok()) {
        filters.push(("exit".to_string(), seg));
    }
    for (i, r) in def.routing.iter().enumerate() {
        if let Ok(seg) = Segment::parse(&r.when) {
            filters.push((format!("routing[{i}].when"), seg));
        }
    }
    // Tags read by filters or removed by rules must be set by something.
    let mut reads: Vec<(String, String)> = Vec::new();
    for (key, seg) in &filters {
        reads.extend(seg.tags().into_iter().map(|t| (key.clone(), t)));
    }
    for (i, r) in def.tags.iter().enumerate() {
        if let Some(t) = &r.remove {
            reads.push((format!("tags[{i}].remove"), t.clone()));
        }
    }
    for (key, tag) in reads {
        if !known_tags.contains(&tag) {
            let (line, col) = at(&key);
            let hint = crate::domain::suggest(&tag, known_tags.iter().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| "no campaign rule adds it and no contact has it: declare it in herald.toml `tags = [...]` if it comes from your CRM".into());
            out.push(
                Diagnostic::error(label, "unknown tag")
                    .at(line, col)
                    .key(&key)
                    .found(&tag)
                    .expected(
                        "a tag some campaign's rules add, a contact has, or herald.toml declares",
                    )
                    .hint(hint),
            );
        }
    }
    // Attributes read by filters: a warning, since contacts may be imported later.
    if !known_attrs.is_empty() {
        let mut attr_reads: Vec<(String, String)> = Vec::new();
        for (key, seg) in &filters {
            attr_reads.extend(seg.attributes().into_iter().map(|a| (key.clone(), a)));
        }
        for (i, c) in def.caps.iter().enumerate() {
            if let Some(a) = &c.obligation {
                attr_reads.push((format!("caps[{i}].obligation"), a.clone()));
            }
        }
        for (key, attr) in attr_reads {
            if !known_attrs.contains(&attr) {
                let (line, col) = at(&key);
                let hint = crate::domain::suggest(&attr, known_attrs.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_default();
                out.push(
                    Diagnostic::warning(label, "no contact has this attribute (yet)")
                        .at(line, col)
                        .key(&key)
                        .found(format!("attr.{attr}"))
                        .hint(hint),
                );
            }
        }
    }
    // A campaign window wider than the policy is clipped, never honoured.
    for (channel, window) in def.windows().unwrap_or_default() {
        let policy = settings.policy.effective_window(channel, None);
        if !policy.covers(&window) {
            let key = format!("windows.{channel}");
            let (line, col) = at(&key);
            let effective = policy.intersect(&window);
            let d = if effective.never_opens() {
                Diagnostic::error(
                    label,
                    "this window lies entirely outside the policy's quiet hours, so it never opens",
                )
            } else {
                Diagnostic::warning(
                    label,
                    format!("the policy's quiet hours clip this window to {effective}"),
                )
            };
            out.push(
                d.at(line, col)
                    .key(&key)
                    .found(window.to_string())
                    .expected(format!("within {policy}")),
            );
        }
    }
}
