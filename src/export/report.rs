//! A campaign report: the funnel, the rates, survey scores, breakdowns and the A/B and
//! holdout comparison of a campaign's runs (or one run), gathered from the ledger into one
//! [`Report`] that prints as aligned text, as JSON, or as an HTML page (`html.rs`).
//!
//! Contacts are counted once per run: a person asked in two runs of a daily survey counts
//! twice, as the plan summaries that start the funnel do, so every stage of the funnel is a
//! part of the one before it. The ledger is read in one pass over ranges of contact ids,
//! so memory holds one page of contacts plus the counters, however large the campaign.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::campaign::{Campaign, HOLDOUT, QuestionKind};
use crate::domain::contact::Contact;
use crate::domain::conversion::Conversion;
use crate::domain::ledger::Run;
use crate::domain::lifecycle::RunState;
use crate::domain::stats::{
    Estimate, NpsCounts, Proportion, difference_of_nps, difference_of_proportions,
};
use crate::store::{BreakdownCounts, ContactRun, ReportScope, Store, StoreError};

/// Contact ids read per page of the ledger.
const PAGE: i64 = 2000;

/// Groups shown in the segment breakdown; the smaller ones are summed into one row.
const MAX_SEGMENTS: usize = 30;

/// How contacts are grouped in the segment breakdown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentBy {
    /// By the audience lists the contact belongs to.
    List,
    /// By the value of a contact attribute.
    Attribute(String),
}

impl SegmentBy {
    /// Reads `attr.NAME`.
    pub fn parse(text: &str) -> Result<SegmentBy, String> {
        match text.strip_prefix("attr.") {
            Some(name) if crate::domain::is_name(name) => Ok(SegmentBy::Attribute(name.into())),
            _ => Err(format!(
                "`{text}` is not an attribute: expected `attr.NAME`, e.g. `attr.city`"
            )),
        }
    }

    fn label(&self) -> String {
        match self {
            SegmentBy::List => "list".into(),
            SegmentBy::Attribute(a) => format!("attr.{a}"),
        }
    }
}

/// Everything a report shows.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub campaign: CampaignInfo,
    /// The run reported on, or `None` for every run.
    pub run: Option<i64>,
    pub runs: Vec<RunInfo>,
    /// When the report was made (goals are evaluated on contacts as they are then).
    pub generated_at: DateTime<Utc>,
    pub funnel: Funnel,
    pub rates: Rates,
    pub survey: Option<SurveyFigures>,
    pub by_channel: Vec<Breakdown>,
    pub by_step: Vec<Breakdown>,
    /// 24 rows, hour of day in the schedule's time zone.
    pub by_hour: Vec<HourRow>,
    pub by_segment: SegmentBreakdown,
    pub experiment: Option<Experiment>,
    /// Things the reader should know (missing plan summaries, a holdout without a goal).
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CampaignInfo {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    /// The zone hours of day are read in.
    pub timezone: String,
    /// What counts as a conversion for this kind of campaign.
    pub conversion: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunInfo {
    pub id: i64,
    pub occurrence: DateTime<Utc>,
    pub state: String,
}

/// Contacts at each stage, each stage a part of the one before.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Funnel {
    /// Audience read at planning (from the runs' plan summaries).
    pub considered: u64,
    /// Left out by the audience's segment filter.
    pub not_in_segment: u64,
    /// Left out at planning, by reason (DNC, opt-out, no consent, cap...).
    pub suppressed: BTreeMap<String, u64>,
    /// Planned: given a first attempt (from the plan summaries).
    pub planned: u64,
    /// Contacts with attempts in the ledger (equal to `planned` once the ledger is complete).
    pub in_ledger: u64,
    /// Never sent to, by the reason of their last skipped or cancelled attempt.
    pub skipped_at_send: BTreeMap<String, u64>,
    /// Not sent to yet: an attempt still waits.
    pub pending: u64,
    /// Sent at least one attempt.
    pub attempted: u64,
    /// A message delivered (opened, clicked, replied) or a call connected.
    pub delivered: u64,
    /// Reached: an attempt connected (a call answered, a reply, an answer).
    pub reached: u64,
    /// Converted as the campaign's kind counts it.
    pub converted: u64,
}

impl Funnel {
    pub fn suppressed_total(&self) -> u64 {
        self.suppressed.values().sum()
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped_at_send.values().sum()
    }
}

