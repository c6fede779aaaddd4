//! Following an IMAP mailbox: every message with a UID above the caller's checkpoint is
//! handed over in UID order, then the checkpoint moves. Messages are read with
//! `BODY.PEEK[]`, so `\Seen` stays as the staff's own mail clients left it.
//!
//! ```text
//! let inbox = ImapInbox::new(ImapConfig::from_url("imap://support:secret@mail:143/INBOX")?);
//! inbox.run(&my_sink, shutdown_signal).await; // until shutdown resolves
//! ```
//! The sink stores each raw message (intake dedupes by Message-ID + hash, so the
//! at-least-once hand-over after a crash or a UIDVALIDITY change is harmless).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_imap::{Client, Session};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Where a mailbox was read up to. Stored by the server between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Checkpoint {
    /// The mailbox's UIDVALIDITY; when it changes every UID is new again.
    pub uid_validity: u32,
    /// The highest UID handed over.
    pub last_uid: u32,
}

/// One message as it sits in the mailbox.
#[derive(Debug, Clone)]
pub struct FetchedMail {
    pub uid: u32,
    /// When the mailbox received it (INTERNALDATE): the registration time to use for
    /// mail backfilled after downtime.
    pub internal_date: Option<DateTime<Utc>>,
    pub raw: Vec<u8>,
}

pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// The server's side: where messages and the checkpoint go.
pub trait InboxSink: Send + Sync {
    /// The last saved checkpoint, `None` on the first run.
    fn load_checkpoint(&self)
    -> impl Future<Output = Result<Option<Checkpoint>, SinkError>> + Send;
    /// Store (or quarantine) one message durably; an error stops this pass before
    /// the checkpoint moves past it.
    fn deliver(&self, mail: FetchedMail) -> impl Future<Output = Result<(), SinkError>> + Send;
    fn save_checkpoint(
        &self,
        checkpoint: Checkpoint,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("invalid IMAP URL: {0}")]
    Url(String),
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("login refused for {user}: {message}")]
    Login { user: String, message: String },
    #[error("IMAP: {0}")]
    Protocol(#[from] async_imap::error::Error),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("sink: {0}")]
    Sink(SinkError),
}

/// Where the mailbox is and how patiently to follow it.
#[derive(Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: String,
    pub password: String,
    pub mailbox: String,
    /// How long one IDLE lasts before we look again anyway (RFC 2177 asks < 29 min).
    pub idle_timeout: Duration,
    /// Sleep between looks on servers without IDLE.
    pub poll_interval: Duration,
    /// First and longest wait before reconnecting after an error.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Limit for connecting, logging in, SELECT and ending IDLE: a dead connection
    /// is noticed within this, not at the next TCP keepalive.
    pub connect_timeout: Duration,
}

impl fmt::Debug for ImapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

impl ImapConfig {
    /// `imap://user:pass@host:143/INBOX` or `imaps://user:pass@host:993/Support`.
    /// Optional query (seconds): `idle_timeout`, `poll_interval`, `backoff_min`,
    /// `backoff_max`, `connect_timeout`. User and password are percent-decoded.
    pub fn from_url(url: &str) -> Result<Self, ImapError> {
        let parsed = url::Url::parse(url).map_err(|e| ImapError::Url(e.to_string()))?;
        let tls = match parsed.scheme() {
            "imap" => false,
            "imaps" => true,
            other => {
                return Err(ImapError::Url(format!(
                    "scheme `{other}`: expected imap or imaps"
                )));
            }
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ImapError::Url("no host".into()))?
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned();
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let username = decode(parsed.username());
        if username.is_empty() {
            return Err(ImapError::Url("no user name".into()));
        }
        let mailbox = decode(parsed.path().trim_start_matches('/'));
        let mut config = ImapConfig {
            port: parsed.port().unwrap_or(if tls { 993 } else { 143 }),
            host,
            tls,
            username,
            password: parsed.password().map(decode).unwrap_or_default(),
            mailbox: if mailbox.is_empty() {
                "INBOX".into()
            } else {
                mailbox
            },
            idle_timeout: Duration::from_secs(240),
            poll_interval: Duration::from_secs(60),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(30),
        };
        for (key, value) in parsed.query_pairs() {
            let secs: f64 = value
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s > 0.0)
                .ok_or_else(|| ImapError::Url(format!("{key}={value}: expected seconds")))?;
            let duration = Duration::from_secs_f64(secs);
            match key.as_ref() {
                "idle_timeout" => config.idle_timeout = duration,
                "poll_interval" => config.poll_interval = duration,
                "backoff_min" => config.backoff_min = duration,
                "backoff_max" => config.backoff_max = duration,
                "connect_timeout" => config.connect_timeout = duration,
                other => return Err(ImapError::Url(format!("unknown parameter `{other}`"))),
            }
        }
        Ok(config)
    }
}

/// The byte stream under the IMAP client: plain TCP or TLS.
trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> ImapIo for T {}

