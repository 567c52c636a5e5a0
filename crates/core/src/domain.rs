//! `Domain`: a normalized registrable domain parsed from whatever users paste.
//!
//! Users paste URLs, e-mail addresses, hosts with subdomains and ports, IDNs in Unicode, and
//! the occasional spreadsheet junk. [`Domain::parse`] reduces every sensible form to one key, the
//! registrable domain (eTLD+1 by the public suffix list, crate `psl`), so `https://www.Stripe.com/`
//! and `jane@stripe.com` land on the same stored company. Everything else is refused with a
//! one-line [`DomainError`] naming the input and the fix, so one bad line never stops a batch.
//!
//! Choices worth knowing:
//! - URL credentials (`https://user:pass@stripe.com`) are accepted and dropped: only the host is
//!   kept, so the secret is never stored or logged.
//! - Suffixes must be known to the public suffix list (ICANN or private section). A TLD the list
//!   does not know (`example.notatld`) is refused rather than guessed, because it is almost always
//!   a typo. Private suffixes count too: `shop.myshopify.com` stays `shop.myshopify.com`.
//! - IP addresses, single labels (`localhost`) and bare public suffixes (`co.uk`) are refused:
//!   none of them names a company.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use thiserror::Error;

/// A registrable domain (eTLD+1), lower-case ASCII (IDN in punycode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Domain(String);

/// Why an input line is not a domain. The message names the input and says what to do.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid domain {input:?}: {reason}")]
pub struct DomainError {
    /// The offending input, cut to [`DomainError::MAX_INPUT_CHARS`] characters so the message
    /// stays one readable line (control characters are escaped by the `Debug` formatting).
    pub input: String,
    /// What is wrong and how to fix it.
    pub reason: String,
}

impl DomainError {
    /// How much of the input an error keeps: enough to find the line, short enough for one line.
    pub const MAX_INPUT_CHARS: usize = 80;

    fn new(input: &str, reason: impl Into<String>) -> Self {
        let mut shown: String = input.chars().take(Self::MAX_INPUT_CHARS).collect();
        if input.chars().nth(Self::MAX_INPUT_CHARS).is_some() {
            shown.push('…');
        }
        DomainError {
            input: shown,
            reason: reason.into(),
        }
    }
}

/// Longest full name DNS allows (without the trailing dot).
const MAX_NAME_LEN: usize = 253;
/// Longest label DNS allows.
const MAX_LABEL_LEN: usize = 63;

const IP_REASON: &str =
    "IP addresses are not company domains; give the company's domain name like example.com";

impl Domain {
    /// Parses user input (URL, e-mail, host with subdomains, IDN) into a registrable domain.
    ///
    /// Accepts e.g. `https://www.Stripe.com/about?x=1`, `STRIPE.COM.`, `jane@stripe.com`,
    /// `stripe.com:443`, `//stripe.com/path`, `bücher.de` (→ `xn--bcher-kva.de`) and reduces
    /// subdomains by the public suffix list (`shop.example.co.uk` → `example.co.uk`). Never
    /// panics, whatever the input.
    pub fn parse(input: &str) -> Result<Domain, DomainError> {
        let err = |reason: String| DomainError::new(input, reason);
        let host = extract_host(input).map_err(err)?;
        let ascii = to_ascii_host(host).map_err(err)?;
        registrable(&ascii).map(Domain).map_err(err)
    }

    /// The domain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Domain {
    type Err = DomainError;

    /// Same as [`Domain::parse`], so `"stripe.com".parse::<Domain>()` works (e.g. with clap).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Domain::parse(s)
    }
}

impl AsRef<str> for Domain {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Finds the host part of whatever was pasted: strips whitespace, scheme, userinfo / e-mail
/// local part, path, query, fragment and port. The host is returned as typed (not yet checked).
fn extract_host(input: &str) -> Result<&str, String> {
    // Spreadsheets like to prepend a byte-order mark; it is never meaningful here.
    let s = input.trim_start_matches('\u{feff}').trim();
    if s.is_empty() {
        return Err("empty line; give a company domain like example.com".into());
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!(
            "contains the control character {c:?}; put one domain per line, like example.com"
        ));
    }

    let mut rest = s;
    if let Some(r) = strip_prefix_ignore_case(rest, "mailto:") {
        rest = r;
    }
    if let Some(i) = rest.find("://") {
        if is_scheme(&rest[..i]) {
            rest = &rest[i + 3..];
        }
    } else if let Some(r) = rest.strip_prefix("//") {
        rest = r;
    }

