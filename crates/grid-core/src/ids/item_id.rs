//! The id of one item in the grid's storage API.

use crate::ids::id_segment::id_newtype;

id_newtype!(
    /// A storage item id: 1–128 characters of `[A-Za-z0-9._-]`, not `.` or `..`.
    ItemId,
    "item id",
    min = 1
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_order_bytewise_as_s3_keys_do() {
        let mut ids: Vec<ItemId> =
            ["b", "B", "a.1", "a-1", "a_1"].into_iter().map(|s| ItemId::parse(s).unwrap()).collect();
        ids.sort();
        let sorted: Vec<&str> = ids.iter().map(ItemId::as_str).collect();
        assert_eq!(sorted, ["B", "a-1", "a.1", "a_1", "b"]);
    }
}
