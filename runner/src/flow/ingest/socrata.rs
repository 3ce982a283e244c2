//! A Socrata (SODA 2) client for polling a dataset by a watermark: `$where` on the watermark
//! field, `$order` by it with the row id `:id` as tie-breaker, `$limit`/`$offset` paging,
//! the app token in `X-App-Token`, and retries with exponential backoff on 429, 5xx and
//! timeouts (honouring `Retry-After`).
//!
//! A page is returned as raw text columns, one per column the cleaning program asks for,
//! with absent keys as nulls (the API omits null fields), ready for [`crate::clean`].

use std::time::Duration;

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::SchemaRef;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::flow::error::FlowError;
use crate::spec::source::SocrataSource;

/// Attempts of one request before giving up.
pub const ATTEMPTS: u32 = 6;
/// The first retry's delay; each later one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest delay between attempts (also the cap on `Retry-After`).
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The format of floating timestamps in `$where` literals.
pub const FLOATING: &str = "%Y-%m-%dT%H:%M:%S%.3f";

/// One page of rows.
#[derive(Debug)]
pub struct Page {
    /// The rows as text columns, in the order of the client's `columns`.
    pub batch: RecordBatch,
    /// Each row's watermark value as the API gave it (floating timestamp text), or null.
    pub watermarks: StringArray,
    /// The request URL (without the app token), for messages.
    pub url: String,
    /// Whether it is the poll's last page: it holds fewer rows than a page can.
    pub last: bool,
}

/// Polls one Socrata dataset.
#[derive(Clone)]
pub struct Client {
    source: SocrataSource,
    columns: Vec<String>,
    schema: SchemaRef,
    agent: ureq::Agent,
}

impl Client {
    /// A client reading `columns` (the API field names the cleaning program maps).
    pub fn new(source: &SocrataSource, columns: Vec<String>) -> Client {
        let schema = crate::flow::text::schema(&columns);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(source.timeout.0))
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            source: source.clone(),
            columns,
            schema,
            agent,
        }
    }

    /// The URL of the page at `offset` of rows whose watermark is at or after `since`
    /// (all rows without `since`).
    pub fn page_url(&self, since: Option<&str>, offset: u64) -> String {
        let watermark = &self.source.watermark;
        let mut conditions = Vec::new();
        if let Some(filter) = &self.source.filter {
            conditions.push(format!("({filter})"));
        }
        if let Some(since) = since {
            conditions.push(format!("{watermark} >= '{since}'"));
        }
        let mut url = url_with_query(&self.source.url);
        if !conditions.is_empty() {
            url.push_str(&format!("$where={}&", encode(&conditions.join(" AND "))));
        }
        url.push_str(&format!(
            "$order={}&$limit={}&$offset={offset}",
            encode(&format!("{watermark} ASC, :id ASC")),
            self.source.page_size
        ));
        url
    }

    /// The pages of one poll, from the first on (see [`Client::page_url`]), fetched and read
    /// on a thread of their own, so the next page is on its way while the last one is
    /// handled: one page waits in the channel and one more in the thread, at most. The
    /// thread stops after a short page, after an error, or when the receiver is dropped.
    pub fn pages(&self, since: Option<String>) -> mpsc::Receiver<Result<Page, FlowError>> {
        let (sender, receiver) = mpsc::channel(1);
        let client = self.clone();
        std::thread::spawn(move || {
            let mut offset = 0;
            loop {
                let page = client.page(since.as_deref(), offset);
                let (rows, last) = page
                    .as_ref()
                    .map_or((0, true), |p| (p.batch.num_rows() as u64, p.last));
                if sender.blocking_send(page).is_err() || last {
                    return;
                }
                offset += rows;
            }
        });
        receiver
    }

    /// Fetches the page at `offset` (see [`Client::page_url`]), retrying throttling, server
    /// errors and timeouts; blocks while it waits. Errors name the URL and, for a malformed
    /// page, the position.
    pub fn page(&self, since: Option<&str>, offset: u64) -> Result<Page, FlowError> {
        let url = self.page_url(since, offset);
        let mut delay = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let wait = match get(&self.agent, &url, self.source.app_token.as_ref()) {
                Answer::Body(body) => return self.parse(&url, &body),
                Answer::Fatal(message) => return Err(format!("GET {url}: {message}").into()),
                Answer::Retry { reason, after } if attempt < ATTEMPTS => {
                    let wait = after.unwrap_or(delay).min(MAX_BACKOFF);
                    tracing::warn!(%url, %reason, attempt, wait_ms = wait.as_millis() as u64, "retrying");
                    wait
                }
                Answer::Retry { reason, .. } => {
                    return Err(format!("GET {url}: {reason} ({ATTEMPTS} attempts)").into());
                }
            };
            std::thread::sleep(wait);
            delay = (delay * 2).min(MAX_BACKOFF);
            attempt += 1;
        }
    }

    /// A page's JSON array as text columns.
    fn parse(&self, url: &str, body: &[u8]) -> Result<Page, FlowError> {
        let mut rows = super::socrata_rows::read(body, &self.columns, &self.source.watermark)
            .map_err(|e| {
                format!(
                    "GET {url}: malformed page at line {} column {}: {e}",
                    e.line(),
                    e.column()
                )
            })?;
        let batch = crate::flow::text::finish(&self.schema, rows.columns)?;
        Ok(Page {
            last: batch.num_rows() < self.source.page_size as usize,
            batch,
            watermarks: rows.watermarks.finish(),
            url: url.to_owned(),
        })
    }
}