    // Authority ends at the path, query or fragment (WHATWG URLs also treat `\` as a slash).
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let mut authority = &rest[..end];
    // `user:pass@host` or `jane@host`: only the host matters, credentials are dropped.
    if let Some(i) = authority.rfind('@') {
        authority = &authority[i + 1..];
    }
    if authority.is_empty() {
        return Err("no host name found; give a company domain like example.com".into());
    }

    // Bracketed IPv6 literal, with or without a port.
    if authority.starts_with('[') {
        return Err(IP_REASON.into());
    }
    let host = match authority.matches(':').count() {
        0 => authority,
        1 => {
            let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
            if !port.is_empty() && port.parse::<u16>().is_err() {
                return Err(format!(
                    "{port:?} is not a port number; give just the domain like example.com"
                ));
            }
            host
        }
        _ if authority.parse::<Ipv6Addr>().is_ok() => return Err(IP_REASON.into()),
        _ => {
            return Err("contains ':' more than once; give just the domain like example.com".into())
        }
    };
    // One trailing dot means "fully qualified" and is dropped.
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return Err("no host name found; give a company domain like example.com".into());
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Err(IP_REASON.into());
    }
    Ok(host)
}

/// Checks the characters of a typed host and converts it to lower-case ASCII (punycode for
/// IDN), then checks the DNS length rules on the result.
fn to_ascii_host(host: &str) -> Result<String, String> {
    if let Some(c) = host
        .chars()
        .find(|&c| c.is_ascii() && !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
    {
        let what = if c == ' ' {
            "a space".to_string()
        } else {
            format!("the character {c:?}")
        };
        return Err(format!(
            "contains {what}; domains use only letters, digits, '-' and '.', like example.com"
        ));
    }
    if let Some(c) = host.chars().find(|c| c.is_whitespace()) {
        return Err(format!(
            "contains the whitespace character {c:?}; give one domain per line, like example.com"
        ));
    }
    // Cheap bound before IDNA work: no valid name, even in Unicode, is this long.
    if host.chars().count() > MAX_NAME_LEN {
        return Err(format!(
            "name is longer than {MAX_NAME_LEN} characters; give the company's domain like example.com"
        ));
    }
    let ascii = idna::domain_to_ascii(host).map_err(|_| {
        "not a valid internationalized domain name; check the spelling or paste it in punycode (xn--...)"
            .to_string()
    })?;
    if ascii.is_empty() {
        return Err("no host name found; give a company domain like example.com".into());
    }
    if let Some(label) = mixed_script_label(&ascii) {
        return Err(format!(
            "label {label:?} mixes Latin with Cyrillic or Greek letters, a common look-alike \
             (homograph) trick; check the domain or type it in plain ASCII"
        ));
    }
    if let Some(c) = ascii
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'))
    {
        return Err(format!(
            "contains the character {c:?}; domains use only letters, digits, '-' and '.', like example.com"
        ));
    }
    if ascii.len() > MAX_NAME_LEN {
        return Err(format!(
            "name is {} characters long, the limit is {MAX_NAME_LEN}; give the company's domain like example.com",
            ascii.len()
        ));
    }
    for label in ascii.split('.') {
        if label.is_empty() {
            return Err(
                "has an empty label (two dots in a row or a leading dot); write it like example.com"
                    .into(),
            );
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!(
                "a label is {} characters long, the limit is {MAX_LABEL_LEN}; check for a pasting error",
                label.len()
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "label {label:?} starts or ends with '-', which DNS does not allow; check the spelling"
            ));
        }
    }
    Ok(ascii)
}

