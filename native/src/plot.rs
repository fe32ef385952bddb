//! PNG line charts for loss curves, with no plotting or font crates.
//!
//! [`render_png`] draws a [`Chart`] (white background, framed plot area, 1/2/5 × 10^k ticks with
//! light-grey grid lines, axis labels, title, legend) into an RGB8 buffer and encodes it with
//! `png`. Text uses the hand-drawn 5×7 bitmap font `FONT` (printable ASCII, plus a descender
//! row), scaled ×1–×3. Lines are anti-aliased by distance to the segment, about 2–2.5 px wide.

use std::fmt;

/// One curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// `(x, y)` points, drawn in the given order; non-finite ones are skipped.
    pub points: Vec<(f64, f64)>,
    /// Line and marker colour, sRGB.
    pub color: [u8; 3],
}

/// A line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Drawn centred above the plot area; empty for none.
    pub title: String,
    /// Drawn below the x axis; empty for none.
    pub x_label: String,
    /// Drawn vertically left of the y axis; empty for none.
    pub y_label: String,
    /// Curves, drawn in order (later ones on top).
    pub series: Vec<Series>,
    /// Logarithmic y axis; points with `y <= 0` are then skipped.
    pub log_y: bool,
    /// Image width in pixels, 1..=[`MAX_SIDE`].
    pub width: u32,
    /// Image height in pixels, 1..=[`MAX_SIDE`].
    pub height: u32,
}

/// The largest accepted image side, in pixels.
pub const MAX_SIDE: u32 = 8192;

/// Why a chart could not be rendered.
#[derive(Debug)]
pub enum PlotError {
    /// A side is zero or larger than [`MAX_SIDE`].
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// The PNG encoder failed.
    Encode(png::EncodingError),
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidSize { width, height } => write!(
                f,
                "invalid chart size {width}x{height}: each side must be 1..={MAX_SIDE} pixels"
            ),
            Self::Encode(e) => write!(f, "encoding the chart as PNG: {e}"),
        }
    }
}

impl std::error::Error for PlotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidSize { .. } => None,
            Self::Encode(e) => Some(e),
        }
    }
}

impl From<png::EncodingError> for PlotError {
    fn from(e: png::EncodingError) -> Self {
        Self::Encode(e)
    }
}

/// Renders the chart to PNG bytes (RGB8). Never panics: non-finite points are skipped (and
/// non-positive ones when `log_y`; so are finite values beyond ±1e300, whose ranges overflow),
/// empty or single-point series are fine, an all-empty chart still draws axes and the title.
pub fn render_png(chart: &Chart) -> Result<Vec<u8>, PlotError> {
    let (width, height) = (chart.width, chart.height);
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(PlotError::InvalidSize { width, height });
    }
    let canvas = draw(chart);
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_source_srgb(png::SrgbRenderingIntent::Perceptual);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&canvas.px)?;
    writer.finish()?;
    Ok(bytes)
}

const WHITE: [u8; 3] = [255, 255, 255];
const TEXT: [u8; 3] = [30, 30, 30];
const FRAME: [u8; 3] = [70, 70, 70];
const GRID: [u8; 3] = [222, 222, 222];
const GRID_MINOR: [u8; 3] = [240, 240, 240];
/// Series with fewer points than this get a marker at every point.
const MARKER_BELOW: usize = 30;
/// Values beyond this magnitude are skipped: their spans would overflow.
const MAX_ABS: f64 = 1e300;

/// Rasterises the chart; the size must already be valid.
fn draw(chart: &Chart) -> Canvas {
    let mut c = Canvas::new(chart.width, chart.height);
    let l = Layout::new(chart);
    let s = l.scale;
    let plot = l.plot;
    let (x0, y0, x1, y1) = (plot.x0, plot.y0, plot.x1, plot.y1);

    if l.has_plot {
        // Grid (minor first, so major lines win where they coincide).
        for t in l.y.ticks.iter().filter(|t| !t.major) {
            c.fill_rect(x0, l.y_px(t.at), x1, l.y_px(t.at), GRID_MINOR);
        }
        for t in l.y.ticks.iter().filter(|t| t.major) {
            c.fill_rect(x0, l.y_px(t.at), x1, l.y_px(t.at), GRID);
        }
        for t in &l.x.ticks {
            c.fill_rect(l.x_px(t.at), y0, l.x_px(t.at), y1, GRID);
        }
        // Frame.
        c.fill_rect(x0, y0, x1, y0, FRAME);
        c.fill_rect(x0, y1, x1, y1, FRAME);
        c.fill_rect(x0, y0, x0, y1, FRAME);
        c.fill_rect(x1, y0, x1, y1, FRAME);
        // Tick marks and labels.
        let tick = 2 * s + 1;
        for t in l.y.ticks.iter().filter(|t| t.major) {
            let py = l.y_px(t.at);
            c.fill_rect(x0 - tick, py, x0 - 1, py, FRAME);
            if let Some(label) = &t.label {
                let w = text_width(label, s);
                c.text(x0 - tick - 3 * s - w, py - 7 * s / 2, label, s, TEXT);
            }
        }
        for t in &l.x.ticks {
            let px = l.x_px(t.at);
            c.fill_rect(px, y1 + 1, px, y1 + tick, FRAME);
            if let Some(label) = &t.label {
                let w = text_width(label, s);
                c.text(px - w / 2, y1 + tick + 3 * s, label, s, TEXT);
            }
        }
        // Curves, clipped to the inside of the frame.
        let inner = Rect {
            x0: x0 + 1,
            y0: y0 + 1,
            x1: x1 - 1,
            y1: y1 - 1,
        };
        let half_width = 0.75 + 0.25 * s as f64;
        for series in &chart.series {
            let pts: Vec<(f64, f64)> = series
                .points
                .iter()
                .filter_map(|&(x, y)| l.project(x, y))
                .collect();
            for w in pts.windows(2) {
                c.line(w[0], w[1], half_width, series.color, inner);
            }
            if pts.len() == 1 || pts.len() < MARKER_BELOW {
                for &p in &pts {
                    c.disc(p, 1.5 + s as f64, series.color, inner);
                }
            }
        }
        draw_legend(&mut c, chart, &l);
    }

    // Title and axis labels.
    let centre = (x0 + x1) / 2;
    if !chart.title.is_empty() {
        let ts = s + 1;
        let w = text_width(&chart.title, ts);
        c.text((centre - w / 2).max(2), 6 * s, &chart.title, ts, TEXT);
    }
    if l.has_plot && !chart.x_label.is_empty() {
        let w = text_width(&chart.x_label, s);
        c.text(centre - w / 2, l.x_label_top, &chart.x_label, s, TEXT);
    }
    if l.has_plot && !chart.y_label.is_empty() {
        let w = text_width(&chart.y_label, s);
        c.text_up(5 * s, (y0 + y1) / 2 + w / 2, &chart.y_label, s, TEXT);
    }
    c
}

