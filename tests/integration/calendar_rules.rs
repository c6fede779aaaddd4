//! The national calendar (C1, C2) and the deadline rules (R5, R11, F4-F7, O1, P1-P3), as tables of cases.

use baylanys::calendar::{
    Calendar, CalendarError, DayKind, DayOverride, Deadline, Source, WorkingHours, due_json,
    format_almaty, outage_notice_due, parse_instant, recording_due,
};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use chrono_tz::Asia::Almaty;
use proptest::prelude::*;
use std::sync::LazyLock;

/// Built once: the property test asks thousands of questions of the same calendar.
static BUILTIN: LazyLock<Calendar> = LazyLock::new(Calendar::builtin);

fn at(s: &str) -> DateTime<Utc> {
    parse_instant(s)
        .expect("test instants are valid")
        .with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("test dates are valid")
}

fn almaty(t: DateTime<Utc>) -> String {
    format_almaty(t)
}

fn hours() -> WorkingHours {
    WorkingHours::default()
}

/// (registered at, expected due in Almaty time, expected effective date)
fn check_reply_cases(cal: &Calendar, cases: &[(&str, &str, &str)]) {
    for (registered, due, effective) in cases {
        let d = cal
            .reply_due(at(registered), &hours())
            .expect("reply deadline");
        assert_eq!(almaty(d.due_at), *due, "R5 due for {registered}");
        assert_eq!(
            d.effective_from,
            day(effective),
            "R5 effective date for {registered}"
        );
        assert_eq!(d.rule, "R5");
        let fast = cal
            .reply_due_at(at(registered), &hours())
            .expect("fast reply deadline");
        assert_eq!(
            (fast.due_at, fast.effective_from),
            (d.due_at, d.effective_from),
            "fast path for {registered}"
        );
    }
}

#[test]
fn r5_reply_due_two_working_days_after_registration() {
    let cal = Calendar::builtin();
    check_reply_cases(
        &cal,
        &[
            // Mon 10:00 -> Wed 18:30
            (
                "2025-04-14T10:00:00+05:00",
                "2025-04-16T18:30:00+05:00",
                "2025-04-14",
            ),
            // before the start of working hours still counts that day
            (
                "2025-04-14T07:00:00+05:00",
                "2025-04-16T18:30:00+05:00",
                "2025-04-14",
            ),
            // 18:29 counts that day, 18:30 is after hours
            (
                "2025-04-14T18:29:59+05:00",
                "2025-04-16T18:30:00+05:00",
                "2025-04-14",
            ),
            (
                "2025-04-14T18:30:00+05:00",
                "2025-04-17T18:30:00+05:00",
                "2025-04-15",
            ),
            // Mon 20:00 -> Thu 18:30
            (
                "2025-04-14T20:00:00+05:00",
                "2025-04-17T18:30:00+05:00",
                "2025-04-15",
            ),
            // Sat -> counted from Mon -> Wed 18:30
            (
                "2025-04-19T11:00:00+05:00",
                "2025-04-23T18:30:00+05:00",
                "2025-04-21",
            ),
            // Sun late night, given in UTC
            (
                "2025-04-20T18:59:00Z",
                "2025-04-23T18:30:00+05:00",
                "2025-04-21",
            ),
            // Fri 10:00; Sat 8 March moves the day off to Mon 10 March -> Wed 12 March
            (
                "2025-03-07T10:00:00+05:00",
                "2025-03-12T18:30:00+05:00",
                "2025-03-07",
            ),
        ],
    );
}

#[test]
fn r5_counts_across_the_new_year_holidays_and_the_2025_transfers() {
    let cal = Calendar::builtin();
    check_reply_cases(
        &cal,
        &[
            // Tue 31 Dec; 1-2 Jan holidays, Fri 3 Jan off by transfer, Sun 5 Jan worked, Mon 6 Jan
            (
                "2024-12-31T10:00:00+05:00",
                "2025-01-06T18:30:00+05:00",
                "2024-12-31",
            ),
            // after hours on 31 Dec: counted from Sun 5 Jan (worked); 7 Jan Orthodox Christmas off
            (
                "2024-12-31T19:00:00+05:00",
                "2025-01-08T18:30:00+05:00",
                "2025-01-05",
            ),
            (
                "2025-01-01T12:00:00+05:00",
                "2025-01-08T18:30:00+05:00",
                "2025-01-05",
            ),
            (
                "2025-01-03T12:00:00+05:00",
                "2025-01-08T18:30:00+05:00",
                "2025-01-05",
            ),
            // Sun 5 Jan 2025 is a working day: an appeal that day counts from it
            (
                "2025-01-05T10:00:00+05:00",
                "2025-01-08T18:30:00+05:00",
                "2025-01-05",
            ),
            (
                "2025-01-06T10:00:00+05:00",
                "2025-01-09T18:30:00+05:00",
                "2025-01-06",
            ),
        ],
    );
}

