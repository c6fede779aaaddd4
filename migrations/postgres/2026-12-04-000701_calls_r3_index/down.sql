CREATE INDEX calls_day ON calls (local_day);
DROP INDEX calls_r3;
