//! An OAuth 2.0 marketplace app, registered by the platform operator; its id is its `client_id`.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_apps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// A JSON array of the redirect URIs, matched exactly.
    pub redirect_uris: String,
    /// The scopes the app may ask for, separated by single spaces.
    pub scopes: String,
    /// A confidential app authenticates with its client secret; a public one with PKCE alone.
    pub confidential: bool,
    /// The start of the client secret, kept in clear so it can be recognised.
    pub secret_prefix: Option<String>,
    /// Lowercase hex SHA-256 of the client secret.
    pub secret_hash: Option<String>,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
