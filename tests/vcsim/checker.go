package main

// vCenter's migration checks: VirtualMachineProvisioningChecker.CheckRelocate_Task
// and CheckMigrate_Task, the same checks in front of RelocateVM_Task, and
// MigrateVM_Task (compute only), which stock vcsim lacks. Hosts can be given an
// AMD CPU (-host-cpu) and be disconnected (DisconnectHost_Task/ReconnectHost_Task)
// so that the checks have something to find.
//
// Stock vcsim lists a provisioning checker that implements nothing
// (MethodNotFound) and its RelocateVM_Task moves any VM anywhere: a running VM
// onto a host with another CPU vendor, onto a host in maintenance mode, away from
// its datastore or network. vCenter refuses all of these. The checks here are the
// ones that make a move impossible; each one reports a real vSphere fault type
// with a message like vCenter's, in a CheckResult (checker) or as the task's
// error (RelocateVM_Task/MigrateVM_Task).
//
// relocateChecks(vm, spec) is the whole refusal; relocateVM only calls it and
// then the stock method, so another RelocateVM_Task interceptor can chain it.

import (
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var hostCPUFlag string

func init() {
	flag.StringVar(&hostCPUFlag, "host-cpu", "",
		"NAME=VENDOR[,NAME=VENDOR]: give these hosts another CPU (amd: an AMD EPYC 7763; intel: the stock Intel Xeon)")
	extensions = append(extensions, installChecker)
	interceptSOAP("VirtualMachineProvisioningChecker", "CheckRelocate_Task", checkRelocateTask)
	interceptSOAP("VirtualMachineProvisioningChecker", "CheckMigrate_Task", checkMigrateTask)
	// RelocateVM_Task runs relocateChecks first: see relocateVMTask in relocate.go.
	interceptSOAP("VirtualMachine", "MigrateVM_Task", migrateVM)
	interceptSOAP("HostSystem", "DisconnectHost_Task", disconnectHost)
	interceptSOAP("HostSystem", "ReconnectHost_Task", reconnectHost)
}

// ---------------------------------------------------------------------------
// CPUs.

// cpuModel is what a host reports about its processors.
type cpuModel struct {
	vendor      string // hardware.cpuPkg[].vendor
	description string // hardware.cpuPkg[].description, summary.hardware.cpuModel
	evcMode     string // summary.maxEVCModeKey
	cpuid       []types.HostCpuIdInfo
	features    map[string]string // config.featureCapability
}

// The keys real hosts report in featureCapability (a subset); the values say
// whether the CPU has the feature.
var featureKeys = []string{
	"cpuid.AES", "cpuid.AMD", "cpuid.AVX", "cpuid.AVX2", "cpuid.BMI1", "cpuid.BMI2", "cpuid.FMA",
	"cpuid.Intel", "cpuid.LM", "cpuid.NX", "cpuid.PCLMULQDQ", "cpuid.POPCNT", "cpuid.SHA",
	"cpuid.SSE3", "cpuid.SSE41", "cpuid.SSE42", "cpuid.SSSE3", "cpuid.XSAVE",
}

func features(has ...string) map[string]string {
	res := map[string]string{}
	for _, k := range featureKeys {
		res[k] = "0"
	}
	for _, k := range has {
		res[k] = "1"
	}
	return res
}

// cpuid formats a register as vSphere does: 32 bits in groups of four.
func cpuidBits(v uint32) string {
	s := fmt.Sprintf("%032b", v)
	parts := make([]string, 0, 8)
	for i := 0; i < 32; i += 4 {
		parts = append(parts, s[i:i+4])
	}
	return strings.Join(parts, ":")
}

func cpuidLeaf(level uint32, eax, ebx, ecx, edx uint32) types.HostCpuIdInfo {
	return types.HostCpuIdInfo{Level: int32(level), Eax: cpuidBits(eax), Ebx: cpuidBits(ebx), Ecx: cpuidBits(ecx), Edx: cpuidBits(edx)}
}

var cpuModels = map[string]cpuModel{
	// The stock host's processor (Sandy Bridge-EP).
	"intel": {
		vendor:      "intel",
		description: "Intel(R) Xeon(R) CPU E5-1620 0 @ 3.60GHz",
		evcMode:     "intel-sandybridge",
		cpuid:       esx.HostHardwareInfo.CpuFeature,
		features: features("cpuid.Intel", "cpuid.AES", "cpuid.AVX", "cpuid.LM", "cpuid.NX", "cpuid.PCLMULQDQ",
			"cpuid.POPCNT", "cpuid.SSE3", "cpuid.SSE41", "cpuid.SSE42", "cpuid.SSSE3", "cpuid.XSAVE"),
	},
	// An AMD EPYC 7763 (Zen 3, "Milan"): "AuthenticAMD" in leaf 0 and 0x80000000,
	// family 19h in leaf 1.
	"amd": {
		vendor:      "amd",
		description: "AMD EPYC 7763 64-Core Processor",
		evcMode:     "amd-zen3",
		cpuid: []types.HostCpuIdInfo{
			cpuidLeaf(0, 0x00000010, 0x68747541, 0x444d4163, 0x69746e65),
			cpuidLeaf(1, 0x00a00f11, 0x00020800, 0x7ed8320b, 0x178bfbff),
			cpuidLeaf(0x80000000, 0x80000023, 0x68747541, 0x444d4163, 0x69746e65),
			cpuidLeaf(0x80000001, 0x00a00f11, 0x40000000, 0x75c237ff, 0x2fd3fbff),
			cpuidLeaf(0x80000008, 0x00003030, 0x111ef657, 0x0000407f, 0x00000000),
		},
		features: features("cpuid.AMD", "cpuid.AES", "cpuid.AVX", "cpuid.AVX2", "cpuid.BMI1", "cpuid.BMI2",
			"cpuid.FMA", "cpuid.LM", "cpuid.NX", "cpuid.PCLMULQDQ", "cpuid.POPCNT", "cpuid.SHA", "cpuid.SSE3",
			"cpuid.SSE41", "cpuid.SSE42", "cpuid.SSSE3", "cpuid.XSAVE"),
	},
}

// parseHostCPU reads -host-cpu: NAME=VENDOR[,NAME=VENDOR].
func parseHostCPU(s string) (map[string]string, error) {
	res := map[string]string{}
	if s == "" {
		return res, nil
	}
	for _, item := range strings.Split(s, ",") {
		kv := strings.SplitN(strings.TrimSpace(item), "=", 2)
		if len(kv) != 2 || kv[0] == "" {
			return nil, fmt.Errorf("%q is not NAME=VENDOR", item)
		}
		vendor := strings.ToLower(kv[1])
		if _, ok := cpuModels[vendor]; !ok {
			return nil, fmt.Errorf("%q: unknown vendor %q (amd or intel)", item, kv[1])
		}
		res[kv[0]] = vendor
	}
	return res, nil
}

func installChecker(m *simulator.Model) {
	wanted, err := parseHostCPU(hostCPUFlag)
	if err != nil {
		fatalf("-host-cpu: %s", err)
	}
	for name := range wanted {
		if hostByName(name) == nil {
			var names []string
			for _, e := range simulator.Map.All("HostSystem") {
				names = append(names, e.Entity().Name)
			}
			sort.Strings(names)
			fatalf("-host-cpu: no host named %q (hosts: %s)", name, strings.Join(names, ", "))
		}
	}
	for _, e := range simulator.Map.All("HostSystem") {
		h := simHost(e)
		if h == nil {
			continue
		}
		if vendor, ok := wanted[h.Name]; ok {
			setHostCPU(h, cpuModels[vendor])
		} else {
			publishFeatures(h, cpuModels["intel"])
		}
	}
}

// setHostCPU gives the host another processor. The simulator's hosts share the
// template's cpuPkg slice, so the host gets its own copies.
func setHostCPU(h *simulator.HostSystem, cpu cpuModel) {
	hw := *h.Hardware
	hw.CpuPkg = make([]types.HostCpuPackage, len(h.Hardware.CpuPkg))
	for i, p := range h.Hardware.CpuPkg {
		p.Vendor = cpu.vendor
		p.Description = cpu.description
		p.CpuFeature = append([]types.HostCpuIdInfo(nil), cpu.cpuid...)
		hw.CpuPkg[i] = p
	}
	hw.CpuFeature = append([]types.HostCpuIdInfo(nil), cpu.cpuid...)
	h.Hardware = &hw
	summary := *h.Summary.Hardware
	summary.CpuModel = cpu.description
	h.Summary.Hardware = &summary
	publishFeatures(h, cpu)
}

func publishFeatures(h *simulator.HostSystem, cpu cpuModel) {
	h.Summary.MaxEVCModeKey = cpu.evcMode
	if h.Config == nil {
		return
	}
	cfg := *h.Config
	cfg.FeatureCapability = nil
	for _, k := range featureKeys {
		cfg.FeatureCapability = append(cfg.FeatureCapability, types.HostFeatureCapability{Key: k, FeatureName: k, Value: cpu.features[k]})
	}
	h.Config = &cfg
}

// hostFeatures is the host's featureCapability; hosts added later (AddHost_Task)
// have none published and are judged by their CPU vendor.
func hostFeatures(h *simulator.HostSystem) map[string]string {
	res := map[string]string{}
	if h.Config != nil {
		for _, f := range h.Config.FeatureCapability {
			res[f.Key] = f.Value
		}
	}
	if len(res) == 0 {
		if cpu, ok := cpuModels[hostVendor(h)]; ok {
			return cpu.features
		}
	}
	return res
}

func hostVendor(h *simulator.HostSystem) string {
	if h.Hardware != nil && len(h.Hardware.CpuPkg) > 0 {
		return h.Hardware.CpuPkg[0].Vendor
	}
	return ""
}

func hostCPUName(h *simulator.HostSystem) string {
	if h.Hardware != nil && len(h.Hardware.CpuPkg) > 0 {
		return h.Hardware.CpuPkg[0].Description
	}
	return "an unknown CPU"
}

// vmRequirements are the CPU features a running VM uses: runtime.featureRequirement
// when set, else every feature of the host it runs on (the simulator's VMs are
// not masked by EVC).
func vmRequirements(vm *simulator.VirtualMachine, from *simulator.HostSystem) []types.VirtualMachineFeatureRequirement {
	if len(vm.Runtime.FeatureRequirement) > 0 {
		return vm.Runtime.FeatureRequirement
	}
	var res []types.VirtualMachineFeatureRequirement
	if from == nil {
		return nil
	}
	have := hostFeatures(from)
	for _, k := range featureKeys {
		if have[k] == "1" {
			res = append(res, types.VirtualMachineFeatureRequirement{Key: k, FeatureName: k, Value: "Bool:Min:1"})
		}
	}
	return res
}

// ---------------------------------------------------------------------------
// The checks.

// The CheckTestType groups.
const (
	sourceTests       = "sourceTests"
	hostTests         = "hostTests"
	resourcePoolTests = "resourcePoolTests"
	datastoreTests    = "datastoreTests"
	networkTests      = "networkTests"
)

// A finding is one problem of a placement: an error (the move is impossible)
// or a warning.
type finding struct {
	test    string
	warning bool
	fault   types.BaseMethodFault // FaultMessage carries the message
}

func withMessage(f types.BaseMethodFault, key, format string, args ...interface{}) types.BaseMethodFault {
	f.GetMethodFault().FaultMessage = localized(key, format, args...)
	return f
}

func faultText(f types.BaseMethodFault) string {
	if m := f.GetMethodFault().FaultMessage; len(m) > 0 {
		return m[0].Message
	}
	return fmt.Sprintf("%T", f)
}

func localizedFault(f types.BaseMethodFault) types.LocalizedMethodFault {
	return types.LocalizedMethodFault{Fault: f, LocalizedMessage: faultText(f)}
}

// placementFindings is what vCenter finds wrong with running vm on host, its
// files placed as spec says, for the VM in the given power state.
func placementFindings(vm *simulator.VirtualMachine, host *simulator.HostSystem, spec *types.VirtualMachineRelocateSpec, state types.VirtualMachinePowerState) []finding {
	var res []finding
	add := func(test string, warning bool, f types.BaseMethodFault) {
		res = append(res, finding{test: test, warning: warning, fault: f})
	}
	var from *simulator.HostSystem
	if vm.Runtime.Host != nil {
		from = getHost(*vm.Runtime.Host)
	}
	moves := from == nil || from.Self != host.Self
	live := state == types.VirtualMachinePowerStatePoweredOn
	// A suspended VM resumes with the CPU state it was saved with.
	keepsCPUState := live || state == types.VirtualMachinePowerStateSuspended

	if moves && live && from != nil && from.Runtime.ConnectionState != types.HostSystemConnectionStateConnected {
		add(sourceTests, false, withMessage(&types.HostNotConnected{}, "vim.fault.HostNotConnected",
			"Unable to communicate with the remote host, since it is disconnected."))
	}
	if moves && live {
		if devs := vmPciDevices(vm); len(devs) > 0 {
			add(sourceTests, false, passthroughMigrationFault(vm, devs[0]))
		}
	}

	if host.Runtime.ConnectionState != types.HostSystemConnectionStateConnected {
		add(hostTests, false, withMessage(&types.HostNotConnected{}, "vim.fault.HostNotConnected",
			"Unable to communicate with the remote host, since it is disconnected."))
	}
	if moves && host.Runtime.InMaintenanceMode {
		add(hostTests, false, withMessage(&types.InvalidHostState{Host: &host.Self}, "vim.fault.InvalidHostState",
			"The operation is not allowed in the current state of the host."))
	}
	if moves && keepsCPUState {
		if f := cpuFinding(vm, from, host); f != nil {
			add(hostTests, false, f)
		}
	}

	for _, f := range datastoreFindings(vm, host, spec) {
		add(datastoreTests, false, f)
	}
	if moves {
		res = append(res, networkFindings(vm, host, live)...)
	}
	return res
}

func cpuFinding(vm *simulator.VirtualMachine, from, to *simulator.HostSystem) types.BaseMethodFault {
	have := hostFeatures(to)
	var missing []types.VirtualMachineFeatureRequirement
	var names []string
	for _, r := range vmRequirements(vm, from) {
		if strings.HasPrefix(r.Value, "Bool:Min:1") && have[r.Key] != "1" {
			missing = append(missing, r)
			names = append(names, r.FeatureName)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	runsOn := "its host"
	if from != nil {
		runsOn = fmt.Sprintf("%s (%s)", from.Name, hostCPUName(from))
	}
	return withMessage(&types.FeatureRequirementsNotMet{FeatureRequirement: missing, Vm: &vm.Self, Host: &to.Self},
		"com.vmware.vim.vpxd.vmcheck.featureRequirementsNotMet",
		"The target host does not support the virtual machine's current hardware requirements: "+
			"%s has %s, the virtual machine runs on %s; missing CPU features: %s. "+
			"Use a cluster with Enhanced vMotion Compatibility (EVC) enabled to create a uniform set of CPU features across the cluster, "+
			"or power the virtual machine off to migrate it. See KB article 1003212.",
		to.Name, hostCPUName(to), runsOn, strings.Join(names, ", "))
}

// passthroughMigrationFault is vCenter's refusal to move a running VM with a
// DirectPath I/O or vGPU device (the same fault pci.go's RelocateVM_Task hook gives).
func passthroughMigrationFault(vm *simulator.VirtualMachine, dev *types.VirtualPCIPassthrough) types.BaseMethodFault {
	msg := fmt.Sprintf("Virtual machine %q is powered on and uses PCI passthrough device '%s'; "+
		"it cannot be migrated to another host while powered on", vm.Name, deviceLabel(dev, 0))
	cause := withMessage(&types.NotSupported{}, "vcsim.pci.migration", "%s", msg)
	return withMessage(&types.DisallowedMigrationDeviceAttached{Fault: types.LocalizedMethodFault{Fault: cause, LocalizedMessage: msg}},
		"vcsim.pci.migration", "%s", msg)
}

// datastoreFindings: the datastores the VM's files will be on after the move must
// be mounted on the host: spec.datastore and disk locators (DatastoreNotWritableOnHost),
// else the files stay where they are (CannotAccessVmConfig, CannotAccessVmDisk).
func datastoreFindings(vm *simulator.VirtualMachine, host *simulator.HostSystem, spec *types.VirtualMachineRelocateSpec) []types.BaseMethodFault {
	var res []types.BaseMethodFault
	notWritable := func(ref types.ManagedObjectReference) {
		name := ref.Value
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
			name = ds.Name
		}
		f := &types.DatastoreNotWritableOnHost{InvalidDatastore: types.InvalidDatastore{Datastore: &ref, Name: name}, Host: host.Self}
		res = append(res, withMessage(f, "vim.fault.DatastoreNotWritableOnHost",
			"The datastore '%s' is not accessible from host %s.", name, host.Name))
	}
	locators := map[int32]types.ManagedObjectReference{}
	if spec != nil {
		if spec.Datastore != nil && !hostSees(host, *spec.Datastore) {
			notWritable(*spec.Datastore)
		}
		for _, d := range spec.Disk {
			locators[d.DiskId] = d.Datastore
			if !hostSees(host, d.Datastore) && (spec.Datastore == nil || d.Datastore != *spec.Datastore) {
				notWritable(d.Datastore)
			}
		}
	}
	if vm.Config == nil || (spec != nil && spec.Datastore != nil) {
		return res
	}
	dc := datacenterOf(vm)
	if path := vm.Config.Files.VmPathName; path != "" {
		if ref, ok := datastoreOfPath(dc, path); ok && !hostSees(host, ref) {
			reason := withMessage(&types.CannotAccessFile{FileFault: types.FileFault{File: path}}, "vim.fault.CannotAccessFile",
				"Unable to access file %s", path)
			res = append(res, withMessage(&types.CannotAccessVmConfig{Reason: localizedFault(reason)}, "vim.fault.CannotAccessVmConfig",
				"Unable to access the virtual machine configuration: Unable to access file %s", path))
		}
	}
	disks := 0 // "Hard disk 1", ...
	for _, d := range vm.Config.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		disks++
		if _, moved := locators[disk.Key]; moved {
			continue
		}
		b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		file := b.GetVirtualDeviceFileBackingInfo().FileName
		if ref, ok := datastoreOfPath(dc, file); ok && !hostSees(host, ref) {
			label := fmt.Sprintf("Hard disk %d", disks)
			reason := withMessage(&types.CannotAccessFile{FileFault: types.FileFault{File: file}}, "vim.fault.CannotAccessFile",
				"Unable to access file %s", file)
			f := &types.CannotAccessVmDisk{Fault: localizedFault(reason)}
			f.Device, f.Backing, f.Connected = label, file, true
			res = append(res, withMessage(f, "vim.fault.CannotAccessVmDisk",
				"Virtual disk '%s' is not accessible on the host: Unable to access file %s", label, file))
		}
	}
	return res
}

// hostSees: the datastore is one of the host's and mounted, accessible there.
func hostSees(h *simulator.HostSystem, ref types.ManagedObjectReference) bool {
	found := false
	for _, d := range h.Datastore {
		found = found || d == ref
	}
	if !found {
		return false
	}
	if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
		for _, m := range ds.Host {
			if m.Key == h.Self && ((m.MountInfo.Mounted != nil && !*m.MountInfo.Mounted) || (m.MountInfo.Accessible != nil && !*m.MountInfo.Accessible)) {
				return false
			}
		}
	}
	return true
}

