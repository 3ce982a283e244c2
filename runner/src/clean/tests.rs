//! The engine on real Seattle rows with the shipped pipeline's rules.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema};

use super::*;
use crate::spec::Pipeline;

fn seattle() -> Pipeline {
    crate::load::seattle_pipeline()
}

const HEADER: &str = "report_number,offense_id,offense_start_datetime,offense_end_datetime,report_datetime,crime_against_category,offense_parent_group,offense,offense_code,precinct,sector,mcpp,block_address,longitude,latitude";

/// Rows copied from data/spd_crime_data_2023_formatted.csv (first, a redacted location, an
/// UNKNOWN precinct), plus three broken on purpose.
const ROWS: [&str; 6] = [
    "2023-374332,53596532781,2023-12-30 23:00:00,2023-12-31 00:00:00,2023-12-31 00:32:25,PERSON,ASSAULT OFFENSES,Aggravated Assault,13A,N,U,UNIVERSITY,50XX BLOCK OF UNIVERSITY WAY NE,-122.3130624,47.66566825",
    "2023-374292,53597399833,2023-12-30 22:03:00,,2023-12-31 01:54:52,PERSON,ASSAULT OFFENSES,Simple Assault,13B,SW,F,HIGHLAND PARK,,0.0,0.0",
    "2023-374376,53596750101,2023-12-31 00:15:00,2023-12-31 01:30:00,2023-12-31 01:32:47,person,ASSAULT OFFENSES,Simple Assault,13B,UNKNOWN,G,UNKNOWN,9TH AVE / JEFFERSON ST,-122.324096854,47.60484128",
    "2023-374999,not-a-number,2023-12-30 23:00:00,,2023-12-31 00:32:25,PERSON,ASSAULT OFFENSES,Simple Assault,13B,N,U,UNIVERSITY,X,-122.31,47.66",
    "2023-375000,53596532799,2023-12-30 23:00:00,,,PERSON,ASSAULT OFFENSES,Simple Assault,13B,N,U,UNIVERSITY,X,-122.31,47.66",
    "23-1,53596532800,2023-12-30 23:00:00,,2023-12-31 00:32:25,PERSON,ASSAULT OFFENSES,Simple Assault,13B,N,U,UNIVERSITY,X,-122.31,99.0",
];

