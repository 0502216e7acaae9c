// PCI/GPU passthrough for the simulator: host PCI inventory with GPUs and NICs,
// a HostPciPassthruSystem per host, NVIDIA vGPU profiles, QueryConfigTarget
// entries, and the checks ESXi makes when a VM with a PCI device is
// reconfigured or powered on. See "PCI passthrough extension" in README.md.
//
// How it hooks into vcsim 0.24.2 (none of this patches the simulator):
//
//   - HostSystem and VirtualMachine objects cannot be replaced by wrapper
//     types: the simulator itself asserts Map.Get(ref).(*HostSystem) and
//     .(*VirtualMachine) in dozens of places (every VM event, snapshots,
//     CreateVM...), and a wrapper that embeds a pointer also breaks property
//     retrieval. So the VM checks hook the Task instead: every *_Task method
//     creates a simulator.Task and puts it in the registry before running it.
//     A registry handler (Map.AddHandler) sees that Put and wraps the task's
//     exported Execute func for VirtualMachine.powerOn, .powerOff,
//     .reconfigVm and .relocateVm. That covers every VM whatever created it (the model,
//     CreateVM_Task, CloneVM_Task, RegisterVM_Task, ImportVApp) and every
//     path that powers a VM on (PowerOnVM_Task, ResetVM_Task,
//     PowerOnMultiVM_Task), with no per-VM bookkeeping.
//   - The same handler sees new HostSystem objects (AddHost_Task,
//     AddStandaloneHost_Task) and new EnvironmentBrowser objects
//     (CreateClusterEx, AddStandaloneHost_Task) and equips them too.
//   - EnvironmentBrowser is never type-asserted by the simulator, so it is
//     replaced by a wrapper that embeds it by value (property retrieval keeps
//     working) and extends QueryConfigTarget.
//   - HostSystem.RebootHost_Task cannot be added to *simulator.HostSystem, so
//     it is answered at the SOAP layer (interceptSOAP, soap.go): the
//     simulator still checks the session and that the host exists; the task
//     returned is a simulator Task whose entity is the host.
package main

