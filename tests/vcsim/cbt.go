package main

// Changed Block Tracking (CBT), modelled on ESXi:
//
//   - ReconfigVM_Task with changeTrackingEnabled=true turns CBT on; each
//     snapshot taken while it is on gets a changeId per disk, visible at
//     VirtualMachineSnapshot config.hardware.device[].backing.changeId and on
//     the VM's config.hardware.device[].backing.changeId. A changeId looks
//     like "52 3c 1f 0a 9b 2d 4e 5f-6a 7b 8c 9d ae bf c0 d1/3": the disk's
//     tracking uuid (new each time CBT is enabled) and a sequence number.
//   - VirtualMachine.QueryChangedDiskAreas(snapshot, deviceKey, startOffset,
//     changeId) returns the areas that differ between the epoch of changeId
//     and the snapshot, at most -cbt-max-extents extents per call: the
//     answer's length says how far it covers and clients loop until
//     startOffset+length reaches the capacity. changeId "*" returns the
//     allocated (non-zero) areas.
//
// The simulator has one content file per disk (<disk>-flat.vmdk, no delta
// disks): an epoch is a hash per block of that file when the snapshot is
// taken. Guest writes are simulated by uploading the flat file.
//
// Also here: RemoveSnapshot_Task / RemoveAllSnapshots_Task replace vcsim's,
// which can delete the VM's disk files (stale layoutEx keys after
// RefreshStorageInfo); as on ESXi, removing a snapshot keeps the disks.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var (
	cbtMaxExtents int
	cbtBlockKB    int
	cbtMaxSpanMB  int64
	cbtUntracked  bool
)

func init() {
	flag.IntVar(&cbtMaxExtents, "cbt-max-extents", 64,
		"most extents one QueryChangedDiskAreas answer returns (clients must loop on startOffset+length)")
	flag.IntVar(&cbtBlockKB, "cbt-block-kb", 64, "CBT block size in KiB (extent granularity)")
	flag.Int64Var(&cbtMaxSpanMB, "cbt-max-span-mb", 0,
		"most MiB of the disk one QueryChangedDiskAreas answer covers (0: no limit)")
	flag.BoolVar(&cbtUntracked, "cbt-untracked", false,
		"disks report no changeId even with CBT on, as ESXi does for disks it cannot track (physical-mode RDMs)")
	extensions = append(extensions, installCBT)
}

// epoch is the content of a disk at one changeId: a hash per block (0 for an
// all-zero block; blocks past the end of the slice are zero).
type epoch struct {
	seq      int
	capacity int64
	hashes   []uint64
}

// diskTracker is the change tracking state of one disk (ESXi's -ctk.vmdk).
type diskTracker struct {
	uuid   string // "52 xx xx xx xx xx xx xx-xx xx xx xx xx xx xx xx"
	file   string // descriptor datastore path this state belongs to
	seq    int
	epochs map[int]*epoch
}

type vmTracker struct {
	disks map[int32]*diskTracker
}

type cbtRegistry struct {
	mu   sync.Mutex
	self types.ManagedObjectReference
	vms  map[types.ManagedObjectReference]*vmTracker
	vmsn map[types.ManagedObjectReference]string // snapshot -> "[ds] dir/vm-SnapshotN.vmsn"
}

var cbt = &cbtRegistry{
	self: types.ManagedObjectReference{Type: "CesoTestBedHooks", Value: "ceso-cbt"},
	vms:  make(map[types.ManagedObjectReference]*vmTracker),
	vmsn: make(map[types.ManagedObjectReference]string),
}

func blockSize() int64 { return int64(cbtBlockKB) * 1024 }

