//! How figures are written in the report: durations with a unit, counts with thin grouping.

/// Three significant digits with a unit: `812 ns`, `4.31 µs`, `57.7 µs`, `1.27 ms`, `2.05 s`.
pub fn duration(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if value < 10.0 {
        format!("{value:.2} {unit}")
    } else if value < 100.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

/// A rate or count rounded to three significant digits and grouped by thousands:
/// `1 250 000`, `61 300`, `812`.
pub fn count(n: f64) -> String {
    if !n.is_finite() || n < 0.0 {
        return "?".into();
    }
    let digits = if n >= 1.0 {
        n.log10().floor() as i32 + 1
    } else {
        1
    };
    let scale = 10f64.powi((digits - 3).max(0));
    let rounded = ((n / scale).round() * scale) as u64;
    let s = rounded.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(duration(812.0), "812 ns");
        assert_eq!(duration(4_312.0), "4.31 µs");
        assert_eq!(duration(57_712.0), "57.7 µs");
        assert_eq!(duration(576_920.0), "577 µs");
        assert_eq!(count(1_251_234.0), "1 250 000");
        assert_eq!(count(61_349.0), "61 300");
        assert_eq!(count(812.4), "812");
    }
}
