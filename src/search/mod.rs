//! Text normalisation for search, done once here for both backends (R6): words are
//! lower-cased, `ё` is `е`, Kazakh endings are stripped ([`kazakh`]) and the result goes
//! through Russian Snowball (rust-stemmers). Index and query use the same functions,
//! so `справки несудимость` finds `справку о несудимости` and `анықтамалары` finds
//! `анықтамасын` on SQLite (FTS5) and PostgreSQL (`tsvector`, `simple` configuration)
//! alike. Typos are matched against a vocabulary of indexed words ([`vocab`]).
//!
//! A normalised text is space-separated terms of letters and digits only, so it reads
//! the same through FTS5's `ascii` tokenizer and PostgreSQL's parser, and a query built
//! from terms cannot carry FTS or tsquery syntax from the user.

pub mod kazakh;
pub mod tickets;
pub mod vocab;

use std::collections::HashSet;
use std::sync::OnceLock;

/// Letters kept of one word (longer words are cut: nobody types more).
pub const MAX_WORD_CHARS: usize = 64;
/// Words of a query that are searched (the rest are ignored).
pub const MAX_QUERY_WORDS: usize = 20;

/// Words that say nothing about what a text is about (Russian and Kazakh).
const STOP_WORDS: &[&str] = &[
    // Russian
    "и",
    "в",
    "во",
    "не",
    "что",
    "он",
    "на",
    "я",
    "с",
    "со",
    "как",
    "а",
    "то",
    "все",
    "она",
    "так",
    "его",
    "но",
    "ты",
    "к",
    "у",
    "же",
    "вы",
    "за",
    "бы",
    "по",
    "ее",
    "мне",
    "от",
    "меня",
    "о",
    "об",
    "обо",
    "из",
    "ему",
    "ли",
    "или",
    "ни",
    "до",
    "вас",
    "вам",
    "там",
    "для",
    "мы",
    "их",
    "чем",
    "без",
    "под",
    "при",
    "про",
    "над",
    "через",
    "это",
    "этот",
    "эта",
    "эти",
    "тот",
    "та",
    "те",
    "мой",
    "моя",
    "мое",
    "мои",
    "ваш",
    "ваша",
    "ваше",
    "ваши",
    "наш",
    "который",
    "которая",
    "которое",
    "которые",
    "также",
    "тоже",
    "уже",
    "еще",
    "лишь",
    "где",
    "чтобы",
    "если",
    "то",
    "ж",
    "бы",
    // Kazakh
    "және",
    "мен",
    "бен",
    "пен",
    "да",
    "де",
    "та",
    "те",
    "ма",
    "ме",
    "ба",
    "бе",
    "па",
    "пе",
    "бұл",
    "ол",
    "сол",
    "осы",
    "үшін",
    "туралы",
    "әлде",
    "немесе",
    "ал",
    "бірақ",
    "сіз",
    "біз",
    "сен",
    "оның",
    "менің",
    "сізге",
    "маған",
];

fn stop_words() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| STOP_WORDS.iter().copied().collect())
}

fn russian() -> &'static rust_stemmers::Stemmer {
    static S: OnceLock<rust_stemmers::Stemmer> = OnceLock::new();
    S.get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::Russian))
}

/// Characters that sit inside words without splitting them (soft hyphen, zero-width).
fn ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

fn combining(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
}

/// One word of a text: where it is (bytes) and its lower-cased form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub start: usize,
    pub end: usize,
    pub surface: String,
}

/// The words of a text: runs of letters and digits, lower-cased, `ё` as `е`, a
/// decomposed `й` composed, other accents dropped.
pub fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let (mut start, mut surface, mut letters, mut open) = (0, String::new(), 0, false);
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            if !open {
                (open, start, letters) = (true, i, 0);
            }
            if letters < MAX_WORD_CHARS {
                for l in c.to_lowercase() {
                    surface.push(if l == 'ё' { 'е' } else { l });
                }
                letters += 1;
            }
        } else if open && (combining(c) || ignorable(c)) {
            // A breve after и is й; other accents (the umlaut of a decomposed ё) go.
            if c == '\u{0306}' && surface.ends_with('и') {
                surface.pop();
                surface.push('й');
            }
        } else if open {
            open = false;
            out.push(Word {
                start,
                end: i,
                surface: std::mem::take(&mut surface),
            });
        }
    }
    if open {
        out.push(Word {
            start,
            end: text.len(),
            surface,
        });
    }
    out
}

fn is_cyrillic_word(w: &str) -> bool {
    w.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c))
}

