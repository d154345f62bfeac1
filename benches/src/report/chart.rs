//! A PNG bar chart per benchmark group: one bar per backend, height = median time per
//! iteration (lower is better), in the backends' colours, labelled with the built-in pixel
//! font of [`glyphs`](super::glyphs) (no font files, no fontconfig).

use super::estimates::Measurement;
use super::format::duration;
use super::glyphs::{pixels, width};
use super::layout::colour;
use super::Result;
use plotters::prelude::*;
use std::path::Path;

const W: i32 = 360;
const H: i32 = 200;
const TOP: i32 = 30;
const BOTTOM: i32 = H - 26;
const SIDE: i32 = 8;

/// The label under a bar: the backend's name, shortened to fit.
fn short(backend: &str) -> &str {
    match backend {
        "sqlite-immediate" => "sqlite-imm",
        "sqlite-relaxed" => "sqlite-rel",
        "mongo-secantusdb" => "mongo-test",
        "write_4k_fdatasync" => "fdatasync",
        other => other,
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Draws `text` centred on `cx` with its top at `y`, at the largest scale (2 or 1) that fits
/// in `room` pixels.
fn label(area: &Area<'_>, text: &str, cx: i32, y: i32, room: i32) -> Result<()> {
    let scale = if width(text, 2) <= room { 2 } else { 1 };
    let left = cx - width(text, scale) / 2;
    for (x, py) in pixels(text, scale) {
        let (x, py) = (left + x, y + py);
        area.draw(&Rectangle::new(
            [(x, py), (x + scale, py + scale)],
            BLACK.filled(),
        ))
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Draws the chart of `group` with `bars` (already in report order) into a PNG at `path`.
pub fn draw(path: &Path, group: &str, bars: &[&Measurement]) -> Result<()> {
    let area = BitMapBackend::new(path, (W as u32, H as u32)).into_drawing_area();
    let fail = |e: String| format!("{}: {e}", path.display());
    area.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    label(&area, group, W / 2, 8, W - 2 * SIDE).map_err(|e| fail(e.to_string()))?;
    let max = bars.iter().map(|m| m.median_ns).fold(0.0, f64::max);
    let slot = (W - 2 * SIDE) / bars.len().max(1) as i32;
    let grid = RGBColor(225, 225, 225);
    for i in 1..=4 {
        let y = BOTTOM - (BOTTOM - TOP - 14) * i / 4;
        area.draw(&PathElement::new([(SIDE, y), (W - SIDE, y)], grid))
            .map_err(|e| fail(e.to_string()))?;
    }
    for (i, m) in bars.iter().enumerate() {
        let x0 = SIDE + slot * i as i32;
        let cx = x0 + slot / 2;
        let fraction = if max > 0.0 { m.median_ns / max } else { 0.0 };
        let top = BOTTOM - ((BOTTOM - TOP - 14) as f64 * fraction).round() as i32;
        let (r, g, b) = colour(&m.backend);
        area.draw(&Rectangle::new(
            [(x0 + slot / 7, top), (x0 + slot - slot / 7, BOTTOM)],
            RGBColor(r, g, b).filled(),
        ))
        .map_err(|e| fail(e.to_string()))?;
        label(&area, &duration(m.median_ns), cx, top - 13, slot - 2)
            .map_err(|e| fail(e.to_string()))?;
        label(&area, short(&m.backend), cx, BOTTOM + 6, slot - 2)
            .map_err(|e| fail(e.to_string()))?;
    }
    area.draw(&PathElement::new(
        [(SIDE, BOTTOM), (W - SIDE, BOTTOM)],
        BLACK.stroke_width(2),
    ))
    .map_err(|e| fail(e.to_string()))?;
    area.present().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
