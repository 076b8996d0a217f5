//! Integration tests of the account face: policies.