import (
	"flag"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var pciRebootRequired = flag.Bool("pci-reboot-required", false,
	"PCI passthrough changes need a host reboot (RebootHost_Task) before passthruActive follows, like ESXi before 7.0")

func init() {
	extensions = append(extensions, installPCI)
	interceptSOAP("HostSystem", "RebootHost_Task", rebootHostTask)
}

// ---------------------------------------------------------------------------
// Catalog: the PCI devices every simulated host gets, on top of the 43
// VMware virtual-platform devices of the simulator's host template.

// vgpuProfile is one NVIDIA vGPU type as ESXi names it (grid_<gpu>-<type>).
type vgpuProfile struct {
	name   string
	max    int // time-sliced: vGPUs of this type per physical GPU
	slices int // MIG-backed: GPU instance slices used (0 for time-sliced)
	series byte
}

// gpuModel describes an NVIDIA GPU supported by the vGPU manager.
type gpuModel struct {
	label     string
	migSlices int // MIG slices per GPU, 0 if no MIG
	profiles  []vgpuProfile
}

// timeSliced lists time-sliced profiles of one series, sizes in GB of framebuffer.
func timeSliced(prefix string, totalGB int, series byte, sizes ...int) []vgpuProfile {
	var res []vgpuProfile
	for _, gb := range sizes {
		max := totalGB / gb
		if max > 32 { // the vGPU manager runs at most 32 vGPUs per GPU
			max = 32
		}
		res = append(res, vgpuProfile{name: fmt.Sprintf("%s%d%c", prefix, gb, series), max: max, series: series})
	}
	return res
}

// migBacked lists MIG-backed C-series profiles: pairs of (slices, GB).
func migBacked(prefix string, pairs ...int) []vgpuProfile {
	var res []vgpuProfile
	for i := 0; i+1 < len(pairs); i += 2 {
		res = append(res, vgpuProfile{name: fmt.Sprintf("%s%d-%dc", prefix, pairs[i], pairs[i+1]), max: 1, slices: pairs[i], series: 'c'})
	}
	return res
}

func concatProfiles(lists ...[]vgpuProfile) []vgpuProfile {
	var res []vgpuProfile
	for _, l := range lists {
		res = append(res, l...)
	}
	return res
}

var (
	gpuA30 = &gpuModel{
		label:     "NVIDIA A30 24GB",
		migSlices: 4,
		profiles: concatProfiles(
			timeSliced("grid_a30-", 24, 'c', 4, 6, 8, 12, 24),
			migBacked("grid_a30-", 1, 6, 2, 12, 4, 24),
		),
	}
	gpuA100D = &gpuModel{
		label:     "NVIDIA A100 PCIe 80GB",
		migSlices: 7,
		profiles: concatProfiles(
			timeSliced("grid_a100d-", 80, 'c', 4, 8, 10, 16, 20, 40, 80),
			migBacked("grid_a100d-", 1, 10, 2, 20, 3, 40, 4, 40, 7, 80),
		),
	}
	gpuRTXA6000 = &gpuModel{
		label: "NVIDIA RTX A6000 48GB",
		profiles: concatProfiles(
			timeSliced("grid_rtxa6000-", 48, 'q', 1, 2, 3, 4, 6, 8, 12, 16, 24, 48),
			timeSliced("grid_rtxa6000-", 48, 'b', 1, 2),
			timeSliced("grid_rtxa6000-", 48, 'c', 4, 6, 8, 12, 16, 24, 48),
		),
	}
)

// pciCatalogEntry is a physical PCI function. IDs are unsigned here and
// converted to the signed shorts of the vSphere API (0x8086 -> -32634).
type pciCatalogEntry struct {
	id         string
	class      uint16
	vendor     uint16
	device     uint16
	subVendor  uint16
	subDevice  uint16
	vendorName string
	deviceName string
	parent     string
	capable    bool
	dependent  string      // HostPciPassthruInfo.dependentDevice; "" means the device itself
	gpu        *gpuModel   // set for NVIDIA GPUs the vGPU manager can share
	sriov      *sriovModel // set for SR-IOV physical functions (sriov.go)
}

const (
	pciClassEthernet = 0x0200
	pciClassVGA      = 0x0300
	pciClass3D       = 0x0302
	pciClassDisplay  = 0x0380
	pciClassAudio    = 0x0403
	pciClassBridge   = 0x0604

	vendorNVIDIA = 0x10de
	vendorAMD    = 0x1002
	vendorIntel  = 0x8086
)

// rootPort is the Xeon (Skylake-SP) PCIe root port a card sits behind.
func rootPort(id string) pciCatalogEntry {
	return pciCatalogEntry{
		id: id, class: pciClassBridge, vendor: vendorIntel, device: 0x2030, subVendor: vendorIntel, subDevice: 0x0000,
		vendorName: "Intel Corporation", deviceName: "Sky Lake-E PCI Express Root Port A",
	}
}

// pciCatalog: real vendor/device IDs and class codes; subsystem IDs are
// those of the reference boards.
var pciCatalog = []pciCatalogEntry{
	rootPort("0000:17:00.0"),
	{
		id: "0000:18:00.0", class: pciClassDisplay, vendor: vendorAMD, device: 0x740f, subVendor: vendorAMD, subDevice: 0x0c34,
		vendorName: "Advanced Micro Devices, Inc. [AMD/ATI]", deviceName: "Aldebaran/MI200 [Instinct MI210]",
		parent: "0000:17:00.0", capable: true, sriov: sriovMI210,
	},
	rootPort("0000:3a:00.0"),
	{
		id: "0000:3b:00.0", class: pciClass3D, vendor: vendorNVIDIA, device: 0x20b7, subVendor: vendorNVIDIA, subDevice: 0x1532,
		vendorName: "NVIDIA Corporation", deviceName: "GA100GL [A30 PCIe]",
		parent: "0000:3a:00.0", capable: true, gpu: gpuA30,
	},
	rootPort("0000:4c:00.0"),
	{
		id: "0000:4d:00.0", class: pciClassDisplay, vendor: vendorIntel, device: 0x56c0, subVendor: vendorIntel, subDevice: 0x4905,
		vendorName: "Intel Corporation", deviceName: "ATS-M [Data Center GPU Flex 170]",
		parent: "0000:4c:00.0", capable: true, sriov: sriovFlex170,
	},
	rootPort("0000:5d:00.0"),
	{
		id: "0000:5e:00.0", class: pciClass3D, vendor: vendorNVIDIA, device: 0x20b5, subVendor: vendorNVIDIA, subDevice: 0x1533,
		vendorName: "NVIDIA Corporation", deviceName: "GA100 [A100 PCIe 80GB]",
		parent: "0000:5d:00.0", capable: true, gpu: gpuA100D,
	},
	rootPort("0000:85:00.0"),
	{
		id: "0000:86:00.0", class: pciClassVGA, vendor: vendorNVIDIA, device: 0x2230, subVendor: vendorNVIDIA, subDevice: 0x1459,
		vendorName: "NVIDIA Corporation", deviceName: "GA102GL [RTX A6000]",
		parent: "0000:85:00.0", capable: true, gpu: gpuRTXA6000,
	},
	{
		id: "0000:86:00.1", class: pciClassAudio, vendor: vendorNVIDIA, device: 0x1aef, subVendor: vendorNVIDIA, subDevice: 0x1459,
		vendorName: "NVIDIA Corporation", deviceName: "GA102 High Definition Audio Controller",
		parent: "0000:85:00.0", capable: true, dependent: "0000:86:00.0",
	},
	rootPort("0000:ae:00.0"),
	{
		id: "0000:af:00.0", class: pciClassEthernet, vendor: vendorIntel, device: 0x1572, subVendor: vendorIntel, subDevice: 0x0007,
		vendorName: "Intel Corporation", deviceName: "Ethernet Controller X710 for 10GbE SFP+",
		parent: "0000:ae:00.0", capable: true, sriov: sriovX710,
	},
	{
		id: "0000:af:00.1", class: pciClassEthernet, vendor: vendorIntel, device: 0x1572, subVendor: vendorIntel, subDevice: 0x0007,
		vendorName: "Intel Corporation", deviceName: "Ethernet Controller X710 for 10GbE SFP+",
		parent: "0000:ae:00.0", capable: true, dependent: "0000:af:00.0", sriov: sriovX710,
	},
	rootPort("0000:d7:00.0"),
	{
		id: "0000:d8:00.0", class: pciClass3D, vendor: vendorNVIDIA, device: 0x20b7, subVendor: vendorNVIDIA, subDevice: 0x1532,
		vendorName: "NVIDIA Corporation", deviceName: "GA100GL [A30 PCIe]",
		parent: "0000:d7:00.0", capable: true, gpu: gpuA30,
	},
}

func s16(v uint16) int16 { return int16(v) }

func (e *pciCatalogEntry) hostPciDevice() types.HostPciDevice {
	var bus, slot, fn uint64
	if p := strings.Split(e.id, ":"); len(p) == 3 {
		bus, _ = strconv.ParseUint(p[1], 16, 8)
		if q := strings.Split(p[2], "."); len(q) == 2 {
			slot, _ = strconv.ParseUint(q[0], 16, 8)
			fn, _ = strconv.ParseUint(q[1], 16, 8)
		}
	}
	return types.HostPciDevice{
		Id:           e.id,
		ClassId:      s16(e.class),
		Bus:          byte(bus),
		Slot:         byte(slot),
		Function:     byte(fn),
		VendorId:     s16(e.vendor),
		SubVendorId:  s16(e.subVendor),
		VendorName:   e.vendorName,
		DeviceId:     s16(e.device),
		SubDeviceId:  s16(e.subDevice),
		ParentBridge: e.parent,
		DeviceName:   e.deviceName,
	}
}

// ---------------------------------------------------------------------------
// State. pciMu guards everything below and is a leaf lock for the code that
// takes it: while holding it we never wait for an object lock of the
// registry (Map.WithLock). Publishing to HostSystem properties happens after
// releasing it.

var pciMu sync.Mutex

var pciHosts = map[types.ManagedObjectReference]*pciHost{}

// vgpuSlot records on which physical GPU one vGPU of a powered-on VM runs.
type vgpuSlot struct {
	gpu     string
	profile string
}

type pciHost struct {
	ref      types.ManagedObjectReference
	name     string
	systemID string
	sys      *HostPciPassthruSystem

	devices []types.HostPciDevice
	order   []string
	catalog map[string]*pciCatalogEntry // nil for the template's chipset devices
	pci     map[string]types.HostPciDevice
	info    map[string]*types.HostPciPassthruInfo
	vgpu    map[types.ManagedObjectReference][]vgpuSlot
	sriov   map[string]*sriovState // physical functions (sriov.go)
	vfOf    map[string]string      // virtual function id -> physical function id

	seq       uint64 // publish sequence, incremented under pciMu
	published uint64 // last sequence applied, guarded by the host's lock
}

// snapshot of the derived host properties, applied outside pciMu.
type pciSnapshot struct {
	seq      uint64
	info     []types.BaseHostPciPassthruInfo
	sysInfo  []types.BaseHostPciPassthruInfo
	gpuTypes []string
	pending  bool
	devices  []types.HostPciDevice
}

func (p *pciHost) snapshot() pciSnapshot {
	p.seq++
	s := pciSnapshot{seq: p.seq}
	for _, id := range p.order {
		a := *p.info[id]
		if a.PassthruCapable && a.PassthruEnabled != a.PassthruActive {
			s.pending = true
		}
		if st := p.sriov[id]; st != nil {
			s.info = append(s.info, st.info(a))
			s.sysInfo = append(s.sysInfo, st.info(a))
			s.pending = s.pending || st.pending()
			continue
		}
		b := a
		s.info = append(s.info, &a)
		s.sysInfo = append(s.sysInfo, &b)
	}
	s.devices = append([]types.HostPciDevice(nil), p.devices...)
	s.gpuTypes = p.sharedGpuTypes()
	return s
}

// root follows dependentDevice to the device that heads the group.
func (p *pciHost) root(id string) string {
	for i := 0; i < 8; i++ {
		info := p.info[id]
		if info == nil || info.DependentDevice == "" || info.DependentDevice == id {
			return id
		}
		id = info.DependentDevice
	}
	return id
}

// group lists the devices that ESXi unclaims together with id: id, the
// device it depends on, and every device depending on the same one.
func (p *pciHost) group(id string) []string {
	r := p.root(id)
	var res []string
	for _, x := range p.order {
		if p.root(x) == r {
			res = append(res, x)
		}
	}
	return res
}

func (p *pciHost) label(id string) string {
	if d, ok := p.pci[id]; ok {
		return fmt.Sprintf("%s (%s %s)", id, d.VendorName, d.DeviceName)
	}
	return id
}

// vgpuAvailable reports whether an NVIDIA GPU is claimed by the vGPU manager
// (shared direct), which is the case while it is not active for passthrough.
func (p *pciHost) vgpuAvailable(id string) bool {
	e := p.catalog[id]
	return e != nil && e.gpu != nil && !p.info[id].PassthruActive
}

// sharedGpuTypes is HostConfigInfo.sharedPassthruGpuTypes: the vGPU types of
// the NVIDIA GPUs that are not in passthrough mode.
func (p *pciHost) sharedGpuTypes() []string {
	var res []string
	seen := map[*gpuModel]bool{}
	for _, id := range p.order {
		if !p.vgpuAvailable(id) {
			continue
		}
		m := p.catalog[id].gpu
		if seen[m] {
			continue
		}
		seen[m] = true
		for _, prof := range m.profiles {
			res = append(res, prof.name)
		}
	}
	return res
}

func (p *pciHost) profile(name string) (*vgpuProfile, bool) {
	for _, id := range p.order {
		if !p.vgpuAvailable(id) {
			continue
		}
		m := p.catalog[id].gpu
		for i := range m.profiles {
			if m.profiles[i].name == name {
				return &m.profiles[i], true
			}
		}
	}
	return nil, false
}

func gpuProfile(m *gpuModel, name string) *vgpuProfile {
	for i := range m.profiles {
		if m.profiles[i].name == name {
			return &m.profiles[i]
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Helpers to find simulator objects, also when another extension wrapped them.

func embeddedObject(obj interface{}, match func(interface{}) bool) interface{} {
	for i := 0; i < 6 && obj != nil; i++ {
		if match(obj) {
			return obj
		}
		v := reflect.ValueOf(obj)
		if v.Kind() == reflect.Ptr {
			if v.IsNil() {
				return nil
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct || v.NumField() == 0 || !v.Type().Field(0).Anonymous {
			return nil
		}
		f := v.Field(0)
		switch {
		case f.Kind() == reflect.Ptr && !f.IsNil():
			obj = f.Interface()
		case f.Kind() == reflect.Struct && f.CanAddr():
			obj = f.Addr().Interface()
		default:
			return nil
		}
	}
	return nil
}

func simHost(obj interface{}) *simulator.HostSystem {
	h, _ := embeddedObject(obj, func(o interface{}) bool { _, ok := o.(*simulator.HostSystem); return ok }).(*simulator.HostSystem)
	return h
}

func simVM(obj interface{}) *simulator.VirtualMachine {
	vm, _ := embeddedObject(obj, func(o interface{}) bool { _, ok := o.(*simulator.VirtualMachine); return ok }).(*simulator.VirtualMachine)
	return vm
}

func getHost(ref types.ManagedObjectReference) *simulator.HostSystem {
	return simHost(simulator.Map.Get(ref))
}

// vmsOnHost lists the VMs whose runtime.host is the given host (host.vm is
// not reliable in this simulator after RelocateVM_Task).
func vmsOnHost(host types.ManagedObjectReference) []*simulator.VirtualMachine {
	var res []*simulator.VirtualMachine
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := simVM(e)
		if vm == nil || vm.Runtime.Host == nil || *vm.Runtime.Host != host {
			continue
		}
		res = append(res, vm)
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Self.Value < res[j].Self.Value })
	return res
}

func vmPciDevices(vm *simulator.VirtualMachine) []*types.VirtualPCIPassthrough {
	if vm.Config == nil {
		return nil
	}
	var res []*types.VirtualPCIPassthrough
	for _, d := range vm.Config.Hardware.Device {
		if p, ok := d.(*types.VirtualPCIPassthrough); ok {
			res = append(res, p)
		}
	}
	return res
}

func deviceLabel(d *types.VirtualPCIPassthrough, index int) string {
	if d.DeviceInfo != nil {
		if l := d.DeviceInfo.GetDescription().Label; l != "" {
			return l
		}
	}
	return fmt.Sprintf("pciPassthru%d", index)
}

func poweredOn(vm *simulator.VirtualMachine) bool {
	return vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
}

// pciUser returns the powered-on VM (other than self) on the host that uses
// device id through a static or dynamic DirectPath backing.
func pciUser(host types.ManagedObjectReference, id string, self types.ManagedObjectReference) *simulator.VirtualMachine {
	for _, vm := range vmsOnHost(host) {
		if vm.Self == self || !poweredOn(vm) {
			continue
		}
		for _, d := range vmPciDevices(vm) {
			switch b := d.Backing.(type) {
			case *types.VirtualPCIPassthroughDeviceBackingInfo:
				if b.Id == id {
					return vm
				}
			case *types.VirtualPCIPassthroughDynamicBackingInfo:
				if b.AssignedId == id {
					return vm
				}
			}
		}
	}
	return nil
}

// vgpuLoad returns the vGPUs running on a physical GPU (profile names), not
// counting self.
func (p *pciHost) vgpuLoad(gpu string, self types.ManagedObjectReference) []string {
	var res []string
	for ref, slots := range p.vgpu {
		if ref == self {
			continue
		}
		vm := simVM(simulator.Map.Get(ref))
		if vm == nil || !poweredOn(vm) || vm.Runtime.Host == nil || *vm.Runtime.Host != p.ref {
			continue
		}
		for _, s := range slots {
			if s.gpu == gpu {
				res = append(res, s.profile)
			}
		}
	}
	return res
}

func localized(key, format string, args ...interface{}) []types.LocalizableMessage {
	return []types.LocalizableMessage{{Key: key, Message: fmt.Sprintf(format, args...)}}
}

func hostConfigFault(key, format string, args ...interface{}) (string, types.BaseMethodFault) {
	msg := fmt.Sprintf(format, args...)
	f := &types.HostConfigFault{}
	f.FaultMessage = localized(key, "%s", msg)
	return msg, f
}

// ---------------------------------------------------------------------------
// Installation.

func installPCI(m *simulator.Model) {
	for _, e := range simulator.Map.All("HostSystem") {
		if h := simHost(e); h != nil {
			installPCIHost(h)
		}
	}
	for _, kind := range []string{"ComputeResource", "ClusterComputeResource"} {
		for _, e := range simulator.Map.All(kind) {
			if ref := environmentBrowserOf(e); ref != nil {
				wrapEnvironmentBrowser(simulator.Map.Get(*ref))
			}
		}
	}
	simulator.Map.AddHandler(&pciRegistryHandler{})
}

func environmentBrowserOf(e interface{}) *types.ManagedObjectReference {
	switch cr := e.(type) {
	case *mo.ComputeResource:
		return cr.EnvironmentBrowser
	case *simulator.ClusterComputeResource:
		return cr.EnvironmentBrowser
	}
	return nil
}

func pciSystemRef(host types.ManagedObjectReference) types.ManagedObjectReference {
	if simulator.Map.IsESX() {
		return types.ManagedObjectReference{Type: "HostPciPassthruSystem", Value: "ha-pcipassthrusystem"}
	}
	return types.ManagedObjectReference{Type: "HostPciPassthruSystem", Value: "pciPassthruSystem-" + strings.TrimPrefix(host.Value, "host-")}
}

func installPCIHost(h *simulator.HostSystem) {
	pciMu.Lock()
	if _, ok := pciHosts[h.Self]; ok {
		pciMu.Unlock()
		return
	}
	p := &pciHost{
		ref:     h.Self,
		name:    h.Name,
		catalog: map[string]*pciCatalogEntry{},
		pci:     map[string]types.HostPciDevice{},
		info:    map[string]*types.HostPciPassthruInfo{},
		vgpu:    map[types.ManagedObjectReference][]vgpuSlot{},
		sriov:   map[string]*sriovState{},
		vfOf:    map[string]string{},
	}
	if h.Hardware != nil {
		p.systemID = h.Hardware.SystemInfo.Uuid
		for _, d := range h.Hardware.PciDevice {
			if _, dup := p.pci[d.Id]; !dup {
				p.devices = append(p.devices, d)
				p.pci[d.Id] = d
			}
		}
	}
	for i := range pciCatalog {
		e := &pciCatalog[i]
		if _, dup := p.pci[e.id]; dup {
			continue
		}
		d := e.hostPciDevice()
		p.devices = append(p.devices, d)
		p.pci[e.id] = d
		p.catalog[e.id] = e
	}
	for _, d := range p.devices {
		p.order = append(p.order, d.Id)
		info := &types.HostPciPassthruInfo{Id: d.Id, DependentDevice: d.Id}
		if e := p.catalog[d.Id]; e != nil {
			info.PassthruCapable = e.capable
			if e.dependent != "" {
				info.DependentDevice = e.dependent
			}
			if e.sriov != nil {
				p.sriov[d.Id] = &sriovState{model: e.sriov}
			}
		}
		p.info[d.Id] = info
	}
	p.sys = &HostPciPassthruSystem{host: h.Self}
	p.sys.Self = pciSystemRef(h.Self)
	pciHosts[h.Self] = p
	snap := p.snapshot()
	devices := append([]types.HostPciDevice(nil), p.devices...)
	pciMu.Unlock()

	simulator.Map.Put(p.sys)

	sysRef := p.sys.Self
	simulator.Map.WithLock(h, func() {
		changes := []types.PropertyChange{
			{Name: "hardware.pciDevice", Val: devices},
			{Name: "configManager.pciPassthruSystem", Val: &sysRef},
		}
		// The simulator's host template has no capability object; when one
		// is there, say whether devices rebind without a reboot.
		if h.Capability != nil {
			c := *h.Capability // the template's pointer is shared by all hosts
			c.DeviceRebindWithoutRebootSupported = types.NewBool(!*pciRebootRequired)
			changes = append(changes, types.PropertyChange{Name: "capability", Val: &c})
		}
		simulator.Map.Update(h, changes)
	})
	p.apply(h, snap, false)
}

// apply publishes a snapshot to the HostSystem and its HostPciPassthruSystem.
// sysLocked tells whether the caller already holds the pci system's lock.
func (p *pciHost) apply(h *simulator.HostSystem, s pciSnapshot, sysLocked bool) {
	stale := false
	simulator.Map.WithLock(h, func() {
		if s.seq <= p.published {
			stale = true
			return
		}
		p.published = s.seq
		simulator.Map.Update(h, []types.PropertyChange{
			{Name: "hardware.pciDevice", Val: s.devices},
			{Name: "config.pciPassthruInfo", Val: s.info},
			{Name: "config.sharedPassthruGpuTypes", Val: s.gpuTypes},
			{Name: "summary.rebootRequired", Val: s.pending},
		})
	})
	if stale {
		return
	}
	update := func() {
		simulator.Map.Update(p.sys, []types.PropertyChange{{Name: "pciPassthruInfo", Val: s.sysInfo}})
	}
	if sysLocked {
		update()
	} else {
		simulator.Map.WithLock(p.sys, update)
	}
}

func (p *pciHost) publish(sysLocked bool) {
	pciMu.Lock()
	snap := p.snapshot()
	pciMu.Unlock()
	if h := getHost(p.ref); h != nil {
		p.apply(h, snap, sysLocked)
	}
}

// pciRegistryHandler sees every object put in the registry.
type pciRegistryHandler struct{}

func (*pciRegistryHandler) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "CesoPciExtension", Value: "pci"}
}

func (*pciRegistryHandler) PutObject(obj mo.Reference) {
	switch o := obj.(type) {
	case *simulator.Task:
		hookTask(o)
	case *simulator.HostSystem:
		installPCIHost(o)
	case *simulator.EnvironmentBrowser:
		wrapEnvironmentBrowser(o)
	}
}

func (*pciRegistryHandler) UpdateObject(mo.Reference, []types.PropertyChange) {}

func (*pciRegistryHandler) RemoveObject(ref types.ManagedObjectReference) {
	if ref.Type != "HostSystem" {
		return
	}
	pciMu.Lock()
	p := pciHosts[ref]
	delete(pciHosts, ref)
	pciMu.Unlock()
	if p != nil {
		simulator.Map.Remove(p.sys.Self)
	}
}

// ---------------------------------------------------------------------------
// HostPciPassthruSystem.

type HostPciPassthruSystem struct {
	mo.HostPciPassthruSystem

	host types.ManagedObjectReference
}

type pciChange struct {
	enabled   bool
	immediate bool
}

func (s *HostPciPassthruSystem) UpdatePassthruConfig(ctx *simulator.Context, req *types.UpdatePassthruConfig) soap.HasFault {
	body := new(methods.UpdatePassthruConfigBody)
	if msg, fault := updatePassthruConfig(s.host, req.Config); fault != nil {
		body.Fault_ = simulator.Fault(msg, fault)
		return body
	}
	body.Res = new(types.UpdatePassthruConfigResponse)
	return body
}

func (s *HostPciPassthruSystem) Refresh(ctx *simulator.Context, req *types.Refresh) soap.HasFault {
	pciMu.Lock()
	p := pciHosts[s.host]
	pciMu.Unlock()
	if p != nil {
		p.publish(true)
	}
	return &methods.RefreshBody{Res: new(types.RefreshResponse)}
}

// updatePassthruConfig validates the whole request before changing anything.
// The API doc: "this will get called for the dependent device with the
// enabled bool set", so a change applies to the device's whole group.
func updatePassthruConfig(host types.ManagedObjectReference, configs []types.BaseHostPciPassthruConfig) (string, types.BaseMethodFault) {
	pciMu.Lock()
	p := pciHosts[host]
	if p == nil {
		pciMu.Unlock()
		return hostConfigFault("vcsim.pci.noHost", "host %s has no PCI passthrough system", host.Value)
	}
	rebind := !*pciRebootRequired
	changes := map[string]pciChange{}
	var order []string
	for _, bc := range configs {
		if bc == nil {
			continue
		}
		c := bc.GetHostPciPassthruConfig()
		if _, ok := bc.(*types.HostSriovConfig); ok {
			continue // validated and applied by updateSriovConfig below
		}
		info := p.info[c.Id]
		if info == nil {
			pciMu.Unlock()
			return hostConfigFault("vcsim.pci.notFound", "PCI device %q does not exist on host %s", c.Id, p.name)
		}
		if !info.PassthruCapable {
			pciMu.Unlock()
			return hostConfigFault("vcsim.pci.notCapable", "PCI device %s is not capable of passthrough", p.label(c.Id))
		}
		if st := p.sriov[c.Id]; st != nil && c.PassthruEnabled && (st.enabled || st.active) {
			pciMu.Unlock()
			return hostConfigFault("vcsim.pci.sriovEnabled",
				"PCI device %s has SR-IOV enabled: disable SR-IOV before enabling passthrough of the whole device", p.label(c.Id))
		}
		immediate := rebind
		if c.ApplyNow != nil {
			// applyNow=false defers to the next reboot; applyNow=true cannot
			// force a rebind the host does not support.
			immediate = rebind && *c.ApplyNow
		}
		for _, id := range p.group(c.Id) {
			if !p.info[id].PassthruCapable {
				continue
			}
			if prev, ok := changes[id]; ok && prev.enabled != c.PassthruEnabled {
				pciMu.Unlock()
				return hostConfigFault("vcsim.pci.conflict",
					"conflicting passthrough settings for PCI device %s and its dependent devices %s",
					p.label(id), strings.Join(p.group(id), ", "))
			}
			if _, ok := changes[id]; !ok {
				order = append(order, id)
			}
			changes[id] = pciChange{enabled: c.PassthruEnabled, immediate: immediate}
		}
	}

	sriovChanges, msg, fault := p.checkSriovConfigs(configs)
	if fault != nil {
		pciMu.Unlock()
		return msg, fault
	}

	// A device cannot leave or join passthrough under a running VM.
	for _, id := range order {
		ch := changes[id]
		info := p.info[id]
		if !ch.immediate || ch.enabled == info.PassthruActive {
			continue
		}
		if !ch.enabled {
			if vm := pciUser(host, id, types.ManagedObjectReference{}); vm != nil {
				pciMu.Unlock()
				return inUseFault(p, id, vm, "PCI device %s is in use by powered-on virtual machine %q; power it off before disabling passthrough")
			}
		} else if p.vgpuAvailable(id) {
			if users := p.vgpuUsers(id); len(users) > 0 {
				pciMu.Unlock()
				return inUseFault(p, id, users[0], "GPU %s runs vGPUs of powered-on virtual machine %q; power them off before enabling passthrough")
			}
		}
	}

	for _, id := range order {
		ch := changes[id]
		info := p.info[id]
		info.PassthruEnabled = ch.enabled
		if ch.immediate {
			info.PassthruActive = ch.enabled
		}
	}
	p.applySriovConfigs(sriovChanges)
	snap := p.snapshot()
	pciMu.Unlock()

	if h := getHost(host); h != nil {
		p.apply(h, snap, true)
	}
	return "", nil
}

func inUseFault(p *pciHost, id string, vm *simulator.VirtualMachine, format string) (string, types.BaseMethodFault) {
	msg, f := hostConfigFault("vcsim.pci.inUse", format, p.label(id), vm.Name)
	f.(*types.HostConfigFault).FaultCause = &types.LocalizedMethodFault{
		Fault:            &types.ResourceInUse{Type: "VirtualMachine", Name: vm.Name},
		LocalizedMessage: fmt.Sprintf("The resource '%s' is in use.", vm.Name),
	}
	return msg, f
}

func (p *pciHost) vgpuUsers(gpu string) []*simulator.VirtualMachine {
	var res []*simulator.VirtualMachine
	for ref, slots := range p.vgpu {
		vm := simVM(simulator.Map.Get(ref))
		if vm == nil || !poweredOn(vm) || vm.Runtime.Host == nil || *vm.Runtime.Host != p.ref {
			continue
		}
		for _, s := range slots {
			if s.gpu == gpu {
				res = append(res, vm)
				break
			}
		}
	}
	return res
}

// ---------------------------------------------------------------------------
// EnvironmentBrowser.QueryConfigTarget.

// pciEnvironmentBrowser embeds the simulator's browser by value, so property
// retrieval still finds the mo.EnvironmentBrowser fields.
type pciEnvironmentBrowser struct {
	simulator.EnvironmentBrowser
}

func wrapEnvironmentBrowser(obj interface{}) {
	b, ok := obj.(*simulator.EnvironmentBrowser)
	if !ok {
		return
	}
	simulator.Map.Put(&pciEnvironmentBrowser{EnvironmentBrowser: *b})
}

func (b *pciEnvironmentBrowser) hosts() []types.ManagedObjectReference {
	for _, kind := range []string{"ComputeResource", "ClusterComputeResource"} {
		for _, e := range simulator.Map.All(kind) {
			if ref := environmentBrowserOf(e); ref != nil && *ref == b.Self {
				switch cr := e.(type) {
				case *mo.ComputeResource:
					return append([]types.ManagedObjectReference(nil), cr.Host...)
				case *simulator.ClusterComputeResource:
					return append([]types.ManagedObjectReference(nil), cr.Host...)
				}
			}
		}
	}
	return nil
}

func (b *pciEnvironmentBrowser) QueryConfigTarget(ctx *simulator.Context, req *types.QueryConfigTarget) soap.HasFault {
	hosts := b.hosts()
	if req.Host != nil {
		found := false
		for _, h := range hosts {
			found = found || h == *req.Host
		}
		if !found || getHost(*req.Host) == nil {
			return &methods.QueryConfigTargetBody{
				Fault_: simulator.Fault(fmt.Sprintf("host %s is not part of this compute resource", req.Host.Value),
					&types.InvalidArgument{InvalidProperty: "host"}),
			}
		}
		hosts = []types.ManagedObjectReference{*req.Host}
	}

	res := b.EnvironmentBrowser.QueryConfigTarget(ctx, req)
	body, ok := res.(*methods.QueryConfigTargetBody)
	if !ok || body.Res == nil || body.Res.Returnval == nil {
		return res
	}
	target := body.Res.Returnval

	pciMu.Lock()
	defer pciMu.Unlock()
	seenType := map[string]bool{}
	for _, ref := range hosts {
		p := pciHosts[ref]
		if p == nil {
			continue
		}
		for _, id := range p.order {
			info := p.info[id]
			if !info.PassthruCapable || !info.PassthruActive {
				continue
			}
			dev := p.pci[id]
			target.PciPassthrough = append(target.PciPassthrough, &types.VirtualMachinePciPassthroughInfo{
				VirtualMachineTargetInfo: types.VirtualMachineTargetInfo{Name: id},
				PciDevice:                dev,
				SystemId:                 p.systemID,
			})
			target.DynamicPassthrough = append(target.DynamicPassthrough, types.VirtualMachineDynamicPassthroughInfo{
				VirtualMachineTargetInfo: types.VirtualMachineTargetInfo{Name: dev.DeviceName},
				VendorName:               dev.VendorName,
				DeviceName:               dev.DeviceName,
				VendorId:                 int32(uint16(dev.VendorId)),
				DeviceId:                 int32(uint16(dev.DeviceId)),
			})
		}
		for _, t := range p.sharedGpuTypes() {
			if seenType[t] {
				continue
			}
			seenType[t] = true
			target.SharedGpuPassthroughTypes = append(target.SharedGpuPassthroughTypes, types.VirtualMachinePciSharedGpuPassthroughInfo{
				VirtualMachineTargetInfo: types.VirtualMachineTargetInfo{Name: t},
				Vgpu:                     t,
			})
		}
	}
	return body
}

// ---------------------------------------------------------------------------
// VirtualMachine checks, hooked at the Task level.

func hookTask(t *simulator.Task) {
	if t.Info.Entity == nil || t.Info.Entity.Type != "VirtualMachine" || t.Execute == nil {
		return
	}
	orig := t.Execute
	switch t.Info.DescriptionId {
	case "VirtualMachine.powerOn":
		t.Execute = func(task *simulator.Task) (types.AnyType, types.BaseMethodFault) {
			// ESXi opens every disk chain before the VM runs (chain.go).
			if vm := simVM(simulator.Map.Get(*task.Info.Entity)); vm != nil && !poweredOn(vm) {
				if fault := chainFault(vm); fault != nil {
					return nil, fault
				}
			}
			return powerOnWithPCI(task, orig)
		}
	case "VirtualMachine.powerOff":
		t.Execute = func(task *simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return powerOffWithPCI(task, orig)
		}
	case "VirtualMachine.reconfigVm":
		t.Execute = func(task *simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return reconfigureWithPCI(task, orig)
		}
	case "VirtualMachine.relocateVm":
		t.Execute = func(task *simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return relocateWithPCI(task, orig)
		}
	}
}

func vmConfigFault(key, format string, args ...interface{}) types.BaseMethodFault {
	msg := fmt.Sprintf(format, args...)
	f := &types.GenericVmConfigFault{Reason: msg}
	f.FaultMessage = localized(key, "%s", msg)
	return f
}

// powerOnWithPCI runs the checks ESXi makes when it powers on a VM with PCI
// devices, then the simulator's power-on, then records the assignments.
func powerOnWithPCI(task *simulator.Task, orig func(*simulator.Task) (types.AnyType, types.BaseMethodFault)) (types.AnyType, types.BaseMethodFault) {
	vm := simVM(simulator.Map.Get(*task.Info.Entity))
	if vm == nil || (len(vmPciDevices(vm)) == 0 && !hasSriovNic(vm)) || poweredOn(vm) || vm.Runtime.Host == nil {
		return orig(task)
	}

	pciMu.Lock()
	defer pciMu.Unlock()

	p := pciHosts[*vm.Runtime.Host]
	if p == nil {
		return orig(task)
	}
	assigned, slots, fault := p.placeVM(vm)
	if fault != nil {
		return nil, fault
	}

	res, err := orig(task)
	if err != nil || !poweredOn(vm) {
		return res, err
	}

	changed := false
	for d, id := range assigned {
		b := d.Backing.(*types.VirtualPCIPassthroughDynamicBackingInfo)
		if b.AssignedId != id {
			b.AssignedId = id
			changed = true
		}
	}
	if changed {
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "config.hardware.device", Val: vm.Config.Hardware.Device},
		})
	}
	if len(slots) > 0 {
		p.vgpu[vm.Self] = slots
	} else {
		delete(p.vgpu, vm.Self)
	}
	return res, err
}

