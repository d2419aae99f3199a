//! Tables for people: a header and left-aligned columns two spaces apart, as `ps` prints
//! them. A cell may be painted: its colour codes take no room, so columns stay aligned.

/// One cell: the text that takes room, and what is printed (the text, perhaps painted).
pub struct Cell {
    text: String,
    shown: String,
}

impl Cell {
    /// A cell printed as `shown`, which is `text` with colour codes around it.
    pub fn painted(text: &str, shown: String) -> Self {
        Self {
            text: text.to_string(),
            shown,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Self {
            shown: text.clone(),
            text,
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Self::from(text.to_string())
    }
}

pub struct Table {
    rows: Vec<Vec<Cell>>,
}

/// A table with this header row.
pub fn table(header: &[&str]) -> Table {
    Table {
        rows: vec![header.iter().map(|h| Cell::from(*h)).collect()],
    }
}

impl Table {
    pub fn add_row<C: Into<Cell>>(&mut self, row: impl IntoIterator<Item = C>) -> &mut Self {
        self.rows.push(row.into_iter().map(Into::into).collect());
        self
    }
}

/// The table's text, each column as wide as its widest cell, no space trailing a line.
pub fn lines(table: &Table) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in &table.rows {
        for (i, cell) in row.iter().enumerate() {
            let width = cell.text.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut out = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(&cell.shown);
            let pad = width - cell.text.chars().count() + 2;
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push(line.trim_end().to_string());
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_whatever_is_painted() {
        let mut t = table(&["TASK", "STATE"]);
        t.add_row(["session-cleanup", "running"]);
        t.add_row([
            Cell::from("x"),
            Cell::painted("paused", "\x1b[33mpaused\x1b[0m".into()),
        ]);
        assert_eq!(
            lines(&t),
            "TASK             STATE\n\
             session-cleanup  running\n\
             x                \x1b[33mpaused\x1b[0m"
        );
    }
}
