//! Config loading: any TOML text either fails with an error or yields provider policy, caps and
//! versioning rules that build (or are refused) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[derive(serde::Deserialize)]
struct Sections {
    #[serde(default)]
    providers: pforge_budget::ProvidersConfig,
    #[serde(default)]
    budget: pforge_budget::BudgetConfig,
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = pforge_versioning::VersioningConfig::from_toml(text) {
        let _ = v.validate();
    }
    let _ = pforge_modules::declarative_modules(text, "fuzz.toml", &["p".to_string()]);
    let Ok(mut s) = toml::from_str::<Sections>(text) else {
        return;
    };
    for p in s.providers.values_mut() {
        // Secrets are read from the environment or a file the operator names; the fuzzer must
        // not make this process read arbitrary files.
        p.auth = None;
    }
    let _ = pforge_budget::Gateway::builder(s.providers).caps(s.budget).build();
});
