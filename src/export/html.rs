//! The report as one self-contained HTML page: inline CSS, charts drawn here as inline SVG,
//! no script and no external URL of any kind (fonts, styles, images), so the file opens in
//! any browser without a network and can be mailed as it is.
//!
//! Every text that comes from data (campaign names, list names, attribute values, variant
//! ids, reasons) goes through [`escape`]. Charts carry stable ids (`chart-funnel`,
//! `chart-hours`, `chart-nps`) and a `<title>` for screen readers, and each bar its own.

use std::fmt::Write as _;

use super::report::{
    Breakdown, HourRow, Rate, Report, nps_text, percent, percent_margin, points_interval,
};
use crate::domain::campaign::HOLDOUT;

pub use crate::templates::escape_html as escape;

fn n(v: u64) -> String {
    super::report::thousands(v)
}

const STYLE: &str = r#"
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; --card: #ffffff;
  --accent: #2f6fb3; --converted: #1f8a4c; --reached: #5fb37a; --delivered: #9cc3e6;
  --not-reached: #d9dde2; --pending: #f0c35a; --detractor: #d64545; --passive: #c9ced6;
  --promoter: #1f8a4c; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 48px; }
header h1 { font-size: 24px; margin: 0 0 4px; }
header p { margin: 0; color: var(--muted); }
h2 { font-size: 16px; margin: 0 0 12px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 18px 20px; margin-top: 18px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 12px;
  margin-top: 18px; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.kpi .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.kpi .value { font-size: 24px; font-weight: 600; margin-top: 2px; }
.kpi .sub { color: var(--muted); font-size: 12px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.grid2 > section { margin-top: 0; }
.row { margin-top: 18px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
th:first-child, td:first-child { text-align: left; white-space: normal; }
td.sub { padding-left: 26px; color: var(--muted); }
tr.total td { font-weight: 600; }
svg { display: block; width: 100%; height: auto; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--ink); }
svg .axis { stroke: var(--line); }
svg .muted { fill: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: 14px; margin: 6px 0 0; padding: 0; list-style: none;
  color: var(--muted); font-size: 12px; }
.legend span { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
.notes { color: #8a5a00; background: #fff8e6; border-color: #f3dfb0; }
.notes p { margin: 4px 0; }
p.muted { color: var(--muted); font-size: 12px; }
.good { color: var(--converted); }
.bad { color: var(--detractor); }
footer { color: var(--muted); font-size: 12px; margin-top: 18px; }
@media print { body { background: #fff; } section, .kpi { break-inside: avoid; } }
"#;

/// The whole page.
pub fn render_html(r: &Report) -> String {
    let mut out = String::new();
    let title = format!("{} — campaign report", r.campaign.name);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&title)
    );
    let scope = r.scope();
    let _ = writeln!(
        out,
        "<header><h1>{}</h1><p>{} · {} campaign · {} · conversion: {} · hours in {} · generated {}</p></header>",
        escape(&r.campaign.name),
        escape(&r.campaign.id),
        escape(r.campaign.kind),
        escape(&scope),
        escape(r.campaign.conversion),
        escape(&r.campaign.timezone),
        r.generated_at.format("%Y-%m-%d %H:%M UTC")
    );
    kpis(&mut out, r);
    if !r.notes.is_empty() {
        out.push_str("<section class=\"notes\"><h2>Notes</h2>");
        for note in &r.notes {
            let _ = write!(out, "<p>{}</p>", escape(note));
        }
        out.push_str("</section>\n");
    }

    out.push_str("<div class=\"grid2 row\">\n<section><h2>Funnel</h2>");
    funnel_chart(&mut out, r);
    out.push_str("</section>\n<section><h2>Funnel detail</h2>");
    funnel_table(&mut out, r);
    out.push_str("</section>\n</div>\n");

    let _ = write!(
        out,
        "<section><h2>Sends by hour of day ({}) and result</h2>",
        escape(&r.campaign.timezone)
    );
    hours_chart(&mut out, &r.by_hour);
    out.push_str("</section>\n");

    if let Some(nps) = r.survey.as_ref().and_then(|s| s.nps.as_ref()) {
        let _ = write!(
            out,
            "<div class=\"grid2 row\">\n<section><h2>NPS distribution ({})</h2>",
            escape(&nps.question)
        );
        nps_chart(&mut out, &nps.distribution);
        let _ = write!(
            out,
            "</section>\n<section><h2>Net Promoter Score</h2><table><tr><th></th><th>answers</th><th>share</th></tr>\
             <tr><td>promoters (9-10)</td><td>{}</td><td>{}</td></tr>\
             <tr><td>passives (7-8)</td><td>{}</td><td>{}</td></tr>\
             <tr><td>detractors (0-6)</td><td>{}</td><td>{}</td></tr>\
             <tr class=\"total\"><td>NPS (95 % margin)</td><td>{}</td><td>{}</td></tr></table></section>\n</div>\n",
            n(nps.promoters),
            percent(&Rate::new(nps.promoters, nps.answers)),
            n(nps.passives),
            percent(&Rate::new(nps.passives, nps.answers)),
            n(nps.detractors),
            percent(&Rate::new(nps.detractors, nps.answers)),
            n(nps.answers),
            escape(&nps_text(&nps.score)),
        );
    }

    out.push_str("<section><h2>Rates (95 % margin)</h2>");
    rates_table(&mut out, r);
    out.push_str("</section>\n");

    if let Some(x) = &r.experiment {
        experiment(&mut out, r, x);
    }

    for (title, rows) in [("By channel", &r.by_channel), ("By step", &r.by_step)] {
        let _ = write!(out, "<section><h2>{title}</h2>");
        breakdown_table(&mut out, rows);
        out.push_str("</section>\n");
    }
    segment_table(&mut out, r);
    hours_table(&mut out, r);

    let runs: Vec<String> = r
        .runs
        .iter()
        .map(|run| {
            format!(
                "run {} ({}, {})",
                run.id,
                run.occurrence.format("%Y-%m-%d %H:%M UTC"),
                escape(&run.state)
            )
        })
        .collect();
    let _ = write!(
        out,
        "<footer>Contacts are counted once per run. Margins and intervals are 95 % normal \
         approximations. Runs: {}.</footer>\n</main>\n</body>\n</html>\n",
        if runs.is_empty() {
            "none".to_string()
        } else {
            runs.join("; ")
        }
    );
    out
}

fn kpis(out: &mut String, r: &Report) {
    out.push_str("<div class=\"kpis\">");
    let mut card = |label: &str, value: String, sub: String| {
        let _ = write!(
            out,
            "<div class=\"kpi\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"sub\">{}</div></div>",
            escape(label),
            escape(&value),
            escape(&sub)
        );
    };
    let f = &r.funnel;
    card(
        "Planned",
        n(f.planned),
        format!("of {} considered", n(f.considered)),
    );
    card(
        "Attempted",
        n(f.attempted),
        format!("{} reached", n(f.reached)),
    );
    card(
        "Contact rate",
        percent(&r.rates.contact_rate),
        margin_text(&r.rates.contact_rate),
    );
    card(
        "Conversion",
        percent(&r.rates.conversion_rate),
        r.campaign.conversion.to_string(),
    );
    if let Some(rr) = &r.rates.response_rate {
        card("Response rate", percent(rr), margin_text(rr));
    }
    if let Some(nps) = r.survey.as_ref().and_then(|s| s.nps.as_ref()) {
        card(
            "NPS",
            nps.score
                .map_or_else(|| "-".into(), |e| format!("{:+.0}", e.value)),
            nps.score.map_or_else(
                || "no answers".into(),
                |e| format!("± {:.1} · {} answers", e.margin, n(nps.answers)),
            ),
        );
    }
    if let Some(c) = r.survey.as_ref().and_then(|s| s.csat.as_ref()) {
        card("CSAT", percent(&c.satisfied), margin_text(&c.satisfied));
    }
    out.push_str("</div>\n");
}

fn margin_text(rate: &Rate) -> String {
    rate.estimate.map_or_else(
        || "no one to measure".into(),
        |e| {
            format!(
                "± {:.1} pts · {} of {}",
                100.0 * e.margin,
                n(rate.count),
                n(rate.of)
            )
        },
    )
}

/// Horizontal bars, one per funnel stage.
fn funnel_chart(out: &mut String, r: &Report) {
    let f = &r.funnel;
    let stages = [
        ("Audience considered", f.considered),
        ("Planned", f.planned),
        ("Attempted", f.attempted),
        ("Delivered or connected", f.delivered),
        ("Reached", f.reached),
        ("Converted", f.converted),
    ];
    let max = stages.iter().map(|s| s.1).max().unwrap_or(0).max(1) as f64;
    // Sized to the half-width column it sits in, so its text shows at the page's size.
    let (width, label_w, bar_h, gap) = (490.0, 150.0, 30.0, 14.0);
    let bar_w = width - label_w - 90.0;
    let height = stages.len() as f64 * (bar_h + gap) + gap;
    let _ = write!(
        out,
        "<svg id=\"chart-funnel\" role=\"img\" aria-labelledby=\"chart-funnel-title\" viewBox=\"0 0 {width} {height}\">\
         <title id=\"chart-funnel-title\">Funnel: contacts at each stage</title>"
    );
    let mut previous: Option<u64> = None;
    for (i, (label, value)) in stages.iter().enumerate() {
        let y = gap + i as f64 * (bar_h + gap);
        let w = (bar_w * *value as f64 / max).max(if *value > 0 { 2.0 } else { 0.0 });
        // Each stage as a share of the one before: where the funnel loses people.
        let step = match previous {
            Some(p) if p > 0 => format!(" · {:.0}%", 100.0 * *value as f64 / p as f64),
            _ => String::new(),
        };
        previous = Some(*value);
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{:.1}\" dominant-baseline=\"middle\">{label}</text>\
             <rect class=\"bar\" x=\"{label_w}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_h}\" rx=\"3\" fill=\"var(--accent)\" fill-opacity=\"{:.2}\">\
             <title>{label}: {}{step} of the stage before</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" dominant-baseline=\"middle\" class=\"muted\">{}{step}</text>",
            y + bar_h / 2.0,
            1.0 - 0.1 * i as f64,
            n(*value),
            label_w + w + 6.0,
            y + bar_h / 2.0,
            n(*value)
        );
    }
    out.push_str("</svg>");
}

/// The results a send can have, bottom to top in the stacked bars.
const RESULTS: [(&str, &str); 5] = [
    ("converted", "var(--converted)"),
    ("reached", "var(--reached)"),
    ("delivered", "var(--delivered)"),
    ("not reached", "var(--not-reached)"),
    ("pending", "var(--pending)"),
];

fn result_counts(h: &HourRow) -> [u64; 5] {
    [
        h.converted,
        h.reached,
        h.delivered,
        h.not_reached,
        h.pending,
    ]
}

/// 24 stacked columns: sends per hour of day, by result.
fn hours_chart(out: &mut String, hours: &[HourRow]) {
    let (width, height, left, bottom, top) = (1080.0, 260.0, 56.0, 28.0, 12.0);
    let plot_h = height - bottom - top;
    let max = hours.iter().map(|h| h.sends).max().unwrap_or(0);
    let scale_max = nice_ceiling(max.max(1));
    let col_w = (width - left - 8.0) / 24.0;
    let _ = write!(
        out,
        "<svg id=\"chart-hours\" role=\"img\" aria-labelledby=\"chart-hours-title\" viewBox=\"0 0 {width} {height}\">\
         <title id=\"chart-hours-title\">Sends by hour of day, stacked by result</title>"
    );
    value_grid(
        out,
        Plot {
            width,
            left,
            top,
            plot_h,
        },
        scale_max,
    );
    for h in hours {
        let x = left + h.hour as f64 * col_w + col_w * 0.15;
        let w = col_w * 0.7;
        let mut y = top + plot_h;
        for ((name, colour), count) in RESULTS.iter().zip(result_counts(h)) {
            if count == 0 {
                continue;
            }
            let bar_h = plot_h * count as f64 / scale_max as f64;
            y -= bar_h;
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_h:.1}\" fill=\"{colour}\">\
                 <title>{:02}:00 — {name}: {} of {} sends</title></rect>",
                h.hour,
                n(count),
                n(h.sends)
            );
        }
        if h.hour % 2 == 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"muted\">{:02}</text>",
                x + w / 2.0,
                height - 8.0,
                h.hour
            );
        }
    }
    out.push_str("</svg><ul class=\"legend\">");
    for (name, colour) in RESULTS {
        let _ = write!(
            out,
            "<li><span style=\"background:{colour}\"></span>{name}</li>"
        );
    }
    out.push_str("</ul>");
}

