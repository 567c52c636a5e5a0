//! M06 hiring: the company's open roles from its public job board (Greenhouse, Lever or Ashby),
//! counted by department and location, the growth since the last stored version, and the roles
//! whose titles signal a buying need (search, relevance, e-commerce, platform engineering, ...).
//!
//! The board is found the way a person would: an ATS link on the homepage, else on the careers
//! page (linked from the homepage, or `/careers`), else a board named after the domain's first
//! label. Not finding a board is a normal answer (no jobs, with a note); a board that was found but
//! whose API fails is the module's error, so that a provider outage never looks like "every job
//! was closed".

use crate::clients::cite::attempted;
use crate::clients::site::{fetch_site_page, link_path, page_links, site_url, PageLink};
use crate::resolution::{normalize_company_name, same_name, Confidence, EntityLink};
use crate::ModulesError;
use async_trait::async_trait;
use pforge_budget::{Call, GatewayError, Response};
use pforge_core::{
    Citation, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec, SetArray,
};
use regex::Regex;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use url::Url;

const ID: &str = "m06_hiring";

/// `[hiring]` in `pforge.toml`: which job titles signal a buying need, and what growth counts as
/// a surge.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HiringConfig {
    /// Words or phrases matched (case-insensitively, on word boundaries) against job titles.
    pub signal_keywords: Vec<String>,
    /// Growth in open roles since the last version, in percent, that counts as a hiring surge.
    pub surge_pct: f64,
}

impl Default for HiringConfig {
    fn default() -> Self {
        HiringConfig {
            signal_keywords: [
                "search",
                "relevance",
                "ranking",
                "discovery",
                "recommendation",
                "recommendations",
                "personalization",
                "e-commerce",
                "ecommerce",
                "merchandising",
                "catalog",
                "platform engineer",
                "platform engineering",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            surge_pct: 40.0,
        }
    }
}

/// The hiring module (`m06_hiring`).
pub struct Hiring {
    spec: ModuleSpec,
    signal: Option<Regex>,
    surge_pct: f64,
}

impl Hiring {
    /// Builds the module; fails only if the keyword list cannot form a pattern.
    pub fn new(cfg: &HiringConfig) -> Result<Self, ModulesError> {
        Ok(Hiring {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Hiring".into(),
                dependencies: Vec::new(),
                providers: vec![
                    "homepage".into(),
                    "greenhouse".into(),
                    "lever".into(),
                    "ashby".into(),
                ],
                runs_degraded: true,
                set_arrays: vec![
                    SetArray::keyed("/jobs", "id"),
                    SetArray::keyed("/signal_jobs", "id"),
                    SetArray::scalars("/signal_jobs/*/keywords"),
                    SetArray::scalars("/growth/new_signal_jobs"),
                    SetArray::scalars("/jobs/*/other_locations"),
                    SetArray::keyed("/entity_links", "key"),
                    SetArray::scalars("/notes"),
                ],
            },
            signal: keyword_regex(&cfg.signal_keywords).map_err(|reason| ModulesError::Config {
                section: "[hiring] signal_keywords".into(),
                reason,
            })?,
            surge_pct: cfg.surge_pct,
        })
    }
}

/// `(?i)\b(?:kw1|kw2)\b`, longest keywords first so that phrases win over their words.
fn keyword_regex(keywords: &[String]) -> Result<Option<Regex>, String> {
    let mut kws: Vec<&str> = keywords
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .collect();
    if kws.is_empty() {
        return Ok(None);
    }
    kws.sort_by_key(|k| std::cmp::Reverse(k.len()));
    let alt: Vec<String> = kws.iter().map(|k| regex::escape(k)).collect();
    Regex::new(&format!(r"(?i)\b(?:{})\b", alt.join("|")))
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Keywords (lower case, deduplicated) a title matches.
fn signal_keywords(re: Option<&Regex>, title: &str) -> Vec<String> {
    let Some(re) = re else { return Vec::new() };
    let set: BTreeSet<String> = re
        .find_iter(title)
        .map(|m| m.as_str().to_lowercase())
        .collect();
    set.into_iter().collect()
}

// ------------------------------------------------------------------ job boards

/// The applicant-tracking systems whose public job-board APIs are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ats {
    Greenhouse,
    Lever,
    Ashby,
}

