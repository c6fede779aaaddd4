//! F8: the stage of an application, asked of the monitoring information system that
//! providers fill in. The contract (docs/ARCHITECTURE.md, "Stage look-up"):
//! `GET <url with {application}>` with `Authorization: Bearer <token>` answers
//! 200 `{"application", "service", "stage": {"kk", "ru"}, "updated_at": RFC 3339}` or 404;
//! anything else, or no answer within 5 s, is "the monitoring system does not answer".

use std::sync::OnceLock;
use std::time::Duration;

use baylanys_core::Language;
use serde::Serialize;

use super::RegistryConfig;
use crate::templates::Templates;

pub const TIMEOUT: Duration = Duration::from_secs(5);
/// A larger answer is not a stage.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the monitoring system said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Stage {
    Found {
        application: String,
        service: Option<String>,
        stage: super::services::NamesOwned,
        updated_at: String,
    },
    NotFound,
    /// Unreachable, slow, an error status, or an answer that breaks the contract.
    Unavailable {
        reason: String,
    },
    NotConfigured,
}

impl Stage {
    pub fn outcome(&self) -> &'static str {
        match self {
            Stage::Found { .. } => "found",
            Stage::NotFound => "not_found",
            Stage::Unavailable { .. } => "unavailable",
            Stage::NotConfigured => "not_configured",
        }
    }
}

/// An application number as callers may send it: 1-64 of A-Z, a-z, 0-9, `-`, `_`, `/`, `.`.
pub fn check_application(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'));
    if ok && s != "." && s != ".." {
        Ok(s.to_string())
    } else {
        Err(
            "an application number is 1-64 characters of A-Z, a-z, 0-9, `-`, `_`, `/` and `.`"
                .into(),
        )
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain HTTP client builds")
    })
}

/// How long an answer is reused: a status page reloaded, the bot asked twice.
const FRESH: Duration = Duration::from_secs(60);
/// How long "does not answer" is reused, so a slow system does not hold every page 5 s.
const FRESH_FAILURE: Duration = Duration::from_secs(15);
const CACHE_ENTRIES: usize = 10_000;

type Cache = std::collections::HashMap<(String, String, String), (std::time::Instant, Stage)>;

fn cache() -> &'static std::sync::Mutex<Cache> {
    static CACHE: OnceLock<std::sync::Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Asks the monitoring system (or reuses its answer of the last minute); never fails
/// (its failures are an outcome).
pub async fn lookup(config: &RegistryConfig, application: &str) -> Stage {
    let Some(template) = &config.monitoring_url else {
        return Stage::NotConfigured;
    };
    let key = (
        template.clone(),
        config.monitoring_token.clone().unwrap_or_default(),
        application.to_string(),
    );
    if let Some((at, s)) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        let fresh = if matches!(s, Stage::Unavailable { .. }) {
            FRESH_FAILURE
        } else {
            FRESH
        };
        if at.elapsed() < fresh {
            return s.clone();
        }
    }
    let found = ask(template, config.monitoring_token.as_deref(), application).await;
    let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= CACHE_ENTRIES {
        c.clear();
    }
    c.insert(key, (std::time::Instant::now(), found.clone()));
    found
}

async fn ask(template: &str, token: Option<&str>, application: &str) -> Stage {
    let encoded: String = url::form_urlencoded::byte_serialize(application.as_bytes()).collect();
    let url = template.replace("{application}", &encoded);
    let mut req = client().get(&url).header("accept", "application/json");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let answer = tokio::time::timeout(TIMEOUT, async {
        let mut resp = req.send().await.map_err(|e| format!("no answer: {e}"))?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("the answer broke off: {e}"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER_BYTES {
                return Err(format!(
                    "the answer is larger than {MAX_ANSWER_BYTES} bytes"
                ));
            }
        }
        Ok((status, body))
    })
    .await;
    let (status, body) = match answer {
        Err(_) => {
            return Stage::Unavailable {
                reason: format!("no answer within {} s", TIMEOUT.as_secs()),
            };
        }
        Ok(Err(reason)) => return Stage::Unavailable { reason },
        Ok(Ok(x)) => x,
    };
    if status == reqwest::StatusCode::NOT_FOUND {
        return Stage::NotFound;
    }
    if status != reqwest::StatusCode::OK {
        return Stage::Unavailable {
            reason: format!("it answered {status}"),
        };
    }
    parse_answer(&body).unwrap_or_else(|reason| Stage::Unavailable { reason })
}

