package main

// CloneVM_Task as vCenter runs it. Stock vcsim clones on ESXi too, ignores
// spec.location.host and creates the clone's disks empty. Here:
//
//   - ESXi (-esx): NotSupported, as a real host answers (cloning is a vCenter
//     service).
//   - spec.location.host puts the clone on that host; a host outside the
//     target pool's compute resource is InvalidArgument (spec.location.host).
//   - spec.snapshot must be a snapshot of the VM (InvalidArgument
//     spec.snapshot); diskMoveType createNewChildDiskBacking (a linked clone)
//     without spec.snapshot is InvalidArgument (spec.snapshot).
//   - the source keeps its disks (the stock clone blanks the backing file
//     names of the source's own device objects).
//   - the clone's disks start with the source's content: the flat extents are
//     copied, disk by disk in device order. The simulator has no delta disks,
//     so a linked clone gets copies too (its disks have the source's size and
//     bytes, not a child backing).

import (
	"io"
	"os"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	interceptSOAP("VirtualMachine", "CloneVM_Task", cloneVMTask)
}

func cloneVMTask(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.CloneVM_Task)
	body := &methods.CloneVM_TaskBody{}
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		body.Fault_ = soapFaultf(&types.ManagedObjectNotFound{Obj: req.This}, "managed object not found: %s", req.This)
		return body
	}
	if opts.esx {
		body.Fault_ = soapFaultf(&types.NotSupported{}, "The operation is not supported on the object.")
		return body
	}
	loc := &req.Spec.Location
	for _, ref := range []*types.ManagedObjectReference{&req.Folder, loc.Host, loc.Pool, loc.Datastore, req.Spec.Snapshot} {
		if ref != nil && simulator.Map.Get(*ref) == nil {
			body.Fault_ = soapFaultf(&types.ManagedObjectNotFound{Obj: *ref}, "managed object not found: %s", *ref)
			return body
		}
	}
	if req.Spec.Snapshot != nil && (vm.Snapshot == nil || !snapshotInTree(vm.Snapshot.RootSnapshotList, *req.Spec.Snapshot)) {
		body.Fault_ = invalidArgument("spec.snapshot")
		return body
	}
	if loc.DiskMoveType == string(types.VirtualMachineRelocateDiskMoveOptionsCreateNewChildDiskBacking) && req.Spec.Snapshot == nil {
		body.Fault_ = invalidArgument("spec.snapshot")
		return body
	}
	ctx := callContext(call)

	var res soap.HasFault
	simulator.Map.WithLock(vm, func() {
		if loc.Host != nil {
			pool := loc.Pool
			if pool == nil {
				pool = vm.ResourcePool
			}
			if pool != nil && !hostInPool(*loc.Host, *pool) {
				body.Fault_ = invalidArgument("spec.location.host")
				res = body
				return
			}
			// The stock clone places the copy on the source's host.
			orig := vm.Runtime.Host
			vm.Runtime.Host = loc.Host
			defer func() { vm.Runtime.Host = orig }()
		}
		// The stock clone blanks the disks' backing file names in the device
		// objects it hands to CreateVM, which are the source's own: give it
		// copies, so the source keeps its disks.
		devices := vm.Config.Hardware.Device
		copies := make([]types.BaseVirtualDevice, len(devices))
		for i, d := range devices {
			copies[i] = deepCopy(d).(types.BaseVirtualDevice)
		}
		vm.Config.Hardware.Device = copies
		defer func() { vm.Config.Hardware.Device = devices }()
		res = vm.CloneVMTask(ctx, req)
	})
	if res.Fault() != nil {
		return res
	}
	if task, ok := simulator.Map.Get(res.(*methods.CloneVM_TaskBody).Res.Returnval).(*simulator.Task); ok &&
		task.Info.State == types.TaskInfoStateSuccess {
		if ref, ok := task.Info.Result.(types.ManagedObjectReference); ok {
			if clone, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
				copyDiskContent(vm, clone)
			}
		}
	}
	return res
}

func snapshotInTree(tree []types.VirtualMachineSnapshotTree, ref types.ManagedObjectReference) bool {
	for _, s := range tree {
		if s.Snapshot == ref || snapshotInTree(s.ChildSnapshotList, ref) {
			return true
		}
	}
	return false
}

// hostInPool: the host belongs to the compute resource that owns the pool.
func hostInPool(host, pool types.ManagedObjectReference) bool {
	h := getHost(host)
	if h == nil || h.Parent == nil {
		return false
	}
	var owner types.ManagedObjectReference
	switch p := simulator.Map.Get(pool).(type) {
	case *simulator.ResourcePool:
		owner = p.Owner
	case *simulator.VirtualApp:
		owner = p.Owner
	default:
		return false
	}
	return *h.Parent == owner
}

// copyDiskContent gives each disk of clone the bytes of the source's disk at
// the same position.
func copyDiskContent(src, clone *simulator.VirtualMachine) {
	from := vmDisks(src.Config.Hardware.Device)
	to := vmDisks(clone.Config.Hardware.Device)
	for i := 0; i < len(from) && i < len(to); i++ {
		_, a, ok1 := diskPaths(src, from[i])
		_, b, ok2 := diskPaths(clone, to[i])
		if !ok1 || !ok2 || a == b {
			continue
		}
		_ = copyFileContent(a, b, diskCapacity(to[i]))
	}
}

func copyFileContent(from, to string, size int64) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0644)
	if err != nil {
		return err
	}
	if _, err = io.Copy(out, io.LimitReader(in, size)); err == nil {
		err = out.Truncate(size)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