func installCBT(m *simulator.Model) {
	if cbtBlockKB <= 0 {
		fatalf("-cbt-block-kb must be positive")
	}
	if cbtMaxExtents <= 0 {
		fatalf("-cbt-max-extents must be positive")
	}
	if cbtMaxSpanMB < 0 {
		fatalf("-cbt-max-span-mb must not be negative")
	}

	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		if diskMB > 0 && vm.Config != nil {
			for _, d := range vmDisks(vm.Config.Hardware.Device) {
				d.CapacityInBytes = diskMB << 20
				d.CapacityInKB = diskMB << 10
			}
		}
		syncVM(vm)
	}

	simulator.Map.AddHandler(cbt)

	interceptSOAP("VirtualMachine", "QueryChangedDiskAreas", cbt.queryChangedDiskAreas)
	interceptSOAP("VirtualMachineSnapshot", "RemoveSnapshot_Task", cbt.removeSnapshotTask)
	interceptSOAP("VirtualMachine", "RemoveAllSnapshots_Task", cbt.removeAllSnapshotsTask)
	interceptSOAP("VirtualMachine", "RefreshStorageInfo", refreshStorageInfo)

	folderWriteHooks = append(folderWriteHooks, growFlatFiles)
}

// syncVM brings our view of vm up to date after anything changed it.
func syncVM(vm *simulator.VirtualMachine) {
	normalizeDisks(vm)
	cbt.syncTracking(vm)
	writeVMX(vm)
	updateConsolidationNeeded(vm)
	refreshLayout(vm, cbt.snapshotFiles())
}

// snapshotFiles returns a copy of the snapshot -> .vmsn file map.
func (c *cbtRegistry) snapshotFiles() map[types.ManagedObjectReference]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := make(map[types.ManagedObjectReference]string, len(c.vmsn))
	for k, v := range c.vmsn {
		res[k] = v
	}
	return res
}

func cbtEnabled(vm *simulator.VirtualMachine) bool {
	return vm.Config != nil && vm.Config.ChangeTrackingEnabled != nil && *vm.Config.ChangeTrackingEnabled
}

// --- simulator.RegisterObject: hooks run synchronously inside the simulator

func (c *cbtRegistry) Reference() types.ManagedObjectReference { return c.self }

// PutObject sees every object added to the inventory; a new
// VirtualMachineSnapshot is a snapshot being taken (CreateSnapshot_Task,
// with the VM locked, before the task completes).
func (c *cbtRegistry) PutObject(item mo.Reference) {
	snap, ok := item.(*simulator.VirtualMachineSnapshot)
	if !ok {
		return
	}
	vm, ok := simulator.Map.Get(snap.Vm).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	c.snapshotCreated(vm, snap)
}

// UpdateObject sees every property change: task completion (to follow
// ReconfigVM, CreateVM, CloneVM ...) and a VM's new current snapshot (to
// learn the snapshot's .vmsn file while layoutEx is consistent).
func (c *cbtRegistry) UpdateObject(obj mo.Reference, changes []types.PropertyChange) {
	switch o := obj.(type) {
	case *mo.Task:
		for _, ch := range changes {
			if ch.Name == "info.state" && ch.Val == types.TaskInfoStateSuccess {
				c.taskDone(o)
			}
		}
	case *mo.VirtualMachine:
		for _, ch := range changes {
			if ch.Name == "snapshot.currentSnapshot" {
				c.recordSnapshotFile(o, ch.Val)
			}
		}
	}
}

func (c *cbtRegistry) RemoveObject(ref types.ManagedObjectReference) {
	switch ref.Type {
	case "VirtualMachine":
		c.mu.Lock()
		delete(c.vms, ref)
		c.mu.Unlock()
		forgetDisks(ref)
	case "VirtualMachineSnapshot":
		c.mu.Lock()
		delete(c.vmsn, ref)
		c.mu.Unlock()
	}
}

func (c *cbtRegistry) taskDone(task *mo.Task) {
	var refs []types.ManagedObjectReference
	if e := task.Info.Entity; e != nil && e.Type == "VirtualMachine" {
		refs = append(refs, *e)
	}
	if r, ok := task.Info.Result.(types.ManagedObjectReference); ok && r.Type == "VirtualMachine" {
		refs = append(refs, r)
	}
	for _, ref := range refs {
		if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
			syncVM(vm)
		}
	}
}

