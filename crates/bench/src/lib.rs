//! The benchmark harness of Warden: a load generator (`bench-load`), the baselines
//! (`bench-hello`, `bench-baseline`) and the command that runs every workload against the real
//! server and prints the table (`warden-bench`, driven by `scripts/bench`).
//!
//! Processes talk through stdout: a measuring process prints [`MEASURE_START`] when its warm-up
//! ends and [`MEASURE_END`] when its measured phase ends, so the orchestrator samples the
//! server's CPU time exactly around the measured phase, then one JSON line with the result.

pub mod orchestrate;
pub mod procfs;
pub mod spec;

/// Printed by a measuring process when the measured phase begins.
pub const MEASURE_START: &str = "MEASURE_START";
/// Printed by a measuring process when the measured phase ends.
pub const MEASURE_END: &str = "MEASURE_END";
