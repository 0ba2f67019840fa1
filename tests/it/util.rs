//! The test harness: a temp [`Dir`] with its own store, a [`TestCommand`] builder that runs the
//! real binary, and helpers for fixtures, the corpus and snapshot filters.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use cfgvault_testkit::{corpus_file, read_tree, snap_name, unpack, unpack_from};
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_cfgvault");

/// The `--json` format tag every document carries.
pub const FORMAT: &str = "cfgvault/1";

/// A path inside the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The hand-written config tree every CLI test starts from (read-only: copy before mutating).
pub fn fixture_configs() -> PathBuf {
    repo_path("fixtures/closure/basic/configs")
}

/// The workflow of [`fixture_configs`].
pub const WORKFLOW: &str = "workflows/react.yaml";

/// A temp directory holding config trees and a store (`vault/store.redb`, not yet created).
/// Commands run with the directory as their working directory.
pub struct Dir {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    store: PathBuf,
}

impl Dir {
    pub fn new() -> Dir {
        let tmp = tempfile::Builder::new()
            .prefix("cfgvault-it-")
            .tempdir()
            .unwrap();
        // Canonical, so that paths the binary canonicalizes (a session's source root) match.
        let root = fs::canonicalize(tmp.path()).unwrap();
        let store = root.join("vault").join("store.redb");
        Dir {
            _tmp: tmp,
            root,
            store,
        }
    }

    /// The store file `command()` passes with `--store`.
    pub fn store(&self) -> &Path {
        &self.store
    }

    /// `rel` under the directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes a file, creating its parent directories.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, contents).unwrap();
    }

    /// Reads a file.
    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    /// Removes a file or a whole directory.
    pub fn remove(&self, rel: &str) {
        let p = self.path(rel);
        if p.is_dir() {
            fs::remove_dir_all(&p).unwrap();
        } else {
            fs::remove_file(&p).unwrap();
        }
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// Copies the tree `src` to `rel` under the directory.
    pub fn copy_tree(&self, src: &Path, rel: &str) {
        copy_tree(src, &self.path(rel));
    }

    /// Copies the fixture config tree to `configs/`.
    pub fn fixture(&self) -> &Self {
        self.copy_tree(&fixture_configs(), "configs");
        self
    }

    /// The binary with `--store` pointing at this directory's store, run from this directory,
    /// with `$CFGVAULT_STORE` cleared.
    pub fn command(&self) -> TestCommand {
        let mut t = self.bare_command();
        t.cmd.arg("--store").arg(&self.store);
        t.desc.push("--store".into());
        t.desc.push("STORE".into());
        t
    }

    /// The binary without `--store` (and without `$CFGVAULT_STORE`), run from this directory.
    pub fn bare_command(&self) -> TestCommand {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(&self.root)
            .env_remove("CFGVAULT_STORE")
            .env_remove("RUST_BACKTRACE");
        TestCommand {
            cmd,
            desc: vec!["cfgvault".into()],
        }
    }

    /// Shorthand: `command()` with these arguments.
    pub fn cmd<I, S>(&self, args: I) -> TestCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command().args(args)
    }

    /// Backs up the fixture workflow (from `configs/`) as session `id`.
    pub fn backup_fixture(&self, id: &str) -> Output {
        self.cmd([
            "backup",
            "--root",
            "configs",
            "--workflow",
            WORKFLOW,
            "--session",
            id,
        ])
        .assert_exit(0)
    }

    /// Backs up everything under `root` (`--strategy tree`) as session `id`.
    pub fn backup_tree(&self, root: &str, id: &str) -> Output {
        self.cmd([
            "backup",
            "--root",
            root,
            "--strategy",
            "tree",
            "--session",
            id,
        ])
        .assert_exit(0)
    }

    /// Snapshot settings that hide what changes from run to run: this directory's path and
    /// clock times (replaced by placeholders of the same width, so tables stay aligned).
    pub fn settings(&self) -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.add_filter(&regex_escape(&self.root.to_string_lossy()), "[TMP]");
        s.add_filter(
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z",
            "YYYY-MM-DDThh:mm:ssZ",
        );
        s.add_filter(
            r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
            "YYYY-MM-DD hh:mm:ss",
        );
        s
    }
}

/// Escapes regex metacharacters.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Copies a directory tree (files and directories only).
pub fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display())) {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// A command line being built; `run` executes it.
pub struct TestCommand {
    cmd: Command,
    desc: Vec<String>,
}

impl TestCommand {
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.desc
            .push(a.as_ref().to_string_lossy().chars().take(80).collect());
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// Runs the command. Whatever it was asked, it must not panic.
    pub fn run(mut self) -> Output {
        let o = self.cmd.stdin(Stdio::null()).output().unwrap();
        let out = Output {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            raw_stdout: o.stdout,
            desc: self.desc.join(" "),
        };
        assert!(
            !out.stderr.contains("panicked"),
            "{} panicked:\n{}",
            out.desc,
            out.stderr
        );
        assert!(
            !out.stderr.contains("RUST_BACKTRACE"),
            "{} printed a backtrace hint:\n{}",
            out.desc,
            out.stderr
        );
        out
    }

    /// Runs the command and checks its exit code.
    pub fn assert_exit(self, code: i32) -> Output {
        let out = self.run();
        assert_eq!(out.code, Some(code), "exit code of `{}`\n{out}", out.desc);
        out
    }
}

/// What a command printed and how it exited.
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
    pub desc: String,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- stdout\n{}--- stderr\n{}---",
            self.stdout, self.stderr
        )
    }
}

impl Output {
    /// Stdout as the one JSON document of `--json`: it parses as exactly one value, an
    /// object whose first field is `"format": "cfgvault/1"`.
    pub fn json(&self) -> Value {
        let v: Value = serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`{}` did not print one JSON document: {e}\n{self}",
                self.desc
            )
        });
        assert!(v.is_object(), "{}: not an object\n{self}", self.desc);
        assert_eq!(v["format"], FORMAT, "{}\n{self}", self.desc);
        assert!(
            self.stdout
                .starts_with("{\n  \"format\": \"cfgvault/1\",\n  \"command\": "),
            "{}: `format` then `command` must lead the document\n{self}",
            self.desc
        );
        v
    }

    /// The error message of a failed command: exactly one line on stderr, starting with
    /// `cfgvault <command>: `, and nothing on stdout.
    pub fn error_line(&self, command: &str) -> &str {
        let prefix = format!("cfgvault {command}: ");
        let line = self.stderr.strip_suffix('\n').unwrap_or(&self.stderr);
        assert!(
            !line.is_empty() && !line.contains('\n'),
            "{}: expected one line on stderr\n{self}",
            self.desc
        );
        assert!(
            line.starts_with(&prefix),
            "{}: expected stderr to start with {prefix:?}\n{self}",
            self.desc
        );
        assert!(
            self.stdout.is_empty(),
            "{}: expected nothing on stdout\n{self}",
            self.desc
        );
        line
    }
}

/// A JSON array of strings as a `Vec<String>`.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_string()
        })
        .collect()
}
