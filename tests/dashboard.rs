//! `runner dashboard` opened in headless Chromium (driven through chromedriver's WebDriver
//! API): every panel rendered, visible, and showing the values `runner query` returns for
//! its query. A screenshot is kept in target/dashboard/.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use runner::dashboard::columns::format_number;

use crate::query::{answer, backfilled};
use crate::services::service;
use crate::util::{root, stdout};

/// A chromedriver process on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
    agent: ureq::Agent,
}

impl Driver {
    fn start(binary: &str) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            agent,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while driver.call("GET", "/status", None)["value"]["ready"] != json!(true) {
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    /// One WebDriver command; its JSON answer (connection errors read as null).
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.url);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or(json!({})).to_string()),
        };
        let text =
            response.and_then(|mut r| r.body_mut().with_config().limit(64 << 20).read_to_string());
        text.ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the page shows, read in the browser after layout.
const READ_PANELS: &str = r#"
return Array.from(document.querySelectorAll('section.panel')).map(p => {
  const box = p.getBoundingClientRect();
  const svg = p.querySelector('svg');
  const svgBox = svg ? svg.getBoundingClientRect() : null;
  return {
    chart: p.dataset.chart, query: p.dataset.query, state: p.dataset.state,
    title: p.querySelector('h2').textContent,
    width: box.width, height: box.height,
    drawing: svgBox ? [svgBox.width, svgBox.height] : null,
    bars: Array.from(p.querySelectorAll('rect.bar')).map(b =>
      [b.dataset.label, Number(b.dataset.value), b.getBoundingClientRect().width]),
    points: Array.from(p.querySelectorAll('circle.point')).map(c =>
      [c.dataset.label || null, Number(c.dataset.value || c.dataset.lat)]),
    number: (p.querySelector('.big-number') || {}).textContent || null,
    rows: p.querySelectorAll('tbody tr').length,
    axisLabels: Array.from(p.querySelectorAll('.axis-label')).map(t => t.textContent),
    meta: p.querySelector('p.meta').textContent,
  };
});
"#;

#[test]
fn the_dashboard_renders_every_panel_with_the_query_values_in_chromium() {
    let Some(chromedriver) = service("RUNNER_TEST_CHROMEDRIVER") else {
        return;
    };
    let (s, p) = backfilled("dashboard");
    let out = s.dir.join("out");
    let written = s.run(&["dashboard", &p, "-o", out.to_str().expect("utf-8")]);
    assert_eq!(
        written.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let page = out.join("seattle-911-crime.html");
    assert!(stdout(&written).contains("seattle-911-crime.html"));
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script"),
        "self-contained: no network, no script"
    );

    let driver = Driver::start(&chromedriver);
    let profile = s.dir.join("chromium-profile");
    let session = driver.call(
        "POST",
        "/session",
        Some(json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--window-size=1400,2400",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}})),
    );
    let id = session["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("a session: {session}"))
        .to_owned();
    let url = format!("file://{}", page.display());
    let navigated = driver.call(
        "POST",
        &format!("/session/{id}/url"),
        Some(json!({ "url": url })),
    );
    // Navigation answers once the page has loaded, but under a loaded machine chromedriver
    // can answer early (a renderer timeout): read the page only once it is complete.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let state = driver.call(
            "POST",
            &format!("/session/{id}/execute/sync"),
            Some(json!({ "script": "return document.readyState", "args": [] })),
        );
        if state["value"] == "complete" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page did not finish loading in 60 s (navigation: {navigated}; state: {state})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let panels = driver.call(
        "POST",
        &format!("/session/{id}/execute/sync"),
        Some(json!({ "script": READ_PANELS, "args": [] })),
    )["value"]
        .clone();
    let shot = driver.call("GET", &format!("/session/{id}/screenshot"), None);
    keep_screenshot(shot["value"].as_str().unwrap_or_default());
    driver.call("DELETE", &format!("/session/{id}"), None);

    let panels = panels
        .as_array()
        .unwrap_or_else(|| panic!("panels: {panels}"));
    let charts: Vec<&str> = panels
        .iter()
        .map(|p| p["chart"].as_str().unwrap())
        .collect();
    assert_eq!(
        charts,
        ["number", "number", "bar", "table", "line", "map", "line"]
    );
    for panel in panels {
        assert_eq!(panel["state"], "ok", "{panel}");
        assert!(panel["width"].as_f64() > Some(200.0), "visible: {panel}");
        assert!(panel["height"].as_f64() > Some(100.0), "visible: {panel}");
        assert!(
            panel["meta"].as_str().unwrap().contains("read 20"),
            "read time: {panel}"
        );
        if let Some(size) = panel["drawing"].as_array() {
            assert!(
                size[0].as_f64() > Some(150.0) && size[1].as_f64() > Some(100.0),
                "{panel}"
            );
        }
        let rows = answer(&s, &[panel["query"].as_str().unwrap(), &p]);
        match panel["chart"].as_str().unwrap() {
            "number" => {
                let value = rows[0]["offenses"].as_u64().expect("a count");
                assert_eq!(panel["number"], format_number(value as f64));
            }
            "bar" => {
                let drawn: Vec<(String, i64)> = panel["bars"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| (b[0].as_str().unwrap().to_owned(), b[1].as_i64().unwrap()))
                    .collect();
                let queried: Vec<(String, i64)> = rows
                    .iter()
                    .map(|r| {
                        let group = r["offense_parent_group"].as_str().unwrap().to_owned();
                        (group, r["n"].as_i64().unwrap())
                    })
                    .collect();
                assert_eq!(drawn, queried);
                // Longer bars for larger values.
                let widths: Vec<f64> = panel["bars"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b[2].as_f64().unwrap())
                    .collect();
                assert!(widths.windows(2).all(|w| w[0] >= w[1]), "{widths:?}");
                assert_eq!(panel["axisLabels"], json!(["n", "offense_parent_group"]));
            }
            "line" => {
                let drawn: Vec<i64> = panel["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|pt| pt[1].as_i64().unwrap())
                    .collect();
                let queried: Vec<i64> = rows.iter().map(|r| r["n"].as_i64().unwrap()).collect();
                assert_eq!(drawn, queried);
                let x = if panel["query"] == "by_month" {
                    "month"
                } else {
                    "report_date"
                };
                assert_eq!(panel["axisLabels"], json!([x, "n"]));
            }
            "map" => {
                assert_eq!(panel["points"].as_array().unwrap().len(), rows.len());
                let first = rows[0]["latitude"].as_f64().unwrap();
                assert_eq!(panel["points"][0][1].as_f64(), Some(first));
            }
            "table" => assert_eq!(panel["rows"].as_u64(), Some(rows.len() as u64)),
            other => panic!("unexpected chart {other}"),
        }
    }
}

/// Writes the screenshot (base64 PNG) to target/dashboard/ for people to look at.
fn keep_screenshot(base64: &str) {
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(base64)
        .expect("a base64 screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let dir = root().join("target/dashboard");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(Path::new(&dir).join("seattle-911-crime.png"), png).expect("screenshot");
}
