//! Integration-style tests of the repository engine on a temp directory.

use std::collections::HashSet;
use std::fs;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};

use super::testutil::{Prng, TempDir};
use super::*;

const MIB: usize = 1024 * 1024;
const KEY: i32 = 2000;
const VMX: &[u8] = b"displayName = \"web01\"\nmemSize = \"4096\"\n";
const DEVICES: &[u8] = br#"[{"key":2000,"label":"Hard disk 1"}]"#;

fn vm(name: &str) -> VmInfo {
    VmInfo {
        name: name.into(),
        uuid: format!("uuid-{name}"),
        moref: format!("vm-{}", name.len()),
        endpoint: "vc.test".into(),
    }
}

fn meta(name: &str, kind: BackupKind, created: DateTime<Utc>, parent: Option<&str>) -> BackupMeta {
    BackupMeta {
        quiesced: true,
        parent: parent.map(str::to_string),
        created,
        ..BackupMeta::new(vm(name), kind, BackupMode::Hot)
    }
}

fn t(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
}

fn disk_info(capacity: u64, change_id: &str) -> DiskInfo {
    DiskInfo {
        key: KEY,
        label: "Hard disk 1".into(),
        datastore_path: "[ds1] vm/vm.vmdk".into(),
        capacity,
        change_id: Some(change_id.into()),
    }
}

/// A 20 MiB-ish disk: random data, a zero region and a repeated block.
fn make_disk(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Prng::new(seed);
    let mut d = rng.bytes(len);
    let z = len / 10;
    d[3 * z..4 * z].fill(0);
    let (a, b) = d.split_at_mut(6 * z);
    b[..MIB.min(z)].copy_from_slice(&a[..MIB.min(z)]);
    d
}

/// Streams `[e.offset, e.end())` of `content` in random-sized pieces.
fn send_range(w: &mut DiskWriter<'_, '_>, content: &[u8], e: Extent, rng: &mut Prng) {
    w.begin_range(e).unwrap();
    let mut pos = e.offset as usize;
    while pos < e.end() as usize {
        let n = (1 + rng.below(300_000) as usize).min(e.end() as usize - pos);
        w.push(&content[pos..pos + n]).unwrap();
        pos += n;
    }
    w.end_range().unwrap();
}

fn full_backup(repo: &Repository, m: BackupMeta, content: &[u8]) -> Manifest {
    let mut bw = repo.begin_backup(m).unwrap();
    let mut rng = Prng::new(7);
    let mut w = bw
        .disk_writer(disk_info(content.len() as u64, "cid-1"), None)
        .unwrap();
    send_range(
        &mut w,
        content,
        Extent::new(0, content.len() as u64),
        &mut rng,
    );
    w.finish().unwrap();
    bw.add_file("vm.vmx", VMX).unwrap();
    bw.add_file("devices.json", DEVICES).unwrap();
    bw.commit().unwrap()
}

/// Incremental backup sending `ranges` of `content` on top of `parent`.
fn incremental(
    repo: &Repository,
    m: BackupMeta,
    parent: &Manifest,
    content: &[u8],
    ranges: &[Extent],
) -> (Manifest, DiskWriteStats) {
    let pmap = &parent.disk(KEY).unwrap().map;
    let mut bw = repo.begin_backup(m).unwrap();
    let mut rng = Prng::new(11);
    let mut w = bw
        .disk_writer(disk_info(content.len() as u64, "cid-2"), Some(pmap))
        .unwrap();
    for e in ranges {
        send_range(&mut w, content, *e, &mut rng);
    }
    let stats = w.finish().unwrap();
    bw.add_file("vm.vmx", b"displayName = \"web01\"\n").unwrap();
    (bw.commit().unwrap(), stats)
}

fn restore(repo: &Repository, m: &Manifest) -> Vec<u8> {
    let mut out = Vec::new();
    let n = repo.restore_disk(m, KEY, &mut out).unwrap();
    assert_eq!(n as usize, out.len());
    out
}

