//! Starts the casedesk reference API server, or runs one of its tasks (`user add|passwd|
//! role|deactivate`); see the library for what it does.

use casedesk_server::config::{Command, UserCommand};
use casedesk_server::StartError;
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
        Some(Command::User(command)) => user(&config, command).await,
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

/// The `user` subcommands. What changed goes to standard error; `user add` also prints the
/// new person's id on standard output, for scripts.
async fn user(config: &casedesk_server::Config, command: UserCommand) -> Result<(), StartError> {
    let (person, done) = match command {
        UserCommand::Add { email, name, role } => {
            let password = read_password(&email)?;
            let person = casedesk_server::add_user(config, &email, &name, &role, &password).await?;
            println!("{}", person.id);
            (person, "added")
        }
        UserCommand::Passwd { email } => {
            let password = read_password(&email)?;
            let person = casedesk_server::set_password(config, &email, &password).await?;
            (person, "has a new password (every session of theirs ended)")
        }
        UserCommand::Role { email, role } => {
            let person = casedesk_server::set_role(config, &email, &role).await?;
            (person, "has a new role")
        }
        UserCommand::Deactivate { email } => {
            let person = casedesk_server::deactivate(config, &email).await?;
            (person, "is deactivated (every session of theirs ended)")
        }
    };
    eprintln!(
        "{} <{}> ({}) {done}",
        person.name,
        person.email,
        person.role.as_str()
    );
    Ok(())
}

/// A new password for `email`: typed twice on the terminal without being shown, or else the
/// first line of standard input (not an argument, which any local user could read in the
/// process list).
fn read_password(email: &str) -> Result<String, StartError> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {email}: "))
            .map_err(StartError::ReadPassword)?;
        let again =
            rpassword::prompt_password("The same again: ").map_err(StartError::ReadPassword)?;
        if first != again {
            return Err(StartError::ChangePerson(
                "the two passwords differ; nothing changed".into(),
            ));
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(StartError::ReadPassword)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
