//! PNG histogram overlays: reference and generated densities as step lines, with a ratio
//! panel (generated / reference) below. Uses `plotters` with a bundled DejaVu Sans font
//! (`native/assets/DejaVuSans.ttf`, Bitstream Vera licence, see `native/assets/README.md`), so
//! no system font is needed at run time.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, bail, Context, Result};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// The bundled font.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the bundled font as "sans-serif" (once per process).
fn init_fonts() -> Result<()> {
    static INIT: Once = Once::new();
    let mut ok = true;
    INIT.call_once(|| {
        ok = register_font("sans-serif", FontStyle::Normal, FONT).is_ok();
    });
    if !ok {
        bail!("the bundled font could not be loaded");
    }
    Ok(())
}

/// Line colours: the reference first (black), then the generated series.
const COLOURS: [RGBColor; 6] = [
    RGBColor(0, 0, 0),
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
];

/// Drawing options of [`overlay_with`].
#[derive(Debug, Clone, Copy)]
pub struct PlotOptions {
    /// Logarithmic x axis (all edges must be > 0).
    pub log_x: bool,
    /// Logarithmic y axis of the upper panel (empty bins are drawn at the bottom).
    pub log_y: bool,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self { log_x: false, log_y: false, width: 800, height: 640 }
    }
}

/// Writes a PNG at `path`: the densities of `series` (over the bins of `edges`; the first is
/// the reference) as step lines with a legend, and a ratio panel of every other series over
/// the reference. Linear y axis; `log_x` draws x on a log scale. Written atomically.
pub fn overlay(path: &Path, title: &str, x_label: &str, edges: &[f64], series: &[(&str, Vec<f64>)], log_x: bool) -> Result<()> {
    overlay_with(path, title, x_label, edges, series, PlotOptions { log_x, ..PlotOptions::default() })
}

/// A compact number for tick labels: up to 3 significant digits, scientific outside
/// [1e-3, 1e4).
fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if !(1e-3..1e4).contains(&a) {
        let s = format!("{v:.1e}");
        return s.replace(".0e", "e");
    }
    let digits = (2 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Same as [`overlay`] with explicit [`PlotOptions`].
pub fn overlay_with(
    path: &Path,
    title: &str,
    x_label: &str,
    edges: &[f64],
    series: &[(&str, Vec<f64>)],
    opts: PlotOptions,
) -> Result<()> {
    init_fonts()?;
    check(title, edges, series, opts)?;
    write_png(path, (opts.width, opts.height), |root| {
        draw_panel(root, title, x_label, edges, series, opts, &Fonts::LARGE, true)
    })
}

/// One histogram panel of a [`grid`].
#[derive(Debug, Clone)]
pub struct Panel {
    /// Panel title (e.g. "layer 12").
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// Bin edges.
    pub edges: Vec<f64>,
    /// `(label, density)` per series; the first is the reference.
    pub series: Vec<(String, Vec<f64>)>,
    /// Axis scales (`width`, `height` are ignored).
    pub opts: PlotOptions,
}

/// Writes a PNG at `path` with a title and the `panels` in a grid of `cols` columns, each
/// `panel_size` pixels, drawn as in [`overlay`] (legend in the first panel only). Written
/// atomically.
pub fn grid(path: &Path, title: &str, panels: &[Panel], cols: usize, panel_size: (u32, u32)) -> Result<()> {
    init_fonts()?;
    if panels.is_empty() {
        bail!("plot '{title}': no panels");
    }
    let series: Vec<Vec<(&str, Vec<f64>)>> =
        panels.iter().map(|p| p.series.iter().map(|(n, d)| (n.as_str(), d.clone())).collect()).collect();
    for (p, s) in panels.iter().zip(&series) {
        check(&p.title, &p.edges, s, p.opts)?;
    }
    let cols = cols.clamp(1, panels.len());
    let rows = panels.len().div_ceil(cols);
    let header = 40;
    let size = (panel_size.0 * cols as u32, panel_size.1 * rows as u32 + header);
    write_png(path, size, |root| {
        let (top, body) = root.split_vertically(header);
        top.draw(&Text::new(title.to_string(), (10, 8), ("sans-serif", 24).into_font().color(&BLACK)))?;
        let areas = body.split_evenly((rows, cols));
        for (k, (p, s)) in panels.iter().zip(&series).enumerate() {
            draw_panel(&areas[k], &p.title, &p.x_label, &p.edges, s, p.opts, &Fonts::SMALL, k == 0)?;
        }
        Ok(())
    })
}

/// Font sizes of a panel.
struct Fonts {
    title: u32,
    label: u32,
    tick: u32,
    y_area: u32,
    x_area: u32,
}

impl Fonts {
    const LARGE: Fonts = Fonts { title: 20, label: 15, tick: 14, y_area: 70, x_area: 45 };
    const SMALL: Fonts = Fonts { title: 14, label: 11, tick: 10, y_area: 48, x_area: 32 };
}

/// Validates one panel's input.
fn check(title: &str, edges: &[f64], series: &[(&str, Vec<f64>)], opts: PlotOptions) -> Result<()> {
    let nb = edges.len().saturating_sub(1);
    if nb == 0 {
        bail!("plot '{title}': need at least two bin edges");
    }
    if edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[1] <= w[0]) {
        bail!("plot '{title}': bin edges must be finite and increasing");
    }
    if opts.log_x && edges[0] <= 0.0 {
        bail!("plot '{title}': a log x axis needs positive bin edges");
    }
    if series.is_empty() {
        bail!("plot '{title}': no series");
    }
    for (name, d) in series {
        if d.len() != nb {
            bail!("plot '{title}': series '{name}' has {} values for {nb} bins", d.len());
        }
    }
    Ok(())
}

