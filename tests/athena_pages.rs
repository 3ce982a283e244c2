//! An Athena of the tests' own that pages its answers, as Athena does past 1,000 rows
//! (moto answers in one page): the JSON protocol's StartQueryExecution, GetQueryExecution
//! and GetQueryResults, with `NextToken`, and a page that fails on request.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::remote::{Remote, text};
use crate::util::stdout;

/// The answer served: a `bigint` column `n` and a `varchar` column `s`, one row per
/// number, paged as Athena pages (a header row first, then up to the asked-for rows).
struct Answer {
    rows: usize,
    /// A page (0 the first) answered with an error instead.
    failing_page: Option<usize>,
    /// The GetQueryResults calls served.
    pages_served: usize,
}

/// The running server.
pub struct Server {
    /// Its endpoint URL.
    pub url: String,
    answer: Arc<Mutex<Answer>>,
}

impl Server {
    /// Serves an answer of `rows` rows, page `failing_page` failing.
    pub fn start(rows: usize, failing_page: Option<usize>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let answer = Arc::new(Mutex::new(Answer {
            rows,
            failing_page,
            pages_served: 0,
        }));
        crate::util::serve(listener, &answer, handle);
        Server {
            url: format!("http://127.0.0.1:{port}"),
            answer,
        }
    }

    /// The GetQueryResults calls served so far.
    pub fn pages_served(&self) -> usize {
        self.answer.lock().expect("lock").pages_served
    }
}

/// Answers the requests of one connection, one after the other.
fn handle(stream: TcpStream, answer: &Mutex<Answer>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let Some((_, headers)) = crate::util::read_head(&mut reader)? else {
            return Ok(());
        };
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let target = header("x-amz-target").cloned().unwrap_or_default();
        let length = header("content-length").map_or(0, |v| v.parse().unwrap_or(0));
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let (status, reply) = reply(&target, &request, answer);
        let reply = reply.to_string();
        write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\n\
             Content-Length: {}\r\n\r\n{reply}",
            reply.len()
        )?;
    }
}

/// The status and body answering operation `target` with `request`.
fn reply(target: &str, request: &Value, answer: &Mutex<Answer>) -> (u16, Value) {
    let id = "q-paged";
    match target {
        "AmazonAthena.StartQueryExecution" => (200, json!({ "QueryExecutionId": id })),
        "AmazonAthena.GetQueryExecution" => (
            200,
            json!({ "QueryExecution": {
                "QueryExecutionId": id, "Status": { "State": "SUCCEEDED" } } }),
        ),
        "AmazonAthena.GetQueryResults" => {
            let mut answer = answer.lock().expect("lock");
            let page: usize = request["NextToken"]
                .as_str()
                .map_or(0, |token| token.parse().expect("a token of ours"));
            answer.pages_served += 1;
            if answer.failing_page == Some(page) {
                let error = json!({ "__type": "InvalidRequestException",
                                    "Message": "the results expired" });
                return (400, error);
            }
            let size = request["MaxResults"].as_u64().unwrap_or(1000) as usize;
            // The header row takes a row of the first page, as on Athena.
            let first = if page == 0 { 0 } else { page * size - 1 };
            let last = ((page + 1) * size - 1).min(answer.rows);
            let cell = |v: String| json!({ "VarCharValue": v });
            let mut rows: Vec<Value> = (first..last)
                .map(|n| json!({ "Data": [cell(n.to_string()), cell(format!("row {n}"))] }))
                .collect();
            if page == 0 {
                rows.insert(0, json!({ "Data": [cell("n".into()), cell("s".into())] }));
            }
            let column = |name: &str, kind: &str| json!({ "Name": name, "Type": kind });
            let mut reply = json!({ "ResultSet": {
                "Rows": rows,
                "ResultSetMetadata": { "ColumnInfo": [column("n", "bigint"), column("s", "varchar")] }
            } });
            if last < answer.rows {
                reply["NextToken"] = json!((page + 1).to_string());
            }
            (200, reply)
        }
        "AmazonAthena.StopQueryExecution" => (200, json!({})),
        other => (
            400,
            json!({ "__type": "InvalidRequestException", "Message": format!("not served: {other}") }),
        ),
    }
}

#[test]
fn an_answer_of_several_pages_comes_out_whole_and_a_page_that_fails_cuts_it_short() {
    let Some(r) = Remote::new("athena-pages") else {
        return;
    };
    let p = r.pipeline.as_str();
    let run = |server: &Server| {
        let sql = "SELECT n, s FROM numbers";
        let args = [
            "query", "--sql", sql, p, "--target", "aws", "--engine", "athena", "--format", "csv",
        ];
        let env = [
            ("AWS_ENDPOINT_URL_ATHENA", server.url.as_str()),
            ("ATHENA_OUTPUT_LOCATION", "s3://results/athena/"),
        ];
        r.run_env(&args, &r.aws, &env)
    };
    let expected: Vec<String> = (0..2_500).map(|n| format!("{n},row {n}")).collect();

    // Three pages of 1,000 rows at most (the first with the header row): every row, once,
    // in order.
    let whole = Server::start(2_500, None);
    let answered = run(&whole);
    assert_eq!(answered.status.code(), Some(0), "{}", text(&answered));
    let out = stdout(&answered);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"n,s"));
    assert!(lines[1..] == expected[..], "{} rows", lines.len() - 1);
    assert_eq!(whole.pages_served(), 3);

    // The third page fails: the run exits 1 naming the query, the pipeline and Athena's
    // reason, and the rows of the first two pages stay printed.
    let failing = Server::start(2_500, Some(2));
    let cut = run(&failing);
    assert_eq!(cut.status.code(), Some(1), "{}", text(&cut));
    let message = String::from_utf8_lossy(&cut.stderr);
    for part in ["q-paged", "the results expired", "seattle.yaml"] {
        assert!(message.contains(part), "{part}: {message}");
    }
    let out = stdout(&cut);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[1..] == expected[..1_999], "{} rows", lines.len() - 1);
}
