package simulator

// Added to govmomi's simulator package at build time (scripts/vcsim build, with
// `go build -overlay`), together with a one-line patch of property_collector.go that
// calls traversalApplies before each TraversalSpec step.
//
// Stock vcsim 0.24.2 follows every TraversalSpec from every object it reaches, whatever
// the spec's `type`: a spec for ResourcePool.vm is also followed from a HostSystem's
// `vm`, one for ComputeResource.resourcePool from a VirtualMachine's `resourcePool`.
// The answer stays right (objects are collected once) but the walk grows with the square
// of the inventory. vCenter and ESXi follow a TraversalSpec only from objects of its
// type or a subtype (vSphere API reference, TraversalSpec: "type: Name of the object
// type containing the property"), which is what this models.

import (
	"reflect"

	"github.com/vmware/govmomi/vim25/types"
)

// TraversalByType makes the property collector apply a TraversalSpec only to objects of
// its type, as vCenter does; false restores stock vcsim's walk (-stock-traversal).
var TraversalByType = true

// traversalApplies: obj (the managed object's vim25/mo struct) is of ts.Type or a
// subtype of it. Subtypes embed their parent type (mo.ClusterComputeResource embeds
// ComputeResource, mo.VirtualApp embeds ResourcePool); a plain field of that name
// (VirtualMachine.ResourcePool, a reference) is no subtype.
func traversalApplies(obj reflect.Value, ts *types.TraversalSpec) bool {
	if !TraversalByType {
		return true
	}
	rtype := obj.Type()
	if rtype.Name() == ts.Type {
		return true
	}
	field, ok := rtype.FieldByName(ts.Type)
	return ok && field.Anonymous
}
