//! A Kazakh suffix stripper for nouns: plural, possessive and case endings and their
//! chains (`анықтама-лар-ы`, `анықтама-сы-н`, `құжат-тар-ыңыз-ды`), written here because
//! Snowball has no Kazakh. Words are read from the end, slot by slot (case, then
//! possessive, then plural); every reading the grammar allows is tried, and the stems
//! of the readings that explain the most slots are kept (one word can have two: `-сы`
//! after a vowel or `-ы` after `с`). Index and query go through the same function, so
//! what matters is that the forms of one word meet in a stem, not that it is the
//! dictionary form.

/// Vowels of the Kazakh Cyrillic alphabet (and the Russian ones loanwords bring).
const VOWELS: &str = "аәеёиоөуұүыіэюя";
/// Letters only Kazakh has: a word with one of them is not Russian.
pub const KAZAKH_LETTERS: &str = "әғқңөұүһі";
/// A stem is at least this many letters, with a vowel among them.
const MIN_STEM: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    Any,
    Vowel,
    Consonant,
    /// Only after a 3rd-person possessive (`-сы-н`, `-ы-нда`).
    Poss3,
    /// Only after a 1st/2nd-person singular possessive (`-ім-е`, `-ың-а`).
    Poss12,
    /// After a 3rd-person possessive or a nasal (`-ы-нан`, `-ам-нан`).
    Poss3OrNasal,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Person {
    Third,
    FirstSecond,
}

use After::*;

const CASES: &[(&str, After)] = &[
    // genitive
    ("ның", Vowel),
    ("нің", Vowel),
    ("дың", Consonant),
    ("дің", Consonant),
    ("тың", Consonant),
    ("тің", Consonant),
    // dative
    ("ға", Any),
    ("ге", Any),
    ("қа", Consonant),
    ("ке", Consonant),
    ("на", Poss3),
    ("не", Poss3),
    ("а", Poss12),
    ("е", Poss12),
    // accusative
    ("ны", Vowel),
    ("ні", Vowel),
    ("ды", Consonant),
    ("ді", Consonant),
    ("ты", Consonant),
    ("ті", Consonant),
    ("н", Poss3),
    // locative
    ("да", Any),
    ("де", Any),
    ("та", Consonant),
    ("те", Consonant),
    ("нда", Poss3),
    ("нде", Poss3),
    // ablative
    ("дан", Any),
    ("ден", Any),
    ("тан", Consonant),
    ("тен", Consonant),
    ("нан", Poss3OrNasal),
    ("нен", Poss3OrNasal),
    // instrumental
    ("мен", Any),
    ("бен", Any),
    ("пен", Consonant),
    ("менен", Any),
    ("бенен", Any),
    ("пенен", Consonant),
    // locative attributive (`елдегі`, `анықтамадағы`)
    ("дағы", Any),
    ("дегі", Any),
    ("тағы", Consonant),
    ("тегі", Consonant),
    ("ндағы", Poss3),
    ("ндегі", Poss3),
];

/// (suffix, what precedes it, person).
const POSSESSIVES: &[(&str, After, Person)] = &[
    ("ым", Consonant, Person::FirstSecond),
    ("ім", Consonant, Person::FirstSecond),
    ("ың", Consonant, Person::FirstSecond),
    ("ің", Consonant, Person::FirstSecond),
    // A lone `-м`/`-ң` after a vowel (`анама`) is left alone: it ends too many stems
    // (`адам`, `мекеме` read as `меке-м-е`).
    ("ыңыз", Consonant, Person::FirstSecond),
    ("іңіз", Consonant, Person::FirstSecond),
    ("ңыз", Vowel, Person::FirstSecond),
    ("ңіз", Vowel, Person::FirstSecond),
    ("ымыз", Consonant, Person::FirstSecond),
    ("іміз", Consonant, Person::FirstSecond),
    ("мыз", Vowel, Person::FirstSecond),
    ("міз", Vowel, Person::FirstSecond),
    ("ы", Consonant, Person::Third),
    ("і", Consonant, Person::Third),
    ("сы", Vowel, Person::Third),
    ("сі", Vowel, Person::Third),
];

const PLURALS: &[(&str, After)] = &[
    ("лар", Any),
    ("лер", Any),
    ("дар", Consonant),
    ("дер", Consonant),
    ("тар", Consonant),
    ("тер", Consonant),
];

fn is_vowel(c: char) -> bool {
    VOWELS.contains(c)
}

fn is_cyrillic(c: char) -> bool {
    ('\u{0400}'..='\u{04FF}').contains(&c)
}

