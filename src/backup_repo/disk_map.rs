//! A disk's content as an ordered list of chunk references, and the pure
//! functions that turn a parent backup plus changed extents into a new full
//! map ("synthetic full").

use serde::{Deserialize, Serialize};

use super::chunker::ChunkHash;
use super::error::{RepoError, Result};

/// A byte range of a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
}

impl Extent {
    pub fn new(offset: u64, len: u64) -> Self {
        Extent { offset, len }
    }

    /// One past the last byte (saturating).
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }
}

impl std::fmt::Display for Extent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {})", self.offset, self.end())
    }
}

/// `len` bytes of the disk at `offset` are the chunk `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub offset: u64,
    pub len: u32,
    pub hash: ChunkHash,
}

impl ChunkRef {
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

/// A disk's whole content: chunk references covering `[0, capacity)` in
/// order, without gaps or overlaps. Zero regions are ordinary chunks of zeros
/// (deduplicated like any other chunk).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskMap {
    pub capacity: u64,
    pub chunks: Vec<ChunkRef>,
}

impl DiskMap {
    /// The map of a zero-length disk; also the "parent" of a full backup.
    pub fn empty() -> Self {
        DiskMap::default()
    }

    /// Checks that the chunks cover `[0, capacity)` contiguously. Returns a
    /// description of the first problem.
    pub fn validate(&self) -> Result<(), String> {
        let mut pos = 0u64;
        for (i, c) in self.chunks.iter().enumerate() {
            if c.offset != pos {
                return Err(format!(
                    "chunk #{i} starts at {} but the previous one ends at {pos}",
                    c.offset
                ));
            }
            if c.len == 0 {
                return Err(format!("chunk #{i} at {} has length 0", c.offset));
            }
            pos = c
                .offset
                .checked_add(u64::from(c.len))
                .ok_or_else(|| format!("chunk #{i} at {} overflows", c.offset))?;
        }
        if pos != self.capacity {
            return Err(format!(
                "chunks cover [0, {pos}) but the capacity is {}",
                self.capacity
            ));
        }
        Ok(())
    }

    /// Index of the chunk containing byte `pos`, if `pos < capacity`.
    pub fn chunk_at(&self, pos: u64) -> Option<usize> {
        let i = self.chunks.partition_point(|c| c.end() <= pos);
        (i < self.chunks.len() && self.chunks[i].offset <= pos).then_some(i)
    }

    /// Whether a range may start or end at `pos` without splitting a chunk:
    /// a chunk boundary, or at/after the end of the map.
    pub fn is_boundary(&self, pos: u64) -> bool {
        if pos >= self.capacity || pos == 0 {
            return true;
        }
        self.chunks.binary_search_by(|c| c.offset.cmp(&pos)).is_ok()
    }

    /// Sum of the chunk lengths (equals `capacity` for a valid map).
    pub fn covered(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.len)).sum()
    }
}

/// Which ranges to read for an incremental backup.
///
/// Each changed extent is widened to the boundaries of the parent chunks it
/// overlaps (a chunk is either kept whole or replaced whole), then the result
/// is sorted and overlapping or touching extents are merged. Parts beyond the
/// parent's capacity (the disk grew) are kept as they are. Empty extents are
/// ignored.
pub fn read_plan(parent: &DiskMap, changed: &[Extent]) -> Vec<Extent> {
    let mut widened: Vec<(u64, u64)> = changed
        .iter()
        .filter(|e| e.len > 0)
        .map(|e| {
            let (mut start, mut end) = (e.offset, e.end());
            if let Some(i) = parent.chunk_at(start) {
                start = parent.chunks[i].offset;
            }
            if end <= parent.capacity
                && let Some(i) = parent.chunk_at(end - 1)
            {
                end = parent.chunks[i].end();
            }
            (start, end)
        })
        .collect();
    widened.sort_unstable();
    let mut out: Vec<Extent> = Vec::with_capacity(widened.len());
    for (start, end) in widened {
        match out.last_mut() {
            Some(last) if start <= last.end() => {
                if end > last.end() {
                    last.len = end - last.offset;
                }
            }
            _ => out.push(Extent::new(start, end - start)),
        }
    }
    out
}

