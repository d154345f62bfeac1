//! Output: human lines on stdout as work happens, or one JSON document at the end (`--json`);
//! notices (waiting for the lock, progress) always on stderr.

use crate::exit::Exit;
use mongodb::bson::{Bson, Document};
use serde::Serializer;
use std::io::Write;

/// Where output goes.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// `--json`: stdout holds only the final JSON document.
    pub json: bool,
}

impl Out {
    /// A line for people on stdout (nothing with `--json`).
    pub fn say(&self, line: impl std::fmt::Display) {
        if !self.json {
            // A closed pipe (`| head`) is not worth a panic.
            let _ = writeln!(std::io::stdout(), "{line}");
        }
    }

    /// A notice on stderr, in both modes.
    pub fn notice(&self, line: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr(), "berth-migrate: {line}");
    }
}

/// What a command ends with.
#[derive(Debug)]
pub struct Report {
    /// Exit code.
    pub exit: Exit,
    /// The `--json` document.
    pub json: serde_json::Value,
}

/// Prints the final `--json` document (or any line) on stdout, ignoring a closed pipe.
pub fn print_line(line: impl std::fmt::Display) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// A BSON document as relaxed extended JSON (`{"$date": …}` for dates).
pub fn doc_json(d: &Document) -> serde_json::Value {
    Bson::Document(d.clone()).into_relaxed_extjson()
}

/// Serializes a BSON document as relaxed extended JSON.
pub fn serialize_doc<S: Serializer>(d: &Document, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&doc_json(d), s)
}