/// Overwrites `count` non-overlapping random extents of `len` bytes; returns
/// them sorted (as CBT reports them).
fn scatter_changes(content: &mut [u8], rng: &mut Prng, count: usize, len: usize) -> Vec<Extent> {
    let slots = content.len() / len;
    let mut picked = HashSet::new();
    while picked.len() < count {
        picked.insert(rng.below(slots as u64) as usize);
    }
    let mut slots: Vec<usize> = picked.into_iter().collect();
    slots.sort_unstable();
    let out: Vec<Extent> = slots
        .into_iter()
        .map(|s| {
            let off = s * len;
            rng.fill(&mut content[off..off + len]);
            Extent::new(off as u64, len as u64)
        })
        .collect();
    out
}

#[test]
fn full_and_incrementals_restore_byte_identical() {
    let tmp = TempDir::new("full-incr");
    let repo = Repository::init_or_open(tmp.path().join("repo")).unwrap();
    let cap = 20 * MIB;
    let v1 = make_disk(1, cap);
    let full = full_backup(&repo, meta("web01", BackupKind::Full, t(1, 3), None), &v1);
    assert_eq!(
        full.stats.bytes_read,
        (cap + VMX.len() + DEVICES.len()) as u64
    );
    let store_after_full = repo.stats().unwrap();
    // Zeros and the repeated MiB are stored once: well under the raw size.
    assert!(store_after_full.bytes < (cap as u64) * 9 / 10 - MIB as u64 / 2);

    // 1% of the disk changed in 4 places; read the read_plan ranges.
    let mut rng = Prng::new(99);
    let mut v2 = v1.clone();
    let changed = scatter_changes(&mut v2, &mut rng, 4, cap / 400);
    let pmap = &full.disk(KEY).unwrap().map;
    let plan = read_plan(pmap, &changed);
    let (inc1, s1) = incremental(
        &repo,
        meta("web01", BackupKind::Incremental, t(2, 3), Some(&full.id)),
        &full,
        &v2,
        &plan,
    );
    let read_pct = s1.bytes_read as f64 * 100.0 / cap as f64;
    let new_pct = s1.bytes_new as f64 * 100.0 / cap as f64;
    println!(
        "incremental 1 (read_plan, 4 x {} KiB): read {:.2}% of the disk, stored {:.2}% new, {} new chunks",
        cap / 400 / 1024,
        read_pct,
        new_pct,
        s1.chunks_new
    );
    assert!(read_pct <= 3.0, "read {read_pct:.2}%");
    assert!(new_pct <= 3.0, "new {new_pct:.2}%");
    assert_eq!(s1.bytes_from_parent, 0);
    assert_eq!(inc1.kind, BackupKind::Incremental);

    // 64 scattered 4 KiB writes (1.25%), sent as exact CBT extents: only the
    // changed bytes come from the source, the rest of each touched chunk
    // comes from the parent in the repository.
    let mut v3 = v2.clone();
    let changed3 = scatter_changes(&mut v3, &mut rng, 64, 4096);
    let (inc2, s2) = incremental(
        &repo,
        meta("web01", BackupKind::Incremental, t(3, 3), Some(&inc1.id)),
        &inc1,
        &v3,
        &changed3,
    );
    assert_eq!(s2.bytes_read, 64 * 4096);
    let plan3 = read_plan(&inc1.disk(KEY).unwrap().map, &changed3);
    let plan3_bytes: u64 = plan3.iter().map(|e| e.len).sum();
    assert_eq!(s2.bytes_read + s2.bytes_from_parent, plan3_bytes);
    println!(
        "incremental 2 (exact extents, 64 x 4 KiB): read {} KiB from source, {} KiB from parent chunks (read_plan would read {} KiB = {:.1}%), stored {} KiB new",
        s2.bytes_read / 1024,
        s2.bytes_from_parent / 1024,
        plan3_bytes / 1024,
        plan3_bytes as f64 * 100.0 / cap as f64,
        s2.bytes_new / 1024
    );
    // Same map as reading the widened ranges from the source.
    let (inc2b, s2b) = incremental(
        &repo,
        meta("web01", BackupKind::Incremental, t(3, 4), Some(&inc1.id)),
        &inc1,
        &v3,
        &plan3,
    );
    assert_eq!(inc2b.disk(KEY).unwrap().map, inc2.disk(KEY).unwrap().map);
    assert_eq!(s2b.bytes_read, plan3_bytes);
    assert_eq!(s2b.chunks_new, 0, "same chunks already stored");

    // Every backup restores on its own, byte-identical.
    for (m, expect) in [(&full, &v1), (&inc1, &v2), (&inc2, &v3), (&inc2b, &v3)] {
        let loaded = repo.load(&m.id).unwrap();
        assert_eq!(&loaded, m);
        assert!(restore(&repo, &loaded) == *expect, "restore of {}", m.id);
    }
    assert_eq!(repo.read_file(&full, "vm.vmx").unwrap(), VMX);
    assert_eq!(repo.read_file(&full, "devices.json").unwrap(), DEVICES);
    assert!(matches!(
        repo.read_file(&full, "nope"),
        Err(RepoError::FileNotFound { .. })
    ));

    // Restore reader yields contiguous (offset, bytes) blocks in order.
    let mut pos = 0u64;
    for block in repo.restore_ranges(&inc2, KEY).unwrap() {
        let (off, data) = block.unwrap();
        assert_eq!(off, pos);
        pos += data.len() as u64;
    }
    assert_eq!(pos, cap as u64);

    let listing = repo.list(Some("web01")).unwrap();
    assert_eq!(listing.backups.len(), 4);
    assert!(listing.broken.is_empty());
    assert_eq!(listing.backups[0].id, full.id);
    assert_eq!(listing.backups[0].logical_size(), cap as u64);
    assert!(repo.list(Some("other")).unwrap().backups.is_empty());
    let report = repo.verify(None).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.backups_checked.len(), 4);
}

