//! The spend report as one self-contained HTML page: a stacked daily cost
//! bar chart per group in inline SVG, the table and the alerts.
//!
//! Nothing is loaded from elsewhere (no script, font, style sheet or image
//! URL), so the file can be mailed, attached to a ticket or opened offline.
//! Each bar is one `<rect class="bar">` per (day, group) with events,
//! carrying `data-day`, `data-group`, `data-cost-usd` (the exact decimal of
//! the nano-dollar total), `data-cost-nanos` and `data-requests`, and a
//! `<title>` tooltip with the same; a spike day's bar has
//! `data-spike="true"` and a dark outline. Group names come from recorded
//! tags, so every text is escaped.

use crate::spend::{alert_line, pct, SpendReport};
use std::fmt::Write as _;
use tollgate_cost::{nanos_to_usd, Day};

/// Distinct, print-safe colours (Tableau 10); more groups cycle through
/// hues at the golden angle.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// Chart geometry, pixels.
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 70.0;

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// Nano-dollars as an exact USD decimal: `12.345678`, `0`, `0.000000001`.
pub fn exact_usd(nanos: u64) -> String {
    let whole = nanos / tollgate_cost::NANOS_PER_USD;
    let frac = nanos % tollgate_cost::NANOS_PER_USD;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// The colour of the `i`-th group.
pub fn colour(i: usize) -> String {
    match PALETTE.get(i) {
        Some(c) => (*c).to_owned(),
        None => {
            let hue = (i as f64 * 137.508) % 360.0;
            format!("hsl({hue:.0},55%,50%)")
        }
    }
}

/// A round axis maximum and tick step for values up to `max` nano-dollars:
/// steps of 1, 2 or 5 x 10^k USD, at most six ticks.
fn axis(max: u64) -> (f64, f64) {
    let max = nanos_to_usd(max);
    if max <= 0.0 {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    // A hair under: 0.04 / 0.01 is 4.000000000000001 in binary.
    (((max / step) - 1e-9).ceil().max(1.0) * step, step)
}

fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("${v:.decimals$}")
}

fn svg(r: &SpendReport, out: &mut String) {
    let days: &[Day] = &r.days;
    let max = days.iter().map(|&d| r.day_total(d)).max().unwrap_or(0);
    let (top_usd, step) = axis(max);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / days.len().max(1) as f64;
    let bar_w = (slot * 0.7).clamp(1.0, 80.0);
    let y_of = |usd: f64| TOP + plot_h - usd / top_usd * plot_h;
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="daily cost by {}">"#,
        escape(&r.spike.group_by)
    );
    // Y axis: grid lines and labels.
    let ticks = (top_usd / step).round() as u32;
    for i in 0..=ticks {
        let v = f64::from(i) * step;
        let y = y_of(v);
        let _ = writeln!(
            out,
            r##"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e0e0e0"/><text class="y-label" x="{:.1}" y="{:.1}" text-anchor="end" font-size="12">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            tick_label(v, step)
        );
    }
    // Bars, stacked in group order.
    let label_every = (days.len() / 20).max(1);
    for (di, &day) in days.iter().enumerate() {
        let x = LEFT + di as f64 * slot + (slot - bar_w) / 2.0;
        let mut acc = 0u64;
        for (gi, g) in r.groups.iter().enumerate() {
            let Some(c) = r.cells.get(&(day, g.clone())) else {
                continue;
            };
            let y0 = y_of(nanos_to_usd(acc));
            acc = acc.saturating_add(c.nanos);
            let y1 = y_of(nanos_to_usd(acc));
            let spike = r.is_spike(g, day);
            let outline = if spike {
                r##" stroke="#111" stroke-width="2""##
            } else {
                ""
            };
            let _ = writeln!(
                out,
                r#"<rect class="bar" x="{x:.1}" y="{y1:.1}" width="{bar_w:.1}" height="{:.1}" fill="{}"{outline} data-day="{day}" data-group="{}" data-cost-usd="{}" data-cost-nanos="{}" data-requests="{}" data-spike="{spike}"><title>{day} {}: ${} ({} request{}){}</title></rect>"#,
                (y0 - y1).max(0.0),
                colour(gi),
                escape(g),
                exact_usd(c.nanos),
                c.nanos,
                c.requests,
                escape(g),
                exact_usd(c.nanos),
                c.requests,
                if c.requests == 1 { "" } else { "s" },
                if spike { ", spend spike" } else { "" }
            );
        }
        if di % label_every == 0 {
            let cx = LEFT + di as f64 * slot + slot / 2.0;
            let ly = TOP + plot_h + 14.0;
            let _ = writeln!(
                out,
                r#"<text class="x-label" x="{cx:.1}" y="{ly:.1}" text-anchor="end" font-size="11" transform="rotate(-40 {cx:.1} {ly:.1})">{day}</text>"#
            );
        }
    }
    let mid = TOP + plot_h / 2.0;
    let _ = writeln!(
        out,
        r#"<text class="y-title" x="16" y="{mid:.1}" text-anchor="middle" font-size="12" transform="rotate(-90 16 {mid:.1})">USD per UTC day</text>"#
    );
    // Axes last, over the bars.
    let _ = writeln!(
        out,
        r##"<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#333"/><line class="axis" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
        TOP + plot_h,
        TOP + plot_h,
        WIDTH - RIGHT,
        TOP + plot_h
    );
    out.push_str("</svg>\n");
}

