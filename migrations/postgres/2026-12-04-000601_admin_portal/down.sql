ALTER TABLE queues DROP COLUMN active;
ALTER TABLE users DROP COLUMN last_sign_in_at;
