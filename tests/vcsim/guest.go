package main

// Guest reboots and boot times as vSphere reports them.
//
//   - VirtualMachine.runtime.bootTime is when the VM last powered on (stock vcsim
//     sets only summary.runtime.bootTime; vSphere keeps both, equal): set at every
//     power-on (PowerOnVM_Task, ResetVM_Task), cleared at power-off.
//   - guestHeartbeatStatus (and summary.quickStats.guestHeartbeatStatus) is gray
//     while VMware Tools do not run in the guest, green while they do.
//   - RebootGuest (stock vcsim does not implement it): InvalidPowerState on a VM
//     that is not running, ToolsUnavailable without Tools running; otherwise it
//     returns at once, as vSphere does once the guest has the request, and the
//     guest reboots on its own time: Tools stop (heartbeat gray), and after
//     -guest-reboot-time the guest is up again with a new boot time, Tools
//     running, heartbeat green. The VM stays poweredOn throughout.
//
// Control (test-only): POST /vcsim/guest with JSON
//
//   {"vms": {"VM name": {"tools": true, "hang": false}}}
//
// `tools`: Tools run in the guest (the stock guests have none). `hang`: the guest
// takes reboot requests but never reboots (a hung shutdown), so its boot time
// stays. Names not in the inventory are a 404 naming them; nothing changes then.

import (
	"flag"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type guestState struct {
	Tools bool `json:"tools"`
	Hang  bool `json:"hang"`
}

var guests = struct {
	sync.Mutex
	vms map[types.ManagedObjectReference]guestState
}{vms: map[types.ManagedObjectReference]guestState{}}

var guestRebootTime = flag.Duration("guest-reboot-time", 300*time.Millisecond,
	"how long a guest takes to reboot after RebootGuest")

func init() {
	serverHooks = append(serverHooks, installGuest)
	interceptSOAP("VirtualMachine", "RebootGuest", rebootGuest)
}

func guestOf(ref types.ManagedObjectReference) guestState {
	guests.Lock()
	defer guests.Unlock()
	return guests.vms[ref]
}

// setGuestStatus writes boot time and Tools state from the power state; the
// caller holds the VM's lock.
func setGuestStatus(vm *simulator.VirtualMachine, tools bool) {
	on := poweredOn(vm)
	if on {
		if vm.Summary.Runtime.BootTime == nil {
			now := time.Now()
			vm.Summary.Runtime.BootTime = &now
		}
		vm.Runtime.BootTime = vm.Summary.Runtime.BootTime
	} else {
		vm.Runtime.BootTime = nil
		vm.Summary.Runtime.BootTime = nil
	}
	status, running := types.ManagedEntityStatusGray, string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)
	if on && tools {
		status, running = types.ManagedEntityStatusGreen, string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
	}
	vm.GuestHeartbeatStatus = status
	vm.Summary.QuickStats.GuestHeartbeatStatus = status
	if vm.Guest != nil {
		vm.Guest.ToolsRunningStatus = running
	}
}

func installGuest(m *simulator.Model, s *simulator.Server) {
	simulator.Map.AddHandler(&guestRegistryHandler{})
	for _, e := range simulator.Map.All("VirtualMachine") {
		if vm := simVM(e); vm != nil {
			simulator.Map.WithLock(vm, func() { setGuestStatus(vm, false) })
		}
	}
	var req struct {
		VMs map[string]guestState `json:"vms"`
	}
	serveControl(s, "/vcsim/guest", "guest state", &req, func(w http.ResponseWriter) {
		set := map[*simulator.VirtualMachine]guestState{}
		for name, g := range req.VMs {
			vm := vmByName(name)
			if vm == nil {
				http.Error(w, fmt.Sprintf("no VM named %q", name), http.StatusNotFound)
				return
			}
			set[vm] = g
		}
		for vm, g := range set {
			guests.Lock()
			guests.vms[vm.Self] = g
			guests.Unlock()
			simulator.Map.WithLock(vm, func() { setGuestStatus(vm, g.Tools) })
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func rebootGuest(call *soapCall) soap.HasFault {
	ref := call.Method.This
	vm := simVM(simulator.Map.Get(ref))
	if vm == nil {
		return &methods.RebootGuestBody{Fault_: simulator.Fault("", &types.ManagedObjectNotFound{Obj: ref})}
	}
	g := guestOf(ref)
	var fault *soap.Fault
	simulator.Map.WithLock(vm, func() {
		switch {
		case !poweredOn(vm):
			fault = simulator.Fault("", &types.InvalidPowerState{
				RequestedState: types.VirtualMachinePowerStatePoweredOn,
				ExistingState:  vm.Runtime.PowerState,
			})
		case !g.Tools:
			fault = simulator.Fault("VMware Tools is not running", &types.ToolsUnavailable{})
		case !g.Hang:
			// The guest shuts down: Tools stop, no heartbeat.
			vm.GuestHeartbeatStatus = types.ManagedEntityStatusGray
			vm.Summary.QuickStats.GuestHeartbeatStatus = types.ManagedEntityStatusGray
			if vm.Guest != nil {
				vm.Guest.ToolsRunningStatus = string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)
			}
		}
	})
	if fault != nil {
		return &methods.RebootGuestBody{Fault_: fault}
	}
	if !g.Hang {
		go func() {
			time.Sleep(*guestRebootTime)
			simulator.Map.WithLock(vm, func() {
				if !poweredOn(vm) {
					return
				}
				now := time.Now()
				vm.Summary.Runtime.BootTime = &now
				setGuestStatus(vm, guestOf(ref).Tools)
			})
		}()
	}
	return &methods.RebootGuestBody{Res: new(types.RebootGuestResponse)}
}

type guestRegistryHandler struct{}

func (*guestRegistryHandler) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "CesoGuestExtension", Value: "guest"}
}

func (*guestRegistryHandler) PutObject(obj mo.Reference) {
	t, ok := obj.(*simulator.Task)
	if !ok || t.Info.Entity == nil || t.Info.Entity.Type != "VirtualMachine" || t.Execute == nil {
		return
	}
	switch t.Info.DescriptionId {
	case "VirtualMachine.powerOn", "VirtualMachine.powerOff":
		orig := t.Execute
		t.Execute = func(task *simulator.Task) (types.AnyType, types.BaseMethodFault) {
			res, err := orig(task)
			if vm := simVM(simulator.Map.Get(*task.Info.Entity)); vm != nil {
				setGuestStatus(vm, guestOf(vm.Self).Tools) // the task's caller holds the VM's lock
			}
			return res, err
		}
	}
}

func (*guestRegistryHandler) UpdateObject(mo.Reference, []types.PropertyChange) {}

func (*guestRegistryHandler) RemoveObject(ref types.ManagedObjectReference) {
	guests.Lock()
	delete(guests.vms, ref)
	guests.Unlock()
}
