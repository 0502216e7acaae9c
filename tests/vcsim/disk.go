package main

// Virtual disk files, modelled on ESXi:
//   - capacityInBytes and capacityInKB are both set and agree (vcsim's model
//     VMs only set capacityInKB);
//   - a disk is a text descriptor "<name>.vmdk" plus a flat extent
//     "<name>-flat.vmdk" whose size is the disk capacity (vcsim creates both
//     empty: here the extent is grown, sparse, to the capacity and the
//     descriptor gets ESXi-like text);
//   - backing.uuid is set, matching ddb.uuid in the descriptor.

import (
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var diskMB int64

func init() {
	flag.Int64Var(&diskMB, "disk-mb", 0,
		"capacity in MiB of the disks of the VMs the model creates (0: vcsim's default, 1 MiB)")
}

// diskInfo is what the test bed remembers about one virtual disk.
type diskInfo struct {
	capacity   int64  // bytes, as last normalized
	flat       string // local path of the flat extent
	descriptor string // local path of the descriptor
	written    []byte // descriptor text we wrote last (rewritten only if unchanged)
	cid        [4]byte
	contentID  [16]byte
}

var disks = struct {
	sync.Mutex
	byKey map[string]*diskInfo // vm ref value + "/" + device key
}{byKey: make(map[string]*diskInfo)}

func diskID(vm types.ManagedObjectReference, key int32) string {
	return fmt.Sprintf("%s/%d", vm.Value, key)
}

// diskCapacity returns the capacity in bytes of a VirtualDisk.
func diskCapacity(d *types.VirtualDisk) int64 {
	if d.CapacityInBytes > 0 {
		return d.CapacityInBytes
	}
	return d.CapacityInKB * 1024
}

// diskFileBacking returns the file backing of a disk, or nil.
func diskFileBacking(d *types.VirtualDisk) *types.VirtualDeviceFileBackingInfo {
	if b, ok := d.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
		return b.GetVirtualDeviceFileBackingInfo()
	}
	return nil
}

// datastoreURL returns the local directory behind datastore name as seen by vm.
func datastoreURL(vm *simulator.VirtualMachine, ref *types.ManagedObjectReference, name string) (string, bool) {
	if ref != nil {
		if ds, ok := simulator.Map.Get(*ref).(*simulator.Datastore); ok {
			return ds.Info.GetDatastoreInfo().Url, true
		}
	}
	var candidates []types.ManagedObjectReference
	if vm.Runtime.Host != nil {
		if h, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem); ok {
			candidates = append(candidates, h.Datastore...)
		}
	}
	candidates = append(candidates, vm.Datastore...)
	for _, c := range candidates {
		if ds, ok := simulator.Map.Get(c).(*simulator.Datastore); ok && ds.Name == name {
			return ds.Info.GetDatastoreInfo().Url, true
		}
	}
	return "", false
}

// localPath resolves a datastore path "[ds] dir/file" to a local file name.
func localPath(vm *simulator.VirtualMachine, dsRef *types.ManagedObjectReference, dsPath string) (string, bool) {
	var p object.DatastorePath
	if !p.FromString(dsPath) {
		return "", false
	}
	dir, ok := datastoreURL(vm, dsRef, p.Datastore)
	if !ok {
		return "", false
	}
	return filepath.Join(dir, filepath.FromSlash(p.Path)), true
}

// flatName returns the extent file name of a descriptor name: disk1.vmdk -> disk1-flat.vmdk.
func flatName(descriptor string) string {
	return strings.TrimSuffix(descriptor, ".vmdk") + "-flat.vmdk"
}

// diskPaths returns the local descriptor and flat extent paths of d.
func diskPaths(vm *simulator.VirtualMachine, d *types.VirtualDisk) (descriptor, flat string, ok bool) {
	b := diskFileBacking(d)
	if b == nil || b.FileName == "" {
		return "", "", false
	}
	descriptor, ok = localPath(vm, b.Datastore, b.FileName)
	if !ok {
		return "", "", false
	}
	return descriptor, flatName(descriptor), true
}

