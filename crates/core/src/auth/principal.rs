//! The one shape every validator's answer takes.

use std::collections::BTreeMap;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Principal {
    /// Stable across sessions and unique across validators: `{validator}:{sub}`.
    pub subject: String,
    /// The id of the validator that verified the credential.
    pub validator: String,
    pub email: Option<String>,
    /// Whether the issuer says it verified `email`.
    pub email_verified: bool,
    pub name: Option<String>,
    /// The caller's login at the issuer when it has one besides `name` (a GitHub login).
    pub login: Option<String>,
    pub tenant: Option<String>,
    pub groups: Vec<String>,
    /// Scopes the credential grants (`scope` / `scp`).
    pub scopes: Vec<String>,
    /// How the user authenticated (`amr`), when the issuer says.
    pub auth_methods: Vec<String>,
    /// When the credential stops being valid, in seconds since the Unix epoch.
    pub expires_at: Option<i64>,
    /// The credential's own id (a Portcullis access token's `jti`, an API key's or service
    /// token's id), so that revoking it can drop it from caches and end its streams.
    pub token_id: Option<String>,
    /// The grant a Portcullis access token was issued under: revoking the grant stops it.
    pub grant_id: Option<String>,
    /// The OAuth client a Portcullis access token was issued to (its `client_id` claim).
    pub client_id: Option<String>,
}

impl Principal {
    /// A principal with the subject `{validator}:{sub}`.
    pub fn new(validator: &str, sub: &str) -> Self {
        Principal {
            subject: format!("{validator}:{sub}"),
            validator: validator.to_owned(),
            ..Principal::default()
        }
    }

    /// The principal as authorization conditions see it; `service`: whether the policy
    /// treats it as a service principal rather than a person.
    pub fn condition_caller(&self, service: bool) -> portcullis_policy::conditions::Caller<'_> {
        portcullis_policy::conditions::Caller {
            subject: &self.subject,
            validator: &self.validator,
            service,
            tenant: self.tenant.as_deref(),
            email: self.email.as_deref(),
            email_verified: self.email_verified,
            name: self.name.as_deref(),
            login: self.login.as_deref(),
            client_id: self.client_id.as_deref(),
            groups: &self.groups,
            scopes: &self.scopes,
            amr: &self.auth_methods,
        }
    }
}

/// `[tenants]`: how a principal's tenant is found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tenants {
    /// Lower-case email domain → tenant.
    pub by_email_domain: BTreeMap<String, String>,
}

impl Tenants {
    /// The tenant of a verified email address, if its domain is mapped. Unverified addresses
    /// never place anyone in a tenant.
    pub fn for_email(&self, email: &str, verified: bool) -> Option<&str> {
        if !verified {
            return None;
        }
        let (_, domain) = email.rsplit_once('@')?;
        self.by_email_domain
            .get(&domain.to_ascii_lowercase())
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_needs_a_verified_mapped_domain() {
        let tenants = Tenants {
            by_email_domain: [("acme.com".to_owned(), "acme".to_owned())].into(),
        };
        assert_eq!(tenants.for_email("a@ACME.com", true), Some("acme"));
        assert_eq!(tenants.for_email("a@acme.com", false), None);
        assert_eq!(tenants.for_email("a@evil.com", true), None);
        assert_eq!(tenants.for_email("no-at-sign", true), None);
    }

    #[test]
    fn subject_is_prefixed_by_the_validator() {
        assert_eq!(Principal::new("google", "123").subject, "google:123");
    }
}
