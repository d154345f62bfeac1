//! A 3×5 pixel font for chart labels, so charts need no font files or fontconfig.
//! Lower-case letters, digits and `. - _ / %`; anything else is drawn as a blank.

/// Rows of a glyph, top to bottom; bit 2 is the left column.
pub fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_lowercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 2, 2, 2],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'a' => [2, 5, 7, 5, 5],
        'b' => [6, 5, 6, 5, 6],
        'c' => [3, 4, 4, 4, 3],
        'd' => [6, 5, 5, 5, 6],
        'e' => [7, 4, 6, 4, 7],
        'f' => [7, 4, 6, 4, 4],
        'g' => [3, 4, 5, 5, 3],
        'h' => [5, 5, 7, 5, 5],
        'i' => [7, 2, 2, 2, 7],
        'j' => [1, 1, 1, 5, 2],
        'k' => [5, 5, 6, 5, 5],
        'l' => [4, 4, 4, 4, 7],
        'm' => [5, 7, 7, 5, 5],
        'n' => [6, 5, 5, 5, 5],
        'o' => [2, 5, 5, 5, 2],
        'p' => [6, 5, 6, 4, 4],
        'q' => [2, 5, 5, 6, 3],
        'r' => [6, 5, 6, 5, 5],
        's' => [3, 4, 2, 1, 6],
        't' => [7, 2, 2, 2, 2],
        'u' | 'µ' => [5, 5, 5, 5, 7],
        'v' => [5, 5, 5, 5, 2],
        'w' => [5, 5, 7, 7, 5],
        'x' => [5, 5, 2, 5, 5],
        'y' => [5, 5, 2, 2, 2],
        'z' => [7, 1, 2, 4, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        '_' => [0, 0, 0, 0, 7],
        '/' => [1, 1, 2, 4, 4],
        '%' => [5, 1, 2, 4, 5],
        _ => [0; 5],
    }
}

/// The lit pixels of `text` at `scale` pixels per font pixel, as `(x, y)` squares from the
/// text's top-left corner; characters advance 4 font pixels.
pub fn pixels(text: &str, scale: i32) -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    for (i, c) in text.chars().enumerate() {
        let left = i as i32 * 4 * scale;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    out.push((left + col * scale, row as i32 * scale));
                }
            }
        }
    }
    out
}

/// Width in pixels of `text` at `scale`.
pub fn width(text: &str, scale: i32) -> i32 {
    (text.chars().count() as i32 * 4 - 1).max(0) * scale
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_narrower_than_eight() {
        assert!(super::pixels("1", 1).len() < super::pixels("8", 1).len());
        assert_eq!(super::width("ab", 2), 14);
    }
}
