//! M15 strategic brief: a Markdown account brief a sales rep can read in two minutes — who they
//! are, what they run, what we can displace, why now, who to talk to, which proof points to use
//! and an opening line — where every claim carries a footnote (`[3]`) to the source URL it
//! ultimately came from (the dependencies' citations, carried through M10–M14).
//!
//! It runs degraded: a section whose module failed says so instead of disappearing, so a gap
//! is visible rather than silently read as "nothing there".

use crate::derived::{array_at, first_str, num_at, sources_for, str_at};
use crate::vendor::{human, VendorConfig};
use async_trait::async_trait;
use pforge_core::{
    Citation, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec, SetArray,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Stable module id (storage key).
pub const ID: &str = "m15_strategic_brief";

/// Every module the brief reads, with the section name used when it is missing.
const DEPS: &[(&str, &str)] = &[
    ("m01_company_context", "company context"),
    ("m02_tech_stack", "tech stack"),
    ("m03_traffic", "traffic"),
    ("m04_financials", "financials"),
    ("m05_competitors", "competitors"),
    ("m06_hiring", "hiring"),
    ("m07_strategic_triggers", "strategic triggers"),
    ("m08_investors", "investors"),
    ("m09_executives", "executives"),
    ("m10_buying_committee", "buying committee"),
    ("m11_displacement_targets", "displacement targets"),
    ("m12_case_studies", "case studies"),
    ("m13_icp_priority", "ICP priority"),
    ("m14_signal_scoring", "signal scoring"),
];

/// Technology categories worth a rep's attention, in the order the brief lists them.
const CATEGORY_ORDER: &[&str] = &[
    "Search engines",
    "Ecommerce",
    "CMS",
    "JavaScript frameworks",
    "Web frameworks",
    "Personalisation",
    "A/B Testing",
    "Marketing automation",
    "CRM",
    "Analytics",
    "Tag managers",
    "Live chat",
    "Payment processors",
    "CDN",
    "Email",
];

/// The strategic-brief module.
pub struct StrategicBrief {
    spec: ModuleSpec,
    vendor: VendorConfig,
}

impl StrategicBrief {
    /// Builds the module; the vendor config names the product in the brief.
    pub fn new(vendor: &VendorConfig) -> Self {
        StrategicBrief {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Strategic brief".into(),
                dependencies: DEPS.iter().map(|(id, _)| id.to_string()).collect(),
                providers: Vec::new(),
                runs_degraded: true,
                set_arrays: vec![SetArray::scalars("/missing_modules")],
            },
            vendor: vendor.clone(),
        }
    }
}

