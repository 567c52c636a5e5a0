#!/usr/bin/env python3
"""Regenerates the curated fingerprint database in this folder from Wappalyzer 6.10.54 (MIT).

Usage:  python3 config/fingerprints/curate.py [PATH_TO_WAPPALYZER_6.10.54]
        (default: ../shared/data/wappalyzer-mit-6.10.54 relative to the repository root)

What it does, so the output can be reviewed as a diff:
  1. keeps the technologies in SELECTED (those that matter when selling to businesses: CMS,
     commerce, site search, analytics, tag managers, CDNs, marketing automation, email, CRM,
     chat, payments, ...) plus everything they imply or require, so `implies` never dangles;
  2. renames a few to the names sales teams use (RENAMES), rewriting references to them;
  3. removes the fields in REMOVE that detect something broader than the technology,
     merges project-authored patterns from SUPPLEMENTS (DNS/SPF markers, the loader script URLs
     the vendors document) and adds the technologies in ADDITIONS that 6.10.54 lacks;
  4. drops presentation-only fields (icon, cpe, pricing, oss, saas) and writes
     technologies/<letter>.json plus a categories.json holding only the categories used.
"""

import json
import os
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SRC = os.path.join(HERE, "..", "..", "..", "shared", "data", "wappalyzer-mit-6.10.54")

SELECTED = [
    # CMS, site builders, digital experience platforms
    "WordPress", "Drupal", "Joomla", "Adobe Experience Manager", "Sitecore", "Contentful",
    "Contentstack", "Bloomreach", "Squarespace", "Webflow", "Wix", "HubSpot CMS Hub", "Ghost",
    "Craft CMS", "Kentico CMS", "Umbraco", "Acquia Cloud Platform", "Optimizely Content Management",
    "TYPO3 CMS", "Duda", "Builder.io", "Storyblok", "Strapi", "Sanity", "Prismic", "DNN",
    "Liferay", "CrownPeak", "Yoast SEO", "Elementor", "Divi",
    # Commerce
    "Magento", "Shopify", "BigCommerce", "Salesforce Commerce Cloud", "WooCommerce",
    "SAP Commerce Cloud", "commercetools", "PrestaShop", "OpenCart", "Shopware", "Spryker",
    "VTEX", "Ecwid", "Squarespace Commerce", "Optimizely Commerce", "HCL Commerce", "Intershop",
    "Swell", "Drupal Commerce",
    # Site search and discovery
    "Algolia", "Coveo", "Bloomreach Discovery", "Swiftype", "Klevu", "Searchspring",
    "Elasticsearch", "ElasticPress", "ElasticSuite", "Addsearch", "Attraqt", "Doofinder",
    "Findify", "Unbxd", "Yext", "Meilisearch", "Luigi’s Box", "Searchanise", "Site Search 360",
    "Fact Finder", "Loop54", "GroupBy", "Boost Commerce", "Nosto", "Reflektion", "Dynamic Yield",
    # Analytics, product analytics, session replay
    "Google Analytics", "Adobe Analytics", "Matomo Analytics", "Mixpanel", "Amplitude", "Heap",
    "Hotjar", "FullStory", "Microsoft Clarity", "Crazy Egg", "Contentsquare", "Lucky Orange",
    "Chartbeat", "Plausible", "Clearbit Reveal", "Leadfeeder", "Demandbase", "6sense",
    "HubSpot Analytics", "Linkedin Insight Tag", "Facebook Pixel",
    # Tag managers and customer data platforms
    "Google Tag Manager", "Tealium", "Adobe Experience Platform Launch", "Adobe DTM", "Ensighten",
    "Segment", "Rudderstack", "mParticle", "Salesforce Audience Studio", "Exponea",
    # A/B testing and personalisation
    "Optimizely", "VWO", "AB Tasty", "Google Optimize", "Adobe Target", "Kameleoon",
    # CDN, edge, hosting
    "Cloudflare", "Akamai", "Fastly", "Amazon Cloudfront", "Amazon S3", "Amazon Web Services",
    "Azure CDN", "Azure", "Google Cloud CDN", "Imperva", "Sucuri", "Netlify", "Vercel",
    "WP Engine", "Pantheon", "Heroku", "jsDelivr", "cdnjs", "Unpkg", "Cloudinary", "Imgix",
    # Marketing automation and email
    "HubSpot", "Marketo", "Marketo Forms", "Salesforce Marketing Cloud Account Engagement",
    "Eloqua", "Act-On", "ActiveCampaign", "Klaviyo", "MailChimp", "Braze", "Iterable",
    "Customer.io", "Emarsys", "Listrak", "Sendinblue", "Constant Contact", "Campaign Monitor",
    "Sendgrid", "Mailgun", "Mailjet", "Amazon SES", "SparkPost",
    "Salesforce Marketing Cloud Email Studio", "Zoho Mail", "Google Workspace", "Microsoft 365",
    "Proton Mail", "Apple iCloud Mail",
    # CRM, support, chat
    "Salesforce", "Salesforce Service Cloud", "Zoho", "Pipedrive", "Freshworks CRM", "Zendesk",
    "Zendesk Chat", "Intercom", "Drift", "LivePerson", "LiveChat", "Olark", "Tawk.to", "Crisp Live Chat",
    "Freshchat", "HubSpot Chat", "Gorgias", "Kustomer", "Help Scout", "Qualified", "Tidio",
    # Payments
    "Stripe", "PayPal", "Braintree", "Adyen", "Klarna Checkout", "Afterpay", "Affirm",
    "Shop Pay", "Apple Pay", "Amazon Pay", "Square", "Checkout.com", "Chargebee", "Recurly",
    # Monitoring and performance
    "New Relic", "Datadog", "Dynatrace", "AppDynamics", "Sentry", "Akamai mPulse",
    # Consent, security
    "OneTrust", "Cookiebot", "TrustArc", "Osano", "reCAPTCHA", "hCaptcha", "Cloudflare Bot Management",
    # Frameworks and libraries that shape integration work
    "React", "Next.js", "Vue.js", "Nuxt.js", "Angular", "AngularJS", "Gatsby", "Svelte",
    "jQuery", "Bootstrap", "Microsoft ASP.NET", "Ruby on Rails", "Laravel", "Nginx",
    "Apache HTTP Server", "IIS",
    # DNS-verified services worth knowing about
    "DocuSign", "Dropbox", "Atlassian Statuspage", "Mixpanel", "Heroku",
]

