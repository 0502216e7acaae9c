package main

// Delta disk chains, modelled on ESXi's vmfsSparse (redo log) disks:
//
//   - a delta disk is a descriptor with createType="vmfsSparse",
//     parentFileNameHint naming its parent's descriptor (relative to the
//     delta's directory) and parentCID equal to the parent's CID, and one
//     extent `RW <sectors> VMFSSPARSE "<name>-delta.vmdk"`;
//   - the extent is in the COWD format ("ESX Server Sparse Extents" of
//     VMware's Virtual Disk Format 1.1): a 2048-byte header (magic "COWD",
//     version 1, flags 3, numSectors, grainSize in sectors, gdOffset,
//     numGDEntries, freeSector, all little-endian uint32, the rest zero
//     here), a grain directory of uint32 sector offsets of grain tables, grain
//     tables of 4096 uint32 sector offsets of grains. 0 is "not in this
//     link": the sector reads from the parent;
//   - a VM registered on a delta reads through the chain: the top delta's
//     grains, else its parent's, down to the flat base. CBT (cbt.go) and
//     anything hashing a registered disk see that content;
//   - power-on opens the chain and refuses (GenericVmConfigFault, ESXi's
//     "Cannot open the disk ... or one of the snapshot disks it depends on")
//     a missing parent, a parent whose CID is not the child's parentCID, a
//     link of another capacity, or an extent that is not a COWD file;
//   - a VM on deltas without snapshots has runtime.consolidationNeeded, and
//     ConsolidateVMDisks_Task (powered on or off) writes the deltas' grains
//     into the base, deletes the delta files and leaves the disk on the base.
//
// Where this differs from ESXi: snapshots taken here still do not create
// deltas (cbt.go keeps one content file per disk), seSparse is not modelled,
// and a parentFileNameHint must be relative to the delta's directory.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	interceptSOAP("VirtualMachine", "ConsolidateVMDisks_Task", consolidateVMDisksTask)
}

const (
	cowdMagic      = "COWD"
	cowdHeaderSize = 2048
	cowdGTEntries  = 4096
	maxChainLength = 255 // ESXi's limit on a disk chain
)

// vmdkDescriptor is what a disk descriptor says.
type vmdkDescriptor struct {
	createType string
	cid        string
	parentCID  string
	parentHint string
	extents    []vmdkExtent
}

type vmdkExtent struct {
	sectors int64
	kind    string // VMFS, VMFSSPARSE ...
	file    string
}

var (
	descKeyLine = regexp.MustCompile(`^([A-Za-z]+)\s*=\s*"?([^"]*)"?$`)
	extentKind  = regexp.MustCompile(`^(?:RW|RDONLY|NOACCESS)\s+([0-9]+)\s+(\S+)\s+"([^"]*)"`)
)

func readDescriptor(local string) (*vmdkDescriptor, error) {
	f, err := os.Open(local)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := &vmdkDescriptor{}
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := extentKind.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			d.extents = append(d.extents, vmdkExtent{sectors: n, kind: strings.ToUpper(m[2]), file: m[3]})
			continue
		}
		if m := descKeyLine.FindStringSubmatch(line); m != nil {
			switch strings.ToLower(m[1]) {
			case "createtype":
				d.createType = m[2]
			case "cid":
				d.cid = strings.ToLower(m[2])
			case "parentcid":
				d.parentCID = strings.ToLower(m[2])
			case "parentfilenamehint":
				d.parentHint = m[2]
			}
		}
	}
	return d, sc.Err()
}

func (d *vmdkDescriptor) sparse() bool { return strings.EqualFold(d.createType, "vmfsSparse") }

func (d *vmdkDescriptor) capacity() int64 {
	var n int64
	for _, e := range d.extents {
		n += e.sectors * 512
	}
	return n
}

// cowdFile is an open COWD extent.
type cowdFile struct {
	f          *os.File
	numSectors int64
	grain      int64 // bytes
	gd         []uint32
	gts        map[int][]uint32
}

