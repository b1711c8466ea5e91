//! Counting deliveries and their latency, from many receiver threads at once.
//!
//! Every receiver thread records straight into shared atomic counters: one
//! relaxed `fetch_add` per delivery is far cheaper than the read that brought
//! the message, and it means the controller can read a phase's results the
//! moment its last delivery lands, with no hand-over between threads.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Bits of precision kept below each power of two: 2^5 = 32 sub-buckets, so a
/// recorded latency is off by at most 1/32 (about 3%).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for any `u64` number of nanoseconds.
const BUCKETS: usize = (64 * SUB) as usize;

/// A log-linear histogram of nanoseconds (the idea of HdrHistogram, in a few
/// lines). Values below 64 ns get a bucket each; above that, each power of two
/// is split into 32 equal buckets.
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    max: AtomicU64,
}

/// The bucket a value falls in. For `ns` in `[2^m, 2^(m+1))` with `m >= 5`,
/// `shift = m - 5` keeps the top six bits, so `ns >> shift` is in `[32, 64)`
/// and `shift * 32 + (ns >> shift)` numbers the buckets with no gaps.
fn bucket_of(ns: u64) -> usize {
    let shift = (63 - ns.max(1).leading_zeros()).saturating_sub(SUB_BITS);
    (u64::from(shift) * SUB + (ns >> shift)) as usize
}

/// The smallest value in a bucket, and the bucket's width.
fn bucket_range(bucket: usize) -> (u64, u64) {
    let bucket = bucket as u64;
    let shift = (bucket / SUB).saturating_sub(1);
    ((bucket - shift * SUB) << shift, 1 << shift)
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    pub fn record(&self, ns: u64) {
        self.buckets[bucket_of(ns)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.max.fetch_max(ns, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// The value below which a fraction `q` of the samples fall (the middle of
    /// that sample's bucket, never above the true maximum). 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let count = self.count();
        if count == 0 {
            return 0;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (bucket, n) in self.buckets.iter().enumerate() {
            seen += n.load(Relaxed);
            if seen >= rank {
                let (low, width) = bucket_range(bucket);
                return (low + width / 2).min(self.max());
            }
        }
        self.max()
    }
}

/// One phase of traffic (a scenario's run, or one step of the ramp): every
/// message sent in it carries its phase number, so late arrivals from one
/// phase never count in the next.
pub struct Phase {
    /// Send-to-receipt latency of every delivery; its count is the deliveries.
    pub latency: Histogram,
    /// When the last delivery of this phase arrived, in bench nanoseconds.
    pub last_receipt_ns: AtomicU64,
}

impl Phase {
    pub fn new() -> Phase {
        Phase {
            latency: Histogram::new(),
            last_receipt_ns: AtomicU64::new(0),
        }
    }

    pub fn record(&self, sent_ns: u64, received_ns: u64) {
        self.latency.record(received_ns.saturating_sub(sent_ns));
        self.last_receipt_ns.fetch_max(received_ns, Relaxed);
    }
}

/// What a bench message's text carries, in order: `bench/PHASE/SENDER/SEQ/NS`.
/// Plain digits and slashes need no JSON escaping, so the text appears in the
/// server's frame byte for byte and can be found without parsing JSON.
#[derive(Debug, PartialEq)]
pub struct Marker {
    pub phase: usize,
    pub sender: usize,
    pub seq: u64,
    /// When it was sent: nanoseconds since the bench's shared start `Instant`.
    pub sent_ns: u64,
}

/// What comes just before a marker in a server `message` frame.
const MARKER_PREFIX: &[u8] = b"\"text\":\"bench/";

impl Marker {
    pub fn text(&self) -> String {
        format!(
            "bench/{}/{}/{}/{}",
            self.phase, self.sender, self.seq, self.sent_ns
        )
    }

    /// Find the marker in the payload of a `message` frame, or `None` for any
    /// other frame. A scan for a fixed prefix and four numbers: no JSON parsing.
    pub fn find(payload: &[u8]) -> Option<Marker> {
        if !payload.starts_with(b"{\"type\":\"message\"") {
            return None;
        }
        let start = payload
            .windows(MARKER_PREFIX.len())
            .position(|w| w == MARKER_PREFIX)?
            + MARKER_PREFIX.len();
        let mut numbers = [0u64; 4];
        let mut rest = &payload[start..];
        for (i, number) in numbers.iter_mut().enumerate() {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 || digits > 19 {
                return None;
            }
            *number = rest[..digits]
                .iter()
                .fold(0, |n, d| n * 10 + u64::from(d - b'0'));
            let separator = if i == 3 { b'"' } else { b'/' };
            if rest.get(digits) != Some(&separator) {
                return None;
            }
            rest = &rest[digits + 1..];
        }
        Some(Marker {
            phase: numbers[0] as usize,
            sender: numbers[1] as usize,
            seq: numbers[2],
            sent_ns: numbers[3],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut previous = 0;
        for ns in (0..100_000u64).chain([1 << 40, u64::MAX]) {
            let bucket = bucket_of(ns);
            assert!(bucket < BUCKETS);
            assert!(bucket == previous || bucket == previous + 1 || ns >= 1 << 40);
            let (low, width) = bucket_range(bucket);
            assert!(low <= ns && ns - low < width, "{ns} in {low}+{width}");
            assert!(width <= ns.max(1) / 32 + 1);
            previous = bucket;
        }
    }

    #[test]
    fn quantiles_are_within_three_percent() {
        let h = Histogram::new();
        for us in 1..=1000u64 {
            h.record(us * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 / 500_000.0 - 1.0).abs() < 0.03, "{p50}");
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert_eq!(h.count(), 1000);
    }

    #[test]
    fn markers_round_trip_through_a_server_frame() {
        let marker = Marker {
            phase: 3,
            sender: 7,
            seq: 12,
            sent_ns: 1_234_567_890,
        };
        let frame = format!(
            r#"{{"type":"message","room":"r0","id":9,"user":"u7","text":"{}","ts":1}}"#,
            marker.text()
        );
        assert_eq!(Marker::find(frame.as_bytes()), Some(marker));
        assert_eq!(Marker::find(br#"{"type":"presence","room":"r0"}"#), None);
        assert_eq!(
            Marker::find(br#"{"type":"message","text":"bench/1/2/x/4"}"#),
            None
        );
    }
}
