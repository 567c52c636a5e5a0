//! End to end: the real `pforge` binary enriches the demo accounts through the real fixture
//! server and a real SQLite file. These cover the walking skeleton (issue 2) and the cross-run
//! "no money spent twice" rule (issue 3).

mod common;

use common::{fixtures, json, repo, show_module, total, Sandbox};
use serde_json::Value;

/// The first four modules: the walking skeleton's scope, stable whatever later modules do.
const CORE: &str = "m01_company_context,m02_tech_stack,m03_traffic,m04_financials";

fn enrich_demo(sb: &Sandbox, url: &str, refresh: &str) -> (Value, i32) {
    let out = sb.pforge(&[
        "enrich",
        "--file",
        "fixtures/demo-accounts.csv",
        "--fixtures-url",
        url,
        "--modules",
        CORE,
        "--refresh",
        refresh,
        "--json",
        "--no-progress",
    ]);
    (json(&out), out.status.code().unwrap_or(-1))
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_accounts_enrich_then_stay_unchanged_then_change_with_epoch_two() {
    let sb = Sandbox::new();
    let dir = repo().join("fixtures");

    // Epoch 1: every account, every core module, a first version.
    let server = fixtures(&dir, 1).await;
    let (summary, code) = enrich_demo(&sb, &server.url(), "all");
    assert_eq!(code, 0, "summary: {summary}");
    assert_eq!(summary["domains"], 6);
    assert_eq!(total(&summary, "new_version"), 24, "{summary}");
    assert_eq!(total(&summary, "failed"), 0, "{summary}");

    // Specific values, read back through `pforge show`.
    let m01 = show_module(&sb, "techstart.io", "m01_company_context");
    assert_eq!(m01["data"]["name"], "TechStart Inc");
    assert_eq!(m01["data"]["founded_year"], 2017);
    assert_eq!(m01["data"]["wikidata"]["id"], "Q130000001");
    assert!(m01["sources"].as_array().is_some_and(|s| !s.is_empty()));
    let m02 = show_module(&sb, "techstart.io", "m02_tech_stack");
    let techs: Vec<&str> = m02["data"]["technologies"]
        .as_array()
        .expect("technologies")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for expected in [
        "Algolia",
        "HubSpot",
        "Google Tag Manager",
        "Cloudflare",
        "Intercom",
        "Next.js",
    ] {
        assert!(
            techs.contains(&expected),
            "{expected} missing from {techs:?}"
        );
    }
    assert_eq!(m02["data"]["email_provider"], "Google Workspace");
    let m04 = show_module(&sb, "northwind-retail.com", "m04_financials");
    assert_eq!(m04["data"]["sec_filer"], true);
    assert_eq!(
        m04["data"]["financials"]["revenue"]["value"], 4_210_000_000u64,
        "{}",
        m04["data"]
    );
    let m03 = show_module(&sb, "blueharbor-health.com", "m03_traffic");
    assert_eq!(m03["data"]["rank"], Value::Null);
    let m04_private = show_module(&sb, "techstart.io", "m04_financials");
    assert_eq!(m04_private["data"]["sec_filer"], false);

    // Same fixtures again, forced: nothing changed, so no new versions.
    let (summary, code) = enrich_demo(&sb, &server.url(), "all");
    assert_eq!(code, 0);
    assert_eq!(total(&summary, "new_version"), 0, "{summary}");
    assert_eq!(total(&summary, "unchanged"), 24, "{summary}");

    // Within the freshness TTL (the default refresh): no provider is called at all.
    server.reset_stats();
    let (summary, code) = enrich_demo(&sb, &server.url(), "stale");
    assert_eq!(code, 0);
    assert_eq!(total(&summary, "fresh"), 24, "{summary}");
    assert_eq!(
        server.stats().total,
        0,
        "fresh modules must not call providers"
    );
    server.shutdown().await;

    // Epoch 2: new versions only where the recorded data changed.
    let server = fixtures(&dir, 2).await;
    let (summary, code) = enrich_demo(&sb, &server.url(), "all");
    assert_eq!(code, 0, "{summary}");
    server.shutdown().await;
    let versions = |domain: &str, module: &str| -> i64 {
        show_module(&sb, domain, module)["version"]
            .as_i64()
            .unwrap_or(0)
    };
    assert_eq!(
        versions("techstart.io", "m02_tech_stack"),
        2,
        "Algolia removed"
    );
    assert_eq!(
        versions("techstart.io", "m01_company_context"),
        2,
        "description changed"
    );
    assert_eq!(
        versions("initech-software.com", "m02_tech_stack"),
        2,
        "Swiftype → Algolia"
    );
    assert_eq!(
        versions("northwind-retail.com", "m04_financials"),
        2,
        "new 10-K"
    );
    assert_eq!(
        versions("globex-logistics.com", "m04_financials"),
        2,
        "revenue down"
    );
    assert_eq!(versions("techstart.io", "m03_traffic"), 1);
    assert_eq!(versions("blueharbor-health.com", "m01_company_context"), 1);
    assert_eq!(versions("blueharbor-health.com", "m02_tech_stack"), 1);
    assert_eq!(versions("quantumleaf.ai", "m02_tech_stack"), 1);
    assert_eq!(
        summary["modules"]["m03_traffic"]["new_version"], 0,
        "{summary}"
    );

    let techs = show_module(&sb, "techstart.io", "m02_tech_stack")["data"]["technologies"].clone();
    assert!(
        !techs.to_string().contains("\"Algolia\""),
        "Algolia should be gone: {techs}"
    );
    let m04 = show_module(&sb, "northwind-retail.com", "m04_financials");
    assert_eq!(
        m04["data"]["financials"]["revenue"]["value"],
        4_630_000_000u64
    );

    // The change is readable: history and diff name the technology, not an array index.
    let out = sb.pforge(&["diff", "techstart.io", "--module", "m02_tech_stack"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("- /technologies/Algolia"), "{text}");
    let out = sb.pforge(&[
        "diff",
        "techstart.io",
        "--module",
        "m02_tech_stack",
        "--json",
    ]);
    let patch = json(&out);
    assert!(
        patch.as_array().is_some_and(|ops| !ops.is_empty()),
        "{patch}"
    );
    let out = sb.pforge(&[
        "history",
        "northwind-retail.com",
        "--module",
        "m04_financials",
        "--json",
    ]);
    let history = json(&out);
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_domains_are_reported_and_the_rest_of_the_batch_completes() {
    let sb = Sandbox::new();
    let server = fixtures(&repo().join("fixtures"), 1).await;
    let out = sb.pforge(&[
        "enrich",
        "techstart.io",
        "not a domain!",
        "10.0.0.1",
        "https://www.Initech-Software.com/about",
        "--fixtures-url",
        &server.url(),
        "--modules",
        CORE,
        "--json",
        "--no-progress",
    ]);
    assert_eq!(out.status.code(), Some(2), "bad input exits 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: input line"))
        .collect();
    assert_eq!(errors.len(), 2, "one line per bad input: {stderr}");
    assert!(errors[0].contains("not a domain!"), "{stderr}");
    assert!(errors[1].contains("10.0.0.1"), "{stderr}");
    let summary = json(&out);
    assert_eq!(summary["domains"], 2);
    assert_eq!(total(&summary, "new_version"), 8, "{summary}");
    assert_eq!(summary["input_errors"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_answering_500_or_garbage_fails_that_module_only() {
    let fixtures_dir = tempfile::tempdir().expect("tempdir");
    let epoch = fixtures_dir.path().join("epoch1");
    std::fs::create_dir_all(&epoch).expect("mkdir");
    std::fs::write(
        epoch.join("okay.html"),
        "<html><head><title>Okay Site Co</title><meta name=description content='We do okay things.'>\
         <script src='https://www.googletagmanager.com/gtag/js?id=G-ABC123'></script></head><body>hi</body></html>",
    )
    .expect("write");
    std::fs::write(epoch.join("garbage.json"), "{\"0\": {\"cik_str\": 12, \"ti").expect("write");
    std::fs::write(
        epoch.join("manifest.toml"),
        r#"
[[route]]
provider = "homepage"
path = "/okay-site.com/"
headers = { "content-type" = "text/html" }
body = "okay.html"

[[route]]
provider = "homepage"
path = "/broken-site.com/"
status = 500
body = "okay.html"

[[route]]
provider = "sec_files"
path = "/files/company_tickers.json"
headers = { "content-type" = "application/json" }
body = "garbage.json"
"#,
    )
    .expect("write manifest");
    let server = fixtures(fixtures_dir.path(), 1).await;
    let sb = Sandbox::new();
    let out = sb.pforge(&[
        "enrich",
        "okay-site.com",
        "broken-site.com",
        "--fixtures-url",
        &server.url(),
        "--modules",
        CORE,
        "--json",
        "--no-progress",
    ]);
    assert_eq!(out.status.code(), Some(1), "module failures exit 1");
    let summary = json(&out);
    let m = &summary["modules"];
    // The homepage 500 fails the homepage modules of broken-site.com only.
    assert_eq!(m["m01_company_context"]["failed"], 1, "{summary}");
    assert_eq!(m["m01_company_context"]["new_version"], 1, "{summary}");
    assert_eq!(m["m02_tech_stack"]["failed"], 1, "{summary}");
    assert_eq!(m["m02_tech_stack"]["new_version"], 1, "{summary}");
    // Garbage from SEC fails the financials of both, and nothing else.
    assert_eq!(m["m04_financials"]["failed"], 2, "{summary}");
    assert_eq!(m["m03_traffic"]["failed"], 0, "{summary}");
    let failures = summary["failures"].as_array().expect("failures");
    assert!(
        failures.iter().any(|f| f["module"] == "m04_financials"
            && f["error"].as_str().is_some_and(|e| e.contains("sec_files"))),
        "{summary}"
    );
    assert!(
        failures.iter().any(|f| f["domain"] == "broken-site.com"
            && f["error"].as_str().is_some_and(|e| e.contains("500"))),
        "{summary}"
    );
    let m01 = show_module(&sb, "okay-site.com", "m01_company_context");
    assert_eq!(m01["data"]["description"], "We do okay things.");
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_estimate_matches_the_calls_a_run_then_makes() {
    let sb = Sandbox::new();
    let server = fixtures(&repo().join("fixtures"), 1).await;
    let estimate = |sb: &Sandbox| {
        json(&sb.pforge(&[
            "plan",
            "--estimate",
            "fixtures/demo-accounts.csv",
            "--modules",
            "m02_tech_stack",
            "--json",
        ]))
    };
    let before = estimate(&sb);
    assert_eq!(before["domains"], 6, "{before}");
    let out = sb.pforge(&[
        "enrich",
        "--file",
        "fixtures/demo-accounts.csv",
        "--fixtures-url",
        &server.url(),
        "--modules",
        "m02_tech_stack",
        "--json",
        "--no-progress",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = server.stats();
    for provider in ["homepage", "dns"] {
        assert_eq!(
            before["providers"][provider]["calls"].as_u64(),
            Some(stats.provider_hits(provider)),
            "{provider}: estimate {before} vs server {:?}",
            stats.by_path
        );
    }
    assert_eq!(stats.provider_hits("homepage"), 6);
    assert_eq!(stats.provider_hits("dns"), 12);
    // Everything is fresh now: the estimate predicts no calls, and a run makes none.
    let after = estimate(&sb);
    assert_eq!(after["fresh_module_runs"], 6, "{after}");
    assert!(
        after["providers"].as_object().is_some_and(|p| p.is_empty()),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spending_cap_stops_paid_calls_with_exit_code_three() {
    let sb = Sandbox::new();
    // Make homepage fetches cost a credit each so the per-run cap bites.
    let cfg = std::fs::read_to_string(sb.config()).expect("config");
    let cfg = cfg.replacen(
        "[providers.homepage]\n",
        "[providers.homepage]\ncost = 1.0\n",
        1,
    );
    std::fs::write(sb.config(), cfg).expect("write config");
    let server = fixtures(&repo().join("fixtures"), 1).await;
    let out = sb.pforge(&[
        "enrich",
        "--file",
        "fixtures/demo-accounts.csv",
        "--fixtures-url",
        &server.url(),
        "--modules",
        "m02_tech_stack",
        "--max-spend",
        "3",
        "--json",
        "--no-progress",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let summary = json(&out);
    let m02 = &summary["modules"]["m02_tech_stack"];
    assert_eq!(m02["new_version"], 3, "{summary}");
    assert_eq!(m02["budget"], 3, "{summary}");
    assert_eq!(
        server.stats().provider_hits("homepage"),
        3,
        "no call past the cap"
    );
    let failures = summary["failures"].as_array().expect("failures");
    assert!(
        failures.iter().all(|f| f["error"]
            .as_str()
            .is_some_and(|e| e.contains("budget cap"))),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_external_fingerprint_database_detects_technologies_on_the_fixture_pages() {
    let full = repo().join("../shared/data/wappalyzer-mit-6.10.54");
    if !full.join("technologies").is_dir() {
        println!(
            "SKIPPED: {} not found (it sits beside the repository)",
            full.display()
        );
        return;
    }
    let sb = Sandbox::new();
    let server = fixtures(&repo().join("fixtures"), 1).await;
    let out = sb.pforge(&[
        "enrich",
        "techstart.io",
        "northwind-retail.com",
        "--fixtures-url",
        &server.url(),
        "--fingerprints",
        full.to_str().unwrap(),
        "--modules",
        "m02_tech_stack",
        "--json",
        "--no-progress",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let techs = |domain: &str| -> Vec<String> {
        show_module(&sb, domain, "m02_tech_stack")["data"]["technologies"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let ts = techs("techstart.io");
    for t in [
        "Algolia",
        "HubSpot",
        "Google Tag Manager",
        "Next.js",
        "React",
        "Cloudflare",
    ] {
        assert!(ts.contains(&t.to_string()), "{t} not in {ts:?}");
    }
    let nw = techs("northwind-retail.com");
    for t in ["Magento", "Klaviyo", "Optimizely"] {
        assert!(nw.contains(&t.to_string()), "{t} not in {nw:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_prunes_old_versions_never_the_latest_and_keeps_patches_consistent() {
    let sb = Sandbox::new();
    let cfg = std::fs::read_to_string(sb.config()).expect("config");
    let cfg = cfg.replacen(
        "[retention.default]\nkeep_last = 50",
        "[retention.default]\nkeep_last = 1",
        1,
    );
    assert!(
        cfg.contains("keep_last = 1"),
        "the shipped config has a [retention.default] section"
    );
    std::fs::write(sb.config(), cfg).expect("write config");
    let dir = repo().join("fixtures");
    for epoch in [1, 2] {
        let server = fixtures(&dir, epoch).await;
        let (_, code) = enrich_demo(&sb, &server.url(), "all");
        assert_eq!(code, 0);
        server.shutdown().await;
    }
    let dry = json(&sb.pforge(&["prune", "--dry-run", "--json"]));
    let out = json(&sb.pforge(&["prune", "--json"]));
    assert_eq!(dry, out, "the dry run predicts the real one");
    let m02 = out
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|p| p["domain"] == "techstart.io" && p["module"] == "m02_tech_stack")
        })
        .cloned()
        .unwrap_or_else(|| panic!("techstart m02 pruned: {out}"));
    assert_eq!(m02["deleted"], serde_json::json!([1]));
    assert_eq!(m02["new_base"], 2);
    let history = json(&sb.pforge(&[
        "history",
        "techstart.io",
        "--module",
        "m02_tech_stack",
        "--json",
    ]));
    let versions: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["version"].as_i64())
        .collect();
    assert_eq!(versions, vec![2], "only the latest is left");
    // Nothing with a single version was touched, and a new version still diffs cleanly.
    assert!(out
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["domain"] != "blueharbor-health.com"));
    let server = fixtures(&dir, 1).await;
    let (_, code) = enrich_demo(&sb, &server.url(), "all");
    assert_eq!(code, 0);
    server.shutdown().await;
    let diff = sb.pforge(&["diff", "techstart.io", "--module", "m02_tech_stack"]);
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.contains("v2 → v3") && text.contains("+ /technologies/Algolia"),
        "{text}"
    );
    let old = sb.pforge(&[
        "diff",
        "techstart.io",
        "--module",
        "m02_tech_stack",
        "--from",
        "1",
        "--to",
        "3",
    ]);
    assert_eq!(old.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&old.stderr).contains("not stored"),
        "{}",
        String::from_utf8_lossy(&old.stderr)
    );
}

/// Issue 16: on a simulated Wikidata (benches/wikidata/gen_fixtures.py), the estimate counts
/// the name search only for the domains that need it and predicts the batch requests that the
/// entities and the shared labels become, close to what the run then makes, with the config's
/// `[estimate]` numbers set to the simulated world's parameters.
#[tokio::test(flavor = "multi_thread")]
async fn plan_estimate_predicts_batched_wikidata_calls() {
    const N: usize = 100;
    let sb = Sandbox::new();
    let world = sb.dir.path().join("world");
    let gen = std::process::Command::new("python3")
        .arg(repo().join("benches/wikidata/gen_fixtures.py"))
        .arg(&world)
        .arg(N.to_string())
        .status()
        .expect("python3 runs benches/wikidata/gen_fixtures.py");
    assert!(gen.success());
    // The world's parameters (see gen_fixtures.py): every tenth domain found by name, every
    // item listing investors, 78 facet items and 100 investors shared; a local server.
    let cfg = std::fs::read_to_string(sb.config()).expect("config");
    let mut cfg = cfg
        .replace("latency_ms = 300.0", "latency_ms = 1.0")
        .replace("wikidata_name_search = 0.5", "wikidata_name_search = 0.1")
        .replace("wikidata_item_found = 0.5", "wikidata_item_found = 1.0")
        .replace(
            "wikidata_lists_investors = 0.2",
            "wikidata_lists_investors = 1.0",
        )
        .replace(
            "wikidata_company_facets = 2000",
            "wikidata_company_facets = 78",
        )
        .replace("wikidata_investors = 3000", "wikidata_investors = 100");
    // The query service is not the subject: let it answer at once.
    cfg = cfg.replacen(
        "cache_ttl_secs = 86400\nrate_limit = { per_second = 2.0, burst = 2 }\n",
        "cache_ttl_secs = 86400\nrate_limit = { per_second = 2000.0, burst = 100 }\n",
        1,
    );
    std::fs::write(sb.config(), cfg).expect("write config");
    let list = world.join("domains.csv");
    let list = list.to_str().expect("utf-8 path");
    let modules = "m01_company_context,m08_investors";
    let estimate = json(&sb.pforge(&["plan", "--estimate", list, "--modules", modules, "--json"]));
    assert_eq!(estimate["domains"], N, "{estimate}");
    let wd = &estimate["providers"]["wikidata"];
    let items = wd["items"].as_array().expect("items of batchable calls");
    let entities = items
        .iter()
        .find(|i| i["endpoint"].as_str().is_some_and(|e| e.contains("claims")))
        .expect("the entities group");
    assert_eq!(entities["items"], N, "{estimate}");
    assert_eq!(entities["max_items"], 50, "{estimate}");
    assert!(estimate["basis"]
        .as_str()
        .is_some_and(|b| b.contains("simulated")));

    let server = fixtures(&world, 1).await;
    let out = sb.pforge(&[
        "enrich",
        "--file",
        list,
        "--fixtures-url",
        &server.url(),
        "--modules",
        modules,
        "--json",
        "--no-progress",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = server.stats();
    for provider in ["homepage", "wikidata_sparql"] {
        assert_eq!(
            estimate["providers"][provider]["calls"].as_u64(),
            Some(stats.provider_hits(provider)),
            "{provider}: {estimate}"
        );
    }
    // Batching depends on the run's timing: on a quiet machine the prediction is within a few
    // percent (benches/wikidata/run.py measures it at 1,000 domains), but a loaded machine
    // slows the debug binary's own work between calls, which `latency_ms = 1` does not cover,
    // and batches then carry fewer items (seen: 84 made for 46 predicted while a release
    // build ran). So only the order of magnitude is asserted here.
    let (predicted, made) = (
        wd["calls"].as_u64().expect("wikidata calls") as f64,
        stats.provider_hits("wikidata") as f64,
    );
    assert!(
        predicted <= made * 1.25 && made <= predicted * 2.5,
        "wikidata: predicted {predicted}, made {made}: {estimate}"
    );
    // Unbatched (no rule) the estimate would have said about 4 calls a domain.
    assert!(predicted < 1.0 * N as f64, "{estimate}");
}
