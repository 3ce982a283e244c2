//! The README's first command, `scripts/seattle-local.sh`: the whole Seattle pipeline on the
//! local target, twice (a second run converges), checked through the tables it leaves.

use std::process::Command;

use serde_json::json;

use crate::plan::Scratch;
use crate::util::{root, stdout};

#[test]
fn the_one_command_demo_runs_the_pipeline_end_to_end_and_converges() {
    let s = Scratch::new("demo");
    let out = s.dir.join("out");
    let demo = || {
        Command::new("bash")
            .arg("scripts/seattle-local.sh")
            .current_dir(root())
            .env("RUNNER_BIN", env!("CARGO_BIN_EXE_runner"))
            .env("RUNNER_STATE_DIR", s.state())
            .env("DASHBOARD_DIR", &out)
            .env("NO_COLOR", "1")
            .output()
            .expect("bash runs")
    };
    for run in 1..=2 {
        let output = demo();
        let text = stdout(&output);
        assert_eq!(
            output.status.code(),
            Some(0),
            "run {run}: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            text.contains("12385 offenses from the history")
                && text.contains("500 from the live feed"),
            "run {run}: {text}"
        );
        let page = out.join("seattle-911-crime.html");
        assert!(
            text.contains(&format!("Dashboard: {}", page.display())),
            "{text}"
        );
        let html = std::fs::read_to_string(&page).expect("the dashboard");
        assert_eq!(
            html.matches("data-state=\"ok\"").count(),
            7,
            "every panel drawn"
        );
    }
    // The feed's rows were held back from the history: no offense is in both tables.
    let both = s.run(&[
        "query",
        "--sql",
        "SELECT count(*) AS n FROM {{ table('offenses') }} h \
         JOIN {{ table('offenses_incremental') }} l ON h.offense_id = l.offense_id",
        "pipelines/seattle_911_crime.yaml",
        "--format",
        "json",
    ]);
    let answer: serde_json::Value = serde_json::from_str(&stdout(&both)).expect("JSON");
    assert_eq!(
        answer,
        json!([{ "n": 0 }]),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );
}
