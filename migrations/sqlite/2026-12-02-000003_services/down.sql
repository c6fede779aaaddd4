DROP INDEX contacts_body;
DROP TABLE body_digests;
DROP TABLE ticket_services;
DROP TABLE service_steps;
DROP TABLE services;