func (c *cbtRegistry) recordSnapshotFile(vm *mo.VirtualMachine, val interface{}) {
	var ref types.ManagedObjectReference
	switch v := val.(type) {
	case types.ManagedObjectReference:
		ref = v
	case *types.ManagedObjectReference:
		if v == nil {
			return
		}
		ref = *v
	default:
		return
	}
	if vm.LayoutEx == nil {
		return
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.vmsn[ref]; ok {
		return
	}
	for _, s := range vm.LayoutEx.Snapshot {
		if s.Key != ref {
			continue
		}
		for _, f := range vm.LayoutEx.File {
			if f.Key == s.DataKey && strings.HasSuffix(f.Name, ".vmsn") {
				c.vmsn[ref] = f.Name
			}
		}
	}
}

// --- tracking state

func newTrackingUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[0] = 0x52 // VMware-generated uuids start with 52
	parts := make([]string, 16)
	for i := range b {
		parts[i] = fmt.Sprintf("%02x", b[i])
	}
	return strings.Join(parts[:8], " ") + "-" + strings.Join(parts[8:], " ")
}

var changeIDPattern = regexp.MustCompile(`^([0-9a-f]{2}(?: [0-9a-f]{2}){7}-[0-9a-f]{2}(?: [0-9a-f]{2}){7})/([0-9]+)$`)

func parseChangeID(id string) (uuid string, seq int, ok bool) {
	m := changeIDPattern.FindStringSubmatch(id)
	if m == nil {
		return "", 0, false
	}
	seq, err := strconv.Atoi(m[2])
	if err != nil {
		return "", 0, false
	}
	return m[1], seq, true
}

func changeIDOf(d *types.VirtualDisk) string {
	switch b := d.Backing.(type) {
	case *types.VirtualDiskFlatVer2BackingInfo:
		return b.ChangeId
	case *types.VirtualDiskSparseVer2BackingInfo:
		return b.ChangeId
	case *types.VirtualDiskSeSparseBackingInfo:
		return b.ChangeId
	case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
		return b.ChangeId
	}
	return ""
}

func setChangeID(d *types.VirtualDisk, id string) {
	switch b := d.Backing.(type) {
	case *types.VirtualDiskFlatVer2BackingInfo:
		b.ChangeId = id
	case *types.VirtualDiskSparseVer2BackingInfo:
		b.ChangeId = id
	case *types.VirtualDiskSeSparseBackingInfo:
		b.ChangeId = id
	case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
		b.ChangeId = id
	}
}

// copyDisk returns a copy of d with its own backing object, so that setting
// a changeId does not show through other device lists sharing d.
func copyDisk(d *types.VirtualDisk) *types.VirtualDisk {
	c := *d
	switch b := d.Backing.(type) {
	case *types.VirtualDiskFlatVer2BackingInfo:
		x := *b
		c.Backing = &x
	case *types.VirtualDiskSparseVer2BackingInfo:
		x := *b
		c.Backing = &x
	case *types.VirtualDiskSeSparseBackingInfo:
		x := *b
		c.Backing = &x
	case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
		x := *b
		c.Backing = &x
	}
	return &c
}

// withChangeIDs returns a copy of devices whose disks listed in ids get
// those changeIds (copied disks; other devices shared).
func withChangeIDs(devices []types.BaseVirtualDevice, ids map[int32]string) []types.BaseVirtualDevice {
	res := make([]types.BaseVirtualDevice, len(devices))
	for i, dev := range devices {
		res[i] = dev
		if disk, ok := dev.(*types.VirtualDisk); ok {
			if id, ok := ids[disk.Key]; ok {
				disk = copyDisk(disk)
				setChangeID(disk, id)
				res[i] = disk
			}
		}
	}
	return res
}

