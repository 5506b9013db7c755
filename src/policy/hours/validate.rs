//! Meta's rules for `call_hours` ([`HoursError`] names the rule and the offending entry) and the
//! compilation of valid hours into a [`Schedule`].
//!
//! The rules, as Meta documents them (spec section 5 and the settings page's error list): status
//! `ENABLED|DISABLED`; a known time zone; `weekly_operating_hours` not empty when enabled; at most
//! two ranges per day; `HHMM` times with open < close; no overlapping ranges on a day; at most 20
//! holidays with `YYYY-MM-DD` dates and start < end; no holiday in the past. The sandbox answers
//! with these same errors, so callgate's refusal and Meta's read alike.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::{CallHours, DAYS, Minutes, Schedule};

/// Most ranges Meta accepts for one weekday.
pub const MAX_RANGES_PER_DAY: usize = 2;
/// Most holidays Meta accepts.
pub const MAX_HOLIDAYS: usize = 20;

/// Which list entry an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `weekly_operating_hours` or `holiday_schedule`.
    pub list: &'static str,
    /// Position in the list, from 0.
    pub index: usize,
    /// The entry as written (`MONDAY 0900-1700`).
    pub text: String,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}] ({})", self.list, self.index, self.text)
    }
}

/// Why hours were refused. Messages start with the key they are about and say what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HoursError {
    /// `status` is not `ENABLED` or `DISABLED`.
    #[error(
        "call_hours.status {found:?} is invalid: use ENABLED (the hours apply) or DISABLED (open around the clock)"
    )]
    InvalidStatus {
        /// What was written.
        found: String,
    },
    /// Enabled hours without a time zone.
    #[error(
        "call_hours.timezone_id is missing: set the IANA time zone the hours are in, e.g. \"America/Manaus\""
    )]
    MissingTimezone,
    /// A time zone name the tz database does not know.
    #[error(
        "call_hours.timezone_id {found:?} is invalid: use an IANA time zone name such as \"America/Manaus\" or \"Europe/Berlin\""
    )]
    InvalidTimezone {
        /// What was written.
        found: String,
    },
    /// Enabled hours with no opening range.
    #[error(
        "call_hours.weekly_operating_hours cannot be empty: list at least one opening range, or set status DISABLED to be open around the clock"
    )]
    EmptyWeeklyHours,
    /// A weekly range with an unknown day, a malformed time, or open not before close.
    #[error("call_hours.{entry}: invalid schedule: {problem}")]
    InvalidSchedule {
        /// The range.
        entry: Entry,
        /// What is wrong with it.
        problem: String,
    },
    /// More than [`MAX_RANGES_PER_DAY`] ranges on one day.
    #[error(
        "call_hours.{entry}: more than {MAX_RANGES_PER_DAY} entries are not allowed for {day} in weekly_operating_hours: merge ranges or drop one"
    )]
    TooManyRanges {
        /// The first range over the limit.
        entry: Entry,
        /// The day.
        day: &'static str,
    },
    /// Two ranges of one day overlap.
    #[error(
        "call_hours.{entry}: overlapping schedule is not allowed: it overlaps {other}; merge the two ranges or move one"
    )]
    Overlap {
        /// The later range.
        entry: Entry,
        /// The range it overlaps.
        other: Entry,
    },
    /// More than [`MAX_HOLIDAYS`] holidays.
    #[error(
        "call_hours.holiday_schedule has {count} entries: at most {MAX_HOLIDAYS} are allowed; remove past or minor ones"
    )]
    TooManyHolidays {
        /// How many were given.
        count: usize,
    },
    /// A holiday with a malformed date or times, or start not before end.
    #[error("call_hours.{entry}: invalid holiday: {problem}")]
    InvalidHoliday {
        /// The holiday.
        entry: Entry,
        /// What is wrong with it.
        problem: String,
    },
    /// A holiday dated before today.
    #[error("call_hours.{entry}: holiday is a past date (today is {today} in {zone}): remove it")]
    PastHoliday {
        /// The holiday.
        entry: Entry,
        /// Today in the schedule's time zone.
        today: Date,
        /// The time zone "today" was taken in.
        zone: String,
    },
}

impl HoursError {
    /// The list entry the error is about, if it is about one.
    pub fn entry(&self) -> Option<&Entry> {
        match self {
            HoursError::InvalidSchedule { entry, .. }
            | HoursError::TooManyRanges { entry, .. }
            | HoursError::Overlap { entry, .. }
            | HoursError::InvalidHoliday { entry, .. }
            | HoursError::PastHoliday { entry, .. } => Some(entry),
            _ => None,
        }
    }

    /// The `call_hours` key the error is about (`timezone_id`, `weekly_operating_hours`, ...).
    pub fn key(&self) -> &'static str {
        match self {
            HoursError::InvalidStatus { .. } => "status",
            HoursError::MissingTimezone | HoursError::InvalidTimezone { .. } => "timezone_id",
            HoursError::EmptyWeeklyHours => "weekly_operating_hours",
            HoursError::TooManyHolidays { .. } => "holiday_schedule",
            other => other.entry().map_or("", |e| e.list),
        }
    }
}

