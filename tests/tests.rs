//! The integration tests: one binary, one module per area.

mod backfill;
mod cli;
mod conformance;
mod corpus;
mod fuzz;
mod plan;
mod remote;
mod services;
mod util;