impl Ats {
    fn provider(self) -> &'static str {
        match self {
            Ats::Greenhouse => "greenhouse",
            Ats::Lever => "lever",
            Ats::Ashby => "ashby",
        }
    }
}

/// A job board: which ATS and the company's token on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Board {
    pub ats: Ats,
    pub token: String,
}

impl Board {
    fn public_url(&self) -> String {
        match self.ats {
            Ats::Greenhouse => format!("https://boards.greenhouse.io/{}", self.token),
            Ats::Lever => format!("https://jobs.lever.co/{}", self.token),
            Ats::Ashby => format!("https://jobs.ashbyhq.com/{}", self.token),
        }
    }

    fn call(&self, domain: &str) -> Call {
        let c = match self.ats {
            Ats::Greenhouse => Call::get("greenhouse", format!("/v1/boards/{}/jobs", self.token))
                .query("content", "true"),
            Ats::Lever => {
                Call::get("lever", format!("/v0/postings/{}", self.token)).query("mode", "json")
            }
            Ats::Ashby => Call::get("ashby", format!("/posting-api/job-board/{}", self.token)),
        };
        c.for_domain(domain).by_module(ID)
    }
}

fn valid_token(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 100
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The job board a URL points at: board pages (`boards.greenhouse.io/x`,
/// `job-boards.greenhouse.io/x`, `jobs.lever.co/x`, `jobs.ashbyhq.com/x`), Greenhouse embeds
/// (`.../embed/job_board?for=x`) and the APIs themselves.
pub(crate) fn board_from_url(url: &Url) -> Option<Board> {
    let host = url.host_str()?.to_ascii_lowercase();
    let segs: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    let (ats, token) = match host.as_str() {
        "boards.greenhouse.io" | "job-boards.greenhouse.io" | "job-boards.eu.greenhouse.io" => {
            if segs.first() == Some(&"embed") {
                let t = url
                    .query_pairs()
                    .find(|(k, _)| k == "for")
                    .map(|(_, v)| v.into_owned())?;
                (Ats::Greenhouse, t)
            } else {
                (Ats::Greenhouse, segs.first()?.to_string())
            }
        }
        "boards-api.greenhouse.io" => {
            let i = segs.iter().position(|s| *s == "boards")?;
            (Ats::Greenhouse, segs.get(i + 1)?.to_string())
        }
        "jobs.lever.co" | "jobs.eu.lever.co" => (Ats::Lever, segs.first()?.to_string()),
        "api.lever.co" => (Ats::Lever, segs.get(2)?.to_string()),
        "jobs.ashbyhq.com" => (Ats::Ashby, segs.first()?.to_string()),
        "api.ashbyhq.com" => (Ats::Ashby, segs.get(2)?.to_string()),
        _ => return None,
    };
    valid_token(&token).then_some(Board { ats, token })
}

fn is_careers_link(domain: &str, l: &PageLink) -> Option<String> {
    let path = link_path(domain, &l.url)?;
    let lower = path.to_ascii_lowercase();
    let seg_hit = lower.split('/').any(|s| {
        matches!(
            s,
            "careers" | "career" | "jobs" | "join-us" | "joinus" | "work-with-us"
        )
    });
    let text = l.text.to_ascii_lowercase();
    let text_hit = matches!(
        text.as_str(),
        "careers" | "jobs" | "join us" | "we're hiring" | "work with us"
    );
    (seg_hit || text_hit).then_some(path)
}

/// One open role.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Job {
    pub id: String,
    pub title: String,
    pub department: Option<String>,
    pub location: Option<String>,
    pub url: Option<String>,
    /// Further locations (Ashby `secondaryLocations`, Lever `allLocations`, Greenhouse offices).
    pub other_locations: Vec<String>,
    /// Lever `team` / Ashby `team` when it differs from the department.
    pub team: Option<String>,
    /// Lever `commitment` / Ashby `employmentType`.
    pub commitment: Option<String>,
    /// Whether the board's answer carried departments for this job at all (Greenhouse sends
    /// them only with `content=true`).
    pub departments_known: bool,
    /// The company name the board gives (Greenhouse `company_name`).
    pub company_name: Option<String>,
}

fn text(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?;
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    (!s.is_empty()).then_some(s)
}

fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses a Greenhouse `GET /v1/boards/{token}/jobs` answer. Jobs without an id or title are
/// skipped; an answer without a `jobs` list is an error.
pub(crate) fn parse_greenhouse(v: &Value) -> Result<Vec<Job>, String> {
    let jobs = v
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or("Greenhouse answer has no \"jobs\" list")?;
    Ok(jobs
        .iter()
        .filter_map(|j| {
            let location = text(j.get("location").and_then(|l| l.get("name")));
            let offices: Vec<String> = j
                .get("offices")
                .and_then(Value::as_array)
                .map(|o| o.iter().filter_map(|x| text(x.get("name"))).collect())
                .unwrap_or_default();
            Some(Job {
                id: format!("greenhouse:{}", id_text(j.get("id"))?),
                title: text(j.get("title"))?,
                department: j
                    .get("departments")
                    .and_then(Value::as_array)
                    .and_then(|d| d.iter().find_map(|x| text(x.get("name")))),
                other_locations: offices
                    .into_iter()
                    .filter(|o| Some(o) != location.as_ref())
                    .collect(),
                location,
                url: text(j.get("absolute_url")),
                team: None,
                commitment: None,
                departments_known: j.get("departments").is_some_and(Value::is_array),
                company_name: text(j.get("company_name")),
            })
        })
        .collect())
}

/// Parses a Lever `GET /v0/postings/{company}?mode=json` answer (a JSON array of postings).
pub(crate) fn parse_lever(v: &Value) -> Result<Vec<Job>, String> {
    let jobs = v
        .as_array()
        .ok_or_else(|| match v.get("error").and_then(Value::as_str) {
            Some(e) => format!("Lever answered an error: {e}"),
            None => "Lever answer is not a list of postings".to_string(),
        })?;
    Ok(jobs
        .iter()
        .filter_map(|j| {
            let cat = j.get("categories");
            let location = text(cat.and_then(|c| c.get("location")));
            let department = text(cat.and_then(|c| c.get("department")));
            let team = text(cat.and_then(|c| c.get("team")));
            let all: Vec<String> = cat
                .and_then(|c| c.get("allLocations"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|x| text(Some(x))).collect())
                .unwrap_or_default();
            Some(Job {
                id: format!("lever:{}", id_text(j.get("id"))?),
                title: text(j.get("text"))?,
                department: department.clone().or_else(|| team.clone()),
                other_locations: all
                    .into_iter()
                    .filter(|l| Some(l) != location.as_ref())
                    .collect(),
                location,
                url: text(j.get("hostedUrl")),
                team: team.filter(|t| Some(t) != department.as_ref()),
                commitment: text(cat.and_then(|c| c.get("commitment"))),
                departments_known: true,
                company_name: None,
            })
        })
        .collect())
}

/// Parses an Ashby `GET /posting-api/job-board/{name}` answer; unlisted postings are skipped.
pub(crate) fn parse_ashby(v: &Value) -> Result<Vec<Job>, String> {
    let jobs = v
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or("Ashby answer has no \"jobs\" list")?;
    Ok(jobs
        .iter()
        .filter(|j| j.get("isListed").and_then(Value::as_bool) != Some(false))
        .filter_map(|j| {
            let location = text(j.get("location"));
            let department = text(j.get("department"));
            let team = text(j.get("team"));
            let secondary: Vec<String> = j
                .get("secondaryLocations")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|x| text(x.get("location"))).collect())
                .unwrap_or_default();
            Some(Job {
                id: format!("ashby:{}", id_text(j.get("id"))?),
                title: text(j.get("title"))?,
                department: department.clone().or_else(|| team.clone()),
                other_locations: secondary
                    .into_iter()
                    .filter(|l| Some(l) != location.as_ref())
                    .collect(),
                location,
                url: text(j.get("jobUrl")),
                team: team.filter(|t| Some(t) != department.as_ref()),
                commitment: text(j.get("employmentType")),
                departments_known: true,
                company_name: None,
            })
        })
        .collect())
}

