//! Table-driven tests of business hours: every weekday, two ranges a day, holidays (whole day and
//! partial), DST changes in America/New_York and Europe/Berlin, a zone without DST
//! (America/Manaus), and each of Meta's validation rules.

use super::*;

fn weekly(entries: &[(&str, &str, &str)]) -> Vec<WeeklyHours> {
    entries
        .iter()
        .map(|(d, o, c)| WeeklyHours {
            day_of_week: d.to_string(),
            open_time: o.to_string(),
            close_time: c.to_string(),
        })
        .collect()
}

fn holidays(entries: &[(&str, &str, &str)]) -> Vec<Holiday> {
    entries
        .iter()
        .map(|(d, s, e)| Holiday {
            date: d.to_string(),
            start_time: s.to_string(),
            end_time: e.to_string(),
        })
        .collect()
}

/// `n` whole-day holidays from the first of `month` (`2027-02`).
fn whole_days(month: &str, n: u32) -> Vec<Holiday> {
    (1..=n)
        .map(|d| Holiday {
            date: format!("{month}-{d:02}"),
            start_time: "0000".into(),
            end_time: "2359".into(),
        })
        .collect()
}

fn hours(tz: &str, week: &[(&str, &str, &str)], hol: &[(&str, &str, &str)]) -> CallHours {
    CallHours {
        status: "ENABLED".into(),
        timezone_id: Some(tz.into()),
        weekly_operating_hours: weekly(week),
        holiday_schedule: holidays(hol),
    }
}

fn schedule(tz: &str, week: &[(&str, &str, &str)], hol: &[(&str, &str, &str)]) -> Schedule {
    hours(tz, week, hol).validate().expect("valid hours")
}

/// An instant from RFC 3339 (`2026-03-09T13:00:00Z`).
fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

/// The instant a wall clock in `tz` reads `local` (`2027-01-04 09:00`; later offset in a fold).
fn local(tz: &str, local: &str) -> Timestamp {
    let dt: DateTime = local.parse().expect("civil datetime");
    dt.to_zoned(TimeZone::get(tz).unwrap()).unwrap().timestamp()
}

const WORK_WEEK: &[(&str, &str, &str)] = &[
    ("MONDAY", "0900", "1700"),
    ("TUESDAY", "0900", "1700"),
    ("WEDNESDAY", "0900", "1700"),
    ("THURSDAY", "0900", "1700"),
    ("FRIDAY", "0900", "1700"),
];

#[test]
fn each_weekday_opens_at_its_own_hours() {
    let s = schedule(
        "America/Manaus",
        &[
            ("MONDAY", "0800", "1200"),
            ("TUESDAY", "0900", "1300"),
            ("WEDNESDAY", "1000", "1400"),
            ("THURSDAY", "1100", "1500"),
            ("FRIDAY", "1200", "1600"),
            ("SATURDAY", "1300", "1700"),
        ],
        &[],
    );
    // 2027-01-04 is a Monday.
    let table = [
        ("2027-01-04 07:59", false),
        ("2027-01-04 08:00", true),
        ("2027-01-04 11:59", true),
        ("2027-01-04 12:00", false),
        ("2027-01-05 08:30", false),
        ("2027-01-05 09:00", true),
        ("2027-01-05 13:00", false),
        ("2027-01-06 09:59", false),
        ("2027-01-06 10:00", true),
        ("2027-01-06 13:59", true),
        ("2027-01-07 10:30", false),
        ("2027-01-07 11:00", true),
        ("2027-01-07 15:00", false),
        ("2027-01-08 11:00", false),
        ("2027-01-08 12:00", true),
        ("2027-01-08 16:00", false),
        ("2027-01-09 12:59", false),
        ("2027-01-09 13:00", true),
        ("2027-01-09 16:59", true),
        ("2027-01-10 00:00", false),
        ("2027-01-10 13:00", false),
        ("2027-01-10 23:59", false),
    ];
    for (when, open) in table {
        let at = local("America/Manaus", when);
        assert_eq!(s.is_open(at), open, "{when}: {}", s.state_at(at).why);
    }
    // Sunday has no range: the next change after Saturday's close is Monday 08:00.
    assert_eq!(
        s.next_change(local("America/Manaus", "2027-01-09 17:00")),
        Some(local("America/Manaus", "2027-01-11 08:00"))
    );
    assert!(
        s.state_at(local("America/Manaus", "2027-01-10 10:00"))
            .why
            .contains("no opening hours on SUNDAY")
    );
}

