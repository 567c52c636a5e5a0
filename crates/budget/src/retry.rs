//! Retry policy (`backon`): exponential backoff with jitter for transient failures, never
//! sooner than the provider's `Retry-After`, and never past the policy's elapsed-time budget.

use crate::config::RetryConfig;
use backon::ExponentialBuilder;
use std::time::{Duration, SystemTime};

/// Backoff for a provider's retry policy.
pub(crate) fn backoff(cfg: &RetryConfig) -> ExponentialBuilder {
    let mut b = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(cfg.min_delay_ms))
        .with_max_delay(Duration::from_millis(
            cfg.max_delay_ms.max(cfg.min_delay_ms),
        ))
        .with_max_times(cfg.max_attempts.saturating_sub(1) as usize)
        .with_total_delay(Some(max_elapsed(cfg)));
    if cfg.jitter {
        b = b.with_jitter();
    }
    b
}

pub(crate) fn max_elapsed(cfg: &RetryConfig) -> Duration {
    Duration::from_secs_f64(cfg.max_elapsed_secs.max(0.0))
}

/// Parses `Retry-After`: delay-seconds or an HTTP date. A date in the past means "now".
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The delay before the next attempt: the backoff's, raised to `Retry-After`. None stops
/// retrying: the backoff is exhausted, or waiting would overrun `max_elapsed`.
pub(crate) fn next_delay(
    backoff: Option<Duration>,
    retry_after: Option<Duration>,
    elapsed: Duration,
    max_elapsed: Duration,
) -> Option<Duration> {
    let delay = backoff?;
    let delay = match retry_after {
        Some(ra) => delay.max(ra),
        None => delay,
    };
    if elapsed + delay > max_elapsed {
        return None;
    }
    Some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_is_never_shortened_and_respects_elapsed_budget() {
        let s = Duration::from_secs;
        assert_eq!(next_delay(Some(s(1)), Some(s(2)), s(0), s(60)), Some(s(2)));
        assert_eq!(next_delay(Some(s(5)), Some(s(2)), s(0), s(60)), Some(s(5)));
        assert_eq!(next_delay(Some(s(1)), Some(s(120)), s(0), s(60)), None);
        assert_eq!(next_delay(None, Some(s(1)), s(0), s(60)), None);
    }
}
