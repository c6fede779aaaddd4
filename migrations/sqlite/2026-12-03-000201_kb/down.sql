DROP TABLE kb_fts;
DROP TABLE kb_search;
DROP TABLE kb_versions;
DROP TABLE kb_articles;
DROP TABLE ticket_fts;
DROP TABLE ticket_search;
DROP TABLE search_trigrams;
DROP TABLE search_vocab;