#[test]
fn killed_writer_leaves_repository_valid() {
    let tmp = TempDir::new("killed");
    let repo = Repository::create(tmp.path().join("repo")).unwrap();
    let v1 = make_disk(2, 8 * MIB);
    let full = full_backup(&repo, meta("db01", BackupKind::Full, t(1, 1), None), &v1);
    let stats_before = repo.stats().unwrap();
    {
        // A backup that writes new chunks, makes some durable, then dies
        // mid-range without commit.
        let v2 = make_disk(3, 8 * MIB);
        let mut bw = repo
            .begin_backup(meta("db01", BackupKind::Full, t(2, 1), None))
            .unwrap();
        let mut w = bw
            .disk_writer(disk_info(v2.len() as u64, "x"), None)
            .unwrap();
        w.begin_range(Extent::new(0, v2.len() as u64)).unwrap();
        w.push(&v2[..4 * MIB]).unwrap();
        drop(w);
        bw.flush_chunks().unwrap();
        assert!(
            bw.disk_writer(disk_info(1, "x"), None).is_err(),
            "unfinished disk must be noticed"
        );
        drop(bw);
        // A second writer, abandoned before flushing, removes its temp pack…
        let mut bw = repo
            .begin_backup(meta("db01", BackupKind::Full, t(2, 2), None))
            .unwrap();
        let mut w = bw
            .disk_writer(disk_info(2 * MIB as u64, "x"), None)
            .unwrap();
        w.write_range(0, &make_disk(4, 2 * MIB)).unwrap();
        drop(w);
        drop(bw);
        // …but one killed outright leaves it for gc.
        fs::write(
            fsutil::temp_path(&tmp.path().join("repo").join("packs"), "pack"),
            b"half a pack",
        )
        .unwrap();
    }
    let listing = repo.list(None).unwrap();
    assert_eq!(listing.backups.len(), 1);
    assert_eq!(listing.backups[0].id, full.id);
    assert!(repo.verify(None).unwrap().is_ok());
    let after_kill = repo.stats().unwrap();
    assert!(
        after_kill.chunks > stats_before.chunks,
        "durable orphans exist"
    );

    // The next backup works, and reuses what it can.
    let next = full_backup(&repo, meta("db01", BackupKind::Full, t(3, 1), None), &v1);
    assert_eq!(next.stats.chunks_new, 0);
    assert!(restore(&repo, &next) == v1);

    // gc removes the orphans and temp files, nothing else.
    let dry = repo.gc(true).unwrap();
    assert!(
        dry.chunks_removed > 0 && dry.temp_files_removed > 0,
        "{dry:?}"
    );
    assert_eq!(repo.stats().unwrap(), after_kill, "dry run changes nothing");
    let gc = repo.gc(false).unwrap();
    assert_eq!(
        (gc.chunks_removed, gc.bytes_freed, gc.temp_files_removed),
        (dry.chunks_removed, dry.bytes_freed, dry.temp_files_removed)
    );
    assert_eq!(repo.stats().unwrap(), stats_before);
    assert!(repo.verify(None).unwrap().is_ok());
    assert!(restore(&repo, &full) == v1);
    assert_eq!(repo.gc(false).unwrap().chunks_removed, 0);
}

