//! A website on loopback for crawls to read: pages by path, each with its status, type and
//! headers, changeable while the site runs, and a log of the paths requested.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use poem::http::StatusCode;

use crate::support::serve_on_loopback;

/// What the site answers at a path.
#[derive(Clone)]
pub struct Page {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub location: Option<String>,
}

impl Page {
    pub fn html(body: &str) -> Self {
        Self::typed("text/html; charset=utf-8", body.as_bytes().to_vec())
    }

    pub fn typed(content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status: 200,
            content_type,
            body,
            location: None,
        }
    }

    pub fn status(status: u16) -> Self {
        Self {
            status,
            content_type: "text/plain",
            body: format!("status {status}").into_bytes(),
            location: None,
        }
    }

    pub fn redirect(to: &str) -> Self {
        Self {
            location: Some(to.to_string()),
            ..Self::status(301)
        }
    }
}

pub struct Site {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub base: String,
    pages: Arc<Mutex<HashMap<String, Page>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Site {
    /// Serves `pages` (by path and query, as in `/articles/a?x=1`); other paths are 404.
    pub async fn serve(pages: Vec<(&str, Page)>) -> Self {
        let pages: Arc<Mutex<HashMap<String, Page>>> = Arc::new(Mutex::new(
            pages
                .into_iter()
                .map(|(path, page)| (path.to_string(), page))
                .collect(),
        ));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = {
            let (pages, requests) = (pages.clone(), requests.clone());
            poem::endpoint::make_sync(move |request: poem::Request| {
                let path = request
                    .uri()
                    .path_and_query()
                    .map(|pq| pq.as_str().to_string())
                    .unwrap_or_default();
                requests.lock().unwrap().push(path.clone());
                let page = pages
                    .lock()
                    .unwrap()
                    .get(&path)
                    .cloned()
                    .unwrap_or_else(|| Page::status(404));
                let mut response = poem::Response::builder()
                    .status(StatusCode::from_u16(page.status).unwrap())
                    .content_type(page.content_type);
                if let Some(location) = &page.location {
                    response = response.header("location", location.as_str());
                }
                response.body(page.body)
            })
        };
        let addr = serve_on_loopback(app).await;
        Self {
            base: format!("http://{addr}"),
            pages,
            requests,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Changes (or adds) the page at `path`.
    pub fn set(&self, path: &str, page: Page) {
        self.pages.lock().unwrap().insert(path.to_string(), page);
    }

    /// The paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// How many times `path` was requested.
    pub fn hits(&self, path: &str) -> usize {
        self.requests().iter().filter(|p| *p == path).count()
    }
}
