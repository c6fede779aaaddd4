//! The IMAP follower against a real Dovecot: backfill, checkpoints, IDLE, downtime,
//! UIDVALIDITY change, and `\Seen` left alone.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use baylanys_email::imap::{Checkpoint, FetchedMail, ImapConfig, ImapInbox, InboxSink, SinkError};
use baylanys_email::{ParseConfig, ParsedEmail, parse};
use futures_util::TryStreamExt;

use crate::support::{Dovecot, IMAP_PASSWORD, IMAP_USER};

/// Stands in for the server's database.
#[derive(Default)]
struct MemorySink {
    checkpoint: Mutex<Option<Checkpoint>>,
    mails: Mutex<Vec<FetchedMail>>,
}

impl MemorySink {
    fn subjects(&self) -> Vec<String> {
        let mails = self.mails.lock().expect("lock");
        mails
            .iter()
            .map(|m| match parse(&m.raw, &ParseConfig::default()) {
                Ok(ParsedEmail::Message(e)) => e.inbound.subject.unwrap_or_default(),
                other => panic!("fetched mail did not parse: {other:?}"),
            })
            .collect()
    }
    fn uids(&self) -> Vec<u32> {
        self.mails
            .lock()
            .expect("lock")
            .iter()
            .map(|m| m.uid)
            .collect()
    }
    fn checkpoint(&self) -> Option<Checkpoint> {
        *self.checkpoint.lock().expect("lock")
    }
    async fn wait_for(&self, count: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        while self.mails.lock().expect("lock").len() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.subjects()
    }
}

impl InboxSink for MemorySink {
    async fn load_checkpoint(&self) -> Result<Option<Checkpoint>, SinkError> {
        Ok(self.checkpoint())
    }
    async fn deliver(&self, mail: FetchedMail) -> Result<(), SinkError> {
        self.mails.lock().expect("lock").push(mail);
        Ok(())
    }
    async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), SinkError> {
        *self.checkpoint.lock().expect("lock") = Some(checkpoint);
        Ok(())
    }
}

fn mail(subject: &str) -> Vec<u8> {
    format!(
        "From: Иван <ivan@example.kz>\r\nTo: support@goscorp.kz\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.kz>\r\nDate: Mon, 09 Mar 2026 10:00:00 +0500\r\n\r\nТекст {subject}\r\n"
    )
    .into_bytes()
}

fn inbox(dovecot: &Dovecot, query: &str) -> ImapInbox {
    ImapInbox::new(ImapConfig::from_url(&dovecot.url(query)).expect("valid URL"))
}

