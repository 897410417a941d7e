//! The dense half of the retrieval index: every indexed chunk's vector, grouped by workspace and
//! source, searched by brute force. A workspace holds thousands of chunks, not millions: one pass
//! over 10,000 vectors of 256 dimensions takes about a millisecond, and needs no index structure
//! that could drift from the table it mirrors.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::embedding::cosine;

/// One source's chunks: their ids and, row by row, their vectors.
struct SourceVectors {
    ids: Vec<String>,
    /// `ids.len()` rows of `dimensions` values.
    rows: Vec<f32>,
}

/// A chunk near a query, with the cosine of its vector to the query's.
#[derive(Debug, Clone, PartialEq)]
pub struct Near {
    pub chunk_id: String,
    pub similarity: f32,
}

pub struct Vectors {
    dimensions: usize,
    /// Workspace → source → its chunks.
    by_workspace: RwLock<HashMap<String, HashMap<String, SourceVectors>>>,
}

impl Vectors {
    pub fn new(dimensions: usize) -> Self {
        Self {
            dimensions,
            by_workspace: RwLock::new(HashMap::new()),
        }
    }

    /// Replaces the source's chunks with `chunks` (id and vector each).
    pub fn replace(&self, workspace: &str, source: &str, chunks: Vec<(String, Vec<f32>)>) {
        let mut ids = Vec::with_capacity(chunks.len());
        let mut rows = Vec::with_capacity(chunks.len() * self.dimensions);
        for (id, vector) in chunks {
            if vector.len() == self.dimensions {
                ids.push(id);
                rows.extend(vector);
            }
        }
        let mut all = self.by_workspace.write().expect("vectors are not poisoned");
        all.entry(workspace.to_string())
            .or_default()
            .insert(source.to_string(), SourceVectors { ids, rows });
    }

    /// Drops the source's chunks.
    pub fn remove(&self, source: &str) {
        let mut all = self.by_workspace.write().expect("vectors are not poisoned");
        for sources in all.values_mut() {
            sources.remove(source);
        }
        all.retain(|_, sources| !sources.is_empty());
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.by_workspace
            .write()
            .expect("vectors are not poisoned")
            .clear();
    }

    /// The workspace's `limit` chunks nearest `query`, nearest first.
    pub fn nearest(&self, workspace: &str, query: &[f32], limit: usize) -> Vec<Near> {
        if query.len() != self.dimensions || query.iter().all(|v| *v == 0.0) {
            return Vec::new();
        }
        let all = self.by_workspace.read().expect("vectors are not poisoned");
        let Some(sources) = all.get(workspace) else {
            return Vec::new();
        };
        let mut near: Vec<(f32, &str)> = Vec::new();
        for source in sources.values() {
            for (id, row) in source
                .ids
                .iter()
                .zip(source.rows.chunks_exact(self.dimensions))
            {
                near.push((cosine(query, row), id));
            }
        }
        let limit = limit.min(near.len());
        if limit == 0 {
            return Vec::new();
        }
        near.select_nth_unstable_by(limit - 1, |a, b| b.0.total_cmp(&a.0));
        near.truncate(limit);
        near.sort_by(|a, b| b.0.total_cmp(&a.0));
        near.into_iter()
            .map(|(similarity, id)| Near {
                chunk_id: id.to_string(),
                similarity,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_chunks_of_the_workspace_only_nearest_first() {
        let vectors = Vectors::new(2);
        vectors.replace(
            "ws_a",
            "ks_a",
            vec![
                ("near".to_string(), vec![1.0, 0.0]),
                ("far".to_string(), vec![0.0, 1.0]),
                ("between".to_string(), vec![0.8, 0.6]),
            ],
        );
        vectors.replace("ws_b", "ks_b", vec![("other".to_string(), vec![1.0, 0.0])]);
        let found = vectors.nearest("ws_a", &[1.0, 0.0], 2);
        let ids: Vec<&str> = found.iter().map(|near| near.chunk_id.as_str()).collect();
        assert_eq!(ids, ["near", "between"]);
        vectors.remove("ks_a");
        assert!(vectors.nearest("ws_a", &[1.0, 0.0], 2).is_empty());
        assert_eq!(vectors.nearest("ws_b", &[1.0, 0.0], 5).len(), 1);
    }
}
