//! SSRF guard: the gateway fetches pages of domains users paste in, so a hostile domain (or a
//! redirect, or a DNS answer that changes between check and connect) must never turn it into a
//! client of the network it runs in: loopback, private, link-local, unique-local, CGNAT, cloud
//! metadata and other non-public addresses are refused.
//!
//! Three layers, all per provider:
//! - the request URL (before anything is spent) and every redirect target are checked: scheme,
//!   literal IP addresses (which never reach a resolver), and host/port;
//! - host names are resolved by [`GuardedResolver`], which refuses names resolving to a
//!   forbidden address and hands the connector only the addresses it checked, so a rebinding DNS
//!   server cannot swap in another address after the check;
//! - the host and port of the provider's configured `base_url` (when the host is not `{domain}`)
//!   are allowed explicitly: the operator chose them (an internal API proxy, the fixture server on
//!   127.0.0.1:PORT). Nothing else is, unless the provider sets `allow_private = true`.

use crate::ProviderConfig;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// Why a target was refused; travels inside reqwest's error chain and is turned into
/// [`crate::GatewayError::Forbidden`] by the gateway.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Blocked(pub String);

/// Marker for "more redirects than allowed" from the guarded redirect policy.
#[derive(Debug, Clone, thiserror::Error)]
#[error("too many redirects")]
pub(crate) struct TooManyRedirects;

/// The named non-public range `ip` falls in, or `None` if it is a public unicast address.
/// IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that
/// address, so `::ffff:127.0.0.1` is loopback too.
pub fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([169, 254, 169, 254], 32, "cloud metadata"),
        ([100, 100, 100, 200], 32, "cloud metadata"),
        ([0, 0, 0, 0], 8, "\"this network\" (0.0.0.0/8)"),
        ([10, 0, 0, 0], 8, "private (10.0.0.0/8)"),
        ([100, 64, 0, 0], 10, "carrier-grade NAT (100.64.0.0/10)"),
        ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
        ([169, 254, 0, 0], 16, "link-local (169.254.0.0/16)"),
        ([172, 16, 0, 0], 12, "private (172.16.0.0/12)"),
        (
            [192, 0, 0, 0],
            24,
            "IETF protocol assignments (192.0.0.0/24)",
        ),
        ([192, 0, 2, 0], 24, "documentation (192.0.2.0/24)"),
        ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99.0/24)"),
        ([192, 168, 0, 0], 16, "private (192.168.0.0/16)"),
        ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
        ([198, 51, 100, 0], 24, "documentation (198.51.100.0/24)"),
        ([203, 0, 113, 0], 24, "documentation (203.0.113.0/24)"),
        ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
        ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4) or broadcast"),
    ];
    RANGES
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, name)| *name)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback (::1)");
    }
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (deprecated compatible form).
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return forbidden_v4(embedded(s[6], s[7])).or(if s[5] == 0 {
            Some("IPv4-compatible IPv6 (::/96)")
        } else {
            None
        });
    }
    // NAT64 well-known prefix 64:ff9b::/96 carries an IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return Some("local-use NAT64 (64:ff9b:1::/48)");
    }
    // 6to4: 2002:AABB:CCDD::/48 tunnels to IPv4 AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return forbidden_v4(embedded(s[1], s[2]));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return Some("Teredo tunnel (2001::/32)");
    }
    if s[0] == 0x2001 && s[1] == 0x0db8 {
        return Some("documentation (2001:db8::/32)");
    }
    if s[..4] == [0x100, 0, 0, 0] {
        return Some("discard-only (100::/64)");
    }
    match s[0] {
        x if x & 0xfe00 == 0xfc00 => Some("unique-local (fc00::/7, includes cloud metadata)"),
        x if x & 0xffc0 == 0xfe80 => Some("link-local (fe80::/10)"),
        x if x & 0xffc0 == 0xfec0 => Some("site-local (fec0::/10)"),
        x if x & 0xff00 == 0xff00 => Some("multicast (ff00::/8)"),
        _ => None,
    }
}

/// Hosts and ports the operator configured, which the guard lets through unchecked.
#[derive(Debug, Default)]
struct AllowList {
    /// `(host, port)` pairs from configured base URLs.
    endpoints: HashSet<(String, u16)>,
    /// Their host names (not IP literals), which the resolver does not filter.
    names: HashSet<String>,
}

/// A provider's SSRF policy, shared by its pre-flight check, redirect policy and resolver.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    allow: Arc<AllowList>,
    /// False when the provider sets `allow_private = true`.
    enabled: bool,
}

/// Stands in for `{domain}` when finding the fixed host of a base URL.
const PLACEHOLDER: &str = "pforge-domain-placeholder.invalid";

