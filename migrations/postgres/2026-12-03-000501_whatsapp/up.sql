-- WhatsApp message ids (wamid), claimed with insert-or-skip: the primary key decides
-- which of several overlapping copies of a webhook acts on a message.
CREATE TABLE whatsapp_messages (
    message_id TEXT PRIMARY KEY NOT NULL,
    handled_at TIMESTAMP NOT NULL
);
CREATE INDEX whatsapp_messages_handled ON whatsapp_messages (handled_at);
-- Our sent messages by the id WhatsApp gave them, with the latest status it reported;
-- a status may come before the send is recorded, so either side may write first.
CREATE TABLE whatsapp_sent (
    remote_id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT,
    status TEXT,
    status_rank INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX whatsapp_sent_message ON whatsapp_sent (message_id);
ALTER TABLE contacts ADD COLUMN whatsapp_id TEXT;
CREATE UNIQUE INDEX contacts_whatsapp ON contacts (whatsapp_id) WHERE whatsapp_id IS NOT NULL;
