//! PNG figures: scatter and heatmap panels side by side, and line plots.
//!
//! Figures are drawn into an RGB buffer, PNG-encoded in memory and written
//! atomically, so a half-drawn file never appears under the final name.

use anyhow::{anyhow, bail, Result};
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use std::path::Path;
use std::sync::Once;

static FONT: Once = Once::new();
const FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

pub(crate) fn ensure_font() {
    FONT.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT_BYTES);
    });
}

/// Values on a square grid over `[lo, hi]²`, row-major with row = y ascending.
pub struct Grid<'a> {
    pub size: usize,
    pub values: &'a [f64],
    pub lo: f64,
    pub hi: f64,
}

/// One panel of a figure.
pub enum Panel<'a> {
    /// Points (x, y) in the square `[lo, hi]²`.
    Scatter {
        title: &'a str,
        points: &'a [[f32; 2]],
        lo: f64,
        hi: f64,
    },
    /// A grid drawn with the viridis colormap (min dark, max bright).
    Heatmap { title: &'a str, grid: Grid<'a> },
}

/// One line of a [`LinePlot`].
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A line plot panel.
pub struct LinePlot {
    pub title: String,
    pub x_label: String,
    pub series: Vec<Series>,
}

pub(crate) fn save_rgb(path: &Path, buf: Vec<u8>, w: u32, h: u32) -> Result<()> {
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| anyhow!("bad image buffer"))?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)?;
    meg_plumbing::io::write_atomic(path, bytes.get_ref())
}

pub(crate) fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plotting failed: {e:?}")
}

pub(crate) const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws `panels` side by side, `px` pixels square each, into the PNG `path`.
pub fn panels_png(path: &Path, panels: &[Panel], px: u32) -> Result<()> {
    ensure_font();
    if panels.is_empty() {
        bail!("no panels to draw for {}", path.display());
    }
    let (w, h) = (px * panels.len() as u32, px);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let areas = root.split_evenly((1, panels.len()));
        for (area, panel) in areas.iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        root.present().map_err(err)?;
    }
    save_rgb(path, buf, w, h)
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<()> {
    let (title, lo, hi) = match panel {
        Panel::Scatter { title, lo, hi, .. } => (*title, *lo, *hi),
        Panel::Heatmap { title, grid } => (*title, grid.lo, grid.hi),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(32)
        .build_cartesian_2d(lo..hi, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    match panel {
        Panel::Scatter { points, .. } => {
            let style = RGBAColor(31, 119, 180, 0.35).filled();
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|p| Circle::new((p[0] as f64, p[1] as f64), 1, style)),
                )
                .map_err(err)?;
        }
        Panel::Heatmap { grid, .. } => {
            if grid.values.len() != grid.size * grid.size {
                bail!(
                    "heatmap `{title}`: {} values for a {}x{} grid",
                    grid.values.len(),
                    grid.size,
                    grid.size
                );
            }
            let finite = grid.values.iter().copied().filter(|v| v.is_finite());
            let (mn, mx) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
            let span = if mx > mn { mx - mn } else { 1.0 };
            let plot = chart.plotting_area();
            let (pw, ph) = plot.dim_in_pixel();
            let g = grid.size;
            for py in 0..ph {
                // Pixel row 0 is the top (largest y).
                let row = ((ph - 1 - py) as usize * g) / ph as usize;
                for pxl in 0..pw {
                    let col = (pxl as usize * g) / pw as usize;
                    let v = grid.values[row * g + col];
                    let t = if v.is_finite() { (v - mn) / span } else { 0.0 };
                    let c = ViridisRGB::get_color_normalized(t as f32, 0.0, 1.0);
                    let x = grid.lo + (pxl as f64 + 0.5) / pw as f64 * (grid.hi - grid.lo);
                    let y = grid.hi - (py as f64 + 0.5) / ph as f64 * (grid.hi - grid.lo);
                    plot.draw_pixel((x, y), &c).map_err(err)?;
                }
            }
        }
    }
    Ok(())
}