#[test]
fn r5_uses_almaty_time_across_the_2024_03_01_offset_change() {
    let cal = Calendar::builtin();
    check_reply_cases(
        &cal,
        &[
            // Thu 29 Feb 2024 17:00 at +06:00 is within hours -> Mon 4 Mar, now at +05:00
            (
                "2024-02-29T17:00:00+06:00",
                "2024-03-04T18:30:00+05:00",
                "2024-02-29",
            ),
            // 12:45Z was 18:45 in Almaty on 29 Feb (+06:00): after hours; at +05:00 it would have been 17:45
            (
                "2024-02-29T12:45:00Z",
                "2024-03-05T18:30:00+05:00",
                "2024-03-01",
            ),
            // Fri 1 Mar 2024 17:00 at +05:00 -> Tue 5 Mar
            (
                "2024-03-01T17:00:00+05:00",
                "2024-03-05T18:30:00+05:00",
                "2024-03-01",
            ),
            // before the change the due instant itself is at +06:00
            (
                "2024-02-26T10:00:00+06:00",
                "2024-02-28T18:30:00+06:00",
                "2024-02-26",
            ),
        ],
    );
    assert_eq!(
        almaty(at("2024-02-29T11:00:00Z")),
        "2024-02-29T17:00:00+06:00"
    );
    assert_eq!(
        almaty(at("2024-03-01T11:00:00Z")),
        "2024-03-01T16:00:00+05:00"
    );
}

#[test]
fn r5_weekend_holidays_shift_to_distinct_next_working_days() {
    let cal = Calendar::builtin();
    // Nauryz 2026: 21-23 Mar are Sat-Mon, so Tue 24 and Wed 25 are off too
    for (date, working) in [
        ("2026-03-20", true),
        ("2026-03-23", false),
        ("2026-03-24", false),
        ("2026-03-25", false),
        ("2026-03-26", true),
        // 8 Mar 2026 is a Sunday: Mon 9 Mar off
        ("2026-03-09", false),
        // 2025: 22-23 Mar Sat-Sun -> 24, 25 Mar off; 6 Jul Sun -> 7 Jul; 30 Aug Sat -> 1 Sep; 25 Oct Sat -> 27 Oct
        ("2025-03-24", false),
        ("2025-03-25", false),
        ("2025-03-26", true),
        ("2025-07-07", false),
        ("2025-09-01", false),
        ("2025-10-27", false),
        // the shift rule holds for any year: 1-2 Jan 2028 are Sat-Sun -> 3, 4 Jan off
        ("2028-01-03", false),
        ("2028-01-04", false),
        ("2028-01-05", true),
    ] {
        assert_eq!(cal.is_working_day(day(date)), working, "{date}");
    }
    check_reply_cases(
        &cal,
        &[(
            "2026-03-20T10:00:00+05:00",
            "2026-03-27T18:30:00+05:00",
            "2026-03-20",
        )],
    );
}

#[test]
fn c1_constitution_day_moves_from_30_august_to_15_march_in_2027() {
    let cal = Calendar::builtin();
    for (date, working) in [
        ("2024-08-30", false),
        // 30 Aug 2026 is a Sunday and no longer a holiday: Mon 31 Aug is worked
        ("2026-08-31", true),
        ("2027-08-30", true),
        // 15 Mar 2027 is a Monday
        ("2027-03-15", false),
        ("2026-03-16", true),
    ] {
        assert_eq!(cal.is_working_day(day(date)), working, "{date}");
    }
    check_reply_cases(
        &cal,
        &[(
            "2027-03-12T10:00:00+05:00",
            "2027-03-17T18:30:00+05:00",
            "2027-03-12",
        )],
    );
}

