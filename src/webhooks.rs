//! Signed webhooks (forwards, outage notices): `Baylanys-Signature: t=<unix seconds>,
//! v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>`. Receivers refuse a timestamp more
//! than [`TOLERANCE_SECS`] away from their clock.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "Baylanys-Signature";
pub const TOLERANCE_SECS: i64 = 300;
/// How long one POST may take before it counts as failed (and is retried).
pub const TIMEOUT_SECS: u64 = 10;

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The header value for `body` sent at unix time `t`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hex::encode(mac(secret, t, body).finalize().into_bytes())
    )
}

/// Checks a header as a receiver would; `now` is unix seconds. Says what is wrong.
pub fn verify(header: &str, secret: &str, body: &[u8], now: i64) -> Result<(), String> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v.to_string()),
            _ => {}
        }
    }
    let t = t.ok_or("the signature has no valid t=<unix seconds>")?;
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(format!(
            "the timestamp is {} s away from now (at most {TOLERANCE_SECS} s)",
            (now - t).abs()
        ));
    }
    let ok = sigs.iter().any(|s| match hex::decode(s) {
        Ok(bytes) => mac(secret, t, body).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    });
    if ok {
        Ok(())
    } else {
        Err("no v1 signature matches the body".into())
    }
}

/// What a receiver answered.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub status: u16,
    /// The first 500 bytes of the answer, for the delivery record.
    pub answer: String,
}

/// POSTs `body` (JSON) signed with `secret` at `now` (unix seconds). A 2xx is delivered;
/// anything else is an error text worth a retry, except 4xx other than 408/429, which
/// the receiver will refuse again (`Err((text, false))`).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    body: &[u8],
    now: i64,
) -> Result<Delivered, (String, bool)> {
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(HEADER, sign(secret, now, body))
        .timeout(std::time::Duration::from_secs(TIMEOUT_SECS))
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| (format!("POST {url}: {e}"), true))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let answer: String = text.chars().take(500).collect();
    if (200..300).contains(&status) {
        Ok(Delivered { status, answer })
    } else {
        let again = !(400..500).contains(&status) || status == 408 || status == 429;
        Err((format!("POST {url}: HTTP {status}: {answer}"), again))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_changed_body_or_old_time_does_not() {
        let h = sign("s3cret-s3cret-s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(
            verify(&h, "s3cret-s3cret-s3cret", b"{\"a\":1}", 1_700_000_100),
            Ok(())
        );
        assert!(verify(&h, "s3cret-s3cret-s3cret", b"{\"a\":2}", 1_700_000_000).is_err());
        assert!(verify(&h, "other-secret-xxxxxx", b"{\"a\":1}", 1_700_000_000).is_err());
        let late = verify(&h, "s3cret-s3cret-s3cret", b"{\"a\":1}", 1_700_000_301).unwrap_err();
        assert!(late.contains("301 s"), "{late}");
        assert!(verify("v1=00", "x", b"", 0).is_err());
    }

    #[test]
    fn the_signature_matches_openssl() {
        // printf '1.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            sign("key", 1, b"{}"),
            "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }
}
