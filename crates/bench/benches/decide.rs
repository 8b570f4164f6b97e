//! Criterion: the pure decision function (`varsel_core::decide::decide`) for one
//! recipient (seven channels). `cargo bench -p varsel-bench`.

use criterion::{Criterion, criterion_group, criterion_main};
use varsel_bench::decide_input::Input;

fn bench(c: &mut Criterion) {
    let input = Input::new();
    c.bench_function("decide one recipient", |b| {
        b.iter(|| std::hint::black_box(input.decide()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
