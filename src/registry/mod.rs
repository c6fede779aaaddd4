//! The registry (F1-F9, R7, O1): the bodies forwards and outage notices go to, their
//! responsible persons, and the catalogue of e-government systems bodies subscribe to.
//! Staff read it; administrators change it.

pub mod bodies;
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
                let s = clean(&f, s, 500, errors);
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