#[test]
fn two_ranges_in_a_day_close_over_lunch() {
    // Given in reverse order: the schedule sorts them.
    let s = schedule(
        "Europe/Berlin",
        &[("MONDAY", "1300", "1800"), ("MONDAY", "0900", "1200")],
        &[],
    );
    let tz = "Europe/Berlin";
    for (when, open) in [
        ("2027-01-04 08:59", false),
        ("2027-01-04 09:00", true),
        ("2027-01-04 11:59", true),
        ("2027-01-04 12:00", false),
        ("2027-01-04 12:59", false),
        ("2027-01-04 13:00", true),
        ("2027-01-04 17:59", true),
        ("2027-01-04 18:00", false),
    ] {
        assert_eq!(s.is_open(local(tz, when)), open, "{when}");
    }
    let change = |from: &str| s.next_change(local(tz, from));
    assert_eq!(
        change("2027-01-04 10:00"),
        Some(local(tz, "2027-01-04 12:00"))
    );
    assert_eq!(
        change("2027-01-04 12:00"),
        Some(local(tz, "2027-01-04 13:00"))
    );
    assert_eq!(
        change("2027-01-04 13:00"),
        Some(local(tz, "2027-01-04 18:00"))
    );
    assert_eq!(
        change("2027-01-04 18:00"),
        Some(local(tz, "2027-01-11 09:00"))
    );
    let why = s.state_at(local(tz, "2027-01-04 12:30")).why;
    assert!(why.contains("outside 0900-1200, 1300-1800"), "{why}");
}

#[test]
fn whole_day_holiday_closes_the_date_and_the_next_opening_skips_it() {
    let tz = "America/Manaus";
    let s = schedule(tz, WORK_WEEK, &[("2027-01-05", "0000", "2359")]);
    assert!(s.is_open(local(tz, "2027-01-04 10:00")));
    for when in ["2027-01-05 00:00", "2027-01-05 10:00", "2027-01-05 23:59"] {
        let st = s.state_at(local(tz, when));
        assert!(!st.open, "{when}");
        assert!(
            st.why.contains("holiday 2027-01-05 0000-2359"),
            "{}",
            st.why
        );
    }
    assert_eq!(
        s.next_change(local(tz, "2027-01-04 17:00")),
        Some(local(tz, "2027-01-06 09:00")),
        "Tuesday is a holiday, so Wednesday opens next"
    );
    assert_eq!(
        s.next_open(local(tz, "2027-01-05 10:00")),
        Some(local(tz, "2027-01-06 09:00"))
    );
}

#[test]
fn partial_holiday_closes_only_its_interval() {
    let tz = "America/Manaus";
    // Thursday 2027-01-07: closed from 12:00 (an early close).
    let s = schedule(tz, WORK_WEEK, &[("2027-01-07", "1200", "2359")]);
    for (when, open) in [
        ("2027-01-07 09:00", true),
        ("2027-01-07 11:59", true),
        ("2027-01-07 12:00", false),
        ("2027-01-07 16:00", false),
        ("2027-01-08 09:00", true),
    ] {
        assert_eq!(s.is_open(local(tz, when)), open, "{when}");
    }
    assert_eq!(
        s.next_change(local(tz, "2027-01-07 10:00")),
        Some(local(tz, "2027-01-07 12:00"))
    );
    // A late opening: closed until 11:00 on Friday.
    let s = schedule(tz, WORK_WEEK, &[("2027-01-08", "0000", "1100")]);
    assert!(!s.is_open(local(tz, "2027-01-08 10:00")));
    assert_eq!(
        s.next_change(local(tz, "2027-01-08 08:00")),
        Some(local(tz, "2027-01-08 11:00"))
    );
}

#[test]
fn closing_at_2359_means_the_end_of_the_day() {
    let tz = "Europe/Berlin";
    let s = schedule(tz, &[("MONDAY", "2200", "2359")], &[]);
    let almost_midnight = local(tz, "2027-01-04 23:59") + jiff::SignedDuration::from_secs(30);
    assert!(s.is_open(almost_midnight));
    assert_eq!(
        s.next_change(local(tz, "2027-01-04 22:30")),
        Some(local(tz, "2027-01-05 00:00"))
    );
}