fn parse_board(ats: Ats, v: &Value) -> Result<Vec<Job>, String> {
    match ats {
        Ats::Greenhouse => parse_greenhouse(v),
        Ats::Lever => parse_lever(v),
        Ats::Ashby => parse_ashby(v),
    }
}

enum BoardError {
    /// 404: no such board.
    NotFound(Citation),
    Gateway(GatewayError),
    Parse(String, Citation),
}

async fn fetch_board(
    ctx: &ModuleContext,
    board: &Board,
) -> Result<(Response, Vec<Job>), BoardError> {
    if !ctx.gateway.has_provider(board.ats.provider()) {
        return Err(BoardError::Gateway(GatewayError::UnknownProvider(
            board.ats.provider().to_string(),
        )));
    }
    let call = board.call(ctx.domain.as_str());
    let resp = match ctx.gateway.fetch(&call).await {
        Ok(r) => r,
        Err(e) if e.status() == Some(404) => {
            return Err(BoardError::NotFound(attempted(ctx, &call)))
        }
        Err(e) => return Err(BoardError::Gateway(e)),
    };
    let cite = Citation::from_response(&resp, &[]);
    let v: Value = match resp.json() {
        Ok(v) => v,
        Err(e) => return Err(BoardError::Parse(e.to_string(), cite)),
    };
    match parse_board(board.ats, &v) {
        Ok(jobs) => Ok((resp, jobs)),
        Err(e) => Err(BoardError::Parse(e, cite)),
    }
}

