//! `ItemStore` over S3: one object per item at `storage/{registration}/{context}/{id}`.
//!
//! The seed's page-number paging needs the listing's total, which S3 only knows by
//! listing: a page lists the context's keys (1,000 per request, continuation tokens
//! followed) and then fetches just that page's bodies, concurrently. Folder deletes
//! list by prefix and delete in chunks of 1,000 (DeleteObjects' limit).

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures_util::future::try_join_all;
use grid_core::{ItemId, JsonItem, PageRequest, RegistrationId, StorageContext, StorageQuota, StorageUsage};

use super::{AwsClients, LazyClient, backend};
use crate::{ItemKey, ItemPage, ItemStore, StoreError};

/// DeleteObjects takes at most this many keys.
const DELETE_CHUNK: usize = 1_000;

/// Storage API items as S3 objects.
#[derive(Clone, Debug)]
pub struct S3ItemStore {
    client: LazyClient<Client>,
    bucket: String,
}

impl S3ItemStore {
    pub fn new(clients: &AwsClients, bucket: impl Into<String>) -> Self {
        Self { client: clients.s3.clone(), bucket: bucket.into() }
    }

    fn object_key(key: &ItemKey) -> String {
        format!("storage/{}/{}/{}", key.registration, key.context, key.id)
    }

    /// Every key under `prefix` with its object's size, in S3's (bytewise) order.
    async fn objects(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(backend)?;
            objects.extend(page.contents().iter().filter_map(|o| {
                Some((o.key()?.to_owned(), o.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0)))
            }));
        }
        Ok(objects)
    }

    /// Every key under `prefix`, in S3's (bytewise) order.
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.objects(prefix).await?.into_iter().map(|(key, _)| key).collect())
    }

    /// Deletes every object under `prefix`, returning how many there were.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let keys = self.keys(prefix).await?;
        for chunk in keys.chunks(DELETE_CHUNK) {
            let objects = chunk
                .iter()
                .map(|key| ObjectIdentifier::builder().key(key).build().map_err(backend))
                .collect::<Result<Vec<_>, _>>()?;
            let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build().map_err(backend)?;
            let output =
                self.client.delete_objects().bucket(&self.bucket).delete(delete).send().await.map_err(backend)?;
            if let Some(failed) = output.errors().first() {
                return Err(StoreError::Backend(
                    format!("S3 did not delete {:?}: {:?}", failed.key(), failed.message()).into(),
                ));
            }
        }
        Ok(keys.len() as u64)
    }

    async fn read(&self, key: &str) -> Result<Option<JsonItem>, StoreError> {
        let output = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(output) => output,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        let bytes = output.body.collect().await.map_err(backend)?.into_bytes();
        JsonItem::parse(&bytes).map(Some).map_err(|e| StoreError::Corrupt(format!("object {key}: {e}")))
    }
}

#[async_trait]
impl ItemStore for S3ItemStore {
    async fn put(&self, key: &ItemKey, item: &JsonItem, quota: StorageQuota) -> Result<(), StoreError> {
        // S3 keeps no count: what the registration holds is listed (one request per
        // 1,000 items) before each write. Writers racing each other may each see room
        // for one more, so the quota can be passed by as many as write at once
        // (decisions.md, "Storage quotas").
        let object = Self::object_key(key);
        let held = self.objects(&format!("storage/{}/", key.registration)).await?;
        let old = held.iter().find(|(k, _)| *k == object).map(|(_, size)| *size);
        let usage = StorageUsage { items: held.len() as u64, bytes: held.iter().map(|(_, size)| size).sum() };
        quota.admit(usage, old, item.as_str().len() as u64)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(object)
            .content_type("application/json")
            .body(ByteStream::from(item.as_str().as_bytes().to_vec()))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get(&self, key: &ItemKey) -> Result<Option<JsonItem>, StoreError> {
        self.read(&Self::object_key(key)).await
    }

    async fn delete(&self, key: &ItemKey) -> Result<bool, StoreError> {
        let object = Self::object_key(key);
        // S3 deletes silently whether or not the object exists; ask first to answer 404 honestly.
        match self.client.head_object().bucket(&self.bucket).key(&object).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => return Ok(false),
            Err(e) => return Err(backend(e)),
        }
        self.client.delete_object().bucket(&self.bucket).key(object).send().await.map_err(backend)?;
        Ok(true)
    }

    async fn delete_context(&self, registration: &RegistrationId, context: &StorageContext) -> Result<u64, StoreError> {
        self.delete_prefix(&format!("storage/{registration}/{context}/")).await
    }

    async fn delete_registration(&self, registration: &RegistrationId) -> Result<u64, StoreError> {
        self.delete_prefix(&format!("storage/{registration}/")).await
    }

    async fn page(
        &self,
        registration: &RegistrationId,
        context: Option<&StorageContext>,
        page: PageRequest,
    ) -> Result<ItemPage, StoreError> {
        let prefix = format!("storage/{registration}/");
        let listed = match context {
            Some(context) => format!("{prefix}{context}/"),
            None => prefix.clone(),
        };
        let keys = self.keys(&listed).await?;
        let total_items = keys.len() as u64;
        let start = usize::try_from(page.offset()).unwrap_or(usize::MAX).min(keys.len());
        let end = start.saturating_add(page.size() as usize).min(keys.len());
        let prefix = prefix.as_str();
        let reads = keys[start..end].iter().map(|key| async move {
            let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("{key}: {e}"));
            let (context, id) = key[prefix.len()..].split_once('/').ok_or_else(|| corrupt(&"not context/id"))?;
            let context = StorageContext::parse(context).map_err(|e| corrupt(&e))?;
            let id = ItemId::parse(id).map_err(|e| corrupt(&e))?;
            // An item deleted between listing and reading is simply left out.
            Ok::<_, StoreError>(self.read(key).await?.map(|item| (context, id, item)))
        });
        let items = try_join_all(reads).await?.into_iter().flatten().collect();
        Ok(ItemPage { items, total_items })
    }
}
