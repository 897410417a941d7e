//! `/healthz` (the process answers) and `/readyz` (the database answers and is migrated).

use poem::http::StatusCode;
use poem_openapi::payload::Json;

use super::HoverBot;
use crate::problem::Problem;
use crate::store;
use crate::store::availability::PROBE_DEADLINE;
use hoverbot_api::{
    GetHealthResponse, GetReadinessResponse, Health, HealthApi, HealthStatus, Readiness,
};

impl HealthApi for HoverBot {
    async fn get_health(&self) -> poem::Result<GetHealthResponse> {
        Ok(GetHealthResponse::Ok(Json(Health {
            status: HealthStatus::Ok,
        })))
    }

    async fn get_readiness(&self) -> poem::Result<GetReadinessResponse> {
        // The database's own answer, within the watch's deadline: a probe that hangs is a fail.
        let Ok(ready) = tokio::time::timeout(PROBE_DEADLINE, store::ready(&self.db)).await else {
            return Err(Problem::database_unavailable().into());
        };
        if let Err(err) = ready {
            tracing::warn!("not ready: {err:#}");
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "the database is not reachable or not migrated",
            )
            .into());
        }
        Ok(GetReadinessResponse::Ok(Json(Readiness {
            status: HealthStatus::Ok,
            database: HealthStatus::Ok,
        })))
    }
}