// setVMDevices replaces vm's device list and notifies property collectors.
// The caller holds vm's lock (or runs inside a simulator method on vm).
func setVMDevices(vm *simulator.VirtualMachine, devices []types.BaseVirtualDevice) {
	simulator.Map.Update(vm, []types.PropertyChange{{Name: "config.hardware.device", Val: devices}})
}

// syncTracking follows changeTrackingEnabled: turning it on starts a new
// tracking uuid per disk at the next snapshot (as ESXi, which needs a stun
// cycle); turning it off drops all state and the VM's changeIds.
func (c *cbtRegistry) syncTracking(vm *simulator.VirtualMachine) {
	if vm.Config == nil {
		return
	}
	enabled := cbtEnabled(vm)

	c.mu.Lock()
	t := c.vms[vm.Self]
	switch {
	case enabled && t == nil:
		t = &vmTracker{disks: make(map[int32]*diskTracker)}
		c.vms[vm.Self] = t
	case !enabled && t != nil:
		delete(c.vms, vm.Self)
		t = nil
	}

	// ChangeIds we did not issue for this disk (CBT off, cloned from another
	// VM, disk replaced) are cleared.
	clear := make(map[int32]string)
	for _, d := range vmDisks(vm.Config.Hardware.Device) {
		id := changeIDOf(d)
		if id == "" {
			continue
		}
		valid := false
		if t != nil {
			if dt := t.disks[d.Key]; dt != nil {
				b := diskFileBacking(d)
				uuid, seq, ok := parseChangeID(id)
				valid = ok && b != nil && dt.file == b.FileName && uuid == dt.uuid && dt.epochs[seq] != nil
			}
		}
		if !valid {
			clear[d.Key] = ""
		}
	}
	if t != nil {
		// Forget trackers of disks that are gone or whose file changed.
		for key, dt := range t.disks {
			keep := false
			for _, d := range vmDisks(vm.Config.Hardware.Device) {
				if b := diskFileBacking(d); d.Key == key && b != nil && b.FileName == dt.file {
					keep = true
				}
			}
			if !keep {
				delete(t.disks, key)
			}
		}
	}
	c.mu.Unlock()

	if len(clear) != 0 {
		setVMDevices(vm, withChangeIDs(vm.Config.Hardware.Device, clear))
	}
}

// snapshotCreated runs while CreateSnapshot_Task creates snap (vm locked).
func (c *cbtRegistry) snapshotCreated(vm *simulator.VirtualMachine, snap *simulator.VirtualMachineSnapshot) {
	// vcsim copies vm.Config into the snapshot shallowly, sharing the device
	// objects with the VM: give the snapshot its own disks.
	devices := make([]types.BaseVirtualDevice, len(snap.Config.Hardware.Device))
	for i, dev := range snap.Config.Hardware.Device {
		devices[i] = dev
		if disk, ok := dev.(*types.VirtualDisk); ok {
			devices[i] = copyDisk(disk)
		}
	}
	snap.Config.Hardware.Device = devices

	if !cbtEnabled(vm) || cbtUntracked {
		for _, d := range vmDisks(devices) {
			setChangeID(d, "")
		}
		return
	}

	ids := make(map[int32]string)

	c.mu.Lock()
	t := c.vms[vm.Self]
	if t == nil {
		t = &vmTracker{disks: make(map[int32]*diskTracker)}
		c.vms[vm.Self] = t
	}
	for _, d := range vmDisks(devices) {
		b := diskFileBacking(d)
		if b == nil {
			continue
		}
		dt := t.disks[d.Key]
		if dt == nil || dt.file != b.FileName {
			dt = &diskTracker{uuid: newTrackingUUID(), file: b.FileName, epochs: make(map[int]*epoch)}
			t.disks[d.Key] = dt
		}
		dt.seq++
		ep := &epoch{seq: dt.seq, capacity: diskCapacity(d)}
		ep.hashes, _ = diskHashes(vm, d, ep.capacity)
		dt.epochs[dt.seq] = ep

		id := fmt.Sprintf("%s/%d", dt.uuid, dt.seq)
		setChangeID(d, id)
		ids[d.Key] = id
	}
	c.mu.Unlock()

	setVMDevices(vm, withChangeIDs(vm.Config.Hardware.Device, ids))
}

