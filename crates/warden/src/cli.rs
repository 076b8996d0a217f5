//! The command line: `serve`, `migrate`, `keys rotate`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::settings::Overrides;

/// Warden: a self-hosted, multi-tenant identity and account server speaking the Account
/// Management API v2 (/api/2), OpenStack Identity v3 (/v3) and the Huawei Cloud IAM
/// extensions (/v3.0).
///
/// Settings come from defaults, then the TOML file given by --config, then WARDEN_*
/// environment variables, then these flags. Every setting of the file has an environment
/// variable of the same name in capitals with the WARDEN_ prefix (for example
/// WARDEN_MAX_BODY_BYTES, WARDEN_BOOTSTRAP_ADMIN_PASSWORD); secrets also accept a _FILE
/// variant naming a file to read.
#[derive(Debug, Parser)]
#[command(name = "warden", version, about, long_about)]
pub struct Cli {
    /// TOML configuration file [env: WARDEN_CONFIG]
    #[arg(long, global = true, env = "WARDEN_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub overrides: Overrides,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server. On first start with an empty store it creates the root tenant, an
    /// administrator (WARDEN_BOOTSTRAP_ADMIN_LOGIN, default admin;
    /// WARDEN_BOOTSTRAP_ADMIN_PASSWORD) and an API client (WARDEN_BOOTSTRAP_CLIENT_ID,
    /// WARDEN_BOOTSTRAP_CLIENT_SECRET), printing whatever it generated once on stdout.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a new signing key and make it the active one. Tokens signed by the previous
    /// key stay valid until they expire.
    Rotate,
}
