//! DNS over HTTPS (the `application/dns-json` format of Google's and Cloudflare's resolvers),
//! fetched through the gateway as provider `dns`, and what MX and TXT records say about the
//! services a company uses (mail provider, SPF senders, domain verifications).

use pforge_budget::{Call, Gateway, GatewayError, Response};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Provider id of the DoH resolver in `[providers.dns]`.
pub const PROVIDER: &str = "dns";

/// Why a DNS lookup produced no answer. NXDOMAIN is not an error (it means "no records").
#[derive(Debug, Error, Clone)]
pub enum DnsError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("dns: unexpected answer from {url}: {detail}")]
    Parse { url: String, detail: String },
    #[error("dns: resolver at {url} answered {rcode} ({code}) for {name} {rtype}")]
    Status {
        url: String,
        name: String,
        rtype: String,
        code: u32,
        rcode: &'static str,
    },
}

impl DnsError {
    /// Why the lookup failed, without URLs or other volatile detail: safe to store in module data
    /// (the URL belongs in the citation), so a repeated failure is not mistaken for a change.
    pub fn stable_reason(&self) -> String {
        match self {
            DnsError::Gateway(g @ GatewayError::UnknownProvider(_)) => g.to_string(),
            DnsError::Gateway(g) => match g.status() {
                Some(status) => format!("resolver answered HTTP {status}"),
                None => "resolver unreachable or unusable".to_string(),
            },
            DnsError::Parse { .. } => "resolver answer could not be parsed".to_string(),
            DnsError::Status {
                name, rtype, rcode, ..
            } => {
                format!("resolver answered {rcode} for {name} {rtype}")
            }
        }
    }
}

/// Record types this module asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    A,
    Ns,
    Cname,
    Mx,
    Txt,
    Aaaa,
}

impl RecordType {
    /// The mnemonic used in the `type` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Ns => "NS",
            RecordType::Cname => "CNAME",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
            RecordType::Aaaa => "AAAA",
        }
    }

    /// The numeric type DoH JSON uses in answers.
    pub fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Ns => 2,
            RecordType::Cname => 5,
            RecordType::Mx => 15,
            RecordType::Txt => 16,
            RecordType::Aaaa => 28,
        }
    }
}

#[derive(Debug, Deserialize)]
struct DohJson {
    #[serde(rename = "Status")]
    status: u32,
    #[serde(rename = "Answer", default)]
    answer: Vec<DohAnswer>,
}

#[derive(Debug, Deserialize)]
struct DohAnswer {
    #[serde(rename = "type")]
    rtype: u16,
    #[serde(default)]
    data: String,
}

/// The answer to one lookup: the records (as text, TXT strings joined and unquoted) and the
/// response they came from, for citations.
#[derive(Debug, Clone)]
pub struct DnsAnswer {
    pub records: Vec<String>,
    pub response: Response,
}

/// The call a lookup sends, exposed so a failed lookup can still be cited by its URL.
pub fn lookup_call(domain: &str, rtype: RecordType, module: &str) -> Call {
    Call::get(PROVIDER, "")
        .query("name", domain)
        .query("type", rtype.as_str())
        .header("accept", "application/dns-json")
        .for_domain(domain)
        .by_module(module)
}

/// Looks up `rtype` records of `domain` through the gateway.
pub async fn lookup(
    gateway: &Gateway,
    domain: &str,
    rtype: RecordType,
    module: &str,
) -> Result<DnsAnswer, DnsError> {
    let response = gateway.fetch(&lookup_call(domain, rtype, module)).await?;
    let records = parse_doh(&response.body, domain, rtype, &response.url)?;
    Ok(DnsAnswer { records, response })
}

