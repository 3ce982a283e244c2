//! Each function against the values Trino's documentation and Trino's own tests
//! (`TestDateTimeFunctions`, `date/TestExtract`, `timestamp/TestExtract`,
//! `timestamp/TestTimestamp`) state for the same arguments. Trino's tests run in the
//! session zone Pacific/Apia; where that shows in a value, the UTC value is given and the
//! difference said. Dates print as `2001-08-22`, timestamps as `2001-08-22T03:04:05.321`.

use super::super::tests::value;

/// Asserts that each `SELECT expr` gives its value.
async fn check(cases: &[(&str, &str)]) {
    for (expr, expected) in cases {
        assert_eq!(value(expr).await, *expected, "{expr}");
    }
}

#[tokio::test]
async fn fields_of_dates_and_timestamps_are_trinos_bigints() {
    check(&[
        // date/TestExtract: 2020-05-10 is a Sunday, 1960-05-10 a Tuesday.
        ("year(DATE '2020-05-10')", "2020"),
        ("year(DATE '1960-05-10')", "1960"),
        ("month(DATE '2020-05-10')", "5"),
        ("week(DATE '2020-05-10')", "19"),
        ("week(DATE '1960-05-10')", "19"),
        ("day(DATE '2020-05-10')", "10"),
        ("day_of_month(DATE '2020-05-10')", "10"),
        ("day_of_week(DATE '2020-05-10')", "7"),
        ("day_of_week(DATE '1960-05-10')", "2"),
        ("dow(DATE '2020-05-10')", "7"),
        ("day_of_year(DATE '2020-05-10')", "131"),
        ("doy(DATE '1960-05-10')", "131"),
        ("quarter(DATE '2020-05-10')", "2"),
        ("year_of_week(DATE '2020-05-10')", "2020"),
        ("yow(DATE '1960-05-10')", "1960"),
        // TestDateTimeFunctions.testYearOfWeek: ISO week-years.
        ("year_of_week(DATE '2005-01-02')", "2004"),
        ("year_of_week(DATE '2008-12-29')", "2009"),
        ("year_of_week(DATE '2010-01-03')", "2009"),
        // timestamp/TestExtract.
        ("year(TIMESTAMP '2020-05-10 12:34:56')", "2020"),
        ("week(TIMESTAMP '2020-05-10 12:34:56')", "19"),
        ("hour(TIMESTAMP '2020-05-10 12:34:56')", "12"),
        ("minute(TIMESTAMP '2020-05-10 12:34:56.123456')", "34"),
        ("second(TIMESTAMP '2020-05-10 12:34:56.1')", "56"),
        ("millisecond(TIMESTAMP '2001-08-22 03:04:05.321')", "321"),
        // The doc's `extract` example, through the function.
        ("year(TIMESTAMP '2022-10-20 05:10:00')", "2022"),
        ("year(NULL)", "NULL"),
    ])
    .await;
    assert!(
        value("hour(DATE '2020-05-10')")
            .await
            .contains("Unexpected parameters (date) for function hour"),
        "a date has no hour, as in Trino (TYPE_MISMATCH)"
    );
}

