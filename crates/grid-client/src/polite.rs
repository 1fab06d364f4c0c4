//! Sending as a well-behaved device: a request the grid answers 429 (its write rate per
//! client address, its connection limit) is sent again after the `Retry-After` it names.
//!
//! The grid's writes are idempotent (write-once envelopes, replaced items, repeated
//! registrations), so sending one again is safe; a device that gave up instead would
//! lose a reading to a moment of congestion.

use std::time::Duration;

/// How many times a throttled request is sent again before its 429 is the answer.
const RETRIES: u32 = 20;
/// The longest wait between two tries, whatever `Retry-After` says.
const LONGEST_WAIT: Duration = Duration::from_secs(10);

/// Sends `request`, again after each 429's `Retry-After` (1 s when it names none), up to
/// [`RETRIES`] times. A request whose body cannot be cloned (a stream) is sent once.
pub async fn send(request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
    let mut tries = 0;
    loop {
        let Some(again) = request.try_clone() else { return request.send().await };
        let response = again.send().await?;
        if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS || tries == RETRIES {
            return Ok(response);
        }
        tries += 1;
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(Duration::from_secs(1), Duration::from_secs);
        tracing::debug!(wait = ?wait, tries, "throttled by the grid; sending again");
        tokio::time::sleep(wait.min(LONGEST_WAIT)).await;
    }
}
