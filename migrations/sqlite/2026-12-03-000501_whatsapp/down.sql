DROP INDEX contacts_whatsapp;
ALTER TABLE contacts DROP COLUMN whatsapp_id;
DROP TABLE whatsapp_sent;
DROP TABLE whatsapp_messages;