fn text_of(v: &serde_json::Value, max: usize) -> Option<String> {
    let s = baylanys_core::clean_text(v.as_str()?.trim());
    let s = s.trim();
    (!s.is_empty() && s.chars().count() <= max).then(|| s.to_string())
}

/// A 200 answer, checked against the contract.
pub fn parse_answer(body: &[u8]) -> Result<Stage, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let application = text_of(&v["application"], 64).ok_or("the answer has no `application`")?;
    let service = v.get("service").and_then(|s| text_of(s, 500));
    let stage = &v["stage"];
    let (Some(kk), Some(ru)) = (text_of(&stage["kk"], 1000), text_of(&stage["ru"], 1000)) else {
        return Err("the answer has no `stage` with `kk` and `ru`".into());
    };
    let updated = v["updated_at"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .ok_or("the answer has no RFC 3339 `updated_at`")?;
    Ok(Stage::Found {
        application,
        service,
        stage: super::services::NamesOwned { kk, ru },
        updated_at: crate::calendar::format_almaty(updated.with_timezone(&chrono::Utc)),
    })
}

/// The stage, or why there is none, in the applicant's language.
pub fn message(
    templates: &Templates,
    stage: &Stage,
    application: &str,
    language: Language,
) -> String {
    let ctx = match stage {
        Stage::Found {
            application,
            service,
            stage,
            updated_at,
        } => minijinja::context! {
            outcome => "found", application, service,
            stage => if language == Language::Kk { &stage.kk } else { &stage.ru },
            updated => chrono::DateTime::parse_from_rfc3339(updated_at)
                .map(|t| crate::templates::local_time(t.with_timezone(&chrono::Utc)))
                .unwrap_or_else(|_| updated_at.clone()),
        },
        other => minijinja::context! { outcome => other.outcome(), application },
    };
    match templates.message("stage", language, ctx) {
        Ok(r) => r.text,
        Err(e) => {
            // Every outcome is rendered in both languages by a test: a bug, not input.
            tracing::error!(error = %e, "stage message failed");
            application.to_string()
        }
    }
}

/// Application numbers named in a text (the status page and the bot look them up).
pub fn numbers_in(config: &RegistryConfig, text: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in config.application_pattern.find_iter(text) {
        let s = m.as_str().to_string();
        if check_application(&s).is_ok() && !out.contains(&s) {
            out.push(s);
            if out.len() == max {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f8_answers_are_checked_against_the_contract() {
        let ok = r#"{"application":"KZ20261234567","service":"00101001","stage":{"kk":"Қаралуда","ru":"На рассмотрении"},"updated_at":"2026-12-01T10:00:00+05:00"}"#;
        assert!(matches!(
            parse_answer(ok.as_bytes()),
            Ok(Stage::Found { .. })
        ));
        for bad in [
            &b"not json"[..],
            br#"{"application":"X","stage":"done","updated_at":"2026-12-01T10:00:00Z"}"#,
            br#"{"application":"X","stage":{"kk":"a","ru":"b"},"updated_at":"yesterday"}"#,
            br#"[]"#,
        ] {
            assert!(
                parse_answer(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn f8_application_numbers_are_found_by_the_pattern_and_not_confused_with_ours() {
        let c = RegistryConfig::default();
        let text =
            "Моя заявка KZ20261234567 на портале, обращение UCC-2026-000042, ИИН 900101300021";
        assert_eq!(numbers_in(&c, text, 3), vec!["KZ20261234567".to_string()]);
        assert!(check_application("../etc").is_ok());
        assert!(check_application("a b").is_err());
        assert!(check_application(&"1".repeat(65)).is_err());
    }
}
