//! How the report is laid out: sections of benchmark groups, and the backends' order and
//! colours (the same in every table and chart).

/// A section of the report and the criterion groups it shows, in order.
pub struct Section {
    /// The heading.
    pub title: &'static str,
    /// `(group id, what it measures)`.
    pub groups: &'static [(&'static str, &'static str)],
}

/// Every section; groups found in the results but listed nowhere go to "Other".
pub const SECTIONS: &[Section] = &[
    Section {
        title: "Collection ops",
        groups: &[
            ("put", "one typed `Collection::put` (its own batch)"),
            ("get", "point read among 10 000 records"),
            ("get_many_100", "`get_many` of 100 keys"),
            ("scan_1000", "prefix scan with a cursor, limit 1 000"),
            (
                "batch_10000_puts",
                "one batch of 10 000 new records (built in the timed loop)",
            ),
        ],
    },
    Section {
        title: "Commits",
        groups: &[
            ("commit_sequential", "one single-put batch after another"),
            (
                "commit_32_writers",
                "32 tasks committing one single-put batch each, at once",
            ),
            (
                "fsync",
                "4 KiB append + `fdatasync` on the same disk: the floor under `Immediate`",
            ),
        ],
    },
    Section {
        title: "Leases",
        groups: &[
            (
                "acquire_300_free",
                "acquire 300 shards nobody holds, one call",
            ),
            ("refresh_300_held", "refresh 300 shards the caller holds"),
            ("acquire_3000_free", "acquire 3 000 free shards, one call"),
            ("refresh_3000_held", "refresh 3 000 held shards"),
            (
                "keeper_round_300",
                "a shard keeper's steady-state round: refresh 300 + registry read + assignment",
            ),
        ],
    },
    Section {
        title: "Checkpoints",
        groups: &[
            ("checkpoint_write", "checkpoint + state patch in one batch"),
            (
                "checkpoint_read_latest",
                "`checkpoints().read` of a run with 1 000 kept",
            ),
            (
                "checkpoint_list_100",
                "`recent(pipeline, run, 100)` of 1 000 kept",
            ),
        ],
    },
    Section {
        title: "Pack-run logs",
        groups: &[
            (
                "log_append_1000",
                "append 1 000 lines of a new run, one call",
            ),
            (
                "log_read_100_after",
                "read 100 lines after a sequence, run of 5 000",
            ),
        ],
    },
    Section {
        title: "Pipeline engine and tenant runtime",
        groups: &[
            (
                "pipeline_stage_commit",
                "one run looping on a stage: one stage commit (~600-byte patch)",
            ),
            (
                "pipeline_8_runs_stage_commit",
                "8 concurrent looping runs: time per stage commit",
            ),
            ("pipeline_runs_100", "100 concurrent two-stage runs"),
            (
                "tenant_ensure_warm",
                "`Runtime::ensure` of a running tenant (reuse)",
            ),
        ],
    },
];

/// Backends in report order with their chart colour (RGB) and its name for the legend.
pub const BACKENDS: &[(&str, (u8, u8, u8), &str)] = &[
    ("memory", (128, 128, 128), "grey"),
    ("sled", (46, 160, 67), "green"),
    ("sqlite-immediate", (31, 90, 200), "dark blue"),
    ("sqlite-relaxed", (110, 170, 240), "light blue"),
    ("mongo-secantusdb", (230, 130, 20), "orange"),
];

/// The colour of a bar for `backend`; unknown names (like `write_4k_fdatasync`) are purple.
pub fn colour(backend: &str) -> (u8, u8, u8) {
    BACKENDS
        .iter()
        .find(|(b, _, _)| *b == backend)
        .map_or((140, 60, 170), |(_, c, _)| *c)
}

/// Where `backend` sorts: known backends in [`BACKENDS`] order, others after, by name.
pub fn rank(backend: &str) -> (usize, String) {
    let i = BACKENDS
        .iter()
        .position(|(b, _, _)| *b == backend)
        .unwrap_or(BACKENDS.len());
    (i, backend.to_owned())
}