fn batch(header: &str, rows: &[&str]) -> (Vec<String>, RecordBatch) {
    let names: Vec<String> = header.split(',').map(str::to_owned).collect();
    let columns: Vec<ArrayRef> = (0..names.len())
        .map(|i| {
            let values: Vec<Option<&str>> = rows.iter().map(|r| r.split(',').nth(i)).collect();
            Arc::new(StringArray::from(values)) as ArrayRef
        })
        .collect();
    let schema = Schema::new(
        names
            .iter()
            .map(|n| ArrowField::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    (
        names,
        RecordBatch::try_new(Arc::new(schema), columns).expect("batch"),
    )
}

#[test]
fn real_rows_are_typed_and_bad_ones_rejected_with_reasons() {
    let pipeline = seattle();
    let (names, input) = batch(HEADER, &ROWS);
    let program = Program::compile(&pipeline.datasets["offenses"], SourceKind::Csv, &names)
        .expect("compiles");
    let cleaned = program.apply(&input).expect("applies");
    let out = &cleaned.batch;
    assert_eq!(
        out.num_rows() + cleaned.rejects.len(),
        ROWS.len(),
        "every row accounted for"
    );
    assert_eq!(out.num_rows(), 3);

    let ids = out
        .column_by_name("offense_id")
        .expect("column")
        .as_primitive::<Int64Type>();
    assert_eq!(ids.value(0), 53596532781);
    let reported = out
        .column_by_name("report_datetime")
        .expect("column")
        .as_primitive::<TimestampMicrosecondType>();
    // 2023-12-31 00:32:25 in Seattle (PST, UTC-8) is 08:32:25 UTC.
    assert_eq!(reported.value(0), 1_704_011_545_000_000);
    let end = out.column_by_name("offense_end_datetime").expect("column");
    assert!(end.is_null(1), "empty end time is null");
    let lon = out
        .column_by_name("longitude")
        .expect("column")
        .as_primitive::<Float64Type>();
    assert_eq!(lon.value(0), -122.3130624);
    assert!(lon.is_null(1), "0.0 is a redacted location");
    let precinct = out
        .column_by_name("precinct")
        .expect("column")
        .as_string::<i32>();
    assert!(precinct.is_null(2), "UNKNOWN precinct is null");
    let category = out
        .column_by_name("crime_against_category")
        .expect("column")
        .as_string::<i32>();
    assert_eq!(
        category.value(2),
        "PERSON",
        "upper-cased before the allowed check"
    );
    let address = out
        .column_by_name("block_address")
        .expect("column")
        .as_string::<i32>();
    assert!(address.is_null(1));

    let reasons: Vec<(usize, &str, &str)> = cleaned
        .rejects
        .iter()
        .map(|r| (r.row, r.field.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (3, "offense_id", "'not-a-number' is not a whole number"),
            (4, "report_datetime", "required value is missing"),
            (
                5,
                "report_number",
                "'23-1' does not match the pattern ^\\d{4}-\\d{6}$"
            ),
        ]
    );
    assert_eq!(cleaned.rejects[0].raw.as_deref(), Some("not-a-number"));
}

#[test]
fn out_of_range_values_become_null_when_on_invalid_is_null() {
    let pipeline = seattle();
    let row = "2023-375001,53596532801,2023-12-30 23:00:00,,2023-12-31 00:32:25,PERSON,ASSAULT OFFENSES,Simple Assault,13B,N,U,UNIVERSITY,X,-122.31,99.0";
    let (names, input) = batch(HEADER, &[row]);
    let program = Program::compile(&pipeline.datasets["offenses"], SourceKind::Csv, &names)
        .expect("compiles");
    let cleaned = program.apply(&input).expect("applies");
    assert!(cleaned.rejects.is_empty());
    assert!(
        cleaned
            .batch
            .column_by_name("latitude")
            .expect("column")
            .is_null(0)
    );
}

#[test]
fn a_missing_mapped_column_is_named() {
    let pipeline = seattle();
    let header = HEADER.replace(",report_datetime,", ",reported,");
    let (names, _) = batch(&header, &[]);
    let error = Program::compile(&pipeline.datasets["offenses"], SourceKind::Csv, &names)
        .err()
        .expect("fails");
    assert!(matches!(error, crate::clean::CleanError::Rules(_)));
    assert_eq!(
        error.to_string(),
        "the input has no column 'report_datetime' (for field report_datetime)"
    );
}

#[test]
fn the_raw_export_maps_human_column_names_and_us_timestamps() {
    let pipeline = seattle();
    // A row of data/spd_crime_data_2008_present_export_sample.csv (two columns dropped by
    // the dataset are still in the input).
    let header = "Report Number,Offense ID,Offense Start DateTime,Offense End DateTime,Report DateTime,Group A B,Crime Against Category,Offense Parent Group,Offense,Offense Code,Precinct,Sector,Beat,MCPP,100 Block Address,Longitude,Latitude";
    let row = "2020-044465,12605567653,02/02/2020 08:30:00 PM,02/02/2020 09:30:00 PM,02/05/2020 09:39:33 AM,A,PROPERTY,ROBBERY,Robbery,120,N,U,U3,ROOSEVELT/RAVENNA,26TH AVE NE / NE BLAKELEY ST,-122.29955218,47.66638407";
    let (names, input) = batch(header, &[row]);
    let program = Program::compile(
        &pipeline.datasets["offenses_export"],
        SourceKind::Csv,
        &names,
    )
    .expect("compiles");
    let cleaned = program.apply(&input).expect("applies");
    assert!(cleaned.rejects.is_empty(), "{:?}", cleaned.rejects);
    let reported = cleaned
        .batch
        .column_by_name("report_datetime")
        .expect("column")
        .as_primitive::<TimestampMicrosecondType>();
    // 09:39:33 AM PST is 17:39:33 UTC.
    assert_eq!(reported.value(0), 1_580_924_373_000_000);
    assert_eq!(cleaned.batch.schema(), program.schema());
}

#[test]
fn trim_and_case_treat_unicode_text_as_they_treat_ascii() {
    assert_eq!(trim("  a b \t"), "a b");
    assert_eq!(trim("\u{a0}\u{2003}Ballard\u{3000}"), "Ballard");
    assert_eq!(trim(" \u{a0} "), "");
    // One row with a Unicode group, one with the lower-case category of ROWS[2].
    let row = ROWS[0].replace("ASSAULT OFFENSES", " straße offenses\u{a0}");
    let (names, input) = batch(HEADER, &[&row, ROWS[2]]);
    let program = Program::compile(&seattle().datasets["offenses"], SourceKind::Csv, &names)
        .expect("compiles");
    let cleaned = program.apply(&input).expect("applies");
    let text = |name: &str, row: usize| {
        let column = cleaned.batch.column_by_name(name).expect("column");
        column.as_string::<i32>().value(row).to_owned()
    };
    assert_eq!(text("offense_parent_group", 0), "STRASSE OFFENSES");
    assert_eq!(
        text("crime_against_category", 1),
        "PERSON",
        "ASCII upper-cased"
    );
}
