//! Provider faults over a raw TCP server on 127.0.0.1 (so each fault is exactly what a broken
//! provider sends): every one ends in a clear `GatewayError` within bounded time, and the body
//! kept in memory never exceeds `max_body_bytes`.

use flate2::write::GzEncoder;
use flate2::Compression;
use pforge_budget::{Call, Gateway, GatewayError, ProviderConfig, ProvidersConfig};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bytes the server managed to write, per test, to prove the client stopped reading early.
struct Faulty {
    base: String,
    written: Arc<AtomicU64>,
}

async fn read_head(sock: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut byte).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&byte[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    head.split_whitespace().nth(1).unwrap_or("/").to_string()
}

async fn faulty() -> Faulty {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    let gzip_bomb = Arc::new({
        // 256 MiB of zeros compress to about 250 KB.
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..256 {
            enc.write_all(&zeros).unwrap();
        }
        enc.finish().unwrap()
    });
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let w = w.clone();
            let bomb = gzip_bomb.clone();
            tokio::spawn(async move {
                let path = read_head(&mut sock).await;
                let head = |ct: &str, len: Option<usize>, extra: &str| {
                    let len = len.map_or(String::new(), |n| format!("content-length: {n}\r\n"));
                    format!("HTTP/1.1 200 OK\r\ncontent-type: {ct}\r\n{len}{extra}connection: close\r\n\r\n")
                };
                match path.as_str() {
                    "/truncated-json" => {
                        let body = br#"{"domain":"a.com","visits":[1,2,"#;
                        let _ = sock
                            .write_all(head("application/json", Some(body.len()), "").as_bytes())
                            .await;
                        let _ = sock.write_all(body).await;
                    }
                    "/wrong-type" => {
                        let body = b"<html><body>Service temporarily unavailable</body></html>";
                        let _ = sock
                            .write_all(head("text/html", Some(body.len()), "").as_bytes())
                            .await;
                        let _ = sock.write_all(body).await;
                    }
                    "/huge" | "/huge-declared" => {
                        let total: usize = 50 * 1024 * 1024;
                        let declared = (path == "/huge-declared").then_some(total);
                        let _ = sock
                            .write_all(head("application/json", declared, "").as_bytes())
                            .await;
                        let chunk = vec![b' '; 64 * 1024];
                        let mut sent = 0;
                        while sent < total {
                            if sock.write_all(&chunk).await.is_err() {
                                break;
                            }
                            sent += chunk.len();
                            if declared.is_none() {
                                w.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                            }
                        }
                    }
                    "/gzip-bomb" => {
                        let _ = sock
                            .write_all(
                                head("text/html", Some(bomb.len()), "content-encoding: gzip\r\n")
                                    .as_bytes(),
                            )
                            .await;
                        let _ = sock.write_all(&bomb).await;
                    }
                    "/hang" => {
                        // Accepts, reads the request, never answers.
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    "/hang-after-headers" => {
                        let _ = sock
                            .write_all(head("application/json", Some(100), "").as_bytes())
                            .await;
                        let _ = sock.write_all(b"{\"a\":").await;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    "/reset-mid-body" => {
                        let _ = sock
                            .write_all(head("application/json", Some(10_000), "").as_bytes())
                            .await;
                        let _ = sock.write_all(&[b' '; 1000]).await;
                        let _ = sock.flush().await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        // Linger 0: close with a TCP RST, like a crashed proxy.
                        #[allow(deprecated)]
                        let _ = sock.set_linger(Some(Duration::ZERO));
                        drop(sock);
                    }
                    "/invalid-utf8" => {
                        let body = b"{\"name\":\"caf\xe9 \xff\xfe\"}";
                        let _ = sock
                            .write_all(head("application/json", Some(body.len()), "").as_bytes())
                            .await;
                        let _ = sock.write_all(body).await;
                    }
                    p if p.starts_with("/redirect/") => {
                        let n: u64 = p[10..].parse().unwrap_or(0);
                        let _ = sock
                            .write_all(
                                format!(
                                    "HTTP/1.1 302 Found\r\nlocation: /redirect/{}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                                    n + 1
                                )
                                .as_bytes(),
                            )
                            .await;
                    }
                    _ => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                            .await;
                    }
                }
            });
        }
    });
    Faulty { base, written }
}

fn gateway(base: &str, json: bool) -> Gateway {
    let mut cfg = ProviderConfig::new(base.to_string());
    cfg.timeout_secs = 1.0;
    cfg.expect_json = json;
    cfg.retry.max_attempts = 2;
    cfg.retry.min_delay_ms = 50;
    cfg.retry.max_delay_ms = 100;
    cfg.circuit_breaker.failures = 0;
    Gateway::new(ProvidersConfig::from([("p".to_string(), cfg)])).unwrap()
}