/// Line plots side by side (`px` wide each, `px * 3 / 4` tall) into the PNG `path`.
pub fn lines_png(path: &Path, plots: &[LinePlot], px: u32) -> Result<()> {
    ensure_font();
    if plots.is_empty() {
        bail!("no plots to draw for {}", path.display());
    }
    let (w, h) = (px * plots.len() as u32, px * 3 / 4);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        for (area, p) in root.split_evenly((1, plots.len())).iter().zip(plots) {
            let pts = p
                .series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|q| q.0.is_finite() && q.1.is_finite());
            let (mut x0, mut x1, mut y0, mut y1) = (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            );
            for &(x, y) in pts {
                (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
            }
            if !x0.is_finite() {
                (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
            }
            let pad = ((y1 - y0) * 0.05).max(1e-9);
            let mut chart = ChartBuilder::on(area)
                .caption(&p.title, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(50)
                .build_cartesian_2d(x0..x1.max(x0 + 1e-9), (y0 - pad)..(y1 + pad))
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(p.x_label.as_str())
                .x_labels(6)
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| tick(*v))
                .label_style(("sans-serif", 12))
                .draw()
                .map_err(err)?;
            for (i, s) in p.series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    save_rgb(path, buf, w, h)
}

/// An axis label: whole numbers without decimals (`2500`, not `2500.0`),
/// others with 3 significant digits, large or tiny ones in scientific
/// notation; rounding noise around zero (below 1e-12) is `0`.
pub(crate) fn tick(v: f64) -> String {
    let a = v.abs();
    if a < 1e-12 {
        "0".into()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{v:.1e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        for (v, want) in [
            (2500.0, "2500"),
            (0.0, "0"),
            (-3.0, "-3"),
            (0.25, "0.25"),
            (1.5004, "1.5"),
            (0.0035, "0.0035"),
            (0.0025, "0.0025"),
            (123.456, "123"),
            (-2.2e-16, "0"),
            (0.0004, "4.0e-4"),
            (2.5e7, "2.5e7"),
        ] {
            assert_eq!(tick(v), want, "{v}");
        }
    }

    #[test]
    fn panels_render_to_png_with_heatmap_orientation() {
        let dir = tempfile::tempdir().unwrap();
        let g = 50;
        // Value grows with y (row): the top of the heatmap must be brighter than the bottom.
        let values: Vec<f64> = (0..g * g).map(|i| (i / g) as f64).collect();
        let pts: Vec<[f32; 2]> = (0..100).map(|i| [i as f32 / 50.0 - 1.0, 0.5]).collect();
        let path = dir.path().join("f.png");
        panels_png(
            &path,
            &[
                Panel::Scatter {
                    title: "points",
                    points: &pts,
                    lo: -2.0,
                    hi: 2.0,
                },
                Panel::Heatmap {
                    title: "grid",
                    grid: Grid {
                        size: g,
                        values: &values,
                        lo: -2.0,
                        hi: 2.0,
                    },
                },
            ],
            300,
        )
        .unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (600, 300));
        let lum = |x, y| {
            let p = img.get_pixel(x, y);
            p[0] as u32 + p[1] as u32 + p[2] as u32
        };
        // Inside the second panel's plot area, near its top and bottom.
        assert!(
            lum(470, 60) > lum(470, 250) + 100,
            "top {} bottom {}",
            lum(470, 60),
            lum(470, 250)
        );
        let lines = dir.path().join("l.png");
        lines_png(
            &lines,
            &[LinePlot {
                title: "loss".into(),
                x_label: "iteration".into(),
                series: vec![Series {
                    name: "a".into(),
                    points: vec![(0.0, 1.0), (1.0, 0.5)],
                }],
            }],
            400,
        )
        .unwrap();
        assert_eq!(
            image::open(&lines).unwrap().to_rgb8().dimensions(),
            (400, 300)
        );
    }
}
