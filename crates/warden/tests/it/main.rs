//! Integration tests: each starts the real application in-process on port 0 with a fresh
//! database in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account;
mod app_credentials;
mod audit;
mod authz_matrix;
mod binary;
mod catalog;
mod clients;
mod compat;
mod concurrency;
mod crash;
mod credentials;
mod directory;
mod domain_config;
mod enumeration;
mod fuzz_parsers;
mod fuzz_routes;
mod helpers;
mod iam;
mod iam_users;
mod keystone;
mod keystone_admin;
mod keystone_extras;
mod limits;
mod lockout;
mod multinode;
mod openapi;
mod openstack;
mod policies;
mod service;
mod tempest;
mod tenants;
