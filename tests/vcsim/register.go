package main

// Folder.RegisterVM_Task reads the .vmx, as ESXi does.
//
// Stock vcsim creates a default VM (1 CPU, 32 MB, no disk, no NIC) whatever
// the .vmx says, and insists on NAME.nvram and vmware.log existing. Here the
// .vmx is parsed first (missing: NotFound, unreadable or not a vmx:
// InvalidArgument on "path"), the files stock register opens are provided,
// the stock register runs, and the new VM is then given the .vmx's
// configuration: uuids, memory, CPUs, guest, firmware, annotation,
// controllers, disks on the existing files (capacity from the descriptor),
// CD-ROMs and NICs with their MAC addresses, all inside the one task. See
// README.md ("VM configuration files").

import (
	"bufio"
	"context"
	"fmt"
	"io/ioutil"
	"log"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	interceptSOAP("Folder", "RegisterVM_Task", registerVMTask)
	extensions = append(extensions, func(*simulator.Model) { simulator.Map.AddHandler(vmxHooks) })
}

type vmxTaskHooks struct {
	self types.ManagedObjectReference

	mu      sync.Mutex // held while a RegisterVM_Task runs
	pending *pendingRegister
}

type pendingRegister struct {
	req     *types.RegisterVM_Task
	message string // localizedMessage of the task's fault, when registerFromVMX says why
}

var vmxHooks = &vmxTaskHooks{self: types.ManagedObjectReference{Type: "CesoTestBedHooks", Value: "ceso-vmx"}}

// callContext returns the simulator Context a method called over SOAP by
// call would get: the caller's session (its key; the user name is not
// exported by the simulator, so -username or "vcsim").
func callContext(call *soapCall) *simulator.Context {
	user := opts.username
	if user == "" {
		user = "vcsim"
	}
	key := ""
	if c, err := call.Request.Cookie(soap.SessionCookieName); err == nil {
		key = c.Value
	}
	this := call.Method.This
	session := &simulator.Session{UserSession: types.UserSession{Key: key, UserName: user}, Registry: simulator.Map}
	return &simulator.Context{Context: context.Background(), Map: simulator.Map, Caller: &this, Session: session}
}

func registerVMTask(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.RegisterVM_Task)
	folder, ok := simulator.Map.Get(req.This).(*simulator.Folder)
	if !ok {
		return &methods.RegisterVM_TaskBody{Fault_: soapFaultf(&types.ManagedObjectNotFound{Obj: req.This}, "managed object not found: %s", req.This)}
	}
	ctx := callContext(call)

	vmxHooks.mu.Lock()
	defer vmxHooks.mu.Unlock()
	p := &pendingRegister{req: req}
	vmxHooks.pending = p
	defer func() { vmxHooks.pending = nil }()

	var res soap.HasFault
	simulator.Map.WithLock(folder, func() { res = folder.RegisterVMTask(ctx, req) })
	// The simulator's task error says only "*types.NotFound": say why, as ESXi does.
	if body, ok := res.(*methods.RegisterVM_TaskBody); ok && body.Res != nil && p.message != "" {
		if t, ok := simulator.Map.Get(body.Res.Returnval).(*simulator.Task); ok && t.Info.Error != nil {
			e := *t.Info.Error
			e.LocalizedMessage = p.message
			simulator.Map.Update(t, []types.PropertyChange{{Name: "info.error", Val: e}})
		}
	}
	return res
}

// --- registry hooks (simulator.RegisterObject)

func (h *vmxTaskHooks) Reference() types.ManagedObjectReference { return h.self }