/// Where a column chart draws.
#[derive(Clone, Copy)]
struct Plot {
    width: f64,
    left: f64,
    top: f64,
    plot_h: f64,
}

/// Five horizontal grid lines from 0 to `scale_max`, labelled on the left.
fn value_grid(out: &mut String, p: Plot, scale_max: u64) {
    let Plot {
        width,
        left,
        top,
        plot_h,
    } = p;
    for k in 0..=4 {
        let v = scale_max as f64 * k as f64 / 4.0;
        let y = top + plot_h - plot_h * k as f64 / 4.0;
        let _ = write!(
            out,
            "<line class=\"axis\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{:.1}\" y=\"{y:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\" class=\"muted\">{}</text>",
            width - 8.0,
            left - 6.0,
            n(v.round() as u64)
        );
    }
}

/// 11 columns, one per score 0-10, coloured detractor, passive, promoter.
fn nps_chart(out: &mut String, distribution: &[u64]) {
    let (width, height, left, bottom, top) = (520.0, 240.0, 44.0, 28.0, 16.0);
    let plot_h = height - bottom - top;
    let max = distribution.iter().copied().max().unwrap_or(0);
    let scale_max = nice_ceiling(max.max(1));
    let total: u64 = distribution.iter().sum();
    let col_w = (width - left - 8.0) / 11.0;
    let _ = write!(
        out,
        "<svg id=\"chart-nps\" role=\"img\" aria-labelledby=\"chart-nps-title\" viewBox=\"0 0 {width} {height}\">\
         <title id=\"chart-nps-title\">Answers per NPS score, 0 to 10: detractors 0-6, passives 7-8, promoters 9-10</title>"
    );
    value_grid(
        out,
        Plot {
            width,
            left,
            top,
            plot_h,
        },
        scale_max,
    );
    for (score, count) in distribution.iter().enumerate() {
        let (group, colour) = match score {
            0..=6 => ("detractor", "var(--detractor)"),
            7..=8 => ("passive", "var(--passive)"),
            _ => ("promoter", "var(--promoter)"),
        };
        let x = left + score as f64 * col_w + col_w * 0.12;
        let w = col_w * 0.76;
        let bar_h = plot_h * *count as f64 / scale_max as f64;
        let y = top + plot_h - bar_h;
        let share = if total > 0 {
            format!(" ({:.1}%)", 100.0 * *count as f64 / total as f64)
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<rect class=\"bar {group}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_h:.1}\" fill=\"{colour}\">\
             <title>score {score} ({group}): {} answers{share}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"muted\">{score}</text>",
            n(*count),
            x + w / 2.0,
            height - 8.0,
        );
        if *count > 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + w / 2.0,
                y - 4.0,
                n(*count)
            );
        }
    }
    out.push_str(
        "</svg><ul class=\"legend\"><li><span style=\"background:var(--detractor)\"></span>detractors 0-6</li>\
         <li><span style=\"background:var(--passive)\"></span>passives 7-8</li>\
         <li><span style=\"background:var(--promoter)\"></span>promoters 9-10</li></ul>",
    );
}

