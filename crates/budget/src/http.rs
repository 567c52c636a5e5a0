//! One HTTP attempt: send, stream the body within the size cap, check status and content type.
//! Everything it reports is already masked, so no secret leaves this file in a URL or message.

use crate::secrets::Masker;
use crate::{GatewayError, ProviderConfig, Response};
use bytes::Bytes;
use chrono::Utc;
use std::time::{Duration, SystemTime};

/// A failed attempt, with what the retry and budget logic need to know about it.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub error: GatewayError,
    /// The provider's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
    /// Whether the request may have reached the provider (and so may be billed).
    pub sent: bool,
    /// HTTP status, when the provider answered (a 2xx answer can still fail the size or
    /// content-type check; "charge on success" providers bill it all the same).
    pub status: Option<u16>,
}

/// What an attempt needs from the provider's policy.
pub(crate) struct Attempt<'a> {
    pub provider: &'a str,
    pub cfg: &'a ProviderConfig,
    pub masker: &'a Masker,
    /// Largest body accepted: the provider's `max_body_bytes`, or a batch declaration's.
    pub max_body_bytes: u64,
}

impl Attempt<'_> {
    /// Sends `req` (already carrying auth and headers) and reads the answer.
    pub(crate) async fn run(
        &self,
        req: reqwest::RequestBuilder,
        url: &url::Url,
    ) -> Result<Response, Failure> {
        let shown = self.masker.url(url);
        let fail = |error, sent| Failure {
            error,
            retry_after: None,
            sent,
            status: None,
        };
        let provider = self.provider.to_string();
        let mut resp = req.send().await.map_err(|e| {
            let sent = !e.is_connect();
            fail(self.send_error(e, &shown), sent)
        })?;
        let status = resp.status().as_u16();
        let fail = |error, sent| Failure {
            error,
            retry_after: None,
            sent,
            status: Some(status),
        };
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let too_large = || GatewayError::TooLarge {
            provider: provider.clone(),
            url: shown.clone(),
            limit: self.max_body_bytes,
        };
        if resp
            .content_length()
            .is_some_and(|len| len > self.max_body_bytes)
        {
            return Err(fail(too_large(), true));
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > self.max_body_bytes {
                        return Err(fail(too_large(), true));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(fail(self.send_error(e, &shown), true)),
                Err(e) => {
                    let error = GatewayError::Body {
                        provider,
                        url: shown,
                        reason: self.masker.text(&chain(e)),
                    };
                    return Err(fail(error, true));
                }
            }
        }
        let response = Response {
            provider: provider.clone(),
            sources: vec![shown.clone()],
            requested: shown.clone(),
            url: shown.clone(),
            status,
            headers,
            body: Bytes::from(body),
            fetched_at: Utc::now(),
        };
        if !(200..300).contains(&status) {
            let snippet: String = response.text().chars().take(200).collect();
            let retry_after = response
                .header("retry-after")
                .and_then(|v| crate::retry::parse_retry_after(v, SystemTime::now()));
            return Err(Failure {
                error: GatewayError::Status {
                    provider,
                    url: shown,
                    status,
                    message: self.masker.text(snippet.trim()),
                },
                retry_after,
                sent: true,
                status: Some(status),
            });
        }
        if self.cfg.expect_json {
            let ct = response
                .header("content-type")
                .unwrap_or("")
                .to_ascii_lowercase();
            if !ct.contains("json") {
                return Err(fail(
                    GatewayError::ContentType {
                        provider,
                        url: shown,
                        content_type: ct,
                    },
                    true,
                ));
            }
        }
        Ok(response)
    }

    fn send_error(&self, e: reqwest::Error, shown: &str) -> GatewayError {
        let provider = self.provider.to_string();
        let url = shown.to_string();
        if let Some(blocked) = crate::ssrf::find_blocked(&e) {
            GatewayError::Forbidden {
                provider,
                url,
                reason: self.masker.text(&blocked.0),
            }
        } else if e.is_timeout() {
            GatewayError::Timeout {
                provider,
                url,
                secs: self.cfg.timeout_secs,
            }
        } else if e.is_redirect() {
            GatewayError::TooManyRedirects {
                provider,
                url,
                limit: self.cfg.max_redirects,
            }
        } else {
            GatewayError::Connect {
                provider,
                url,
                reason: self.masker.text(&chain(e)),
            }
        }
    }
}

/// The error and its causes on one line, without the request URL reqwest would include.
fn chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    reason
}