/// Parses an `application/dns-json` body into the records of type `rtype` (answers of other
/// types, such as the CNAMEs of a chain, are skipped). Status 3 (NXDOMAIN) yields no records;
/// any other non-zero status is an error.
pub fn parse_doh(
    body: &[u8],
    name: &str,
    rtype: RecordType,
    url: &str,
) -> Result<Vec<String>, DnsError> {
    let doc: DohJson = serde_json::from_slice(body).map_err(|e| DnsError::Parse {
        url: url.to_string(),
        detail: format!("not DNS JSON: {e}"),
    })?;
    match doc.status {
        0 => {}
        3 => return Ok(Vec::new()),
        code => {
            return Err(DnsError::Status {
                url: url.to_string(),
                name: name.to_string(),
                rtype: rtype.as_str().to_string(),
                code,
                rcode: rcode_name(code),
            })
        }
    }
    Ok(doc
        .answer
        .into_iter()
        .filter(|a| a.rtype == rtype.code())
        .map(|a| match rtype {
            RecordType::Txt => join_txt(&a.data),
            _ => a.data.trim().to_string(),
        })
        .filter(|s| !s.is_empty())
        .collect())
}

fn rcode_name(code: u32) -> &'static str {
    match code {
        1 => "FORMERR",
        2 => "SERVFAIL",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "error",
    }
}