/// Whether the word has a letter that only Kazakh writes.
pub fn has_kazakh_letter(word: &str) -> bool {
    word.chars().any(|c| KAZAKH_LETTERS.contains(c))
}

fn ends_with(word: &[char], suffix: &str) -> Option<usize> {
    let s: Vec<char> = suffix.chars().collect();
    (word.len() > s.len() && word[word.len() - s.len()..] == s[..]).then(|| word.len() - s.len())
}

fn before_ok(rest: &[char], after: After) -> bool {
    let Some(&last) = rest.last() else {
        return false;
    };
    // `у` ends a stem as a vowel and, for the endings after it, as a consonant
    // (`тіркеу-ге`, `тіркеу-ді`).
    match after {
        Vowel => is_vowel(last),
        Consonant => (!is_vowel(last) || last == 'у') && is_cyrillic(last),
        _ => true,
    }
}

fn good_stem(stem: &[char]) -> bool {
    stem.len() >= MIN_STEM && stem.iter().any(|c| is_vowel(*c))
}

/// The end of a stem as its dictionary form writes it: `кітаб-ы` is `кітап`,
/// `куәліг-і` is `куәлік`, `салығ-ы` is `салық`.
fn unvoice(mut stem: Vec<char>) -> Vec<char> {
    if let Some(last) = stem.last_mut() {
        *last = match *last {
            'г' => 'к',
            'ғ' => 'қ',
            'б' => 'п',
            c => c,
        };
    }
    stem
}

