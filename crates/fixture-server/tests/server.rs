//! Starts the real server on 127.0.0.1 over a fixtures folder written by the test and talks to it
//! with reqwest.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use pforge_fixture_server::{rewrite_base_url, FixtureError, FixtureServer, Stats};
use serde_json::Value;

const EPOCH1: &str = r#"
# base recording
[[route]]
provider = "homepage"
path = "/acme.io/"
headers = { "content-type" = "text/html; charset=utf-8", "server" = "nginx", "set-cookie" = ["a=1; Path=/", "b=2; Path=/"] }
body = "homepage/acme.io/index.html"

[[route]]
provider = "homepage"
path = "/acme.io/robots.txt"
body = "homepage/acme.io/robots.txt"

[[route]]
provider = "dns"
path = "/resolve"
query = { name = "acme.io" }
body = "dns/any.json"

[[route]]
provider = "dns"
path = "/resolve"
query = { name = "acme.io", type = "MX" }
body = "dns/mx.json"

[[route]]
provider = "crm"
path = "/accounts"
method = "post"
status = 201
headers = { "content-type" = "application/json" }
body = "crm/created.json"

[[route]]
provider = "slow"
path = ""
delay_ms = 300
status = 204

[[route]]
provider = "wikidata"
path = "/w/api.php"
query = { action = "wbsearchentities", limit = 5 }
body = "wikidata/search.json"
"#;

const EPOCH2: &str = r#"
[[route]]
provider = "homepage"
path = "/acme.io/"
headers = { "content-type" = "text/html", "server" = "cloudflare" }
body = "homepage/acme.io/index.html"