// placeVM validates a power-on on host p and chooses the devices for dynamic
// DirectPath and vGPU backings. Called with pciMu held.
func (p *pciHost) placeVM(vm *simulator.VirtualMachine) (map[*types.VirtualPCIPassthrough]string, []vgpuSlot, types.BaseMethodFault) {
	devices := vmPciDevices(vm)

	memMB := int64(vm.Config.Hardware.MemoryMB)
	locked := vm.Config.MemoryReservationLockedToMax != nil && *vm.Config.MemoryReservationLockedToMax
	var reserved int64
	if a := vm.Config.MemoryAllocation; a != nil && a.Reservation != nil {
		reserved = *a.Reservation
	}
	if !locked && reserved < memMB {
		return nil, nil, vmConfigFault("vcsim.pci.memoryReservation",
			"Invalid memory setting: memory reservation (sched.mem.min) should be equal to memsize(%d). "+
				"A virtual machine with PCI passthrough or vGPU devices needs all of its memory reserved "+
				"(memoryReservationLockedToMax, or memoryAllocation.reservation = %d MB)", memMB, memMB)
	}

	taken := map[string]bool{}
	assigned := map[*types.VirtualPCIPassthrough]string{}
	var vgpus []*types.VirtualPCIPassthrough

	for i, d := range devices {
		label := deviceLabel(d, i)
		switch b := d.Backing.(type) {
		case *types.VirtualPCIPassthroughDeviceBackingInfo:
			info := p.info[b.Id]
			if info == nil {
				return nil, nil, vmConfigFault("vcsim.pci.deviceNotFound",
					"Device %s: PCI device %q was not found on host %s", label, b.Id, p.name)
			}
			dev := p.pci[b.Id]
			if (b.SystemId != "" && b.SystemId != p.systemID) || (b.VendorId != 0 && b.VendorId != dev.VendorId) ||
				(b.DeviceId != "" && !matchDeviceID(b.DeviceId, dev.DeviceId)) {
				return nil, nil, vmConfigFault("vcsim.pci.systemIdMismatch",
					"Device %s (PCI %s) is not available on host %s: the systemId does not match the current system or the deviceId and vendorId no longer match",
					label, b.Id, p.name)
			}
			if !info.PassthruCapable || !info.PassthruActive {
				return nil, nil, vmConfigFault("vcsim.pci.notPassthrough",
					"Device %s: PCI device %s is not a passthrough device on host %s (passthruActive is false)", label, p.label(b.Id), p.name)
			}
			if taken[b.Id] {
				return nil, nil, vmConfigFault("vcsim.pci.duplicate",
					"Device %s: PCI device %s is assigned more than once to this virtual machine", label, b.Id)
			}
			if other := pciUser(p.ref, b.Id, vm.Self); other != nil {
				return nil, nil, vmConfigFault("vcsim.pci.inUse",
					"Device %s: PCI device %s is already in use by powered-on virtual machine %q", label, p.label(b.Id), other.Name)
			}
			taken[b.Id] = true
		}
	}
	if f := p.sriovNicFault(vm, taken); f != nil {
		return nil, nil, f
	}

	for i, d := range devices {
		b, ok := d.Backing.(*types.VirtualPCIPassthroughDynamicBackingInfo)
		if !ok {
			continue
		}
		id := ""
		for _, cand := range p.order {
			info := p.info[cand]
			if !info.PassthruCapable || !info.PassthruActive || taken[cand] || !allowedDevice(b, p.pci[cand]) {
				continue
			}
			if pciUser(p.ref, cand, vm.Self) != nil {
				continue
			}
			id = cand
			break
		}
		if id == "" {
			return nil, nil, vmConfigFault("vcsim.pci.dynamicUnavailable",
				"Insufficient resources. One or more devices (%s) required by VM %s are not available on host %s: no free passthrough device matches %s",
				deviceLabel(d, i), vm.Name, p.name, describeAllowed(b))
		}
		taken[id] = true
		assigned[d] = id
	}

	for i, d := range devices {
		if b, ok := d.Backing.(*types.VirtualPCIPassthroughVmiopBackingInfo); ok {
			if _, known := p.profile(b.Vgpu); !known {
				return nil, nil, vmConfigFault("vcsim.pci.vgpuProfile",
					"Device %s: vGPU profile %q is not supported by host %s (sharedPassthruGpuTypes: %s)",
					deviceLabel(d, i), b.Vgpu, p.name, strings.Join(p.sharedGpuTypes(), ", "))
			}
			vgpus = append(vgpus, d)
		}
	}
	if len(vgpus) > 1 {
		if len(vgpus) > 4 {
			return nil, nil, vmConfigFault("vcsim.pci.vgpuCount", "A virtual machine supports at most 4 vGPUs, this one has %d", len(vgpus))
		}
		for _, d := range vgpus {
			name := d.Backing.(*types.VirtualPCIPassthroughVmiopBackingInfo).Vgpu
			prof, _ := p.profile(name)
			if prof.max != 1 || prof.slices != 0 || (prof.series != 'q' && prof.series != 'c') {
				return nil, nil, vmConfigFault("vcsim.pci.multiVgpu",
					"vGPU profile %q cannot be used with other vGPUs: a virtual machine with several vGPUs needs full-framebuffer time-sliced Q- or C-series profiles", name)
			}
		}
	}

	var slots []vgpuSlot
	used := map[string]bool{}
	policy := p.assignmentPolicy()
	for i, d := range vgpus {
		name := d.Backing.(*types.VirtualPCIPassthroughVmiopBackingInfo).Vgpu
		best, bestLoad := "", -1
		for _, gpu := range p.order {
			if used[gpu] || !p.vgpuAvailable(gpu) {
				continue
			}
			prof := gpuProfile(p.catalog[gpu].gpu, name)
			if prof == nil {
				continue
			}
			load := p.vgpuLoad(gpu, vm.Self)
			if !fits(p.catalog[gpu].gpu, prof, load) {
				continue
			}
			better := best == "" ||
				(policy == "consolidation" && len(load) > bestLoad) ||
				(policy != "consolidation" && len(load) < bestLoad)
			if better {
				best, bestLoad = gpu, len(load)
			}
		}
		if best == "" {
			return nil, nil, vmConfigFault("vcsim.pci.vgpuUnavailable",
				"Insufficient resources. One or more devices (%s) required by VM %s are not available on host %s: no GPU has room for a %s vGPU",
				deviceLabel(d, i), vm.Name, p.name, name)
		}
		used[best] = true
		slots = append(slots, vgpuSlot{gpu: best, profile: name})
	}

	return assigned, slots, nil
}

