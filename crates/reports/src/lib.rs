//! What runs write for people to read: PNG figures (plotters, with a bundled
//! DejaVu Sans font so plots render the same on every machine) and markdown.

pub mod markdown;
pub mod plot;
