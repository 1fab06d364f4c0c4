//! The device agents' way to a channel node: its HTTP API.

use std::collections::HashMap;

use async_trait::async_trait;
use grid_core::channel::{Envelope, MessageAddress};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{Attached, ChannelClient, ChannelClientError};

/// A [`ChannelClient`] speaking the node's HTTP API (`/channels/messages/…`).
#[derive(Clone)]
pub struct HttpChannelClient {
    base: String,
    http: reqwest::Client,
}

impl HttpChannelClient {
    /// A client for the node at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: impl Into<String>, http: reqwest::Client) -> Self {
        Self { base: base.into().trim_end_matches('/').to_owned(), http }
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct BatchAnswer {
    messages: HashMap<String, Box<RawValue>>,
}

/// A batch-put's body, the envelopes embedded as they are (never re-parsed).
#[derive(Serialize)]
struct BatchPut<'a> {
    messages: Vec<BatchPutMessage<'a>>,
}

#[derive(Serialize)]
struct BatchPutMessage<'a> {
    address: &'a str,
    envelope: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchPutAnswer {
    message: String,
    taken: Vec<String>,
    /// Refused for an index too far past the channel's head.
    #[serde(default)]
    too_far: Vec<String>,
}

/// Envelopes sent per batch-put: the node takes as many as a batch-get returns.
const BATCH_PUT: usize = grid_core::channel::MAX_BATCH_GET;

async fn refused(response: reqwest::Response) -> ChannelClientError {
    let status = response.status().as_u16();
    let message = response.json::<Answer>().await.map(|a| a.message).unwrap_or_default();
    ChannelClientError::Refused { status, message }
}

#[async_trait]
impl ChannelClient for HttpChannelClient {
    async fn attach(&self, address: &MessageAddress, envelope: &Envelope) -> Result<Attached, ChannelClientError> {
        let request = self
            .http
            .put(format!("{}/channels/messages/{address}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(envelope.to_json());
        let response = crate::polite::send(request).await.map_err(|e| ChannelClientError::Unavailable(Box::new(e)))?;
        match response.status() {
            reqwest::StatusCode::CREATED => Ok(Attached::Stored),
            reqwest::StatusCode::CONFLICT => Ok(Attached::Taken),
            _ => Err(refused(response).await),
        }
    }

    /// Through `batch-put`, up to [`BATCH_PUT`] envelopes a request: the node checks
    /// their signatures as one batch.
    async fn attach_many(&self, messages: &[(MessageAddress, Envelope)]) -> Result<Vec<Attached>, ChannelClientError> {
        let mut attached = Vec::with_capacity(messages.len());
        for chunk in messages.chunks(BATCH_PUT) {
            let envelopes: Vec<Box<RawValue>> = chunk
                .iter()
                .map(|(_, envelope)| RawValue::from_string(envelope.to_json()).expect("an envelope is valid JSON"))
                .collect();
            let messages = chunk
                .iter()
                .zip(&envelopes)
                .map(|((address, _), envelope)| BatchPutMessage { address: address.as_str(), envelope })
                .collect();
            let request =
                self.http.post(format!("{}/channels/messages/batch-put", self.base)).json(&BatchPut { messages });
            let response =
                crate::polite::send(request).await.map_err(|e| ChannelClientError::Unavailable(Box::new(e)))?;
            if !response.status().is_success() {
                return Err(refused(response).await);
            }
            let answer: BatchPutAnswer =
                response.json().await.map_err(|e| ChannelClientError::Protocol(format!("batch-put answer: {e}")))?;
            if !answer.too_far.is_empty() {
                return Err(ChannelClientError::Refused { status: 400, message: answer.message });
            }
            let taken: std::collections::HashSet<String> = answer.taken.into_iter().collect();
            attached.extend(
                chunk.iter().map(
                    |(address, _)| {
                        if taken.contains(address.as_str()) { Attached::Taken } else { Attached::Stored }
                    },
                ),
            );
        }
        Ok(attached)
    }

    async fn fetch(
        &self,
        addresses: &[MessageAddress],
    ) -> Result<HashMap<MessageAddress, Envelope>, ChannelClientError> {
        let response = self
            .http
            .post(format!("{}/channels/messages/batch-get", self.base))
            .json(&serde_json::json!({ "addresses": addresses }))
            .send()
            .await
            .map_err(|e| ChannelClientError::Unavailable(Box::new(e)))?;
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        let answer: BatchAnswer =
            response.json().await.map_err(|e| ChannelClientError::Protocol(format!("batch-get answer: {e}")))?;
        answer
            .messages
            .into_iter()
            .map(|(address, envelope)| {
                let address =
                    MessageAddress::parse(address).map_err(|e| ChannelClientError::Protocol(e.to_string()))?;
                let envelope = Envelope::parse(envelope.get().as_bytes())
                    .map_err(|e| ChannelClientError::Protocol(format!("envelope at {address}: {e}")))?;
                Ok((address, envelope))
            })
            .collect()
    }
}
