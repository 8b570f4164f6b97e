//! Varsel's benchmark suite (`scripts/bench`): Varsel in-process or as the real binary,
//! driven over loopback HTTP by its own load generator, beside the ceilings of the
//! machine measured in the same run. See BENCHMARKS.md.

pub mod ceiling;
pub mod decide_input;
pub mod flood;
pub mod load;
pub mod scenarios;
pub mod sse;
pub mod sustained;
pub mod target;

/// The median of `v` (sorted in place); 0 when empty.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}
