//! The id of a batch of transfers on the ledger.

use crate::ids::id_segment::id_newtype;

id_newtype!(
    /// A ledger batch id (`batchId`): 1–128 characters of `[A-Za-z0-9._-]`.
    BatchId,
    "batchId",
    min = 1
);
