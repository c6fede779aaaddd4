//! The call card: the operator who took a call registers the matter (topic, region,
//! text, the applicant's language; the caller's number filled in) as a phone ticket with
//! its number and R5 deadline, through the same registration as every other channel. The
//! acknowledgement can also go by SMS (the phone channel's adapter, an HTTP SMS gateway)
//! or by e-mail when the applicant gives an address; both through the job queue.

use baylanys_core::{Channel, InboundMessage, Language, OutboundKind, Sender};
use diesel::prelude::*;

use super::{CallError, CallRow};
use crate::db::DbConn;
use crate::db::schema::calls;
use crate::tickets::intake::Registered;

/// The longest text a card takes.
pub const MAX_TEXT: usize = 20_000;

/// What the operator filled in.
#[derive(Debug, Clone)]
pub struct CardInput {
    pub topic: String,
    pub region: String,
    pub text: String,
    pub language: Language,
    pub email: Option<String>,
    pub sms: bool,
    pub name: Option<String>,
}

impl CardInput {
    pub fn from_json(body: &serde_json::Value) -> Result<CardInput, CallError> {
        let mut errors: Vec<(String, String)> = Vec::new();
        if !body.is_object() {
            return Err(CallError::invalid("body", "must be a JSON object"));
        }
        let mut text = |k: &str, max: usize, required: bool| -> Option<String> {
            match body.get(k) {
                None | Some(serde_json::Value::Null) => {
                    if required {
                        errors.push((k.into(), "is required".into()));
                    }
                    None
                }
                Some(serde_json::Value::String(s)) => {
                    let s = baylanys_core::clean_text(s.trim()).into_owned();
                    if s.is_empty() {
                        if required {
                            errors.push((k.into(), "must not be empty".into()));
                        }
                        None
                    } else if s.chars().count() > max {
                        errors.push((k.into(), format!("is longer than {max} characters")));
                        None
                    } else {
                        Some(s)
                    }
                }
                Some(_) => {
                    errors.push((k.into(), "must be a string".into()));
                    None
                }
            }
        };
        let topic = text("topic", 100, true);
        let region = text("region", 100, true);
        let body_text = text("text", MAX_TEXT, true);
        let language = text("language", 10, true);
        let email = text("email", 254, false);
        let name = text("name", 200, false);
        let language = language.and_then(|l| match l.parse::<Language>() {
            Ok(Language::En) | Err(_) => {
                errors.push(("language".into(), format!("`{l}` must be kk or ru")));
                None
            }
            Ok(l) => Some(l),
        });
        if let Some(e) = &email {
            let ok = e.split_once('@').is_some_and(|(u, d)| {
                !u.is_empty() && d.contains('.') && !e.contains(char::is_whitespace)
            });
            if !ok {
                errors.push(("email".into(), format!("`{e}` is not an e-mail address")));
            }
        }
        let sms = match body.get("sms") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => {
                errors.push(("sms".into(), "must be true or false".into()));
                false
            }
        };
        if !errors.is_empty() {
            return Err(CallError::Invalid(errors));
        }
        let (Some(topic), Some(region), Some(text), Some(language)) =
            (topic, region, body_text, language)
        else {
            return Err(CallError::invalid("body", "required fields are missing"));
        };
        Ok(CardInput {
            topic,
            region,
            text,
            language,
            email,
            sms,
            name,
        })
    }
}

/// The appeal the card registers: a phone message from the caller's number.
pub fn message_of(call: &CallRow, input: &CardInput) -> InboundMessage {
    let sender = Sender {
        address: call.caller.clone(),
        display_name: input.name.clone(),
        phone: Some(call.caller.clone()),
        email: input.email.clone(),
    };
    let mut msg = InboundMessage::new(Channel::Phone, sender, input.text.clone());
    msg.external_id = Some(format!("call:{}", call.call_id));
    msg.received_at = call.arrived_at.and_utc();
    msg.language = Some(input.language);
    msg.thread.force_new = true;
    msg.fields
        .insert("topic".into(), input.topic.clone().into());
    msg.fields
        .insert("region".into(), input.region.clone().into());
    msg.fields.insert("queue".into(), call.queue.clone().into());
    msg
}

/// What went out besides the card's own answer.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Acks {
    pub sms: Option<String>,
    pub email: Option<String>,
}

/// Links the registered ticket to the call and queues the acknowledgements asked for,
/// in one transaction. `Err(Conflict)` when another card got the call first.
#[allow(clippy::too_many_arguments)]
pub fn link_and_acknowledge(
    conn: &mut DbConn,
    call_id: &str,
    reg: &Registered,
    input: &CardInput,
    operator: &str,
    rendered: &dyn Fn(Channel) -> Result<crate::tickets::Rendered, crate::templates::TemplateError>,
    mail_domain: &str,
    (sms_enabled, email_enabled): (bool, bool),
) -> Result<Acks, CallError> {
    let linked = diesel::update(
        calls::table
            .filter(calls::call_id.eq(call_id))
            .filter(calls::ticket_id.is_null()),
    )
    .set(calls::ticket_id.eq(&reg.ticket_id))
    .execute(conn)?;
    if linked == 0 {
        return Err(CallError::Conflict(format!(
            "call {call_id} is already on a ticket"
        )));
    }
    crate::tickets::event(
        conn,
        &reg.ticket_id,
        operator,
        "registered_from_call",
        serde_json::json!({"call_id": call_id}),
    )?;
    // A survey score the call already has is the new ticket's rating (R10).
    if let Some(call) = super::find(conn, call_id)? {
        super::rate_from_survey(conn, &call)?;
    }
    let mut acks = Acks::default();
    let caller: String = calls::table
        .filter(calls::call_id.eq(call_id))
        .select(calls::caller)
        .first(conn)?;
    let render = |c: Channel| {
        rendered(c)
            .map_err(|e| CallError::Db(crate::db::DbError::Unavailable(format!("template: {e}"))))
    };
    if input.sms {
        if !sms_enabled {
            return Err(CallError::invalid(
                "sms",
                "no SMS gateway is configured (BAYLANYS_SMS_GATEWAY_URL): leave `sms` out",
            ));
        }
        let id = crate::tickets::queue_outbound(
            conn,
            mail_domain,
            &reg.ticket_id,
            crate::tickets::Recipient {
                channel: Channel::Phone,
                address: &caller,
            },
            OutboundKind::Acknowledgement,
            None,
            &render(Channel::Phone)?,
        )?;
        acks.sms = Some(id);
    }
    if let Some(email) = &input.email
        && email_enabled
    {
        let id = crate::tickets::queue_outbound(
            conn,
            mail_domain,
            &reg.ticket_id,
            crate::tickets::Recipient {
                channel: Channel::Email,
                address: &email.to_lowercase(),
            },
            OutboundKind::Acknowledgement,
            None,
            &render(Channel::Email)?,
        )?;
        acks.email = Some(id);
    }
    Ok(acks)
}
