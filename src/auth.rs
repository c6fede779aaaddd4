//! Users, roles, passwords (argon2) and API tokens (random, stored as SHA-256).

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use diesel::prelude::*;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::schema::{api_tokens, users};
use crate::db::{DbConn, DbError, new_id};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Operator,
    Supervisor,
    Admin,
    /// Writes the Knowledge Base.
    Editor,
    /// Staff of a state agency in the registry: sees what was forwarded to it.
    Agency,
    /// Staff of the e-government infrastructure (ICI) operator.
    Ici,
    /// The quality body: reads tickets, answers and ratings (oversight).
    Quality,
    /// The informatization body: reads tickets and recordings (R11, R14).
    Informatization,
    /// Machines that feed raw messages in (an MTA, a mail gateway).
    Ingest,
    /// The phone system, reporting calls.
    Pbx,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::Operator,
        Role::Supervisor,
        Role::Admin,
        Role::Editor,
        Role::Agency,
        Role::Ici,
        Role::Quality,
        Role::Informatization,
        Role::Ingest,
        Role::Pbx,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Agency => "agency",
            Role::Ici => "ici",
            Role::Quality => "quality",
            Role::Informatization => "informatization",
            Role::Ingest => "ingest",
            Role::Pbx => "pbx",
        }
    }
    pub fn parse(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role `{s}`: expected one of {}", all.join(", "))
            })
    }
    /// Whether this role may do `what` (see [`PERMISSIONS`]).
    pub fn may(self, what: Permission) -> bool {
        PERMISSIONS
            .iter()
            .any(|(p, roles)| *p == what && roles.contains(&self))
    }
}

/// Something a caller may be allowed to do. Every route asks for one; [`PERMISSIONS`]
/// says who may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// List and read tickets, their messages, files and audit log.
    ReadTickets,
    /// Reply, assign, transfer, change status, close.
    WorkTickets,
    /// See, retry and release quarantined payloads and unmatched delivery reports.
    HandleQuarantine,
    /// Feed raw e-mail in.
    SubmitRawMail,
    /// Set calendar days and confirm a year's movable days.
    ManageCalendar,
    /// See the queues and their settings.
    ReadQueues,
    /// Add and change queues.
    ManageQueues,
    /// Keep staff accounts: add, change roles, deactivate, passwords, contacts.
    ManageUsers,
    /// Read the registry: bodies, persons, systems, services.
    ReadRegistry,
    /// Change the registry.
    ManageRegistry,
    /// Export everything held about one applicant (their right of access).
    ExportPersonalData,
    /// Forward tickets to bodies, relay their answers, accept held replies.
    ForwardTickets,
    /// Read every forward (staff).
    ReadForwards,
    /// Read, answer and decline the forwards addressed to one's own body.
    AnswerForwards,
    /// Confirm F4 notices to the quality body.
    ConfirmQualityNotices,
    /// Declare, reschedule, cancel and complete outages (O1).
    DeclareOutages,
    /// Read outages with their delivery proof and compliance.
    ReadOutages,
    /// Report calls and import call records (the PBX).
    SubmitCalls,
    /// Read the R3 wait figures of the phone channel.
    ReadCallStats,
    /// Listen to and download call recordings (each access recorded).
    ListenRecordings,
    /// Submit R11 record requests and download their archives.
    RequestRecords,
    /// Review and release R11 record requests.
    ReleaseRecords,
    /// Search and read the published Knowledge Base (R6).
    ReadKnowledgeBase,
    /// Write, version, publish, import and export Knowledge Base articles (drafts too).
    EditKnowledgeBase,
    /// Read ratings, the monthly reports, the ICT report and the analytics.
    ReadReports,
    /// Start or retry a report run; record and answer discrepancy requests (P2).
    RunReports,
    /// Keep the choices of the report's classifications.
    ManageReportChoices,
}

impl Permission {
    /// How a refusal words it: "role `x` may not {describe}".
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ReadTickets => "read tickets",
            Permission::WorkTickets => {
                "work tickets (reply, assign, transfer, change status, close)"
            }
            Permission::HandleQuarantine => "handle the quarantine",
            Permission::SubmitRawMail => "submit raw e-mail",
            Permission::ManageCalendar => "change the calendar",
            Permission::ReadQueues => "read queues",
            Permission::ManageQueues => "manage queues",
            Permission::ManageUsers => "manage staff accounts",
            Permission::ReadRegistry => "read the registry of bodies and services",
            Permission::ManageRegistry => "change the registry of bodies and services",
            Permission::ExportPersonalData => "export an applicant's personal data",
            Permission::ForwardTickets => "forward tickets to bodies or relay their answers",
            Permission::ReadForwards => "read forwards",
            Permission::AnswerForwards => "answer or decline forwards for a body",
            Permission::ConfirmQualityNotices => "confirm notices to the quality body",
            Permission::DeclareOutages => "declare or change outages",
            Permission::ReadOutages => "read outages and their delivery proof",
            Permission::SubmitCalls => "report calls or import call records",
            Permission::ReadCallStats => "read the phone channel's wait figures",
            Permission::ListenRecordings => "listen to or download call recordings",
            Permission::RequestRecords => "request call recordings (R11)",
            Permission::ReleaseRecords => "release record requests",
            Permission::ReadKnowledgeBase => "read the Knowledge Base",
            Permission::EditKnowledgeBase => "edit the Knowledge Base",
            Permission::ReadReports => "read ratings, reports and analytics",
            Permission::RunReports => "run reports and answer discrepancy requests",
            Permission::ManageReportChoices => "keep the report's classification choices",
        }
    }
}

