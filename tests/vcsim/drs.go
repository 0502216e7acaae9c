package main

// Clusters, DRS rules and groups, and resource pools as vCenter has them,
// where the stock simulator (govmomi 0.24.2) falls short:
//
//   - ReconfigureComputeResource_Task with modify=true merges drsConfig and
//     dasConfig (the stock one ignores them), applies a spec all or nothing,
//     matches rule edits and removals by the server-assigned key, checks that
//     rules and groups name VMs and hosts of this cluster and groups that
//     exist, and fills in what vCenter adds to a rule (key, ruleUuid,
//     userCreated, status).
//   - Every resource pool has its own summary (the stock pools share one
//     object, so every pool reads back the name of the last one created),
//     kept equal to the pool's config.
//   - ResourcePool.UpdateConfig honours expandableReservation.
//   - ResourcePool.MoveIntoResourcePool (not implemented by the stock
//     simulator) moves VMs and pools within one cluster or standalone host.

import (
	"fmt"
	"sort"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	extensions = append(extensions, installDRS)
	interceptSOAP("ClusterComputeResource", "ReconfigureComputeResource_Task", reconfigureCluster)
	interceptSOAP("ResourcePool", "CreateResourcePool", createResourcePool)
	interceptSOAP("ResourcePool", "UpdateConfig", updateResourcePool)
	interceptSOAP("ResourcePool", "MoveIntoResourcePool", moveIntoResourcePool)
}

func installDRS(m *simulator.Model) {
	for _, e := range simulator.Map.All("ResourcePool") {
		if p := simPool(e); p != nil {
			simulator.Map.WithLock(p, func() { ownSummary(p) })
		}
	}
}

func simPool(obj interface{}) *simulator.ResourcePool {
	p, _ := embeddedObject(obj, func(o interface{}) bool { _, ok := o.(*simulator.ResourcePool); return ok }).(*simulator.ResourcePool)
	return p
}

func simCluster(obj interface{}) *simulator.ClusterComputeResource {
	c, _ := embeddedObject(obj, func(o interface{}) bool { _, ok := o.(*simulator.ClusterComputeResource); return ok }).(*simulator.ClusterComputeResource)
	return c
}

func drsInvalid(property, format string, args ...interface{}) *types.InvalidArgument {
	f := &types.InvalidArgument{InvalidProperty: property}
	f.FaultMessage = localized("vcsim.drs.invalidArgument", format, args...)
	return f
}

// ---------------------------------------------------------------------------
// Resource pools.

// ownSummary gives a pool a summary of its own that mirrors its config, as
// vCenter reports ResourcePool.summary.
func ownSummary(p *simulator.ResourcePool) {
	s := &types.ResourcePoolSummary{}
	if old, ok := p.Summary.(*types.ResourcePoolSummary); ok && old != nil {
		*s = *old
	}
	s.Name = p.Name
	s.Config = p.Config
	p.Summary = s
}

func createResourcePool(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.CreateResourcePool)
	p := simPool(simulator.Map.Get(call.Method.This))
	var res soap.HasFault
	simulator.Map.WithLock(p, func() { res = p.CreateResourcePool(req) })
	if body, ok := res.(*methods.CreateResourcePoolBody); ok && body.Res != nil {
		if child := simPool(simulator.Map.Get(body.Res.Returnval)); child != nil {
			simulator.Map.WithLock(child, func() {
				child.Config.Entity = &child.Self
				ownSummary(child)
			})
		}
	}
	return res
}

func updateResourcePool(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.UpdateConfig)
	p := simPool(simulator.Map.Get(call.Method.This))
	var res soap.HasFault
	simulator.Map.WithLock(p, func() {
		res = p.UpdateConfig(req)
		if res.Fault() != nil {
			return
		}
		if req.Config != nil {
			if e := req.Config.CpuAllocation.ExpandableReservation; e != nil {
				p.Config.CpuAllocation.ExpandableReservation = types.NewBool(*e)
			}
			if e := req.Config.MemoryAllocation.ExpandableReservation; e != nil {
				p.Config.MemoryAllocation.ExpandableReservation = types.NewBool(*e)
			}
		}
		ownSummary(p)
	})
	return res
}

