//! Module `m02_tech_stack`: what a company runs, from its homepage (headers, cookies, meta tags,
//! scripts, HTML) and its DNS (MX, SPF includes, verification records), matched against a
//! Wappalyzer-format fingerprint database. Every detection carries the evidence that produced
//! it, so a brief can say *why* we believe a site runs Algolia, and a displacement play can
//! point at the exact script tag.

use crate::clients::cite::attempted;
use crate::clients::site::{same_site_path, site_url};
use crate::dns::{self, DnsAnswer, DnsError, RecordType};
use crate::fingerprints::{Detection, FingerprintDb, FingerprintError, Observation};
use crate::ModulesError;
use async_trait::async_trait;
use chrono::Utc;
use pforge_budget::Call;
use pforge_core::{
    Citation, ExpectedCall, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec, SetArray,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Stable module id (storage key).
pub const ID: &str = "m02_tech_stack";

/// `[tech_stack]` settings.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TechStackConfig {
    /// Folder in Wappalyzer format, relative to the config file's folder. Default:
    /// `fingerprints` next to the config file (the curated `config/fingerprints`).
    pub fingerprints: Option<PathBuf>,
}

/// The tech-stack module. Holds the compiled fingerprint database (compiled once, shared).
pub struct TechStack {
    spec: ModuleSpec,
    db: Arc<FingerprintDb>,
}

impl TechStack {
    /// Loads the configured fingerprint folder. Patterns that do not compile are logged, not
    /// fatal; a missing or malformed folder is an error naming the path.
    pub fn new(cfg: &TechStackConfig, base_dir: &Path) -> Result<TechStack, ModulesError> {
        let dir = match &cfg.fingerprints {
            Some(p) => base_dir.join(p),
            None => base_dir.join("fingerprints"),
        };
        let db = FingerprintDb::load_dir(&dir).map_err(|e| match e {
            FingerprintError::Read { path, reason } => ModulesError::Read { path, reason },
            FingerprintError::Invalid { path, reason } => ModulesError::Invalid { path, reason },
        })?;
        if db.is_empty() {
            return Err(ModulesError::Invalid {
                path: dir,
                reason: "the fingerprint folder defines no technologies".into(),
            });
        }
        for f in db.compile_report() {
            tracing::warn!(
                technology = %f.technology, field = %f.field, pattern = %f.pattern,
                "fingerprint pattern skipped: {}", f.error
            );
        }
        tracing::debug!(dir = %dir.display(), technologies = db.len(), "fingerprints loaded");
        Ok(TechStack::with_db(Arc::new(db)))
    }

    /// A module over an already-loaded database (shared between module instances or tests).
    pub fn with_db(db: Arc<FingerprintDb>) -> TechStack {
        TechStack {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Tech stack".into(),
                dependencies: Vec::new(),
                providers: vec!["homepage".into(), dns::PROVIDER.into()],
                runs_degraded: false,
                set_arrays: vec![
                    SetArray::keyed("/technologies", "name"),
                    SetArray::keyed("/mx", "host"),
                    SetArray::scalars("/spf_includes"),
                    SetArray::keyed("/verifications", "service"),
                ],
            },
            db,
        }
    }

    /// The loaded fingerprint database.
    pub fn db(&self) -> &FingerprintDb {
        &self.db
    }
}

/// A DNS lookup's outcome with what is needed to cite it either way.
struct DnsResult {
    rtype: RecordType,
    call: Call,
    result: Result<DnsAnswer, DnsError>,
}