#[test]
fn new_york_hours_follow_the_wall_clock_across_spring_forward() {
    let s = schedule("America/New_York", WORK_WEEK, &[]);
    // Friday 2026-03-06 is EST (-5): opens 14:00Z. DST starts Sunday 2026-03-08.
    let table = [
        ("2026-03-06T13:59:00Z", false),
        ("2026-03-06T14:00:00Z", true),
        ("2026-03-06T21:59:00Z", true),
        ("2026-03-06T22:00:00Z", false),
        // Monday 2026-03-09 is EDT (-4): opens 13:00Z, closes 21:00Z.
        ("2026-03-09T12:59:00Z", false),
        ("2026-03-09T13:00:00Z", true),
        ("2026-03-09T20:59:00Z", true),
        ("2026-03-09T21:00:00Z", false),
    ];
    for (at, open) in table {
        assert_eq!(s.is_open(ts(at)), open, "{at}");
    }
    assert_eq!(
        s.next_change(ts("2026-03-06T22:00:00Z")),
        Some(ts("2026-03-09T13:00:00Z"))
    );
}

#[test]
fn new_york_range_across_the_skipped_hour_is_an_hour_shorter() {
    // 2026-03-08 02:00 EST does not exist: the clock jumps to 03:00 EDT at 07:00Z.
    let s = schedule("America/New_York", &[("SUNDAY", "0100", "0300")], &[]);
    assert!(s.is_open(ts("2026-03-08T06:30:00Z")), "01:30 EST");
    assert_eq!(
        s.next_change(ts("2026-03-08T06:30:00Z")),
        Some(ts("2026-03-08T07:00:00Z")),
        "closes at 03:00 EDT, one hour after 01:00 EST"
    );
    // A range that starts inside the skipped hour opens at the jump.
    let s = schedule("America/New_York", &[("SUNDAY", "0230", "0400")], &[]);
    assert_eq!(
        s.next_change(ts("2026-03-08T06:00:00Z")),
        Some(ts("2026-03-08T07:00:00Z"))
    );
    assert_eq!(
        s.next_change(ts("2026-03-08T07:00:00Z")),
        Some(ts("2026-03-08T08:00:00Z")),
        "closes at 04:00 EDT"
    );
}

#[test]
fn new_york_fall_back_evaluates_the_repeated_hour_twice() {
    // 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00Z; 01:00-02:00 happens twice.
    let s = schedule("America/New_York", &[("SUNDAY", "0000", "0130")], &[]);
    let expected = [
        ("2026-11-01T04:00:00Z", "2026-11-01T05:30:00Z"), // 00:00 EDT .. 01:30 EDT
        ("2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z"), // closed until the clock goes back
        ("2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z"), // 01:00 EST .. 01:30 EST again
    ];
    for (from, to) in expected {
        assert_eq!(s.next_change(ts(from)), Some(ts(to)), "from {from}");
    }
    assert!(s.is_open(ts("2026-11-01T04:30:00Z")));
    assert!(!s.is_open(ts("2026-11-01T05:45:00Z")));
    assert!(s.is_open(ts("2026-11-01T06:15:00Z")));
    // The Monday after is EST: 09:00 is 14:00Z.
    let s = schedule("America/New_York", WORK_WEEK, &[]);
    assert_eq!(
        s.next_change(ts("2026-10-30T22:00:00Z")),
        Some(ts("2026-11-02T14:00:00Z"))
    );
}

