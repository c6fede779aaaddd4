//! Operator-side input made storable and checked at the edge: text without control
//! characters (the same on both backends; PostgreSQL refuses U+0000), path ids that are
//! well formed before they reach a query.

use baylanys_core::clean_string;

use super::{ApiError, FieldError};
use crate::tickets::domain::RegistrationNumber;

/// Text as it is stored: control characters (but tab, LF, CR) removed.
pub fn clean(mut s: String) -> String {
    clean_string(&mut s);
    s
}

pub fn clean_opt(s: Option<String>) -> Option<String> {
    s.map(clean)
}

/// A value quoted back in an error message: printable and short.
pub fn shown(text: &str) -> String {
    let t: String = baylanys_core::clean_text(text).chars().take(64).collect();
    if t.chars().count() < text.chars().count() {
        format!("{t}…")
    } else {
        t
    }
}

/// A registration number from the path; anything else is a ticket that does not exist.
pub fn ticket_number(text: &str) -> Result<String, ApiError> {
    RegistrationNumber::parse(text)
        .map(|n| n.as_str().to_string())
        .map_err(|_| {
            ApiError::NotFound(format!(
                "ticket `{}` not found: a registration number looks like UCC-2026-000042",
                shown(text)
            ))
        })
}

/// A stored record's id (a UUID) from the path; anything else does not exist.
pub fn record_id(text: &str, what: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(text.trim())
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ApiError::NotFound(format!("no {what} `{}`", shown(text))))
}

/// At most `max` characters, else an error naming the field.
pub fn at_most(errors: &mut Vec<FieldError>, field: &str, value: Option<&str>, max: usize) {
    if value.is_some_and(|v| v.chars().count() > max) {
        errors.push(FieldError::new(
            field,
            format!("longer than {max} characters: shorten it"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_path_ids_are_not_found() {
        assert!(matches!(
            ticket_number("UCC-2026-\0"),
            Err(ApiError::NotFound(_))
        ));
        assert_eq!(ticket_number("ucc-2026-000001").unwrap(), "UCC-2026-000001");
        assert!(matches!(
            record_id("nope\0", "attachment"),
            Err(ApiError::NotFound(_))
        ));
        assert_eq!(clean("a\0b".into()), "ab");
    }
}
