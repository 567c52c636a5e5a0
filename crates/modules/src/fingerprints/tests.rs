use super::*;
use serde_json::json;
use std::time::Instant;

fn small_db() -> FingerprintDb {
    let techs = json!({
        "WordPress": {
            "cats": [1, 11],
            "website": "https://wordpress.org",
            "meta": {"generator": "^WordPress ?([\\d.]+)?\\;version:\\1"},
            "html": "<link rel=[\"']stylesheet[\"'] [^>]+/wp-(?:content|includes)/",
            "headers": {"link": "rel=\"https://api\\.w\\.org/\""},
            "implies": ["PHP", "MySQL\\;confidence:50"]
        },
        "Yoast SEO": {
            "cats": [54],
            "html": "<!-- This site is optimized with the Yoast (?:WordPress )?SEO plugin v([^\\s]+) -\\;version:\\1",
            "implies": "WordPress"
        },
        "WP Plugin": {"cats": [87], "scriptSrc": "/wp-content/plugins/thing/", "requires": "WordPress"},
        "Shopify App": {"cats": [100], "scriptSrc": "/apps/thing\\.js", "requires": "Shopify"},
        "Shopify": {"cats": [6], "headers": {"x-shopid": ""}},
        "PHP": {"cats": [27], "implies": "Zend\\;confidence:40"},
        "Zend": {"cats": [27]},
        "MySQL": {"cats": [34]},
        "Google Analytics": {
            "cats": [10],
            "cookies": {"_ga": "", "_ga_*": "\\;version:GA4"},
            "scriptSrc": ["googletagmanager\\.com/gtag/js"]
        },
        "Cloudflare": {"cats": [31], "headers": {"Server": "^cloudflare$", "cf-ray": ""}},
        "Magento": {
            "cats": [6],
            "cookies": {"frontend": "\\;confidence:50"},
            "scriptSrc": ["static/_requirejs\\;confidence:50\\;version:2"],
            "dom": {"script[type='text/x-magento-init']": {"exists": ""}}
        },
        "Google Workspace": {"cats": [30], "dns": {"MX": ["aspmx\\.l\\.google\\.com"]}},
        "Sendgrid": {"cats": [75], "dns": {"TXT": ["sendgrid\\.net"]}},
        "AngularJS": {"cats": [12], "scriptSrc": "angular(?:\\.min)?\\.js", "excludes": "Angular"},
        "Angular": {"cats": [12], "html": "ng-version=\"([\\d.]+)\"\\;version:\\1"},
        "Broken": {"cats": [1], "html": ["(unclosed", "fine"], "dom": "div[[["}
    });
    let cats = json!({
        "1": {"name": "CMS"}, "6": {"name": "Ecommerce"}, "10": {"name": "Analytics"},
        "11": {"name": "Blogs"}, "31": {"name": "CDN"}
    });
    FingerprintDb::from_values(&techs, Some(&cats))
}

fn find<'a>(d: &'a [Detection], name: &str) -> &'a Detection {
    d.iter().find(|x| x.name == name).unwrap_or_else(|| {
        panic!(
            "{name} not detected in {:?}",
            d.iter().map(|x| &x.name).collect::<Vec<_>>()
        )
    })
}

#[test]
fn compile_failures_are_reported_not_fatal() {
    let db = small_db();
    assert_eq!(db.len(), 16);
    let r = db.compile_report();
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r
        .iter()
        .any(|f| f.technology == "Broken" && f.field == "html" && f.pattern == "(unclosed"));
    assert!(r
        .iter()
        .any(|f| f.technology == "Broken" && f.field == "dom"));
    let obs = Observation {
        html: "this is fine".into(),
        ..Default::default()
    };
    assert_eq!(find(&db.detect(&obs), "Broken").confidence, 100);
}