/// Legend box in the top-right corner of the plot area: a colour swatch and name per series.
fn draw_legend(c: &mut Canvas, chart: &Chart, l: &Layout) {
    if chart.series.is_empty() {
        return;
    }
    let s = l.scale;
    let row = 11 * s;
    let swatch = 14 * s;
    let name_w = chart
        .series
        .iter()
        .map(|e| text_width(&e.name, s))
        .max()
        .unwrap_or(0);
    let w = 4 * s + swatch + 4 * s + name_w + 4 * s;
    let h = row * chart.series.len() as i64 + 4 * s;
    let bx1 = l.plot.x1 - 6 * s;
    let bx0 = bx1 - w;
    let by0 = l.plot.y0 + 6 * s;
    let by1 = by0 + h;
    let clip = Rect {
        x0: l.plot.x0 + 1,
        y0: l.plot.y0 + 1,
        x1: l.plot.x1 - 1,
        y1: l.plot.y1 - 1,
    };
    c.fill_rect_clipped(
        Rect {
            x0: bx0,
            y0: by0,
            x1: bx1,
            y1: by1,
        },
        WHITE,
        clip,
    );
    for r in [
        Rect {
            x0: bx0,
            y0: by0,
            x1: bx1,
            y1: by0,
        },
        Rect {
            x0: bx0,
            y0: by1,
            x1: bx1,
            y1: by1,
        },
        Rect {
            x0: bx0,
            y0: by0,
            x1: bx0,
            y1: by1,
        },
        Rect {
            x0: bx1,
            y0: by0,
            x1: bx1,
            y1: by1,
        },
    ] {
        c.fill_rect_clipped(r, [160, 160, 160], clip);
    }
    for (i, series) in chart.series.iter().enumerate() {
        let top = by0 + 2 * s + row * i as i64;
        let mid = top + row / 2;
        let sx = bx0 + 4 * s;
        let (a, b) = (
            (sx as f64 + 0.5, mid as f64),
            ((sx + swatch) as f64 + 0.5, mid as f64),
        );
        c.line(a, b, 0.75 + 0.25 * s as f64, series.color, clip);
        c.text(sx + swatch + 4 * s, mid - 7 * s / 2, &series.name, s, TEXT);
    }
}

/// An inclusive pixel rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    x0: i64,
    y0: i64,
    x1: i64,
    y1: i64,
}

/// One tick: position in axis space (value, or log10 of it), optional label, major or minor.
#[derive(Debug, Clone, PartialEq)]
struct Tick {
    at: f64,
    label: Option<String>,
    major: bool,
}

/// An axis range in axis space (log10 of the value when logarithmic) with its ticks.
#[derive(Debug, Clone, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<Tick>,
}

/// Pixel layout of a chart: text scale, plot rectangle (the frame lines), axes.
#[derive(Debug, Clone)]
struct Layout {
    scale: i64,
    plot: Rect,
    /// False when the image is too small for a plot area; only the title is drawn then.
    has_plot: bool,
    log_y: bool,
    x: Axis,
    y: Axis,
    x_label_top: i64,
}