// hashBlocks hashes the first capacity bytes of file per CBT block; bytes
// past the end of the file are zero. An all-zero block hashes to 0. Holes of
// the (sparse) flat extent are skipped without reading them.
func hashBlocks(file string, capacity int64) ([]uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	bs := blockSize()
	buf := make([]byte, bs)
	zeros := make([]byte, bs)
	var hashes []uint64

	for off := int64(0); off < capacity; {
		// Next data at or after off (SEEK_DATA); none: the rest is zero.
		var data, hole int64
		data, err = f.Seek(off, seekData)
		switch {
		case errors.Is(err, syscall.ENXIO):
			data = capacity
		case err != nil || data < off:
			data, hole = off, capacity // no SEEK_DATA here: read everything
		default:
			if hole, err = f.Seek(data, seekHole); err != nil || hole <= data {
				hole = capacity
			}
		}
		if data >= capacity {
			break
		}
		b := data / bs
		for int64(len(hashes)) < b {
			hashes = append(hashes, 0)
		}
		off = b * bs

		for ; off < capacity && off < hole; off += bs {
			n := bs
			if capacity-off < n {
				n = capacity - off
			}
			block := buf[:n]
			got, err := f.ReadAt(block, off)
			if err != nil && err != io.EOF {
				return nil, err
			}
			copy(block[got:], zeros)
			hashes = append(hashes, blockHash(block, zeros))
		}
	}

	// Trailing zero blocks need no storage.
	for len(hashes) > 0 && hashes[len(hashes)-1] == 0 {
		hashes = hashes[:len(hashes)-1]
	}
	return hashes, nil
}

// lseek whence values for sparse files (Linux).
const (
	seekData = 3
	seekHole = 4
)

func blockHash(block, zeros []byte) uint64 {
	if bytes.Equal(block, zeros[:len(block)]) {
		return 0
	}
	sum := sha256.Sum256(block)
	h := binary.LittleEndian.Uint64(sum[:8])
	if h == 0 {
		h = 1
	}
	return h
}

func (e *epoch) hash(b int) uint64 {
	if b < len(e.hashes) {
		return e.hashes[b]
	}
	return 0
}

// changedExtents lists the blocks from startOffset on that differ between
// base and target (base nil: that are allocated in target), merged into
// extents, at most max of them and up to startOffset+span (span 0: no
// limit). It returns how many bytes from startOffset the answer covers.
func changedExtents(base, target *epoch, capacity, startOffset int64, max int, span int64) (int64, []types.DiskChangeExtent) {
	bs := blockSize()
	if span > 0 && startOffset+span < capacity {
		capacity = startOffset + span
	}
	nblocks := int((capacity + bs - 1) / bs)
	var res []types.DiskChangeExtent

	for b := int(startOffset / bs); b < nblocks; b++ {
		changed := target.hash(b) != 0
		if base != nil {
			changed = target.hash(b) != base.hash(b)
		}
		if !changed {
			continue
		}
		start := int64(b) * bs
		if start < startOffset {
			start = startOffset
		}
		end := int64(b+1) * bs
		if end > capacity {
			end = capacity
		}
		if n := len(res); n > 0 && res[n-1].Start+res[n-1].Length == start {
			res[n-1].Length = end - res[n-1].Start
			continue
		}
		if len(res) == max {
			// Stop before this extent: the client asks again from here.
			return start - startOffset, res
		}
		res = append(res, types.DiskChangeExtent{Start: start, Length: end - start})
	}
	return capacity - startOffset, res
}

