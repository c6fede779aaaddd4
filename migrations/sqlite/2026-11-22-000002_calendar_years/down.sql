DROP TABLE calendar_years;