/// Board tokens a domain suggests: `blueharbor-health.com` -> `blueharbor-health`,
/// `blueharborhealth`.
/// The citation of the board answer (or the page that named the board).
fn data_cite_of(
    answer: &Option<(Response, Vec<Job>)>,
    found: &Option<(Board, String, Citation)>,
) -> Citation {
    match (answer, found) {
        (Some((resp, _)), _) => Citation::from_response(resp, &[]),
        (None, Some((_, _, c))) => c.clone(),
        (None, None) => Citation::config("providers.greenhouse", &[]),
    }
}

fn guessed_tokens(domain: &str) -> Vec<String> {
    let label = domain.split('.').next().unwrap_or_default().to_lowercase();
    let mut v = vec![label.clone()];
    let joined = label.replace(['-', '_'], "");
    if joined != label {
        v.push(joined);
    }
    v.retain(|t| valid_token(t));
    v
}

/// Growth since the previous version. When the set of jobs is the same as last time, the
/// previous growth is kept as is, so that re-running on unchanged data changes nothing.
fn growth(prev: Option<&Value>, jobs: &[Value], surge_pct: f64) -> Value {
    let Some(prev) = prev else {
        return Value::Null;
    };
    let ids = |list: Option<&Value>| -> BTreeSet<String> {
        list.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|j| j.get("id").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let cur_ids: BTreeSet<String> = jobs
        .iter()
        .filter_map(|j| j.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let prev_ids = ids(prev.get("jobs"));
    if cur_ids == prev_ids {
        return prev.get("growth").cloned().unwrap_or(Value::Null);
    }
    let Some(prev_open) = prev.get("open_jobs").and_then(Value::as_i64) else {
        return Value::Null;
    };
    let open = jobs.len() as i64;
    let change = open - prev_open;
    let pct = (prev_open > 0).then(|| (change as f64 * 1000.0 / prev_open as f64).round() / 10.0);
    let prev_signal = ids(prev.get("signal_jobs"));
    let new_signal: Vec<String> = jobs
        .iter()
        .filter(|j| {
            j.get("signal").and_then(Value::as_bool) == Some(true)
                && j.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| !prev_signal.contains(id))
        })
        .filter_map(|j| j.get("title").and_then(Value::as_str).map(str::to_string))
        .collect();
    json!({
        "previous_open_jobs": prev_open,
        "change": change,
        "change_pct": pct,
        "jobs_added": cur_ids.difference(&prev_ids).count(),
        "jobs_removed": prev_ids.difference(&cur_ids).count(),
        "surge": change > 0 && pct.is_some_and(|p| p >= surge_pct),
        "new_signal_jobs": new_signal,
    })
}

fn counts<'a>(it: impl Iterator<Item = &'a Option<String>>) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for k in it {
        *m.entry(k.clone().unwrap_or_else(|| "Unspecified".into()))
            .or_insert(0) += 1;
    }
    m
}