// --- QueryChangedDiskAreas

func invalidArgument(prop string) *soap.Fault {
	return soapFaultf(&types.InvalidArgument{InvalidProperty: prop}, "A specified parameter was not correct: %s", prop)
}

func fileFault(file string) *soap.Fault {
	return soapFaultf(&types.FileFault{File: file}, "Error caused by file %s", file)
}

func (c *cbtRegistry) queryChangedDiskAreas(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.QueryChangedDiskAreas)
	body := &methods.QueryChangedDiskAreasBody{}

	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		body.Fault_ = soapFaultf(&types.ManagedObjectNotFound{Obj: req.This}, "managed object not found: %s", req.This)
		return body
	}

	simulator.Map.WithLock(vm, func() {
		res, fault := c.query(vm, req)
		if fault != nil {
			body.Fault_ = fault
			return
		}
		body.Res = &types.QueryChangedDiskAreasResponse{Returnval: *res}
	})
	return body
}

func (c *cbtRegistry) query(vm *simulator.VirtualMachine, req *types.QueryChangedDiskAreas) (*types.DiskChangeInfo, *soap.Fault) {
	config := vm.Config
	if req.Snapshot != nil {
		snap, ok := simulator.Map.Get(*req.Snapshot).(*simulator.VirtualMachineSnapshot)
		if !ok {
			return nil, soapFaultf(&types.ManagedObjectNotFound{Obj: *req.Snapshot}, "managed object not found: %s", *req.Snapshot)
		}
		if snap.Vm != vm.Self {
			return nil, invalidArgument("snapshot")
		}
		config = &snap.Config
	}
	if config == nil {
		return nil, invalidArgument("deviceKey")
	}

	var disk *types.VirtualDisk
	for _, d := range vmDisks(config.Hardware.Device) {
		if d.Key == req.DeviceKey {
			disk = d
		}
	}
	if disk == nil {
		return nil, invalidArgument("deviceKey")
	}
	backing := diskFileBacking(disk)
	if backing == nil {
		return nil, invalidArgument("deviceKey")
	}
	file := backing.FileName

	if !cbtEnabled(vm) {
		// ESXi: no change tracking file for the disk.
		return nil, fileFault(file)
	}

	capacity := diskCapacity(disk)
	if req.StartOffset < 0 || req.StartOffset >= capacity {
		return nil, invalidArgument("startOffset")
	}

	c.mu.Lock()
	defer c.mu.Unlock()

	var dt *diskTracker
	if t := c.vms[vm.Self]; t != nil {
		if x := t.disks[disk.Key]; x != nil && x.file == file {
			dt = x
		}
	}

	var target *epoch
	if req.Snapshot != nil {
		uuid, seq, ok := parseChangeID(changeIDOf(disk))
		if !ok || dt == nil || uuid != dt.uuid || dt.epochs[seq] == nil {
			// Snapshot taken without change tracking (or before a reset).
			return nil, fileFault(file)
		}
		target = dt.epochs[seq]
		capacity = target.capacity
	} else {
		// Against the VM's current state: ESXi allows this only when the
		// disk is not in use.
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			return nil, soapFaultf(&types.FileLocked{FileFault: types.FileFault{File: file}},
				"Unable to access file %s since it is locked", file)
		}
		hashes, ok := diskHashes(vm, disk, capacity)
		if !ok {
			return nil, fileFault(file)
		}
		target = &epoch{capacity: capacity, hashes: hashes}
		if dt != nil {
			target.seq = dt.seq + 1
		}
	}

	var base *epoch
	if req.ChangeId != "*" {
		uuid, seq, ok := parseChangeID(req.ChangeId)
		if !ok || dt == nil || uuid != dt.uuid || dt.epochs[seq] == nil || (req.Snapshot != nil && seq > target.seq) {
			return nil, invalidArgument("changeId")
		}
		base = dt.epochs[seq]
	}

	length, extents := changedExtents(base, target, capacity, req.StartOffset, cbtMaxExtents, cbtMaxSpanMB<<20)
	return &types.DiskChangeInfo{
		StartOffset: req.StartOffset,
		Length:      length,
		ChangedArea: extents,
	}, nil
}

