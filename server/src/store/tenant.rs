//! Tenant isolation: a [`WorkspaceId`] comes only from an authenticated principal, a transcript
//! link the deployment signed, an operator's command, or a row of that workspace a background job
//! claimed; and [`TenantScoped`]'s `find_in`, `update_in` and `delete_in` are how a tenant's rows
//! are read, changed and deleted. `cargo xtask lint` fails on any other query of a tenant's
//! entity, unless its function says `// cross-tenant: why` (the claims of background workers, the
//! purges, and the lookups of a presented secret by its hash, which comes before any workspace is
//! known).

use sea_orm::{ColumnTrait, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany};

use super::entity::{
    api_key, conversation, escalation, idempotency_key, knowledge_chunk, knowledge_source, message,
    oauth_installation, oauth_token, webhook_attempt, webhook_delivery, webhook_endpoint,
    webhook_event,
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

    /// An update of `workspace`'s rows, and no others.
    fn update_in(workspace: &WorkspaceId) -> UpdateMany<Self> {
        Self::update_many().filter(Self::workspace_column().eq(workspace.as_str()))
    }

    /// A delete of `workspace`'s rows, and no others.
    fn delete_in(workspace: &WorkspaceId) -> DeleteMany<Self> {
        Self::delete_many().filter(Self::workspace_column().eq(workspace.as_str()))
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
    oauth_token,
    webhook_attempt,
    webhook_delivery,
    webhook_endpoint,
    webhook_event
);
