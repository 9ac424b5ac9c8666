//! tollgate-cost