// datastoreOfPath finds the datastore of "[name] dir/file" in the datacenter.
func datastoreOfPath(dc *simulator.Datacenter, path string) (types.ManagedObjectReference, bool) {
	if dc == nil || !strings.HasPrefix(path, "[") {
		return types.ManagedObjectReference{}, false
	}
	end := strings.Index(path, "]")
	if end < 0 {
		return types.ManagedObjectReference{}, false
	}
	if e := simulator.Map.FindByName(path[1:end], dc.Datastore); e != nil {
		return e.Reference(), true
	}
	return types.ManagedObjectReference{}, false
}

// networkFindings: every NIC's network must be on the target host
// (CannotAccessNetwork): an error for a connected NIC of a running VM, a warning
// otherwise (the API's rule for CannotAccessVmDevice).
func networkFindings(vm *simulator.VirtualMachine, host *simulator.HostSystem, live bool) []finding {
	if vm.Config == nil {
		return nil
	}
	var res []finding
	nics := 0 // labels as vSphere numbers them: "Network adapter 1", ...
	for _, d := range vm.Config.Hardware.Device {
		nic, ok := d.(types.BaseVirtualEthernetCard)
		if !ok {
			continue
		}
		nics++
		card := nic.GetVirtualEthernetCard()
		var net types.ManagedObjectReference
		name := ""
		switch b := card.Backing.(type) {
		case *types.VirtualEthernetCardNetworkBackingInfo:
			name = b.DeviceName
			if b.Network != nil {
				net = *b.Network
			} else if dc := datacenterOf(vm); dc != nil {
				if e := simulator.Map.FindByName(b.DeviceName, dc.Network); e != nil {
					net = e.Reference()
				}
			}
		case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
			net = types.ManagedObjectReference{Type: "DistributedVirtualPortgroup", Value: b.Port.PortgroupKey}
		default:
			continue
		}
		if net.Value == "" {
			continue
		}
		present := false
		for _, n := range host.Network {
			present = present || n == net
		}
		if present {
			continue
		}
		if e, ok := simulator.Map.Get(net).(mo.Entity); ok && name == "" {
			name = e.Entity().Name
		}
		connected := live && (card.Connectable == nil || card.Connectable.Connected)
		label := fmt.Sprintf("Network adapter %d", nics)
		f := &types.CannotAccessNetwork{Network: &net}
		f.Device, f.Backing, f.Connected = label, name, connected
		if connected {
			withMessage(f, "vim.fault.CannotAccessNetwork",
				"Currently connected network interface '%s' uses network '%s', which is not accessible.", label, name)
		} else {
			withMessage(f, "vim.fault.CannotAccessNetwork",
				"Network interface '%s' uses network '%s', which is not accessible.", label, name)
		}
		res = append(res, finding{test: networkTests, warning: !connected, fault: f})
	}
	return res
}

