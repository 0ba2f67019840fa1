//! Where the pages of a closed store file go: per table, its leaf and branch pages, the bytes
//! its entries hold and the bytes left unused in its pages; then redb's own share (the table of
//! tables, the system tables, the allocator state) and the free pages.
//!
//! ```text
//! cargo run --release -p cfgvault-store --example page_accounting -- STORE.redb [--json]
//! cargo run --release -p cfgvault-store --example page_accounting -- NEW.redb --floor
//! ```
//!
//! `--floor` creates NEW.redb instead: redb files of k = 0, 1, 2, 4, 9 tables of one small
//! entry each, closed, and prints each file's size and pages (what redb itself costs).
//!
//! Opens the file with redb directly (exclusively: close every other user first), reads the
//! statistics in a write transaction that is aborted, and changes nothing but what opening and
//! closing a redb file writes (its header).
#![allow(clippy::unwrap_used)]

use redb::{Database, ReadableDatabase, ReadableTableMetadata};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: page_accounting STORE.redb [--json]");
        std::process::exit(2);
    };
    let json = args.iter().any(|a| a == "--json");
    if args.iter().any(|a| a == "--floor") {
        floor(path);
        return;
    }
    let file_bytes = std::fs::metadata(path).unwrap().len();
    let db = Database::builder().open(path).unwrap();
    let mut rows = Vec::new();
    {
        let r = db.begin_read().unwrap();
        for handle in r.list_tables().unwrap() {
            let t = r.open_untyped_table(handle).unwrap();
            let s = t.stats().unwrap();
            rows.push((
                redb::TableHandle::name(&t).to_string(),
                t.len().unwrap(),
                s.leaf_pages(),
                s.branch_pages(),
                s.stored_bytes(),
                s.metadata_bytes(),
                s.fragmented_bytes(),
            ));
        }
    }
    let w = db.begin_write().unwrap();
    let d = w.stats().unwrap();
    let page = d.page_size() as u64;
    let table_pages: u64 = rows.iter().map(|r| r.2 + r.3).sum();
    let file_pages = file_bytes / page;
    let unused_in_tables: u64 = rows.iter().map(|r| r.6).sum();
    drop(w);
    drop(db);
    if json {
        let tables: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"table\":\"{}\",\"entries\":{},\"leaf_pages\":{},\"branch_pages\":{},\"stored_bytes\":{},\"metadata_bytes\":{},\"fragmented_bytes\":{}}}",
                    r.0, r.1, r.2, r.3, r.4, r.5, r.6
                )
            })
            .collect();
        println!(
            "{{\"file_bytes\":{file_bytes},\"page_size\":{page},\"allocated_pages\":{},\"data_leaf_pages\":{},\"data_branch_pages\":{},\"stored_leaf_bytes\":{},\"metadata_bytes\":{},\"fragmented_bytes\":{},\"tables\":[{}]}}",
            d.allocated_pages(),
            d.leaf_pages(),
            d.branch_pages(),
            d.stored_bytes(),
            d.metadata_bytes(),
            d.fragmented_bytes(),
            tables.join(",")
        );
        return;
    }
    println!("{path}: {file_bytes} bytes = {file_pages} pages of {page}");
    println!(
        "| table | entries | leaf pages | branch pages | stored bytes | metadata bytes | unused bytes in its pages |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.0, r.1, r.2, r.3, r.4, r.5, r.6
        );
    }
    println!(
        "| all tables | | {} | {} | {} | | {} |",
        rows.iter().map(|r| r.2).sum::<u64>(),
        rows.iter().map(|r| r.3).sum::<u64>(),
        rows.iter().map(|r| r.4).sum::<u64>(),
        unused_in_tables
    );
    println!(
        "database: allocated pages {}, data-tree leaf/branch pages {}/{} (table pages and the table of tables), stored leaf bytes {}, metadata bytes {} (the table of tables and the system tables), fragmented bytes {} (unused bytes in pages + free pages)",
        d.allocated_pages(),
        d.leaf_pages(),
        d.branch_pages(),
        d.stored_bytes(),
        d.metadata_bytes(),
        d.fragmented_bytes()
    );
    println!(
        "pages: file {file_pages}; allocated {}; of them in user tables {table_pages}; other allocated (table of tables, system tables, allocator state) {}; not allocated (free pages, the file header, region headers and tails) {}",
        d.allocated_pages(),
        d.allocated_pages().saturating_sub(table_pages),
        file_pages.saturating_sub(d.allocated_pages()),
    );
}

/// redb's own floor: files with k tables of one small entry each, closed.
fn floor(path: &str) {
    println!("| tables of one entry | file bytes | pages | allocated pages |");
    println!("|---:|---:|---:|---:|");
    for k in [0usize, 1, 2, 4, 9] {
        let _ = std::fs::remove_file(path);
        let db = Database::builder().create(path).unwrap();
        let names: Vec<String> = (0..k).map(|i| format!("t{i}")).collect();
        let w = db.begin_write().unwrap();
        for n in &names {
            let def: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new(n);
            w.open_table(def)
                .unwrap()
                .insert("k", b"v".as_slice())
                .unwrap();
        }
        w.commit().unwrap();
        drop(db);
        let db = Database::builder().open(path).unwrap();
        let w = db.begin_write().unwrap();
        let allocated = w.stats().unwrap().allocated_pages();
        drop(w);
        drop(db);
        let bytes = std::fs::metadata(path).unwrap().len();
        println!("| {k} | {bytes} | {} | {allocated} |", bytes / 4096);
    }
    let _ = std::fs::remove_file(path);
}
