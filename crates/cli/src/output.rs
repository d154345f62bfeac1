//! Where output goes and how it looks: tables and colour on a terminal, plain text when
//! piped, JSON with `--json`.

use serde::Serialize;
use std::io::{IsTerminal, Write};

/// A colour or emphasis.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    /// Success.
    Green,
    /// Failure.
    Red,
    /// Warning, waiting.
    Yellow,
    /// Names, ids.
    Cyan,
    /// Secondary text.
    Dim,
    /// Headings.
    Bold,
}

/// The output settings of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// `--json`.
    pub json: bool,
    /// Standard output is a terminal.
    pub tty: bool,
    /// Colour is on (a terminal and no `NO_COLOR`).
    pub color: bool,
}

impl Out {
    /// Settings from the environment.
    pub fn detect(json: bool) -> Self {
        let tty = std::io::stdout().is_terminal();
        let color = tty && !json && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Out { json, tty, color }
    }

    /// `text` in `style` when colour is on.
    pub fn paint(&self, style: Style, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match style {
            Style::Green => "32",
            Style::Red => "31",
            Style::Yellow => "33",
            Style::Cyan => "36",
            Style::Dim => "2",
            Style::Bold => "1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// Prints one line.
    pub fn line(&self, text: impl AsRef<str>) {
        let _ = self.write_line(text);
    }

    /// Prints one line, saying whether it could be written (a closed pipe: `BrokenPipe`).
    pub fn write_line(&self, text: impl AsRef<str>) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", text.as_ref())?;
        stdout.flush()
    }

    /// Prints `value` as one JSON line.
    pub fn json_line<T: Serialize + ?Sized>(&self, value: &T) {
        let _ = self.write_json_line(value);
    }

    /// Prints `value` as one JSON line, saying whether it could be written.
    pub fn write_json_line<T: Serialize + ?Sized>(&self, value: &T) -> std::io::Result<()> {
        match serde_json::to_string(value) {
            Ok(s) => self.write_line(s),
            Err(e) => {
                tracing::warn!(error = %e, "value does not encode as JSON");
                Ok(())
            }
        }
    }

    /// Prints a table: a bold header on a terminal, columns padded to their widest cell.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(visible_len(cell));
                }
            }
        }
        let render = |cells: Vec<String>| -> String {
            let last = cells.len().saturating_sub(1);
            cells
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == last {
                        c
                    } else {
                        let pad = widths[i].saturating_sub(visible_len(&c));
                        format!("{c}{}", " ".repeat(pad))
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        };
        let head: Vec<String> = headers.iter().map(|h| self.paint(Style::Bold, h)).collect();
        self.line(render(head));
        for row in rows {
            self.line(render(row.clone()));
        }
    }
}

/// Characters shown, leaving out colour escapes.
fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// Prints a transient progress line on standard error (terminal only).
pub fn progress(text: &str) {
    if std::io::stderr().is_terminal() {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
    }
}

/// Ends a progress line.
pub fn progress_done() {
    if std::io::stderr().is_terminal() {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_do_not_count_as_width() {
        let out = Out {
            json: false,
            tty: true,
            color: true,
        };
        assert_eq!(visible_len(&out.paint(Style::Red, "failed")), 6);
        let plain = Out {
            json: false,
            tty: false,
            color: false,
        };
        assert_eq!(plain.paint(Style::Red, "failed"), "failed");
    }
}
