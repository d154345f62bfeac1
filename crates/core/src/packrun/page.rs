//! A page of listed runs that skips damaged documents and names them.
//!
//! Backends hand over what they found in storage order ([`RunEntry`]); [`RunPage::collect`] is
//! the one place that decides what a damaged document does to a listing: it is left out,
//! named by its storage key with the reason, logged, and the cursor still moves past it.

use super::{PackRun, RunCursor};
use crate::error::{Error, Result};
use serde::Serialize;

/// A stored run document that could not be read, named by its storage key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Damaged {
    /// The run id the document is stored under (the raw key where that is not a string).
    pub key: String,
    /// Why it could not be read.
    pub reason: String,
}

/// One stored run document as a listing found it, before the listing judges it.
#[derive(Debug)]
pub struct RunEntry {
    /// The key it is stored under.
    pub key: String,
    /// Its place in the listing order, read from the storage's own columns or index, not from
    /// the document; `None` when even that is unreadable.
    pub position: Option<RunCursor>,
    /// The decoded run, or why it could not be decoded.
    pub run: Result<PackRun>,
}

/// One page of [`RunStore::list_page`](super::RunStore::list_page).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunPage {
    /// The runs that could be read, newest `updated_at` first.
    pub runs: Vec<PackRun>,
    /// The documents of this page that could not be read.
    pub damaged: Vec<Damaged>,
    /// Where the next page starts: after the last document of this page, damaged or not.
    /// `None` when this page was the last.
    pub next: Option<RunCursor>,
}

impl RunPage {
    /// Judges `entries` (one page of at most `limit`, in listing order): readable runs are
    /// kept, unreadable ones named and logged. Only a corrupt document is skipped; any other
    /// error fails the page.
    pub fn collect(entries: Vec<RunEntry>, limit: usize) -> Result<RunPage> {
        let full = limit > 0 && entries.len() >= limit;
        let mut page = RunPage::default();
        let mut last = None;
        for entry in entries {
            match entry.run {
                Ok(run) => {
                    last = Some(RunCursor::from(&run));
                    page.runs.push(run);
                }
                Err(Error::Corrupt(reason)) => {
                    tracing::warn!(run = %entry.key, %reason, "damaged run document skipped in a listing");
                    last = entry.position;
                    page.damaged.push(Damaged {
                        key: entry.key,
                        reason,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        // A damaged last document without a readable position cannot be paged past: the
        // listing ends there (it is still named).
        page.next = if full { last } else { None };
        Ok(page)
    }

    /// The runs, or a [`Corrupt`](Error::Corrupt) error naming the damaged documents.
    pub fn into_runs(self) -> Result<Vec<PackRun>> {
        if self.damaged.is_empty() {
            return Ok(self.runs);
        }
        let names: Vec<String> = self
            .damaged
            .iter()
            .map(|d| format!("{} ({})", d.key, d.reason))
            .collect();
        Err(Error::Corrupt(format!(
            "{} run document(s) cannot be read: {}",
            names.len(),
            names.join("; ")
        )))
    }
}