// fits applies the vGPU manager's placement rules: a GPU runs either
// time-sliced vGPUs of a single type, up to the type's maximum, or MIG-backed
// vGPUs within its MIG slices.
func fits(m *gpuModel, prof *vgpuProfile, load []string) bool {
	if len(load) == 0 {
		return true
	}
	if prof.slices == 0 {
		for _, l := range load {
			if l != prof.name {
				return false
			}
		}
		return len(load) < prof.max
	}
	total := prof.slices
	for _, l := range load {
		lp := gpuProfile(m, l)
		if lp == nil || lp.slices == 0 {
			return false
		}
		total += lp.slices
	}
	return total <= m.migSlices
}

func (p *pciHost) assignmentPolicy() string {
	if h := getHost(p.ref); h != nil && h.Config != nil && h.Config.GraphicsConfig != nil {
		return h.Config.GraphicsConfig.SharedPassthruAssignmentPolicy
	}
	return "performance"
}

// matchDeviceID accepts VirtualPCIPassthroughDeviceBackingInfo.deviceId as
// the API documents it (HostPciDevice.deviceId converted as is to a string)
// and in the hex form many clients send.
func matchDeviceID(s string, id int16) bool {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 32); err == nil && (int16(n) == id || uint16(n) == uint16(id)) {
		return true
	}
	h := strings.TrimPrefix(strings.ToLower(s), "0x")
	if n, err := strconv.ParseUint(h, 16, 16); err == nil && uint16(n) == uint16(id) {
		return true
	}
	return false
}

