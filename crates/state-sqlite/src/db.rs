//! The shared state behind every store of one open database.

use crate::readers::Readers;
use crate::writer::Writer;
use berth_core::SharedClock;

/// One open database: the reader pool, the writer thread and the clock.
///
/// Every store of a [`Store`](berth_core::Store) holds it; when the last one goes, the
/// readers close first and then the writer thread is joined, so the writer's connection is
/// the last to close (it checkpoints the WAL) and the file can be reopened at once.
pub(crate) struct Db {
    pub(crate) readers: Readers,
    pub(crate) writer: Writer,
    pub(crate) clock: SharedClock,
}

impl Drop for Db {
    fn drop(&mut self) {
        self.readers.close();
        // `writer` is dropped next: it joins the thread, which closes the write connection.
    }
}
