//! Outgoing mail: the `MailSender` the services send through, and its two transports — an
//! outbox folder holding one RFC 5322 `.eml` file per message (the default), and SMTP.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// One plain-text message to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail address {0:?}")]
    Address(String),
    #[error("invalid mail settings: {0}")]
    Settings(String),
    #[error("building the message: {0}")]
    Build(String),
    #[error("delivering the message: {0}")]
    Deliver(String),
}

/// Delivers messages. A returned `Ok` means the message was handed over for good: written to
/// the outbox, or accepted by the SMTP server.
#[async_trait]
pub trait MailSender: Send + Sync + 'static {
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}

/// Refuses every message: the transport of services that were given none.
pub struct NoMailer;

#[async_trait]
impl MailSender for NoMailer {
    async fn send(&self, _mail: &Mail) -> Result<(), MailError> {
        Err(MailError::Settings(
            "no mail transport is configured".to_owned(),
        ))
    }
}

fn mailbox(raw: &str) -> Result<Mailbox, MailError> {
    raw.parse().map_err(|_| MailError::Address(raw.to_owned()))
}

fn message(from: &Mailbox, mail: &Mail) -> Result<Message, MailError> {
    Message::builder()
        .from(from.clone())
        .to(mailbox(&mail.to)?)
        .subject(mail.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(body(&mail.text))
        .map_err(|e| MailError::Build(e.to_string()))
}

/// RFC 5322 caps a line at 998 characters; a little is kept in reserve.
const MAX_7BIT_LINE: usize = 990;

/// ASCII text goes out as plain 7-bit even with lines over 76 characters, so that links stay
/// whole and readable in the raw message (quoted-printable would break and escape them).
/// Anything else gets the encoding lettre chooses.
fn body(text: &str) -> Body {
    let seven_bit = text.is_ascii()
        && !text.contains(['\0', '\r'])
        && text.lines().all(|line| line.len() <= MAX_7BIT_LINE);
    if seven_bit {
        let crlf = text.replace('\n', "\r\n");
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::new(text.to_owned())
    }
}

/// Writes each message as one `.eml` file into a folder, for a pick-up service, an operator, or
/// tests to read.
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
}

/// Orders messages written within one microsecond by this process.
static OUTBOX_SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl OutboxMailer {
    /// An outbox in `dir`, created if missing, sending as `from` (`Name <address>` or an address).
    pub fn new(dir: PathBuf, from: &str) -> Result<Self, MailError> {
        let from = mailbox(from)?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| MailError::Settings(format!("creating {}: {e}", dir.display())))?;
        Ok(Self { dir, from })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Writes under a hidden temporary name, syncs, then renames: a reader of the folder sees
/// either no message or the whole of it. Files are owner-only: they hold live one-time links.
fn write_atomically(dir: &Path, bytes: &[u8]) -> Result<(), MailError> {
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let name = format!(
        "{}-{:06}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
        OUTBOX_SEQUENCE.fetch_add(1, Ordering::Relaxed) % 1_000_000,
        uuid::Uuid::new_v4().simple()
    );
    let temporary = dir.join(format!(".{name}.tmp"));
    let fail = |e: std::io::Error| MailError::Deliver(format!("outbox {}: {e}", dir.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) =
        written.and_then(|()| std::fs::rename(&temporary, dir.join(format!("{name}.eml"))))
    {
        // Best effort: a leftover temporary file is hidden and never mistaken for a message.
        let _ = std::fs::remove_file(&temporary);
        return Err(fail(e));
    }
    // The rename itself is durable once the folder is synced.
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[async_trait]
impl MailSender for OutboxMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let bytes = message(&self.from, mail)?.formatted();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &bytes))
            .await
            .map_err(|e| MailError::Deliver(e.to_string()))?
    }
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// A plain connection upgraded with STARTTLS, which the server must offer (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a trusted network, since the
    /// messages carry one-time links and the password would cross the wire in clear.
    None,
}

impl SmtpTls {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

/// Where and how to reach the SMTP server.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    /// Defaults to the TLS mode's usual port.
    pub port: Option<u16>,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// Bounds every exchange with the server, so a stuck relay fails the request instead of
    /// holding it.
    pub timeout: Duration,
}

/// Sends through an SMTP server (tokio, rustls with the Web PKI roots).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings, from: &str) -> Result<Self, MailError> {
        let from = mailbox(from)?;
        let host = settings.host.trim();
        if host.is_empty() {
            return Err(MailError::Settings("the SMTP host is not set".to_owned()));
        }
        let tls_error = |e: lettre::transport::smtp::Error| MailError::Settings(e.to_string());
        let builder = match settings.tls {
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_error)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_error)?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder
            .port(settings.port.unwrap_or(settings.tls.default_port()))
            .timeout(Some(settings.timeout));
        match (&settings.username, &settings.password) {
            (Some(username), Some(password)) => {
                builder = builder.credentials(Credentials::new(
                    username.clone(),
                    password.expose_secret().to_owned(),
                ));
            }
            (None, None) => {}
            _ => {
                return Err(MailError::Settings(
                    "the SMTP username and password are given together or not at all".to_owned(),
                ))
            }
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl MailSender for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = message(&self.from, mail)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Deliver(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_holds_one_complete_message_file_per_mail() {
        let dir = tempfile::tempdir().unwrap();
        let outbox =
            OutboxMailer::new(dir.path().join("outbox"), "Warden <warden@example.com>").unwrap();
        let mail = Mail {
            to: "jane@example.com".into(),
            subject: "Hello".into(),
            text: format!(
                "line one\nline two\nhttp://example.com/activate?token={}\n",
                "t".repeat(80)
            ),
        };
        outbox.send(&mail).await.unwrap();
        outbox.send(&mail).await.unwrap();
        let names: Vec<String> = std::fs::read_dir(outbox.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| n.ends_with(".eml")), "{names:?}");
        let text = std::fs::read_to_string(outbox.dir().join(&names[0])).unwrap();
        assert!(text.contains("To: jane@example.com\r\n"), "{text}");
        assert!(text.contains("Subject: Hello\r\n"), "{text}");
        assert!(text.contains("line one\r\nline two\r\n"), "{text}");
        assert!(
            text.contains(&format!("/activate?token={}\r\n", "t".repeat(80))),
            "long links stay whole: {text}"
        );
    }

    #[test]
    fn smtp_needs_a_host_and_both_or_neither_credentials() {
        let settings = SmtpSettings {
            host: "mail.example.com".into(),
            port: None,
            tls: SmtpTls::Starttls,
            username: Some("warden".into()),
            password: None,
            timeout: Duration::from_secs(5),
        };
        assert!(SmtpMailer::new(&settings, "warden@example.com").is_err());
        let settings = SmtpSettings {
            password: Some(SecretString::from("secret")),
            ..settings
        };
        assert!(SmtpMailer::new(&settings, "warden@example.com").is_ok());
        let settings = SmtpSettings {
            host: " ".into(),
            ..settings
        };
        assert!(SmtpMailer::new(&settings, "warden@example.com").is_err());
        assert!(matches!(
            OutboxMailer::new(std::env::temp_dir(), "not an address"),
            Err(MailError::Address(_))
        ));
    }
}
