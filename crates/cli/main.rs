//! `cfgvault`: the debug binary. It maps flags to `cfgvault` library calls and prints the
//! result for people or, with `--json`, as one versioned JSON document (docs/CLI.md). It holds
//! no logic of its own.

mod args;
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
/// Exit status: the command failed (bad input, missing session, I/O).
pub const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version: clap's text on stdout.
            let _ = e.print();
            return ExitCode::from(EXIT_OK);
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{}", usage_error(&e));
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let name = cli.command.name();
    // A panic is a bug, or the storage engine failing on a damaged file (the library turns
    // those into errors): either way one line on stderr and exit 2, never a backtrace.
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
            let mut msg = format!("cfgvault {name}: {e}");
            for cause in e.chain().skip(1) {
                msg.push_str(": ");
                msg.push_str(&cause.to_string());
            }
            let _ = writeln!(std::io::stderr(), "{msg}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// A flag-parsing error as one line, `cfgvault <command>: <what clap says>` (`cfgvault: …`
/// when no command was recognised), like every other error.
fn usage_error(e: &clap::Error) -> String {
    // The message is the first paragraph (a list of missing arguments is indented below the
    // first line); usage and tips follow a blank line.
    let text = e.to_string();
    let para: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = para.join(" ");
    let what = joined.strip_prefix("error: ").unwrap_or(&joined);
    match subcommand_name() {
        Some(name) => format!("cfgvault {name}: {what}"),
        None => format!("cfgvault: {what}"),
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
