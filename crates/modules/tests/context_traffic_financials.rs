//! End-to-end runs of M01 (company context), M03 (traffic) and M04 (financials) over real HTTP:
//! a small axum server on 127.0.0.1 serves the recorded fixtures (fixtures/epochN/manifest.toml,
//! with the epoch fallback described in fixtures/README.md) and a real `Gateway` points every
//! provider at it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use pforge_budget::{Gateway, ProviderConfig, ProvidersConfig};
use pforge_core::{DependencyResult, Domain, Module, ModuleContext, ModuleError, ModuleOutput};
use pforge_modules::{CompanyContext, Financials, Traffic, TrafficConfig};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Deserialize)]
struct Route {
    provider: String,
    path: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    route: Vec<Route>,
}

struct Fixtures {
    /// Newest epoch first.
    epochs: Vec<(PathBuf, Vec<Route>)>,
    requests: Mutex<Vec<String>>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

async fn serve(State(fx): State<Arc<Fixtures>>, req: Request) -> Response {
    let uri = req.uri().clone();
    fx.requests.lock().unwrap().push(uri.to_string());
    let full = uri.path().trim_start_matches('/');
    let (provider, rest) = match full.find('/') {
        Some(i) => (&full[..i], &full[i..]),
        None => (full, ""),
    };
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let method = req.method().as_str().to_string();
    for (dir, routes) in &fx.epochs {
        let best = routes
            .iter()
            .filter(|r| {
                r.provider == provider
                    && r.path == rest
                    && r.method.as_deref().unwrap_or("GET") == method
                    && r.query
                        .iter()
                        .all(|(k, v)| query.iter().any(|(qk, qv)| qk == k && qv == v))
            })
            .max_by_key(|r| r.query.len());
        if let Some(r) = best {
            let body = match &r.body {
                Some(b) => std::fs::read(dir.join(b)).unwrap(),
                None => Vec::new(),
            };
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() = StatusCode::from_u16(r.status.unwrap_or(200)).unwrap();
            for (k, v) in &r.headers {
                resp.headers_mut().append(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            return resp;
        }
    }
    let mut resp = Response::new(Body::from(format!(
        r#"{{"error":"no fixture","provider":"{provider}","path":"{rest}"}}"#
    )));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp
}

/// A running fixture server for epochs 1..=epoch.
struct Server {
    port: u16,
    fx: Arc<Fixtures>,
}

impl Server {
    async fn start(epoch: u32) -> Server {
        let epochs = (1..=epoch)
            .rev()
            .map(|n| {
                let dir = fixtures_dir().join(format!("epoch{n}"));
                let text = std::fs::read_to_string(dir.join("manifest.toml")).unwrap();
                let m: Manifest = toml::from_str(&text).unwrap();
                (dir, m.route)
            })
            .collect();
        let fx = Arc::new(Fixtures {
            epochs,
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(serve).with_state(fx.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server { port, fx }
    }

    fn gateway_with(&self, providers: &[&str]) -> Gateway {
        let mut cfg = ProvidersConfig::new();
        for p in providers {
            let base = if *p == "homepage" {
                format!("http://127.0.0.1:{}/homepage/{{domain}}", self.port)
            } else {
                format!("http://127.0.0.1:{}/{p}", self.port)
            };
            cfg.insert(p.to_string(), ProviderConfig::new(base));
        }
        Gateway::new(cfg).unwrap()
    }

    fn gateway(&self) -> Gateway {
        self.gateway_with(&["homepage", "wikidata", "sec_files", "sec_edgar", "dns"])
    }

    fn requests_to(&self, prefix: &str) -> usize {
        self.fx
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.starts_with(prefix))
            .count()
    }
}

fn ctx(domain: &str, gw: &Gateway, deps: BTreeMap<String, DependencyResult>) -> ModuleContext {
    ModuleContext::new(Domain::parse(domain).unwrap(), gw.clone(), deps)
}

async fn run(m: &dyn Module, domain: &str, gw: &Gateway) -> Result<ModuleOutput, ModuleError> {
    let out = m.run(&ctx(domain, gw, BTreeMap::new())).await?;
    out.check_cited().unwrap();
    Ok(out)
}

fn notes(out: &ModuleOutput) -> Vec<String> {
    out.data["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------- M01

#[tokio::test]
async fn m01_techstart_homepage_and_wikidata() {
    let srv = Server::start(1).await;
    let out = run(&CompanyContext::new(), "techstart.io", &srv.gateway())
        .await
        .unwrap();
    let d = &out.data;
    assert_eq!(d["name"], "TechStart Inc");
    assert_eq!(d["name_source"], "json-ld");
    assert_eq!(d["founded_year"], 2017);
    assert_eq!(d["founded_year_source"], "homepage json-ld");
    assert_eq!(d["address"]["locality"], "San Francisco");
    assert_eq!(
        d["social_profiles"][0],
        "https://www.linkedin.com/company/techstart-io"
    );
    assert!(d["description"]
        .as_str()
        .unwrap()
        .starts_with("TechStart builds developer tools"));
    assert_eq!(d["feeds"][0]["url"], "https://techstart.io/blog/rss.xml");
    // The Brazilian "TechStart" (techstart.com.br) is searched first but rejected.
    let wd = &d["wikidata"];
    assert_eq!(wd["id"], "Q130000001");
    assert_eq!(wd["url"], "https://www.wikidata.org/wiki/Q130000001");
    assert_eq!(wd["inception"], "2017");
    assert_eq!(wd["employees"]["count"], 240);
    assert_eq!(wd["headquarters"]["label"], "San Francisco");
    assert_eq!(wd["industries"][0]["id"], "Q638608");
    assert_eq!(wd["industries"][0]["label"], "software industry");
    assert!(notes(&out).is_empty(), "{:?}", notes(&out));
    // Every value is cited to the URL it came from.
    let wd_src = out
        .sources
        .iter()
        .find(|c| c.covers.contains(&"/wikidata".to_string()))
        .unwrap();
    assert_eq!(wd_src.provider, "wikidata");
    assert!(wd_src.source.contains("action=wbgetentities"));
    let name_src = out
        .sources
        .iter()
        .find(|c| c.covers.contains(&"/name".to_string()))
        .unwrap();
    assert_eq!(name_src.provider, "homepage");
    assert!(name_src.source.ends_with("/homepage/techstart.io/"));
    assert_eq!(srv.requests_to("/wikidata"), 3, "search, entities, labels");
}

#[tokio::test]
async fn m01_techstart_epoch2_new_description() {
    let srv = Server::start(2).await;
    let out = run(&CompanyContext::new(), "techstart.io", &srv.gateway())
        .await
        .unwrap();
    assert!(out.data["description"]
        .as_str()
        .unwrap()
        .starts_with("TechStart is the release platform"));
    assert_eq!(
        out.data["wikidata"]["id"], "Q130000001",
        "epoch 1 fallback for Wikidata"
    );
}

#[tokio::test]
async fn m01_blueharbor_missing_data() {
    let srv = Server::start(1).await;
    let out = run(
        &CompanyContext::new(),
        "blueharbor-health.com",
        &srv.gateway(),
    )
    .await
    .unwrap();
    let d = &out.data;
    assert_eq!(d["name"], "Blue Harbor Health");
    assert_eq!(d["name_source"], "title");
    assert_eq!(d["description"], Value::Null);
    assert_eq!(d["logo"], Value::Null);
    assert_eq!(d["founded_year"], Value::Null);
    assert_eq!(d["social_profiles"], serde_json::json!([]));
    assert_eq!(d["wikidata"], Value::Null);
    assert!(
        notes(&out)
            .iter()
            .any(|n| n.contains("no Wikidata entity found")),
        "{:?}",
        notes(&out)
    );
}

#[tokio::test]
async fn m01_quantumleaf_wikidata_garbage_is_a_note_not_an_error() {
    let srv = Server::start(1).await;
    let out = run(&CompanyContext::new(), "quantumleaf.ai", &srv.gateway())
        .await
        .unwrap();
    assert_eq!(out.data["name"], "QuantumLeaf AI");
    assert_eq!(out.data["wikidata"], Value::Null);
    let n = notes(&out);
    assert!(
        n.iter()
            .any(|n| n.contains("Wikidata search returned an unusable answer")),
        "{n:?}"
    );
    // The note is cited to the Wikidata answer that was garbage.
    let c = out
        .sources
        .iter()
        .find(|c| c.provider == "wikidata")
        .expect("wikidata citation");
    assert!(c.covers.contains(&"/notes".to_string()));
}

#[tokio::test]
async fn m01_globex_candidate_with_other_website_is_rejected() {
    let srv = Server::start(1).await;
    let out = run(
        &CompanyContext::new(),
        "globex-logistics.com",
        &srv.gateway(),
    )
    .await
    .unwrap();
    assert_eq!(out.data["name"], "Globex Logistics, Inc.");
    assert_eq!(out.data["wikidata"], Value::Null);
    assert!(notes(&out)
        .iter()
        .any(|n| n.contains("lists an official website (P856) on globex-logistics.com")));
    assert_eq!(out.data["feeds"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn m01_initech_www_official_website_matches_domain() {
    let srv = Server::start(1).await;
    let out = run(
        &CompanyContext::new(),
        "initech-software.com",
        &srv.gateway(),
    )
    .await
    .unwrap();
    assert_eq!(out.data["wikidata"]["id"], "Q130000003");
    assert_eq!(out.data["wikidata"]["headquarters"]["label"], "Austin");
    assert_eq!(out.data["founded_year"], 1998);
    assert_eq!(out.data["founding_date"], "1998-02-19");
}

#[tokio::test]
async fn m01_northwind_listing_from_wikidata() {
    let srv = Server::start(1).await;
    let out = run(
        &CompanyContext::new(),
        "northwind-retail.com",
        &srv.gateway(),
    )
    .await
    .unwrap();
    let ex = &out.data["wikidata"]["stock_exchanges"][0];
    assert_eq!(ex["label"], "New York Stock Exchange");
    assert_eq!(ex["ticker"], "NWRC");
}

#[tokio::test]
async fn m01_homepage_failure_is_the_module_error() {
    let srv = Server::start(1).await;
    let err = run(
        &CompanyContext::new(),
        "no-such-demo.example.com",
        &srv.gateway(),
    )
    .await
    .unwrap_err();
    match err {
        ModuleError::Gateway(e) => assert_eq!(e.status(), Some(404)),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(srv.requests_to("/wikidata"), 0);
}

#[tokio::test]
async fn m01_without_wikidata_provider_says_so() {
    let srv = Server::start(1).await;
    let gw = srv.gateway_with(&["homepage"]);
    let out = run(&CompanyContext::new(), "techstart.io", &gw)
        .await
        .unwrap();
    assert_eq!(out.data["wikidata"], Value::Null);
    assert_eq!(out.data["founded_year"], 2017);
    assert!(notes(&out)[0].contains("not configured"));
}

// ---------------------------------------------------------------- M03

fn traffic_with_list() -> Traffic {
    Traffic::new(
        &TrafficConfig {
            rank_list: Some("tranco-demo.csv".into()),
        },
        &fixtures_dir(),
    )
    .unwrap()
}

#[tokio::test]
async fn m03_rank_list_only() {
    let srv = Server::start(1).await;
    let gw = srv.gateway();
    let t = traffic_with_list();
    let out = run(&t, "northwind-retail.com", &gw).await.unwrap();
    assert_eq!(out.data["status"], "ok");
    assert_eq!(out.data["rank"], 2841);
    assert_eq!(out.data["rank_bucket"], "top 10k");
    assert_eq!(out.data["estimated_monthly_visits"]["low"], 5_000_000);
    assert!(
        out.data.get("monthly_visits").is_none(),
        "no similarweb provider configured"
    );
    let c = out
        .sources
        .iter()
        .find(|c| c.covers.contains(&"/rank".to_string()))
        .unwrap();
    assert_eq!(c.provider, "config");
    assert!(c.source.contains("tranco-demo.csv"));

    let out = run(&t, "blueharbor-health.com", &gw).await.unwrap();
    assert_eq!(out.data["rank"], Value::Null);
    assert_eq!(out.data["rank_bucket"], Value::Null);
    assert_eq!(notes(&out), vec!["not in the top 1000000 of the rank list"]);
}

#[tokio::test]
async fn m03_no_source_configured_is_not_an_error() {
    let srv = Server::start(1).await;
    let t = Traffic::new(&TrafficConfig::default(), &fixtures_dir()).unwrap();
    let out = run(&t, "techstart.io", &srv.gateway()).await.unwrap();
    assert_eq!(out.data["status"], "no source configured");
    assert_eq!(out.sources[0].provider, "config");
}

#[tokio::test]
async fn m03_similarweb_and_rank_list() {
    let srv = Server::start(1).await;
    let gw = srv.gateway_with(&["homepage", "similarweb"]);
    let t = traffic_with_list();
    let out = run(&t, "techstart.io", &gw).await.unwrap();
    assert_eq!(out.data["rank"], 61307);
    assert_eq!(out.data["monthly_visits"][0]["month"], "2024-07");
    assert_eq!(out.data["monthly_visits"][0]["visits"], 412873);
    assert_eq!(out.data["average_monthly_visits"], 417660);
    let c = out
        .sources
        .iter()
        .find(|c| c.covers.contains(&"/monthly_visits".to_string()))
        .unwrap();
    assert_eq!(c.provider, "similarweb");

    // SimilarWeb has no data (404) for initech: a note, the rank still stands.
    let out = run(&t, "initech-software.com", &gw).await.unwrap();
    assert_eq!(out.data["rank"], 143990);
    assert_eq!(out.data["monthly_visits"], Value::Null);
    assert!(notes(&out)[0].contains("SimilarWeb has no data"));

    // SimilarWeb alone (no rank list).
    let t = Traffic::new(&TrafficConfig::default(), &fixtures_dir()).unwrap();
    let out = run(&t, "northwind-retail.com", &gw).await.unwrap();
    assert_eq!(out.data["status"], "ok");
    assert!(out.data.get("rank").is_none());
    assert_eq!(out.data["average_monthly_visits"], 18458803);
}

// ---------------------------------------------------------------- M04

async fn context_then_financials(srv: &Server, domain: &str) -> ModuleOutput {
    let gw = srv.gateway();
    let m01 = run(&CompanyContext::new(), domain, &gw).await.unwrap();
    let mut deps = BTreeMap::new();
    deps.insert(
        "m01_company_context".to_string(),
        DependencyResult::Ready(Arc::new(m01)),
    );
    let out = Financials::new()
        .run(&ctx(domain, &gw, deps))
        .await
        .unwrap();
    out.check_cited().unwrap();
    out
}

#[tokio::test]
async fn m04_northwind_epoch1() {
    let srv = Server::start(1).await;
    let out = context_then_financials(&srv, "northwind-retail.com").await;
    let d = &out.data;
    assert_eq!(d["sec_filer"], true);
    assert_eq!(d["cik"], "0001999001");
    // The homepage's JSON-LD name equals SEC's title: probable, attached, and said so.
    assert_eq!(d["matched_by"], "own_name");
    assert_eq!(d["confidence"], "probable");
    assert_eq!(d["entity_links"][0]["confidence"], "probable");
    assert_eq!(d["entity_links"][0]["attached"], true);
    assert!(d["match"]["evidence"][0]
        .as_str()
        .is_some_and(|e| e.contains("Northwind Retail Corp")));
    assert_eq!(d["tickers"], serde_json::json!(["NWRC"]));
    assert_eq!(d["exchanges"], serde_json::json!(["NYSE"]));
    assert_eq!(d["sic"], "5961");
    assert_eq!(d["fiscal_year_end"], "1231");
    let fin = &d["financials"];
    assert_eq!(fin["fiscal_year"], 2023);
    assert_eq!(fin["revenue"]["value"], 4_210_000_000i64);
    assert_eq!(fin["revenue"]["accession_number"], "0001999001-24-000008");
    assert_eq!(
        fin["revenue"]["filing_url"],
        "https://www.sec.gov/Archives/edgar/data/1999001/000199900124000008/nwrc-20231231.htm"
    );
    assert_eq!(fin["net_income"]["value"], 212_400_000);
    assert_eq!(fin["employees"]["value"], 18_200);
    let filings = d["filings"].as_array().unwrap();
    assert_eq!(filings[0]["accession_number"], "0001999001-24-000031");
    assert_eq!(filings[0]["form"], "8-K");
    assert!(filings
        .iter()
        .all(|f| f["form"] != "4" && f["form"] != "SC 13G/A"));
    let fin_src = out
        .sources
        .iter()
        .find(|c| c.covers.contains(&"/financials".to_string()))
        .unwrap();
    assert!(fin_src
        .source
        .ends_with("/sec_edgar/api/xbrl/companyfacts/CIK0001999001.json"));
}

#[tokio::test]
async fn m04_northwind_epoch2_new_fiscal_year_and_8k() {
    let srv = Server::start(2).await;
    let out = context_then_financials(&srv, "northwind-retail.com").await;
    let fin = &out.data["financials"];
    assert_eq!(fin["fiscal_year"], 2024);
    assert_eq!(fin["revenue"]["value"], 4_630_000_000i64);
    assert_eq!(fin["revenue"]["accession_number"], "0001999001-25-000006");
    assert_eq!(fin["employees"]["value"], 19_450);
    let filings = out.data["filings"].as_array().unwrap();
    assert_eq!(filings[0]["accession_number"], "0001999001-25-000011");
    assert_eq!(filings[0]["items"], serde_json::json!(["5.02", "7.01"]));
}

#[tokio::test]
async fn m04_globex_revenue_down_in_epoch2() {
    let srv = Server::start(1).await;
    let e1 = context_then_financials(&srv, "globex-logistics.com").await;
    let srv = Server::start(2).await;
    let e2 = context_then_financials(&srv, "globex-logistics.com").await;
    assert_eq!(e1.data["financials"]["revenue"]["value"], 2_870_000_000i64);
    assert_eq!(e2.data["financials"]["revenue"]["value"], 2_540_000_000i64);
    assert_eq!(e2.data["exchanges"], serde_json::json!(["Nasdaq"]));
    assert_eq!(e2.data["financials"]["employees"], Value::Null);
}

#[tokio::test]
async fn m04_private_company_is_not_an_sec_filer() {
    let srv = Server::start(1).await;
    let out = context_then_financials(&srv, "techstart.io").await;
    assert_eq!(out.data["sec_filer"], false);
    assert!(notes(&out)[0].starts_with("not an SEC filer"));
    assert_eq!(srv.requests_to("/sec_edgar"), 0);
    let c = out
        .sources
        .iter()
        .find(|c| c.covers.contains(&"/sec_filer".to_string()))
        .unwrap();
    assert_eq!(c.provider, "sec_files");
}

#[tokio::test]
async fn m04_degraded_without_company_context_matches_on_domain() {
    let srv = Server::start(1).await;
    let gw = srv.gateway();
    let mut deps = BTreeMap::new();
    deps.insert(
        "m01_company_context".to_string(),
        DependencyResult::Failed("homepage: HTTP 503".into()),
    );
    let out = Financials::new()
        .run(&ctx("globex-logistics.com", &gw, deps.clone()))
        .await
        .unwrap();
    out.check_cited().unwrap();
    // Only the domain's label matches: a possible match, nothing attached.
    assert_eq!(out.data["sec_filer"], false);
    assert_eq!(out.data["cik"], Value::Null);
    assert_eq!(out.data["possible_matches"][0]["cik"], "0001999002");
    assert_eq!(out.data["entity_links"][0]["attached"], false);
    assert!(notes(&out)[0].contains("homepage: HTTP 503"));
    assert!(
        notes(&out).iter().any(|n| n
            .contains("possible match: Globex Logistics, Inc. (CIK 0001999002), not confirmed")),
        "{:?}",
        notes(&out)
    );
    // The input file's name column is the company's own name: probable, attached.
    let hinted = ctx("globex-logistics.com", &gw, deps).with_hints(pforge_core::DomainHints {
        name: Some("Globex Logistics, Inc.".into()),
        sec_cik: None,
        source: Some("input:accounts.csv:4".into()),
    });
    let out = Financials::new().run(&hinted).await.unwrap();
    out.check_cited().unwrap();
    assert_eq!(out.data["cik"], "0001999002");
    assert_eq!(out.data["confidence"], "probable");
    assert!(out
        .sources
        .iter()
        .any(|c| c.source == "input:accounts.csv:4" && c.covers.contains(&"/match".to_string())));
}
