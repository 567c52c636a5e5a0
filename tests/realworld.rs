//! Right about real companies (issue 14): the real binary against real provider responses
//! recorded by third parties (`../shared/realworld`, provenance and true values in its README),
//! served by the fixture server, and the confirmation step on the project's own fixtures
//! (`fixtures/resolution`).

mod common;

use common::{fixtures, json, repo, show_module, Sandbox};
use serde_json::Value;

const MODULES: &str = "m01_company_context,m04_financials,m06_hiring";

/// `shared/realworld` beside the repository (`../shared/realworld` from the repo root, as CI
/// lays it), or beside an ancestor folder (a git worktree nested one level deeper).
fn realworld_dir() -> std::path::PathBuf {
    let root = repo().canonicalize().unwrap_or_else(|_| repo());
    root.ancestors()
        .skip(1)
        .map(|a| a.join("shared/realworld"))
        .find(|d| d.join("README.md").exists())
        .unwrap_or_else(|| root.join("../shared/realworld"))
}

fn enrich_file(sb: &Sandbox, csv: &str, url: &str) -> Value {
    let input = sb.dir.path().join("accounts.csv");
    std::fs::write(&input, csv).expect("write input");
    let out = sb.pforge(&[
        "enrich",
        "--file",
        input.to_str().expect("utf-8 path"),
        "--fixtures-url",
        url,
        "--modules",
        MODULES,
        "--refresh",
        "all",
        "--json",
        "--no-progress",
    ]);
    // No homepage is recorded, so M01 fails for every domain: exit 1, the rest runs degraded.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

fn notes(v: &Value) -> String {
    v["notes"].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn real_recordings_give_the_true_values_and_names_alone_attach_nothing() {
    let dir = realworld_dir();
    if !dir.join("README.md").exists() {
        panic!(
            "{} is missing: the real recordings live in shared/realworld",
            dir.display()
        );
    }
    let sb = Sandbox::new();
    let server = fixtures(&dir, 1).await;
    enrich_file(
        &sb,
        "domain,name\napple.com,Apple Inc.\ndocker.com,Docker\nvercel.com,Vercel\narrival.dev,\ncisco.com,\n",
        &server.url(),
    );
    server.shutdown().await;

    // Apple, named "Apple Inc." in the input file: probable, attached, with the 10-K cited.
    let m04 = show_module(&sb, "apple.com", "m04_financials");
    let d = &m04["data"];
    assert_eq!(d["sec_filer"], true, "{d}");
    assert_eq!(d["cik"], "0000320193");
    assert_eq!(d["confidence"], "probable");
    assert_eq!(d["match"]["method"], "own_name");
    let link = &d["entity_links"][0];
    assert_eq!(link["kind"], "sec_filer");
    assert_eq!(link["confidence"], "probable");
    assert!(link["evidence"][0]
        .as_str()
        .is_some_and(|e| e.contains("Apple Inc.") && e.contains("input file")));
    assert_eq!(d["sic"], "3571");
    assert_eq!(d["fiscal_year_end"], "0926");
    let fin = &d["financials"];
    assert_eq!(fin["fiscal_year"], 2025, "{fin}");
    assert_eq!(fin["revenue"]["value"], 416_161_000_000u64);
    assert_eq!(
        fin["revenue"]["concept"],
        "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax"
    );
    assert_eq!(fin["net_income"]["value"], 112_010_000_000u64);
    assert_eq!(fin["revenue"]["form"], "10-K");
    assert_eq!(fin["revenue"]["accession_number"], "0000320193-25-000079");
    assert!(fin["revenue"]["filing_url"]
        .as_str()
        .is_some_and(|u| u.contains("000032019325000079")));
    assert_eq!(fin["employees"], Value::Null, "Apple tags no head count");
    assert!(m04["sources"]
        .as_array()
        .is_some_and(|s| s.iter().any(|c| c["source"]
            .as_str()
            .is_some_and(|u| u.contains("companyfacts/CIK0000320193.json")))));
    assert!(notes(d).contains("probable match: Apple Inc. (CIK 0000320193)"));

    // Docker's real Ashby board: 29 jobs, the README's departments, secondary locations read.
    let h = show_module(&sb, "docker.com", "m06_hiring")["data"].clone();
    assert_eq!(h["board"]["provider"], "ashby", "{h}");
    assert_eq!(h["open_jobs"], 29);
    assert_eq!(
        h["departments"],
        serde_json::json!({"Engineering": 15, "Sales": 9, "General & Administrative": 2, "Products": 2, "Marketing": 1})
    );
    let with_secondary = h["jobs"]
        .as_array()
        .map(|j| {
            j.iter()
                .filter(|x| {
                    x["other_locations"]
                        .as_array()
                        .is_some_and(|l| !l.is_empty())
                })
                .count()
        })
        .unwrap_or(0);
    assert_eq!(with_secondary, 20, "{h}");
    assert_eq!(h["entity_links"][0]["confidence"], "probable");

    // Vercel's real Greenhouse board, recorded without content=true: 8 jobs, departments unknown.
    let h = show_module(&sb, "vercel.com", "m06_hiring")["data"].clone();
    assert_eq!(h["board"]["provider"], "greenhouse", "{h}");
    assert_eq!(h["open_jobs"], 8);
    assert_eq!(h["departments"], Value::Null);
    assert_eq!(h["departments_available"], false);
    assert!(notes(&h).contains("departments unavailable"), "{h}");

    // A private company whose label equals a ticker-list title ("Arrival"): nothing attached.
    let d = show_module(&sb, "arrival.dev", "m04_financials")["data"].clone();
    assert_eq!(d["sec_filer"], false, "{d}");
    assert_eq!(d["financials"], Value::Null);
    assert_eq!(d["entity_links"][0]["confidence"], "possible");
    assert_eq!(d["entity_links"][0]["attached"], false);
    assert!(notes(&d).contains("possible match: Arrival (CIK"), "{d}");

    // A listed company whose label is only the first word of its title: offered, not attached.
    let d = show_module(&sb, "cisco.com", "m04_financials")["data"].clone();
    assert_eq!(d["sec_filer"], false, "{d}");
    assert_eq!(d["possible_matches"][0]["cik"], "0000858877");
    assert!(
        notes(&d).contains("possible match: CISCO SYSTEMS, INC. (CIK 0000858877), not confirmed"),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_possible_match_is_confirmed_once_wikidata_names_the_domain_with_its_cik() {
    let dir = repo().join("fixtures/resolution");
    let sb = Sandbox::new();

    let server = fixtures(&dir, 1).await;
    enrich_file(&sb, "domain\nharborlight.com\n", &server.url());
    server.shutdown().await;
    let d = show_module(&sb, "harborlight.com", "m04_financials")["data"].clone();
    assert_eq!(d["sec_filer"], false, "{d}");
    assert_eq!(d["possible_matches"][0]["cik"], "0001999101");
    assert!(notes(&d).contains("possible match: HARBORLIGHT SYSTEMS INC (CIK 0001999101)"));

    let server = fixtures(&dir, 2).await;
    enrich_file(&sb, "domain\nharborlight.com\n", &server.url());
    server.shutdown().await;
    let m04 = show_module(&sb, "harborlight.com", "m04_financials");
    let d = &m04["data"];
    assert_eq!(d["sec_filer"], true, "{d}");
    assert_eq!(d["cik"], "0001999101");
    assert_eq!(d["confidence"], "confirmed");
    assert_eq!(d["match"]["method"], "wikidata_cik");
    let ev = d["match"]["evidence"].to_string();
    assert!(
        ev.contains("P856") && ev.contains("P5531") && ev.contains("Q130000101"),
        "{ev}"
    );
    assert_eq!(d["financials"]["revenue"]["value"], 1_250_000_000u64);
    assert!(m04["sources"]
        .as_array()
        .is_some_and(|s| s.iter().any(|c| c["provider"] == "wikidata")));
}

/// The same input queued for workers: the name column travels with the job, so the worker that
/// runs apple.com has "Apple Inc." to match with and attaches the filer as probable, exactly as
/// the run in one process does.
#[tokio::test(flavor = "multi_thread")]
async fn a_queued_job_keeps_the_input_files_names_for_its_workers() {
    let dir = realworld_dir();
    assert!(
        dir.join("README.md").exists(),
        "{} is missing: the real recordings live in shared/realworld",
        dir.display()
    );
    let sb = Sandbox::new();
    let server = fixtures(&dir, 1).await;
    let input = sb.dir.path().join("accounts.csv");
    std::fs::write(&input, "domain,name\napple.com,Apple Inc.\n").expect("write input");
    let path = input.to_str().expect("utf-8 path");
    let queued = sb.pforge(&[
        "enrich",
        "--file",
        path,
        "--enqueue",
        "--modules",
        MODULES,
        "--refresh",
        "all",
        "--json",
    ]);
    assert_eq!(
        queued.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&queued.stderr)
    );
    let url = server.url();
    let worked = sb.pforge(&["worker", "--once", "--fixtures-url", &url]);
    assert!(
        worked.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&worked.stderr)
    );
    server.shutdown().await;
    let d = show_module(&sb, "apple.com", "m04_financials")["data"].clone();
    assert_eq!(d["confidence"], "probable", "{d}");
    assert_eq!(d["match"]["method"], "own_name");
    assert_eq!(d["financials"]["revenue"]["value"], 416_161_000_000u64);
}
