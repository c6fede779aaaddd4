//! What mail-parser leaves to us: text whose charset is missing, unknown, or a lie
//! (`us-ascii` over 8-bit bytes). mail-parser decodes those as lossy UTF-8 / Latin-1;
//! old Russian-language mailers still send bare windows-1251, KOI8-R or CP866.

use encoding_rs::{Encoding, IBM866, KOI8_R, WINDOWS_1251};
use mail_parser::decoders::charsets::map::charset_decoder;

/// Decode bytes that carry no usable charset label: UTF-8 when valid, else the
/// Cyrillic single-byte encoding whose decoding reads most like Russian/Kazakh text.
pub(crate) fn decode_unlabelled(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    // windows-1251 first so it wins ties: it is by far the most common today.
    let mut best: Option<(i64, String)> = None;
    for encoding in [WINDOWS_1251, KOI8_R, IBM866] {
        let (text, _, _) = encoding.decode(bytes);
        let score = russian_score(&text);
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, text.into_owned()));
        }
    }
    best.map(|(_, t)| t).unwrap_or_default()
}

/// Decode with a label mail-parser did not know, falling back to detection.
pub(crate) fn decode_labelled(label: Option<&str>, bytes: &[u8]) -> String {
    match label.and_then(|l| Encoding::for_label(l.trim().as_bytes())) {
        // A label that is plain ASCII but bytes that are not: the label is wrong.
        Some(enc) if !is_ascii_label(label) || bytes.is_ascii() => enc.decode(bytes).0.into_owned(),
        _ => decode_unlabelled(bytes),
    }
}

/// True when mail-parser decoded the text itself and we should trust it.
pub(crate) fn parser_handled(label: Option<&str>, decoded: &str) -> bool {
    match label {
        Some(l) if charset_decoder(l.trim().as_bytes()).is_some() => {
            // mail-parser maps us-ascii to windows-1252; non-ASCII output means 8-bit bytes
            // under an ASCII label, which in our mail is almost always unlabelled Cyrillic.
            !is_ascii_label(Some(l)) || decoded.is_ascii()
        }
        // No or unknown label: mail-parser used lossy UTF-8, fine unless it had to replace.
        _ => !decoded.contains('\u{FFFD}'),
    }
}

fn is_ascii_label(label: Option<&str>) -> bool {
    label.is_some_and(|l| {
        let l = l.trim().to_ascii_lowercase();
        l == "us-ascii" || l == "ascii" || l == "ansi_x3.4-1968"
    })
}

/// Higher is more like Cyrillic prose. Mis-decodings of the other two encodings turn
/// lower-case letters into capitals (KOI8-R vs windows-1251) or box-drawing symbols (CP866).
fn russian_score(text: &str) -> i64 {
    const FREQUENT: &str = "оеаинтсрвлкмдпуяы";
    let mut score = 0i64;
    for ch in text.chars() {
        score += match ch {
            c if FREQUENT.contains(c) => 3,
            'а'..='я' | 'ё' | 'ә' | 'ғ' | 'қ' | 'ң' | 'ө' | 'ұ' | 'ү' | 'һ' | 'і' => 1,
            'А'..='Я' | 'Ё' => 0,
            c if c.is_ascii() => 0,
            '\u{00A0}' | '«' | '»' | '№' | '—' | '–' | '…' => 0,
            '\u{FFFD}' => -5,
            _ => -3,
        };
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Здравствуйте, прошу помочь с получением справки о регистрации";

    #[test]
    fn each_cyrillic_encoding_is_recognised_without_a_label() {
        for enc in [WINDOWS_1251, KOI8_R, IBM866] {
            let (bytes, _, _) = enc.encode(SAMPLE);
            assert_eq!(decode_unlabelled(&bytes), SAMPLE, "{}", enc.name());
        }
    }

    #[test]
    fn valid_utf8_is_kept() {
        assert_eq!(decode_unlabelled(SAMPLE.as_bytes()), SAMPLE);
    }

    #[test]
    fn ascii_label_over_8bit_bytes_is_ignored() {
        let (bytes, _, _) = WINDOWS_1251.encode(SAMPLE);
        assert_eq!(decode_labelled(Some("us-ascii"), &bytes), SAMPLE);
        assert!(!parser_handled(Some("us-ascii"), "Çäðàâ"));
        assert!(parser_handled(Some("windows-1251"), SAMPLE));
    }
}
