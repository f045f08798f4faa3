//! The jobs' numbers, read from their Prometheus `/metrics` (or, inside
//! `rtds run`, from its own registry in the same text): summed over every
//! job, so two processors count as one pipeline.

use std::collections::BTreeMap;

use prometheus_parse::{Scrape, Value};

use crate::metrics::Metrics;

/// A histogram's cumulative counts by upper bound (`le`), in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets(pub Vec<(f64, f64)>);

impl Buckets {
    fn add(&mut self, counts: &[prometheus_parse::HistogramCount]) {
        for count in counts {
            match self.0.iter_mut().find(|(le, _)| *le == count.less_than) {
                Some((_, n)) => *n += count.count,
                None => self.0.push((count.less_than, count.count)),
            }
        }
        self.0.sort_by(|a, b| a.0.total_cmp(&b.0));
    }

    /// The `q` quantile (0..1) of what was observed after `earlier`, in
    /// milliseconds, interpolated inside its bucket as Prometheus does.
    pub fn quantile_since(&self, earlier: &Buckets, q: f64) -> Option<f64> {
        let before = |le: f64| {
            earlier
                .0
                .iter()
                .find(|(l, _)| *l == le)
                .map_or(0.0, |(_, n)| *n)
        };
        let counts: Vec<(f64, f64)> = self
            .0
            .iter()
            .map(|&(le, n)| (le, (n - before(le)).max(0.0)))
            .collect();
        let total = counts.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut lower = (0.0, 0.0);
        for &(le, n) in &counts {
            if n >= rank {
                if le.is_infinite() {
                    return Some(lower.0 * 1e3);
                }
                let inside = if n > lower.1 {
                    (rank - lower.1) / (n - lower.1)
                } else {
                    0.0
                };
                return Some((lower.0 + (le - lower.0) * inside) * 1e3);
            }
            lower = (le, n);
        }
        None
    }
}

/// What the dashboard reads of every job's metrics, summed.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Jobs asked (the run's own counters count as one).
    pub listed: usize,
    /// Jobs that answered.
    pub jobs: usize,
    pub counters: BTreeMap<String, f64>,
    /// `source_errors` and `records_dead_lettered`, by reason.
    pub reasons: BTreeMap<(String, String), f64>,
    pub histograms: BTreeMap<String, Buckets>,
}

impl Totals {
    /// A counter's sum (`rows_written`, `users_fetched`, ...), when some job has it.
    pub fn counter(&self, name: &str) -> Option<f64> {
        self.counters.get(name).copied()
    }

    /// Adds one job's exposition.
    pub fn add(&mut self, text: &str) {
        let lines = text.lines().map(|line| Ok(line.to_string()));
        let Ok(scrape) = Scrape::parse(lines) else {
            return;
        };
        self.jobs += 1;
        for sample in scrape.samples {
            let Some(name) = sample.metric.strip_prefix("rtds_") else {
                continue;
            };
            let name = name.strip_suffix("_total").unwrap_or(name).to_string();
            match sample.value {
                Value::Histogram(counts) => self.histograms.entry(name).or_default().add(&counts),
                Value::Counter(n) | Value::Gauge(n) | Value::Untyped(n) => {
                    if let Some(reason) = sample.labels.get("reason") {
                        *self.reasons.entry((name, reason.to_string())).or_default() += n;
                    } else if sample.labels.get("partition").is_none() {
                        *self.counters.entry(name).or_default() += n;
                    }
                }
                Value::Summary(_) => {}
            }
        }
    }
}

/// Reads every job's `/metrics`, and `own` (the metrics of the `rtds run`
/// serving the dashboard). A job that does not answer is left out and
/// counted in the log once per refresh at debug level: jobs come and go.
pub async fn read(http: &reqwest::Client, urls: &[String], own: Option<&Metrics>) -> Totals {
    let mut totals = Totals {
        listed: urls.len() + usize::from(own.is_some()),
        ..Totals::default()
    };
    if let Some(own) = own {
        totals.add(&own.encode());
    }
    let replies = futures::future::join_all(urls.iter().map(|url| async move {
        let reply = http.get(url).send().await?.error_for_status()?;
        reply.text().await
    }))
    .await;
    for (url, reply) in urls.iter().zip(replies) {
        match reply {
            Ok(text) => totals.add(&text),
            Err(error) => tracing::debug!("cannot scrape {url}: {error}"),
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_exposition_is_read_back_and_summed() {
        let metrics = Metrics::new();
        metrics.written.inc_by(7);
        metrics.dead_lettered.inc("bad_json");
        for ms in [1.0, 2.0, 3.0, 100.0] {
            metrics.write_seconds.observe(ms / 1e3);
        }
        let mut totals = Totals::default();
        totals.add(&metrics.encode());
        totals.add(&metrics.encode());
        assert_eq!(totals.jobs, 2);
        assert_eq!(totals.counter("rows_written"), Some(14.0));
        assert_eq!(
            totals.reasons[&("records_dead_lettered".into(), "bad_json".into())],
            2.0
        );
        let writes = &totals.histograms["write_seconds"];
        let p50 = writes.quantile_since(&Buckets::default(), 0.5).unwrap();
        assert!((1.0..=3.5).contains(&p50), "p50 {p50} ms");
        let p99 = writes.quantile_since(&Buckets::default(), 0.99).unwrap();
        assert!((60.0..=150.0).contains(&p99), "p99 {p99} ms");
        assert_eq!(writes.quantile_since(writes, 0.5), None, "nothing new");
    }
}