type ImapSession = Session<Box<dyn ImapIo>>;

/// How many messages one UID FETCH asks for: bounds memory on a large backfill.
const FETCH_BATCH: usize = 20;

/// Follows one mailbox on behalf of an [`InboxSink`].
pub struct ImapInbox {
    config: ImapConfig,
}

impl ImapInbox {
    pub fn new(config: ImapConfig) -> Self {
        ImapInbox { config }
    }

    pub fn config(&self) -> &ImapConfig {
        &self.config
    }

    /// One pass: connect, hand over everything new, save and return the checkpoint.
    /// For `ingest-email --once` style commands and tests.
    pub async fn sync_once(&self, sink: &impl InboxSink) -> Result<Checkpoint, ImapError> {
        let (mut session, _) = self.connect().await?;
        let checkpoint = sink.load_checkpoint().await.map_err(ImapError::Sink)?;
        let checkpoint = self.fetch_new(&mut session, sink, checkpoint).await?;
        // A failed LOGOUT changes nothing we stored.
        let _ = session.logout().await;
        Ok(checkpoint)
    }

    /// Connects, logs in and selects the mailbox, then logs out: what `baylanys doctor`
    /// asks. Says whether the server offers IDLE.
    pub async fn check(&self) -> Result<String, ImapError> {
        let (mut session, can_idle) = self.connect().await?;
        let selected = session.select(&self.config.mailbox).await;
        let _ = session.logout().await;
        let mailbox = selected?;
        Ok(format!(
            "logged in as {} at {}:{}, {} holds {} messages, IDLE {}",
            self.config.username,
            self.config.host,
            self.config.port,
            self.config.mailbox,
            mailbox.exists,
            if can_idle {
                "offered"
            } else {
                "not offered (polling)"
            }
        ))
    }

