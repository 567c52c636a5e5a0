//! M10 buying committee: who signs (economic buyer), who evaluates (technical buyer), who will
//! push for the change (champions), and why each matters, from M09's executives and M06's open
//! roles mapped to personas by the rules in `[[buying_committee.personas]]`.
//!
//! A person gets the first persona (by priority) whose title regex matches their title. Open
//! roles that map to a persona are reported separately (`hiring_signals`): a seat being filled
//! is a reason to call, not a person to call.

use crate::derived::{array_at, carry, cite, failure_notes, first_str};
use crate::vendor::{BuyingCommitteeConfig, CompiledPersona, Role};
use crate::ModulesError;
use async_trait::async_trait;
use pforge_core::{
    Citation, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec, SetArray,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Stable module id (storage key).
pub const ID: &str = "m10_buying_committee";
const EXECUTIVES: &str = "m09_executives";
const HIRING: &str = "m06_hiring";

/// The buying-committee module.
pub struct BuyingCommittee {
    spec: ModuleSpec,
    personas: Vec<CompiledPersona>,
}

impl BuyingCommittee {
    /// Compiles the persona rules; a bad regex is a config error naming the persona.
    pub fn new(cfg: &BuyingCommitteeConfig) -> Result<Self, ModulesError> {
        Ok(BuyingCommittee {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Buying committee".into(),
                dependencies: vec![EXECUTIVES.into(), HIRING.into()],
                providers: Vec::new(),
                runs_degraded: true,
                set_arrays: vec![
                    SetArray::keyed("/members", "name"),
                    SetArray::scalars("/champions"),
                    SetArray::keyed("/hiring_signals", "title"),
                    SetArray::scalars("/gaps"),
                    SetArray::scalars("/notes"),
                ],
            },
            personas: cfg.compile()?,
        })
    }

    /// The first persona (by priority) whose regex matches `title`.
    fn persona_for(&self, title: &str) -> Option<&CompiledPersona> {
        self.personas.iter().find(|p| p.regex.is_match(title))
    }
}

#[async_trait]
impl Module for BuyingCommittee {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let execs = ctx.dependency(EXECUTIVES);
        let hiring = ctx.dependency(HIRING);
        if execs.is_none() && hiring.is_none() {
            return Err(ModuleError::MissingDependency(format!(
                "{EXECUTIVES} and {HIRING}"
            )));
        }
        let mut out = ModuleOutput::new();
        let rules = Citation::config("buying_committee.personas", &[]);
        let mut notes = failure_notes(ctx);
        if self.personas.is_empty() {
            notes.push(
                "no persona rules configured ([[buying_committee.personas]]): nobody can be mapped"
                    .into(),
            );
        }

