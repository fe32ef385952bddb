//! Charts of a run — loss curves, validation MAE, and the parity plot of a fine-tuned model —
//! drawn with the `plotters` crate as SVG (text stays text, so no font has to be bundled).
//!
//! [`render_svg`] draws a [`Chart`]: white background, framed plot area with a grid, axis
//! labels, title and legend; each [`Series`] is a line or a set of points. A logarithmic y axis
//! plots log₁₀ y on a linear axis and labels the ticks with the values.

use plotters::prelude::*;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Points joined in the given order.
    Line,
    /// One dot per point (parity plots).
    Points,
}

/// One curve or point set.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// `(x, y)` points; non-finite ones are skipped.
    pub points: Vec<(f64, f64)>,
    /// Colour, sRGB.
    pub color: [u8; 3],
    /// Line or points.
    pub mark: Mark,
}

/// A chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Drawn centred above the plot area; empty for none.
    pub title: String,
    /// Below the x axis.
    pub x_label: String,
    /// Left of the y axis.
    pub y_label: String,
    /// Drawn in order (later ones on top).
    pub series: Vec<Series>,
    /// Logarithmic y axis; points with `y <= 0` are then skipped.
    pub log_y: bool,
    /// Width in pixels, 1..=[`MAX_SIDE`].
    pub width: u32,
    /// Height in pixels, 1..=[`MAX_SIDE`].
    pub height: u32,
}

/// The largest accepted side, in pixels.
pub const MAX_SIDE: u32 = 8192;

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// A side is zero or larger than [`MAX_SIDE`].
    #[error("invalid chart size {width}x{height}: each side must be 1..={MAX_SIDE} pixels")]
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// plotters failed.
    #[error("drawing the chart: {0}")]
    Draw(String),
}

fn draw_err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Values beyond this magnitude are skipped: their spans would overflow.
const LIMIT: f64 = 1e300;

/// The chart as an SVG document. Never panics: non-finite points (and non-positive ones on a
/// log axis) are skipped, empty and single-point series are fine, an empty chart still draws
/// its axes and title.
///
/// # Errors
/// [`PlotError::InvalidSize`]; [`PlotError::Draw`] if plotters fails.
pub fn render_svg(chart: &Chart) -> Result<String, PlotError> {
    let (width, height) = (chart.width, chart.height);
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(PlotError::InvalidSize { width, height });
    }
    let series: Vec<(&Series, Vec<(f64, f64)>)> = chart
        .series
        .iter()
        .map(|s| {
            let pts = s
                .points
                .iter()
                .filter(|(x, y)| x.abs() <= LIMIT && y.abs() <= LIMIT)
                .filter(|&&(_, y)| !chart.log_y || y > 0.0)
                .map(|&(x, y)| (x, if chart.log_y { y.log10() } else { y }))
                .collect();
            (s, pts)
        })
        .collect();
    let all = series.iter().flat_map(|(_, p)| p.iter().copied());
    let xs = span(all.clone().map(|p| p.0));
    let ys = span(all.map(|p| p.1));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut cc = ChartBuilder::on(&root)
            .caption(&chart.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(72)
            .build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)
            .map_err(draw_err)?;
        let log_y = chart.log_y;
        let y_fmt = move |v: &f64| {
            if log_y {
                format!("{:.1e}", 10f64.powf(*v))
            } else {
                format!("{v:.3}")
            }
        };
        cc.configure_mesh()
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .y_label_formatter(&y_fmt)
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(222, 222, 222))
            .draw()
            .map_err(draw_err)?;
        for (s, pts) in &series {
            let [r, g, b] = s.color;
            let color = RGBColor(r, g, b);
            let line = color.stroke_width(2);
            let drawn = match s.mark {
                Mark::Line => cc
                    .draw_series(LineSeries::new(pts.iter().copied(), line))
                    .map_err(draw_err)?,
                Mark::Points => cc
                    .draw_series(
                        pts.iter()
                            .map(|&p| Circle::new(p, 2, color.mix(0.6).filled())),
                    )
                    .map_err(draw_err)?,
            };
            drawn
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], line));
        }
        if !series.is_empty() {
            cc.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(70, 70, 70))
                .draw()
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// `(lo, hi)` with a margin of 5 % of the span; `(0, 1)` without values, ±0.5 around one.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        0.05 * (hi - lo)
    } else {
        0.5_f64.max(0.05 * lo.abs())
    };
    (lo - pad, hi + pad)
}

