//! M11 displacement targets: the competitor products the account runs that the vendor can
//! replace (M02's detections ∩ `[vendor] competitors`), each with the evidence that detected it
//! (the exact header, script or DNS record), so a rep can say *how* we know.

use crate::derived::{array_at, carry, cite, first_str, num_at};
use crate::vendor::VendorConfig;
use async_trait::async_trait;
use pforge_core::{
    Citation, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec, SetArray,
};
use serde_json::{json, Value};

/// Stable module id (storage key).
pub const ID: &str = "m11_displacement_targets";
const TECH: &str = "m02_tech_stack";

/// The displacement-targets module.
pub struct DisplacementTargets {
    spec: ModuleSpec,
    vendor: VendorConfig,
}

impl DisplacementTargets {
    /// Builds the module over the configured vendor.
    pub fn new(vendor: &VendorConfig) -> Self {
        DisplacementTargets {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Displacement targets".into(),
                dependencies: vec![TECH.into()],
                providers: Vec::new(),
                runs_degraded: false,
                set_arrays: vec![
                    SetArray::keyed("/targets", "technology"),
                    SetArray::scalars("/targets/*/categories"),
                ],
            },
            vendor: vendor.clone(),
        }
    }
}

#[async_trait]
impl Module for DisplacementTargets {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let tech = ctx.require(TECH)?;
        let vendor_cite = Citation::config("vendor.competitors", &[]);
        let mut out = ModuleOutput::new();
        let mut targets: Vec<(Value, usize)> = Vec::new();
        for (i, t) in array_at(&tech.data, "/technologies").iter().enumerate() {
            let Some(name) = first_str(t, &["name"]) else {
                continue;
            };
            let Some(comp) = self.vendor.competitor(name) else {
                continue;
            };
            let confidence = num_at(t, "/confidence").unwrap_or(100.0).clamp(0.0, 100.0);
            let score = (confidence * comp.weight()).round().clamp(0.0, 100.0) as i64;
            let evidence: Vec<Value> = array_at(t, "/evidence")
                .iter()
                .map(|e| {
                    json!({
                        "field": first_str(e, &["field"]),
                        "matched": first_str(e, &["matched", "value"]),
                        "pattern": first_str(e, &["pattern"]),
                    })
                })
                .collect();
            let how = describe_evidence(&evidence);
            targets.push((
                json!({
                    "technology": name,
                    "categories": t.get("categories").cloned().unwrap_or(Value::Array(vec![])),
                    "version": t.get("version").cloned().unwrap_or(Value::Null),
                    "confidence": confidence as i64,
                    "score": score,
                    "evidence": evidence,
                    "detected_by": how,
                    "angle": comp.angle(),
                }),
                i,
            ));
        }
        targets.sort_by(|a, b| {
            b.0["score"]
                .as_i64()
                .cmp(&a.0["score"].as_i64())
                .then_with(|| a.0["technology"].as_str().cmp(&b.0["technology"].as_str()))
        });
        let summary = match targets.len() {
            0 => format!(
                "no competitor of {} detected on the site",
                self.vendor.product_name()
            ),
            _ => format!(
                "runs {}: replaceable by {}",
                targets
                    .iter()
                    .filter_map(|(t, _)| t["technology"].as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                self.vendor.product_name()
            ),
        };
        let derived = Citation::derived(TECH, &[]);
        out.set(
            "targets",
            targets.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
            &vendor_cite,
        );
        out.set("count", targets.len(), &vendor_cite);
        out.set("summary", summary, &vendor_cite);
        for p in ["/targets", "/count", "/summary"] {
            cite(&mut out, &derived, p);
        }
        for (k, (_, i)) in targets.iter().enumerate() {
            carry(
                &mut out,
                tech,
                &format!("/technologies/{i}"),
                &format!("/targets/{k}"),
            );
        }
        crate::derived::canonical_order(&mut out, &[("targets", "technology")]);
        Ok(out)
    }
}