func allowedDevice(b *types.VirtualPCIPassthroughDynamicBackingInfo, dev types.HostPciDevice) bool {
	if b.CustomLabel != "" {
		return false // no device on the simulated hosts carries a custom label
	}
	for _, a := range b.AllowedDevice {
		if uint16(a.VendorId) != uint16(dev.VendorId) || uint16(a.DeviceId) != uint16(dev.DeviceId) {
			continue
		}
		if a.SubVendorId != 0 && uint16(a.SubVendorId) != uint16(dev.SubVendorId) {
			continue
		}
		if a.SubDeviceId != 0 && uint16(a.SubDeviceId) != uint16(dev.SubDeviceId) {
			continue
		}
		return true
	}
	return false
}

func describeAllowed(b *types.VirtualPCIPassthroughDynamicBackingInfo) string {
	var parts []string
	for _, a := range b.AllowedDevice {
		parts = append(parts, fmt.Sprintf("%04x:%04x", uint16(a.VendorId), uint16(a.DeviceId)))
	}
	if b.CustomLabel != "" {
		parts = append(parts, fmt.Sprintf("label %q", b.CustomLabel))
	}
	if len(parts) == 0 {
		return "(no allowedDevice)"
	}
	return strings.Join(parts, " or ")
}

// powerOffWithPCI releases dynamic DirectPath assignments and vGPUs.
func powerOffWithPCI(task *simulator.Task, orig func(*simulator.Task) (types.AnyType, types.BaseMethodFault)) (types.AnyType, types.BaseMethodFault) {
	res, err := orig(task)
	if err != nil {
		return res, err
	}
	vm := simVM(simulator.Map.Get(*task.Info.Entity))
	if vm == nil || poweredOn(vm) {
		return res, err
	}
	changed := false
	for _, d := range vmPciDevices(vm) {
		if b, ok := d.Backing.(*types.VirtualPCIPassthroughDynamicBackingInfo); ok && b.AssignedId != "" {
			b.AssignedId = ""
			changed = true
		}
	}
	if changed {
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "config.hardware.device", Val: vm.Config.Hardware.Device},
		})
	}
	pciMu.Lock()
	for _, p := range pciHosts {
		delete(p.vgpu, vm.Self)
	}
	pciMu.Unlock()
	return res, err
}

