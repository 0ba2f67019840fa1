//! docs/CLI.md's examples run: every `console` block, in order, in one directory holding the
//! fixture configs as `configs/` (trycmd), so the document cannot drift from the binary.

use crate::util::{copy_tree, fixture_configs, repo_path};

#[test]
fn cli_md_examples_print_what_they_show() {
    let dir = tempfile::tempdir().unwrap();
    // trycmd runs a `NAME.md` in a copy of `NAME.in/`; a `NAME.out/` (empty here: no file is
    // compared) makes every command of the file share that copy.
    let md = dir.path().join("CLI.md");
    std::fs::copy(repo_path("docs/CLI.md"), &md).unwrap();
    copy_tree(&fixture_configs(), &dir.path().join("CLI.in/configs"));
    std::fs::create_dir_all(dir.path().join("CLI.out")).unwrap();
    trycmd::TestCases::new()
        .register_bin(
            "cfgvault",
            std::path::Path::new(env!("CARGO_BIN_EXE_cfgvault")),
        )
        .env("CFGVAULT_STORE", "")
        .case(&md);
}