// ---------------------------------------------------------------------------
// Where a move goes.

func computeHosts(ref types.ManagedObjectReference) []types.ManagedObjectReference {
	switch c := simulator.Map.Get(ref).(type) {
	case *simulator.ClusterComputeResource:
		return c.Host
	case *mo.ComputeResource:
		return c.Host
	}
	return nil
}

func drsEnabled(ref types.ManagedObjectReference) bool {
	c, ok := simulator.Map.Get(ref).(*simulator.ClusterComputeResource)
	if !ok {
		return false
	}
	cfg, ok := c.ConfigurationEx.(*types.ClusterConfigInfoEx)
	return ok && cfg.DrsConfig.Enabled != nil && *cfg.DrsConfig.Enabled
}

func notSupported() types.BaseMethodFault {
	return withMessage(&types.NotSupported{}, "vmodl.fault.NotSupported", "The operation is not supported on the object.")
}

func badParameter(property string) types.BaseMethodFault {
	return withMessage(&types.InvalidArgument{InvalidProperty: property}, "vmodl.fault.InvalidArgument",
		"A specified parameter was not correct: %s", property)
}

// targetHosts: the hosts a relocation or migration to (host, pool) would run the
// VM on. An unset host means the pool's standalone host, each usable host of a
// DRS cluster (DRS picks one), or else the VM's current host.
func targetHosts(vm *simulator.VirtualMachine, hostRef, poolRef *types.ManagedObjectReference, prefix string) ([]*simulator.HostSystem, types.BaseMethodFault) {
	var owner types.ManagedObjectReference
	if poolRef != nil {
		pool := simPool(simulator.Map.Get(*poolRef))
		if pool == nil {
			return nil, badParameter(prefix + "pool")
		}
		owner = poolOwner(pool)
	}
	if hostRef != nil {
		h := getHost(*hostRef)
		if h == nil {
			return nil, badParameter(prefix + "host")
		}
		if poolRef != nil && (h.Parent == nil || *h.Parent != owner) {
			// The host and the pool belong to different compute resources.
			return nil, badParameter(prefix + "pool")
		}
		return []*simulator.HostSystem{h}, nil
	}
	var current *simulator.HostSystem
	if vm.Runtime.Host != nil {
		current = getHost(*vm.Runtime.Host)
	}
	if poolRef == nil || (current != nil && current.Parent != nil && *current.Parent == owner) {
		if current == nil {
			return nil, badParameter(prefix + "host")
		}
		return []*simulator.HostSystem{current}, nil
	}
	hosts := computeHosts(owner)
	if owner.Type == "ComputeResource" && len(hosts) == 1 {
		return []*simulator.HostSystem{getHost(hosts[0])}, nil
	}
	if !drsEnabled(owner) {
		return nil, badParameter(prefix + "host")
	}
	var res []*simulator.HostSystem
	for _, ref := range hosts {
		if h := getHost(ref); h != nil && h.Runtime.ConnectionState == types.HostSystemConnectionStateConnected && !h.Runtime.InMaintenanceMode {
			res = append(res, h)
		}
	}
	return res, nil
}

