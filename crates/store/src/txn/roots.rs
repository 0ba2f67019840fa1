//! Roots: named references to objects, and the hot pin that counts the references of the
//! object pinned again and again (`hotpin.rs`).

use super::locate::Entry;
use super::read::ReadPath;
use super::{Root, WriteTxn, validate_name};
use crate::cold::{self, NS_ROOTS};
use crate::error::DbResult;
use crate::hotpin::HotPin;
use crate::schema::ROOTS;
use crate::{Error, ObjectId, StoreRead};

impl WriteTxn<'_> {
    /// Adds a named root holding one reference to `id`.
    pub fn pin(&mut self, name: &str, id: &ObjectId, meta: &[u8]) -> Result<(), Error> {
        let shared = self.shared;
        shared.guarded(|| {
            validate_name(name, "empty root name")?;
            let path = self.path();
            // Check the target before touching the roots table, so a failed pin changes nothing.
            let e = self.entry(id)?.ok_or(Error::ObjectMissing { id: *id })?;
            if self.root(name)?.is_some() {
                return Err(Error::RootExists {
                    name: name.to_string(),
                });
            }
            let mut value = Vec::with_capacity(32 + meta.len());
            value.extend_from_slice(id.as_bytes());
            value.extend_from_slice(meta);
            // The length of `roots` before this transaction changes it.
            self.live_roots()?;
            self.txn
                .open_table(ROOTS)
                .db(path)?
                .insert(name, value.as_slice())
                .db(path)?;
            self.untomb(&cold::cold_key(NS_ROOTS, name.as_bytes()))?;
            self.totals.roots += 1;
            self.add_root_ref(id, &e)?;
            self.zero.remove(id);
            Ok(())
        })
    }

    /// Removes a named root and releases its reference; objects nobody else holds go at commit.
    pub fn unpin(&mut self, name: &str) -> Result<Option<Root>, Error> {
        let shared = self.shared;
        shared.guarded(|| {
            let path = self.path();
            let Some(root) = self.root(name)? else {
                return Ok(None);
            };
            self.live_roots()?;
            self.txn.open_table(ROOTS).db(path)?.remove(name).db(path)?;
            self.tomb_if_cold(&cold::cold_key(NS_ROOTS, name.as_bytes()))?;
            self.totals.roots -= 1;
            self.release_root_ref(&root.id)?;
            Ok(Some(root))
        })
    }

    /// Counts a new root's reference to `id` (whose entry is `e`): in the hot pin when `id` is
    /// hot or was the object pinned last, else in its entry (see `hotpin.rs`).
    pub(crate) fn add_root_ref(&mut self, id: &ObjectId, e: &Entry) -> Result<(), Error> {
        let mut pin = self.hot_pin()?;
        match pin.hot {
            Some((h, n)) if h == *id => {
                pin.hot = Some((h, n + 1));
                // Another object pinned between two pins of the hot one does not take over.
                pin.next = None;
            }
            _ if pin.next == Some(*id) => {
                // The second pin of `id` in a row: it becomes hot, and what the previous hot
                // object's references counted here goes to its entry.
                self.settle_hot_pin()?;
                pin = HotPin {
                    hot: Some((*id, 1)),
                    next: None,
                };
            }
            _ => {
                self.set_count(id, e, e.count + 1)?;
                pin.next = Some(*id);
            }
        }
        self.set_hot_pin(pin);
        Ok(())
    }

    /// Releases a root's reference to `id`: from the hot pin when it holds any for `id`.
    pub(crate) fn release_root_ref(&mut self, id: &ObjectId) -> Result<(), Error> {
        let mut pin = self.hot_pin()?;
        match pin.hot {
            Some((h, n)) if h == *id => {
                pin.hot = (n > 1).then_some((h, n - 1));
                self.set_hot_pin(pin);
                if self.refcount(id)? == Some(0) {
                    self.zero.insert(*id);
                }
                Ok(())
            }
            _ => self.decref(id),
        }
    }

    pub(crate) fn set_hot_pin(&mut self, pin: HotPin) {
        if self.memo_mut().hot != Some(pin) {
            self.memo_mut().hot = Some(pin);
            self.hot_changed = true;
        }
    }

    /// Adds the hot pin's references to the hot object's entry and clears the pin, so that
    /// every entry holds its object's whole count (gc moves entries and their counts).
    pub(crate) fn settle_hot_pin(&mut self) -> Result<(), Error> {
        let pin = self.hot_pin()?;
        self.set_hot_pin(HotPin::default());
        if let Some((h, n)) = pin.hot {
            // Read with the pin cleared: the entry's own count.
            let e = self.entry(&h)?.ok_or(Error::ObjectMissing { id: h })?;
            self.set_count(&h, &e, e.count + n)?;
        }
        Ok(())
    }
}