impl Layout {
    fn new(chart: &Chart) -> Self {
        let (w, h) = (i64::from(chart.width), i64::from(chart.height));
        let s: i64 = if w >= 640 && h >= 400 { 2 } else { 1 };
        let pad = 6 * s;
        let text_h = 7 * s;
        let tick = 2 * s + 1;

        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for series in &chart.series {
            for &(x, y) in &series.points {
                if valid(x, y, chart.log_y) {
                    xs.push(x);
                    ys.push(if chart.log_y { y.log10() } else { y });
                }
            }
        }
        let (xlo, xhi) = padded_range(&xs, 0.02, false);
        let (ylo, yhi) = padded_range(&ys, 0.05, chart.log_y);

        let top = if chart.title.is_empty() {
            2 * pad
        } else {
            pad + 7 * (s + 1) + 2 * pad
        };
        let mut bottom = tick + 3 * s + text_h + pad;
        if !chart.x_label.is_empty() {
            bottom += text_h + pad;
        }
        let plot_h = h - top - bottom;
        let y_axis = if chart.log_y {
            log_axis(ylo, yhi, (plot_h / (28 * s)).clamp(2, 10))
        } else {
            linear_axis(ylo, yhi, (plot_h / (28 * s)).clamp(2, 10))
        };
        let label_w = y_axis
            .ticks
            .iter()
            .filter_map(|t| t.label.as_deref())
            .map(|t| text_width(t, s))
            .max();
        let mut left = pad + label_w.unwrap_or(0) + 3 * s + tick;
        if !chart.y_label.is_empty() {
            left += text_h + pad;
        }
        let right = 4 * pad;
        let plot_w = w - left - right;
        let mut x_axis = linear_axis(xlo, xhi, (plot_w / (55 * s)).clamp(2, 10));
        thin_labels(&mut x_axis, plot_w, s);

        let plot = Rect {
            x0: left,
            y0: top,
            x1: w - right,
            y1: h - bottom,
        };
        let has_plot = plot_w >= 8 && plot_h >= 8;
        Self {
            scale: s,
            plot,
            has_plot,
            log_y: chart.log_y,
            x: x_axis,
            y: y_axis,
            x_label_top: h - bottom + tick + 3 * s + text_h + pad,
        }
    }

    /// Continuous pixel x of an axis-space x (pixel centres at +0.5).
    fn x_at(&self, x: f64) -> f64 {
        let t = (x - self.x.lo) / (self.x.hi - self.x.lo);
        self.plot.x0 as f64 + 0.5 + t * (self.plot.x1 - self.plot.x0) as f64
    }

    /// Continuous pixel y of an axis-space y.
    fn y_at(&self, y: f64) -> f64 {
        let t = (y - self.y.lo) / (self.y.hi - self.y.lo);
        self.plot.y1 as f64 + 0.5 - t * (self.plot.y1 - self.plot.y0) as f64
    }

    fn x_px(&self, x: f64) -> i64 {
        self.x_at(x).floor() as i64
    }

    fn y_px(&self, y: f64) -> i64 {
        self.y_at(y).floor() as i64
    }

    /// Pixel position of a data point, `None` when it is skipped.
    fn project(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        if !valid(x, y, self.log_y) {
            return None;
        }
        let ay = if self.log_y { y.log10() } else { y };
        Some((self.x_at(x), self.y_at(ay)))
    }
}

/// Whether a point is drawn.
fn valid(x: f64, y: f64, log_y: bool) -> bool {
    x.is_finite()
        && y.is_finite()
        && x.abs() <= MAX_ABS
        && y.abs() <= MAX_ABS
        && (!log_y || y > 0.0)
}

/// Data range widened by `frac` of its span on each side; degenerate ranges get a unit-ish span.
fn padded_range(v: &[f64], frac: f64, log: bool) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !(lo.is_finite() && hi.is_finite()) {
        return if log { (-1.0, 1.0) } else { (0.0, 1.0) };
    }
    let span = hi - lo;
    if span <= hi.abs().max(lo.abs()) * 1e-12 || span == 0.0 {
        let d = if log {
            0.5
        } else if lo.abs() > 1e-200 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        return (lo - d, hi + d);
    }
    (lo - span * frac, hi + span * frac)
}

/// 1, 2 or 5 × 10^k, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let f = raw / p;
    let m = if f <= 1.0 + 1e-9 {
        1.0
    } else if f <= 2.0 + 1e-9 {
        2.0
    } else if f <= 5.0 + 1e-9 {
        5.0
    } else {
        10.0
    };
    m * p
}

/// Multiples of a nice step inside `[lo, hi]`, about `target` of them (at most 200).
fn nice_ticks(lo: f64, hi: f64, target: i64) -> (f64, Vec<f64>) {
    let step = nice_step((hi - lo) / target.max(1) as f64);
    let (i0, i1) = ((lo / step - 1e-9).ceil(), (hi / step + 1e-9).floor());
    if !(i0.is_finite() && i1.is_finite()) || i1 - i0 > 200.0 {
        return (step, Vec::new());
    }
    let (i0, i1) = (i0 as i64, i1 as i64);
    (step, (i0..=i1).map(|i| i as f64 * step).collect())
}

fn linear_axis(lo: f64, hi: f64, target: i64) -> Axis {
    let (step, values) = nice_ticks(lo, hi, target);
    let mag = lo.abs().max(hi.abs());
    let ticks = values
        .into_iter()
        .map(|v| Tick {
            at: v,
            label: Some(fmt_linear(v, step, mag)),
            major: true,
        })
        .collect();
    Axis { lo, hi, ticks }
}