/// Escapes text from outside (company descriptions, titles) so it cannot inject Markdown or HTML.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.split_whitespace().collect::<Vec<_>>().join(" ").chars() {
        if matches!(ch, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Numbered sources: the first time a source is cited it gets the next number.
#[derive(Default)]
struct Footnotes {
    order: Vec<Citation>,
    index: BTreeMap<String, usize>,
}

impl Footnotes {
    /// Numbers a source by the URL shown to readers: for a value a batch request carried, the
    /// caller's own request, so a brief over unchanged facts is the same brief whatever else the
    /// batch held (and is not a new version with a change event on every run).
    fn number(&mut self, c: &Citation) -> usize {
        let key = c.shown_source().to_string();
        if let Some(n) = self.index.get(&key) {
            return *n;
        }
        let mut shown = c.clone();
        shown.source = key.clone();
        shown.canonical = None;
        shown.via.clear();
        self.order.push(shown);
        let n = self.order.len();
        self.index.insert(key, n);
        n
    }

    /// ` [1][2]` for the sources of `dep` that support `pointer`: URLs when there are any,
    /// else the configuration or module the value came from.
    fn refs(&mut self, ctx: &ModuleContext, dep: &str, pointer: &str) -> String {
        let Some(o) = ctx.dependency(dep) else {
            return String::new();
        };
        let cites = sources_for(o, pointer);
        let urls: Vec<&Citation> = cites
            .iter()
            .copied()
            .filter(|c| c.source.starts_with("http://") || c.source.starts_with("https://"))
            .collect();
        let chosen: Vec<&Citation> = if urls.is_empty() {
            cites
                .iter()
                .copied()
                .filter(|c| !c.source.starts_with("module:"))
                .take(1)
                .collect()
        } else {
            urls.into_iter().take(3).collect()
        };
        let chosen = if chosen.is_empty() {
            cites.into_iter().take(1).collect()
        } else {
            chosen
        };
        let mut nums: Vec<usize> = chosen.iter().map(|c| self.number(c)).collect();
        nums.sort_unstable();
        nums.dedup();
        nums.iter()
            .map(|n| format!("[{n}]"))
            .collect::<Vec<_>>()
            .join("")
    }
}

/// Renders a source for the list at the end.
fn source_line(c: &Citation) -> String {
    let s = &c.source;
    if (s.starts_with("http://") || s.starts_with("https://"))
        && !s.contains(|ch: char| ch.is_whitespace() || ch == '<' || ch == '>')
    {
        format!("<{s}> ({})", esc(&c.provider))
    } else if let Some(rest) = s.strip_prefix("config:") {
        format!("configuration `{}` (pforge.toml)", rest.replace('`', "'"))
    } else if let Some(rest) = s.strip_prefix("module:") {
        format!(
            "derived by PartnerForge module `{}`",
            rest.replace('`', "'")
        )
    } else if let Some(rest) = s.strip_prefix("store:") {
        format!("PartnerForge change history (`{}`)", rest.replace('`', "'"))
    } else {
        format!("`{}` ({})", s.replace('`', "'"), esc(&c.provider))
    }
}

/// The elements of the array at `pointer` with their stored index (for citations), best first
/// by the number at `by` (stored arrays are in canonical key order, not rank order).
fn ranked(d: Option<&Value>, pointer: &str, by: &str) -> Vec<(usize, Value)> {
    let mut v: Vec<(usize, Value)> = d
        .map(|d| array_at(d, pointer).iter().cloned().enumerate().collect())
        .unwrap_or_default();
    v.sort_by(|a, b| {
        let (x, y) = (num_at(&a.1, by), num_at(&b.1, by));
        y.unwrap_or(f64::MIN)
            .total_cmp(&x.unwrap_or(f64::MIN))
            .then(a.0.cmp(&b.0))
    });
    v
}

/// A vendor competitor the account stopped running recently (a `stopped running X` change
/// signal in M14): the best moment to call.
fn dropped_competitor(vendor: &VendorConfig, signals: Option<&Value>) -> Option<String> {
    ranked(signals, "/signals", "/points")
        .into_iter()
        .filter(|(_, s)| str_at(s, "/kind") == Some("change"))
        .filter_map(|(_, s)| {
            str_at(&s, "/description")?
                .strip_prefix("stopped running ")
                .map(str::to_string)
        })
        .find(|t| vendor.competitor(t).is_some())
}

/// The modules that store `entity_links` (see [`crate::resolution`]), in the order shown.
const LINKING_MODULES: &[&str] = &[
    "m01_company_context",
    "m04_financials",
    "m06_hiring",
    "m07_strategic_triggers",
    "m08_investors",
];

/// A reader's name for a kind of outside entity.
fn kind_label(kind: &str) -> &str {
    match kind {
        "sec_filer" => "SEC filer",
        "wikidata_item" => "Wikidata item",
        "job_board" => "Job board",
        "feed" => "News feed",
        "crunchbase_organization" => "Crunchbase organization",
        other => other,
    }
}

/// A reader's words for how a link was made.
fn method_label(method: &str) -> &str {
    match method {
        "pin" => "pinned by the user",
        "wikidata_official_website" => "Wikidata names this domain as its official website",
        "wikidata_name_search" => "found by name on Wikidata, official website checked",
        "wikidata_cik" => "the CIK of the Wikidata item whose official website is this domain",
        "sec_website" => "the filer's own website field names this domain",
        "own_name" => "the company's own name equals the entity's name",
        "domain_label" => "only the domain's label matches the name",
        "linked_from_site" => "linked from the company's own site",
        "board_token_and_name" => "board named like the company",
        "board_token_from_domain" => "board named like the domain only",
        "linked_from_homepage" => "linked from the homepage",
        "website_field" => "its website field names this domain",
        other => other,
    }
}

/// One line per entity link of the linking modules: what, how, how sure, whether attached,
/// the evidence, and the sources.
fn matched_entities(ctx: &ModuleContext, fn_: &mut Footnotes) -> Vec<String> {
    let mut lines = Vec::new();
    for id in LINKING_MODULES {
        let Some(o) = ctx.dependency(id) else {
            continue;
        };
        let links = array_at(&o.data, "/entity_links");
        if links.is_empty() {
            continue;
        }
        let refs = fn_.refs(ctx, id, "/entity_links");
        for l in links {
            let kind = str_at(l, "/kind").unwrap_or("entity");
            let ident = str_at(l, "/id").unwrap_or("?");
            let name = str_at(l, "/name").unwrap_or(ident);
            let confidence = str_at(l, "/confidence").unwrap_or("possible");
            let attached = l.get("attached").and_then(Value::as_bool) == Some(true);
            let how = method_label(str_at(l, "/method").unwrap_or("?"));
            let outcome = if attached {
                "attached".to_string()
            } else {
                "not confirmed, nothing attached (pin it to confirm)".to_string()
            };
            let evidence: Vec<String> = array_at(l, "/evidence")
                .iter()
                .filter_map(|e| e.as_str().map(esc))
                .collect();
            let label = if name == ident {
                esc(ident)
            } else {
                format!("{} ({})", esc(name), esc(ident))
            };
            lines.push(format!(
                "- {}: {label}: **{}**, {}; {outcome}.{}{refs}",
                kind_label(kind),
                esc(confidence),
                esc(how),
                if evidence.is_empty() {
                    String::new()
                } else {
                    format!(" Evidence: {}.", evidence.join("; "))
                }
            ));
        }
    }
    lines
}

/// Builds the brief's Markdown. Pure over the context: the unit tests drive it.
pub(crate) fn render(
    vendor: &VendorConfig,
    ctx: &ModuleContext,
) -> (String, Vec<Citation>, Vec<String>) {
    let mut fn_ = Footnotes::default();
    let mut md = String::new();
    let dep = |id: &str| ctx.dependency(id).map(|o| &o.data);
    let failed: BTreeMap<&str, &str> = ctx.failed_dependencies().collect();
    let missing = |id: &str, what: &str| -> String {
        match failed.get(id) {
            Some(why) => format!("_No {what} available: `{id}` failed ({})._\n", esc(why)),
            None => format!("_No {what} available: `{id}` produced no output._\n"),
        }
    };
    let product = vendor.product_name().to_string();
    let domain = ctx.domain.as_str().to_string();

    let m01 = dep("m01_company_context");
    let name = m01
        .and_then(|d| str_at(d, "/name"))
        .map(str::to_string)
        .unwrap_or_else(|| domain.clone());

    // Title and headline.
    if name == domain {
        let _ = writeln!(md, "# {}: account brief", esc(&domain));
    } else {
        let _ = writeln!(md, "# {} ({}): account brief", esc(&name), esc(&domain));
    }
    let _ = writeln!(md);
    let mut headline = Vec::new();
    if let Some(d) = dep("m13_icp_priority") {
        if let (Some(t), Some(s)) = (str_at(d, "/tier"), num_at(d, "/score")) {
            headline.push(format!("**Fit:** Tier {} ({}/100)", esc(t), s));
        }
    }
    if let Some(d) = dep("m14_signal_scoring") {
        if let (Some(l), Some(s)) = (str_at(d, "/level"), num_at(d, "/score")) {
            headline.push(format!("**Intent:** {} ({}/100)", esc(l), s));
        }
    }
    let targets = ranked(dep("m11_displacement_targets"), "/targets", "/score");
    let dropped = dropped_competitor(vendor, dep("m14_signal_scoring"));
    let play = match (
        targets.first().and_then(|(_, t)| str_at(t, "/technology")),
        &dropped,
    ) {
        (Some(t), _) => format!("**Play:** displace {} with {}", esc(t), esc(&product)),
        (None, Some(t)) => format!(
            "**Play:** they just dropped {}: get {} into the replacement decision",
            esc(t),
            esc(&product)
        ),
        (None, None) => format!("**Play:** introduce {}", esc(&product)),
    };
    headline.push(play);
    let _ = writeln!(md, "{}", headline.join(" · "));
    let _ = writeln!(md);

    // Who they are.
    let _ = writeln!(md, "## Who they are");
    let _ = writeln!(md);
    match m01 {
        Some(d) => {
            if let Some(desc) = str_at(d, "/description") {
                let _ = writeln!(
                    md,
                    "- {}: \"{}\"{}",
                    esc(&name),
                    esc(desc),
                    fn_.refs(ctx, "m01_company_context", "/description")
                );
            }
            let mut facts = Vec::new();
            if let Some(hq) = str_at(d, "/wikidata/headquarters/label") {
                facts.push(format!(
                    "HQ {}{}",
                    esc(hq),
                    fn_.refs(ctx, "m01_company_context", "/wikidata/headquarters")
                ));
            } else if let Some(city) = str_at(d, "/address/locality") {
                facts.push(format!(
                    "HQ {}{}",
                    esc(city),
                    fn_.refs(ctx, "m01_company_context", "/address")
                ));
            }
            if let Some(y) = num_at(d, "/founded_year") {
                facts.push(format!(
                    "founded {y}{}",
                    fn_.refs(ctx, "m01_company_context", "/founded_year")
                ));
            }
            let inds: Vec<String> = array_at(d, "/wikidata/industries")
                .iter()
                .filter_map(|i| str_at(i, "/label").map(esc))
                .collect();
            if !inds.is_empty() {
                facts.push(format!(
                    "industry: {}{}",
                    inds.join(", "),
                    fn_.refs(ctx, "m01_company_context", "/wikidata/industries")
                ));
            }
            if let Some(n) = num_at(d, "/wikidata/employees/count") {
                let as_of = str_at(d, "/wikidata/employees/as_of")
                    .map(|a| format!(" as of {}", a.chars().take(4).collect::<String>()))
                    .unwrap_or_default();
                facts.push(format!(
                    "~{} employees{as_of}{}",
                    human(n),
                    fn_.refs(ctx, "m01_company_context", "/wikidata/employees")
                ));
            }
            if !facts.is_empty() {
                let _ = writeln!(md, "- {}", facts.join(" · "));
            }
        }
        None => md.push_str(&missing("m01_company_context", "company profile")),
    }
    match dep("m04_financials") {
        Some(d) if d.get("sec_filer") == Some(&Value::Bool(true)) => {
            let tickers: Vec<String> = array_at(d, "/tickers")
                .iter()
                .filter_map(|t| t.as_str().map(esc))
                .collect();
            let exch: Vec<String> = array_at(d, "/exchanges")
                .iter()
                .filter_map(|t| t.as_str().map(esc))
                .collect();
            let probable = if str_at(d, "/confidence") == Some("probable") {
                " (probable match, see Matched entities)"
            } else {
                ""
            };
            let mut line = format!(
                "- Public company{probable}{}{}",
                if tickers.is_empty() {
                    String::new()
                } else {
                    format!(" ({}: {})", exch.join("/"), tickers.join(", "))
                },
                fn_.refs(ctx, "m04_financials", "/tickers")
            );
            if let Some(r) = num_at(d, "/financials/revenue/value") {
                let fy = num_at(d, "/financials/fiscal_year")
                    .map(|y| format!(" in FY{y}"))
                    .unwrap_or_default();
                let _ = write!(
                    line,
                    " · revenue ${}{fy}{}",
                    human(r),
                    fn_.refs(ctx, "m04_financials", "/financials")
                );
            }
            if let Some(e) = num_at(d, "/financials/employees/value") {
                let _ = write!(line, " · {} employees (10-K)", human(e));
            }
            let _ = writeln!(md, "{line}");
        }
        Some(d) => match array_at(d, "/possible_matches").first() {
            Some(p) => {
                let _ = writeln!(
                    md,
                    "- Not a confirmed SEC filer: possible match {} (CIK {}), not confirmed, nothing attached{}",
                    esc(str_at(p, "/title").unwrap_or("?")),
                    esc(str_at(p, "/cik").unwrap_or("?")),
                    fn_.refs(ctx, "m04_financials", "/possible_matches")
                );
            }
            None => {
                let _ = writeln!(
                    md,
                    "- Private company: not an SEC filer{}",
                    fn_.refs(ctx, "m04_financials", "/sec_filer")
                );
            }
        },
        None => md.push_str(&missing("m04_financials", "financials")),
    }
    match dep("m03_traffic") {
        Some(d) if str_at(d, "/status") == Some("no source configured") => {
            let _ = writeln!(md, "- Traffic: no source configured");
        }
        Some(d) => {
            let mut parts = Vec::new();
            match num_at(d, "/rank") {
                Some(r) => parts.push(format!(
                    "rank #{}{}{}",
                    human(r),
                    str_at(d, "/rank_bucket")
                        .map(|b| format!(" ({})", esc(b)))
                        .unwrap_or_default(),
                    fn_.refs(ctx, "m03_traffic", "/rank")
                )),
                None => {
                    if let Some(depth) = num_at(d, "/rank_list_depth") {
                        parts.push(format!(
                            "not in the top {} sites{}",
                            human(depth),
                            fn_.refs(ctx, "m03_traffic", "/rank")
                        ));
                    }
                }
            }
            if let Some(v) = num_at(d, "/average_monthly_visits") {
                parts.push(format!(
                    "~{} visits/month{}",
                    human(v),
                    fn_.refs(ctx, "m03_traffic", "/average_monthly_visits")
                ));
            }
            if !parts.is_empty() {
                let _ = writeln!(md, "- Traffic: {}", parts.join(" · "));
            }
        }
        None => md.push_str(&missing("m03_traffic", "traffic data")),
    }
    if let Some(d) = dep("m08_investors") {
        let investors: Vec<String> = array_at(d, "/investors")
            .iter()
            .filter_map(|i| i.as_str().or_else(|| first_str(i, &["name"])).map(esc))
            .take(5)
            .collect();
        if !investors.is_empty() {
            let _ = writeln!(
                md,
                "- Investors: {}{}",
                investors.join(", "),
                fn_.refs(ctx, "m08_investors", "/investors")
            );
        }
    }
    if let Some(d) = dep("m05_competitors") {
        let comps: Vec<String> = array_at(d, "/competitors")
            .iter()
            .filter_map(|i| {
                i.as_str()
                    .or_else(|| first_str(i, &["name", "domain"]))
                    .map(esc)
            })
            .take(5)
            .collect();
        if !comps.is_empty() {
            let _ = writeln!(
                md,
                "- Competes with: {}{}",
                comps.join(", "),
                fn_.refs(ctx, "m05_competitors", "/competitors")
            );
        }
    }
    let _ = writeln!(md);

    // How each outside entity was tied to the domain, so a rep can judge what is attached.
    let matches = matched_entities(ctx, &mut fn_);
    if !matches.is_empty() {
        let _ = writeln!(md, "## Matched entities");
        let _ = writeln!(md);
        for line in matches {
            let _ = writeln!(md, "{line}");
        }
        let _ = writeln!(md);
    }

    // What they run.
    let _ = writeln!(md, "## What they run");
    let _ = writeln!(md);
    match dep("m02_tech_stack") {
        Some(d) => {
            let mut by_cat: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
            for (i, t) in array_at(d, "/technologies").iter().enumerate() {
                let Some(n) = str_at(t, "/name") else {
                    continue;
                };
                let cat = array_at(t, "/categories")
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|c| CATEGORY_ORDER.contains(c))
                    .unwrap_or("Other");
                by_cat
                    .entry(cat.to_string())
                    .or_default()
                    .push((n.to_string(), i));
            }
            let mut shown = 0;
            for cat in CATEGORY_ORDER {
                if let Some(list) = by_cat.get(*cat) {
                    let names: Vec<String> = list.iter().map(|(n, _)| esc(n)).collect();
                    let refs = fn_.refs(
                        ctx,
                        "m02_tech_stack",
                        &format!("/technologies/{}", list[0].1),
                    );
                    let _ = writeln!(md, "- {}: {}{}", cat, names.join(", "), refs);
                    shown += 1;
                }
            }
            if let Some(other) = by_cat.get("Other") {
                let _ = writeln!(
                    md,
                    "- Also: {}",
                    other
                        .iter()
                        .map(|(n, _)| esc(n))
                        .take(10)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                shown += 1;
            }
            if let Some(e) = str_at(d, "/email_provider").filter(|_| !by_cat.contains_key("Email"))
            {
                let _ = writeln!(
                    md,
                    "- Email: {}{}",
                    esc(e),
                    fn_.refs(ctx, "m02_tech_stack", "/email_provider")
                );
                shown += 1;
            }
            if shown == 0 {
                let _ = writeln!(md, "- No technology detected on the homepage.");
            }
        }
        None => md.push_str(&missing("m02_tech_stack", "tech stack")),
    }
    let _ = writeln!(md);

    // Displacement.
    let _ = writeln!(md, "## Displacement opportunity");
    let _ = writeln!(md);
    match dep("m11_displacement_targets") {
        Some(_) if targets.is_empty() && dropped.is_some() => {
            let t = dropped.as_deref().unwrap_or_default();
            let _ = writeln!(
                md,
                "No competing product on the site today{}, but they **recently removed {}** (see Why now): they are choosing what replaces it. Ask what they evaluate and by when.",
                fn_.refs(ctx, "m11_displacement_targets", "/targets"),
                esc(t)
            );
        }
        Some(_) if targets.is_empty() => {
            let _ = writeln!(
                md,
                "No competing product detected{}: position {} as a first site-search investment, or ask what they use today.",
                fn_.refs(ctx, "m11_displacement_targets", "/targets"),
                esc(&product)
            );
        }
        Some(_) => {
            for (k, t) in targets.iter() {
                let tech = str_at(t, "/technology").unwrap_or("?");
                let how = str_at(t, "/detected_by").unwrap_or("fingerprint match");
                let _ = write!(
                    md,
                    "- **{}**: detected from {}{}",
                    esc(tech),
                    how,
                    fn_.refs(ctx, "m11_displacement_targets", &format!("/targets/{k}"))
                );
                if let Some(a) = str_at(t, "/angle") {
                    let _ = write!(md, ". Angle: {}", esc(a));
                }
                let _ = writeln!(md);
            }
        }
        None => md.push_str(&missing(
            "m11_displacement_targets",
            "displacement analysis",
        )),
    }
    let _ = writeln!(md);

    // Why now.
    let _ = writeln!(md, "## Why now");
    let _ = writeln!(md);
    match dep("m14_signal_scoring") {
        Some(d) => {
            let sigs = ranked(Some(d), "/signals", "/points");
            if sigs.is_empty() {
                let _ = writeln!(
                    md,
                    "No timely trigger on record: lead with fit, not urgency."
                );
            }
            for (k, s) in sigs.iter().take(5) {
                let desc = str_at(s, "/description").unwrap_or("signal");
                let noticed = if str_at(s, "/kind") == Some("change") {
                    "noticed "
                } else {
                    ""
                };
                let date = str_at(s, "/date")
                    .map(|d| format!(" ({noticed}{})", esc(d)))
                    .unwrap_or_default();
                let _ = writeln!(
                    md,
                    "- {}{}{}",
                    esc(desc),
                    date,
                    fn_.refs(ctx, "m14_signal_scoring", &format!("/signals/{k}"))
                );
            }
        }
        None => md.push_str(&missing("m14_signal_scoring", "intent signals")),
    }
    let _ = writeln!(md);

    // Who to talk to.
    let _ = writeln!(md, "## Who to talk to");
    let _ = writeln!(md);
    match dep("m10_buying_committee") {
        Some(d) => {
            let members = array_at(d, "/members");
            let line = |fn_: &mut Footnotes, label: &str, name: Option<&str>| -> Option<String> {
                let name = name?;
                let k = members
                    .iter()
                    .position(|m| str_at(m, "/name") == Some(name))?;
                let m = &members[k];
                Some(format!(
                    "- **{label}:** {}, {}: {}{}",
                    esc(name),
                    esc(str_at(m, "/title").unwrap_or("")),
                    esc(str_at(m, "/why").unwrap_or("")),
                    fn_.refs(ctx, "m10_buying_committee", &format!("/members/{k}"))
                ))
            };
            let mut any = false;
            for (label, ptr) in [
                ("Economic buyer", "/economic_buyer"),
                ("Technical buyer", "/technical_buyer"),
            ] {
                if let Some(l) = line(&mut fn_, label, str_at(d, ptr)) {
                    let _ = writeln!(md, "{l}");
                    any = true;
                }
            }
            for c in array_at(d, "/champions").iter().filter_map(Value::as_str) {
                if let Some(l) = line(&mut fn_, "Champion", Some(c)) {
                    let _ = writeln!(md, "{l}");
                    any = true;
                }
            }
            let named: Vec<&str> = [str_at(d, "/economic_buyer"), str_at(d, "/technical_buyer")]
                .into_iter()
                .flatten()
                .chain(array_at(d, "/champions").iter().filter_map(Value::as_str))
                .collect();
            let mut others: Vec<(usize, &Value)> = members
                .iter()
                .enumerate()
                .filter(|(_, m)| str_at(m, "/name").is_some_and(|n| !named.contains(&n)))
                .collect();
            others.sort_by_key(|(k, m)| (num_at(m, "/priority").unwrap_or(999.0) as i64, *k));
            for (_, m) in others {
                let label = match str_at(m, "/role") {
                    Some("economic") => "Also signs off",
                    Some("technical") => "Also evaluates",
                    Some("champion") => "Potential champion",
                    _ => "User",
                };
                if let Some(l) = line(&mut fn_, label, str_at(m, "/name")) {
                    let _ = writeln!(md, "{l}");
                    any = true;
                }
            }
            let mut seats: Vec<(usize, &Value)> =
                array_at(d, "/hiring_signals").iter().enumerate().collect();
            seats.sort_by_key(|(k, h)| (num_at(h, "/priority").unwrap_or(999.0) as i64, *k));
            // One line per persona being hired for, most important first.
            let mut personas: Vec<&str> = Vec::new();
            for (_, h) in &seats {
                if let Some(p) = str_at(h, "/persona") {
                    if !personas.contains(&p) {
                        personas.push(p);
                    }
                }
            }
            for p in personas.into_iter().take(3) {
                let group: Vec<&(usize, &Value)> = seats
                    .iter()
                    .filter(|(_, h)| str_at(h, "/persona") == Some(p))
                    .collect();
                let titles: Vec<String> = group
                    .iter()
                    .filter_map(|(_, h)| str_at(h, "/title").map(esc))
                    .collect();
                let role = group
                    .first()
                    .and_then(|(_, h)| str_at(h, "/role"))
                    .unwrap_or("");
                let why = group
                    .first()
                    .and_then(|(_, h)| str_at(h, "/why"))
                    .and_then(|w| w.rsplit_once("): ").map(|(_, w)| w).or(Some(w)))
                    .unwrap_or("");
                let refs = fn_.refs(
                    ctx,
                    "m10_buying_committee",
                    &format!("/hiring_signals/{}", group[0].0),
                );
                let _ = writeln!(
                    md,
                    "- **Hiring a {} ({role}):** {}. {}{refs}",
                    esc(p),
                    titles.join("; "),
                    esc(why)
                );
                any = true;
            }
            for g in array_at(d, "/gaps").iter().filter_map(Value::as_str) {
                let _ = writeln!(md, "- Gap: {}", esc(g));
                any = true;
            }
            if !any {
                let _ = writeln!(md, "No committee member identified yet.");
            }
        }
        None => md.push_str(&missing("m10_buying_committee", "buying committee")),
    }
    let _ = writeln!(md);

    // Proof points.
    let _ = writeln!(md, "## Proof points");
    let _ = writeln!(md);
    let studies = ranked(dep("m12_case_studies"), "/case_studies", "/score");
    match dep("m12_case_studies") {
        Some(_) if studies.is_empty() => {
            let _ = writeln!(
                md,
                "No case study in the library matches this account closely."
            );
        }
        Some(_) => {
            for (n, (k, s)) in studies.iter().enumerate() {
                let why: Vec<String> = array_at(s, "/why")
                    .iter()
                    .filter_map(|w| w.as_str().map(esc))
                    .collect();
                let _ = writeln!(
                    md,
                    "{}. **{}** ({}): {}. Why it fits: {}{}",
                    n + 1,
                    esc(str_at(s, "/customer").unwrap_or("?")),
                    esc(str_at(s, "/industry").unwrap_or("?")),
                    esc(str_at(s, "/headline").unwrap_or("")),
                    if why.is_empty() {
                        "general relevance".into()
                    } else {
                        why.join("; ")
                    },
                    fn_.refs(ctx, "m12_case_studies", &format!("/case_studies/{k}"))
                );
            }
        }
        None => md.push_str(&missing("m12_case_studies", "case studies")),
    }
    let _ = writeln!(md);

    // Fit breakdown.
    let _ = writeln!(md, "## Fit breakdown");
    let _ = writeln!(md);
    match dep("m13_icp_priority") {
        Some(d) => {
            if let Some(s) = str_at(d, "/summary") {
                let _ = writeln!(md, "{}", esc(s));
                let _ = writeln!(md);
            }
            let _ = writeln!(md, "| Factor | Weight | Fit | Evidence |");
            let _ = writeln!(md, "|---|---:|---:|---|");
            let mut factors: Vec<(usize, &Value)> =
                array_at(d, "/factors").iter().enumerate().collect();
            factors.sort_by(|a, b| {
                num_at(b.1, "/weight")
                    .unwrap_or(0.0)
                    .total_cmp(&num_at(a.1, "/weight").unwrap_or(0.0))
                    .then(a.0.cmp(&b.0))
            });
            for (k, f) in factors {
                let fit = match (f.get("known"), num_at(f, "/fit")) {
                    (Some(Value::Bool(false)), _) => "unknown".to_string(),
                    (_, Some(x)) => format!("{x}%"),
                    _ => "?".into(),
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {}{} |",
                    esc(str_at(f, "/name").unwrap_or("?")),
                    num_at(f, "/weight")
                        .map(|w| w.to_string())
                        .unwrap_or_default(),
                    fit,
                    esc(str_at(f, "/evidence").unwrap_or("")),
                    fn_.refs(ctx, "m13_icp_priority", &format!("/factors/{k}"))
                );
            }
        }
        None => md.push_str(&missing("m13_icp_priority", "ICP score")),
    }
    let _ = writeln!(md);

    // Opening line.
    let _ = writeln!(md, "## Suggested opening");
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "> {}",
        opening(
            &name,
            &product,
            targets
                .first()
                .and_then(|(_, t)| str_at(t, "/technology"))
                .or(dropped.as_deref()),
            &studies,
            dep("m14_signal_scoring"),
            dep("m13_icp_priority").and_then(|d| str_at(d, "/tier")),
        )
    );
    let _ = writeln!(md);

    // Gaps.
    let missing_ids: Vec<String> = DEPS
        .iter()
        .filter(|(id, _)| ctx.dependency(id).is_none())
        .map(|(id, _)| id.to_string())
        .collect();
    if !missing_ids.is_empty() {
        let _ = writeln!(md, "## Data gaps");
        let _ = writeln!(md);
        for (id, what) in DEPS
            .iter()
            .filter(|(id, _)| missing_ids.iter().any(|m| m == id))
        {
            let why = failed.get(id).copied().unwrap_or("no output");
            let _ = writeln!(md, "- {what} (`{id}`): {}", esc(why));
        }
        let _ = writeln!(md);
    }

    // Sources.
    let _ = writeln!(md, "## Sources");
    let _ = writeln!(md);
    for (i, c) in fn_.order.iter().enumerate() {
        let _ = writeln!(md, "{}. {}", i + 1, source_line(c));
    }
    let links: Vec<(usize, &Citation)> = fn_
        .order
        .iter()
        .enumerate()
        .filter(|(_, c)| c.source.starts_with("http") && !c.source.contains(char::is_whitespace))
        .map(|(i, c)| (i + 1, c))
        .collect();
    if !links.is_empty() {
        let _ = writeln!(md);
        for (n, c) in links {
            let _ = writeln!(md, "[{n}]: <{}>", c.source);
        }
    }
    (md, fn_.order, missing_ids)
}

