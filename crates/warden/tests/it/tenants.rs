//! Integration tests of the account face: tenants.