use Role::*;

/// Who may do what: the one table behind every route's check (later work adds rows).
pub const PERMISSIONS: &[(Permission, &[Role])] = &[
    (
        Permission::ReadTickets,
        &[Operator, Supervisor, Admin, Quality, Informatization],
    ),
    (Permission::WorkTickets, &[Operator, Supervisor, Admin]),
    (Permission::HandleQuarantine, &[Operator, Supervisor, Admin]),
    (Permission::SubmitRawMail, &[Ingest, Admin]),
    (Permission::ManageCalendar, &[Admin]),
    (
        Permission::ReadQueues,
        &[Operator, Supervisor, Admin, Quality, Informatization],
    ),
    (Permission::ManageQueues, &[Admin]),
    (Permission::ManageUsers, &[Admin]),
    (
        Permission::ReadRegistry,
        &[
            Operator,
            Supervisor,
            Admin,
            Editor,
            Quality,
            Informatization,
        ],
    ),
    (Permission::ManageRegistry, &[Admin]),
    (Permission::ExportPersonalData, &[Admin]),
    (Permission::ForwardTickets, &[Operator, Supervisor, Admin]),
    (
        Permission::ReadForwards,
        &[Operator, Supervisor, Admin, Quality, Informatization],
    ),
    (Permission::AnswerForwards, &[Agency, Ici]),
    (Permission::ConfirmQualityNotices, &[Supervisor, Admin]),
    (Permission::DeclareOutages, &[Ici, Admin]),
    (
        Permission::ReadOutages,
        &[Operator, Supervisor, Admin, Ici, Quality, Informatization],
    ),
    (Permission::SubmitCalls, &[Pbx, Admin]),
    (
        Permission::ReadCallStats,
        &[Supervisor, Admin, Quality, Informatization],
    ),
    (
        Permission::ListenRecordings,
        &[Supervisor, Quality, Informatization],
    ),
    (Permission::RequestRecords, &[Quality, Informatization]),
    (Permission::ReleaseRecords, &[Supervisor]),
    (
        Permission::ReadKnowledgeBase,
        &[
            Operator,
            Supervisor,
            Admin,
            Editor,
            Quality,
            Informatization,
        ],
    ),
    (Permission::EditKnowledgeBase, &[Editor]),
    (
        Permission::ReadReports,
        &[Supervisor, Admin, Quality, Informatization],
    ),
    (Permission::RunReports, &[Supervisor, Admin]),
    (Permission::ManageReportChoices, &[Admin]),
];

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub login: String,
    pub name: String,
    pub role: Role,
    /// The registry body an agency or ici user belongs to.
    pub body_id: Option<String>,
}

/// 32 random bytes as lowercase hex: tokens and status-page keys.
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Secrets are random and long, so a plain SHA-256 is enough to store them.
pub fn hash_secret(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

pub fn add_user(
    conn: &mut DbConn,
    login: &str,
    name: &str,
    role: Role,
    password: Option<&str>,
) -> Result<User, DbError> {
    add_user_in(conn, login, name, role, password, None)
}

/// Adds a user who belongs to a registry body (agency and ici users must; nobody else
/// may): callers check the pairing with [`check_body_for`] first.
pub fn add_user_in(
    conn: &mut DbConn,
    login: &str,
    name: &str,
    role: Role,
    password: Option<&str>,
    body_id: Option<&str>,
) -> Result<User, DbError> {
    let id = new_id();
    let hash = match password {
        Some(p) => Some(hash_password(p).map_err(DbError::Unavailable)?),
        None => None,
    };
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&id),
            users::login.eq(login),
            users::name.eq(name),
            users::role.eq(role.as_str()),
            users::password_hash.eq(hash),
            users::active.eq(1),
            users::created_at.eq(crate::db::now()),
            users::body_id.eq(body_id),
        ))
        .execute(conn)?;
    Ok(User {
        id,
        login: login.into(),
        name: name.into(),
        role,
        body_id: body_id.map(str::to_string),
    })
}