// reconfigureWithPCI refuses, as ESXi does, to add, remove or change a
// VirtualPCIPassthrough device unless the VM is powered off. The simulator
// applies a spec as it goes, so the VM's state is saved first and restored
// when the reconfiguration touched a PCI device.
func reconfigureWithPCI(task *simulator.Task, orig func(*simulator.Task) (types.AnyType, types.BaseMethodFault)) (types.AnyType, types.BaseMethodFault) {
	vm := simVM(simulator.Map.Get(*task.Info.Entity))
	if vm == nil || vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOff {
		return orig(task)
	}
	state := vm.Runtime.PowerState
	saved := deepCopy(vm.VirtualMachine).(mo.VirtualMachine)
	before := pciDeviceMap(saved.Config)

	res, err := orig(task)

	after := pciDeviceMap(vm.Config)
	changed := ""
	for key, d := range before {
		if a, ok := after[key]; !ok || !reflect.DeepEqual(a, d) {
			changed = deviceLabel(d, 0)
			break
		}
	}
	if changed == "" {
		for key, d := range after {
			if _, ok := before[key]; !ok {
				changed = deviceLabel(d, 0)
				break
			}
		}
	}
	if changed == "" {
		return res, err
	}

	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "name", Val: saved.Name},
		{Name: "config", Val: saved.Config},
		{Name: "summary", Val: saved.Summary},
		{Name: "guest", Val: saved.Guest},
		{Name: "network", Val: saved.Network},
		{Name: "datastore", Val: saved.Datastore},
		{Name: "layout", Val: saved.Layout},
		{Name: "layoutEx", Val: saved.LayoutEx},
		{Name: "storage", Val: saved.Storage},
	})

	f := &types.InvalidPowerState{
		RequestedState: types.VirtualMachinePowerStatePoweredOff,
		ExistingState:  state,
	}
	f.FaultMessage = localized("vcsim.pci.hotplug",
		"Device '%s': PCI passthrough devices cannot be added, removed or changed while the virtual machine is %s; power it off first", changed, state)
	return nil, f
}

