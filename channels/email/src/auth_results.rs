//! `Authentication-Results` (RFC 8601): what our receiving MTA found of a message's
//! SPF, DKIM and DMARC. A sender can write any such header into the message, but our MTA
//! adds its own on top, so only the topmost header bearing our authserv-id is believed.

use mail_parser::Message;
use serde::Serialize;

/// The verdicts of one `Authentication-Results` header, lower-cased (`pass`, `fail`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct AuthResults {
    pub authserv_id: String,
    pub dmarc: Option<String>,
    pub spf: Option<String>,
    pub dkim: Option<String>,
}

impl AuthResults {
    /// DMARC failed: the From domain did not authorise this message.
    pub fn dmarc_failed(&self) -> bool {
        self.dmarc.as_deref() == Some("fail")
    }
}

/// The topmost `Authentication-Results` header whose authserv-id is `trusted`.
pub fn read(message: &Message<'_>, trusted: &str) -> Option<AuthResults> {
    let part = message.parts.first()?;
    part.headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("Authentication-Results"))
        .filter_map(|h| {
            let raw = message
                .raw_message()
                .get(h.offset_start() as usize..h.offset_end() as usize)?;
            parse(&String::from_utf8_lossy(raw))
        })
        .find(|r| r.authserv_id.eq_ignore_ascii_case(trusted.trim()))
}

/// Parses one header value: `authserv-id [version]; method=result ...; ...`.
pub fn parse(value: &str) -> Option<AuthResults> {
    let text = without_comments(value);
    let mut parts = split_unquoted(&text, ';').into_iter();
    let authserv_id = parts
        .next()?
        .split_whitespace()
        .next()?
        .to_ascii_lowercase();
    let mut r = AuthResults {
        authserv_id,
        ..AuthResults::default()
    };
    for resinfo in parts {
        let Some(spec) = resinfo.split_whitespace().next() else {
            continue;
        };
        let Some((method, result)) = spec.split_once('=') else {
            continue;
        };
        let method = method
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let result = result.trim_matches('"').to_ascii_lowercase();
        let slot = match method.as_str() {
            "dmarc" => &mut r.dmarc,
            "spf" => &mut r.spf,
            "dkim" => &mut r.dkim,
            _ => continue,
        };
        // Several DKIM signatures: one that passes is enough.
        if slot.as_deref() != Some("pass") {
            *slot = Some(result);
        }
    }
    Some(r)
}

/// RFC 5322 comments removed (they may nest), folding turned into spaces.
fn without_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            '\r' | '\n' | '\t' if depth == 0 => out.push(' '),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn split_unquoted(text: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                parts.last_mut().expect("never empty").push(c);
            }
            c if c == sep && !quoted => parts.push(String::new()),
            c => parts.last_mut().expect("never empty").push(c),
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_with_comments_and_versions() {
        let r = parse(
            " mx.goscorp.kz 1; spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=a.kz;\r\n\t\
             dkim=fail header.d=a.kz; dkim=pass header.d=a.kz; dmarc=FAIL (p=reject) header.from=a.kz",
        )
        .expect("parses");
        assert_eq!(r.authserv_id, "mx.goscorp.kz");
        assert_eq!(r.spf.as_deref(), Some("pass"));
        assert_eq!(r.dkim.as_deref(), Some("pass"));
        assert!(r.dmarc_failed());
        let none = parse("mx.goscorp.kz; none").expect("parses");
        assert_eq!(none.dmarc, None);
    }

    #[test]
    fn only_the_topmost_header_of_the_trusted_server_counts() {
        // The forged header (dmarc=pass) stands below the one our MTA added on top.
        let raw = b"Authentication-Results: mx.goscorp.kz; dmarc=fail header.from=gov.kz\r\n\
            Authentication-Results: other.example; dmarc=pass\r\n\
            Authentication-Results: mx.goscorp.kz; dmarc=pass header.from=gov.kz\r\n\
            From: a@gov.kz\r\nSubject: x\r\n\r\nbody\r\n";
        let m = mail_parser::MessageParser::default()
            .parse(&raw[..])
            .expect("parses");
        let r = read(&m, "MX.goscorp.kz").expect("found");
        assert!(r.dmarc_failed());
        assert_eq!(read(&m, "absent.example"), None);
    }
}
