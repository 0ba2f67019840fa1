//! Prints the closure of one workflow in the compact text form the tests pin.
//!
//! `cargo run -p cfgvault-closure --example dump_closure -- ROOT WORKFLOW [STRATEGY] [EXCLUDE…]`

use std::path::PathBuf;
use std::process::ExitCode;

use cfgvault_closure::{Options, resolve, resolve_tree};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(root), Some(workflow)) = (args.first(), args.get(1)) else {
        eprintln!("usage: dump_closure ROOT WORKFLOW|- [STRATEGY] [EXCLUDE...]");
        return ExitCode::from(2);
    };
    let mut options = Options::new();
    if let Some(s) = args.get(2) {
        match s.parse() {
            Ok(s) => options = options.strategy(s),
            Err(e) => {
                eprintln!("dump_closure: {e}");
                return ExitCode::from(2);
            }
        }
    }
    for pattern in args.iter().skip(3) {
        options = options.exclude(pattern.clone());
    }
    let root = PathBuf::from(root);
    let closure = if workflow == "-" {
        resolve_tree(&root, &options)
    } else {
        resolve(&root, workflow, &options)
    };
    match closure {
        Ok(c) => {
            println!("{c}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dump_closure: {e}");
            ExitCode::from(2)
        }
    }
}
