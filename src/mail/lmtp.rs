//! LMTP (RFC 2033): an MTA delivers into Baylanys over a persistent connection, and is
//! told after DATA, per recipient, whether the message is stored (250), must be kept and
//! tried again (452: the database is out of reach) or can never be taken (552: too large).
//!
//! Each message goes through the path of [`crate::mail::ingest_raw`], `ingest-email` and
//! `POST /api/v1/inbound/email`, so dedupe, quarantine and threading are the same. The raw
//! bytes are stored as the MTA sent them (dot-unstuffed), with no trace header of our own,
//! so the same bytes given to `ingest-email` or over LMTP dedupe to one entry. Messages
//! ready at the same moment on several connections are stored in one transaction.
//!
//! LMTP has no authentication: only loopback peers and the addresses configured in
//! `BAYLANYS_LMTP_CLIENTS` may deliver; anyone else gets a 554 greeting and is closed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::AppState;
use crate::db::DbError;
use crate::mail::{MailOutcome, Prepared, ingest_batch, prepare};

/// Connections served at once; more are told 421 and closed (the MTA retries).
pub const MAX_CONNECTIONS: usize = 512;
/// RFC 5321 4.5.3.1.4 says 512 octets; extensions (SIZE, SMTPUTF8 addresses) get room.
const MAX_COMMAND_LINE: usize = 4096;
/// RFC 5321 4.5.3.1.8: at least 100 recipients per transaction.
const MAX_RECIPIENTS: usize = 100;
/// RFC 5321 4.5.3.2.7: five minutes for a command; 4.5.3.2.6: three for each data block.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
const DATA_TIMEOUT: Duration = Duration::from_secs(180);
/// Refused commands in a row before the connection is closed.
const MAX_ERRORS: usize = 20;
/// How long connections get after shutdown to finish the message they are storing.
const DRAIN: Duration = Duration::from_secs(10);
/// Messages stored in one transaction at most (whatever the connections have ready).
const MAX_BATCH: usize = 64;

/// A message waiting to be stored, and where its outcome goes.
struct Store {
    prepared: Prepared,
    done: tokio::sync::oneshot::Sender<Result<MailOutcome, DbError>>,
}

/// Stores what the connections hand over, everything that has queued in one transaction
/// (group commit, as the registrar does for appeals); ends when every sender is gone.
async fn store_batches(state: Arc<AppState>, mut queue: tokio::sync::mpsc::Receiver<Store>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (prepared, done): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|s| (s.prepared, s.done)).unzip();
        for (result, done) in ingest_batch(&state, prepared).await.into_iter().zip(done) {
            let _ = done.send(result);
        }
    }
}

/// Who may deliver: loopback, and the configured client addresses.
pub fn allowed(peer: IpAddr, clients: &[IpAddr]) -> bool {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        v4 => v4,
    };
    peer.is_loopback() || clients.contains(&peer)
}

/// Accepts connections until shutdown, then lets each finish what it stores.
pub async fn run_lmtp(state: Arc<AppState>, listener: TcpListener) {
    let (store, queue) = tokio::sync::mpsc::channel(MAX_CONNECTIONS);
    let storing = tokio::spawn(store_batches(state.clone(), queue));
    let mut connections = JoinSet::new();
    let addr = listener.local_addr().ok();
    tracing::info!(lmtp = ?addr, "LMTP listener ready");
    loop {
        let accepted = tokio::select! {
            _ = state.shutdown.cancelled() => break,
            a = listener.accept() => a,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and the like: wait a little instead of spinning.
                tracing::warn!(error = %e, "LMTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if connections.len() >= MAX_CONNECTIONS {
            connections.spawn(refuse(
                stream,
                "421 4.3.2 too many connections, try again later\r\n",
            ));
            continue;
        }
        if !allowed(peer.ip(), &state.config.lmtp_clients) {
            tracing::warn!(%peer, "LMTP connection refused: not loopback nor in BAYLANYS_LMTP_CLIENTS");
            connections.spawn(refuse(
                stream,
                "554 5.7.1 this address may not deliver here\r\n",
            ));
            continue;
        }
        connections.spawn(serve_connection(state.clone(), store.clone(), stream, peer));
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "LMTP connections still open after shutdown; closed"
        );
        connections.shutdown().await;
    }
    drop(store);
    let _ = storing.await;
}

async fn refuse(mut stream: TcpStream, reply: &'static str) {
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(reply.as_bytes())).await;
    let _ = stream.shutdown().await;
}

