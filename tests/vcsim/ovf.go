package main

// NFC leases for OVF import and export, as ESXi and vCenter serve them.
// Stock vcsim's ImportVApp lease throws uploaded disks away and there is no
// ExportVm. Here:
//
//   - ResourcePool.ImportVApp: the stock import (the VM of CreateImportSpec's
//     spec), then a PUT or POST on a disk's deviceUrl writes the bytes into
//     that disk's flat extent (at most capacityInBytes, else 400 and nothing
//     kept; a shorter upload is zero-filled to the capacity).
//     HttpNfcLeaseAbort on an import lease removes the VM being imported, as
//     vCenter does.
//   - VirtualMachine.ExportVm: refused for a VM that is not powered off
//     (InvalidPowerState). The lease has one deviceUrl per disk (key
//     "/vm-N/VirtualLsiLogicController0:0", targetId "disk-N.vmdk", disk true,
//     fileSize the capacity) and info.totalDiskCapacityInKB; GET (with Range)
//     on a URL answers the disk's bytes.
//   - HttpNfcLeaseComplete and HttpNfcLeaseAbort end a lease: its URLs answer
//     404 afterwards, and the lease object goes away.
//
// URLs are "<scheme>://*/nfc/<lease>/<file>" as on real hosts ("*" stands for
// the host the client connected to); the scheme is the simulator's (http
// without -tls). Real hosts send and take streamOptimized VMDKs on these URLs;
// the simulator sends and takes the disk's raw bytes.

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	interceptSOAP("ResourcePool", "ImportVApp", importVApp)
	interceptSOAP("VirtualMachine", "ExportVm", exportVM)
	interceptSOAP("HttpNfcLease", "HttpNfcLeaseComplete", completeLease)
	interceptSOAP("HttpNfcLease", "HttpNfcLeaseAbort", abortLease)
	serverHooks = append(serverHooks, installNFC)
}

type nfcFile struct {
	flat     string
	capacity int64
}

type nfcLeaseState struct {
	lease     *simulator.HttpNfcLease
	vm        types.ManagedObjectReference
	importing bool
	files     map[string]nfcFile
}

var nfc = struct {
	sync.Mutex
	leases map[string]*nfcLeaseState
}{leases: map[string]*nfcLeaseState{}}

func nfcURL(lease types.ManagedObjectReference, name string) string {
	scheme := "http"
	if opts.tls {
		scheme = "https"
	}
	return scheme + "://*/nfc/" + path.Join(lease.Value, name)
}

func importVApp(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.ImportVApp)
	body := &methods.ImportVAppBody{}
	pool, ok := simulator.Map.Get(req.This).(*simulator.ResourcePool)
	if !ok {
		body.Fault_ = soapFaultf(&types.ManagedObjectNotFound{Obj: req.This}, "managed object not found: %s", req.This)
		return body
	}
	res := pool.ImportVApp(callContext(call), req)
	if res.Fault() != nil {
		return res
	}
	ref := res.(*methods.ImportVAppBody).Res.Returnval
	lease, ok := simulator.Map.Get(ref).(*simulator.HttpNfcLease)
	if !ok {
		return res
	}
	vm, ok := simulator.Map.Get(lease.Info.Entity).(*simulator.VirtualMachine)
	if !ok {
		return res
	}
	st := &nfcLeaseState{lease: lease, vm: vm.Self, importing: true, files: map[string]nfcFile{}}
	disks := map[string]*types.VirtualDisk{}
	for _, d := range vmDisks(vm.Config.Hardware.Device) {
		if b := diskFileBacking(d); b != nil {
			var p object.DatastorePath
			if p.FromString(b.FileName) {
				disks[path.Base(p.Path)] = d
			}
		}
	}
	for i := range lease.Info.DeviceUrl {
		u := &lease.Info.DeviceUrl[i]
		u.Url = nfcURL(ref, u.TargetId)
		d, ok := disks[u.TargetId]
		if !ok {
			continue
		}
		if _, flat, ok := diskPaths(vm, d); ok {
			st.files[u.TargetId] = nfcFile{flat: flat, capacity: diskCapacity(d)}
		}
	}
	lease.State = types.HttpNfcLeaseStateReady
	nfc.Lock()
	nfc.leases[ref.Value] = st
	nfc.Unlock()
	return res
}