#[test]
fn c1_kurban_ait_and_orthodox_christmas_never_shift() {
    let cal = Calendar::builtin();
    for (date, working) in [
        ("2024-06-16", false),
        // Kurban Ait 2024 fell on a Sunday: Monday stays a working day
        ("2024-06-17", true),
        ("2025-06-06", false),
        ("2026-05-27", false),
        // 7 Jan 2024 was a Sunday: Monday 8 Jan worked
        ("2024-01-08", true),
        ("2025-01-07", false),
    ] {
        assert_eq!(cal.is_working_day(day(date)), working, "{date}");
    }
    check_reply_cases(
        &cal,
        &[(
            "2025-06-05T10:00:00+05:00",
            "2025-06-10T18:30:00+05:00",
            "2025-06-05",
        )],
    );
}

#[test]
fn c1_2024_transfer_saturday_4_may_worked_wednesday_8_may_off() {
    let cal = Calendar::builtin();
    assert!(cal.is_working_day(day("2024-05-04")));
    assert!(!cal.is_working_day(day("2024-05-08")));
    check_reply_cases(
        &cal,
        &[
            (
                "2024-05-03T10:00:00+05:00",
                "2024-05-06T18:30:00+05:00",
                "2024-05-03",
            ),
            // 7, 8, 9 May off
            (
                "2024-05-06T10:00:00+05:00",
                "2024-05-13T18:30:00+05:00",
                "2024-05-06",
            ),
        ],
    );
}

#[test]
fn c1_year_without_movable_days_answers_and_warns() {
    let cal = Calendar::builtin();
    let d = cal
        .reply_due(at("2027-03-12T10:00:00+05:00"), &hours())
        .expect("2027 deadline");
    assert_eq!(d.warnings.len(), 1);
    assert!(
        d.explanation.en.contains("2027") && d.explanation.en.contains("not set"),
        "{}",
        d.explanation.en
    );
    assert!(
        d.explanation.ru.contains("не установлены"),
        "{}",
        d.explanation.ru
    );
    assert!(
        d.explanation.kk.contains("белгіленбеген"),
        "{}",
        d.explanation.kk
    );
    let d = cal
        .reply_due(at("2025-03-07T10:00:00+05:00"), &hours())
        .expect("2025 deadline");
    assert!(d.warnings.is_empty());
    // a deadline running from 2026 into 2027 warns about 2027
    let d = cal
        .working_days_due(at("2026-12-30T10:00:00+05:00"), 5, "F5", &hours())
        .expect("deadline");
    assert_eq!(d.warnings.len(), 1);
    assert!(d.warnings[0].en.contains("2027"));
    // 2023 was never set either
    let d = cal
        .reply_due(at("2023-06-01T10:00:00+06:00"), &hours())
        .expect("2023 deadline");
    assert_eq!(d.warnings.len(), 1);

    let mut cal = cal;
    cal.confirm_movable_days(2027);
    let d = cal
        .reply_due(at("2027-03-12T10:00:00+05:00"), &hours())
        .expect("2027 deadline");
    assert!(d.warnings.is_empty());
}

#[test]
fn c1_overrides_win_over_builtin_data() {
    let ov = |date: &str, kind: DayKind, note: &str| DayOverride {
        date: day(date),
        kind,
        note: note.to_owned(),
    };
    let mut cal = Calendar::builtin();
    // Kurban Ait 2027 set as a day off on a Sunday: a day off does not shift
    cal.set(ov(
        "2027-05-16",
        DayKind::DayOff,
        "Decree No. 1 on Kurban Ait 2027",
    ));
    assert!(!cal.is_working_day(day("2027-05-16")));
    assert!(cal.is_working_day(day("2027-05-17")));
    // a holiday set on a Saturday does shift to Monday
    cal.set(ov(
        "2027-05-15",
        DayKind::Holiday,
        "Law No. 2, a new holiday",
    ));
    assert!(!cal.is_working_day(day("2027-05-17")));
    assert!(cal.is_working_day(day("2027-05-18")));
    // Victory Day 2025 made a working day; Saturday 19 Apr 2025 worked
    cal.set(ov("2025-05-09", DayKind::WorkingDay, "Decree No. 3"));
    cal.set(ov("2025-04-19", DayKind::WorkingDay, "Decree No. 4"));
    assert!(cal.is_working_day(day("2025-05-09")));
    check_reply_cases(
        &cal,
        &[(
            "2025-04-18T10:00:00+05:00",
            "2025-04-21T18:30:00+05:00",
            "2025-04-18",
        )],
    );
    // the override is named in the explanation
    let d = cal
        .reply_due(at("2025-04-18T10:00:00+05:00"), &hours())
        .expect("deadline");
    assert!(
        d.explanation.en.contains("Decree No. 4"),
        "{}",
        d.explanation.en
    );
    // removing it restores the built-in data
    assert!(cal.remove(day("2025-05-09")).is_some());
    assert!(!cal.is_working_day(day("2025-05-09")));
    // with_overrides builds the same calendar as set, later duplicates winning
    let built = Calendar::with_overrides([
        ov("2025-04-19", DayKind::DayOff, "first"),
        ov("2025-04-19", DayKind::WorkingDay, "Decree No. 4"),
    ]);
    assert!(built.is_working_day(day("2025-04-19")));
    assert_eq!(
        built
            .override_for(day("2025-04-19"))
            .map(|o| o.note.as_str()),
        Some("Decree No. 4")
    );
}