// relocateWithPCI refuses to move a powered-on VM with a PCI passthrough
// device to another host: DirectPath I/O devices prevent vMotion, and vGPU
// vMotion is off by default in vCenter 7 (vgpu.hotmigrate.enabled). The
// simulator moves the VM before anything can be checked, so the move is undone.
func relocateWithPCI(task *simulator.Task, orig func(*simulator.Task) (types.AnyType, types.BaseMethodFault)) (types.AnyType, types.BaseMethodFault) {
	vm := simVM(simulator.Map.Get(*task.Info.Entity))
	if vm == nil || !poweredOn(vm) || len(vmPciDevices(vm)) == 0 || vm.Runtime.Host == nil {
		return orig(task)
	}
	host := *vm.Runtime.Host
	summaryHost := vm.Summary.Runtime.Host
	datastores := append([]types.ManagedObjectReference(nil), vm.Datastore...)
	pool := vm.ResourcePool

	res, err := orig(task)
	if err != nil || vm.Runtime.Host == nil || *vm.Runtime.Host == host {
		return res, err
	}

	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "runtime.host", Val: host},
		{Name: "summary.runtime.host", Val: summaryHost},
		{Name: "datastore", Val: datastores},
		{Name: "resourcePool", Val: pool},
	})

	label := deviceLabel(vmPciDevices(vm)[0], 0)
	cause := &types.NotSupported{}
	msg := fmt.Sprintf("Virtual machine %q is powered on and uses PCI passthrough device '%s'; "+
		"it cannot be migrated to another host while powered on", vm.Name, label)
	cause.FaultMessage = localized("vcsim.pci.migration", "%s", msg)
	f := &types.DisallowedMigrationDeviceAttached{
		Fault: types.LocalizedMethodFault{Fault: cause, LocalizedMessage: msg},
	}
	f.FaultMessage = localized("vcsim.pci.migration", "%s", msg)
	return nil, f
}

