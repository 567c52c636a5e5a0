//! End-to-end runs of M05 (competitors), M06 (hiring), M07 (strategic triggers), M08
//! (investors) and M09 (executives) over real HTTP: the real fixture server
//! (`pforge_fixture_server`, epochs exactly as in production) on 127.0.0.1 and a real `Gateway`
//! pointed at it. Dependencies (M01, M04) are real module runs too, and "the previous version"
//! is the epoch-1 output, as the store would hand it over.

use pforge_budget::{Gateway, ProviderConfig, ProvidersConfig};
use pforge_core::{DependencyResult, Domain, Module, ModuleContext, ModuleError, ModuleOutput};
use pforge_fixture_server::{rewrite_base_url, FixtureServer};
use pforge_modules::{
    CompanyContext, Competitors, Executives, Financials, Hiring, HiringConfig, Investors,
    StrategicTriggers,
};
use pforge_versioning::significance::Significance;
use pforge_versioning::{canonicalize, diff, VersioningConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const BASE: &[&str] = &[
    "homepage",
    "wikidata",
    "sec_files",
    "sec_edgar",
    "sec_browse",
    "greenhouse",
    "lever",
    "ashby",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn server(epoch: u32) -> FixtureServer {
    FixtureServer::start(
        &root().join("fixtures"),
        epoch,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn gateway(srv: &FixtureServer, providers: &[&str]) -> Gateway {
    let mut cfg = ProvidersConfig::new();
    for p in providers {
        let original = if *p == "homepage" {
            "https://{domain}"
        } else {
            "https://example.invalid"
        };
        cfg.insert(
            p.to_string(),
            ProviderConfig::new(rewrite_base_url(original, &srv.url(), p)),
        );
    }
    Gateway::new(cfg).unwrap()
}

async fn run(
    m: &dyn Module,
    domain: &str,
    gw: &Gateway,
    deps: &[(&str, &ModuleOutput)],
    previous: Option<&ModuleOutput>,
) -> Result<ModuleOutput, ModuleError> {
    let deps: BTreeMap<String, DependencyResult> = deps
        .iter()
        .map(|(id, o)| {
            (
                id.to_string(),
                DependencyResult::Ready(Arc::new((*o).clone())),
            )
        })
        .collect();
    let ctx = ModuleContext::new(Domain::parse(domain).unwrap(), gw.clone(), deps)
        .with_previous(previous.map(|p| canonicalize(&p.data, &m.spec().set_arrays)));
    let out = m.run(&ctx).await?;
    out.check_cited().unwrap();
    Ok(out)
}

fn hiring() -> Hiring {
    Hiring::new(&HiringConfig::default()).unwrap()
}

/// The outputs of one domain's run.
struct Run {
    m01: ModuleOutput,
    m04: ModuleOutput,
    m05: ModuleOutput,
    m06: Result<ModuleOutput, ModuleError>,
    m07: ModuleOutput,
    m08: ModuleOutput,
    m09: ModuleOutput,
}

impl Run {
    fn m06(&self) -> &ModuleOutput {
        self.m06.as_ref().unwrap()
    }
}

/// Runs M01, M04 and M05–M09 for a domain the way the executor would (M07 degrades when M06
/// failed), with `prev` as each module's previous version.
async fn run_all(gw: &Gateway, domain: &str, prev: Option<&Run>) -> Run {
    let m01 = run(&CompanyContext::new(), domain, gw, &[], None)
        .await
        .unwrap();
    let m04 = run(
        &Financials::new(),
        domain,
        gw,
        &[("m01_company_context", &m01)],
        None,
    )
    .await
    .unwrap();
    let m06 = run(&hiring(), domain, gw, &[], prev.map(|p| p.m06())).await;
    let mut deps7: Vec<(&str, &ModuleOutput)> =
        vec![("m01_company_context", &m01), ("m04_financials", &m04)];
    if let Ok(h) = &m06 {
        deps7.push(("m06_hiring", h));
    }
    let m05 = run(
        &Competitors::new(),
        domain,
        gw,
        &[("m01_company_context", &m01), ("m04_financials", &m04)],
        prev.map(|p| &p.m05),
    )
    .await
    .unwrap();
    let m07 = run(
        &StrategicTriggers::new(),
        domain,
        gw,
        &deps7,
        prev.map(|p| &p.m07),
    )
    .await
    .unwrap();
    let m08 = run(
        &Investors::new(),
        domain,
        gw,
        &[("m01_company_context", &m01)],
        prev.map(|p| &p.m08),
    )
    .await
    .unwrap();
    let m09 = run(
        &Executives::new(),
        domain,
        gw,
        &[("m01_company_context", &m01), ("m04_financials", &m04)],
        prev.map(|p| &p.m09),
    )
    .await
    .unwrap();
    Run {
        m01,
        m04,
        m05,
        m06,
        m07,
        m08,
        m09,
    }
}

fn strs(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect()
}

fn notes(o: &ModuleOutput) -> String {
    o.data["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn find<'a>(list: &'a Value, field: &str, value: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|x| x[field] == value)
        .unwrap_or_else(|| panic!("no element with {field} = {value} in {list}"))
}

// ------------------------------------------------------------------ TechStart (private)

#[tokio::test]
async fn techstart_epoch1() {
    let srv = server(1).await;
    let gw = gateway(&srv, BASE);
    let r = run_all(&gw, "techstart.io", None).await;

    // M06: Greenhouse board linked from the careers page.
    let h = &r.m06().data;
    assert_eq!(h["board"]["provider"], "greenhouse");
    assert_eq!(h["board"]["token"], "techstart");
    assert_eq!(h["board"]["found_via"], "careers page /careers");
    assert_eq!(h["open_jobs"], 10);
    assert_eq!(h["departments"]["Engineering"], 4);
    assert_eq!(h["locations"]["Remote - US"], 4);
    assert_eq!(
        strs(&h["signal_jobs"], "title"),
        vec!["Staff Platform Engineer"]
    );
    assert_eq!(h["growth"], Value::Null, "first version: no growth yet");

    // M07: the Series A post is a funding trigger; no SEC filings (not a filer).
    let t = &r.m07.data;
    assert_eq!(t["trigger_count"], 1);
    let f = find(&t["triggers"], "kind", "funding");
    assert_eq!(f["date"], "2024-05-14");
    assert_eq!(f["id"], "feed:https://techstart.io/blog/series-a");

    // M09: about page (tried, not linked) + Wikidata CEO merged into one person.
    let e = &r.m09.data;
    assert_eq!(e["team_page"], "/about");
    assert_eq!(e["executives"].as_array().unwrap().len(), 3);
    let maya = find(&e["executives"], "name", "Maya Chen");
    assert_eq!(maya["title"], "Co-founder & CEO");
    assert_eq!(maya["wikidata_id"], "Q130000041");
    assert_eq!(
        maya["sources"],
        serde_json::json!(["team_page", "wikidata"])
    );

    // M08: Wikidata investors; Crunchbase not configured here.
    let i = &r.m08.data;
    assert_eq!(
        strs(&i["investors"], "name"),
        vec!["Bayline Capital", "Foundry Peak Ventures"]
    );
    assert_eq!(i["is_listed"], false);
    assert_eq!(i["total_funding"], Value::Null);
    assert!(notes(&r.m08).contains("Crunchbase not configured"));

    // M05: Wikidata industry peers (software industry), no SEC (private), no SimilarWeb.
    let c = &r.m05.data;
    let ids = strs(&c["competitors"], "id");
    assert_eq!(
        ids,
        vec!["initech-software.com", "launchpadlabs.dev", "shipwright.io"]
    );
    assert_eq!(c["industries"], serde_json::json!(["software industry"]));
    assert!(notes(&r.m05).contains("not an SEC filer"));
}

#[tokio::test]
async fn techstart_epoch2_new_cto_hiring_surge_and_launch() {
    let gw1_srv = server(1).await;
    let e1 = run_all(&gateway(&gw1_srv, BASE), "techstart.io", None).await;
    let srv = server(2).await;
    let gw = gateway(&srv, BASE);
    let e2 = run_all(&gw, "techstart.io", Some(&e1)).await;

    // Hiring surge: 10 -> 15 (+50%), with three new search roles.
    let h = &e2.m06().data;
    assert_eq!(h["open_jobs"], 15);
    assert_eq!(h["growth"]["previous_open_jobs"], 10);
    assert_eq!(h["growth"]["change_pct"], 50.0);
    assert_eq!(h["growth"]["surge"], true);
    assert_eq!(
        h["growth"]["new_signal_jobs"],
        serde_json::json!([
            "Senior Search Engineer",
            "Search Relevance Engineer",
            "Engineering Manager, Search & Discovery"
        ])
    );
    // New CTO on the about page.
    let cto = find(&e2.m09.data["executives"], "name", "Priya Raman");
    assert_eq!(cto["title"], "Chief Technology Officer");
    // Each element cites its own source (elements are in canonical order, so event evidence
    // found by index is right).
    let cited_by = |o: &ModuleOutput, key: &str, field: &str, value: &str| -> Vec<String> {
        let i = o.data[key]
            .as_array()
            .unwrap()
            .iter()
            .position(|x| x[field] == value)
            .unwrap();
        let p = format!("/{key}/{i}");
        o.sources
            .iter()
            .filter(|c| c.covers.contains(&p))
            .map(|c| c.source.clone())
            .collect()
    };
    let src = cited_by(&e2.m09, "executives", "name", "Priya Raman");
    assert_eq!(src.len(), 1);
    assert!(src[0].ends_with("/homepage/techstart.io/about"), "{src:?}");
    let src = cited_by(&e2.m07, "triggers", "kind", "product_launch");
    assert!(
        src[0].ends_with("/homepage/techstart.io/blog/rss.xml"),
        "{src:?}"
    );
    assert_eq!(
        cited_by(&e2.m07, "triggers", "kind", "hiring_surge"),
        vec!["module:m06_hiring"]
    );
    // Triggers: the launch post and the hiring surge join the Series A.
    let t = &e2.m07.data["triggers"];
    assert_eq!(
        find(t, "kind", "product_launch")["title"],
        "Introducing TechStart Release Hub"
    );
    assert_eq!(find(t, "kind", "hiring_surge")["id"], "hiring-surge:10->15");
    assert_eq!(e2.m07.data["trigger_count"], 3);
    // New investor on Wikidata.
    assert!(
        strs(&e2.m08.data["investors"], "name").contains(&"Northstar Growth Partners".to_string())
    );

    // The changes score as the config's significance rules intend.
    let text = std::fs::read_to_string(root().join("config/pforge.toml")).unwrap();
    let sig = Significance::new(&VersioningConfig::from_toml(&text).unwrap().significance).unwrap();
    let events = |m: &dyn Module, a: &ModuleOutput, b: &ModuleOutput| {
        let sets = &m.spec().set_arrays;
        let old = canonicalize(&a.data, sets);
        let new = canonicalize(&b.data, sets);
        let patch = diff::diff(&old, &new, sets);
        diff::changes(&old, &patch, sets)
            .unwrap()
            .into_iter()
            .map(|c| (c.path.clone(), sig.score(&m.spec().id, &c).rule))
            .collect::<Vec<_>>()
    };
    let ev = events(&Executives::new(), &e1.m09, &e2.m09);
    assert!(
        ev.contains(&(
            "/executives/Priya Raman".into(),
            "executive-c-level-joined-or-left".into()
        )),
        "{ev:?}"
    );
    let ev = events(&hiring(), e1.m06(), e2.m06());
    assert!(
        ev.contains(&("/open_jobs".into(), "hiring-surge-large".into())),
        "{ev:?}"
    );
    assert!(
        ev.contains(&(
            "/jobs/greenhouse:4013101".into(),
            "hiring-relevant-role".into()
        )),
        "{ev:?}"
    );
    let ev = events(&StrategicTriggers::new(), &e1.m07, &e2.m07);
    assert!(
        ev.contains(&(
            "/triggers/feed:https:~1~1techstart.io~1blog~1introducing-release-hub".into(),
            "trigger-new".into()
        )),
        "{ev:?}"
    );
    let ev = events(&Investors::new(), &e1.m08, &e2.m08);
    assert!(
        ev.contains(&(
            "/investors/Northstar Growth Partners".into(),
            "investor-set".into()
        )),
        "{ev:?}"
    );

    // Running epoch 2 again on the same data changes nothing (growth is carried, no volatile
    // values), so versioning can say "unchanged".
    let again = run_all(&gw, "techstart.io", Some(&e2)).await;
    for (m, a, b) in [
        (&Competitors::new() as &dyn Module, &e2.m05, &again.m05),
        (&hiring(), e2.m06(), again.m06()),
        (&StrategicTriggers::new(), &e2.m07, &again.m07),
        (&Investors::new(), &e2.m08, &again.m08),
        (&Executives::new(), &e2.m09, &again.m09),
    ] {
        let sets = &m.spec().set_arrays;
        assert_eq!(
            canonicalize(&a.data, sets),
            canonicalize(&b.data, sets),
            "{}",
            m.spec().id
        );
    }
}

#[tokio::test]
async fn techstart_keyed_providers_similarweb_and_crunchbase() {
    let srv = server(1).await;
    let mut p = BASE.to_vec();
    p.extend(["similarweb", "crunchbase"]);
    let gw = gateway(&srv, &p);
    let r = run_all(&gw, "techstart.io", None).await;
    let c = &r.m05.data["competitors"];
    let lp = find(c, "id", "launchpadlabs.dev");
    assert_eq!(lp["sources"], serde_json::json!(["wikidata", "similarweb"]));
    assert_eq!(lp["similarity"], 0.81);
    assert_eq!(find(c, "id", "releasely.com")["name"], "releasely.com");
    assert_eq!(
        find(c, "id", "releasely.com")["sources"],
        serde_json::json!(["similarweb"])
    );
    let i = &r.m08.data;
    assert_eq!(i["total_funding"], 24_500_000);
    assert_eq!(i["last_funding_type"], "series_a");
    assert_eq!(i["funding_rounds"].as_array().unwrap().len(), 2);
    let fpv = find(&i["investors"], "name", "Foundry Peak Ventures");
    assert_eq!(
        fpv["sources"],
        serde_json::json!(["wikidata", "crunchbase"])
    );
    assert_eq!(
        find(&i["investors"], "name", "Angela Park")["kind"],
        "person"
    );
}

// ------------------------------------------------------------------ Northwind (public)

#[tokio::test]
async fn northwind_epoch1_public_company() {
    let srv = server(1).await;
    let gw = gateway(&srv, BASE);
    let r = run_all(&gw, "northwind-retail.com", None).await;
    // M05: SIC 5961 peers that are listed (Homestead Catalog is not in the ticker list).
    let c = &r.m05.data;
    assert_eq!(c["sic"], "5961");
    let amzn = find(&c["competitors"], "ticker", "AMZN");
    assert_eq!(amzn["name"], "AMAZON COM INC");
    assert_eq!(amzn["sources"], serde_json::json!(["sec"]));
    assert!(find(&c["competitors"], "ticker", "W")["sec_cik"] == "0001616707");
    assert!(!strs(&c["competitors"], "id")
        .iter()
        .any(|i| i.contains("homestead") || i.contains("northwind")));
    assert!(strs(&c["competitors"], "id").contains(&"harborviewhome.com".to_string()));
    // M06: Lever, two buying-signal roles.
    let h = &r.m06().data;
    assert_eq!(h["board"]["provider"], "lever");
    assert_eq!(h["open_jobs"], 6);
    assert_eq!(h["signal_jobs"].as_array().unwrap().len(), 2);
    // M07: the 5.02 8-K is a trigger; routine 8-Ks (2.02, 5.07) are not.
    let t = &r.m07.data;
    let k = find(&t["triggers"], "id", "sec:0001999001-24-000031");
    assert_eq!(k["kind"], "executive_change");
    assert_eq!(t["trigger_count"], 1);
    // M08: listed on NYSE as NWRC.
    assert_eq!(r.m08.data["is_listed"], true);
    assert_eq!(
        r.m08.data["listings"][0]["exchange"],
        "New York Stock Exchange"
    );
    assert_eq!(r.m08.data["listings"][0]["ticker"], "NWRC");
    // M09: no team page; Wikidata CEO and chair; the 5.02 filing.
    let e = &r.m09.data;
    assert_eq!(e["team_page"], Value::Null);
    assert_eq!(
        find(&e["executives"], "name", "Dana Whitfield")["title"],
        "CEO"
    );
    assert_eq!(
        find(&e["executives"], "name", "Robert Ames")["title"],
        "Chairperson"
    );
    assert_eq!(
        e["leadership_filings"][0]["accession_number"],
        "0001999001-24-000031"
    );
    assert!(notes(&r.m09).contains("no team page"), "{}", notes(&r.m09));
    let _ = &r.m01;
    let _ = &r.m04;
}

#[tokio::test]
async fn northwind_epoch2_new_8k_and_new_ceo() {
    let s1 = server(1).await;
    let e1 = run_all(&gateway(&s1, BASE), "northwind-retail.com", None).await;
    let srv = server(2).await;
    let e2 = run_all(&gateway(&srv, BASE), "northwind-retail.com", Some(&e1)).await;
    let t = &e2.m07.data["triggers"];
    let k = find(t, "id", "sec:0001999001-25-000011");
    assert_eq!(k["kind"], "executive_change");
    assert_eq!(k["date"], "2025-03-04");
    assert_eq!(k["items"][1]["name"], "Regulation FD Disclosure");
    assert_eq!(e2.m07.data["trigger_count"], 2);
    let names = strs(&e2.m09.data["executives"], "name");
    assert!(names.contains(&"Alicia Moreno".to_string()));
    assert!(
        !names.contains(&"Dana Whitfield".to_string()),
        "her CEO statement ended"
    );
    assert_eq!(
        e2.m09.data["leadership_filings"].as_array().unwrap().len(),
        2
    );
    // Same Lever postings: growth 0, not a surge.
    assert_eq!(
        e2.m06().data["growth"],
        Value::Null,
        "unchanged jobs keep the previous growth (none)"
    );
}

// ------------------------------------------------------------------ missing data and errors

#[tokio::test]
async fn blueharbor_missing_data_is_notes_not_errors() {
    let srv = server(1).await;
    let gw = gateway(&srv, BASE);
    let r = run_all(&gw, "blueharbor-health.com", None).await;
    let h = &r.m06().data;
    assert_eq!(h["board"]["found_via"], "guessed from the domain");
    assert_eq!(h["open_jobs"], 0);
    assert!(
        notes(r.m06()).contains("/careers answered 404"),
        "{}",
        notes(r.m06())
    );
    assert_eq!(r.m09.data["executives"], serde_json::json!([]));
    assert!(notes(&r.m09).contains("tried /about, /team, /company"));
    assert_eq!(r.m05.data["competitors"], serde_json::json!([]));
    assert_eq!(r.m07.data["triggers"], serde_json::json!([]));
    assert!(notes(&r.m07).contains("no RSS/Atom feed"));
    assert_eq!(r.m08.data["investors"], serde_json::json!([]));
}

#[tokio::test]
async fn quantumleaf_job_board_500_is_the_module_error_and_m07_degrades() {
    let srv = server(1).await;
    let gw = gateway(&srv, BASE);
    let r = run_all(&gw, "quantumleaf.ai", None).await;
    let err = r.m06.as_ref().unwrap_err();
    assert_eq!(
        match err {
            ModuleError::Gateway(e) => e.status(),
            _ => None,
        },
        Some(500),
        "{err}"
    );
    assert!(
        notes(&r.m07).contains("m06_hiring unavailable"),
        "{}",
        notes(&r.m07)
    );
    // Team JSON-LD with trailing commas is repaired; the nameless Person is dropped.
    assert_eq!(
        strs(&r.m09.data["executives"], "name"),
        vec!["Kenji Watanabe", "Sofia Marquez"]
    );
    assert_eq!(r.m09.data["team_page"], "/company");
}

#[tokio::test]
async fn initech_ashby_atom_feed_and_nested_team() {
    let srv = server(1).await;
    let gw = gateway(&srv, BASE);
    let r = run_all(&gw, "initech-software.com", None).await;
    let h = &r.m06().data;
    assert_eq!(h["board"]["provider"], "ashby");
    assert_eq!(h["open_jobs"], 4);
    assert_eq!(
        find(&r.m07.data["triggers"], "kind", "acquisition")["date"],
        "2024-06-03"
    );
    assert_eq!(r.m08.data["owned_by"][0]["name"], "Lumbergh Holdings");
    let e = &r.m09.data["executives"];
    assert_eq!(
        find(e, "name", "Margaret Bolton")["sources"],
        serde_json::json!(["team_page", "wikidata"])
    );
    assert_eq!(
        find(e, "name", "Peter Gibbons")["title"],
        "Vice President, Engineering"
    );
}

#[tokio::test]
async fn globex_embedded_greenhouse_and_sic_peers() {
    let srv = server(1).await;
    let gw = gateway(&srv, BASE);
    let r = run_all(&gw, "globex-logistics.com", None).await;
    assert_eq!(r.m06().data["board"]["token"], "globexlogistics");
    assert_eq!(r.m06().data["open_jobs"], 5);
    let tickers = strs(&r.m05.data["competitors"], "ticker");
    assert_eq!(tickers.len(), 3);
    for t in ["CHRW", "EXPD", "HUBG"] {
        assert!(tickers.contains(&t.to_string()));
    }
    // The posts feed gives a launch; the comments feed is skipped.
    assert_eq!(r.m07.data["feeds"].as_array().unwrap().len(), 1);
    assert_eq!(
        find(&r.m07.data["triggers"], "kind", "product_launch")["date"],
        "2024-09-18"
    );
}

#[tokio::test]
async fn missing_job_board_providers_and_dependencies_degrade() {
    let srv = server(1).await;
    // Only the homepage is configured: no ATS, no Wikidata.
    let gw = gateway(&srv, &["homepage"]);
    let out = run(&hiring(), "techstart.io", &gw, &[], None)
        .await
        .unwrap_err();
    assert!(out.to_string().contains("greenhouse"), "{out}");
    let out = run(&StrategicTriggers::new(), "techstart.io", &gw, &[], None)
        .await
        .unwrap();
    assert_eq!(out.data["triggers"], serde_json::json!([]));
    assert_eq!(out.data["notes"].as_array().unwrap().len(), 3);
    let out = run(&Executives::new(), "techstart.io", &gw, &[], None)
        .await
        .unwrap();
    assert_eq!(
        out.data["executives"].as_array().unwrap().len(),
        3,
        "team page still read"
    );
    let out = run(&Competitors::new(), "techstart.io", &gw, &[], None)
        .await
        .unwrap();
    assert_eq!(out.data["competitors"], serde_json::json!([]));
    let out = run(&Investors::new(), "techstart.io", &gw, &[], None)
        .await
        .unwrap();
    assert!(notes(&out).contains("company context unavailable"));
}

#[tokio::test]
async fn failed_source_keeps_previous_peers_and_executives() {
    // Epoch 1 with Wikidata, then a gateway whose Wikidata points at a path with no fixtures
    // (every call 404s): last version's Wikidata people are kept, with a note.
    let srv = server(1).await;
    let gw = gateway(&srv, BASE);
    let first = run_all(&gw, "northwind-retail.com", None).await;
    let mut cfg = ProvidersConfig::new();
    for p in BASE {
        let base = if *p == "wikidata" {
            format!("{}/nowhere", srv.url())
        } else {
            rewrite_base_url(
                if *p == "homepage" {
                    "https://{domain}"
                } else {
                    "x"
                },
                &srv.url(),
                p,
            )
        };
        cfg.insert(p.to_string(), ProviderConfig::new(base));
    }
    let broken = Gateway::new(cfg).unwrap();
    let m09 = run(
        &Executives::new(),
        "northwind-retail.com",
        &broken,
        &[
            ("m01_company_context", &first.m01),
            ("m04_financials", &first.m04),
        ],
        Some(&first.m09),
    )
    .await
    .unwrap();
    assert_eq!(
        canonicalize(&m09.data["executives"], &[]),
        canonicalize(&first.m09.data["executives"], &[])
    );
    assert!(
        notes(&m09).contains("kept 2 from the previous version"),
        "{}",
        notes(&m09)
    );
    let m05 = run(
        &Competitors::new(),
        "northwind-retail.com",
        &broken,
        &[
            ("m01_company_context", &first.m01),
            ("m04_financials", &first.m04),
        ],
        Some(&first.m05),
    )
    .await
    .unwrap();
    assert_eq!(
        m05.data["competitor_count"],
        first.m05.data["competitor_count"]
    );
    assert!(
        notes(&m05).contains("wikidata peers unavailable"),
        "{}",
        notes(&m05)
    );
}
