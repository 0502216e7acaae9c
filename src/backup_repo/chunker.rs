//! Push-based content-defined chunking (FastCDC 2020) and chunk hashes.
//!
//! The backup operation receives disk bytes from an HTTP stream in pieces of
//! arbitrary size, so the chunker is *push* based: [`StreamChunker::push`]
//! takes whatever arrived, returns the chunks that are complete, and keeps the
//! undecided tail. Cut points are identical to one-shot chunking of the whole
//! input, whatever the piece sizes (see the tests).

use std::fmt;
use std::str::FromStr;

use fastcdc::v2020;
use serde::{Deserialize, Serialize};

/// BLAKE3 hash of a chunk's uncompressed content; also the chunk's name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkHash(pub [u8; 32]);

impl ChunkHash {
    /// Hashes `data`.
    pub fn of(data: &[u8]) -> Self {
        ChunkHash(*blake3::hash(data).as_bytes())
    }

    /// Lowercase hex form (64 characters), as used in file names and manifests.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ChunkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChunkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkHash({})", self.to_hex())
    }
}

/// Error parsing a [`ChunkHash`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunk hash {0:?}: expected 64 lowercase hex digits")]
pub struct ParseHashError(pub String);

impl FromStr for ChunkHash {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ParseHashError(s.to_string()));
        }
        hex::decode_to_slice(s, &mut out).map_err(|_| ParseHashError(s.to_string()))?;
        Ok(ChunkHash(out))
    }
}

impl Serialize for ChunkHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 64];
        // Cannot fail: the buffer is exactly twice the input length.
        hex::encode_to_slice(self.0, &mut buf).map_err(serde::ser::Error::custom)?;
        let text = std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?;
        s.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for ChunkHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ChunkHash;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a chunk hash (64 hex digits)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ChunkHash, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Chunk size limits, in bytes. Stored in the repository marker so every
/// writer of a repository cuts the same way (which is what makes dedup work).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    pub min_size: u32,
    pub avg_size: u32,
    pub max_size: u32,
}

impl Default for ChunkerParams {
    /// 16 KiB / 64 KiB / 256 KiB.
    fn default() -> Self {
        ChunkerParams {
            min_size: 16 * 1024,
            avg_size: 64 * 1024,
            max_size: 256 * 1024,
        }
    }
}

impl ChunkerParams {
    /// Checks the limits against what FastCDC 2020 supports. Returns a
    /// description of the problem.
    pub fn validate(&self) -> Result<(), String> {
        let (min, avg, max) = (
            self.min_size as usize,
            self.avg_size as usize,
            self.max_size as usize,
        );
        if !(v2020::MINIMUM_MIN..=v2020::MINIMUM_MAX).contains(&min)
            || !(v2020::AVERAGE_MIN..=v2020::AVERAGE_MAX).contains(&avg)
            || !(v2020::MAXIMUM_MIN..=v2020::MAXIMUM_MAX).contains(&max)
        {
            return Err(format!(
                "chunk sizes {min}/{avg}/{max} are outside FastCDC limits \
                 (min {}..={}, avg {}..={}, max {}..={})",
                v2020::MINIMUM_MIN,
                v2020::MINIMUM_MAX,
                v2020::AVERAGE_MIN,
                v2020::AVERAGE_MAX,
                v2020::MAXIMUM_MIN,
                v2020::MAXIMUM_MAX
            ));
        }
        if min % 2 != 0 || avg % 2 != 0 || max % 2 != 0 {
            return Err(format!("chunk sizes {min}/{avg}/{max} must be even"));
        }
        if !(min < avg && avg < max) {
            return Err(format!(
                "chunk sizes must satisfy min < avg < max, got {min}/{avg}/{max}"
            ));
        }
        Ok(())
    }
}

/// A complete chunk: its bytes and their hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub hash: ChunkHash,
}

impl Chunk {
    pub fn new(data: Vec<u8>) -> Self {
        let hash = ChunkHash::of(&data);
        Chunk { data, hash }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunk")
            .field("len", &self.data.len())
            .field("hash", &self.hash)
            .finish()
    }
}

/// The cut-point function shared by the streaming and zero-fill paths.
#[derive(Debug, Clone, Copy)]
struct Cutter {
    min: usize,
    avg: usize,
    max: usize,
    mask_s: u64,
    mask_l: u64,
}

impl Cutter {
    fn new(p: ChunkerParams) -> Self {
        // Same mask selection as `v2020::FastCDC::new` (normalization level 1).
        let (mask_s, mask_l) =
            v2020::select_masks(p.avg_size as usize, v2020::Normalization::Level1);
        Cutter {
            min: p.min_size as usize,
            avg: p.avg_size as usize,
            max: p.max_size as usize,
            mask_s,
            mask_l,
        }
    }

