//! Staff sessions of the operator console, kept in the database so any instance serves
//! them: a random token in an HttpOnly cookie, stored as its SHA-256; idle and absolute
//! expiry; sign-out; a per-session CSRF token; and the lock after repeated failed
//! sign-ins (per login, whichever instance is asked).

use baylanys_core::Language;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::auth::{Role, User};
use crate::db::schema::{console_sessions, sign_in_failures, users};
use crate::db::{DbConn, DbError};

/// Failed sign-ins within [`FAILURE_WINDOW_MINUTES`] that lock the login.
pub const MAX_FAILURES: i32 = 5;
/// The window in which failures are counted.
pub const FAILURE_WINDOW_MINUTES: i64 = 15;
/// How long a locked login stays locked.
pub const LOCK_MINUTES: i64 = 15;
/// A session's last-seen instant is written at most this often (not on every request).
const TOUCH_EVERY_SECS: i64 = 60;
/// Longest login accepted on the sign-in form.
pub const MAX_LOGIN_CHARS: usize = 64;
/// Longest password accepted (argon2 takes any length; this keeps the work bounded).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A signed-in staff member, as the console's pages see them.
#[derive(Debug, Clone)]
pub struct Session {
    /// The stored id (SHA-256 of the cookie's token), never the token itself.
    pub id: String,
    pub user: User,
    /// The user's console language.
    pub language: Language,
    /// The token every form of this session carries.
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

/// What [`sign_in`] decided.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: the cookie's token (shown once) and the session.
    Ok { token: String, session: Session },
    /// Wrong login or password (which, is not said); how many tries remain before the lock.
    Wrong { remaining: i32 },
    /// Too many failures: locked until then, even with the right password.
    Locked { until: DateTime<Utc> },
}

fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// The language a staff member reads the console in: their own choice, else the staff
/// default.
fn language_of(stored: Option<&str>, default: Language) -> Language {
    stored.and_then(|l| l.parse().ok()).unwrap_or(default)
}

/// Checks the lock, the password (argon2), records the outcome, and on success opens a
/// session. Runs in a write transaction.
pub fn sign_in(
    conn: &mut DbConn,
    login: &str,
    password: &str,
    now: DateTime<Utc>,
    terms: &Terms,
    user_agent: Option<&str>,
    page_language: Language,
) -> Result<SignIn, DbError> {
    let login = login.trim();
    if login.chars().any(char::is_control) || password.contains('\0') {
        // Never a login: not looked up (PostgreSQL refuses NUL in text anyway).
        return Ok(SignIn::Wrong {
            remaining: MAX_FAILURES,
        });
    }
    let lock: Option<(i32, NaiveDateTime, Option<NaiveDateTime>)> = sign_in_failures::table
        .find(login)
        .select((
            sign_in_failures::failures,
            sign_in_failures::first_at,
            sign_in_failures::locked_until,
        ))
        .first(conn)
        .optional()?;
    if let Some((_, _, Some(until))) = lock
        && until > naive(now)
    {
        return Ok(SignIn::Locked {
            until: until.and_utc(),
        });
    }
    let user = crate::auth::user_by_password(conn, login, password)?;
    let Some(user) = user else {
        // A failure in the current window adds up; an old one starts a new window.
        let window_start = naive(now) - Duration::minutes(FAILURE_WINDOW_MINUTES);
        let failures = match lock {
            Some((n, first, _)) if first > window_start => n + 1,
            _ => 1,
        };
        let first_at = match lock {
            Some((_, first, _)) if first > window_start => first,
            _ => naive(now),
        };
        let locked_until =
            (failures >= MAX_FAILURES).then(|| naive(now) + Duration::minutes(LOCK_MINUTES));
        diesel::delete(sign_in_failures::table.find(login)).execute(conn)?;
        diesel::insert_into(sign_in_failures::table)
            .values((
                sign_in_failures::login.eq(login),
                sign_in_failures::failures.eq(failures),
                sign_in_failures::first_at.eq(first_at),
                sign_in_failures::locked_until.eq(locked_until),
            ))
            .execute(conn)?;
        tracing::warn!(login, failures, "console sign-in failed");
        return Ok(match locked_until {
            Some(until) => SignIn::Locked {
                until: until.and_utc(),
            },
            None => SignIn::Wrong {
                remaining: MAX_FAILURES - failures,
            },
        });
    };
    if matches!(user.role, Role::Ingest | Role::Pbx) {
        // Machines have tokens, not console sessions.
        return Ok(SignIn::Wrong {
            remaining: MAX_FAILURES,
        });
    }
    diesel::delete(sign_in_failures::table.find(login)).execute(conn)?;
    diesel::update(users::table.find(&user.id))
        .set(users::last_sign_in_at.eq(Some(naive(now))))
        .execute(conn)?;
    let token = crate::auth::random_secret();
    let id = crate::auth::hash_secret(&token);
    let csrf = crate::auth::random_secret();
    let expires_at = now + terms.max_age;
    diesel::insert_into(console_sessions::table)
        .values((
            console_sessions::id.eq(&id),
            console_sessions::user_id.eq(&user.id),
            console_sessions::csrf_token.eq(&csrf),
            console_sessions::created_at.eq(naive(now)),
            console_sessions::last_seen_at.eq(naive(now)),
            console_sessions::expires_at.eq(naive(expires_at)),
            console_sessions::user_agent
                .eq(user_agent.map(|u| u.chars().take(200).collect::<String>())),
        ))
        .execute(conn)?;
    let stored: Option<String> = users::table
        .find(&user.id)
        .select(users::language)
        .first(conn)?;
    // Until a staff member chooses, the console speaks the language they signed in in.
    let language = match stored.as_deref() {
        Some(l) => language_of(Some(l), terms.default_language),
        None => {
            set_language(conn, &user.id, page_language)?;
            page_language
        }
    };
    tracing::info!(login = %user.login, "console sign-in");
    Ok(SignIn::Ok {
        token,
        session: Session {
            id,
            user,
            language,
            csrf,
            expires_at,
        },
    })
}