func openCOWD(local string, flag int) (*cowdFile, error) {
	f, err := os.OpenFile(local, flag, 0)
	if err != nil {
		return nil, err
	}
	c, err := readCOWD(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %v", path.Base(local), err)
	}
	return c, nil
}

func readCOWD(f *os.File) (*cowdFile, error) {
	var h [cowdHeaderSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return nil, errors.New("not a sparse extent (short header)")
	}
	le := binary.LittleEndian
	if string(h[0:4]) != cowdMagic || le.Uint32(h[4:]) != 1 {
		return nil, errors.New("not a vmfsSparse extent (magic or version)")
	}
	c := &cowdFile{
		f:          f,
		numSectors: int64(le.Uint32(h[12:])),
		grain:      int64(le.Uint32(h[16:])) * 512,
		gts:        make(map[int][]uint32),
	}
	gdOffset := int64(le.Uint32(h[20:])) * 512
	numGD := int64(le.Uint32(h[24:]))
	perGT := c.grain * cowdGTEntries
	if c.grain <= 0 || perGT <= 0 || numGD != (c.numSectors*512+perGT-1)/perGT {
		return nil, errors.New("inconsistent sparse header")
	}
	raw := make([]byte, numGD*4)
	if _, err := f.ReadAt(raw, gdOffset); err != nil {
		return nil, errors.New("short grain directory")
	}
	c.gd = make([]uint32, numGD)
	for i := range c.gd {
		c.gd[i] = le.Uint32(raw[i*4:])
	}
	return c, nil
}

// grainAt returns the byte offset in the file of the grain holding disk
// offset off, or 0 when this link does not have it.
func (c *cowdFile) grainAt(off int64) (int64, error) {
	g := off / c.grain
	gdi := int(g / cowdGTEntries)
	if gdi >= len(c.gd) || c.gd[gdi] == 0 {
		return 0, nil
	}
	gt, ok := c.gts[gdi]
	if !ok {
		raw := make([]byte, cowdGTEntries*4)
		if _, err := c.f.ReadAt(raw, int64(c.gd[gdi])*512); err != nil {
			return 0, fmt.Errorf("short grain table %d", gdi)
		}
		gt = make([]uint32, cowdGTEntries)
		for i := range gt {
			gt[i] = binary.LittleEndian.Uint32(raw[i*4:])
		}
		c.gts[gdi] = gt
	}
	return int64(gt[g%cowdGTEntries]) * 512, nil
}

// chainLink is one disk of a chain: a COWD delta or the flat base.
type chainLink struct {
	descriptor string // local path
	desc       *vmdkDescriptor
	cowd       *cowdFile
	flat       *os.File
}

// diskChain is an open disk chain, top first.
type diskChain struct {
	links    []*chainLink
	capacity int64
}

// chainOpenError says why a chain cannot be opened, as ESXi's
// "Cannot open the disk" reason.
type chainOpenError struct{ reason string }

func (e *chainOpenError) Error() string { return e.reason }