#[async_trait]
impl Module for Hiring {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let domain = ctx.domain.as_str().to_string();
        let mut notes: Vec<(String, Citation)> = Vec::new();
        // (board, how it was found, citation of the page that named it)
        let mut found: Option<(Board, String, Citation)> = None;
        let mut careers_candidates: Vec<String> = Vec::new();

        match fetch_site_page(ctx, ID, "/").await {
            Ok(page) => {
                let cite = Citation::from_response(&page, &[]);
                let base = site_url(&domain, "/");
                let links = base
                    .map(|b| page_links(&page.text(), &b))
                    .unwrap_or_default();
                if let Some(b) = links.iter().find_map(|l| board_from_url(&l.url)) {
                    found = Some((b, "homepage link".into(), cite));
                } else {
                    for l in &links {
                        if let Some(p) = is_careers_link(&domain, l) {
                            if !careers_candidates.contains(&p) {
                                careers_candidates.push(p);
                            }
                        }
                    }
                }
            }
            Err((e, call)) => notes.push((
                format!("homepage unavailable ({e}): careers links not read"),
                attempted(ctx, &call),
            )),
        }

        if found.is_none() {
            let path = careers_candidates
                .first()
                .cloned()
                .unwrap_or_else(|| "/careers".into());
            let linked = !careers_candidates.is_empty();
            match fetch_site_page(ctx, ID, &path).await {
                Ok(page) => {
                    let cite = Citation::from_response(&page, &[]);
                    let links = site_url(&domain, &path)
                        .map(|b| page_links(&page.text(), &b))
                        .unwrap_or_default();
                    match links.iter().find_map(|l| board_from_url(&l.url)) {
                        Some(b) => found = Some((b, format!("careers page {path}"), cite)),
                        None => notes.push((
                            format!(
                                "careers page {path} links no Greenhouse, Lever or Ashby board"
                            ),
                            cite,
                        )),
                    }
                }
                Err((e, call)) => {
                    let what = if linked {
                        "careers page"
                    } else {
                        "no careers link on the homepage;"
                    };
                    let why = match e.status() {
                        Some(404) => "answered 404".to_string(),
                        _ => format!("failed: {e}"),
                    };
                    notes.push((format!("{what} {path} {why}"), attempted(ctx, &call)));
                }
            }
        }