/// Logarithmic axis over `[lo, hi]` decades: linear ticks placed logarithmically under one decade,
/// 1/2/5 labels up to three decades, decade labels (every k-th) beyond; minor grid at 2..9.
fn log_axis(lo: f64, hi: f64, target: i64) -> Axis {
    let span = hi - lo;
    let mut ticks = Vec::new();
    if span < 1.0 {
        let (vlo, vhi) = (10f64.powf(lo), 10f64.powf(hi));
        let (step, values) = nice_ticks(vlo, vhi, target);
        let mag = vlo.abs().max(vhi.abs());
        for v in values.into_iter().filter(|&v| v > 0.0) {
            ticks.push(Tick {
                at: v.log10(),
                label: Some(fmt_linear(v, step, mag)),
                major: true,
            });
        }
        return Axis { lo, hi, ticks };
    }
    let (e0, e1) = (lo.floor(), hi.ceil());
    if e1 - e0 > 700.0 {
        return Axis { lo, hi, ticks };
    }
    let (e0, e1) = (e0 as i64, e1 as i64);
    let every = ((span / target.max(1) as f64).ceil() as i64).max(1);
    for e in e0..=e1 {
        for m in 1..=9 {
            let at = e as f64 + f64::from(m).log10();
            if at < lo || at > hi {
                continue;
            }
            let labelled = if span <= 3.0 {
                m == 1 || m == 2 || m == 5
            } else {
                m == 1
            };
            if m == 1 && e.rem_euclid(every) == 0 || m != 1 && labelled {
                ticks.push(Tick {
                    at,
                    label: Some(fmt_log(m, e)),
                    major: true,
                });
            } else if m == 1 || span <= 6.0 {
                ticks.push(Tick {
                    at,
                    label: None,
                    major: false,
                });
            }
        }
    }
    Axis { lo, hi, ticks }
}

/// Drops every other x label (then every third, …) until neighbours no longer overlap.
fn thin_labels(axis: &mut Axis, plot_w: i64, s: i64) {
    let n = axis.ticks.len();
    if n < 2 || axis.hi <= axis.lo {
        return;
    }
    let spacing = plot_w as f64 * (axis.ticks[1].at - axis.ticks[0].at) / (axis.hi - axis.lo);
    let widest = axis
        .ticks
        .iter()
        .filter_map(|t| t.label.as_deref())
        .map(|t| text_width(t, s));
    let need = (widest.max().unwrap_or(0) + 6 * s) as f64;
    let mut every = 1usize;
    while spacing * (every as f64) < need && every < n {
        every += 1;
    }
    if every > 1 {
        // Keep the labels on multiples of `every` steps from zero, so round values survive.
        let step = axis.ticks[1].at - axis.ticks[0].at;
        for t in &mut axis.ticks {
            let k = (t.at / step).round() as i64;
            if k.rem_euclid(every as i64) != 0 {
                t.label = None;
            }
        }
    }
}

/// Compact label of a linear tick: `0.05`, `1.5k`, `2M`, `1.5e-5`.
fn fmt_linear(v: f64, step: f64, mag: f64) -> String {
    if v.abs() < step * 1e-6 {
        return "0".to_owned();
    }
    if mag >= 1e9 || step < 1e-4 {
        let digits = (v.abs().log10().floor() - step.log10().floor()).clamp(0.0, 6.0) as usize;
        return trim_exp(&format!("{v:.digits$e}"));
    }
    let (v, step, suffix) = if mag >= 1e6 && step >= 1e5 {
        (v / 1e6, step / 1e6, "M")
    } else if mag >= 1e4 || step >= 1e3 {
        (v / 1e3, step / 1e3, "k")
    } else {
        (v, step, "")
    };
    let decimals = (-step.log10().floor()).clamp(0.0, 10.0) as usize;
    format!("{}{suffix}", trim_zeros(&format!("{v:.decimals$}")))
}

/// Label of `m × 10^e` on a log axis: plain for 0.01..=5000, `2e-3` style otherwise.
fn fmt_log(m: i32, e: i64) -> String {
    if (-2..=3).contains(&e) {
        let v = f64::from(m) * 10f64.powi(e as i32);
        let decimals = (-e).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}"))
    } else {
        format!("{m}e{e}")
    }
}

/// `"0.500"` → `"0.5"`, `"2.000"` → `"2"`, `"-0"` → `"0"`.
fn trim_zeros(s: &str) -> String {
    let t = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    };
    if t == "-0" {
        "0".to_owned()
    } else {
        t.to_owned()
    }
}

/// `"1.50e-4"` → `"1.5e-4"`.
fn trim_exp(s: &str) -> String {
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{e}", trim_zeros(m)),
        None => s.to_owned(),
    }
}

/// Pixel width of a text line: 6 columns per glyph (5 + 1 spacing), minus the trailing space.
fn text_width(s: &str, scale: i64) -> i64 {
    let n = s.chars().count() as i64;
    if n == 0 { 0 } else { (6 * n - 1) * scale }
}

/// Rows of a printable ASCII glyph (`?` for anything else).
fn glyph(ch: char) -> &'static [u8; 8] {
    let code = ch as u32;
    let index = if (32..=126).contains(&code) {
        code - 32
    } else {
        u32::from(b'?') - 32
    };
    &FONT[index as usize]
}

/// An RGB8 image being drawn.
struct Canvas {
    w: i64,
    h: i64,
    px: Vec<u8>,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Self {
        let (w, h) = (i64::from(width), i64::from(height));
        Self {
            w,
            h,
            px: vec![255; (w * h * 3) as usize],
        }
    }

