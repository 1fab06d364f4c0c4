//! Where a payment goes on the ledger.

use crate::ids::id_segment::id_newtype;

id_newtype!(
    /// A ledger payment id or address (`paymentIdOrAddress`): 1–128 characters of
    /// `[A-Za-z0-9._-]`. IOTA's 81/90-tryte addresses and ledger account ids both fit.
    PaymentAddress,
    "paymentIdOrAddress",
    min = 1
);
