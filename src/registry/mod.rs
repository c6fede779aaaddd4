//! The registry (F1-F9, R7, O1): the bodies forwards and outage notices go to, their
//! responsible persons, and the catalogue of e-government systems bodies subscribe to.
//! Staff read it; administrators change it.

pub mod bodies;
pub mod cards;
pub mod csv;
pub mod digest;
pub mod ict;
pub mod links;
pub mod onboarding;
pub mod services;
pub mod stage;
pub mod systems;

pub use bodies::{Body, BodyInput, Person, PersonInput};
pub use systems::System;

use crate::db::DbError;

text_enum!(
    /// What a body is (001 §3, §17, §33).
    BodyKind, "body kind" {
        CentralStateBody => "central_state_body",
        LocalExecutiveBody => "local_executive_body",
        ServiceProvider => "service_provider",
        EServiceSubject => "e_service_subject",
        /// The e-government infrastructure operator.
        IciOperator => "ici_operator",
        QualityBody => "quality_body",
        InformatizationBody => "informatization_body",
    }
);

impl BodyKind {
    /// Kinds that get every outage notice when they subscribed to nothing (O1): nobody
    /// is skipped silently because a subscription was missing.
    pub fn told_of_every_outage(self) -> bool {
        matches!(
            self,
            BodyKind::CentralStateBody
                | BodyKind::LocalExecutiveBody
                | BodyKind::ServiceProvider
                | BodyKind::EServiceSubject
        )
    }
}

text_enum!(
    /// How often a body receives the digest of appeals about its services (F1).
    DigestPeriod, "digest period" {
        None => "none",
        Daily => "daily",
        Weekly => "weekly",
    }
);

/// A name in both languages of the registry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Names {
    pub kk: String,
    pub ru: String,
}

