//! Parsers from cleaned text to typed values: integers, doubles, booleans, dates,
//! timestamps (several formats, an IANA timezone, DST-correct conversion to UTC, hour 24 as
//! midnight of the next day) and geo points.

use std::cell::RefCell;
use std::sync::LazyLock;

use chrono::format::{self, Item, Parsed, StrftimeItems};
use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone,
};
use chrono_tz::Tz;

/// Parses a whole number.
pub fn int(text: &str) -> Result<i64, String> {
    text.parse::<i64>()
        .map_err(|_| "not a whole number".to_owned())
}

/// Parses a finite decimal number.
pub fn double(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err("not a number".to_owned()),
    }
}

/// Parses `true/false`, `yes/no`, `y/n`, `t/f`, `1/0` (any case).
pub fn boolean(text: &str) -> Result<bool, String> {
    const TRUE: [&str; 5] = ["true", "yes", "y", "t", "1"];
    const FALSE: [&str; 5] = ["false", "no", "n", "f", "0"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(text)) {
        Ok(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(text)) {
        Ok(false)
    } else {
        Err("not a boolean".to_owned())
    }
}

/// Date or timestamp formats (chrono strftime syntax) compiled once, so a value is
/// parsed without reading its format strings again.
#[derive(Clone, Debug)]
pub struct Formats {
    /// Each format's items, whether it reads an offset (`%z`), and its scanner when it
    /// has one.
    compiled: Vec<Compiled>,
}

/// One compiled format.
#[derive(Clone, Debug)]
struct Compiled {
    items: Vec<Item<'static>>,
    offset: bool,
    scanner: Option<Scanner>,
}

impl Formats {
    /// Compiles `formats`; an error names the first invalid one.
    pub fn compile<S: AsRef<str>>(formats: &[S]) -> Result<Formats, String> {
        let compiled = formats
            .iter()
            .map(|f| {
                let f = f.as_ref();
                StrftimeItems::new(f)
                    .parse_to_owned()
                    .map(|items| Compiled {
                        scanner: Scanner::compile(&items),
                        offset: has_offset(f),
                        items,
                    })
                    .map_err(|e| format!("format '{f}': {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Formats { compiled })
    }

    /// No format: only the ISO 8601 forms are read.
    pub fn none() -> Formats {
        Formats {
            compiled: Vec::new(),
        }
    }

    /// The local date and time `text` holds in the first of these formats that reads all
    /// of it.
    pub fn naive(&self, text: &str) -> Option<NaiveDateTime> {
        self.compiled.iter().find_map(|format| {
            if let Some(local) = format.scanner.as_ref().and_then(|s| s.scan(text)) {
                return Some(local);
            }
            let mut parsed = Parsed::new();
            format::parse(&mut parsed, text, format.items.iter()).ok()?;
            parsed.to_naive_datetime_with_offset(0).ok()
        })
    }

    /// What the first format with a scanner that takes `text` reads; `None` leaves `text`
    /// to chrono.
    fn scan(&self, text: &str) -> Option<NaiveDateTime> {
        self.compiled
            .iter()
            .find_map(|f| f.scanner.as_ref()?.scan(text))
    }

    /// `text` read by the first format that reads all of it into a value `convert`
    /// accepts.
    fn read<T>(&self, text: &str, convert: impl Fn(&Parsed) -> Option<T>) -> Option<T> {
        self.compiled.iter().find_map(|format| {
            let mut parsed = Parsed::new();
            format::parse(&mut parsed, text, format.items.iter()).ok()?;
            convert(&parsed)
        })
    }
}

/// ISO 8601 dates tried after a field's own formats.
static ISO_DATE: LazyLock<Formats> =
    LazyLock::new(|| Formats::compile(&["%Y-%m-%d"]).expect("valid formats"));

/// ISO 8601 forms without an offset tried after the field's own formats.
static ISO_NAIVE: LazyLock<Formats> = LazyLock::new(|| {
    Formats::compile(&[
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ])
    .expect("valid formats")
});

/// ISO 8601 with an offset, tried after RFC 3339.
static ISO_OFFSET: LazyLock<Formats> =
    LazyLock::new(|| Formats::compile(&["%Y-%m-%dT%H:%M:%S%.f%z"]).expect("valid formats"));

/// Parses a date with `formats`, then ISO 8601 (`2024-01-31`), into days since 1970-01-01.
pub fn date(text: &str, formats: &Formats) -> Result<i32, String> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
    [formats, &ISO_DATE]
        .into_iter()
        .find_map(|f| f.read(text, |p| p.to_naive_date().ok()))
        .or_else(|| timestamp_naive(text, formats).ok().map(|t| t.date()))
        .map(|d| (d - epoch).num_days() as i32)
        .ok_or_else(|| "not a date in the expected formats".to_owned())
}

/// A local (zone-less) timestamp from `formats` or ISO 8601.
fn timestamp_naive(text: &str, formats: &Formats) -> Result<NaiveDateTime, String> {
    [formats, &ISO_NAIVE]
        .into_iter()
        .find_map(|f| f.read(text, |p| p.to_naive_datetime_with_offset(0).ok()))
        .ok_or_else(|| "not a timestamp in the expected formats".to_owned())
}

/// The byte position of an hour written as `24` (after `T` or a space, before `:`).
fn hour_24(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (1..bytes.len().saturating_sub(2)).find(|&i| {
        matches!(bytes[i - 1], b'T' | b' ')
            && &bytes[i..i + 2] == b"24"
            && bytes.get(i + 2) == Some(&b':')
    })
}

/// Parses a timestamp into microseconds since the Unix epoch (UTC).
///
/// Text with an offset (`+0000`, `Z`, `-07:00`) is exact; otherwise it is local time in
/// `timezone` (UTC without one). A local time that occurs twice when clocks fall back is
/// the first occurrence; one that never occurs when clocks spring forward is invalid.
///
/// An hour written as `24` (ISO 8601's end of day) is midnight of the next day.
pub fn timestamp(text: &str, formats: &Formats, timezone: Option<Tz>) -> Result<i64, String> {
    match timestamp_once(text, formats, timezone) {
        Ok(micros) => Ok(micros),
        Err(error) => match hour_24(text) {
            Some(at) => {
                let mut fixed = text.to_owned();
                fixed.replace_range(at..at + 2, "00");
                let day = TimeDelta::days(1)
                    .num_microseconds()
                    .unwrap_or(86_400_000_000);
                timestamp_once(&fixed, formats, timezone).map(|micros| micros + day)
            }
            None => Err(error),
        },
    }
}

/// The field's formats are tried first, in order (a format with `%z` reads an exact time,
/// one without reads local time, even when it spells out an offset literally such as
/// `+0000`); then RFC 3339 / ISO 8601 with an offset (exact); then ISO 8601 without (local).
fn timestamp_once(text: &str, formats: &Formats, timezone: Option<Tz>) -> Result<i64, String> {
    for format in &formats.compiled {
        if let Some(local) = format.scanner.as_ref().and_then(|s| s.scan(text)) {
            return localize(local, timezone);
        }
        let mut parsed = Parsed::new();
        if format::parse(&mut parsed, text, format.items.iter()).is_err() {
            continue;
        }
        if format.offset {
            if let Ok(exact) = parsed.to_datetime() {
                return Ok(exact.timestamp_micros());
            }
        } else if let Ok(local) = parsed.to_naive_datetime_with_offset(0) {
            return localize(local, timezone);
        }
    }
    // ISO 8601 without an offset, when a scanner reads all of it: such text has no offset
    // for the forms below to read.
    if let Some(local) = ISO_NAIVE.scan(text) {
        return localize(local, timezone);
    }
    if let Some(exact) = DateTime::parse_from_rfc3339(text)
        .ok()
        .or_else(|| ISO_OFFSET.read(text, |p| p.to_datetime().ok()))
    {
        return Ok(exact.timestamp_micros());
    }
    localize(timestamp_naive(text, &Formats::none())?, timezone)
}

/// A reader of the common export formats — fixed-width numbers (`%Y` of 4 digits, `%m`,
/// `%d`, `%H`, `%I`, `%M`, `%S` of 2), literal ASCII, white space and `%p` — one byte at a
/// time, without chrono's general parser. Chrono reads the text it takes the same way;
/// text it does not take (other widths, signs, leap seconds, non-ASCII white space) goes
/// on to chrono, so the results never differ.
#[derive(Clone, Debug)]
struct Scanner {
    steps: Vec<Step>,
    /// Whether the hour is on a 12-hour clock with AM/PM.
    twelve_hour: bool,
}

/// One step of a [`Scanner`].
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    /// A number of exactly `width` digits into a date-time part.
    Digits(Part, usize),
    /// This byte.
    Byte(u8),
    /// Any ASCII white space, or none.
    Space,
    /// `AM` or `PM`, any case.
    AmPm,
    /// A fraction of a second (`%.f`): nothing, or a dot and 1 to 9 digits.
    Fraction,
}

/// The date-time parts a [`Scanner`] reads.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Part {
    Year,
    Month,
    Day,
    Hour,
    Hour12,
    Minute,
    Second,
}

impl Scanner {
    /// The scanner of a format, when the format is made of the steps it knows and reads a
    /// whole local date and time (year, month, day, hour, minute; AM/PM with a 12-hour
    /// clock).
    fn compile(items: &[Item<'_>]) -> Option<Scanner> {
        use chrono::format::Numeric;
        let mut steps = Vec::new();
        for item in items {
            match item {
                Item::Literal(text) => steps.extend(literal(text)?),
                Item::OwnedLiteral(text) => steps.extend(literal(text)?),
                Item::Space(_) | Item::OwnedSpace(_) => steps.push(Step::Space),
                Item::Fixed(
                    chrono::format::Fixed::UpperAmPm | chrono::format::Fixed::LowerAmPm,
                ) => steps.push(Step::AmPm),
                Item::Fixed(chrono::format::Fixed::Nanosecond) => steps.push(Step::Fraction),
                Item::Numeric(numeric, _) => steps.push(match numeric {
                    Numeric::Year => Step::Digits(Part::Year, 4),
                    Numeric::Month => Step::Digits(Part::Month, 2),
                    Numeric::Day => Step::Digits(Part::Day, 2),
                    Numeric::Hour => Step::Digits(Part::Hour, 2),
                    Numeric::Hour12 => Step::Digits(Part::Hour12, 2),
                    Numeric::Minute => Step::Digits(Part::Minute, 2),
                    Numeric::Second => Step::Digits(Part::Second, 2),
                    _ => return None,
                }),
                _ => return None,
            }
        }
        let count = |part: Part| {
            steps
                .iter()
                .filter(|s| matches!(s, Step::Digits(p, _) if *p == part))
                .count()
        };
        let am_pm = steps.iter().filter(|s| **s == Step::AmPm).count();
        let fractions = steps.iter().filter(|s| **s == Step::Fraction).count();
        let clock = (count(Part::Hour), count(Part::Hour12), am_pm);
        // A fraction needs the seconds (chrono rejects one without them), once.
        let whole = [Part::Year, Part::Month, Part::Day, Part::Minute]
            .into_iter()
            .all(|p| count(p) == 1)
            && count(Part::Second) <= 1
            && fractions <= count(Part::Second)
            && matches!(clock, (1, 0, 0) | (0, 1, 1));
        whole.then_some(Scanner {
            steps,
            twelve_hour: am_pm == 1,
        })
    }

    /// The local date and time `text` holds, or `None` for chrono to decide.
    fn scan(&self, text: &str) -> Option<NaiveDateTime> {
        let bytes = text.as_bytes();
        let mut at = 0;
        let mut values = [0u32; 7];
        let mut pm = false;
        let mut nanos = 0;
        for step in &self.steps {
            match *step {
                Step::Digits(part, width) => {
                    let digits = bytes.get(at..at + width)?;
                    let mut value = 0u32;
                    for &d in digits {
                        if !d.is_ascii_digit() {
                            return None;
                        }
                        value = value * 10 + u32::from(d - b'0');
                    }
                    values[part as usize] = value;
                    at += width;
                }
                Step::Byte(byte) => {
                    if bytes.get(at) != Some(&byte) {
                        return None;
                    }
                    at += 1;
                }
                Step::Space => {
                    while bytes
                        .get(at)
                        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
                    {
                        at += 1;
                    }
                    if bytes.get(at).is_some_and(|b| !b.is_ascii()) {
                        return None;
                    }
                }
                Step::AmPm => {
                    pm = match (bytes.get(at)? | 32, bytes.get(at + 1)? | 32) {
                        (b'a', b'm') => false,
                        (b'p', b'm') => true,
                        _ => return None,
                    };
                    at += 2;
                }
                Step::Fraction => {
                    if bytes.get(at) == Some(&b'.') {
                        let digits = bytes[at + 1..]
                            .iter()
                            .take_while(|b| b.is_ascii_digit())
                            .count();
                        // More than 9 digits (chrono skips the rest) is left to chrono.
                        if !(1..=9).contains(&digits) {
                            return None;
                        }
                        for &d in &bytes[at + 1..at + 1 + digits] {
                            nanos = nanos * 10 + u32::from(d - b'0');
                        }
                        nanos *= 10u32.pow((9 - digits) as u32);
                        at += 1 + digits;
                    }
                }
            }
        }
        if at != bytes.len() {
            return None;
        }
        let hour = if self.twelve_hour {
            let hour12 = values[Part::Hour12 as usize];
            if !(1..=12).contains(&hour12) {
                return None;
            }
            hour12 % 12 + if pm { 12 } else { 0 }
        } else {
            values[Part::Hour as usize]
        };
        let second = values[Part::Second as usize];
        if second > 59 {
            return None;
        }
        NaiveDate::from_ymd_opt(
            values[Part::Year as usize] as i32,
            values[Part::Month as usize],
            values[Part::Day as usize],
        )?
        .and_hms_nano_opt(hour, values[Part::Minute as usize], second, nanos)
    }
}

/// The steps of a literal: its bytes, when they are ASCII and not white space (chrono
/// reads white space in a literal loosely).
fn literal(text: &str) -> Option<Vec<Step>> {
    text.bytes()
        .map(|b| (b.is_ascii() && !b.is_ascii_whitespace() && b != 0x0b).then_some(Step::Byte(b)))
        .collect()
}

/// Whether a format reads an offset.
fn has_offset(format: &str) -> bool {
    format.contains("%z") || format.contains("%:z") || format.contains("%#z")
}

/// Days [`ZONE_DAYS`] holds at most before it starts afresh.
const ZONE_DAYS_MAX: usize = 1 << 16;

thread_local! {
    /// This thread's UTC offsets (seconds) of local days per zone: a day with one offset
    /// all day has it, a day when clocks change has `None` (its times are looked up one
    /// by one).
    static ZONE_DAYS: RefCell<foldhash::HashMap<(Tz, i32), Option<i32>>> =
        RefCell::new(foldhash::HashMap::default());
}

/// The UTC offset of `date` in `tz` when it is the same all day.
fn whole_day_offset(tz: Tz, date: NaiveDate) -> Option<i32> {
    let at = |time: NaiveTime| match tz.from_local_datetime(&date.and_time(time)) {
        chrono::LocalResult::Single(t) => Some(t.offset().fix().local_minus_utc()),
        _ => None,
    };
    let start = at(NaiveTime::MIN)?;
    let end = at(NaiveTime::from_hms_opt(23, 59, 59)?)?;
    (start == end).then_some(start)
}

/// A local time in `timezone` (UTC without one) as microseconds since the epoch. A local
/// time that occurs twice is the first; one that never occurs is invalid.
fn localize(local: NaiveDateTime, timezone: Option<Tz>) -> Result<i64, String> {
    let Some(tz) = timezone else {
        return Ok(local.and_utc().timestamp_micros());
    };
    let date = local.date();
    let day_offset = ZONE_DAYS.with_borrow_mut(|days| {
        if days.len() >= ZONE_DAYS_MAX {
            days.clear();
        }
        *days
            .entry((tz, date.num_days_from_ce()))
            .or_insert_with(|| whole_day_offset(tz, date))
    });
    if let Some(seconds) = day_offset {
        return Ok(local.and_utc().timestamp_micros() - i64::from(seconds) * 1_000_000);
    }
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Ok(t.timestamp_micros()),
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.timestamp_micros()),
        chrono::LocalResult::None => Err(format!(
            "{local} does not exist in {} (clocks sprang forward)",
            tz.name()
        )),
    }
}

/// Parses a point: `(lat, lon)`, `POINT (lon lat)`, or a GeoJSON point
/// (`{"type":"Point","coordinates":[lon, lat]}`). Returns `(lat, lon)`.
pub fn geo_point(text: &str) -> Result<(f64, f64), String> {
    let bad = || "not a point: expected (lat, lon), POINT (lon lat) or a GeoJSON point".to_owned();
    let numbers = |inner: &str, separator: char| -> Option<(f64, f64)> {
        let mut parts = inner
            .split(separator)
            .map(str::trim)
            .filter(|p| !p.is_empty());
        let a = parts.next()?.parse::<f64>().ok()?;
        let b = parts.next()?.parse::<f64>().ok()?;
        parts.next().is_none().then_some((a, b))
    };
    let (lat, lon) = if let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        numbers(inner, ',').ok_or_else(bad)?
    } else if let Some(rest) = text.strip_prefix("POINT") {
        let inner = rest
            .trim()
            .strip_prefix('(')
            .and_then(|t| t.strip_suffix(')'))
            .ok_or_else(bad)?;
        let (lon, lat) = numbers(inner, ' ').ok_or_else(bad)?;
        (lat, lon)
    } else if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
        let coordinates = value
            .get("coordinates")
            .and_then(|c| c.as_array())
            .ok_or_else(bad)?;
        match coordinates.as_slice() {
            [lon, lat] => (lat.as_f64().ok_or_else(bad)?, lon.as_f64().ok_or_else(bad)?),
            _ => return Err(bad()),
        }
    } else {
        return Err(bad());
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(format!("point ({lat}, {lon}) is outside the globe"));
    }
    Ok((lat, lon))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn la() -> Option<Tz> {
        Some(chrono_tz::America::Los_Angeles)
    }

    fn utc(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn seattle_local_times_become_utc_across_dst() {
        let f = Formats::compile(&["%Y-%m-%d %H:%M:%S", "%m/%d/%Y %I:%M:%S %p"]).unwrap();
        // Winter: UTC-8.
        assert_eq!(
            timestamp("2023-12-31 00:32:25", &f, la()).unwrap(),
            utc("2023-12-31T08:32:25Z")
        );
        // Summer: UTC-7, in the US export format.
        assert_eq!(
            timestamp("07/04/2020 09:39:33 PM", &f, la()).unwrap(),
            utc("2020-07-05T04:39:33Z")
        );
        // Fall back on 2023-11-05: 01:30 happens twice; the first is PDT (UTC-7).
        assert_eq!(
            timestamp("2023-11-05 01:30:00", &f, la()).unwrap(),
            utc("2023-11-05T08:30:00Z")
        );
        // Spring forward on 2024-03-10: 02:30 never happens.
        let gap = timestamp("2024-03-10 02:30:00", &f, la()).unwrap_err();
        assert!(gap.contains("does not exist"), "{gap}");
        // Socrata floating timestamps.
        assert_eq!(
            timestamp("2024-03-13T19:51:00.000", &Formats::none(), la()).unwrap(),
            utc("2024-03-14T02:51:00Z")
        );
    }

    #[test]
    fn whole_days_from_the_cache_agree_with_the_zone_hour_by_hour() {
        let zone = chrono_tz::America::Los_Angeles;
        let start = NaiveDate::from_ymd_opt(2023, 1, 1)
            .unwrap()
            .and_time(NaiveTime::MIN);
        for hour in 0..(366 * 24) {
            let local = start + TimeDelta::hours(hour) + TimeDelta::minutes(30);
            let expected = match zone.from_local_datetime(&local) {
                chrono::LocalResult::Single(t) => Some(t.timestamp_micros()),
                chrono::LocalResult::Ambiguous(first, _) => Some(first.timestamp_micros()),
                chrono::LocalResult::None => None,
            };
            // Twice: the second time the day comes from the cache.
            for _ in 0..2 {
                assert_eq!(localize(local, Some(zone)).ok(), expected, "{local}");
            }
        }
        let spring = NaiveDate::from_ymd_opt(2023, 3, 12).unwrap();
        assert_eq!(
            whole_day_offset(zone, spring),
            None,
            "clocks change that day"
        );
        let summer = NaiveDate::from_ymd_opt(2023, 7, 4).unwrap();
        assert_eq!(whole_day_offset(zone, summer), Some(-7 * 3600));
    }

    #[test]
    fn offsets_win_and_hour_24_is_next_midnight() {
        let fire = Formats::compile(&["%m/%d/%Y %I:%M:%S %p %z"]).unwrap();
        assert_eq!(
            timestamp("11/09/2011 10:04:00 PM +0000", &fire, la()).unwrap(),
            utc("2011-11-09T22:04:00Z")
        );
        assert_eq!(
            timestamp("2011-10-24T24:22:00+0000", &fire, la()).unwrap(),
            utc("2011-10-25T00:22:00Z")
        );
        assert!(timestamp("yesterday", &fire, la()).is_err());
        // A format that spells the offset out literally reads local time (the fire export
        // appends " +0000" to local times), before the ISO 8601 fallback would.
        let literal = Formats::compile(&["%Y-%m-%dT%H:%M:%S+0000"]).unwrap();
        assert_eq!(
            timestamp("2011-10-24T24:22:00+0000", &literal, la()).unwrap(),
            utc("2011-10-25T07:22:00Z")
        );
    }

    #[test]
    fn the_scanner_reads_what_chrono_reads_and_leaves_the_rest_to_it() {
        let texts = [
            "02/05/2020 09:39:33 AM",
            "02/05/2020 09:39:33 pm",
            "12/31/2023 12:00:00 AM",
            "12/31/2023 12:59:59 PM",
            "02/30/2020 09:39:33 AM",
            "13/01/2020 09:39:33 AM",
            "00/10/2020 00:10:00 AM",
            "2/5/2020 9:39:33 AM",
            " 02/05/2020 09:39:33 AM",
            "02/05/2020  09:39:33 AM",
            "02/05/2020\u{a0}09:39:33 AM",
            "02/05/2020 09:39:60 AM",
            "02/05/2020 09:39:33 AMX",
            "02/05/20201 09:39:33 AM",
            "2023-12-31 00:32:25",
            "2023-12-31 24:00:00",
            "2023-12-31T00:32:25",
            "+2023-12-31 00:32:25",
            "2024-01-17T06:02:17.000",
            "2024-01-17T06:02:17.5",
            "2024-01-17T06:02:17.123456789",
            "2024-01-17T06:02:17.1234567891",
            "2024-01-17T06:02:17.",
            "2024-01-17T06:02:17.12a",
            "2024-01-17T06:02:17.000Z",
            "2024-01-17T06:02:17.000-08:00",
        ];
        for format in [
            "%m/%d/%Y %I:%M:%S %p",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%dT%H:%M:%S%.f",
        ] {
            let items = StrftimeItems::new(format).parse_to_owned().unwrap();
            let scanner =
                Scanner::compile(&items).unwrap_or_else(|| panic!("no scanner for {format}"));
            for text in texts {
                let chrono = NaiveDateTime::parse_from_str(text, format).ok();
                if let Some(scanned) = scanner.scan(text) {
                    assert_eq!(Some(scanned), chrono, "{format} on {text:?}");
                }
            }
        }
        let us = StrftimeItems::new("%m/%d/%Y %I:%M:%S %p")
            .parse_to_owned()
            .unwrap();
        let us = Scanner::compile(&us).unwrap();
        assert!(
            us.scan("02/05/2020 09:39:33 AM").is_some(),
            "the export's form is scanned"
        );
        assert!(us.scan("2/5/2020 9:39:33 AM").is_none(), "left to chrono");
        let floating = Formats::compile(&["%Y-%m-%dT%H:%M:%S%.f"]).unwrap();
        for (text, scanned) in [
            ("2024-01-17T06:02:17.000", true),
            ("2024-01-17T06:02:17.25", true),
            ("2024-01-17T06:02:17", true),
            ("2024-01-17T06:02:17.1234567891", false),
        ] {
            assert_eq!(floating.scan(text).is_some(), scanned, "{text}");
            assert_eq!(
                floating.naive(text),
                NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok(),
                "{text}"
            );
        }
        // Formats are tried in order, scanned or not (the first reads day before month).
        let ordered = Formats::compile(&["%Y-%d-%mT%H:%M%.3f", "%Y-%m-%dT%H:%M"]).unwrap();
        assert_eq!(
            ordered.naive("2024-01-02T03:04"),
            NaiveDateTime::parse_from_str("2024-02-01T03:04", "%Y-%m-%dT%H:%M").ok()
        );
        for not_whole in [
            "%Y-%m-%d",
            "%H:%M:%S",
            "%m/%d/%Y %I:%M",
            "%s",
            "%Y-%m-%d %H:%M%.f",
            "%Y-%m-%d %H:%M:%S%.f%.f",
        ] {
            let items = StrftimeItems::new(not_whole).parse_to_owned().unwrap();
            assert!(Scanner::compile(&items).is_none(), "{not_whole}");
        }
    }

    #[test]
    fn scalars_and_points() {
        assert_eq!(int("53596532781").unwrap(), 53596532781);
        assert!(int("12.5").is_err());
        assert_eq!(double("-122.3130624").unwrap(), -122.3130624);
        assert!(double("NaN").is_err());
        assert!(boolean("Yes").unwrap());
        assert!(!boolean("0").unwrap());
        assert!(boolean("maybe").is_err());
        assert_eq!(date("2024-01-31", &Formats::none()).unwrap(), 19753);
        let us = Formats::compile(&["%m/%d/%Y"]).unwrap();
        assert_eq!(date("01/31/2024", &us).unwrap(), 19753);
        assert!(Formats::compile(&["%Q"]).is_err());
        // A format that reads the text but not a date gives way to the next one.
        let hour_then_day = Formats::compile(&["%Y-%m %H", "%Y-%m %d"]).unwrap();
        assert_eq!(date("2024-01 12", &hour_then_day).unwrap(), 19734);
        assert_eq!(
            geo_point("(47.654152, -122.354466)").unwrap(),
            (47.654152, -122.354466)
        );
        assert_eq!(
            geo_point("POINT (-122.35 47.65)").unwrap(),
            (47.65, -122.35)
        );
        assert_eq!(
            geo_point(r#"{"type":"Point","coordinates":[-122.336894,47.608766]}"#).unwrap(),
            (47.608766, -122.336894)
        );
        assert!(geo_point("(91, 0)").is_err());
        assert!(geo_point("here").is_err());
    }
}