/// What one request came to.
enum Answer {
    Body(Vec<u8>),
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Fatal(String),
}

/// One GET, classified: a body, a reason to retry, or a failure not worth retrying.
fn get(agent: &ureq::Agent, url: &str, token: Option<&crate::spec::types::Secret>) -> Answer {
    let mut request = agent.get(url).header("Accept", "application/json");
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        request = request.header("X-App-Token", token.expose());
    }
    let mut response = match request.call() {
        Ok(response) => response,
        // Timeouts and connection failures are worth another attempt.
        Err(e) => {
            return Answer::Retry {
                reason: e.to_string(),
                after: None,
            };
        }
    };
    let status = response.status().as_u16();
    let after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // Sized by Content-Length when the server sends one (up to 256 MB, past which the
    // buffer grows as it is filled): a page of 50,000 rows is about 25 MB, which a
    // growing buffer would copy a dozen times over.
    let body_limit = 1 << 30;
    let size = response
        .body()
        .content_length()
        .map_or(0, |n| n.min(256 << 20) as usize);
    let mut body = Vec::with_capacity(size);
    let read = std::io::Read::read_to_end(
        &mut response.body_mut().with_config().limit(body_limit).reader(),
        &mut body,
    );
    let body = match read {
        Ok(_) => body,
        Err(e) => {
            return Answer::Retry {
                reason: format!("reading the body: {e}"),
                after: None,
            };
        }
    };
    match status {
        200 => Answer::Body(body),
        202 | 429 | 500..=599 => Answer::Retry {
            reason: format!("HTTP {status}"),
            after,
        },
        _ => Answer::Fatal(format!("HTTP {status}: {}", error_message(&body))),
    }
}

/// The message of a Socrata error body (`code`/`errorCode` and `message`), or its text.
fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(json) => {
            let code = json
                .get("code")
                .or_else(|| json.get("errorCode"))
                .and_then(Value::as_str)
                .unwrap_or("error");
            let message = json.get("message").and_then(Value::as_str).unwrap_or("");
            format!("{code}: {message}")
        }
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    }
}

/// `url` ready for more query parameters (`?` or `&` appended).
fn url_with_query(url: &str) -> String {
    if url.contains('?') {
        format!("{url}&")
    } else {
        format!("{url}?")
    }
}

/// Percent-encodes a query parameter value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> SocrataSource {
        serde_json::from_value(serde_json::json!({
            "url": "http://127.0.0.1:1/resource/tazs-3rd5.json",
            "watermark": "report_datetime",
            "page_size": 2,
            "where": "precinct = 'N'",
        }))
        .expect("source")
    }

    #[test]
    fn page_urls_carry_where_order_limit_and_offset_encoded() {
        let client = Client::new(&source(), vec!["offense_id".into()]);
        assert_eq!(
            client.page_url(Some("2024-03-01T00:00:00.000"), 4),
            "http://127.0.0.1:1/resource/tazs-3rd5.json?$where=%28precinct%20%3D%20%27N%27%29%20AND%20report_datetime%20%3E%3D%20%272024-03-01T00%3A00%3A00.000%27&$order=report_datetime%20ASC%2C%20%3Aid%20ASC&$limit=2&$offset=4"
        );
    }

    #[test]
    fn pages_become_text_columns_with_absent_keys_null() {
        let client = Client::new(&source(), vec!["offense_id".into(), "precinct".into()]);
        let body = br#"[{"offense_id":"1","report_datetime":"2024-03-01T10:00:00.000"},{"offense_id":2,"precinct":"N"}]"#;
        let page = client.parse("u", body).expect("parses");
        assert_eq!(page.batch.num_rows(), 2);
        assert_eq!(page.watermarks.value(0), "2024-03-01T10:00:00.000");
        assert!(arrow_array::Array::is_null(&page.watermarks, 1));
        let precinct = arrow_array::cast::AsArray::as_string::<i32>(page.batch.column(1));
        assert!(arrow_array::Array::is_null(precinct, 0));
        assert_eq!(precinct.value(1), "N");
        // A full page (page_size 2) is not the last; a shorter one is.
        assert!(!page.last);
        let short = client
            .parse("u", br#"[{"offense_id":"3"}]"#)
            .expect("parses");
        assert!(short.last);
        let bad = client
            .parse("u", b"[{\"offense_id\":\"1\"},\n{oops")
            .expect_err("fails")
            .to_string();
        assert!(
            bad.starts_with("GET u: malformed page at line 2 column 2"),
            "{bad}"
        );
    }

    #[test]
    fn error_bodies_give_their_code_and_message() {
        assert_eq!(
            error_message(
                br#"{"errorCode":"query.soql.no-such-column","message":"No such column: x"}"#
            ),
            "query.soql.no-such-column: No such column: x"
        );
        assert_eq!(error_message(b"plain"), "plain");
    }
}
