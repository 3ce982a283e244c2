//! A Socrata-like HTTP server of the tests' own: it replays real SPD rows in the SODA API's
//! JSON shape (floating local timestamps, numbers as strings, nulls left out, `_100_block_address`)
//! and implements `$where` (`field >= 'literal'`, `field > 'literal'`, joined by `AND`),
//! `$order` (fields with `ASC`/`DESC`, `:id` as the hidden row id), `$limit` and `$offset`
//! as the real API does. Faults can be queued: 429 with `Retry-After`, 500, a slow answer,
//! a malformed page, an answer held back after it was read.

use std::collections::VecDeque;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};

/// A fault the server answers the next request with.
#[derive(Clone, Debug)]
pub enum Fault {
    /// 429 Too Many Requests with `Retry-After: 1`.
    Throttle,
    /// 500 Internal Server Error.
    ServerError,
    /// The right answer, after a delay.
    Slow(Duration),
    /// A page cut off in the middle of a row.
    Malformed,
    /// The answer read at once but sent after a delay: rows published meanwhile are not
    /// in it.
    Stall(Duration),
}

#[derive(Default)]
struct Shared {
    rows: Vec<Map<String, Value>>,
    faults: VecDeque<Fault>,
    requests: Vec<String>,
    /// Answers read and being held back ([`Fault::Stall`]).
    stalled: usize,
    token: Option<String>,
}

/// The running server.
pub struct Server {
    /// The dataset's resource URL.
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

/// Real SPD rows from the seed's formatted history, in the API's JSON shape; `:id` is the
/// row's position.
pub fn api_rows(limit: usize) -> Vec<Map<String, Value>> {
    let path = crate::util::root().join("data/spd_crime_data_2023_formatted.csv");
    let mut reader = csv::Reader::from_path(path).expect("data");
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    reader
        .records()
        .take(limit)
        .enumerate()
        .map(|(i, record)| {
            let record = record.expect("row");
            let mut row = Map::new();
            row.insert(":id".into(), Value::String(format!("row-{i:08}")));
            for (name, value) in header.iter().zip(record.iter()) {
                if value.is_empty() {
                    continue; // the API leaves nulls out
                }
                let name = if name == "block_address" {
                    "_100_block_address"
                } else {
                    name
                };
                let value = if name.ends_with("datetime") {
                    // Floating timestamps: ISO 8601, milliseconds, no zone.
                    format!("{}.000", value.replace(' ', "T"))
                } else {
                    value.to_owned()
                };
                row.insert(name.into(), Value::String(value));
            }
            row
        })
        .collect()
}

impl Server {
    /// Serves `rows` on 127.0.0.1 at `/resource/tazs-3rd5.json`; with `token`, requests
    /// must carry it in `X-App-Token`.
    pub fn start(rows: Vec<Map<String, Value>>, token: Option<&str>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(Shared {
            rows,
            token: token.map(str::to_owned),
            ..Shared::default()
        }));
        crate::util::serve(listener, &shared, handle);
        Server {
            url: format!("http://127.0.0.1:{port}/resource/tazs-3rd5.json"),
            shared,
        }
    }

    /// Queues faults for the next requests, in order.
    pub fn fault(&self, faults: &[Fault]) {
        self.shared
            .lock()
            .expect("lock")
            .faults
            .extend(faults.iter().cloned());
    }

    /// Publishes more rows (late rows, as the live feed does).
    pub fn publish(&self, rows: Vec<Map<String, Value>>) {
        self.shared.lock().expect("lock").rows.extend(rows);
    }

    /// How many answers were read and held back by [`Fault::Stall`].
    pub fn stalled(&self) -> usize {
        self.shared.lock().expect("lock").stalled
    }

    /// The request targets served so far (path and query).
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().expect("lock").requests.clone()
    }
}

