//! The human view of `runner run`'s summaries, one per kind of flow; `--format json`
//! prints the summary itself, serialized. Warnings and errors about a summary go to stderr
//! from `commands::run`.

use std::fmt::Write as _;

use crate::flow::{backfill, deliver, ingest};

/// A backfill's summary: its counts, the share rejected, and the rows rejected by reason.
pub fn backfill(summary: &backfill::Summary) -> String {
    let mut text = String::new();
    if summary.already_done {
        let _ = writeln!(
            text,
            "{}: already done for this input (checkpoint); `--restart` does it again. That run:",
            summary.flow
        );
    }
    let ratio = crate::flow::reject_ratio(summary.rejected_total(), summary.read);
    let _ = writeln!(
        text,
        "{}: read {} rows, wrote {}, deduplicated {}, rejected {} ({:.2}%) into {} objects.",
        summary.flow,
        summary.read,
        summary.written,
        summary.deduplicated,
        summary.rejected_total(),
        ratio * 100.0,
        summary.objects.len()
    );
    rejected_by(&mut text, &summary.rejected);
    text
}

/// An ingest's summary: polls, pages, rows by fate, the watermark, and the rows rejected
/// by reason.
pub fn ingest(summary: &ingest::Summary) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{}: {} polls, {} pages, read {} rows, produced {}, unchanged {}, rejected {}; watermark {}.",
        summary.flow,
        summary.polls,
        summary.pages,
        summary.read,
        summary.produced,
        summary.unchanged,
        summary.rejected_total(),
        summary.watermark.as_deref().unwrap_or("none")
    );
    rejected_by(&mut text, &summary.rejected);
    text
}

/// A deliver's summary: records read and written, batches and objects, duplicates dropped
/// and records quarantined.
pub fn deliver(summary: &deliver::Summary) -> String {
    format!(
        "{}: read {} records, wrote {} in {} batches ({} objects), dropped {} duplicates, quarantined {} undecodable.\n",
        summary.flow,
        summary.read,
        summary.written,
        summary.batches,
        summary.objects.len(),
        summary.duplicates,
        summary.poison
    )
}

/// One indented line per rejection reason.
fn rejected_by(text: &mut String, rejected: &std::collections::BTreeMap<String, u64>) {
    for (reason, count) in rejected {
        let _ = writeln!(text, "  rejected by {reason}: {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backfill_summary_reads_as_one_line_and_its_reasons() {
        let summary = backfill::Summary {
            flow: "backfill".into(),
            already_done: false,
            read: 1000,
            written: 990,
            deduplicated: 4,
            rejected: [("offense_start_datetime".to_owned(), 6)].into(),
            objects: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            backfill(&summary),
            "backfill: read 1000 rows, wrote 990, deduplicated 4, rejected 6 (0.60%) into 2 objects.\n  rejected by offense_start_datetime: 6\n"
        );
        let again = backfill::Summary {
            already_done: true,
            rejected: Default::default(),
            ..summary
        };
        assert_eq!(
            backfill(&again),
            "backfill: already done for this input (checkpoint); `--restart` does it again. That run:\nbackfill: read 1000 rows, wrote 990, deduplicated 4, rejected 0 (0.00%) into 2 objects.\n"
        );
    }

    #[test]
    fn an_ingest_summary_names_its_watermark_or_none() {
        let summary = ingest::Summary {
            flow: "ingest".into(),
            polls: 1,
            pages: 3,
            read: 2500,
            produced: 2400,
            unchanged: 98,
            rejected: [("latitude".to_owned(), 2)].into(),
            watermark: Some("2026-12-07T23:59:00.000".into()),
            ..Default::default()
        };
        assert_eq!(
            ingest(&summary),
            "ingest: 1 polls, 3 pages, read 2500 rows, produced 2400, unchanged 98, rejected 2; watermark 2026-12-07T23:59:00.000.\n  rejected by latitude: 2\n"
        );
        let empty = ingest::Summary {
            flow: "ingest".into(),
            ..Default::default()
        };
        assert!(ingest(&empty).ends_with("rejected 0; watermark none.\n"));
    }
}
