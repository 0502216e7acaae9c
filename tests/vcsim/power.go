package main

// Datacenter.PowerOnMultiVM_Task as vCenter answers it.
//
// Stock vcsim powers the VMs on but returns no task result and drops every
// per-VM outcome. vCenter's result is a ClusterPowerOnVmResult: `attempted`
// lists each VM it started with the task of that VM's power-on (the place to
// read whether it succeeded), `notAttempted` each VM it could not try, with a
// fault (here: a VM that does not exist). vCenter finishes the multi-VM task
// once every power-on has been initiated; the per-VM tasks then report. A VM in
// another state than poweredOff/suspended is attempted and its task fails with
// InvalidPowerState, as a single PowerOnVM_Task would. ESXi has no
// PowerOnMultiVM: the stock NotImplemented task error is kept in -esx mode.

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	interceptSOAP("Datacenter", "PowerOnMultiVM_Task", powerOnMultiVM)
}

func powerOnMultiVM(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.PowerOnMultiVM_Task)
	this := call.Method.This
	dc, ok := simulator.Map.Get(this).(*simulator.Datacenter)
	if !ok {
		return &methods.PowerOnMultiVM_TaskBody{Fault_: simulator.Fault("", &types.ManagedObjectNotFound{Obj: this})}
	}
	// The per-VM power-ons post events in the caller's name (see callContext).
	ctx := callContext(call)
	task := simulator.CreateTask(dc, "powerOnMultiVM", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if simulator.Map.IsESX() {
			return nil, new(types.NotImplemented)
		}
		result := &types.ClusterPowerOnVmResult{}
		for _, ref := range req.Vm {
			vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
			if !ok {
				result.NotAttempted = append(result.NotAttempted, types.ClusterNotAttemptedVmInfo{
					Vm:    ref,
					Fault: types.LocalizedMethodFault{Fault: &types.ManagedObjectNotFound{Obj: ref}, LocalizedMessage: "The object has already been deleted or has not been completely created"},
				})
				continue
			}
			var res soap.HasFault
			simulator.Map.WithLock(vm, func() { res = vm.PowerOnVMTask(ctx, &types.PowerOnVM_Task{This: ref}) })
			body, _ := res.(*methods.PowerOnVM_TaskBody)
			if body == nil || body.Res == nil {
				fault := types.LocalizedMethodFault{Fault: &types.InvalidState{}, LocalizedMessage: "cannot power on"}
				if body != nil && body.Fault_ != nil {
					if f, ok := body.Fault_.VimFault().(types.BaseMethodFault); ok {
						fault.Fault = f
					}
				}
				result.NotAttempted = append(result.NotAttempted, types.ClusterNotAttemptedVmInfo{Vm: ref, Fault: fault})
				continue
			}
			taskRef := body.Res.Returnval
			result.Attempted = append(result.Attempted, types.ClusterAttemptedVmInfo{Vm: ref, Task: &taskRef})
		}
		return result, nil
	})
	return &methods.PowerOnMultiVM_TaskBody{Res: &types.PowerOnMultiVM_TaskResponse{Returnval: task.Run()}}
}