/// The axis maximum for `v`: four ticks of a round step (1, 2, 2.5 or 5 × 10^k).
fn nice_ceiling(v: u64) -> u64 {
    let need = v.div_ceil(4).max(1);
    let mut base = 1u64;
    loop {
        for tenths in [10, 20, 25, 50] {
            let scaled = base.saturating_mul(tenths);
            if scaled % 10 == 0 && scaled / 10 >= need {
                return scaled / 10 * 4;
            }
        }
        if base > u64::MAX / 100 {
            return v;
        }
        base *= 10;
    }
}

fn funnel_table(out: &mut String, r: &Report) {
    let f = &r.funnel;
    out.push_str("<table><tr><th>stage</th><th>contacts</th></tr>");
    let mut row = |label: &str, v: u64, sub: bool| {
        let _ = write!(
            out,
            "<tr><td{}>{}</td><td>{}</td></tr>",
            if sub { " class=\"sub\"" } else { "" },
            escape(label),
            n(v)
        );
    };
    row("audience considered", f.considered, false);
    row("not in segment", f.not_in_segment, true);
    for (reason, c) in &f.suppressed {
        row(&format!("left out: {reason}"), *c, true);
    }
    row("planned", f.planned, false);
    for (reason, c) in &f.skipped_at_send {
        row(&format!("skipped at send: {reason}"), *c, true);
    }
    if f.pending > 0 {
        row("not sent yet", f.pending, true);
    }
    row("attempted", f.attempted, false);
    row("delivered or connected", f.delivered, false);
    row("reached", f.reached, false);
    row(
        &format!("converted ({})", r.campaign.conversion),
        f.converted,
        false,
    );
    out.push_str("</table>");
}