async fn serve_connection(
    state: Arc<AppState>,
    store: tokio::sync::mpsc::Sender<Store>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let (read, write) = stream.into_split();
    let mut session = Session {
        state,
        store,
        reader: BufReader::with_capacity(16 * 1024, read),
        writer: BufWriter::new(write),
        greeted: false,
        transaction: None,
    };
    if let Err(e) = session.run().await {
        tracing::debug!(%peer, error = %e, "LMTP connection ended");
    }
    let _ = session.writer.flush().await;
    let _ = session.writer.shutdown().await;
}

/// One mail transaction: MAIL FROM, then the recipients.
struct Transaction {
    recipients: usize,
}

struct Session<R, W> {
    state: Arc<AppState>,
    store: tokio::sync::mpsc::Sender<Store>,
    reader: BufReader<R>,
    writer: BufWriter<W>,
    greeted: bool,
    transaction: Option<Transaction>,
}

/// A line read with a cap.
enum Line {
    Complete(Vec<u8>),
    /// Longer than allowed: read and thrown away up to its end.
    TooLong,
    Eof,
}

type IoResult<T> = std::io::Result<T>;

fn timed_out() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the client was silent too long",
    )
}

impl<R, W> Session<R, W>
where
    R: tokio::io::AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    async fn reply(&mut self, text: &str) -> IoResult<()> {
        self.writer.write_all(text.as_bytes()).await?;
        self.writer.write_all(b"\r\n").await
    }

    /// Replies go out once the client's pipelined commands are all read (PIPELINING).
    async fn flush_if_idle(&mut self) -> IoResult<()> {
        if self.reader.buffer().is_empty() {
            self.writer.flush().await?;
        }
        Ok(())
    }

    /// Through the same path as `ingest-email` ([`crate::mail::ingest_raw`]), batched.
    async fn store(&self, raw: Vec<u8>) -> Result<MailOutcome, DbError> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        let prepared = prepare(&self.state, raw, None);
        let stopped = || DbError::Unavailable("the LMTP store has stopped".into());
        self.store
            .send(Store { prepared, done })
            .await
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    async fn run(&mut self) -> IoResult<()> {
        let host = self.state.mail_domain.clone();
        self.reply(&format!("220 {host} LMTP Baylanys ready"))
            .await?;
        self.writer.flush().await?;
        let mut errors = 0;
        loop {
            self.flush_if_idle().await?;
            let line = tokio::select! {
                // Between commands a stopping server says so; a message being stored is not cut.
                _ = self.state.shutdown.cancelled() => {
                    self.reply("421 4.3.2 the server is shutting down, try again later").await?;
                    return Ok(());
                }
                l = tokio::time::timeout(COMMAND_TIMEOUT, read_line(&mut self.reader, MAX_COMMAND_LINE)) => {
                    match l {
                        Ok(l) => l?,
                        Err(_) => {
                            self.reply("421 4.4.2 idle too long, closing").await?;
                            return Ok(());
                        }
                    }
                }
            };
            let line = match line {
                Line::Eof => return Ok(()),
                Line::TooLong => {
                    errors += 1;
                    self.reply("500 5.5.2 command line too long").await?;
                    if errors >= MAX_ERRORS {
                        self.reply("421 4.7.0 too many errors, closing").await?;
                        return Ok(());
                    }
                    continue;
                }
                Line::Complete(l) => l,
            };
            match self.command(&line).await? {
                Step::Next => errors = 0,
                Step::Refused => {
                    errors += 1;
                    if errors >= MAX_ERRORS {
                        self.reply("421 4.7.0 too many errors, closing").await?;
                        return Ok(());
                    }
                }
                Step::Quit => return Ok(()),
            }
        }
    }

    async fn command(&mut self, line: &[u8]) -> IoResult<Step> {
        let text = String::from_utf8_lossy(trim_eol(line));
        let (verb, rest) = match text.split_once(' ') {
            Some((v, r)) => (v.to_ascii_uppercase(), r.trim()),
            None => (text.trim().to_ascii_uppercase(), ""),
        };
        let limit = self.state.config.max_message_bytes;
        match verb.as_str() {
            "LHLO" => {
                if rest.is_empty() {
                    self.reply("501 5.5.4 LHLO needs the client's name").await?;
                    return Ok(Step::Refused);
                }
                self.greeted = true;
                self.transaction = None;
                let host = self.state.mail_domain.clone();
                self.reply(&format!(
                    "250-{host}\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n\
                     250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE {limit}"
                ))
                .await?;
            }
            "HELO" | "EHLO" => {
                self.reply("500 5.5.1 this is LMTP (RFC 2033): say LHLO")
                    .await?;
                return Ok(Step::Refused);
            }
            "MAIL" => {
                if !self.greeted {
                    self.reply("503 5.5.1 say LHLO first").await?;
                    return Ok(Step::Refused);
                }
                if self.transaction.is_some() {
                    self.reply("503 5.5.1 a transaction is already open (RSET first)")
                        .await?;
                    return Ok(Step::Refused);
                }
                let Some(params) = path_after(rest, "FROM:") else {
                    self.reply("501 5.5.4 syntax: MAIL FROM:<address>").await?;
                    return Ok(Step::Refused);
                };
                if let Some(size) = size_param(params)
                    && size > limit
                {
                    self.reply(&format!(
                        "552 5.3.4 the message is larger than {limit} bytes, the most this server accepts"
                    ))
                    .await?;
                    return Ok(Step::Refused);
                }
                self.transaction = Some(Transaction { recipients: 0 });
                self.reply("250 2.1.0 sender ok").await?;
            }
            "RCPT" => {
                let Some(t) = self.transaction.as_mut() else {
                    self.reply("503 5.5.1 MAIL first").await?;
                    return Ok(Step::Refused);
                };
                if path_after(rest, "TO:").is_none() {
                    self.reply("501 5.5.4 syntax: RCPT TO:<address>").await?;
                    return Ok(Step::Refused);
                }
                if t.recipients >= MAX_RECIPIENTS {
                    self.reply("452 4.5.3 too many recipients").await?;
                    return Ok(Step::Next);
                }
                // One support mailbox: every recipient here is it.
                t.recipients += 1;
                self.reply("250 2.1.5 recipient ok").await?;
            }
            "DATA" => {
                let recipients = match &self.transaction {
                    None => {
                        self.reply("503 5.5.1 MAIL and RCPT first").await?;
                        return Ok(Step::Refused);
                    }
                    Some(t) if t.recipients == 0 => {
                        self.reply("503 5.5.1 no valid recipients").await?;
                        return Ok(Step::Refused);
                    }
                    Some(t) => t.recipients,
                };
                self.transaction = None;
                self.reply("354 end data with <CR><LF>.<CR><LF>").await?;
                self.writer.flush().await?;
                let body = read_data(&mut self.reader, limit).await?;
                let verdict = match body {
                    None => format!(
                        "552 5.3.4 the message is larger than {limit} bytes, the most this server \
                         accepts (BAYLANYS_MAX_MESSAGE_BYTES); send the files in smaller messages"
                    ),
                    Some(raw) => match self.store(raw).await {
                        Ok(outcome) => stored(&outcome),
                        Err(e) => {
                            tracing::warn!(error = %e, "LMTP: message not stored, the MTA keeps it");
                            "452 4.3.1 the database is unavailable, try again later".to_string()
                        }
                    },
                };
                // RFC 2033 4.2: one reply per accepted recipient, in order.
                for _ in 0..recipients {
                    self.reply(&verdict).await?;
                }
            }
            "RSET" => {
                self.transaction = None;
                self.reply("250 2.0.0 ok").await?;
            }
            "NOOP" => self.reply("250 2.0.0 ok").await?,
            "VRFY" => self.reply("252 2.5.2 cannot verify").await?,
            "QUIT" => {
                self.reply("221 2.0.0 bye").await?;
                return Ok(Step::Quit);
            }
            "BDAT" | "STARTTLS" | "AUTH" => {
                self.reply("502 5.5.1 not offered here").await?;
                return Ok(Step::Refused);
            }
            _ => {
                self.reply("500 5.5.2 unknown command").await?;
                return Ok(Step::Refused);
            }
        }
        Ok(Step::Next)
    }
}

