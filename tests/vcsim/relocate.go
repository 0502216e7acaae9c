package main

// RelocateVM_Task moves the VM's files when it changes storage, as
// vCenter's storage migration does.
//
// Stock vcsim only sets the VM's `datastore` property. Here, with
// spec.datastore (the VM's home: .vmx, NVRAM, logs, snapshot files, and
// every disk without a locator of its own) and spec.disk[] (per disk), the
// files are moved to the target datastore, into a directory named as the
// VM's directory ("<dir>_1", "_2", ... when that exists), the disks'
// backing.fileName, config.files.* and summary.config.vmPathName follow, the
// source files go, and layoutEx is rebuilt.

import (
	"fmt"
	"io"
	"log"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	interceptSOAP("VirtualMachine", "RelocateVM_Task", relocateVMTask)
}

var relocating = struct {
	sync.Mutex // held while a RelocateVM_Task runs
	spec       *types.VirtualMachineRelocateSpec
}{}

func relocateVMTask(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.RelocateVM_Task)
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		return &methods.RelocateVM_TaskBody{Fault_: soapFaultf(&types.ManagedObjectNotFound{Obj: req.This}, "managed object not found: %s", req.This)}
	}
	// Stock vcsim panics on objects that do not exist.
	refs := []*types.ManagedObjectReference{req.Spec.Datastore, req.Spec.Host, req.Spec.Pool, req.Spec.Folder}
	for i := range req.Spec.Disk {
		refs = append(refs, &req.Spec.Disk[i].Datastore)
	}
	for _, ref := range refs {
		if ref != nil && simulator.Map.Get(*ref) == nil {
			return &methods.RelocateVM_TaskBody{Fault_: soapFaultf(&types.ManagedObjectNotFound{Obj: *ref}, "managed object not found: %s", *ref)}
		}
	}
	if ref := req.Spec.Datastore; ref != nil {
		if _, ok := simulator.Map.Get(*ref).(*simulator.Datastore); !ok {
			return &methods.RelocateVM_TaskBody{Fault_: invalidArgument("spec.datastore")}
		}
	}
	ctx := callContext(call)

	relocating.Lock()
	defer relocating.Unlock()
	relocating.spec = &req.Spec
	defer func() { relocating.spec = nil }()

	var res soap.HasFault
	simulator.Map.WithLock(vm, func() {
		// vCenter's compatibility checks (checker.go): a refusal is the task's error
		// and nothing moves.
		if f := relocateChecks(vm, &req.Spec); f != nil {
			task := runTask(vm, "relocateVm", "", func() (types.AnyType, types.BaseMethodFault) { return nil, f })
			res = &methods.RelocateVM_TaskBody{Res: &types.RelocateVM_TaskResponse{Returnval: task}}
			return
		}
		res = vm.RelocateVMTask(ctx, req)
	})
	return res
}

// wrapRelocate is called from vmxTaskHooks.PutObject for a relocateVm task.
func wrapRelocate(t *simulator.Task) {
	spec := relocating.spec // set by relocateVMTask, which holds the lock while the task runs
	if spec == nil {
		return
	}
	vm, ok := simulator.Map.Get(*t.Info.Entity).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	orig := t.Execute
	t.Execute = func(task *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return relocateStorage(task, vm, spec, orig)
	}
}

// fileMove is one file moved from one local path (and datastore path) to another.
type fileMove struct {
	from, to       string // local
	fromDS, toDS   string // datastore paths
	fromRef, toRef types.ManagedObjectReference
}

