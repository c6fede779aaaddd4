DROP TABLE telegram_link_codes;
DROP TABLE outage_deliveries;
DROP TABLE outage_notices;
DROP TABLE outages;