#[tokio::test]
async fn date_add_and_date_diff_follow_trinos_units_and_argument_order() {
    check(&[
        // The doc's examples.
        ("date_add('second', 86, TIMESTAMP '2020-03-01 00:00:00')", "2020-03-01T00:01:26"),
        ("date_add('hour', 9, TIMESTAMP '2020-03-01 00:00:00')", "2020-03-01T09:00:00"),
        ("date_add('day', -1, TIMESTAMP '2020-03-01 00:00:00')", "2020-02-29T00:00:00"),
        ("date_diff('second', TIMESTAMP '2020-03-01 00:00:00', TIMESTAMP '2020-03-02 00:00:00')", "86400"),
        ("date_diff('hour', TIMESTAMP '2020-03-01 00:00:00', TIMESTAMP '2020-03-02 00:00:00')", "24"),
        ("date_diff('day', DATE '2020-03-01', DATE '2020-03-02')", "1"),
        ("date_diff('second', TIMESTAMP '2020-06-01 12:30:45.000000', TIMESTAMP '2020-06-02 12:30:45.123456')", "86400"),
        ("date_diff('millisecond', TIMESTAMP '2020-06-01 12:30:45.000000', TIMESTAMP '2020-06-02 12:30:45.123456')", "86400123"),
        // TestDateTimeFunctions.testAddFieldToDate: a date stays a date.
        ("date_add('day', 0, DATE '2001-08-22')", "2001-08-22"),
        ("date_add('day', 3, DATE '2001-08-22')", "2001-08-25"),
        ("date_add('week', 3, DATE '2001-08-22')", "2001-09-12"),
        ("date_add('month', 3, DATE '2001-08-22')", "2001-11-22"),
        ("date_add('quarter', 3, DATE '2001-08-22')", "2002-05-22"),
        ("date_add('year', 3, DATE '2001-08-22')", "2004-08-22"),
        // TestDateTimeFunctions.testDateDiffDate.
        ("date_diff('day', DATE '1960-05-03', DATE '2001-08-22')", "15086"),
        ("date_diff('week', DATE '1960-05-03', DATE '2001-08-22')", "2155"),
        ("date_diff('month', DATE '1960-05-03', DATE '2001-08-22')", "495"),
        ("date_diff('quarter', DATE '1960-05-03', DATE '2001-08-22')", "165"),
        ("date_diff('year', DATE '1960-05-03', DATE '2001-08-22')", "41"),
        // timestamp/TestTimestamp.testDateDiff: the fraction of a unit is dropped.
        ("date_diff('millisecond', TIMESTAMP '2020-05-10 12:34:55.1', TIMESTAMP '2020-05-10 12:34:56.2')", "1100"),
        ("date_diff('millisecond', TIMESTAMP '2020-05-10 12:34:55.111111', TIMESTAMP '2020-05-10 12:34:56.222222')", "1111"),
        ("date_diff('hour', TIMESTAMP '2020-05-10 11:34:55.1', TIMESTAMP '2020-05-10 12:34:56.9')", "1"),
        // The doc's interval table: a month end stays in the month (Joda's clamp).
        ("date_add('month', 1, TIMESTAMP '2012-10-31 01:00:00')", "2012-11-30T01:00:00"),
        ("date_add('month', -1, TIMESTAMP '2012-10-31 01:00:00')", "2012-09-30T01:00:00"),
        // Whole months only (Joda's getDifference): Jan 15 to Feb 14 is not yet a month.
        ("date_diff('month', DATE '2001-01-15', DATE '2001-02-14')", "0"),
        ("date_diff('month', DATE '2001-01-15', DATE '2001-02-15')", "1"),
        ("date_diff('month', DATE '2001-02-15', DATE '2001-01-15')", "-1"),
        ("date_diff('year', DATE '2001-03-01', DATE '2002-02-28')", "0"),
        ("date_diff('year', DATE '2001-03-01', DATE '2002-03-01')", "1"),
        ("date_add(NULL, 1, DATE '2001-08-22')", "NULL"),
    ])
    .await;
    assert!(
        value("date_add('fortnight', 1, DATE '2001-08-22')")
            .await
            .contains("'fortnight' is not a valid Timestamp field")
    );
    assert!(
        value("date_add('hour', 1, DATE '2001-08-22')")
            .await
            .contains("not valid for a date")
    );
}