func relocateStorage(task *simulator.Task, vm *simulator.VirtualMachine, spec *types.VirtualMachineRelocateSpec, orig func(*simulator.Task) (types.AnyType, types.BaseMethodFault)) (types.AnyType, types.BaseMethodFault) {
	if vm.Config == nil {
		return orig(task)
	}
	// pci.go refuses (and undoes) moving a running VM with passthrough devices
	// to another host: move nothing then.
	if spec.Host != nil && vm.Runtime.Host != nil && *spec.Host != *vm.Runtime.Host && poweredOn(vm) && len(vmPciDevices(vm)) > 0 {
		return orig(task)
	}

	var home object.DatastorePath
	if !home.FromString(vm.Config.Files.VmPathName) {
		return orig(task)
	}
	homeDS := datastoreByName(vm, home.Datastore)
	if homeDS == nil {
		return orig(task)
	}
	targetHome := homeDS
	if spec.Datastore != nil {
		targetHome, _ = simulator.Map.Get(*spec.Datastore).(*simulator.Datastore)
	}

	// Where each disk goes.
	diskTarget := make(map[int32]*simulator.Datastore)
	for _, d := range vmDisks(vm.Config.Hardware.Device) {
		b := diskFileBacking(d)
		if b == nil {
			continue
		}
		var p object.DatastorePath
		if !p.FromString(b.FileName) {
			continue
		}
		cur := datastoreByName(vm, p.Datastore)
		target := cur
		if spec.Datastore != nil {
			target = targetHome
		}
		for _, loc := range spec.Disk {
			if loc.DiskId == d.Key {
				target, _ = simulator.Map.Get(loc.Datastore).(*simulator.Datastore)
			}
		}
		if cur != nil && target != nil && target.Self != cur.Self {
			diskTarget[d.Key] = target
		}
	}
	moveHome := targetHome.Self != homeDS.Self
	if !moveHome && len(diskTarget) == 0 {
		return orig(task)
	}

	homeDir := path.Dir(home.Path)
	srcHomeLocal := filepath.Join(dsURL(homeDS), filepath.FromSlash(homeDir))

	// Target directories: the VM directory's name on each target datastore.
	// The new home gets a directory of its own ("_N" appended when the name
	// exists there); disks moved alone go into that name's directory.
	dirs := make(map[types.ManagedObjectReference]string)
	dirOn := func(ds *simulator.Datastore) string {
		if d, ok := dirs[ds.Self]; ok {
			return d
		}
		base := path.Base(homeDir)
		name := base
		for i := 1; moveHome && ds.Self == targetHome.Self; i++ {
			if _, err := os.Stat(filepath.Join(dsURL(ds), name)); os.IsNotExist(err) {
				break
			}
			name = fmt.Sprintf("%s_%d", base, i)
		}
		dirs[ds.Self] = name
		return name
	}

	var moves []fileMove
	moved := make(map[string]string) // datastore path -> new datastore path
	planned := make(map[string]bool) // local targets
	plan := func(fromDS string, from *simulator.Datastore, to *simulator.Datastore, dir string) {
		var p object.DatastorePath
		if !p.FromString(fromDS) || moved[fromDS] != "" {
			return
		}
		name := path.Base(p.Path)
		ext := path.Ext(name)
		stem := strings.TrimSuffix(name, ext)
		for i := 1; ; i++ {
			local := filepath.Join(dsURL(to), dir, name)
			if _, err := os.Stat(local); os.IsNotExist(err) && !planned[local] {
				break
			}
			name = fmt.Sprintf("%s_%d%s", stem, i, ext)
		}
		toPath := (&object.DatastorePath{Datastore: to.Name, Path: path.Join(dir, name)}).String()
		m := fileMove{
			from: filepath.Join(dsURL(from), filepath.FromSlash(p.Path)), to: filepath.Join(dsURL(to), dir, name),
			fromDS: fromDS, toDS: toPath, fromRef: from.Self, toRef: to.Self,
		}
		planned[m.to] = true
		moved[fromDS] = toPath
		moves = append(moves, m)
	}

	// Disks first (a disk in the home directory that goes elsewhere, or stays).
	stays := make(map[string]bool)
	for _, d := range vmDisks(vm.Config.Hardware.Device) {
		b := diskFileBacking(d)
		if b == nil {
			continue
		}
		var p object.DatastorePath
		p.FromString(b.FileName)
		cur := datastoreByName(vm, p.Datastore)
		target, ok := diskTarget[d.Key]
		if !ok || cur == nil {
			stays[b.FileName] = true
			stays[flatName(b.FileName)] = true
			continue
		}
		plan(b.FileName, cur, target, dirOn(target))
		plan(flatName(b.FileName), cur, target, dirOn(target))
	}
	if moveHome {
		entries, err := os.ReadDir(srcHomeLocal)
		if err != nil {
			return nil, &types.FileFault{File: vm.Config.Files.VmPathName}
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			p := (&object.DatastorePath{Datastore: homeDS.Name, Path: path.Join(homeDir, e.Name())}).String()
			if !stays[p] {
				plan(p, homeDS, targetHome, dirOn(targetHome))
			}
		}
	}

	// Move, undoing on failure.
	var done []fileMove
	undo := func() {
		for i := len(done) - 1; i >= 0; i-- {
			_ = moveFile(done[i].to, done[i].from)
		}
	}
	for _, m := range moves {
		if _, err := os.Stat(m.from); os.IsNotExist(err) {
			continue // a disk whose file is missing: nothing to move
		}
		if err := os.MkdirAll(filepath.Dir(m.to), 0700); err != nil {
			undo()
			return nil, &types.CannotCreateFile{FileFault: types.FileFault{File: m.toDS}}
		}
		if err := moveFile(m.from, m.to); err != nil {
			log.Printf("relocate %s: %s", vm.Name, err)
			undo()
			return nil, &types.FileFault{File: m.fromDS}
		}
		done = append(done, m)
	}

	before := append([]types.ManagedObjectReference(nil), vm.Datastore...) // the stock task replaces it
	res, fault := orig(task)
	if fault != nil {
		undo()
		return res, fault
	}
	if moveHome {
		_ = os.Remove(srcHomeLocal) // only when empty
	}
	applyMoves(vm, before, moved, moveHome, targetHome, dirOn)
	return res, nil
}