    /// Mixes `color` into a pixel with coverage `a` (0..=1); outside the image is ignored.
    fn blend(&mut self, x: i64, y: i64, color: [u8; 3], a: f64) {
        if x < 0 || y < 0 || x >= self.w || y >= self.h || a.is_nan() || a <= 0.0 {
            return;
        }
        let a = a.min(1.0);
        let i = ((y * self.w + x) * 3) as usize;
        for (k, &c) in color.iter().enumerate() {
            let old = f64::from(self.px[i + k]);
            self.px[i + k] = (old + (f64::from(c) - old) * a).round() as u8;
        }
    }

    fn fill_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: [u8; 3]) {
        let image = Rect {
            x0: 0,
            y0: 0,
            x1: self.w - 1,
            y1: self.h - 1,
        };
        self.fill_rect_clipped(Rect { x0, y0, x1, y1 }, color, image);
    }

    fn fill_rect_clipped(&mut self, r: Rect, color: [u8; 3], clip: Rect) {
        for y in r.y0.max(clip.y0).max(0)..=r.y1.min(clip.y1).min(self.h - 1) {
            for x in r.x0.max(clip.x0).max(0)..=r.x1.min(clip.x1).min(self.w - 1) {
                self.blend(x, y, color, 1.0);
            }
        }
    }

    /// Anti-aliased segment of half-width `hw` between continuous pixel positions, inside `clip`.
    fn line(&mut self, a: (f64, f64), b: (f64, f64), hw: f64, color: [u8; 3], clip: Rect) {
        if ![a.0, a.1, b.0, b.1, hw].iter().all(|v| v.is_finite()) {
            return;
        }
        let reach = hw + 1.0;
        let bx0 = (a.0.min(b.0) - reach).floor().max(clip.x0 as f64) as i64;
        let bx1 = (a.0.max(b.0) + reach).ceil().min(clip.x1 as f64) as i64;
        let by0 = (a.1.min(b.1) - reach).floor().max(clip.y0 as f64) as i64;
        let by1 = (a.1.max(b.1) + reach).ceil().min(clip.y1 as f64) as i64;
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        for y in by0..=by1 {
            for x in bx0..=bx1 {
                let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
                let t = if len2 > 0.0 {
                    (((cx - a.0) * dx + (cy - a.1) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (ex, ey) = (cx - (a.0 + t * dx), cy - (a.1 + t * dy));
                let d = (ex * ex + ey * ey).sqrt();
                self.blend(x, y, color, (hw + 0.5 - d).clamp(0.0, 1.0));
            }
        }
    }

    /// Anti-aliased filled disc, inside `clip`.
    fn disc(&mut self, c: (f64, f64), r: f64, color: [u8; 3], clip: Rect) {
        self.line(c, c, r, color, clip);
    }

    /// Left-to-right text with its top-left corner at `(x, y)`.
    fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, color: [u8; 3]) {
        self.glyphs(s, scale, color, |u, v| (x + u, y + v));
    }

    /// Bottom-to-top text (rotated a quarter turn anticlockwise) starting at `(x, y_bottom)`.
    fn text_up(&mut self, x: i64, y_bottom: i64, s: &str, scale: i64, color: [u8; 3]) {
        self.glyphs(s, scale, color, |u, v| (x + v, y_bottom - u));
    }

    /// Sets the pixels of a text line, mapping text-space `(u, v)` to image pixels.
    fn glyphs(&mut self, s: &str, scale: i64, color: [u8; 3], at: impl Fn(i64, i64) -> (i64, i64)) {
        for (i, ch) in s.chars().enumerate() {
            for (row, bits) in glyph(ch).iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) == 0 {
                        continue;
                    }
                    let u0 = (i as i64 * 6 + col) * scale;
                    let v0 = row as i64 * scale;
                    for du in 0..scale {
                        for dv in 0..scale {
                            let (px, py) = at(u0 + du, v0 + dv);
                            self.blend(px, py, color, 1.0);
                        }
                    }
                }
            }
        }
    }
}

