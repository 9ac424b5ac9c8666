//! tollgate's rules language.
//!
//! Text -> checked [`Policy`]: TOML files parsed with their spans, `when`
//! expressions parsed by a pest grammar (a CEL subset) and type-checked
//! against the attribute [`Schema`], lints, and located diagnostics.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The pest parser is generated for `no_std` (see the workspace manifest) and
// names `alloc::boxed::Box`.
extern crate alloc;

pub mod diag;
pub mod expr;
pub mod schema;
pub mod source;
pub mod time;
pub mod typed;

pub use diag::{Diagnostic, LoadError, Severity};
pub use schema::{AttrDef, AttrId, Elem, Schema, Type};
pub use source::{FileId, SourceFile, SourceMap, Span};
pub use typed::{kind, Attr, AttrError};
pub mod policy;
mod policy_prices;
pub mod pricing;
pub mod router;

pub use policy::{ModelIdx, Policy, Section, Sections};
pub mod constraint;
pub mod lint;
pub mod load;
mod tomlstr;

pub use load::{load_path, load_sources, load_str, parse_duration, Limits, LoadOptions, Loaded};