/// Runs one call, prints the outcome and its duration, and checks the time bound.
async fn timed(
    gw: &Gateway,
    path: &str,
    bound: Duration,
) -> Result<pforge_budget::Response, GatewayError> {
    let t0 = Instant::now();
    let r = gw.fetch(&Call::get("p", path)).await;
    let took = t0.elapsed();
    match &r {
        Ok(resp) => println!("{path}: ok {} bytes in {took:?}", resp.body.len()),
        Err(e) => println!("{path}: {e} (in {took:?})"),
    }
    assert!(took < bound, "{path} took {took:?}, bound {bound:?}");
    r
}

const FAST: Duration = Duration::from_secs(2);

#[tokio::test]
async fn truncated_json_is_a_clear_parse_error() {
    let s = faulty().await;
    let gw = gateway(&s.base, true);
    let resp = timed(&gw, "/truncated-json", FAST).await.unwrap();
    let err = resp.json::<serde_json::Value>().unwrap_err();
    println!("json(): {err}");
    assert!(matches!(&err, GatewayError::Body { reason, .. } if reason.contains("invalid JSON")));
    assert!(err
        .to_string()
        .starts_with("p: reading response from http://127.0.0.1"));
}

#[tokio::test]
async fn wrong_content_type_is_reported_not_parsed() {
    let s = faulty().await;
    let err = timed(&gateway(&s.base, true), "/wrong-type", FAST)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GatewayError::ContentType { content_type, .. } if content_type == "text/html")
    );
}

#[tokio::test]
async fn fifty_megabyte_body_stops_at_the_limit() {
    let s = faulty().await;
    let gw = gateway(&s.base, true);
    let err = timed(&gw, "/huge-declared", FAST).await.unwrap_err();
    assert!(matches!(err, GatewayError::TooLarge { limit, .. } if limit == 10 * 1024 * 1024));
    let err = timed(&gw, "/huge", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::TooLarge { .. }), "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = s.written.load(Ordering::SeqCst);
    println!("server got {sent} bytes out before the client hung up (of 50 MiB)");
    // The limit is 10 MiB; loopback socket buffers (autotuned, several MiB each way) account for
    // the rest. Reading all 50 MiB would mean the limit did not stop the client.
    assert!(sent < 40 * 1024 * 1024, "client kept reading: {sent}");
}

#[tokio::test]
async fn gzip_bomb_is_cut_at_the_decompressed_limit() {
    let s = faulty().await;
    let mut cfg = ProviderConfig::new(s.base.clone());
    cfg.max_body_bytes = 2 * 1024 * 1024;
    let gw = Gateway::new(ProvidersConfig::from([("p".to_string(), cfg)])).unwrap();
    let err = timed(&gw, "/gzip-bomb", FAST).await.unwrap_err();
    assert!(
        matches!(err, GatewayError::TooLarge { limit, .. } if limit == 2 * 1024 * 1024),
        "{err}"
    );
}

#[tokio::test]
async fn silent_server_times_out_within_the_retry_budget() {
    let s = faulty().await;
    let gw = gateway(&s.base, true);
    // 2 attempts x 1 s timeout + one short backoff.
    for path in ["/hang", "/hang-after-headers"] {
        let err = timed(&gw, path, Duration::from_secs(4)).await.unwrap_err();
        assert!(
            matches!(err, GatewayError::Timeout { secs, .. } if secs == 1.0),
            "{err}"
        );
    }
}

#[tokio::test]
async fn reset_mid_body_is_a_body_error() {
    let s = faulty().await;
    let err = timed(&gateway(&s.base, true), "/reset-mid-body", FAST)
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Body { .. }), "{err}");
}

#[tokio::test]
async fn endless_redirects_stop_at_the_limit() {
    let s = faulty().await;
    let err = timed(&gateway(&s.base, true), "/redirect/0", FAST)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GatewayError::TooManyRedirects { limit: 5, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_utf8_is_lossy_as_text_and_an_error_as_json() {
    let s = faulty().await;
    let resp = timed(&gateway(&s.base, true), "/invalid-utf8", FAST)
        .await
        .unwrap();
    assert!(resp.text().contains('\u{FFFD}'));
    let err = resp.json::<serde_json::Value>().unwrap_err();
    println!("json(): {err}");
    assert!(matches!(&err, GatewayError::Body { reason, .. } if reason.contains("invalid JSON")));
}