/// A rate: `count` of `of`, with its share and 95 % interval (none over no one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Rate {
    pub count: u64,
    pub of: u64,
    pub estimate: Option<Estimate>,
}

impl Rate {
    pub fn new(count: u64, of: u64) -> Rate {
        Rate {
            count,
            of,
            estimate: Proportion::new(count, of).estimate(),
        }
    }

    pub fn proportion(&self) -> Proportion {
        Proportion::new(self.count, self.of)
    }
}

/// A rate over the contacts reached and over the contacts attempted.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TwoBases {
    pub of_reached: Rate,
    pub of_attempted: Rate,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rates {
    /// Reached over attempted.
    pub contact_rate: Rate,
    /// Reached and not a wrong number, over attempted.
    pub right_party_contact_rate: Rate,
    /// Converted over attempted.
    pub conversion_rate: Rate,
    /// Collections: promises to pay.
    pub promise_to_pay: Option<TwoBases>,
    /// Collections: payments.
    pub paid: Option<TwoBases>,
    /// Surveys: contacts with an answer over attempted.
    pub response_rate: Option<Rate>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SurveyFigures {
    pub responded: u64,
    pub nps: Option<NpsFigures>,
    pub csat: Option<CsatFigures>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NpsFigures {
    pub question: String,
    pub answers: u64,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    /// The score in points with its 95 % margin.
    pub score: Option<Estimate>,
    /// Answers per score 0..=10.
    pub distribution: Vec<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CsatFigures {
    pub question: String,
    pub answers: u64,
    /// Answers of 4 or 5 over the answers.
    pub satisfied: Rate,
    /// Answers per score 1..=5.
    pub distribution: Vec<u64>,
}

/// One step or channel.
#[derive(Clone, Debug, Serialize)]
pub struct Breakdown {
    pub key: String,
    pub contacts: u64,
    pub sends: u64,
    pub attempted: u64,
    pub delivered: u64,
    pub reached: u64,
    pub converted: u64,
    /// Reached over attempted.
    pub contact_rate: Rate,
    /// Converted over attempted.
    pub conversion_rate: Rate,
}

impl From<BreakdownCounts> for Breakdown {
    fn from(c: BreakdownCounts) -> Breakdown {
        Breakdown {
            contact_rate: Rate::new(c.reached, c.attempted),
            conversion_rate: Rate::new(c.converted, c.attempted),
            key: c.key,
            contacts: c.contacts,
            sends: c.sends,
            attempted: c.attempted,
            delivered: c.delivered,
            reached: c.reached,
            converted: c.converted,
        }
    }
}

/// Sends in one hour of the day, by result (each send counted under its best result).
#[derive(Clone, Debug, Default, Serialize)]
pub struct HourRow {
    pub hour: u32,
    pub sends: u64,
    pub converted: u64,
    pub reached: u64,
    pub delivered: u64,
    pub pending: u64,
    pub not_reached: u64,
}

impl HourRow {
    /// Sends whose result was a connection or a conversion, over sends.
    pub fn reach(&self) -> Rate {
        Rate::new(self.converted + self.reached, self.sends)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SegmentBreakdown {
    /// `list` or `attr.NAME`.
    pub by: String,
    pub groups: Vec<SegmentRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SegmentRow {
    pub value: String,
    pub contacts: u64,
    pub attempted: u64,
    pub reached: u64,
    pub converted: u64,
    pub contact_rate: Rate,
    pub conversion_rate: Rate,
    pub nps: Option<Estimate>,
}

/// The A/B variants of one step and its holdout.
#[derive(Clone, Debug, Serialize)]
pub struct Experiment {
    pub step: String,
    /// In the order of the definition; the first is the baseline of the differences.
    pub variants: Vec<VariantRow>,
    pub holdout: Option<HoldoutRow>,
    pub goal: Option<GoalFigures>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VariantRow {
    pub variant: String,
    /// Contacts given this variant (once per run).
    pub contacts: u64,
    pub attempted: u64,
    pub converted: u64,
    /// Converted over the contacts given the variant.
    pub conversion: Rate,
    /// Conversion rate minus the first variant's, with its 95 % interval.
    pub difference: Option<Estimate>,
    pub nps: Option<Estimate>,
    pub nps_answers: u64,
    /// NPS minus the first variant's, in points, with its 95 % interval.
    pub nps_difference: Option<Estimate>,
    /// Contacts matching the goal now, over the contacts given the variant.
    pub goal: Option<Rate>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HoldoutRow {
    pub contacts: u64,
    pub goal: Option<Rate>,
}

/// The goal's rate among treated contacts against the holdout.
#[derive(Clone, Debug, Serialize)]
pub struct GoalFigures {
    /// The goal's segment filter.
    pub filter: String,
    pub treated: Rate,
    pub holdout: Rate,
    /// Treated minus holdout, with its 95 % interval.
    pub lift: Option<Estimate>,
    /// Lift over the holdout's rate (0.25 = a quarter more).
    pub relative_lift: Option<f64>,
}

/// The figures of a run's plan summary (`runs.summary.plan`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PlanFigures {
    considered: u64,
    not_in_segment: u64,
    planned: u64,
    skipped: BTreeMap<String, u64>,
}

/// Errors while gathering a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("campaign `{campaign}` has no run {run}")]
    NoSuchRun { campaign: String, run: i64 },
}

/// Counters over contact-runs, split by a key (a variant, a segment value).
#[derive(Clone, Debug, Default)]
struct Tally {
    contacts: u64,
    attempted: u64,
    reached: u64,
    converted: u64,
    goal: u64,
    nps: NpsCounts,
}

impl Tally {
    fn add(&mut self, f: &ContactRun, converted: bool, goal: bool) {
        self.contacts += 1;
        self.attempted += u64::from(f.attempted);
        self.reached += u64::from(f.reached);
        self.converted += u64::from(converted);
        self.goal += u64::from(goal);
        if let Some(score) = f.nps {
            self.nps.add(score);
        }
    }
}

impl Report {
    /// What the report covers: `run 12` or `14 run(s)`.
    pub fn scope(&self) -> String {
        match self.run {
            Some(id) => format!("run {id}"),
            None => format!("{} run(s)", self.runs.len()),
        }
    }
}

/// Gathers the report of `campaign`'s runs (or of run `run`) at `now`.
pub async fn gather<S: Store>(
    store: &S,
    campaign: &Campaign,
    run: Option<i64>,
    by: &SegmentBy,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    let tz = campaign.schedule.timezone();
    let conversion = Conversion::of(campaign.kind);
    let question = |kind: QuestionKind| {
        campaign
            .survey
            .as_ref()
            .and_then(|s| s.questions.iter().find(|q| q.kind == kind))
            .map(|q| q.id.clone())
    };
    let ab_step = campaign
        .steps
        .iter()
        .find(|s| !s.variants.is_empty() || s.holdout > 0.0);
    let scope = ReportScope {
        campaign: campaign.id.clone(),
        run,
        conversions: conversion.outcomes.clone(),
        delivery_converts: conversion.delivered,
        answer_converts: conversion.responded,
        nps_question: question(QuestionKind::Nps),
        csat_question: question(QuestionKind::Csat),
        ab_step: ab_step.map(|s| s.id.clone()),
    };

    let mut runs: Vec<Run> = store.runs(Some(&campaign.id), i64::MAX).await?;
    if let Some(id) = run {
        runs.retain(|r| r.id == id);
        if runs.is_empty() {
            return Err(ReportError::NoSuchRun {
                campaign: campaign.id.clone(),
                run: id,
            });
        }
    }
    runs.sort_by_key(|r| r.id);
    let mut notes = Vec::new();
    let mut funnel = Funnel::default();
    for r in &runs {
        match r.summary.get("plan") {
            Some(plan) => {
                let p: PlanFigures = serde_json::from_value(plan.clone()).map_err(|e| {
                    StoreError::Corrupt(format!("the plan summary of run {}: {e}", r.id))
                })?;
                funnel.considered += p.considered;
                funnel.not_in_segment += p.not_in_segment;
                funnel.planned += p.planned;
                for (reason, n) in p.skipped {
                    *funnel.suppressed.entry(reason).or_default() += n;
                }
            }
            // A missed occurrence was never planned: it has nothing to miss.
            None if r.state == RunState::Missed => {}
            None => notes.push(format!(
                "run {} has no plan summary: its audience and planning figures are missing",
                r.id
            )),
        }
    }

    // One pass over the ledger, a page of contact ids at a time.
    let mut totals = Tally::default();
    let mut wrong_party_reached = 0;
    let mut promised = 0;
    let mut paid = 0;
    let mut responded = 0;
    let mut nps = NpsCounts::default();
    let mut nps_distribution = vec![0u64; 11];
    let mut csat_distribution = vec![0u64; 5];
    let mut variants: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    let mut segments: HashMap<String, Tally> = HashMap::new();
    let needs_contacts = campaign.goal.is_some() || matches!(by, SegmentBy::Attribute(_));
    let last_id = store.max_contact_id().await?;
    let mut after = 0;
    while after < last_id {
        let upto = after.saturating_add(PAGE).min(last_id);
        let facts = store.report_contact_runs(&scope, after, upto).await?;
        after = upto;
        if facts.is_empty() {
            continue;
        }
        let mut ids: Vec<i64> = facts.iter().map(|f| f.contact_id).collect();
        ids.dedup();
        let contacts: HashMap<i64, Contact> = if needs_contacts {
            store
                .contacts_by_ids(&ids)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect()
        } else {
            HashMap::new()
        };
        let mut lists: HashMap<i64, Vec<String>> = HashMap::new();
        if *by == SegmentBy::List {
            for (id, name) in store.lists_of_contacts(&ids).await? {
                if campaign.audience.lists.is_empty() || campaign.audience.lists.contains(&name) {
                    lists.entry(id).or_default().push(name);
                }
            }
        }
        for f in &facts {
            let converted = f.converted_by_outcome
                || (conversion.delivered && f.delivered)
                || (conversion.responded && f.responded);
            let contact = contacts.get(&f.contact_id);
            let goal = match (&campaign.goal, contact) {
                (Some(goal), Some(c)) => goal.matches(c, now),
                _ => false,
            };
            totals.add(f, converted, goal);
            funnel.in_ledger += 1;
            if !f.attempted {
                if f.open {
                    funnel.pending += 1;
                } else {
                    let reason = f.skip_reason.clone().unwrap_or_else(|| "unknown".into());
                    *funnel.skipped_at_send.entry(reason).or_default() += 1;
                }
            }
            funnel.delivered += u64::from(f.attempted && f.delivered);
            wrong_party_reached += u64::from(f.reached && f.wrong_number);
            promised += u64::from(f.promised);
            paid += u64::from(f.paid);
            responded += u64::from(f.responded);
            if let Some(score) = f.nps
                && nps.add(score)
            {
                nps_distribution[score as usize] += 1;
            }
            if let Some(score) = f.csat
                && (1..=5).contains(&score)
            {
                csat_distribution[score as usize - 1] += 1;
            }
            if f.on_ab_step {
                variants
                    .entry(f.variant.clone())
                    .or_default()
                    .add(f, converted, goal);
            }
            let values: Vec<String> = match by {
                SegmentBy::List => lists
                    .get(&f.contact_id)
                    .cloned()
                    .unwrap_or_else(|| vec!["(no list)".to_string()]),
                SegmentBy::Attribute(name) => vec![
                    contact
                        .and_then(|c| c.attributes.get(name))
                        .map_or_else(|| "(none)".to_string(), |v| v.to_string()),
                ],
            };
            for v in values {
                segments.entry(v).or_default().add(f, converted, goal);
            }
        }
    }
    funnel.attempted = totals.attempted;
    funnel.reached = totals.reached;
    funnel.converted = totals.converted;

    let collection = campaign.kind == crate::domain::campaign::CampaignKind::Collection;
    let survey = campaign.kind == crate::domain::campaign::CampaignKind::Survey;
    let two_bases = |n: u64| TwoBases {
        of_reached: Rate::new(n, totals.reached),
        of_attempted: Rate::new(n, totals.attempted),
    };
    let rates = Rates {
        contact_rate: Rate::new(totals.reached, totals.attempted),
        right_party_contact_rate: Rate::new(totals.reached - wrong_party_reached, totals.attempted),
        conversion_rate: Rate::new(totals.converted, totals.attempted),
        promise_to_pay: collection.then(|| two_bases(promised)),
        paid: collection.then(|| two_bases(paid)),
        response_rate: survey.then(|| Rate::new(responded, totals.attempted)),
    };

    let survey_figures = (survey || campaign.survey.is_some()).then(|| SurveyFigures {
        responded,
        nps: scope.nps_question.clone().map(|question| NpsFigures {
            question,
            answers: nps.answers(),
            promoters: nps.promoters,
            passives: nps.passives,
            detractors: nps.detractors,
            score: nps.estimate(),
            distribution: nps_distribution,
        }),
        csat: scope.csat_question.clone().map(|question| {
            let answers: u64 = csat_distribution.iter().sum();
            CsatFigures {
                question,
                answers,
                satisfied: Rate::new(csat_distribution[3] + csat_distribution[4], answers),
                distribution: csat_distribution,
            }
        }),
    });

    let by_channel = store
        .report_breakdown(&scope, false)
        .await?
        .into_iter()
        .map(Breakdown::from)
        .collect();
    let by_step = store
        .report_breakdown(&scope, true)
        .await?
        .into_iter()
        .map(Breakdown::from)
        .collect();
    let by_hour = hours(store.report_sends_by_time(&scope).await?, tz);

    let experiment = ab_step.map(|step| {
        experiment(
            campaign,
            step,
            variants,
            scope.nps_question.is_some(),
            &mut notes,
        )
    });

    Ok(Report {
        campaign: CampaignInfo {
            id: campaign.id.clone(),
            name: campaign.name.clone(),
            kind: campaign.kind.as_str(),
            timezone: tz.name().to_string(),
            conversion: conversion.label,
        },
        run,
        runs: runs
            .iter()
            .map(|r| RunInfo {
                id: r.id,
                occurrence: r.occurrence,
                state: r.state.to_string(),
            })
            .collect(),
        generated_at: now,
        funnel,
        rates,
        survey: survey_figures,
        by_channel,
        by_step,
        by_hour,
        by_segment: segment_rows(by, segments, scope.nps_question.is_some()),
        experiment,
        notes,
    })
}

/// The 24 hours of the day in `tz`, from sends by quarter hour (UTC).
fn hours(sends: Vec<crate::store::SendsAt>, tz: Tz) -> Vec<HourRow> {
    let mut rows: Vec<HourRow> = (0..24)
        .map(|hour| HourRow {
            hour,
            ..HourRow::default()
        })
        .collect();
    for s in sends {
        let row = &mut rows[s.at.with_timezone(&tz).hour() as usize];
        row.sends += s.sends;
        match s.result.as_str() {
            "converted" => row.converted += s.sends,
            "reached" => row.reached += s.sends,
            "delivered" => row.delivered += s.sends,
            "pending" => row.pending += s.sends,
            _ => row.not_reached += s.sends,
        }
    }
    rows
}

/// The variants of `step` in the definition's order, compared with the first; the
/// holdout against the treated contacts on the campaign's goal.
fn experiment(
    campaign: &Campaign,
    step: &crate::domain::campaign::Step,
    mut tallies: BTreeMap<Option<String>, Tally>,
    has_nps: bool,
    notes: &mut Vec<String>,
) -> Experiment {
    let holdout = tallies.remove(&Some(HOLDOUT.to_string()));
    // The definition's order first, then any variant the ledger has that it no longer names.
    let mut order: Vec<Option<String>> = step.variants.iter().map(|v| Some(v.id.clone())).collect();
    if step.variants.is_empty() {
        order.push(None);
    }
    for key in tallies.keys() {
        if !order.contains(key) {
            order.push(key.clone());
        }
    }
    let with_goal = campaign.goal.is_some();
    let rows: Vec<(Option<String>, Tally)> = order
        .into_iter()
        .map(|k| {
            let t = tallies.remove(&k).unwrap_or_default();
            (k, t)
        })
        .collect();
    let baseline = rows.first().map(|(_, t)| t.clone());
    let variants = rows
        .iter()
        .enumerate()
        .map(|(i, (key, t))| {
            let conversion = Rate::new(t.converted, t.contacts);
            let (difference, nps_difference) = match (&baseline, i) {
                (Some(b), 1..) => (
                    difference_of_proportions(
                        Proportion::new(b.converted, b.contacts),
                        conversion.proportion(),
                    ),
                    difference_of_nps(b.nps, t.nps),
                ),
                _ => (None, None),
            };
            VariantRow {
                variant: key.clone().unwrap_or_else(|| "(all treated)".into()),
                contacts: t.contacts,
                attempted: t.attempted,
                converted: t.converted,
                conversion,
                difference,
                nps: has_nps.then(|| t.nps.estimate()).flatten(),
                nps_answers: t.nps.answers(),
                nps_difference: if has_nps { nps_difference } else { None },
                goal: with_goal.then(|| Rate::new(t.goal, t.contacts)),
            }
        })
        .collect();
    let holdout_row = holdout.as_ref().map(|h| HoldoutRow {
        contacts: h.contacts,
        goal: with_goal.then(|| Rate::new(h.goal, h.contacts)),
    });
    let goal = match (&campaign.goal, &holdout) {
        (Some(filter), Some(h)) => {
            let (treated_goal, treated) = rows
                .iter()
                .fold((0, 0), |(g, n), (_, t)| (g + t.goal, n + t.contacts));
            let treated = Rate::new(treated_goal, treated);
            let control = Rate::new(h.goal, h.contacts);
            let lift = difference_of_proportions(control.proportion(), treated.proportion());
            let relative_lift = match (treated.estimate, control.estimate) {
                (Some(t), Some(c)) if c.value > 0.0 => Some(t.value / c.value - 1.0),
                _ => None,
            };
            Some(GoalFigures {
                filter: filter.source().to_string(),
                treated,
                holdout: control,
                lift,
                relative_lift,
            })
        }
        _ => None,
    };
    if holdout.is_some() && campaign.goal.is_none() {
        notes.push(format!(
            "step `{}` holds contacts out, but the campaign has no `goal`: the holdout is never \
             contacted, so its effect can only be measured against a goal (e.g. goal = \"tag.paid\")",
            step.id
        ));
    }
    Experiment {
        step: step.id.clone(),
        variants,
        holdout: holdout_row,
        goal,
    }
}

/// The segment rows, largest first, the smallest summed into one row past [`MAX_SEGMENTS`].
fn segment_rows(
    by: &SegmentBy,
    segments: HashMap<String, Tally>,
    has_nps: bool,
) -> SegmentBreakdown {
    let mut all: Vec<(String, Tally)> = segments.into_iter().collect();
    all.sort_by(|a, b| b.1.contacts.cmp(&a.1.contacts).then(a.0.cmp(&b.0)));
    let mut rows: Vec<(String, Tally)> = Vec::new();
    let mut rest = Tally::default();
    let mut rest_groups = 0;
    for (i, (k, t)) in all.into_iter().enumerate() {
        if i < MAX_SEGMENTS {
            rows.push((k, t));
        } else {
            rest_groups += 1;
            rest.contacts += t.contacts;
            rest.attempted += t.attempted;
            rest.reached += t.reached;
            rest.converted += t.converted;
            rest.nps.promoters += t.nps.promoters;
            rest.nps.passives += t.nps.passives;
            rest.nps.detractors += t.nps.detractors;
        }
    }
    if rest_groups > 0 {
        rows.push((format!("({rest_groups} other values)"), rest));
    }
    SegmentBreakdown {
        by: by.label(),
        groups: rows
            .into_iter()
            .map(|(value, t)| SegmentRow {
                value,
                contacts: t.contacts,
                attempted: t.attempted,
                reached: t.reached,
                converted: t.converted,
                contact_rate: Rate::new(t.reached, t.attempted),
                conversion_rate: Rate::new(t.converted, t.attempted),
                nps: has_nps.then(|| t.nps.estimate()).flatten(),
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------
// Text.
// ---------------------------------------------------------------------------------------

/// Formats a count with thousands separators (`12,345`): the reports and every command's
/// summary print counts the same way.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A share as a percentage (`41.2%`), `-` over no one.
pub fn percent(rate: &Rate) -> String {
    rate.estimate
        .map_or_else(|| "-".into(), |e| format!("{:.1}%", 100.0 * e.value))
}

/// A share with its margin (`41.2% ± 3.1`), `-` over no one.
pub fn percent_margin(rate: &Rate) -> String {
    rate.estimate.map_or_else(
        || "-".into(),
        |e| format!("{:.1}% ± {:.1}", 100.0 * e.value, 100.0 * e.margin),
    )
}

/// A difference of shares in points with its interval (`+4.2 pts [-1.0, +9.4]`).
pub fn points_interval(e: &Option<Estimate>, scale: f64) -> String {
    e.map_or_else(
        || "-".into(),
        |e| {
            format!(
                "{:+.1} [{:+.1}, {:+.1}]",
                scale * e.value,
                scale * e.low,
                scale * e.high
            )
        },
    )
}

/// An NPS with its margin (`+30.0 ± 48.4`).
pub fn nps_text(e: &Option<Estimate>) -> String {
    e.map_or_else(
        || "-".into(),
        |e| format!("{:+.1} ± {:.1}", e.value, e.margin),
    )
}

/// Columns of text, numbers right-aligned.
struct Table {
    head: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(head: Vec<&'static str>) -> Table {
        Table {
            head,
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, out: &mut String) {
        let widths: Vec<usize> = (0..self.head.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                    .chain([self.head[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| {
            let mut l = String::from("  ");
            for (i, c) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(c.chars().count());
                if i == 0 {
                    l.push_str(c);
                    l.push_str(&" ".repeat(pad));
                } else {
                    l.push_str("  ");
                    l.push_str(&" ".repeat(pad));
                    l.push_str(c);
                }
            }
            l.trim_end().to_string() + "\n"
        };
        out.push_str(&line(self.head.clone()));
        for r in &self.rows {
            out.push_str(&line(r.iter().map(String::as_str).collect()));
        }
    }
}

fn n(v: u64) -> String {
    thousands(v)
}

/// The report as aligned text tables.
pub fn render_text(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let scope = r.scope();
    let _ = writeln!(
        out,
        "{} ({}) — {} campaign, {scope}; conversion: {}; hours in {}\n",
        r.campaign.name, r.campaign.id, r.campaign.kind, r.campaign.conversion, r.campaign.timezone
    );

    let f = &r.funnel;
    out.push_str("Funnel (contacts, once per run)\n");
    let mut t = Table::new(vec!["stage", "contacts"]);
    t.row(vec!["audience considered".into(), n(f.considered)]);
    t.row(vec!["  not in segment".into(), n(f.not_in_segment)]);
    for (reason, c) in &f.suppressed {
        t.row(vec![format!("  left out: {reason}"), n(*c)]);
    }
    t.row(vec!["planned".into(), n(f.planned)]);
    for (reason, c) in &f.skipped_at_send {
        t.row(vec![format!("  skipped at send: {reason}"), n(*c)]);
    }
    if f.pending > 0 {
        t.row(vec!["  not sent yet".into(), n(f.pending)]);
    }
    t.row(vec!["attempted".into(), n(f.attempted)]);
    t.row(vec!["delivered or connected".into(), n(f.delivered)]);
    t.row(vec!["reached".into(), n(f.reached)]);
    t.row(vec![
        format!("converted ({})", r.campaign.conversion),
        n(f.converted),
    ]);
    t.render(&mut out);

    out.push_str("\nRates (95 % margin)\n");
    let mut t = Table::new(vec!["rate", "count", "of", "share"]);
    let mut rate = |name: String, rate: &Rate| {
        t.row(vec![name, n(rate.count), n(rate.of), percent_margin(rate)]);
    };
    rate("contact rate".into(), &r.rates.contact_rate);
    rate(
        "right-party contact rate".into(),
        &r.rates.right_party_contact_rate,
    );
    rate("conversion rate".into(), &r.rates.conversion_rate);
    if let Some(p) = &r.rates.promise_to_pay {
        rate("promise to pay / reached".into(), &p.of_reached);
        rate("promise to pay / attempted".into(), &p.of_attempted);
    }
    if let Some(p) = &r.rates.paid {
        rate("paid / reached".into(), &p.of_reached);
        rate("paid / attempted".into(), &p.of_attempted);
    }
    if let Some(rr) = &r.rates.response_rate {
        rate("response rate".into(), rr);
    }
    if let Some(c) = r.survey.as_ref().and_then(|s| s.csat.as_ref()) {
        rate(format!("CSAT ({}: 4-5)", c.question), &c.satisfied);
    }
    t.render(&mut out);

    if let Some(nps) = r.survey.as_ref().and_then(|s| s.nps.as_ref()) {
        let _ = writeln!(
            out,
            "\nNPS ({}): {} from {} answers — {} promoters, {} passives, {} detractors",
            nps.question,
            nps_text(&nps.score),
            n(nps.answers),
            n(nps.promoters),
            n(nps.passives),
            n(nps.detractors)
        );
        let scores: Vec<String> = nps
            .distribution
            .iter()
            .enumerate()
            .map(|(s, c)| format!("{s}:{c}"))
            .collect();
        let _ = writeln!(out, "  scores {}", scores.join("  "));
    }
    if let Some(c) = r.survey.as_ref().and_then(|s| s.csat.as_ref()) {
        let scores: Vec<String> = c
            .distribution
            .iter()
            .enumerate()
            .map(|(s, c)| format!("{}:{c}", s + 1))
            .collect();
        let _ = writeln!(out, "\nCSAT ({}) scores {}", c.question, scores.join("  "));
    }

    for (title, rows) in [("By channel", &r.by_channel), ("By step", &r.by_step)] {
        let _ = writeln!(out, "\n{title}");
        let mut t = Table::new(vec![
            "",
            "contacts",
            "sends",
            "attempted",
            "delivered",
            "reached",
            "converted",
            "contact",
            "conversion",
        ]);
        for b in rows {
            t.row(vec![
                b.key.clone(),
                n(b.contacts),
                n(b.sends),
                n(b.attempted),
                n(b.delivered),
                n(b.reached),
                n(b.converted),
                percent(&b.contact_rate),
                percent(&b.conversion_rate),
            ]);
        }
        t.render(&mut out);
    }

    let _ = writeln!(
        out,
        "\nBy hour of day ({}; sends by result)",
        r.campaign.timezone
    );
    let mut t = Table::new(vec![
        "hour",
        "sends",
        "converted",
        "reached",
        "delivered",
        "not reached",
        "pending",
        "reached %",
    ]);
    for h in r.by_hour.iter().filter(|h| h.sends > 0) {
        t.row(vec![
            format!("{:02}:00", h.hour),
            n(h.sends),
            n(h.converted),
            n(h.reached),
            n(h.delivered),
            n(h.not_reached),
            n(h.pending),
            percent(&h.reach()),
        ]);
    }
    t.render(&mut out);

    let _ = writeln!(out, "\nBy {}", r.by_segment.by);
    let has_nps = r.survey.as_ref().is_some_and(|s| s.nps.is_some());
    let mut head = vec![
        "",
        "contacts",
        "attempted",
        "reached",
        "converted",
        "contact",
        "conversion",
    ];
    if has_nps {
        head.push("NPS");
    }
    let mut t = Table::new(head);
    for g in &r.by_segment.groups {
        let mut row = vec![
            g.value.clone(),
            n(g.contacts),
            n(g.attempted),
            n(g.reached),
            n(g.converted),
            percent(&g.contact_rate),
            percent(&g.conversion_rate),
        ];
        if has_nps {
            row.push(nps_text(&g.nps));
        }
        t.row(row);
    }
    t.render(&mut out);

    if let Some(x) = &r.experiment {
        let _ = writeln!(
            out,
            "\nA/B variants of step `{}` (conversion over contacts given the variant; differences against `{}`, 95 % interval)",
            x.step,
            x.variants.first().map_or("-", |v| v.variant.as_str())
        );
        let mut head = vec![
            "variant",
            "contacts",
            "converted",
            "conversion",
            "difference (pts)",
        ];
        if has_nps {
            head.extend(["NPS", "NPS difference"]);
        }
        if x.goal.is_some() {
            head.push("goal");
        }
        let mut t = Table::new(head);
        for v in &x.variants {
            let mut row = vec![
                v.variant.clone(),
                n(v.contacts),
                n(v.converted),
                percent_margin(&v.conversion),
                points_interval(&v.difference, 100.0),
            ];
            if has_nps {
                row.push(nps_text(&v.nps));
                row.push(points_interval(&v.nps_difference, 1.0));
            }
            if x.goal.is_some() {
                row.push(v.goal.as_ref().map_or("-".into(), percent));
            }
            t.row(row);
        }
        if let Some(h) = &x.holdout {
            let mut row = vec![
                HOLDOUT.to_string(),
                n(h.contacts),
                "-".into(),
                "-".into(),
                "-".into(),
            ];
            if has_nps {
                row.extend(["-".into(), "-".into()]);
            }
            if x.goal.is_some() {
                row.push(h.goal.as_ref().map_or("-".into(), percent));
            }
            t.row(row);
        }
        t.render(&mut out);
        if let Some(g) = &x.goal {
            let _ = writeln!(
                out,
                "  goal `{}`: treated {} vs holdout {}; lift {} pts{}",
                g.filter,
                percent_margin(&g.treated),
                percent_margin(&g.holdout),
                points_interval(&g.lift, 100.0),
                g.relative_lift
                    .map_or(String::new(), |l| format!(" ({:+.0}% relative)", 100.0 * l))
            );
        }
    }
    for note in &r.notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    out
}