#[test]
fn verify_reports_corruption_with_affected_backups() {
    let tmp = TempDir::new("corrupt");
    let repo = Repository::create(tmp.path().join("repo")).unwrap();
    let v1 = make_disk(5, 4 * MIB);
    let full = full_backup(&repo, meta("app", BackupKind::Full, t(1, 1), None), &v1);
    let mut v2 = v1.clone();
    let changed = scatter_changes(&mut v2, &mut Prng::new(6), 1, 4096);
    let (inc, _) = incremental(
        &repo,
        meta("app", BackupKind::Incremental, t(2, 1), Some(&full.id)),
        &full,
        &v2,
        &changed,
    );
    let full_map = &full.disk(KEY).unwrap().map;
    let inc_map = &inc.disk(KEY).unwrap().map;
    let shared = full_map.chunks[0].hash;
    assert_eq!(inc_map.chunks[0].hash, shared);
    let only_inc = inc_map
        .chunks
        .iter()
        .find(|c| !full_map.chunks.iter().any(|f| f.hash == c.hash))
        .unwrap()
        .hash;
    let store = repo.chunk_store();

    // Flip one byte in the middle of each chunk's bytes in its pack.
    for h in [shared, only_inc] {
        let loc = store.locate(&h).unwrap();
        let p = loc.pack.as_ref();
        let mut raw = fs::read(p).unwrap();
        let mid = (loc.offset + u64::from(loc.stored_len) / 2) as usize;
        raw[mid] ^= 0x01;
        fs::write(p, raw).unwrap();
    }
    let report = repo.verify(None).unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.corrupt.len(), 2, "{report:#?}");
    let by_hash = |h: ChunkHash| report.corrupt.iter().find(|p| p.hash == h).unwrap();
    let mut both = vec![full.id.clone(), inc.id.clone()];
    both.sort();
    assert_eq!(by_hash(shared).affected_backups, both);
    assert_eq!(by_hash(only_inc).affected_backups, vec![inc.id.clone()]);
    // Verifying only the full still names every backup hit by its chunk.
    let partial = repo.verify(Some(std::slice::from_ref(&full.id))).unwrap();
    assert_eq!(partial.corrupt.len(), 1);
    assert_eq!(partial.corrupt[0].affected_backups, both);
    assert!(partial.chunks_checked < report.chunks_checked);
    // Restore fails loudly rather than returning wrong data.
    let mut sink = Vec::new();
    assert!(matches!(
        repo.restore_disk(&full, KEY, &mut sink),
        Err(RepoError::CorruptChunk { hash, .. }) if hash == shared
    ));

    // A missing chunk is reported as missing: rewrite its pack without it
    // (the other chunks' bytes, damaged or not, are copied as they are).
    let gone = full_map.chunks[5].hash;
    let scan = store.scan().unwrap();
    let pack = scan
        .packs
        .iter()
        .find(|p| p.entries.iter().any(|e| e.hash == gone))
        .unwrap();
    let keep: Vec<_> = pack
        .entries
        .iter()
        .filter(|e| e.hash != gone)
        .copied()
        .collect();
    store.rewrite_pack(pack, &keep).unwrap();
    store.reload().unwrap();
    let report = repo.verify(None).unwrap();
    assert_eq!(report.missing.len(), 1);
    assert_eq!(report.missing[0].hash, gone);
    assert_eq!(report.affected_backups().len(), 2);

    // A damaged manifest is reported, and gc refuses to run.
    fs::write(repo.manifest_path(&inc.id), b"not zstd").unwrap();
    let report = repo.verify(None).unwrap();
    assert_eq!(report.broken_manifests.len(), 1);
    assert_eq!(repo.list(None).unwrap().broken.len(), 1);
    assert!(matches!(
        repo.gc(false),
        Err(RepoError::UnreadableManifests { .. })
    ));
}

