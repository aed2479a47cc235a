//! The query cache's costs at 1,000 and 10,000 entries: a lookup, a view mounting and
//! unmounting through the reducer, and invalidation by scope (one case, every list page,
//! everything). Run: `cargo bench -p casedesk-core --bench cache`.

use casedesk_core::{
    CacheConfig, CacheEvent, KeyScope, Millis, PersistedEntry, QueryCache, QueryData, QueryKey,
    QueryOptions, SeededRandom,
};
use casedesk_model::CaseListQuery;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use std::hint::black_box;
use uuid::Uuid;

const NOW: Millis = Millis(1_700_000_000_000);

/// `size` entries shaped like a long session: 85 % cases, 10 % list pages, 5 % notes, with
/// one list page and one case on screen.
fn filled(size: usize) -> (QueryCache, Vec<QueryKey>) {
    let mut keys = Vec::with_capacity(size);
    for i in 0..size {
        let key = match i % 20 {
            0 | 1 => QueryKey::case_list(&CaseListQuery {
                page: i as u32 + 1,
                ..CaseListQuery::default()
            }),
            2 => QueryKey::notes(Uuid::from_u128(i as u128)),
            _ => QueryKey::case(Uuid::from_u128(i as u128)),
        };
        keys.push(key);
    }
    let entries = keys
        .iter()
        .map(|key| PersistedEntry {
            key: key.clone(),
            data: QueryData::Notes(Vec::new()),
            etag: Some("\"1\"".into()),
            fetched_at: NOW,
            size_bytes: 1_000,
        })
        .collect();
    let config = CacheConfig {
        max_entries: usize::MAX,
        max_bytes: u64::MAX,
        ..CacheConfig::default()
    };
    let mut cache = QueryCache::new(config, true);
    let mut rng = SeededRandom::new(1);
    cache.apply(CacheEvent::Restore { entries }, NOW, &mut rng);
    for key in [&keys[0], &keys[3]] {
        cache.apply(
            CacheEvent::Observe {
                key: key.clone(),
                options: QueryOptions::DEFAULT,
            },
            NOW,
            &mut rng,
        );
    }
    assert_eq!(cache.len(), size);
    (cache, keys)
}

fn benches(c: &mut Criterion) {
    for size in [1_000usize, 10_000] {
        let (cache, keys) = filled(size);
        let mut rng = SeededRandom::new(2);

        c.bench_with_input(BenchmarkId::new("lookup", size), &size, |b, _| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 7919) % keys.len();
                black_box(cache.get(black_box(&keys[i])))
            })
        });

        c.bench_with_input(
            BenchmarkId::new("observe_unobserve", size),
            &size,
            |b, _| {
                let mut cache = filled(size).0;
                let mut i = 0usize;
                b.iter(|| {
                    i = (i + 7919) % keys.len();
                    let key = &keys[i];
                    let a = cache.apply(
                        CacheEvent::Observe {
                            key: key.clone(),
                            options: QueryOptions::DEFAULT,
                        },
                        NOW,
                        &mut rng,
                    );
                    let b = cache.apply(CacheEvent::Unobserve { key: key.clone() }, NOW, &mut rng);
                    black_box((a, b))
                })
            },
        );

        let scopes = [
            ("invalidate_one_case", KeyScope::Key(keys[5].clone())),
            ("invalidate_all_lists", KeyScope::CaseLists),
            ("invalidate_everything", KeyScope::Everything),
        ];
        for (name, scope) in scopes {
            c.bench_with_input(BenchmarkId::new(name, size), &size, |b, _| {
                b.iter_batched(
                    || cache.clone(),
                    |mut fresh| {
                        let commands = fresh.apply(
                            CacheEvent::Invalidate {
                                scope: scope.clone(),
                            },
                            NOW,
                            &mut rng,
                        );
                        // Returned so the clone is dropped outside the timing.
                        (fresh, commands)
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
}

criterion_group!(cache, benches);
criterion_main!(cache);
