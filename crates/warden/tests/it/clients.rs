//! Integration tests of the account face: clients.
