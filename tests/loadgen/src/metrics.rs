//! The server's own figures: natter's `--metrics ADDR` (src/metrics.rs there)
//! scraped before and after a measured window, and what the window's share of
//! each histogram says.
//!
//! natter serves Prometheus histograms: for each bound (10 µs to 10 s, then
//! `+Inf`) a cumulative count of the observations at most that long
//! (`NAME_bucket{le="..."}`), then `NAME_sum` and `NAME_count`, and beside
//! them a gauge `NAME_max`, the longest observation since the server started.
//! Counts only grow, so what a window added to each bucket is the difference
//! between two scrapes. From those differences a quantile is known only to
//! its bucket, so it is reported as the bucket's upper bound (`≤2.5ms`): an
//! honest "at most", never a made-up interpolation.
//!
//! Only the lines the bench uses are read: this is not a Prometheus parser,
//! and a line it does not understand is skipped, not an error, so a server
//! with more figures than these still works.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::Error;

/// From the first event a hub pass takes to the end of its writes: every
/// client of the server waits for the pass in progress.
pub const HUB_PASS: &str = "natter_hub_pass_seconds";
/// From a reader thread's send to the hub taking the event.
pub const EVENT_WAIT: &str = "natter_hub_event_wait_seconds";
/// One storage commit of a pass's messages and session changes.
pub const COMMIT: &str = "natter_commit_seconds";

/// How long a scrape may take, connecting and reading together. natter
/// answers from atomics on a thread of its own, so a slow answer means a
/// starved machine; better a `-` than a stalled bench.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// The quantile the table shows for the hub's figures.
const P99: f64 = 0.99;

/// One histogram as one scrape saw it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// `(upper bound in seconds, observations at most that long)`, in the
    /// order served, which is ascending; `+Inf` is `f64::INFINITY`.
    pub buckets: Vec<(f64, u64)>,
    /// The `_max` gauge: the longest observation since start, in seconds.
    pub max: Option<f64>,
}

/// Every histogram of one scrape, by name.
#[derive(Debug, Default)]
pub struct Scrape {
    histograms: Vec<(String, Histogram)>,
}

impl Scrape {
    pub fn get(&self, name: &str) -> Option<&Histogram> {
        self.histograms
            .iter()
            .find_map(|(n, h)| (n == name).then_some(h))
    }

    fn entry(&mut self, name: &str) -> &mut Histogram {
        let at = match self.histograms.iter().position(|(n, _)| n == name) {
            Some(at) => at,
            None => {
                self.histograms
                    .push((name.to_string(), Histogram::default()));
                self.histograms.len() - 1
            }
        };
        &mut self.histograms[at].1
    }
}

/// Read the Prometheus text natter serves: `_bucket` lines make histograms,
/// and a `_max` gauge is kept for a histogram of the same name. Comments,
/// counters and anything unreadable are skipped.
pub fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape::default();
    let mut maxima = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.rsplit_once(char::is_whitespace) else {
            continue;
        };
        if let Some((name, labels)) = key.split_once('{') {
            let Some(name) = name.strip_suffix("_bucket") else {
                continue;
            };
            let (Some(le), Some(count)) = (le_label(labels), count_value(value)) else {
                continue;
            };
            scrape.entry(name).buckets.push((le, count));
        } else if let Some(name) = key.strip_suffix("_max") {
            if let Ok(max) = value.parse::<f64>() {
                maxima.push((name.to_string(), max));
            }
        }
    }
    // Only histograms get a `_max`: a gauge of that name with no buckets
    // beside it is somebody else's.
    for (name, max) in maxima {
        if scrape.get(&name).is_some() {
            scrape.entry(&name).max = Some(max);
        }
    }
    scrape
}

/// The bound of a `_bucket` line, from its labels without the opening brace:
/// `le="0.0025"}` is 0.0025 s, `le="+Inf"}` infinity.
fn le_label(labels: &str) -> Option<f64> {
    let labels = labels.strip_suffix('}')?;
    let le = labels
        .split(',')
        .find_map(|label| label.trim().strip_prefix("le=\""))?
        .strip_suffix('"')?;
    match le {
        "+Inf" => Some(f64::INFINITY),
        bound => bound.parse().ok().filter(|b: &f64| b.is_finite()),
    }
}

/// A count: natter prints integers, Prometheus allows floats (`1e+06`).
fn count_value(value: &str) -> Option<u64> {
    value.parse::<u64>().ok().or_else(|| {
        let float = value.parse::<f64>().ok()?;
        (float.is_finite() && float >= 0.0).then_some(float as u64)
    })
}

