//! Scoring a prompt with a learned router (`tollgate_lang::router`): a
//! 4 KiB prompt with the shipped model (`rules/routers/routellm.model`)
//! and with a synthetic model of 2^16 buckets, beside a plain walk over
//! the same bytes (the floor any scorer pays). Goal: <= 50 us per 4 KiB
//! prompt. Also times loading the shipped model file (goal: < 10 ms).

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::path::Path;
use tollgate_lang::{for_each_gram, RouterModel, RouterPrices, HEADS};

fn prompt() -> String {
    let base = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. \
How many clips did Natalia sell altogether in April and May? Explain your reasoning step by step.\n";
    let mut s = String::new();
    while s.len() + base.len() <= 4096 {
        s.push_str(base);
    }
    while s.len() < 4096 {
        s.push('x');
    }
    s
}

fn synthetic(bits: u32) -> Option<RouterModel> {
    let weights: Vec<f32> = (0..(HEADS << bits))
        .map(|i| ((i * 7919) % 201) as f32 / 1000.0 - 0.1)
        .collect();
    RouterModel::new(
        bits,
        RouterPrices {
            strong_input: 3.0,
            strong_output: 15.0,
            weak_input: 0.8,
            weak_output: 4.0,
        },
        [0.1, 3.0, 3.0],
        [[0.0; HEADS]; 2],
        weights,
        "",
    )
    .ok()
}

fn shipped_path() -> std::path::PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("rules/routers/routellm.model")
}

fn bench(c: &mut Criterion) {
    let text = prompt();
    assert_eq!(text.len(), 4096);
    let mut g = c.benchmark_group("router");
    g.bench_function("walk 4 KiB (hashes only)", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for_each_gram(black_box(&text), |_, h| acc ^= h);
            acc
        })
    });
    if let Ok(bytes) = std::fs::read(shipped_path()) {
        if let Ok(m) = RouterModel::from_bytes(&bytes) {
            g.bench_function("score 4 KiB (shipped model)", |b| {
                b.iter(|| m.score(black_box(&text)))
            });
        }
        g.bench_function("load shipped model file", |b| {
            b.iter(|| {
                RouterModel::from_bytes(black_box(
                    &std::fs::read(shipped_path()).unwrap_or_default(),
                ))
                .is_ok()
            })
        });
    }
    if let Some(m) = synthetic(16) {
        g.bench_function("score 4 KiB (2^16 buckets)", |b| {
            b.iter(|| m.score(black_box(&text)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
