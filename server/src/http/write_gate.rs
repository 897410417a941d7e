//! One mutating request at a time on SQLite.
//!
//! SQLite has a single writer; a writer that finds the database locked sleeps in SQLite's busy
//! handler, milliseconds at a time, which made write latency jump by tens of milliseconds under
//! concurrency. Queuing mutating requests here, in a fair async queue, keeps their latency to the
//! time the writes take, while reads still run in parallel on the pool. PostgreSQL gets no gate.
//!
//! A request that waits on something other than the database (a registered URL's host name, which
//! a slow resolver answers in seconds) steps out of the queue for that wait with [`released`], so
//! that it does not hold every other tenant's writes.

use std::future::Future;
use std::sync::{Arc, Mutex};

use poem::http::Method;
use poem::{Endpoint, IntoResponse, Request, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The gate a request passed, and its place in it while it holds one.
struct Held {
    gate: Arc<Semaphore>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

tokio::task_local! {
    static HELD: Held;
}

pub async fn layer<E: Endpoint>(
    next: E,
    request: Request,
    gate: Arc<Semaphore>,
) -> poem::Result<Response> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.call(request).await.map(IntoResponse::into_response);
    }
    let held = Held {
        permit: Mutex::new(Some(enter(&gate).await?)),
        gate,
    };
    HELD.scope(held, async move {
        next.call(request).await.map(IntoResponse::into_response)
    })
    .await
}

async fn enter(gate: &Arc<Semaphore>) -> poem::Result<OwnedSemaphorePermit> {
    // The semaphore is never closed, so acquiring only waits.
    gate.clone()
        .acquire_owned()
        .await
        .map_err(|err| crate::problem::ApiError::internal(err).into())
}

/// Runs `wait` outside the gate, and queues again for it after. Only for waits that hold no
/// transaction open: a writer let in meanwhile would find the database locked by this request,
/// which would be queued behind it. One wait at a time: of two run side by side, the first to end
/// would take the gate back while the other still waits (a `released` inside another just runs).
/// Outside a gated request, it only runs `wait`.
pub async fn released<F: Future>(wait: F) -> F::Output {
    let gate = HELD
        .try_with(|held| {
            let permit = lock(&held.permit).take();
            permit.map(|permit| {
                drop(permit);
                held.gate.clone()
            })
        })
        .ok()
        .flatten();
    let output = wait.await;
    if let Some(gate) = gate {
        // The semaphore is never closed; were it, the request would go on ungated, as on
        // PostgreSQL.
        let permit = gate.acquire_owned().await.ok();
        let _ = HELD.try_with(|held| *lock(&held.permit) = permit);
    }
    output
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use poem::web::Data;
    use poem::{EndpointExt, handler};
    use tokio::sync::oneshot;

    use super::*;

    /// What the test's handler needs: the gate, a signal that it holds it, and the end of its wait.
    type Script = (
        Arc<Semaphore>,
        Arc<Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>>,
    );

    #[handler]
    async fn slow_lookup(Data(script): Data<&Script>) -> String {
        let (gate, signals) = script;
        let (holding, other_passed) = lock(signals).take().expect("called once");
        assert_eq!(gate.available_permits(), 0, "the request holds the gate");
        holding.send(()).unwrap();
        // Stands for a slow name lookup (made inside another released wait, as a check that
        // calls another would): it ends once another writer has passed the gate.
        released(async { released(other_passed).await })
            .await
            .unwrap();
        assert_eq!(gate.available_permits(), 0, "held again after the wait");
        "done".to_string()
    }

    /// While a gated request waits in `released`, another writer gets through; after it, the
    /// request holds the gate again.
    #[tokio::test]
    async fn a_released_wait_lets_other_writers_through() {
        let gate = Arc::new(Semaphore::new(1));
        let (holding_tx, holding_rx) = oneshot::channel();
        let (passed_tx, passed_rx) = oneshot::channel();
        let script: Script = (
            gate.clone(),
            Arc::new(Mutex::new(Some((holding_tx, passed_rx)))),
        );
        let request = Request::builder().method(Method::POST).finish();
        let gated = tokio::spawn(layer(slow_lookup.data(script), request, gate.clone()));
        let other = gate.clone();
        let writer = async move {
            holding_rx.await.unwrap();
            let _permit = other.acquire().await.unwrap();
            passed_tx.send(()).unwrap();
        };
        tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .expect("another writer passes the gate while the request waits outside it");
        let response = tokio::time::timeout(Duration::from_secs(10), gated)
            .await
            .expect("the request ends")
            .unwrap()
            .unwrap();
        assert!(response.status().is_success());
        assert_eq!(
            gate.available_permits(),
            1,
            "the gate is free after the request"
        );
    }

    #[tokio::test]
    async fn outside_a_gated_request_the_wait_just_runs() {
        assert_eq!(released(async { 7 }).await, 7);
    }
}