/// Builds the full map of the new backup: the parent's chunks everywhere
/// except in `replaced` ranges, whose freshly written chunks take over.
///
/// Requirements (checked, errors are [`RepoError::InvalidWrite`]):
/// - `capacity >= parent.capacity` (disks only grow);
/// - each replaced range's chunks cover it exactly, ranges do not overlap and
///   end within `capacity`;
/// - range ends inside the parent fall on parent chunk boundaries (as
///   [`read_plan`] guarantees);
/// - everything beyond the parent's capacity is covered by some range.
pub fn splice(
    parent: &DiskMap,
    capacity: u64,
    mut replaced: Vec<(Extent, Vec<ChunkRef>)>,
) -> Result<DiskMap> {
    let bad = |msg: String| RepoError::InvalidWrite(msg);
    if capacity < parent.capacity {
        return Err(bad(format!(
            "disk shrank from {} to {capacity} bytes; take a full backup instead",
            parent.capacity
        )));
    }
    replaced.retain(|(e, _)| e.len > 0);
    replaced.sort_by_key(|(e, _)| e.offset);
    let mut prev_end = 0u64;
    for (e, refs) in &replaced {
        if e.offset < prev_end {
            return Err(bad(format!("range {e} overlaps the previous range")));
        }
        if e.end() > capacity {
            return Err(bad(format!(
                "range {e} extends beyond the capacity {capacity}"
            )));
        }
        for pos in [e.offset, e.end()] {
            if !parent.is_boundary(pos) {
                return Err(bad(format!(
                    "range {e} does not line up with the parent's chunks at {pos}"
                )));
            }
        }
        let mut pos = e.offset;
        for r in refs {
            if r.offset != pos || r.len == 0 {
                return Err(bad(format!(
                    "chunks of range {e} are not contiguous at {pos}"
                )));
            }
            pos = r.end();
        }
        if pos != e.end() {
            return Err(bad(format!("chunks of range {e} end at {pos}")));
        }
        prev_end = e.end();
    }

    let mut out = Vec::with_capacity(parent.chunks.len() + replaced.len() * 4);
    let mut cursor = 0u64;
    for (e, refs) in replaced {
        copy_parent(parent, cursor, e.offset, &mut out)?;
        out.extend(refs);
        cursor = e.end();
    }
    copy_parent(parent, cursor, capacity, &mut out)?;
    let map = DiskMap {
        capacity,
        chunks: out,
    };
    map.validate()
        .map_err(|e| bad(format!("spliced map is inconsistent: {e}")))?;
    Ok(map)
}