#[test]
fn berlin_hours_follow_the_wall_clock_across_both_changes() {
    let tz = "Europe/Berlin";
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00Z.
    let s = schedule(tz, &[("SUNDAY", "0100", "0400")], &[]);
    assert_eq!(
        s.next_change(ts("2026-03-28T23:00:00Z")),
        Some(ts("2026-03-29T00:00:00Z")),
        "opens 01:00 CET"
    );
    assert_eq!(
        s.next_change(ts("2026-03-29T00:30:00Z")),
        Some(ts("2026-03-29T02:00:00Z")),
        "closes 04:00 CEST: two hours of opening instead of three"
    );
    let s = schedule(tz, WORK_WEEK, &[]);
    assert_eq!(
        s.next_change(ts("2026-03-27T16:00:00Z")),
        Some(ts("2026-03-30T07:00:00Z")),
        "Friday closes 17:00 CET = 16:00Z; Monday opens 09:00 CEST = 07:00Z"
    );
    // 2026-10-25: 03:00 CEST goes back to 02:00 CET at 01:00Z.
    assert_eq!(
        s.next_change(ts("2026-10-23T15:00:00Z")),
        Some(ts("2026-10-26T08:00:00Z")),
        "Friday closes 17:00 CEST = 15:00Z; Monday opens 09:00 CET = 08:00Z"
    );
}

#[test]
fn manaus_has_no_dst_so_utc_offsets_never_move() {
    let tz = "America/Manaus";
    let s = schedule(tz, WORK_WEEK, &[]);
    let zone = TimeZone::get(tz).unwrap();
    let year = ts("2026-01-01T00:00:00Z");
    let transitions = zone
        .following(year)
        .take_while(|t| t.timestamp() < ts("2027-01-01T00:00:00Z"))
        .count();
    assert_eq!(transitions, 0, "Manaus keeps UTC-4 all year");
    for (from, to) in [
        // January and July: 09:00 is 13:00Z both times.
        ("2026-01-02T21:00:00Z", "2026-01-05T13:00:00Z"),
        ("2026-07-03T21:00:00Z", "2026-07-06T13:00:00Z"),
    ] {
        assert_eq!(s.next_change(ts(from)), Some(ts(to)), "from {from}");
    }
}

#[test]
fn disabled_hours_are_open_around_the_clock() {
    let s = CallHours::always_open().validate().unwrap();
    assert!(s.is_open(ts("2026-12-25T03:00:00Z")));
    assert_eq!(s.next_change(ts("2026-12-25T03:00:00Z")), None);
    assert!(s.time_zone().is_none());
}

#[test]
fn meta_integer_times_are_read_as_hhmm() {
    let h: CallHours = serde_json::from_str(
        r#"{"status":"ENABLED","timezone_id":"America/Manaus",
            "weekly_operating_hours":[{"day_of_week":"MONDAY","open_time":400,"close_time":"1020"}]}"#,
    )
    .unwrap();
    assert_eq!(h.weekly_operating_hours[0].open_time, "0400");
    assert!(h.validate().is_ok());
}

