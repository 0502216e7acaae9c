// Host networking for the simulator, as ESXi and vCenter do it: standard
// vSwitches and port groups per host (the same port group name on several
// hosts is one Network entity of the datacenter, as vCenter shows it),
// AddPortGroup/UpdatePortGroup/RemovePortGroup and Add/Update/RemoveVirtualSwitch
// with policies and the checks ESXi makes, DVS host membership with uplinks,
// configVersion on DV port group and DVS reconfiguration, and a failure knob
// that makes one host's network changes fail (to prove a client's rollback).
// See "Networking extension" in README.md.
//
// How it hooks in: the methods are answered at the SOAP layer (interceptSOAP,
// soap.go); the simulator still checks the session and that the object exists.
// HostSystem.config.network and HostNetworkSystem.networkInfo are one object
// (on ESXi they are two views of the same state).
package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var networkFail = flag.String("network-fail", "",
	"make HostNetworkSystem changes of these hosts fail with HostConfigFault: HOST[:N],... (from the host's Nth change on; N defaults to 1)")

// extraPnics are the physical NICs every host gets besides the template's vmnic0
// (a real server has several; uplink and teaming tests need them).
var extraPnics = []string{"vmnic1", "vmnic2", "vmnic3"}

func init() {
	extensions = append(extensions, installNetwork)
	for _, m := range []string{"AddVirtualSwitch", "UpdateVirtualSwitch", "RemoveVirtualSwitch",
		"AddPortGroup", "UpdatePortGroup", "RemovePortGroup"} {
		method := m
		interceptSOAP("HostNetworkSystem", method, func(call *soapCall) soap.HasFault {
			return networkChange(call, method)
		})
	}
	interceptSOAP("DistributedVirtualPortgroup", "ReconfigureDVPortgroup_Task", reconfigureDVPortgroup)
	interceptSOAP("Folder", "CreateDVS_Task", createDVS)
	for _, t := range []string{"DistributedVirtualSwitch", "VmwareDistributedVirtualSwitch"} {
		interceptSOAP(t, "AddDVPortgroup_Task", addDVPortgroup)
	}
	for _, t := range []string{"DistributedVirtualSwitch", "VmwareDistributedVirtualSwitch"} {
		interceptSOAP(t, "ReconfigureDvs_Task", reconfigureDvs)
	}
}

// netMu serialises every change this extension makes.
var netMu sync.Mutex

// failAt: host name -> first failing change (1-based); changes: host -> count.
var (
	failAt  = map[string]int{}
	changes = map[string]int{}
)

func installNetwork(m *simulator.Model) {
	for _, item := range strings.Split(*networkFail, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, n := item, 1
		if i := strings.LastIndexByte(item, ':'); i > 0 {
			v, err := strconv.Atoi(item[i+1:])
			if err != nil || v < 1 {
				fatalf("-network-fail: %q is not HOST[:N]", item)
			}
			name, n = item[:i], v
		}
		failAt[name] = n
	}
	for _, e := range simulator.Map.All("HostSystem") {
		if h := simHost(e); h != nil {
			installNetworkHost(h)
		}
	}
	for _, e := range simulator.Map.All("DistributedVirtualSwitch") {
		if s, ok := e.(*simulator.DistributedVirtualSwitch); ok {
			installDVS(s)
		}
	}
	for _, e := range simulator.Map.All("DistributedVirtualPortgroup") {
		if pg, ok := e.(*simulator.DistributedVirtualPortgroup); ok && pg.Config.ConfigVersion == "" {
			pg.Config.ConfigVersion = "0"
		}
	}
}

// installNetworkHost makes config.network the host's one network state, gives
// it more physical NICs, and registers its port groups with the datacenter's
// Network entities.
func installNetworkHost(h *simulator.HostSystem) {
	if h.Config == nil || h.Config.Network == nil || h.ConfigManager.NetworkSystem == nil {
		return
	}
	info := h.Config.Network
	if len(info.Pnic) > 0 {
		base := info.Pnic[0]
		for i, dev := range extraPnics {
			if findPnic(info, dev) != nil {
				continue
			}
			p := deepCopy(base).(types.PhysicalNic)
			p.Key = "key-vim.host.PhysicalNic-" + dev
			p.Device = dev
			p.Pci = fmt.Sprintf("0000:0b:%02x.0", i+1)
			p.Mac = fmt.Sprintf("00:0c:29:81:d8:%02x", 0xa1+i)
			p.FcoeConfiguration = nil
			info.Pnic = append(info.Pnic, p)
		}
	}
	if ns, ok := simulator.Map.Get(*h.ConfigManager.NetworkSystem).(*simulator.HostNetworkSystem); ok {
		simulator.Map.WithLock(ns, func() { ns.NetworkInfo = info })
	}
	for i := range info.Portgroup {
		recompute(info, &info.Portgroup[i])
		joinNetwork(h, info.Portgroup[i].Spec.Name)
	}
}

func findPnic(info *types.HostNetworkInfo, device string) *types.PhysicalNic {
	for i := range info.Pnic {
		if info.Pnic[i].Device == device {
			return &info.Pnic[i]
		}
	}
	return nil
}