enum Step {
    Next,
    Refused,
    Quit,
}

fn stored(outcome: &MailOutcome) -> String {
    match outcome.number() {
        Some(n) => format!("250 2.0.0 stored: {} {n}", outcome.name()),
        None => format!("250 2.0.0 stored: {}", outcome.name()),
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The parameters after `FROM:<path>` / `TO:<path>`, or `None` when there is no path.
fn path_after<'a>(rest: &'a str, keyword: &str) -> Option<&'a str> {
    let head = rest.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[end + 1..].trim())
}

/// `SIZE=n` among the MAIL parameters (RFC 1870).
fn size_param(params: &str) -> Option<u64> {
    params.split_ascii_whitespace().find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.eq_ignore_ascii_case("SIZE")
            .then(|| v.parse().ok())
            .flatten()
    })
}

/// Reads one line up to LF, at most `cap` bytes kept; a longer one is read to its end.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, cap: usize) -> IoResult<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::Eof);
        }
        let (take, done) = match memchr(buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !too_long {
            if line.len() + take > cap {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(&buf[..take]);
            }
        }
        reader.consume(take);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete(line)
            });
        }
    }
}

fn memchr(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

/// The message up to the lone `.` line, dot-unstuffed (RFC 5321 4.5.2), or `None` when
/// it is over `limit` bytes: then the rest is read and thrown away, so the connection
/// stays usable and memory holds no more than the limit.
async fn read_data<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: u64,
) -> IoResult<Option<Vec<u8>>> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut raw = Vec::new();
    let mut over = false;
    let mut line_start = true;
    let mut piece = Vec::with_capacity(1024);
    loop {
        // A piece is a whole line, or 64 KiB of a longer one: the start of a line is
        // always whole in it, however the client's writes were cut.
        piece.clear();
        let ends_line = tokio::time::timeout(DATA_TIMEOUT, read_piece(reader, &mut piece))
            .await
            .map_err(|_| timed_out())??;
        let mut bytes = &piece[..];
        if line_start && bytes.first() == Some(&b'.') {
            if ends_line && trim_eol(bytes) == b"." {
                return Ok((!over).then_some(raw));
            }
            bytes = &bytes[1..];
        }
        if !over {
            if raw.len() + bytes.len() > limit {
                over = true;
                raw = Vec::new();
            } else {
                raw.extend_from_slice(bytes);
            }
        }
        line_start = ends_line;
    }
}

