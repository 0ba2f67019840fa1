//! What can change on a stored session: its labels ([`set_labels`], checked by
//! [`validate_label`]) and its pinned flag ([`set_pinned`]). Each edit rewrites the record in
//! one transaction.

use std::collections::BTreeMap;

use cfgvault_store::Store;

use crate::keys::{BY_LABEL, label_key};
use crate::records::{self, RecordReader};
use crate::{Error, Result, SessionId};

/// Sets or clears a session's pinned flag (retention never removes a pinned session).
pub fn set_pinned(store: &Store, id: &SessionId, pinned: bool) -> Result<()> {
    let mut txn = store.write()?;
    let mut rec = RecordReader::without_closure().require(&txn, id)?;
    if rec.pinned != pinned {
        rec.pinned = pinned;
        records::rewrite(&mut txn, &rec)?;
        txn.commit()?;
    }
    Ok(())
}

/// Replaces a session's labels with what `edit` makes of them, in one transaction, and
/// returns the new labels. The labels are checked with [`validate_label`].
pub fn set_labels(
    store: &Store,
    id: &SessionId,
    edit: impl FnOnce(&mut BTreeMap<String, String>),
) -> Result<BTreeMap<String, String>> {
    let mut txn = store.write()?;
    let mut rec = RecordReader::without_closure().require(&txn, id)?;
    let old = rec.labels.clone();
    edit(&mut rec.labels);
    for (k, v) in &rec.labels {
        validate_label(k, v)?;
    }
    if rec.labels == old {
        return Ok(old);
    }
    for (k, v) in &old {
        txn.index_remove(BY_LABEL, &label_key(k, v, rec.created_at, id))?;
    }
    for (k, v) in &rec.labels {
        txn.index_insert(BY_LABEL, &label_key(k, v, rec.created_at, id), b"")?;
    }
    records::rewrite(&mut txn, &rec)?;
    txn.commit()?;
    Ok(rec.labels)
}

/// The longest label key, in characters.
pub const MAX_LABEL_KEY: usize = 128;
/// The longest label value, in characters.
pub const MAX_LABEL_VALUE: usize = 1024;

/// Checks one label: a non-empty key of at most [`MAX_LABEL_KEY`] characters without `=`, a
/// value of at most [`MAX_LABEL_VALUE`], neither holding control characters.
pub fn validate_label(key: &str, value: &str) -> Result<()> {
    let bad = |reason| Error::InvalidLabel {
        key: key
            .chars()
            .take(MAX_LABEL_KEY)
            .flat_map(char::escape_debug)
            .collect(),
        reason,
    };
    if key.is_empty() {
        return Err(bad("empty key"));
    }
    if key.chars().count() > MAX_LABEL_KEY {
        return Err(bad("key longer than 128 characters"));
    }
    if key.contains('=') {
        return Err(bad("key holds '='"));
    }
    if key.chars().any(char::is_control) {
        return Err(bad("key holds a control character"));
    }
    if value.chars().count() > MAX_LABEL_VALUE {
        return Err(bad("value longer than 1024 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(bad("value holds a control character"));
    }
    Ok(())
}