// relocateChecks is vCenter's refusal of RelocateVM_Task(spec) for vm in its
// current state: the first error the checker would report, or nil when the move
// is possible. The caller holds the VM's lock.
func relocateChecks(vm *simulator.VirtualMachine, spec *types.VirtualMachineRelocateSpec) types.BaseMethodFault {
	hosts, fault := targetHosts(vm, spec.Host, spec.Pool, "spec.")
	if fault != nil {
		return fault
	}
	var first types.BaseMethodFault
	for _, h := range hosts {
		var hostErr types.BaseMethodFault
		for _, f := range placementFindings(vm, h, spec, vm.Runtime.PowerState) {
			if !f.warning {
				hostErr = f.fault
				break
			}
		}
		if hostErr == nil {
			return nil // DRS would pick this host
		}
		if first == nil {
			first = hostErr
		}
	}
	return first
}

// ---------------------------------------------------------------------------
// SOAP methods.

func checkerTestTypes(list []string) map[string]bool {
	res := map[string]bool{}
	for _, t := range list {
		res[t] = true
	}
	if len(res) == 0 {
		for _, t := range []string{sourceTests, hostTests, resourcePoolTests, datastoreTests, networkTests} {
			res[t] = true
		}
	}
	return res
}

// checkResults runs the checks for each target host, as CheckRelocate and
// CheckMigrate answer: one CheckResult per host tested.
func checkResults(vm *simulator.VirtualMachine, hosts []*simulator.HostSystem, spec *types.VirtualMachineRelocateSpec,
	state types.VirtualMachinePowerState, tests []string) []types.CheckResult {
	wanted := checkerTestTypes(tests)
	res := []types.CheckResult{}
	for _, h := range hosts {
		r := types.CheckResult{Vm: &vm.Self, Host: &h.Self}
		for _, f := range placementFindings(vm, h, spec, state) {
			if !wanted[f.test] {
				continue
			}
			if f.warning {
				r.Warning = append(r.Warning, localizedFault(f.fault))
			} else {
				r.Error = append(r.Error, localizedFault(f.fault))
			}
		}
		res = append(res, r)
	}
	return res
}