const PIECE: usize = 64 * 1024;

/// Appends bytes up to and with the next LF, or [`PIECE`] bytes; true when a LF ended it.
async fn read_piece<R: AsyncBufRead + Unpin>(reader: &mut R, out: &mut Vec<u8>) -> IoResult<bool> {
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the client left in the middle of DATA",
            ));
        }
        let room = PIECE - out.len();
        let (take, done) = match memchr(&buf[..buf.len().min(room)]) {
            Some(i) => (i + 1, true),
            None => (buf.len().min(room), false),
        };
        out.extend_from_slice(&buf[..take]);
        reader.consume(take);
        if done || out.len() >= PIECE {
            return Ok(done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn data(input: &[u8], limit: u64) -> IoResult<Option<Vec<u8>>> {
        let mut r = BufReader::new(input);
        read_data(&mut r, limit).await
    }

    #[tokio::test]
    async fn data_is_dot_unstuffed_and_ends_at_the_lone_dot() {
        let got = data(b"Subject: a\r\n\r\n..b\r\n.\r\nQUIT\r\n", 100)
            .await
            .unwrap();
        assert_eq!(got.unwrap(), b"Subject: a\r\n\r\n.b\r\n");
        // Bare LF line ends are taken too.
        let got = data(b"x\n.\n", 100).await.unwrap();
        assert_eq!(got.unwrap(), b"x\n");
    }

    #[tokio::test]
    async fn data_over_the_limit_is_read_to_its_end_and_refused() {
        let mut input = vec![b'a'; 500];
        input.extend_from_slice(b"\r\n.\r\n");
        assert_eq!(data(&input, 100).await.unwrap(), None);
        assert!(data(b"no end", 100).await.is_err());
    }

    #[test]
    fn only_loopback_and_configured_clients_may_deliver() {
        let mail: IpAddr = "10.0.0.5".parse().unwrap();
        assert!(allowed("127.0.0.1".parse().unwrap(), &[]));
        assert!(allowed("::1".parse().unwrap(), &[]));
        assert!(allowed("::ffff:127.0.0.1".parse().unwrap(), &[]));
        assert!(!allowed(mail, &[]));
        assert!(allowed(mail, &[mail]));
    }

    #[test]
    fn mail_parameters_are_read() {
        assert_eq!(
            path_after("FROM:<a@b.kz> SIZE=10", "FROM:"),
            Some("SIZE=10")
        );
        assert_eq!(path_after("from: <>", "FROM:"), Some(""));
        assert_eq!(path_after("TO:a@b", "TO:"), None);
        assert_eq!(size_param("BODY=8BITMIME SIZE=42"), Some(42));
    }
}
