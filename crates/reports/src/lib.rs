//! What runs write: PNG figures (plotters, with a bundled DejaVu Sans font so
//! plots render the same on every machine), markdown, comparison tables
//! (polars), sample grids, canonical results with their hashes and lock file, and the
//! index of the reports tree.

pub mod band;
pub mod canonical;
pub mod grid;
pub mod hashes;
pub mod index;
pub mod markdown;
pub mod plot;
pub mod table;