// --- snapshot removal that keeps the disks

func (c *cbtRegistry) removeSnapshotTask(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.RemoveSnapshot_Task)
	body := &methods.RemoveSnapshot_TaskBody{}

	snap, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachineSnapshot)
	if !ok {
		body.Fault_ = soapFaultf(&types.ManagedObjectNotFound{Obj: req.This}, "managed object not found: %s", req.This)
		return body
	}

	task := simulator.CreateTask(snap, "removeSnapshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm, ok := simulator.Map.Get(snap.Vm).(*simulator.VirtualMachine)
		if !ok {
			return nil, &types.NotFound{}
		}
		var fault types.BaseMethodFault
		simulator.Map.WithLock(vm, func() {
			fault = c.removeSnapshots(vm, &req.This, req.RemoveChildren)
		})
		return nil, fault
	})

	body.Res = &types.RemoveSnapshot_TaskResponse{Returnval: task.Run()}
	return body
}

func (c *cbtRegistry) removeAllSnapshotsTask(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.RemoveAllSnapshots_Task)
	body := &methods.RemoveAllSnapshots_TaskBody{}

	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		body.Fault_ = soapFaultf(&types.ManagedObjectNotFound{Obj: req.This}, "managed object not found: %s", req.This)
		return body
	}

	task := simulator.CreateTask(vm, "removeAllSnapshots", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		var fault types.BaseMethodFault
		simulator.Map.WithLock(vm, func() {
			fault = c.removeSnapshots(vm, nil, true)
		})
		return nil, fault
	})

	body.Res = &types.RemoveAllSnapshots_TaskResponse{Returnval: task.Run()}
	return body
}

func findSnapshot(tree []types.VirtualMachineSnapshotTree, ref types.ManagedObjectReference) (node, parent *types.VirtualMachineSnapshotTree) {
	for i := range tree {
		if tree[i].Snapshot == ref {
			return &tree[i], nil
		}
		if n, p := findSnapshot(tree[i].ChildSnapshotList, ref); n != nil {
			if p == nil {
				p = &tree[i]
			}
			return n, p
		}
	}
	return nil, nil
}

func snapshotRefs(tree []types.VirtualMachineSnapshotTree) []types.ManagedObjectReference {
	var res []types.ManagedObjectReference
	for _, n := range tree {
		res = append(res, n.Snapshot)
		res = append(res, snapshotRefs(n.ChildSnapshotList)...)
	}
	return res
}

// withoutSnapshot returns tree without ref; its children move up to its
// parent unless removeChildren.
func withoutSnapshot(tree []types.VirtualMachineSnapshotTree, ref types.ManagedObjectReference, removeChildren bool) []types.VirtualMachineSnapshotTree {
	var res []types.VirtualMachineSnapshotTree
	for _, n := range tree {
		if n.Snapshot == ref {
			if !removeChildren {
				res = append(res, n.ChildSnapshotList...)
			}
			continue
		}
		n.ChildSnapshotList = withoutSnapshot(n.ChildSnapshotList, ref, removeChildren)
		res = append(res, n)
	}
	return res
}

