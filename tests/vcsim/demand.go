package main

// Workload demand: the stock simulator's quickStats are fixed numbers (hosts
// report 67 MHz / 1404 MB whatever runs on them, VMs report zeros), so no
// client can see load or an imbalance. Here a test gives VMs a workload and
// the simulator reports it as ESXi/vCenter do:
//
//   - VirtualMachine.summary.quickStats.overallCpuUsage, guestMemoryUsage and
//     hostMemoryUsage are the VM's workload while it is powered on, 0 when it
//     is off (a VM that does not run uses nothing).
//   - HostSystem.summary.quickStats.overallCpuUsage and overallMemoryUsage are
//     the sum over the powered-on VMs registered on the host plus the host's
//     own overhead (hypervisor), recomputed whenever a VM is powered on or off
//     or relocated, and whenever a workload changes.
//   - RelocateVM_Task to another host also moves the VM between the hosts'
//     `vm` lists (the stock task only changes runtime.host).
//
// Control (test-only, like uploading disk content through /folder to
// simulate guest writes): POST /vcsim/demand with JSON
//
//   {"vms":   {"VM name": {"cpu_mhz": 1500, "guest_memory_mb": 900, "host_memory_mb": 1024}},
//    "hosts": {"host name": {"cpu_mhz": 100, "memory_mb": 400}}}
//
// Names not in the inventory are a 404 naming them; nothing changes then.
// Until the first POST the stock numbers stay.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type vmWorkload struct {
	CPU   int32 `json:"cpu_mhz"`
	Guest int32 `json:"guest_memory_mb"`
	Host  int32 `json:"host_memory_mb"`
}

type hostOverhead struct {
	CPU int32 `json:"cpu_mhz"`
	Mem int32 `json:"memory_mb"`
}

var demandState = struct {
	sync.Mutex
	active bool
	vms    map[types.ManagedObjectReference]vmWorkload
	hosts  map[types.ManagedObjectReference]hostOverhead
}{vms: map[types.ManagedObjectReference]vmWorkload{}, hosts: map[types.ManagedObjectReference]hostOverhead{}}

func init() {
	serverHooks = append(serverHooks, installDemand)
}

func installDemand(m *simulator.Model, s *simulator.Server) {
	simulator.Map.AddHandler(&demandRegistryHandler{})
	var req struct {
		VMs   map[string]vmWorkload   `json:"vms"`
		Hosts map[string]hostOverhead `json:"hosts"`
	}
	serveControl(s, "/vcsim/demand", "workload", &req, func(w http.ResponseWriter) {
		vms := map[types.ManagedObjectReference]vmWorkload{}
		for name, wl := range req.VMs {
			vm := vmByName(name)
			if vm == nil {
				http.Error(w, fmt.Sprintf("no VM named %q", name), http.StatusNotFound)
				return
			}
			vms[vm.Self] = wl
		}
		hosts := map[types.ManagedObjectReference]hostOverhead{}
		for name, o := range req.Hosts {
			h := hostByName(name)
			if h == nil {
				http.Error(w, fmt.Sprintf("no host named %q", name), http.StatusNotFound)
				return
			}
			hosts[h.Self] = o
		}
		demandState.Lock()
		demandState.active = true
		for k, v := range vms {
			demandState.vms[k] = v
		}
		for k, v := range hosts {
			demandState.hosts[k] = v
		}
		demandState.Unlock()
		for ref := range vms {
			if vm := simVM(simulator.Map.Get(ref)); vm != nil {
				simulator.Map.WithLock(vm, func() { setVMQuickStats(vm) })
			}
		}
		recomputeHosts()
		w.WriteHeader(http.StatusNoContent)
	})
}