/// 5×7 glyphs for ASCII 32..=126 plus a descender row (g, j, p, q, y, comma, semicolon): one
/// byte per row from the top, bit 4 the leftmost column. Hand-drawn for this module.
#[rustfmt::skip]
const FONT: [[u8; 8]; 95] = [
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // ' '
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00], // '!'
    [0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00], // '"'
    [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A, 0x00], // '#'
    [0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04, 0x00], // '$'
    [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00], // '%'
    [0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D, 0x00], // '&'
    [0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00], // '\''
    [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00], // '('
    [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00], // ')'
    [0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00, 0x00], // '*'
    [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00, 0x00], // '+'
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08], // ','
    [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00, 0x00], // '-'
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C, 0x00], // '.'
    [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00], // '/'
    [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E, 0x00], // '0'
    [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00], // '1'
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F, 0x00], // '2'
    [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E, 0x00], // '3'
    [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02, 0x00], // '4'
    [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E, 0x00], // '5'
    [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E, 0x00], // '6'
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00], // '7'
    [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E, 0x00], // '8'
    [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C, 0x00], // '9'
    [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00, 0x00], // ':'
    [0x00, 0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08], // ';'
    [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00], // '<'
    [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00, 0x00], // '='
    [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00], // '>'
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00], // '?'
    [0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E, 0x00], // '@'
    [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x00], // 'A'
    [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E, 0x00], // 'B'
    [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E, 0x00], // 'C'
    [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C, 0x00], // 'D'
    [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F, 0x00], // 'E'
    [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10, 0x00], // 'F'
    [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F, 0x00], // 'G'
    [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0x00], // 'H'
    [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00], // 'I'
    [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C, 0x00], // 'J'
    [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00], // 'K'
    [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F, 0x00], // 'L'
    [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00], // 'M'
    [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00], // 'N'
    [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00], // 'O'
    [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10, 0x00], // 'P'
    [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D, 0x00], // 'Q'
    [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11, 0x00], // 'R'
    [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E, 0x00], // 'S'
    [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00], // 'T'
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00], // 'U'
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04, 0x00], // 'V'
    [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A, 0x00], // 'W'
    [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11, 0x00], // 'X'
    [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x00], // 'Y'
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F, 0x00], // 'Z'
    [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E, 0x00], // '['
    [0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00], // '\\'
    [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E, 0x00], // ']'
    [0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00], // '^'
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F, 0x00], // '_'
    [0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00], // '`'
    [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F, 0x00], // 'a'
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E, 0x00], // 'b'
    [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E, 0x00], // 'c'
    [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F, 0x00], // 'd'
    [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E, 0x00], // 'e'
    [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08, 0x00], // 'f'
    [0x00, 0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E], // 'g'
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00], // 'h'
    [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E, 0x00], // 'i'
    [0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x12, 0x0C], // 'j'
    [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00], // 'k'
    [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00], // 'l'
    [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11, 0x00], // 'm'
    [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00], // 'n'
    [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E, 0x00], // 'o'
    [0x00, 0x00, 0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10], // 'p'
    [0x00, 0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x01], // 'q'
    [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00], // 'r'
    [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E, 0x00], // 's'
    [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06, 0x00], // 't'
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D, 0x00], // 'u'
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04, 0x00], // 'v'
    [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A, 0x00], // 'w'
    [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x00], // 'x'
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E], // 'y'
    [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F, 0x00], // 'z'
    [0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02, 0x00], // '{'
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00], // '|'
    [0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08, 0x00], // '}'
    [0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00], // '~'
];

#[cfg(test)]
mod tests {
    use super::*;

    const BLUE: [u8; 3] = [31, 119, 180];
    const ORANGE: [u8; 3] = [255, 127, 14];

    /// Decoded RGB8 image.
    struct Image {
        w: i64,
        h: i64,
        px: Vec<u8>,
    }

    impl Image {
        fn at(&self, x: i64, y: i64) -> [u8; 3] {
            let i = ((y * self.w + x) * 3) as usize;
            [self.px[i], self.px[i + 1], self.px[i + 2]]
        }

        /// Pixels of exactly this colour.
        fn find(&self, c: [u8; 3]) -> Vec<(i64, i64)> {
            let mut out = Vec::new();
            for y in 0..self.h {
                for x in 0..self.w {
                    if self.at(x, y) == c {
                        out.push((x, y));
                    }
                }
            }
            out
        }

        /// Near-black pixels (text) in rows `y0..y1` and columns `x0..x1`.
        fn dark_in(&self, (x0, x1): (i64, i64), (y0, y1): (i64, i64)) -> usize {
            (y0..y1)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .filter(|&(x, y)| self.at(x, y).iter().all(|&v| v < 100))
                .count()
        }
    }

