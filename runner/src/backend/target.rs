//! Target selection: the embedded `local` target or a named remote one, as [`Backends`].

use super::Backends;
use super::embedded::FileAccess;
use super::local::{Local, state_dir};
use crate::spec::Pipeline;

/// The name of the built-in target.
pub const LOCAL: &str = "local";

/// The backends of `target` for `pipeline`; an error message when it cannot be used.
pub async fn connect(pipeline: &Pipeline, target: &str) -> Result<Backends, String> {
    if target == LOCAL {
        let local = Local::new(state_dir());
        return Ok(Backends {
            target: LOCAL.to_owned(),
            region: LOCAL.to_owned(),
            objects: Box::new(local.clone()),
            catalog: Box::new(local.clone()),
            log: Some(Box::new(local)),
            files: FileAccess::Directory(state_dir().join("s3")),
            athena: None,
        });
    }
    if !pipeline.targets.contains_key(target) {
        let mut names: Vec<&str> = pipeline.targets.keys().map(String::as_str).collect();
        names.insert(0, LOCAL);
        return Err(format!(
            "pipeline '{}' has no target '{target}'; targets: {}",
            pipeline.pipeline,
            names.join(", ")
        ));
    }
    super::remote::connect(target, pipeline).await
}
