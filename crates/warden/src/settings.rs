//! Configuration: defaults → optional TOML file → `WARDEN_*` environment → command-line flags.
//! Unknown keys are an error. Every secret also accepts `<name>_file`, and secrets never
//! appear in `Debug` output or logs.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// How outgoing mail (activation links, e-mail change confirmations) leaves the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// One `.eml` file per message in `mail_outbox_dir`.
    #[default]
    Outbox,
    /// Through the SMTP server named by the `smtp_*` settings.
    Smtp,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: String,
    /// Where the embedded database and generated key-encryption key live.
    pub data_dir: PathBuf,
    /// `sqlite://…`; defaults to `warden.db` in the data directory.
    pub database_url: Option<String>,
    /// The URL clients reach this server at; defaults to `http://<listen address>`.
    pub public_url: Option<String>,
    /// Connections per node to PostgreSQL.
    pub database_max_connections: u32,
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `warden=debug,info`.
    pub log_level: String,
    /// Largest accepted request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Largest accepted request head (request line and headers), in bytes: 431 above it, and
    /// the connection is closed. At least 8192.
    pub max_header_bytes: usize,
    /// Seconds a client has to send a complete request head, counted from when the server
    /// starts reading one (a new connection, or an idle keep-alive connection); then the
    /// connection is closed, so slow or idle clients cannot hold connections open.
    pub request_header_timeout_seconds: u64,
    /// Connections served at once; further clients wait in the kernel's accept queue until
    /// one closes.
    pub max_connections: usize,
    /// Password hashes computed at once; defaults to the number of cores.
    pub password_hash_concurrency: Option<usize>,
    /// Password hashes allowed to wait for a slot; beyond it, requests that need one are
    /// refused at once with 429 and `Retry-After`. Defaults to 32 per core.
    pub password_hash_queue: Option<usize>,
    /// 32-byte key-encryption key, hex or base64. Generated into the data directory if unset.
    #[serde(deserialize_with = "secret")]
    pub kek: Option<SecretString>,
    pub kek_file: Option<PathBuf>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    pub signing_alg: String,
    pub account_token_ttl_seconds: i64,
    pub keystone_token_ttl_seconds: i64,
    pub password_min_length: usize,
    /// Argon2id memory cost in KiB (at least 19456).
    pub password_hash_memory_kib: u32,
    pub password_hash_iterations: u32,
    pub root_tenant_name: String,
    pub bootstrap_admin_login: String,
    #[serde(deserialize_with = "secret")]
    pub bootstrap_admin_password: Option<SecretString>,
    pub bootstrap_admin_password_file: Option<PathBuf>,
    pub bootstrap_client_id: Option<String>,
    #[serde(deserialize_with = "secret")]
    pub bootstrap_client_secret: Option<SecretString>,
    pub bootstrap_client_secret_file: Option<PathBuf>,
    /// `outbox` (default) or `smtp`.
    pub mail_transport: MailTransport,
    /// The outbox folder; defaults to `<data_dir>/outbox`.
    pub mail_outbox_dir: Option<PathBuf>,
    /// The sender of every message: an address, or `Name <address>`.
    pub mail_from: String,
    /// Base URL of the pages mailed links open; defaults to the public URL.
    pub mail_link_base_url: Option<String>,
    pub smtp_host: Option<String>,
    /// Defaults to 587 for `starttls`, 465 for `tls`, 25 for `none`.
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    pub smtp_tls: warden_core::mail::SmtpTls,
    pub smtp_username: Option<String>,
    #[serde(deserialize_with = "secret")]
    pub smtp_password: Option<SecretString>,
    pub smtp_password_file: Option<PathBuf>,
    pub smtp_timeout_seconds: u64,
    /// How long a mailed activation link works.
    pub activation_token_ttl_seconds: i64,
    /// How long a mailed e-mail change confirmation link works.
    pub email_change_token_ttl_seconds: i64,
    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client: a list in
    /// TOML, comma-separated in the environment. From any other peer the header is ignored.
    #[serde(deserialize_with = "address_list")]
    pub trusted_proxies: Vec<String>,
    /// Failed password attempts per client address and hour before it waits between attempts.
    pub login_source_free_failures: i64,
    /// Failed password attempts per client address and hour after which it waits for the hour
    /// to end.
    pub login_source_max_failures: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            data_dir: PathBuf::from("./warden-data"),
            database_url: None,
            public_url: None,
            database_max_connections: 16,
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 64 * 1024,
            request_header_timeout_seconds: 10,
            max_connections: 4096,
            password_hash_concurrency: None,
            password_hash_queue: None,
            kek: None,
            kek_file: None,
            signing_alg: "RS256".to_owned(),
            account_token_ttl_seconds: 7200,
            keystone_token_ttl_seconds: 86_400,
            password_min_length: 8,
            password_hash_memory_kib: 19 * 1024,
            password_hash_iterations: 2,
            root_tenant_name: "Root".to_owned(),
            bootstrap_admin_login: "admin".to_owned(),
            bootstrap_admin_password: None,
            bootstrap_admin_password_file: None,
            bootstrap_client_id: None,
            bootstrap_client_secret: None,
            bootstrap_client_secret_file: None,
            mail_transport: MailTransport::Outbox,
            mail_outbox_dir: None,
            mail_from: "Warden <warden@localhost>".to_owned(),
            mail_link_base_url: None,
            smtp_host: None,
            smtp_port: None,
            smtp_tls: warden_core::mail::SmtpTls::Starttls,
            smtp_username: None,
            smtp_password: None,
            smtp_password_file: None,
            smtp_timeout_seconds: 30,
            activation_token_ttl_seconds: 72 * 3600,
            email_change_token_ttl_seconds: 24 * 3600,
            trusted_proxies: Vec::new(),
            login_source_free_failures: 30,
            login_source_max_failures: 1000,
        }
    }
}

