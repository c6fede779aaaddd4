//! Validated values: bad input dies at the edge with a message that says what to fix.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A 12-digit individual (IIN) or business (BIN) identification number: its structure
/// (an IIN's birth date and century digit, a BIN's registration month, entity type and
/// 6th digit) and its check digit (the two-pass weighted mod-11 scheme of the registers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Iin(String);

/// Which part of an IIN/BIN is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IinError {
    Length,
    /// The 5th digit is neither the start of a birth day (0-3) nor an entity type (4-6).
    Kind(u8),
    /// IIN: the 7th digit (century and sex) is not 1-6.
    Century(u8),
    /// IIN: YYMMDD is not a real date.
    BirthDate(String),
    /// BIN: digits 3-4 are not a month.
    BinMonth(String),
    /// BIN: the 6th digit is not 0-3.
    BinSixth(u8),
    CheckDigit,
}

impl IinError {
    /// The key of its message in `templates/form/<lang>.json` and what the message is
    /// given, naming the part that is wrong.
    pub fn message_key(&self) -> (&'static str, minijinja::Value) {
        use minijinja::context;
        match self {
            IinError::Length => ("iin_length", context! {}),
            IinError::Kind(d) => ("iin_kind", context! { digit => d }),
            IinError::Century(d) => ("iin_century", context! { digit => d }),
            IinError::BirthDate(t) => ("iin_birth_date", context! { value => t }),
            IinError::BinMonth(m) => ("bin_month", context! { value => m }),
            IinError::BinSixth(d) => ("bin_sixth", context! { digit => d }),
            IinError::CheckDigit => ("iin_check_digit", context! {}),
        }
    }
}

/// For logs; people read the message of [`IinError::message_key`].
impl fmt::Display for IinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IinError::Length => f.write_str("not 12 digits"),
            IinError::Kind(d) => write!(f, "5th digit {d} is neither an IIN nor a BIN"),
            IinError::Century(d) => write!(f, "IIN 7th digit {d} is not 1-6"),
            IinError::BirthDate(t) => write!(f, "IIN birth date {t} does not exist"),
            IinError::BinMonth(m) => write!(f, "BIN month {m} is not 01-12"),
            IinError::BinSixth(d) => write!(f, "BIN 6th digit {d} is not 0-3"),
            IinError::CheckDigit => f.write_str("check digit does not match"),
        }
    }
}

