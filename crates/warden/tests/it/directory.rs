//! Integration tests of the account face: directory.