/// How long sessions last and what language staff read when theirs is unknown.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    pub idle: Duration,
    pub max_age: Duration,
    pub default_language: Language,
}

impl Terms {
    pub fn of(config: &crate::config::Config) -> Terms {
        Terms {
            idle: config.console_idle,
            max_age: config.console_session_max,
            default_language: config.staff_language,
        }
    }
}

/// The live session of a cookie token: not ended, not past its absolute expiry, not
/// idle for longer than allowed, of an active user. Notes the request (at most once a
/// minute).
pub fn lookup(
    conn: &mut DbConn,
    token: &str,
    now: DateTime<Utc>,
    terms: &Terms,
) -> Result<Option<Session>, DbError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let id = crate::auth::hash_secret(token);
    type Row = (
        String,
        NaiveDateTime,
        NaiveDateTime,
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = console_sessions::table
        .inner_join(users::table)
        .filter(console_sessions::id.eq(&id))
        .filter(console_sessions::ended_at.is_null())
        .filter(users::active.eq(1))
        .select((
            console_sessions::csrf_token,
            console_sessions::last_seen_at,
            console_sessions::expires_at,
            users::id,
            users::login,
            users::name,
            users::role,
            users::body_id,
            users::language,
        ))
        .first(conn)
        .optional()?;
    let Some((csrf, last_seen, expires, uid, login, name, role, body_id, language)) = row else {
        return Ok(None);
    };
    let now_n = naive(now);
    if expires <= now_n || last_seen + terms.idle <= now_n {
        return Ok(None);
    }
    let Ok(role) = Role::parse(&role) else {
        return Ok(None);
    };
    if (now_n - last_seen).num_seconds() >= TOUCH_EVERY_SECS {
        diesel::update(console_sessions::table.find(&id))
            .set(console_sessions::last_seen_at.eq(now_n))
            .execute(conn)?;
    }
    Ok(Some(Session {
        id,
        user: User {
            id: uid,
            login,
            name,
            role,
            body_id,
        },
        language: language_of(language.as_deref(), terms.default_language),
        csrf,
        expires_at: expires.and_utc(),
    }))
}

/// Sign-out: the session ends now; its cookie is worth nothing after.
pub fn end(conn: &mut DbConn, session_id: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(
        console_sessions::table
            .find(session_id)
            .filter(console_sessions::ended_at.is_null()),
    )
    .set(console_sessions::ended_at.eq(naive(now)))
    .execute(conn)?;
    Ok(())
}

/// Ends every session of a user (a password change, a user made inactive).
pub fn end_all_of(conn: &mut DbConn, user_id: &str, now: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(diesel::update(
        console_sessions::table
            .filter(console_sessions::user_id.eq(user_id))
            .filter(console_sessions::ended_at.is_null()),
    )
    .set(console_sessions::ended_at.eq(naive(now)))
    .execute(conn)?)
}

/// Sets the console language of a user.
pub fn set_language(conn: &mut DbConn, user_id: &str, language: Language) -> Result<(), DbError> {
    diesel::update(users::table.find(user_id))
        .set(users::language.eq(Some(language.as_str())))
        .execute(conn)?;
    Ok(())
}

/// Lifts the lock of a login (an administrator's action).
pub fn unlock(conn: &mut DbConn, login: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(sign_in_failures::table.find(login)).execute(conn)? > 0)
}

/// Housekeeping: sessions that ended or expired more than a day ago are removed.
pub fn forget_old(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, DbError> {
    let before = naive(now) - Duration::days(1);
    Ok(diesel::delete(
        console_sessions::table.filter(
            console_sessions::expires_at
                .lt(before)
                .or(console_sessions::ended_at.lt(before)),
        ),
    )
    .execute(conn)?)
}
