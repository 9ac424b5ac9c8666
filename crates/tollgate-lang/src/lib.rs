//! tollgate's rules language.
//!
//! Text -> checked [`Policy`]: TOML files parsed with their spans, `when`
//! expressions parsed by a pest grammar (a CEL subset) and type-checked
//! against the attribute [`Schema`], lints, and located diagnostics.

pub mod diag;
pub mod expr;
pub mod schema;
pub mod source;

pub use diag::{Diagnostic, LoadError, Severity};
pub use schema::{AttrDef, AttrId, Elem, Schema, Type};
pub use source::{FileId, SourceFile, SourceMap, Span};
pub mod policy;
pub mod pricing;

pub use policy::{Policy, Section, ModelIdx};