impl Iin {
    pub fn parse(text: &str) -> Result<Iin, IinError> {
        let t = text.trim();
        if t.len() != 12 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IinError::Length);
        }
        let d: Vec<u32> = t.bytes().map(|b| u32::from(b - b'0')).collect();
        let two = |i: usize| d[i] * 10 + d[i + 1];
        match d[4] {
            // IIN: YYMMDD, then the century and sex digit.
            0..=3 => {
                let century = match d[6] {
                    1 | 2 => 1800,
                    3 | 4 => 1900,
                    5 | 6 => 2000,
                    other => return Err(IinError::Century(other as u8)),
                };
                let year = century + two(0) as i32;
                if chrono::NaiveDate::from_ymd_opt(year, two(2), two(4)).is_none() {
                    return Err(IinError::BirthDate(t[..6].to_string()));
                }
            }
            // BIN: YYMM of registration, the entity type, then a digit 0-3.
            4..=6 => {
                if !(1..=12).contains(&two(2)) {
                    return Err(IinError::BinMonth(t[2..4].to_string()));
                }
                if d[5] > 3 {
                    return Err(IinError::BinSixth(d[5] as u8));
                }
            }
            other => return Err(IinError::Kind(other as u8)),
        }
        let weighted = |offset: u32| -> u32 {
            (0..11)
                .map(|i| d[i] * (((i as u32 + offset) % 11) + 1))
                .sum::<u32>()
                % 11
        };
        let mut check = weighted(0);
        if check == 10 {
            check = weighted(2);
        }
        if check == 10 || check != d[11] {
            return Err(IinError::CheckDigit);
        }
        Ok(Iin(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address, trimmed and lower-cased, with one `@`, a dot in the domain and no
/// spaces: enough to catch typing mistakes without rejecting real addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(text: &str) -> Result<EmailAddress, String> {
        let t = text.trim().to_lowercase();
        let Some((local, domain)) = t.split_once('@') else {
            return Err("must look like name@example.kz".into());
        };
        let ok = !local.is_empty()
            && local.len() <= 64
            && t.len() <= 254
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !t
                .chars()
                .any(|c| c.is_whitespace() || c == '<' || c == '>' || c == ',');
        if ok {
            Ok(EmailAddress(t))
        } else {
            Err("must look like name@example.kz".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Kazakhstan phone number normalised to +7XXXXXXXXXX (8 or 7 prefixes accepted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone(String);

impl Phone {
    pub fn parse(text: &str) -> Result<Phone, String> {
        let digits: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
        let allowed = text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()".contains(c));
        let national = match digits.len() {
            11 if digits.starts_with('7') || digits.starts_with('8') => &digits[1..],
            10 => &digits[..],
            _ => "",
        };
        if !allowed || national.len() != 10 {
            return Err("must be a phone number like +7 701 234 5678".into());
        }
        Ok(Phone(format!("+7{national}")))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub use baylanys_core::RegistrationNumber;

/// The regions of Kazakhstan (17 regions) and the three cities of republican significance.
pub const REGIONS: &[(&str, &str, &str)] = &[
    ("astana", "Астана", "Астана"),
    ("almaty", "Алматы", "Алматы"),
    ("shymkent", "Шымкент", "Шымкент"),
    ("abai", "Абай облысы", "Абайская область"),
    ("akmola", "Ақмола облысы", "Акмолинская область"),
    ("aktobe", "Ақтөбе облысы", "Актюбинская область"),
    ("almaty_region", "Алматы облысы", "Алматинская область"),
    ("atyrau", "Атырау облысы", "Атырауская область"),
    (
        "east_kazakhstan",
        "Шығыс Қазақстан облысы",
        "Восточно-Казахстанская область",
    ),
    ("zhambyl", "Жамбыл облысы", "Жамбылская область"),
    ("zhetysu", "Жетісу облысы", "Область Жетісу"),
    (
        "west_kazakhstan",
        "Батыс Қазақстан облысы",
        "Западно-Казахстанская область",
    ),
    ("karaganda", "Қарағанды облысы", "Карагандинская область"),
    ("kostanay", "Қостанай облысы", "Костанайская область"),
    ("kyzylorda", "Қызылорда облысы", "Кызылординская область"),
    ("mangystau", "Маңғыстау облысы", "Мангистауская область"),
    ("pavlodar", "Павлодар облысы", "Павлодарская область"),
    (
        "north_kazakhstan",
        "Солтүстік Қазақстан облысы",
        "Северо-Казахстанская область",
    ),
    ("turkistan", "Түркістан облысы", "Туркестанская область"),
    ("ulytau", "Ұлытау облысы", "Область Ұлытау"),
];

/// Topics offered on the public form; operators can re-classify later.
pub const TOPICS: &[(&str, &str, &str)] = &[
    ("egov_portal", "eGov порталы", "Портал eGov"),
    (
        "public_service",
        "Мемлекеттік қызмет",
        "Государственная услуга",
    ),
    ("digital_signature", "ЭЦҚ", "ЭЦП"),
    ("mobile_app", "eGov Mobile", "eGov Mobile"),
    ("complaint", "Шағым", "Жалоба"),
    ("other", "Басқа", "Другое"),
];

pub fn region_known(code: &str) -> bool {
    REGIONS.iter().any(|(c, _, _)| *c == code)
}

pub fn topic_known(code: &str) -> bool {
    TOPICS.iter().any(|(c, _, _)| *c == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iin_check_digit_is_verified() {
        let valid = make_valid("90010130002");
        assert!(Iin::parse(&valid).is_ok(), "{valid}");
        let last = valid.as_bytes()[11] - b'0';
        let wrong = format!("{}{}", &valid[..11], (last + 1) % 10);
        assert_eq!(Iin::parse(&wrong), Err(IinError::CheckDigit));
        assert_eq!(Iin::parse("12345"), Err(IinError::Length));
    }

    #[test]
    fn iin_birth_date_and_century_digit_are_checked() {
        // Month 75, day 32, 29 February of a common year; century digit 0 and 7.
        for (first, err) in [
            ("90751530002", IinError::BirthDate("907515".into())),
            ("90013230002", IinError::BirthDate("900132".into())),
            ("01022930002", IinError::BirthDate("010229".into())),
            ("90010100002", IinError::Century(0)),
            ("90010170002", IinError::Century(7)),
        ] {
            for last in 0..10 {
                assert_eq!(
                    Iin::parse(&format!("{first}{last}")),
                    Err(err.clone()),
                    "{first}"
                );
            }
        }
        // 29 February 2000 (century digit 5) is real.
        assert!(Iin::parse(&make_valid("00022950002")).is_ok());
        let e = IinError::BirthDate("907515".into());
        let t = crate::templates::Templates::new();
        let (key, ctx) = e.message_key();
        let ru = t.form_message(baylanys_core::Language::Ru, key, ctx.clone());
        assert!(ru.contains("907515"), "{ru}");
        let kk = t.form_message(baylanys_core::Language::Kk, key, ctx);
        assert!(kk.contains("ЖЖААКК"), "{kk}");
        assert!(e.to_string().contains("birth date"));
    }

    #[test]
    fn bin_month_entity_type_and_sixth_digit_are_checked() {
        assert!(Iin::parse(&make_valid("14054000123")).is_ok());
        for (first, err) in [
            ("14134000123", IinError::BinMonth("13".into())),
            ("14004000123", IinError::BinMonth("00".into())),
            ("14054700123", IinError::BinSixth(7)),
            ("14057000123", IinError::Kind(7)),
        ] {
            for last in 0..10 {
                assert_eq!(
                    Iin::parse(&format!("{first}{last}")),
                    Err(err.clone()),
                    "{first}"
                );
            }
        }
    }

    fn make_valid(first11: &str) -> String {
        for extra in 0..10u8 {
            let candidate = format!("{}{}", &first11[..10], extra);
            for last in 0..10 {
                let s = format!("{candidate}{last}");
                if Iin::parse(&s).is_ok() {
                    return s;
                }
            }
        }
        unreachable!("some 12-digit number has a valid check digit")
    }

    #[test]
    fn phones_are_normalised() {
        assert_eq!(
            Phone::parse("8 (701) 234-56-78").unwrap().as_str(),
            "+77012345678"
        );
        assert_eq!(
            Phone::parse("+7 701 234 5678").unwrap().as_str(),
            "+77012345678"
        );
        assert!(Phone::parse("12345").is_err());
        assert!(Phone::parse("+7 701 234 567a").is_err());
    }

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(
            EmailAddress::parse(" Aigul@Mail.KZ ").unwrap().as_str(),
            "aigul@mail.kz"
        );
        assert!(EmailAddress::parse("aigul@mail").is_err());
        assert!(EmailAddress::parse("aigul mail.kz").is_err());
    }

    #[test]
    fn registration_numbers_have_prefix_year_and_six_digits() {
        assert_eq!(
            RegistrationNumber::new("UCC", 2026, 42).as_str(),
            "UCC-2026-000042"
        );
        assert_eq!(
            RegistrationNumber::new("UCC", 2026, 1234567).as_str(),
            "UCC-2026-1234567"
        );
        assert!(RegistrationNumber::parse("ucc-2026-000042").is_ok());
        assert!(RegistrationNumber::parse("UCC-26-42").is_err());
    }

    #[test]
    fn seventeen_regions_and_three_cities() {
        assert_eq!(REGIONS.len(), 20);
    }
}