// applyMoves points the VM (and its snapshots) at the moved files.
func applyMoves(vm *simulator.VirtualMachine, before []types.ManagedObjectReference, moved map[string]string, moveHome bool, targetHome *simulator.Datastore, dirOn func(*simulator.Datastore) string) {
	files := vm.Config.Files
	if moveHome {
		if to, ok := moved[files.VmPathName]; ok {
			files.VmPathName = to
		} else {
			var p object.DatastorePath
			p.FromString(files.VmPathName)
			files.VmPathName = (&object.DatastorePath{Datastore: targetHome.Name, Path: path.Join(dirOn(targetHome), path.Base(p.Path))}).String()
		}
		dir := (&object.DatastorePath{Datastore: targetHome.Name, Path: dirOn(targetHome)}).String()
		files.SnapshotDirectory, files.SuspendDirectory, files.LogDirectory = dir, dir, dir
		if local, ok := localPath(vm, &targetHome.Self, dir); ok {
			setVMLog(vm, filepath.Join(local, "vmware.log"))
		}
	}

	movedDevices := func(devices []types.BaseVirtualDevice) []types.BaseVirtualDevice {
		res := make([]types.BaseVirtualDevice, len(devices))
		for i, d := range devices {
			res[i] = d
			disk, ok := d.(*types.VirtualDisk)
			if !ok {
				continue
			}
			b := diskFileBacking(disk)
			if b == nil || moved[b.FileName] == "" {
				continue
			}
			disk = copyDisk(disk)
			nb := diskFileBacking(disk)
			var p object.DatastorePath
			p.FromString(moved[nb.FileName])
			nb.FileName = moved[nb.FileName]
			if ds := datastoreByName(vm, p.Datastore); ds != nil {
				ref := ds.Self
				nb.Datastore = &ref
			}
			res[i] = disk
		}
		return res
	}
	devices := movedDevices(vm.Config.Hardware.Device)

	// Datastores the VM uses now.
	var used []types.ManagedObjectReference
	use := func(name string) {
		var p object.DatastorePath
		if !p.FromString(name) {
			return
		}
		if ds := datastoreByName(vm, p.Datastore); ds != nil {
			for _, r := range used {
				if r == ds.Self {
					return
				}
			}
			used = append(used, ds.Self)
		}
	}
	use(files.VmPathName)
	for _, d := range vmDisks(devices) {
		if b := diskFileBacking(d); b != nil {
			use(b.FileName)
		}
	}
	for _, ref := range append(before, vm.Datastore...) {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
			simulator.Map.RemoveReference(ds, &ds.Vm, vm.Self)
		}
	}
	for _, ref := range used {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
			simulator.Map.AddReference(ds, &ds.Vm, vm.Self)
		}
	}

	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "config.files", Val: files},
		{Name: "summary.config.vmPathName", Val: files.VmPathName},
		{Name: "config.hardware.device", Val: devices},
		{Name: "datastore", Val: used},
	})

	// Snapshots: their disks, and the .vmsn files cbt.go remembers.
	if vm.Snapshot != nil {
		for _, ref := range snapshotRefs(vm.Snapshot.RootSnapshotList) {
			if snap, ok := simulator.Map.Get(ref).(*simulator.VirtualMachineSnapshot); ok {
				snap.Config.Hardware.Device = movedDevices(snap.Config.Hardware.Device)
				f := &snap.Config.Files
				f.VmPathName = files.VmPathName
				f.SnapshotDirectory, f.SuspendDirectory, f.LogDirectory = files.SnapshotDirectory, files.SuspendDirectory, files.LogDirectory
			}
		}
	}
	cbt.mu.Lock()
	for snap, name := range cbt.vmsn {
		if to, ok := moved[name]; ok {
			cbt.vmsn[snap] = to
		}
	}
	cbt.mu.Unlock()
}

// setVMLog points the simulator's (unexported) vmware.log path of vm at file:
// the simulator appends to it on power operations.
func setVMLog(vm *simulator.VirtualMachine, file string) {
	f := reflect.ValueOf(vm).Elem().FieldByName("log")
	if !f.IsValid() || f.Kind() != reflect.String {
		return
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().SetString(file)
}

func dsURL(ds *simulator.Datastore) string { return ds.Info.GetDatastoreInfo().Url }

// datastoreByName finds a datastore of vm's datacenter by name.
func datastoreByName(vm *simulator.VirtualMachine, name string) *simulator.Datastore {
	if dc := datacenterOf(vm); dc != nil {
		return datastoreNamed(dc, name)
	}
	return nil
}

// moveFile renames from to to, copying when they are on different file systems.
func moveFile(from, to string) error {
	if err := os.Rename(from, to); err == nil {
		return nil
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0600)
	if err != nil {
		return err
	}
	if _, err = io.Copy(out, in); err != nil {
		_ = out.Close()
		_ = os.Remove(to)
		return err
	}
	if err = out.Close(); err != nil {
		_ = os.Remove(to)
		return err
	}
	return os.Remove(from)
}
