//! Plain-text tables: columns padded to their widest cell.

/// `rows` as lines, each column left-aligned and two spaces apart,
/// trailing spaces trimmed.
pub(crate) fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(&format!("{cell:<width$}  "));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = [
            vec!["a".to_owned(), "bbb".to_owned(), "c".to_owned()],
            vec!["dddd".to_owned(), "e".to_owned()],
        ];
        assert_eq!(aligned(&rows), "a     bbb  c\ndddd  e\n");
    }
}