/// A list of addresses: a TOML array, or one comma-separated string (from the environment).
fn address_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Many(Vec<String>),
        One(String),
    }
    Ok(match List::deserialize(d)? {
        List::Many(list) => list,
        List::One(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Secrets may arrive as numbers from the environment; they are text all the same.
fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(SecretString::from(s)),
        Some(other) => Some(SecretString::from(other.to_string())),
    })
}

/// Flags given on the command line; only those set override the other sources.
#[derive(Clone, Debug, Default, Serialize, clap::Args)]
pub struct Overrides {
    /// Address to listen on [env: WARDEN_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Data directory [env: WARDEN_DATA_DIR] [default: ./warden-data]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Database URL [env: WARDEN_DATABASE_URL] [default: sqlite in the data directory]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Public base URL [env: WARDEN_PUBLIC_URL]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Log format [env: WARDEN_LOG_FORMAT] [default: text]
    #[arg(long, global = true, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Figment(#[from] Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("{0} and {0}_file are both set; give one")]
    Both(&'static str),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Settings {
    /// Loads settings from the layers, environment taken from `env` (`WARDEN_*`).
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> Result<Self, SettingsError> {
        let mut figment = Figment::new();
        if let Some(path) = config_file {
            if !path.exists() {
                return Err(SettingsError::MissingFile(path.to_owned()));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            .merge(Env::prefixed("WARDEN_").ignore(&["config"]))
            .merge(Serialized::defaults(overrides));
        let mut settings: Settings = figment.extract().map_err(Box::new)?;
        settings.resolve_secret_files()?;
        Ok(settings)
    }

    fn resolve_secret_files(&mut self) -> Result<(), SettingsError> {
        fn resolve(
            name: &'static str,
            value: &mut Option<SecretString>,
            file: &Option<PathBuf>,
        ) -> Result<(), SettingsError> {
            if let Some(path) = file {
                if value.is_some() {
                    return Err(SettingsError::Both(name));
                }
                let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                    path: path.clone(),
                    source,
                })?;
                *value = Some(SecretString::from(
                    text.trim_end_matches(['\n', '\r']).to_owned(),
                ));
            }
            Ok(())
        }
        resolve("kek", &mut self.kek, &self.kek_file)?;
        resolve(
            "bootstrap_admin_password",
            &mut self.bootstrap_admin_password,
            &self.bootstrap_admin_password_file,
        )?;
        resolve(
            "bootstrap_client_secret",
            &mut self.bootstrap_client_secret,
            &self.bootstrap_client_secret_file,
        )?;
        resolve(
            "smtp_password",
            &mut self.smtp_password,
            &self.smtp_password_file,
        )?;
        Ok(())
    }

    /// The outbox folder in force.
    pub fn mail_outbox_dir(&self) -> PathBuf {
        self.mail_outbox_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("warden.db").display()))
    }

    pub fn expose(secret: &Option<SecretString>) -> Option<String> {
        secret.as_ref().map(|s| s.expose_secret().to_owned())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's test jail returns its own large error type
mod tests {
    use super::*;

    #[test]
    fn toml_env_and_flags_layer_in_order_and_secrets_are_redacted() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("warden.toml", "listen = \"127.0.0.1:1\"\nlog_level = \"debug\"\nbootstrap_admin_password = \"from-file-123\"")?;
            jail.set_env("WARDEN_LISTEN", "127.0.0.1:2");
            let overrides = Overrides {
                data_dir: Some(PathBuf::from("/tmp/x")),
                ..Overrides::default()
            };
            let s = Settings::load(Some(Path::new("warden.toml")), &overrides)
                .map_err(|e| e.to_string())?;
            assert_eq!(s.listen, "127.0.0.1:2");
            assert_eq!(s.log_level, "debug");
            assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
            assert!(!format!("{s:?}").contains("from-file-123"));
            Ok(())
        });
    }

    #[test]
    fn connection_and_hashing_limits_have_defaults_and_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let s = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(s.max_header_bytes, 64 * 1024);
            assert_eq!(s.request_header_timeout_seconds, 10);
            assert_eq!(s.max_connections, 4096);
            assert_eq!(s.password_hash_concurrency, None);
            assert_eq!(s.password_hash_queue, None);
            jail.set_env("WARDEN_MAX_HEADER_BYTES", "16384");
            jail.set_env("WARDEN_REQUEST_HEADER_TIMEOUT_SECONDS", "3");
            jail.set_env("WARDEN_MAX_CONNECTIONS", "64");
            jail.set_env("WARDEN_PASSWORD_HASH_CONCURRENCY", "2");
            jail.set_env("WARDEN_PASSWORD_HASH_QUEUE", "8");
            let s = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(s.max_header_bytes, 16384);
            assert_eq!(s.request_header_timeout_seconds, 3);
            assert_eq!(s.max_connections, 64);
            assert_eq!(s.password_hash_concurrency, Some(2));
            assert_eq!(s.password_hash_queue, Some(8));
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("WARDEN_LISTN", "127.0.0.1:2");
            assert!(Settings::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn secrets_can_come_from_files() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("pw", "s3cret-passw0rd\n")?;
            jail.set_env("WARDEN_BOOTSTRAP_ADMIN_PASSWORD_FILE", "pw");
            let s = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(
                Settings::expose(&s.bootstrap_admin_password).as_deref(),
                Some("s3cret-passw0rd")
            );
            jail.set_env("WARDEN_BOOTSTRAP_ADMIN_PASSWORD", "other");
            assert!(Settings::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn mail_settings_come_from_the_environment_with_the_smtp_password_from_a_file() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("smtp-pw", "relay-secret\n")?;
            jail.set_env("WARDEN_MAIL_TRANSPORT", "smtp");
            jail.set_env("WARDEN_SMTP_HOST", "mail.example.com");
            jail.set_env("WARDEN_SMTP_TLS", "tls");
            jail.set_env("WARDEN_SMTP_PORT", "2465");
            jail.set_env("WARDEN_SMTP_PASSWORD_FILE", "smtp-pw");
            let s = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(s.mail_transport, MailTransport::Smtp);
            assert_eq!(s.smtp_tls, warden_core::mail::SmtpTls::Tls);
            assert_eq!(s.smtp_port, Some(2465));
            assert_eq!(
                Settings::expose(&s.smtp_password).as_deref(),
                Some("relay-secret")
            );
            assert!(!format!("{s:?}").contains("relay-secret"));
            assert_eq!(s.mail_outbox_dir(), s.data_dir.join("outbox"));
            jail.set_env("WARDEN_SMTP_TLS", "sometimes");
            assert!(Settings::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }
}