// PutObject sees tasks being created, before they run: the stock register
// task gets the .vmx handling; destroy/reconfigure/clone tasks of VMs get
// NICs whose network is not on the host made safe for stock code.
func (h *vmxTaskHooks) PutObject(item mo.Reference) {
	t, ok := item.(*simulator.Task)
	if !ok || t.Execute == nil || t.Info.Entity == nil {
		return
	}
	orig := t.Execute
	switch t.Info.DescriptionId {
	case "Folder.registerVm":
		p := h.pending // set by registerVMTask, which holds h.mu while the task runs
		if p == nil {
			return
		}
		t.Execute = func(task *simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return registerFromVMX(task, p, orig)
		}
	case "VirtualMachine.destroy", "VirtualMachine.reconfigVm":
		vm, ok := simulator.Map.Get(*t.Info.Entity).(*simulator.VirtualMachine)
		if !ok {
			return
		}
		t.Execute = func(task *simulator.Task) (types.AnyType, types.BaseMethodFault) {
			restore := fillMissingNetworks(vm)
			defer restore()
			return orig(task)
		}
	case "VirtualMachine.relocateVm":
		wrapRelocate(t)
	case "VirtualMachine.cloneVm":
		vm, ok := simulator.Map.Get(*t.Info.Entity).(*simulator.VirtualMachine)
		if !ok {
			return
		}
		t.Execute = func(task *simulator.Task) (types.AnyType, types.BaseMethodFault) {
			if i := missingNetworkNIC(vm); i >= 0 {
				log.Printf("clone %s: NIC %d is on a network this host does not have", vm.Name, i)
				return nil, &types.InvalidDeviceBacking{InvalidDeviceSpec: types.InvalidDeviceSpec{DeviceIndex: int32(i)}}
			}
			return orig(task)
		}
	}
}

func (h *vmxTaskHooks) UpdateObject(mo.Reference, []types.PropertyChange) {}

func (h *vmxTaskHooks) RemoveObject(ref types.ManagedObjectReference) {
	if ref.Type == "VirtualMachine" {
		forgetVMX(ref)
	}
}

// A NIC registered from a .vmx whose networkName is not a network of the
// host keeps the name with no network reference, as on ESXi. Stock code
// dereferences backing.network when removing a NIC: give it a placeholder
// for the duration of the task.
func fillMissingNetworks(vm *simulator.VirtualMachine) (restore func()) {
	var filled []*types.VirtualEthernetCardNetworkBackingInfo
	if vm.Config != nil {
		for _, d := range vm.Config.Hardware.Device {
			if card, ok := d.(types.BaseVirtualEthernetCard); ok {
				if b, ok := card.GetVirtualEthernetCard().Backing.(*types.VirtualEthernetCardNetworkBackingInfo); ok && b.Network == nil {
					b.Network = &types.ManagedObjectReference{Type: "Network"}
					filled = append(filled, b)
				}
			}
		}
	}
	return func() {
		for _, b := range filled {
			if b.Network != nil && b.Network.Value == "" {
				b.Network = nil
			}
		}
	}
}

// missingNetworkNIC returns the index in the device list of a NIC whose
// network is not on the host, or -1.
func missingNetworkNIC(vm *simulator.VirtualMachine) int {
	if vm.Config == nil {
		return -1
	}
	for i, d := range vm.Config.Hardware.Device {
		if card, ok := d.(types.BaseVirtualEthernetCard); ok {
			if b, ok := card.GetVirtualEthernetCard().Backing.(*types.VirtualEthernetCardNetworkBackingInfo); ok && b.Network == nil {
				return i
			}
		}
	}
	return -1
}

// --- register

func datastoreNamed(dc *simulator.Datacenter, name string) *simulator.Datastore {
	for _, ref := range dc.Datastore {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
			if ds.Name == name || path.Base(ds.Info.GetDatastoreInfo().Url) == name {
				return ds
			}
		}
	}
	return nil
}

// resolveVMXFile turns a vmx fileName into a datastore path: relative to
// the VM's directory, /vmfs/volumes/<datastore>/<path>, or "[ds] path".
func resolveVMXFile(dc *simulator.Datacenter, vmx object.DatastorePath, name string) (object.DatastorePath, *simulator.Datastore, bool) {
	var p object.DatastorePath
	switch {
	case strings.HasPrefix(name, "["):
		if !p.FromString(name) {
			return p, nil, false
		}
	case strings.HasPrefix(name, "/vmfs/volumes/"):
		rest := strings.TrimPrefix(name, "/vmfs/volumes/")
		i := strings.IndexByte(rest, '/')
		if i <= 0 {
			return p, nil, false
		}
		ds := datastoreNamed(dc, rest[:i])
		if ds == nil {
			return p, nil, false
		}
		p = object.DatastorePath{Datastore: ds.Name, Path: rest[i+1:]}
		return p, ds, true
	case strings.HasPrefix(name, "/"):
		return p, nil, false
	default:
		p = object.DatastorePath{Datastore: vmx.Datastore, Path: path.Join(path.Dir(vmx.Path), name)}
	}
	ds := datastoreNamed(dc, p.Datastore)
	return p, ds, ds != nil
}

