DROP TABLE quality_notices;
DROP TABLE forward_messages;
DROP TABLE forward_deliveries;
DROP TABLE forwards;
