//! Delivery through an SMTP relay, with failures sorted into "retry" and "give up".

use baylanys_core::{
    Channel, ChannelAdapter, DeliveryReceipt, OutboundMessage, SendError, SendFuture,
};
use lettre::message::Mailbox;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::outbound::build_message;

/// The SMTP URL could not be turned into a transport.
#[derive(Debug, thiserror::Error)]
#[error("invalid SMTP URL: {0}")]
pub struct SmtpConfigError(String);

/// Sends [`OutboundMessage`]s over one pooled SMTP transport.
pub struct SmtpAdapter {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl SmtpAdapter {
    /// `smtp://127.0.0.1:2525` (plain), `smtp://user:pass@host:587?tls=starttls`,
    /// `smtps://user:pass@host:465`. `domain` names Message-IDs the server did not set.
    pub fn from_url(
        url: &str,
        from: Mailbox,
        domain: impl Into<String>,
    ) -> Result<Self, SmtpConfigError> {
        // lettre calls STARTTLS "required"; our configs say what operators know it as.
        let url = url
            .replace("tls=starttls", "tls=required")
            .replace("tls=opportunistic-starttls", "tls=opportunistic");
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|e| SmtpConfigError(e.to_string()))?
            .pool_config(PoolConfig::new().max_size(4))
            .build();
        Ok(Self::new(transport, from, domain))
    }

    /// Opens a connection and greets the server (EHLO, and AUTH when the URL has
    /// credentials): what `baylanys doctor` asks.
    pub async fn check(&self) -> Result<(), String> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the server did not answer the greeting".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn new(
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
        domain: impl Into<String>,
    ) -> Self {
        SmtpAdapter {
            transport,
            from,
            domain: domain.into(),
        }
    }

    /// Send an already built message (the server may add its own headers first).
    pub async fn send_built(&self, message: lettre::Message) -> Result<DeliveryReceipt, SendError> {
        match self.transport.send(message).await {
            Ok(response) => {
                // The accept as the server worded it, code first: the delivery's proof.
                let text = response.message().collect::<Vec<_>>().join(" ");
                Ok(DeliveryReceipt {
                    remote_id: Some(format!("{} {text}", response.code()).trim().to_string()),
                })
            }
            Err(e) => Err(classify_smtp_error(&e)),
        }
    }
}

/// 5xx replies and client-side refusals will never succeed; everything else
/// (4xx, connection, TLS, timeouts) may on a later try.
pub fn classify_smtp_error(e: &lettre::transport::smtp::Error) -> SendError {
    let message = e.to_string();
    if e.is_permanent() || e.is_client() {
        SendError::permanent(message)
    } else {
        SendError::temporary(message)
    }
}

impl ChannelAdapter for SmtpAdapter {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn send<'a>(&'a self, message: &'a OutboundMessage) -> SendFuture<'a> {
        Box::pin(async move {
            let built = build_message(message, &self.from, &self.domain)
                .map_err(|e| SendError::permanent(e.to_string()))?;
            self.send_built(built).await
        })
    }
}
