//! The saved plan file (`runner plan --out FILE`, read back by `runner apply FILE`): the
//! plans of every pipeline planned together, with the format's version, written whole.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{FORMAT_VERSION, Plan};

/// A saved plan file: the plans of every pipeline planned together.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlanFile {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// One plan per pipeline.
    pub plans: Vec<Plan>,
    /// With `--sample`: what the rules in the files do to sample rows, against the rules
    /// last applied (shown, not applied).
    #[serde(default, skip_serializing_if = "Vec::is_empty", skip_deserializing)]
    pub data: Vec<super::sample::DataEffect>,
}

impl PlanFile {
    /// The plans of one planning, in the current format.
    pub fn new(plans: Vec<Plan>) -> Self {
        PlanFile {
            format_version: FORMAT_VERSION,
            plans,
            data: Vec::new(),
        }
    }

    /// Whether `path` names a saved plan (`*.json`) rather than a pipeline.
    pub fn is_named(path: &Path) -> bool {
        path.extension().is_some_and(|e| e == "json")
    }

    /// Reads the plan file at `path`; an error names the file and says what is wrong with
    /// it (unreadable, not a plan, a format this runner does not read).
    pub fn read(path: &Path) -> Result<PlanFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: PlanFile = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a runner plan: {e}", path.display()))?;
        if file.format_version != FORMAT_VERSION {
            return Err(format!(
                "{}: plan format {} is not supported (this runner reads format {})",
                path.display(),
                file.format_version,
                FORMAT_VERSION
            ));
        }
        Ok(file)
    }

    /// Writes the file to `path` as pretty JSON.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_file_reads_back_and_other_formats_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("plan.json");
        PlanFile::new(Vec::new()).write(&path).expect("writes");
        assert!(PlanFile::is_named(&path));
        assert_eq!(PlanFile::read(&path).expect("reads").plans.len(), 0);
        std::fs::write(&path, r#"{"format_version": 99, "plans": []}"#).expect("writes");
        let error = PlanFile::read(&path).expect_err("a later format");
        assert!(
            error.ends_with(
                "plan.json: plan format 99 is not supported (this runner reads format 1)"
            ),
            "{error}"
        );
        assert!(!PlanFile::is_named(Path::new("pipelines/seattle.yaml")));
    }
}