// poolOwner is the compute resource (cluster or standalone host) a pool
// belongs to.
func poolOwner(p *simulator.ResourcePool) types.ManagedObjectReference {
	return p.Owner
}

// isDescendant: pool `p` is `of` or below it.
func isDescendant(p, of types.ManagedObjectReference) bool {
	for i := 0; i < 64; i++ {
		if p == of {
			return true
		}
		pool := simPool(simulator.Map.Get(p))
		if pool == nil || pool.Parent == nil || pool.Parent.Type != "ResourcePool" {
			return false
		}
		p = *pool.Parent
	}
	return false
}

func moveIntoResourcePool(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.MoveIntoResourcePool)
	body := &methods.MoveIntoResourcePoolBody{}
	target := simPool(simulator.Map.Get(call.Method.This))
	if target == nil {
		body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: call.Method.This})
		return body
	}
	owner := poolOwner(target)

	// Check everything first: vCenter moves all of the list or nothing.
	for _, ref := range req.List {
		switch ref.Type {
		case "VirtualMachine":
			vm := simVM(simulator.Map.Get(ref))
			if vm == nil {
				body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: ref})
				return body
			}
			from := simPool(simulator.Map.Get(*vm.ResourcePool))
			if from == nil || poolOwner(from) != owner {
				f := drsInvalid("list", "%s is not in the cluster or host of resource pool %s: use RelocateVM_Task to move it there", vm.Name, target.Name)
				body.Fault_ = simulator.Fault("", f)
				return body
			}
		case "ResourcePool":
			pool := simPool(simulator.Map.Get(ref))
			if pool == nil {
				body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: ref})
				return body
			}
			if poolOwner(pool) != owner || pool.Parent == nil || pool.Parent.Type != "ResourcePool" {
				body.Fault_ = simulator.Fault("", drsInvalid("list", "resource pool %s cannot be moved into %s", pool.Name, target.Name))
				return body
			}
			if isDescendant(target.Self, pool.Self) {
				body.Fault_ = simulator.Fault("", drsInvalid("list", "resource pool %s cannot be moved into itself or one of its children", pool.Name))
				return body
			}
			if e := simulator.Map.FindByName(pool.Name, target.ResourcePool.ResourcePool); e != nil && e.Reference() != ref {
				body.Fault_ = simulator.Fault("", &types.DuplicateName{Name: pool.Name, Object: e.Reference()})
				return body
			}
		default:
			body.Fault_ = simulator.Fault("", drsInvalid("list", "%s is neither a virtual machine nor a resource pool", ref))
			return body
		}
	}

	for _, ref := range req.List {
		switch ref.Type {
		case "VirtualMachine":
			vm := simVM(simulator.Map.Get(ref))
			from := simPool(simulator.Map.Get(*vm.ResourcePool))
			if from.Self == target.Self {
				continue
			}
			// Add/RemoveReference take the object's lock themselves.
			simulator.Map.RemoveReference(from, &from.Vm, ref)
			simulator.Map.AddReference(target, &target.Vm, ref)
			self := target.Self
			simulator.Map.WithLock(vm, func() { vm.ResourcePool = &self })
		case "ResourcePool":
			pool := simPool(simulator.Map.Get(ref))
			from := simPool(simulator.Map.Get(*pool.Parent))
			if from.Self == target.Self {
				continue
			}
			simulator.Map.RemoveReference(from, &from.ResourcePool.ResourcePool, ref)
			simulator.Map.AddReference(target, &target.ResourcePool.ResourcePool, ref)
			self := target.Self
			simulator.Map.WithLock(pool, func() { pool.Parent = &self })
		}
	}
	body.Res = &types.MoveIntoResourcePoolResponse{}
	return body
}

// ---------------------------------------------------------------------------
// Clusters: ReconfigureComputeResource_Task.