/// Reduces a checked ASCII host to its registrable domain by the public suffix list.
fn registrable(ascii: &str) -> Result<String, String> {
    let labels: Vec<&str> = ascii.split('.').collect();
    let tld = labels.last().copied().unwrap_or_default();
    // WHATWG URL parsers read `127.1` or `0x7f.0.0.1` as IPv4; no TLD is numeric either way.
    if tld.bytes().all(|b| b.is_ascii_digit())
        || (tld.starts_with("0x") && tld[2..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(IP_REASON.into());
    }
    if labels.len() < 2 {
        return Err(format!(
            "{ascii:?} is a single name, not a company domain; give the full domain like {ascii}.com"
        ));
    }
    let known = psl::suffix(ascii.as_bytes()).is_some_and(|s| s.is_known());
    if !known {
        return Err(format!(
            "unknown top-level domain \".{tld}\"; check the spelling (e.g. example.com, example.co.uk)"
        ));
    }
    match psl::domain_str(ascii) {
        Some(d) => Ok(d.to_string()),
        None => Err(format!(
            "{ascii:?} is a public suffix, not a company domain; give the company's domain like example.{ascii}"
        )),
    }
}

/// Whether `s` is a URL scheme (`http`, `https`, `git+ssh`...): a letter, then letters, digits,
/// `+`, `-` or `.`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(input: &str) -> String {
        match Domain::parse(input) {
            Ok(d) => d.as_str().to_string(),
            Err(e) => panic!("{input:?} should parse, got: {e}"),
        }
    }

    fn reason(input: &str) -> String {
        match Domain::parse(input) {
            Ok(d) => panic!("{input:?} should be rejected, got {d}"),
            Err(e) => {
                let line = e.to_string();
                assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
                e.reason
            }
        }
    }

    #[test]
    fn accepts_urls_emails_and_hosts() {
        assert_eq!(ok("https://www.Stripe.com/about?x=1"), "stripe.com");
        assert_eq!(ok("STRIPE.COM."), "stripe.com");
        assert_eq!(ok("jane@stripe.com"), "stripe.com");
        assert_eq!(ok("mailto:jane@stripe.com"), "stripe.com");
        assert_eq!(ok("shop.example.co.uk"), "example.co.uk");
        assert_eq!(ok("  stripe.com  "), "stripe.com");
        assert_eq!(ok("\tstripe.com\r\n"), "stripe.com");
        assert_eq!(ok("stripe.com:443"), "stripe.com");
        assert_eq!(ok("stripe.com:"), "stripe.com");
        assert_eq!(ok("//stripe.com/path"), "stripe.com");
        assert_eq!(ok("http://stripe.com#frag"), "stripe.com");
        assert_eq!(ok("https://stripe.com:8443/x"), "stripe.com");
        assert_eq!(ok("HTTPS://API.EU.STRIPE.COM"), "stripe.com");
        assert_eq!(ok("\u{feff}stripe.com"), "stripe.com");
        assert_eq!(ok("stripe.com"), "stripe.com");
    }

    #[test]
    fn accepts_idn_as_punycode() {
        assert_eq!(ok("bücher.de"), "xn--bcher-kva.de");
        assert_eq!(ok("https://münchen.de"), "xn--mnchen-3ya.de");
        assert_eq!(ok("BÜCHER.DE"), "xn--bcher-kva.de");
        assert_eq!(ok("www.xn--bcher-kva.de"), "xn--bcher-kva.de");
        // Full-width letters and dots (IME input) map to ASCII.
        assert_eq!(ok("ｗｗｗ．ｓｔｒｉｐｅ．ｃｏｍ"), "stripe.com");
        assert!(
            reason("xn--zz-.com").contains("internationalized")
                || reason("xn--zz-.com").contains("'-'")
        );
        // Unicode TLDs are in the list too (Russian Federation).
        assert_eq!(ok("пример.рф"), "xn--e1afmkfd.xn--p1ai");
        // A Cyrillic "а" inside a Latin name is a look-alike, refused in Unicode and punycode.
        assert!(reason("\u{430}pple.com").contains("look-alike"));
        assert!(reason("xn--pple-43d.com").contains("look-alike"));
        assert!(reason("g\u{3bf}\u{3bf}gle.com").contains("look-alike"));
    }

    #[test]
    fn credentials_in_urls_are_dropped() {
        assert_eq!(ok("https://user:pass@stripe.com"), "stripe.com");
        assert_eq!(ok("https://user:pass@www.stripe.com:443/x"), "stripe.com");
    }

    #[test]
    fn private_suffixes_keep_the_tenant() {
        assert_eq!(ok("shop.myshopify.com"), "shop.myshopify.com");
    }

    #[test]
    fn rejects_ip_addresses() {
        for input in [
            "127.0.0.1",
            "https://192.168.0.1/admin",
            "10.0.0.1:8080",
            "::1",
            "[::1]",
            "[2001:db8::1]:443",
            "http://[2001:db8::1]/",
            "2001:db8::1",
            "127.1",
            "http://0x7f.0.0.1/",
        ] {
            assert!(reason(input).contains("IP addresses"), "{input}");
        }
    }

    #[test]
    fn rejects_single_labels() {
        let r = reason("localhost");
        assert!(r.contains("single name"), "{r}");
        assert!(r.contains("localhost.com"), "{r}");
        assert!(reason("stripe").contains("single name"));
        assert!(reason("http://intranet/").contains("single name"));
    }

    #[test]
    fn rejects_overlong_labels_and_names() {
        let label = "a".repeat(64);
        let r = reason(&format!("{label}.com"));
        assert!(r.contains("limit is 63"), "{r}");
        assert_eq!(
            ok(&format!("{}.com", "a".repeat(63))),
            format!("{}.com", "a".repeat(63))
        );

        let long = format!("{}com", "abcdefghi.".repeat(25)); // 253 chars: allowed
        assert_eq!(long.len(), 253);
        assert_eq!(ok(&long), "abcdefghi.com");
        let too_long = format!("x{long}");
        assert!(reason(&too_long).contains("253"));
        // An IDN label whose punycode form is over 63.
        let r = reason(&format!("{}.de", "ü".repeat(60)));
        assert!(r.contains("limit is 63"), "{r}");
    }

    #[test]
    fn rejects_illegal_characters() {
        assert!(reason("stripe com").contains("a space"));
        assert!(reason("my_company.com").contains("'_'"));
        assert!(reason("stripe!.com").contains("'!'"));
        assert!(reason("stri\u{7}pe.com").contains("control character"));
        assert!(reason("stripe.com\nfoo.com").contains("control character"));
        assert!(reason("stripe\u{a0}x.com").contains("whitespace"));
        assert!(reason("-stripe.com").contains("'-'"));
        assert!(reason("stripe..com").contains("empty label"));
        assert!(reason(".stripe.com").contains("empty label"));
        assert!(reason("stripe.com..").contains("empty label"));
        assert!(reason("stripe.com:https").contains("port"));
        assert!(reason("a:b:c").contains("':'"));
        assert!(reason("stripe%2ecom").contains("'%'"));
        assert!(reason("stripe.com,").contains("','"));
        assert!(reason("http://stripe.com:99999/").contains("port"));
    }

    #[test]
    fn rejects_empty_lines() {
        for input in ["", "   ", "\t\r\n", "https://", "//", "jane@", "."] {
            let r = reason(input);
            assert!(r.contains("example.com"), "{input:?}: {r}");
        }
        assert!(reason("").contains("empty line"));
    }

    #[test]
    fn rejects_bare_public_suffix() {
        let r = reason("co.uk");
        assert!(r.contains("public suffix"), "{r}");
        assert!(r.contains("example.co.uk"), "{r}");
        assert!(reason("https://GOV.UK./").contains("public suffix"));
    }

    #[test]
    fn rejects_unknown_tld() {
        let r = reason("stripe.notatld");
        assert!(r.contains("unknown top-level domain \".notatld\""), "{r}");
        assert!(reason("stripe.c0m").contains("unknown top-level"));
    }

    #[test]
    fn never_panics_on_junk_and_keeps_errors_one_line() {
        let long = "a".repeat(10_000);
        let e = Domain::parse(&long).unwrap_err();
        assert!(e.input.chars().count() <= DomainError::MAX_INPUT_CHARS + 1);
        assert!(e.input.ends_with('…'));
        let long_url = format!("https://stripe.com/{}", "x".repeat(10_000));
        assert_eq!(ok(&long_url), "stripe.com");

        let binary: String = (0u8..=255).map(char::from).collect();
        let e = Domain::parse(&binary).unwrap_err();
        let line = e.to_string();
        assert!(!line.contains('\n') && !line.contains('\0'), "{line}");
        assert!(
            line.contains("\\0"),
            "control characters are escaped: {line}"
        );

        // Right-to-left text: Arabic "example.test" is a reserved TLD the list does not hold.
        assert!(Domain::parse("مثال.إختبار").is_err());
        assert!(Domain::parse("\u{202e}moc.epirts").is_err());
        assert!(Domain::parse("\u{fffd}\u{fffd}").is_err());
    }

    #[test]
    fn display_serde_and_fromstr_agree() {
        let d: Domain = "www.stripe.com".parse().unwrap();
        assert_eq!(d.to_string(), "stripe.com");
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"stripe.com\"");
        let back: Domain = serde_json::from_str("\"stripe.com\"").unwrap();
        assert_eq!(back, d);
    }

    /// Hosts that look valid: 0-2 subdomain labels, a registrable label and a known suffix.
    fn valid_host() -> impl Strategy<Value = String> {
        let label = "[a-z0-9]{1,10}(-[a-z0-9]{1,8})?";
        let idn_label = "[a-zü]{1,6}ü[a-z]{0,4}";
        let suffix = prop::sample::select(vec!["com", "org", "de", "co.uk", "com.au", "io", "net"]);
        (
            prop::collection::vec(label, 0..3),
            prop_oneof![3 => label, 1 => idn_label],
            suffix,
        )
            // Skip the rare draws where name.suffix is itself a (private) public suffix, like
            // `co.de`: such a host has no registrable part, so it is not valid-looking.
            .prop_filter("name.suffix must be registrable", |(_, name, suffix)| {
                idna::domain_to_ascii(&format!("{name}.{suffix}"))
                    .is_ok_and(|ascii| psl::domain_str(&ascii) == Some(ascii.as_str()))
            })
            .prop_map(|(subs, name, suffix)| {
                let mut parts = subs;
                parts.push(name);
                parts.push(suffix.to_string());
                parts.join(".")
            })
    }

    proptest! {
        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = Domain::parse(&s);
        }

        #[test]
        fn never_panics_on_url_like_junk(s in "[a-zA-Z0-9:/@\\[\\]%._~?#!ü\\- ]{0,80}") {
            if let Err(e) = Domain::parse(&s) {
                prop_assert!(!e.to_string().contains('\n'));
            }
        }

        #[test]
        fn idempotent(host in valid_host()) {
            let first = Domain::parse(&host);
            prop_assert!(first.is_ok(), "{} -> {:?}", host, first);
            let first = first.unwrap();
            prop_assert_eq!(Domain::parse(first.as_str()), Ok(first.clone()));
        }

        #[test]
        fn decorations_do_not_change_the_result(host in valid_host()) {
            let plain = Domain::parse(&host).unwrap();
            prop_assert_eq!(Domain::parse(&format!("https://www.{host}")), Ok(plain.clone()));
            prop_assert_eq!(Domain::parse(&format!("{host}/path?q=1")), Ok(plain.clone()));
            prop_assert_eq!(Domain::parse(&format!("https://www.{host}/path?q=1")), Ok(plain.clone()));
            prop_assert_eq!(Domain::parse(&host.to_uppercase()), Ok(plain.clone()));
            prop_assert_eq!(Domain::parse(&format!("  {host}.  ")), Ok(plain.clone()));
            prop_assert_eq!(Domain::parse(&format!("someone@{host}")), Ok(plain));
        }

        #[test]
        fn output_shape(s in prop_oneof![valid_host(), any::<String>(), "[a-z.]{1,300}"]) {
            if let Ok(d) = Domain::parse(&s) {
                let d = d.as_str();
                prop_assert!(d.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'), "{}", d);
                prop_assert!(d.len() <= 253);
                prop_assert!(d.split('.').count() >= 2);
                prop_assert!(d.split('.').all(|l| !l.is_empty() && l.len() <= 63));
            }
        }
    }
}