#[tokio::test]
async fn date_trunc_keeps_the_type_and_weeks_start_on_monday() {
    check(&[
        // The doc's table, for TIMESTAMP '2001-08-22 03:04:05.321'.
        (
            "date_trunc('millisecond', TIMESTAMP '2001-08-22 03:04:05.321')",
            "2001-08-22T03:04:05.321",
        ),
        (
            "date_trunc('second', TIMESTAMP '2001-08-22 03:04:05.321')",
            "2001-08-22T03:04:05",
        ),
        (
            "date_trunc('minute', TIMESTAMP '2001-08-22 03:04:05.321')",
            "2001-08-22T03:04:00",
        ),
        (
            "date_trunc('hour', TIMESTAMP '2001-08-22 03:04:05.321')",
            "2001-08-22T03:00:00",
        ),
        (
            "date_trunc('day', TIMESTAMP '2001-08-22 03:04:05.321')",
            "2001-08-22T00:00:00",
        ),
        (
            "date_trunc('week', TIMESTAMP '2001-08-22 03:04:05.321')",
            "2001-08-20T00:00:00",
        ),
        (
            "date_trunc('month', TIMESTAMP '2001-08-22 03:04:05.321')",
            "2001-08-01T00:00:00",
        ),
        (
            "date_trunc('quarter', TIMESTAMP '2001-08-22 03:04:05.321')",
            "2001-07-01T00:00:00",
        ),
        (
            "date_trunc('year', TIMESTAMP '2001-08-22 03:04:05.321')",
            "2001-01-01T00:00:00",
        ),
        // TestDateTimeFunctions.testTruncateDate.
        ("date_trunc('day', DATE '2001-08-22')", "2001-08-22"),
        ("date_trunc('week', DATE '2001-08-22')", "2001-08-20"),
        ("date_trunc('month', DATE '2001-08-22')", "2001-08-01"),
        ("date_trunc('quarter', DATE '2001-08-22')", "2001-07-01"),
        ("date_trunc('year', DATE '2001-08-22')", "2001-01-01"),
    ])
    .await;
}

#[tokio::test]
async fn date_format_and_date_parse_read_mysql_formats() {
    // TestDateTimeFunctions.testDateFormat: 2001-01-09 is a Tuesday.
    let t = "TIMESTAMP '2001-01-09 13:04:05.321'";
    for (format, expected) in [
        ("%a", "Tue"),
        ("%b", "Jan"),
        ("%c", "1"),
        ("%d", "09"),
        ("%e", "9"),
        ("%f", "321000"),
        ("%H", "13"),
        ("%h", "01"),
        ("%I", "01"),
        ("%i", "04"),
        ("%j", "009"),
        ("%k", "13"),
        ("%l", "1"),
        ("%M", "January"),
        ("%m", "01"),
        ("%p", "PM"),
        ("%r", "01:04:05 PM"),
        ("%S", "05"),
        ("%s", "05"),
        ("%T", "13:04:05"),
        ("%v", "02"),
        ("%W", "Tuesday"),
        ("%Y", "2001"),
        ("%y", "01"),
        ("%%", "%"),
        ("foo", "foo"),
        ("%g", "g"),
        ("%x %v", "2001 02"),
        ("%Y年%m月%d日", "2001年01月09日"),
    ] {
        assert_eq!(
            value(&format!("date_format({t}, '{format}')")).await,
            expected,
            "{format}"
        );
    }
    check(&[
        // The doc's examples.
        (
            "date_format(TIMESTAMP '2022-10-20 05:10:00', '%m-%d-%Y %H')",
            "10-20-2022 05",
        ),
        (
            "date_parse('2022/10/20/05', '%Y/%m/%d/%H')",
            "2022-10-20T05:00:00Z",
        ),
        // TestDateTimeFunctions.testDateParse: what the format leaves out is 1970-01-01 00:00.
        ("date_parse('2013', '%Y')", "2013-01-01T00:00:00Z"),
        ("date_parse('2013-05', '%Y-%m')", "2013-05-01T00:00:00Z"),
        (
            "date_parse('2013-05-17', '%Y-%m-%d')",
            "2013-05-17T00:00:00Z",
        ),
        (
            "date_parse('2013-05-17 12:35:10', '%Y-%m-%d %h:%i:%s')",
            "2013-05-17T00:35:10Z",
        ),
        (
            "date_parse('2013-05-17 12:35:10 PM', '%Y-%m-%d %h:%i:%s %p')",
            "2013-05-17T12:35:10Z",
        ),
        (
            "date_parse('2013-05-17 23:35:10', '%Y-%m-%d %H:%i:%s')",
            "2013-05-17T23:35:10Z",
        ),
        (
            "date_parse('abc 2013-05-17 fff 23:35:10 xyz', 'abc %Y-%m-%d fff %H:%i:%s xyz')",
            "2013-05-17T23:35:10Z",
        ),
        ("date_parse('0', '%k')", "1970-01-01T00:00:00Z"),
    ])
    .await;
    assert!(
        value("date_format(DATE '2001-01-09', '%D')")
            .await
            .contains("%D not supported in date format string")
    );
    assert!(
        value("date_parse('2013-xx', '%Y-%m')")
            .await
            .contains("Invalid format")
    );
}