/// One backup of `vm` on `day`: shared 2 MiB base + 256 KiB unique to the day.
fn daily_backup(repo: &Repository, name: &str, base: &[u8], day: u32) -> (Manifest, Vec<u8>) {
    let mut content = base.to_vec();
    content.extend(Prng::new(1000 + day as u64 + name.len() as u64 * 100).bytes(256 * 1024));
    let m = full_backup(
        repo,
        meta(name, BackupKind::Full, t(day, 2), None),
        &content,
    );
    (m, content)
}

#[test]
fn prune_applies_policy_and_frees_only_unshared_chunks() {
    let tmp = TempDir::new("prune");
    let repo = Repository::create(tmp.path().join("repo")).unwrap();
    let base = make_disk(8, 2 * MIB);
    let a: Vec<_> = (1..=5)
        .map(|d| daily_backup(&repo, "alpha", &base, d))
        .collect();
    let b: Vec<_> = (1..=2)
        .map(|d| daily_backup(&repo, "beta", &base, d))
        .collect();
    let policy = RetentionPolicy {
        keep_last: 2,
        ..Default::default()
    };
    let before = repo.stats().unwrap();
    let ids_before = repo.ids().unwrap();

    let dry = repo.prune(&policy, None, true).unwrap();
    assert!(dry.dry_run);
    let mut expect_removed: Vec<String> = a[..3].iter().map(|(m, _)| m.id.clone()).collect();
    expect_removed.sort();
    let mut removed = dry.removed.clone();
    removed.sort();
    assert_eq!(removed, expect_removed);
    assert!(dry.gc.bytes_freed > 3 * 200 * 1024, "{:?}", dry.gc);
    assert_eq!(repo.ids().unwrap(), ids_before, "dry run deletes nothing");
    assert_eq!(repo.stats().unwrap(), before);
    let kept_reasons: Vec<_> = dry.decisions.iter().filter(|d| d.keep).collect();
    assert_eq!(kept_reasons.len(), 4);
    assert!(
        kept_reasons
            .iter()
            .all(|d| d.reasons == vec!["last".to_string()])
    );

    let real = repo.prune(&policy, None, false).unwrap();
    assert_eq!(real.decisions, dry.decisions);
    assert_eq!(real.gc.chunks_removed, dry.gc.chunks_removed);
    assert_eq!(real.gc.bytes_freed, dry.gc.bytes_freed);
    let after = repo.stats().unwrap();
    assert_eq!(after.bytes, before.bytes - real.gc.bytes_freed);
    let left: HashSet<String> = repo.ids().unwrap().into_iter().collect();
    assert_eq!(left.len(), 4);
    for (m, content) in a[3..].iter().chain(&b) {
        assert!(left.contains(&m.id));
        assert!(restore(&repo, m) == *content, "restore of {}", m.id);
    }
    // Unique chunks of removed backups are gone, shared ones stay.
    let store = repo.chunk_store();
    for (m, _) in &a[..3] {
        let last = m.disk(KEY).unwrap().map.chunks.last().unwrap().hash;
        assert!(!store.contains(&last).unwrap());
        assert!(
            store
                .contains(&m.disk(KEY).unwrap().map.chunks[0].hash)
                .unwrap()
        );
    }
    assert!(repo.verify(None).unwrap().is_ok());

    // Per-VM prune only touches that VM.
    let r = repo
        .prune(
            &RetentionPolicy {
                keep_last: 1,
                ..Default::default()
            },
            Some("beta"),
            false,
        )
        .unwrap();
    assert_eq!(r.removed, vec![b[0].0.id.clone()]);
    assert_eq!(repo.list(Some("alpha")).unwrap().backups.len(), 2);
    assert!(matches!(
        repo.prune(&RetentionPolicy::default(), None, true),
        Err(RepoError::EmptyPolicy)
    ));
}

