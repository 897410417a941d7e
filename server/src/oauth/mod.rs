//! OAuth 2.0 for multi-tenant marketplace apps (RFC 6749 with the OAuth 2.1 rules: PKCE for every
//! client, exact redirect URIs). An app is registered once by the platform operator
//! (`hoverbot apps create`) and installed by workspaces.

pub mod apps;
