//! The panels' drawings as inline SVG: horizontal bars, a line over time, a latitude/
//! longitude scatter, a table and a big number. Every mark carries its value in `data-*`
//! attributes and a `<title>` (the hover tooltip), so a browser test can read back what
//! was drawn.

use std::fmt::Write;

use super::columns::{Column, format_number};

/// Colours of the categories on the map (the rest are grey).
const PALETTE: [&str; 8] = [
    "#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d",
];

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The ticks of a value axis from zero to the largest of `values` (at least 1), and the
/// value at the axis' far end.
fn value_axis(values: &[Option<f64>]) -> (Vec<f64>, f64) {
    let max = values
        .iter()
        .flatten()
        .cloned()
        .fold(0.0, f64::max)
        .max(1.0);
    let axis = ticks(0.0, max, 5);
    let top_value = axis.last().copied().unwrap_or(max).max(max);
    (axis, top_value)
}

/// Round tick values covering `[low, high]`, about `count` of them.
fn ticks(low: f64, high: f64, count: usize) -> Vec<f64> {
    let span = (high - low).max(f64::EPSILON);
    let raw = span / count.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    // From the first tick at or above `low` to the first at or above `high`, so the axis
    // always reaches past the largest value.
    let first = (low / step).ceil() as i64;
    let last = (high / step - 1e-9).ceil() as i64;
    (first..=last.max(first)).map(|k| k as f64 * step).collect()
}

/// Bars: one per row, `labels` down the left, `values` as bar lengths.
pub fn bar(labels: &Column, values: &Column) -> Result<String, String> {
    let numbers = values
        .number
        .as_ref()
        .ok_or_else(|| format!("bar: column '{}' is not numeric", values.name))?;
    let rows = labels.text.len();
    let (left, right, top, row_height) = (200.0, 60.0, 20.0, 22.0);
    let width = 640.0;
    let plot = width - left - right;
    let height = top + row_height * rows as f64 + 46.0;
    let (axis, top_value) = value_axis(numbers);
    let scale = plot / top_value;
    let mut svg = svg_open(
        width,
        height,
        &format!("{} by {}", values.name, labels.name),
    );
    for tick in &axis {
        let x = left + tick * scale;
        let _ = write!(
            svg,
            r##"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            height - 36.0,
            height - 22.0,
            format_number(*tick)
        );
    }
    for (row, (label, value)) in labels.text.iter().zip(numbers).enumerate() {
        let value = value.unwrap_or(0.0);
        let y = top + row as f64 * row_height;
        let length = (value * scale).max(1.0);
        let _ = write!(
            svg,
            r#"<g class="mark"><rect class="bar" x="{left}" y="{:.1}" width="{length:.1}" height="{:.1}" data-label="{label}" data-value="{value}"><title>{label}: {shown}</title></rect><text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{short}</text><text class="value" x="{:.1}" y="{:.1}">{shown}</text></g>"#,
            y + 3.0,
            row_height - 6.0,
            left - 8.0,
            y + row_height / 2.0 + 4.0,
            left + length + 6.0,
            y + row_height / 2.0 + 4.0,
            label = escape(label),
            short = escape(&shorten(label, 26)),
            shown = format_number(value),
        );
    }
    let _ = write!(
        svg,
        r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="axis-label" x="{:.1}" y="12" text-anchor="end">{}</text></svg>"#,
        left + plot / 2.0,
        height - 4.0,
        escape(&values.name),
        left - 8.0,
        escape(&labels.name)
    );
    Ok(svg)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

/// A line through the rows in order: `xs` along the bottom (by value when numeric or
/// temporal, evenly otherwise), `ys` up the side.
pub fn line(xs: &Column, ys: &Column) -> Result<String, String> {
    let values = ys
        .number
        .as_ref()
        .ok_or_else(|| format!("line: column '{}' is not numeric", ys.name))?;
    let (width, height) = (1280.0, 340.0);
    let (left, right, top, bottom) = (64.0, 48.0, 14.0, 52.0);
    let (plot_w, plot_h) = (width - left - right, height - top - bottom);
    let n = values.len();
    let positions: Vec<f64> = match &xs.number {
        Some(numbers) if numbers.iter().all(Option::is_some) && n > 1 => {
            let numbers: Vec<f64> = numbers.iter().flatten().copied().collect();
            let (low, high) = min_max(&numbers);
            numbers
                .iter()
                .map(|v| (v - low) / (high - low).max(f64::EPSILON))
                .collect()
        }
        _ => (0..n).map(|i| i as f64 / (n.max(2) - 1) as f64).collect(),
    };
    let (axis, top_value) = value_axis(values);
    let y_of = |v: f64| top + plot_h - v / top_value * plot_h;
    let mut svg = svg_open(width, height, &format!("{} over {}", ys.name, xs.name));
    for tick in &axis {
        let y = y_of(*tick);
        let _ = write!(
            svg,
            r##"<line class="grid" x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            width - right,
            left - 6.0,
            y + 4.0,
            format_number(*tick)
        );
    }
    let mut path = String::new();
    let mut marks = String::new();
    let label_every = n.div_ceil(8).max(1);
    for (i, (position, value)) in positions.iter().zip(values).enumerate() {
        let Some(value) = value else { continue };
        let x = left + position * plot_w;
        let y = y_of(*value);
        let _ = write!(
            path,
            "{}{x:.1},{y:.1} ",
            if path.is_empty() { "M" } else { "L" }
        );
        let label = escape(&xs.text[i]);
        let _ = write!(
            marks,
            r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="3.5" data-label="{label}" data-value="{value}"><title>{label}: {}</title></circle>"#,
            format_number(*value)
        );
        if i % label_every == 0 || i + 1 == n {
            let _ = write!(
                marks,
                r#"<text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
                top + plot_h + 18.0
            );
        }
    }
    let _ = write!(
        svg,
        r#"<path class="line" d="{}"/>{marks}<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="axis-label" x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text></svg>"#,
        path.trim_end(),
        left + plot_w / 2.0,
        height - 8.0,
        escape(&xs.name),
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        escape(&ys.name)
    );
    Ok(svg)
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        })
}

