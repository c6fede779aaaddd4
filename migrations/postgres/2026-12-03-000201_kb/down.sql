DROP TABLE kb_search;
DROP TABLE kb_versions;
DROP TABLE kb_articles;
DROP TABLE ticket_search;
DROP TABLE search_trigrams;
DROP TABLE search_vocab;