/// The stems of one lower-cased word (one or two; the word itself, end unvoiced, when
/// no ending is recognised).
pub fn stems(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut best: Vec<Vec<char>> = Vec::new();
    let mut best_slots = 0usize;
    let mut consider = |stem: &[char], slots: usize| {
        if !good_stem(stem) {
            return;
        }
        if slots > best_slots {
            best_slots = slots;
            best.clear();
        }
        if slots == best_slots && !best.iter().any(|b| b == stem) {
            best.push(stem.to_vec());
        }
    };
    // Case slot: none, or each ending that fits.
    let mut after_case: Vec<(usize, Option<After>)> = vec![(chars.len(), None)];
    for (suffix, after) in CASES {
        if let Some(at) = ends_with(&chars, suffix) {
            after_case.push((at, Some(*after)));
        }
    }
    for (end1, case_needs) in after_case {
        let w1 = &chars[..end1];
        let case_slots = usize::from(case_needs.is_some());
        // The case ending's own condition on what precedes it, when no possessive does.
        let case_ok_bare = match case_needs {
            None => true,
            Some(Poss3 | Poss12) => false,
            Some(Poss3OrNasal) => w1.last().is_some_and(|c| "мнң".contains(*c)),
            Some(a) => before_ok(w1, a),
        };
        // Possessive slot.
        let mut after_poss: Vec<(usize, usize)> = Vec::new();
        if case_ok_bare {
            after_poss.push((end1, case_slots));
        }
        for (suffix, after, person) in POSSESSIVES {
            let fits_case = match case_needs {
                None => true,
                Some(Poss3 | Poss3OrNasal) => *person == Person::Third,
                Some(Poss12) => *person == Person::FirstSecond,
                // A possessive ending in a vowel takes the vowel forms of a case, and one
                // ending in a consonant the consonant forms.
                Some(a) => {
                    let last = suffix.chars().last().expect("suffixes are not empty");
                    match a {
                        Vowel => is_vowel(last),
                        Consonant => !is_vowel(last),
                        _ => true,
                    }
                }
            };
            if !fits_case {
                continue;
            }
            if let Some(at) = ends_with(w1, suffix)
                && before_ok(&w1[..at], *after)
            {
                after_poss.push((at, case_slots + 1));
            }
        }
        for (end2, slots2) in after_poss {
            let w2 = &chars[..end2];
            consider(w2, slots2);
            for (suffix, after) in PLURALS {
                if let Some(at) = ends_with(w2, suffix)
                    && before_ok(&w2[..at], *after)
                {
                    consider(&w2[..at], slots2 + 1);
                }
            }
        }
    }
    if best.is_empty() {
        best.push(chars);
    }
    best.into_iter()
        .map(|s| unvoice(s).into_iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meet(a: &str, b: &str) -> bool {
        let sa = stems(a);
        stems(b).iter().any(|s| sa.contains(s))
    }

    /// Each row: the dictionary form, then inflected forms that must share a stem with it.
    const FAMILIES: &[&[&str]] = &[
        &[
            "анықтама",
            "анықтамалары",
            "анықтамасын",
            "анықтаманы",
            "анықтамаға",
            "анықтамада",
            "анықтамадан",
            "анықтамалар",
            "анықтамалардың",
            "анықтамасы",
            "анықтамасына",
            "анықтамасында",
            "анықтамасынан",
            "анықтамаларын",
            "анықтамаларыңыз",
            "анықтаманың",
            "анықтамамен",
            "анықтамадағы",
        ],
        &[
            "құжат",
            "құжаттар",
            "құжаттарды",
            "құжатты",
            "құжаттың",
            "құжатқа",
            "құжатта",
            "құжаттан",
            "құжаттары",
            "құжатын",
            "құжаттарыңызды",
            "құжатым",
            "құжатымды",
            "құжаттарымыздан",
        ],
        &[
            "өтініш",
            "өтініштер",
            "өтінішті",
            "өтініштің",
            "өтінішке",
            "өтініште",
            "өтініштен",
            "өтінішім",
            "өтінішіңіз",
            "өтінішіңізді",
            "өтініштерді",
            "өтінішпен",
        ],
        &[
            "куәлік",
            "куәлігі",
            "куәлігін",
            "куәліктер",
            "куәлікті",
            "куәлікке",
            "куәлігіңіз",
        ],
        &["кітап", "кітабы", "кітаптар", "кітапты", "кітабын"],
        &[
            "мекенжай",
            "мекенжайы",
            "мекенжайға",
            "мекенжайлары",
            "мекенжайын",
            "мекенжайда",
        ],
        &[
            "салық",
            "салығы",
            "салықтар",
            "салықты",
            "салығын",
            "салықтан",
        ],
        &[
            "қызмет",
            "қызметтер",
            "қызметтің",
            "қызметі",
            "қызметін",
            "қызметке",
            "қызметтері",
            "қызметтерінің",
        ],
        &["мекеме", "мекемеге", "мекемелер", "мекемесі", "мекемеде"],
        &[
            "төлем",
            "төлемдер",
            "төлемді",
            "төлемдің",
            "төлемге",
            "төлемнен",
        ],
        &[
            "тіркеу",
            "тіркеуге",
            "тіркеуді",
            "тіркеуден",
            "тіркеуі",
            "тіркеудің",
        ],
        &["портал", "порталда", "порталға", "порталы", "порталдан"],
        &["справка", "справкасы", "справкаларды"],
    ];

    #[test]
    fn r6_inflected_forms_meet_their_dictionary_form() {
        for family in FAMILIES {
            let base = family[0];
            for form in &family[1..] {
                assert!(
                    meet(base, form),
                    "`{form}` ({:?}) does not meet `{base}` ({:?})",
                    stems(form),
                    stems(base)
                );
            }
        }
    }

    #[test]
    fn r6_the_issue_pair_meets() {
        assert!(meet("анықтамалары", "анықтамасын"));
        assert!(stems("анықтамалары").contains(&"анықтама".to_string()));
        assert!(stems("анықтамасын").contains(&"анықтама".to_string()));
    }

    #[test]
    fn different_words_stay_apart() {
        for (a, b) in [
            ("құжат", "қызмет"),
            ("анықтама", "мекеме"),
            ("салық", "салт"),
            ("адам", "ада"),
            ("мекеме", "меке"),
            ("төлем", "тіркеу"),
        ] {
            assert!(
                !meet(a, b),
                "`{a}` {:?} meets `{b}` {:?}",
                stems(a),
                stems(b)
            );
        }
    }

    #[test]
    fn short_words_and_bare_stems_keep_their_letters() {
        assert_eq!(stems("ақы"), vec!["ақы"]);
        assert_eq!(stems("адам"), vec!["адам"]);
        assert_eq!(stems("үй"), vec!["үй"]);
        assert_eq!(stems("құжат"), vec!["құжат"]);
        // A final voiced consonant is written unvoiced, as the bare stem has it.
        assert_eq!(stems("кітабы"), vec!["кітап"]);
        assert_eq!(stems("куәлігі"), vec!["куәлік"]);
    }

    #[test]
    fn ambiguous_endings_keep_both_readings() {
        // -сы after a vowel, or -ы after с: both stems are kept.
        let s = stems("тұрмысы");
        assert!(s.contains(&"тұрмыс".to_string()), "{s:?}");
        assert!(meet("тұрмыс", "тұрмысы"));
        assert!(meet("тұрмыс", "тұрмысын"));
    }

    #[test]
    fn hostile_words_do_not_panic() {
        for w in [
            "",
            "а",
            "н",
            "ны",
            "лар",
            "ларлар",
            "ыыыыыыы",
            "ңңңң",
            "сын",
            "x",
            "123",
        ] {
            let s = stems(w);
            assert!(!s.is_empty(), "{w}");
        }
    }
}