/// "script src `cdn.jsdelivr.net/npm/algoliasearch…`; CSP header `*.algolia.net`".
pub(crate) fn describe_evidence(evidence: &[Value]) -> String {
    let parts: Vec<String> = evidence
        .iter()
        .take(3)
        .filter_map(|e| {
            let field = e.get("field")?.as_str()?;
            let what = match field.split_once(':') {
                Some(("headers", h)) => format!("`{h}` response header"),
                Some(("cookies", c)) => format!("`{c}` cookie"),
                Some(("meta", m)) => format!("`{m}` meta tag"),
                Some(("dns", t)) => format!("DNS {t} record"),
                Some(("js", g)) => format!("`{g}` script global"),
                _ => match field {
                    "scriptSrc" => "script tag".into(),
                    "scripts" => "inline script".into(),
                    "html" | "dom" => "page markup".into(),
                    "url" => "page URL".into(),
                    "implies" => "implied by another technology".into(),
                    other => other.to_string(),
                },
            };
            let matched = e
                .get("matched")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty() && field != "implies");
            Some(match matched {
                Some(m) => format!("{what} `{}`", shorten(m, 70)),
                None => what,
            })
        })
        .collect();
    parts.join("; ")
}

fn shorten(s: &str, n: usize) -> String {
    let s = s.replace('`', "'");
    if s.chars().count() <= n {
        s
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derived::test_support::{ctx_for, failed, ready};

    fn vendor() -> VendorConfig {
        toml::from_str(
            r#"
            product = "Lumora Search"
            competitors = ["Coveo", { technology = "Algolia", angle = "half the cost", weight = 0.9 }]
            "#,
        )
        .unwrap()
    }

    fn stack() -> Value {
        json!({"technologies": [
            {"name": "Algolia", "categories": ["Search engines"], "confidence": 100, "version": null,
             "evidence": [{"field": "headers:content-security-policy", "pattern": "\\.algolia\\.net", "matched": "*.algolia.net"},
                          {"field": "scriptSrc", "pattern": "algoliasearch", "matched": "https://cdn.jsdelivr.net/npm/algoliasearch@4"}]},
            {"name": "Cloudflare", "categories": ["CDN"], "confidence": 100, "evidence": []},
            {"name": "coveo", "confidence": "n/a", "evidence": "bad"}
        ]})
    }

    #[tokio::test]
    async fn intersects_stack_with_competitors_keeping_evidence() {
        let m = DisplacementTargets::new(&vendor());
        let out = m
            .run(&ctx_for(
                "acme.com",
                vec![(TECH, ready(stack(), "https://acme.com/"))],
            ))
            .await
            .unwrap();
        out.check_cited().unwrap();
        let t = out.data["targets"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        // Stored in canonical (key) order so that citation pointers stay valid.
        let canon = pforge_versioning::canonicalize(&out.data, &m.spec().set_arrays);
        assert_eq!(canon["targets"], out.data["targets"]);
        assert_eq!(t[1]["technology"], "coveo");
        assert_eq!(t[1]["score"], 100);
        assert_eq!(t[0]["technology"], "Algolia");
        assert_eq!(t[0]["score"], 90);
        assert_eq!(t[0]["angle"], "half the cost");
        assert_eq!(t[0]["evidence"][0]["matched"], "*.algolia.net");
        let how = t[0]["detected_by"].as_str().unwrap();
        assert!(
            how.contains("`content-security-policy` response header `*.algolia.net`"),
            "{how}"
        );
        assert!(how.contains("script tag"), "{how}");
        assert!(out
            .sources
            .iter()
            .any(|c| c.source == "https://acme.com/" && c.covers.contains(&"/targets/0".into())));
        assert_eq!(out.data["count"], 2);
    }

    #[tokio::test]
    async fn no_competitor_and_missing_stack() {
        let m = DisplacementTargets::new(&vendor());
        let out = m
            .run(&ctx_for(
                "acme.com",
                vec![(TECH, ready(json!({"technologies": []}), "u"))],
            ))
            .await
            .unwrap();
        assert_eq!(out.data["targets"], json!([]));
        assert!(out.data["summary"]
            .as_str()
            .unwrap()
            .starts_with("no competitor of Lumora Search"));
        let err = m
            .run(&ctx_for("acme.com", vec![(TECH, failed("homepage down"))]))
            .await
            .unwrap_err();
        assert!(matches!(err, ModuleError::MissingDependency(_)));
    }
}
