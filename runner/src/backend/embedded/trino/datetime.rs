//! Trino's date and time functions. Values are computed on the wall-clock time of their
//! type (UTC for the tables' timestamps, as Athena reads them), and a function that
//! returns a point in time returns the type it was given (a date stays a date).

use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, StringArray, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::error::Result;

use super::{FunctionSpec, Memo, function, integers, invalid, is_integer, is_text, strings};

/// The functions of this module.
pub(super) const FUNCTIONS: &[FunctionSpec] = &[
    function("year", &[], point_to_bigint, field::<YEAR>),
    function("quarter", &[], point_to_bigint, field::<QUARTER>),
    function("month", &[], point_to_bigint, field::<MONTH>),
    function("week", &["week_of_year"], point_to_bigint, field::<WEEK>),
    function(
        "year_of_week",
        &["yow"],
        point_to_bigint,
        field::<YEAR_OF_WEEK>,
    ),
    function("day", &["day_of_month"], point_to_bigint, field::<DAY>),
    function(
        "day_of_week",
        &["dow"],
        point_to_bigint,
        field::<DAY_OF_WEEK>,
    ),
    function(
        "day_of_year",
        &["doy"],
        point_to_bigint,
        field::<DAY_OF_YEAR>,
    ),
    function("hour", &[], instant_to_bigint, field::<HOUR>),
    function("minute", &[], instant_to_bigint, field::<MINUTE>),
    function("second", &[], instant_to_bigint, field::<SECOND>),
    function("millisecond", &[], instant_to_bigint, field::<MILLISECOND>),
    function("date_add", &[], date_add_type, date_add),
    function("date_diff", &[], date_diff_type, date_diff),
    function("date_trunc", &[], date_trunc_type, date_trunc),
    function("date_format", &[], format_type, date_format),
    function("format_datetime", &[], format_type, format_datetime),
    function("date_parse", &[], parse_type, date_parse),
    function("parse_datetime", &[], parse_type, parse_datetime),
    function(
        "from_iso8601_timestamp",
        &[],
        parse_one_type,
        from_iso8601_timestamp,
    ),
    function("from_iso8601_date", &[], iso_date_type, from_iso8601_date),
    function("to_iso8601", &[], to_iso8601_type, to_iso8601),
    function("from_unixtime", &[], from_unixtime_type, from_unixtime),
    function("to_unixtime", &[], to_unixtime_type, to_unixtime),
    function(
        "current_timezone",
        &[],
        current_timezone_type,
        current_timezone,
    ),
];

/// The timestamps these functions return for text they parse: microseconds, UTC, the
/// type of the tables' timestamps.
fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Whether `kind` is a date or a timestamp (or NULL).
fn is_point(kind: &DataType) -> bool {
    matches!(
        kind,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) | DataType::Null
    )
}

/// Whether `kind` is a timestamp (or NULL).
fn is_instant(kind: &DataType) -> bool {
    matches!(kind, DataType::Timestamp(..) | DataType::Null)
}

fn point_to_bigint(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [x] if is_point(x) => Ok(DataType::Int64),
        _ => Err(()),
    }
}

fn instant_to_bigint(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [x] if is_instant(x) => Ok(DataType::Int64),
        _ => Err(()),
    }
}

/// The wall-clock microseconds since 1970-01-01 of each date or timestamp.
fn wall_micros(array: &ArrayRef) -> Result<Int64Array> {
    let naive = match array.data_type() {
        DataType::Null => cast(array, &DataType::Int64)?,
        _ => {
            let local = cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            cast(&local, &DataType::Int64)?
        }
    };
    integers(&naive)
}

/// The UTC microseconds since 1970 of each instant: a zoned timestamp's own instant, and a
/// date or a timestamp without zone read in UTC (the session's zone).
fn instant_micros(array: &ArrayRef) -> Result<Int64Array> {
    match array.data_type() {
        DataType::Timestamp(_, Some(_)) => {
            integers(&cast(&cast(array, &utc_micros())?, &DataType::Int64)?)
        }
        _ => wall_micros(array),
    }
}