// openChain opens the disk whose top descriptor is local, following
// parentFileNameHint down to a flat base. Writable opens the base for
// writing (consolidation).
func openChain(local string, writable bool) (*diskChain, error) {
	c := &diskChain{}
	fail := func(format string, args ...interface{}) (*diskChain, error) {
		c.close()
		return nil, &chainOpenError{fmt.Sprintf(format, args...)}
	}
	for cur := local; ; {
		if len(c.links) >= maxChainLength {
			return fail("The disk chain is longer than %d links.", maxChainLength)
		}
		desc, err := readDescriptor(cur)
		if err != nil {
			return fail("The system cannot find the file specified (%s).", path.Base(cur))
		}
		if len(desc.extents) != 1 {
			return fail("The file specified is not a virtual disk (%s).", path.Base(cur))
		}
		link := &chainLink{descriptor: cur, desc: desc}
		c.links = append(c.links, link)
		if len(c.links) == 1 {
			c.capacity = desc.capacity()
		} else if desc.capacity() != c.capacity {
			return fail("The capacity of each link is different (%d != %d).", desc.capacity(), c.capacity)
		}
		extent := filepath.Join(filepath.Dir(cur), filepath.FromSlash(desc.extents[0].file))
		if !desc.sparse() {
			flag := os.O_RDONLY
			if writable {
				flag = os.O_RDWR
			}
			if link.flat, err = os.OpenFile(extent, flag, 0); err != nil {
				return fail("The system cannot find the file specified (%s).", path.Base(extent))
			}
			return c, nil
		}
		if desc.extents[0].kind != "VMFSSPARSE" {
			return fail("The file specified is not a virtual disk (%s).", path.Base(cur))
		}
		if link.cowd, err = openCOWD(extent, os.O_RDONLY); err != nil {
			if os.IsNotExist(err) {
				return fail("The system cannot find the file specified (%s).", path.Base(extent))
			}
			return fail("The file specified is not a virtual disk (%v).", err)
		}
		if link.cowd.numSectors*512 != c.capacity {
			return fail("The capacity of each link is different (%d != %d).", link.cowd.numSectors*512, c.capacity)
		}
		if desc.parentHint == "" || strings.HasPrefix(desc.parentHint, "/") {
			return fail("The parent of this virtual disk could not be opened (%s).", path.Base(cur))
		}
		parent := filepath.Join(filepath.Dir(cur), filepath.FromSlash(desc.parentHint))
		pd, err := readDescriptor(parent)
		if err != nil {
			return fail("The system cannot find the file specified (%s).", path.Base(parent))
		}
		if pd.cid != desc.parentCID {
			return fail("The parent virtual disk has been modified since the child was created (Content ID mismatch %s != %s).", desc.parentCID, pd.cid)
		}
		cur = parent
	}
}

func (c *diskChain) close() {
	for _, l := range c.links {
		if l.cowd != nil {
			l.cowd.f.Close()
		}
		if l.flat != nil {
			l.flat.Close()
		}
	}
}

func (c *diskChain) base() *chainLink { return c.links[len(c.links)-1] }