RENAMES = {
    "Sendgrid": "SendGrid",
    "MailChimp": "Mailchimp",
    "Salesforce Marketing Cloud Account Engagement": "Pardot",
}

# Project-authored patterns merged into the selected entries (field -> list or {key: pattern}).
SUPPLEMENTS = {
    "Algolia": {
        "scriptSrc": [
            "cdn\\.jsdelivr\\.net/npm/(?:algoliasearch|instantsearch\\.js|@algolia/)",
            "algoliasearch(?:-lite)?(?:\\.umd)?(?:\\.min)?\\.js",
        ],
        "html": ["<link[^>]+href=[\"']https://[a-z0-9-]+-dsn\\.algolia\\.net"],
    },
    "HubSpot": {
        "scriptSrc": ["js\\.hs-scripts\\.com/", "js\\.hsforms\\.net/", "js\\.hs-banner\\.com/"],
        "dns": {"TXT": ["_spf\\.hubspotemail\\.net"]},
    },
    "Drift": {
        "scriptSrc": ["js\\.driftt\\.com/", "drift\\.com/include/"],
        "scripts": ["js\\.driftt\\.com/include/", "drift\\.load\\("],
    },
    "New Relic": {
        "scriptSrc": ["js-agent\\.newrelic\\.com/", "bam(?:-cell)?\\.nr-data\\.net"],
        "scripts": ["NREUM\\.(?:init|loader_config|info)"],
    },
    "Stripe": {"scriptSrc": ["js\\.stripe\\.com/"]},
    "Intercom": {
        "scriptSrc": ["widget\\.intercom\\.io/widget/"],
        "scripts": ["widget\\.intercom\\.io/widget/"],
    },
    "Squarespace": {
        "html": ["<!-- This is Squarespace\\. -->", "static1\\.squarespace\\.com/static/"],
        "scriptSrc": ["(?:assets|static1)\\.squarespace\\.com/"],
    },
    "Webflow": {"scriptSrc": ["website-files\\.com/[^\"']+/js/webflow\\.[^\"']*\\.js"]},
    "Akamai": {"headers": {"Server": "^AkamaiGHost$", "Akamai-GRN": ""}},
    "Swiftype": {"scriptSrc": ["(?:s\\.)?swiftype(?:cdn)?\\.com/"]},
    "Pardot": {"scriptSrc": ["pi\\.pardot\\.com/pd\\.js"], "scripts": ["piAId\\s*=\\s*['\"]\\d+"]},
    "Marketo": {"dns": {"TXT": ["mktomail\\.com"]}},
    "Google Workspace": {"dns": {"TXT": ["include:_spf\\.google\\.com"]}},
    "Microsoft 365": {"dns": {"TXT": ["spf\\.protection\\.outlook\\.com", "^MS=ms\\d+"]}},
    "Mailchimp": {"dns": {"TXT": ["servers\\.mcsv\\.net"]}},
    "Zendesk": {"dns": {"TXT": ["zendesk-verification"]}},
    "Segment": {"scripts": ["cdn\\.segment\\.com/analytics\\.js/v1/"]},
    "Hotjar": {"scripts": ["static\\.hotjar\\.com/c/hotjar-"]},
    "Magento": {"description": "Magento (Adobe Commerce) is an ecommerce platform written in PHP."},
}