#[test]
fn headers_cookies_meta_and_versions() {
    let db = small_db();
    let mut obs = Observation::from_page(
        "https://shop.example/",
        &[
            ("Server".into(), "cloudflare".into()),
            ("Set-Cookie".into(), "_ga_ABC123=GS1.1; path=/".into()),
        ],
        r#"<html><head><meta name="generator" content="WordPress 6.4.2">
           <!-- This site is optimized with the Yoast SEO plugin v21.7 - https://yoast.com/ -->
           <script src="https://www.googletagmanager.com/gtag/js?id=G-XYZ"></script>
           <script src="/wp-content/plugins/thing/a.js"></script>
           <script src="/apps/thing.js"></script></head></html>"#,
    );
    obs.add_dns("mx", vec!["aspmx.l.google.com".to_string()]);
    let d = db.detect(&obs);
    let names: Vec<&str> = d.iter().map(|x| x.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "detections are sorted by name");

    let wp = find(&d, "WordPress");
    assert_eq!(wp.version.as_deref(), Some("6.4.2"));
    assert_eq!(wp.categories, vec!["CMS", "Blogs"]);
    assert_eq!(wp.evidence[0].field, "meta:generator");
    assert_eq!(wp.evidence[0].matched, "WordPress 6.4.2");
    assert_eq!(wp.website.as_deref(), Some("https://wordpress.org"));

    assert_eq!(find(&d, "Yoast SEO").version.as_deref(), Some("21.7"));
    let ga = find(&d, "Google Analytics");
    assert_eq!(ga.version.as_deref(), Some("GA4"));
    assert!(ga
        .evidence
        .iter()
        .any(|e| e.field == "cookies:_ga_*" && e.matched.starts_with("_ga_ABC123=")));
    assert!(ga
        .evidence
        .iter()
        .any(|e| e.field == "scriptSrc" && e.matched == "googletagmanager.com/gtag/js"));
    let cf = find(&d, "Cloudflare");
    assert_eq!(cf.evidence[0].field, "headers:server");
    assert_eq!(find(&d, "Google Workspace").evidence[0].field, "dns:MX");
    // Categories without a name fall back to the id.
    assert_eq!(find(&d, "Google Workspace").categories, vec!["30"]);
    // requires: the plugin needs WordPress (present), the app needs Shopify (absent).
    assert!(names.contains(&"WP Plugin"));
    assert!(!names.contains(&"Shopify App"));
    assert!(!names.contains(&"Sendgrid"));
}