func findVswitch(info *types.HostNetworkInfo, name string) *types.HostVirtualSwitch {
	for i := range info.Vswitch {
		if info.Vswitch[i].Name == name {
			return &info.Vswitch[i]
		}
	}
	return nil
}

func findPortgroup(info *types.HostNetworkInfo, name string) int {
	for i := range info.Portgroup {
		if info.Portgroup[i].Spec.Name == name {
			return i
		}
	}
	return -1
}

// hostOfNetworkSystem finds the host whose configManager.networkSystem is ref.
func hostOfNetworkSystem(ref types.ManagedObjectReference) *simulator.HostSystem {
	for _, e := range simulator.Map.All("HostSystem") {
		h := simHost(e)
		if h != nil && h.ConfigManager.NetworkSystem != nil && *h.ConfigManager.NetworkSystem == ref {
			return h
		}
	}
	return nil
}

func datacenterOf(e mo.Entity) *simulator.Datacenter {
	for i := 0; i < 32 && e != nil; i++ {
		if dc, ok := e.(*simulator.Datacenter); ok {
			return dc
		}
		parent := e.Entity().Parent
		if parent == nil {
			return nil
		}
		next, ok := simulator.Map.Get(*parent).(mo.Entity)
		if !ok {
			return nil
		}
		e = next
	}
	return nil
}

// standardNetwork is the datacenter's Network entity called name (not a DV
// port group or opaque network), or nil.
func standardNetwork(dc *simulator.Datacenter, name string) *mo.Network {
	for _, ref := range dc.Network {
		if ref.Type != "Network" {
			continue
		}
		if n, ok := simulator.Map.Get(ref).(*mo.Network); ok && n.Name == name {
			return n
		}
	}
	return nil
}

// joinNetwork adds the host to the Network entity of that name, creating it
// (vCenter shows one Network per port group name in a datacenter).
func joinNetwork(h *simulator.HostSystem, name string) {
	dc := datacenterOf(h)
	if dc == nil {
		return
	}
	n := standardNetwork(dc, name)
	if n == nil {
		folder, ok := simulator.Map.Get(dc.NetworkFolder).(*simulator.Folder)
		if !ok {
			return
		}
		n = &mo.Network{}
		n.Name = name
		if simulator.Map.IsESX() {
			n.Self = types.ManagedObjectReference{Type: "Network", Value: "HaNetwork-" + name}
		} else {
			id := atomic.AddInt64(&standardNetworks, 1)
			n.Self = types.ManagedObjectReference{Type: "Network", Value: fmt.Sprintf("network-std-%d", id)}
		}
		simulator.Map.WithLock(folder, func() {
			// The folder holds it before the registry announces it, as the simulator's
			// own folderPutChild does: ContainerViews check where a new object is.
			folder.ChildEntity = append(folder.ChildEntity, n.Self)
			simulator.Map.PutEntity(folder, n)
		})
		simulator.Map.AddReference(dc, &dc.Network, n.Self)
		n.Summary = &types.NetworkSummary{Network: &n.Self, Name: name, Accessible: true}
	}
	simulator.Map.AddReference(n, &n.Host, h.Self)
	simulator.Map.AddReference(h, &h.Network, n.Self)
}

// standardNetworks numbers the Networks made for host port groups on vCenter.
var standardNetworks int64

// leaveNetwork removes the host from the Network of that name; a Network no
// host has and no VM uses goes away.
func leaveNetwork(h *simulator.HostSystem, name string) {
	dc := datacenterOf(h)
	if dc == nil {
		return
	}
	n := standardNetwork(dc, name)
	if n == nil {
		return
	}
	simulator.Map.RemoveReference(n, &n.Host, h.Self)
	simulator.Map.RemoveReference(h, &h.Network, n.Self)
	if len(n.Host) == 0 && len(n.Vm) == 0 {
		if folder, ok := simulator.Map.Get(dc.NetworkFolder).(*simulator.Folder); ok {
			simulator.Map.WithLock(folder, func() {
				simulator.RemoveReference(&folder.ChildEntity, n.Self)
			})
		}
		simulator.Map.RemoveReference(dc, &dc.Network, n.Self)
		simulator.Map.Remove(n.Self)
	}
}

// recompute fills a port group's key, vswitch key and computedPolicy (its own
// policy over its vSwitch's, field by field, as ESXi computes it).
func recompute(info *types.HostNetworkInfo, pg *types.HostPortGroup) {
	pg.Key = "key-vim.host.PortGroup-" + pg.Spec.Name
	var base types.HostNetworkPolicy
	if vs := findVswitch(info, pg.Spec.VswitchName); vs != nil {
		pg.Vswitch = vs.Key
		if vs.Spec.Policy != nil {
			base = *vs.Spec.Policy
		}
	}
	pg.ComputedPolicy = mergePolicy(base, pg.Spec.Policy)
}

