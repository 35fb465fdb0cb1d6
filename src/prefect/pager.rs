//! The one pager for Prefect's offset-paged filter endpoints (`…/filter` with `limit` and `offset`).
//!
//! Offset paging over rows that change while they are read can skip and repeat: a run that leaves the
//! filtered set moves every later row one place up. So pages overlap by a few rows, every row is kept
//! once by its key, and a page that shares no row with what was read before (more rows left than the
//! overlap covers) is read again from one page earlier. Callers sort on a unique key (`ID_DESC` for
//! flow runs) where the order does not matter, so ties never reorder rows between pages. The page size
//! is the server's own limit, learnt by the client from a 422 when it is lower than 200.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::client::{ApiError, ApiPath, Client};
use super::types::{FlowRun, WorkPool, WorkQueue, Worker};

/// What identifies a row across pages.
pub trait Keyed {
    fn key(&self) -> &str;
}

impl Keyed for FlowRun {
    fn key(&self) -> &str {
        &self.id
    }
}

impl Keyed for WorkQueue {
    fn key(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.name)
    }
}

impl Keyed for Worker {
    fn key(&self) -> &str {
        &self.name
    }
}

impl Keyed for WorkPool {
    fn key(&self) -> &str {
        &self.name
    }
}

/// How many times a scan steps back a page after rows moved by more than the overlap.
const MAX_STEP_BACKS: usize = 8;

/// Rows of a page that the next page reads again: a tenth of the page, at least one.
fn overlap(page: usize) -> usize {
    (page / 10).max(1)
}

/// Every row of a paged endpoint, each once.
pub async fn all<T: DeserializeOwned + Keyed>(client: &Client, path: ApiPath, body: Value) -> Result<Vec<T>, ApiError> {
    capped(client, path, body, usize::MAX).await.map(|(rows, _)| rows)
}

/// The rows of a paged endpoint in the body's order, each once, stopping after `max_pages` full pages
/// (a budget in requests, whatever the server's page size); and whether it stopped there (then there
/// may be more).
pub async fn capped<T: DeserializeOwned + Keyed>(
    client: &Client,
    path: ApiPath,
    body: Value,
    max_pages: usize,
) -> Result<(Vec<T>, bool), ApiError> {
    let mut pages = 0;
    let mut seen: HashSet<String> = HashSet::new();
    let mut rows: Vec<T> = Vec::new();
    let mut offset: usize = 0;
    let mut step_backs = 0;
    loop {
        let mut b = body.clone();
        b["limit"] = json!(client.page_size());
        b["offset"] = json!(offset);
        let page: Vec<T> = client.post(path.clone(), &b).await?;
        // The page size may have been learnt on this very request.
        let size = client.page_size();
        let moved = offset > 0 && !page.is_empty() && !page.iter().any(|r| seen.contains(r.key()));
        if moved && step_backs < MAX_STEP_BACKS {
            step_backs += 1;
            offset = offset.saturating_sub(size);
            continue;
        }
        let n = page.len();
        for r in page {
            if seen.insert(r.key().to_string()) {
                rows.push(r);
            }
        }
        if n < size {
            return Ok((rows, false));
        }
        pages += 1;
        if pages >= max_pages {
            return Ok((rows, true));
        }
        offset += size - overlap(size).min(size - 1);
    }
}
