//! Provider secrets: read from the environment or a file (never from config text), sent as a
//! header or query parameter, and masked everywhere the gateway shows a URL or an error.

use crate::config::AuthConfig;
use url::Url;

/// Query parameter names always masked, whoever added them.
const SENSITIVE_PARAMS: &[&str] = &[
    "api_key",
    "apikey",
    "api-key",
    "key",
    "token",
    "access_token",
    "auth",
    "secret",
    "client_secret",
    "password",
    "signature",
    "sig",
    "user_key",
    "app_key",
];

/// How a resolved secret is attached to a request.
#[derive(Debug, Clone)]
pub(crate) enum Placement {
    Header { name: String, prefix: String },
    Query { param: String },
}

/// A provider's credentials, resolved once when the gateway is built.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub placement: Placement,
    /// The secret, or why it is missing (the provider then reports "no credentials").
    pub secret: Result<String, String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("placement", &self.placement)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Credentials {
    /// Validates the auth policy and reads the secret. Invalid policy is an error; a missing
    /// secret is not (the provider is just unavailable, and says why).
    pub(crate) fn resolve(auth: &AuthConfig) -> Result<Self, String> {
        let placement = match (&auth.header, &auth.query) {
            (Some(name), None) => Placement::Header {
                name: name.clone(),
                prefix: auth.prefix.clone(),
            },
            (None, Some(param)) => Placement::Query {
                param: param.clone(),
            },
            _ => return Err("auth needs exactly one of `header` or `query`".into()),
        };
        let secret = match (&auth.env, &auth.file) {
            (Some(var), None) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                _ => Err(format!("set the environment variable {var}")),
            },
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                Ok(_) => Err(format!("secret file {} is empty", path.display())),
                Err(e) => Err(format!("cannot read secret file {}: {e}", path.display())),
            },
            _ => return Err("auth needs exactly one of `env` or `file`".into()),
        };
        Ok(Credentials { placement, secret })
    }
}

/// Removes secrets from text shown to people: URLs, errors, logs, citations.
#[derive(Debug, Clone, Default)]
pub(crate) struct Masker {
    params: Vec<String>,
    secret: Option<String>,
}

impl Masker {
    pub(crate) fn new(creds: Option<&Credentials>) -> Self {
        let mut m = Masker::default();
        if let Some(c) = creds {
            if let Placement::Query { param } = &c.placement {
                m.params.push(param.to_ascii_lowercase());
            }
            m.secret = c.secret.as_ref().ok().filter(|s| s.len() >= 4).cloned();
        }
        m
    }

    fn is_sensitive(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        SENSITIVE_PARAMS.contains(&name.as_str()) || self.params.contains(&name)
    }

    /// The URL with sensitive query values replaced by `***`.
    pub(crate) fn url(&self, url: &Url) -> String {
        if url.query().is_none() || !url.query_pairs().any(|(k, _)| self.is_sensitive(&k)) {
            return self.text(url.as_str());
        }
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if self.is_sensitive(&k) {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        let mut masked = url.clone();
        masked.query_pairs_mut().clear().extend_pairs(pairs);
        // `***` is percent-encoded by the serializer; show it plainly.
        self.text(&masked.as_str().replace("%2A%2A%2A", "***"))
    }

    /// Free text with any occurrence of the secret (raw or URL-encoded) replaced by `***`.
    pub(crate) fn text(&self, s: &str) -> String {
        match &self.secret {
            None => s.to_string(),
            Some(secret) => {
                let encoded: String =
                    url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
                s.replace(secret.as_str(), "***").replace(&encoded, "***")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_known_and_configured_params_and_the_secret_itself() {
        let creds = Credentials {
            placement: Placement::Query {
                param: "X-Creds".into(),
            },
            secret: Ok("s3cr3t+value".into()),
        };
        let m = Masker::new(Some(&creds));
        let u = Url::parse("https://api.example/v1?domain=a.com&x-creds=s3cr3t%2Bvalue&token=t")
            .unwrap();
        assert_eq!(
            m.url(&u),
            "https://api.example/v1?domain=a.com&x-creds=***&token=***"
        );
        assert_eq!(m.text("bad key s3cr3t+value"), "bad key ***");
    }

    #[test]
    fn auth_policy_is_validated_and_missing_secret_says_how_to_fix() {
        let both = AuthConfig {
            header: Some("A".into()),
            query: Some("k".into()),
            env: Some("E".into()),
            ..Default::default()
        };
        assert!(Credentials::resolve(&both).is_err());
        let env = AuthConfig {
            query: Some("k".into()),
            env: Some("PFORGE_TEST_SURELY_UNSET_VAR".into()),
            ..Default::default()
        };
        let c = Credentials::resolve(&env).unwrap();
        assert_eq!(
            c.secret.unwrap_err(),
            "set the environment variable PFORGE_TEST_SURELY_UNSET_VAR"
        );
    }
}
