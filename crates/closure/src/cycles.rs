//! Cycles of the reference graph, found without recursion.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use crate::Edge;

/// Strongly connected components by Tarjan's algorithm with an explicit call stack, so a chain of
/// thousands of files cannot overflow the thread's stack.
fn sccs(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = adj.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next = 0usize;
    for start in 0..n {
        if index[start] != UNSEEN {
            continue;
        }
        let mut calls: Vec<(usize, usize)> = vec![(start, 0)];
        index[start] = next;
        low[start] = next;
        next += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&(v, i)) = calls.last() {
            if let Some(&w) = adj[v].get(i) {
                if let Some(top) = calls.last_mut() {
                    top.1 += 1;
                }
                if index[w] == UNSEEN {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                calls.pop();
                if let Some(&(u, _)) = calls.last() {
                    low[u] = low[u].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(comp);
                }
            }
        }
    }
    out
}

/// One elementary cycle per strongly connected component that has one, starting at its smallest
/// path (the shortest way back to it, found breadth first).
pub(crate) fn find_cycles(edges: &[Edge], nodes: &BTreeSet<String>) -> Vec<Vec<String>> {
    let names: Vec<&String> = nodes.iter().collect();
    let id: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
    for e in edges {
        if let (Some(&a), Some(&b)) = (id.get(e.from.as_str()), id.get(e.to.as_str())) {
            adj[a].push(b);
        }
    }
    for a in &mut adj {
        a.sort_unstable();
        a.dedup();
    }
    let mut cycles = Vec::new();
    for comp in sccs(&adj) {
        // Ids follow the sorted order of paths, so the smallest id is the smallest path.
        let Some(&first) = comp.iter().min() else {
            continue;
        };
        if comp.len() == 1 {
            if adj[first].contains(&first) {
                cycles.push(vec![names[first].clone()]);
            }
            continue;
        }
        let members: HashSet<usize> = comp.iter().copied().collect();
        let mut parent: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([first]);
        let mut last = None;
        'bfs: while let Some(v) = queue.pop_front() {
            for &w in &adj[v] {
                if w == first {
                    last = Some(v);
                    break 'bfs;
                }
                if members.contains(&w) && !parent.contains_key(&w) {
                    parent.insert(w, v);
                    queue.push_back(w);
                }
            }
        }
        let mut path = Vec::new();
        let mut cur = last;
        while let Some(v) = cur {
            path.push(names[v].clone());
            cur = if v == first {
                None
            } else {
                parent.get(&v).copied()
            };
        }
        path.reverse();
        cycles.push(path);
    }
    cycles.sort();
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_of_every_shape() {
        let edge = |a: &str, b: &str| Edge {
            from: a.into(),
            key: "k".into(),
            value: "v".into(),
            to: b.into(),
            rule: "r".into(),
        };
        let edges = [
            edge("c", "a"),
            edge("a", "b"),
            edge("b", "c"),
            edge("d", "d"),
            edge("e", "a"),
        ];
        let nodes: BTreeSet<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let got = find_cycles(&edges, &nodes);
        assert_eq!(
            got,
            vec![
                vec!["a".to_owned(), "b".into(), "c".into()],
                vec!["d".to_owned()]
            ]
        );
    }
}
