//! Circuit breakers, one per destination (an SMTP server, a provider's host). After
//! `failures` failures in a row the destination is *open*: its jobs wait instead of each
//! spending an attempt, for a cool-down that doubles with each reopening (up to
//! `max_open`). When it ends, one job goes through as a probe (*half-open*): success
//! closes the breaker, failure opens it again. A provider's `Retry-After` opens it for at
//! least that long. Breakers are per node (each node learns on its own).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// What a job may do with a destination now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Go ahead (closed, or this job is the half-open probe).
    Pass,
    /// Wait until `until` (Unix ms): the destination is backed off.
    Wait { until: i64, failures: u32 },
}

#[derive(Debug, Clone, Default)]
struct Breaker {
    /// Failures in a row.
    failures: u32,
    /// Times it opened in a row (for the doubling cool-down).
    opens: u32,
    /// Open until this time (Unix ms); 0 when closed.
    open_until: i64,
    /// A probe is running (half-open).
    probing: bool,
}

/// What a failure did to a destination's breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Counted; still closed.
    Counted,
    /// This failure opened it, until this time (Unix ms).
    Opened(i64),
    /// It was already open: the send was under way when another one opened it.
    AlreadyOpen { until: i64, failures: u32 },
}

/// The breakers of this node.
#[derive(Debug)]
pub struct Breakers {
    threshold: u32,
    base_open: Duration,
    max_open: Duration,
    map: Mutex<HashMap<String, Breaker>>,
}

/// How long the other jobs wait while a probe is out.
const PROBE_WAIT_MS: i64 = 2_000;

