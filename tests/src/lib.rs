#![forbid(unsafe_code)]
//! Helpers for namespace-based integration tests.