/// `HHMM` as minutes of the day; `2359` as an end means the end of the day.
fn parse_hhmm(s: &str, is_end: bool) -> Result<u16, String> {
    let ok = s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
    let (h, m) = if ok {
        (
            s[..2].parse::<u16>().unwrap_or(99),
            s[2..].parse::<u16>().unwrap_or(99),
        )
    } else {
        (99, 99)
    };
    if h > 23 || m > 59 {
        return Err(format!(
            "time {s:?} is not HHMM (four digits, 0000 to 2359, e.g. \"0930\")"
        ));
    }
    let minutes = h * 60 + m;
    Ok(if is_end && minutes == 1439 {
        1440
    } else {
        minutes
    })
}

fn range(start: &str, end: &str, names: (&str, &str)) -> Result<Minutes, String> {
    let s = parse_hhmm(start, false).map_err(|e| format!("{}: {e}", names.0))?;
    let e = parse_hhmm(end, true).map_err(|e| format!("{}: {e}", names.1))?;
    if s >= e {
        return Err(format!(
            "{} {start} must be before {} {end}",
            names.0, names.1
        ));
    }
    Ok(Minutes { start: s, end: e })
}

/// Checks `hours` (with the past-date rule when `now` is given) and compiles it.
pub(super) fn compile(hours: &CallHours, now: Option<Timestamp>) -> Result<Schedule, HoursError> {
    let enabled = match hours.status.as_str() {
        "ENABLED" => true,
        "DISABLED" => false,
        other => {
            return Err(HoursError::InvalidStatus {
                found: other.to_string(),
            });
        }
    };
    let tz = match hours.timezone_id.as_deref() {
        Some(id) => Some(TimeZone::get(id).map_err(|_| HoursError::InvalidTimezone {
            found: id.to_string(),
        })?),
        None if enabled => return Err(HoursError::MissingTimezone),
        None => None,
    };
    if enabled && hours.weekly_operating_hours.is_empty() {
        return Err(HoursError::EmptyWeeklyHours);
    }

    let mut week: [Vec<(usize, Minutes)>; 7] = Default::default();
    for (index, w) in hours.weekly_operating_hours.iter().enumerate() {
        let entry = Entry {
            list: "weekly_operating_hours",
            index,
            text: w.describe(),
        };
        let Some(day) = DAYS.iter().position(|d| *d == w.day_of_week) else {
            return Err(HoursError::InvalidSchedule {
                entry,
                problem: format!(
                    "day_of_week {:?} is not one of MONDAY, TUESDAY, ..., SUNDAY",
                    w.day_of_week
                ),
            });
        };
        let m =
            range(&w.open_time, &w.close_time, ("open_time", "close_time")).map_err(|problem| {
                HoursError::InvalidSchedule {
                    entry: entry.clone(),
                    problem,
                }
            })?;
        if week[day].len() == MAX_RANGES_PER_DAY {
            return Err(HoursError::TooManyRanges {
                entry,
                day: DAYS[day],
            });
        }
        if let Some((other, _)) = week[day]
            .iter()
            .find(|(_, o)| o.start < m.end && m.start < o.end)
        {
            let o = &hours.weekly_operating_hours[*other];
            return Err(HoursError::Overlap {
                entry,
                other: Entry {
                    list: "weekly_operating_hours",
                    index: *other,
                    text: o.describe(),
                },
            });
        }
        week[day].push((index, m));
    }

    if hours.holiday_schedule.len() > MAX_HOLIDAYS {
        return Err(HoursError::TooManyHolidays {
            count: hours.holiday_schedule.len(),
        });
    }
    let zone = tz.clone().unwrap_or(TimeZone::UTC);
    let today = now.map(|n| zone.to_datetime(n).date());
    let mut holidays = Vec::with_capacity(hours.holiday_schedule.len());
    for (index, h) in hours.holiday_schedule.iter().enumerate() {
        let entry = Entry {
            list: "holiday_schedule",
            index,
            text: h.describe(),
        };
        let date = parse_date(&h.date).map_err(|problem| HoursError::InvalidHoliday {
            entry: entry.clone(),
            problem,
        })?;
        let m =
            range(&h.start_time, &h.end_time, ("start_time", "end_time")).map_err(|problem| {
                HoursError::InvalidHoliday {
                    entry: entry.clone(),
                    problem,
                }
            })?;
        if let Some(today) = today
            && date < today
        {
            return Err(HoursError::PastHoliday {
                entry,
                today,
                zone: zone.iana_name().unwrap_or("UTC").to_string(),
            });
        }
        holidays.push((date, m));
    }

    let week = week.map(|mut day| {
        day.sort_by_key(|(_, m)| m.start);
        day.into_iter().map(|(_, m)| m).collect()
    });
    let tz = if enabled { tz } else { None };
    Ok(Schedule::new(hours.clone(), tz, week, holidays))
}

/// `YYYY-MM-DD` and nothing else (jiff alone would also take other ISO 8601 forms).
fn parse_date(s: &str) -> Result<Date, String> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    let bad = || format!("date {s:?} is not a calendar date in YYYY-MM-DD format");
    if !shape {
        return Err(bad());
    }
    s.parse::<Date>().map_err(|_| bad())
}