func mergePolicy(base, over types.HostNetworkPolicy) types.HostNetworkPolicy {
	out := deepCopy(base).(types.HostNetworkPolicy)
	if s := over.Security; s != nil {
		if out.Security == nil {
			out.Security = &types.HostNetworkSecurityPolicy{}
		}
		if s.AllowPromiscuous != nil {
			out.Security.AllowPromiscuous = s.AllowPromiscuous
		}
		if s.MacChanges != nil {
			out.Security.MacChanges = s.MacChanges
		}
		if s.ForgedTransmits != nil {
			out.Security.ForgedTransmits = s.ForgedTransmits
		}
	}
	if t := over.NicTeaming; t != nil {
		if out.NicTeaming == nil {
			out.NicTeaming = &types.HostNicTeamingPolicy{}
		}
		if t.Policy != "" {
			out.NicTeaming.Policy = t.Policy
		}
		if t.ReversePolicy != nil {
			out.NicTeaming.ReversePolicy = t.ReversePolicy
		}
		if t.NotifySwitches != nil {
			out.NicTeaming.NotifySwitches = t.NotifySwitches
		}
		if t.RollingOrder != nil {
			out.NicTeaming.RollingOrder = t.RollingOrder
		}
		if t.FailureCriteria != nil {
			out.NicTeaming.FailureCriteria = t.FailureCriteria
		}
		if t.NicOrder != nil {
			out.NicTeaming.NicOrder = t.NicOrder
		}
	}
	if over.ShapingPolicy != nil && over.ShapingPolicy.Enabled != nil {
		out.ShapingPolicy = over.ShapingPolicy
	}
	if over.OffloadPolicy != nil {
		out.OffloadPolicy = over.OffloadPolicy
	}
	return out
}

func invalidArg(property, format string, args ...interface{}) *soap.Fault {
	f := &types.InvalidArgument{InvalidProperty: property}
	msg := fmt.Sprintf(format, args...)
	f.FaultMessage = localized("vcsim.network.invalid", "%s", msg)
	return soapFaultf(f, "%s", msg)
}

func networkFault(fault types.BaseMethodFault, format string, args ...interface{}) *soap.Fault {
	msg := fmt.Sprintf(format, args...)
	if f, ok := fault.(interface {
		GetMethodFault() *types.MethodFault
	}); ok {
		f.GetMethodFault().FaultMessage = localized("vcsim.network.fault", "%s", msg)
	}
	return soapFaultf(fault, "%s", msg)
}