#[test]
fn incremental_restores_after_its_parent_is_deleted() {
    let tmp = TempDir::new("parent-gone");
    let repo = Repository::create(tmp.path().join("repo")).unwrap();
    let v1 = make_disk(12, 6 * MIB);
    let full = full_backup(&repo, meta("web", BackupKind::Full, t(1, 1), None), &v1);
    let mut v2 = v1.clone();
    let changed = scatter_changes(&mut v2, &mut Prng::new(13), 10, 8192);
    let (inc, _) = incremental(
        &repo,
        meta("web", BackupKind::Incremental, t(2, 1), Some(&full.id)),
        &full,
        &v2,
        &changed,
    );
    repo.delete(&full.id).unwrap();
    assert!(matches!(
        repo.delete(&full.id),
        Err(RepoError::BackupNotFound { .. })
    ));
    let gc = repo.gc(false).unwrap();
    assert!(gc.chunks_removed > 0, "chunks only the full used are gone");
    let inc = repo.load(&inc.id).unwrap();
    assert_eq!(inc.parent.as_deref(), Some(full.id.as_str()));
    assert!(restore(&repo, &inc) == v2);
    assert!(repo.verify(None).unwrap().is_ok());
}

#[test]
fn disk_growth_and_sparse_full() {
    let tmp = TempDir::new("grow");
    let repo = Repository::create(tmp.path().join("repo")).unwrap();
    // Sparse full: only two allocated areas are sent, the rest is zeros.
    let cap = 4 * MIB;
    let mut v1 = vec![0u8; cap];
    let mut rng = Prng::new(21);
    rng.fill(&mut v1[100_000..600_000]);
    rng.fill(&mut v1[3 * MIB..3 * MIB + 10_000]);
    let mut bw = repo
        .begin_backup(meta("s", BackupKind::Full, t(1, 1), None))
        .unwrap();
    let mut w = bw.disk_writer(disk_info(cap as u64, "c1"), None).unwrap();
    for e in [
        Extent::new(100_000, 500_000),
        Extent::new(3 * MIB as u64, 10_000),
    ] {
        send_range(&mut w, &v1, e, &mut rng);
    }
    let st = w.finish().unwrap();
    assert_eq!(st.bytes_read, 510_000);
    assert_eq!(st.bytes_zero_filled, cap as u64 - 510_000);
    let full = bw.commit().unwrap();
    assert!(restore(&repo, &full) == v1);

    // The disk grows by 1 MiB + 123; CBT reports one extent across the old
    // end and one in the new area. The rest of the new area is zeros.
    let new_cap = cap + MIB + 123;
    let mut v2 = v1.clone();
    v2.resize(new_cap, 0);
    rng.fill(&mut v2[cap - 5000..cap + 5000]);
    rng.fill(&mut v2[cap + 500_000..cap + 600_000]);
    let changed = [
        Extent::new(cap as u64 - 5000, 10_000),
        Extent::new(cap as u64 + 500_000, 100_000),
    ];
    let (inc, st) = incremental(
        &repo,
        meta("s", BackupKind::Incremental, t(2, 1), Some(&full.id)),
        &full,
        &v2,
        &changed,
    );
    assert_eq!(st.bytes_read, 110_000);
    assert!(st.bytes_zero_filled > 0);
    assert_eq!(inc.disk(KEY).unwrap().capacity(), new_cap as u64);
    assert!(restore(&repo, &inc) == v2);
    assert!(restore(&repo, &full) == v1);
}

