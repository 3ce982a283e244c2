//! runner: a declarative pipeline-as-config runner. The map of the house:
//!
//! - validate, test: `commands::validate` -> `load` (YAML into `spec`) -> `check` (SQL via `query::offline`) -> `diag`; `commands::test` -> `clean::rule_tests`.
//! - plan: `load`, `check` -> `resource` (desired) + `backend::target` -> `backend` -> `plan`.
//! - apply: the plan path, or a saved plan -> `lock` (remote targets) -> `apply` -> `backend`.
//! - run: `load`, `check` -> `spec::resolve` + `backend::target` -> `flow` (backfill, ingest, deliver) -> `clean`, `backend`.
//! - query, dashboard, check: `load`, `check`, `backend::target` -> `query` (`query::checks`) -> `backend` -> `dashboard`.
//! - The paths, and the module map in dependency order: docs/architecture.md.
//!
//! The data flows one way: [`load`] reads YAML into the typed [`spec`] with spans kept,
//! [`check`] collects every finding as a [`diag::Diagnostic`], and [`commands`] prints.

#![warn(missing_docs)]

pub mod apply;
pub mod backend;
pub mod check;
pub mod clean;
pub mod cli;
pub mod commands;
pub mod crashpoint;
pub mod dashboard;
pub mod diag;
pub mod flow;
pub mod hash;
pub mod load;
pub mod lock;
pub mod parquet_settings;
pub mod plan;
pub mod query;
pub mod redact;
pub mod resource;
pub mod spec;
pub mod stop;
pub mod suggest;