fn handle(stream: TcpStream, shared: &Mutex<Shared>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let (request_line, headers) = crate::util::read_head(&mut reader)?.unwrap_or_default();
    let token = headers
        .into_iter()
        .find_map(|(name, value)| (name == "x-app-token").then_some(value));
    let target = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let (fault, expected_token) = {
        let mut shared = shared.lock().expect("lock");
        shared.requests.push(target.clone());
        (shared.faults.pop_front(), shared.token.clone())
    };
    let mut stream = stream;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if path != "/resource/tazs-3rd5.json" {
        return respond(
            &mut stream,
            404,
            &[],
            br#"{"code":"dataset.missing","error":true,"message":"Not found"}"#,
        );
    }
    if expected_token.is_some() && token != expected_token {
        return respond(
            &mut stream,
            403,
            &[],
            br#"{"code":"permission_denied","error":true,"message":"Invalid app_token specified"}"#,
        );
    }
    match fault {
        Some(Fault::Throttle) => {
            return respond(&mut stream, 429, &[("Retry-After", "1")], b"{}");
        }
        Some(Fault::ServerError) => {
            return respond(
                &mut stream,
                500,
                &[],
                br#"{"code":"internal","message":"boom"}"#,
            );
        }
        Some(Fault::Slow(delay)) => std::thread::sleep(delay),
        Some(Fault::Malformed | Fault::Stall(_)) | None => {}
    }
    let body = match page(shared, query) {
        Ok(body) => body,
        Err(message) => {
            let error =
                serde_json::json!({"errorCode": "query.soql.malformed", "message": message});
            return respond(&mut stream, 400, &[], error.to_string().as_bytes());
        }
    };
    if let Some(Fault::Stall(delay)) = fault {
        shared.lock().expect("lock").stalled += 1;
        std::thread::sleep(delay);
    }
    if matches!(fault, Some(Fault::Malformed)) {
        let cut = &body[..body.len() / 2];
        return respond(&mut stream, 200, &[], cut);
    }
    respond(&mut stream, 200, &[], &body)
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON page a query selects.
fn page(shared: &Mutex<Shared>, query: &str) -> Result<Vec<u8>, String> {
    let mut filter = Vec::new();
    let mut order = Vec::new();
    let (mut limit, mut offset) = (1000usize, 0usize);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(value);
        match name {
            "$where" => {
                for condition in value.split(" AND ") {
                    let condition = condition
                        .trim()
                        .trim_start_matches('(')
                        .trim_end_matches(')');
                    let (field, op, literal) = if let Some((f, l)) = condition.split_once(" >= ") {
                        (f, ">=", l)
                    } else if let Some((f, l)) = condition.split_once(" > ") {
                        (f, ">", l)
                    } else {
                        return Err(format!("cannot parse condition '{condition}'"));
                    };
                    let literal = literal
                        .strip_prefix('\'')
                        .and_then(|l| l.strip_suffix('\''))
                        .ok_or_else(|| format!("'{literal}' is not a quoted literal"))?;
                    filter.push((field.trim().to_owned(), op, literal.to_owned()));
                }
            }
            "$order" => {
                for part in value.split(',') {
                    let mut words = part.split_whitespace();
                    let field = words.next().ok_or("empty $order")?.to_owned();
                    let descending = words.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
                    order.push((field, descending));
                }
            }
            "$limit" => limit = value.parse().map_err(|_| "bad $limit")?,
            "$offset" => offset = value.parse().map_err(|_| "bad $offset")?,
            _ => return Err(format!("unknown parameter {name}")),
        }
    }
    let shared = shared.lock().expect("lock");
    let text = |row: &Map<String, Value>, field: &str| {
        row.get(field).and_then(Value::as_str).map(str::to_owned)
    };
    let mut rows: Vec<&Map<String, Value>> = shared
        .rows
        .iter()
        .filter(|row| {
            filter
                .iter()
                .all(|(field, op, literal)| match text(row, field) {
                    // Floating timestamps compare as text of one shape; nulls never match.
                    Some(value) => {
                        let value = value.as_str();
                        if *op == ">=" {
                            value >= literal.as_str()
                        } else {
                            value > literal.as_str()
                        }
                    }
                    None => false,
                })
        })
        .collect();
    rows.sort_by(|a, b| {
        for (field, descending) in &order {
            let ordering = text(a, field).cmp(&text(b, field));
            let ordering = if *descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        std::cmp::Ordering::Equal
    });
    // `:id` is a hidden system field: not in the rows unless selected.
    let page: Vec<Map<String, Value>> = rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|row| {
            let mut row = row.clone();
            row.remove(":id");
            row
        })
        .collect();
    serde_json::to_vec(&page).map_err(|e| e.to_string())
}