        // People, from M09.
        let mut members: Vec<(u32, Value, usize)> = Vec::new();
        let mut seen = BTreeSet::new();
        if let Some(e) = execs {
            for (i, x) in array_at(&e.data, "/executives").iter().enumerate() {
                let (Some(name), Some(title)) = (
                    first_str(x, &["name", "full_name"]),
                    first_str(x, &["title", "role", "position"]),
                ) else {
                    continue;
                };
                let Some(p) = self.persona_for(title) else {
                    continue;
                };
                if !seen.insert(name.to_string()) {
                    continue;
                }
                members.push((
                    p.rule.priority,
                    json!({
                        "name": name,
                        "title": title,
                        "persona": p.rule.name,
                        "role": p.rule.role.as_str(),
                        "priority": p.rule.priority,
                        "why": p.rule.why,
                        "profile_url": first_str(x, &["linkedin", "linkedin_url", "profile_url", "url"]),
                    }),
                    i,
                ));
            }
        }
        members.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1["name"].as_str().cmp(&b.1["name"].as_str()))
        });

        let pick = |role: Role| -> Option<String> {
            members
                .iter()
                .find(|(_, m, _)| m["role"] == role.as_str())
                .and_then(|(_, m, _)| m["name"].as_str().map(str::to_string))
        };
        let economic = pick(Role::Economic);
        let technical = pick(Role::Technical);
        let champions: Vec<String> = members
            .iter()
            .filter(|(_, m, _)| m["role"] == Role::Champion.as_str())
            .filter_map(|(_, m, _)| m["name"].as_str().map(str::to_string))
            .collect();

        // Seats being filled, from M06.
        let mut signals: Vec<(u32, Value, usize)> = Vec::new();
        let mut seen_titles = BTreeSet::new();
        if let Some(h) = hiring {
            for (i, j) in array_at(&h.data, "/jobs").iter().enumerate() {
                let Some(title) = first_str(j, &["title", "name"]) else {
                    continue;
                };
                let Some(p) = self.persona_for(title) else {
                    continue;
                };
                if !seen_titles.insert(title.to_string()) {
                    continue;
                }
                signals.push((
                    p.rule.priority,
                    json!({
                        "title": title,
                        "persona": p.rule.name,
                        "role": p.rule.role.as_str(),
                        "priority": p.rule.priority,
                        "why": format!("hiring a {} ({}): {}", p.rule.name, p.rule.role.as_str(), p.rule.why),
                        "url": first_str(j, &["url", "absolute_url", "hostedUrl", "apply_url"]),
                    }),
                    i,
                ));
            }
        }
        signals.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1["title"].as_str().cmp(&b.1["title"].as_str()))
        });

        let mut gaps = Vec::new();
        if execs.is_some() {
            if economic.is_none() {
                gaps.push("no economic buyer identified among the known executives".to_string());
            }
            if technical.is_none() {
                gaps.push("no technical buyer identified among the known executives".to_string());
            }
            if champions.is_empty() {
                gaps.push("no champion identified: look for a search, e-commerce or product owner below the executive team".to_string());
            }
        } else {
            gaps.push("executives unknown: the committee cannot be named".to_string());
        }

        let derived_e = Citation::derived(EXECUTIVES, &[]);
        let derived_h = Citation::derived(HIRING, &[]);
        let member_values: Vec<Value> = members.iter().map(|(_, m, _)| m.clone()).collect();
        out.set("members", member_values, &rules);
        out.set("economic_buyer", economic, &rules);
        out.set("technical_buyer", technical, &rules);
        out.set("champions", champions, &rules);
        out.set(
            "hiring_signals",
            signals
                .iter()
                .map(|(_, s, _)| s.clone())
                .collect::<Vec<_>>(),
            &rules,
        );
        out.set("gaps", gaps, &rules);
        out.set("notes", notes, &rules);
        if let Some(e) = execs {
            for p in [
                "/members",
                "/economic_buyer",
                "/technical_buyer",
                "/champions",
                "/gaps",
            ] {
                cite(&mut out, &derived_e, p);
            }
            for (k, (_, _, i)) in members.iter().enumerate() {
                carry(
                    &mut out,
                    e,
                    &format!("/executives/{i}"),
                    &format!("/members/{k}"),
                );
            }
        }
        if let Some(h) = hiring {
            cite(&mut out, &derived_h, "/hiring_signals");
            for (k, (_, _, i)) in signals.iter().enumerate() {
                carry(
                    &mut out,
                    h,
                    &format!("/jobs/{i}"),
                    &format!("/hiring_signals/{k}"),
                );
            }
        }
        crate::derived::canonical_order(
            &mut out,
            &[("members", "name"), ("hiring_signals", "title")],
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derived::test_support::{ctx_for, ready};
    use pforge_core::DependencyResult;

    pub(crate) fn personas() -> BuyingCommitteeConfig {
        toml::from_str(
            r#"
            [[personas]]
            name = "Technology executive"
            role = "economic"
            title_regex = "(?i)\\b(CTO|chief technology officer|CIO)\\b"
            priority = 10
            why = "owns the platform budget"
            [[personas]]
            name = "Engineering leader"
            role = "technical"
            title_regex = "(?i)(VP|head|director).*(engineering|platform)"
            priority = 20
            why = "evaluates integration effort"
            [[personas]]
            name = "Digital leader"
            role = "champion"
            title_regex = "(?i)(e-?commerce|digital|search|product)"
            priority = 30
            why = "owns search conversion"
            "#,
        )
        .unwrap()
    }

    fn ctx(deps: Vec<(&str, DependencyResult)>) -> ModuleContext {
        ctx_for("acme.com", deps)
    }

    fn execs() -> DependencyResult {
        ready(
            json!({"executives": [
                {"name": "Ada Park", "title": "Chief Technology Officer", "linkedin": "https://linkedin.example/ada"},
                {"name": "Ben Ruiz", "title": "VP Engineering"},
                {"name": "Cy Dahl", "title": "Head of E-commerce"},
                {"name": "Dee Fox", "title": "General Counsel"},
                {"title": "CEO"}
            ]}),
            "https://acme.com/about/leadership",
        )
    }

    #[tokio::test]
    async fn maps_titles_to_personas_with_why_and_sources() {
        let m = BuyingCommittee::new(&personas()).unwrap();
        let hiring = ready(
            json!({"jobs": [{"title": "Director of Search Product", "url": "https://jobs.example/1"},
                            {"title": "Accountant"}]}),
            "https://boards.example/acme",
        );
        let out = m
            .run(&ctx(vec![(EXECUTIVES, execs()), (HIRING, hiring)]))
            .await
            .unwrap();
        out.check_cited().unwrap();
        let d = &out.data;
        assert_eq!(d["economic_buyer"], "Ada Park");
        assert_eq!(d["technical_buyer"], "Ben Ruiz");
        assert_eq!(d["champions"], json!(["Cy Dahl"]));
        assert_eq!(
            d["members"].as_array().unwrap().len(),
            3,
            "counsel and nameless dropped"
        );
        assert_eq!(d["members"][0]["why"], "owns the platform budget");
        assert_eq!(
            d["members"][0]["profile_url"],
            "https://linkedin.example/ada"
        );
        assert_eq!(
            d["hiring_signals"][0]["title"],
            "Director of Search Product"
        );
        assert_eq!(d["hiring_signals"][0]["role"], "champion");
        assert!(d["gaps"].as_array().unwrap().is_empty());
        let srcs: Vec<&str> = out.sources.iter().map(|c| c.source.as_str()).collect();
        assert!(
            srcs.contains(&"https://acme.com/about/leadership"),
            "{srcs:?}"
        );
        assert!(srcs.contains(&"https://boards.example/acme"), "{srcs:?}");
    }

    #[tokio::test]
    async fn degrades_when_hiring_failed_and_fails_when_both_did() {
        let m = BuyingCommittee::new(&personas()).unwrap();
        let out = m
            .run(&ctx(vec![
                (EXECUTIVES, execs()),
                (HIRING, DependencyResult::Failed("board 404".into())),
            ]))
            .await
            .unwrap();
        assert_eq!(out.data["notes"][0], "m06_hiring unavailable: board 404");
        assert_eq!(out.data["hiring_signals"], json!([]));

        let only_hiring = m
            .run(&ctx(vec![
                (EXECUTIVES, DependencyResult::Failed("x".into())),
                (HIRING, ready(json!({"jobs": "not a list"}), "u")),
            ]))
            .await
            .unwrap();
        assert_eq!(only_hiring.data["economic_buyer"], Value::Null);
        assert!(only_hiring.data["gaps"][0]
            .as_str()
            .unwrap()
            .contains("executives unknown"));

        let err = m
            .run(&ctx(vec![
                (EXECUTIVES, DependencyResult::Failed("x".into())),
                (HIRING, DependencyResult::Failed("y".into())),
            ]))
            .await
            .unwrap_err();
        assert!(matches!(err, ModuleError::MissingDependency(_)));
    }

    #[tokio::test]
    async fn gaps_name_missing_roles() {
        let m = BuyingCommittee::new(&personas()).unwrap();
        let e = ready(
            json!({"executives": [{"name": "Zed", "title": "CTO"}]}),
            "u",
        );
        let out = m.run(&ctx(vec![(EXECUTIVES, e)])).await.unwrap();
        let gaps = out.data["gaps"].as_array().unwrap();
        assert_eq!(gaps.len(), 2, "{gaps:?}");
    }
}