func dsLocal(ds *simulator.Datastore, p object.DatastorePath) string {
	return filepath.Join(ds.Info.GetDatastoreInfo().Url, filepath.FromSlash(p.Path))
}

var extentLine = regexp.MustCompile(`^(?:RW|RDONLY|NOACCESS)\s+([0-9]+)\s+\S+\s+"([^"]*)"`)
var ddbUUIDLine = regexp.MustCompile(`^ddb\.uuid\s*=\s*"([^"]*)"`)

// diskFromDescriptor reads a descriptor's capacity (the sum of its extents;
// else the size of the -flat.vmdk) and ddb.uuid (as backing.uuid).
func diskFromDescriptor(local string) (capacity int64, uuid string) {
	if f, err := os.Open(local); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if m := extentLine.FindStringSubmatch(line); m != nil {
				if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
					capacity += n * 512
				}
			}
			if m := ddbUUIDLine.FindStringSubmatch(line); m != nil {
				if u := apiUUID(m[1]); u != "" {
					uuid = strings.ToUpper(u[:8]) + u[8:]
				}
			}
		}
		_ = f.Close()
	}
	if capacity == 0 {
		if fi, err := os.Stat(flatName(local)); err == nil {
			capacity = fi.Size()
		}
	}
	return capacity, uuid
}

// vmxPlan is what a .vmx says, resolved against this server.
type vmxPlan struct {
	cfg        vmxConfig
	devices    []types.BaseVirtualDevice // controllers, disks, CD-ROMs
	ide        map[int32][]int32         // IDE bus -> keys of its devices
	datastores []types.ManagedObjectReference
}

var deviceAddr = regexp.MustCompile(`^(scsi|sata|nvme|ide)([0-9]+):([0-9]+)\.present$`)
var controllerAddr = regexp.MustCompile(`^(scsi|sata|nvme)([0-9]+)\.present$`)
var ethernetAddr = regexp.MustCompile(`^ethernet([0-9]+)\.present$`)

func atoi32(s string, def int32) int32 {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	return int32(n)
}

func sortedMatches(cfg vmxConfig, re *regexp.Regexp) [][]string {
	var res [][]string
	for k := range cfg {
		if m := re.FindStringSubmatch(k); m != nil && cfg.isTrue(k) {
			res = append(res, m)
		}
	}
	sort.Slice(res, func(i, j int) bool { return res[i][0] < res[j][0] })
	return res
}

func slotInfo(cfg vmxConfig, prefix string) types.BaseVirtualDeviceBusSlotInfo {
	if v := cfg.get(prefix + ".pciSlotNumber"); v != "" {
		if n := atoi32(v, -1); n >= 0 {
			return &types.VirtualDevicePciBusSlotInfo{PciSlotNumber: n}
		}
	}
	return nil
}

// vmxDeviceKey is ESXi's device key for a deviceAddr match (kind, bus, unit).
func vmxDeviceKey(m []string) int32 {
	bus, unit := atoi32(m[2], 0), atoi32(m[3], 0)
	switch m[1] {
	case "scsi":
		return 2000 + 16*bus + unit
	case "ide":
		return 3000 + 2*bus + unit
	case "sata":
		return 16000 + 30*bus + unit
	}
	return 32000 + 15*bus + unit // nvme
}