func pciDeviceMap(cfg *types.VirtualMachineConfigInfo) map[int32]*types.VirtualPCIPassthrough {
	res := map[int32]*types.VirtualPCIPassthrough{}
	if cfg == nil {
		return res
	}
	for _, d := range cfg.Hardware.Device {
		if p, ok := d.(*types.VirtualPCIPassthrough); ok {
			res[p.Key] = p
		}
	}
	return res
}

// deepCopy copies exported data recursively (structs with unexported fields,
// such as time.Time, are copied as values).
func deepCopy(v interface{}) interface{} {
	return deepCopyValue(reflect.ValueOf(v)).Interface()
}

func deepCopyValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Ptr:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(deepCopyValue(v.Elem()))
		return n
	case reflect.Interface:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		n := reflect.New(v.Type()).Elem()
		n.Set(deepCopyValue(v.Elem()))
		return n
	case reflect.Slice:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			n.Index(i).Set(deepCopyValue(v.Index(i)))
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, k := range v.MapKeys() {
			n.SetMapIndex(k, deepCopyValue(v.MapIndex(k)))
		}
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		n.Set(v)
		for i := 0; i < v.NumField(); i++ {
			if n.Field(i).CanSet() {
				n.Field(i).Set(deepCopyValue(v.Field(i)))
			}
		}
		return n
	case reflect.Array:
		n := reflect.New(v.Type()).Elem()
		for i := 0; i < v.Len(); i++ {
			n.Index(i).Set(deepCopyValue(v.Index(i)))
		}
		return n
	default:
		return v
	}
}

// ---------------------------------------------------------------------------
// HostSystem.RebootHost_Task.

// rebootHostTask answers HostSystem.RebootHost_Task (see interceptSOAP).
func rebootHostTask(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.RebootHost_Task)
	host := call.Method.This
	task := simulator.CreateTask(host, "rebootHost", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, rebootHost(host, req.Force)
	})
	return &methods.RebootHost_TaskBody{
		Res: &types.RebootHost_TaskResponse{Returnval: task.Run()},
	}
}

// rebootHost applies what a reboot applies: pending passthrough changes become
// active, dynamic DirectPath and vGPU assignments are released, bootTime moves.
// Without force, ESXi reboots only a host in maintenance mode.
func rebootHost(ref types.ManagedObjectReference, force bool) types.BaseMethodFault {
	h := getHost(ref)
	if h == nil {
		return &types.ManagedObjectNotFound{Obj: ref}
	}
	var inMaintenance bool
	simulator.Map.WithLock(h, func() { inMaintenance = h.Runtime.InMaintenanceMode })

	var running []*simulator.VirtualMachine
	for _, vm := range vmsOnHost(ref) {
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			running = append(running, vm)
		}
	}
	if !force && !inMaintenance {
		f := &types.InvalidState{}
		f.FaultMessage = localized("vcsim.host.rebootNotInMaintenanceMode",
			"Host %s is not in maintenance mode: enter maintenance mode or reboot with force", h.Name)
		return f
	}
	if !force && len(running) > 0 {
		f := &types.InvalidState{}
		f.FaultMessage = localized("vcsim.host.rebootVmsRunning",
			"Host %s has %d virtual machines that are not powered off (%s): power them off or reboot with force",
			h.Name, len(running), running[0].Name)
		return f
	}
	// A forced reboot takes the running VMs down with the host.
	for _, vm := range running {
		simulator.Map.WithLock(vm, func() {
			simulator.Map.Update(vm, []types.PropertyChange{
				{Name: "runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOff},
				{Name: "summary.runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOff},
			})
		})
	}

	pciMu.Lock()
	p := pciHosts[ref]
	var snap pciSnapshot
	if p != nil {
		for _, info := range p.info {
			if info.PassthruCapable {
				info.PassthruActive = info.PassthruEnabled
			}
		}
		p.rebootSriov()
		p.vgpu = map[types.ManagedObjectReference][]vgpuSlot{}
		snap = p.snapshot()
	}
	pciMu.Unlock()

	for _, vm := range vmsOnHost(ref) {
		simulator.Map.WithLock(vm, func() {
			changed := false
			for _, d := range vmPciDevices(vm) {
				if b, ok := d.Backing.(*types.VirtualPCIPassthroughDynamicBackingInfo); ok && b.AssignedId != "" {
					b.AssignedId = ""
					changed = true
				}
			}
			if changed {
				simulator.Map.Update(vm, []types.PropertyChange{
					{Name: "config.hardware.device", Val: vm.Config.Hardware.Device},
				})
			}
		})
	}

	now := time.Now()
	simulator.Map.WithLock(h, func() {
		simulator.Map.Update(h, []types.PropertyChange{{Name: "runtime.bootTime", Val: &now}})
	})
	if p != nil {
		p.apply(h, snap, false)
	}
	return nil
}