/// Wall-clock microseconds back as `kind` (a date, or a timestamp of any unit and zone).
fn from_wall_micros(micros: Int64Array, kind: &DataType) -> Result<ArrayRef> {
    let array: ArrayRef = Arc::new(micros);
    let local = cast(&array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    Ok(cast(&local, kind)?)
}

/// The date and time of wall-clock microseconds.
fn civil(micros: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
}

/// Wall-clock microseconds of a date and time.
fn micros_of(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

const YEAR: u8 = 0;
const QUARTER: u8 = 1;
const MONTH: u8 = 2;
const WEEK: u8 = 3;
const YEAR_OF_WEEK: u8 = 4;
const DAY: u8 = 5;
const DAY_OF_WEEK: u8 = 6;
const DAY_OF_YEAR: u8 = 7;
const HOUR: u8 = 8;
const MINUTE: u8 = 9;
const SECOND: u8 = 10;
const MILLISECOND: u8 = 11;

/// Field `F` of each date or timestamp: weeks and days of the week are ISO 8601's (weeks
/// start on Monday, day 1).
fn field<const F: u8>(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let micros = wall_micros(&args[0])?;
    let values: Int64Array = micros
        .iter()
        .map(|m| {
            let t = civil(m?)?;
            Some(match F {
                YEAR => i64::from(t.year()),
                QUARTER => i64::from((t.month() - 1) / 3 + 1),
                MONTH => i64::from(t.month()),
                WEEK => i64::from(t.iso_week().week()),
                YEAR_OF_WEEK => i64::from(t.iso_week().year()),
                DAY => i64::from(t.day()),
                DAY_OF_WEEK => i64::from(t.weekday().number_from_monday()),
                DAY_OF_YEAR => i64::from(t.ordinal()),
                HOUR => i64::from(t.hour()),
                MINUTE => i64::from(t.minute()),
                SECOND => i64::from(t.second()),
                _ => i64::from(t.nanosecond() / 1_000_000 % 1000),
            })
        })
        .collect();
    Ok(Arc::new(values))
}

/// A unit of `date_add`, `date_diff` and `date_trunc`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    /// The unit Trino names `name` (case-insensitive).
    fn parse(name: &str) -> Result<Unit> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "millisecond" => Unit::Millisecond,
            "second" => Unit::Second,
            "minute" => Unit::Minute,
            "hour" => Unit::Hour,
            "day" => Unit::Day,
            "week" => Unit::Week,
            "month" => Unit::Month,
            "quarter" => Unit::Quarter,
            "year" => Unit::Year,
            _ => return Err(invalid(format!("'{name}' is not a valid Timestamp field"))),
        })
    }

    /// Its length in microseconds, for the units of a fixed length.
    fn micros(self) -> Option<i64> {
        Some(match self {
            Unit::Millisecond => 1_000,
            Unit::Second => 1_000_000,
            Unit::Minute => 60_000_000,
            Unit::Hour => 3_600_000_000,
            Unit::Day => 86_400_000_000,
            Unit::Week => 7 * 86_400_000_000,
            Unit::Month | Unit::Quarter | Unit::Year => return None,
        })
    }

    /// Its length in months, for the calendar units.
    fn months(self) -> i64 {
        match self {
            Unit::Quarter => 3,
            Unit::Year => 12,
            _ => 1,
        }
    }

    /// Whether a date can be moved or truncated by it (not by a part of a day).
    fn fits_dates(self) -> bool {
        !matches!(
            self,
            Unit::Millisecond | Unit::Second | Unit::Minute | Unit::Hour
        )
    }
}

/// Each row's unit, parsed once per distinct name.
fn units(array: &ArrayRef) -> Result<Vec<Option<Unit>>> {
    let names = strings(array)?;
    let mut parsed = Memo::new();
    names
        .iter()
        .map(|name| {
            name.map(|n| parsed.get(n, Unit::parse).copied())
                .transpose()
        })
        .collect()
}

/// A date refuses the units shorter than a day, as Trino's does.
fn check_units_fit(units: &[Option<Unit>], kind: &DataType) -> Result<()> {
    let is_date = matches!(kind, DataType::Date32 | DataType::Date64);
    if is_date && units.iter().flatten().any(|u| !u.fits_dates()) {
        return Err(invalid("a time unit is not valid for a date"));
    }
    Ok(())
}