/// A two-sentence opener from the strongest facts: the freshest signal (or the displaceable
/// product), then the closest proof point.
fn opening(
    name: &str,
    product: &str,
    target: Option<&str>,
    studies: &[(usize, Value)],
    signals: Option<&Value>,
    tier: Option<&str>,
) -> String {
    let mut s = String::new();
    let top = ranked(signals, "/signals", "/points").into_iter().next();
    let name = esc(name);
    // A change or a news trigger is the best opener; a plain hiring signal is weaker than
    // naming the product they run.
    let top = top.filter(|(_, sig)| {
        target.is_none() || matches!(str_at(sig, "/kind"), Some("change") | Some("trigger"))
    });
    match top.as_ref().map(|(_, v)| v) {
        Some(sig) => {
            let desc = esc(str_at(sig, "/description").unwrap_or("news"));
            let desc = desc.trim_end_matches('.');
            match str_at(sig, "/kind") {
                Some("hiring") => match desc.strip_prefix("hiring: ") {
                    Some(role) => {
                        let _ = write!(s, "Saw that {name} is hiring for the {role} role. ");
                    }
                    None => {
                        let _ = write!(s, "Saw that {name} is growing the team ({desc}). ");
                    }
                },
                Some("change") => {
                    let _ = write!(s, "Saw that {name} {desc}. ");
                }
                _ => {
                    let _ = write!(s, "Saw the news from {name}: {desc}. ");
                }
            }
        }
        None => match target {
            Some(t) => {
                let _ = write!(s, "{name} runs its site search on {}. ", esc(t));
            }
            None if matches!(tier, Some("A") | Some("B")) => {
                let _ = write!(s, "{name} looks like a strong fit for {}. ", esc(product));
            }
            None => {
                let _ = write!(
                    s,
                    "{name} is worth a first conversation about site search. "
                );
            }
        },
    }
    // Prefer the proof point that replaced the product they run.
    let study = studies
        .iter()
        .find(|(_, cs)| {
            target.is_some_and(|t| {
                array_at(cs, "/replaced")
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|r| crate::derived::same_name(r, t))
            })
        })
        .or_else(|| studies.first());
    match study {
        Some((_, cs)) => {
            let customer = esc(str_at(cs, "/customer").unwrap_or("a customer like you"));
            let headline = esc(str_at(cs, "/headline").unwrap_or("saw results fast"));
            let replaced: Vec<&str> = array_at(cs, "/replaced")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let from = target
                .and_then(|t| replaced.iter().find(|r| crate::derived::same_name(r, t)))
                .or(replaced.first());
            match from {
                Some(r) => {
                    let _ = write!(
                        s,
                        "{customer} moved from {} to {}: {headline}. Worth 20 minutes to see whether the same is possible for {name}?",
                        esc(r),
                        esc(product)
                    );
                }
                None => {
                    let _ = write!(
                        s,
                        "{customer} chose {}: {headline}. Worth 20 minutes to compare notes?",
                        esc(product)
                    );
                }
            }
        }
        None => {
            let _ = write!(
                s,
                "Worth 20 minutes to see what {} would change for {name}?",
                esc(product)
            );
        }
    }
    s
}