/// `GET /metrics` from a server's metrics listener, over plain HTTP/1.1.
pub fn scrape(addr: SocketAddr) -> Result<Scrape, Error> {
    let mut stream = TcpStream::connect_timeout(&addr, SCRAPE_TIMEOUT)?;
    stream.set_read_timeout(Some(SCRAPE_TIMEOUT))?;
    stream.set_write_timeout(Some(SCRAPE_TIMEOUT))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("the metrics response has no end of headers")?;
    let status = head.lines().next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 200") && !status.starts_with("HTTP/1.0 200") {
        return Err(format!("GET /metrics answered {status:?}").into());
    }
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    if header("Transfer-Encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        return Err("the metrics response is chunked, which this bench does not read".into());
    }
    let body = match header("Content-Length").and_then(|n| n.parse::<usize>().ok()) {
        Some(length) => body.get(..length).unwrap_or(body),
        None => body,
    };
    Ok(parse(body))
}

/// Where a quantile lies, to the resolution of the buckets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    /// At most this many seconds: the upper bound of its bucket.
    AtMost(f64),
    /// Longer than every finite bound (this one, in seconds): the `+Inf`
    /// bucket.
    Above(f64),
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let text = match *self {
            Bound::AtMost(seconds) => format!("≤{}", duration(seconds)),
            Bound::Above(seconds) => format!(">{}", duration(seconds)),
        };
        // Through `pad`, so that the table's widths apply.
        f.pad(&text)
    }
}

/// A bucket bound as the table writes durations: `10µs`, `2.5ms`, `10s`.
fn duration(seconds: f64) -> String {
    let (value, unit) = if seconds < 1e-3 {
        (seconds * 1e6, "µs")
    } else if seconds < 1.0 {
        (seconds * 1e3, "ms")
    } else {
        (seconds, "s")
    };
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}{unit}")
}

/// What one histogram's observations between two scrapes say.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Observations in the window.
    pub count: u64,
    pub p99: Bound,
    /// The bucket of the longest observation in the window: the highest
    /// bucket that gained one.
    pub max: Bound,
    /// The `_max` gauge after the window, if the window raised it: then the
    /// window's longest observation is exactly this (seconds). If the
    /// window did not raise it, the gauge is something from before.
    pub exact_max: Option<f64>,
}

/// The window between two scrapes of one histogram. `None` if nothing was
/// observed in it, or the two do not fit together (other bounds, or counts
/// that went down: not the same server).
pub fn window(before: &Histogram, after: &Histogram) -> Option<Window> {
    if before.buckets.len() != after.buckets.len() {
        return None;
    }
    let mut cumulative = Vec::with_capacity(after.buckets.len());
    for (&(bound, old), &(new_bound, new)) in before.buckets.iter().zip(&after.buckets) {
        if bound != new_bound || new < old {
            return None;
        }
        cumulative.push((bound, new - old));
    }
    // Cumulative counts: the last bucket (`+Inf`) holds every observation.
    let count = cumulative.last()?.1;
    if count == 0 {
        return None;
    }
    let exact_max = match (before.max, after.max) {
        (Some(old), Some(new)) if new > old => Some(new),
        (None, Some(new)) => Some(new),
        _ => None,
    };
    Some(Window {
        count,
        p99: quantile(&cumulative, P99)?,
        max: quantile(&cumulative, 1.0)?,
        exact_max,
    })
}