/// `t` moved by `n` units; a month end is kept within the month (`2001-01-31` plus a
/// month is `2001-02-28`).
fn add(t: NaiveDateTime, unit: Unit, n: i64) -> Option<NaiveDateTime> {
    match unit.micros() {
        Some(length) => t.checked_add_signed(TimeDelta::microseconds(length.checked_mul(n)?)),
        None => {
            let months = n.checked_mul(unit.months())?;
            let magnitude = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
            if months >= 0 {
                t.checked_add_months(magnitude)
            } else {
                t.checked_sub_months(magnitude)
            }
        }
    }
}

fn date_add_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [unit, n, x] if is_text(unit) && is_integer(n) && is_point(x) => Ok(x.clone()),
        _ => Err(()),
    }
}

/// `date_add(unit, value, x)`: `x` plus `value` units.
fn date_add(args: &[ArrayRef], returns: &DataType) -> Result<ArrayRef> {
    let units = units(&args[0])?;
    check_units_fit(&units, args[2].data_type())?;
    let amounts = integers(&args[1])?;
    let micros = wall_micros(&args[2])?;
    let moved: Int64Array = (0..micros.len())
        .map(|i| {
            let (unit, n) = (units[i]?, amounts.is_valid(i).then(|| amounts.value(i))?);
            let t = civil(micros.is_valid(i).then(|| micros.value(i))?)?;
            add(t, unit, n).map(micros_of)
        })
        .collect();
    from_wall_micros(moved, returns)
}

fn date_diff_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [unit, a, b] if is_text(unit) && is_point(a) && is_point(b) => Ok(DataType::Int64),
        _ => Err(()),
    }
}

/// `date_diff(unit, a, b)`: how many whole units from `a` to `b` (negative when `b` is
/// earlier). Calendar units count the months whose adding to `a` does not pass `b`.
fn date_diff(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let units = units(&args[0])?;
    let (from, to) = (wall_micros(&args[1])?, wall_micros(&args[2])?);
    let values: Int64Array = (0..from.len())
        .map(|i| {
            let unit = units[i]?;
            let a = from.is_valid(i).then(|| from.value(i))?;
            let b = to.is_valid(i).then(|| to.value(i))?;
            match unit.micros() {
                Some(length) => Some((b - a) / length),
                None => {
                    let (ta, tb) = (civil(a)?, civil(b)?);
                    let mut months = (i64::from(tb.year()) * 12 + i64::from(tb.month0()))
                        - (i64::from(ta.year()) * 12 + i64::from(ta.month0()));
                    if months > 0 && add(ta, Unit::Month, months)? > tb {
                        months -= 1;
                    } else if months < 0 && add(ta, Unit::Month, months)? < tb {
                        months += 1;
                    }
                    Some(months / unit.months())
                }
            }
        })
        .collect();
    Ok(Arc::new(values))
}

fn date_trunc_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [unit, x] if is_text(unit) && is_point(x) => Ok(x.clone()),
        _ => Err(()),
    }
}

/// `date_trunc(unit, x)`: `x` at the start of its unit (weeks start on Monday).
fn date_trunc(args: &[ArrayRef], returns: &DataType) -> Result<ArrayRef> {
    let units = units(&args[0])?;
    check_units_fit(&units, args[1].data_type())?;
    let micros = wall_micros(&args[1])?;
    let truncated: Int64Array = (0..micros.len())
        .map(|i| {
            let unit = units[i]?;
            let m = micros.is_valid(i).then(|| micros.value(i))?;
            let t = civil(m)?;
            let day = t.date();
            let start = match unit {
                Unit::Week => (day
                    - TimeDelta::days(i64::from(day.weekday().num_days_from_monday())))
                .and_hms_opt(0, 0, 0)?,
                Unit::Month => day.with_day(1)?.and_hms_opt(0, 0, 0)?,
                Unit::Quarter => {
                    NaiveDate::from_ymd_opt(day.year(), (day.month0() / 3) * 3 + 1, 1)?
                        .and_hms_opt(0, 0, 0)?
                }
                Unit::Year => NaiveDate::from_ymd_opt(day.year(), 1, 1)?.and_hms_opt(0, 0, 0)?,
                fixed => {
                    let length = fixed.micros()?;
                    return Some(m.div_euclid(length) * length);
                }
            };
            Some(micros_of(start))
        })
        .collect();
    from_wall_micros(truncated, returns)
}

