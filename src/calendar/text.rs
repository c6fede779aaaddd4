//! Words for explanations in Kazakh, Russian and English.

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

/// A short human text in the three languages the center answers in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Explanation {
    pub kk: String,
    pub ru: String,
    pub en: String,
}

impl Explanation {
    pub fn from_names(names: Names) -> Self {
        Explanation {
            kk: names.kk.to_owned(),
            ru: names.ru.to_owned(),
            en: names.en.to_owned(),
        }
    }

    pub(crate) fn push(&mut self, other: &Explanation) {
        for (mine, theirs) in [
            (&mut self.kk, &other.kk),
            (&mut self.ru, &other.ru),
            (&mut self.en, &other.en),
        ] {
            if !mine.is_empty() {
                mine.push(' ');
            }
            mine.push_str(theirs);
        }
    }
}

/// Static names in the three languages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Names {
    pub kk: &'static str,
    pub ru: &'static str,
    pub en: &'static str,
}

pub fn weekday(w: Weekday) -> Names {
    let (kk, ru, en) = match w {
        Weekday::Mon => ("дүйсенбі", "понедельник", "Monday"),
        Weekday::Tue => ("сейсенбі", "вторник", "Tuesday"),
        Weekday::Wed => ("сәрсенбі", "среда", "Wednesday"),
        Weekday::Thu => ("бейсенбі", "четверг", "Thursday"),
        Weekday::Fri => ("жұма", "пятница", "Friday"),
        Weekday::Sat => ("сенбі", "суббота", "Saturday"),
        Weekday::Sun => ("жексенбі", "воскресенье", "Sunday"),
    };
    Names { kk, ru, en }
}

pub fn month(m: u32) -> Names {
    const KK: [&str; 12] = [
        "қаңтар",
        "ақпан",
        "наурыз",
        "сәуір",
        "мамыр",
        "маусым",
        "шілде",
        "тамыз",
        "қыркүйек",
        "қазан",
        "қараша",
        "желтоқсан",
    ];
    const RU: [&str; 12] = [
        "январь",
        "февраль",
        "март",
        "апрель",
        "май",
        "июнь",
        "июль",
        "август",
        "сентябрь",
        "октябрь",
        "ноябрь",
        "декабрь",
    ];
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    // Months from chrono are 1..=12; clamp keeps the index in bounds whatever is passed.
    let i = (m.clamp(1, 12) - 1) as usize;
    Names {
        kk: KK[i],
        ru: RU[i],
        en: EN[i],
    }
}

/// `07.03.2025`, the date format used in all three languages.
pub fn date(d: NaiveDate) -> String {
    d.format("%d.%m.%Y").to_string()
}

pub fn time(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

/// The date with its weekday in each language: `07.03.2025 (пятница)`.
pub fn dated(d: NaiveDate) -> Names3 {
    let w = weekday(d.weekday());
    let s = date(d);
    Names3 {
        kk: format!("{s} ({})", w.kk),
        ru: format!("{s} ({})", w.ru),
        en: format!("{} {s}", w.en),
    }
}

/// Owned strings in the three languages, for building sentences.
pub struct Names3 {
    pub kk: String,
    pub ru: String,
    pub en: String,
}

/// "2 рабочих дня": Russian needs the numeral's plural form.
pub fn ru_working_days(n: u32) -> String {
    let form = match (n % 10, n % 100) {
        (_, 11..=14) => "рабочих дней",
        (1, _) => "рабочий день",
        (2..=4, _) => "рабочих дня",
        _ => "рабочих дней",
    };
    format!("{n} {form}")
}

pub fn en_working_days(n: u32) -> String {
    if n == 1 {
        "1 working day".to_owned()
    } else {
        format!("{n} working days")
    }
}

pub fn kk_working_days(n: u32) -> String {
    // Kazakh nouns stay singular after a numeral.
    format!("{n} жұмыс күні")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_plural_of_working_days() {
        let cases = [
            (0, "0 рабочих дней"),
            (1, "1 рабочий день"),
            (2, "2 рабочих дня"),
            (5, "5 рабочих дней"),
        ];
        for (n, want) in cases {
            assert_eq!(ru_working_days(n), want);
        }
        assert_eq!(ru_working_days(11), "11 рабочих дней");
        assert_eq!(ru_working_days(21), "21 рабочий день");
        assert_eq!(ru_working_days(112), "112 рабочих дней");
    }
}