// planVMX resolves the controllers, disks and CD-ROMs of cfg. Faults: a disk
// on a datastore this datacenter does not have (FileNotFound).
func planVMX(cfg vmxConfig, dc *simulator.Datacenter, vmx object.DatastorePath) (*vmxPlan, types.BaseMethodFault) {
	plan := &vmxPlan{cfg: cfg, ide: make(map[int32][]int32)}
	controllers := make(map[string]types.BaseVirtualController)
	useDS := func(ds *simulator.Datastore) {
		for _, r := range plan.datastores {
			if r == ds.Self {
				return
			}
		}
		plan.datastores = append(plan.datastores, ds.Self)
	}

	for _, m := range sortedMatches(cfg, controllerAddr) {
		kind, bus := m[1], atoi32(m[2], 0)
		prefix := kind + m[2]
		// ESXi's keys: SCSI 1000+bus, SATA 15000+bus, NVMe 31000+bus.
		var c types.BaseVirtualController
		var key int32
		var label, summary string
		switch kind {
		case "scsi":
			sc := types.VirtualSCSIController{SharedBus: types.VirtualSCSISharingNoSharing, ScsiCtlrUnitNumber: 7}
			switch strings.ToLower(cfg.get(prefix + ".sharedBus")) {
			case "virtual":
				sc.SharedBus = types.VirtualSCSISharingVirtualSharing
			case "physical":
				sc.SharedBus = types.VirtualSCSISharingPhysicalSharing
			}
			key, label = 1000, "SCSI controller %d"
			switch strings.ToLower(cfg.get(prefix + ".virtualDev")) {
			case "pvscsi":
				c, summary = &types.ParaVirtualSCSIController{VirtualSCSIController: sc}, "VMware paravirtual SCSI"
			case "lsisas1068":
				c, summary = &types.VirtualLsiLogicSASController{VirtualSCSIController: sc}, "LSI Logic SAS"
			case "buslogic":
				c, summary = &types.VirtualBusLogicController{VirtualSCSIController: sc}, "BusLogic"
			default:
				c, summary = &types.VirtualLsiLogicController{VirtualSCSIController: sc}, "LSI Logic"
			}
		case "sata":
			c, key, label, summary = &types.VirtualAHCIController{}, 15000, "SATA controller %d", "AHCI"
		case "nvme":
			c, key, label, summary = &types.VirtualNVMEController{}, 31000, "NVME controller %d", "NVME controller"
		}
		vc := c.GetVirtualController()
		vc.Key = key + bus
		vc.BusNumber = bus
		vc.DeviceInfo = &types.Description{Label: fmt.Sprintf(label, bus), Summary: summary}
		vc.ControllerKey = 100
		vc.SlotInfo = slotInfo(cfg, prefix)
		controllers[prefix] = c
		plan.devices = append(plan.devices, c.(types.BaseVirtualDevice))
	}

	// Devices in key order (labels "Hard disk N" follow it, as on ESXi).
	matches := sortedMatches(cfg, deviceAddr)
	sort.SliceStable(matches, func(i, j int) bool { return vmxDeviceKey(matches[i]) < vmxDeviceKey(matches[j]) })
	ndisk, ncdrom := 0, 0
	for _, m := range matches {
		kind, bus, unit := m[1], atoi32(m[2], 0), atoi32(m[3], 0)
		at := fmt.Sprintf("%s%d:%d", kind, bus, unit)
		key := vmxDeviceKey(m)
		var ctlKey int32
		if kind == "ide" {
			if bus > 1 || unit > 1 {
				continue
			}
			ctlKey = 200 + bus
		} else {
			c := controllers[fmt.Sprintf("%s%d", kind, bus)]
			if c == nil {
				continue // a device on a controller that is not present: ESXi ignores it too
			}
			ctlKey = c.GetVirtualController().Key
		}
		deviceType := strings.ToLower(cfg.get(at + ".deviceType"))
		fileName := cfg.get(at + ".fileName")
		u := unit
		isCdrom := strings.Contains(deviceType, "cdrom") || (deviceType == "" && !strings.HasSuffix(strings.ToLower(fileName), ".vmdk"))
		var dev types.BaseVirtualDevice
		if isCdrom {
			ncdrom++
			cd := &types.VirtualCdrom{}
			cd.Key, cd.ControllerKey, cd.UnitNumber = key, ctlKey, &u
			cd.DeviceInfo = &types.Description{Label: fmt.Sprintf("CD/DVD drive %d", ncdrom), Summary: "Remote device"}
			switch {
			case deviceType == "cdrom-image":
				iso := fileName
				if p, _, ok := resolveVMXFile(dc, vmx, fileName); ok {
					iso = p.String()
				}
				cd.Backing = &types.VirtualCdromIsoBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: iso}}
				cd.DeviceInfo.GetDescription().Summary = "ISO " + iso
			case deviceType == "cdrom-raw":
				cd.Backing = &types.VirtualCdromPassthroughBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: fileName, UseAutoDetect: types.NewBool(false)}}
			case cfg.isTrue(at+".clientDevice") || fileName == "":
				cd.Backing = &types.VirtualCdromRemotePassthroughBackingInfo{VirtualDeviceRemoteDeviceBackingInfo: types.VirtualDeviceRemoteDeviceBackingInfo{UseAutoDetect: types.NewBool(false)}}
			default:
				cd.Backing = &types.VirtualCdromAtapiBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: fileName, UseAutoDetect: types.NewBool(false)}}
			}
			cd.Connectable = &types.VirtualDeviceConnectInfo{
				StartConnected:    !cfg.has(at+".startConnected") || cfg.isTrue(at+".startConnected"),
				AllowGuestControl: true,
				Status:            "untried",
			}
			dev = cd
		} else {
			p, ds, ok := resolveVMXFile(dc, vmx, fileName)
			if !ok || fileName == "" {
				return nil, &types.FileNotFound{FileFault: types.FileFault{File: fileName}}
			}
			useDS(ds)
			capacity, uuid := diskFromDescriptor(dsLocal(ds, p))
			mode := cfg.get(at + ".mode")
			if mode == "" {
				mode = string(types.VirtualDiskModePersistent)
			}
			ndisk++
			disk := &types.VirtualDisk{CapacityInBytes: capacity, CapacityInKB: capacity / 1024}
			disk.Key, disk.ControllerKey, disk.UnitNumber = key, ctlKey, &u
			disk.DeviceInfo = &types.Description{Label: fmt.Sprintf("Hard disk %d", ndisk), Summary: fmt.Sprintf("%d KB", capacity/1024)}
			ref := ds.Self
			backing := &types.VirtualDiskFlatVer2BackingInfo{
				VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: p.String(), Datastore: &ref},
				DiskMode:                     mode,
				Uuid:                         uuid,
				ThinProvisioned:              types.NewBool(false),
				EagerlyScrub:                 types.NewBool(false),
				WriteThrough:                 types.NewBool(false),
				Split:                        types.NewBool(false),
				DigestEnabled:                types.NewBool(false),
			}
			chainBacking(backing, dsLocal(ds, p), 0)
			disk.Backing = backing
			dev = disk
		}
		if kind == "ide" {
			plan.ide[bus] = append(plan.ide[bus], key)
		} else {
			c := controllers[fmt.Sprintf("%s%d", kind, bus)].GetVirtualController()
			c.Device = append(c.Device, key)
		}
		plan.devices = append(plan.devices, dev)
	}
	return plan, nil
}