    /// Follow the mailbox until `shutdown` resolves: fetch, then IDLE (or sleep), and
    /// reconnect with exponential backoff after any error.
    pub async fn run(&self, sink: &impl InboxSink, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = self.config.backoff_min;
        loop {
            let error = tokio::select! {
                e = self.follow(sink, &mut backoff) => e,
                () = &mut shutdown => return,
            };
            tracing::warn!(mailbox = %self.config.mailbox, host = %self.config.host, %error, retry_in = ?backoff, "IMAP inbox failed; reconnecting");
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = &mut shutdown => return,
            }
            backoff = (backoff * 2).min(self.config.backoff_max);
        }
    }

    /// One connection's life; returns only with the error that ended it.
    async fn follow(&self, sink: &impl InboxSink, backoff: &mut Duration) -> ImapError {
        let (mut session, can_idle) = match self.connect().await {
            Ok(s) => s,
            Err(e) => return e,
        };
        let mut checkpoint = match sink.load_checkpoint().await {
            Ok(c) => c,
            Err(e) => return ImapError::Sink(e),
        };
        loop {
            match self.fetch_new(&mut session, sink, checkpoint).await {
                Ok(c) => checkpoint = Some(c),
                Err(e) => return e,
            }
            // Connected and caught up: the next failure starts its backoff afresh.
            *backoff = self.config.backoff_min;
            if can_idle {
                session = match self.idle(session).await {
                    Ok(s) => s,
                    Err(e) => return e,
                };
            } else {
                tokio::time::sleep(self.config.poll_interval).await;
            }
        }
    }

    async fn connect(&self) -> Result<(ImapSession, bool), ImapError> {
        let limit = self.config.connect_timeout;
        tokio::time::timeout(limit, self.connect_inner())
            .await
            .map_err(|_| ImapError::Timeout(limit))?
    }

    async fn connect_inner(&self) -> Result<(ImapSession, bool), ImapError> {
        let address = format!("{}:{}", self.config.host, self.config.port);
        let tcp = TcpStream::connect((self.config.host.as_str(), self.config.port))
            .await
            .map_err(|source| ImapError::Connect {
                address: address.clone(),
                source,
            })?;
        let stream: Box<dyn ImapIo> = if self.config.tls {
            Box::new(tls_connect(&self.config.host, tcp).await?)
        } else {
            Box::new(tcp)
        };
        let mut client = Client::new(stream);
        // The greeting must be read before the first command.
        client
            .read_response()
            .await
            .map_err(|e| ImapError::Protocol(e.into()))?
            .ok_or(ImapError::Protocol(
                async_imap::error::Error::ConnectionLost,
            ))?;
        let mut session = client
            .login(&self.config.username, &self.config.password)
            .await
            .map_err(|(e, _)| ImapError::Login {
                user: self.config.username.clone(),
                message: e.to_string(),
            })?;
        let can_idle = session.capabilities().await?.has_str("IDLE");
        Ok((session, can_idle))
    }

    /// Select the mailbox and hand over every message above the checkpoint, saving the
    /// checkpoint after each batch.
    async fn fetch_new(
        &self,
        session: &mut ImapSession,
        sink: &impl InboxSink,
        checkpoint: Option<Checkpoint>,
    ) -> Result<Checkpoint, ImapError> {
        let limit = self.config.connect_timeout;
        let mailbox = tokio::time::timeout(limit, session.select(&self.config.mailbox))
            .await
            .map_err(|_| ImapError::Timeout(limit))??;
        let uid_validity = mailbox.uid_validity.unwrap_or(0);
        let last_uid = match checkpoint {
            Some(c) if c.uid_validity == uid_validity => c.last_uid,
            Some(c) => {
                tracing::warn!(mailbox = %self.config.mailbox, old = c.uid_validity, new = uid_validity, "UIDVALIDITY changed; re-reading the whole mailbox");
                0
            }
            None => 0,
        };
        let mut current = Checkpoint {
            uid_validity,
            last_uid,
        };
        if checkpoint != Some(current) {
            sink.save_checkpoint(current)
                .await
                .map_err(ImapError::Sink)?;
        }
        if mailbox.exists == 0
            || mailbox
                .uid_next
                .is_some_and(|next| next <= last_uid.saturating_add(1))
        {
            return Ok(current);
        }

        // `n:*` always matches the highest UID even when it is below n, hence the filter.
        let mut uids: Vec<u32> = session
            .uid_search(format!("UID {}:*", last_uid.saturating_add(1)))
            .await?
            .into_iter()
            .filter(|&u| u > last_uid)
            .collect();
        uids.sort_unstable();

        for batch in uids.chunks(FETCH_BATCH) {
            let set = batch
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let mut mails = Vec::with_capacity(batch.len());
            {
                let mut stream = session
                    .uid_fetch(&set, "(UID INTERNALDATE BODY.PEEK[])")
                    .await?;
                while let Some(fetch) = stream.try_next().await? {
                    let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else {
                        continue; // an unsolicited FETCH (flag change by another client)
                    };
                    mails.push(FetchedMail {
                        uid,
                        internal_date: fetch.internal_date().map(|d| d.with_timezone(&Utc)),
                        raw: body.to_vec(),
                    });
                }
            }
            mails.sort_by_key(|m| m.uid);
            for mail in mails {
                let uid = mail.uid;
                sink.deliver(mail).await.map_err(ImapError::Sink)?;
                current.last_uid = uid;
            }
            sink.save_checkpoint(current)
                .await
                .map_err(ImapError::Sink)?;
        }
        Ok(current)
    }

    /// Wait for the server to announce something, or for the IDLE timeout.
    async fn idle(&self, session: ImapSession) -> Result<ImapSession, ImapError> {
        // Announcements that came with earlier commands would not wake IDLE.
        while let Ok(response) = session.unsolicited_responses.try_recv() {
            if matches!(
                response,
                async_imap::types::UnsolicitedResponse::Exists(_)
                    | async_imap::types::UnsolicitedResponse::Recent(_)
            ) {
                return Ok(session);
            }
        }
        let mut handle = session.idle();
        handle.init().await?;
        {
            let (wait, _stop) = handle.wait_with_timeout(self.config.idle_timeout);
            // The server's "still here" keepalives reset async-imap's own timer, so cap it.
            match tokio::time::timeout(self.config.idle_timeout, wait).await {
                Ok(result) => {
                    result?;
                }
                Err(_elapsed) => {}
            }
        }
        // A connection that died silently during IDLE would never answer DONE.
        let limit = self.config.connect_timeout;
        Ok(tokio::time::timeout(limit, handle.done())
            .await
            .map_err(|_| ImapError::Timeout(limit))??)
    }
}

async fn tls_connect(
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ImapError> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // One unreadable system certificate should not disable TLS altogether.
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ImapError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| ImapError::Tls(e.to_string()))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| ImapError::Tls(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_gives_host_credentials_mailbox_and_timings() {
        let c = ImapConfig::from_url("imap://support%40goscorp.kz:p%3Ass@127.0.0.1:1143/Support?idle_timeout=2&backoff_max=0.5")
            .expect("valid URL");
        assert_eq!((c.host.as_str(), c.port, c.tls), ("127.0.0.1", 1143, false));
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("support@goscorp.kz", "p:ss")
        );
        assert_eq!(c.mailbox, "Support");
        assert_eq!(c.idle_timeout, Duration::from_secs(2));
        assert_eq!(c.backoff_max, Duration::from_millis(500));
        let s = ImapConfig::from_url("imaps://u:p@mail.example.kz").expect("valid URL");
        assert_eq!((s.port, s.tls, s.mailbox.as_str()), (993, true, "INBOX"));
        assert!(ImapConfig::from_url("pop3://u@h").is_err());
        assert!(ImapConfig::from_url("imap://h/INBOX").is_err());
        assert!(!format!("{c:?}").contains("p:ss"));
    }
}