// checkPolicy makes the checks ESXi makes on a port group or vSwitch policy.
func checkPolicy(p *types.HostNetworkPolicy, uplinks []string, prefix string) *soap.Fault {
	if p == nil {
		return nil
	}
	if t := p.NicTeaming; t != nil {
		switch t.Policy {
		case "", "loadbalance_ip", "loadbalance_srcmac", "loadbalance_srcid", "failover_explicit":
		default:
			return invalidArg(prefix+".nicTeaming.policy", "unknown teaming policy %q", t.Policy)
		}
		if t.NicOrder != nil {
			seen := map[string]bool{}
			for _, nic := range append(append([]string{}, t.NicOrder.ActiveNic...), t.NicOrder.StandbyNic...) {
				if seen[nic] {
					return invalidArg(prefix+".nicTeaming.nicOrder", "%s is listed twice in the NIC order", nic)
				}
				seen[nic] = true
				if !contains(uplinks, nic) {
					return invalidArg(prefix+".nicTeaming.nicOrder", "%s is not an uplink of the virtual switch", nic)
				}
			}
		}
	}
	if s := p.ShapingPolicy; s != nil && s.Enabled != nil && *s.Enabled {
		if s.AverageBandwidth <= 0 || s.PeakBandwidth < s.AverageBandwidth {
			return invalidArg(prefix+".shapingPolicy", "traffic shaping needs 0 < average bandwidth <= peak bandwidth")
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func bridgeNics(spec *types.HostVirtualSwitchSpec) []string {
	if spec == nil || spec.Bridge == nil {
		return nil
	}
	if b, ok := spec.Bridge.(*types.HostVirtualSwitchBondBridge); ok {
		return b.NicDevice
	}
	return nil
}

// networkChange answers a HostNetworkSystem change method.
func networkChange(call *soapCall, method string) soap.HasFault {
	netMu.Lock()
	defer netMu.Unlock()
	h := hostOfNetworkSystem(call.Method.This)
	var fault *soap.Fault
	if h == nil || h.Config == nil || h.Config.Network == nil {
		fault = networkFault(&types.HostConfigFault{}, "the host of %s has no network configuration", call.Method.This.Value)
	} else {
		changes[h.Name]++
		if n, ok := failAt[h.Name]; ok && changes[h.Name] >= n {
			// What hostd answers when it cannot apply a network change.
			fault = networkFault(&types.HostConfigFault{}, "A general system error occurred: the network configuration of host %s could not be changed (injected by -network-fail)", h.Name)
		} else {
			fault = applyNetworkChange(h, call.Method.Body)
		}
	}
	switch method {
	case "AddVirtualSwitch":
		return &methods.AddVirtualSwitchBody{Res: okOr(fault, &types.AddVirtualSwitchResponse{}), Fault_: fault}
	case "UpdateVirtualSwitch":
		return &methods.UpdateVirtualSwitchBody{Res: okOr(fault, &types.UpdateVirtualSwitchResponse{}), Fault_: fault}
	case "RemoveVirtualSwitch":
		return &methods.RemoveVirtualSwitchBody{Res: okOr(fault, &types.RemoveVirtualSwitchResponse{}), Fault_: fault}
	case "AddPortGroup":
		return &methods.AddPortGroupBody{Res: okOr(fault, &types.AddPortGroupResponse{}), Fault_: fault}
	case "UpdatePortGroup":
		return &methods.UpdatePortGroupBody{Res: okOr(fault, &types.UpdatePortGroupResponse{}), Fault_: fault}
	default:
		return &methods.RemovePortGroupBody{Res: okOr(fault, &types.RemovePortGroupResponse{}), Fault_: fault}
	}
}

func okOr[T any](fault *soap.Fault, res *T) *T {
	if fault != nil {
		return nil
	}
	return res
}

func applyNetworkChange(h *simulator.HostSystem, body interface{}) *soap.Fault {
	info := h.Config.Network
	var fault *soap.Fault
	switch req := body.(type) {
	case *types.AddVirtualSwitch:
		fault = addVswitch(h, info, req.VswitchName, req.Spec)
	case *types.UpdateVirtualSwitch:
		fault = updateVswitch(info, req.VswitchName, &req.Spec)
	case *types.RemoveVirtualSwitch:
		fault = removeVswitch(h, info, req.VswitchName)
	case *types.AddPortGroup:
		fault = addPortgroup(h, info, req.Portgrp)
	case *types.UpdatePortGroup:
		fault = updatePortgroup(h, info, req.PgName, req.Portgrp)
	case *types.RemovePortGroup:
		fault = removePortgroup(h, info, req.PgName)
	default:
		fault = networkFault(&types.NotSupported{}, "unsupported request %T", body)
	}
	if fault == nil {
		simulator.Map.WithLock(h, func() {
			simulator.Map.Update(h, []types.PropertyChange{{Name: "config.network", Val: info}})
		})
	}
	return fault
}

// checkUplinks: the NICs exist on the host and no other vSwitch uses them.
func checkUplinks(info *types.HostNetworkInfo, self string, nics []string) *soap.Fault {
	for _, nic := range nics {
		if findPnic(info, nic) == nil {
			return networkFault(&types.NotFound{}, "physical NIC %s does not exist on this host", nic)
		}
		for _, vs := range info.Vswitch {
			if vs.Name != self && contains(bridgeNics(&vs.Spec), nic) {
				return networkFault(&types.ResourceInUse{Type: "PhysicalNic", Name: nic}, "physical NIC %s is already an uplink of %s", nic, vs.Name)
			}
		}
	}
	return nil
}

func setVswitchSpec(info *types.HostNetworkInfo, vs *types.HostVirtualSwitch, spec types.HostVirtualSwitchSpec) {
	vs.Spec = spec
	vs.Mtu = spec.Mtu
	if vs.Mtu == 0 {
		vs.Mtu = 1500
	}
	if spec.NumPorts > 0 {
		vs.NumPorts = spec.NumPorts
	}
	vs.Pnic = nil
	for _, nic := range bridgeNics(&spec) {
		vs.Pnic = append(vs.Pnic, "key-vim.host.PhysicalNic-"+nic)
	}
	for i := range info.Portgroup {
		if info.Portgroup[i].Spec.VswitchName == vs.Name {
			recompute(info, &info.Portgroup[i])
		}
	}
}

func checkVswitchSpec(info *types.HostNetworkInfo, name string, spec *types.HostVirtualSwitchSpec) *soap.Fault {
	if spec.Mtu != 0 && (spec.Mtu < 1280 || spec.Mtu > 9000) {
		return invalidArg("spec.mtu", "MTU %d is outside 1280-9000", spec.Mtu)
	}
	if spec.NumPorts < 0 || spec.NumPorts > 4088 {
		return invalidArg("spec.numPorts", "numPorts %d is outside 0-4088", spec.NumPorts)
	}
	nics := bridgeNics(spec)
	if f := checkUplinks(info, name, nics); f != nil {
		return f
	}
	return checkPolicy(spec.Policy, nics, "spec.policy")
}

func addVswitch(h *simulator.HostSystem, info *types.HostNetworkInfo, name string, spec *types.HostVirtualSwitchSpec) *soap.Fault {
	if name == "" || len(name) > 32 {
		return invalidArg("vswitchName", "a vSwitch name must have 1-32 characters")
	}
	if findVswitch(info, name) != nil {
		return networkFault(&types.AlreadyExists{Name: name}, "vSwitch %s already exists on %s", name, h.Name)
	}
	if spec == nil {
		spec = &types.HostVirtualSwitchSpec{NumPorts: 128}
	}
	if f := checkVswitchSpec(info, name, spec); f != nil {
		return f
	}
	info.Vswitch = append(info.Vswitch, types.HostVirtualSwitch{
		Name:     name,
		Key:      "key-vim.host.VirtualSwitch-" + name,
		NumPorts: 128,
	})
	vs := &info.Vswitch[len(info.Vswitch)-1]
	setVswitchSpec(info, vs, *spec)
	vs.NumPortsAvailable = vs.NumPorts
	return nil
}

func updateVswitch(info *types.HostNetworkInfo, name string, spec *types.HostVirtualSwitchSpec) *soap.Fault {
	vs := findVswitch(info, name)
	if vs == nil {
		return networkFault(&types.NotFound{}, "vSwitch %s does not exist", name)
	}
	if f := checkVswitchSpec(info, name, spec); f != nil {
		return f
	}
	// Port groups' explicit NIC order must stay within the uplinks.
	nics := bridgeNics(spec)
	for _, pg := range info.Portgroup {
		if pg.Spec.VswitchName != name || pg.Spec.Policy.NicTeaming == nil || pg.Spec.Policy.NicTeaming.NicOrder == nil {
			continue
		}
		o := pg.Spec.Policy.NicTeaming.NicOrder
		for _, nic := range append(append([]string{}, o.ActiveNic...), o.StandbyNic...) {
			if !contains(nics, nic) {
				return networkFault(&types.ResourceInUse{Type: "PhysicalNic", Name: nic}, "port group %s uses uplink %s", pg.Spec.Name, nic)
			}
		}
	}
	setVswitchSpec(info, vs, *spec)
	return nil
}

// portgroupUsers: VMs on this host with a NIC on the port group, and VMkernel NICs on it.
func portgroupUsers(h *simulator.HostSystem, info *types.HostNetworkInfo, name string) []string {
	var users []string
	for _, v := range info.Vnic {
		if v.Portgroup == name {
			users = append(users, "VMkernel NIC "+v.Device)
		}
	}
	dc := datacenterOf(h)
	if dc == nil {
		return users
	}
	n := standardNetwork(dc, name)
	if n == nil {
		return users
	}
	for _, vm := range vmsOnHost(h.Self) {
		for _, ref := range vm.Network {
			if ref == n.Self {
				users = append(users, "VM "+vm.Name)
			}
		}
	}
	sort.Strings(users)
	return users
}

func removeVswitch(h *simulator.HostSystem, info *types.HostNetworkInfo, name string) *soap.Fault {
	vs := findVswitch(info, name)
	if vs == nil {
		return networkFault(&types.NotFound{}, "vSwitch %s does not exist", name)
	}
	for _, pg := range info.Portgroup {
		if pg.Spec.VswitchName != name {
			continue
		}
		if users := portgroupUsers(h, info, pg.Spec.Name); len(users) > 0 {
			return networkFault(&types.ResourceInUse{Type: "Network", Name: pg.Spec.Name},
				"port group %s of %s is in use by %s", pg.Spec.Name, name, strings.Join(users, ", "))
		}
	}
	var keep []types.HostPortGroup
	for _, pg := range info.Portgroup {
		if pg.Spec.VswitchName == name {
			leaveNetwork(h, pg.Spec.Name)
			continue
		}
		keep = append(keep, pg)
	}
	info.Portgroup = keep
	for i := range info.Vswitch {
		if info.Vswitch[i].Name == name {
			info.Vswitch = append(info.Vswitch[:i], info.Vswitch[i+1:]...)
			break
		}
	}
	return nil
}

func checkPortgroupSpec(info *types.HostNetworkInfo, spec *types.HostPortGroupSpec) (*types.HostVirtualSwitch, *soap.Fault) {
	if spec.Name == "" {
		return nil, invalidArg("portgrp.name", "a port group needs a name")
	}
	if spec.VlanId < 0 || spec.VlanId > 4095 {
		return nil, invalidArg("portgrp.vlanId", "VLAN ID %d is outside 0-4095", spec.VlanId)
	}
	vs := findVswitch(info, spec.VswitchName)
	if vs == nil {
		return nil, networkFault(&types.NotFound{}, "vSwitch %s does not exist", spec.VswitchName)
	}
	return vs, checkPolicy(&spec.Policy, bridgeNics(&vs.Spec), "portgrp.policy")
}

func addPortgroup(h *simulator.HostSystem, info *types.HostNetworkInfo, spec types.HostPortGroupSpec) *soap.Fault {
	vs, fault := checkPortgroupSpec(info, &spec)
	if fault != nil {
		return fault
	}
	if findPortgroup(info, spec.Name) >= 0 {
		return networkFault(&types.AlreadyExists{Name: spec.Name}, "port group %s already exists on %s", spec.Name, h.Name)
	}
	pg := types.HostPortGroup{Spec: spec}
	recompute(info, &pg)
	info.Portgroup = append(info.Portgroup, pg)
	vs.Portgroup = append(vs.Portgroup, pg.Key)
	joinNetwork(h, spec.Name)
	return nil
}

func updatePortgroup(h *simulator.HostSystem, info *types.HostNetworkInfo, name string, spec types.HostPortGroupSpec) *soap.Fault {
	i := findPortgroup(info, name)
	if i < 0 {
		return networkFault(&types.NotFound{}, "port group %s does not exist on %s", name, h.Name)
	}
	if _, fault := checkPortgroupSpec(info, &spec); fault != nil {
		return fault
	}
	old := info.Portgroup[i]
	if spec.Name != name {
		if findPortgroup(info, spec.Name) >= 0 {
			return networkFault(&types.AlreadyExists{Name: spec.Name}, "port group %s already exists on %s", spec.Name, h.Name)
		}
		if users := portgroupUsers(h, info, name); len(users) > 0 {
			return networkFault(&types.ResourceInUse{Type: "Network", Name: name}, "port group %s is in use by %s", name, strings.Join(users, ", "))
		}
	}
	info.Portgroup[i].Spec = spec
	recompute(info, &info.Portgroup[i])
	if old.Spec.VswitchName != spec.VswitchName || old.Key != info.Portgroup[i].Key {
		if vs := findVswitch(info, old.Spec.VswitchName); vs != nil {
			vs.Portgroup = removeString(vs.Portgroup, old.Key)
		}
		if vs := findVswitch(info, spec.VswitchName); vs != nil {
			vs.Portgroup = append(vs.Portgroup, info.Portgroup[i].Key)
		}
	}
	if spec.Name != name {
		leaveNetwork(h, name)
		joinNetwork(h, spec.Name)
	}
	return nil
}

func removeString(list []string, s string) []string {
	var out []string
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

func removePortgroup(h *simulator.HostSystem, info *types.HostNetworkInfo, name string) *soap.Fault {
	i := findPortgroup(info, name)
	if i < 0 {
		return networkFault(&types.NotFound{}, "port group %s does not exist on %s", name, h.Name)
	}
	if users := portgroupUsers(h, info, name); len(users) > 0 {
		return networkFault(&types.ResourceInUse{Type: "Network", Name: name}, "port group %s is in use by %s", name, strings.Join(users, ", "))
	}
	pg := info.Portgroup[i]
	info.Portgroup = append(info.Portgroup[:i], info.Portgroup[i+1:]...)
	if vs := findVswitch(info, pg.Spec.VswitchName); vs != nil {
		vs.Portgroup = removeString(vs.Portgroup, pg.Key)
	}
	leaveNetwork(h, name)
	return nil
}

// ---------------------------------------------------------------------------
// Distributed switches.

// installDVS fills config.host (members and their uplinks) from the
// simulator's summary.hostMember, and starts configVersion at "1".
func installDVS(s *simulator.DistributedVirtualSwitch) {
	simulator.Map.WithLock(s, func() {
		cfg := s.Config.GetDVSConfigInfo()
		if cfg.ConfigVersion == "" {
			cfg.ConfigVersion = "1"
		}
		cfg.Host = nil
		for _, h := range s.Summary.HostMember {
			ref := h
			cfg.Host = append(cfg.Host, types.DistributedVirtualSwitchHostMember{
				Config: types.DistributedVirtualSwitchHostMemberConfigInfo{
					Host:    &ref,
					Backing: &types.DistributedVirtualSwitchHostMemberPnicBacking{},
				},
				Status: "up",
			})
		}
	})
}

func taskBody(this types.ManagedObjectReference, name string, run func() types.BaseMethodFault) types.ManagedObjectReference {
	task := simulator.CreateTask(this, name, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		netMu.Lock()
		defer netMu.Unlock()
		return nil, run()
	})
	return task.Run()
}

func concurrentAccess(what, current, sent string) types.BaseMethodFault {
	f := &types.ConcurrentAccess{}
	f.FaultMessage = localized("vcsim.network.configVersion",
		"Cannot complete operation due to concurrent modification by another operation: %s is at configVersion %q, the spec was for %q", what, current, sent)
	return f
}

func bumpVersion(v string) string {
	n, err := strconv.Atoi(v)
	if err != nil {
		n = 0
	}
	return strconv.Itoa(n + 1)
}

// reconfigureDVPortgroup checks configVersion as vCenter does, then lets the
// simulator reconfigure (which, like some vCenter versions, blanks what the
// spec omits), then moves configVersion on.
func reconfigureDVPortgroup(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.ReconfigureDVPortgroup_Task)
	pg, ok := simulator.Map.Get(call.Method.This).(*simulator.DistributedVirtualPortgroup)
	if !ok {
		return &methods.ReconfigureDVPortgroup_TaskBody{Fault_: networkFault(&types.ManagedObjectNotFound{Obj: call.Method.This}, "no such port group")}
	}
	ref := taskBody(call.Method.This, "reconfigureDvPortgroup", func() types.BaseMethodFault {
		current := pg.Config.ConfigVersion
		if current == "" {
			current = "0"
		}
		if req.Spec.ConfigVersion != current && !(pg.Config.ConfigVersion == "" && req.Spec.ConfigVersion == "") {
			return concurrentAccess("port group "+pg.Name, current, req.Spec.ConfigVersion)
		}
		if req.Spec.Name != "" && req.Spec.Name != pg.Name {
			dc := datacenterOf(pg)
			if dc != nil && simulator.Map.FindByName(req.Spec.Name, dc.Network) != nil {
				return &types.DuplicateName{Name: req.Spec.Name}
			}
		}
		var fault types.BaseMethodFault
		simulator.Map.WithLock(pg, func() {
			res := pg.ReconfigureDVPortgroupTask(req).(*methods.ReconfigureDVPortgroup_TaskBody)
			if t, ok := simulator.Map.Get(res.Res.Returnval).(*simulator.Task); ok && t.Info.Error != nil {
				fault = t.Info.Error.Fault
				return
			}
			name := pg.Name
			if req.Spec.Name != "" {
				name = req.Spec.Name
			}
			pg.Config.ConfigVersion = bumpVersion(current)
			pg.Config.Name = name
			simulator.Map.Update(pg, []types.PropertyChange{{Name: "name", Val: name}})
		})
		return fault
	})
	return &methods.ReconfigureDVPortgroup_TaskBody{Res: &types.ReconfigureDVPortgroup_TaskResponse{Returnval: ref}}
}

// createDVS lets the simulator create the switch, then keeps what it drops
// from a VMwareDVSConfigSpec (maxMtu) and starts configVersion at "0".
func createDVS(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.CreateDVS_Task)
	f, ok := simulator.Map.Get(call.Method.This).(*simulator.Folder)
	if !ok {
		return &methods.CreateDVS_TaskBody{Fault_: networkFault(&types.ManagedObjectNotFound{Obj: call.Method.This}, "no such folder")}
	}
	// Called as the simulator calls methods: with the folder locked and the context's
	// Caller set, so its own WithLock on the folder does not lock twice.
	this := call.Method.This
	ctx := &simulator.Context{Context: context.Background(), Map: simulator.Map, Caller: &this}
	var res soap.HasFault
	simulator.Map.WithLock(f, func() { res = f.CreateDVSTask(ctx, req) })
	name := req.Spec.ConfigSpec.GetDVSConfigSpec().Name
	if s, ok := simulator.Map.FindByName(name, f.ChildEntity).(*simulator.DistributedVirtualSwitch); ok {
		installDVS(s)
		simulator.Map.WithLock(s, func() {
			cfg := s.Config.GetDVSConfigInfo()
			cfg.ConfigVersion = "0"
			vspec, ok1 := req.Spec.ConfigSpec.(*types.VMwareDVSConfigSpec)
			vcfg, ok2 := s.Config.(*types.VMwareDVSConfigInfo)
			if ok1 && ok2 {
				vcfg.MaxMtu = vspec.MaxMtu
			}
		})
		for _, ref := range s.Portgroup {
			if pg, ok := simulator.Map.Get(ref).(*simulator.DistributedVirtualPortgroup); ok && pg.Config.ConfigVersion == "" {
				pg.Config.ConfigVersion = "0"
			}
		}
	}
	return res
}

// addDVPortgroup lets the simulator add the port groups, then gives them the
// configVersion vCenter starts a new port group at ("0").
func addDVPortgroup(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.AddDVPortgroup_Task)
	s, ok := simulator.Map.Get(call.Method.This).(*simulator.DistributedVirtualSwitch)
	if !ok {
		return &methods.AddDVPortgroup_TaskBody{Fault_: networkFault(&types.ManagedObjectNotFound{Obj: call.Method.This}, "no such switch")}
	}
	this := call.Method.This
	ctx := &simulator.Context{Context: context.Background(), Map: simulator.Map, Caller: &this}
	var res soap.HasFault
	simulator.Map.WithLock(s, func() { res = s.AddDVPortgroupTask(ctx, req) })
	for _, ref := range s.Portgroup {
		if pg, ok := simulator.Map.Get(ref).(*simulator.DistributedVirtualPortgroup); ok && pg.Config.ConfigVersion == "" {
			pg.Config.ConfigVersion = "0"
		}
	}
	return res
}

