//! Tenant isolation at the type level: a [`WorkspaceId`] comes only from an authenticated principal,
//! a transcript link the deployment signed, an operator's command, or a row of that workspace a
//! background job claimed; and [`TenantScoped::find_in`] is how a tenant's rows are loaded, so a
//! query without the workspace filter does not type-check in the repositories.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Select};

use super::entity::{
    api_key, conversation, escalation, idempotency_key, knowledge_chunk, knowledge_source, message,
    oauth_installation, webhook_attempt, webhook_delivery, webhook_endpoint, webhook_event,
};

/// The workspace a request acts for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkspaceId(String);

impl WorkspaceId {
    /// Only the store mints these, from rows it loaded (a key's workspace, a workspace by name),
    /// and the transcript links, from a token whose signature they checked.
    pub(crate) fn from_row(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An entity whose rows belong to one workspace.
pub trait TenantScoped: EntityTrait {
    fn workspace_column() -> Self::Column;

    /// Every row of `workspace`, and nothing else.
    fn find_in(workspace: &WorkspaceId) -> Select<Self> {
        Self::find().filter(Self::workspace_column().eq(workspace.as_str()))
    }
}

macro_rules! tenant_scoped {
    ($($module:ident),*) => {$(
        impl TenantScoped for $module::Entity {
            fn workspace_column() -> Self::Column {
                $module::Column::WorkspaceId
            }
        }
    )*};
}

tenant_scoped!(
    api_key,
    conversation,
    escalation,
    idempotency_key,
    knowledge_chunk,
    knowledge_source,
    message,
    oauth_installation,
    webhook_attempt,
    webhook_delivery,
    webhook_endpoint,
    webhook_event
);
