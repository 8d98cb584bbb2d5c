//! Shared by the lab test binaries.

use xtask::lab::Lab;

/// Removes the named lab when dropped, so a failing test leaves nothing
/// (named labs are never reaped).
pub struct RemoveOnDrop(pub String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        // Already removed by the test when it passed.
        let _ = Lab::remove(&self.0);
    }
}