/// Script of a letter, for the look-alike check: only the scripts whose letters are commonly
/// confused with Latin ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Cyrillic,
    Greek,
    Other,
}

fn script_of(c: char) -> Option<Script> {
    if !c.is_alphabetic() {
        return None;
    }
    Some(match c as u32 {
        0x41..=0x5A | 0x61..=0x7A | 0xC0..=0x24F | 0x1E00..=0x1EFF => Script::Latin,
        0x370..=0x3FF | 0x1F00..=0x1FFF => Script::Greek,
        0x400..=0x52F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => Script::Cyrillic,
        _ => Script::Other,
    })
}

/// The first label (in Unicode) that mixes Latin letters with Cyrillic or Greek ones, such as
/// `аpple` with a Cyrillic `а`. Whole-script names (`яндекс.рф`) are fine.
fn mixed_script_label(ascii: &str) -> Option<String> {
    let (unicode, _) = idna::domain_to_unicode(ascii);
    unicode.split('.').find_map(|label| {
        let scripts: Vec<Script> = label.chars().filter_map(script_of).collect();
        let latin = scripts.contains(&Script::Latin);
        let confusable = scripts
            .iter()
            .any(|s| matches!(s, Script::Cyrillic | Script::Greek));
        (latin && confusable).then(|| label.to_string())
    })
}
