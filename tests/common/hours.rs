//! Business hours for tests: hours closed for the whole test, hours open around the clock.

use callgate::policy::hours::{CallHours, DAYS, WeeklyHours, weekday_name};

/// Hours open only one minute a week, three days from now (UTC): closed for the whole test.
pub fn closed_now() -> CallHours {
    let day = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::ToSpan::days(3))
        .unwrap();
    hours(&[weekday_name(day.weekday())])
}

/// Hours open around the clock every day (enabled, unlike `DISABLED` hours).
pub fn open_all_week() -> CallHours {
    hours(&DAYS)
}

/// Enabled hours in UTC on `days`: the whole day when all seven are given, else 00:00-00:01.
pub fn hours(days: &[&str]) -> CallHours {
    let close = if days.len() == 7 { "2359" } else { "0001" };
    CallHours {
        status: "ENABLED".into(),
        timezone_id: Some("UTC".into()),
        weekly_operating_hours: days
            .iter()
            .map(|d| WeeklyHours {
                day_of_week: d.to_string(),
                open_time: "0000".into(),
                close_time: close.into(),
            })
            .collect(),
        holiday_schedule: Vec::new(),
    }
}

/// The date `n` days from today (UTC), as Meta writes it (`2027-01-28`).
pub fn date_in(n: i64) -> String {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::ToSpan::days(n))
        .unwrap()
        .to_string()
}
