//! What applicants receive, rendered with sample data in the two languages they are
//! answered in (`GET /api/v1/templates/preview` and the admin portal's preview page).

use actix_web::{HttpResponse, web};
use baylanys_core::{Channel, Language};
use minijinja::context;
use serde::Serialize;

use super::{ApiError, AppData, Authed};
use crate::auth::Permission;
use crate::templates::TemplateError;
use crate::tickets::Rendered;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/templates/preview", web::get().to(get_preview));
}

/// Every applicant-facing message in Kazakh and Russian, for one sample appeal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The sample registration number.
    pub number: String,
    /// Now, as the sample's registration (Asia/Almaty, RFC 3339).
    pub registered_at: String,
    /// Its R5 deadline in the calendar as it is now.
    pub due_at: String,
    pub languages: Vec<LanguagePreview>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LanguagePreview {
    /// kk or ru.
    pub language: String,
    pub messages: Vec<MessagePreview>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessagePreview {
    /// ack_email, ack_telegram, ack_web_form, reply, transfer, rating, rating_email,
    /// oversize.
    pub name: String,
    pub subject: Option<String>,
    pub text: String,
    /// The HTML part, for messages that go out as HTML too.
    pub html: Option<String>,
    /// Set when the template failed (a fault of ours): what it said.
    pub error: Option<String>,
}

fn shown(name: &str, r: Result<Rendered, TemplateError>) -> MessagePreview {
    match r {
        Ok(r) => MessagePreview {
            name: name.into(),
            subject: r.subject,
            text: r.text,
            html: r.html,
            error: None,
        },
        Err(e) => MessagePreview {
            name: name.into(),
            subject: None,
            text: String::new(),
            html: None,
            error: Some(e.to_string()),
        },
    }
}

/// The sample appeal registered now, each message rendered as it would go out.
pub fn preview(app: &AppData) -> Result<Preview, ApiError> {
    let now = app.clock.now();
    let year = chrono::Datelike::year(&now.with_timezone(&chrono_tz::Asia::Almaty));
    let number = format!("UCC-{year}-000123");
    let public = app.config.public_url.trim_end_matches('/');
    let status_url = format!("{public}/appeals/{number}");
    let deadline = app
        .calendar()
        .working_days_due(
            now,
            crate::calendar::R5_REPLY_WORKING_DAYS,
            "R5",
            &app.config.working_hours,
        )
        .map_err(ApiError::internal)?;
    let t = &app.templates;
    let links: Vec<minijinja::Value> = (1..=5)
        .map(|score| context! { score, url => format!("{public}/rate/SAMPLE/{score}") })
        .collect();
    let mut languages = Vec::new();
    for l in [Language::Kk, Language::Ru] {
        let ack = |channel| {
            t.acknowledgement(
                l,
                &number,
                now,
                &deadline,
                channel,
                Some(status_url.as_str()),
            )
        };
        let answer = match l {
            Language::Kk => "Анықтаманы eGov порталынан алуға болады.",
            _ => "Справку можно получить на портале eGov.",
        };
        let messages = vec![
            shown("ack_email", ack(Channel::Email)),
            shown("ack_telegram", ack(Channel::Telegram)),
            shown("ack_web_form", ack(Channel::WebForm)),
            shown("reply", t.reply(l, &number, answer, None, Channel::Email)),
            shown("transfer", t.transfer_notice(l, &number, "ict")),
            shown("rating", t.rating_request(l, &number)),
            shown(
                "rating_email",
                t.message(
                    "rating_email",
                    l,
                    context! { number => &number, links => &links, days => crate::ratings::LINK_DAYS },
                ),
            ),
            shown(
                "oversize",
                t.message(
                    "oversize",
                    l,
                    context! { number => &number, files => vec!["scan.pdf"], limit => "10 MB" },
                ),
            ),
        ];
        languages.push(LanguagePreview {
            language: l.as_str().into(),
            messages,
        });
    }
    Ok(Preview {
        number,
        registered_at: crate::calendar::format_almaty(now),
        due_at: crate::calendar::format_almaty(deadline.due_at),
        languages,
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/templates/preview",
    tag = "users",
    summary = "What applicants receive: every applicant-facing message in Kazakh and Russian for a sample appeal registered now",
    responses((status = 200, description = "the messages as they would go out", body = Preview))
)]
async fn get_preview(app: AppData, who: Authed) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageUsers)?;
    Ok(HttpResponse::Ok().json(preview(&app)?))
}
