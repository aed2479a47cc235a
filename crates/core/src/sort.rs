//! One compiled sort for the whole app. The standard library's sort is generic: every element
//! type and comparator sorted compiles its own copy (about 4 KB of wasm each), so every sort of
//! ours goes through [`sort_by`], which sorts positions with one non-generic comparator.

use std::cmp::Ordering;

/// Sorts `items` by `compare`, stably: items that compare equal keep their order.
pub fn sort_by<T>(items: &mut Vec<T>, compare: impl Fn(&T, &T) -> Ordering) {
    let order = {
        let items: &[T] = items;
        sorted_positions(items.len(), &|a, b| match (items.get(a), items.get(b)) {
            (Some(x), Some(y)) => compare(x, y),
            // Positions come from `0..len`, so both are always found.
            _ => Ordering::Equal,
        })
    };
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(
        order
            .into_iter()
            .filter_map(|i| slots.get_mut(i).and_then(Option::take)),
    );
}

/// Sorts `items` by the key `key` gives each, stably.
pub fn sort_by_key<T, K: Ord>(items: &mut Vec<T>, key: impl Fn(&T) -> K) {
    sort_by(items, |a, b| key(a).cmp(&key(b)));
}

/// Puts the `count` smallest of `items` by the key `key` gives each first, in order (stably);
/// the rest follow in no particular order. A page of a long list costs a selection and a
/// short sort, not a sort of everything.
pub fn sort_first_by_key<T, K: Ord>(items: &mut Vec<T>, count: usize, key: impl Fn(&T) -> K) {
    let order = {
        let items: &[T] = items;
        first_positions(
            items.len(),
            count,
            &|a, b| match (items.get(a), items.get(b)) {
                (Some(x), Some(y)) => key(x).cmp(&key(y)),
                // Positions come from `0..len`, so both are always found.
                _ => Ordering::Equal,
            },
        )
    };
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(
        order
            .into_iter()
            .filter_map(|i| slots.get_mut(i).and_then(Option::take)),
    );
}

/// The positions `0..len` in the order `compare` gives them: the one place the sort is compiled.
#[inline(never)]
fn sorted_positions(len: usize, compare: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut positions: Vec<usize> = (0..len).collect();
    positions.sort_by(|&a, &b| compare(a, b));
    positions
}

/// The positions `0..len`, the first `count` of them in the order `compare` gives them (ties
/// by position, so stably), the others after them in no particular order.
#[inline(never)]
fn first_positions(
    len: usize,
    count: usize,
    compare: &dyn Fn(usize, usize) -> Ordering,
) -> Vec<usize> {
    let mut positions: Vec<usize> = (0..len).collect();
    let stable = |a: &usize, b: &usize| compare(*a, *b).then(a.cmp(b));
    if count < len {
        // The `count` smallest before the rest, then those in order.
        positions.select_nth_unstable_by(count, stable);
    }
    if let Some(first) = positions.get_mut(..count.min(len)) {
        first.sort_unstable_by(stable);
    }
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_by_key_and_keeps_the_order_of_equal_keys() {
        let mut items = vec![(3, "c"), (1, "a"), (2, "b"), (1, "z"), (0, "y"), (2, "x")];
        sort_by_key(&mut items, |(k, _)| *k);
        assert_eq!(
            items,
            vec![(0, "y"), (1, "a"), (1, "z"), (2, "b"), (2, "x"), (3, "c")]
        );
    }

    #[test]
    fn sorts_by_a_comparator_and_handles_empty_and_single_lists() {
        let mut words = vec!["pear".to_owned(), "apple".to_owned(), "fig".to_owned()];
        sort_by(&mut words, |a, b| a.cmp(b));
        assert_eq!(words, ["apple", "fig", "pear"]);
        let mut empty: Vec<u64> = Vec::new();
        sort_by_key(&mut empty, |x| *x);
        assert!(empty.is_empty());
        let mut one = vec![7u64];
        sort_by(&mut one, |a, b| b.cmp(a));
        assert_eq!(one, [7]);
    }

    #[test]
    fn the_first_items_come_out_as_a_full_stable_sort_puts_them() {
        let items: Vec<(u64, usize)> = (0..500).map(|i| ((i * 7919) % 37, i as usize)).collect();
        let mut full = items.clone();
        full.sort_by_key(|(k, _)| *k);
        for count in [0, 1, 10, 37, 499, 500, 800] {
            let mut first = items.clone();
            sort_first_by_key(&mut first, count, |(k, _)| *k);
            let shown = count.min(items.len());
            assert_eq!(first[..shown], full[..shown], "{count}");
            let mut all = first.clone();
            all.sort();
            let mut expected = items.clone();
            expected.sort();
            assert_eq!(all, expected, "nothing lost or doubled ({count})");
        }
    }

    #[test]
    fn sorts_many_items_like_the_standard_stable_sort() {
        let items: Vec<(u64, usize)> = (0..1000).map(|i| ((i * 7919) % 97, i as usize)).collect();
        let mut ours = items.clone();
        sort_by_key(&mut ours, |(k, _)| *k);
        let mut std_sorted = items;
        std_sorted.sort_by_key(|(k, _)| *k);
        assert_eq!(ours, std_sorted);
    }
}