// nicsFromVMX builds the NICs of cfg as seen by host: networkName is looked
// up among the host's networks (a distributed port group by that name gives a
// DV port backing); dvs.switchId among this server's switches. A network
// the host does not have keeps its name with no network reference (ESXi
// registers the VM; the NIC cannot connect).
func nicsFromVMX(cfg vmxConfig, host *simulator.HostSystem) (nics []types.BaseVirtualDevice, networks []types.ManagedObjectReference, guest []types.GuestNicInfo) {
	addNet := func(ref types.ManagedObjectReference) {
		for _, r := range networks {
			if r == ref {
				return
			}
		}
		networks = append(networks, ref)
	}
	for i, m := range sortedEthernet(cfg) {
		at := "ethernet" + m
		var card types.BaseVirtualEthernetCard
		switch strings.ToLower(cfg.get(at + ".virtualDev")) {
		case "e1000e":
			card = &types.VirtualE1000e{}
		case "vmxnet3":
			card = &types.VirtualVmxnet3{}
		case "vmxnet2":
			card = &types.VirtualVmxnet2{}
		case "vmxnet":
			card = &types.VirtualVmxnet{}
		case "vlance":
			card = &types.VirtualPCNet32{}
		default:
			card = &types.VirtualE1000{}
		}
		e := card.GetVirtualEthernetCard()
		n := atoi32(m, int32(i))
		e.Key = 4000 + n
		e.ControllerKey = 100
		unit := 7 + n
		e.UnitNumber = &unit
		e.SlotInfo = slotInfo(cfg, at)

		switch strings.ToLower(cfg.get(at + ".addressType")) {
		case "static":
			e.AddressType = string(types.VirtualEthernetCardMacTypeManual)
			e.MacAddress = strings.ToLower(cfg.get(at + ".address"))
		case "vpx":
			e.AddressType = string(types.VirtualEthernetCardMacTypeAssigned)
			e.MacAddress = strings.ToLower(cfg.get(at + ".generatedAddress"))
		default:
			e.AddressType = string(types.VirtualEthernetCardMacTypeGenerated)
			e.MacAddress = strings.ToLower(cfg.get(at + ".generatedAddress"))
		}
		if cfg.has(at + ".wakeOnPcktRcv") {
			e.WakeOnLanEnabled = types.NewBool(cfg.isTrue(at + ".wakeOnPcktRcv"))
		}
		e.Connectable = &types.VirtualDeviceConnectInfo{
			StartConnected:    !cfg.has(at+".startConnected") || cfg.isTrue(at+".startConnected"),
			AllowGuestControl: !cfg.has(at+".allowGuestConnectionControl") || cfg.isTrue(at+".allowGuestConnectionControl"),
			Status:            "untried",
		}

		name := cfg.get(at + ".networkName")
		summary := name
		if sw := cfg.get(at + ".dvs.switchId"); sw != "" {
			port := types.DistributedVirtualSwitchPortConnection{
				SwitchUuid:   sw,
				PortgroupKey: cfg.get(at + ".dvs.portgroupId"),
				PortKey:      cfg.get(at + ".dvs.portId"),
			}
			if c, err := strconv.Atoi(cfg.get(at + ".dvs.connectionId")); err == nil {
				port.ConnectionCookie = int32(c)
			}
			if dvs := switchByUUID(sw); dvs != nil {
				port.SwitchUuid = dvs.Uuid
				ref := types.ManagedObjectReference{Type: "DistributedVirtualPortgroup", Value: port.PortgroupKey}
				if pg, ok := simulator.Map.Get(ref).(*simulator.DistributedVirtualPortgroup); ok {
					addNet(ref)
					name = pg.Name
				}
			}
			e.Backing = &types.VirtualEthernetCardDistributedVirtualPortBackingInfo{Port: port}
			summary = "DVSwitch: " + port.SwitchUuid
		} else {
			backing := &types.VirtualEthernetCardNetworkBackingInfo{
				VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: name, UseAutoDetect: types.NewBool(false)},
			}
			e.Backing = backing
			if ref, ok := hostNetwork(host, name); ok {
				if pg, ok := simulator.Map.Get(ref).(*simulator.DistributedVirtualPortgroup); ok && pg.Config.DistributedVirtualSwitch != nil {
					if dvs, ok := simulator.Map.Get(*pg.Config.DistributedVirtualSwitch).(*simulator.DistributedVirtualSwitch); ok {
						e.Backing = &types.VirtualEthernetCardDistributedVirtualPortBackingInfo{
							Port: types.DistributedVirtualSwitchPortConnection{SwitchUuid: dvs.Uuid, PortgroupKey: pg.Key},
						}
						summary = "DVSwitch: " + dvs.Uuid
					}
				} else {
					r := ref
					backing.Network = &r
				}
				addNet(ref)
			}
		}
		e.DeviceInfo = &types.Description{Label: fmt.Sprintf("Network adapter %d", i+1), Summary: summary}
		nics = append(nics, card.(types.BaseVirtualDevice))
		guest = append(guest, types.GuestNicInfo{Network: name, MacAddress: e.MacAddress, Connected: true, DeviceConfigId: e.Key})
	}
	return nics, networks, guest
}

