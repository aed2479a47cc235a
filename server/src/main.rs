//! Starts the casedesk reference API server, or runs one of its tasks (`user add`); see the
//! library for what it does.

use casedesk_server::config::{Command, UserCommand};
use clap::Parser;
use std::io::{BufRead, IsTerminal};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = casedesk_server::Config::parse();
    // Logs go to standard error: standard output carries only the `listening on` line.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let outcome = match config.command.clone() {
        None => casedesk_server::run(config).await,
        Some(Command::User(UserCommand::Add { email, name, role })) => {
            add_user(&config, &email, &name, &role).await
        }
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "casedesk-server stopped");
            eprintln!("casedesk-server: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `user add`: the password is the first line of standard input (not an argument, which
/// any local user could read in the process list).
async fn add_user(
    config: &casedesk_server::Config,
    email: &str,
    name: &str,
    role: &str,
) -> Result<(), casedesk_server::StartError> {
    if std::io::stdin().is_terminal() {
        eprintln!("Password for {email}:");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(casedesk_server::StartError::Serve)?;
    let password = line.trim_end_matches(['\r', '\n']);
    let person = casedesk_server::add_user(config, email, name, role, password).await?;
    // The new person's id on standard output, for scripts.
    println!("{}", person.id);
    eprintln!(
        "added {} <{}> ({})",
        person.name,
        person.email,
        person.role.as_str()
    );
    Ok(())
}
