//! Room to free space on a full device: the operations that free space (`delete`,
//! `cleanup_apply`, `gc`) give up the store's reserve when the device is full and try once
//! more (`cfgvault_store`'s `reserve.rs`, docs/FORMAT.md "The reserve").

use cfgvault_store as store;

use crate::{Error, Vault};

impl Vault {
    /// Runs `op`, one transaction of an operation that frees space. If the device is full, the
    /// store's reserve is given up, `before_retry` runs and `op` runs once more; if there was
    /// no reserve, or the retry meets a full device too, the error is `NoSpace` saying so.
    pub(crate) fn freeing<T>(
        &self,
        mut op: impl FnMut() -> Result<T, Error>,
        before_retry: impl FnOnce() -> Result<(), Error>,
    ) -> Result<T, Error> {
        let full = |e: Error| -> Error {
            if e.is_no_space() {
                store::Error::NoSpace {
                    path: self.store.path().to_path_buf(),
                    reserve_released: true,
                }
                .into()
            } else {
                e
            }
        };
        match op() {
            Err(e) if e.is_no_space() => {
                if !self.store.release_reserve()? {
                    return Err(e);
                }
                before_retry().map_err(full)?;
                op().map_err(full)
            }
            r => r,
        }
    }
}
