//! Delivery through an SMTP relay, with failures sorted into "retry" and "give up".

use baylanys_core::{
    Channel, ChannelAdapter, DeliveryReceipt, OutboundMessage, SendError, SendFuture,
};
use lettre::message::Mailbox;
use std::time::{Duration, Instant};

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::outbound::build_message;

/// The SMTP URL could not be turned into a transport.
#[derive(Debug, thiserror::Error)]
#[error("invalid SMTP URL: {0}")]
pub struct SmtpConfigError(String);

/// Connections to the SMTP server used in parallel when none is configured: measured
/// with the outage broadcast bench (README, Benchmarks).
pub const DEFAULT_CONNECTIONS: u32 = 8;

/// Sends [`OutboundMessage`]s over one pooled SMTP transport: at most `connections`
/// transactions at once, each on a connection kept open and reused (lettre opens a
/// fresh connection whenever none is idle and closes it after one message when the pool
/// is full, so the sends themselves are bounded here, not only the idle pool).
pub struct SmtpAdapter {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// `smtp://HOST:PORT` without TLS or credentials (a local relay): our own connections.
    plain: Option<PlainPool>,
    from: Mailbox,
    domain: String,
    slots: tokio::sync::Semaphore,
}

/// How long one SMTP transaction on our own connections may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections older than this are closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Plain SMTP connections opened by us with TCP_NODELAY: lettre writes a message and
/// its final `.` in separate writes, and on a socket with Nagle's algorithm the second
/// waits for the server's delayed ACK (40 ms on Linux), which capped each connection at
/// about 22 messages/s. lettre's own transport offers no way to set the option.
struct PlainPool {
    host: String,
    port: u16,
    hello: ClientId,
    idle: std::sync::Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl PlainPool {
    /// `smtp://HOST[:PORT]` with nothing else: no TLS, no credentials, no options.
    fn for_url(url: &str) -> Option<PlainPool> {
        let u = url::Url::parse(url).ok()?;
        if u.scheme() != "smtp" || !u.username().is_empty() || u.password().is_some() {
            return None;
        }
        if u.query().is_some_and(|q| !q.is_empty()) || !matches!(u.path(), "" | "/") {
            return None;
        }
        let host = u.host_str()?.trim_start_matches('[').trim_end_matches(']');
        Some(PlainPool {
            host: host.to_string(),
            port: u.port().unwrap_or(25),
            hello: ClientId::default(),
            idle: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < IDLE_TIMEOUT {
                return Some(conn);
            }
        }
        None
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                SendError::temporary(format!(
                    "cannot connect to the SMTP server {}:{}: {e}",
                    self.host, self.port
                ))
            })?;
        let _ = tcp.set_nodelay(true);
        AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
            .await
            .map_err(|e| classify_smtp_error(&e))
    }

    async fn send(
        &self,
        envelope: &lettre::address::Envelope,
        raw: &[u8],
    ) -> Result<Response, SendError> {
        let reused = self.take_idle();
        let was_reused = reused.is_some();
        let mut conn = match reused {
            Some(c) => c,
            None => self.connect().await?,
        };
        let mut result = conn.send(envelope, raw).await;
        // A kept connection the server has closed meanwhile: once more on a fresh one.
        if let Err(e) = &result
            && was_reused
            && !e.is_response()
        {
            conn = self.connect().await?;
            result = conn.send(envelope, raw).await;
        }
        match result {
            Ok(response) => {
                if !conn.has_broken() {
                    self.idle
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((conn, Instant::now()));
                }
                Ok(response)
            }
            Err(e) => Err(classify_smtp_error(&e)),
        }
    }
}

impl SmtpAdapter {
    /// `smtp://127.0.0.1:2525` (plain), `smtp://user:pass@host:587?tls=starttls`,
    /// `smtps://user:pass@host:465`. `domain` names Message-IDs the server did not set.
    pub fn from_url(
        url: &str,
        from: Mailbox,
        domain: impl Into<String>,
    ) -> Result<Self, SmtpConfigError> {
        Self::from_url_with_connections(url, from, domain, DEFAULT_CONNECTIONS)
    }

    /// [`SmtpAdapter::from_url`] with `connections` SMTP connections in parallel (at
    /// least one), each reused across messages.
    pub fn from_url_with_connections(
        url: &str,
        from: Mailbox,
        domain: impl Into<String>,
        connections: u32,
    ) -> Result<Self, SmtpConfigError> {
        let connections = connections.max(1);
        let plain = PlainPool::for_url(url);
        // lettre calls STARTTLS "required"; our configs say what operators know it as.
        let url = url
            .replace("tls=starttls", "tls=required")
            .replace("tls=opportunistic-starttls", "tls=opportunistic");
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|e| SmtpConfigError(e.to_string()))?
            .pool_config(PoolConfig::new().max_size(connections))
            .build();
        let mut adapter = Self::new(transport, from, domain).with_slots(connections);
        adapter.plain = plain;
        Ok(adapter)
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
            plain: None,
            from,
            domain: domain.into(),
            slots: tokio::sync::Semaphore::new(DEFAULT_CONNECTIONS as usize),
        }
    }

    /// At most `n` messages in flight at once (match the transport's pool size).
    pub fn with_slots(mut self, n: u32) -> Self {
        self.slots = tokio::sync::Semaphore::new(n.max(1) as usize);
        self
    }

    /// Send an already built message (the server may add its own headers first).
    pub async fn send_built(&self, message: lettre::Message) -> Result<DeliveryReceipt, SendError> {
        // Never closed, so acquiring only waits.
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| SendError::temporary("the SMTP adapter is shutting down"))?;
        let sent = match &self.plain {
            Some(plain) => {
                let raw = message.formatted();
                match tokio::time::timeout(SEND_TIMEOUT, plain.send(message.envelope(), &raw)).await
                {
                    Ok(sent) => sent,
                    Err(_) => Err(SendError::temporary(format!(
                        "the SMTP server did not answer within {} s",
                        SEND_TIMEOUT.as_secs()
                    ))),
                }
            }
            None => self
                .transport
                .send(message)
                .await
                .map_err(|e| classify_smtp_error(&e)),
        };
        match sent {
            Ok(response) => {
                // The accept as the server worded it, code first: the delivery's proof.
                let text = response.message().collect::<Vec<_>>().join(" ");
                Ok(DeliveryReceipt {
                    remote_id: Some(format!("{} {text}", response.code()).trim().to_string()),
                })
            }
            Err(e) => Err(e),
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