fn rates_table(out: &mut String, r: &Report) {
    out.push_str("<table><tr><th>rate</th><th>count</th><th>of</th><th>share ± margin</th><th>95 % interval</th></tr>");
    let mut row = |label: &str, rate: &Rate| {
        let interval = rate.estimate.map_or_else(
            || "-".into(),
            |e| format!("{:.1}% – {:.1}%", 100.0 * e.low, 100.0 * e.high),
        );
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(label),
            n(rate.count),
            n(rate.of),
            escape(&percent_margin(rate)),
            interval
        );
    };
    row("contact rate (reached / attempted)", &r.rates.contact_rate);
    row(
        "right-party contact rate",
        &r.rates.right_party_contact_rate,
    );
    row(
        "conversion rate (converted / attempted)",
        &r.rates.conversion_rate,
    );
    if let Some(p) = &r.rates.promise_to_pay {
        row("promise to pay / reached", &p.of_reached);
        row("promise to pay / attempted", &p.of_attempted);
    }
    if let Some(p) = &r.rates.paid {
        row("paid / reached", &p.of_reached);
        row("paid / attempted", &p.of_attempted);
    }
    if let Some(rr) = &r.rates.response_rate {
        row("response rate (answered / attempted)", rr);
    }
    if let Some(c) = r.survey.as_ref().and_then(|s| s.csat.as_ref()) {
        row(
            &format!("CSAT: {} answers of 4-5", c.question),
            &c.satisfied,
        );
    }
    out.push_str("</table>");
}

