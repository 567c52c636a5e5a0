//! End to end for the whole product (issue 5): all fifteen modules for every demo account
//! through the real binary, specific values per module for two accounts, and the changes
//! between epochs (a competitor removed, a new executive, a hiring surge, a new 8-K).

mod common;

use common::{fixtures, json, repo, show_module, total, Sandbox};
use serde_json::Value;

fn enrich_all(sb: &Sandbox, url: &str) -> Value {
    let out = sb.pforge(&[
        "enrich",
        "--file",
        "fixtures/demo-accounts.csv",
        "--fixtures-url",
        url,
        "--refresh",
        "all",
        "--json",
        "--no-progress",
    ]);
    // QuantumLeaf's job board answers 500 on purpose: exit 1, that module only.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e[key].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn fifteen_modules_for_every_demo_account_and_what_changes_between_epochs() {
    let sb = Sandbox::new();
    let dir = repo().join("fixtures");

    let server = fixtures(&dir, 1).await;
    let summary = enrich_all(&sb, &server.url());
    server.shutdown().await;
    assert_eq!(
        summary["modules"].as_object().map(|m| m.len()),
        Some(15),
        "{summary}"
    );
    assert_eq!(total(&summary, "new_version"), 6 * 15 - 1, "{summary}");
    let failures = summary["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{summary}");
    assert_eq!(failures[0]["domain"], "quantumleaf.ai");
    assert_eq!(failures[0]["module"], "m06_hiring");

    // TechStart, epoch 1: runs Algolia (a competitor), hiring on Greenhouse, founders on the team page.
    let m06 = show_module(&sb, "techstart.io", "m06_hiring")["data"].clone();
    assert_eq!(m06["board"]["provider"], "greenhouse");
    assert_eq!(m06["open_jobs"], 10, "{m06}");
    let m09 = show_module(&sb, "techstart.io", "m09_executives")["data"].clone();
    assert!(
        names(&m09["executives"], "name").contains(&"Maya Chen".to_string()),
        "{m09}"
    );
    assert!(!names(&m09["executives"], "name").contains(&"Priya Raman".to_string()));
    let m11 = show_module(&sb, "techstart.io", "m11_displacement_targets")["data"].clone();
    assert_eq!(
        names(&m11["targets"], "technology"),
        vec!["Algolia"],
        "{m11}"
    );
    let m13 = show_module(&sb, "techstart.io", "m13_icp_priority")["data"].clone();
    assert!(m13["score"].as_u64().is_some_and(|s| s <= 100), "{m13}");
    assert!(
        m13["factors"].as_array().is_some_and(|f| f.len() >= 5),
        "{m13}"
    );
    let brief = show_module(&sb, "techstart.io", "m15_strategic_brief");
    let md = brief["data"]["markdown"].as_str().expect("markdown");
    assert!(
        md.contains("TechStart Inc") && md.contains("## Sources") && md.contains("[1]"),
        "{md}"
    );
    assert!(brief["sources"].as_array().is_some_and(|s| s.len() > 3));

    // Northwind, epoch 1: public, Bloomreach to displace, a CEO from the filings and the site.
    let m11 = show_module(&sb, "northwind-retail.com", "m11_displacement_targets")["data"].clone();
    assert!(
        names(&m11["targets"], "technology").contains(&"Bloomreach Discovery".to_string()),
        "{m11}"
    );
    let m09 = show_module(&sb, "northwind-retail.com", "m09_executives")["data"].clone();
    assert!(
        names(&m09["executives"], "name").contains(&"Dana Whitfield".to_string()),
        "{m09}"
    );
    let m12 = show_module(&sb, "northwind-retail.com", "m12_case_studies")["data"].clone();
    assert!(
        m12["case_studies"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{m12}"
    );

    // Epoch 2.
    let server = fixtures(&dir, 2).await;
    enrich_all(&sb, &server.url());
    server.shutdown().await;

    // A new executive, a hiring surge, a competitor product removed, a new 8-K.
    let m09 = show_module(&sb, "techstart.io", "m09_executives")["data"].clone();
    assert!(
        names(&m09["executives"], "name").contains(&"Priya Raman".to_string()),
        "{m09}"
    );
    let m06 = show_module(&sb, "techstart.io", "m06_hiring")["data"].clone();
    assert_eq!(m06["open_jobs"], 15, "{m06}");
    let m11 = show_module(&sb, "techstart.io", "m11_displacement_targets")["data"].clone();
    assert_eq!(m11["count"], 0, "{m11}");
    let m14 = show_module(&sb, "techstart.io", "m14_signal_scoring")["data"].clone();
    assert!(m14["why_now"].to_string().contains("Algolia"), "{m14}");
    let m09 = show_module(&sb, "northwind-retail.com", "m09_executives")["data"].clone();
    let execs = names(&m09["executives"], "name");
    assert!(
        execs.contains(&"Alicia Moreno".to_string())
            && !execs.contains(&"Dana Whitfield".to_string()),
        "{m09}"
    );
    let m07 = show_module(&sb, "northwind-retail.com", "m07_strategic_triggers")["data"].clone();
    assert!(m07.to_string().contains("0001999001-25-000011"), "{m07}");

    let changes = json(&sb.pforge(&["changes", "--json", "--limit", "100000"]));
    let has = |domain: &str, module: &str, path: &str, kind: &str| {
        changes.as_array().is_some_and(|a| {
            a.iter().any(|e| {
                e["domain"] == domain
                    && e["module"] == module
                    && e["path"] == path
                    && e["kind"] == kind
            })
        })
    };
    assert!(has(
        "techstart.io",
        "m09_executives",
        "/executives/Priya Raman",
        "added"
    ));
    assert!(has("techstart.io", "m06_hiring", "/open_jobs", "changed"));
    assert!(has(
        "techstart.io",
        "m02_tech_stack",
        "/technologies/Algolia",
        "removed"
    ));
    assert!(has(
        "northwind-retail.com",
        "m04_financials",
        "/filings/0001999001-25-000011",
        "added"
    ));
    assert!(has(
        "initech-software.com",
        "m02_tech_stack",
        "/technologies/Swiftype",
        "removed"
    ));

    // The brief now says why to call.
    let out = sb.pforge(&["brief", "techstart.io"]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(md.contains("Priya Raman") && md.contains("Algolia"), "{md}");
}

/// Copies a fixture tree (the recordings are small) so one test can change one body.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixtures") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keyed_crunchbase_gives_funding_and_a_head_count_band_that_icp_scoring_weighs() {
    let sb = Sandbox::new();
    let dir = sb.dir.path().join("fixtures");
    copy_tree(&repo().join("fixtures"), &dir);
    let org = dir.join("epoch1/crunchbase/org-techstart-3.json");
    let mut body: Value = serde_json::from_str(&std::fs::read_to_string(&org).unwrap()).unwrap();
    body["properties"]["num_employees_enum"] = "c_00051_00100".into();
    std::fs::write(&org, body.to_string()).unwrap();

    let server = fixtures(&dir, 1).await;
    let key = "cb-secret-key-0123";
    let out = sb
        .command(&[
            "enrich",
            "techstart.io",
            "--modules",
            "m13_icp_priority",
            "--fixtures-url",
            &server.url(),
            "--json",
            "--no-progress",
        ])
        .env("CRUNCHBASE_API_KEY", key)
        .output()
        .expect("run pforge");
    server.shutdown().await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let m08 = show_module(&sb, "techstart.io", "m08_investors");
    let data = &m08["data"];
    assert_eq!(data["total_funding"], 24_500_000, "{data}");
    assert_eq!(data["employees"]["band"], "51–100", "{data}");
    assert_eq!(data["employees"]["count"], 75);
    assert_eq!(data["employees"]["crunchbase_enum"], "c_00051_00100");
    assert!(
        !m08.to_string().contains(key),
        "the API key leaked into the stored module: {m08}"
    );

    // The band is dated today, newer than Wikidata's 2024 head count: it decides the factor.
    let m13 = show_module(&sb, "techstart.io", "m13_icp_priority")["data"].clone();
    let employees = m13["factors"]
        .as_array()
        .and_then(|f| f.iter().find(|x| x["name"] == "employees"))
        .cloned()
        .expect("employees factor");
    assert!(
        employees["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("75 employees (Crunchbase band 51–100)")),
        "{employees}"
    );
}