#[async_trait]
impl Module for StrategicBrief {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let (markdown, cites, missing) = render(&self.vendor, ctx);
        let mut out = ModuleOutput::new();
        let vendor = Citation::config("vendor", &[]);
        let footnotes: Vec<Value> = cites
            .iter()
            .enumerate()
            .map(|(i, c)| json!({"n": i + 1, "source": c.source, "provider": c.provider}))
            .collect();
        out.set("markdown", markdown, &vendor);
        out.set("footnotes", footnotes, &vendor);
        out.set("missing_modules", missing, &vendor);
        for c in &cites {
            crate::derived::cite(&mut out, c, "/markdown");
            crate::derived::cite(&mut out, c, "/footnotes");
        }
        for (id, _) in DEPS {
            if ctx.dependency(id).is_some() {
                crate::derived::cite(&mut out, &Citation::derived(id, &[]), "/markdown");
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derived::test_support::{ctx_for, failed, output};
    use pforge_core::DependencyResult;
    use std::sync::Arc;

    fn vendor() -> VendorConfig {
        toml::from_str(r#"product = "Lumora Search""#).unwrap()
    }

    fn with_cite(data: Value, src: &str, covers: &[&str]) -> DependencyResult {
        let mut o = output(data, "config:vendor");
        o.sources.push(Citation {
            source: src.into(),
            provider: "homepage".into(),
            fetched_at: chrono::Utc::now(),
            covers: covers.iter().map(|s| s.to_string()).collect(),
            canonical: None,
            via: Vec::new(),
        });
        DependencyResult::Ready(Arc::new(o))
    }

    #[tokio::test]
    async fn brief_cites_underlying_urls_and_names_failed_sections() {
        let m = StrategicBrief::new(&vendor());
        let mut deps: Vec<(&str, DependencyResult)> = DEPS
            .iter()
            .map(|(id, _)| (*id, failed("provider not configured")))
            .collect();
        let set = |deps: &mut Vec<(&str, DependencyResult)>, id: &str, d: DependencyResult| {
            if let Some(x) = deps.iter_mut().find(|(k, _)| *k == id) {
                x.1 = d;
            }
        };
        set(
            &mut deps,
            "m01_company_context",
            with_cite(
                json!({"name": "TechStart Inc", "description": "Release platform [click](javascript:x) <b>", "founded_year": 2017}),
                "https://techstart.io/",
                &["/name", "/description", "/founded_year"],
            ),
        );
        set(
            &mut deps,
            "m11_displacement_targets",
            with_cite(
                json!({"targets": [{"technology": "Algolia", "detected_by": "`content-security-policy` response header `*.algolia.net`", "angle": "half the cost"}]}),
                "https://techstart.io/",
                &["/targets/0"],
            ),
        );
        set(
            &mut deps,
            "m12_case_studies",
            with_cite(
                json!({"case_studies": [{"id": "d", "customer": "DevTool", "industry": "Software", "headline": "search cost halved", "replaced": ["Algolia"], "why": ["replaced Algolia, which this account runs today"]}]}),
                "https://lumora.example/customers/devtool",
                &["/case_studies/0"],
            ),
        );
        let ctx = ctx_for("techstart.io", deps);
        let out = m.run(&ctx).await.unwrap();
        out.check_cited().unwrap();
        let md = out.data["markdown"].as_str().unwrap();
        assert!(
            md.starts_with("# TechStart Inc (techstart.io): account brief"),
            "{md}"
        );
        assert!(
            md.contains("**Play:** displace Algolia with Lumora Search"),
            "{md}"
        );
        assert!(
            md.contains("\\[click\\](javascript:x) \\<b\\>"),
            "escaped: {md}"
        );
        assert!(md.contains("- **Algolia**: detected from `content-security-policy` response header `*.algolia.net`[1]. Angle: half the cost"), "{md}");
        assert!(md.contains("1. **DevTool** (Software): search cost halved. Why it fits: replaced Algolia, which this account runs today[2]"), "{md}");
        assert!(md.contains("1. <https://techstart.io/> (homepage)"), "{md}");
        assert!(
            md.contains("[2]: <https://lumora.example/customers/devtool>"),
            "{md}"
        );
        assert!(md.contains("_No buying committee available: `m10_buying_committee` failed (provider not configured)._"), "{md}");
        assert!(md.contains("## Data gaps"), "{md}");
        assert!(
            md.contains("DevTool moved from Algolia to Lumora Search: search cost halved."),
            "{md}"
        );
        assert_eq!(out.data["footnotes"][0]["source"], "https://techstart.io/");
        assert!(out.data["missing_modules"].as_array().unwrap().len() == 11);
        assert!(out
            .sources
            .iter()
            .any(|c| c.source == "https://lumora.example/customers/devtool"));
        // No volatile values: rendering twice gives the same text.
        let again = m.run(&ctx).await.unwrap();
        assert_eq!(again.data, out.data);
    }

    #[tokio::test]
    async fn everything_missing_still_renders() {
        let m = StrategicBrief::new(&vendor());
        let deps = DEPS.iter().map(|(id, _)| (*id, failed("x"))).collect();
        let out = m.run(&ctx_for("acme.com", deps)).await.unwrap();
        out.check_cited().unwrap();
        let md = out.data["markdown"].as_str().unwrap();
        assert!(md.starts_with("# acme.com: account brief"), "{md}");
        assert!(md.contains("**Play:** introduce Lumora Search"));
        assert_eq!(md.matches("failed (x)").count(), 9, "{md}");
    }

    #[tokio::test]
    async fn matched_entities_show_method_evidence_and_confidence() {
        let m = StrategicBrief::new(&vendor());
        let mut deps: Vec<(&str, DependencyResult)> =
            DEPS.iter().map(|(id, _)| (*id, failed("x"))).collect();
        let set = |deps: &mut Vec<(&str, DependencyResult)>, id: &str, d: DependencyResult| {
            if let Some(x) = deps.iter_mut().find(|(k, _)| *k == id) {
                x.1 = d;
            }
        };
        let apple = crate::resolution::EntityLink::new(
            "sec_filer",
            "0000320193",
            Some("Apple Inc.".into()),
            "own_name",
            vec!["the company's name \"Apple Inc.\" (the input file's name column) equals SEC's title \"Apple Inc.\" after normalization".into()],
            crate::resolution::Confidence::Probable,
        );
        set(
            &mut deps,
            "m04_financials",
            with_cite(
                json!({"sec_filer": true, "confidence": "probable", "tickers": ["AAPL"], "exchanges": ["Nasdaq"], "entity_links": [apple.to_json()]}),
                "https://data.sec.gov/submissions/CIK0000320193.json",
                &["/sec_filer", "/tickers", "/entity_links", "/confidence"],
            ),
        );
        let board = crate::resolution::EntityLink::new(
            "job_board",
            "greenhouse:acme",
            Some("acme".into()),
            "board_token_from_domain",
            vec!["a board named \"acme\" exists, guessed from the domain's label; nothing names the company".into()],
            crate::resolution::Confidence::Possible,
        );
        set(
            &mut deps,
            "m06_hiring",
            with_cite(
                json!({"open_jobs": 0, "entity_links": [board.to_json()]}),
                "https://boards-api.greenhouse.io/v1/boards/acme/jobs?content=true",
                &["/open_jobs", "/entity_links"],
            ),
        );
        let out = m.run(&ctx_for("apple.com", deps)).await.unwrap();
        out.check_cited().unwrap();
        let md = out.data["markdown"].as_str().unwrap();
        assert!(md.contains("## Matched entities"), "{md}");
        assert!(
            md.contains("- Public company (probable match, see Matched entities) (Nasdaq: AAPL)"),
            "{md}"
        );
        assert!(md.contains("- SEC filer: Apple Inc. (0000320193): **probable**, the company's own name equals the entity's name; attached. Evidence: the company's name \"Apple Inc.\" (the input file's name column)"), "{md}");
        assert!(md.contains("- Job board: acme (greenhouse:acme): **possible**, board named like the domain only; not confirmed, nothing attached (pin it to confirm)."), "{md}");
        assert!(
            md.contains("<https://data.sec.gov/submissions/CIK0000320193.json>"),
            "{md}"
        );
    }

    #[tokio::test]
    async fn a_possible_filer_is_offered_not_called_private() {
        let m = StrategicBrief::new(&vendor());
        let mut deps: Vec<(&str, DependencyResult)> =
            DEPS.iter().map(|(id, _)| (*id, failed("x"))).collect();
        if let Some(x) = deps.iter_mut().find(|(k, _)| *k == "m04_financials") {
            x.1 = with_cite(
                json!({"sec_filer": false, "possible_matches": [{"cik": "0000858877", "title": "CISCO SYSTEMS, INC."}]}),
                "https://www.sec.gov/files/company_tickers.json",
                &["/sec_filer", "/possible_matches"],
            );
        }
        let out = m.run(&ctx_for("cisco.com", deps)).await.unwrap();
        let md = out.data["markdown"].as_str().unwrap();
        assert!(md.contains("- Not a confirmed SEC filer: possible match CISCO SYSTEMS, INC. (CIK 0000858877), not confirmed, nothing attached[1]"), "{md}");
        assert!(!md.contains("Private company"), "{md}");
    }

    #[test]
    fn escaping() {
        assert_eq!(esc("a*b_c\n# d"), "a\\*b\\_c # d");
    }
}