func sortedEthernet(cfg vmxConfig) []string {
	var idx []int
	for _, m := range sortedMatches(cfg, ethernetAddr) {
		if n, err := strconv.Atoi(m[1]); err == nil {
			idx = append(idx, n)
		}
	}
	sort.Ints(idx)
	res := make([]string, len(idx))
	for i, n := range idx {
		res[i] = strconv.Itoa(n)
	}
	return res
}

func switchByUUID(id string) *simulator.DistributedVirtualSwitch {
	for _, e := range simulator.Map.All("VmwareDistributedVirtualSwitch") {
		if s, ok := e.(*simulator.DistributedVirtualSwitch); ok && strings.EqualFold(s.Uuid, id) {
			return s
		}
	}
	for _, e := range simulator.Map.All("DistributedVirtualSwitch") {
		if s, ok := e.(*simulator.DistributedVirtualSwitch); ok && strings.EqualFold(s.Uuid, id) {
			return s
		}
	}
	return nil
}

// hostNetwork finds a network (port group or DV port group) named name
// among the host's networks.
func hostNetwork(host *simulator.HostSystem, name string) (types.ManagedObjectReference, bool) {
	if host == nil || name == "" {
		return types.ManagedObjectReference{}, false
	}
	for _, ref := range host.Network {
		switch n := simulator.Map.Get(ref).(type) {
		case *mo.Network:
			if n.Name == name {
				return ref, true
			}
		case *simulator.DistributedVirtualPortgroup:
			if n.Name == name {
				return ref, true
			}
		}
	}
	return types.ManagedObjectReference{}, false
}

