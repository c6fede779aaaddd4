//! Personal data out of what a body receives, unless the operator includes it: IINs
//! (12 digits), phone numbers, e-mail addresses, street addresses, and the applicant's
//! own details (name, e-mail, phone, address) wherever they appear.

use std::sync::LazyLock;

use regex::Regex;

/// What masked text shows instead; the same in every language.
pub const MASK: &str = "***";

static IIN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d{12}\b").expect("a valid pattern"));
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+7|\b8|\b7)[\s\-(]*\d{3}[\s\-)]*\d{3}[\s\-]*\d{2}[\s\-]*\d{2}\b")
        .expect("a valid pattern")
});
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+").expect("a valid pattern"));
// A street, avenue or district with what follows it up to a comma, a full stop or the line's end,
// then house and flat numbers (Russian and Kazakh spellings).
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:\b(?:ул\.|улица|пр\.|пр-т|проспект|мкр\.?|микрорайон|көшесі|даңғылы|шағын аудан)\s*[^,.\n]{1,60}|[^\s,.\n]{2,40}\s(?:көшесі|даңғылы))(?:[\s,]*(?:д\.|дом|үй|кв\.|квартира|пәтер)?\s*\d+[\w/\-]*(?:\s*(?:үй|пәтер)\b)?)*",
    )
    .expect("a valid pattern")
});

/// The text with personal data replaced by [`MASK`]; `known` are the applicant's own
/// details (at least 3 characters each), masked wherever they appear.
pub fn mask(text: &str, known: &[String]) -> String {
    let mut out = text.to_string();
    for k in known
        .iter()
        .map(|k| k.trim())
        .filter(|k| k.chars().count() >= 3)
    {
        out = out.replace(k, MASK);
    }
    out = EMAIL.replace_all(&out, MASK).into_owned();
    out = IIN.replace_all(&out, MASK).into_owned();
    out = PHONE.replace_all(&out, MASK).into_owned();
    ADDRESS.replace_all(&out, MASK).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iin_phones_emails_addresses_and_the_applicants_name_are_masked() {
        let text = "Я, Айгүл Серікқызы, ИИН 900101300123, тел. +7 (701) 123-45-67 и 87011234567, \
                    aigul@mail.kz, живу: ул. Абая 10, кв. 5. Не могу войти на портал.";
        let m = mask(text, &["Айгүл Серікқызы".into()]);
        for gone in [
            "900101300123",
            "123-45-67",
            "87011234567",
            "aigul@mail.kz",
            "Абая",
            "Айгүл",
        ] {
            assert!(!m.contains(gone), "{gone} is still in {m}");
        }
        assert!(m.contains("Не могу войти на портал."), "{m}");
        assert_eq!(mask("Абай даңғылы 5 үй 3", &[]), "***");
        // Other numbers stay: an application number is not personal data.
        assert!(mask("заявка № 12345678", &[]).contains("12345678"));
    }
}