fn format_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [x, format] if is_point(x) && is_text(format) => Ok(DataType::Utf8),
        _ => Err(()),
    }
}

/// Formats each point with its row's format, translated once per distinct format.
fn format_with(args: &[ArrayRef], translate: fn(&str) -> Result<String>) -> Result<ArrayRef> {
    let micros = wall_micros(&args[0])?;
    let formats = strings(&args[1])?;
    let mut translated = Memo::new();
    let mut out = StringBuilder::new();
    for i in 0..micros.len() {
        let (Some(t), Some(format)) = (
            micros.is_valid(i).then(|| civil(micros.value(i))).flatten(),
            formats.is_valid(i).then(|| formats.value(i)),
        ) else {
            out.append_null();
            continue;
        };
        let chrono_format = translated.get(format, translate)?;
        out.append_value(t.format(chrono_format).to_string());
    }
    Ok(Arc::new(out.finish()))
}

/// `date_format(x, format)`: `x` as text in MySQL's format.
fn date_format(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    format_with(args, mysql_format)
}

/// `format_datetime(x, format)`: `x` as text in Joda-Time's format.
fn format_datetime(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    format_with(args, joda_format)
}

fn parse_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [text, format] if is_text(text) && is_text(format) => Ok(utc_micros()),
        _ => Err(()),
    }
}

/// Parses each text with its row's format (translated once per distinct format); a text
/// the format does not fit is an error naming both, as Trino's is.
fn parse_with(args: &[ArrayRef], translate: fn(&str) -> Result<String>) -> Result<ArrayRef> {
    let texts = strings(&args[0])?;
    let formats = strings(&args[1])?;
    let mut translated = Memo::new();
    let mut values = Vec::with_capacity(texts.len());
    for i in 0..texts.len() {
        let (Some(text), Some(format)) = (
            texts.is_valid(i).then(|| texts.value(i)),
            formats.is_valid(i).then(|| formats.value(i)),
        ) else {
            values.push(None);
            continue;
        };
        let chrono_format = translated.get(format, translate)?;
        let parsed = parse_defaulted(text, chrono_format).ok_or_else(|| {
            invalid(format!(
                "Invalid format: \"{text}\" for format \"{format}\""
            ))
        })?;
        values.push(Some(micros_of(parsed)));
    }
    from_wall_micros(Int64Array::from(values), &utc_micros())
}

/// `text` read with chrono's `format`; the fields the format leaves out are those of
/// 1970-01-01 00:00:00, and a 12-hour clock without AM or PM is AM, as in Trino.
fn parse_defaulted(text: &str, format: &str) -> Option<NaiveDateTime> {
    use chrono::format::{Parsed, StrftimeItems, parse};
    let mut p = Parsed::new();
    parse(&mut p, text, StrftimeItems::new(format)).ok()?;
    let week_date = p.isoyear().is_some() && p.isoweek().is_some();
    if week_date && p.weekday().is_none() {
        p.set_weekday(chrono::Weekday::Mon).ok()?;
    }
    if p.year().is_none() && p.year_mod_100().is_none() && p.isoyear().is_none() {
        p.set_year(1970).ok()?;
    }
    let day_known = p.ordinal().is_some() || week_date;
    if p.month().is_none() && !day_known {
        p.set_month(1).ok()?;
    }
    if p.day().is_none() && !day_known {
        p.set_day(1).ok()?;
    }
    match (p.hour_div_12(), p.hour_mod_12()) {
        (None, None) => p.set_hour(0).ok()?,
        (None, Some(_)) => p.set_ampm(false).ok()?,
        (Some(_), None) => p.set_hour12(12).ok()?,
        (Some(_), Some(_)) => {}
    }
    if p.minute().is_none() {
        p.set_minute(0).ok()?;
    }
    if p.second().is_none() {
        p.set_second(0).ok()?;
    }
    p.to_naive_datetime_with_offset(0).ok()
}

