//! The process's log: plain text (colour only on a terminal) or JSON lines
//! (`BAYLANYS_LOG_FORMAT=json`), on stderr, with personal data and secrets masked in
//! every line whatever logged it: IINs, phone numbers, e-mail addresses (the domain
//! stays), API tokens, passwords in URLs and `password=`/`token=`/`secret=` pairs.

use std::io::{IsTerminal, Write};
use std::sync::LazyLock;

use regex::Regex;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// From `BAYLANYS_LOG_FORMAT`: `text` (the default) or `json`.
    pub fn from_env() -> Result<LogFormat, String> {
        match std::env::var("BAYLANYS_LOG_FORMAT").as_deref() {
            Err(_) | Ok("") | Ok("text") => Ok(LogFormat::Text),
            Ok("json") => Ok(LogFormat::Json),
            Ok(other) => Err(format!(
                "BAYLANYS_LOG_FORMAT=`{other}`: expected `text` or `json`"
            )),
        }
    }
}

/// Installs the global subscriber: the filter from `BAYLANYS_LOG` (default `info`).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BAYLANYS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Redacting(std::io::stderr()));
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// A writer that masks each line before it reaches `W`. The fmt layer writes one
/// event with one `write` of the whole formatted line.
pub struct Redacting<W: Write>(pub W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

struct Rule {
    pattern: Regex,
    with: &'static str,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |p: &str, with| Rule {
        pattern: Regex::new(p).expect("the masking patterns compile"),
        with,
    };
    vec![
        // Our API tokens, bearer credentials, and secrets in URLs or key=value pairs.
        rule(r"bay_[0-9a-fA-F]{16,}", "bay_***"),
        rule(r"(?i)\b(bearer)\s+[^\s,;]+", "$1 ***"),
        rule(r"(://[^/\s:@]*:)[^@\s/]+@", "${1}***@"),
        rule(
            r#"(?i)\b(password|passwd|pass|secret|token|key)(["']?\s*[=:]\s*["']?)[^\s"',;&]+"#,
            "$1$2***",
        ),
        // E-mail addresses keep their domain, for telling mail systems apart.
        rule(
            r"[A-Za-z0-9._%+\-]+@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)",
            "***@$1",
        ),
        // Kazakh phone numbers (+7 / 8, ten digits after, with the usual separators).
        rule(
            r"(?:\+7|\b8)[\s\-(]*\d{3}[\s\-)]*\d{3}[\s\-]*\d{2}[\s\-]*\d{2}\b",
            "[phone]",
        ),
        // An IIN or BIN: twelve digits on their own.
        rule(r"(^|[^\-\w])\d{12}\b", "$1[iin]"),
    ]
});

/// `text` with personal data and secrets masked.
pub fn redact(text: &str) -> String {
    let mut out = std::borrow::Cow::Borrowed(text);
    for r in RULES.iter() {
        if let std::borrow::Cow::Owned(s) = r.pattern.replace_all(&out, r.with) {
            out = std::borrow::Cow::Owned(s);
        }
    }
    out.into_owned()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn personal_data_and_secrets_are_masked() {
        let line = "from aigul.s@mail.kz iin 870412300123 phone +7 701 234-56-78 or 8(727)2345678 \
                    token bay_0123456789abcdef0123456789abcdef smtp://user:hunter2@mail:25 \
                    password=qwerty Authorization: Bearer abc.def";
        let r = redact(line);
        for gone in [
            "aigul.s",
            "870412300123",
            "701 234",
            "2345678",
            "0123456789abcdef",
            "hunter2",
            "qwerty",
            "abc.def",
        ] {
            assert!(!r.contains(gone), "{gone} is still in {r}");
        }
        assert!(r.contains("***@mail.kz"), "{r}");
        assert!(r.contains("[iin]") && r.contains("[phone]"), "{r}");
        assert!(r.contains("smtp://user:***@mail:25"), "{r}");
    }

    #[test]
    fn ordinary_lines_are_left_alone() {
        let line = "registered UCC-2026-000042 in 3 ms (status 201) at 2026-12-01T10:00:00Z, \
                    job 0190a1a2-0000-7000-8000-000000000000";
        assert_eq!(redact(line), line);
    }
}
