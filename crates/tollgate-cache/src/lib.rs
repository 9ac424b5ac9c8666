//! tollgate-cache
