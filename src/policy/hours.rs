//! Business hours of one number, in the shape Meta's `/settings` uses for `call_hours`, so one
//! definition serves callgate's own decisions and the number's settings at Meta.
//!
//! [`CallHours`] is the wire/config shape (strings as Meta writes them: `"MONDAY"`, `"0930"`,
//! `"2026-12-25"`). [`CallHours::validate`] checks it by Meta's rules (see [`validate`]) and
//! compiles it into a [`Schedule`], which answers [`Schedule::is_open`] and
//! [`Schedule::next_change`] for any instant.
//!
//! # Semantics
//!
//! - Hours are wall-clock time in `timezone_id` (IANA names, from jiff's bundled database: no
//!   file is read and nothing is downloaded at run time). A range `open_time`..`close_time` is
//!   open from `open_time` up to, not including, `close_time`; `2359` as a closing or end time
//!   means the end of the day (Meta has no `2400`, and its own whole-day holiday is `0000`-`2359`).
//! - A day without a range is closed all day. Ranges never cross midnight (Meta requires
//!   open < close).
//! - A holiday closes its date from `start_time` to `end_time`; outside that interval the weekly
//!   hours of that date apply (so a partial holiday closes early or opens late).
//! - `status: DISABLED` means open around the clock (Meta's meaning too).
//! - DST: evaluation follows the wall clock. On a spring-forward day a range that covers the
//!   skipped hour is simply shorter (and one that starts inside it opens at the jump); on a
//!   fall-back day the repeated hour is evaluated twice, so a range ending inside it re-opens
//!   for the repeat. [`Schedule::next_change`] returns the exact instants of those changes.

mod validate;

#[cfg(test)]
mod tests;

pub use validate::{Entry, HoursError, MAX_HOLIDAYS, MAX_RANGES_PER_DAY};

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Deserializer, Serialize};

/// `call_hours` as Meta's `/settings` and callgate's configuration write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallHours {
    /// `ENABLED` (the hours below apply) or `DISABLED` (open around the clock).
    pub status: String,
    /// IANA time zone the hours are in, e.g. `America/Manaus`. Required when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone_id: Option<String>,
    /// Opening ranges, at most two per day.
    #[serde(default)]
    pub weekly_operating_hours: Vec<WeeklyHours>,
    /// Closures on given dates (at most 20, none in the past when sent to Meta).
    #[serde(default)]
    pub holiday_schedule: Vec<Holiday>,
}

/// One opening range of a weekday.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WeeklyHours {
    /// `MONDAY` ... `SUNDAY`.
    pub day_of_week: String,
    /// `HHMM`, e.g. `0900`.
    #[serde(deserialize_with = "hhmm")]
    pub open_time: String,
    /// `HHMM`, after `open_time`; `2359` is the end of the day.
    #[serde(deserialize_with = "hhmm")]
    pub close_time: String,
}

/// A closure on one date.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Holiday {
    /// `YYYY-MM-DD`, in the schedule's time zone.
    pub date: String,
    /// `HHMM` the closure starts (`0000` for the whole day).
    #[serde(deserialize_with = "hhmm")]
    pub start_time: String,
    /// `HHMM` the closure ends (`2359`: the end of the day).
    #[serde(deserialize_with = "hhmm")]
    pub end_time: String,
}

/// Meta types the times as integers in places (spec open question 15): accept `930` as `"0930"`.
fn hhmm<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(u32),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Text(s) => s,
        Raw::Number(n) => format!("{n:04}"),
    })
}

impl WeeklyHours {
    /// `MONDAY 0900-1700`, as errors and diffs show it.
    pub fn describe(&self) -> String {
        format!(
            "{} {}-{}",
            self.day_of_week, self.open_time, self.close_time
        )
    }
}

impl Holiday {
    /// `2026-12-25 0000-2359`, as errors and diffs show it.
    pub fn describe(&self) -> String {
        format!("{} {}-{}", self.date, self.start_time, self.end_time)
    }
}

impl CallHours {
    /// Open around the clock (`status: DISABLED`).
    pub fn always_open() -> Self {
        CallHours {
            status: "DISABLED".into(),
            timezone_id: None,
            weekly_operating_hours: Vec::new(),
            holiday_schedule: Vec::new(),
        }
    }

    /// Checks every rule Meta applies except "no past holiday dates" (a stale holiday in the
    /// configuration must not stop the gateway from starting) and compiles the schedule.
    pub fn validate(&self) -> Result<Schedule, HoursError> {
        validate::compile(self, None)
    }

