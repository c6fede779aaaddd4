//! The call card in the console: the operator who took a call opens
//! `/console/calls/{call_id}` (the PBX's screen-pop link), sees the caller, the times and
//! any ticket the call joined; without one, fills in topic, region, text and the
//! applicant's language (the caller's number is filled in) and registers a phone ticket,
//! whose number and deadline the page then shows to read out. The acknowledgement can go
//! by SMS (when a gateway is configured) or by e-mail.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;

use super::{ConsoleError, Staff, see_other};
use crate::auth::Permission;
use crate::calls::{self, card};
use crate::web::AppData;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console/calls/{call_id}", web::get().to(page))
        .route("/console/calls/{call_id}/ticket", web::post().to(register));
}

async fn call_view(
    app: &AppData,
    call_id: &str,
) -> Result<Option<serde_json::Value>, ConsoleError> {
    let id = call_id.to_string();
    Ok(app
        .db
        .run(move |c| {
            Ok(match calls::find(c, &id)? {
                Some(call) => Some(calls::view(c, &call)?),
                None => None,
            })
        })
        .await?)
}

fn not_found(staff: &Staff, app: &AppData, call_id: &str) -> ConsoleError {
    staff.error(
        StatusCode::NOT_FOUND,
        format!(
            "{}: {}",
            staff.text(app, "call_not_found"),
            crate::web::input::shown(call_id)
        ),
    )
}

async fn render(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    call_id: &str,
    form: serde_json::Value,
    errors: Vec<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let Some(call) = call_view(app, call_id).await? else {
        return Err(not_found(staff, app, call_id));
    };
    // Every field present (the templates are strict about undefined values).
    let mut full = serde_json::json!({"topic": "", "region": "", "text": "", "language": "",
        "name": "", "email": "", "sms": false});
    if let (Some(f), Some(given)) = (full.as_object_mut(), form.as_object()) {
        f.extend(given.clone());
    }
    let form = full;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let errors: Vec<minijinja::Value> = errors
        .into_iter()
        .map(|(field, message)| context! { field, message })
        .collect();
    staff.page_with_status(
        app,
        req,
        status,
        "console/call.html",
        context! {
            call => minijinja::Value::from_serialize(&call),
            call_id,
            action => format!(
                "/console/calls/{}/ticket",
                url::form_urlencoded::byte_serialize(call_id.as_bytes()).collect::<String>()
            ),
            form => minijinja::Value::from_serialize(&form),
            errors,
            sms_enabled => app.adapters.contains_key(&baylanys_core::Channel::Phone),
            may_register => staff.may(Permission::WorkTickets),
        },
    )
}

async fn page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    staff.require(Permission::ReadTickets)?;
    render(
        &app,
        &req,
        &staff,
        path.trim(),
        serde_json::json!({}),
        Vec::new(),
    )
    .await
}

async fn register(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    staff.require(Permission::WorkTickets)?;
    let call_id = path.trim().to_string();
    let mut body = serde_json::Map::new();
    for (k, v) in form.into_inner() {
        match k.as_str() {
            "topic" | "region" | "text" | "language" | "email" | "name" => {
                body.insert(k, v.into());
            }
            "sms" => {
                body.insert(k, (v == "1" || v == "on").into());
            }
            _ => {}
        }
    }
    let body = serde_json::Value::Object(body);
    let input = match card::CardInput::from_json(&body) {
        Ok(i) => i,
        Err(calls::CallError::Invalid(errors)) => {
            return render(&app, &req, &staff, &call_id, body, errors).await;
        }
        Err(e) => return Err(crate::web::ApiError::from(e).into()),
    };
    let hash = crate::auth::sha256_hex(body.to_string().as_bytes());
    match crate::web::calls::register_card(&app, &staff.user().login, &call_id, input, hash).await {
        Ok(_) => {
            let to = format!(
                "/console/calls/{}",
                url::form_urlencoded::byte_serialize(call_id.as_bytes()).collect::<String>()
            );
            Ok(see_other(&to, Some("ticket_registered")))
        }
        Err(crate::web::ApiError::Invalid(fields)) => {
            let errors = fields.into_iter().map(|f| (f.field, f.message)).collect();
            render(&app, &req, &staff, &call_id, body, errors).await
        }
        Err(e) => Err(ConsoleError::from(e).in_language(staff.language())),
    }
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    #[test]
    fn the_call_card_renders_in_every_language_with_and_without_a_ticket() {
        let t = crate::templates::Templates::new();
        let call = serde_json::json!({"call_id": "1.2", "caller": "+77011112233", "queue": "general",
            "arrived_at": "2026-12-03T05:00:00Z", "wait_secs": 12, "operator": null, "ticket": null});
        let mut with_ticket = call.clone();
        with_ticket["ticket"] =
            serde_json::json!({"number": "UCC-2026-000007", "due_at": "2026-12-07T18:30:00+05:00"});
        for lang in [
            baylanys_core::Language::Kk,
            baylanys_core::Language::Ru,
            baylanys_core::Language::En,
        ] {
            for (c, want) in [(&call, "f-topic"), (&with_ticket, "UCC-2026-000007")] {
                let html = t
                    .console_page(
                        "console/call.html",
                        lang,
                        context! {
                            call => minijinja::Value::from_serialize(c), call_id => "1.2",
                            action => "/console/calls/1.2/ticket",
                            form => minijinja::Value::from_serialize(serde_json::json!({"topic": "", "region": "", "text": "", "language": "", "name": "", "email": "", "sms": false})),
                            errors => Vec::<minijinja::Value>::new(), sms_enabled => true,
                            may_register => true, nav => Vec::<minijinja::Value>::new(),
                            csrf => "x", path => "/console/calls/1.2", notice => "ticket_registered",
                            languages => ["kk", "ru", "en"],
                            me => context! { login => "a", name => "A", role => "operator" },
                        },
                    )
                    .unwrap_or_else(|e| panic!("{lang}: {e:#}"));
                assert!(html.contains(want), "{lang}: {html}");
            }
        }
    }
}
