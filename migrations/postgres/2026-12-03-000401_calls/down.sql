DROP TABLE record_request_items;
DROP TABLE record_requests;
DROP TABLE call_access;
DROP TABLE call_recordings;
DROP TABLE calls;
