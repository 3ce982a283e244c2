//! The human view of `runner run`'s summaries, one per kind of flow; `--format json`
//! prints the summary itself, serialized. The notices about a summary (warnings and
//! errors, which `commands::run` writes to stderr whatever the format) are rendered here
//! too.

use std::fmt::Write as _;

use crate::flow::{backfill, deliver, ingest};
use crate::spec::dataset::Dataset;

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

/// The notices of an ingest run: another run's state merged into this one's, and a poll
/// that rejected more rows than the dataset allows (which stopped the run).
pub fn ingest_notices(summary: &ingest::Summary, dataset: &Dataset) -> String {
    let mut text = String::new();
    if summary.state_merges > 0 {
        let _ = writeln!(
            text,
            "warning: another run of this flow stored its state meanwhile ({} merge(s)); rows either run read may be in the topic twice, which deliver drops",
            summary.state_merges
        );
    }
    if let Some(poll) = &summary.over_reject_limit {
        let _ = writeln!(
            text,
            "error: poll {} rejected {} of {} rows ({:.2}%); the dataset allows {:.2}% (max_reject_ratio), so ingest stopped",
            poll.poll,
            poll.rejected,
            poll.read,
            poll.ratio() * 100.0,
            dataset.max_reject_ratio * 100.0
        );
    }
    text
}

/// The notices of a deliver run: each event that may mean lost or repeated records, and
/// each partition a `--once` run left behind.
pub fn deliver_notices(summary: &deliver::Summary) -> String {
    let mut text = String::new();
    let risks = &summary.risks;
    let notices = [
        (
            risks.log_rewinds,
            "warning: the log ended below what was delivered {} time(s) (a broker that lost records, or the topic created again); those partitions were read again from their start",
        ),
        (
            risks.lost_from_log,
            "error: {} record(s) of an interrupted batch were no longer in the log (lost by the broker) and could not be delivered",
        ),
        (
            risks.offsets_skipped,
            "error: the log served no record for {} offset(s) between what was delivered and the records read next (removed by retention before delivery, or lost by the broker); a topic with transactions or compaction leaves such gaps too",
        ),
        (
            risks.dedupe_gaps,
            "error: {} object(s) of the dedupe window were missing; records delivered before may have been delivered again",
        ),
    ];
    for (count, notice) in notices {
        if count > 0 {
            let _ = writeln!(text, "{}", notice.replacen("{}", &count.to_string(), 1));
        }
    }
    text.push_str(&unprojected_notice(&summary.unprojected));
    for behind in &summary.behind {
        let _ = writeln!(
            text,
            "error: partition {} is delivered to offset {} of {} ({} behind): another live worker holds it; run deliver again, or wait longer with --patience",
            behind.partition,
            behind.delivered_to,
            behind.end,
            behind.end - behind.delivered_to
        );
    }
    text
}

/// The warning about partition folders written outside the partition projection of a
/// table over the layout (Athena does not read them); empty when there are none.
pub fn unprojected_notice(folders: &[String]) -> String {
    if folders.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = folders.iter().take(5).map(String::as_str).collect();
    let more = folders.len().saturating_sub(shown.len());
    format!(
        "warning: {} partition folder(s) were written outside the table's partition projection, so Athena does not read their rows: {}{}; widen the projection's range in the catalog, or turn `projection` off so the partitions are registered\n",
        folders.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
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
            unprojected: Vec::new(),
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

    #[test]
    fn a_deliver_summary_and_every_notice_it_can_raise() {
        let summary = deliver::Summary {
            flow: "deliver".into(),
            read: 5000,
            written: 4990,
            duplicates: 7,
            poison: 3,
            batches: 4,
            objects: vec!["a".into(), "b".into(), "c".into()],
            risks: deliver::Risks {
                lost_from_log: 2,
                log_rewinds: 1,
                dedupe_gaps: 1,
                offsets_skipped: 5,
            },
            unprojected: vec!["report_date=2150-01-01/".into()],
            behind: vec![deliver::Behind {
                partition: 2,
                delivered_to: 120,
                end: 200,
            }],
        };
        insta::assert_snapshot!(format!("{}---\n{}", deliver(&summary), deliver_notices(&summary)), @r"
        deliver: read 5000 records, wrote 4990 in 4 batches (3 objects), dropped 7 duplicates, quarantined 3 undecodable.
        ---
        warning: the log ended below what was delivered 1 time(s) (a broker that lost records, or the topic created again); those partitions were read again from their start
        error: 2 record(s) of an interrupted batch were no longer in the log (lost by the broker) and could not be delivered
        error: the log served no record for 5 offset(s) between what was delivered and the records read next (removed by retention before delivery, or lost by the broker); a topic with transactions or compaction leaves such gaps too
        error: 1 object(s) of the dedupe window were missing; records delivered before may have been delivered again
        warning: 1 partition folder(s) were written outside the table's partition projection, so Athena does not read their rows: report_date=2150-01-01/; widen the projection's range in the catalog, or turn `projection` off so the partitions are registered
        error: partition 2 is delivered to offset 120 of 200 (80 behind): another live worker holds it; run deliver again, or wait longer with --patience
        ");
        let clean = deliver::Summary {
            risks: deliver::Risks::default(),
            unprojected: Vec::new(),
            behind: Vec::new(),
            ..summary
        };
        assert_eq!(deliver_notices(&clean), "");
    }
}
