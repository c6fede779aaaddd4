//! Built-in national calendar data: the code reads these tables, it holds no dates of its own.

use super::text::Names;

/// A named holiday or day off of the national calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Holiday {
    NewYear,
    WomensDay,
    Nauryz,
    UnityDay,
    DefenderDay,
    VictoryDay,
    CapitalDay,
    ConstitutionDay,
    RepublicDay,
    IndependenceDay,
    OrthodoxChristmas,
    KurbanAit,
}

impl Holiday {
    pub fn names(self) -> Names {
        let (kk, ru, en) = match self {
            Holiday::NewYear => ("Жаңа жыл", "Новый год", "New Year"),
            Holiday::WomensDay => (
                "Халықаралық әйелдер күні",
                "Международный женский день",
                "International Women's Day",
            ),
            Holiday::Nauryz => ("Наурыз мейрамы", "Наурыз мейрамы", "Nauryz meiramy"),
            Holiday::UnityDay => (
                "Қазақстан халқының бірлігі мерекесі",
                "Праздник единства народа Казахстана",
                "Kazakhstan People's Unity Day",
            ),
            Holiday::DefenderDay => (
                "Отан қорғаушы күні",
                "День защитника Отечества",
                "Defender of the Fatherland Day",
            ),
            Holiday::VictoryDay => ("Жеңіс күні", "День Победы", "Victory Day"),
            Holiday::CapitalDay => ("Астана күні", "День Столицы", "Capital Day"),
            Holiday::ConstitutionDay => {
                ("Конституция күні", "День Конституции", "Constitution Day")
            }
            Holiday::RepublicDay => ("Республика күні", "День Республики", "Republic Day"),
            Holiday::IndependenceDay => {
                ("Тәуелсіздік күні", "День Независимости", "Independence Day")
            }
            Holiday::OrthodoxChristmas => (
                "Православиелік Рождество",
                "Православное Рождество",
                "Orthodox Christmas",
            ),
            Holiday::KurbanAit => (
                "Құрбан айттың бірінші күні",
                "первый день Курбан айта",
                "first day of Kurban Ait",
            ),
        };
        Names { kk, ru, en }
    }
}

/// A national or state holiday on a fixed date, in force for the years `from..=to`.
pub struct FixedHoliday {
    pub month: u32,
    pub day: u32,
    pub holiday: Holiday,
    pub from: i32,
    pub to: i32,
}

const ALWAYS_FROM: i32 = i32::MIN;
const ALWAYS_TO: i32 = i32::MAX;

const fn always(month: u32, day: u32, holiday: Holiday) -> FixedHoliday {
    FixedHoliday {
        month,
        day,
        holiday,
        from: ALWAYS_FROM,
        to: ALWAYS_TO,
    }
}

/// National and state holidays; one falling on Saturday or Sunday moves the day off to the next working day.
pub const FIXED_HOLIDAYS: &[FixedHoliday] = &[
    always(1, 1, Holiday::NewYear),
    always(1, 2, Holiday::NewYear),
    always(3, 8, Holiday::WomensDay),
    always(3, 21, Holiday::Nauryz),
    always(3, 22, Holiday::Nauryz),
    always(3, 23, Holiday::Nauryz),
    always(5, 1, Holiday::UnityDay),
    always(5, 7, Holiday::DefenderDay),
    always(5, 9, Holiday::VictoryDay),
    always(7, 6, Holiday::CapitalDay),
    FixedHoliday {
        month: 8,
        day: 30,
        holiday: Holiday::ConstitutionDay,
        from: ALWAYS_FROM,
        to: 2025,
    },
    FixedHoliday {
        month: 3,
        day: 15,
        holiday: Holiday::ConstitutionDay,
        from: 2027,
        to: ALWAYS_TO,
    },
    always(10, 25, Holiday::RepublicDay),
    always(12, 16, Holiday::IndependenceDay),
];

/// Religious days off on a fixed date; they never move even on a weekend.
pub const FIXED_RELIGIOUS_DAYS_OFF: &[(u32, u32, Holiday)] = &[(1, 7, Holiday::OrthodoxChristmas)];

/// Religious days off whose date changes each year (year, month, day); they never move either.
pub const MOVABLE_RELIGIOUS_DAYS_OFF: &[(i32, u32, u32, Holiday)] = &[
    (2024, 6, 16, Holiday::KurbanAit),
    (2025, 6, 6, Holiday::KurbanAit),
    (2026, 5, 27, Holiday::KurbanAit),
];

/// A day-off transfer by decree: `worked` (a weekend day) becomes working, `off` (a weekday) a day off.
pub struct Transfer {
    pub year: i32,
    pub worked: (u32, u32),
    pub off: (u32, u32),
    pub act: Names,
}

pub const TRANSFERS: &[Transfer] = &[
    Transfer {
        year: 2024,
        worked: (5, 4),
        off: (5, 8),
        act: Names {
            kk: "Үкіметтің 2024 жылы демалыс күндерін ауыстыру туралы қаулысы",
            ru: "постановление Правительства о переносе выходных дней в 2024 году",
            en: "Government decree on the transfer of days off in 2024",
        },
    },
    Transfer {
        year: 2025,
        worked: (1, 5),
        off: (1, 3),
        act: Names {
            kk: "Үкіметтің 2025 жылы демалыс күндерін ауыстыру туралы қаулысы",
            ru: "постановление Правительства о переносе выходных дней в 2025 году",
            en: "Government decree on the transfer of days off in 2025",
        },
    },
];

/// Years whose movable days (religious days off and transfers) are all known; other years warn.
pub const MOVABLE_DAYS_CONFIRMED: &[i32] = &[2024, 2025, 2026];
