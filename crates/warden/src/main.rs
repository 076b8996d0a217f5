//! The `warden` binary: parse the command line, set up logging, run the command.

use std::process::ExitCode;

use clap::Parser;
use warden::cli::{Cli, Command, KeysCommand};
use warden::log_writer;
use warden::settings::LogFormat;
use warden::{Application, Settings};

/// Logs to standard error in batches (`warden::log_writer`): a request appends its line and
/// goes on. The returned guard writes what is left when dropped.
fn init_logging(settings: &Settings) -> log_writer::FlushGuard<std::io::Stderr> {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = log_writer::batched_stderr();
    // Colour only for a person at a terminal; files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if !ansi {
        // Access lines are formatted by the access log itself, into the same writer.
        warden::access_log::install(writer.clone(), settings.log_format);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match settings.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    guard
}

/// Registers for SIGTERM and Ctrl-C at once (so a signal arriving right after start-up is
/// not lost to the default action) and returns a future that completes on either.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let mut interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match terminate.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match interrupt.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = term => {},
                () = int => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down; draining in-flight requests");
    }
}

async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            if let Some(generated) = app.generated() {
                // Shown once: these are never stored in plain text and never printed again.
                println!(
                    "Warden bootstrap: created the root tenant, administrator and API client."
                );
                println!("  admin login:    {}", generated.admin_login);
                if let Some(password) = &generated.admin_password {
                    println!("  admin password: {password}");
                }
                println!("  client id:      {}", generated.client_id);
                if let Some(secret) = &generated.client_secret {
                    println!("  client secret:  {secret}");
                }
            }
            let shutdown = shutdown_signal();
            tracing::info!(address = %app.local_addr(), "listening");
            app.serve(shutdown).await?;
            Ok(())
        }
        Command::Migrate => {
            warden::app::open_store(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let store = warden::app::open_store(&settings).await?;
            let kid = warden::app::rotate_key(&settings, store).await?;
            println!("new active signing key: {kid}");
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref(), &cli.overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warden: {e}");
            return ExitCode::from(2);
        }
    };
    let log = init_logging(&settings);
    let code = match run(cli, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "warden failed");
            eprintln!("warden: {e:#}");
            ExitCode::FAILURE
        }
    };
    // Every line logged so far is written before the process ends.
    drop(log);
    code
}
