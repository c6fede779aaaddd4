//! What a ticket is: its states, and the text of an outgoing message.

use serde::Serialize;

/// The ticket lifecycle: new -> open -> waiting -> answered -> closed, reopened by a new
/// message from the applicant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Open,
    Waiting,
    Answered,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Open,
        Status::Waiting,
        Status::Answered,
        Status::Closed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Waiting => "waiting",
            Status::Answered => "answered",
            Status::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                format!("unknown status `{s}`: expected new, open, waiting, answered or closed")
            })
    }
}

/// Rendered text of an outgoing message.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
}

/// Lower-cased text for the `q` search; lower-casing here because SQLite's `lower()`
/// only knows ASCII and appeals are in Kazakh and Russian.
pub fn search_text_of(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(&p.to_lowercase());
    }
    s
}
