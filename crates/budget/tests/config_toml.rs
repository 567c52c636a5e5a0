//! The `[providers.*]` and `[budget]` tables as written in pforge.toml.

use pforge_budget::{BudgetConfig, ChargeMode, Gateway, ProvidersConfig};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    providers: ProvidersConfig,
    budget: BudgetConfig,
}

const EXAMPLE: &str = r#"
[providers.homepage]
base_url = "https://{domain}"
per_host_rate_limit = { per_second = 1.0, burst = 2 }
retry = { max_attempts = 2 }
circuit_breaker = { failures = 3, cooldown_secs = 300.0 }

[providers.sec_edgar]
base_url = "https://data.sec.gov"
headers = { User-Agent = "PartnerForge ops@example.com" }
expect_json = true
rate_limit = { per_second = 10.0 }

[providers.similarweb]
base_url = "https://api.similarweb.com"
auth = { query = "api_key", env = "PFORGE_TEST_SW_KEY_UNSET" }
cost = 1.0
endpoint_costs = { "/v4/website" = 2.0 }
charge = "on_success"
cache_ttl_secs = 604800

[budget]
total_daily = 500.0
per_run = 50

[budget.providers.similarweb]
daily = 100.0
monthly = 2000
"#;

#[test]
fn pforge_toml_tables_parse_with_defaults_and_build() {
    let f: File = toml::from_str(EXAMPLE).unwrap();
    let home = &f.providers["homepage"];
    assert_eq!(home.retry.max_attempts, 2);
    assert_eq!(
        home.retry.min_delay_ms, 500,
        "unset keys keep their defaults"
    );
    assert_eq!(f.providers["similarweb"].charge, ChargeMode::OnSuccess);
    assert_eq!(f.providers["similarweb"].cost_for("/v4/website/x"), 2.0);
    assert_eq!(f.budget.providers["similarweb"].monthly, Some(2000.0));
    let gw = Gateway::builder(f.providers)
        .caps(f.budget)
        .build()
        .unwrap();
    let why = gw.missing_credentials("similarweb").unwrap();
    println!("similarweb without its key: {why}");
    assert!(why.contains("PFORGE_TEST_SW_KEY_UNSET"));

    let typo =
        toml::from_str::<File>("[providers.x]\nbase_url = \"u\"\nrate_limt = {}\n[budget]\n");
    assert!(typo.is_err(), "unknown keys are refused");
}