// serveControl answers POST path (a test-only control) with `handle`, after
// decoding the JSON body into req (reset first; unknown fields are a 400);
// every other request goes on to the simulator.
func serveControl(s *simulator.Server, path, what string, req interface{}, handle func(w http.ResponseWriter)) {
	next := s.Config.Handler
	var mu sync.Mutex
	s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodPost {
			http.Error(w, "POST a JSON "+what, http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		v := reflect.ValueOf(req).Elem()
		v.Set(reflect.Zero(v.Type()))
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(req); err != nil {
			http.Error(w, "bad "+what+" JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
		handle(w)
	})
}

func vmByName(name string) *simulator.VirtualMachine {
	for _, e := range simulator.Map.All("VirtualMachine") {
		if vm := simVM(e); vm != nil && vm.Name == name {
			return vm
		}
	}
	return nil
}

func hostByName(name string) *simulator.HostSystem {
	for _, e := range simulator.Map.All("HostSystem") {
		if h := simHost(e); h != nil && h.Name == name {
			return h
		}
	}
	return nil
}

// setVMQuickStats writes the VM's workload; the caller holds the VM's lock.
func setVMQuickStats(vm *simulator.VirtualMachine) {
	demandState.Lock()
	wl, ok := demandState.vms[vm.Self]
	active := demandState.active
	demandState.Unlock()
	if !active || !ok {
		return
	}
	if !poweredOn(vm) {
		wl = vmWorkload{}
	}
	q := &vm.Summary.QuickStats
	q.OverallCpuUsage = wl.CPU
	q.OverallCpuDemand = wl.CPU
	q.GuestMemoryUsage = wl.Guest
	q.HostMemoryUsage = wl.Host
}

// recomputeHosts sets every host's usage to the sum of its running VMs'. It
// reads VMs without their locks (a VM task may hold one while calling this).
func recomputeHosts() {
	demandState.Lock()
	if !demandState.active {
		demandState.Unlock()
		return
	}
	cpu := map[types.ManagedObjectReference]int32{}
	mem := map[types.ManagedObjectReference]int32{}
	for ref, o := range demandState.hosts {
		cpu[ref] += o.CPU
		mem[ref] += o.Mem
	}
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := simVM(e)
		if vm == nil || vm.Runtime.Host == nil || vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
			continue
		}
		wl := demandState.vms[vm.Self]
		cpu[*vm.Runtime.Host] += wl.CPU
		mem[*vm.Runtime.Host] += wl.Host
	}
	demandState.Unlock()
	for _, e := range simulator.Map.All("HostSystem") {
		h := simHost(e)
		if h == nil {
			continue
		}
		simulator.Map.WithLock(h, func() {
			h.Summary.QuickStats.OverallCpuUsage = cpu[h.Self]
			h.Summary.QuickStats.OverallMemoryUsage = mem[h.Self]
		})
	}
}

type demandRegistryHandler struct{}

func (*demandRegistryHandler) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "CesoDemandExtension", Value: "demand"}
}

func (*demandRegistryHandler) PutObject(obj mo.Reference) {
	t, ok := obj.(*simulator.Task)
	if !ok || t.Info.Entity == nil || t.Info.Entity.Type != "VirtualMachine" || t.Execute == nil {
		return
	}
	orig := t.Execute
	switch t.Info.DescriptionId {
	case "VirtualMachine.powerOn", "VirtualMachine.powerOff":
		t.Execute = func(task *simulator.Task) (types.AnyType, types.BaseMethodFault) {
			res, err := orig(task)
			if vm := simVM(simulator.Map.Get(*task.Info.Entity)); vm != nil {
				setVMQuickStats(vm) // the task's caller holds the VM's lock
			}
			recomputeHosts()
			return res, err
		}
	case "VirtualMachine.relocateVm":
		t.Execute = func(task *simulator.Task) (types.AnyType, types.BaseMethodFault) {
			vm := simVM(simulator.Map.Get(*task.Info.Entity))
			var from *types.ManagedObjectReference
			if vm != nil && vm.Runtime.Host != nil {
				h := *vm.Runtime.Host
				from = &h
			}
			res, err := orig(task)
			if vm != nil && err == nil && from != nil && vm.Runtime.Host != nil && *vm.Runtime.Host != *from {
				if old := getHost(*from); old != nil {
					simulator.Map.RemoveReference(old, &old.Vm, vm.Self)
				}
				if to := getHost(*vm.Runtime.Host); to != nil {
					simulator.Map.AddReference(to, &to.Vm, vm.Self)
				}
			}
			recomputeHosts()
			return res, err
		}
	}
}

func (*demandRegistryHandler) UpdateObject(mo.Reference, []types.PropertyChange) {}

func (*demandRegistryHandler) RemoveObject(ref types.ManagedObjectReference) {
	demandState.Lock()
	delete(demandState.vms, ref)
	delete(demandState.hosts, ref)
	demandState.Unlock()
}
