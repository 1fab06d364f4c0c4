//! The grid's registration and storage APIs as a client, also used against a producer's
//! registration API (the same shapes).

use grid_core::channel::ChannelAccess;
use grid_core::{ChannelRoot, RegistrationId, SideKey};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AgentError;

/// A grid (or producer) at `base`, e.g. `http://127.0.0.1:8080`.
#[derive(Clone)]
pub struct GridApi {
    base: String,
    http: reqwest::Client,
}

/// The answer to a registration.
#[derive(Debug, Clone)]
pub struct Registered {
    /// `true` the first time (201), `false` for an update (200).
    pub created: bool,
    /// A consumer's return channel, on which the grid sends payment requests.
    pub return_channel: Option<ChannelAccess>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationReply {
    root: Option<String>,
    side_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    ids: Vec<String>,
    items: Vec<Value>,
    total_pages: u64,
}

impl GridApi {
    pub fn new(base: impl Into<String>, http: reqwest::Client) -> Self {
        Self { base: base.into().trim_end_matches('/').to_owned(), http }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(&self, request: reqwest::RequestBuilder, url: &str) -> Result<reqwest::Response, AgentError> {
        let response = grid_client::polite::send(request)
            .await
            .map_err(|source| AgentError::Unreachable { url: url.to_owned(), source })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let message = body["message"].as_str().unwrap_or("(no message)").to_owned();
        Err(AgentError::Refused { url: url.to_owned(), status, message })
    }

    async fn json<T: serde::de::DeserializeOwned>(response: reqwest::Response, url: &str) -> Result<T, AgentError> {
        response.json().await.map_err(|e| AgentError::Unreadable { url: url.to_owned(), reason: e.to_string() })
    }

    /// `PUT /registration/{id}` with the entity's own channel.
    pub async fn register(
        &self,
        id: &RegistrationId,
        item_type: &str,
        name: Option<&str>,
        channel: &ChannelAccess,
    ) -> Result<Registered, AgentError> {
        let url = format!("{}/registration/{id}", self.base);
        let body = json!({
            "itemName": name,
            "itemType": item_type,
            "root": channel.root().as_str(),
            "sideKey": channel.side_key().expose(),
        });
        // A repeated registration proves itself with the same channel; the header
        // covers a changed one.
        let request = self.http.put(&url).header("x-side-key", channel.side_key().expose()).json(&body);
        let response = self.send(request, &url).await?;
        let created = response.status() == reqwest::StatusCode::CREATED;
        let reply: RegistrationReply = Self::json(response, &url).await?;
        let return_channel = match (reply.root, reply.side_key) {
            (Some(root), Some(side_key)) => Some(ChannelAccess::new(
                ChannelRoot::parse(root)
                    .map_err(|e| AgentError::Unreadable { url: url.clone(), reason: e.to_string() })?,
                SideKey::parse(side_key)
                    .map_err(|e| AgentError::Unreadable { url: url.clone(), reason: e.to_string() })?,
            )),
            _ => None,
        };
        Ok(Registered { created, return_channel })
    }

    /// `DELETE /registration/{id}/{sideKey}`.
    pub async fn deregister(&self, id: &RegistrationId, side_key: &SideKey) -> Result<(), AgentError> {
        let url = format!("{}/registration/{id}/{}", self.base, side_key.expose());
        // The side key is in the path: never log the URL itself.
        let shown = format!("{}/registration/{id}/…", self.base);
        self.send(self.http.delete(&url), &shown).await.map(|_| ())
    }

    /// `PUT /registration/{producer}/sources/{root}`: claims a source's channel for the
    /// producer, so the grid keeps all of it (an unclaimed channel is bounded and expires).
    pub async fn claim_source(
        &self,
        producer: &RegistrationId,
        key: &SideKey,
        root: &ChannelRoot,
    ) -> Result<(), AgentError> {
        let url = format!("{}/registration/{producer}/sources/{root}", self.base);
        self.send(self.http.put(&url).header("X-Side-Key", key.expose()), &url).await.map(|_| ())
    }

    /// `DELETE /registration/{producer}/sources/{root}`: gives the claim up.
    pub async fn release_source(
        &self,
        producer: &RegistrationId,
        key: &SideKey,
        root: &ChannelRoot,
    ) -> Result<(), AgentError> {
        let url = format!("{}/registration/{producer}/sources/{root}", self.base);
        self.send(self.http.delete(&url).header("X-Side-Key", key.expose()), &url).await.map(|_| ())
    }

    /// `PUT /storage/{id}/{context}/{item}`, as the registration's owner (its side key).
    pub async fn put_item(
        &self,
        id: &RegistrationId,
        owner: &SideKey,
        context: &str,
        item: &str,
        value: &Value,
    ) -> Result<(), AgentError> {
        let url = format!("{}/storage/{id}/{context}/{item}", self.base);
        self.send(self.http.put(&url).header("X-Side-Key", owner.expose()).json(value), &url).await.map(|_| ())
    }

    /// `GET /storage/{id}/{context}/{item}`, or `None` if there is no such item.
    pub async fn get_item(&self, id: &RegistrationId, context: &str, item: &str) -> Result<Option<Value>, AgentError> {
        let url = format!("{}/storage/{id}/{context}/{item}", self.base);
        match self.send(self.http.get(&url), &url).await {
            Ok(response) => {
                let mut body: Value = Self::json(response, &url).await?;
                Ok(Some(body["item"].take()))
            }
            Err(AgentError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DELETE /storage/{id}/{context}/{item}` as its owner; a missing item is fine.
    pub async fn delete_item(
        &self,
        id: &RegistrationId,
        owner: &SideKey,
        context: &str,
        item: &str,
    ) -> Result<(), AgentError> {
        let url = format!("{}/storage/{id}/{context}/{item}", self.base);
        match self.send(self.http.delete(&url).header("X-Side-Key", owner.expose()), &url).await {
            Ok(_) | Err(AgentError::Refused { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every item of a context, page by page: `(id, item)`.
    pub async fn items(&self, id: &RegistrationId, context: &str) -> Result<Vec<(String, Value)>, AgentError> {
        let mut all = Vec::new();
        let mut page = 0;
        loop {
            let url = format!("{}/storage/{id}/{context}?page={page}&pageSize=100", self.base);
            let answer: Page = match self.send(self.http.get(&url), &url).await {
                Ok(response) => Self::json(response, &url).await?,
                Err(AgentError::Refused { status: 404, .. }) => return Ok(all),
                Err(e) => return Err(e),
            };
            all.extend(answer.ids.into_iter().zip(answer.items));
            page += 1;
            if page >= answer.total_pages {
                return Ok(all);
            }
        }
    }
}
