//! Cost of the scheduler's pure batch-forming `State`: pushing requests,
//! deciding, and taking batches, for a queue of 1-row requests.

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sluice_core::DataType;
use sluice_core::Tensor;
use sluice_core::scheduler::state::{BatchPolicy, Pending, State, Ticket};
use tokio::sync::oneshot;

type Answer = oneshot::Receiver<Result<Vec<Tensor>, sluice_core::InferError>>;

fn queue(n: usize, widths: &[usize]) -> (State, Vec<Answer>) {
    let mut state = State::default();
    let mut receivers = Vec::with_capacity(n);
    for i in 0..n {
        let width = widths[i % widths.len()];
        let (tx, rx) = oneshot::channel();
        let input = Tensor::new("features", DataType::Fp32, vec![1, width], vec![0u8; width * 4].into());
        state.push(Pending::new(vec![input], 1, tx, Ticket::default()));
        receivers.push(rx);
    }
    (state, receivers)
}

fn bench(c: &mut Criterion) {
    let policy = BatchPolicy { max_rows: 64, preferred: vec![16, 32], delay: Duration::from_micros(500) };
    for (name, widths) in [("uniform", vec![30]), ("mixed_shapes", vec![30, 31, 32])] {
        c.bench_function(&format!("state/decide_and_take_64_of_256/{name}"), |b| {
            b.iter_batched(
                || queue(256, &widths),
                |(mut state, receivers)| {
                    let decision = state.decide(Instant::now(), &policy);
                    let batch = state.take_batch(64);
                    // Returned, so that dropping them is not measured.
                    (decision, batch, state, receivers)
                },
                BatchSize::SmallInput,
            )
        });
    }
    c.bench_function("state/push_1024", |b| b.iter_batched(|| (), |()| queue(1024, &[30]), BatchSize::SmallInput));
}

criterion_group!(benches, bench);
criterion_main!(benches);
