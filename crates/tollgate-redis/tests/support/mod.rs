//! Test support shared with other crates' tests (included by path).

pub mod cluster;