/// The bucket that holds quantile `q` of a window, from its cumulative
/// counts (bound, observations at most that long). `None` when empty.
fn quantile(cumulative: &[(f64, u64)], q: f64) -> Option<Bound> {
    let count = cumulative.last()?.1;
    if count == 0 {
        return None;
    }
    // The rank of the sample at quantile q, 1-based: the 99th percentile of
    // 100 observations is the 99th, of 1,000 the 990th.
    let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
    let at = cumulative.iter().position(|&(_, seen)| seen >= rank)?;
    let bound = cumulative[at].0;
    if bound.is_finite() {
        return Some(Bound::AtMost(bound));
    }
    // Past every finite bound: say which one it is past.
    let highest = cumulative[..at]
        .iter()
        .rev()
        .map(|&(b, _)| b)
        .find(|b| b.is_finite())
        .unwrap_or(0.0);
    Some(Bound::Above(highest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// natter's rendering (src/metrics.rs), trimmed to three bounds.
    const SCRAPE: &str = "\
# HELP natter_hub_pass_seconds One pass of the hub.
# TYPE natter_hub_pass_seconds histogram
natter_hub_pass_seconds_bucket{le=\"0.00001\"} 4
natter_hub_pass_seconds_bucket{le=\"0.0025\"} 90
natter_hub_pass_seconds_bucket{le=\"10\"} 100
natter_hub_pass_seconds_bucket{le=\"+Inf\"} 101
natter_hub_pass_seconds_sum 0.5
natter_hub_pass_seconds_count 101
# HELP natter_hub_pass_seconds_max The longest since start.
# TYPE natter_hub_pass_seconds_max gauge
natter_hub_pass_seconds_max 12.5
# TYPE natter_commit_seconds histogram
natter_commit_seconds_bucket{le=\"0.001\"} 0
natter_commit_seconds_bucket{le=\"+Inf\"} 0
natter_commit_seconds_max 0
natter_messages_total 7
natter_connections_max 3
";

    fn histogram(buckets: &[(f64, u64)], max: f64) -> Histogram {
        Histogram {
            buckets: buckets.to_vec(),
            max: Some(max),
        }
    }

    #[test]
    fn parses_buckets_and_the_max_gauge() {
        let scrape = parse(SCRAPE);
        let pass = scrape.get(HUB_PASS).expect("the pass histogram");
        assert_eq!(
            pass.buckets,
            vec![
                (0.00001, 4),
                (0.0025, 90),
                (10.0, 100),
                (f64::INFINITY, 101)
            ]
        );
        assert_eq!(pass.max, Some(12.5));
        let commit = scrape.get(COMMIT).expect("the commit histogram");
        assert_eq!(commit.buckets.len(), 2);
        assert_eq!(commit.max, Some(0.0));
        // Neither a counter nor a stray gauge becomes a histogram.
        assert!(scrape.get("natter_messages_total").is_none());
        assert!(scrape.get("natter_connections").is_none());
        assert!(scrape.get(EVENT_WAIT).is_none());
    }

    #[test]
    fn skips_what_it_cannot_read() {
        let scrape = parse(
            "x_bucket{le=\"oops\"} 1\nx_bucket{le=\"0.1\"} many\nx_bucket{le=\"0.5\"} 3\n\
             x_bucket 9\ngarbage\n\n  x_bucket{job=\"a\",le=\"+Inf\"} 1e+01  \n",
        );
        let x = scrape.get("x").expect("x has readable buckets");
        assert_eq!(x.buckets, vec![(0.5, 3), (f64::INFINITY, 10)]);
        assert_eq!(x.max, None);
    }

    #[test]
    fn quantiles_come_from_the_window_only() {
        // Before the window: 1,000 long observations (a join storm, say).
        let before = histogram(
            &[(0.001, 0), (0.01, 0), (0.1, 1000), (f64::INFINITY, 1000)],
            0.09,
        );
        // The window adds 985 under 1 ms, 10 under 10 ms, 5 under 100 ms.
        let after = histogram(
            &[
                (0.001, 985),
                (0.01, 995),
                (0.1, 2000),
                (f64::INFINITY, 2000),
            ],
            0.09,
        );
        let w = window(&before, &after).expect("a window with observations");
        assert_eq!(w.count, 1000);
        // The 990th of 1,000 is in the second bucket.
        assert_eq!(w.p99, Bound::AtMost(0.01));
        assert_eq!(w.max, Bound::AtMost(0.1));
        // The since-start max did not grow: it is not this window's.
        assert_eq!(w.exact_max, None);
        // Counted from the start, the p99 would be the storm's bucket.
        assert_eq!(
            quantile(&after.buckets, P99),
            Some(Bound::AtMost(0.1)),
            "the window must not see what came before it"
        );
    }

    #[test]
    fn the_rank_is_rounded_up() {
        // 99 fast, 1 slow: the 99th of 100 is fast, the max is slow.
        let after = [(0.001, 99), (1.0, 100), (f64::INFINITY, 100)];
        assert_eq!(quantile(&after, P99), Some(Bound::AtMost(0.001)));
        assert_eq!(quantile(&after, 1.0), Some(Bound::AtMost(1.0)));
        // 98 fast, 2 slow: the 99th is slow.
        let after = [(0.001, 98), (1.0, 100), (f64::INFINITY, 100)];
        assert_eq!(quantile(&after, P99), Some(Bound::AtMost(1.0)));
    }

    #[test]
    fn past_the_last_bound_and_empty_windows() {
        let before = histogram(&[(0.001, 5), (10.0, 5), (f64::INFINITY, 5)], 0.0005);
        let after = histogram(&[(0.001, 5), (10.0, 5), (f64::INFINITY, 6)], 20.0);
        let w = window(&before, &after).expect("one observation");
        assert_eq!(w.max, Bound::Above(10.0));
        assert_eq!(w.p99, Bound::Above(10.0));
        assert_eq!(w.exact_max, Some(20.0));
        // Nothing observed: no window. Counts going down: not one server.
        assert_eq!(window(&before, &before), None);
        assert_eq!(window(&after, &before), None);
        // Different bounds do not fit together.
        let other = histogram(&[(0.002, 5), (10.0, 5), (f64::INFINITY, 6)], 20.0);
        assert_eq!(window(&before, &other), None);
    }

    #[test]
    fn bounds_read_as_the_table_writes_durations() {
        assert_eq!(Bound::AtMost(0.00001).to_string(), "≤10µs");
        assert_eq!(Bound::AtMost(0.000025).to_string(), "≤25µs");
        assert_eq!(Bound::AtMost(0.0025).to_string(), "≤2.5ms");
        assert_eq!(Bound::AtMost(0.25).to_string(), "≤250ms");
        assert_eq!(Bound::AtMost(1.0).to_string(), "≤1s");
        assert_eq!(Bound::Above(10.0).to_string(), ">10s");
        assert_eq!(format!("{:>8}", Bound::AtMost(0.001)), "    ≤1ms");
    }
}
