DROP TABLE discrepancies;
DROP TABLE report_deliveries;
DROP TABLE report_runs;
DROP TABLE ticket_classifications;
DROP TABLE report_choices;
DROP TABLE ratings;
DROP TABLE rating_requests;