fn signed_class(e: &Option<crate::domain::stats::Estimate>) -> &'static str {
    match e {
        Some(e) if e.low > 0.0 => " class=\"good\"",
        Some(e) if e.high < 0.0 => " class=\"bad\"",
        _ => "",
    }
}

fn experiment(out: &mut String, r: &Report, x: &super::report::Experiment) {
    let has_nps = r.survey.as_ref().is_some_and(|s| s.nps.is_some());
    let _ = write!(
        out,
        "<section><h2>A/B variants of step {}</h2><table><tr><th>variant</th><th>contacts</th><th>converted</th>\
         <th>conversion ± margin</th><th>difference vs {} (pts, 95 %)</th>",
        escape(&x.step),
        escape(x.variants.first().map_or("-", |v| v.variant.as_str()))
    );
    if has_nps {
        out.push_str("<th>NPS ± margin</th><th>NPS difference (95 %)</th>");
    }
    if x.goal.is_some() {
        out.push_str("<th>goal reached</th>");
    }
    out.push_str("</tr>");
    for v in &x.variants {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td>",
            escape(&v.variant),
            n(v.contacts),
            n(v.converted),
            escape(&percent_margin(&v.conversion)),
            signed_class(&v.difference),
            escape(&points_interval(&v.difference, 100.0)),
        );
        if has_nps {
            let _ = write!(
                out,
                "<td>{}</td><td{}>{}</td>",
                escape(&nps_text(&v.nps)),
                signed_class(&v.nps_difference),
                escape(&points_interval(&v.nps_difference, 1.0))
            );
        }
        if x.goal.is_some() {
            let _ = write!(
                out,
                "<td>{}</td>",
                v.goal.as_ref().map_or("-".into(), percent_margin)
            );
        }
        out.push_str("</tr>");
    }
    if let Some(h) = &x.holdout {
        let _ = write!(
            out,
            "<tr><td>{HOLDOUT}</td><td>{}</td><td>-</td><td>-</td><td>-</td>",
            n(h.contacts)
        );
        if has_nps {
            out.push_str("<td>-</td><td>-</td>");
        }
        if x.goal.is_some() {
            let _ = write!(
                out,
                "<td>{}</td>",
                h.goal.as_ref().map_or("-".into(), percent_margin)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    if x.holdout.is_some() {
        out.push_str(
            "<p class=\"muted\">The holdout is never contacted: it converts only through the goal, \
             which is measured the same way for every group.</p>",
        );
    }
    if let Some(g) = &x.goal {
        let _ = write!(
            out,
            "<p>Goal <code>{}</code>: treated {} against holdout {}; lift <strong{}>{}</strong> points{}.</p>",
            escape(&g.filter),
            escape(&percent_margin(&g.treated)),
            escape(&percent_margin(&g.holdout)),
            signed_class(&g.lift),
            escape(&points_interval(&g.lift, 100.0)),
            g.relative_lift
                .map_or(String::new(), |l| format!(" ({:+.0}% relative)", 100.0 * l))
        );
    }
    out.push_str("</section>\n");
}

fn breakdown_table(out: &mut String, rows: &[Breakdown]) {
    out.push_str(
        "<table><tr><th></th><th>contacts</th><th>sends</th><th>attempted</th><th>delivered</th>\
         <th>reached</th><th>converted</th><th>contact rate</th><th>conversion</th></tr>",
    );
    for b in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&b.key),
            n(b.contacts),
            n(b.sends),
            n(b.attempted),
            n(b.delivered),
            n(b.reached),
            n(b.converted),
            percent(&b.contact_rate),
            percent(&b.conversion_rate)
        );
    }
    out.push_str("</table>");
}