#[async_trait]
impl Module for TechStack {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    fn expected_calls(&self) -> Vec<ExpectedCall> {
        vec![
            ExpectedCall::per_domain("homepage", "/"),
            ExpectedCall::per_domain(dns::PROVIDER, "MX"),
            ExpectedCall::per_domain(dns::PROVIDER, "TXT"),
        ]
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let domain = ctx.domain.as_str();
        let page_call = Call::get("homepage", "/").for_domain(domain).by_module(ID);
        let has_dns = ctx.gateway.has_provider(dns::PROVIDER);
        let lookup = |rtype: RecordType| async move {
            let call = dns::lookup_call(domain, rtype, ID);
            let result = if has_dns {
                dns::lookup(&ctx.gateway, domain, rtype, ID).await
            } else {
                Err(DnsError::Gateway(
                    pforge_budget::GatewayError::UnknownProvider(dns::PROVIDER.into()),
                ))
            };
            DnsResult {
                rtype,
                call,
                result,
            }
        };
        let (page, mx, txt) = tokio::join!(
            ctx.gateway.fetch(&page_call),
            lookup(RecordType::Mx),
            lookup(RecordType::Txt)
        );
        // Without the homepage, DNS still tells the mail provider and verified services: report
        // those (with the homepage's failure) unless DNS failed too.
        let dns_answered = mx.result.is_ok() || txt.result.is_ok();
        let (page, homepage_error) = match page {
            Ok(p) => (Some(p), None),
            // Only the site's own failure degrades; a budget cap, an open breaker or missing
            // configuration stay the module's error.
            Err(e)
                if dns_answered
                    && matches!(
                        e,
                        pforge_budget::GatewayError::Status { .. }
                            | pforge_budget::GatewayError::Timeout { .. }
                            | pforge_budget::GatewayError::Connect { .. }
                            | pforge_budget::GatewayError::TooLarge { .. }
                            | pforge_budget::GatewayError::Body { .. }
                            | pforge_budget::GatewayError::Forbidden { .. }
                            | pforge_budget::GatewayError::TooManyRedirects { .. }
                    ) =>
            {
                (None, Some(e))
            }
            Err(e) => return Err(e.into()),
        };

        // Matching is synchronous: the parsed document never lives across an await. Script
        // sources resolve against the page's public URL (not the fixture server's).
        let mut obs = match &page {
            Some(page) => {
                let html = page.text();
                let public = same_site_path(ctx, &page.url)
                    .and_then(|p| site_url(domain, &p))
                    .map(|u| u.to_string())
                    .unwrap_or_else(|| page.url.clone());
                Observation::from_page(&public, &page.headers, &html)
            }
            None => Observation::default(),
        };
        for r in [&mx, &txt] {
            if let Ok(a) = &r.result {
                obs.add_dns(r.rtype.as_str(), a.records.iter().cloned());
            }
        }
        let mut detections = self.db.detect(&obs);
        // Emit the order the executor canonicalizes to (case-insensitive by name), so what the
        // module returns is already what gets stored.
        detections.sort_by_cached_key(|d| (d.name.to_lowercase(), d.name.clone()));

        let mut out = ModuleOutput::new();
        let page_cite = match &page {
            Some(p) => Citation::from_response(p, &[]),
            None => attempted(ctx, &page_call),
        };
        out.set("technologies", technologies_json(&detections), &page_cite);
        if let Some(e) = &homepage_error {
            out.set(
                "homepage_error",
                format!("homepage unavailable ({e}): technologies from DNS only"),
                &page_cite,
            );
        }
        // DNS-derived detections are also cited by the lookup that produced them.
        for r in [&mx, &txt] {
            if let Ok(a) = &r.result {
                let field = format!("dns:{}", r.rtype.as_str());
                let covers: Vec<String> = detections
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| d.evidence.iter().any(|e| e.field == field))
                    .map(|(i, _)| format!("/technologies/{i}"))
                    .collect();
                if !covers.is_empty() {
                    let mut c = Citation::from_response(&a.response, &[]);
                    c.covers = covers;
                    out.sources.push(c);
                }
            }
        }

