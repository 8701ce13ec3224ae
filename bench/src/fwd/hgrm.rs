//! The `.hgrm` text format (HdrHistogram's "percentile distribution" output,
//! what HistogramLogProcessor and the online plotter read). The hdrhistogram
//! crate serializes only the binary V2 format, so the text is written here.
use std::fmt::Write;

use hdrhistogram::Histogram;

/// Percentile distribution of `h` (values recorded in ns), printed in µs.
pub fn percentile_distribution(h: &Histogram<u64>, ticks_per_half_distance: u32) -> String {
    const SCALE: f64 = 1000.0; // ns -> µs
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for v in h.iter_quantiles(ticks_per_half_distance) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = h.highest_equivalent(v.value_iterated_to()) as f64 / SCALE;
        if q < 1.0 {
            let _ = writeln!(
                s,
                "{value:12.3} {q:14.12} {total:10} {:14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(s, "{value:12.3} {q:14.12} {total:10}");
        }
    }
    let _ = writeln!(
        s,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / SCALE,
        h.stdev() / SCALE
    );
    let _ = writeln!(
        s,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / SCALE,
        h.len()
    );
    // HdrHistogram's sub-bucket count: the power of two covering 2 * 10^sigfig.
    let sub_buckets = 1u64 << (2.0 * 10f64.powi(i32::from(h.sigfig()))).log2().ceil() as u32;
    let _ = writeln!(
        s,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_buckets
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_has_header_rows_and_footer() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for v in [10_000u64, 20_000, 30_000, 40_000, 1_000_000] {
            h.record(v).unwrap();
        }
        let t = percentile_distribution(&h, 5);
        assert!(t.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
        assert!(t.contains("Total count    =            5]"), "{t}");
        assert!(t.contains("SubBuckets     =         2048]"), "{t}");
        let last_row = t
            .lines()
            .rfind(|l| !l.starts_with('#') && !l.is_empty())
            .unwrap();
        assert!(last_row.contains("1.000000000000"), "{last_row}");
    }
}
