//! Small markdown builders for reports.

/// A markdown table from a header and rows of cells.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for r in rows {
        s += &format!("| {} |\n", r.join(" | "));
    }
    s
}

/// An embedded image with alt text, on its own paragraph.
pub fn image(alt: &str, path: &str) -> String {
    format!("![{alt}]({path})\n\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_has_header_rule_and_rows() {
        let t = super::table(&["a", "b"], &[vec!["1".into(), "2".into()]]);
        assert_eq!(t, "| a | b |\n|---|---|\n| 1 | 2 |\n");
    }
}