// runTask runs a task and gives its error the fault's message as localizedMessage,
// as vCenter does (the simulator writes the Go type name there).
func runTask(entity mo.Reference, name, descriptionID string, run func() (types.AnyType, types.BaseMethodFault)) types.ManagedObjectReference {
	task := simulator.CreateTask(entity, name, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) { return run() })
	if descriptionID != "" {
		task.Info.DescriptionId = descriptionID
	}
	ref := task.Run()
	if task.Info.Error != nil && task.Info.Error.Fault != nil {
		simulator.Map.Update(task, []types.PropertyChange{{Name: "info.error", Val: localizedFault(task.Info.Error.Fault)}})
	}
	return ref
}

func checkerVM(ref types.ManagedObjectReference) (*simulator.VirtualMachine, *soap.Fault) {
	vm := simVM(simulator.Map.Get(ref))
	if vm == nil {
		return nil, simulator.Fault("", &types.ManagedObjectNotFound{Obj: ref})
	}
	return vm, nil
}

// checkTask runs one checker task (checkRelocate or checkMigrate) for vm and the
// hosts spec.host/spec.pool name; with `state` set the VM must be in that power state.
func checkTask(vm *simulator.VirtualMachine, name string, spec *types.VirtualMachineRelocateSpec, prefix string,
	state types.VirtualMachinePowerState, tests []string) types.ManagedObjectReference {
	var task types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() {
		task = runTask(vm, name, "vm.check.ProvisioningChecker."+name, func() (types.AnyType, types.BaseMethodFault) {
			// CheckMigrate takes templates (with a host or pool), CheckRelocate does not.
			if name == "checkRelocate" && vm.Config != nil && vm.Config.Template {
				return nil, notSupported()
			}
			if state != "" && state != vm.Runtime.PowerState {
				return nil, &types.InvalidPowerState{RequestedState: state, ExistingState: vm.Runtime.PowerState}
			}
			hosts, f := targetHosts(vm, spec.Host, spec.Pool, prefix)
			if f != nil {
				return nil, f
			}
			return types.ArrayOfCheckResult{CheckResult: checkResults(vm, hosts, spec, vm.Runtime.PowerState, tests)}, nil
		})
	})
	return task
}

