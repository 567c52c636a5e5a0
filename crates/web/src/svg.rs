//! Charts drawn on the server as inline SVG (no script, no inline style: colours come from the
//! stylesheet's classes, so both themes apply): horizontal bars for counts and for spend
//! against a cap.

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
    let label_w = 90.0;
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
    fn meters_colour_by_use() {
        assert!(meter(95.0, 100.0).contains("danger"));
        assert!(meter(10.0, 100.0).contains("ok"));
        assert!(meter(1.0, 0.0).contains("width=\"0.0\""));
    }
}