// ReadAt reads the disk's content: each grain from the topmost link that
// has it. Bytes past the end of a flat base file are zero.
func (c *diskChain) ReadAt(p []byte, off int64) (int, error) {
	if err := c.readLink(0, p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *diskChain) readLink(i int, p []byte, off int64) error {
	l := c.links[i]
	if l.flat != nil {
		n, err := l.flat.ReadAt(p, off)
		if err != nil && err != io.EOF {
			return err
		}
		for j := n; j < len(p); j++ {
			p[j] = 0
		}
		return nil
	}
	for len(p) > 0 {
		at, err := l.cowd.grainAt(off)
		if err != nil {
			return err
		}
		n := l.cowd.grain - off%l.cowd.grain
		if n > int64(len(p)) {
			n = int64(len(p))
		}
		if at == 0 {
			err = c.readLink(i+1, p[:n], off)
		} else if got, rerr := l.cowd.f.ReadAt(p[:n], at+off%l.cowd.grain); int64(got) != n {
			err = fmt.Errorf("short grain at %d: %v", at, rerr)
		}
		if err != nil {
			return err
		}
		p, off = p[n:], off+n
	}
	return nil
}

// chainHashes hashes the content of the chain topped by descriptor per CBT
// block, as hashBlocks does for a flat file.
func chainHashes(descriptor string, capacity int64) ([]uint64, error) {
	c, err := openChain(descriptor, false)
	if err != nil {
		return nil, err
	}
	defer c.close()
	bs := blockSize()
	buf := make([]byte, bs)
	zeros := make([]byte, bs)
	var hashes []uint64
	for off := int64(0); off < capacity; off += bs {
		n := bs
		if capacity-off < n {
			n = capacity - off
		}
		if _, err := c.ReadAt(buf[:n], off); err != nil {
			return nil, err
		}
		hashes = append(hashes, blockHash(buf[:n], zeros))
	}
	for len(hashes) > 0 && hashes[len(hashes)-1] == 0 {
		hashes = hashes[:len(hashes)-1]
	}
	return hashes, nil
}

// isDelta says whether a local descriptor is a delta disk.
func isDelta(descriptor string) bool {
	d, err := readDescriptor(descriptor)
	return err == nil && d.sparse()
}

// diskHashes hashes a VM disk's content (through its chain) per CBT block.
func diskHashes(vm *simulator.VirtualMachine, d *types.VirtualDisk, capacity int64) ([]uint64, bool) {
	descriptor, flat, ok := diskPaths(vm, d)
	if !ok {
		return nil, false
	}
	var hashes []uint64
	var err error
	if isDelta(descriptor) {
		hashes, err = chainHashes(descriptor, capacity)
	} else {
		hashes, err = cachedHashBlocks(flat, capacity)
	}
	return hashes, err == nil
}

// extentNames returns the datastore paths of a descriptor's extents
// (flatName of it when the descriptor cannot be read).
func extentNames(vm *simulator.VirtualMachine, dsPath string) []string {
	local, ok := localPath(vm, nil, dsPath)
	var p object.DatastorePath
	if !ok || !p.FromString(dsPath) {
		return []string{flatName(dsPath)}
	}
	d, err := readDescriptor(local)
	if err != nil || len(d.extents) == 0 {
		return []string{flatName(dsPath)}
	}
	var res []string
	for _, e := range d.extents {
		res = append(res, (&object.DatastorePath{Datastore: p.Datastore, Path: path.Join(path.Dir(p.Path), e.file)}).String())
	}
	return res
}

// chainBacking gives a disk backing registered on a delta its parent
// backings, as ESXi reports them (backing.parent down to the base).
func chainBacking(b *types.VirtualDiskFlatVer2BackingInfo, local string, depth int) {
	d, err := readDescriptor(local)
	if err != nil || !d.sparse() || d.parentHint == "" || strings.HasPrefix(d.parentHint, "/") || depth >= maxChainLength {
		return
	}
	var p object.DatastorePath
	if !p.FromString(b.FileName) {
		return
	}
	parentLocal := filepath.Join(filepath.Dir(local), filepath.FromSlash(d.parentHint))
	_, uuid := diskFromDescriptor(parentLocal)
	parent := &types.VirtualDiskFlatVer2BackingInfo{
		VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{
			FileName:  (&object.DatastorePath{Datastore: p.Datastore, Path: path.Join(path.Dir(p.Path), d.parentHint)}).String(),
			Datastore: b.Datastore,
		},
		DiskMode:        b.DiskMode,
		Uuid:            uuid,
		ThinProvisioned: types.NewBool(false),
	}
	if b.Uuid == "" {
		b.Uuid = uuid
	}
	b.Parent = parent
	chainBacking(parent, parentLocal, depth+1)
}

// chainFault checks that every disk chain of vm opens, as power-on does.
func chainFault(vm *simulator.VirtualMachine) types.BaseMethodFault {
	if vm.Config == nil {
		return nil
	}
	for _, d := range vmDisks(vm.Config.Hardware.Device) {
		descriptor, _, ok := diskPaths(vm, d)
		if !ok || !isDelta(descriptor) {
			continue
		}
		c, err := openChain(descriptor, false)
		if err != nil {
			name := diskFileBacking(d).FileName
			return vmConfigFault("msg.disk.noBackEnd",
				"Cannot open the disk '%s' or one of the snapshot disks it depends on. Reason: %v", name, err)
		}
		c.close()
	}
	return nil
}

// updateConsolidationNeeded sets runtime.consolidationNeeded: disks run on
// deltas that no snapshot holds. The caller holds vm's lock.
func updateConsolidationNeeded(vm *simulator.VirtualMachine) {
	if vm.Config == nil {
		return
	}
	needed := false
	if vm.Snapshot == nil || len(vm.Snapshot.RootSnapshotList) == 0 {
		for _, d := range vmDisks(vm.Config.Hardware.Device) {
			if b := diskFlatBacking(d); b != nil && b.Parent != nil {
				needed = true
			}
		}
	}
	was := vm.Runtime.ConsolidationNeeded != nil && *vm.Runtime.ConsolidationNeeded
	if needed != was || vm.Runtime.ConsolidationNeeded == nil {
		// A pointer field cannot be the target of a property change: replace
		// the whole runtime info.
		rt := vm.Runtime
		rt.ConsolidationNeeded = types.NewBool(needed)
		simulator.Map.Update(vm, []types.PropertyChange{{Name: "runtime", Val: rt}})
	}
}

// --- ConsolidateVMDisks_Task

func consolidateVMDisksTask(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.ConsolidateVMDisks_Task)
	body := &methods.ConsolidateVMDisks_TaskBody{}
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		body.Fault_ = soapFaultf(&types.ManagedObjectNotFound{Obj: req.This}, "managed object not found: %s", req.This)
		return body
	}
	task := simulator.CreateTask(vm, "consolidateDisks", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		var fault types.BaseMethodFault
		simulator.Map.WithLock(vm, func() { fault = consolidate(vm) })
		return nil, fault
	})
	body.Res = &types.ConsolidateVMDisks_TaskResponse{Returnval: task.Run()}
	return body
}

