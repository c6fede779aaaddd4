//! Broadcasts one reply to 1,000 chats through the fake Bot API with the adapter's
//! default pacing (30/s overall, 1/s per chat), the fake answering 429 to anything
//! faster, and prints what the fake observed.
//!
//! `cargo run -p baylanys-telegram --example broadcast_bench [chats]`

use std::sync::Arc;
use std::time::Instant;

use baylanys_core::{Channel, ChannelAdapter, Language, OutboundKind, OutboundMessage, SendError};
use baylanys_telegram::TelegramAdapter;
use baylanys_telegram::fake_api::FakeBotApi;

#[tokio::main]
async fn main() {
    let chats: i64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let fake = FakeBotApi::start();
    // Telegram's published limits, enforced by the fake: a 429 means we went too fast.
    fake.enforce_limits(30, 1);
    let config = fake.config();
    let adapter = Arc::new(TelegramAdapter::from_config(&config));

    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..chats {
        let adapter = adapter.clone();
        tasks.push(tokio::spawn(async move {
            let message = OutboundMessage {
                channel: Channel::Telegram,
                kind: OutboundKind::Notice,
                recipient: (1_000_000 + i).to_string(),
                ticket_number: None,
                language: Language::Kk,
                subject: None,
                body_text: "Жоспарлы техникалық жұмыстар: 02:00-04:00 аралығында портал \
                            қолжетімсіз болады. / Плановые работы: с 02:00 до 04:00 портал \
                            будет недоступен."
                    .into(),
                body_html: None,
                attachments: Vec::new(),
                message_id: None,
                references: Vec::new(),
                last_inbound_at: None,
            };
            adapter.send(&message).await
        }));
    }
    let (mut delivered, mut temporary, mut permanent) = (0, 0, 0);
    for task in tasks {
        match task.await {
            Ok(Ok(_)) => delivered += 1,
            Ok(Err(SendError::Temporary { .. })) => temporary += 1,
            Ok(Err(SendError::Permanent { .. })) | Err(_) => permanent += 1,
        }
    }
    let elapsed = start.elapsed();
    let stats = fake.rate_stats();
    println!("chats:                     {chats}");
    println!(
        "delivered:                 {delivered} (temporary failures {temporary}, permanent {permanent})"
    );
    println!("elapsed:                   {:.2} s", elapsed.as_secs_f64());
    println!(
        "messages/s:                {:.1}",
        f64::from(delivered) / elapsed.as_secs_f64()
    );
    println!("max global per 1 s window: {}", stats.max_global_per_sec);
    println!("max per chat per 1 s:      {}", stats.max_per_chat_per_sec);
    println!("429 answers:               {}", stats.too_many_requests);
}