func checkRelocateTask(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.CheckRelocate_Task)
	vm, fault := checkerVM(req.Vm)
	if fault != nil {
		return &methods.CheckRelocate_TaskBody{Fault_: fault}
	}
	task := checkTask(vm, "checkRelocate", &req.Spec, "spec.", "", req.TestType)
	return &methods.CheckRelocate_TaskBody{Res: &types.CheckRelocate_TaskResponse{Returnval: task}}
}

func checkMigrateTask(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.CheckMigrate_Task)
	vm, fault := checkerVM(req.Vm)
	if fault != nil {
		return &methods.CheckMigrate_TaskBody{Fault_: fault}
	}
	spec := &types.VirtualMachineRelocateSpec{Host: req.Host, Pool: req.Pool}
	task := checkTask(vm, "checkMigrate", spec, "", req.State, req.TestType)
	return &methods.CheckMigrate_TaskBody{Res: &types.CheckMigrate_TaskResponse{Returnval: task}}
}

// migrateVM is MigrateVM_Task as vCenter runs it: a compute-only relocation to
// (host, pool), refused as RelocateVM_Task is, and when `state` is set only for a
// VM in that power state. ESXi has no MigrateVM (NotSupported).
func migrateVM(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.MigrateVM_Task)
	vm, fault := checkerVM(call.Method.This)
	if fault != nil {
		return &methods.MigrateVM_TaskBody{Fault_: fault}
	}
	ctx := callContext(call)
	var task types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() {
		task = runTask(vm, "migrateVm", "VirtualMachine.migrate", func() (types.AnyType, types.BaseMethodFault) {
			if simulator.Map.IsESX() {
				return nil, notSupported()
			}
			if req.State != "" && req.State != vm.Runtime.PowerState {
				return nil, &types.InvalidPowerState{RequestedState: req.State, ExistingState: vm.Runtime.PowerState}
			}
			hosts, f := targetHosts(vm, req.Host, req.Pool, "")
			if f != nil {
				return nil, f
			}
			spec := types.VirtualMachineRelocateSpec{Pool: req.Pool}
			// DRS's pick when the host is unset: the first usable host.
			var refusal types.BaseMethodFault
			for _, h := range hosts {
				s := spec
				s.Host = &h.Self
				if f := relocateChecks(vm, &s); f != nil {
					if refusal == nil {
						refusal = f
					}
					continue
				}
				spec, refusal = s, nil
				break
			}
			if refusal != nil {
				return nil, refusal
			}
			if len(hosts) == 0 {
				return nil, withMessage(&types.NoCompatibleHost{}, "vim.fault.NoCompatibleHost",
					"No host is compatible with the virtual machine.")
			}
			body, ok := vm.RelocateVMTask(ctx, &types.RelocateVM_Task{This: vm.Self, Spec: spec, Priority: req.Priority}).(*methods.RelocateVM_TaskBody)
			if !ok || body.Res == nil {
				return nil, &types.SystemError{Reason: "relocation did not start"}
			}
			inner, ok := simulator.Map.Get(body.Res.Returnval).(*simulator.Task)
			if ok && inner.Info.Error != nil {
				return nil, inner.Info.Error.Fault
			}
			return nil, nil
		})
	})
	return &methods.MigrateVM_TaskBody{Res: &types.MigrateVM_TaskResponse{Returnval: task}}
}