        let mut board_answer: Option<(Response, Vec<Job>)> = None;
        if let Some((b, _, _)) = &found {
            match fetch_board(ctx, b).await {
                Ok(x) => board_answer = Some(x),
                Err(BoardError::NotFound(c)) => notes.push((
                    format!(
                        "the linked {} board {:?} does not exist (404)",
                        b.ats.provider(),
                        b.token
                    ),
                    c,
                )),
                Err(BoardError::Gateway(e)) => return Err(e.into()),
                Err(BoardError::Parse(e, c)) => {
                    return Err(ModuleError::parse(c.source, e));
                }
            }
        } else {
            let tokens = guessed_tokens(&domain);
            'guess: for t in &tokens {
                for ats in [Ats::Greenhouse, Ats::Lever, Ats::Ashby] {
                    if !ctx.gateway.has_provider(ats.provider()) {
                        continue;
                    }
                    let b = Board {
                        ats,
                        token: t.clone(),
                    };
                    match fetch_board(ctx, &b).await {
                        Ok((resp, jobs)) => {
                            let c = Citation::from_response(&resp, &[]);
                            found = Some((b, "guessed from the domain".into(), c));
                            board_answer = Some((resp, jobs));
                            break 'guess;
                        }
                        Err(BoardError::NotFound(_)) => {}
                        Err(BoardError::Gateway(e)) => {
                            let c = Citation::config(&format!("providers.{}", ats.provider()), &[]);
                            notes.push((format!("guessed {} board {t:?}: {e}", ats.provider()), c));
                        }
                        Err(BoardError::Parse(e, c)) => {
                            notes.push((format!("guessed {} board {t:?}: {e}", ats.provider()), c))
                        }
                    }
                }
            }
            if found.is_none() {
                let c =
                    Citation::config("providers.greenhouse,providers.lever,providers.ashby", &[]);
                notes.push((
                    format!(
                        "no job board found: no Greenhouse, Lever or Ashby link on the homepage or careers page, and no board named {}",
                        tokens.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(" or ")
                    ),
                    c,
                ));
            }
        }

        let mut out = ModuleOutput::new();
        let mut jobs: Vec<Job> = board_answer
            .as_ref()
            .map(|(_, j)| j.clone())
            .unwrap_or_default();
        // How sure the board is the company's: linked from its own site, or (guessed from the
        // domain) named like the company by the user's input or by the board itself.
        let link = found.as_ref().map(|(b, via, c)| {
            let id = format!("{}:{}", b.ats.provider(), b.token);
            let token = normalize_company_name(&b.token);
            if via != "guessed from the domain" {
                let l = EntityLink::new(
                    "job_board",
                    id,
                    Some(b.token.clone()),
                    "linked_from_site",
                    vec![format!("the company's own site links the board ({via}, {})", c.source)],
                    Confidence::Confirmed,
                );
                return l;
            }
            let board_name = jobs.iter().find_map(|j| j.company_name.clone());
            let own = ctx.hints().name.clone();
            let named = own
                .iter()
                .find(|n| {
                    normalize_company_name(n) == token
                        || board_name.as_deref().is_some_and(|bn| same_name(n, bn))
                })
                .cloned();
            match named {
                Some(n) => EntityLink::new(
                    "job_board",
                    id,
                    Some(b.token.clone()),
                    "board_token_and_name",
                    vec![
                        format!("a board named {:?} exists (guessed from the domain)", b.token),
                        format!("the name {n:?} matches the board"),
                    ],
                    Confidence::Probable,
                ),
                None => EntityLink::new(
                    "job_board",
                    id,
                    Some(b.token.clone()),
                    "board_token_from_domain",
                    vec![format!(
                        "a board named {:?} exists, guessed from the domain's label; nothing names the company",
                        b.token
                    )],
                    Confidence::Possible,
                ),
            }
        });
        if let Some(l) = link.as_ref().filter(|l| !l.attached) {
            if !jobs.is_empty() {
                notes.push((
                    format!(
                        "possible job board: {} ({} jobs), not confirmed: only the domain's label matches; its jobs are not attached",
                        l.id,
                        jobs.len()
                    ),
                    data_cite_of(&board_answer, &found),
                ));
            }
            jobs.clear();
        }
        let departments_known = jobs.is_empty() || jobs.iter().any(|j| j.departments_known);
        if !departments_known {
            notes.push((
                "departments unavailable: the Greenhouse board answered without departments or offices (asked with content=true)".into(),
                data_cite_of(&board_answer, &found),
            ));
        }
        let data_cite = match (&board_answer, &found, notes.last()) {
            (Some((resp, _)), _, _) => Citation::from_response(resp, &[]),
            (None, Some((_, _, c)), _) => c.clone(),
            (None, None, Some((_, c))) => c.clone(),
            (None, None, None) => Citation::config("providers.greenhouse", &[]),
        };
        out.set(
            "entity_links",
            link.iter().map(EntityLink::to_json).collect::<Vec<_>>(),
            &data_cite,
        );
        match &found {
            Some((b, via, c)) => {
                out.set(
                    "board",
                    json!({"provider": b.ats.provider(), "token": b.token, "url": b.public_url(), "found_via": via}),
                    c,
                );
                crate::clients::cite::cover(&mut out, &data_cite, "/board");
            }
            None => {
                out.set("board", Value::Null, &data_cite);
            }
        }

        let job_values: Vec<Value> = jobs
            .iter()
            .map(|j| {
                let kws = signal_keywords(self.signal.as_ref(), &j.title);
                json!({
                    "id": j.id,
                    "title": j.title,
                    "department": j.department,
                    "location": j.location,
                    "other_locations": j.other_locations,
                    "team": j.team,
                    "commitment": j.commitment,
                    "url": j.url,
                    "signal": !kws.is_empty(),
                })
            })
            .collect();
        let signal_jobs: Vec<Value> = jobs
            .iter()
            .filter_map(|j| {
                let kws = signal_keywords(self.signal.as_ref(), &j.title);
                (!kws.is_empty()).then(|| json!({"id": j.id, "title": j.title, "keywords": kws}))
            })
            .collect();
        out.set("open_jobs", jobs.len(), &data_cite);
        out.set(
            "departments",
            if departments_known {
                json!(counts(jobs.iter().map(|j| &j.department)))
            } else {
                Value::Null
            },
            &data_cite,
        );
        out.set("departments_available", departments_known, &data_cite);
        // Every location a job lists counts (Ashby secondary locations, Lever allLocations).
        let all_locations: Vec<Option<String>> = jobs
            .iter()
            .flat_map(|j| {
                std::iter::once(j.location.clone())
                    .chain(j.other_locations.iter().cloned().map(Some))
            })
            .collect();
        out.set("locations", json!(counts(all_locations.iter())), &data_cite);
        out.set("signal_jobs", signal_jobs, &data_cite);
        let g = growth(ctx.previous(), &job_values, self.surge_pct);
        out.set("jobs", job_values, &data_cite);
        out.set("growth", g, &Citation::derived(ID, &[]));
        crate::clients::cite::cover(&mut out, &data_cite, "/growth");
        let texts: Vec<String> = notes.iter().map(|(t, _)| t.clone()).collect();
        out.set("notes", texts, &data_cite);
        for (_, c) in &notes {
            crate::clients::cite::cover(&mut out, c, "/notes");
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_json(rel: &str) -> Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(rel);
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn board_links() {
        let b = |s: &str| board_from_url(&u(s)).map(|b| (b.ats, b.token));
        assert_eq!(
            b("https://boards.greenhouse.io/techstart"),
            Some((Ats::Greenhouse, "techstart".into()))
        );
        assert_eq!(
            b("https://job-boards.greenhouse.io/techstart/jobs/123"),
            Some((Ats::Greenhouse, "techstart".into()))
        );
        assert_eq!(
            b("https://boards.greenhouse.io/embed/job_board/js?for=globexlogistics"),
            Some((Ats::Greenhouse, "globexlogistics".into()))
        );
        assert_eq!(b("https://boards.greenhouse.io/embed/job_board/js"), None);
        assert_eq!(
            b("https://boards-api.greenhouse.io/v1/boards/acme/jobs"),
            Some((Ats::Greenhouse, "acme".into()))
        );
        assert_eq!(
            b("https://jobs.lever.co/northwind-retail/abc"),
            Some((Ats::Lever, "northwind-retail".into()))
        );
        assert_eq!(
            b("https://jobs.ashbyhq.com/initech"),
            Some((Ats::Ashby, "initech".into()))
        );
        assert_eq!(b("https://jobs.lever.co/"), None);
        assert_eq!(b("https://example.com/careers"), None);
        assert_eq!(b("https://jobs.lever.co/bad%20token"), None);
    }

    #[test]
    fn links_resolve_against_the_public_site_and_careers_links_are_found() {
        let html = r##"<a href="/careers">Careers</a><a href="https://www.acme.com/jobs/">x</a>
            <a href="https://other.com/careers">c</a><a href="#top">t</a><a href="mailto:a@b">m</a>
            <a href="/team">Join us</a><script src="https://boards.greenhouse.io/embed/job_board/js?for=acme"></script>
            <a href="http://[bad">broken</a><p><a href=/unclosed>Jobs"##;
        let links = page_links(html, &u("https://acme.com/"));
        assert_eq!(links[0].url.as_str(), "https://acme.com/careers");
        let careers: Vec<String> = links
            .iter()
            .filter_map(|l| is_careers_link("acme.com", l))
            .collect();
        assert_eq!(careers, vec!["/careers", "/jobs/", "/team", "/unclosed"]);
        assert!(links.iter().any(|l| board_from_url(&l.url).is_some()));
    }

    #[test]
    fn greenhouse_real_shape() {
        let v = fixture_json("epoch1/greenhouse/techstart-jobs.json");
        let jobs = parse_greenhouse(&v).unwrap();
        assert_eq!(jobs.len(), 10);
        assert_eq!(jobs[0].id, "greenhouse:4012001");
        assert_eq!(jobs[0].department.as_deref(), Some("Engineering"));
        assert_eq!(jobs[0].location.as_deref(), Some("San Francisco, CA"));
        assert_eq!(
            jobs[0].url.as_deref(),
            Some("https://boards.greenhouse.io/techstart/jobs/4012001")
        );
        let empty = fixture_json("epoch1/greenhouse/blueharbor-health-jobs.json");
        assert!(parse_greenhouse(&empty).unwrap().is_empty());
        // Missing fields: jobs without id/title are skipped, missing departments are None.
        let odd = json!({"jobs": [{"id": 1}, {"title": "x"}, {"id": "7", "title": "  Data   Engineer "}]});
        let jobs = parse_greenhouse(&odd).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].title, "Data Engineer");
        assert_eq!(jobs[0].department, None);
        assert!(parse_greenhouse(&json!({"status": 404})).is_err());
        assert!(parse_greenhouse(&json!("garbage")).is_err());
    }

    #[test]
    fn lever_and_ashby_real_shapes() {
        let v = fixture_json("epoch1/lever/northwind-retail-postings.json");
        let jobs = parse_lever(&v).unwrap();
        assert_eq!(jobs.len(), 6);
        assert_eq!(jobs[0].title, "Senior Software Engineer, Site Search");
        assert_eq!(jobs[0].department.as_deref(), Some("Technology"));
        assert!(
            parse_lever(&json!({"ok": false, "error": "Document not found"}))
                .unwrap_err()
                .contains("Document not found")
        );
        let v = fixture_json("epoch1/ashby/initech-jobs.json");
        let jobs = parse_ashby(&v).unwrap();
        assert_eq!(jobs.len(), 4, "the unlisted posting is skipped");
        assert_eq!(jobs[2].location.as_deref(), Some("Remote"));
        assert!(parse_ashby(&json!([])).is_err());
    }

    #[test]
    fn signal_keywords_match_on_word_boundaries() {
        let re = keyword_regex(&HiringConfig::default().signal_keywords)
            .unwrap()
            .unwrap();
        let k = |t: &str| signal_keywords(Some(&re), t);
        assert_eq!(k("Senior Search Engineer"), vec!["search"]);
        assert!(k("Research Scientist").is_empty());
        assert_eq!(
            k("E-commerce Merchandising Manager"),
            vec!["e-commerce", "merchandising"]
        );
        assert_eq!(k("Staff Platform Engineer"), vec!["platform engineer"]);
        assert!(keyword_regex(&[" ".into()]).unwrap().is_none());
        assert!(signal_keywords(None, "Search").is_empty());
    }

    #[test]
    fn growth_since_previous_and_carried_when_unchanged() {
        let job =
            |id: &str, signal: bool| json!({"id": id, "title": format!("T{id}"), "signal": signal});
        let prev_jobs: Vec<Value> = (0..10).map(|i| job(&i.to_string(), false)).collect();
        let prev = json!({"open_jobs": 10, "jobs": prev_jobs, "signal_jobs": [], "growth": null});
        let mut cur = prev_jobs.clone();
        cur.extend((10..15).map(|i| job(&i.to_string(), i == 10)));
        let g = growth(Some(&prev), &cur, 40.0);
        assert_eq!(g["change"], 5);
        assert_eq!(g["change_pct"], 50.0);
        assert_eq!(g["surge"], true);
        assert_eq!(g["jobs_added"], 5);
        assert_eq!(g["new_signal_jobs"], json!(["T10"]));
        // Same jobs again: the stored growth is kept, so nothing looks changed.
        let prev2 = json!({"open_jobs": 15, "jobs": cur, "growth": g});
        assert_eq!(growth(Some(&prev2), &cur, 40.0), g);
        assert_eq!(growth(None, &cur, 40.0), Value::Null);
        // From zero open roles: no percentage, no surge.
        let g = growth(Some(&json!({"open_jobs": 0, "jobs": []})), &cur, 40.0);
        assert_eq!(
            (g["change_pct"].clone(), g["surge"].clone()),
            (Value::Null, json!(false))
        );
        // A previous version with odd data: no growth rather than a panic.
        assert_eq!(growth(Some(&json!({"jobs": "x"})), &cur, 40.0), Value::Null);
    }

    #[test]
    fn guesses() {
        assert_eq!(
            guessed_tokens("blueharbor-health.com"),
            vec!["blueharbor-health", "blueharborhealth"]
        );
        assert_eq!(guessed_tokens("quantumleaf.ai"), vec!["quantumleaf"]);
    }
}
