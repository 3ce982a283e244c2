//! Tests of the local target.

use std::path::{Path, PathBuf};

use serde_json::Map;

use super::*;
use crate::backend::{Catalog, Log, ObjectStore};
use crate::resource::Attrs;

/// A state directory inside a scratch directory, so anything written beside the state
/// directory (outside it) can be seen.
fn scratch(name: &str) -> (PathBuf, Local) {
    let outer = std::env::temp_dir().join(format!("runner-local-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outer);
    std::fs::create_dir_all(&outer).expect("scratch directory");
    let local = Local::new(outer.join("state"));
    (outer, local)
}

/// Every file and directory under `dir` that is not under `dir/state`.
fn outside_state(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == "state") {
                continue;
            }
            if path.is_dir() {
                stack.push(path.clone());
            }
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn names_and_keys_that_would_leave_the_state_directory_are_refused() {
    let (dir, local) = scratch("escape");
    let tags = Map::new();
    local
        .create_bucket("b", "local", &tags)
        .await
        .expect("a plain bucket");
    let absolute = dir.join("abs").display().to_string();
    for bucket in ["../outside", "..", "a/b", absolute.as_str()] {
        let error = local
            .create_bucket(bucket, "local", &tags)
            .await
            .expect_err(bucket)
            .to_string();
        assert!(
            error.starts_with(&format!(
                "local: bucket name '{bucket}' would leave the local target's state directory"
            )),
            "{error}"
        );
    }
    for key in [
        "../../outside.json",
        "/etc/passwd",
        "a/../../x",
        "a//b",
        "a\\..\\..\\x",
        "",
    ] {
        let error = local
            .put("b", key, b"x".to_vec())
            .await
            .expect_err(key)
            .to_string();
        assert_eq!(
            error,
            format!(
                "local: object key '{}' would leave bucket 'b' in the local target's state \
                 directory: a key may not be empty, start with '/', or hold an empty, '.' or \
                 '..' segment",
                key.escape_debug()
            )
        );
    }
    let error = local
        .get("b", "/etc/passwd")
        .await
        .expect_err("an absolute key")
        .to_string();
    assert!(error.contains("would leave bucket 'b'"), "{error}");
    let attrs = Attrs::new();
    let error = local
        .create_database("../db", &attrs)
        .await
        .expect_err("database")
        .to_string();
    assert!(
        error.starts_with("local: database name '../db' would leave"),
        "{error}"
    );
    local
        .create_database("db", &attrs)
        .await
        .expect("a plain database");
    let error = local
        .create_table("db", "../../t", &attrs)
        .await
        .expect_err("table")
        .to_string();
    assert!(
        error.starts_with("local: table name '../../t' would leave"),
        "{error}"
    );
    let error = local
        .create_topic("../t", 1, 1, &tags)
        .await
        .expect_err("topic")
        .to_string();
    assert!(
        error.starts_with("local: topic name '../t' would leave"),
        "{error}"
    );
    local
        .create_topic("t", 1, 1, &tags)
        .await
        .expect("a plain topic");
    for group in ["../../../../g", "a/b", "..", "g\n"] {
        let error = match local.join(group, "t", 1).await {
            Ok(_) => panic!("{group}: joined"),
            Err(e) => e.to_string(),
        };
        assert!(
            error.starts_with(&format!(
                "local: consumer group name '{}' would leave",
                group.escape_debug()
            )),
            "{error}"
        );
    }
    assert_eq!(outside_state(&dir), Vec::<PathBuf>::new());
    let _ = std::fs::remove_dir_all(dir);
}
