-- Search (R6) and the Knowledge Base (R6, R9). Texts are normalised in Rust (src/search:
-- lower case, ё -> е, Kazakh endings stripped, Russian Snowball) into space-separated
-- terms; this engine indexes them as a `simple` tsvector with a GIN index, SQLite with
-- FTS5. Rows of existing tickets, articles and service passports are indexed by the
-- server at start (Rust does the normalising).

-- The vocabulary of indexed words (five letters or more) with their terms, and their
-- padded trigrams: a query word with a typo is matched to a known word by trigrams and
-- edit distance. `scope` is `tickets` or `kb`.
CREATE TABLE search_vocab (
    scope TEXT NOT NULL,
    word TEXT NOT NULL,
    terms TEXT NOT NULL,
    PRIMARY KEY (scope, word)
);
CREATE TABLE search_trigrams (
    scope TEXT NOT NULL,
    trigram TEXT NOT NULL,
    len INTEGER NOT NULL,
    word TEXT NOT NULL,
    PRIMARY KEY (scope, trigram, len, word)
);

-- One row per ticket: the distinct terms of its text and of its follow-ups. `doc`
-- follows the ticket id's time order, so a search reads the newest first.
CREATE TABLE ticket_search (
    doc BIGINT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL UNIQUE,
    terms TEXT NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', terms)) STORED
);
CREATE INDEX ticket_search_tsv ON ticket_search USING GIN (tsv);

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
-- article, and each active service's passport in each language. Titles weigh more.
CREATE TABLE kb_search (
    doc BIGSERIAL PRIMARY KEY,
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
    body_terms TEXT NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title_terms), 'A')
        || setweight(to_tsvector('simple', body_terms), 'D')
    ) STORED
);
CREATE UNIQUE INDEX kb_search_ref ON kb_search (source, ref_id, state, language);
CREATE INDEX kb_search_service ON kb_search (service_id);
CREATE INDEX kb_search_tsv ON kb_search USING GIN (tsv);
