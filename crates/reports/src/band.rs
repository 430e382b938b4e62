//! Line plots with a shaded band per series (e.g. the mean over seeds and
//! mean ± one standard deviation), for comparing implementations.

use crate::plot::{ensure_font, err, save_rgb, PALETTE};
use anyhow::{bail, Result};
use plotters::prelude::*;
use std::path::Path;

/// One series: points `(x, centre, low, high)`, drawn as a line through the
/// centres over a shaded band from low to high.
pub struct BandSeries {
    pub name: String,
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// A panel of band series.
pub struct BandPlot {
    pub title: String,
    pub x_label: String,
    pub series: Vec<BandSeries>,
}

/// Band plots side by side (`px` wide each, `px * 3 / 4` tall) into the PNG
/// `path`, written atomically.
pub fn bands_png(path: &Path, plots: &[BandPlot], px: u32) -> Result<()> {
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
            let (mut x0, mut x1, mut y0, mut y1) = (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            );
            for &(x, c, lo, hi) in p.series.iter().flat_map(|s| s.points.iter()) {
                for y in [c, lo, hi].into_iter().filter(|y| y.is_finite()) {
                    (y0, y1) = (y0.min(y), y1.max(y));
                }
                if x.is_finite() {
                    (x0, x1) = (x0.min(x), x1.max(x));
                }
            }
            if !x0.is_finite() || !y0.is_finite() {
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
                .x_labels(6)
                .y_labels(6)
                .x_label_formatter(&|v| crate::plot::tick(*v))
                .y_label_formatter(&|v| crate::plot::tick(*v))
                .x_desc(p.x_label.as_str())
                .label_style(("sans-serif", 12))
                .draw()
                .map_err(err)?;
            for (i, s) in p.series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let upper = s.points.iter().map(|q| (q.0, q.3));
                let lower = s.points.iter().rev().map(|q| (q.0, q.2));
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        upper.chain(lower).collect::<Vec<_>>(),
                        color.mix(0.2).filled(),
                    )))
                    .map_err(err)?;
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().map(|q| (q.0, q.1)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_render_shaded_between_low_and_high() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.png");
        let pts = (0..10)
            .map(|i| (i as f64, 0.0, -1.0, 1.0))
            .collect::<Vec<_>>();
        let plot = BandPlot {
            title: "t".into(),
            x_label: "x".into(),
            series: vec![BandSeries {
                name: "a".into(),
                points: pts,
            }],
        };
        bands_png(&path, &[plot], 200).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (200, 150));
        // Some pixels are the band's light tint: neither white nor the line's colour.
        let tinted = img
            .pixels()
            .filter(|p| p.0 != [255, 255, 255] && p.0[2] > 200 && p.0[0] > 150)
            .count();
        assert!(tinted > 1000, "only {tinted} tinted pixels");
    }
}
