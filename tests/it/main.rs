//! The one integration-test binary: drives the real `cfgvault` binary
//! (`env!("CARGO_BIN_EXE_cfgvault")`) through [`util::Dir`] and [`util::TestCommand`].
//! Every test works in its own temp dir with its own store; none touches the repository's
//! `.cfgvault`.

#![allow(clippy::unwrap_used)]

mod util;

mod concurrency;
mod contract;
mod corpus;
mod corrupt;
mod docs;
mod errors;
mod full_disk;
mod lifecycle;
mod output;
mod reliability;
mod remote;