func reconfigureCluster(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.ReconfigureComputeResource_Task)
	c := simCluster(simulator.Map.Get(call.Method.This))
	spec, isEx := req.Spec.(*types.ClusterConfigSpecEx)
	if c == nil || !isEx || !req.Modify || len(spec.DasVmConfigSpec) > 0 || len(spec.DrsVmConfigSpec) > 0 {
		// Replacing the whole configuration, and VM overrides: the stock behaviour.
		var res soap.HasFault
		simulator.Map.WithLock(c, func() { res = c.ReconfigureComputeResourceTask(req) })
		return res
	}
	task := simulator.CreateTask(c, "reconfigureCluster", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		var fault types.BaseMethodFault
		simulator.Map.WithLock(c, func() { fault = applyClusterSpec(c, spec) })
		return nil, fault
	})
	return &methods.ReconfigureComputeResource_TaskBody{
		Res: &types.ReconfigureComputeResource_TaskResponse{Returnval: task.Run()},
	}
}

// applyClusterSpec applies an incremental spec to a copy of the cluster's
// configuration and keeps it only when every part is valid.
func applyClusterSpec(c *simulator.ClusterComputeResource, spec *types.ClusterConfigSpecEx) types.BaseMethodFault {
	cfg, ok := c.ConfigurationEx.(*types.ClusterConfigInfoEx)
	if !ok {
		return drsInvalid("spec", "cluster %s has no configuration", c.Name)
	}
	next := *cfg
	next.Rule = append([]types.BaseClusterRuleInfo(nil), cfg.Rule...)
	next.Group = append([]types.BaseClusterGroupInfo(nil), cfg.Group...)

	if d := spec.DrsConfig; d != nil {
		if d.VmotionRate != 0 && (d.VmotionRate < 1 || d.VmotionRate > 5) {
			return drsInvalid("drsConfig.vmotionRate", "vmotionRate %d is out of range (1 to 5)", d.VmotionRate)
		}
		switch types.DrsBehavior(d.DefaultVmBehavior) {
		case "", types.DrsBehaviorManual, types.DrsBehaviorPartiallyAutomated, types.DrsBehaviorFullyAutomated:
		default:
			return drsInvalid("drsConfig.defaultVmBehavior", "unknown DRS behavior %q", d.DefaultVmBehavior)
		}
		if d.Enabled != nil {
			next.DrsConfig.Enabled = types.NewBool(*d.Enabled)
		}
		if d.EnableVmBehaviorOverrides != nil {
			next.DrsConfig.EnableVmBehaviorOverrides = types.NewBool(*d.EnableVmBehaviorOverrides)
		}
		if d.DefaultVmBehavior != "" {
			next.DrsConfig.DefaultVmBehavior = d.DefaultVmBehavior
		}
		if d.VmotionRate != 0 {
			next.DrsConfig.VmotionRate = d.VmotionRate
		}
	}
	if d := spec.DasConfig; d != nil {
		if d.Enabled != nil {
			next.DasConfig.Enabled = types.NewBool(*d.Enabled)
		}
		if d.AdmissionControlEnabled != nil {
			next.DasConfig.AdmissionControlEnabled = types.NewBool(*d.AdmissionControlEnabled)
		}
		if d.HostMonitoring != "" {
			next.DasConfig.HostMonitoring = d.HostMonitoring
		}
	}

	// Groups are added and edited before rules (a rule may name a new group)
	// and removed after them.
	for _, gs := range spec.GroupSpec {
		if gs.Operation == types.ArrayUpdateOperationRemove {
			continue
		}
		if err := updateGroup(c, &next, gs); err != nil {
			return err
		}
	}
	for _, rs := range spec.RulesSpec {
		if err := updateRule(c, &next, rs); err != nil {
			return err
		}
	}
	for _, gs := range spec.GroupSpec {
		if gs.Operation != types.ArrayUpdateOperationRemove {
			continue
		}
		if err := updateGroup(c, &next, gs); err != nil {
			return err
		}
	}
	*cfg = next
	return nil
}

// clusterVM: the VM runs on a host of the cluster (or sits in one of its pools).
func clusterVM(c *simulator.ClusterComputeResource, ref types.ManagedObjectReference) bool {
	vm := simVM(simulator.Map.Get(ref))
	if vm == nil {
		return false
	}
	if vm.Runtime.Host != nil {
		for _, h := range c.Host {
			if h == *vm.Runtime.Host {
				return true
			}
		}
	}
	if vm.ResourcePool != nil {
		if p := simPool(simulator.Map.Get(*vm.ResourcePool)); p != nil && p.Owner == c.Self {
			return true
		}
	}
	return false
}

