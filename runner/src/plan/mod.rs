//! A plan is data: the changes that would bring the actual resources to the desired ones,
//! each with attribute-level diffs and a risk. [`diff`] computes it (pure); [`render`]
//! prints it for people; the JSON form is the same struct serialized.

pub mod actual;
pub mod applied;
pub mod diff;
pub mod file;
pub mod render;
pub mod sample;

use serde::{Deserialize, Serialize};

use crate::resource::{Address, Attrs};

/// The version of the plan's JSON form (`runner plan --format json`, the saved plan
/// file) and of the apply report.
pub const FORMAT_VERSION: u32 = 1;

/// What happens to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// It does not exist and will be created (`+`).
    Create,
    /// It exists and will be changed in place (`~`).
    Update,
    /// It will be deleted and created again (`-/+`).
    Replace,
    /// It will be deleted (`-`).
    Delete,
    /// Nothing to do.
    NoOp,
}

impl Action {
    /// The symbol shown in front of the address.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::NoOp => " ",
        }
    }
}

/// How risky a change is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Nothing running notices.
    Safe,
    /// Running flows or queries behave differently (e.g. keys move to new partitions).
    Disruptive,
    /// Data or history is lost; apply needs `--allow-destructive`.
    Destructive,
}

/// One attribute's change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    /// The attribute, e.g. `partitions` or `config.retention.ms`.
    pub name: String,
    /// Its actual value (absent: not set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    /// Its desired value (absent: removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
    /// How risky this change is.
    pub risk: Risk,
    /// Why, when it is not safe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One resource's change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The resource.
    pub address: Address,
    /// What happens to it.
    pub action: Action,
    /// The highest risk of its attribute changes.
    pub risk: Risk,
    /// The attributes that change.
    pub attributes: Vec<AttrChange>,
    /// Set when the change cannot be made (e.g. fewer Kafka partitions): the plan fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The actual attributes (absent when it does not exist).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Attrs>,
    /// The desired attributes (absent when it is deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Attrs>,
}

/// Counts for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Resources to create (a replace counts here too).
    pub add: usize,
    /// Resources to update in place.
    pub change: usize,
    /// Resources to delete (a replace counts here too).
    pub destroy: usize,
}

/// A whole plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The pipeline's name.
    pub pipeline: String,
    /// The target it was planned against.
    pub target: String,
    /// A digest of the actual state the plan was computed from; apply refuses a saved plan
    /// when the actual state no longer has this digest.
    pub fingerprint: String,
    /// Every resource's change, in apply order (no-ops included).
    pub changes: Vec<Change>,
    /// Resources runner manages for this pipeline that the pipeline no longer declares and
    /// that only `--prune` deletes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged_leftovers: Vec<Address>,
    /// The counts.
    pub summary: Summary,
}

impl Plan {
    /// Whether applying it would change anything.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    /// The changes that cannot be made.
    pub fn errors(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.error.is_some())
    }

    /// The destructive changes.
    pub fn destructive(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.risk == Risk::Destructive)
    }
}
