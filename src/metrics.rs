//! In-process metrics the engine records and `/metrics` serves.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the send-latency histogram's buckets.
const BOUNDS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// How long providers take to accept a send.
#[derive(Debug, Default)]
pub struct SendLatency {
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl SendLatency {
    pub fn observe(&self, seconds: f64) {
        for (bound, bucket) in BOUNDS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The histogram in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP herald_send_seconds Time providers took to accept a send."
        );
        let _ = writeln!(out, "# TYPE herald_send_seconds histogram");
        for (bound, bucket) in BOUNDS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "herald_send_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "herald_send_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "herald_send_seconds_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "herald_send_seconds_count {count}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn buckets_are_cumulative() {
        let h = super::SendLatency::default();
        h.observe(0.003);
        h.observe(2.0);
        let mut out = String::new();
        h.render(&mut out);
        assert!(
            out.contains("herald_send_seconds_bucket{le=\"0.005\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("herald_send_seconds_bucket{le=\"5\"} 2"),
            "{out}"
        );
        assert!(out.contains("herald_send_seconds_count 2"), "{out}");
    }
}