#[test]
fn repository_open_rules_ids_and_locking() {
    let tmp = TempDir::new("open");
    let dir = tmp.path().join("repo");
    assert!(matches!(
        Repository::open(&dir),
        Err(RepoError::NotARepository { .. })
    ));
    let other = tmp.path().join("other");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("file.txt"), b"x").unwrap();
    let err = Repository::init_or_open(&other).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    let repo = Repository::init_or_open(&dir).unwrap();
    let again = Repository::init_or_open(&dir).unwrap();
    assert_eq!(repo.config(), again.config());
    assert!(Repository::create(&dir).is_err());

    let d = vec![7u8; 100_000];
    let m1 = full_backup(&repo, meta("x", BackupKind::Full, t(5, 1), None), &d);
    let m2 = full_backup(&repo, meta("x", BackupKind::Full, t(5, 1), None), &d);
    assert_eq!(m2.stats.chunks_new, 0);
    assert_eq!(repo.resolve_id(&m1.id).unwrap(), m1.id);
    assert_eq!(repo.resolve_id(&m1.id[..m1.id.len() - 1]).unwrap(), m1.id);
    match repo.resolve_id("20261105") {
        Err(RepoError::AmbiguousId { candidates, .. }) => assert_eq!(candidates.len(), 2),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        repo.resolve_id("2025"),
        Err(RepoError::BackupNotFound { .. })
    ));
    assert!(matches!(
        repo.load("../ceso-repo"),
        Err(RepoError::BackupNotFound { .. })
    ));

    // A running backup blocks gc/prune but not another backup or a delete.
    let bw = repo
        .begin_backup(meta("x", BackupKind::Full, t(6, 1), None))
        .unwrap();
    assert!(matches!(repo.gc(false), Err(RepoError::Locked { .. })));
    let bw2 = repo
        .begin_backup(meta("y", BackupKind::Full, t(6, 1), None))
        .unwrap();
    assert_ne!(bw.id(), bw2.id());
    repo.delete(&m2.id).unwrap();
    drop((bw, bw2));
    repo.gc(false).unwrap();

    // Marker with a future version is refused with a clear message.
    let marker = dir.join(REPO_MARKER);
    let text = fs::read_to_string(&marker)
        .unwrap()
        .replace("\"version\": 2", "\"version\": 7");
    fs::write(&marker, &text).unwrap();
    let err = Repository::open(&dir).unwrap_err();
    assert!(
        matches!(err, RepoError::UnsupportedVersion { found: 7, .. }),
        "{err}"
    );
    // Version 1 (one file per chunk) is refused too, saying what to do.
    fs::write(&marker, text.replace("\"version\": 7", "\"version\": 1")).unwrap();
    let err = Repository::open(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            RepoError::OutdatedRepository {
                found: 1,
                supported: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("new repository"), "{err}");
}

#[test]
fn types_can_cross_threads() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Repository>();
    sync::<Repository>();
    send::<BackupWriter<'static>>();
    send::<Manifest>();
    send::<RepoError>();
    sync::<RepoError>();
}

#[test]
fn writer_rejects_misuse() {
    let tmp = TempDir::new("misuse");
    let repo = Repository::create(tmp.path().join("repo")).unwrap();
    let mut bw = repo
        .begin_backup(meta("m", BackupKind::Full, t(1, 1), None))
        .unwrap();
    let mut w = bw.disk_writer(disk_info(1000, "c"), None).unwrap();
    assert!(
        w.begin_range(Extent::new(900, 200)).is_err(),
        "beyond capacity"
    );
    w.begin_range(Extent::new(0, 100)).unwrap();
    assert!(w.push(&[0; 101]).is_err(), "more than announced");
    w.push(&[1; 50]).unwrap();
    let err = w.end_range().unwrap_err();
    assert!(err.to_string().contains("ended after 50 of 100"), "{err}");
    w.push(&[1; 50]).unwrap();
    w.end_range().unwrap();
    assert!(
        w.begin_range(Extent::new(50, 10)).is_err(),
        "goes backwards"
    );
    w.finish().unwrap();
    assert!(
        bw.disk_writer(disk_info(10, "c"), None).is_err(),
        "same key twice"
    );
    bw.add_file("a", b"1").unwrap();
    assert!(bw.add_file("a", b"2").is_err());
    let m = bw.commit().unwrap();
    let mut expect = vec![1u8; 100];
    expect.resize(1000, 0);
    assert!(restore(&repo, &m) == expect);

    // A parent larger than the disk (shrink) is refused.
    let mut bw = repo
        .begin_backup(meta("m", BackupKind::Incremental, t(2, 1), None))
        .unwrap();
    let parent = &m.disk(KEY).unwrap().map;
    assert!(bw.disk_writer(disk_info(500, "c"), Some(parent)).is_err());
}

