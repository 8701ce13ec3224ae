//! The latency plot of a run: percentile curves (HdrHistogram's plotter
//! layout: x = 1/(1-percentile) on a log axis, so p50, p90, p99, p99.9 sit
//! evenly apart), kernel against router, unloaded and under one bulk TCP
//! flow side by side, written as SVG with `plotters` next to the `.hgrm`
//! files.
use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

/// One curve: its label and the histogram (values in ns).
pub struct Curve<'a> {
    pub label: &'a str,
    pub hist: &'a Histogram<u64>,
}

/// The rightmost point: p99.999 (1/(1-q) = 10^5). The histograms hold
/// 20,000 samples per repetition, so the tail beyond is the max.
const X_DECADES: f64 = 5.0;

/// Points (x = log10(1/(1-q)), y = µs) of `h`'s percentile distribution.
/// The last point (q = 1, the max) is drawn at the right edge.
pub fn percentile_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let mut v = Vec::new();
    for it in h.iter_quantiles(5) {
        let q = it.quantile_iterated_to();
        let x = if q >= 1.0 {
            X_DECADES
        } else {
            (-(1.0 - q).log10()).min(X_DECADES)
        };
        let us = h.highest_equivalent(it.value_iterated_to()) as f64 / 1e3;
        v.push((x, us.max(0.001)));
    }
    v
}

fn x_label(x: &f64) -> String {
    // 10^x = 1/(1-q): 0 -> 0%, 1 -> 90%, 2 -> 99%, ...
    let q = 1.0 - 10f64.powf(-x);
    match x.round() as i32 {
        0 => "0%".into(),
        n if (x - n as f64).abs() < 1e-9 => {
            let s = format!("{:.*}", (n - 2).max(0) as usize, q * 100.0);
            format!("{s}%")
        }
        _ => format!("{:.1}%", q * 100.0),
    }
}

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
];

/// Writes `path` (SVG): one panel per `(title, curves)`, log-log axes.
pub fn latency_svg(path: &Path, panels: &[(&str, Vec<Curve<'_>>)]) -> Result<(), String> {
    let n = panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (560 * n, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((1, n as usize));
    for ((title, curves), area) in panels.iter().zip(areas.iter()) {
        let pts: Vec<Vec<(f64, f64)>> = curves.iter().map(|c| percentile_points(c.hist)).collect();
        let (lo, hi) = pts
            .iter()
            .flatten()
            .fold((f64::MAX, 0f64), |(lo, hi), &(_, y)| (lo.min(y), hi.max(y)));
        if hi <= 0.0 {
            continue;
        }
        let (lo, hi) = ((lo * 0.8).max(0.1), hi * 1.25);
        let mut chart = ChartBuilder::on(area)
            .caption(*title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..X_DECADES, (lo..hi).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("round trip, µs")
            .x_labels(6)
            .x_label_formatter(&x_label)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (c, p)) in curves.iter().zip(pts).enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(p, colour.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(format!("{} ({} samples)", c.label, c.hist.len()))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_monotonic_and_labelled() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for v in 1..=10_000u64 {
            h.record(v * 1_000).unwrap(); // 1 µs .. 10 ms
        }
        let p = percentile_points(&h);
        assert!(p.len() > 10);
        assert!(p.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(p.last().unwrap().0, X_DECADES);
        assert_eq!(x_label(&0.0), "0%");
        assert_eq!(x_label(&1.0), "90%");
        assert_eq!(x_label(&2.0), "99%");
        assert_eq!(x_label(&3.0), "99.9%");
    }

    #[test]
    fn writes_an_svg_with_both_panels() {
        let mut a = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        let mut b = a.clone();
        for v in 1..=2_000u64 {
            a.record(10_000 + v * 10).unwrap();
            b.record(20_000 + v * 50).unwrap();
        }
        let dir = std::env::temp_dir().join(format!("fwd-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("t.svg");
        let curves = || {
            vec![
                Curve {
                    label: "kernel",
                    hist: &a,
                },
                Curve {
                    label: "router",
                    hist: &b,
                },
            ]
        };
        latency_svg(&f, &[("unloaded", curves()), ("loaded", curves())]).unwrap();
        let svg = std::fs::read_to_string(&f).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("unloaded") && svg.contains("router (2000 samples)"));
        // Each panel: two curves in their colours (and their legend marks).
        for colour in ["#1F77B4", "#D62728"] {
            assert!(svg.matches(colour).count() >= 4, "{colour} in {svg}");
        }
    }
}