    /// Checks every rule Meta applies, including that no holiday is before today in the
    /// schedule's time zone at `now`: what must hold before the hours are sent to Meta or
    /// accepted from the operator API.
    pub fn validate_for_meta(&self, now: Timestamp) -> Result<Schedule, HoursError> {
        validate::compile(self, Some(now))
    }

    /// The holidays dated before today (in the schedule's time zone at `now`).
    pub fn past_holidays(&self, now: Timestamp) -> Vec<&Holiday> {
        let tz = self
            .timezone_id
            .as_deref()
            .and_then(|id| TimeZone::get(id).ok())
            .unwrap_or(TimeZone::UTC);
        let today = tz.to_datetime(now).date();
        self.holiday_schedule
            .iter()
            .filter(|h| h.date.parse::<Date>().is_ok_and(|d| d < today))
            .collect()
    }
}

/// A range of minutes of a day: `start` inclusive, `end` exclusive (1440 = end of day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Minutes {
    pub start: u16,
    pub end: u16,
}

impl Minutes {
    fn contains(self, minute: u16) -> bool {
        self.start <= minute && minute < self.end
    }
}

/// Validated hours, ready to answer "open at this instant?".
#[derive(Debug, Clone)]
pub struct Schedule {
    hours: CallHours,
    /// `None`: disabled, open around the clock.
    tz: Option<TimeZone>,
    /// Opening ranges per weekday, Monday first, sorted.
    week: [Vec<Minutes>; 7],
    holidays: Vec<(Date, Minutes)>,
}

/// Whether a number is open at an instant, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenState {
    /// Open for calls.
    pub open: bool,
    /// Why, in words (`"open: MONDAY 0900-1700"`, `"closed: holiday 2026-12-25 0000-2359"`).
    pub why: String,
}

/// How far ahead [`Schedule::next_change`] looks: holidays (at most 20 days) cannot hide a
/// weekly opening for longer than this.
const HORIZON_DAYS: i32 = 400;
/// Days per search window of [`Schedule::next_change`].
const WINDOW_DAYS: i32 = 8;

impl Schedule {
    pub(crate) fn new(
        hours: CallHours,
        tz: Option<TimeZone>,
        week: [Vec<Minutes>; 7],
        holidays: Vec<(Date, Minutes)>,
    ) -> Self {
        Schedule {
            hours,
            tz,
            week,
            holidays,
        }
    }

    /// The hours this schedule was compiled from.
    pub fn hours(&self) -> &CallHours {
        &self.hours
    }

    /// The time zone, unless the hours are disabled.
    pub fn time_zone(&self) -> Option<&TimeZone> {
        self.tz.as_ref()
    }

