//! The `warden` application: configuration, start-up and the HTTP server. `main.rs` only
//! parses the command line and calls into here.

pub mod access_log;
pub mod app;
pub mod cli;
pub mod log_writer;
pub mod settings;

pub use app::Application;
pub use settings::Settings;