// vmDisks returns the VirtualDisk devices of a device list.
func vmDisks(devices []types.BaseVirtualDevice) []*types.VirtualDisk {
	var res []*types.VirtualDisk
	for _, d := range devices {
		if disk, ok := d.(*types.VirtualDisk); ok {
			res = append(res, disk)
		}
	}
	return res
}

// normalizeDisks makes vm's disks look like ESXi's: both capacity fields
// set and in agreement, flat extents as large as the capacity, descriptors
// with content, backing uuids. The caller holds vm's lock (or runs before
// the server starts).
func normalizeDisks(vm *simulator.VirtualMachine) {
	if vm.Config == nil {
		return
	}

	for _, d := range vmDisks(vm.Config.Hardware.Device) {
		id := diskID(vm.Self, d.Key)

		disks.Lock()
		info := disks.byKey[id]
		disks.Unlock()

		// Capacity: capacityInBytes wins when it changed (or when no previous
		// value is known), else a changed capacityInKB (older clients).
		capacity := d.CapacityInBytes
		switch {
		case capacity <= 0:
			capacity = d.CapacityInKB * 1024
		case d.CapacityInKB*1024 != capacity && info != nil && capacity == info.capacity:
			capacity = d.CapacityInKB * 1024
		}
		d.CapacityInBytes = capacity
		d.CapacityInKB = capacity / 1024

		backing, _ := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if backing != nil && backing.Uuid == "" {
			backing.Uuid = newDiskUUID()
		}

		descriptor, flat, ok := diskPaths(vm, d)
		if !ok {
			continue
		}

		if info == nil {
			info = &diskInfo{}
			_, _ = rand.Read(info.cid[:])
			_, _ = rand.Read(info.contentID[:])
		}
		info.capacity = capacity
		info.flat = flat
		info.descriptor = descriptor

		if fi, err := os.Stat(flat); err == nil && fi.Size() < capacity {
			// A flat extent is as large as the disk; sparse, so this costs nothing.
			_ = os.Truncate(flat, capacity)
		}

		uuid := ""
		if backing != nil {
			uuid = backing.Uuid
		}
		if text, err := ioutil.ReadFile(descriptor); err == nil && (len(text) == 0 || bytes.Equal(text, info.written)) {
			want := descriptorText(info, path.Base(filepath.ToSlash(flat)), capacity, adapterType(vm, d), uuid)
			if !bytes.Equal(text, want) && ioutil.WriteFile(descriptor, want, 0600) == nil {
				info.written = want
			}
		}

		disks.Lock()
		disks.byKey[id] = info
		disks.Unlock()
	}
}

// forgetDisks drops what we know about vm's disks.
func forgetDisks(vm types.ManagedObjectReference) {
	disks.Lock()
	defer disks.Unlock()
	prefix := vm.Value + "/"
	for id := range disks.byKey {
		if strings.HasPrefix(id, prefix) {
			delete(disks.byKey, id)
		}
	}
}

// growFlatFiles runs after a datastore upload: an uploaded flat extent
// smaller than its disk is extended (sparse) to the disk capacity, as a flat
// extent always has the size of the disk.
func growFlatFiles(rel string) {
	base := path.Base(rel)
	if !strings.HasSuffix(base, "-flat.vmdk") {
		return
	}
	disks.Lock()
	var todo []*diskInfo
	for _, info := range disks.byKey {
		if filepath.Base(info.flat) == base {
			todo = append(todo, info)
		}
	}
	disks.Unlock()

	for _, info := range todo {
		if fi, err := os.Stat(info.flat); err == nil && fi.Size() < info.capacity {
			_ = os.Truncate(info.flat, info.capacity)
		}
	}
}

func adapterType(vm *simulator.VirtualMachine, d *types.VirtualDisk) string {
	for _, dev := range vm.Config.Hardware.Device {
		if dev.GetVirtualDevice().Key != d.ControllerKey {
			continue
		}
		switch dev.(type) {
		case *types.VirtualIDEController:
			return "ide"
		case *types.VirtualBusLogicController:
			return "buslogic"
		case *types.ParaVirtualSCSIController:
			return "pvscsi"
		case *types.VirtualAHCIController:
			return "sata"
		case *types.VirtualNVMEController:
			return "nvme"
		}
	}
	return "lsilogic"
}

