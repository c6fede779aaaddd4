-- Years whose movable days (Kurban Ait, decree transfers) an administrator confirmed.
CREATE TABLE calendar_years (
    year INTEGER PRIMARY KEY NOT NULL,
    note TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TIMESTAMP NOT NULL
);
