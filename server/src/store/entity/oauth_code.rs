//! An authorization code: single-use, short-lived, kept as the SHA-256 of the code. Its row also
//! stands for the family of tokens issued from it.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    pub installation_id: String,
    pub app_id: String,
    /// The `redirect_uri` of the authorization request, when it named one: the token request must
    /// name the same.
    pub redirect_uri: Option<String>,
    /// The scopes approved, separated by single spaces.
    pub scopes: String,
    /// The PKCE `code_challenge` (S256).
    pub code_challenge: String,
    /// The family the code's tokens will belong to.
    pub family_id: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    /// When every token of the family was revoked (a reuse, a revocation, an uninstall).
    pub family_revoked_at: Option<DateTimeUtc>,
    #[sea_orm(belongs_to, from = "installation_id", to = "id", on_delete = "Cascade")]
    pub installation: BelongsTo<super::oauth_installation::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
