//! Identities and access: roles, permissions, tenant scopes, users, API keys, sessions and the audit log.
//!
//! The role → permission table here is the one place that decides who may do what; every API route
//! declares the [`Permission`] it needs in its OpenAPI `security` entry.
//!
//! `access` holds roles, permissions, scopes and the caller; `accounts` users, keys, sessions and
//! the audit log.

mod access;
mod accounts;

pub use access::*;
pub use accounts::*;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (hashing cost does not depend on it, but there is no reason for more).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest e-mail address accepted (RFC 5321).
pub const MAX_EMAIL_CHARS: usize = 254;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{TenantId, UserId};
    use uuid::Uuid;

    #[test]
    fn permissions_round_trip_and_roles_nest() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
            assert!(Role::PlatformAdmin.permits(p));
            if Role::Viewer.permits(p) {
                assert!(Role::Operator.permits(p), "{p}");
            }
            if Role::Operator.permits(p) {
                assert!(Role::TenantAdmin.permits(p), "{p}");
            }
        }
        assert!(!Role::TenantAdmin.permits(Permission::TenantsWrite));
        assert!(!Role::Viewer.permits(Permission::CamerasWrite));
        assert!(Role::TenantAdmin.may_grant(Role::Viewer));
        assert!(!Role::Operator.may_grant(Role::TenantAdmin));
    }

    #[test]
    fn emails_and_passwords() {
        assert!(validate_email("email", "a@b").is_ok());
        for bad in ["", "ab", "@b", "a@", "a b@c", "a@b@c"] {
            assert!(validate_email("email", bad).is_err(), "{bad}");
        }
        assert!(validate_password("password", "short").is_err());
        assert!(validate_password("password", "long enough pass").is_ok());
    }

    #[test]
    fn a_tenant_role_without_tenant_sees_nothing() {
        let p = Principal {
            user_id: UserId::new(),
            email: "x@y".into(),
            tenant_id: None,
            role: Role::Viewer,
            credential: Credential::Session(Uuid::nil()),
        };
        assert!(!p.scope().allows(TenantId::new()));
    }
}