/// UIDs with `\Seen`, asked of Dovecot over a separate connection.
async fn seen_uids(port: u16) -> Vec<u32> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    let mut session = client
        .login(IMAP_USER, IMAP_PASSWORD)
        .await
        .map_err(|(e, _)| e)
        .expect("login");
    session.examine("INBOX").await.expect("examine");
    let mut seen: Vec<u32> = session
        .uid_search("SEEN")
        .await
        .expect("search")
        .into_iter()
        .collect();
    // Cross-check the flags themselves, not just the search.
    let fetched: Vec<_> = session
        .uid_fetch("1:*", "FLAGS")
        .await
        .expect("fetch flags")
        .try_collect()
        .await
        .expect("flags");
    for f in &fetched {
        if f.flags().any(|fl| fl == async_imap::types::Flag::Seen) {
            seen.extend(f.uid);
        }
    }
    let _ = session.logout().await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_everything_then_only_new_mail_and_never_marks_seen() {
    let dovecot = tokio::task::spawn_blocking(Dovecot::start)
        .await
        .expect("start dovecot");
    for s in ["first", "second", "third"] {
        dovecot.deliver(&mail(s));
    }
    let sink = MemorySink::default();
    let inbox = inbox(&dovecot, "");

    let cp = inbox.sync_once(&sink).await.expect("first pass");
    assert_eq!(sink.uids(), vec![1, 2, 3], "all mail, in UID order");
    let mut subjects = sink.subjects();
    subjects.sort();
    assert_eq!(subjects, ["first", "second", "third"]);
    assert_eq!(cp.last_uid, 3);
    assert_ne!(cp.uid_validity, 0);
    assert_eq!(sink.checkpoint(), Some(cp));
    assert!(
        sink.mails
            .lock()
            .expect("lock")
            .iter()
            .all(|m| m.internal_date.is_some())
    );

    assert_eq!(
        inbox.sync_once(&sink).await.expect("second pass"),
        cp,
        "nothing new"
    );
    assert_eq!(sink.uids().len(), 3);

    dovecot.deliver(&mail("fourth"));
    let cp = inbox.sync_once(&sink).await.expect("third pass");
    assert_eq!(cp.last_uid, 4);
    assert_eq!(sink.subjects().last().map(String::as_str), Some("fourth"));

    assert!(seen_uids(dovecot.port).await.is_empty(), "we set \\Seen");
    let files = dovecot.maildir_files();
    assert_eq!(files.len(), 4);
    assert!(
        files.iter().all(|f| f
            .split_once(":2,")
            .is_none_or(|(_, flags)| !flags.contains('S'))),
        "{files:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_picks_up_new_mail_and_downtime_is_backfilled() {
    let mut dovecot = tokio::task::spawn_blocking(Dovecot::start)
        .await
        .expect("start dovecot");
    dovecot.deliver(&mail("before"));
    // A long IDLE timeout: only the server's announcement can wake us within the test.
    let inbox = inbox(
        &dovecot,
        "?idle_timeout=120&backoff_min=0.2&backoff_max=0.5",
    );
    let sink = std::sync::Arc::new(MemorySink::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = {
        let sink = sink.clone();
        tokio::spawn(async move {
            inbox
                .run(&*sink, async {
                    let _ = stopped.await;
                })
                .await;
        })
    };

    assert_eq!(sink.wait_for(1, Duration::from_secs(10)).await, ["before"]);
    // Let the follower settle into IDLE before the next message arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    dovecot.deliver(&mail("during-idle"));
    assert_eq!(
        sink.wait_for(2, Duration::from_secs(10)).await,
        ["before", "during-idle"],
        "IDLE did not report the new message"
    );

    tokio::task::block_in_place(|| dovecot.stop());
    dovecot.deliver(&mail("while-down-1"));
    dovecot.deliver(&mail("while-down-2"));
    tokio::time::sleep(Duration::from_millis(700)).await; // a few failed reconnects
    tokio::task::block_in_place(|| dovecot.start_again());

    let mut subjects = sink.wait_for(4, Duration::from_secs(15)).await;
    subjects[2..].sort();
    assert_eq!(
        subjects,
        ["before", "during-idle", "while-down-1", "while-down-2"]
    );
    assert_eq!(sink.uids(), vec![1, 2, 3, 4]);
    assert_eq!(sink.checkpoint().map(|c| c.last_uid), Some(4));

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), runner)
        .await
        .expect("run() returns on shutdown")
        .expect("runner task");
    assert!(seen_uids(dovecot.port).await.is_empty(), "we set \\Seen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uidvalidity_change_rereads_the_mailbox() {
    let mut dovecot = tokio::task::spawn_blocking(Dovecot::start)
        .await
        .expect("start dovecot");
    dovecot.deliver(&mail("old-1"));
    dovecot.deliver(&mail("old-2"));
    let sink = MemorySink::default();
    let inbox = inbox(&dovecot, "");
    let before = inbox.sync_once(&sink).await.expect("first pass");
    assert_eq!(before.last_uid, 2);

    tokio::task::block_in_place(|| dovecot.recreate_mailbox());
    dovecot.deliver(&mail("new-1"));
    dovecot.deliver(&mail("new-2"));

    let after = inbox.sync_once(&sink).await.expect("pass after recreation");
    assert_ne!(after.uid_validity, before.uid_validity);
    assert_eq!(after.last_uid, 2);
    let mut subjects = sink.subjects();
    subjects[2..].sort();
    assert_eq!(
        subjects,
        ["old-1", "old-2", "new-1", "new-2"],
        "UIDs 1..2 again, but new mail"
    );
}

#[tokio::test]
async fn wrong_password_is_a_login_error() {
    let dovecot = tokio::task::spawn_blocking(Dovecot::start)
        .await
        .expect("start dovecot");
    let url = dovecot.url("").replace(IMAP_PASSWORD, "wrong");
    let inbox = ImapInbox::new(ImapConfig::from_url(&url).expect("valid URL"));
    let err = inbox
        .sync_once(&MemorySink::default())
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, baylanys_email::imap::ImapError::Login { .. }),
        "{err}"
    );
}
