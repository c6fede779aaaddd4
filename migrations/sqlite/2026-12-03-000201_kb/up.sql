-- Search (R6) and the Knowledge Base (R6, R9). Texts are normalised in Rust (src/search:
-- lower case, ё -> е, Kazakh endings stripped, Russian Snowball) into space-separated
-- terms; this engine indexes them with FTS5 (the `ascii` tokenizer splits exactly at the
-- spaces), PostgreSQL with a `simple` tsvector. Rows of existing tickets, articles and
-- service passports are indexed by the server at start (Rust does the normalising).

-- The vocabulary of indexed words (five letters or more) with their terms, and their
-- padded trigrams: a query word with a typo is matched to a known word by trigrams and
-- edit distance. `scope` is `tickets` or `kb`.
CREATE TABLE search_vocab (
    scope TEXT NOT NULL,
    word TEXT NOT NULL,
    terms TEXT NOT NULL,
    PRIMARY KEY (scope, word)
) WITHOUT ROWID;
CREATE TABLE search_trigrams (
    scope TEXT NOT NULL,
    trigram TEXT NOT NULL,
    len INTEGER NOT NULL,
    word TEXT NOT NULL,
    PRIMARY KEY (scope, trigram, len, word)
) WITHOUT ROWID;

-- One row per ticket: the distinct terms of its text and of its follow-ups. `doc`
-- follows the ticket id's time order, so a search reads the newest first.
CREATE TABLE ticket_search (
    doc INTEGER PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL UNIQUE,
    terms TEXT NOT NULL
);
CREATE VIRTUAL TABLE ticket_fts USING fts5(
    terms, content='ticket_search', content_rowid='doc', tokenize='ascii',
    detail='none', columnsize=0
);
CREATE TRIGGER ticket_search_ai AFTER INSERT ON ticket_search BEGIN
    INSERT INTO ticket_fts (rowid, terms) VALUES (new.doc, new.terms);
END;
CREATE TRIGGER ticket_search_ad AFTER DELETE ON ticket_search BEGIN
    INSERT INTO ticket_fts (ticket_fts, rowid, terms) VALUES ('delete', old.doc, old.terms);
END;
CREATE TRIGGER ticket_search_au AFTER UPDATE ON ticket_search BEGIN
    INSERT INTO ticket_fts (ticket_fts, rowid, terms) VALUES ('delete', old.doc, old.terms);
    INSERT INTO ticket_fts (rowid, terms) VALUES (new.doc, new.terms);
END;

-- Knowledge Base articles: the head version's fields, and which version is published.
CREATE TABLE kb_articles (
    id TEXT PRIMARY KEY NOT NULL,
    -- kk | ru
    language TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    -- JSON array of tags.
    tags TEXT NOT NULL DEFAULT '[]',
    service_id TEXT REFERENCES services (id),
    body_id TEXT REFERENCES bodies (id),
    version INTEGER NOT NULL,
    published_version INTEGER,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL,
    published_at TIMESTAMP,
    published_by TEXT
);
CREATE INDEX kb_articles_service ON kb_articles (service_id);
CREATE INDEX kb_articles_updated ON kb_articles (updated_at);

-- Every version of every article: who changed what (the fields, as a JSON array), when.
CREATE TABLE kb_versions (
    article_id TEXT NOT NULL REFERENCES kb_articles (id),
    version INTEGER NOT NULL,
    language TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tags TEXT NOT NULL,
    service_id TEXT,
    body_id TEXT,
    changed TEXT NOT NULL,
    note TEXT,
    author TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    PRIMARY KEY (article_id, version)
);

-- What the Knowledge Base search reads: the published text and the draft of each
-- article, and each active service's passport in each language.
CREATE TABLE kb_search (
    doc INTEGER PRIMARY KEY NOT NULL,
    -- article | passport
    source TEXT NOT NULL,
    -- The article's or the service's id.
    ref_id TEXT NOT NULL,
    -- published | draft
    state TEXT NOT NULL,
    language TEXT NOT NULL,
    service_id TEXT,
    body_id TEXT,
    version INTEGER NOT NULL,
    title_terms TEXT NOT NULL,
    body_terms TEXT NOT NULL
);
CREATE UNIQUE INDEX kb_search_ref ON kb_search (source, ref_id, state, language);
CREATE INDEX kb_search_service ON kb_search (service_id);
CREATE VIRTUAL TABLE kb_fts USING fts5(
    title_terms, body_terms, content='kb_search', content_rowid='doc', tokenize='ascii'
);
CREATE TRIGGER kb_search_ai AFTER INSERT ON kb_search BEGIN
    INSERT INTO kb_fts (rowid, title_terms, body_terms)
    VALUES (new.doc, new.title_terms, new.body_terms);
END;
CREATE TRIGGER kb_search_ad AFTER DELETE ON kb_search BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, title_terms, body_terms)
    VALUES ('delete', old.doc, old.title_terms, old.body_terms);
END;
CREATE TRIGGER kb_search_au AFTER UPDATE ON kb_search BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, title_terms, body_terms)
    VALUES ('delete', old.doc, old.title_terms, old.body_terms);
    INSERT INTO kb_fts (rowid, title_terms, body_terms)
    VALUES (new.doc, new.title_terms, new.body_terms);
END;
