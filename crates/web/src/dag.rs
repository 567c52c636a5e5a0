//! The module DAG drawn on the server as inline SVG: one column per wave, a box per module
//! (its id, title and providers), a curve with an arrowhead for every dependency. Like the
//! charts it uses no script and no inline style (colours come from the stylesheet's classes, so
//! both themes apply), and it is a picture only: the plan page prints the same graph as a table
//! for screen readers and for copying.

use crate::render::escape;
use std::collections::HashMap;
use std::fmt::Write;

/// One module as the drawing needs it.
pub struct Node {
    pub id: String,
    pub title: String,
    pub providers: Vec<String>,
    /// Ids of the modules it depends on (each drawn as an edge into this box).
    pub dependencies: Vec<String>,
}

const COL_W: f64 = 200.0;
const GAP_X: f64 = 64.0;
const GAP_Y: f64 = 14.0;
const HEAD_H: f64 = 28.0;
const PAD: f64 = 8.0;
const LINE_H: f64 = 15.0;
/// Characters of 11 px text that fit on one line of a box (the widest glyphs of the id font).
const LINE_CHARS: usize = 30;

/// Where a box sits.
struct Placed {
    x: f64,
    y: f64,
    h: f64,
}

/// The SVG of `waves` (wave 1 first; every dependency sits in an earlier wave, as the planner
/// guarantees). Unknown dependency ids are not drawn.
pub fn draw(title: &str, waves: &[Vec<Node>]) -> String {
    let mut placed: HashMap<&str, Placed> = HashMap::new();
    let mut lines: HashMap<&str, Vec<String>> = HashMap::new();
    let mut height: f64 = HEAD_H;
    for (w, wave) in waves.iter().enumerate() {
        let x = PAD + w as f64 * (COL_W + GAP_X);
        let mut y = HEAD_H + PAD;
        for n in wave {
            let provider_lines = wrap(&n.providers.join(", "), LINE_CHARS);
            let h = PAD * 2.0 + LINE_H * (2 + provider_lines.len().max(1)) as f64;
            placed.insert(n.id.as_str(), Placed { x, y, h });
            lines.insert(n.id.as_str(), provider_lines);
            y += h + GAP_Y;
        }
        height = height.max(y);
    }
    let width = PAD * 2.0
        + waves.len().max(1) as f64 * COL_W
        + waves.len().saturating_sub(1) as f64 * GAP_X;
    let height = height + PAD;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"dag\" role=\"img\" aria-labelledby=\"dag-title\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\">\
         <title id=\"dag-title\">{t}</title>\
         <defs><marker id=\"dag-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path class=\"dag-arrow\" d=\"M0,0 L10,5 L0,10 z\"></path></marker></defs>",
        t = escape(title),
    );
    for w in 0..waves.len() {
        let _ = write!(
            out,
            "<text class=\"dag-wave\" x=\"{x}\" y=\"18\">Wave {n}</text>",
            x = PAD + w as f64 * (COL_W + GAP_X) + 2.0,
            n = w + 1,
        );
    }
    // Edges first, so boxes sit on top of any curve that crosses a column.
    out.push_str("<g class=\"dag-edges\">");
    for n in waves.iter().flatten() {
        let Some(to) = placed.get(n.id.as_str()) else {
            continue;
        };
        for dep in &n.dependencies {
            let Some(from) = placed.get(dep.as_str()) else {
                continue;
            };
            let (x1, y1) = (from.x + COL_W, from.y + from.h / 2.0);
            let (x2, y2) = (to.x - 1.0, to.y + to.h / 2.0);
            let dx = (GAP_X * 0.6).max((x2 - x1) / 3.0);
            let _ = write!(
                out,
                "<path class=\"dag-edge\" d=\"M{x1:.1},{y1:.1} C{c1:.1},{y1:.1} {c2:.1},{y2:.1} {x2:.1},{y2:.1}\" marker-end=\"url(#dag-arrow)\"><title>{from} → {to}</title></path>",
                c1 = x1 + dx,
                c2 = x2 - dx,
                from = escape(dep),
                to = escape(&n.id),
            );
        }
    }
    out.push_str("</g>");
    for n in waves.iter().flatten() {
        let Some(p) = placed.get(n.id.as_str()) else {
            continue;
        };
        let _ = write!(
            out,
            "<g class=\"dag-node\" id=\"dag-{id}\"><rect x=\"{x}\" y=\"{y}\" width=\"{COL_W}\" height=\"{h}\" rx=\"6\"></rect>\
             <text class=\"dag-id\" x=\"{tx}\" y=\"{t1}\">{id_text}</text>\
             <text class=\"dag-title\" x=\"{tx}\" y=\"{t2}\">{title}</text>",
            id = escape(&n.id),
            x = p.x,
            y = p.y,
            h = p.h,
            tx = p.x + PAD,
            t1 = p.y + PAD + 11.0,
            t2 = p.y + PAD + 11.0 + LINE_H,
            id_text = escape(&clip(&n.id, LINE_CHARS - 2)),
            title = escape(&clip(&n.title, LINE_CHARS)),
        );
        let provider_lines = lines.get(n.id.as_str()).cloned().unwrap_or_default();
        if provider_lines.is_empty() {
            let _ = write!(
                out,
                "<text class=\"dag-providers\" x=\"{tx}\" y=\"{ty}\">no provider</text>",
                tx = p.x + PAD,
                ty = p.y + PAD + 11.0 + 2.0 * LINE_H,
            );
        }
        for (i, line) in provider_lines.iter().enumerate() {
            let _ = write!(
                out,
                "<text class=\"dag-providers\" x=\"{tx}\" y=\"{ty}\">{line}</text>",
                tx = p.x + PAD,
                ty = p.y + PAD + 11.0 + (2 + i) as f64 * LINE_H,
                line = escape(line),
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// `text` cut to `max` characters with an ellipsis (the table under the drawing has it whole).
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Greedy word wrap at spaces into lines of at most `width` characters (a longer word gets a
/// line of its own, clipped).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines.into_iter().map(|l| clip(&l, width)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, deps: &[&str], providers: &[&str]) -> Node {
        Node {
            id: id.into(),
            title: format!("Title of {id}"),
            providers: providers.iter().map(|s| s.to_string()).collect(),
            dependencies: deps.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn columns_per_wave_and_an_arrow_per_dependency() {
        let svg = draw(
            "Plan",
            &[
                vec![node("a", &[], &["wikidata"]), node("b", &[], &[])],
                vec![node("c", &["a", "b"], &["sec", "homepage"])],
                vec![node("d", &["a", "c", "gone"], &[])],
            ],
        );
        assert_eq!(svg.matches("<g class=\"dag-node\"").count(), 4);
        assert_eq!(svg.matches("class=\"dag-edge\"").count(), 4, "{svg}");
        assert_eq!(svg.matches("marker-end=\"url(#dag-arrow)\"").count(), 4);
        for w in 1..=3 {
            assert!(svg.contains(&format!(">Wave {w}</text>")));
        }
        // Waves are columns: c sits right of a, d right of c.
        let x_of = |id: &str| {
            let at = svg.find(&format!("id=\"dag-{id}\"><rect x=\"")).unwrap()
                + format!("id=\"dag-{id}\"><rect x=\"").len();
            svg[at..].split('"').next().unwrap().parse::<f64>().unwrap()
        };
        assert!(x_of("a") < x_of("c") && x_of("c") < x_of("d"));
        assert_eq!(x_of("a"), x_of("b"));
        assert!(svg.contains(">sec, homepage</text>"));
        assert!(svg.contains(">no provider</text>"));
        assert!(!svg.contains("style="));
    }

    #[test]
    fn text_is_escaped_wrapped_and_clipped() {
        let svg = draw(
            "<b>",
            &[vec![node(
                "x<y",
                &[],
                &["one", "two", "three", "four", "five", "six", "seven"],
            )]],
        );
        assert!(svg.contains("&lt;b&gt;") && svg.contains("x&lt;y"));
        assert_eq!(
            wrap("one, two, three, four, five, six, seven", 16),
            vec!["one, two, three,", "four, five, six,", "seven"]
        );
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
