//! What every read of a transaction starts from ([`Access`]): its redb transaction
//! ([`RedbTxn`]: redb's read and write transactions, whose tables both implement
//! `ReadableTable`), its memo, and what the store's transactions share ([`Shared`]).

use std::path::Path;
use std::sync::MutexGuard;

use redb::{Key, ReadableTable, ReadableTableMetadata, TableDefinition, TableError, Value};

use super::memo::{Memo, TxnMemo};
use super::shared::Shared;

/// A redb transaction that tables are read from: redb's read and write transactions (as redb
/// shares its read code between `Btree` and `BtreeMut`). A write transaction's `open_table`
/// creates a missing table instead of reporting it; both answers mean "empty".
pub(crate) trait RedbTxn: 'static {
    type Table<'t, K: Key + 'static, V: Value + 'static>: ReadableTable<K, V>
        + ReadableTableMetadata;
    fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<Self::Table<'_, K, V>, TableError>;
}

impl RedbTxn for redb::ReadTransaction {
    type Table<'t, K: Key + 'static, V: Value + 'static> = redb::ReadOnlyTable<K, V>;
    fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<Self::Table<'_, K, V>, TableError> {
        redb::ReadTransaction::open_table(self, def)
    }
}

impl RedbTxn for redb::WriteTransaction {
    type Table<'t, K: Key + 'static, V: Value + 'static> = redb::Table<'t, K, V>;
    fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<Self::Table<'_, K, V>, TableError> {
        redb::WriteTransaction::open_table(self, def)
    }
}

/// The `ids` table of a transaction.
pub(crate) type IdsTable<'t, T> = <T as RedbTxn>::Table<'t, [u8; 32], (u64, u64)>;
/// The `objects` table of a transaction.
pub(crate) type ObjectsTable<'t, T> = <T as RedbTxn>::Table<'t, u64, &'static [u8]>;

/// What a transaction gives to be read: the store's shared part, its redb transaction and its
/// memo. The merged view (`merged.rs`), the index keyspaces (`index/`) and the read path
/// (`read.rs`) are written once over it, for both transaction kinds.
pub(crate) trait Access {
    type Txn: RedbTxn;
    fn shared(&self) -> &Shared;
    fn txn(&self) -> &Self::Txn;
    fn memo_cell(&self) -> &Memo;

    fn path(&self) -> &Path {
        &self.shared().path
    }

    /// What the transaction keeps of what it has read.
    fn memo(&self) -> MutexGuard<'_, TxnMemo> {
        self.memo_cell().lock().unwrap_or_else(|p| p.into_inner())
    }
}
