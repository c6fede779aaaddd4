DROP TABLE staff_notices;
ALTER TABLE users DROP COLUMN telegram_chat_id;
ALTER TABLE users DROP COLUMN email;
DROP TABLE queues;