    /// Length of the next chunk at the start of `src`. The result depends only
    /// on the first `max` bytes, so it is final once `src.len() >= max` (or at
    /// the end of the input).
    fn cut(&self, src: &[u8]) -> usize {
        let (_, len) = v2020::cut(
            src,
            self.min,
            self.avg,
            self.max,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
        );
        // `cut` never returns 0 for non-empty input; guard anyway so a caller
        // loop always makes progress.
        len.clamp(1.min(src.len()), src.len())
    }
}

/// Streaming content-defined chunker.
///
/// Memory: holds at most `max_size - 1` undecided bytes between calls (plus the
/// input of the current call while it runs).
#[derive(Debug)]
pub struct StreamChunker {
    cutter: Cutter,
    buf: Vec<u8>,
}

impl StreamChunker {
    /// Creates a chunker. `params` must be valid (see [`ChunkerParams::validate`]);
    /// the repository checks this when it opens.
    pub fn new(params: ChunkerParams) -> Self {
        StreamChunker {
            cutter: Cutter::new(params),
            buf: Vec::with_capacity(params.max_size as usize * 2),
        }
    }

    /// Feeds bytes; returns the chunks that are now complete, in order.
    pub fn push(&mut self, data: &[u8]) -> Vec<Chunk> {
        let mut out = Vec::new();
        self.push_with(data, |c| out.push(c));
        out
    }

    /// Like [`push`](Self::push) but hands each chunk to `sink` instead of
    /// collecting them (no intermediate vector).
    ///
    /// Each input byte is copied into the internal buffer at most once, and
    /// only while the chunk it belongs to starts in the buffered tail; the
    /// rest is cut straight from `data`.
    pub fn push_with(&mut self, data: &[u8], mut sink: impl FnMut(Chunk)) {
        let max = self.cutter.max;
        // `buf[..tail]` is the undecided tail of earlier calls; bytes appended
        // after it are `data[..pos]`.
        let tail = self.buf.len();
        let mut pos = 0;
        let mut start = 0;
        while start < tail {
            // A cut is final once `max` bytes from its start are known.
            let need = start + max;
            if self.buf.len() < need {
                let take = (need - self.buf.len()).min(data.len() - pos);
                self.buf.extend_from_slice(&data[pos..pos + take]);
                pos += take;
                if self.buf.len() < need {
                    // Out of input before a decision: keep the rest.
                    self.buf.drain(..start);
                    return;
                }
            }
            let n = self.cutter.cut(&self.buf[start..]);
            sink(Chunk::new(self.buf[start..start + n].to_vec()));
            start += n;
        }
        // The tail is consumed: continue from `data` where the last chunk ended.
        let mut pos = start - tail;
        self.buf.clear();
        while data.len() - pos >= max {
            let n = self.cutter.cut(&data[pos..]);
            sink(Chunk::new(data[pos..pos + n].to_vec()));
            pos += n;
        }
        self.buf.extend_from_slice(&data[pos..]);
    }

    /// Number of bytes pushed but not yet emitted as chunks.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Ends the stream: returns the remaining chunks (at most a few).
    pub fn finish(self) -> Vec<Chunk> {
        let mut out = Vec::new();
        let mut rest = &self.buf[..];
        while !rest.is_empty() {
            let n = self.cutter.cut(rest);
            out.push(Chunk::new(rest[..n].to_vec()));
            rest = &rest[n..];
        }
        out
    }
}

/// Chunks a whole buffer at once (same cut points as [`StreamChunker`]).
pub fn chunk_all(params: ChunkerParams, data: &[u8]) -> Vec<Chunk> {
    let mut c = StreamChunker::new(params);
    let mut out = c.push(data);
    out.extend(c.finish());
    out
}

/// Describes how a run of zeros is chunked, without hashing the zeros.
///
/// From a chunk boundary, all-zero input always cuts at the same length `unit`
/// (the gear hash restarts at every chunk), and a shorter zero run that reaches
/// the end of its range is one chunk. So `len` zeros are `len / unit` copies of
/// one chunk plus one tail chunk — exactly what chunking real zeros gives, so
/// zeros read from a disk and zeros filled in for unread regions deduplicate.
#[derive(Debug, Clone)]
pub struct ZeroRun {
    unit: Chunk,
}

impl ZeroRun {
    pub fn new(params: ChunkerParams) -> Self {
        let cutter = Cutter::new(params);
        let zeros = vec![0u8; cutter.max];
        let n = cutter.cut(&zeros);
        ZeroRun {
            unit: Chunk::new(vec![0u8; n]),
        }
    }

    /// The chunk that a long zero run repeats.
    pub fn unit(&self) -> &Chunk {
        &self.unit
    }

