//! `ItemStore` over the `items` table.

use async_trait::async_trait;
use grid_core::{ItemId, JsonItem, PageRequest, RegistrationId, StorageContext};
use rusqlite::{OptionalExtension, TransactionBehavior, named_params};

use super::SqliteDb;
use crate::{ItemKey, ItemPage, ItemStore, StoreError};

/// Storage API items in the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteItemStore {
    db: SqliteDb,
}

impl SqliteItemStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

fn key_strings(key: &ItemKey) -> (String, String, String) {
    (key.registration.as_str().to_owned(), key.context.as_str().to_owned(), key.id.as_str().to_owned())
}

fn stored_item(body: String) -> Result<JsonItem, StoreError> {
    JsonItem::from_stored(body).map_err(|e| StoreError::Corrupt(format!("item body: {e}")))
}

#[async_trait]
impl ItemStore for SqliteItemStore {
    async fn put(&self, key: &ItemKey, item: &JsonItem) -> Result<(), StoreError> {
        let (registration, context, id) = key_strings(key);
        let body = item.as_str().to_owned();
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO items (registration_id, context, id, body)
                     VALUES (:registration, :context, :id, :body)
                     ON CONFLICT (registration_id, context, id) DO UPDATE SET body = excluded.body",
                )?
                .execute(named_params! {
                    ":registration": registration, ":context": context, ":id": id, ":body": body,
                })?;
                Ok(())
            })
            .await
    }

    async fn get(&self, key: &ItemKey) -> Result<Option<JsonItem>, StoreError> {
        self.db.lookup(|conn| {
            let body: Option<String> = conn
                .prepare_cached(
                    "SELECT body FROM items WHERE registration_id = :registration AND context = :context AND id = :id",
                )?
                .query_row(
                    named_params! {
                        ":registration": key.registration.as_str(), ":context": key.context.as_str(),
                        ":id": key.id.as_str(),
                    },
                    |row| row.get(0),
                )
                .optional()?;
            body.map(stored_item).transpose()
        })
    }

    async fn delete(&self, key: &ItemKey) -> Result<bool, StoreError> {
        let (registration, context, id) = key_strings(key);
        self.db
            .write(move |conn| {
                let deleted = conn
                    .prepare_cached(
                        "DELETE FROM items WHERE registration_id = :registration AND context = :context AND id = :id",
                    )?
                    .execute(named_params! {":registration": registration, ":context": context, ":id": id})?;
                Ok(deleted > 0)
            })
            .await
    }

    async fn delete_context(&self, registration: &RegistrationId, context: &StorageContext) -> Result<u64, StoreError> {
        let (registration, context) = (registration.as_str().to_owned(), context.as_str().to_owned());
        self.db
            .write(move |conn| {
                let deleted = conn.execute(
                    "DELETE FROM items WHERE registration_id = :registration AND context = :context",
                    named_params! {":registration": registration, ":context": context},
                )?;
                Ok(deleted as u64)
            })
            .await
    }

    async fn delete_registration(&self, registration: &RegistrationId) -> Result<u64, StoreError> {
        let registration = registration.as_str().to_owned();
        self.db
            .write(move |conn| {
                let deleted = conn.execute(
                    "DELETE FROM items WHERE registration_id = :registration",
                    named_params! {":registration": registration},
                )?;
                Ok(deleted as u64)
            })
            .await
    }

    async fn page(
        &self,
        registration: &RegistrationId,
        context: Option<&StorageContext>,
        page: PageRequest,
    ) -> Result<ItemPage, StoreError> {
        let registration = registration.as_str().to_owned();
        let context = context.map(|c| c.as_str().to_owned());
        let limit = i64::from(page.size());
        let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                // `context || '/' || id` orders as S3 orders its keys (bytewise), so both
                // adapters page the same way ("a.b/x" before "a/x").
                let filter = if context.is_some() {
                    "registration_id = :registration AND context = :context"
                } else {
                    // (`:context` is bound either way; here it is NULL.)
                    "registration_id = :registration AND :context IS NULL"
                };
                // Count and page in one read transaction so they describe the same state.
                let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
                let total: i64 = tx.query_row(
                    &format!("SELECT COUNT(*) FROM items WHERE {filter}"),
                    named_params! {":registration": registration, ":context": context},
                    |row| row.get(0),
                )?;
                let mut items = Vec::new();
                {
                    let mut stmt = tx.prepare_cached(&format!(
                        "SELECT context, id, body FROM items WHERE {filter}
                         ORDER BY context || '/' || id LIMIT :limit OFFSET :offset"
                    ))?;
                    let mut rows = stmt.query(named_params! {
                        ":registration": registration, ":context": context,
                        ":limit": limit, ":offset": offset,
                    })?;
                    while let Some(row) = rows.next()? {
                        let (context, id, body): (String, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
                        let context = StorageContext::parse(context)
                            .map_err(|e| StoreError::Corrupt(format!("item context: {e}")))?;
                        let id = ItemId::parse(id).map_err(|e| StoreError::Corrupt(format!("item id: {e}")))?;
                        items.push((context, id, stored_item(body)?));
                    }
                }
                tx.commit()?;
                Ok(ItemPage { items, total_items: total as u64 })
            })
            .await
    }
}