fn legend(r: &SpendReport, out: &mut String) {
    out.push_str("<ul class=\"legend\">\n");
    for (i, g) in r.groups.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<li><span class="swatch" style="background:{}"></span>{}</li>"#,
            colour(i),
            escape(g)
        );
    }
    out.push_str("<li><span class=\"swatch spike\"></span>outlined: spend spike</li>\n</ul>\n");
}

fn table(r: &SpendReport, out: &mut String) {
    out.push_str("<table>\n<thead><tr><th rowspan=\"2\">day</th>");
    for g in &r.groups {
        let _ = write!(out, "<th colspan=\"2\">{}</th>", escape(g));
    }
    out.push_str("<th colspan=\"2\">total</th></tr>\n<tr>");
    for _ in 0..=r.groups.len() {
        out.push_str("<th>USD</th><th>change</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in r.rows() {
        let _ = write!(out, "<tr><th>{}</th>", row.day);
        for c in &row.cells {
            let spend = c
                .spend
                .map_or("-".to_owned(), |n| format!("{:.4}", nanos_to_usd(n)));
            let (class, mark) = if c.spike {
                (" class=\"spike\"", " *")
            } else {
                ("", "")
            };
            let _ = write!(
                out,
                "<td{class}>{spend}</td><td{class}>{}{mark}</td>",
                escape(&pct(c.change_pct))
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The page.
pub fn to_html(r: &SpendReport) -> String {
    let mut out = String::with_capacity(16 * 1024 + r.cells.len() * 400);
    let title = format!("Daily cost by {}", escape(&r.spike.group_by));
    let _ = writeln!(
        out,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; background: #fff; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
td.spike {{ background: #fde2e2; font-weight: bold; }}
.legend {{ list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 16px; }}
.swatch {{ display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: middle; }}
.swatch.spike {{ border: 2px solid #111; width: 8px; height: 8px; }}
</style>
</head>
<body>
<h1>{title}</h1>"#
    );
    let total = r.total_nanos();
    let _ = writeln!(
        out,
        "<p>{} events, {} UTC day{}, {} group{}, ${} in all; change = spend vs the trailing {}-day mean.</p>",
        r.events,
        r.days.len(),
        if r.days.len() == 1 { "" } else { "s" },
        r.groups.len(),
        if r.groups.len() == 1 { "" } else { "s" },
        exact_usd(total),
        r.spike.trailing_days
    );
    svg(r, &mut out);
    legend(r, &mut out);
    out.push_str("<h2>Table (USD)</h2>\n");
    table(r, &mut out);
    let _ = writeln!(out, "<p>{}</p>", escape(&r.legend()));
    let _ = writeln!(out, "<h2>Alerts ({})</h2>", r.alerts.len());
    if r.alerts.is_empty() {
        out.push_str("<p>none</p>\n");
    } else {
        out.push_str("<ul class=\"alerts\">\n");
        for a in &r.alerts {
            let _ = writeln!(
                out,
                r#"<li data-day="{}" data-group="{}">{}</li>"#,
                a.day,
                escape(&a.group),
                escape(&alert_line(a, 0))
            );
        }
        out.push_str("</ul>\n");
    }
    if let Some(p) = &r.pricing {
        out.push_str("<h2>Prices</h2>\n<ul class=\"pricing\">\n");
        for line in p.note() {
            let _ = writeln!(out, "<li>{}</li>", escape(line.trim_start()));
        }
        out.push_str("</ul>\n");
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(
            out,
            "<h2>Skipped lines ({})</h2>\n<ul class=\"skipped\">",
            r.skipped.len()
        );
        for s in &r.skipped {
            let _ = writeln!(out, "<li>{}</li>", escape(&s.to_string()));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_usd_keeps_every_nano() {
        assert_eq!(exact_usd(12_345_678_000), "12.345678");
        assert_eq!(exact_usd(1), "0.000000001");
        assert_eq!(exact_usd(0), "0");
        assert_eq!(exact_usd(3_000_000_000), "3");
    }

    #[test]
    fn axis_is_round() {
        assert_eq!(axis(12_300_000_000), (15.0, 5.0));
        assert_eq!(axis(10_000_000_000), (10.0, 2.0));
        assert_eq!(axis(0), (1.0, 0.2));
        let (top, step) = axis(40_000_000);
        assert!(
            (top - 0.04).abs() < 1e-12 && (step - 0.01).abs() < 1e-12,
            "{top} {step}"
        );
    }
}