#[test]
fn c1_day_kind_parses_the_three_kinds_and_names_them_on_error() {
    assert_eq!("holiday".parse::<DayKind>(), Ok(DayKind::Holiday));
    assert_eq!("day-off".parse::<DayKind>(), Ok(DayKind::DayOff));
    assert_eq!("working-day".parse::<DayKind>(), Ok(DayKind::WorkingDay));
    let err = "weekend".parse::<DayKind>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown kind of day `weekend`: expected one of holiday, day-off, working-day"
    );
    let o: DayOverride =
        serde_json::from_str(r#"{"date":"2027-05-16","kind":"day-off","note":"Decree"}"#)
            .expect("override json");
    assert_eq!(o.kind, DayKind::DayOff);
    assert_eq!(serde_json::to_value(&o).expect("json")["kind"], "day-off");
}

#[test]
fn f4_f5_f6_f7_working_days_deadlines() {
    let cal = Calendar::builtin();
    for (rule, n, registered, due) in [
        (
            "F4",
            3,
            "2025-04-14T10:00:00+05:00",
            "2025-04-17T18:30:00+05:00",
        ),
        (
            "F5",
            5,
            "2025-04-14T10:00:00+05:00",
            "2025-04-21T18:30:00+05:00",
        ),
        (
            "F7",
            5,
            "2025-04-14T20:00:00+05:00",
            "2025-04-22T18:30:00+05:00",
        ),
        (
            "F6",
            10,
            "2025-04-14T10:00:00+05:00",
            "2025-04-28T18:30:00+05:00",
        ),
        // F4 across 1, 7, 9 May 2025
        (
            "F4",
            3,
            "2025-04-30T10:00:00+05:00",
            "2025-05-06T18:30:00+05:00",
        ),
        // N = 0: the end of the effective date
        (
            "F4",
            0,
            "2025-04-14T10:00:00+05:00",
            "2025-04-14T18:30:00+05:00",
        ),
        (
            "F4",
            0,
            "2025-04-14T20:00:00+05:00",
            "2025-04-15T18:30:00+05:00",
        ),
    ] {
        let d = cal
            .working_days_due(at(registered), n, rule, &hours())
            .expect("deadline");
        assert_eq!(almaty(d.due_at), due, "{rule} {n} from {registered}");
        assert_eq!(d.rule, rule);
        assert!(d.explanation.en.contains(rule));
    }
    let err = cal
        .working_days_due_at(at("2025-04-14T10:00:00+05:00"), 366, &hours())
        .unwrap_err();
    assert_eq!(err, CalendarError::WorkingDaysOutOfRange { n: 366 });
    assert_eq!(
        err.to_string(),
        "number of working days 366 is out of range 0..=365"
    );
    assert!(
        cal.working_days_due_at(at("2025-04-14T10:00:00+05:00"), 365, &hours())
            .is_ok()
    );
}