impl Breakers {
    pub fn new(threshold: u32, base_open: Duration, max_open: Duration) -> Breakers {
        Breakers {
            threshold: threshold.max(1),
            base_open,
            max_open: max_open.max(base_open),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// May a job use `dest` at `now`?
    pub fn gate(&self, dest: &str, now: i64) -> Gate {
        let Ok(mut map) = self.map.lock() else {
            return Gate::Pass;
        };
        let Some(b) = map.get_mut(dest) else {
            return Gate::Pass;
        };
        if b.open_until == 0 {
            return Gate::Pass;
        }
        if now < b.open_until {
            return Gate::Wait {
                until: b.open_until,
                failures: b.failures,
            };
        }
        if b.probing {
            return Gate::Wait {
                until: now + PROBE_WAIT_MS,
                failures: b.failures,
            };
        }
        b.probing = true;
        Gate::Pass
    }

    /// The destination answered: the breaker closes.
    pub fn success(&self, dest: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(dest);
        }
    }

    /// The destination failed at `now`; `after` is a `Retry-After` it asked for.
    pub fn failure(&self, dest: &str, now: i64, after: Option<Duration>) -> Failure {
        let Ok(mut map) = self.map.lock() else {
            return Failure::Counted;
        };
        let b = map.entry(dest.to_string()).or_default();
        b.failures += 1;
        let was_probe = std::mem::take(&mut b.probing);
        let asked = after.map_or(0, |a| a.as_millis() as i64);
        // Jobs already under way when it opened fail too: that is not news.
        if now < b.open_until && !was_probe && now + asked <= b.open_until {
            return Failure::AlreadyOpen {
                until: b.open_until,
                failures: b.failures,
            };
        }
        if b.failures < self.threshold && !was_probe && asked == 0 {
            return Failure::Counted;
        }
        b.opens += 1;
        let doubled = self
            .base_open
            .saturating_mul(1 << (b.opens - 1).min(16))
            .min(self.max_open);
        let open_ms = (doubled.as_millis() as i64).max(asked);
        b.open_until = b.open_until.max(now + open_ms);
        tracing::warn!(
            destination = dest,
            failures = b.failures,
            open_ms,
            "destination backed off"
        );
        metrics::counter!("varsel_breaker_opened_total", "destination" => dest.to_string())
            .increment(1);
        Failure::Opened(b.open_until)
    }

    /// The destinations open now, with their failures in a row (for metrics).
    pub fn open(&self, now: i64) -> Vec<(String, u32)> {
        self.map
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|(_, b)| b.open_until > now)
                    .map(|(k, b)| (k.clone(), b.failures))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The message of a backed-off destination, for the job's log and the trace.
pub fn waiting_reason(dest: &str, until: i64, failures: u32) -> String {
    let at = chrono::DateTime::from_timestamp_millis(until)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    format!("circuit_open: {dest} failed {failures} times in a row; next try after {at}")
}

/// Tells `dest`'s breaker a send failed. A send that was under way when another opened
/// the breaker waits with the others, without spending an attempt: the returned error.
pub fn failed(
    state: &crate::state::AppState,
    dest: &str,
    after: Option<Duration>,
) -> Option<super::JobError> {
    match state.breakers.failure(dest, state.now(), after) {
        Failure::AlreadyOpen { until, failures } => Some(super::JobError::wait(
            until,
            waiting_reason(dest, until, failures),
        )),
        Failure::Counted | Failure::Opened(_) => None,
    }
}

/// Asks the circuit breaker whether `dest` may be used now.
pub fn gate(state: &crate::state::AppState, dest: &str) -> Result<(), super::JobError> {
    match state.breakers.gate(dest, state.now()) {
        Gate::Pass => Ok(()),
        Gate::Wait { until, failures } => Err(super::JobError::wait(
            until,
            waiting_reason(dest, until, failures),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers() -> Breakers {
        Breakers::new(3, Duration::from_secs(10), Duration::from_secs(60))
    }

    #[test]
    fn opens_after_the_threshold_and_probes_once() {
        let b = breakers();
        assert_eq!(b.failure("smtp", 0, None), Failure::Counted);
        assert_eq!(b.failure("smtp", 0, None), Failure::Counted);
        assert_eq!(b.gate("smtp", 0), Gate::Pass);
        assert_eq!(b.failure("smtp", 0, None), Failure::Opened(10_000));
        // A send that was under way fails too: it waits with the others.
        assert_eq!(
            b.failure("smtp", 1, None),
            Failure::AlreadyOpen {
                until: 10_000,
                failures: 4
            }
        );
        assert_eq!(
            b.gate("smtp", 5_000),
            Gate::Wait {
                until: 10_000,
                failures: 4
            }
        );
        // Other destinations flow.
        assert_eq!(b.gate("slack", 5_000), Gate::Pass);
        // Half-open: one probe, the others wait for it.
        assert_eq!(b.gate("smtp", 10_000), Gate::Pass);
        assert!(matches!(b.gate("smtp", 10_001), Gate::Wait { .. }));
        // The probe fails: open again, twice as long.
        assert_eq!(b.failure("smtp", 10_100, None), Failure::Opened(30_100));
        assert_eq!(b.gate("smtp", 30_100), Gate::Pass);
        b.success("smtp");
        assert_eq!(b.gate("smtp", 30_200), Gate::Pass);
        assert_eq!(b.failure("smtp", 30_300, None), Failure::Counted);
    }

    #[test]
    fn retry_after_opens_at_once_for_at_least_that_long() {
        let b = breakers();
        assert_eq!(
            b.failure("fcm", 0, Some(Duration::from_secs(120))),
            Failure::Opened(120_000)
        );
        assert!(matches!(b.gate("fcm", 119_999), Gate::Wait { .. }));
    }

    #[test]
    fn the_cool_down_is_capped() {
        let b = breakers();
        let mut now = 0;
        for _ in 0..10 {
            for _ in 0..3 {
                b.failure("x", now, None);
            }
            if let Gate::Wait { until, .. } = b.gate("x", now) {
                assert!(until - now <= 60_000);
                now = until;
            }
            assert_eq!(b.gate("x", now), Gate::Pass);
        }
    }
}