impl Names {
    pub fn get(&self, lang: baylanys_core::Language) -> &str {
        match lang {
            baylanys_core::Language::Kk => &self.kk,
            _ => &self.ru,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// (field, what to fix) pairs.
    #[error("the request has {} invalid field(s)", .0.len())]
    Invalid(Vec<(String, String)>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RegistryError {
    fn from(e: diesel::result::Error) -> Self {
        RegistryError::Db(DbError::Query(e))
    }
}

pub(crate) fn bad(field: &str, message: impl Into<String>) -> (String, String) {
    (field.to_string(), message.into())
}

/// Text from an administrator: control characters removed, trimmed, bounded.
pub(crate) fn clean(
    field: &str,
    value: &str,
    max: usize,
    errors: &mut Vec<(String, String)>,
) -> String {
    let v = baylanys_core::clean_text(value.trim()).trim().to_string();
    if v.chars().count() > max {
        errors.push(bad(field, format!("is longer than {max} characters")));
    }
    v
}

/// `{"kk": ..., "ru": ...}`, both required and non-empty.
pub(crate) fn names_from(
    field: &str,
    v: &serde_json::Value,
    errors: &mut Vec<(String, String)>,
) -> Option<Names> {
    names_up_to(field, v, 500, errors)
}

/// [`names_from`] for longer texts (a passport's documents, grounds for refusal).
pub(crate) fn names_up_to(
    field: &str,
    v: &serde_json::Value,
    max: usize,
    errors: &mut Vec<(String, String)>,
) -> Option<Names> {
    let Some(obj) = v.as_object() else {
        errors.push(bad(
            field,
            "must be an object with the name in both languages: {\"kk\": \"...\", \"ru\": \"...\"}",
        ));
        return None;
    };
    let mut get = |lang: &str| -> Option<String> {
        let f = format!("{field}.{lang}");
        match obj.get(lang).and_then(|x| x.as_str()) {
            Some(s) => {
                let s = clean(&f, s, max, errors);
                if s.is_empty() {
                    errors.push(bad(&f, "must not be empty"));
                    None
                } else {
                    Some(s)
                }
            }
            None => {
                errors.push(bad(&f, "give the name in this language (a string)"));
                None
            }
        }
    };
    let kk = get("kk");
    let ru = get("ru");
    for key in obj.keys() {
        if key != "kk" && key != "ru" {
            errors.push(bad(
                &format!("{field}.{key}"),
                "unknown language: expected kk, ru",
            ));
        }
    }
    Some(Names { kk: kk?, ru: ru? })
}

/// A list of strings (phones, system codes).
pub(crate) fn strings_from(
    field: &str,
    v: &serde_json::Value,
    max_len: usize,
    errors: &mut Vec<(String, String)>,
) -> Vec<String> {
    let Some(list) = v.as_array() else {
        errors.push(bad(field, "must be a list of strings"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, x) in list.iter().enumerate() {
        match x.as_str() {
            Some(s) => {
                let s = clean(&format!("{field}[{i}]"), s, max_len, errors);
                if !s.is_empty() && !out.contains(&s) {
                    out.push(s);
                }
            }
            None => errors.push(bad(&format!("{field}[{i}]"), "must be a string")),
        }
    }
    out
}

/// The default pattern of an application number in an appeal (F8): two to four capital
/// Latin letters and 8-20 digits, e.g. `KZ20261234567`; never one of our registration
/// numbers (`UCC-2026-000042`, with hyphens) nor a bare IIN (12 digits, no letters).
pub const DEFAULT_APPLICATION_PATTERN: &str = r"\b[A-Z]{2,4}\d{8,20}\b";

/// Settings of the services part of the registry.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// F8: URL template with `{application}`; `None`: no monitoring system configured.
    pub monitoring_url: Option<String>,
    pub monitoring_token: Option<String>,
    pub application_pattern: regex::Regex,
    pub ict: ict::IctRouting,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig::resolve(None, None, None, None, None, None).expect("the defaults are valid")
    }
}

impl RegistryConfig {
    pub fn resolve(
        monitoring_url: Option<String>,
        monitoring_token: Option<String>,
        application_pattern: Option<String>,
        ict_queue: Option<String>,
        ict_topics: Option<Vec<String>>,
        ict_working_days: Option<u32>,
    ) -> Result<RegistryConfig, (&'static str, String)> {
        let monitoring_url = monitoring_url
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
        if let Some(u) = &monitoring_url {
            if !u.contains("{application}") {
                return Err((
                    "monitoring_url",
                    format!("`{u}` must contain `{{application}}` where the number goes"),
                ));
            }
            match url::Url::parse(&u.replace("{application}", "X1")) {
                Ok(p) if p.scheme() == "http" || p.scheme() == "https" => {}
                _ => {
                    return Err((
                        "monitoring_url",
                        format!("`{u}` must be an http:// or https:// URL"),
                    ));
                }
            }
        }
        let pattern = application_pattern.unwrap_or_else(|| DEFAULT_APPLICATION_PATTERN.into());
        let application_pattern = regex::RegexBuilder::new(&pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| ("application_pattern", format!("`{pattern}`: {e}")))?;
        let queue = ict_queue.unwrap_or_else(|| "ict".into()).trim().to_string();
        crate::queues::check_code(&queue).map_err(|e| ("ict_queue", e))?;
        let topics: Vec<String> = ict_topics
            .unwrap_or_else(|| {
                ["egov_portal", "digital_signature", "mobile_app"]
                    .map(String::from)
                    .to_vec()
            })
            .into_iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        let working_days = ict_working_days.unwrap_or(1);
        if !(1..=30).contains(&working_days) {
            return Err((
                "ict_working_days",
                format!("`{working_days}` must be 1-30 working days"),
            ));
        }
        Ok(RegistryConfig {
            monitoring_url,
            monitoring_token: monitoring_token.filter(|t| !t.is_empty()),
            application_pattern,
            ict: ict::IctRouting {
                queue,
                topics,
                working_days,
            },
        })
    }
}