/// `date_parse(text, format)`: a timestamp read with MySQL's format.
fn date_parse(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    parse_with(args, mysql_format)
}

/// `parse_datetime(text, format)`: a timestamp read with Joda-Time's format.
fn parse_datetime(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    parse_with(args, joda_format)
}

/// A MySQL format (`%Y-%m-%d %H:%i:%s`) as chrono's; the specifiers Trino does not
/// support are an error.
fn mysql_format(format: &str) -> Result<String> {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            push_literal(&mut out, c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push_str("%%");
            break;
        };
        out.push_str(match spec {
            'a' => "%a",
            'b' => "%b",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'f' => "%6f",
            'H' => "%H",
            'h' | 'I' => "%I",
            'i' => "%M",
            'j' => "%j",
            'k' => "%-H",
            'l' => "%-I",
            'M' => "%B",
            'm' => "%m",
            'p' => "%p",
            'r' => "%I:%M:%S %p",
            'S' | 's' => "%S",
            'T' => "%H:%M:%S",
            'v' => "%V",
            'W' => "%A",
            'x' => "%G",
            'Y' => "%Y",
            'y' => "%y",
            '%' => "%%",
            'D' | 'U' | 'u' | 'V' | 'w' | 'X' => {
                return Err(invalid(format!(
                    "%{spec} not supported in date format string"
                )));
            }
            other => {
                out.push(other);
                continue;
            }
        });
    }
    Ok(out)
}

/// A Joda-Time format (`yyyy-MM-dd HH:mm:ss`, quoted literals) as chrono's.
fn joda_format(format: &str) -> Result<String> {
    let mut out = String::new();
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // A quoted literal; '' is a quote.
            i += 1;
            if chars.get(i) == Some(&'\'') {
                out.push('\'');
                i += 1;
                continue;
            }
            while i < chars.len() && chars[i] != '\'' {
                push_literal(&mut out, chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        i += run;
        if !c.is_ascii_alphabetic() {
            for _ in 0..run {
                push_literal(&mut out, c);
            }
            continue;
        }
        out.push_str(match (c, run) {
            ('y' | 'Y', 2) => "%y",
            ('y' | 'Y', _) => "%Y",
            ('x', 2) => "%g",
            ('x', _) => "%G",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('e', _) => "%u",
            ('w', _) => "%V",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', 1) => "%-I",
            ('h', _) => "%I",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', 1) => "%1f",
            ('S', 2) => "%2f",
            ('S', 3) => "%3f",
            ('S', _) => "%6f",
            ('a', _) => "%p",
            ('Z', 1) => "%z",
            ('Z', _) => "%:z",
            ('z', _) => "%Z",
            _ => {
                return Err(invalid(format!(
                    "Invalid format: '{}' in \"{format}\"",
                    c.to_string().repeat(run)
                )));
            }
        });
    }
    Ok(out)
}

/// `c` as a literal of a chrono format (`%` doubled).
fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

fn parse_one_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [text] if is_text(text) => Ok(utc_micros()),
        _ => Err(()),
    }
}

/// `from_iso8601_timestamp(text)`: an ISO 8601 date, or date and time with an optional
/// offset (none means UTC), as a UTC timestamp.
fn from_iso8601_timestamp(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let texts = strings(&args[0])?;
    let values: Int64Array = texts
        .iter()
        .map(|text| text.map(iso8601_micros).transpose())
        .collect::<Result<_>>()?;
    from_wall_micros(values, &utc_micros())
}

/// The UTC microseconds of an ISO 8601 text.
fn iso8601_micros(text: &str) -> Result<i64> {
    let bad = || invalid(format!("Invalid format: \"{text}\""));
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_micros());
    }
    for offset_format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, offset_format) {
            return Ok(t.timestamp_micros());
        }
    }
    for local_format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, local_format) {
            return Ok(micros_of(t));
        }
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d"))
        .map_err(|_| bad())?;
    Ok(micros_of(day.and_hms_opt(0, 0, 0).ok_or_else(bad)?))
}