func clusterHost(c *simulator.ClusterComputeResource, ref types.ManagedObjectReference) bool {
	for _, h := range c.Host {
		if h == ref {
			return true
		}
	}
	return false
}

func findGroup(cfg *types.ClusterConfigInfoEx, name string) (int, types.BaseClusterGroupInfo) {
	for i, g := range cfg.Group {
		if g.GetClusterGroupInfo().Name == name {
			return i, g
		}
	}
	return -1, nil
}

func updateGroup(c *simulator.ClusterComputeResource, cfg *types.ClusterConfigInfoEx, gs types.ClusterGroupSpec) types.BaseMethodFault {
	if gs.Operation == types.ArrayUpdateOperationRemove {
		name, _ := gs.RemoveKey.(string)
		i, _ := findGroup(cfg, name)
		if i < 0 {
			return drsInvalid("groupSpec.removeKey", "cluster %s has no group %q", c.Name, name)
		}
		cfg.Group = append(cfg.Group[:i], cfg.Group[i+1:]...)
		return nil
	}
	if gs.Info == nil {
		return drsInvalid("groupSpec.info", "a group spec needs info")
	}
	info := gs.Info.GetClusterGroupInfo()
	if info.Name == "" {
		return drsInvalid("groupSpec.info.name", "a group needs a name")
	}
	switch g := gs.Info.(type) {
	case *types.ClusterVmGroup:
		for _, ref := range g.Vm {
			if !clusterVM(c, ref) {
				return drsInvalid("groupSpec.info.vm", "%s is not a virtual machine of cluster %s", ref.Value, c.Name)
			}
		}
	case *types.ClusterHostGroup:
		for _, ref := range g.Host {
			if !clusterHost(c, ref) {
				return drsInvalid("groupSpec.info.host", "%s is not a host of cluster %s", ref.Value, c.Name)
			}
		}
	default:
		return drsInvalid("groupSpec.info", "unsupported group type %T", gs.Info)
	}
	if info.UserCreated == nil {
		info.UserCreated = types.NewBool(true)
	}
	i, old := findGroup(cfg, info.Name)
	switch gs.Operation {
	case types.ArrayUpdateOperationAdd:
		if old != nil {
			return drsInvalid("groupSpec.info.name", "cluster %s already has a group %q", c.Name, info.Name)
		}
		cfg.Group = append(cfg.Group, gs.Info)
	case types.ArrayUpdateOperationEdit:
		if old == nil {
			return drsInvalid("groupSpec.info.name", "cluster %s has no group %q", c.Name, info.Name)
		}
		if fmt.Sprintf("%T", old) != fmt.Sprintf("%T", gs.Info) {
			return drsInvalid("groupSpec.info", "group %q cannot change its type", info.Name)
		}
		cfg.Group[i] = gs.Info
	default:
		return drsInvalid("groupSpec.operation", "unknown operation %q", gs.Operation)
	}
	return nil
}

func findRule(cfg *types.ClusterConfigInfoEx, key int32) (int, types.BaseClusterRuleInfo) {
	for i, r := range cfg.Rule {
		if r.GetClusterRuleInfo().Key == key {
			return i, r
		}
	}
	return -1, nil
}

func ruleKeyOf(v types.AnyType) (int32, bool) {
	switch k := v.(type) {
	case int32:
		return k, true
	case int64:
		return int32(k), true
	case int:
		return int32(k), true
	}
	return 0, false
}