/// The index terms of one lower-cased word: none for a stop word or a lone letter; for
/// Cyrillic, the Russian stem of each Kazakh stem (and of the word itself when it has no
/// Kazakh letter, so Russian words and Kazakh words written without Kazakh letters both
/// meet their other forms); other scripts as they are.
pub fn word_terms(surface: &str) -> Vec<String> {
    if surface.is_empty() || stop_words().contains(surface) {
        return Vec::new();
    }
    let mut chars = surface.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && !c.is_numeric()
    {
        return Vec::new();
    }
    if !is_cyrillic_word(surface) {
        return vec![surface.to_string()];
    }
    let ru = russian();
    let mut out: Vec<String> = Vec::new();
    let mut add = |t: String| {
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    };
    for k in kazakh::stems(surface) {
        add(ru.stem(&k).into_owned());
    }
    if !kazakh::has_kazakh_letter(surface) {
        add(ru.stem(surface).into_owned());
    }
    out
}

/// A text as index terms, in order, space-separated (what the full-text column holds).
pub fn normalise(text: &str) -> String {
    let mut out = String::new();
    for w in words(text) {
        for t in word_terms(&w.surface) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&t);
        }
    }
    out
}

/// The distinct terms of texts, first occurrence first.
pub fn term_set<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for text in texts {
        for w in words(text) {
            for t in word_terms(&w.surface) {
                if seen.insert(t.clone()) {
                    out.push(t);
                }
            }
        }
    }
    out
}

/// One word of a query: what was typed (lower-cased) and the terms that find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWord {
    pub surface: String,
    pub terms: Vec<String>,
    /// Terms added for a likely typo (from the vocabulary).
    pub fuzzy: Vec<String>,
}

impl QueryWord {
    pub fn all_terms(&self) -> impl Iterator<Item = &String> {
        self.terms.iter().chain(self.fuzzy.iter())
    }
}

/// What a search looks for: every word (one of its terms) must be in a text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub words: Vec<QueryWord>,
}

impl Query {
    /// The searchable words of `q`: stop words, lone letters and punctuation drop out;
    /// at most [`MAX_QUERY_WORDS`], repeats once.
    pub fn parse(q: &str) -> Query {
        let mut words: Vec<QueryWord> = Vec::new();
        for w in self::words(q) {
            let terms = word_terms(&w.surface);
            if terms.is_empty() || words.iter().any(|x| x.surface == w.surface) {
                continue;
            }
            words.push(QueryWord {
                surface: w.surface,
                terms,
                fuzzy: Vec::new(),
            });
            if words.len() == MAX_QUERY_WORDS {
                break;
            }
        }
        Query { words }
    }

    /// Nothing to search for.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Every term of the query, for highlighting.
    pub fn term_set(&self) -> HashSet<String> {
        self.words
            .iter()
            .flat_map(|w| w.all_terms().cloned())
            .collect()
    }

