//! Small markdown builders for reports.

pub use meg_plumbing::markdown::table;

/// An embedded image with alt text, on its own paragraph.
pub fn image(alt: &str, path: &str) -> String {
    format!("![{alt}]({path})\n\n")
}