        let mut dns_errors = Vec::new();
        match &mx.result {
            Ok(a) => {
                let hosts = dns::mx_hosts(&a.records);
                let provider = hosts.iter().find_map(|h| dns::mail_provider(&h.host));
                let cite = Citation::from_response(&a.response, &[]);
                out.set("mx", json!(hosts), &cite);
                out.set("email_provider", json!(provider), &cite);
            }
            Err(e) => dns_errors.push((
                format!("MX lookup failed: {}", e.stable_reason()),
                dns_error_citation(ctx, &mx.call, e),
            )),
        }
        match &txt.result {
            Ok(a) => {
                let cite = Citation::from_response(&a.response, &[]);
                out.set("spf_includes", json!(dns::spf_includes(&a.records)), &cite);
                out.set(
                    "verifications",
                    json!(dns::verifications(&a.records)),
                    &cite,
                );
            }
            Err(e) => dns_errors.push((
                format!("TXT lookup failed: {}", e.stable_reason()),
                dns_error_citation(ctx, &txt.call, e),
            )),
        }
        if !dns_errors.is_empty() {
            let message = dns_errors
                .iter()
                .map(|(m, _)| m.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            for (_, cite) in &dns_errors {
                out.set("dns_error", Value::String(message.clone()), cite);
            }
        }
        Ok(out)
    }
}

/// The citation of a failed lookup: the URL it was sent to, or the missing configuration.
fn dns_error_citation(ctx: &ModuleContext, call: &Call, err: &DnsError) -> Citation {
    if matches!(
        err,
        DnsError::Gateway(pforge_budget::GatewayError::UnknownProvider(_))
    ) {
        return Citation::config("providers.dns", &[]);
    }
    let source = ctx
        .gateway
        .url_for(call)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| {
            format!(
                "dns:{}",
                call.query
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&")
            )
        });
    Citation {
        source,
        provider: dns::PROVIDER.into(),
        fetched_at: Utc::now(),
        covers: Vec::new(),
        canonical: None,
        via: Vec::new(),
    }
}