// reconfigureDvs: host membership with uplinks (add, edit, remove), name,
// defaults and MTU, checked against configVersion.
func reconfigureDvs(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.ReconfigureDvs_Task)
	s, ok := simulator.Map.Get(call.Method.This).(*simulator.DistributedVirtualSwitch)
	if !ok {
		return &methods.ReconfigureDvs_TaskBody{Fault_: networkFault(&types.ManagedObjectNotFound{Obj: call.Method.This}, "no such switch")}
	}
	ref := taskBody(call.Method.This, "reconfigureDvs", func() types.BaseMethodFault {
		var fault types.BaseMethodFault
		simulator.Map.WithLock(s, func() { fault = applyDvsSpec(s, req.Spec) })
		return fault
	})
	return &methods.ReconfigureDvs_TaskBody{Res: &types.ReconfigureDvs_TaskResponse{Returnval: ref}}
}

func pnicDevices(b types.BaseDistributedVirtualSwitchHostMemberBacking) []string {
	var out []string
	if p, ok := b.(*types.DistributedVirtualSwitchHostMemberPnicBacking); ok {
		for _, spec := range p.PnicSpec {
			out = append(out, spec.PnicDevice)
		}
	}
	return out
}

func applyDvsSpec(s *simulator.DistributedVirtualSwitch, base types.BaseDVSConfigSpec) types.BaseMethodFault {
	spec := base.GetDVSConfigSpec()
	cfg := s.Config.GetDVSConfigInfo()
	current := cfg.ConfigVersion
	if current == "" {
		current = "0"
	}
	// A switch created by the simulator's CreateDVS_Task starts without a version.
	if spec.ConfigVersion != current && !(cfg.ConfigVersion == "" && spec.ConfigVersion == "") {
		return concurrentAccess("switch "+s.Name, current, spec.ConfigVersion)
	}
	members := append([]types.DistributedVirtualSwitchHostMember{}, cfg.Host...)
	memberIndex := func(h types.ManagedObjectReference) int {
		for i, m := range members {
			if m.Config.Host != nil && *m.Config.Host == h {
				return i
			}
		}
		return -1
	}
	// Validate everything first: on any fault nothing changes.
	for _, m := range spec.Host {
		h := getHost(m.Host)
		if h == nil {
			return &types.ManagedObjectNotFound{Obj: m.Host}
		}
		i := memberIndex(m.Host)
		switch types.ConfigSpecOperation(m.Operation) {
		case types.ConfigSpecOperationAdd, types.ConfigSpecOperationEdit:
			if m.Operation == string(types.ConfigSpecOperationAdd) && i >= 0 {
				f := &types.AlreadyExists{Name: h.Name}
				f.FaultMessage = localized("vcsim.dvs.member", "host %s is already a member of %s", h.Name, s.Name)
				return f
			}
			if m.Operation == string(types.ConfigSpecOperationEdit) && i < 0 {
				f := &types.NotFound{}
				f.FaultMessage = localized("vcsim.dvs.member", "host %s is not a member of %s", h.Name, s.Name)
				return f
			}
			for _, nic := range pnicDevices(m.Backing) {
				if findPnic(h.Config.Network, nic) == nil {
					f := &types.NotFound{}
					f.FaultMessage = localized("vcsim.dvs.pnic", "physical NIC %s does not exist on %s", nic, h.Name)
					return f
				}
				for _, vs := range h.Config.Network.Vswitch {
					if contains(bridgeNics(&vs.Spec), nic) {
						f := &types.ResourceInUse{Type: "PhysicalNic", Name: nic}
						f.FaultMessage = localized("vcsim.dvs.pnic", "physical NIC %s of %s is an uplink of standard switch %s", nic, h.Name, vs.Name)
						return f
					}
				}
			}
		case types.ConfigSpecOperationRemove:
			if i < 0 {
				f := &types.NotFound{}
				f.FaultMessage = localized("vcsim.dvs.member", "host %s is not a member of %s", h.Name, s.Name)
				return f
			}
			for _, vm := range vmsOnHost(m.Host) {
				for _, n := range vm.Network {
					if simulator.FindReference(s.Portgroup, n) != nil {
						f := &types.ResourceInUse{Type: n.Type, Name: n.Value}
						f.FaultMessage = localized("vcsim.dvs.inUse", "VM %s on %s is connected to a port group of %s", vm.Name, h.Name, s.Name)
						return f
					}
				}
			}
		default:
			return &types.InvalidArgument{InvalidProperty: "host.operation"}
		}
	}
	for _, m := range spec.Host {
		h := getHost(m.Host)
		ref := m.Host
		switch types.ConfigSpecOperation(m.Operation) {
		case types.ConfigSpecOperationAdd:
			members = append(members, types.DistributedVirtualSwitchHostMember{
				Config: types.DistributedVirtualSwitchHostMemberConfigInfo{Host: &ref, Backing: backingOrEmpty(m.Backing)},
				Status: "up",
			})
			s.Summary.HostMember = append(s.Summary.HostMember, ref)
			for _, pgRef := range s.Portgroup {
				if pg, ok := simulator.Map.Get(pgRef).(*simulator.DistributedVirtualPortgroup); ok {
					simulator.Map.AddReference(pg, &pg.Host, ref)
				}
				simulator.Map.AddReference(h, &h.Network, pgRef)
			}
		case types.ConfigSpecOperationEdit:
			members[memberIndex(ref)].Config.Backing = backingOrEmpty(m.Backing)
		case types.ConfigSpecOperationRemove:
			i := memberIndex(ref)
			members = append(members[:i], members[i+1:]...)
			simulator.RemoveReference(&s.Summary.HostMember, ref)
			for _, pgRef := range s.Portgroup {
				if pg, ok := simulator.Map.Get(pgRef).(*simulator.DistributedVirtualPortgroup); ok {
					simulator.Map.RemoveReference(pg, &pg.Host, ref)
				}
				simulator.Map.RemoveReference(h, &h.Network, pgRef)
			}
		}
	}
	cfg.Host = members
	if spec.Name != "" {
		s.Name = spec.Name
		cfg.Name = spec.Name
		s.Summary.Name = spec.Name
	}
	if spec.Description != "" {
		cfg.Description = spec.Description
	}
	if spec.DefaultPortConfig != nil {
		cfg.DefaultPortConfig = spec.DefaultPortConfig
	}
	if vspec, ok := base.(*types.VMwareDVSConfigSpec); ok {
		if vcfg, ok := s.Config.(*types.VMwareDVSConfigInfo); ok && vspec.MaxMtu != 0 {
			vcfg.MaxMtu = vspec.MaxMtu
		}
	}
	cfg.ConfigVersion = bumpVersion(current)
	return nil
}

func backingOrEmpty(b types.BaseDistributedVirtualSwitchHostMemberBacking) types.BaseDistributedVirtualSwitchHostMemberBacking {
	if b == nil {
		return &types.DistributedVirtualSwitchHostMemberPnicBacking{}
	}
	return b
}