    fn decode(bytes: &[u8]) -> Image {
        let decoder = png::Decoder::new(bytes);
        let mut reader = decoder.read_info().expect("PNG header should decode");
        let mut px = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut px).expect("PNG frame should decode");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        px.truncate(info.buffer_size());
        Image {
            w: i64::from(info.width),
            h: i64::from(info.height),
            px,
        }
    }

    fn render(chart: &Chart) -> Image {
        decode(&render_png(chart).expect("chart should render"))
    }

    fn two_series() -> Chart {
        let train = (0..20).map(|i| (f64::from(i), 2.0 * (-f64::from(i) / 6.0).exp() + 0.1));
        let val = (0..10).map(|i| {
            let x = f64::from(2 * i);
            (x, 2.0 * (-x / 6.0).exp() + 0.4)
        });
        Chart {
            title: "Loss".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: vec![
                Series {
                    name: "train".into(),
                    points: train.collect(),
                    color: BLUE,
                },
                Series {
                    name: "validation".into(),
                    points: val.collect(),
                    color: ORANGE,
                },
            ],
            log_y: false,
            width: 800,
            height: 500,
        }
    }

    /// Distance from `p` to the segment `a`–`b`.
    fn seg_dist(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        let t = if len2 > 0.0 {
            (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        ((p.0 - a.0 - t * dx).powi(2) + (p.1 - a.1 - t * dy).powi(2)).sqrt()
    }

    #[test]
    fn size_and_series_colours() {
        let img = render(&two_series());
        assert_eq!((img.w, img.h), (800, 500));
        assert!(img.find(BLUE).len() > 500, "train curve pixels");
        assert!(img.find(ORANGE).len() > 300, "validation curve pixels");
    }

    #[test]
    fn first_series_lies_on_its_projected_points() {
        let chart = two_series();
        let img = render(&chart);
        let layout = Layout::new(&chart);
        let pts: Vec<(f64, f64)> = chart.series[0]
            .points
            .iter()
            .filter_map(|&(x, y)| layout.project(x, y))
            .collect();
        assert_eq!(pts.len(), 20);
        // The projection spans the plot area: x increases left to right, y decreases upwards.
        let p = layout.plot;
        assert!(pts.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 > w[0].1));
        assert!((pts[0].0 - p.x0 as f64) < 0.05 * (p.x1 - p.x0) as f64);
        assert!((p.x1 as f64 - pts[19].0) < 0.05 * (p.x1 - p.x0) as f64);
        assert!((pts[0].1 - p.y0 as f64) < 0.2 * (p.y1 - p.y0) as f64);
        // Every data point has a marker in the series colour under it.
        for &(x, y) in &pts {
            let (cx, cy) = (x.floor() as i64, y.floor() as i64);
            let hit = (-1..=1).any(|dy| (-1..=1).any(|dx| img.at(cx + dx, cy + dy) == BLUE));
            assert!(hit, "no train pixel at projected point ({x:.1}, {y:.1})");
        }
        // And the series colour appears nowhere else, apart from the legend swatch.
        let blue = img.find(BLUE);
        let off: Vec<_> = blue
            .iter()
            .filter(|&&(x, y)| {
                let c = (x as f64 + 0.5, y as f64 + 0.5);
                pts.windows(2).all(|w| seg_dist(c, w[0], w[1]) > 4.0)
            })
            .collect();
        assert!(
            off.len() < blue.len() / 10,
            "{} of {} off the curve",
            off.len(),
            blue.len()
        );
        assert!(
            off.iter().all(|&&(x, y)| x > p.x1 - 300 && y < p.y0 + 60),
            "stray: {off:?}"
        );
    }

    #[test]
    fn title_is_drawn_in_the_title_band() {
        let chart = two_series();
        // The band above the frame, between its sides (tick labels lie outside those).
        let band = |c: &Chart| {
            let p = Layout::new(c).plot;
            ((p.x0 + 1, p.x1), (0, p.y0))
        };
        let (cols, rows) = band(&chart);
        assert!(render(&chart).dark_in(cols, rows) > 50);
        let untitled = Chart {
            title: String::new(),
            ..chart
        };
        let (cols, rows) = band(&untitled);
        assert_eq!(render(&untitled).dark_in(cols, rows), 0);
    }

    #[test]
    fn log_y_skips_non_positive_values() {
        let points = vec![
            (0.0, -1.0),
            (1.0, 0.0),
            (2.0, 10.0),
            (3.0, 1.0),
            (4.0, 0.1),
            (5.0, 0.01),
        ];
        let chart = Chart {
            log_y: true,
            series: vec![Series {
                name: "loss".into(),
                points,
                color: BLUE,
            }],
            ..two_series()
        };
        let layout = Layout::new(&chart);
        assert!(layout.y.lo.is_finite() && layout.y.lo > -2.5 && layout.y.hi < 1.5);
        assert_eq!(layout.project(0.0, -1.0), None);
        assert_eq!(layout.project(1.0, 0.0), None);
        let labels: Vec<&str> = layout
            .y
            .ticks
            .iter()
            .filter_map(|t| t.label.as_deref())
            .collect();
        for want in ["0.01", "0.1", "1", "10"] {
            assert!(labels.contains(&want), "{want} missing from {labels:?}");
        }
        let img = render(&chart);
        assert!(img.find(BLUE).len() > 100);
        // The skipped points' x range is still in the data: x = 0 projects inside the frame.
        let x0 = layout.x_at(2.0);
        assert!(x0 > layout.plot.x0 as f64 && x0 < layout.plot.x1 as f64);
    }

    #[test]
    fn non_finite_points_do_not_panic() {
        let points = vec![
            (f64::NAN, 1.0),
            (0.0, f64::INFINITY),
            (1.0, 2.0),
            (f64::NEG_INFINITY, f64::NAN),
            (2.0, 1.0),
            (3.0, 1e301),
        ];
        let all_nan = vec![(f64::NAN, f64::NAN); 5];
        for log_y in [false, true] {
            let chart = Chart {
                log_y,
                series: vec![
                    Series {
                        name: "a".into(),
                        points: points.clone(),
                        color: BLUE,
                    },
                    Series {
                        name: "nan".into(),
                        points: all_nan.clone(),
                        color: ORANGE,
                    },
                ],
                ..two_series()
            };
            let img = render(&chart);
            assert!(img.find(BLUE).len() > 50);
        }
    }

    #[test]
    fn empty_and_degenerate_charts_render() {
        let empty = Chart {
            series: Vec::new(),
            ..two_series()
        };
        let img = render(&empty);
        let layout = Layout::new(&empty);
        assert_eq!(
            img.at(layout.plot.x0, (layout.plot.y0 + layout.plot.y1) / 2),
            FRAME
        );
        assert!(img.dark_in((0, img.w), (0, layout.plot.y0)) > 50, "title");
        let single = vec![
            Series {
                name: "one".into(),
                points: vec![(5.0, 0.3)],
                color: BLUE,
            },
            Series {
                name: "none".into(),
                points: Vec::new(),
                color: ORANGE,
            },
            Series {
                name: "flat".into(),
                points: vec![(5.0, 0.3), (5.0, 0.3)],
                color: GRID,
            },
        ];
        let img = render(&Chart {
            series: single.clone(),
            ..two_series()
        });
        assert!(!img.find(BLUE).is_empty());
        let tiny = vec![(5e-324, 5e-324), (5e-324, 5e-324), (0.0, 1e-310)];
        let img = render(&Chart {
            series: vec![Series {
                name: "tiny".into(),
                points: tiny,
                color: BLUE,
            }],
            ..two_series()
        });
        let blue = img.find(BLUE).len();
        assert!(blue > 0 && blue < 2000, "{blue} tiny-range pixels");
        let huge = vec![(-1e300, -1e300), (1e300, 1e300)];
        let big = vec![Series {
            name: "big".into(),
            points: huge,
            color: BLUE,
        }];
        render(&Chart {
            series: big,
            ..two_series()
        });
        for (width, height) in [(1, 1), (10, 10), (3000, 20), (20, 3000), (200, 120)] {
            let img = render(&Chart {
                width,
                height,
                series: single.clone(),
                ..two_series()
            });
            assert_eq!((img.w, img.h), (i64::from(width), i64::from(height)));
        }
    }

    #[test]
    fn invalid_sizes_are_errors() {
        for (width, height) in [(0, 100), (100, 0), (MAX_SIDE + 1, 100), (100, u32::MAX)] {
            let err = render_png(&Chart {
                width,
                height,
                ..two_series()
            });
            assert!(
                matches!(err, Err(PlotError::InvalidSize { width: w, height: h })
                    if (w, h) == (width, height)),
                "{width}x{height}"
            );
        }
        let msg = PlotError::InvalidSize {
            width: 0,
            height: 5,
        }
        .to_string();
        assert!(msg.contains("0x5"), "{msg}");
    }

    #[test]
    fn tick_steps_and_labels_are_compact() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(0.07), 0.1);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(12.0), 20.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
        assert_eq!(fmt_linear(0.05, 0.05, 1.0), "0.05");
        assert_eq!(fmt_linear(0.1 + 0.2, 0.1, 1.0), "0.3");
        assert_eq!(fmt_linear(-1e-17, 0.1, 1.0), "0");
        assert_eq!(fmt_linear(1200.0, 200.0, 5000.0), "1200");
        assert_eq!(fmt_linear(2000.0, 1000.0, 5000.0), "2k");
        assert_eq!(fmt_linear(1500.0, 500.0, 2e4), "1.5k");
        assert_eq!(fmt_linear(3e6, 1e6, 5e6), "3M");
        assert_eq!(fmt_linear(1.5e-5, 5e-6, 1e-4), "1.5e-5");
        assert_eq!(fmt_log(1, -3), "1e-3");
        assert_eq!(fmt_log(5, -2), "0.05");
        assert_eq!(fmt_log(1, 0), "1");
        assert_eq!(fmt_log(2, 5), "2e5");
        let axis = linear_axis(-0.1, 2.1, 5);
        let labels: Vec<_> = axis.ticks.iter().filter_map(|t| t.label.clone()).collect();
        assert_eq!(labels, ["0", "0.5", "1", "1.5", "2"]);
    }

    #[test]
    fn font_covers_printable_ascii() {
        assert!(FONT[0].iter().all(|&r| r == 0), "space is blank");
        for code in 33u8..=126 {
            let g = glyph(char::from(code));
            assert!(g.iter().any(|&r| r != 0), "{:?} is blank", char::from(code));
            assert!(
                g.iter().all(|&r| r < 0x20),
                "{:?} is wider than 5",
                char::from(code)
            );
        }
        assert_eq!(glyph('é'), glyph('?'));
        assert_eq!(text_width("ab", 2), 22);
    }

    /// Writes an example chart where `NUCLEATE_PLOT_EXAMPLE` points, for looking at.
    #[test]
    fn example_chart() {
        let train: Vec<(f64, f64)> = (0..=400)
            .map(|i| {
                let x = f64::from(i) * 10.0;
                let noise = 0.08 * (f64::from(i) * 1.7).sin() * (-x / 2000.0).exp();
                (x, 2.5 * (-x / 600.0).exp() + 0.05 + noise)
            })
            .collect();
        let val: Vec<(f64, f64)> = (0..=20)
            .map(|i| {
                let x = f64::from(i) * 200.0;
                (x, 2.5 * (-x / 600.0).exp() + 0.09 + 0.00002 * x)
            })
            .collect();
        let series = vec![
            Series {
                name: "train".into(),
                points: train,
                color: BLUE,
            },
            Series {
                name: "validation".into(),
                points: val,
                color: ORANGE,
            },
        ];
        let chart = Chart {
            title: "UniGEM on QM9: loss".into(),
            x_label: "step".into(),
            y_label: "loss (eV)".into(),
            series,
            log_y: false,
            width: 900,
            height: 560,
        };
        let log = Chart {
            log_y: true,
            title: "log scale".into(),
            ..chart.clone()
        };
        let small = Chart {
            width: 420,
            height: 280,
            title: "small".into(),
            ..chart.clone()
        };
        for (suffix, c) in [("", &chart), ("-log", &log), ("-small", &small)] {
            let bytes = render_png(c).expect("example should render");
            if let Some(path) = std::env::var_os("NUCLEATE_PLOT_EXAMPLE") {
                let mut path = std::path::PathBuf::from(path);
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
                path.set_file_name(format!("{}{suffix}.png", stem.unwrap_or_default()));
                std::fs::write(&path, bytes).expect("example path should be writable");
            }
        }
    }
}
