//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>` on every webhook
//! POST from Meta, and the GET verification handshake.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header Meta signs webhook bodies in.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

fn mac(app_secret: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key")
}

/// The header value Meta would send for `body`.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut m = mac(app_secret);
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Checks the header over the raw bytes (constant time); says what is wrong.
pub fn verify(app_secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), String> {
    if app_secret.is_empty() {
        return Err("no app secret is configured (BAYLANYS_WHATSAPP_APP_SECRET)".into());
    }
    let header = header.ok_or("no X-Hub-Signature-256 header")?;
    let hex_part = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or("X-Hub-Signature-256 does not start with sha256=")?;
    let given = hex::decode(hex_part).map_err(|_| "X-Hub-Signature-256 is not hex")?;
    let mut m = mac(app_secret);
    m.update(body);
    m.verify_slice(&given)
        .map_err(|_| "X-Hub-Signature-256 does not match the body".to_string())
}

/// The GET handshake: `hub.mode=subscribe`, `hub.verify_token` equal to ours; the
/// answer is `hub.challenge`, as given. `None` when refused.
pub fn handshake<'a>(
    verify_token: &str,
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
) -> Option<&'a str> {
    if verify_token.is_empty() || mode != Some("subscribe") {
        return None;
    }
    let token = token?;
    if !baylanys_core::constant_time_eq(token.as_bytes(), verify_token.as_bytes()) {
        return None;
    }
    challenge.filter(|c| !c.is_empty() && c.len() <= 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_matches_only_its_body_and_secret() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = sign("s3cret", body);
        assert!(verify("s3cret", Some(&header), body).is_ok());
        assert!(verify("other", Some(&header), body).is_err());
        assert!(verify("s3cret", Some(&header), b"{}").is_err());
        assert!(verify("s3cret", None, body).is_err());
        assert!(verify("s3cret", Some("sha1=00"), body).is_err());
        assert!(verify("", Some(&header), body).is_err());
    }

    #[test]
    fn the_handshake_needs_subscribe_and_the_token() {
        assert_eq!(
            handshake("tok", Some("subscribe"), Some("tok"), Some("123")),
            Some("123")
        );
        assert_eq!(
            handshake("tok", Some("subscribe"), Some("bad"), Some("123")),
            None
        );
        assert_eq!(
            handshake("tok", Some("unsubscribe"), Some("tok"), Some("1")),
            None
        );
        assert_eq!(handshake("", Some("subscribe"), Some(""), Some("1")), None);
    }
}