// ---------------------------------------------------------------------------
// Host connection state (vCenter): DisconnectHost_Task and ReconnectHost_Task.
// A disconnected host's VMs are disconnected too.

func setConnection(h *simulator.HostSystem, host types.HostSystemConnectionState, vms types.VirtualMachineConnectionState) {
	simulator.Map.WithLock(h, func() {
		simulator.Map.Update(h, []types.PropertyChange{{Name: "runtime.connectionState", Val: host}})
	})
	for _, vm := range vmsOnHost(h.Self) {
		simulator.Map.WithLock(vm, func() {
			simulator.Map.Update(vm, []types.PropertyChange{
				{Name: "runtime.connectionState", Val: vms},
				{Name: "summary.runtime.connectionState", Val: vms},
			})
		})
	}
}

func hostConnectionTask(call *soapCall, name string, host types.HostSystemConnectionState, vms types.VirtualMachineConnectionState) types.ManagedObjectReference {
	h := getHost(call.Method.This)
	return runTask(h, name, "", func() (types.AnyType, types.BaseMethodFault) {
		if simulator.Map.IsESX() {
			return nil, notSupported()
		}
		setConnection(h, host, vms)
		return nil, nil
	})
}

func disconnectHost(call *soapCall) soap.HasFault {
	task := hostConnectionTask(call, "disconnectHost", types.HostSystemConnectionStateDisconnected, types.VirtualMachineConnectionStateDisconnected)
	return &methods.DisconnectHost_TaskBody{Res: &types.DisconnectHost_TaskResponse{Returnval: task}}
}

func reconnectHost(call *soapCall) soap.HasFault {
	task := hostConnectionTask(call, "reconnectHost", types.HostSystemConnectionStateConnected, types.VirtualMachineConnectionStateConnected)
	return &methods.ReconnectHost_TaskBody{Res: &types.ReconnectHost_TaskResponse{Returnval: task}}
}