/// Each of Meta's rules, with the message naming the entry.
#[test]
fn each_validation_rule_refuses_with_a_message_naming_the_entry() {
    type Edit = fn(&mut CallHours);
    let cases: &[(&str, Edit, &str)] = &[
        (
            "status",
            |h| h.status = "ON".into(),
            "call_hours.status \"ON\" is invalid",
        ),
        (
            "missing tz",
            |h| h.timezone_id = None,
            "call_hours.timezone_id is missing",
        ),
        (
            "unknown tz",
            |h| h.timezone_id = Some("Mars/Olympus_Mons".into()),
            "call_hours.timezone_id \"Mars/Olympus_Mons\" is invalid",
        ),
        (
            "empty week",
            |h| h.weekly_operating_hours.clear(),
            "call_hours.weekly_operating_hours cannot be empty",
        ),
        (
            "three ranges a day",
            |h| {
                h.weekly_operating_hours = weekly(&[
                    ("MONDAY", "0800", "0900"),
                    ("MONDAY", "1000", "1100"),
                    ("MONDAY", "1200", "1300"),
                ])
            },
            "call_hours.weekly_operating_hours[2] (MONDAY 1200-1300): more than 2 entries are not allowed for MONDAY",
        ),
        (
            "open after close",
            |h| h.weekly_operating_hours = weekly(&[("TUESDAY", "1700", "0900")]),
            "call_hours.weekly_operating_hours[0] (TUESDAY 1700-0900): invalid schedule: open_time 1700 must be before close_time 0900",
        ),
        (
            "open equals close",
            |h| h.weekly_operating_hours = weekly(&[("TUESDAY", "0900", "0900")]),
            "open_time 0900 must be before close_time 0900",
        ),
        (
            "bad time",
            |h| h.weekly_operating_hours = weekly(&[("TUESDAY", "09:00", "1700")]),
            "weekly_operating_hours[0] (TUESDAY 09:00-1700): invalid schedule: open_time: time \"09:00\" is not HHMM",
        ),
        (
            "hour 24",
            |h| h.weekly_operating_hours = weekly(&[("TUESDAY", "0900", "2400")]),
            "close_time: time \"2400\" is not HHMM",
        ),
        (
            "bad day",
            |h| h.weekly_operating_hours = weekly(&[("MON", "0900", "1700")]),
            "weekly_operating_hours[0] (MON 0900-1700): invalid schedule: day_of_week \"MON\"",
        ),
        (
            "overlap",
            |h| {
                h.weekly_operating_hours =
                    weekly(&[("FRIDAY", "0900", "1300"), ("FRIDAY", "1200", "1800")])
            },
            "call_hours.weekly_operating_hours[1] (FRIDAY 1200-1800): overlapping schedule is not allowed: it overlaps weekly_operating_hours[0] (FRIDAY 0900-1300)",
        ),
        (
            "too many holidays",
            |h| h.holiday_schedule = whole_days("2027-02", 21),
            "call_hours.holiday_schedule has 21 entries: at most 20 are allowed",
        ),
        (
            "bad date",
            |h| h.holiday_schedule = holidays(&[("25/12/2027", "0000", "2359")]),
            "call_hours.holiday_schedule[0] (25/12/2027 0000-2359): invalid holiday: date \"25/12/2027\" is not a calendar date in YYYY-MM-DD format",
        ),
        (
            "impossible date",
            |h| h.holiday_schedule = holidays(&[("2027-02-30", "0000", "2359")]),
            "date \"2027-02-30\" is not a calendar date",
        ),
        (
            "holiday end before start",
            |h| h.holiday_schedule = holidays(&[("2027-12-24", "1800", "1200")]),
            "holiday_schedule[0] (2027-12-24 1800-1200): invalid holiday: start_time 1800 must be before end_time 1200",
        ),
    ];
    for (name, edit, expected) in cases {
        let mut h = hours("America/Manaus", WORK_WEEK, &[]);
        edit(&mut h);
        let err = h.validate().expect_err(name).to_string();
        assert!(err.contains(expected), "{name}: {err}");
    }
}

#[test]
fn past_holidays_are_refused_for_meta_but_tolerated_in_the_configuration() {
    let h = hours(
        "America/Manaus",
        WORK_WEEK,
        &[
            ("2027-03-01", "0000", "2359"),
            ("2026-01-01", "0000", "2359"),
        ],
    );
    // 2026-06-01 12:00 in Manaus.
    let now = ts("2026-06-01T16:00:00Z");
    assert!(
        h.validate().is_ok(),
        "a stale holiday must not stop the gateway"
    );
    let err = h.validate_for_meta(now).unwrap_err();
    assert_eq!(err.key(), "holiday_schedule");
    assert_eq!(err.entry().map(|e| e.index), Some(1));
    assert_eq!(
        err.to_string(),
        "call_hours.holiday_schedule[1] (2026-01-01 0000-2359): holiday is a past date \
         (today is 2026-06-01 in America/Manaus): remove it"
    );
    assert_eq!(h.past_holidays(now).len(), 1);
    // Today is not in the past, in the schedule's own time zone: at 02:00Z on June 2 it is
    // still June 1 in Manaus.
    let h = hours(
        "America/Manaus",
        WORK_WEEK,
        &[("2026-06-01", "0000", "2359")],
    );
    assert!(h.validate_for_meta(ts("2026-06-02T02:00:00Z")).is_ok());
    assert!(h.validate_for_meta(ts("2026-06-02T05:00:00Z")).is_err());
}

#[test]
fn at_most_twenty_holidays_and_two_ranges_a_day_are_accepted() {
    let mut h = hours(
        "Europe/Berlin",
        &[("MONDAY", "0800", "1200"), ("MONDAY", "1200", "1600")],
        &[],
    );
    h.holiday_schedule = whole_days("2027-03", 20);
    let s = h.validate().expect("touching ranges do not overlap");
    assert!(s.is_open(local("Europe/Berlin", "2027-01-04 12:00")));
}