# Fields removed from an entry because they detect something else: `Server: Squarespace` marks
# every Squarespace site, not only the ones that sell online.
REMOVE = {
    "Squarespace Commerce": ["headers"],
}

# Technologies Wappalyzer 6.10.54 lacks, written for this project.
ADDITIONS = {
    "Constructor.io": {
        "cats": [29, 76],
        "description": "Constructor.io is a product search and discovery platform for ecommerce.",
        "scriptSrc": ["cnstrc\\.com/", "constructorio(?:-client)?[.-]"],
        "html": ["data-cnstrc-"],
        "website": "https://constructor.io",
    },
}

DROP_FIELDS = {"icon", "cpe", "pricing", "oss", "saas", "probe", "xhr", "css", "robots", "certIssuer", "text"}


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def base_name(ref):
    return ref.split("\\;")[0].strip()


def merge(entry, extra):
    for field, value in extra.items():
        if isinstance(value, dict):
            target = entry.setdefault(field, {})
            for key, pats in value.items():
                merged = as_list(target.get(key)) + [p for p in as_list(pats) if p not in as_list(target.get(key))]
                target[key] = merged[0] if len(merged) == 1 else merged
        elif isinstance(value, list):
            current = as_list(entry.get(field))
            entry[field] = current + [p for p in value if p not in current]
        else:
            entry[field] = value


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SRC
    tech = {}
    tdir = os.path.join(src, "technologies")
    for fname in sorted(os.listdir(tdir)):
        if fname.endswith(".json"):
            with open(os.path.join(tdir, fname), encoding="utf-8") as f:
                tech.update(json.load(f))
    with open(os.path.join(src, "categories.json"), encoding="utf-8") as f:
        categories = json.load(f)

    missing = [n for n in SELECTED if n not in tech]
    if missing:
        sys.exit(f"not in the source data: {missing}")

    # Close over implies/requires so references never dangle.
    chosen = []
    queue = list(dict.fromkeys(SELECTED))
    while queue:
        name = queue.pop(0)
        if name in chosen or name not in tech:
            continue
        chosen.append(name)
        for ref in as_list(tech[name].get("implies")) + as_list(tech[name].get("requires")):
            queue.append(base_name(ref))

    out = {}
    for name in chosen:
        entry = {k: v for k, v in tech[name].items() if k not in DROP_FIELDS}
        out[RENAMES.get(name, name)] = entry
    for entry in out.values():
        for field in ("implies", "requires", "excludes"):
            if field in entry:
                refs = []
                for ref in as_list(entry[field]):
                    parts = ref.split("\\;")
                    parts[0] = RENAMES.get(parts[0].strip(), parts[0].strip())
                    refs.append("\\;".join(parts))
                # Excludes naming something not curated are dropped; implies were closed over.
                refs = [r for r in refs if field != "excludes" or base_name(r) in out]
                if refs:
                    entry[field] = refs[0] if len(refs) == 1 else refs
                else:
                    del entry[field]
    for name, extra in SUPPLEMENTS.items():
        if name not in out:
            sys.exit(f"supplement for unknown technology {name}")
        merge(out[name], extra)
    for name, fields in REMOVE.items():
        for field in fields:
            out[name].pop(field, None)
    for name, entry in ADDITIONS.items():
        out[name] = entry

    used = sorted({c for e in out.values() for c in e.get("cats", [])})
    cats_out = OrderedDict((str(c), categories[str(c)]) for c in used)

    tout = os.path.join(HERE, "technologies")
    os.makedirs(tout, exist_ok=True)
    for fname in os.listdir(tout):
        if fname.endswith(".json"):
            os.remove(os.path.join(tout, fname))
    by_letter = {}
    for name in sorted(out, key=str.lower):
        first = name[0].lower()
        letter = first if "a" <= first <= "z" else "_"
        by_letter.setdefault(letter, OrderedDict())[name] = OrderedDict(sorted(out[name].items()))
    for letter, entries in by_letter.items():
        with open(os.path.join(tout, f"{letter}.json"), "w", encoding="utf-8") as f:
            json.dump(entries, f, indent=2, ensure_ascii=False)
            f.write("\n")
    with open(os.path.join(HERE, "categories.json"), "w", encoding="utf-8") as f:
        json.dump(cats_out, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(out)} technologies in {len(by_letter)} files, {len(cats_out)} categories")


if __name__ == "__main__":
    main()