/// The parity plot of a model on held-out structures: predicted against reference values,
/// with the diagonal y = x.
pub fn parity_chart(pairs: &[(f64, f64)], target: &str, unit: &str, mae: f64) -> Chart {
    let finite = pairs
        .iter()
        .flat_map(|&(t, p)| [t, p])
        .filter(|v| v.is_finite());
    let (lo, hi) = span(finite);
    Chart {
        title: format!("{target} on the test split: MAE {mae:.4} {unit}"),
        x_label: format!("reference {target} ({unit})"),
        y_label: format!("predicted {target} ({unit})"),
        series: vec![
            Series {
                name: "y = x".into(),
                points: vec![(lo, lo), (hi, hi)],
                color: [150, 150, 150],
                mark: Mark::Line,
            },
            Series {
                name: format!("{} structures", pairs.len()),
                points: pairs.to_vec(),
                color: [31, 119, 180],
                mark: Mark::Points,
            },
        ],
        log_y: false,
        width: 600,
        height: 600,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>, log_y: bool) -> Chart {
        Chart {
            title: "loss curve".into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            series,
            log_y,
            width: 640,
            height: 400,
        }
    }

    fn line(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            color: [31, 119, 180],
            mark: Mark::Line,
        }
    }

    #[test]
    fn draws_title_labels_legend_and_one_path_per_line() {
        let svg = render_svg(&chart(
            vec![
                line(
                    "train",
                    (0..50)
                        .map(|k| (k as f64, 1.0 / (1.0 + k as f64)))
                        .collect(),
                ),
                line("val", vec![(10.0, 0.3), (40.0, 0.1)]),
            ],
            true,
        ))
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // The text of every <text> element.
        let texts: Vec<&str> = svg
            .split("</text>")
            .filter_map(|p| p.rsplit_once('>').map(|(_, t)| t.trim()))
            .collect();
        for text in ["loss curve", "step", "loss", "train", "val"] {
            assert!(texts.contains(&text), "{text} missing in {texts:?}");
        }
        // Two series plus their two legend samples, in the series' colour (grid lines and
        // axes are polylines too, in greys).
        let in_series_colour = svg
            .split("<polyline")
            .skip(1)
            .filter(|p| p.split('>').next().is_some_and(|a| a.contains("#1F77B4")))
            .count();
        assert_eq!(in_series_colour, 4, "{svg}");
        // Log axis labels read as values (1.0e-1), not as their logarithms (-1.000).
        assert!(texts.iter().any(|t| t.ends_with("e-1")), "{texts:?}");
    }

    #[test]
    fn skips_what_cannot_be_drawn_and_never_panics() {
        let bad = vec![
            (f64::NAN, 1.0),
            (1.0, f64::INFINITY),
            (2.0, -1.0),
            (3.0, 0.0),
            (1e301, 1.0),
        ];
        for log_y in [false, true] {
            render_svg(&chart(vec![line("bad", bad.clone())], log_y)).unwrap();
            render_svg(&chart(vec![line("one", vec![(1.0, 2.0)])], log_y)).unwrap();
            render_svg(&chart(Vec::new(), log_y)).unwrap();
        }
        assert!(matches!(
            render_svg(&Chart {
                width: 0,
                ..chart(Vec::new(), false)
            }),
            Err(PlotError::InvalidSize { .. })
        ));
    }

    #[test]
    fn parity_chart_draws_every_pair_and_the_diagonal() {
        let pairs: Vec<(f64, f64)> = (0..25).map(|k| (k as f64, k as f64 + 0.1)).collect();
        let c = parity_chart(&pairs, "homo", "eV", 0.1);
        assert_eq!(c.series[1].points.len(), 25);
        let svg = render_svg(&c).unwrap();
        assert_eq!(svg.matches("<circle").count(), 25);
        assert!(svg.contains("MAE 0.1000 eV"));
    }
}
