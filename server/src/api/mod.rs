//! The HTTP API. `generated` is written by `cargo xtask codegen` from the spec: types, the router
//! and one handler trait per tag. The other modules implement those traits, one per resource, on
//! [`HoverBot`], the server's shared state.

pub mod generated;

mod api_keys;
mod assistant_settings;
mod conversations;
pub(crate) mod convert;
mod escalations;
mod health;
mod installations;
mod knowledge_sources;
mod oauth_apps;
mod oauth_metadata;
mod webhook_deliveries;
mod webhook_endpoints;

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::{Authenticator, Principal};
use crate::http::request_id::RequestId;
use crate::problem::Problem;
use generated::{Scope, Security};

/// The spec, as written: served at `/openapi.yaml`.
pub const SPEC_YAML: &str = include_str!("../../../openapi/hoverbot.yaml");
/// The same document as JSON (derived by `cargo xtask codegen`): served at `/openapi.json`.
pub const SPEC_JSON: &str = include_str!("../../../openapi/derived/hoverbot.json");

/// What every handler shares.
/// Where the assistant's own escalations go when the workspace did not say.
pub const DEFAULT_ESCALATION_DESTINATION: &str = "helpdesk";

pub struct HoverBot {
    pub db: DatabaseConnection,
    pub auth: Arc<Authenticator>,
    /// What the deployment promises about webhook delivery.
    pub webhooks: Arc<crate::webhooks::Delivery>,
    /// Seals the secrets the server keeps to use again (webhook signing secrets).
    pub sealer: Arc<crate::sealing::Sealer>,
    /// Sends webhook attempts under the deployment's outbound policy.
    pub sender: Arc<crate::webhooks::attempt::Sender>,
    /// Where events go, in the transaction of the change that causes them.
    pub outbox: Arc<crate::webhooks::outbox::Outbox>,
    /// Issues and opens the signed transcript links of `lead.qualified`.
    pub links: Arc<crate::transcript_links::TranscriptLinks>,
    /// The deployment's lead qualification threshold, for workspaces without their own.
    pub lead_qualification_threshold: i32,
    /// Wakes the knowledge syncer when a source is queued.
    pub syncs: Arc<tokio::sync::Notify>,
    /// The chunks the assistant retrieves from.
    pub knowledge: Arc<crate::knowledge::index::KnowledgeIndex>,
    /// The language model that phrases answers, when the deployment has one.
    pub language_model: Option<Arc<crate::assistant::llm::LanguageModel>>,
    /// The OAuth issuer identifier (the public URL), for the server metadata.
    pub oauth_issuer: String,
}

/// A request of the deployment's operator: which operator key made it.
pub struct OperatorContext {
    pub key_id: String,
}

/// An authorized request: who is calling, and the request id.
pub struct RequestContext {
    pub principal: Principal,
    pub request_id: String,
}

impl Security for HoverBot {
    type Context = RequestContext;

    async fn authorize(
        &self,
        request: &poem::Request,
        token: &str,
        scope: Scope,
    ) -> poem::Result<RequestContext> {
        let principal = self.auth.authenticate(token).await?;
        if !principal.scopes.contains(&scope) {
            return Err(Problem::forbidden(scope.as_str()).into());
        }
        let request_id = RequestId::of(request);
        Ok(RequestContext {
            principal,
            request_id,
        })
    }

    type OperatorContext = OperatorContext;

    async fn authorize_operator(
        &self,
        _request: &poem::Request,
        token: &str,
    ) -> poem::Result<OperatorContext> {
        let key = crate::store::operator_keys::find_live(&self.db, token)
            .await
            .map_err(crate::problem::ApiError::from)?
            .ok_or_else(|| {
                Problem::unauthorized("the bearer token is not a valid operator key", true)
            })?;
        Ok(OperatorContext { key_id: key.id })
    }
}