/// Renders into a temporary PNG next to `path` and renames it onto `path`.
fn write_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| anyhow!("{}: not a file name", path.display()))?;
    // The extension must stay .png: the encoder picks the format from it.
    let tmp = dir.join(format!(".{}.tmp{}.png", name.to_string_lossy(), std::process::id()));
    let result = (|| -> Result<()> {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("cannot draw {}", path.display())));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Tick label of a log axis at exponent `v`: only whole decades when the axis spans at least
/// two decades.
fn log_tick(v: f64, span: f64) -> String {
    if span >= 2.0 {
        if (v - v.round()).abs() < 1e-6 {
            fmt_num(10f64.powf(v.round()))
        } else {
            String::new()
        }
    } else {
        fmt_num(10f64.powf(v))
    }
}

/// Draws one histogram panel (step lines, optional legend, ratio panel) into `area`.
#[allow(clippy::too_many_arguments)]
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    edges: &[f64],
    series: &[(&str, Vec<f64>)],
    opts: PlotOptions,
    fonts: &Fonts,
    legend: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let nb = edges.len() - 1;
    let tx = |x: f64| if opts.log_x { x.log10() } else { x };
    let xs: Vec<f64> = edges.iter().map(|&e| tx(e)).collect();
    let (x0, x1) = (xs[0], xs[nb]);

    // Upper panel y range.
    let max_d = series.iter().flat_map(|(_, d)| d.iter()).cloned().filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    let min_pos = series
        .iter()
        .flat_map(|(_, d)| d.iter())
        .cloned()
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let (y0, y1, ty): (f64, f64, Box<dyn Fn(f64) -> f64>) = if opts.log_y {
        let top = if max_d > 0.0 { max_d.log10() + 0.3 } else { 1.0 };
        let bottom = if min_pos.is_finite() { min_pos.log10() - 0.3 } else { top - 3.0 };
        let bottom = bottom.max(top - 8.0);
        (bottom, top, Box::new(move |v: f64| if v > 0.0 { v.log10().max(bottom) } else { bottom }))
    } else {
        let top = if max_d > 0.0 { max_d * 1.15 } else { 1.0 };
        (0.0, top, Box::new(|v: f64| v))
    };
    let (x_span, y_span) = (x1 - x0, y1 - y0);
    let x_fmt = move |v: &f64| if opts.log_x { log_tick(*v, x_span) } else { fmt_num(*v) };
    let y_fmt = move |v: &f64| if opts.log_y { log_tick(*v, y_span) } else { fmt_num(*v) };

    let (_, h) = area.dim_in_pixel();
    let (upper, lower) = area.split_vertically((h as f64 * 0.70) as u32);
    let mut chart = ChartBuilder::on(&upper)
        .caption(title, ("sans-serif", fonts.title))
        .margin_left(6)
        .margin_right(14)
        .margin_top(6)
        .x_label_area_size(6)
        .y_label_area_size(fonts.y_area)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_desc("density")
        .y_label_formatter(&y_fmt)
        .label_style(("sans-serif", fonts.tick))
        .axis_desc_style(("sans-serif", fonts.label))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (k, (label, d)) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let mut pts = Vec::with_capacity(2 * nb + 2);
        pts.push((xs[0], y0));
        for i in 0..nb {
            let v = if d[i].is_finite() { ty(d[i]) } else { y0 };
            pts.push((xs[i], v));
            pts.push((xs[i + 1], v));
        }
        pts.push((xs[nb], y0));
        let width = if k == 0 { 3 } else { 2 };
        chart
            .draw_series(LineSeries::new(pts, colour.stroke_width(width)))
            .map_err(|e| anyhow!("{e}"))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(width)));
    }
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", fonts.label))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }

    // Ratio panel: each generated series over the reference, clamped to [0.5, 1.5].
    let (r0, r1) = (0.5, 1.5);
    let mut ratio = ChartBuilder::on(&lower)
        .margin_left(6)
        .margin_right(14)
        .margin_bottom(4)
        .x_label_area_size(fonts.x_area)
        .y_label_area_size(fonts.y_area)
        .build_cartesian_2d(x0..x1, r0..r1)
        .map_err(|e| anyhow!("{e}"))?;
    ratio
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("ratio")
        .x_label_formatter(&x_fmt)
        .x_labels(8)
        .y_labels(5)
        .label_style(("sans-serif", fonts.tick))
        .axis_desc_style(("sans-serif", fonts.label))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    ratio
        .draw_series(LineSeries::new(vec![(x0, 1.0), (x1, 1.0)], BLACK.mix(0.6).stroke_width(1)))
        .map_err(|e| anyhow!("{e}"))?;
    let reference = &series[0].1;
    for (k, (_, d)) in series.iter().enumerate().skip(1) {
        let colour = COLOURS[k % COLOURS.len()];
        for i in 0..nb {
            if reference[i] > 0.0 && d[i].is_finite() {
                let r = (d[i] / reference[i]).clamp(r0, r1);
                ratio
                    .draw_series(LineSeries::new(vec![(xs[i], r), (xs[i + 1], r)], colour.stroke_width(2)))
                    .map_err(|e| anyhow!("{e}"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_numbers() {
        assert_eq!(fmt_num(1.0), "1");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(3.16227766), "3.16");
        assert_eq!(fmt_num(316.227766), "316");
        assert_eq!(fmt_num(1e5), "1e5");
        assert_eq!(fmt_num(-30.0), "-30");
    }

    #[test]
    fn writes_a_png_and_rejects_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.png");
        let edges: Vec<f64> = (0..=20).map(|i| 0.5 + i as f64 * 0.05).collect();
        let a: Vec<f64> = (0..20).map(|i| (-(i as f64 - 10.0).powi(2) / 10.0).exp()).collect();
        let b: Vec<f64> = (0..20).map(|i| (-(i as f64 - 11.0).powi(2) / 12.0).exp()).collect();
        overlay(&p, "E_tot / E_inc", "E_tot / E_inc", &edges, &[("reference", a.clone()), ("generated", b)], false).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let e = overlay(&p, "t", "x", &edges, &[("r", vec![1.0; 3])], false).unwrap_err();
        assert!(e.to_string().contains("3 values for 20 bins"), "{e}");
        let e = overlay(&p, "t", "x", &[-1.0, 1.0], &[("r", vec![1.0])], true).unwrap_err();
        assert!(e.to_string().contains("positive"), "{e}");
        // Only the target is left in the directory (no temporary files).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A log-log example; set TDSM_KEEP_PLOTS=DIR to keep both for a visual check.
        let le: Vec<f64> = (0..=40).map(|i| 10f64.powf(-1.8 + i as f64 * 0.1)).collect();
        let da: Vec<f64> = le.windows(2).map(|w| (-(w[0].log10() - 0.5).powi(2)).exp() / w[0]).collect();
        let db: Vec<f64> = da.iter().enumerate().map(|(i, v)| v * (1.0 + 0.01 * i as f64)).collect();
        let p2 = dir.path().join("log.png");
        overlay_with(
            &p2,
            "voxel energy",
            "E_voxel [MeV]",
            &le,
            &[("reference", da), ("generated", db)],
            PlotOptions { log_x: true, log_y: true, ..PlotOptions::default() },
        )
        .unwrap();
        let panels: Vec<Panel> = (0..5)
            .map(|k| Panel {
                title: format!("layer {k}"),
                x_label: "E [MeV]".into(),
                edges: le.clone(),
                series: vec![("reference".into(), vec![1.0; 40]), ("generated".into(), vec![1.0 + 0.02 * k as f64; 40])],
                opts: PlotOptions { log_x: true, ..PlotOptions::default() },
            })
            .collect();
        let p3 = dir.path().join("grid.png");
        grid(&p3, "E_layer", &panels, 3, (360, 280)).unwrap();
        assert!(std::fs::metadata(&p3).unwrap().len() > 1000);
        if let Some(keep) = std::env::var_os("TDSM_KEEP_PLOTS") {
            std::fs::copy(&p, Path::new(&keep).join("linear.png")).unwrap();
            std::fs::copy(&p2, Path::new(&keep).join("log.png")).unwrap();
            std::fs::copy(&p3, Path::new(&keep).join("grid.png")).unwrap();
        }
    }
}
