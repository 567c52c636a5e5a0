//! Standard Webhooks signing (<https://www.standardwebhooks.com/>): receivers verify
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with the shared
//! `whsec_<base64>` secret, and de-duplicate on `webhook-id`, which stays the same across retries.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature or secret was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("webhook secret is not valid base64 after the whsec_ prefix")]
    BadSecret,
    #[error("webhook-timestamp is not a unix timestamp")]
    BadTimestamp,
    #[error("webhook-timestamp is outside the allowed tolerance")]
    Expired,
    #[error("no webhook-signature matches")]
    Mismatch,
}

/// Decodes a `whsec_<base64>` secret into the HMAC key (the prefix is optional, as in the
/// reference implementations).
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let b64 = secret
        .trim()
        .strip_prefix("whsec_")
        .unwrap_or(secret.trim());
    STANDARD.decode(b64).map_err(|_| SignatureError::BadSecret)
}

/// The `webhook-signature` value for one message: `v1,<base64 HMAC-SHA256>`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(mac(key, id, timestamp, body)))
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// Verifies a received message the way a Standard Webhooks receiver does: timestamp within
/// `tolerance` of `now`, and one of the space-separated `v1,` signatures matching (compared in
/// constant time).
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let key = decode_secret(secret)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let skew = (now.timestamp() - ts).unsigned_abs();
    if skew > tolerance.as_secs() {
        return Err(SignatureError::Expired);
    }
    for sig in signature_header.split_whitespace() {
        let Some(b64) = sig.strip_prefix("v1,") else {
            continue;
        };
        let Ok(expected) = STANDARD.decode(b64) else {
            continue;
        };
        let Ok(mut m) = HmacSha256::new_from_slice(&key) else {
            return Err(SignatureError::BadSecret);
        };
        m.update(id.as_bytes());
        m.update(b".");
        m.update(ts.to_string().as_bytes());
        m.update(b".");
        m.update(body);
        if m.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn reproduces_the_published_standard_webhooks_test_vector() {
        let key = decode_secret(SECRET).unwrap();
        assert_eq!(sign(&key, ID, TS, BODY), EXPECTED);
    }

    #[test]
    fn verifies_the_vector_and_rejects_tampering() {
        let at = Utc.timestamp_opt(TS + 10, 0).unwrap();
        let tol = Duration::from_secs(300);
        verify(SECRET, ID, "1614265330", EXPECTED, BODY, at, tol).unwrap();
        // Several signatures (key rotation): any match is enough.
        verify(
            SECRET,
            ID,
            "1614265330",
            &format!("v1,bm9wZQ== {EXPECTED}"),
            BODY,
            at,
            tol,
        )
        .unwrap();
        assert_eq!(
            verify(
                SECRET,
                ID,
                "1614265330",
                EXPECTED,
                br#"{"test": 1}"#,
                at,
                tol
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, "msg_other", "1614265330", EXPECTED, BODY, at, tol),
            Err(SignatureError::Mismatch)
        );
        let late = Utc.timestamp_opt(TS + 3600, 0).unwrap();
        assert_eq!(
            verify(SECRET, ID, "1614265330", EXPECTED, BODY, late, tol),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify("whsec_%%%", ID, "1614265330", EXPECTED, BODY, at, tol),
            Err(SignatureError::BadSecret)
        );
        assert_eq!(
            verify(SECRET, ID, "soon", EXPECTED, BODY, at, tol),
            Err(SignatureError::BadTimestamp)
        );
    }

    #[test]
    fn matches_a_plain_hmac_computation() {
        // Independent of `sign`: HMAC over the exact "{id}.{ts}.{body}" string.
        let key = decode_secret(SECRET).unwrap();
        let mut m = HmacSha256::new_from_slice(&key).unwrap();
        m.update(format!("{ID}.{TS}.{}", std::str::from_utf8(BODY).unwrap()).as_bytes());
        let b64 = STANDARD.encode(m.finalize().into_bytes());
        assert_eq!(format!("v1,{b64}"), EXPECTED);
    }
}