fn iso_date_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [text] if is_text(text) => Ok(DataType::Date32),
        _ => Err(()),
    }
}

/// `from_iso8601_date(text)`: an ISO 8601 calendar date (`2020-05-11`), week date
/// (`2020-W10`, `2020-W10-1`) or ordinal date (`2020-123`).
fn from_iso8601_date(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let texts = strings(&args[0])?;
    let values: Int64Array = texts
        .iter()
        .map(|text| {
            text.map(|text| {
                let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .or_else(|_| NaiveDate::parse_from_str(&format!("{text}-1"), "%G-W%V-%u"))
                    .or_else(|_| NaiveDate::parse_from_str(text, "%G-W%V-%u"))
                    .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%j"))
                    .or_else(|_| NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d"))
                    .map_err(|_| invalid(format!("Invalid format: \"{text}\"")))?;
                Ok(micros_of(day.and_hms_opt(0, 0, 0).unwrap_or_default()))
            })
            .transpose()
        })
        .collect::<Result<_>>()?;
    from_wall_micros(values, &DataType::Date32)
}

fn to_iso8601_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [x] if is_point(x) => Ok(DataType::Utf8),
        _ => Err(()),
    }
}

/// `to_iso8601(x)`: a date as `2020-05-11`, a timestamp as `2020-05-11T11:15:05.000`
/// (milliseconds, as Athena's timestamps), with its offset when it has a zone other than
/// the tables' UTC.
fn to_iso8601(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let kind = args[0].data_type();
    let zone = match kind {
        DataType::Timestamp(_, Some(zone))
            if zone.as_ref() != "UTC" && zone.as_ref() != "+00:00" =>
        {
            Some(
                zone.parse::<chrono_tz::Tz>()
                    .map_err(|e| invalid(e.to_string()))?,
            )
        }
        _ => None,
    };
    let is_date = matches!(kind, DataType::Date32 | DataType::Date64);
    let utc = instant_micros(&args[0])?;
    let values: StringArray = utc
        .iter()
        .map(|m| {
            let m = m?;
            if is_date {
                return Some(civil(m)?.format("%Y-%m-%d").to_string());
            }
            match zone {
                Some(zone) => Some(
                    DateTime::from_timestamp_micros(m)?
                        .with_timezone(&zone)
                        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                        .to_string(),
                ),
                None => Some(civil(m)?.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()),
            }
        })
        .collect();
    Ok(Arc::new(values))
}

fn from_unixtime_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [n] if n.is_numeric() || n == &DataType::Null => Ok(utc_micros()),
        _ => Err(()),
    }
}

/// `from_unixtime(seconds)`: the UTC timestamp of seconds since 1970 (fractions kept to
/// the microsecond).
fn from_unixtime(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let seconds = cast(&args[0], &DataType::Float64)?;
    let seconds = seconds
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| invalid("not a number"))?;
    let micros: Int64Array = seconds
        .iter()
        .map(|s| s.map(|s| (s * 1e6).round() as i64))
        .collect();
    from_wall_micros(micros, &utc_micros())
}

fn to_unixtime_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [x] if is_point(x) => Ok(DataType::Float64),
        _ => Err(()),
    }
}

/// `to_unixtime(x)`: seconds since 1970 as a double (fractions kept).
fn to_unixtime(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let utc = instant_micros(&args[0])?;
    let values: Float64Array = utc.iter().map(|m| m.map(|m| m as f64 / 1e6)).collect();
    Ok(Arc::new(values))
}

fn current_timezone_type(args: &[DataType]) -> std::result::Result<DataType, ()> {
    match args {
        [] => Ok(DataType::Utf8),
        _ => Err(()),
    }
}

/// `current_timezone()`: the session's zone, which is UTC here (as Athena's).
fn current_timezone(_: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    Ok(Arc::new(StringArray::from(vec!["UTC"])))
}

#[cfg(test)]
mod tests;
