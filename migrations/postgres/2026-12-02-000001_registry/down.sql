ALTER TABLE contacts DROP COLUMN body_id;
ALTER TABLE users DROP COLUMN body_id;
DROP TABLE body_systems;
DROP TABLE systems;
DROP TABLE body_persons;
DROP TABLE bodies;