/// Agency and ici users belong to one existing body; other roles to none.
pub fn check_body_for(
    conn: &mut DbConn,
    role: Role,
    body_id: Option<&str>,
) -> Result<Result<(), String>, DbError> {
    let needs = matches!(role, Role::Agency | Role::Ici);
    Ok(match (needs, body_id) {
        (true, None) => Err(format!(
            "a user with role `{}` belongs to a body: give its id (`body_id`; `--body` in the CLI; see `GET /api/v1/bodies`)",
            role.as_str()
        )),
        (false, Some(_)) => Err(format!(
            "only agency and ici users belong to a body, not role `{}`",
            role.as_str()
        )),
        (false, None) => Ok(()),
        (true, Some(id)) => match crate::registry::bodies::get(conn, id)? {
            None => Err(format!("no body `{id}` in the registry")),
            Some(b) if role == Role::Ici && b.kind != crate::registry::BodyKind::IciOperator => {
                Err(format!(
                    "an ici user belongs to the ICI operator's body; `{id}` is a {}",
                    b.kind.as_str()
                ))
            }
            Some(_) => Ok(()),
        },
    })
}

/// Issues a token for `login`; the token itself is shown once and stored hashed.
pub fn create_token(
    conn: &mut DbConn,
    login: &str,
    label: Option<&str>,
) -> Result<Option<String>, DbError> {
    let uid: Option<String> = users::table
        .filter(users::login.eq(login))
        .filter(users::active.eq(1))
        .select(users::id)
        .first(conn)
        .optional()?;
    let Some(uid) = uid else {
        return Ok(None);
    };
    let token = format!("bay_{}", random_secret());
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::id.eq(new_id()),
            api_tokens::user_id.eq(uid),
            api_tokens::token_hash.eq(hash_secret(&token)),
            api_tokens::label.eq(label),
            api_tokens::created_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(Some(token))
}

/// A staff e-mail address, checked as an address lettre can send to.
pub fn check_email(email: &str) -> Result<String, String> {
    let email = email.trim();
    email
        .parse::<lettre::Address>()
        .map(|a| a.to_string())
        .map_err(|e| format!("`{email}` is not an e-mail address ({e})"))
}

/// Sets where a user's staff notices go; `Some(None)` clears a field, `None` keeps it.
/// Returns false when there is no such user.
pub fn set_contact(
    conn: &mut DbConn,
    login: &str,
    email: Option<Option<&str>>,
    telegram_chat_id: Option<Option<&str>>,
) -> Result<bool, DbError> {
    let found: Option<String> = users::table
        .filter(users::login.eq(login))
        .select(users::id)
        .first(conn)
        .optional()?;
    let Some(id) = found else {
        return Ok(false);
    };
    if let Some(e) = email {
        diesel::update(users::table.find(&id))
            .set(users::email.eq(e))
            .execute(conn)?;
    }
    if let Some(t) = telegram_chat_id {
        diesel::update(users::table.find(&id))
            .set(users::telegram_chat_id.eq(t))
            .execute(conn)?;
    }
    Ok(true)
}

pub fn user_by_token(conn: &mut DbConn, token: &str) -> Result<Option<User>, DbError> {
    let row: Option<(String, String, String, String, Option<String>)> = api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(hash_secret(token)))
        .filter(api_tokens::revoked_at.is_null())
        .filter(users::active.eq(1))
        .select((
            users::id,
            users::login,
            users::name,
            users::role,
            users::body_id,
        ))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(id, login, name, role, body_id)| {
        Role::parse(&role).ok().map(|role| User {
            id,
            login,
            name,
            role,
            body_id,
        })
    }))
}

pub fn user_by_password(
    conn: &mut DbConn,
    login: &str,
    password: &str,
) -> Result<Option<User>, DbError> {
    type Row = (
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = users::table
        .filter(users::login.eq(login))
        .filter(users::active.eq(1))
        .select((
            users::id,
            users::login,
            users::name,
            users::role,
            users::password_hash,
            users::body_id,
        ))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(id, login, name, role, hash, body_id)| {
        let ok = hash.is_some_and(|h| verify_password(password, &h));
        ok.then(|| {
            Role::parse(&role).ok().map(|role| User {
                body_id,
                id,
                login,
                name,
                role,
            })
        })
        .flatten()
    }))
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_permission_table_says_who_may_do_what() {
        use Permission::*;
        assert!(Role::Quality.may(ReadTickets) && !Role::Quality.may(WorkTickets));
        assert!(Role::Informatization.may(ReadTickets));
        assert!(!Role::Ingest.may(ReadTickets) && Role::Ingest.may(SubmitRawMail));
        assert!(Role::Admin.may(ManageCalendar) && !Role::Supervisor.may(ManageCalendar));
        assert!(!Role::Pbx.may(WorkTickets) && !Role::Editor.may(HandleQuarantine));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
    }
    use super::*;

    #[test]
    fn passwords_verify_only_with_the_right_password() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
    }

    #[test]
    fn roles_parse_with_a_helpful_error() {
        assert_eq!(Role::parse("quality"), Ok(Role::Quality));
        assert!(Role::parse("boss").unwrap_err().contains("operator"));
    }
}