#[tokio::test]
async fn format_datetime_and_parse_datetime_read_joda_patterns() {
    check(&[
        (
            "format_datetime(TIMESTAMP '2001-01-09 13:04:05.321', 'yyyy-MM-dd HH:mm:ss.SSS')",
            "2001-01-09 13:04:05.321",
        ),
        (
            "format_datetime(TIMESTAMP '2001-01-09 13:04:05.321', 'EEE, d MMM yyyy h:mm a')",
            "Tue, 9 Jan 2001 1:04 PM",
        ),
        (
            "format_datetime(DATE '2001-01-09', 'EEEE ''the'' D''th day''')",
            "Tuesday the 009th day",
        ),
        // TestDateTimeFunctions.testParseDatetime (its zone is the session's; UTC here).
        (
            "parse_datetime('2020-08-18 03:04:05.678', 'yyyy-MM-dd HH:mm:ss.SSS')",
            "2020-08-18T03:04:05.678Z",
        ),
        (
            "parse_datetime('1960/01/22 03:04', 'yyyy/MM/dd HH:mm')",
            "1960-01-22T03:04:00Z",
        ),
    ])
    .await;
}

#[tokio::test]
async fn iso_8601_and_unix_time_in_and_out() {
    check(&[
        // The doc's examples (its session zone was America/Vancouver; UTC here).
        (
            "from_iso8601_timestamp('2020-05-11')",
            "2020-05-11T00:00:00Z",
        ),
        (
            "from_iso8601_timestamp('2020-05-11T11:15:05')",
            "2020-05-11T11:15:05Z",
        ),
        (
            "from_iso8601_timestamp('2020-05-11T11:15:05.055+01:00')",
            "2020-05-11T10:15:05.055Z",
        ),
        // TestDateTimeFunctions: 03:04:05.321 at -11:00 is 14:04:05.321 UTC.
        (
            "from_iso8601_timestamp('2001-08-22T03:04:05.321-11:00')",
            "2001-08-22T14:04:05.321Z",
        ),
        ("from_iso8601_date('2020-05-11')", "2020-05-11"),
        ("from_iso8601_date('2020-W10')", "2020-03-02"),
        ("from_iso8601_date('2020-123')", "2020-05-02"),
        (
            "to_iso8601(TIMESTAMP '2001-08-22 03:04:05.321')",
            "2001-08-22T03:04:05.321",
        ),
        ("to_iso8601(DATE '2001-08-22')", "2001-08-22"),
        // TestDateTimeFunctions: 980172245 is 2001-01-22 03:04:05 in Pacific/Apia (UTC-11
        // then), so 14:04:05 UTC.
        ("from_unixtime(980172245)", "2001-01-22T14:04:05Z"),
        ("from_unixtime(980172245.888)", "2001-01-22T14:04:05.888Z"),
        // timestamp/TestTimestamp.testToUnixTime: 1589067296 for 12:34:56 in Pacific/Apia
        // (UTC+13 then); the same wall time in UTC is 13 hours later.
        (
            "to_unixtime(TIMESTAMP '2020-05-10 12:34:56')",
            "1589114096.0",
        ),
        (
            "to_unixtime(TIMESTAMP '2020-05-10 12:34:56.123')",
            "1589114096.123",
        ),
        ("current_timezone()", "UTC"),
        // The doc's AT TIME ZONE example, which DataFusion's own operator answers.
        (
            "TIMESTAMP '2012-10-31 01:00:00' AT TIME ZONE 'UTC' AT TIME ZONE 'America/Los_Angeles'",
            "2012-10-30T18:00:00-07:00",
        ),
    ])
    .await;
}
