//! Jinlin's domain: pure types and rules, no I/O.
//!
//! Feature modules carry the same names in every crate (`accounts`, `regions`, …) so a feature is
//! easy to find from the binary down to these rules.

pub mod accounts;
pub mod cases;
pub mod categories;
pub mod crs;
pub mod deadlines;
pub mod grids;
pub mod people;
pub mod questions;
pub mod regions;
pub mod stats;