// registerFromVMX runs in place of the stock register task's body.
func registerFromVMX(task *simulator.Task, p *pendingRegister, orig func(*simulator.Task) (types.AnyType, types.BaseMethodFault)) (types.AnyType, types.BaseMethodFault) {
	req := p.req
	// Stock's own checks (arguments, AlreadyExists) come first, unchanged.
	if req.Path == "" || (!req.AsTemplate && req.Pool == nil) || (req.AsTemplate && (req.Host == nil || req.Pool != nil)) {
		return orig(task)
	}
	// Stock vcsim panics on a pool or host that does not exist.
	for _, ref := range []*types.ManagedObjectReference{req.Pool, req.Host} {
		if ref != nil && simulator.Map.Get(*ref) == nil {
			return nil, &types.ManagedObjectNotFound{Obj: *ref}
		}
	}
	entity, _ := simulator.Map.Get(*task.Info.Entity).(mo.Entity)
	dc := datacenterOf(entity)
	if dc == nil {
		return orig(task)
	}
	s := simulator.Map.SearchIndex()
	r := s.FindByDatastorePath(&types.FindByDatastorePath{This: s.Reference(), Path: req.Path, Datacenter: dc.Self})
	if body, ok := r.(*methods.FindByDatastorePathBody); ok && body.Res != nil && body.Res.Returnval != nil {
		return orig(task) // AlreadyExists
	}

	var vmx object.DatastorePath
	if !vmx.FromString(req.Path) || vmx.Path == "" {
		return nil, &types.InvalidArgument{InvalidProperty: "path"}
	}
	ds := datastoreNamed(dc, vmx.Datastore)
	if ds == nil {
		p.message = fmt.Sprintf("Datastore %q in %s was not found", vmx.Datastore, dc.Name)
		return nil, &types.NotFound{}
	}
	vmx.Datastore = ds.Name
	local := dsLocal(ds, vmx)
	data, err := ioutil.ReadFile(local)
	if err != nil {
		if os.IsNotExist(err) {
			p.message = fmt.Sprintf("File %s was not found", vmx.String())
			return nil, &types.NotFound{}
		}
		p.message = fmt.Sprintf("A specified parameter was not correct: path (cannot read %s)", vmx.String())
		return nil, &types.InvalidArgument{InvalidProperty: "path"}
	}
	cfg, err := parseVMX(data)
	if err != nil {
		p.message = fmt.Sprintf("A specified parameter was not correct: path (%s is not a virtual machine configuration file: %s)", vmx.String(), err)
		return nil, &types.InvalidArgument{InvalidProperty: "path"}
	}
	plan, fault := planVMX(cfg, dc, vmx)
	if fault != nil {
		if f, ok := fault.(*types.FileNotFound); ok {
			p.message = fmt.Sprintf("File %s was not found", f.File)
		}
		return nil, fault
	}

	if req.Name == "" {
		req.Name = cfg.get("displayName")
	}
	if req.Name == "" {
		req.Name = path.Base(path.Dir(vmx.Path))
	}
	req.Path = vmx.String()

	// The files stock register opens. ESXi needs neither: it creates the
	// NVRAM when missing, and vcsim writes vmware.log anyway.
	dir := filepath.Dir(local)
	nvram := cfg.get("nvram")
	if nvram == "" || strings.Contains(nvram, "/") {
		nvram = req.Name + ".nvram"
	}
	var temporary []string
	for _, name := range []string{nvram, req.Name + ".nvram", "vmware.log"} {
		file := filepath.Join(dir, name)
		if _, err := os.Stat(file); os.IsNotExist(err) {
			if f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY, 0600); err == nil {
				_ = f.Close()
				if name == req.Name+".nvram" && name != nvram {
					temporary = append(temporary, file)
				}
			}
		}
	}

	vmxState.Lock()
	vmxState.suppressed[vmx.String()] = true
	vmxState.Unlock()
	res, fault := orig(task)
	vmxState.Lock()
	delete(vmxState.suppressed, vmx.String())
	vmxState.Unlock()
	for _, f := range temporary {
		_ = os.Remove(f)
	}
	if fault != nil {
		return res, fault
	}
	ref, ok := res.(types.ManagedObjectReference)
	if !ok {
		return res, nil
	}
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return res, nil
	}
	setNvramName(vm.Self, nvram)
	simulator.Map.WithLock(vm, func() {
		applyVMX(vm, plan)
		if req.AsTemplate { // stock registers a VM whatever asTemplate says
			vm.Config.Template = true
			vm.Summary.Config.Template = true
			simulator.Map.Update(vm, []types.PropertyChange{{Name: "config.template", Val: true}, {Name: "summary.config.template", Val: true}})
		}
	})
	return res, nil
}