    /// Whether calls are taken at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        match &self.tz {
            None => true,
            Some(tz) => {
                let dt = tz.to_datetime(at);
                self.open_at(dt.date(), minute_of(dt))
            }
        }
    }

    /// [`Self::is_open`] with the reason.
    pub fn state_at(&self, at: Timestamp) -> OpenState {
        let Some(tz) = &self.tz else {
            return OpenState {
                open: true,
                why: "open: business hours are disabled (open around the clock)".into(),
            };
        };
        let dt = tz.to_datetime(at);
        let (date, minute) = (dt.date(), minute_of(dt));
        let local = format!(
            "{} {:02}:{:02}",
            weekday_name(date.weekday()),
            dt.hour(),
            dt.minute()
        );
        if let Some((_, m)) = self
            .holidays
            .iter()
            .find(|(d, m)| *d == date && m.contains(minute))
        {
            return OpenState {
                open: false,
                why: format!("closed: holiday {date} {} ({local})", span_text(*m)),
            };
        }
        let day = &self.week[day_index(date.weekday())];
        if let Some(m) = day.iter().find(|m| m.contains(minute)) {
            return OpenState {
                open: true,
                why: format!(
                    "open: {} {} ({local})",
                    weekday_name(date.weekday()),
                    span_text(*m)
                ),
            };
        }
        let why = if day.is_empty() {
            format!(
                "closed: no opening hours on {} ({local})",
                weekday_name(date.weekday())
            )
        } else {
            let ranges: Vec<String> = day.iter().map(|m| span_text(*m)).collect();
            format!("closed: outside {} ({local})", ranges.join(", "))
        };
        OpenState { open: false, why }
    }

    /// The first instant after `at` at which [`Self::is_open`] changes, or `None` if it never
    /// does (hours disabled).
    pub fn next_change(&self, at: Timestamp) -> Option<Timestamp> {
        let tz = self.tz.as_ref()?;
        let open = self.is_open(at);
        let first = tz.to_datetime(at).date();
        let horizon = at
            .checked_add((24 * i64::from(HORIZON_DAYS)).hours())
            .ok()?;
        let transitions: Vec<Timestamp> = tz
            .following(at)
            .map(|t| t.timestamp())
            .take_while(|t| *t <= horizon)
            .collect();
        let mut lo = at;
        let mut w = 0;
        while w * WINDOW_DAYS < HORIZON_DAYS {
            let end_day = first.checked_add((WINDOW_DAYS * (w + 1)).days()).ok()?;
            let hi = tz
                .to_zoned(end_day.to_datetime(jiff::civil::Time::midnight()))
                .ok()?;
            let hi = hi.timestamp();
            let mut candidates: Vec<Timestamp> = transitions
                .iter()
                .copied()
                .filter(|t| lo < *t && *t <= hi)
                .collect();
            for offset in (WINDOW_DAYS * w - 1)..=(WINDOW_DAYS * (w + 1)) {
                let Ok(day) = first.checked_add(offset.days()) else {
                    continue;
                };
                for dt in self.boundaries(day) {
                    candidates.extend(instants_of(tz, dt).filter(|t| lo < *t && *t <= hi));
                }
            }
            candidates.sort();
            candidates.dedup();
            if let Some(c) = candidates.into_iter().find(|c| self.is_open(*c) != open) {
                return Some(c);
            }
            lo = hi;
            w += 1;
        }
        None
    }

    /// The next instant at or after `at` at which the number is open: `at` itself when open now.
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        if self.is_open(at) {
            Some(at)
        } else {
            self.next_change(at)
        }
    }

    fn open_at(&self, date: Date, minute: u16) -> bool {
        let holiday = self
            .holidays
            .iter()
            .any(|(d, m)| *d == date && m.contains(minute));
        !holiday
            && self.week[day_index(date.weekday())]
                .iter()
                .any(|m| m.contains(minute))
    }

    /// The wall-clock instants on `day` at which a range or holiday starts or ends.
    fn boundaries(&self, day: Date) -> Vec<DateTime> {
        let weekly = self.week[day_index(day.weekday())].iter();
        let holidays = self
            .holidays
            .iter()
            .filter(|(d, _)| *d == day)
            .map(|(_, m)| m);
        weekly
            .chain(holidays)
            .flat_map(|m| [m.start, m.end])
            .filter_map(|minute| at_minute(day, minute))
            .collect()
    }
}

/// Every instant whose wall clock in `tz` reads `dt`: none in a gap (the transition itself is a
/// candidate then), two in a fold.
fn instants_of(tz: &TimeZone, dt: DateTime) -> impl Iterator<Item = Timestamp> {
    let offsets = match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => vec![offset],
        AmbiguousOffset::Gap { .. } => Vec::new(),
        AmbiguousOffset::Fold { before, after } => vec![before, after],
    };
    offsets
        .into_iter()
        .filter_map(move |o| o.to_timestamp(dt).ok())
}

fn at_minute(day: Date, minute: u16) -> Option<DateTime> {
    if minute >= 1440 {
        let next = day.tomorrow().ok()?;
        return Some(next.to_datetime(jiff::civil::Time::midnight()));
    }
    let (h, m) = ((minute / 60) as i8, (minute % 60) as i8);
    Some(day.at(h, m, 0, 0))
}

fn minute_of(dt: DateTime) -> u16 {
    dt.hour() as u16 * 60 + dt.minute() as u16
}

/// Monday = 0 ... Sunday = 6.
pub(crate) fn day_index(w: Weekday) -> usize {
    w.to_monday_zero_offset() as usize
}

/// Meta's name of a weekday (`MONDAY`).
pub fn weekday_name(w: Weekday) -> &'static str {
    DAYS[day_index(w)]
}

/// Meta's weekday names, Monday first.
pub const DAYS: [&str; 7] = [
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "SUNDAY",
];

fn span_text(m: Minutes) -> String {
    let end = if m.end >= 1440 { 1439 } else { m.end };
    format!(
        "{:02}{:02}-{:02}{:02}",
        m.start / 60,
        m.start % 60,
        end / 60,
        end % 60
    )
}
