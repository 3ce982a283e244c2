//! The dashboard: one self-contained HTML page (inline CSS and SVG, no script, no network)
//! with the panels a pipeline declares, each drawn from its query's answer.

pub mod charts;
pub mod columns;

use std::fmt::Write;

use crate::backend::Answer;
use crate::spec::{Chart, Dashboard, Panel};
use charts::escape;

/// Rows a table panel shows at most.
const TABLE_ROWS: usize = 100;

/// A panel and what its query returned (or why it failed).
pub struct Shown<'a> {
    /// The panel.
    pub panel: &'a Panel,
    /// Its query's answer, or the error.
    pub answer: Result<Answer, String>,
}

/// Where the page's data came from, printed in its header and footer.
pub struct Provenance {
    /// The pipeline's name.
    pub pipeline: String,
    /// The target and engine, e.g. `local, embedded engine`.
    pub source: String,
    /// When the data was read (RFC 3339, UTC).
    pub read_at: String,
}

/// The page for `dashboard` with `panels` in order.
pub fn page(dashboard: &Dashboard, panels: &[Shown<'_>], provenance: &Provenance) -> String {
    let title = dashboard
        .title
        .clone()
        .unwrap_or_else(|| provenance.pipeline.clone());
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title><style>{STYLE}</style></head><body><header><h1>{title}</h1><p class="meta">Pipeline <b>{pipeline}</b> · {source} · data read <time datetime="{read_at}">{read_at}</time></p></header><main>"#,
        title = escape(&title),
        pipeline = escape(&provenance.pipeline),
        source = escape(&provenance.source),
        read_at = escape(&provenance.read_at),
    );
    for (i, shown) in panels.iter().enumerate() {
        html.push_str(&panel(i, shown, &provenance.read_at));
    }
    let _ = write!(
        html,
        r#"</main><footer>Written by runner from {} at {}.</footer></body></html>"#,
        escape(&provenance.pipeline),
        escape(&provenance.read_at)
    );
    html
}

/// One panel's section: title, drawing, and a line saying which query and when.
fn panel(index: usize, shown: &Shown<'_>, read_at: &str) -> String {
    let p = shown.panel;
    let wide = matches!(p.chart, Chart::Line | Chart::Map);
    let (body, rows, state) = match shown
        .answer
        .as_ref()
        .map_err(String::clone)
        .and_then(|a| draw(p, a))
    {
        Ok((body, rows)) => (body, rows, "ok"),
        Err(e) => (
            format!(
                r#"<p class="error">This panel could not be drawn: {}</p>"#,
                escape(&e)
            ),
            0,
            "error",
        ),
    };
    format!(
        r#"<section class="panel{wide}" data-panel="{index}" data-chart="{chart}" data-query="{query}" data-rows="{rows}" data-state="{state}"><h2>{title}</h2>{body}<p class="meta">query <code>{query}</code> · {rows} row{plural} · read {read_at}</p></section>"#,
        wide = if wide { " wide" } else { "" },
        chart = p.chart.as_str(),
        query = escape(&p.query),
        title = escape(&p.title),
        plural = if rows == 1 { "" } else { "s" },
        read_at = escape(read_at),
    )
}

/// Whether panel `p` can be drawn from answers with these columns: each column it names is
/// there, with the kind its chart needs (numbers for bar lengths, line heights and map
/// coordinates). What `runner validate` checks from the query's plan.
pub fn fits(p: &Panel, schema: datafusion::arrow::datatypes::SchemaRef) -> Result<(), String> {
    draw(
        p,
        &Answer {
            schema,
            batches: Vec::new(),
        },
    )
    .map(|_| ())
}

/// The drawing of panel `p` from `answer`, and the number of rows it shows.
fn draw(p: &Panel, answer: &Answer) -> Result<(String, usize), String> {
    let columns = columns::columns(answer)?;
    let rows = columns.first().map_or(0, |c| c.text.len());
    let body = match p.chart {
        Chart::Bar => charts::bar(
            columns::pick(&columns, p.x.as_deref(), 0)?,
            columns::pick(&columns, p.y.as_deref(), 1)?,
        )?,
        Chart::Line => charts::line(
            columns::pick(&columns, p.x.as_deref(), 0)?,
            columns::pick(&columns, p.y.as_deref(), 1)?,
        )?,
        Chart::Map => {
            let lat = columns::pick(&columns, p.lat.as_deref(), 0)?;
            let lon = columns::pick(&columns, p.lon.as_deref(), 1)?;
            // The first text column beside the coordinates colours the points.
            let category = columns
                .iter()
                .find(|c| c.number.is_none() && c.name != lat.name && c.name != lon.name);
            charts::map(lat, lon, category)?
        }
        Chart::Table => charts::table(&columns, TABLE_ROWS),
        Chart::Number => charts::number(columns::pick(&columns, p.x.as_deref(), 0)?),
    };
    Ok((body, rows))
}

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #111827; --muted: #6b7280; --line: #e5e7eb; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f3f4f6; }
header { padding: 20px 28px 8px; }
h1 { margin: 0 0 4px; font-size: 24px; }
h2 { margin: 0 0 10px; font-size: 16px; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; padding: 12px 28px 28px; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
.panel.wide { grid-column: 1 / -1; }
.meta, .note, footer { color: var(--muted); font-size: 12px; }
footer { padding: 0 28px 24px; }
.chart { max-width: 100%; height: auto; display: block; }
.chart .bar { fill: var(--accent); }
.chart .mark:hover .bar { fill: #1d4ed8; }
.chart .line { fill: none; stroke: var(--accent); stroke-width: 2; }
.chart .point { stroke: #fff; stroke-width: .5; }
.chart circle.point:not([fill]) { fill: var(--accent); }
.chart .grid { stroke: var(--line); }
.chart .plane { fill: #f9fafb; stroke: var(--line); }
.chart text { font-size: 11px; fill: #374151; }
.chart .axis-label { font-size: 12px; fill: var(--muted); }
.chart .value { fill: var(--muted); }
.big-number { font-size: 56px; font-weight: 700; margin: 8px 0 0; color: var(--accent); }
.table-wrap { max-height: 420px; overflow: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; }
th { position: sticky; top: 0; background: #f9fafb; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.error { color: #b91c1c; }
"#;