/// Points on a latitude/longitude plane, coloured by `category` when given (the eight
/// most frequent values get colours and a legend).
pub fn map(lat: &Column, lon: &Column, category: Option<&Column>) -> Result<String, String> {
    let numbers = |c: &Column| {
        c.number
            .clone()
            .ok_or_else(|| format!("map: column '{}' is not numeric", c.name))
    };
    let (lats, lons) = (numbers(lat)?, numbers(lon)?);
    let points: Vec<(usize, f64, f64)> = lats
        .iter()
        .zip(&lons)
        .enumerate()
        .filter_map(|(i, (la, lo))| Some((i, (*la)?, (*lo)?)))
        .collect();
    let all_lat: Vec<f64> = points.iter().map(|p| p.1).collect();
    let all_lon: Vec<f64> = points.iter().map(|p| p.2).collect();
    let (lat_lo, lat_hi) = if points.is_empty() {
        (0.0, 1.0)
    } else {
        min_max(&all_lat)
    };
    let (lon_lo, lon_hi) = if points.is_empty() {
        (0.0, 1.0)
    } else {
        min_max(&all_lon)
    };
    // Equirectangular: a degree of longitude is cos(latitude) of a degree of latitude.
    let squash = ((lat_lo + lat_hi) / 2.0).to_radians().cos().max(0.1);
    let span_x = ((lon_hi - lon_lo) * squash).max(1e-6);
    let span_y = (lat_hi - lat_lo).max(1e-6);
    let height = 600.0;
    let (pad, legend_w) = (36.0, 270.0);
    let plot_h = height - 2.0 * pad;
    let plot_w = (plot_h * span_x / span_y).clamp(240.0, 720.0);
    let width = plot_w + 2.0 * pad + legend_w;
    let mut counts: Vec<(String, usize)> = Vec::new();
    if let Some(category) = category {
        for (i, ..) in &points {
            let value = &category.text[*i];
            match counts.iter_mut().find(|(v, _)| v == value) {
                Some((_, n)) => *n += 1,
                None => counts.push((value.clone(), 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts.truncate(PALETTE.len());
    }
    let colour = |i: usize| {
        category
            .and_then(|c| counts.iter().position(|(v, _)| *v == c.text[i]))
            .map_or("#9ca3af", |k| PALETTE[k])
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg class="chart" width="{width:.0}" height="{height}" viewBox="0 0 {width:.1} {height}" role="img" aria-label="{} and {}"><rect class="plane" x="{pad}" y="{pad}" width="{plot_w:.1}" height="{plot_h:.1}"/>"##,
        escape(&lat.name),
        escape(&lon.name)
    );
    for (i, la, lo) in &points {
        let x = pad + (lo - lon_lo) * squash / span_x * plot_w;
        let y = pad + plot_h - (la - lat_lo) / span_y * plot_h;
        let what = category
            .map(|c| format!(" {}", c.text[*i]))
            .unwrap_or_default();
        let _ = write!(
            svg,
            r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="2.2" fill="{}" data-lat="{la}" data-lon="{lo}"><title>{la:.4}, {lo:.4}{}</title></circle>"#,
            colour(*i),
            escape(&what)
        );
    }
    let _ = write!(
        svg,
        r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{} ({lon_lo:.3} … {lon_hi:.3})</text><text class="axis-label" x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{} ({lat_lo:.3} … {lat_hi:.3})</text>"#,
        pad + plot_w / 2.0,
        height - 8.0,
        escape(&lon.name),
        height / 2.0,
        height / 2.0,
        escape(&lat.name)
    );
    for (k, (value, n)) in counts.iter().enumerate() {
        let y = pad + 8.0 + k as f64 * 20.0;
        let x = pad * 2.0 + plot_w;
        let _ = write!(
            svg,
            r#"<g class="legend"><circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{}"/><text class="tick" x="{:.1}" y="{:.1}">{} ({n})</text></g>"#,
            PALETTE[k],
            x + 10.0,
            y + 4.0,
            escape(&shorten(value, 30))
        );
    }
    svg.push_str("</svg>");
    Ok(svg)
}

/// The rows as an HTML table (at most `limit` of them).
pub fn table(columns: &[Column], limit: usize) -> String {
    let rows = columns.first().map_or(0, |c| c.text.len());
    let mut html = String::from(r#"<div class="table-wrap"><table><thead><tr>"#);
    for column in columns {
        let _ = write!(html, "<th>{}</th>", escape(&column.name));
    }
    html.push_str("</tr></thead><tbody>");
    for row in 0..rows.min(limit) {
        html.push_str("<tr>");
        for column in columns {
            let numeric = column.number.is_some() && !column.temporal;
            let text = match (&column.number, numeric) {
                (Some(values), true) => values[row].map(format_number).unwrap_or_default(),
                _ => column.text[row].clone(),
            };
            let class = if numeric { r#" class="num""# } else { "" };
            let _ = write!(html, "<td{class}>{}</td>", escape(&text));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table></div>");
    if rows > limit {
        let _ = write!(html, r#"<p class="note">First {limit} of {rows} rows.</p>"#);
    }
    html
}

/// One big number: the first row of `column`.
pub fn number(column: &Column) -> String {
    let shown = match &column.number {
        Some(values) if !column.temporal => values
            .first()
            .copied()
            .flatten()
            .map(format_number)
            .unwrap_or_else(|| "–".to_owned()),
        _ => column
            .text
            .first()
            .cloned()
            .unwrap_or_else(|| "–".to_owned()),
    };
    format!(
        r#"<p class="big-number" data-value="{}">{}</p><p class="note">{}</p>"#,
        escape(column.text.first().map_or("", String::as_str)),
        escape(&shown),
        escape(&column.name)
    )
}

/// The opening `<svg>` tag of a chart `width` by `height` pixels, labelled for screen
/// readers with `label` (escaped here).
fn svg_open(width: f64, height: f64, label: &str) -> String {
    format!(
        r#"<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{}">"#,
        escape(label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, text: &[&str], numbers: Option<&[f64]>) -> Column {
        Column {
            name: name.into(),
            text: text.iter().map(|t| (*t).to_owned()).collect(),
            number: numbers.map(|n| n.iter().map(|v| Some(*v)).collect()),
            temporal: false,
        }
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            ticks(0.0, 95.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(ticks(0.0, 80.0, 5), vec![0.0, 20.0, 40.0, 60.0, 80.0]);
        assert_eq!(
            ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(ticks(0.0, 5847.0, 5), vec![0.0, 2000.0, 4000.0, 6000.0]);
    }

    #[test]
    fn bars_carry_their_labels_and_values_escaped() {
        let svg = bar(
            &column("group", &["A & B", "<C>"], None),
            &column("n", &["3", "1"], Some(&[3.0, 1.0])),
        )
        .expect("bar");
        assert!(
            svg.contains(r#"data-label="A &amp; B" data-value="3""#),
            "{svg}"
        );
        assert!(svg.contains("&lt;C&gt;"));
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2);
    }

    #[test]
    fn a_bar_of_text_values_is_an_error_naming_the_column() {
        let error = bar(&column("a", &["x"], None), &column("b", &["y"], None)).unwrap_err();
        assert!(error.contains("'b' is not numeric"), "{error}");
    }

    #[test]
    fn the_map_colours_the_most_frequent_categories() {
        let svg = map(
            &column("lat", &["47.6", "47.7", "47.5"], Some(&[47.6, 47.7, 47.5])),
            &column(
                "lon",
                &["-122.3", "-122.4", "-122.2"],
                Some(&[-122.3, -122.4, -122.2]),
            ),
            Some(&column("kind", &["THEFT", "THEFT", "ASSAULT"], None)),
        )
        .expect("map");
        assert_eq!(svg.matches("class=\"point\"").count(), 3);
        assert!(
            svg.contains("THEFT (2)") && svg.contains("ASSAULT (1)"),
            "{svg}"
        );
    }
}