/// Appends the parent's chunks covering `[from, to)`; `from` and `to` are
/// boundaries. The part beyond the parent's capacity must be empty.
fn copy_parent(parent: &DiskMap, from: u64, to: u64, out: &mut Vec<ChunkRef>) -> Result<()> {
    let in_parent_end = to.min(parent.capacity);
    if from < in_parent_end {
        let first = parent
            .chunk_at(from)
            .ok_or_else(|| RepoError::InvalidWrite(format!("parent map has no chunk at {from}")))?;
        for c in &parent.chunks[first..] {
            if c.end() > in_parent_end {
                break;
            }
            out.push(*c);
        }
    }
    let gap_start = from.max(parent.capacity);
    if to > gap_start {
        return Err(RepoError::InvalidWrite(format!(
            "[{gap_start}, {to}) is beyond the parent's capacity {} and no range covers it",
            parent.capacity
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_repo::chunker::{ChunkerParams, chunk_all};
    use crate::backup_repo::testutil::Prng;

    const SMALL: ChunkerParams = ChunkerParams {
        min_size: 256,
        avg_size: 1024,
        max_size: 4096,
    };

    /// Chunk `data` (the content of `[base, base + len)`) into refs.
    fn refs_for(data: &[u8], base: u64) -> Vec<ChunkRef> {
        let mut pos = base;
        chunk_all(SMALL, data)
            .into_iter()
            .map(|c| {
                let r = ChunkRef {
                    offset: pos,
                    len: c.len() as u32,
                    hash: c.hash,
                };
                pos += c.len() as u64;
                r
            })
            .collect()
    }

    fn map_of(content: &[u8]) -> DiskMap {
        DiskMap {
            capacity: content.len() as u64,
            chunks: refs_for(content, 0),
        }
    }

    fn assert_describes(map: &DiskMap, content: &[u8]) {
        map.validate().unwrap();
        assert_eq!(map.capacity, content.len() as u64);
        for c in &map.chunks {
            let s = &content[c.offset as usize..c.end() as usize];
            assert_eq!(ChunkHash::of(s), c.hash, "chunk at {}", c.offset);
        }
    }

    #[test]
    fn read_plan_widens_and_merges() {
        let map = DiskMap {
            capacity: 300,
            chunks: vec![
                ChunkRef {
                    offset: 0,
                    len: 100,
                    hash: ChunkHash([0; 32]),
                },
                ChunkRef {
                    offset: 100,
                    len: 100,
                    hash: ChunkHash([1; 32]),
                },
                ChunkRef {
                    offset: 200,
                    len: 100,
                    hash: ChunkHash([2; 32]),
                },
            ],
        };
        assert_eq!(
            read_plan(&map, &[Extent::new(150, 1)]),
            vec![Extent::new(100, 100)]
        );
        assert_eq!(
            read_plan(&map, &[Extent::new(250, 10), Extent::new(5, 1)]),
            vec![Extent::new(0, 100), Extent::new(200, 100)]
        );
        // Touching after widening: merged.
        assert_eq!(
            read_plan(&map, &[Extent::new(99, 2)]),
            vec![Extent::new(0, 200)]
        );
        // Exactly on boundaries: unchanged.
        assert_eq!(
            read_plan(&map, &[Extent::new(100, 100)]),
            vec![Extent::new(100, 100)]
        );
        // Beyond the parent (disk grew): kept as is, the in-parent part widened.
        assert_eq!(
            read_plan(
                &map,
                &[
                    Extent::new(290, 50),
                    Extent::new(400, 10),
                    Extent::new(0, 0)
                ]
            ),
            vec![Extent::new(200, 140), Extent::new(400, 10)]
        );
    }

    #[test]
    fn splice_rejects_misuse() {
        let mut rng = Prng::new(9);
        let content = rng.bytes(20_000);
        let parent = map_of(&content);
        let mid = parent.chunks[3].offset + 1;
        let e = Extent::new(mid, 10);
        let err = splice(
            &parent,
            parent.capacity,
            vec![(e, refs_for(&content[mid as usize..mid as usize + 10], mid))],
        );
        assert!(matches!(err, Err(RepoError::InvalidWrite(m)) if m.contains("line up")));
        assert!(splice(&parent, 100, vec![]).is_err(), "shrink");
        let err = splice(&parent, parent.capacity + 10, vec![]);
        assert!(matches!(err, Err(RepoError::InvalidWrite(m)) if m.contains("no range covers")));
        // No replacement at all: same map.
        assert_eq!(splice(&parent, parent.capacity, vec![]).unwrap(), parent);
    }

    /// Property check: random parents, random changed extents, random growth.
    #[test]
    fn splice_random_incrementals_describe_new_content() {
        let mut rng = Prng::new(42);
        for round in 0..200 {
            let cap = 1 + rng.below(60_000) as usize;
            let old = rng.bytes(cap);
            let parent = map_of(&old);
            let new_cap = if rng.below(4) == 0 {
                cap + rng.below(20_000) as usize
            } else {
                cap
            };
            let mut new = old.clone();
            new.resize(new_cap, 0);
            let mut changed = Vec::new();
            for _ in 0..rng.below(8) {
                let off = rng.below(new_cap as u64) as usize;
                let len = (1 + rng.below(3000) as usize).min(new_cap - off);
                rng.fill(&mut new[off..off + len]);
                changed.push(Extent::new(off as u64, len as u64));
            }
            // Also some bytes written to the grown area.
            let plan = read_plan(&parent, &changed);
            // Plan covers every change, is sorted, disjoint, aligned.
            for c in &changed {
                assert!(
                    plan.iter()
                        .any(|p| p.offset <= c.offset && c.end() <= p.end())
                );
            }
            for w in plan.windows(2) {
                assert!(w[0].end() < w[1].offset);
            }
            for p in &plan {
                assert!(parent.is_boundary(p.offset) && parent.is_boundary(p.end()));
                assert!(p.end() <= new_cap as u64);
            }
            // Re-read the planned ranges, plus the grown area not covered
            // (zeros, as the disk writer fills it).
            let mut replaced: Vec<(Extent, Vec<ChunkRef>)> = plan
                .iter()
                .map(|p| {
                    (
                        *p,
                        refs_for(&new[p.offset as usize..p.end() as usize], p.offset),
                    )
                })
                .collect();
            let mut pos = cap as u64;
            let mut gaps = Vec::new();
            for p in &plan {
                if p.offset > pos {
                    gaps.push(Extent::new(pos, p.offset - pos));
                }
                pos = pos.max(p.end());
            }
            if (new_cap as u64) > pos {
                gaps.push(Extent::new(pos, new_cap as u64 - pos));
            }
            for g in gaps {
                assert!(
                    new[g.offset as usize..g.end() as usize]
                        .iter()
                        .all(|&b| b == 0)
                );
                replaced.push((
                    g,
                    refs_for(&new[g.offset as usize..g.end() as usize], g.offset),
                ));
            }
            let spliced = splice(&parent, new_cap as u64, replaced)
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_describes(&spliced, &new);
            // Unchanged parent chunks outside the plan are kept as they are.
            for c in &parent.chunks {
                if !plan
                    .iter()
                    .any(|p| p.offset < c.end() && c.offset < p.end())
                {
                    assert!(spliced.chunks.contains(c));
                }
            }
        }
    }

    #[test]
    fn chunk_at_and_boundaries() {
        let content = Prng::new(1).bytes(10_000);
        let m = map_of(&content);
        for (i, c) in m.chunks.iter().enumerate() {
            assert_eq!(m.chunk_at(c.offset), Some(i));
            assert_eq!(m.chunk_at(c.end() - 1), Some(i));
            assert!(m.is_boundary(c.offset));
        }
        assert_eq!(m.chunk_at(10_000), None);
        assert!(m.is_boundary(10_000) && m.is_boundary(50_000));
        assert!(!m.is_boundary(m.chunks[1].offset + 1));
    }
}
