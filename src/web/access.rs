//! Who may call what: one table of every route and the roles that get past its
//! authorisation, enforced by one middleware before a handler reads anything (so a caller
//! that may not gets 401/403, never a 400 about a body it may not send), tested route by
//! route and role by role (`tests/integration/access.rs`), and written out as
//! docs/ACCESS.md. Handlers still decide what a caller sees (an agency user's own body,
//! its own forwards).

use crate::auth::{Permission, Role};

use Access::*;
use Permission as P;

/// Who gets past a route's authorisation. Everyone else: 403 with a token of another
/// role, 401 without one (or with a revoked one).
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// No token needed (pages, the public API, health, the calendar).
    Anyone,
    /// A role that may do any of these.
    May(&'static [Permission]),
    /// The same, or one of these roles too.
    MayOr(&'static [Permission], &'static [Role]),
    /// The same, or an agency or ici user, for its own body only (the handler checks
    /// which body).
    MayOrMember(&'static [Permission]),
    /// Only a caller with the shared secret of its own (the Telegram webhook).
    Secret,
    /// A console page: a staff member signed in to the console (the session cookie, not
    /// a bearer token) whose role may do any of these; an empty list: any staff member.
    /// Without a session: 303 to `/console/login`; another role: a 403 page; anything but
    /// GET without the session's CSRF token: a 403 page.
    Console(&'static [Permission]),
    /// Only Meta: the GET handshake with the verify token, POSTs HMAC-signed with the app
    /// secret (the WhatsApp webhook).
    Signed,
}

/// (method, route as registered, who may).
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/", Anyone),
    ("POST", "/appeals", Anyone),
    ("GET", "/appeals/{number}", Anyone),
    ("POST", "/appeals/{number}/follow-up", Anyone),
    ("GET", "/appeals/{number}/files/{file}", Anyone),
    ("POST", "/api/v1/appeals", Anyone),
    ("GET", "/outages", Anyone),
    ("GET", "/outages.ics", Anyone),
    ("GET", "/calendar/{file}", Anyone),
    ("GET", "/api/v1/calendar/due", Anyone),
    ("GET", "/api/v1/calendar/{year}", Anyone),
    ("GET", "/healthz", Anyone),
    ("GET", "/readyz", Anyone),
    ("GET", "/metrics", Anyone),
    ("GET", "/api/v1/openapi.json", Anyone),
    ("GET", "/api/docs", Anyone),
    ("POST", "/telegram/webhook", Secret),
    (
        "PUT",
        "/api/v1/calendar/days/{date}",
        May(&[P::ManageCalendar]),
    ),
    (
        "PUT",
        "/api/v1/calendar/{year}/movable-days",
        May(&[P::ManageCalendar]),
    ),
    ("GET", "/api/v1/tickets", May(&[P::ReadTickets])),
    ("GET", "/api/v1/tickets/{number}", May(&[P::ReadTickets])),
    ("GET", "/api/v1/attachments/{id}", May(&[P::ReadTickets])),
    (
        "POST",
        "/api/v1/tickets/{number}/replies",
        May(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/api/v1/tickets/{number}/assign",
        May(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/api/v1/tickets/{number}/transfer",
        May(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/api/v1/tickets/{number}/close",
        May(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/api/v1/tickets/{number}/status",
        May(&[P::WorkTickets]),
    ),
    (
        "GET",
        "/api/v1/tickets/{number}/services",
        May(&[P::ReadTickets]),
    ),
    (
        "POST",
        "/api/v1/tickets/{number}/services",
        May(&[P::WorkTickets]),
    ),
    (
        "PUT",
        "/api/v1/tickets/{number}/services",
        May(&[P::WorkTickets]),
    ),
    (
        "DELETE",
        "/api/v1/tickets/{number}/services/{service}",
        May(&[P::WorkTickets]),
    ),
    (
        "PUT",
        "/api/v1/tickets/{number}/contact/body",
        May(&[P::WorkTickets]),
    ),
    (
        "GET",
        "/api/v1/applicants/export",
        May(&[P::ExportPersonalData]),
    ),
    (
        "POST",
        "/api/v1/tickets/{number}/forwards",
        May(&[P::ForwardTickets]),
    ),
    (
        "GET",
        "/api/v1/forwards",
        May(&[P::ReadForwards, P::AnswerForwards]),
    ),
    (
        "GET",
        "/api/v1/forwards/overdue",
        May(&[P::ReadForwards, P::AnswerForwards]),
    ),
    (
        "GET",
        "/api/v1/forwards/{id}",
        May(&[P::ReadForwards, P::AnswerForwards]),
    ),
    (
        "GET",
        "/api/v1/forwards/{id}/attachments/{attachment}",
        May(&[P::ReadForwards, P::AnswerForwards]),
    ),
    (
        "POST",
        "/api/v1/forwards/{id}/answer",
        May(&[P::AnswerForwards]),
    ),
    (
        "POST",
        "/api/v1/forwards/{id}/decline",
        May(&[P::AnswerForwards]),
    ),
    (
        "POST",
        "/api/v1/forwards/{id}/relay",
        May(&[P::ForwardTickets]),
    ),
    (
        "POST",
        "/api/v1/forwards/{id}/replies/{message}/accept",
        May(&[P::ForwardTickets]),
    ),
    ("GET", "/api/v1/quality-notices", May(&[P::ReadForwards])),
    (
        "GET",
        "/api/v1/quality-notices/{id}",
        May(&[P::ReadForwards]),
    ),
    (
        "POST",
        "/api/v1/quality-notices/{id}/confirm",
        May(&[P::ConfirmQualityNotices]),
    ),
    ("POST", "/api/v1/inbound/email", May(&[P::SubmitRawMail])),
    ("GET", "/api/v1/quarantine", May(&[P::HandleQuarantine])),
    (
        "GET",
        "/api/v1/quarantine/{id}",
        May(&[P::HandleQuarantine]),
    ),
    (
        "POST",
        "/api/v1/quarantine/{id}/retry",
        May(&[P::HandleQuarantine]),
    ),
    (
        "POST",
        "/api/v1/quarantine/{id}/release",
        May(&[P::HandleQuarantine]),
    ),
    (
        "GET",
        "/api/v1/delivery-reports/unmatched",
        May(&[P::HandleQuarantine]),
    ),
    ("GET", "/api/v1/queues", May(&[P::ReadQueues])),
    ("POST", "/api/v1/queues", May(&[P::ManageQueues])),
    ("GET", "/api/v1/queues/{code}", May(&[P::ReadQueues])),
    ("PUT", "/api/v1/queues/{code}", May(&[P::ManageQueues])),
    ("PATCH", "/api/v1/queues/{code}", May(&[P::ManageQueues])),
    (
        "PUT",
        "/api/v1/users/{login}/contact",
        May(&[P::ManageUsers]),
    ),
    ("GET", "/api/v1/users", May(&[P::ManageUsers])),
    ("POST", "/api/v1/users", May(&[P::ManageUsers])),
    ("PATCH", "/api/v1/users/{login}", May(&[P::ManageUsers])),
    ("GET", "/api/v1/templates/preview", May(&[P::ManageUsers])),
    ("GET", "/api/v1/bodies", May(&[P::ReadRegistry])),
    ("POST", "/api/v1/bodies", May(&[P::ManageRegistry])),
    (
        "GET",
        "/api/v1/bodies/{id}",
        MayOrMember(&[P::ReadRegistry]),
    ),
    ("PATCH", "/api/v1/bodies/{id}", May(&[P::ManageRegistry])),
    (
        "GET",
        "/api/v1/bodies/{id}/card",
        MayOrMember(&[P::ReadRegistry]),
    ),
    (
        "POST",
        "/api/v1/bodies/{id}/persons",
        May(&[P::ManageRegistry]),
    ),
    (
        "PATCH",
        "/api/v1/bodies/{id}/persons/{person}",
        May(&[P::ManageRegistry]),
    ),
    (
        "POST",
        "/api/v1/bodies/{id}/telegram-link",
        May(&[P::ManageRegistry]),
    ),
    (
        "GET",
        "/api/v1/systems",
        MayOr(&[P::ReadRegistry], &[Role::Ici]),
    ),
    ("POST", "/api/v1/systems", May(&[P::ManageRegistry])),
    (
        "GET",
        "/api/v1/systems/{code}",
        MayOr(&[P::ReadRegistry], &[Role::Ici]),
    ),
    ("PATCH", "/api/v1/systems/{code}", May(&[P::ManageRegistry])),
    ("GET", "/api/v1/services", May(&[P::ReadRegistry])),
    ("POST", "/api/v1/services", May(&[P::ManageRegistry])),
    ("GET", "/api/v1/services/stage", May(&[P::ReadTickets])),
    (
        "GET",
        "/api/v1/services/onboarding/overdue",
        May(&[P::ReadRegistry]),
    ),
    ("GET", "/api/v1/services/{id}", May(&[P::ReadRegistry])),
    ("PATCH", "/api/v1/services/{id}", May(&[P::ManageRegistry])),
    (
        "GET",
        "/api/v1/services/{id}/onboarding",
        May(&[P::ReadRegistry]),
    ),
    (
        "POST",
        "/api/v1/services/{id}/onboarding",
        May(&[P::ManageRegistry]),
    ),
    ("GET", "/api/v1/registry/{file}", May(&[P::ReadRegistry])),
    ("POST", "/api/v1/registry/{file}", May(&[P::ManageRegistry])),
    ("POST", "/api/v1/outages", May(&[P::DeclareOutages])),
    ("GET", "/api/v1/outages", May(&[P::ReadOutages])),
    ("GET", "/api/v1/outages/compliance", May(&[P::ReadOutages])),
    ("GET", "/api/v1/outages/{id}", May(&[P::ReadOutages])),
    ("PATCH", "/api/v1/outages/{id}", May(&[P::DeclareOutages])),
    (
        "POST",
        "/api/v1/outages/{id}/cancel",
        May(&[P::DeclareOutages]),
    ),
    (
        "POST",
        "/api/v1/outages/{id}/complete",
        May(&[P::DeclareOutages]),
    ),
    (
        "POST",
        "/api/v1/tickets/{number}/notes",
        May(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/api/v1/tickets/{number}/merge",
        May(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/api/v1/tickets/{number}/split",
        May(&[P::WorkTickets]),
    ),
    // The operator console (src/web/console): pages behind the session cookie.
    ("GET", "/console/login", Anyone),
    ("POST", "/console/login", Anyone),
    ("GET", "/console/static/{file}", Anyone),
    ("POST", "/console/logout", Console(&[])),
    ("POST", "/console/language", Console(&[])),
    ("GET", "/console/", Console(&[])),
    ("GET", "/console/queue", Console(&[P::ReadTickets])),
    ("GET", "/console/queue/poll", Console(&[P::ReadTickets])),
    ("POST", "/console/queue/bulk", Console(&[P::WorkTickets])),
    ("POST", "/console/filters", Console(&[P::ReadTickets])),
    (
        "POST",
        "/console/filters/{id}/delete",
        Console(&[P::ReadTickets]),
    ),
    (
        "GET",
        "/console/tickets/{number}",
        Console(&[P::ReadTickets]),
    ),
    (
        "GET",
        "/console/attachments/{id}",
        Console(&[P::ReadTickets]),
    ),
    (
        "POST",
        "/console/tickets/{number}/presence",
        Console(&[P::ReadTickets]),
    ),
    (
        "POST",
        "/console/tickets/{number}/take",
        Console(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/console/tickets/{number}/assign",
        Console(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/console/tickets/{number}/reply",
        Console(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/console/tickets/{number}/note",
        Console(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/console/tickets/{number}/transfer",
        Console(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/console/tickets/{number}/status",
        Console(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/console/tickets/{number}/close",
        Console(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/console/tickets/{number}/merge",
        Console(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/console/tickets/{number}/split",
        Console(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/console/tickets/{number}/kb",
        Console(&[P::WorkTickets]),
    ),
    (
        "POST",
        "/console/tickets/{number}/forward",
        Console(&[P::ForwardTickets]),
    ),
    ("GET", "/api/v1/kb/articles", May(&[P::ReadKnowledgeBase])),
    ("POST", "/api/v1/kb/articles", May(&[P::EditKnowledgeBase])),
    (
        "GET",
        "/api/v1/kb/articles/{id}",
        May(&[P::ReadKnowledgeBase]),
    ),
    (
        "PATCH",
        "/api/v1/kb/articles/{id}",
        May(&[P::EditKnowledgeBase]),
    ),
    (
        "POST",
        "/api/v1/kb/articles/{id}/publish",
        May(&[P::EditKnowledgeBase]),
    ),
    (
        "GET",
        "/api/v1/kb/articles/{id}/versions",
        May(&[P::EditKnowledgeBase]),
    ),
    ("GET", "/api/v1/kb/export", May(&[P::EditKnowledgeBase])),
    ("POST", "/api/v1/kb/import", May(&[P::EditKnowledgeBase])),
    ("POST", "/api/v1/calls", May(&[P::SubmitCalls])),
    ("POST", "/api/v1/calls/import", May(&[P::SubmitCalls])),
    ("GET", "/api/v1/calls/stats", May(&[P::ReadCallStats])),
    ("GET", "/api/v1/calls/{call_id}", May(&[P::ReadTickets])),
    (
        "POST",
        "/api/v1/calls/{call_id}/ticket",
        May(&[P::WorkTickets]),
    ),
    (
        "GET",
        "/api/v1/calls/{call_id}/recording",
        May(&[P::ListenRecordings]),
    ),
    (
        "GET",
        "/api/v1/calls/{call_id}/recording/access",
        May(&[P::ListenRecordings]),
    ),
    ("POST", "/api/v1/record-requests", May(&[P::RequestRecords])),
    (
        "GET",
        "/api/v1/record-requests/{id}",
        May(&[P::RequestRecords, P::ReleaseRecords]),
    ),
    (
        "POST",
        "/api/v1/record-requests/{id}/release",
        May(&[P::ReleaseRecords]),
    ),
    (
        "GET",
        "/api/v1/record-requests/{id}/archive",
        May(&[P::RequestRecords]),
    ),
    (
        "GET",
        "/console/calls/{call_id}",
        Console(&[P::ReadTickets]),
    ),
    (
        "POST",
        "/console/calls/{call_id}/ticket",
        Console(&[P::WorkTickets]),
    ),
    // The agency portal (src/web/console/agency.rs).
    ("GET", "/console/agency", Console(&[P::AnswerForwards])),
    (
        "GET",
        "/console/agency/forwards/{id}",
        Console(&[P::AnswerForwards]),
    ),
    (
        "GET",
        "/console/agency/forwards/{id}/attachments/{attachment}",
        Console(&[P::AnswerForwards]),
    ),
    (
        "POST",
        "/console/agency/forwards/{id}/answer",
        Console(&[P::AnswerForwards]),
    ),
    (
        "POST",
        "/console/agency/forwards/{id}/decline",
        Console(&[P::AnswerForwards]),
    ),
    // (the agency portal's routes end here)
    // The ici portal (src/web/console/ici.rs).
    ("GET", "/console/ici", Console(&[P::DeclareOutages])),
    (
        "GET",
        "/console/ici/outages/new",
        Console(&[P::DeclareOutages]),
    ),
    (
        "POST",
        "/console/ici/outages",
        Console(&[P::DeclareOutages]),
    ),
    (
        "GET",
        "/console/ici/outages/{id}",
        Console(&[P::DeclareOutages]),
    ),
    (
        "POST",
        "/console/ici/outages/{id}/reschedule",
        Console(&[P::DeclareOutages]),
    ),
    (
        "POST",
        "/console/ici/outages/{id}/cancel",
        Console(&[P::DeclareOutages]),
    ),
    (
        "POST",
        "/console/ici/outages/{id}/complete",
        Console(&[P::DeclareOutages]),
    ),
    (
        "GET",
        "/console/ici/forwards",
        Console(&[P::AnswerForwards]),
    ),
    (
        "GET",
        "/console/ici/forwards/{id}",
        Console(&[P::AnswerForwards]),
    ),
    (
        "GET",
        "/console/ici/forwards/{id}/attachments/{attachment}",
        Console(&[P::AnswerForwards]),
    ),
    (
        "POST",
        "/console/ici/forwards/{id}/answer",
        Console(&[P::AnswerForwards]),
    ),
    (
        "POST",
        "/console/ici/forwards/{id}/decline",
        Console(&[P::AnswerForwards]),
    ),
    // (the ici portal's routes end here)
    // The dashboard portal (src/web/console/dashboard.rs).
    ("GET", "/console/dashboard", Console(&[P::ReadReports])),
    (
        "GET",
        "/console/dashboard/ratings",
        Console(&[P::ReadReports]),
    ),
    (
        "GET",
        "/console/dashboard/analytics",
        Console(&[P::ReadReports]),
    ),
    (
        "GET",
        "/console/dashboard/calls",
        Console(&[P::ReadCallStats]),
    ),
    (
        "GET",
        "/console/dashboard/export",
        Console(&[P::ReadReports]),
    ),
    // (the dashboard portal's routes end here)
    // The admin portal (src/web/console/admin.rs).
    ("GET", "/console/admin", Console(&[P::ManageUsers])),
    ("GET", "/console/admin/users", Console(&[P::ManageUsers])),
    ("POST", "/console/admin/users", Console(&[P::ManageUsers])),
    (
        "GET",
        "/console/admin/users/{login}",
        Console(&[P::ManageUsers]),
    ),
    (
        "POST",
        "/console/admin/users/{login}",
        Console(&[P::ManageUsers]),
    ),
    (
        "POST",
        "/console/admin/users/{login}/password",
        Console(&[P::ManageUsers]),
    ),
    (
        "POST",
        "/console/admin/users/{login}/active",
        Console(&[P::ManageUsers]),
    ),
    (
        "POST",
        "/console/admin/users/{login}/unlock",
        Console(&[P::ManageUsers]),
    ),
    ("GET", "/console/admin/queues", Console(&[P::ManageQueues])),
    ("POST", "/console/admin/queues", Console(&[P::ManageQueues])),
    (
        "GET",
        "/console/admin/queues/{code}",
        Console(&[P::ManageQueues]),
    ),
    (
        "POST",
        "/console/admin/queues/{code}",
        Console(&[P::ManageQueues]),
    ),
    (
        "GET",
        "/console/admin/calendar",
        Console(&[P::ManageCalendar]),
    ),
    (
        "POST",
        "/console/admin/calendar/days",
        Console(&[P::ManageCalendar]),
    ),
    (
        "GET",
        "/console/admin/registry",
        Console(&[P::ManageRegistry]),
    ),
    (
        "POST",
        "/console/admin/registry/import",
        Console(&[P::ManageRegistry]),
    ),
    (
        "GET",
        "/console/admin/registry/{file}",
        Console(&[P::ManageRegistry]),
    ),
    (
        "GET",
        "/console/admin/templates",
        Console(&[P::ManageUsers]),
    ),
    // (the admin portal's routes end here)
    // Ratings (R10) and reports (P1-P4).
    ("GET", "/rate/{token}/{score}", Anyone),
    ("POST", "/rate/{token}/comment", Anyone),
    ("POST", "/appeals/{number}/rating", Anyone),
    (
        "POST",
        "/api/v1/tickets/{number}/ratings",
        MayOr(&[P::WorkTickets], &[Role::Pbx]),
    ),
    ("GET", "/api/v1/ratings/figures", May(&[P::ReadReports])),
    ("GET", "/api/v1/reports/monthly", May(&[P::ReadReports])),
    ("GET", "/api/v1/reports/ict", May(&[P::ReadReports])),
    ("GET", "/api/v1/reports/analytics", May(&[P::ReadReports])),
    (
        "GET",
        "/api/v1/reports/service-level",
        May(&[P::ReadReports]),
    ),
    ("GET", "/api/v1/reports/runs", May(&[P::ReadReports])),
    ("POST", "/api/v1/reports/runs", May(&[P::RunReports])),
    ("GET", "/api/v1/reports/runs/{id}", May(&[P::ReadReports])),
    (
        "POST",
        "/api/v1/reports/runs/{id}/retry",
        May(&[P::RunReports]),
    ),
    ("GET", "/api/v1/reports/choices", May(&[P::ReadTickets])),
    (
        "POST",
        "/api/v1/reports/choices",
        May(&[P::ManageReportChoices]),
    ),
    (
        "PATCH",
        "/api/v1/reports/choices/{id}",
        May(&[P::ManageReportChoices]),
    ),
    (
        "PUT",
        "/api/v1/tickets/{number}/classification",
        May(&[P::WorkTickets]),
    ),
    (
        "GET",
        "/api/v1/reports/discrepancies",
        May(&[P::ReadReports]),
    ),
    (
        "POST",
        "/api/v1/reports/discrepancies",
        May(&[P::RunReports]),
    ),
    (
        "GET",
        "/api/v1/reports/discrepancies/{id}",
        May(&[P::ReadReports]),
    ),
    (
        "POST",
        "/api/v1/reports/discrepancies/{id}/answer",
        May(&[P::RunReports]),
    ),
    ("GET", "/whatsapp/webhook", Signed),
    ("POST", "/whatsapp/webhook", Signed),
];

impl Access {
    /// Whether `role` gets past this route's authorisation.
    pub fn allows(self, role: Role) -> bool {
        match self {
            Anyone => true,
            May(perms) => perms.iter().any(|p| role.may(*p)),
            MayOr(perms, roles) => perms.iter().any(|p| role.may(*p)) || roles.contains(&role),
            MayOrMember(perms) => {
                perms.iter().any(|p| role.may(*p)) || matches!(role, Role::Agency | Role::Ici)
            }
            Secret | Signed => false,
            // Machines have tokens, never console sessions.
            Console([]) => !matches!(role, Role::Ingest | Role::Pbx),
            Console(perms) => perms.iter().any(|p| role.may(*p)),
        }
    }

    /// Whether a bearer token is needed at all (console pages take the session cookie).
    pub fn needs_token(self) -> bool {
        !matches!(self, Anyone | Secret | Signed | Console(_))
    }

    /// What a refusal says the role may not do.
    pub fn describe(self) -> &'static str {
        match self {
            May(perms) | MayOr(perms, _) | MayOrMember(perms) | Console(perms) => {
                perms.first().map_or("call this route", |p| p.describe())
            }
            _ => "call this route",
        }
    }

    /// Who may, in words: the roles, or "anyone".
    pub fn who(self) -> String {
        match self {
            Anyone => "anyone".into(),
            Secret => "the Telegram Bot API (with the webhook secret)".into(),
            Signed => "Meta's WhatsApp Cloud API (the handshake with the verify token; POSTs signed with the app secret)".into(),
            _ => {
                let roles: Vec<&str> = Role::ALL
                    .iter()
                    .filter(|r| {
                        self.allows(**r)
                            && !(matches!(self, MayOrMember(_))
                                && matches!(r, Role::Agency | Role::Ici))
                    })
                    .map(|r| r.as_str())
                    .collect();
                let mut who = roles.join(", ");
                if matches!(self, MayOrMember(_)) {
                    who.push_str("; agency and ici users for their own body");
                }
                if matches!(self, Console(_)) {
                    who = format!("signed in to the console (session cookie + CSRF token): {who}");
                }
                who
            }
        }
    }
}

/// The access of the route `pattern` (as registered) for `method`.
pub fn of(method: &str, pattern: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == pattern)
        .map(|(_, _, a)| *a)
}

/// docs/ACCESS.md.
pub fn document() -> String {
    let mut out = String::from(
        "# Who may call what\n\n\
         Generated from `src/web/access.rs`, the table the server enforces before any handler \
         runs; the test suite checks it against the running server on both engines (every \
         route with every role, without a token and with a revoked one). A caller that may \
         not gets 403 (another role) or 401 (no token, or a revoked one); one that may can \
         still get 404 or 422 for what it asks. Console pages (`/console/...`) take the \
         console's session cookie instead of a token: without a session they redirect (303) \
         to `/console/login`, a role that may not gets a 403 page, and anything but GET must \
         carry the session's CSRF token. An agency or ici user sees only its own body \
         and only the forwards addressed to it (other bodies' ids are a 404). Regenerate with \
         `BAYLANYS_WRITE_ACCESS_DOC=1 cargo test --test integration access`.\n\n\
         | route | who may |\n|---|---|\n",
    );
    for (method, route, access) in ROUTES {
        out.push_str(&format!("| `{method} {route}` | {} |\n", access.who()));
    }
    out
}