impl Guard {
    /// The guard for one provider: its configured base URL's host and port are allowed unless the
    /// host itself is `{domain}` (then every target is checked).
    pub(crate) fn new(cfg: &ProviderConfig) -> Self {
        let mut allow = AllowList::default();
        let probe = cfg.base_url.replace("{domain}", PLACEHOLDER);
        if let Ok(url) = Url::parse(&probe) {
            if let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) {
                if !host.contains(PLACEHOLDER) {
                    let host = host.to_ascii_lowercase();
                    if matches!(url.host(), Some(Host::Domain(_))) {
                        allow.names.insert(host.clone());
                    }
                    allow.endpoints.insert((host, port));
                }
            }
        }
        Guard {
            allow: Arc::new(allow),
            enabled: !cfg.allow_private,
        }
    }

    /// Whether the guard is on (the client then gets the guarded resolver and redirect policy).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Checks a URL before it is requested or followed: only http(s), and a literal IP address
    /// must be public unless its host and port were configured. Host names are checked when
    /// resolved, by [`GuardedResolver`].
    pub(crate) fn check_url(&self, url: &Url) -> Result<(), Blocked> {
        if !self.enabled {
            return Ok(());
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Blocked(format!(
                "scheme {:?} is not allowed (only http and https)",
                url.scheme()
            )));
        }
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return Err(Blocked("the URL has no host".into()));
        };
        let host_text = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if self.allow.endpoints.contains(&(host_text.clone(), port)) {
            return Ok(());
        }
        match host {
            Host::Ipv4(ip) => check_ip(IpAddr::V4(ip), &host_text),
            Host::Ipv6(ip) => check_ip(IpAddr::V6(ip), &host_text),
            Host::Domain(_) if self.allow.names.contains(&host_text) => Err(Blocked(format!(
                "{host_text} is allowed only on the port configured in the provider's base_url, \
                 not {port}"
            ))),
            Host::Domain(_) => Ok(()),
        }
    }

    /// The redirect policy: at most `max` redirects, each target re-checked.
    pub(crate) fn redirect_policy(&self, max: u32) -> reqwest::redirect::Policy {
        let guard = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max as usize {
                return attempt.error(TooManyRedirects);
            }
            match guard.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(blocked) => {
                    let msg = format!("redirect refused: {blocked}");
                    attempt.error(Blocked(msg))
                }
            }
        })
    }

    /// The resolver handed to the provider's HTTP client.
    pub(crate) fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver {
            allow: self.allow.clone(),
        })
    }
}

fn check_ip(ip: IpAddr, shown: &str) -> Result<(), Blocked> {
    match forbidden_range(ip) {
        None => Ok(()),
        Some(range) => Err(Blocked(format!(
            "{shown} is a {range} address; fetching non-public addresses is refused \
             (set allow_private = true on the provider to permit it)"
        ))),
    }
}

/// Resolves host names and refuses any that resolve to a forbidden address. The connector only
/// ever sees the addresses returned here, so the address checked is the address connected to.
pub(crate) struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let trusted = self.allow.names.contains(&host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?
                .collect();
            if !trusted {
                if let Some((ip, range)) = addrs
                    .iter()
                    .find_map(|a| forbidden_range(a.ip()).map(|r| (a.ip(), r)))
                {
                    return Err(Box::new(Blocked(format!(
                        "{host} resolves to {ip}, a {range} address; fetching non-public \
                         addresses is refused (set allow_private = true on the provider to \
                         permit it)"
                    )))
                        as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            if addrs.is_empty() {
                return Err(format!("{host} has no addresses").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The guard's refusal, if it is somewhere in an error's chain of causes.
pub(crate) fn find_blocked(e: &(dyn std::error::Error + 'static)) -> Option<Blocked> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(b) = err.downcast_ref::<Blocked>() {
            return Some(b.clone());
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_ranges_are_named() {
        for (addr, want) in [
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "cloud metadata"),
            ("169.254.10.1", "link-local"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.255", "carrier-grade NAT"),
            ("100.100.100.200", "cloud metadata"),
            ("0.0.0.0", "this network"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::10.0.0.1", "private"),
            ("2002:c0a8:0101::1", "private"),
            ("fd00:ec2::254", "unique-local"),
            ("fc00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ] {
            let got = forbidden_range(ip(addr)).unwrap_or_else(|| panic!("{addr} allowed"));
            assert!(got.contains(want), "{addr}: {got}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert_eq!(forbidden_range(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn configured_host_and_port_are_allowed_nothing_else() {
        let fixture = Guard::new(&ProviderConfig::new(
            "http://127.0.0.1:4040/homepage/{domain}",
        ));
        // Other spellings of the same address normalize to the configured endpoint.
        for ok in [
            "http://127.0.0.1:4040/homepage/a.com/",
            "http://2130706433:4040/",
            "http://0x7f.0.0.1:4040/",
        ] {
            assert!(fixture.check_url(&Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:6379/",
            "http://10.0.0.1/",
            "http://[::1]:4040/",
            "http://169.254.169.254/latest/meta-data/",
            "file:///etc/passwd",
            "ftp://example.com/",
        ] {
            let url = Url::parse(bad).unwrap();
            let err = fixture.check_url(&url).unwrap_err();
            println!("{bad}: {err}");
        }
        let prod = Guard::new(&ProviderConfig::new("https://{domain}"));
        assert!(prod.allow.endpoints.is_empty());
        assert!(prod
            .check_url(&Url::parse("https://stripe.com/").unwrap())
            .is_ok());
        let named = Guard::new(&ProviderConfig::new("http://localhost:8080/api"));
        assert!(named
            .check_url(&Url::parse("http://localhost:8080/x").unwrap())
            .is_ok());
        assert!(named
            .check_url(&Url::parse("http://localhost:22/").unwrap())
            .is_err());
        let mut open = ProviderConfig::new("https://{domain}");
        open.allow_private = true;
        assert!(Guard::new(&open)
            .check_url(&Url::parse("http://10.0.0.1/").unwrap())
            .is_ok());
    }
}