fn segment_table(out: &mut String, r: &Report) {
    let has_nps = r.survey.as_ref().is_some_and(|s| s.nps.is_some());
    let _ = write!(
        out,
        "<section><h2>By {}</h2><table><tr><th></th><th>contacts</th><th>attempted</th><th>reached</th>\
         <th>converted</th><th>contact rate</th><th>conversion</th>{}</tr>",
        escape(&r.by_segment.by),
        if has_nps {
            "<th>NPS ± margin</th>"
        } else {
            ""
        }
    );
    for g in &r.by_segment.groups {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            escape(&g.value),
            n(g.contacts),
            n(g.attempted),
            n(g.reached),
            n(g.converted),
            percent(&g.contact_rate),
            percent(&g.conversion_rate)
        );
        if has_nps {
            let _ = write!(out, "<td>{}</td>", escape(&nps_text(&g.nps)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table></section>\n");
}

fn hours_table(out: &mut String, r: &Report) {
    let _ = write!(
        out,
        "<section><h2>By hour of day ({})</h2><table><tr><th>hour</th><th>sends</th><th>converted</th>\
         <th>reached</th><th>delivered</th><th>not reached</th><th>pending</th><th>reached or converted</th></tr>",
        escape(&r.campaign.timezone)
    );
    for h in r.by_hour.iter().filter(|h| h.sends > 0) {
        let _ = write!(
            out,
            "<tr><td>{:02}:00</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            h.hour,
            n(h.sends),
            n(h.converted),
            n(h.reached),
            n(h.delivered),
            n(h.not_reached),
            n(h.pending),
            percent(&h.reach())
        );
    }
    out.push_str("</table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_data_cannot_open_a_tag_or_leave_an_attribute() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn axis_maxima_are_round_numbers_at_or_above_the_data() {
        for (v, expected) in [
            (1, 4),
            (3, 4),
            (7, 8),
            (13, 20),
            (40, 40),
            (180, 200),
            (999, 1000),
        ] {
            let got = nice_ceiling(v);
            assert_eq!(got, expected, "{v}");
            assert!(got >= v && got.is_multiple_of(4));
        }
    }
}
