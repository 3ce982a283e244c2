//! The integration tests: one binary, one module per area.

mod athena;
mod athena_pages;
mod athena_sql;
mod backfill;
mod broker_restart;
mod cli;
mod conformance;
mod corpus;
mod dashboard;
mod demo;
mod fuzz;
mod plan;
mod query;
mod redaction;
mod remote;
mod services;
mod slow_link;
mod socrata_server;
mod streaming;
mod util;