#[test]
fn implies_are_transitive_with_lower_confidence() {
    let db = small_db();
    let obs = Observation {
        headers: [(
            "link".to_string(),
            vec!["<https://x/wp-json/>; rel=\"https://api.w.org/\"".to_string()],
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    let d = db.detect(&obs);
    assert_eq!(find(&d, "WordPress").confidence, 100);
    let php = find(&d, "PHP");
    assert_eq!(php.confidence, 100);
    assert_eq!(php.evidence[0].field, "implies");
    assert_eq!(php.evidence[0].pattern, "WordPress");
    assert_eq!(find(&d, "MySQL").confidence, 50);
    assert_eq!(find(&d, "Zend").confidence, 40, "PHP implies Zend at 40");
}

#[test]
fn confidence_sums_and_caps() {
    let db = small_db();
    let only_cookie = Observation {
        cookies: [("frontend".to_string(), "abc".to_string())]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let m = db.detect(&only_cookie);
    assert_eq!(find(&m, "Magento").confidence, 50);
    let mut both = only_cookie.clone();
    both.script_srcs = vec![
        "/static/_requirejs/a.js".into(),
        "/static/_requirejs/b.js".into(),
    ];
    both.html = "<script type=\"text/x-magento-init\">{}</script>".into();
    let m = db.detect(&both);
    let mg = find(&m, "Magento");
    assert_eq!(mg.confidence, 100);
    assert_eq!(mg.version.as_deref(), Some("2"));
    // The same pattern matching two scripts is counted once.
    assert_eq!(
        mg.evidence
            .iter()
            .filter(|e| e.field == "scriptSrc")
            .count(),
        1
    );
    assert!(mg
        .evidence
        .iter()
        .any(|e| e.field == "dom" && e.matched.contains("text/x-magento-init")));
}

#[test]
fn excludes_remove_the_excluded() {
    let db = small_db();
    let obs = Observation {
        script_srcs: vec!["/js/angular.min.js".into()],
        html: "<app-root ng-version=\"17.0.1\"></app-root>".into(),
        ..Default::default()
    };
    let d = db.detect(&obs);
    assert!(d.iter().any(|x| x.name == "AngularJS"));
    assert!(
        !d.iter().any(|x| x.name == "Angular"),
        "AngularJS excludes Angular"
    );
}

#[test]
fn markers_far_down_a_large_page_are_seen() {
    // A 900 KiB page whose only marker sits at the end (the old 500 KiB cut missed it).
    let db = small_db();
    let mut html = "<html><body>".to_string() + &"<p>filler</p>".repeat(80_000);
    html.push_str("<!-- This site is optimized with the Yoast SEO plugin v21.9.1 - -->");
    assert!(html.len() > 900 * 1024);
    let obs = Observation {
        html,
        ..Default::default()
    };
    let found = db.detect(&obs);
    assert!(
        found.iter().any(|d| d.version.as_deref() == Some("21.9.1")),
        "{found:?}"
    );
}

#[test]
fn protocol_relative_script_sources_are_resolved_against_the_page() {
    let obs = Observation::from_page(
        "https://www.example.com/shop/",
        &[],
        r#"<script src="//cdn.jsdelivr.net/npm/x.js"></script><script src="app.js"></script>"#,
    );
    assert_eq!(
        obs.script_srcs,
        vec![
            "https://cdn.jsdelivr.net/npm/x.js",
            "https://www.example.com/shop/app.js"
        ]
    );
}

#[test]
fn implausible_versions_are_dropped() {
    use super::plausible_version;
    assert!(plausible_version("6.4.3"));
    assert!(plausible_version("1.12.4-beta"));
    assert!(!plausible_version("20240917"));
    assert!(!plausible_version("1.2.3.4.5.6.7.8.9"));
    assert!(!plausible_version(""));
}

#[test]
fn html_beyond_the_limit_is_ignored() {
    let db = small_db();
    let mut html = "x".repeat(HTML_MATCH_LIMIT + 10);
    html.push_str("fine");
    let obs = Observation {
        html,
        ..Default::default()
    };
    assert!(db.detect(&obs).is_empty());
}

#[test]
fn missing_folder_is_a_clear_error() {
    let err = FingerprintDb::load_dir(Path::new("/nonexistent/fingerprints")).unwrap_err();
    assert!(err.to_string().contains("technologies"), "{err}");
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A realistic marketing homepage with markers from real CDNs.
pub(crate) const REALISTIC_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8"><title>Acme — Search for enterprise</title>
<meta name="generator" content="WordPress 6.4.2">
<!-- This site is optimized with the Yoast SEO plugin v21.7 - https://yoast.com/wordpress/plugins/seo/ -->
<link rel='stylesheet' id='main-css' href='https://acme.example/wp-content/themes/acme/style.css?ver=1.2' media='all' />
<!-- Google Tag Manager -->
<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],j=d.createElement(s);j.async=true;j.src='https://www.googletagmanager.com/gtm.js?id='+i;f.parentNode.insertBefore(j,f);})(window,document,'script','dataLayer','GTM-ABC123');</script>
<!-- End Google Tag Manager -->
<script async src="https://www.googletagmanager.com/gtag/js?id=G-XYZ123"></script>
<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}gtag('js',new Date());gtag('config', 'G-XYZ123');</script>
<script src="https://www.googletagmanager.com/gtm.js?id=GTM-ABC123"></script>
<script src="https://cdn.jsdelivr.net/npm/algoliasearch@4.20.0/dist/algoliasearch-lite.umd.js"></script>
<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>
<script src="https://static.hotjar.com/c/hotjar-123.js?sv=6"></script>
<script src="https://cdn.segment.com/analytics.js/v1/KEY/analytics.min.js"></script>
<script src="https://munchkin.marketo.net/159/munchkin.js"></script>
<script src="https://static.zdassets.com/ekr/snippet.js?key=abc"></script>
<script src="https://js.stripe.com/v3/"></script>
<script src="https://static.klaviyo.com/onsite/js/klaviyo.js?company_id=AB12"></script>
<script src="https://static.cloud.coveo.com/searchui/v2.10094/js/CoveoJsSearch.Lazy.min.js"></script>
</head>
<body class="home page-template-default">
<!-- Start of Async HubSpot Analytics Code -->
<script type="text/javascript" id="hs-script-loader" async defer src="//js.hs-scripts.com/1234567.js"></script>
<!-- End of Async HubSpot Analytics Code -->
<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-ABC123" height="0" width="0" style="display:none;visibility:hidden"></iframe></noscript>
<div id="root"><div data-reactroot="">Search everything</div></div>
<form id="mc-embedded-subscribe-form" name="mc-embedded-subscribe-form" action="https://acme.us1.list-manage.com/subscribe/post"></form>
<link rel="preconnect" href="https://js-agent.newrelic.com">
<iframe id="intercom-frame" style="display:none"></iframe>
</body></html>"#;

#[test]
fn full_wappalyzer_database_loads_and_detects() {
    let dir = manifest_dir().join("../../../shared/data/wappalyzer-mit-6.10.54");
    if !dir.join("technologies").is_dir() {
        println!("SKIPPED: {} not present", dir.display());
        return;
    }
    let t0 = Instant::now();
    let db = FingerprintDb::load_dir(&dir).unwrap();
    let load = t0.elapsed();
    assert!((3500..=3700).contains(&db.len()), "loaded {}", db.len());
    let report = db.compile_report();
    println!(
        "loaded {} technologies in {load:?}; {} patterns failed to compile",
        db.len(),
        report.len()
    );
    for f in report.iter().take(20) {
        println!(
            "  {} [{}] {:?}: {}",
            f.technology, f.field, f.pattern, f.error
        );
    }
    // The report is informative, but a handful at most: the translation must handle the rest.
    assert!(
        report.len() < 60,
        "too many compile failures: {}",
        report.len()
    );

    let obs = Observation::from_page(
        "https://acme.example/",
        &[
            ("server".into(), "cloudflare".into()),
            ("cf-ray".into(), "8a1b2c3d4e5f-AMS".into()),
            ("set-cookie".into(), "_ALGOLIA=anonymous-1; Path=/".into()),
            (
                "link".into(),
                "<https://acme.example/wp-json/>; rel=\"https://api.w.org/\"".into(),
            ),
        ],
        REALISTIC_PAGE,
    );
    let t1 = Instant::now();
    let d = db.detect(&obs);
    println!(
        "matched in {:?}: {:?}",
        t1.elapsed(),
        d.iter()
            .map(|x| (&x.name, &x.version, x.confidence))
            .collect::<Vec<_>>()
    );
    for name in [
        "WordPress",
        "Yoast SEO",
        "Google Tag Manager",
        "Google Analytics",
        "Algolia",
        "jQuery",
        "Hotjar",
        "Segment",
        "Marketo",
        "Zendesk",
        "Klaviyo",
        "Coveo",
        "HubSpot",
        "Cloudflare",
        "MailChimp",
        "Intercom",
        "New Relic",
        "PHP",
    ] {
        find(&d, name);
    }
    assert_eq!(find(&d, "WordPress").version.as_deref(), Some("6.4.2"));
    assert_eq!(find(&d, "Marketo").version.as_deref(), Some("159"));
    assert_eq!(find(&d, "Google Analytics").version.as_deref(), Some("GA4"));
    assert!(find(&d, "Algolia")
        .evidence
        .iter()
        .any(|e| e.field == "cookies:_ALGOLIA"));
}

#[test]
fn curated_database_loads_cleanly() {
    let dir = manifest_dir().join("../../config/fingerprints");
    let db = FingerprintDb::load_dir(&dir).unwrap();
    assert!(
        db.len() >= 150,
        "curated database has only {} technologies",
        db.len()
    );
    assert!(db.compile_report().is_empty(), "{:#?}", db.compile_report());
    for name in [
        "Algolia",
        "HubSpot",
        "Google Analytics",
        "Google Tag Manager",
        "Cloudflare",
        "Intercom",
        "Stripe",
        "React",
        "Next.js",
        "Magento",
        "Bloomreach",
        "Klaviyo",
        "Akamai",
        "Optimizely",
        "Zendesk",
        "WordPress",
        "Yoast SEO",
        "jQuery",
        "Marketo",
        "Coveo",
        "New Relic",
        "Squarespace",
        "Webflow",
        "Segment",
        "Drift",
        "Drupal",
        "Swiftype",
        "Pardot",
        "Hotjar",
        "Google Workspace",
        "Microsoft 365",
        "SendGrid",
        "Mailchimp",
        "Klevu",
        "Searchspring",
        "Elasticsearch",
        "Bloomreach Discovery",
        "Constructor.io",
        "Salesforce",
    ] {
        assert!(db.contains(name), "curated database lacks {name}");
    }
    // Every category id used has a name.
    for t in db.technologies() {
        for c in &t.categories {
            assert!(
                c.parse::<u32>().is_err(),
                "{} has unnamed category {c}",
                t.name
            );
        }
    }
    // And it detects on the realistic page and on DNS alone.
    let mut obs = Observation::from_page(
        "https://acme.example/",
        &[("server".into(), "cloudflare".into())],
        REALISTIC_PAGE,
    );
    obs.add_dns("MX", vec!["1 aspmx.l.google.com.".to_string()]);
    obs.add_dns(
        "TXT",
        vec!["v=spf1 include:_spf.google.com include:sendgrid.net include:servers.mcsv.net include:mail.zendesk.com include:_spf.salesforce.com ~all".to_string()],
    );
    let d = db.detect(&obs);
    for name in [
        "WordPress",
        "Google Analytics",
        "Algolia",
        "HubSpot",
        "Cloudflare",
        "Google Workspace",
        "SendGrid",
        "Mailchimp",
        "Zendesk",
        "Salesforce",
        "Coveo",
        "Intercom",
        "New Relic",
    ] {
        find(&d, name);
    }
}

/// Observation of a recorded demo homepage (and its recorded DNS answers) from the fixtures.
fn fixture_observation(epoch_dir: &Path, route: &toml::Value, domain: &str) -> Observation {
    let headers: Vec<(String, String)> = route
        .get("headers")
        .and_then(|h| h.as_table())
        .map(|t| {
            t.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let html = route
        .get("body")
        .and_then(|b| b.as_str())
        .map(|b| std::fs::read_to_string(epoch_dir.join(b)).unwrap())
        .unwrap_or_default();
    let mut obs = Observation::from_page(&format!("https://{domain}/"), &headers, &html);
    let dns_dir = epoch_dir.join("../epoch1/dns");
    for (t, rt) in [
        ("MX", crate::dns::RecordType::Mx),
        ("TXT", crate::dns::RecordType::Txt),
    ] {
        if let Ok(body) = std::fs::read(dns_dir.join(format!("{domain}-{t}.json"))) {
            if let Ok(records) = crate::dns::parse_doh(&body, domain, rt, "fixture") {
                obs.add_dns(t, records);
            }
        }
    }
    obs
}

#[test]
fn curated_database_detects_the_demo_fixture_stacks() {
    let fixtures = manifest_dir().join("../../fixtures");
    if !fixtures.join("epoch1/manifest.toml").is_file() {
        println!("SKIPPED: no fixtures at {}", fixtures.display());
        return;
    }
    let db = FingerprintDb::load_dir(&manifest_dir().join("../../config/fingerprints")).unwrap();
    let expected: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "epoch1",
            "techstart.io",
            &[
                "Next.js",
                "React",
                "Cloudflare",
                "Algolia",
                "Google Analytics",
                "Google Tag Manager",
                "HubSpot",
                "Intercom",
                "Stripe",
                "Google Workspace",
                "SendGrid",
            ],
            &[],
        ),
        (
            "epoch1",
            "northwind-retail.com",
            &[
                "Magento",
                "Akamai",
                "Bloomreach",
                "Bloomreach Discovery",
                "Klaviyo",
                "Optimizely",
                "Zendesk",
                "Microsoft 365",
                "Google Tag Manager",
                "Mailchimp",
            ],
            &[],
        ),
        (
            "epoch1",
            "globex-logistics.com",
            &[
                "WordPress",
                "Yoast SEO",
                "Cloudflare",
                "Coveo",
                "Marketo",
                "New Relic",
                "jQuery",
            ],
            &[],
        ),
        (
            "epoch1",
            "blueharbor-health.com",
            &["Squarespace", "Microsoft 365"],
            &["Squarespace Commerce"],
        ),
        (
            "epoch1",
            "quantumleaf.ai",
            &["Webflow", "Drift", "Segment", "Cloudflare"],
            &[],
        ),
        (
            "epoch1",
            "initech-software.com",
            &[
                "Drupal",
                "Swiftype",
                "Hotjar",
                "Optimizely",
                "Pardot",
                "Google Workspace",
            ],
            &[],
        ),
        (
            "epoch2",
            "techstart.io",
            &["Next.js", "Intercom"],
            &["Algolia"],
        ),
        (
            "epoch2",
            "initech-software.com",
            &["Drupal", "Algolia"],
            &["Swiftype"],
        ),
    ];
    let mut manifests = BTreeMap::new();
    for epoch in ["epoch1", "epoch2"] {
        let text = std::fs::read_to_string(fixtures.join(epoch).join("manifest.toml")).unwrap();
        manifests.insert(epoch, text.parse::<toml::Table>().unwrap());
    }
    for (epoch, domain, present, absent) in expected {
        let routes = manifests[epoch]["route"].as_array().unwrap();
        let Some(route) = routes.iter().find(|r| {
            r.get("provider").and_then(|p| p.as_str()) == Some("homepage")
                && r.get("path").and_then(|p| p.as_str()) == Some(&format!("/{domain}/"))
        }) else {
            panic!("fixture {epoch} has no homepage for {domain}");
        };
        let obs = fixture_observation(&fixtures.join(epoch), route, domain);
        let d = db.detect(&obs);
        let names: Vec<&str> = d.iter().map(|x| x.name.as_str()).collect();
        for want in *present {
            assert!(
                names.contains(want),
                "{epoch} {domain}: {want} not in {names:?}"
            );
        }
        for unwanted in *absent {
            assert!(
                !names.contains(unwanted),
                "{epoch} {domain}: {unwanted} in {names:?}"
            );
        }
    }
}