// removeSnapshots removes ref (nil: all snapshots) from vm's snapshot tree,
// deletes the snapshots' .vmsn files and nothing else: on ESXi the data of
// a removed snapshot is consolidated into the disks, which stay.
func (c *cbtRegistry) removeSnapshots(vm *simulator.VirtualMachine, ref *types.ManagedObjectReference, removeChildren bool) types.BaseMethodFault {
	if vm.Snapshot == nil {
		if ref == nil {
			return nil
		}
		return &types.NotFound{}
	}
	tree := vm.Snapshot.RootSnapshotList

	var removed []types.ManagedObjectReference
	var newTree []types.VirtualMachineSnapshotTree
	var parentRef *types.ManagedObjectReference

	if ref == nil {
		removed = snapshotRefs(tree)
	} else {
		node, parent := findSnapshot(tree, *ref)
		if node == nil {
			return &types.NotFound{}
		}
		removed = []types.ManagedObjectReference{*ref}
		if removeChildren {
			removed = append(removed, snapshotRefs(node.ChildSnapshotList)...)
		}
		if parent != nil {
			p := parent.Snapshot
			parentRef = &p
			if ps, ok := simulator.Map.Get(p).(*simulator.VirtualMachineSnapshot); ok {
				var children []types.ManagedObjectReference
				for _, child := range ps.ChildSnapshot {
					if child != *ref {
						children = append(children, child)
					}
				}
				if !removeChildren {
					for _, n := range node.ChildSnapshotList {
						children = append(children, n.Snapshot)
					}
				}
				ps.ChildSnapshot = children
			}
		}
		newTree = withoutSnapshot(tree, *ref, removeChildren)
	}

	isRemoved := make(map[types.ManagedObjectReference]bool)
	for _, r := range removed {
		isRemoved[r] = true
	}

	// Snapshot data files.
	c.mu.Lock()
	files := make(map[string]bool)
	for _, r := range removed {
		if name, ok := c.vmsn[r]; ok {
			files[name] = true
		}
	}
	c.mu.Unlock()
	for name := range files {
		if !strings.HasSuffix(name, ".vmsn") {
			continue
		}
		if p, ok := localPath(vm, nil, name); ok {
			_ = os.Remove(p)
		}
	}

	var changes []types.PropertyChange

	if vm.LayoutEx != nil {
		var snaps []types.VirtualMachineFileLayoutExSnapshotLayout
		for _, s := range vm.LayoutEx.Snapshot {
			if !isRemoved[s.Key] {
				snaps = append(snaps, s)
			}
		}
		vm.LayoutEx.Snapshot = snaps
	}
	if vm.Layout != nil {
		var snaps []types.VirtualMachineFileLayoutSnapshotLayout
		for _, s := range vm.Layout.Snapshot {
			if !isRemoved[s.Key] {
				snaps = append(snaps, s)
			}
		}
		vm.Layout.Snapshot = snaps
		changes = append(changes, types.PropertyChange{Name: "layout", Val: vm.Layout})
	}

	if len(newTree) == 0 {
		changes = append(changes, types.PropertyChange{Name: "snapshot", Val: nil})
	} else {
		current := vm.Snapshot.CurrentSnapshot
		if current != nil && isRemoved[*current] {
			current = parentRef
		}
		changes = append(changes,
			types.PropertyChange{Name: "snapshot.currentSnapshot", Val: current},
			types.PropertyChange{Name: "snapshot.rootSnapshotList", Val: newTree})
	}

	simulator.Map.Update(vm, changes)

	for _, r := range removed {
		simulator.Map.Remove(r)
	}

	refreshLayout(vm, c.snapshotFiles())
	return nil
}

// refreshStorageInfo replaces vcsim's VirtualMachine.RefreshStorageInfo,
// which corrupts layoutEx (see refreshLayout).
func refreshStorageInfo(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.RefreshStorageInfo)
	body := &methods.RefreshStorageInfoBody{}

	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		body.Fault_ = soapFaultf(&types.ManagedObjectNotFound{Obj: req.This}, "managed object not found: %s", req.This)
		return body
	}
	simulator.Map.WithLock(vm, func() {
		refreshLayout(vm, cbt.snapshotFiles())
	})
	body.Res = &types.RefreshStorageInfoResponse{}
	return body
}