func exportVM(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.ExportVm)
	body := &methods.ExportVmBody{}
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		body.Fault_ = soapFaultf(&types.ManagedObjectNotFound{Obj: req.This}, "managed object not found: %s", req.This)
		return body
	}
	var st *nfcLeaseState
	simulator.Map.WithLock(vm, func() {
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			body.Fault_ = soapFaultf(&types.InvalidPowerState{
				RequestedState: types.VirtualMachinePowerStatePoweredOff,
				ExistingState:  vm.Runtime.PowerState,
			}, "The attempted operation cannot be performed in the current state (%s).", vm.Runtime.PowerState)
			return
		}
		lease := simulator.NewHttpNfcLease(callContext(call), vm.Self)
		ref := lease.Reference()
		lease.Info.Lease = ref
		st = &nfcLeaseState{lease: lease, vm: vm.Self, files: map[string]nfcFile{}}
		devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
		var total int64
		for i, d := range vmDisks(vm.Config.Hardware.Device) {
			_, flat, ok := diskPaths(vm, d)
			if !ok {
				continue
			}
			name := fmt.Sprintf("disk-%d.vmdk", i)
			capacity := diskCapacity(d)
			total += capacity / 1024
			st.files[name] = nfcFile{flat: flat, capacity: capacity}
			lease.Info.DeviceUrl = append(lease.Info.DeviceUrl, types.HttpNfcLeaseDeviceUrl{
				Key:      exportDeviceKey(vm.Self, devices, d),
				Url:      nfcURL(ref, name),
				Disk:     types.NewBool(true),
				TargetId: name,
				FileSize: capacity,
			})
		}
		lease.Info.TotalDiskCapacityInKB = total
		lease.State = types.HttpNfcLeaseStateReady
	})
	if st == nil {
		return body
	}
	nfc.Lock()
	nfc.leases[st.lease.Self.Value] = st
	nfc.Unlock()
	body.Res = &types.ExportVmResponse{Returnval: st.lease.Self}
	return body
}

// exportDeviceKey is the disk's key as ESXi writes it: /vm-N/<controller type><bus>:<unit>.
func exportDeviceKey(vm types.ManagedObjectReference, devices object.VirtualDeviceList, d *types.VirtualDisk) string {
	kind, bus := "VirtualController", int32(0)
	if c := devices.FindByKey(d.ControllerKey); c != nil {
		kind = reflect.TypeOf(c).Elem().Name()
		if bc, ok := c.(types.BaseVirtualController); ok {
			bus = bc.GetVirtualController().BusNumber
		}
	}
	unit := int32(0)
	if d.UnitNumber != nil {
		unit = *d.UnitNumber
	}
	return fmt.Sprintf("/%s/%s%d:%d", vm.Value, kind, bus, unit)
}

// endLease forgets a lease; its URLs answer 404 from now on.
func endLease(call *soapCall, state types.HttpNfcLeaseState) *nfcLeaseState {
	this := call.Method.This
	nfc.Lock()
	st := nfc.leases[this.Value]
	delete(nfc.leases, this.Value)
	nfc.Unlock()
	if st != nil {
		st.lease.State = state
	}
	simulator.Map.Remove(this)
	return st
}

func completeLease(call *soapCall) soap.HasFault {
	endLease(call, types.HttpNfcLeaseStateDone)
	return &methods.HttpNfcLeaseCompleteBody{Res: new(types.HttpNfcLeaseCompleteResponse)}
}

func abortLease(call *soapCall) soap.HasFault {
	st := endLease(call, types.HttpNfcLeaseStateError)
	if st != nil && st.importing {
		if vm, ok := simulator.Map.Get(st.vm).(*simulator.VirtualMachine); ok {
			vm.DestroyTask(callContext(call), &types.Destroy_Task{This: vm.Self})
		}
	}
	return &methods.HttpNfcLeaseAbortBody{Res: new(types.HttpNfcLeaseAbortResponse)}
}

func installNFC(m *simulator.Model, s *simulator.Server) {
	next := s.Config.Handler
	s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/nfc/") {
			next.ServeHTTP(w, r)
			return
		}
		serveNFC(w, r)
	})
}

func serveNFC(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/nfc/"), "/")
	if len(parts) != 2 {
		http.NotFound(w, r)
		return
	}
	nfc.Lock()
	st := nfc.leases[parts[0]]
	var file nfcFile
	ok := false
	importing := false
	if st != nil {
		file, ok = st.files[parts[1]]
		importing = st.importing
	}
	nfc.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if importing {
			http.Error(w, "an import lease takes uploads", http.StatusMethodNotAllowed)
			return
		}
		f, err := os.Open(file.flat)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "", time.Time{}, io.NewSectionReader(f, 0, file.capacity))
	case http.MethodPut, http.MethodPost:
		if !importing {
			http.Error(w, "an export lease serves downloads", http.StatusMethodNotAllowed)
			return
		}
		f, err := os.OpenFile(file.flat, os.O_WRONLY|os.O_CREATE, 0644)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		n, err := io.Copy(f, io.LimitReader(r.Body, file.capacity+1))
		if err == nil && n > file.capacity {
			err = fmt.Errorf("%d bytes or more for a disk of %d bytes", n, file.capacity)
			_ = f.Truncate(0)
		}
		if terr := f.Truncate(file.capacity); err == nil {
			err = terr
		}
		_ = f.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, "GET, PUT or POST", http.StatusMethodNotAllowed)
	}
}
