//! Starts the casedesk reference API server, or runs one of its tasks (`user add|passwd|
//! role|deactivate`, `backup`); see the library for what it does.

use casedesk_server::config::{Command, LogFormat, UserCommand};
use casedesk_server::StartError;
use clap::Parser;
use std::io::{BufRead, IsTerminal};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = casedesk_server::Config::parse();
    // Logs go to standard error: standard output carries only the `listening on` line.
    casedesk_server::logging::init(config.log_format);
    let log_format = config.log_format;
    let outcome = match config.command.clone() {
        None => casedesk_server::run(config).await,
        Some(Command::User(command)) => user(&config, command).await,
        Some(Command::Backup { path }) => backup(&config, &path).await,
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "casedesk-server stopped");
            // A person reading plain text sees it even under a quiet `RUST_LOG`; a log
            // collector reading JSON gets only the line above.
            if log_format == LogFormat::Text {
                eprintln!("casedesk-server: {error}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// `backup PATH`: what the copy holds, on standard output (for scripts and cron mail).
async fn backup(
    config: &casedesk_server::Config,
    path: &std::path::Path,
) -> Result<(), casedesk_server::StartError> {
    let summary = casedesk_server::backup(&config.db, path).await?;
    println!(
        "backed up {} cases ({} bytes) to {}",
        summary.cases,
        summary.bytes,
        path.display()
    );
    Ok(())
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