/// Detections as output JSON, in name order.
fn technologies_json(detections: &[Detection]) -> Value {
    Value::Array(
        detections
            .iter()
            .map(|d| {
                json!({
                    "name": d.name,
                    "categories": d.categories,
                    "version": d.version,
                    "confidence": d.confidence,
                    "website": d.website,
                    "evidence": d.evidence,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::{Path as UrlPath, Query};
    use axum::http::{header, StatusCode};
    use axum::response::{IntoResponse, Response as AxumResponse};
    use axum::routing::get;
    use axum::Router;
    use pforge_budget::{Gateway, ProviderConfig, ProvidersConfig};
    use pforge_core::Domain;
    use std::collections::{BTreeMap, HashMap};

    const HOMEPAGE: &str = r#"<!DOCTYPE html><html><head>
        <meta name="generator" content="WordPress 6.4.2">
        <script src="https://cdn.jsdelivr.net/npm/algoliasearch@4/dist/algoliasearch-lite.umd.js"></script>
        <script async src="https://www.googletagmanager.com/gtag/js?id=G-XYZ"></script>
        <script src="//js.hs-scripts.com/123.js" id="hs-script-loader"></script>
        <script src="https://js.stripe.com/v3/"></script>
        </head><body><div id="__next" data-reactroot=""></div></body></html>"#;

    fn curated_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config")
    }

    fn domain(s: &str) -> Domain {
        Domain::parse(s).unwrap()
    }

    async fn homepage(UrlPath(domain): UrlPath<String>) -> AxumResponse {
        if domain == "down-corp.com" {
            return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
        }
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::SERVER, "cloudflare"),
                (header::SET_COOKIE, "__cf_bm=abc; path=/; HttpOnly"),
                (header::SET_COOKIE, "_ALGOLIA=anonymous-42; path=/"),
            ],
            HOMEPAGE,
        )
            .into_response()
    }

    async fn doh(Query(q): Query<HashMap<String, String>>) -> AxumResponse {
        let name = q.get("name").cloned().unwrap_or_default();
        let rtype = q.get("type").cloned().unwrap_or_default();
        let body = match (name.as_str(), rtype.as_str()) {
            ("flaky-corp.com", "MX") => {
                return (StatusCode::BAD_GATEWAY, "upstream down").into_response()
            }
            ("flaky-corp.com", "TXT") => json!({"Status": 2, "Comment": "SERVFAIL"}),
            (_, "MX") => json!({"Status": 0, "Answer": [
                {"name": format!("{name}."), "type": 15, "TTL": 300, "data": "5 alt1.aspmx.l.google.com."},
                {"name": format!("{name}."), "type": 15, "TTL": 300, "data": "1 aspmx.l.google.com."}]}),
            (_, "TXT") => json!({"Status": 0, "Answer": [
                {"name": format!("{name}."), "type": 16, "TTL": 300,
                 "data": "\"v=spf1 include:_spf.google.com include:sendgrid.net \" \"include:mail.zendesk.com ~all\""},
                {"name": format!("{name}."), "type": 16, "TTL": 300, "data": "\"google-site-verification=abc\""},
                {"name": format!("{name}."), "type": 16, "TTL": 300, "data": "\"atlassian-domain-verification=xyz\""}]}),
            _ => json!({"Status": 3}),
        };
        (
            [(header::CONTENT_TYPE, "application/dns-json")],
            body.to_string(),
        )
            .into_response()
    }

    async fn server() -> String {
        let app = Router::new()
            .route("/homepage/{domain}/", get(homepage))
            .route("/dns", get(doh));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn gateway(base: &str, with_dns: bool) -> Gateway {
        let mut p = ProvidersConfig::new();
        p.insert(
            "homepage".into(),
            ProviderConfig::new(format!("{base}/homepage/{{domain}}")),
        );
        if with_dns {
            p.insert("dns".into(), ProviderConfig::new(format!("{base}/dns")));
        }
        Gateway::new(p).unwrap()
    }

    fn module() -> TechStack {
        TechStack::new(&TechStackConfig::default(), &curated_dir()).unwrap()
    }

    async fn run(m: &TechStack, gw: Gateway, d: &str) -> Result<ModuleOutput, ModuleError> {
        m.run(&ModuleContext::new(domain(d), gw, BTreeMap::new()))
            .await
    }

    fn names(out: &ModuleOutput) -> Vec<String> {
        out.data["technologies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn detects_page_and_dns_technologies_with_citations() {
        let base = server().await;
        let m = module();
        assert_eq!(m.spec().id, "m02_tech_stack");
        assert_eq!(m.spec().providers, vec!["homepage", "dns"]);
        let out = run(&m, gateway(&base, true), "acme-corp.com")
            .await
            .unwrap();
        out.check_cited().unwrap();
        let n = names(&out);
        for want in [
            "Algolia",
            "Cloudflare",
            "Google Analytics",
            "Google Workspace",
            "HubSpot",
            "React",
            "SendGrid",
            "Stripe",
            "WordPress",
            "Zendesk",
        ] {
            assert!(n.contains(&want.to_string()), "{want} missing from {n:?}");
        }
        let mut sorted = n.clone();
        sorted.sort_by_key(|name| name.to_lowercase());
        assert_eq!(
            n, sorted,
            "technologies are sorted as the executor canonicalizes them"
        );

        let techs = out.data["technologies"].as_array().unwrap();
        let algolia = techs.iter().find(|t| t["name"] == "Algolia").unwrap();
        let fields: Vec<&str> = algolia["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&"cookies:_ALGOLIA"), "{fields:?}");
        assert!(fields.contains(&"scriptSrc"), "{fields:?}");
        let wp = techs.iter().find(|t| t["name"] == "WordPress").unwrap();
        assert_eq!(wp["version"], "6.4.2");
        assert_eq!(wp["categories"][0], "CMS");

        assert_eq!(out.data["email_provider"], "Google Workspace");
        assert_eq!(out.data["mx"][0]["host"], "aspmx.l.google.com");
        assert_eq!(
            out.data["spf_includes"],
            json!(["_spf.google.com", "sendgrid.net", "mail.zendesk.com"])
        );
        assert_eq!(out.data["verifications"][0]["service"], "Atlassian");
        assert_eq!(
            out.data["verifications"][1]["service"],
            "Google Search Console"
        );
        assert!(out.data.get("dns_error").is_none());

        // Page facts cite the homepage URL; DNS facts cite the DoH query URLs.
        let page_src = format!("{base}/homepage/acme-corp.com/");
        let page_cite = out.sources.iter().find(|c| c.source == page_src).unwrap();
        assert_eq!(page_cite.provider, "homepage");
        assert!(page_cite.covers.contains(&"/technologies".to_string()));
        let mx_cite = out
            .sources
            .iter()
            .find(|c| c.source.contains("type=MX"))
            .unwrap();
        assert!(mx_cite.covers.contains(&"/mx".to_string()));
        assert!(mx_cite.covers.contains(&"/email_provider".to_string()));
        let gw_index = n.iter().position(|x| x == "Google Workspace").unwrap();
        assert!(
            mx_cite
                .covers
                .contains(&format!("/technologies/{gw_index}")),
            "{mx_cite:?}"
        );
        let txt_cite = out
            .sources
            .iter()
            .find(|c| c.source.contains("type=TXT"))
            .unwrap();
        assert!(txt_cite.covers.contains(&"/spf_includes".to_string()));
        let sg_index = n.iter().position(|x| x == "SendGrid").unwrap();
        assert!(txt_cite
            .covers
            .contains(&format!("/technologies/{sg_index}")));

        // Deterministic: a second run yields the same data.
        let again = run(&m, gateway(&base, true), "acme-corp.com")
            .await
            .unwrap();
        assert_eq!(out.data, again.data);
    }

    #[tokio::test]
    async fn dns_failure_keeps_page_results() {
        let base = server().await;
        let out = run(&module(), gateway(&base, true), "flaky-corp.com")
            .await
            .unwrap();
        out.check_cited().unwrap();
        assert!(names(&out).contains(&"Algolia".to_string()));
        assert!(!names(&out).contains(&"Google Workspace".to_string()));
        let err = out.data["dns_error"].as_str().unwrap();
        assert!(err.contains("502"), "{err}");
        assert!(err.contains("SERVFAIL"), "{err}");
        assert!(out.data.get("mx").is_none());
        let cites: Vec<&Citation> = out
            .sources
            .iter()
            .filter(|c| c.covers.contains(&"/dns_error".to_string()))
            .collect();
        assert_eq!(cites.len(), 2);
        assert!(cites
            .iter()
            .all(|c| c.provider == "dns" && c.source.starts_with(&format!("{base}/dns?"))));
    }

    #[tokio::test]
    async fn missing_dns_provider_is_cited_from_config() {
        let base = server().await;
        let out = run(&module(), gateway(&base, false), "acme-corp.com")
            .await
            .unwrap();
        out.check_cited().unwrap();
        assert!(out.data["dns_error"]
            .as_str()
            .unwrap()
            .contains("providers.dns"));
        let c = out
            .sources
            .iter()
            .find(|c| c.covers.contains(&"/dns_error".to_string()))
            .unwrap();
        assert_eq!(c.provider, "config");
    }

    #[tokio::test]
    async fn homepage_failure_keeps_the_dns_technologies() {
        let base = server().await;
        let out = run(&module(), gateway(&base, true), "down-corp.com")
            .await
            .expect("DNS answered: the module reports what it knows");
        assert!(out.data["homepage_error"]
            .as_str()
            .is_some_and(|e| e.contains("500")));
        assert_eq!(out.data["email_provider"], "Google Workspace");
        assert!(out.data["technologies"].to_string().contains("\"dns:MX\""));
        assert!(out.check_cited().is_ok());
    }

    #[tokio::test]
    async fn homepage_failure_without_dns_is_the_gateway_error() {
        let base = server().await;
        let err = run(&module(), gateway(&base, false), "down-corp.com")
            .await
            .unwrap_err();
        match err {
            ModuleError::Gateway(g) => assert_eq!(g.status(), Some(500)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn construction_from_config() {
        let custom = TechStackConfig {
            fingerprints: Some(PathBuf::from("fingerprints")),
        };
        assert!(TechStack::new(&custom, &curated_dir()).unwrap().db().len() >= 150);
        let err = TechStack::new(&TechStackConfig::default(), Path::new("/nonexistent"))
            .err()
            .unwrap();
        assert!(matches!(err, ModulesError::Read { .. }), "{err}");
        assert!(
            err.to_string().contains("/nonexistent/fingerprints"),
            "{err}"
        );
        let cfg: TechStackConfig = serde_json::from_value(json!({"fingerprints": "fp"})).unwrap();
        assert_eq!(cfg.fingerprints, Some(PathBuf::from("fp")));
    }
}
