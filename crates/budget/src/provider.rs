//! A provider's policy turned into live machinery: its HTTP client, credentials, pacing,
//! breakers and in-flight limit, built once and shared by every call.

use crate::breaker::Breakers;
use crate::health::WaitStats;
use crate::ratelimit::Pacer;
use crate::secrets::{Credentials, Masker, Placement};
use crate::ssrf::Guard;
use crate::{GatewayError, ProviderConfig};
use reqwest::header::HeaderValue;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub(crate) struct ProviderRuntime {
    pub id: String,
    pub cfg: ProviderConfig,
    pub client: reqwest::Client,
    pub creds: Option<Credentials>,
    pub masker: Masker,
    pub pacer: Pacer,
    /// How often and how long calls waited in `pacer` (and the shared limiter).
    pub waits: WaitStats,
    pub breakers: Arc<Breakers>,
    pub in_flight: Option<Semaphore>,
    /// SSRF policy: checked before each call; also the client's resolver and redirect policy.
    pub guard: Guard,
}

impl ProviderRuntime {
    pub(crate) fn new(id: &str, cfg: &ProviderConfig) -> Result<Self, GatewayError> {
        let bad = |reason: String| GatewayError::Config {
            provider: id.to_string(),
            reason,
        };
        let creds = cfg
            .auth
            .as_ref()
            .map(Credentials::resolve)
            .transpose()
            .map_err(bad)?;
        let pacer =
            Pacer::new(cfg.rate_limit.as_ref(), cfg.per_host_rate_limit.as_ref()).map_err(bad)?;
        if !(cfg.timeout_secs.is_finite() && cfg.timeout_secs > 0.0) {
            return Err(bad("timeout_secs must be a positive number".into()));
        }
        if !(cfg.cost.is_finite() && cfg.cost >= 0.0)
            || cfg
                .endpoint_costs
                .values()
                .any(|c| !(c.is_finite() && *c >= 0.0))
        {
            return Err(bad("costs must be zero or positive".into()));
        }
        for (i, b) in cfg.batch.iter().enumerate() {
            if let Some(problem) = b.problem() {
                return Err(bad(format!(
                    "[[providers.{id}.batch]] #{} (path {:?}): {problem}",
                    i + 1,
                    b.path
                )));
            }
        }
        let guard = Guard::new(cfg);
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("PartnerForge/", env!("CARGO_PKG_VERSION")));
        builder = match cfg.max_redirects {
            0 => builder.redirect(reqwest::redirect::Policy::none()),
            n if !guard.enabled() => {
                builder.redirect(reqwest::redirect::Policy::limited(n as usize))
            }
            // Guarded: every redirect target is re-checked, names resolve through the guard (so
            // the checked address is the one connected to), and no environment proxy resolves
            // names on our behalf.
            n => builder.redirect(guard.redirect_policy(n)),
        };
        if guard.enabled() {
            builder = builder.dns_resolver(guard.resolver()).no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| bad(format!("cannot build HTTP client: {e}")))?;
        let in_flight = match cfg.max_in_flight {
            Some(0) => return Err(bad("max_in_flight must be at least 1".into())),
            Some(n) => Some(Semaphore::new(n as usize)),
            None => None,
        };
        Ok(ProviderRuntime {
            id: id.to_string(),
            masker: Masker::new(creds.as_ref()),
            creds,
            pacer,
            waits: WaitStats::default(),
            breakers: Arc::new(Breakers::new(id, &cfg.circuit_breaker)),
            in_flight,
            guard,
            client,
            cfg: cfg.clone(),
        })
    }

    /// Why calls cannot be made (the secret is missing), if they cannot.
    pub(crate) fn missing_secret(&self) -> Option<String> {
        self.creds
            .as_ref()
            .and_then(|c| c.secret.as_ref().err().cloned())
    }

    /// The request for `url` with the provider's headers, the call's headers and the secret,
    /// plus the URL actually sent (which may carry the secret: show it only through the masker).
    pub(crate) fn request(
        &self,
        url: &url::Url,
        call_headers: &[(String, String)],
    ) -> Result<(reqwest::RequestBuilder, url::Url), GatewayError> {
        let mut url = url.clone();
        let mut auth_header = None;
        if let Some(creds) = &self.creds {
            let secret = creds
                .secret
                .as_ref()
                .map_err(|reason| GatewayError::MissingSecret {
                    provider: self.id.clone(),
                    reason: reason.clone(),
                })?;
            match &creds.placement {
                Placement::Query { param } => {
                    url.query_pairs_mut().append_pair(param, secret);
                }
                Placement::Header { name, prefix } => {
                    let mut value =
                        HeaderValue::from_str(&format!("{prefix}{secret}")).map_err(|_| {
                            GatewayError::Config {
                                provider: self.id.clone(),
                                reason: "the secret is not a valid header value".into(),
                            }
                        })?;
                    value.set_sensitive(true);
                    auth_header = Some((name.clone(), value));
                }
            }
        }
        let timeout = Duration::from_secs_f64(self.cfg.timeout_secs);
        let mut req = self.client.get(url.clone()).timeout(timeout);
        for (k, v) in &self.cfg.headers {
            req = req.header(k, v);
        }
        for (k, v) in call_headers {
            req = req.header(k, v);
        }
        if let Some((name, value)) = auth_header {
            req = req.header(name, value);
        }
        Ok((req, url))
    }
}