// applyVMX gives a just-registered (default) VM the configuration of plan.
func applyVMX(vm *simulator.VirtualMachine, plan *vmxPlan) {
	cfg := plan.cfg
	c := vm.Config
	if u := apiUUID(cfg.get("uuid.bios")); u != "" {
		c.Uuid = u
		vm.Summary.Config.Uuid = u
	}
	if u := apiUUID(cfg.get("vc.uuid")); u != "" {
		c.InstanceUuid = u
		vm.Summary.Config.InstanceUuid = u
	}
	if v := cfg.get("virtualHW.version"); v != "" {
		c.Version = "vmx-" + v
	}
	if n := atoi32(cfg.get("memSize"), 0); n > 0 {
		c.Hardware.MemoryMB = n
		vm.Summary.Config.MemorySizeMB = n
	}
	c.Hardware.NumCPU = atoi32(cfg.get("numvcpus"), 1)
	vm.Summary.Config.NumCpu = c.Hardware.NumCPU
	c.Hardware.NumCoresPerSocket = atoi32(cfg.get("cpuid.coresPerSocket"), 1)
	if g := cfg.get("guestOS"); g != "" {
		id := apiGuestID(g)
		c.GuestId, c.GuestFullName = id, id
		vm.Summary.Config.GuestId, vm.Summary.Config.GuestFullName = id, id
		if vm.Summary.Guest != nil {
			vm.Summary.Guest.GuestId = id
		}
	}
	c.Firmware = string(types.GuestOsDescriptorFirmwareTypeBios)
	if strings.EqualFold(cfg.get("firmware"), "efi") {
		c.Firmware = string(types.GuestOsDescriptorFirmwareTypeEfi)
	}
	c.Annotation = cfg.get("annotation")
	vm.Summary.Config.Annotation = c.Annotation
	if cfg.isTrue("ctkEnabled") {
		c.ChangeTrackingEnabled = types.NewBool(true)
	}

	// Devices: the ones every VM has (the simulator's defaults: IDE, PS/2,
	// PCI, SIO, keyboard, mouse, video, VMCI), plus the vmx's.
	var devices []types.BaseVirtualDevice
	for _, d := range c.Hardware.Device {
		if ide, ok := d.(*types.VirtualIDEController); ok {
			if keys := plan.ide[ide.BusNumber]; len(keys) > 0 {
				cp := *ide // shared with other VMs (esx.VirtualDevice): copy
				cp.Device = append(append([]int32(nil), ide.Device...), keys...)
				d = &cp
			}
		}
		switch d.(type) {
		case *types.VirtualDisk, types.BaseVirtualEthernetCard, *types.VirtualCdrom:
			continue
		}
		devices = append(devices, d)
	}
	devices = append(devices, plan.devices...)
	var host *simulator.HostSystem
	if vm.Runtime.Host != nil {
		host, _ = simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem)
	}
	nics, networks, guest := nicsFromVMX(cfg, host)
	devices = append(devices, nics...)

	for _, ref := range plan.datastores {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
			simulator.Map.AddReference(ds, &ds.Vm, vm.Self)
		}
		found := false
		for _, r := range vm.Datastore {
			found = found || r == ref
		}
		if !found {
			vm.Datastore = append(vm.Datastore, ref)
		}
	}

	vm.Summary.Config.NumVirtualDisks = int32(len(vmDisks(devices)))
	vm.Summary.Config.NumEthernetCards = int32(len(nics))
	vm.Guest.Net = guest
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "config", Val: c},
		{Name: "config.hardware.device", Val: devices},
		{Name: "network", Val: networks},
		{Name: "datastore", Val: vm.Datastore},
		{Name: "summary.config", Val: vm.Summary.Config},
		{Name: "guest.net", Val: guest},
	})
}
