//! Charts drawn on the server as inline SVG (no script, no inline style: colours come from the
//! stylesheet's classes, so both themes apply): horizontal bars for counts and for spend
//! against a cap, and sparklines of a score's history.

use crate::render::escape;
use std::fmt::Write;

/// One bar: label, value, CSS class.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub class: String,
}

/// Horizontal bars, one row each, scaled to the largest value, with the value printed.
pub fn bars(title: &str, bars: &[Bar]) -> String {
    let row = 24.0;
    // Room for the longest label (about 7 px a character at the chart's 12 px font), so a
    // provider such as `wikidata_sparql` is not cut off at the left edge.
    let longest = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    let label_w = (longest as f64 * 7.0 + 16.0).clamp(90.0, 260.0);
    let bar_w = 200.0;
    let height = row * bars.len().max(1) as f64 + 8.0;
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max).max(1.0);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart\" role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\"><title>{t}</title>",
        t = escape(title),
        w = label_w + bar_w + 60.0,
    );
    for (i, b) in bars.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let w = (b.value / max * bar_w).max(if b.value > 0.0 { 2.0 } else { 0.0 });
        let _ = write!(
            out,
            "<text class=\"chart-label\" x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\
             <rect class=\"bar {class}\" x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{h}\" rx=\"3\"></rect>\
             <text class=\"chart-value\" x=\"{vx:.1}\" y=\"{ty}\">{value}</text>",
            lx = label_w - 8.0,
            ty = y + 14.0,
            label = escape(&b.label),
            class = escape(&b.class),
            h = row - 8.0,
            vx = label_w + w + 6.0,
            value = format_number(b.value),
        );
    }
    out.push_str("</svg>");
    out
}

/// A bar of `spent` against `limit`, coloured by how close it is.
pub fn meter(spent: f64, limit: f64) -> String {
    let frac = if limit > 0.0 {
        (spent / limit).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let class = if frac >= 0.9 {
        "danger"
    } else if frac >= 0.7 {
        "warn"
    } else {
        "ok"
    };
    format!(
        "<svg class=\"meter\" role=\"img\" aria-label=\"{pct:.0}% used\" viewBox=\"0 0 200 14\" width=\"200\" height=\"14\">\
         <rect class=\"meter-track\" x=\"0\" y=\"0\" width=\"200\" height=\"14\" rx=\"7\"></rect>\
         <rect class=\"bar {class}\" x=\"0\" y=\"0\" width=\"{w:.1}\" height=\"14\" rx=\"7\"></rect></svg>",
        pct = frac * 100.0,
        w = frac * 200.0,
    )
}

/// A small line of a score's history (oldest first, on a 0–100 scale widened to the values'
/// own range when they leave it), with the last point marked. Its label says what a screen
/// reader needs (first and last value and how many versions), e.g. `intent 40 → 72 over 3
/// versions`; one value or none draws no line.
pub fn sparkline(what: &str, values: &[i64]) -> String {
    let (w, h, pad) = (64.0, 18.0, 2.0);
    let label = match (values.first(), values.last()) {
        (Some(a), Some(b)) if values.len() > 1 => {
            format!("{what} {a} → {b} over {} versions", values.len())
        }
        (Some(a), _) => format!("{what} {a}, one version"),
        _ => format!("no {what} history"),
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"sparkline\" role=\"img\" aria-label=\"{l}\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\"><title>{l}</title>",
        l = escape(&label),
    );
    if values.len() > 1 {
        let lo = values.iter().copied().min().unwrap_or(0).min(0) as f64;
        let hi = values.iter().copied().max().unwrap_or(100).max(100) as f64;
        let span = (hi - lo).max(1.0);
        let step = (w - 2.0 * pad) / (values.len() - 1) as f64;
        let point = |i: usize, v: i64| {
            (
                pad + step * i as f64,
                h - pad - (v as f64 - lo) / span * (h - 2.0 * pad),
            )
        };
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (x, y) = point(i, *v);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let (lx, ly) = point(values.len() - 1, values[values.len() - 1]);
        let _ = write!(
            out,
            "<polyline class=\"spark-line\" fill=\"none\" points=\"{}\"></polyline>\
             <circle class=\"spark-dot\" cx=\"{lx:.1}\" cy=\"{ly:.1}\" r=\"2\"></circle>",
            points.join(" ")
        );
    }
    out.push_str("</svg>");
    out
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_draw_the_history_with_a_label() {
        let svg = sparkline("intent", &[40, 55, 72]);
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-label=\"intent 40 → 72 over 3 versions\""));
        assert_eq!(svg.matches("<polyline").count(), 1);
        let points = svg
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split(' ').count(), 3);
        // Higher scores are drawn higher (smaller y).
        let ys: Vec<f64> = points
            .split(' ')
            .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(ys[0] > ys[1] && ys[1] > ys[2], "{ys:?}");
        let one = sparkline("intent", &[50]);
        assert!(one.contains("intent 50, one version") && !one.contains("<polyline"));
        assert!(sparkline("intent", &[]).contains("no intent history"));
        assert!(sparkline("<b>", &[1, 2]).contains("&lt;b&gt;"));
    }

    #[test]
    fn bars_scale_and_escape() {
        let svg = bars(
            "Accounts per tier",
            &[
                Bar {
                    label: "A".into(),
                    value: 2.0,
                    class: "tier-a".into(),
                },
                Bar {
                    label: "<b>".into(),
                    value: 1.0,
                    class: "tier-b".into(),
                },
            ],
        );
        assert!(svg.contains("width=\"200.0\""), "{svg}");
        assert!(svg.contains("width=\"100.0\""), "{svg}");
        assert!(svg.contains("&lt;b&gt;"));
        assert!(!svg.contains("style="));
    }

    #[test]
    fn long_labels_get_room_to_the_left_of_their_bars() {
        let bar = |label: &str| Bar {
            label: label.into(),
            value: 1.0,
            class: "warn".into(),
        };
        // 15 characters: the bars start after 15 * 7 + 16 = 121 px, not the default 90.
        let svg = bars("waits", &[bar("sec"), bar("wikidata_sparql")]);
        assert!(svg.contains("<rect class=\"bar warn\" x=\"121\""), "{svg}");
        let short = bars("waits", &[bar("sec")]);
        assert!(short.contains("x=\"90\""), "{short}");
    }

    #[test]
    fn meters_colour_by_use() {
        assert!(meter(95.0, 100.0).contains("danger"));
        assert!(meter(10.0, 100.0).contains("ok"));
        assert!(meter(1.0, 0.0).contains("width=\"0.0\""));
    }
}
