//! Latency histograms, the one-line-per-second progress report, Prometheus histogram
//! percentiles, and JSON output shared by the subcommands.

use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Microsecond latencies from 1 µs to 10 min, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = (d.as_micros() as u64).clamp(1, 600_000_000);
    h.saturating_record(us);
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

pub fn write_json<T: Serialize>(path: Option<&Path>, value: &T) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(path, serde_json::to_vec_pretty(value)?)?;
    }
    Ok(())
}

/// One Prometheus histogram (cumulative buckets) read from a `/metrics` page.
#[derive(Debug, Clone, Default)]
pub struct PromHistogram {
    /// (upper bound, cumulative count), ascending, `+Inf` last.
    pub buckets: Vec<(f64, f64)>,
    pub count: f64,
    pub sum: f64,
}

impl PromHistogram {
    pub fn parse(text: &str, name: &str) -> PromHistogram {
        let mut h = PromHistogram::default();
        let bucket = format!("{name}_bucket{{");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(&bucket) {
                let Some((labels, value)) = rest.rsplit_once("} ") else {
                    continue;
                };
                let Some(le) = labels
                    .split(',')
                    .find_map(|l| l.trim().strip_prefix("le=\""))
                    .map(|l| l.trim_end_matches('"'))
                else {
                    continue;
                };
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::NAN)
                };
                h.buckets.push((bound, value.trim().parse().unwrap_or(0.0)));
            } else if let Some(v) = line.strip_prefix(&format!("{name}_count ")) {
                h.count = v.trim().parse().unwrap_or(0.0);
            } else if let Some(v) = line.strip_prefix(&format!("{name}_sum ")) {
                h.sum = v.trim().parse().unwrap_or(0.0);
            }
        }
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        h
    }

    /// What was observed after `earlier`.
    pub fn since(&self, earlier: &PromHistogram) -> PromHistogram {
        let before = |bound: f64| {
            earlier
                .buckets
                .iter()
                .find(|(b, _)| *b == bound)
                .map(|(_, c)| *c)
                .unwrap_or(0.0)
        };
        PromHistogram {
            buckets: self
                .buckets
                .iter()
                .map(|(b, c)| (*b, c - before(*b)))
                .collect(),
            count: self.count - earlier.count,
            sum: self.sum - earlier.sum,
        }
    }

    /// The `q` quantile, interpolated linearly inside its bucket (as Prometheus'
    /// `histogram_quantile` does).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.buckets.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut lower = 0.0;
        let mut below = 0.0;
        for (bound, cumulative) in &self.buckets {
            if *cumulative >= rank {
                if bound.is_infinite() {
                    return Some(lower);
                }
                let inside = cumulative - below;
                let fraction = if inside > 0.0 {
                    (rank - below) / inside
                } else {
                    1.0
                };
                return Some(lower + (bound - lower) * fraction);
            }
            lower = *bound;
            below = *cumulative;
        }
        Some(lower)
    }
}

/// VmHWM (peak resident set) of a process in MiB, from /proc.
#[allow(dead_code)]
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"# TYPE x histogram
x_bucket{le="0.5"} 10
x_bucket{le="1"} 90
x_bucket{le="2"} 100
x_bucket{le="+Inf"} 100
x_sum 80
x_count 100
"#;

    #[test]
    fn prometheus_quantiles_interpolate_inside_the_bucket() {
        let h = PromHistogram::parse(PAGE, "x");
        assert_eq!(h.buckets.len(), 4);
        assert_eq!(h.count, 100.0);
        let p50 = h.quantile(0.5).unwrap();
        assert!((p50 - 0.75).abs() < 1e-9, "{p50}");
        let p99 = h.quantile(0.99).unwrap();
        assert!((p99 - 1.9).abs() < 1e-9, "{p99}");
        let empty = h.since(&h);
        assert_eq!(empty.quantile(0.5), None);
    }
}
