//! The handlers: the implementation of the handler traits that `hoverbot_api` generates from the
//! spec, one module per resource, on [`HoverBot`], the server's shared state.

mod api_keys;
mod assistant_settings;
mod conversations;
mod escalations;
mod health;
mod installations;
mod knowledge_sources;
mod oauth_apps;
mod oauth_metadata;
mod turns;
mod webhook_deliveries;
mod webhook_endpoints;

use std::sync::Arc;

use crate::auth::{Authenticator, Caller, Principal};
use crate::ids::RequestId;
use crate::problem::ApiError;
use crate::store::Db;
use hoverbot_api::{OperationAccess, Scope, Security};

/// Where the assistant's own escalations go when the workspace did not say.
pub const DEFAULT_ESCALATION_DESTINATION: &str = "helpdesk";

/// What every handler shares.
pub struct HoverBot {
    pub db: Db,
    pub auth: Arc<Authenticator>,
    /// What the deployment promises about webhook delivery.
    pub webhooks: Arc<crate::webhooks::Delivery>,
    /// Seals the secrets the server keeps to use again (webhook signing secrets).
    pub sealer: Arc<crate::sealing::Sealer>,
    /// Sends webhook attempts under the deployment's outbound policy.
    pub sender: Arc<crate::delivery::attempt::Sender>,
    /// Where events go, in the transaction of the change that causes them.
    pub outbox: Arc<crate::store::outbox::Outbox>,
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
    /// Whose turn it is in each conversation being answered.
    pub(crate) turns: turns::Turns,
}

/// A request of the deployment's operator: which operator key made it.
pub struct OperatorContext {
    pub key_id: String,
}

/// An authorized request: who is calling, and the request id.
pub struct RequestContext {
    pub principal: Arc<Principal>,
    pub request_id: String,
}

impl Security for HoverBot {
    type Context = RequestContext;

    /// Reads the caller that `http::caller` resolved from this request's token (the router has
    /// parsed the same token), and checks the operation's scope, as `http::authorization` did
    /// before the body was read.
    async fn authorize(
        &self,
        request: &poem::Request,
        _token: &str,
        scope: Scope,
    ) -> poem::Result<RequestContext> {
        let caller = Caller::of(request);
        if let Some(problem) = caller.refusal(OperationAccess::Scope(scope)) {
            return Err(problem.into());
        }
        let Caller::Workspace(principal) = caller else {
            return Err(unresolved());
        };
        Ok(RequestContext {
            principal: principal.clone(),
            request_id: RequestId::of(request),
        })
    }

    type OperatorContext = OperatorContext;

    async fn authorize_operator(
        &self,
        request: &poem::Request,
        _token: &str,
    ) -> poem::Result<OperatorContext> {
        let caller = Caller::of(request);
        if let Some(problem) = caller.refusal(OperationAccess::Operator) {
            return Err(problem.into());
        }
        let Caller::Operator { key_id } = caller else {
            return Err(unresolved());
        };
        Ok(OperatorContext {
            key_id: key_id.clone(),
        })
    }
}

/// The caller could not be resolved (the key store failed, and the cause was logged): a 500.
fn unresolved() -> poem::Error {
    ApiError::internal(anyhow::anyhow!("the caller could not be resolved")).into()
}
