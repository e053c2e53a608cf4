//! SVG plots (plotters, SVG backend only: no font or image libraries):
//! latency CDFs, gateway vs baseline, and the gateway's memory vs the
//! connections open.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::error::Error;
use crate::usage::MemorySample;

const SIZE: (u32, u32) = (900, 560);
/// Most points drawn per CDF curve.
const CDF_POINTS: usize = 600;
const COLORS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

/// `dir/<stem of json>-<suffix>.svg`.
pub fn path_for(dir: &Path, json: &Path, suffix: &str) -> PathBuf {
    let stem = json
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".to_owned());
    dir.join(format!("{stem}-{suffix}.svg"))
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
fn rank(sorted: &[u64], p: f64) -> u64 {
    crate::report::nearest_rank(sorted, p).unwrap_or(0)
}

/// Up to [`CDF_POINTS`] points `(ms, fraction ≤)` of sorted nanosecond values.
pub fn cdf_points(sorted: &[u64]) -> Vec<(f64, f64)> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let m = n.min(CDF_POINTS);
    (0..m)
        .map(|k| {
            let idx = if m == 1 { 0 } else { k * (n - 1) / (m - 1) };
            (sorted[idx] as f64 / 1e6, (idx + 1) as f64 / n as f64)
        })
        .collect()
}

/// A CDF of each named series (sorted nanoseconds), on one chart. The x
/// axis runs from the smallest value to the largest p99.9, so one outlier
/// does not flatten the curves.
pub fn cdf(path: &Path, title: &str, x_desc: &str, series: &[(&str, &[u64])]) -> Result<(), Error> {
    let present: Vec<&(&str, &[u64])> = series.iter().filter(|(_, v)| !v.is_empty()).collect();
    if present.is_empty() {
        return Ok(());
    }
    let lo = present.iter().map(|(_, v)| v[0]).min().unwrap_or(0) as f64 / 1e6;
    let hi = present
        .iter()
        .map(|(_, v)| rank(v, 0.999))
        .max()
        .unwrap_or(0) as f64
        / 1e6;
    let pad = ((hi - lo) * 0.03).max(0.001);
    let (x0, x1) = ((lo - pad).max(0.0), hi + pad);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, 0f64..1f64)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("fraction of values ≤ x")
        .draw()
        .map_err(|e| plot_error(path, e))?;
    for (i, (name, values)) in present.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = cdf_points(values)
            .into_iter()
            .filter(|(x, _)| *x <= x1)
            .collect();
        let p50 = rank(values, 0.5) as f64 / 1e6;
        let p99 = rank(values, 0.99) as f64 / 1e6;
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| plot_error(path, e))?
            .label(format!("{name} (p50 {p50:.3} ms, p99 {p99:.3} ms)"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))
}

/// The gateway's resident memory (MiB) against the connections open when
/// each sample was taken, one point per sample.
pub fn memory(path: &Path, title: &str, samples: &[MemorySample]) -> Result<(), Error> {
    if samples.is_empty() {
        return Ok(());
    }
    let max_open = samples.iter().map(|s| s.open).max().unwrap_or(0).max(1) as f64;
    let mib = |s: &MemorySample| s.rss_kb as f64 / 1024.0;
    let lo = samples.iter().map(mib).fold(f64::INFINITY, f64::min);
    let hi = samples.iter().map(mib).fold(0.0, f64::max);
    let pad = ((hi - lo) * 0.05).max(0.5);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..max_open * 1.02, (lo - pad).max(0.0)..hi + pad)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .x_desc("connections open")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("gateway RSS (MiB)")
        .draw()
        .map_err(|e| plot_error(path, e))?;
    let color = COLORS[0];
    chart
        .draw_series(
            samples
                .iter()
                .map(|s| Circle::new((s.open as f64, mib(s)), 2, color.filled())),
        )
        .map_err(|e| plot_error(path, e))?
        .label("one sample every 50 ms")
        .legend(move |(x, y)| Circle::new((x + 10, y), 3, color.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_points_span_the_values() {
        let values: Vec<u64> = (1..=2000).map(|i| i * 1000).collect();
        let pts = cdf_points(&values);
        assert_eq!(pts.len(), CDF_POINTS);
        assert_eq!(pts[0], (0.001, 1.0 / 2000.0));
        assert_eq!(pts[pts.len() - 1], (2.0, 1.0));
        assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
        assert_eq!(cdf_points(&[5_000_000]), vec![(5.0, 1.0)]);
        assert!(cdf_points(&[]).is_empty());
    }

    #[test]
    fn draws_svg_files() {
        let dir = tempfile::tempdir().unwrap();
        let a: Vec<u64> = (0..100).map(|i| 20_000_000 + i * 10_000).collect();
        let b: Vec<u64> = (0..100).map(|i| 20_300_000 + i * 12_000).collect();
        let path = path_for(dir.path(), Path::new("out/1-unloaded-ws.json"), "ttft-cdf");
        assert!(path.ends_with("1-unloaded-ws-ttft-cdf.svg"));
        cdf(&path, "TTFT", "ms", &[("baseline", &a), ("gateway", &b)]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("gateway (p50"),
            "{svg}"
        );
        let samples: Vec<MemorySample> = (0..50)
            .map(|i| MemorySample {
                at_secs: i as f64 * 0.05,
                open: i * 20,
                rss_kb: 20_000 + i * 40,
            })
            .collect();
        let path = dir.path().join("mem.svg");
        memory(&path, "memory", &samples).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("connections open")
        );
    }
}