    /// The FTS5 MATCH expression: `("a" OR "b") AND ("c")`.
    pub fn fts5(&self) -> String {
        self.words
            .iter()
            .map(|w| {
                let alts: Vec<String> = w.all_terms().map(|t| format!("\"{t}\"")).collect();
                format!("({})", alts.join(" OR "))
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The tsquery text for `to_tsquery('simple', ...)`: `('a' | 'b') & ('c')`.
    pub fn tsquery(&self) -> String {
        self.words
            .iter()
            .map(|w| {
                let alts: Vec<String> = w.all_terms().map(|t| format!("'{t}'")).collect();
                format!("({})", alts.join(" | "))
            })
            .collect::<Vec<_>>()
            .join(" & ")
    }
}

/// Where `q`'s terms are in `text`: the byte ranges of the matching words.
pub fn matches(text: &str, terms: &HashSet<String>) -> Vec<(usize, usize)> {
    // A term is its word's beginning but for its last letter (a stem, perhaps unvoiced),
    // so only words that start so are normalised, each once.
    let heads: Vec<&str> = terms
        .iter()
        .map(|t| t.char_indices().last().map_or("", |(i, _)| &t[..i]))
        .collect();
    let mut seen: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    words(text)
        .into_iter()
        .filter(|w| {
            if !heads.iter().any(|h| w.surface.starts_with(h)) {
                return false;
            }
            *seen
                .entry(w.surface.clone())
                .or_insert_with(|| word_terms(&w.surface).iter().any(|t| terms.contains(t)))
        })
        .map(|w| (w.start, w.end))
        .collect()
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `text` HTML-escaped with each matching word in `<mark>`.
pub fn highlight(text: &str, terms: &HashSet<String>) -> String {
    mark(text, &matches(text, terms), 0, text.len())
}

fn mark(text: &str, ranges: &[(usize, usize)], from: usize, to: usize) -> String {
    let mut out = String::new();
    let mut at = from;
    for &(s, e) in ranges.iter().filter(|(s, e)| *s >= from && *e <= to) {
        escape_into(&mut out, &text[at..s]);
        out.push_str("<mark>");
        escape_into(&mut out, &text[s..e]);
        out.push_str("</mark>");
        at = e;
    }
    escape_into(&mut out, &text[at..to]);
    out
}

/// A passage of about `chars` characters of `text` around the most matching words,
/// HTML-escaped with them in `<mark>` (and `…` where text was cut).
pub fn snippet(text: &str, terms: &HashSet<String>, chars: usize) -> String {
    let ranges = matches(text, terms);
    let total = text.chars().count();
    if total <= chars {
        return mark(text, &ranges, 0, text.len());
    }
    // The window (in bytes) starting at a match that holds the most matches.
    let budget = chars * 2; // Cyrillic is two bytes a letter: a rough byte budget.
    let mut best = (0usize, 0usize);
    for (i, &(s, _)) in ranges.iter().enumerate() {
        let n = ranges[i..]
            .iter()
            .take_while(|(_, e)| *e <= s + budget)
            .count();
        if n > best.1 {
            best = (s, n);
        }
    }
    let boundary = |mut i: usize| {
        while i < text.len() && !text.is_char_boundary(i) {
            i += 1;
        }
        i.min(text.len())
    };
    // Start a little before the first match, at a word start.
    let mut from = boundary(best.0.saturating_sub(budget / 6));
    if from > 0 {
        from = text[from..]
            .find(char::is_whitespace)
            .map_or(from, |p| boundary(from + p + 1))
            .min(best.0);
    }
    let mut to = boundary((from + budget).min(text.len()));
    if to < text.len() {
        to = text[..to]
            .rfind(char::is_whitespace)
            .filter(|p| *p > from)
            .unwrap_or(to);
    }
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    out.push_str(&mark(text, &ranges, from, to));
    if to < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finds(query: &str, text: &str) -> bool {
        let doc: HashSet<String> = term_set([text]).into_iter().collect();
        let q = Query::parse(query);
        !q.is_empty()
            && q.words
                .iter()
                .all(|w| w.terms.iter().any(|t| doc.contains(t)))
    }

    #[test]
    fn r6_russian_endings_meet() {
        assert!(finds(
            "справки несудимость",
            "Справку о несудимости можно получить"
        ));
        assert!(finds("справка о несудимости", "справки по несудимости"));
        assert!(finds("получения паспорта", "Получение паспортов"));
        assert!(finds("ЁЛКА", "елки"));
        assert!(!finds("справки несудимость", "справку о прописке"));
    }

    #[test]
    fn r6_kazakh_endings_meet() {
        assert!(finds("анықтамалары", "Анықтамасын алу үшін"));
        assert!(finds("құжаттарды", "құжаттың көшірмесі"));
        assert!(finds("мекенжайлары", "мекенжай анықтамасы"));
        assert!(!finds("құжаттарды", "қызмет көрсету"));
    }

    #[test]
    fn words_are_lower_cased_split_and_cleaned() {
        let w: Vec<String> = words("ЭЦП-ключ, e-mail: test@Mail.KZ 2026г. Ёж")
            .into_iter()
            .map(|w| w.surface)
            .collect();
        assert_eq!(
            w,
            [
                "эцп", "ключ", "e", "mail", "test", "mail", "kz", "2026г", "еж"
            ]
        );
        // A decomposed й and a soft hyphen inside a word.
        let w = words("мои\u{0306} спра\u{00AD}вка");
        assert_eq!(w[0].surface, "мой");
        assert_eq!(w[1].surface, "справка");
        assert_eq!(
            &"мои\u{0306} спра\u{00AD}вка"[w[1].start..w[1].end],
            "спра\u{00AD}вка"
        );
        // Very long words are cut.
        assert_eq!(
            words(&"я".repeat(500))[0].surface.chars().count(),
            MAX_WORD_CHARS
        );
    }

    #[test]
    fn queries_carry_no_syntax_from_the_user() {
        let q = Query::parse("\"справка\" * NEAR(a b) : & | ! ' -- ; DROP");
        assert!(!q.fts5().contains('*'));
        assert!(q.fts5().contains("(\"справк\")"));
        assert!(q.tsquery().contains("('справк')"));
        for w in &q.words {
            for t in &w.terms {
                assert!(t.chars().all(char::is_alphanumeric), "{t}");
            }
        }
        assert!(Query::parse("!!! ... ?").is_empty());
        assert!(Query::parse("").is_empty());
        assert!(Query::parse("и в на").is_empty());
        assert_eq!(Query::parse(&"слово ".repeat(1000)).words.len(), 1);
    }

    #[test]
    fn highlights_mark_the_matching_words_and_escape_the_rest() {
        let q = Query::parse("справки");
        let h = highlight("<b>Справку</b> & справочник", &q.term_set());
        assert_eq!(
            h,
            "&lt;b&gt;<mark>Справку</mark>&lt;/b&gt; &amp; справочник"
        );
        let long = format!(
            "{} справку о несудимости {}",
            "начало ".repeat(100),
            "конец ".repeat(100)
        );
        let s = snippet(&long, &Query::parse("несудимость").term_set(), 120);
        assert!(s.contains("<mark>несудимости</mark>"), "{s}");
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.chars().count() < 400, "{s}");
    }
}