/// Joins the character-strings of a TXT record: `"v=spf1 a" " -all"` -> `v=spf1 a -all`.
/// Handles `\"`, `\\` and `\DDD` escapes; unquoted data is returned trimmed.
pub fn join_txt(data: &str) -> String {
    let data = data.trim();
    if !data.starts_with('"') {
        return data.to_string();
    }
    let mut out = Vec::<u8>::new();
    let bytes = data.as_bytes();
    let mut i = 0;
    let mut in_str = false;
    while i < bytes.len() {
        let b = bytes[i];
        if !in_str {
            if b == b'"' {
                in_str = true;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_str = false;
                i += 1;
            }
            b'\\'
                if bytes
                    .get(i + 1..i + 4)
                    .is_some_and(|d| d.iter().all(u8::is_ascii_digit)) =>
            {
                let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("0");
                out.push(
                    digits
                        .parse::<u16>()
                        .map(|v| v.min(255) as u8)
                        .unwrap_or(b'?'),
                );
                i += 4;
            }
            b'\\' if i + 1 < bytes.len() => {
                out.push(bytes[i + 1]);
                i += 2;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxHost {
    pub preference: u16,
    /// Lower-case host without the trailing dot.
    pub host: String,
}

/// MX records (`"10 aspmx.l.google.com."`) sorted by preference, then host.
pub fn mx_hosts(records: &[String]) -> Vec<MxHost> {
    let mut out: Vec<MxHost> = records
        .iter()
        .filter_map(|r| {
            let mut parts = r.split_whitespace();
            let first = parts.next()?;
            let (preference, host) = match first.parse::<u16>() {
                Ok(p) => (p, parts.next()?),
                Err(_) => (0, first),
            };
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            (!host.is_empty()).then_some(MxHost { preference, host })
        })
        .collect();
    out.sort_by(|a, b| (a.preference, &a.host).cmp(&(b.preference, &b.host)));
    out.dedup();
    out
}

/// The mail provider an MX host belongs to, for the common hosted ones.
pub fn mail_provider(mx_host: &str) -> Option<&'static str> {
    const KNOWN: &[(&str, &str)] = &[
        ("google.com", "Google Workspace"),
        ("googlemail.com", "Google Workspace"),
        ("outlook.com", "Microsoft 365"),
        ("pphosted.com", "Proofpoint"),
        ("ppe-hosted.com", "Proofpoint Essentials"),
        ("mimecast.com", "Mimecast"),
        ("mimecast.co.za", "Mimecast"),
        ("barracudanetworks.com", "Barracuda"),
        ("iphmx.com", "Cisco Secure Email"),
        ("messagelabs.com", "Broadcom Email Security"),
        ("zoho.com", "Zoho Mail"),
        ("zoho.eu", "Zoho Mail"),
        ("protonmail.ch", "Proton Mail"),
        ("icloud.com", "Apple iCloud Mail"),
        ("yandex.net", "Yandex Mail"),
        ("secureserver.net", "GoDaddy Email"),
        ("fastmail.com", "Fastmail"),
        ("messagingengine.com", "Fastmail"),
        ("amazonaws.com", "Amazon WorkMail / SES"),
        ("trendmicro.com", "Trend Micro Email Security"),
        ("sophos.com", "Sophos Email"),
    ];
    let host = mx_host.trim_end_matches('.').to_ascii_lowercase();
    KNOWN
        .iter()
        .find(|(suffix, _)| host == *suffix || host.ends_with(&format!(".{suffix}")))
        .map(|(_, name)| *name)
}

/// The `include:` targets of the domain's SPF (`v=spf1`) record, lower-case, in order.
pub fn spf_includes(txt: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for record in txt {
        let mut terms = record.split_whitespace();
        if !terms
            .next()
            .is_some_and(|v| v.eq_ignore_ascii_case("v=spf1"))
        {
            continue;
        }
        for term in terms {
            // Qualifiers (+ - ~ ?) may prefix a mechanism.
            let term = term.trim_start_matches(['+', '-', '~', '?']);
            if let Some(target) = term
                .get(..8)
                .filter(|p| p.eq_ignore_ascii_case("include:"))
                .and(term.get(8..))
            {
                let t = target.trim_end_matches('.').to_ascii_lowercase();
                if !t.is_empty() && !out.contains(&t) {
                    out.push(t);
                }
            }
        }
    }
    out
}

/// A service the domain's owner proved control to, from a TXT verification record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub service: String,
    /// The TXT records that show it.
    pub records: Vec<String>,
}

/// Verification TXT records (`google-site-verification=`, `MS=`, ...) grouped by service and
/// sorted by service name.
pub fn verifications(txt: &[String]) -> Vec<Verification> {
    // (lower-case prefix, service)
    const KNOWN: &[(&str, &str)] = &[
        ("google-site-verification=", "Google Search Console"),
        ("ms=", "Microsoft 365"),
        ("atlassian-domain-verification=", "Atlassian"),
        ("atlassian-sending-domain-verification=", "Atlassian"),
        ("facebook-domain-verification=", "Meta (Facebook)"),
        ("apple-domain-verification=", "Apple"),
        ("docusign=", "DocuSign"),
        ("adobe-idp-site-verification=", "Adobe"),
        ("adobe-sign-verification=", "Adobe Acrobat Sign"),
        ("stripe-verification=", "Stripe"),
        ("hubspot-developer-verification=", "HubSpot"),
        ("hubspot-domain-verification=", "HubSpot"),
        ("zoom-domain-verification", "Zoom"),
        ("zoom_verify_", "Zoom"),
        ("slack-domain-verification=", "Slack"),
        ("dropbox-domain-verification=", "Dropbox"),
        ("onetrust-domain-verification=", "OneTrust"),
        ("globalsign-domain-verification=", "GlobalSign"),
        ("miro-verification=", "Miro"),
        ("amazonses:", "Amazon SES"),
        ("segment-site-verification=", "Segment"),
        ("cisco-ci-domain-verification=", "Cisco Webex"),
        ("webexdomainverification", "Cisco Webex"),
        ("status-page-domain-verification=", "Atlassian Statuspage"),
        ("mongodb-site-verification=", "MongoDB Atlas"),
        ("openai-domain-verification=", "OpenAI"),
        ("yandex-verification:", "Yandex"),
        ("ahrefs-site-verification_", "Ahrefs"),
        ("canva-site-verification=", "Canva"),
        ("logmein-verification-code=", "LogMeIn"),
        ("citrix-verification-code=", "Citrix"),
        ("knowbe4-site-verification=", "KnowBe4"),
        ("klaviyo-site-verification=", "Klaviyo"),
        ("twilio-domain-verification=", "Twilio"),
        ("smartsheet-site-validation=", "Smartsheet"),
        ("wrike-verification=", "Wrike"),
        ("mixpanel-domain-verify=", "Mixpanel"),
        ("heroku-domain-verification=", "Heroku"),
        ("keybase-site-verification=", "Keybase"),
        ("bugcrowd-verification=", "Bugcrowd"),
        ("detectify-verification=", "Detectify"),
        ("protonmail-verification=", "Proton Mail"),
        ("pardot", "Pardot"),
        ("salesforce-domain-verification", "Salesforce"),
        ("zendeskverification=", "Zendesk"),
        ("sendinblue-code:", "Brevo (Sendinblue)"),
        ("brevo-code:", "Brevo (Sendinblue)"),
        ("notion-domain-verification=", "Notion"),
        ("figma-domain-verification=", "Figma"),
        ("airtable-verification=", "Airtable"),
        ("asv=", "Apple Search Ads / App Store"),
        ("loom-site-verification=", "Loom"),
        ("gitlab-pages-verification-code=", "GitLab"),
        ("_github-challenge", "GitHub"),
        ("teamviewer-sso-verification=", "TeamViewer"),
        ("lastpass-verification-code=", "LastPass"),
        ("1password-site-verification=", "1Password"),
        ("intercom-domain-verification=", "Intercom"),
        ("workplace-domain-verification=", "Workplace from Meta"),
        ("pinterest-site-verification=", "Pinterest"),
        ("linkedin-domain-verification=", "LinkedIn"),
        ("have-i-been-pwned-verification=", "Have I Been Pwned"),
    ];
    let mut out: Vec<Verification> = Vec::new();
    for record in txt {
        let lower = record.trim().to_ascii_lowercase();
        let Some((_, service)) = KNOWN.iter().find(|(prefix, _)| lower.starts_with(prefix)) else {
            continue;
        };
        match out.iter_mut().find(|v| v.service == *service) {
            Some(v) => {
                if !v.records.contains(record) {
                    v.records.push(record.clone());
                }
            }
            None => out.push(Verification {
                service: service.to_string(),
                records: vec![record.clone()],
            }),
        }
    }
    for v in &mut out {
        v.records.sort();
    }
    out.sort_by(|a, b| a.service.cmp(&b.service));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://dns.google/resolve?name=example.com&type=TXT";

    #[test]
    fn txt_answers_are_unquoted_and_joined() {
        // Shape of a real dns.google / cloudflare-dns.com answer.
        let body = br#"{"Status":0,"TC":false,"RD":true,"RA":true,"AD":false,"CD":false,
            "Question":[{"name":"stripe.com.","type":16}],
            "Answer":[
              {"name":"stripe.com.","type":16,"TTL":300,"data":"\"v=spf1 include:_spf.google.com include:sendgrid.net include:mail.zendesk.com \" \"include:servers.mcsv.net ~all\""},
              {"name":"stripe.com.","type":16,"TTL":300,"data":"\"google-site-verification=abc123\""},
              {"name":"stripe.com.","type":16,"TTL":300,"data":"\"MS=ms12345678\""},
              {"name":"stripe.com.","type":16,"TTL":300,"data":"\"atlassian-domain-verification=Zx\\\"q\\\\\""},
              {"name":"stripe.com.","type":16,"TTL":300,"data":"\"facebook-domain-verification=f00\""},
              {"name":"stripe.com.","type":16,"TTL":300,"data":"\"google-site-verification=def456\""}
            ]}"#;
        let txt = parse_doh(body, "stripe.com", RecordType::Txt, URL).unwrap();
        assert_eq!(txt.len(), 6);
        assert_eq!(
            txt[0],
            "v=spf1 include:_spf.google.com include:sendgrid.net include:mail.zendesk.com include:servers.mcsv.net ~all"
        );
        assert_eq!(txt[3], "atlassian-domain-verification=Zx\"q\\");
        assert_eq!(
            spf_includes(&txt),
            vec![
                "_spf.google.com",
                "sendgrid.net",
                "mail.zendesk.com",
                "servers.mcsv.net"
            ]
        );
        let v = verifications(&txt);
        let services: Vec<&str> = v.iter().map(|x| x.service.as_str()).collect();
        assert_eq!(
            services,
            vec![
                "Atlassian",
                "Google Search Console",
                "Meta (Facebook)",
                "Microsoft 365"
            ]
        );
        assert_eq!(v[1].records.len(), 2);
    }

    #[test]
    fn mx_answers_skip_cname_chain_and_sort() {
        let body = br#"{"Status":0,"Answer":[
            {"name":"www.example.com.","type":5,"TTL":60,"data":"example.com."},
            {"name":"example.com.","type":15,"TTL":3600,"data":"10 ALT1.ASPMX.L.GOOGLE.COM."},
            {"name":"example.com.","type":15,"TTL":3600,"data":"1 aspmx.l.google.com."},
            {"name":"example.com.","type":15,"TTL":3600,"data":"5 alt2.aspmx.l.google.com."}]}"#;
        let recs = parse_doh(body, "example.com", RecordType::Mx, URL).unwrap();
        assert_eq!(recs.len(), 3);
        let mx = mx_hosts(&recs);
        assert_eq!(
            mx[0],
            MxHost {
                preference: 1,
                host: "aspmx.l.google.com".into()
            }
        );
        assert_eq!(mx[2].host, "alt1.aspmx.l.google.com");
        assert_eq!(mail_provider(&mx[0].host), Some("Google Workspace"));
        assert_eq!(
            mail_provider("example-com.mail.protection.outlook.com."),
            Some("Microsoft 365")
        );
        assert_eq!(mail_provider("mx.example.com"), None);
        assert_eq!(mail_provider("notgoogle.com"), None);
    }

    #[test]
    fn nxdomain_and_missing_answer_are_empty() {
        let nx = br#"{"Status":3,"TC":false,"Question":[{"name":"nope.invalid.","type":15}],
            "Authority":[{"name":"invalid.","type":6,"TTL":1800,"data":"a.root-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 86400"}]}"#;
        assert!(parse_doh(nx, "nope.invalid", RecordType::Mx, URL)
            .unwrap()
            .is_empty());
        let no_answer = br#"{"Status":0,"Question":[{"name":"example.com.","type":16}]}"#;
        assert!(parse_doh(no_answer, "example.com", RecordType::Txt, URL)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn servfail_and_junk_are_errors() {
        let servfail = br#"{"Status":2,"Comment":"DNSSEC validation failure"}"#;
        let err = parse_doh(servfail, "example.com", RecordType::Mx, URL).unwrap_err();
        assert!(matches!(err, DnsError::Status { code: 2, .. }));
        assert!(err.to_string().contains("SERVFAIL"), "{err}");
        let err = parse_doh(
            b"<html>502 Bad Gateway</html>",
            "example.com",
            RecordType::Mx,
            URL,
        )
        .unwrap_err();
        assert!(matches!(err, DnsError::Parse { .. }));
        assert!(err.to_string().contains(URL));
        let err = parse_doh(br#"{"Answer":[]}"#, "example.com", RecordType::Mx, URL).unwrap_err();
        assert!(matches!(err, DnsError::Parse { .. }), "Status is required");
    }

    #[test]
    fn txt_edge_cases() {
        assert_eq!(join_txt("v=spf1 -all"), "v=spf1 -all");
        assert_eq!(join_txt("\"caf\\195\\169\""), "café");
        assert_eq!(join_txt("\"\""), "");
        assert_eq!(join_txt("\"unterminated"), "unterminated");
        let spf = vec![
            "not spf include:x.com".to_string(),
            "V=SPF1 +include:A.example. ?include:b.example include: -all".to_string(),
        ];
        assert_eq!(spf_includes(&spf), vec!["a.example", "b.example"]);
    }

    #[test]
    fn lookup_call_shape() {
        let c = lookup_call("example.com", RecordType::Txt, "m02_tech_stack");
        assert_eq!(c.provider, "dns");
        assert_eq!(
            c.query,
            vec![
                ("name".into(), "example.com".into()),
                ("type".into(), "TXT".into())
            ]
        );
        assert_eq!(
            c.headers,
            vec![("accept".into(), "application/dns-json".into())]
        );
        assert_eq!(c.domain.as_deref(), Some("example.com"));
    }
}
