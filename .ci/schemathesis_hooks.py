"""Schemathesis hooks: strategies for the API's custom string formats.

`domain` is a company domain as `pforge enrich` takes it and `module-id` a module id from
`GET /plan`; schemathesis cannot know either, so without these it would send arbitrary text as
"valid" data. Positive cases use these; negative cases still break types, lengths and patterns.
"""
from hypothesis import strategies as st
import schemathesis

# The demo's companies (stored by `pforge demo`, so reads find data) and names no suffix list
# entry can collide with (the `pf` prefix), under public suffixes the server knows.
DEMO = [
    "techstart.io",
    "northwind-retail.com",
    "initech-software.com",
    "globex-logistics.com",
    "blueharbor-health.com",
    "quantumleaf.ai",
]
generated = st.builds(
    lambda name, tld: f"pf{name}.{tld}",
    st.from_regex(r"\A[a-z0-9]{1,20}\Z"),
    st.sampled_from(["com", "io", "org", "net", "co.uk", "de", "fr"]),
)
schemathesis.openapi.format("domain", st.sampled_from(DEMO) | generated)

MODULES = [
    "m01_company_context", "m02_tech_stack", "m03_traffic", "m04_financials",
    "m05_competitors", "m06_hiring", "m07_strategic_triggers", "m08_investors",
    "m09_executives", "m10_buying_committee", "m11_displacement_targets",
    "m12_case_studies", "m13_icp_priority", "m14_signal_scoring", "m15_strategic_brief",
]
schemathesis.openapi.format("module-id", st.sampled_from(MODULES))
