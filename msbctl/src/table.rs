//! Tables for people: a header and left-aligned columns two spaces apart, as `ps` prints
//! them. A cell may be painted: its colour codes take no room, so columns stay aligned.

/// One cell: the text that takes room, and the same text with colour codes around it where
/// it is painted.
pub struct Cell {
    text: String,
    painted: Option<String>,
}

impl Cell {
    /// A cell printed as `shown`, which is `text` with colour codes around it.
    pub fn painted(text: &str, shown: String) -> Self {
        Self {
            text: text.to_string(),
            painted: Some(shown),
        }
    }

    /// What is printed.
    fn shown(&self) -> &str {
        self.painted.as_deref().unwrap_or(&self.text)
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Self {
            text,
            painted: None,
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

const SPACES: &str = "                                ";

/// The room `text` takes: a character a column. Most cells are ASCII, whose bytes are its
/// characters and are checked a word at a time.
fn width(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

/// The table's text, each column as wide as its widest cell, no space trailing a line.
pub fn lines(table: &Table) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in &table.rows {
        for (i, cell) in row.iter().enumerate() {
            let width = width(&cell.text);
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    // One string for the whole table, sized for it unpainted: a session list is hundreds of
    // cells.
    let line: usize = widths.iter().map(|w| w + 2).sum();
    let mut out = String::with_capacity(table.rows.len() * (line + 1));
    for (i, row) in table.rows.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let start = out.len();
        for (cell, width) in row.iter().zip(&widths) {
            out.push_str(cell.shown());
            let mut pad = width - self::width(&cell.text) + 2;
            // A run of spaces at a time: a list of a hundred sessions pads eight hundred cells.
            while pad > 0 {
                let run = pad.min(SPACES.len());
                out.push_str(&SPACES[..run]);
                pad -= run;
            }
        }
        let kept = out[start..].trim_end().len();
        out.truncate(start + kept);
    }
    out
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

    #[test]
    fn a_character_is_a_column_whatever_its_bytes_and_long_cells_pad_in_full() {
        let mut t = table(&["NAME", "X"]);
        t.add_row(["héllo", "1"]);
        assert_eq!(lines(&t), "NAME   X\nhéllo  1");
        let long = "x".repeat(40);
        let mut t = table(&["A", "B"]);
        t.add_row([long.as_str(), "1"]);
        assert_eq!(lines(&t), format!("A{}B\n{long}  1", " ".repeat(41)));
    }

    #[test]
    fn a_blank_row_is_an_empty_line_and_no_line_ends_in_spaces() {
        let mut t = table(&["A", "B"]);
        t.add_row(["", ""]);
        t.add_row(["long value", ""]);
        assert_eq!(lines(&t), "A           B\n\nlong value");
    }
}
