//! `cfgvault`: the debug binary. It maps flags to `cfgvault` library calls and prints the
//! result for people or, with `--json`, as one versioned JSON document (docs/CLI.md). It holds
//! no logic of its own.

mod args;
mod error;
mod output;
mod progress;
mod remote;
mod run;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// Exit status: everything fine.
pub const EXIT_OK: u8 = 0;
/// Exit status: the command ran and found problems (verify, diff, ensure drift, deps).
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit status: usage or invalid input (an id already taken included).
pub const EXIT_INVALID: u8 = 2;
/// Exit status: a session, path, object, workflow or the store file does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;
/// Exit status: the store is unusable (not a store, damaged, unsupported format).
pub const EXIT_UNUSABLE: u8 = 4;
/// Exit status: another process holds the store.
pub const EXIT_BUSY: u8 = 5;
/// Exit status: an I/O failure (files a restore or ensure could not write included).
pub const EXIT_IO: u8 = 6;
/// Exit status: the command was stopped by Ctrl-C (SIGINT) before it committed anything
/// (128 + the signal's number, as shells report it).
pub const EXIT_CANCELLED: u8 = 130;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version: clap's text on stdout.
            let _ = e.print();
            return ExitCode::from(EXIT_OK);
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // No command at all: the usage and the command list, on stderr.
            let _ = write!(std::io::stderr(), "{}", e.render());
            return ExitCode::from(EXIT_INVALID);
        }
        Err(e) => {
            let line = usage_error(&e);
            if wants_json() {
                let err = error::Failure::invalid(line.message.clone());
                print_json_error(line.command.as_deref(), &err);
            }
            let _ = writeln!(std::io::stderr(), "{}", output::escape(&line.to_string()));
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let name = cli.command.name();
    // A panic is a bug, or the storage engine failing on a damaged file (the library turns
    // those into errors): either way one line on stderr, never a backtrace.
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| run::run(&cli)).unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(anyhow::anyhow!("internal error: {msg}"))
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::from(EXIT_OK);
            }
            let failure = error::Failure::of(&e);
            if cli.json {
                print_json_error(Some(name), &failure);
            }
            let _ = writeln!(
                std::io::stderr(),
                "cfgvault {name}: {}",
                output::escape(&failure.message)
            );
            ExitCode::from(failure.exit_code())
        }
    }
}

/// Whether `--json` is among the arguments (read when clap could not parse them).
fn wants_json() -> bool {
    std::env::args_os().skip(1).any(|a| a == "--json")
}

/// The error document of `--json`: `{"format", "command", "error": {…}}` on stdout.
fn print_json_error(command: Option<&str>, failure: &error::Failure) {
    let doc = serde_json::json!({ "error": failure });
    let mut stdout = std::io::stdout().lock();
    if output::write_json(&mut stdout, command, doc).is_ok() {
        let _ = stdout.flush();
    }
}

/// A flag-parsing error: the command it concerns (when one was recognised) and the message.
struct UsageLine {
    command: Option<String>,
    message: String,
}

impl std::fmt::Display for UsageLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.command {
            Some(name) => write!(f, "cfgvault {name}: {}", self.message),
            None => write!(f, "cfgvault: {}", self.message),
        }
    }
}

/// A flag-parsing error as one line, `cfgvault <command>: <what clap says>` (`cfgvault: …`
/// when no command was recognised), like every other error.
fn usage_error(e: &clap::Error) -> UsageLine {
    // The message is the first paragraph (a list of missing arguments is indented below the
    // first line); usage and tips follow a blank line. A suggestion for a mistyped command
    // (`tip: a similar subcommand exists: 'stats'`) is kept.
    let text = e.to_string();
    let para: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = para.join(" ");
    let mut message = joined
        .strip_prefix("error: ")
        .unwrap_or(&joined)
        .to_string();
    if let Some(tip) = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("tip: a similar"))
    {
        message.push_str(" (");
        message.push_str(tip.trim_start_matches("tip: "));
        message.push(')');
    }
    UsageLine {
        command: subcommand_name(),
        message,
    }
}

/// The subcommand named on the command line: the first word that is not a flag or the value
/// of `--store`, when it is a known command.
fn subcommand_name() -> Option<String> {
    use clap::CommandFactory;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy().into_owned();
        if arg == "--store" {
            args.next();
        } else if !arg.starts_with('-') {
            let cmd = args::Cli::command();
            return cmd
                .get_subcommands()
                .any(|c| c.get_name() == arg)
                .then_some(arg);
        }
    }
    None
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