    /// Splits `len` zero bytes into `(number of unit chunks, tail length)`.
    pub fn split(&self, len: u64) -> (u64, usize) {
        let unit = self.unit.len() as u64;
        // `len % unit < unit <= max_size`, so the tail fits in usize.
        (len / unit, (len % unit) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_repo::testutil::Prng;

    fn random(seed: u64, len: usize) -> Vec<u8> {
        Prng::new(seed).bytes(len)
    }

    fn lens(chunks: &[Chunk]) -> Vec<usize> {
        chunks.iter().map(|c| c.len()).collect()
    }

    #[test]
    fn one_shot_matches_fastcdc_iterator() {
        let p = ChunkerParams::default();
        let data = random(1, 5 * 1024 * 1024 + 12345);
        let ours = chunk_all(p, &data);
        let reference: Vec<usize> = v2020::FastCDC::new(
            &data,
            p.min_size as usize,
            p.avg_size as usize,
            p.max_size as usize,
        )
        .map(|c| c.length)
        .collect();
        assert_eq!(lens(&ours), reference);
        assert_eq!(ours.iter().map(|c| c.len()).sum::<usize>(), data.len());
        for c in &ours {
            assert!(c.len() <= p.max_size as usize);
            assert_eq!(c.hash, ChunkHash::of(&c.data));
        }
    }

    #[test]
    fn streaming_in_random_pieces_equals_one_shot() {
        let p = ChunkerParams::default();
        let data = random(2, 3 * 1024 * 1024 + 777);
        let expected = chunk_all(p, &data);
        for seed in 1..6u64 {
            let mut rng = Prng::new(seed * 7919);
            let mut c = StreamChunker::new(p);
            let mut got = Vec::new();
            let mut pos = 0;
            while pos < data.len() {
                // Mix of tiny, medium and larger-than-max pieces.
                let max_piece = match rng.below(3) {
                    0 => 100,
                    1 => 70_000,
                    _ => 700_000,
                };
                let n = (1 + rng.below(max_piece) as usize).min(data.len() - pos);
                got.extend(c.push(&data[pos..pos + n]));
                assert!(c.buffered() < p.max_size as usize);
                pos += n;
            }
            got.extend(c.finish());
            assert_eq!(got, expected, "seed {seed}");
        }
    }

    #[test]
    fn insertion_changes_only_nearby_chunks() {
        let p = ChunkerParams::default();
        let data = random(3, 8 * 1024 * 1024);
        let mut edited = data.clone();
        let at = 4 * 1024 * 1024 + 333;
        edited.splice(at..at, random(4, 1000));
        let a = chunk_all(p, &data);
        let b = chunk_all(p, &edited);
        let set_a: std::collections::HashSet<_> = a.iter().map(|c| c.hash).collect();
        let differing = b.iter().filter(|c| !set_a.contains(&c.hash)).count();
        assert!(
            (1..=3).contains(&differing),
            "{differing} of {} chunks changed",
            b.len()
        );
        // The changed chunks are the ones around the insertion point.
        let mut off = 0;
        for c in &b {
            if !set_a.contains(&c.hash) {
                assert!(
                    off + c.len() + p.max_size as usize > at
                        && off < at + 1000 + p.max_size as usize,
                    "changed chunk at {off} is far from the insertion at {at}"
                );
            }
            off += c.len();
        }
    }

    #[test]
    fn zero_run_matches_real_chunking_of_zeros() {
        for p in [
            ChunkerParams::default(),
            ChunkerParams {
                min_size: 2048,
                avg_size: 8192,
                max_size: 32768,
            },
        ] {
            let z = ZeroRun::new(p);
            for len in [
                0u64,
                1,
                1000,
                z.unit().len() as u64,
                z.unit().len() as u64 + 1,
                3 * 1024 * 1024 + 17,
            ] {
                let real = chunk_all(p, &vec![0u8; len as usize]);
                let (n, tail) = z.split(len);
                let mut expect = vec![z.unit().len(); n as usize];
                if tail > 0 {
                    expect.push(tail);
                }
                assert_eq!(lens(&real), expect, "len {len}");
            }
        }
    }

    #[test]
    fn hash_text_roundtrip() {
        let h = ChunkHash::of(b"hello");
        let s = h.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s.parse::<ChunkHash>(), Ok(h));
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<ChunkHash>(&json).unwrap(), h);
        assert!("xyz".parse::<ChunkHash>().is_err());
        assert!(s.to_uppercase().parse::<ChunkHash>().is_err());
    }

    #[test]
    fn params_validation() {
        assert!(ChunkerParams::default().validate().is_ok());
        let bad = ChunkerParams {
            min_size: 65536,
            avg_size: 65536,
            max_size: 262144,
        };
        assert!(bad.validate().is_err());
        let odd = ChunkerParams {
            min_size: 16385,
            avg_size: 65536,
            max_size: 262144,
        };
        assert!(odd.validate().is_err());
    }
}