// consolidate folds every disk chain of vm that no snapshot holds into its
// base. With snapshots present ESXi consolidates only what they no longer
// need; snapshots here hold no deltas, so the same rule is "none at all".
func consolidate(vm *simulator.VirtualMachine) types.BaseMethodFault {
	if vm.Config == nil || (vm.Snapshot != nil && len(vm.Snapshot.RootSnapshotList) > 0) {
		return nil
	}
	devices := make([]types.BaseVirtualDevice, len(vm.Config.Hardware.Device))
	copy(devices, vm.Config.Hardware.Device)
	changed := false
	for i, dev := range devices {
		d, ok := dev.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b := diskFlatBacking(d)
		if b == nil || b.Parent == nil {
			continue
		}
		descriptor, _, ok := diskPaths(vm, d)
		if !ok {
			continue
		}
		if err := foldChain(descriptor); err != nil {
			return vmConfigFault("msg.disk.consolidate.fail",
				"Cannot open the disk '%s' or one of the snapshot disks it depends on. Reason: %v", b.FileName, err)
		}
		base := b
		for base.Parent != nil {
			base = base.Parent
		}
		nd := copyDisk(d)
		nb := nd.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		nb.FileName, nb.Parent, nb.ChangeId = base.FileName, nil, ""
		if base.Uuid != "" {
			nb.Uuid = base.Uuid
		}
		devices[i] = nd
		changed = true
	}
	if changed {
		setVMDevices(vm, devices)
		syncVM(vm)
	}
	return nil
}

// foldChain writes every delta's grains into the base of the chain topped by
// descriptor (lowest delta first, so the top wins), then deletes the deltas.
func foldChain(descriptor string) error {
	c, err := openChain(descriptor, true)
	if err != nil {
		return err
	}
	defer c.close()
	base := c.base()
	buf := make([]byte, 1<<20)
	for i := len(c.links) - 2; i >= 0; i-- {
		cowd := c.links[i].cowd
		for off := int64(0); off < c.capacity; off += cowd.grain {
			at, err := cowd.grainAt(off)
			if err != nil {
				return err
			}
			if at == 0 {
				continue
			}
			n := cowd.grain
			if c.capacity-off < n {
				n = c.capacity - off
			}
			if int64(len(buf)) < n {
				buf = make([]byte, n)
			}
			if got, err := cowd.f.ReadAt(buf[:n], at); int64(got) != n {
				return fmt.Errorf("short grain at %d: %v", at, err)
			}
			if _, err := base.flat.WriteAt(buf[:n], off); err != nil {
				return err
			}
		}
	}
	if err := base.flat.Sync(); err != nil {
		return err
	}
	for _, l := range c.links[:len(c.links)-1] {
		_ = os.Remove(filepath.Join(filepath.Dir(l.descriptor), filepath.FromSlash(l.desc.extents[0].file)))
		_ = os.Remove(l.descriptor)
	}
	return nil
}
