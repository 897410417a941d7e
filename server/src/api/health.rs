//! `/healthz` (the process answers) and `/readyz` (the database answers and is migrated).

use poem::http::StatusCode;
use poem_openapi::payload::Json;

use super::HoverBot;
use crate::problem::Problem;
use crate::store;
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
        if let Err(err) = store::ready(&self.db).await {
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