// checkRule applies vCenter's checks on what a rule names.
func checkRule(c *simulator.ClusterComputeResource, cfg *types.ClusterConfigInfoEx, rule types.BaseClusterRuleInfo) types.BaseMethodFault {
	info := rule.GetClusterRuleInfo()
	if info.Name == "" {
		return drsInvalid("rulesSpec.info.name", "a rule needs a name")
	}
	vms := func(list []types.ManagedObjectReference) types.BaseMethodFault {
		if len(list) < 2 {
			return drsInvalid("rulesSpec.info.vm", "rule %q needs at least two virtual machines", info.Name)
		}
		for _, ref := range list {
			if !clusterVM(c, ref) {
				return drsInvalid("rulesSpec.info.vm", "%s is not a virtual machine of cluster %s", ref.Value, c.Name)
			}
		}
		return nil
	}
	switch r := rule.(type) {
	case *types.ClusterAffinityRuleSpec:
		return vms(r.Vm)
	case *types.ClusterAntiAffinityRuleSpec:
		return vms(r.Vm)
	case *types.ClusterVmHostRuleInfo:
		if _, g := findGroup(cfg, r.VmGroupName); g == nil {
			return drsInvalid("rulesSpec.info.vmGroupName", "cluster %s has no VM group %q", c.Name, r.VmGroupName)
		} else if _, ok := g.(*types.ClusterVmGroup); !ok {
			return drsInvalid("rulesSpec.info.vmGroupName", "%q is not a VM group", r.VmGroupName)
		}
		hostGroup := r.AffineHostGroupName
		if (r.AffineHostGroupName == "") == (r.AntiAffineHostGroupName == "") {
			return drsInvalid("rulesSpec.info", "rule %q needs exactly one of affineHostGroupName and antiAffineHostGroupName", info.Name)
		}
		if hostGroup == "" {
			hostGroup = r.AntiAffineHostGroupName
		}
		if _, g := findGroup(cfg, hostGroup); g == nil {
			return drsInvalid("rulesSpec.info", "cluster %s has no host group %q", c.Name, hostGroup)
		} else if _, ok := g.(*types.ClusterHostGroup); !ok {
			return drsInvalid("rulesSpec.info", "%q is not a host group", hostGroup)
		}
	default:
		return drsInvalid("rulesSpec.info", "unsupported rule type %T", rule)
	}
	return nil
}

func nextRuleKey(cfg *types.ClusterConfigInfoEx) int32 {
	keys := []int{0}
	for _, r := range cfg.Rule {
		keys = append(keys, int(r.GetClusterRuleInfo().Key))
	}
	sort.Ints(keys)
	return int32(keys[len(keys)-1] + 1)
}

func updateRule(c *simulator.ClusterComputeResource, cfg *types.ClusterConfigInfoEx, rs types.ClusterRuleSpec) types.BaseMethodFault {
	if rs.Operation == types.ArrayUpdateOperationRemove {
		key, ok := ruleKeyOf(rs.RemoveKey)
		i, _ := findRule(cfg, key)
		if !ok || i < 0 {
			return drsInvalid("rulesSpec.removeKey", "cluster %s has no rule with key %v", c.Name, rs.RemoveKey)
		}
		cfg.Rule = append(cfg.Rule[:i], cfg.Rule[i+1:]...)
		return nil
	}
	if rs.Info == nil {
		return drsInvalid("rulesSpec.info", "a rule spec needs info")
	}
	if err := checkRule(c, cfg, rs.Info); err != nil {
		return err
	}
	info := rs.Info.GetClusterRuleInfo()
	if info.Enabled == nil {
		info.Enabled = types.NewBool(false)
	}
	if info.Mandatory == nil {
		info.Mandatory = types.NewBool(false)
	}
	info.Status = types.ManagedEntityStatusGreen
	switch rs.Operation {
	case types.ArrayUpdateOperationAdd:
		for _, r := range cfg.Rule {
			if r.GetClusterRuleInfo().Name == info.Name {
				return drsInvalid("rulesSpec.info.name", "cluster %s already has a rule %q", c.Name, info.Name)
			}
		}
		info.Key = nextRuleKey(cfg)
		info.RuleUuid = uuid.New().String()
		info.UserCreated = types.NewBool(true)
		cfg.Rule = append(cfg.Rule, rs.Info)
	case types.ArrayUpdateOperationEdit:
		i, old := findRule(cfg, info.Key)
		if old == nil {
			return drsInvalid("rulesSpec.info.key", "cluster %s has no rule with key %d", c.Name, info.Key)
		}
		if fmt.Sprintf("%T", old) != fmt.Sprintf("%T", rs.Info) {
			return drsInvalid("rulesSpec.info", "rule %q cannot change its type", info.Name)
		}
		prev := old.GetClusterRuleInfo()
		info.RuleUuid = prev.RuleUuid
		info.UserCreated = prev.UserCreated
		cfg.Rule[i] = rs.Info
	default:
		return drsInvalid("rulesSpec.operation", "unknown operation %q", rs.Operation)
	}
	return nil
}
