//! Markdown tables, for the reports and for xtask's benchmark record.

/// A markdown table from a header and rows of cells (cells are written as
/// they are: escape `|` in them first).
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

#[cfg(test)]
mod tests {
    #[test]
    fn table_has_header_rule_and_rows() {
        let t = super::table(&["a", "b"], &[vec!["1".into(), "2".into()]]);
        assert_eq!(t, "| a | b |\n|---|---|\n| 1 | 2 |\n");
    }
}
