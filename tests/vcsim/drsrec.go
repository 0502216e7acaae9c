package main

// DRS recommendations: stock vcsim never fills ClusterComputeResource.recommendation
// and has no ApplyRecommendation. The simulator does not model DRS's own analysis, so
// a test states what DRS recommends (as /vcsim/demand states a workload), and the
// cluster then offers it as vCenter does for a manual or partially automated cluster:
//
//   - `recommendation` lists one ClusterRecommendation per migration (key "1", "2", …
//     in the order given; type "V1", rating 3, reason "Balance average CPU loads"),
//     each with one ClusterMigrationAction (type "MigrationV1", target the VM,
//     drsMigration with vm, source and destination hosts).
//   - ApplyRecommendation(key) migrates the VM to the destination host through
//     RelocateVM_Task (relocate.go, with its checks) and, when that succeeded, removes
//     the recommendation. A key that is not pending is InvalidArgument (`key`); a
//     failed move is the relocation's fault and the recommendation stays.
//
// Control (test-only): POST /vcsim/drs with JSON
//
//   {"cluster": "DC0_C0", "migrations": [{"vm": "DC0_C0_RP0_VM0", "to": "DC0_C0_H1"}]}
//
// replacing the cluster's pending recommendations. Unknown names are a 404; nothing
// changes then.

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type drsMigrationRequest struct {
	VM string `json:"vm"`
	To string `json:"to"`
}

func init() {
	serverHooks = append(serverHooks, installDRSRecommendations)
	interceptSOAP("ClusterComputeResource", "ApplyRecommendation", applyRecommendation)
}

func clusterByName(name string) *simulator.ClusterComputeResource {
	for _, e := range simulator.Map.All("ClusterComputeResource") {
		if c := simCluster(e); c != nil && c.Name == name {
			return c
		}
	}
	return nil
}

func installDRSRecommendations(m *simulator.Model, s *simulator.Server) {
	var req struct {
		Cluster    string                `json:"cluster"`
		Migrations []drsMigrationRequest `json:"migrations"`
	}
	serveControl(s, "/vcsim/drs", "DRS recommendations", &req, func(w http.ResponseWriter) {
		c := clusterByName(req.Cluster)
		if c == nil {
			http.Error(w, fmt.Sprintf("no cluster named %q", req.Cluster), http.StatusNotFound)
			return
		}
		now := time.Now()
		var recs []types.ClusterRecommendation
		for i, mig := range req.Migrations {
			vm := vmByName(mig.VM)
			if vm == nil || vm.Runtime.Host == nil {
				http.Error(w, fmt.Sprintf("no VM named %q on a host", mig.VM), http.StatusNotFound)
				return
			}
			to := hostByName(mig.To)
			if to == nil {
				http.Error(w, fmt.Sprintf("no host named %q", mig.To), http.StatusNotFound)
				return
			}
			key := strconv.Itoa(i + 1)
			target := vm.Self
			recs = append(recs, types.ClusterRecommendation{
				Key:        key,
				Type:       "V1",
				Time:       now,
				Rating:     3,
				Reason:     string(types.RecommendationReasonCodeFairnessCpuAvg),
				ReasonText: "Balance average CPU loads.",
				Target:     &c.Self,
				Action: []types.BaseClusterAction{&types.ClusterMigrationAction{
					ClusterAction: types.ClusterAction{Type: "MigrationV1", Target: &target},
					DrsMigration: &types.ClusterDrsMigration{
						Key:         key,
						Time:        now,
						Vm:          vm.Self,
						Source:      *vm.Runtime.Host,
						Destination: to.Self,
					},
				}},
			})
		}
		simulator.Map.WithLock(c, func() {
			simulator.Map.Update(c, []types.PropertyChange{{Name: "recommendation", Val: recs}})
		})
		w.WriteHeader(http.StatusNoContent)
	})
}

func applyRecommendation(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.ApplyRecommendation)
	body := &methods.ApplyRecommendationBody{}
	c := simCluster(simulator.Map.Get(call.Method.This))
	if c == nil {
		body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: call.Method.This})
		return body
	}
	var mig *types.ClusterDrsMigration
	simulator.Map.WithLock(c, func() {
		for _, r := range c.Recommendation {
			if r.Key != req.Key {
				continue
			}
			for _, a := range r.Action {
				if m, ok := a.(*types.ClusterMigrationAction); ok && m.DrsMigration != nil {
					mig = m.DrsMigration
				}
			}
		}
	})
	if mig == nil {
		body.Fault_ = simulator.Fault("", drsInvalid("key", "no pending recommendation has key %q", req.Key))
		return body
	}
	dest := mig.Destination
	move := &types.RelocateVM_Task{This: mig.Vm, Spec: types.VirtualMachineRelocateSpec{Host: &dest}}
	res := relocateVMTask(&soapCall{Request: call.Request, Method: &simulator.Method{
		Name: "RelocateVM_Task", This: mig.Vm, Header: call.Method.Header, Body: move,
	}})
	started, ok := res.(*methods.RelocateVM_TaskBody)
	if !ok || started.Fault_ != nil || started.Res == nil {
		if ok && started.Fault_ != nil {
			body.Fault_ = started.Fault_
		} else {
			body.Fault_ = simulator.Fault("", &types.SystemError{Reason: "the migration did not start"})
		}
		return body
	}
	if task, ok := simulator.Map.Get(started.Res.Returnval).(*simulator.Task); ok && task.Info.Error != nil {
		body.Fault_ = simulator.Fault("", task.Info.Error.Fault)
		return body
	}
	simulator.Map.WithLock(c, func() {
		var left []types.ClusterRecommendation
		for _, r := range c.Recommendation {
			if r.Key != req.Key {
				left = append(left, r)
			}
		}
		simulator.Map.Update(c, []types.PropertyChange{{Name: "recommendation", Val: left}})
	})
	body.Res = &types.ApplyRecommendationResponse{}
	return body
}