// newDiskUUID returns a uuid in the form ESXi uses for backing.uuid (6000C29x-...).
func newDiskUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[0], b[1], b[2] = 0x60, 0x00, 0xC2
	b[3] = 0x90 | b[3]&0x0f
	return fmt.Sprintf("%X-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// descriptorText renders a monolithic flat ("vmfs") VMDK descriptor like the
// ones ESXi writes.
func descriptorText(info *diskInfo, flat string, capacity int64, adapter, uuid string) []byte {
	sectors := (capacity + 511) / 512
	cylinders := sectors / (255 * 63)
	if cylinders == 0 {
		cylinders = 1
	}

	ddbUUID := ""
	if u := strings.ReplaceAll(uuid, "-", ""); len(u) == 32 {
		var parts []string
		for i := 0; i < 32; i += 2 {
			parts = append(parts, strings.ToLower(u[i:i+2]))
		}
		ddbUUID = strings.Join(parts[:8], " ") + "-" + strings.Join(parts[8:], " ")
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "# Disk DescriptorFile\n")
	fmt.Fprintf(&b, "version=1\n")
	fmt.Fprintf(&b, "encoding=\"UTF-8\"\n")
	fmt.Fprintf(&b, "CID=%x\n", info.cid)
	fmt.Fprintf(&b, "parentCID=ffffffff\n")
	fmt.Fprintf(&b, "createType=\"vmfs\"\n\n")
	fmt.Fprintf(&b, "# Extent description\n")
	fmt.Fprintf(&b, "RW %d VMFS \"%s\"\n\n", sectors, flat)
	fmt.Fprintf(&b, "# The Disk Data Base\n#DDB\n\n")
	fmt.Fprintf(&b, "ddb.adapterType = \"%s\"\n", adapter)
	fmt.Fprintf(&b, "ddb.geometry.cylinders = \"%d\"\n", cylinders)
	fmt.Fprintf(&b, "ddb.geometry.heads = \"255\"\n")
	fmt.Fprintf(&b, "ddb.geometry.sectors = \"63\"\n")
	fmt.Fprintf(&b, "ddb.longContentID = \"%x\"\n", info.contentID)
	if ddbUUID != "" {
		fmt.Fprintf(&b, "ddb.uuid = \"%s\"\n", ddbUUID)
	}
	fmt.Fprintf(&b, "ddb.virtualHWVersion = \"13\"\n")
	return b.Bytes()
}

// layoutFileType maps a VM file name to its VirtualMachineFileLayoutExFileType.
func layoutFileType(name string) types.VirtualMachineFileLayoutExFileType {
	base := path.Base(name)
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	switch ext {
	case ".vmx":
		return types.VirtualMachineFileLayoutExFileTypeConfig
	case ".vmxf":
		return types.VirtualMachineFileLayoutExFileTypeExtendedConfig
	case ".nvram":
		return types.VirtualMachineFileLayoutExFileTypeNvram
	case ".vmsd":
		return types.VirtualMachineFileLayoutExFileTypeSnapshotList
	case ".vmsn":
		return types.VirtualMachineFileLayoutExFileTypeSnapshotData
	case ".log":
		return types.VirtualMachineFileLayoutExFileTypeLog
	case ".vmss":
		return types.VirtualMachineFileLayoutExFileTypeSuspend
	case ".vswp":
		return types.VirtualMachineFileLayoutExFileTypeSwap
	case ".vmem":
		if strings.Contains(stem, "Snapshot") {
			return types.VirtualMachineFileLayoutExFileTypeSnapshotMemory
		}
		return types.VirtualMachineFileLayoutExFileTypeSuspendMemory
	case ".vmdk":
		for _, suffix := range []string{"-flat", "-delta", "-sesparse", "-s001", "-rdm", "-rdmp"} {
			if strings.HasSuffix(stem, suffix) {
				return types.VirtualMachineFileLayoutExFileTypeDiskExtent
			}
		}
		return types.VirtualMachineFileLayoutExFileTypeDiskDescriptor
	}
	return ""
}

// refreshLayout rebuilds vm.layoutEx from the files on the datastore, the
// way RefreshStorageInfo does on ESXi. vcsim's own RefreshStorageInfo drops
// every entry (it stats datastore paths as local paths) and re-adds the
// VM's files without their directory ("[LocalDS_0] disk1-flat.vmdk"), which
// also leaves snapshot dataKeys pointing at the wrong files. Keys of
// surviving entries are kept. The caller holds vm's lock.
func refreshLayout(vm *simulator.VirtualMachine, snapshotFiles map[types.ManagedObjectReference]string) {
	if vm.Config == nil || vm.Runtime.Host == nil {
		return
	}
	ex := vm.LayoutEx
	if ex == nil {
		ex = &types.VirtualMachineFileLayoutEx{}
	}

	var names []string
	seen := make(map[string]bool)
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}

	// Everything in the VM's directory.
	var vmx object.DatastorePath
	if vmx.FromString(vm.Config.Files.VmPathName) {
		dir := vmx.Path
		if path.Ext(dir) == ".vmx" {
			dir = path.Dir(dir)
		}
		if local, ok := localPath(vm, nil, vmx.String()); ok {
			if path.Ext(vmx.Path) == ".vmx" {
				local = filepath.Dir(local)
			}
			if entries, err := ioutil.ReadDir(local); err == nil {
				for _, e := range entries {
					if !e.IsDir() {
						add((&object.DatastorePath{Datastore: vmx.Datastore, Path: path.Join(dir, e.Name())}).String())
					}
				}
			}
		}
	}
	// Disks may live elsewhere.
	for _, d := range vmDisks(vm.Config.Hardware.Device) {
		if b := diskFileBacking(d); b != nil && b.FileName != "" {
			add(b.FileName)
			for _, e := range extentNames(vm, b.FileName) {
				add(e)
			}
		}
	}

	oldKeys := make(map[string]int32)
	next := int32(0)
	for _, f := range ex.File {
		oldKeys[f.Name] = f.Key
		if f.Key >= next {
			next = f.Key + 1
		}
	}

	var files []types.VirtualMachineFileLayoutExFileInfo
	keys := make(map[string]int32)
	for _, name := range names {
		local, ok := localPath(vm, nil, name)
		if !ok {
			continue
		}
		fi, err := os.Stat(local)
		if err != nil {
			continue
		}
		key, ok := oldKeys[name]
		if !ok {
			key = next
			next++
		}
		keys[name] = key
		files = append(files, types.VirtualMachineFileLayoutExFileInfo{
			Key:        key,
			Name:       name,
			Type:       string(layoutFileType(name)),
			Size:       fi.Size(),
			UniqueSize: fi.Size(),
			Accessible: types.NewBool(true),
		})
	}

	var diskLayout []types.VirtualMachineFileLayoutExDiskLayout
	for _, d := range vmDisks(vm.Config.Hardware.Device) {
		layout := types.VirtualMachineFileLayoutExDiskLayout{Key: d.Key}
		for b := diskFlatBacking(d); b != nil; b = b.Parent {
			var unit types.VirtualMachineFileLayoutExDiskUnit
			for _, name := range append([]string{b.FileName}, extentNames(vm, b.FileName)...) {
				if key, ok := keys[name]; ok {
					unit.FileKey = append(unit.FileKey, key)
				}
			}
			// ESXi lists the chain from the base disk to the running delta.
			layout.Chain = append([]types.VirtualMachineFileLayoutExDiskUnit{unit}, layout.Chain...)
		}
		diskLayout = append(diskLayout, layout)
	}

	var snaps []types.VirtualMachineFileLayoutExSnapshotLayout
	for _, s := range ex.Snapshot {
		s.DataKey = -1
		if name, ok := snapshotFiles[s.Key]; ok {
			if key, ok := keys[name]; ok {
				s.DataKey = key
			}
		}
		s.MemoryKey = -1
		s.Disk = diskLayout
		snaps = append(snaps, s)
	}

	ex.File = files
	ex.Disk = diskLayout
	ex.Snapshot = snaps
	ex.Timestamp = time.Now()

	simulator.Map.Update(vm, []types.PropertyChange{{Name: "layoutEx", Val: ex}})
}

func diskFlatBacking(d *types.VirtualDisk) *types.VirtualDiskFlatVer2BackingInfo {
	b, _ := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	return b
}