[[route]]
provider = "gone"
path = "/x"
status = 410
"#;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn fixtures() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "epoch1/manifest.toml", EPOCH1);
    write(d, "epoch1/homepage/acme.io/index.html", "<html>v1</html>");
    write(d, "epoch1/homepage/acme.io/robots.txt", "User-agent: *\n");
    write(d, "epoch1/dns/any.json", r#"{"answer":"any"}"#);
    write(d, "epoch1/dns/mx.json", r#"{"answer":"mx"}"#);
    write(d, "epoch1/crm/created.json", r#"{"id":7}"#);
    write(d, "epoch1/wikidata/search.json", r#"{"search":[]}"#);
    write(d, "epoch2/manifest.toml", EPOCH2);
    write(d, "epoch2/homepage/acme.io/index.html", "<html>v2</html>");
    dir
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn get(url: String) -> reqwest::Response {
    reqwest::get(url).await.unwrap()
}

#[tokio::test]
async fn exact_routes_headers_and_methods() {
    let dir = fixtures();
    let server = FixtureServer::start(dir.path(), 1, local()).await.unwrap();
    let base = server.url();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert_eq!(server.epoch(), 1);
    assert_eq!(server.route_count(), 7);

    let resp = get(format!("{base}/homepage/acme.io/")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(resp.headers()["server"], "nginx");
    let cookies: Vec<_> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies, vec!["a=1; Path=/", "b=2; Path=/"]);
    assert_eq!(resp.text().await.unwrap(), "<html>v1</html>");

    // Content type guessed from the body's extension when the manifest gives none.
    let resp = get(format!("{base}/homepage/acme.io/robots.txt")).await;
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(resp.text().await.unwrap(), "User-agent: *\n");

    // Path match is exact: no trailing-slash or prefix leniency.
    assert_eq!(get(format!("{base}/homepage/acme.io")).await.status(), 404);
    assert_eq!(
        get(format!("{base}/homepage/acme.io/index.html"))
            .await
            .status(),
        404
    );

    // Method is part of the route.
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{base}/crm/accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.json::<Value>().await.unwrap()["id"], 7);
    assert_eq!(get(format!("{base}/crm/accounts")).await.status(), 404);
    // HEAD falls back to the GET route.
    let resp = client
        .head(format!("{base}/homepage/acme.io/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // An empty rest-of-path route answers the bare provider path, after its delay.
    let started = Instant::now();
    let resp = get(format!("{base}/slow")).await;
    assert_eq!(resp.status(), 204);
    assert!(started.elapsed() >= Duration::from_millis(300));

    server.shutdown().await;
}

#[tokio::test]
async fn query_subset_match_most_params_wins() {
    let dir = fixtures();
    let server = FixtureServer::start(dir.path(), 1, local()).await.unwrap();
    let base = server.url();

    let body = |r: reqwest::Response| async move { r.json::<Value>().await.unwrap() };
    let r = get(format!("{base}/dns/resolve?type=MX&name=acme.io")).await;
    assert_eq!(body(r).await["answer"], "mx", "two params beat one");
    let r = get(format!("{base}/dns/resolve?name=acme.io&type=TXT&extra=1")).await;
    assert_eq!(body(r).await["answer"], "any", "extra params are ignored");
    let r = get(format!("{base}/dns/resolve?name=acme%2Eio")).await;
    assert_eq!(body(r).await["answer"], "any", "values are percent-decoded");
    assert_eq!(
        get(format!("{base}/dns/resolve?name=other.io"))
            .await
            .status(),
        404
    );
    assert_eq!(get(format!("{base}/dns/resolve")).await.status(), 404);
    // Integer query values in the manifest match their decimal text.
    let r = get(format!(
        "{base}/wikidata/w/api.php?action=wbsearchentities&limit=5&search=acme"
    ))
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn later_epochs_override_and_fall_back() {
    let dir = fixtures();
    let e1 = FixtureServer::start(dir.path(), 1, local()).await.unwrap();
    let e2 = FixtureServer::start(dir.path(), 2, local()).await.unwrap();

    let resp = get(format!("{}/homepage/acme.io/", e2.url())).await;
    assert_eq!(resp.headers()["server"], "cloudflare");
    assert!(resp.headers().get("set-cookie").is_none());
    assert_eq!(resp.text().await.unwrap(), "<html>v2</html>");
    // Not recorded in epoch 2: served from epoch 1.
    let resp = get(format!("{}/homepage/acme.io/robots.txt", e2.url())).await;
    assert_eq!(resp.text().await.unwrap(), "User-agent: *\n");
    // Only in epoch 2.
    assert_eq!(get(format!("{}/gone/x", e2.url())).await.status(), 410);
    assert_eq!(get(format!("{}/gone/x", e1.url())).await.status(), 404);
    // Epoch 1 is unaffected by epoch 2.
    let resp = get(format!("{}/homepage/acme.io/", e1.url())).await;
    assert_eq!(resp.text().await.unwrap(), "<html>v1</html>");
}

#[tokio::test]
async fn unmatched_requests_get_a_descriptive_404() {
    let dir = fixtures();
    let server = FixtureServer::start(dir.path(), 2, local()).await.unwrap();
    let resp = get(format!(
        "{}/sec_edgar/cgi-bin/browse?cik=42&x=a%20b",
        server.url()
    ))
    .await;
    assert_eq!(resp.status(), 404);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "no fixture");
    assert_eq!(body["provider"], "sec_edgar");
    assert_eq!(body["path"], "/cgi-bin/browse");
    assert_eq!(body["method"], "GET");
    assert_eq!(body["epoch"], 2);
    assert_eq!(body["query"]["cik"], "42");
    assert_eq!(body["query"]["x"], "a b");
    assert_eq!(body["raw_query"], "cik=42&x=a%20b");
}

#[tokio::test]
async fn stats_count_requests_by_path_and_reset() {
    let dir = fixtures();
    let server = FixtureServer::start(dir.path(), 1, local()).await.unwrap();
    let base = server.url();
    for _ in 0..3 {
        get(format!("{base}/homepage/acme.io/")).await;
    }
    get(format!("{base}/dns/resolve?name=acme.io&type=MX")).await;
    get(format!("{base}/nothing/here")).await; // 404s count too: the request reached us

    let stats = server.stats();
    assert_eq!(stats.total, 5);
    assert_eq!(stats.hits("/homepage/acme.io/"), 3);
    assert_eq!(stats.hits("/dns/resolve?name=acme.io&type=MX"), 1);
    assert_eq!(stats.hits("/nothing/here"), 1);
    assert_eq!(stats.provider_hits("homepage"), 3);
    assert_eq!(stats.provider_hits("home"), 0);

    // The HTTP view is the same data, and does not count itself.
    let over_http: Stats = get(format!("{base}/__stats")).await.json().await.unwrap();
    assert_eq!(over_http, stats);
    let raw: Value = get(format!("{base}/__stats")).await.json().await.unwrap();
    assert_eq!(raw["by_path"]["/homepage/acme.io/"], 3);

    let client = reqwest::Client::new();
    let resp = client.post(format!("{base}/__reset")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.stats(), Stats::default());

    get(format!("{base}/homepage/acme.io/")).await;
    assert_eq!(server.stats().total, 1);
    server.reset_stats();
    assert_eq!(server.stats().total, 0);
}

#[tokio::test]
async fn refuses_non_loopback_and_bad_fixtures() {
    let dir = fixtures();
    let public: SocketAddr = "0.0.0.0:0".parse().unwrap();
    assert!(matches!(
        FixtureServer::start(dir.path(), 1, public).await,
        Err(FixtureError::NotLoopback(_))
    ));
    let lan: SocketAddr = "192.168.1.10:8080".parse().unwrap();
    assert!(matches!(
        FixtureServer::start(dir.path(), 1, lan).await,
        Err(FixtureError::NotLoopback(_))
    ));

    let err = FixtureServer::start(dir.path(), 3, local())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, FixtureError::UnknownEpoch { epoch: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("epoch3"), "{err}");
    assert!(matches!(
        FixtureServer::start(dir.path(), 0, local()).await,
        Err(FixtureError::ZeroEpoch)
    ));

    // Bad TOML: the error names the file and the line.
    let bad = tempfile::tempdir().unwrap();
    write(
        bad.path(),
        "epoch1/manifest.toml",
        "[[route]]\nprovider = \"a\"\npath = \"/x\"\n\n[[route]]\nprovider = \"b\"\npath = /y\n",
    );
    let err = FixtureServer::start(bad.path(), 1, local())
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        matches!(err, FixtureError::Manifest { line: 7, .. }),
        "{text}"
    );
    assert!(text.contains("manifest.toml:7"), "{text}");

    // Unknown key (typo) is refused too.
    write(
        bad.path(),
        "epoch1/manifest.toml",
        "[[route]]\nprovider = \"a\"\npath = \"/x\"\nquerry = { a = \"b\" }\n",
    );
    let err = FixtureServer::start(bad.path(), 1, local())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("querry"), "{err}");

    // Missing body file: names the manifest line and the body path.
    write(
        bad.path(),
        "epoch1/manifest.toml",
        "[[route]]\nprovider = \"a\"\npath = \"/x\"\n\n[[route]]\nprovider = \"b\"\npath = \"/y\"\nbody = \"nope.json\"\n",
    );
    let err = FixtureServer::start(bad.path(), 1, local())
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        matches!(err, FixtureError::MissingBody { line: 5, .. }),
        "{text}"
    );
    assert!(text.contains("nope.json"), "{text}");

    // A body outside the epoch folder is refused.
    write(
        bad.path(),
        "epoch1/manifest.toml",
        "[[route]]\nprovider = \"a\"\npath = \"/x\"\nbody = \"../../etc/passwd\"\n",
    );
    assert!(matches!(
        FixtureServer::start(bad.path(), 1, local()).await,
        Err(FixtureError::Manifest { line: 1, .. })
    ));
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let dir = fixtures();
    let server = FixtureServer::start(dir.path(), 1, local()).await.unwrap();
    let url = format!("{}/homepage/acme.io/", server.url());
    assert_eq!(get(url.clone()).await.status(), 200);
    drop(server);
    // A fresh client (no pooled keep-alive connection) can no longer connect.
    let mut refused = false;
    for _ in 0..50 {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        if client.get(&url).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "server still answering after drop");
}

#[test]
fn rewrite_base_url_follows_the_readme() {
    let fx = "http://127.0.0.1:4010";
    assert_eq!(
        rewrite_base_url("https://data.sec.gov", fx, "sec_edgar"),
        "http://127.0.0.1:4010/sec_edgar"
    );
    assert_eq!(
        rewrite_base_url("https://{domain}", fx, "homepage"),
        "http://127.0.0.1:4010/homepage/{domain}"
    );
    assert_eq!(
        rewrite_base_url(
            "https://api.similarweb.com/v1",
            "http://127.0.0.1:4010/",
            "similarweb"
        ),
        "http://127.0.0.1:4010/similarweb",
        "trailing slash on the fixture URL is not doubled"
    );
    // The homepage of techstart.io then lands exactly where the README says it is served.
    let base =
        rewrite_base_url("https://{domain}", fx, "homepage").replace("{domain}", "techstart.io");
    assert_eq!(
        format!("{base}/robots.txt"),
        "http://127.0.0.1:4010/homepage/techstart.io/robots.txt"
    );
}

#[tokio::test]
async fn batch_endpoints_answer_item_sets_never_recorded_together() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "epoch1/manifest.toml",
        r#"
[[batch]]
provider = "wikidata"
path = "/w/api.php"
param = "ids"
split = "/entities"

[[route]]
provider = "wikidata"
path = "/w/api.php"
query = { action = "wbgetentities", ids = "Q1|Q2", format = "json" }
headers = { "content-type" = "application/json; charset=utf-8", "server" = "nginx" }
body = "wikidata/a.json"

[[route]]
provider = "wikidata"
path = "/w/api.php"
query = { action = "wbgetentities", ids = "Q3", props = "labels", format = "json" }
body = "wikidata/b.json"
"#,
    );
    write(
        d,
        "epoch1/wikidata/a.json",
        r#"{"entities":{"Q1":{"id":"Q1","v":1},"Q2":{"id":"Q2","v":1}},"success":1}"#,
    );
    write(
        d,
        "epoch1/wikidata/b.json",
        r#"{"entities":{"Q3":{"id":"Q3","labels":{}}},"success":1}"#,
    );
    write(
        d,
        "epoch2/manifest.toml",
        r#"
[[route]]
provider = "wikidata"
path = "/w/api.php"
query = { action = "wbgetentities", ids = "Q2", format = "json" }
body = "wikidata/c.json"
"#,
    );
    write(
        d,
        "epoch2/wikidata/c.json",
        r#"{"entities":{"Q2":{"id":"Q2","v":2}},"success":1}"#,
    );
    let e2 = FixtureServer::start(d, 2, local()).await.unwrap();
    let api = format!(
        "{}/wikidata/w/api.php?action=wbgetentities&format=json",
        e2.url()
    );

    // A recorded set is served as recorded (epoch 1's route, since epoch 2 has no such set).
    let v: Value = get(format!("{api}&ids=Q1%7CQ2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["entities"]["Q2"]["v"], 1);
    // A set never recorded together: each item from its newest recording, in the frame of the
    // first item's answer with its headers.
    let resp = get(format!("{api}&ids=Q1%7CQ3&props=labels")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["server"], "nginx");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v,
        serde_json::json!({"entities": {"Q1": {"id": "Q1", "v": 1}, "Q3": {"id": "Q3", "labels": {}}}, "success": 1})
    );
    let v: Value = get(format!("{api}&ids=Q2%7CQ3&props=labels"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["entities"]["Q2"]["v"], 2, "epoch 2's recording of Q2");
    // Q3 was recorded with props=labels only: not served to a request without it.
    let resp = get(format!("{api}&ids=Q1%7CQ3")).await;
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["missing_items"], serde_json::json!(["Q3"]));
    assert_eq!(e2.stats().provider_hits("wikidata"), 4);
}