#[test]
fn c2_working_hours_are_configurable() {
    let cal = Calendar::builtin();
    let short = WorkingHours::new(
        NaiveTime::from_hms_opt(9, 0, 0).expect("time"),
        NaiveTime::from_hms_opt(17, 30, 0).expect("time"),
    )
    .expect("valid hours");
    // 18:00 is after a 17:30 close
    let d = cal
        .reply_due(at("2025-04-14T18:00:00+05:00"), &short)
        .expect("deadline");
    assert_eq!(almaty(d.due_at), "2025-04-17T17:30:00+05:00");
    assert!(WorkingHours::new(short.end, short.start).is_err());
    let json = serde_json::to_string(&WorkingHours::default()).expect("json");
    assert_eq!(json, r#"{"start":"09:00:00","end":"18:30:00"}"#);
}

#[test]
fn p2_explanation_due_by_the_next_working_day() {
    let cal = Calendar::builtin();
    for (received, due) in [
        ("2025-03-07T10:00:00+05:00", "2025-03-11T18:30:00+05:00"),
        ("2025-03-08T10:00:00+05:00", "2025-03-11T18:30:00+05:00"),
        ("2025-04-16T23:00:00+05:00", "2025-04-17T18:30:00+05:00"),
        ("2024-12-31T09:00:00+05:00", "2025-01-05T18:30:00+05:00"),
    ] {
        let d = cal
            .next_working_day_due(at(received), &hours())
            .expect("deadline");
        assert_eq!(almaty(d.due_at), due, "P2 from {received}");
        assert_eq!(d.rule, "P2");
    }
}

#[test]
fn r11_recording_due_four_calendar_hours_later() {
    for (requested, due) in [
        ("2025-03-07T22:00:00+05:00", "2025-03-08T02:00:00+05:00"),
        ("2025-03-08T10:00:00+05:00", "2025-03-08T14:00:00+05:00"),
        // across the offset change: 22:00 +06:00 is 16:00Z, due 20:00Z = 01:00 +05:00
        ("2024-02-29T22:00:00+06:00", "2024-03-01T01:00:00+05:00"),
    ] {
        let d = recording_due(at(requested)).expect("deadline");
        assert_eq!(almaty(d.due_at), due, "R11 from {requested}");
        assert_eq!(d.rule, "R11");
    }
}

#[test]
fn o1_outage_notice_goes_out_24_hours_before_the_start() {
    let d = outage_notice_due(at("2025-03-10T09:00:00+05:00")).expect("deadline");
    assert_eq!(almaty(d.due_at), "2025-03-09T09:00:00+05:00");
    assert_eq!(d.rule, "O1");
    assert!(d.explanation.ru.contains("24 часа"));
}

#[test]
fn p1_p3_reports_due_by_the_5th_of_the_next_month_even_when_not_a_working_day() {
    let cal = Calendar::builtin();
    for (rule, asked, due, effective) in [
        // 5 Apr 2025 is a Saturday: the deadline stays
        (
            "P1",
            "2025-03-15T10:00:00+05:00",
            "2025-04-05T18:30:00+05:00",
            "2025-04-01",
        ),
        (
            "P3",
            "2025-12-20T10:00:00+05:00",
            "2026-01-05T18:30:00+05:00",
            "2026-01-01",
        ),
        // 31 Mar 20:00Z is already 1 Apr in Almaty
        (
            "P1",
            "2025-03-31T20:00:00Z",
            "2025-05-05T18:30:00+05:00",
            "2025-05-01",
        ),
    ] {
        let d = cal
            .monthly_report_due(at(asked), rule, &hours())
            .expect("deadline");
        assert_eq!(almaty(d.due_at), due, "{rule} from {asked}");
        assert_eq!(d.effective_from, day(effective));
    }
    let d = cal
        .monthly_report_due(at("2025-03-15T10:00:00+05:00"), "P1", &hours())
        .expect("deadline");
    assert!(
        d.explanation.ru.contains("не переносится"),
        "{}",
        d.explanation.ru
    );
    assert!(
        d.explanation.en.contains("does not move"),
        "{}",
        d.explanation.en
    );
}

#[test]
fn r5_explanation_names_rule_dates_and_skipped_days_in_three_languages() {
    let cal = Calendar::builtin();
    let d = cal
        .reply_due(at("2025-03-07T10:00:00+05:00"), &hours())
        .expect("deadline");
    let ru = &d.explanation.ru;
    assert!(
        ru.contains("Зарегистрировано 07.03.2025 (пятница) в 10:00"),
        "{ru}"
    );
    assert!(
        ru.contains("2 рабочих дня (R5): до 18:30 12.03.2025 (среда), время Алматы"),
        "{ru}"
    );
    assert!(
        ru.contains("10.03.2025 (понедельник) — перенесённый выходной"),
        "{ru}"
    );
    assert!(ru.contains("Международный женский день"), "{ru}");
    let en = &d.explanation.en;
    assert!(
        en.contains("2 working days (R5): by 18:30 Wednesday 12.03.2025"),
        "{en}"
    );
    assert!(en.contains("Monday 10.03.2025"), "{en}");
    let kk = &d.explanation.kk;
    assert!(
        kk.contains("2 жұмыс күні (R5)") && kk.contains("12.03.2025 (сәрсенбі), 18:30"),
        "{kk}"
    );
    assert!(kk.contains("Халықаралық әйелдер күні"), "{kk}");

    let d = cal
        .reply_due(at("2025-03-08T10:00:00+05:00"), &hours())
        .expect("deadline");
    assert!(
        d.explanation
            .ru
            .contains("в нерабочий день; срок считается с 11.03.2025 (вторник)"),
        "{}",
        d.explanation.ru
    );
    let d = cal
        .reply_due(at("2024-12-31T19:00:00+05:00"), &hours())
        .expect("deadline");
    assert!(
        d.explanation
            .ru
            .contains("после окончания рабочего времени"),
        "{}",
        d.explanation.ru
    );
    assert!(
        d.explanation
            .ru
            .contains("05.01.2025 (воскресенье) — рабочий день по переносу"),
        "{}",
        d.explanation.ru
    );
    assert!(
        d.explanation
            .ru
            .contains("07.01.2025 (вторник) — выходной: Православное Рождество"),
        "{}",
        d.explanation.ru
    );
}

#[test]
fn due_json_is_what_the_cli_and_the_api_print() {
    let cal = Calendar::builtin();
    let d = cal
        .reply_due(at("2025-03-07T10:00:00+05:00"), &hours())
        .expect("deadline");
    let v = due_json(&d);
    assert_eq!(v["due_at"], "2025-03-12T18:30:00+05:00");
    assert_eq!(v["effective_from"], "2025-03-07");
    assert_eq!(v["rule"], "R5");
    assert_eq!(v["explanation"]["ru"], d.explanation.ru.as_str());
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    // a stored deadline keeps how it was computed
    let stored = serde_json::to_string(&d).expect("json");
    let back: Deadline = serde_json::from_str(&stored).expect("stored deadline");
    assert_eq!(back, d);
}

#[test]
fn parse_instant_needs_an_offset() {
    assert_eq!(
        parse_instant("2025-03-07T10:00").unwrap_err().to_string(),
        "time `2025-03-07T10:00` has no UTC offset: add +05:00 or Z"
    );
    assert!(matches!(
        parse_instant("07.03.2025 10:00"),
        Err(CalendarError::UnparseableTime { .. })
    ));
    assert_eq!(at("2025-03-07T10:00:00+05:00"), at("2025-03-07T05:00:00Z"));
}

#[test]
fn c1_year_listing_names_every_non_working_weekday_and_working_weekend_day() {
    let cal = Calendar::builtin();
    let y = cal.year(2025);
    assert!(y.movable_days_set && y.warnings.is_empty());
    let off_weekdays: Vec<String> = y
        .days
        .iter()
        .filter(|d| !d.working && d.date.weekday().num_days_from_monday() < 5)
        .map(|d| d.date.format("%m-%d").to_string())
        .collect();
    assert_eq!(
        off_weekdays,
        [
            "01-01", "01-02", "01-03", "01-07", "03-10", "03-21", "03-24", "03-25", "05-01",
            "05-07", "05-09", "06-06", "07-07", "09-01", "10-27", "12-16"
        ]
    );
    let jan5 = y
        .days
        .iter()
        .find(|d| d.date == day("2025-01-05"))
        .expect("5 Jan listed");
    assert!(jan5.working && jan5.kind == DayKind::WorkingDay && jan5.source == Source::Builtin);
    assert!(jan5.note.as_deref().is_some_and(|n| n.contains("decree")));
    let json = serde_json::to_value(&y).expect("listing json");
    assert_eq!(json["days"][0]["date"], "2025-01-01");
    assert_eq!(json["days"][0]["kind"], "holiday");

    let y = cal.year(2027);
    assert!(!y.movable_days_set && y.warnings.len() == 1);
    assert!(
        y.days
            .iter()
            .any(|d| d.date == day("2027-03-15") && d.kind == DayKind::Holiday)
    );
    assert!(!y.days.iter().any(|d| d.date == day("2027-08-30")));

    let mut cal = cal;
    cal.set(DayOverride {
        date: day("2027-05-16"),
        kind: DayKind::DayOff,
        note: "Decree on Kurban Ait".into(),
    });
    let listed = cal
        .year(2027)
        .days
        .into_iter()
        .find(|d| d.date == day("2027-05-16"))
        .expect("override listed");
    assert_eq!(
        (listed.source, listed.note.as_deref()),
        (Source::Override, Some("Decree on Kurban Ait"))
    );
}

#[test]
fn c1_ics_is_a_valid_deterministic_rfc5545_calendar() {
    let cal = Calendar::builtin();
    let ics = cal.ics(2026);
    assert_eq!(ics, cal.ics(2026), "deterministic");
    assert!(
        ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:"),
        "{ics}"
    );
    assert!(ics.ends_with("END:VCALENDAR\r\n"));
    assert!(
        !ics.replace("\r\n", "").contains('\n'),
        "only CRLF line ends"
    );
    for line in ics.split("\r\n") {
        assert!(line.len() <= 75, "line longer than 75 octets: {line}");
    }
    let events = ics.matches("BEGIN:VEVENT").count();
    assert_eq!(events, cal.year(2026).days.len());
    assert_eq!(events, ics.matches("END:VEVENT").count());
    assert_eq!(events, ics.matches("\r\nUID:").count());
    assert_eq!(events, ics.matches("\r\nDTSTAMP:20260101T000000Z").count());
    let unfolded = ics.replace("\r\n ", "");
    assert!(unfolded.contains("DTSTART;VALUE=DATE:20260324\r\nDTEND;VALUE=DATE:20260325\r\n"));
    assert!(
        unfolded.contains("SUMMARY:Праздник: Наурыз мейрамы / Мереке: Наурыз мейрамы"),
        "{unfolded}"
    );
}

#[test]
fn c1_years_outside_the_precomputed_tables_follow_the_same_rules() {
    let cal = Calendar::builtin();
    // 1 Jan 2150 and 16 Dec 1990
    assert!(!cal.is_working_day(day("2150-01-01")));
    assert!(!cal.is_working_day(day("1999-12-16")));
    // a count that runs off the end of the table
    let d = cal
        .reply_due(at("2100-12-30T10:00:00+05:00"), &hours())
        .expect("deadline");
    assert!(d.due_at > at("2100-12-30T10:00:00+05:00"));
    assert_eq!(d.due_at.with_timezone(&Almaty).time(), hours().end);
    assert!(cal.is_working_day(d.due_at.with_timezone(&Almaty).date_naive()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// R5/F4-F7: the due instant is the end of working hours on a working day, exactly n working days
    /// after the effective date, and never before the appeal.
    #[test]
    fn working_days_due_is_end_of_hours_on_the_nth_working_day(
        secs in at("2024-01-01T00:00:00+06:00").timestamp()..at("2028-01-01T00:00:00+05:00").timestamp(),
        n in 0u32..=20,
    ) {
        let cal = &*BUILTIN;
        let h = hours();
        let t = DateTime::from_timestamp(secs, 0).expect("in range");
        let due = cal.working_days_due_at(t, n, &h).expect("deadline");
        let local = due.due_at.with_timezone(&Almaty);
        prop_assert_eq!(local.time(), h.end);
        prop_assert!(cal.is_working_day(local.date_naive()));
        prop_assert!(cal.is_working_day(due.effective_from));
        prop_assert!(due.due_at > t);

        let reg = t.with_timezone(&Almaty);
        let counts_today = cal.is_working_day(reg.date_naive()) && reg.time() < h.end;
        prop_assert_eq!(due.effective_from == reg.date_naive(), counts_today);
        prop_assert!(due.effective_from >= reg.date_naive());
        // no working day between the registration date and the effective date
        let mut d = reg.date_naive().succ_opt().expect("date");
        while d < due.effective_from {
            prop_assert!(!cal.is_working_day(d));
            d = d.succ_opt().expect("date");
        }
        let mut working = 0;
        let mut d = due.effective_from.succ_opt().expect("date");
        while d <= local.date_naive() {
            working += u32::from(cal.is_working_day(d));
            d = d.succ_opt().expect("date");
        }
        prop_assert_eq!(working, n);
    }
}
