//! What a ticket is: its states, and the text of an outgoing message.

text_enum!(
    /// The ticket lifecycle: new -> open -> waiting -> answered -> closed, reopened by a
    /// new message from the applicant.
    Status, "status" {
        New => "new",
        Open => "open",
        Waiting => "waiting",
        Answered => "answered",
        Closed => "closed",
    }
);

impl Status {
    /// A new message from the applicant reopens a ticket in these states.
    pub fn reopens_on_message(self) -> bool {
        matches!(self, Status::Answered | Status::Closed | Status::Waiting)
    }
}

text_enum!(
    /// Which way a message went.
    Direction, "direction" {
        /// From the applicant (or another sender) to us.
        In => "in",
        /// From us to the applicant.
        Out => "out",
        /// Staff only (internal notes): never sent.
        Internal => "internal",
    }
);

text_enum!(
    /// What became of an outgoing message.
    DeliveryState, "delivery state" {
        /// Waiting for its delivery job.
        Queued => "queued",
        /// Shown on the status page (the web form's channel): delivered as it was stored.
        Published => "published",
        /// A try failed; another is due.
        Retrying => "retrying",
        /// The channel took it.
        Sent => "sent",
        /// The platform reports it reached the recipient's device (WhatsApp).
        Delivered => "delivered",
        /// The platform reports the recipient opened it (WhatsApp).
        Read => "read",
        /// Given up, with the error: visible on the ticket.
        Failed => "failed",
    }
);

text_enum!(
    /// What a message is, for people and for the channel adapters.
    MessageKind, "message kind" {
        /// An applicant's appeal or follow-up.
        Appeal => "appeal",
        /// A follow-up over the sender's hourly limit: kept, but it does not reopen the ticket.
        Held => "held",
        Acknowledgement => "acknowledgement",
        Reply => "reply",
        Notice => "notice",
        RatingRequest => "rating_request",
        /// An internal note of staff (direction `internal`): never sent.
        Note => "note",
    }
);

impl MessageKind {
    /// The kind of an outgoing message.
    pub fn of(kind: baylanys_core::OutboundKind) -> MessageKind {
        use baylanys_core::OutboundKind as O;
        match kind {
            O::Acknowledgement => MessageKind::Acknowledgement,
            O::Reply => MessageKind::Reply,
            // Broadcasts (outage notices) are not ticket messages; a notice if ever stored.
            O::Notice | O::Broadcast => MessageKind::Notice,
            O::RatingRequest => MessageKind::RatingRequest,
        }
    }

    /// What an adapter is told it sends; inbound kinds never go out.
    pub fn outbound(self) -> baylanys_core::OutboundKind {
        use baylanys_core::OutboundKind as O;
        match self {
            MessageKind::Acknowledgement => O::Acknowledgement,
            MessageKind::Reply => O::Reply,
            MessageKind::RatingRequest => O::RatingRequest,
            MessageKind::Notice | MessageKind::Appeal | MessageKind::Held | MessageKind::Note => {
                O::Notice
            }
        }
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