/// Throughput of chunk + hash + compress (in memory), and of a whole backup
/// into a repository (adds file writes and fsyncs), on 256 MiB of mixed data.
/// Run: cargo test --release --lib backup_repo::tests::throughput -- --ignored --nocapture
#[test]
#[ignore]
fn throughput() {
    let total = 256 * MIB;
    let mut data = vec![0u8; total];
    let mut rng = Prng::new(77);
    // Mixed: ~40% random (incompressible), ~35% text-like, ~25% zeros.
    let words: Vec<&[u8]> = vec![
        b"error ",
        b"vmware ",
        b"disk ",
        b"the ",
        b"backup ",
        b"2026-11-22 ",
        b"INFO ",
        b"kernel: ",
        b"eth0 ",
        b"\n",
        b"1234 ",
        b"user=root ",
    ];
    let piece = 4 * MIB;
    for (i, block) in data.chunks_mut(piece).enumerate() {
        match i % 20 {
            0..=7 => rng.fill(block),
            8..=14 => {
                let mut p = 0;
                while p < block.len() {
                    let w = words[rng.below(words.len() as u64) as usize];
                    let n = w.len().min(block.len() - p);
                    block[p..p + n].copy_from_slice(&w[..n]);
                    p += n;
                }
            }
            _ => {}
        }
    }
    let mb = total as f64 / 1e6;

    let start = Instant::now();
    let mut chunker = StreamChunker::new(ChunkerParams::default());
    let mut compressor = zstd::bulk::Compressor::new(COMPRESSION_LEVEL).unwrap();
    let (mut chunks, mut compressed) = (0u64, 0u64);
    for piece in data.chunks(MIB) {
        for c in chunker.push(piece) {
            chunks += 1;
            compressed += compressor.compress(&c.data).unwrap().len() as u64;
        }
    }
    for c in chunker.finish() {
        chunks += 1;
        compressed += compressor.compress(&c.data).unwrap().len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "chunk+hash+compress: {mb:.0} MB in {secs:.2}s = {:.0} MB/s ({chunks} chunks, {:.0} MB compressed)",
        mb / secs,
        compressed as f64 / 1e6
    );

    let start = Instant::now();
    let mut chunker = StreamChunker::new(ChunkerParams::default());
    let mut n = 0;
    for piece in data.chunks(MIB) {
        n += chunker.push(piece).len();
    }
    n += chunker.finish().len();
    let secs_c = start.elapsed().as_secs_f64();
    println!(
        "  of which chunk+hash: {:.0} MB/s ({n} chunks)",
        mb / secs_c
    );

    let tmp = TempDir::new("throughput");
    let repo = Repository::create(tmp.path().join("repo")).unwrap();
    let start = Instant::now();
    let mut bw = repo
        .begin_backup(meta("bench", BackupKind::Full, Utc::now(), None))
        .unwrap();
    let mut w = bw.disk_writer(disk_info(total as u64, "c"), None).unwrap();
    w.begin_range(Extent::new(0, total as u64)).unwrap();
    for piece in data.chunks(MIB) {
        w.push(piece).unwrap();
    }
    w.end_range().unwrap();
    w.finish().unwrap();
    let m = bw.commit().unwrap();
    let secs_b = start.elapsed().as_secs_f64();
    println!(
        "full backup into repository: {:.0} MB/s ({} chunks new, {:.0} MB stored)",
        mb / secs_b,
        m.stats.chunks_new,
        m.stats.bytes_new as f64 / 1e6
    );

    let start = Instant::now();
    let mut sink = std::io::sink();
    repo.restore_disk(&m, KEY, &mut sink).unwrap();
    let secs_r = start.elapsed().as_secs_f64();
    println!("restore (read+decompress+verify): {:.0} MB/s", mb / secs_r);

    let start = Instant::now();
    let report = repo.verify(None).unwrap();
    println!(
        "verify: {:.0} MB/s of unique chunk data",
        report.bytes_checked as f64 / 1e6 / start.elapsed().as_secs_f64()
    );
}
