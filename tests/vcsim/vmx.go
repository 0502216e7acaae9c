package main

// The VM configuration file (.vmx), modelled on ESXi.
//
// Stock vcsim keeps a VM's configuration in memory and writes an empty .vmx.
// Here every VM's .vmx (config.files.vmPathName) is written in ESXi's format
// (`key = "value"` lines) after every change (syncVM, cbt.go) and for the
// model's VMs at start, so that copying a VM's directory copies its
// configuration, as on a real datastore. Rendering and parsing are in this
// file; RegisterVM_Task reading the .vmx is in register.go.

import (
	"bytes"
	"fmt"
	"io/ioutil"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// vmxState is what the test bed remembers about VMs' configuration files.
var vmxState = struct {
	sync.Mutex
	nvram      map[types.ManagedObjectReference]string // VM -> nvram file name (vmx "nvram")
	suppressed map[string]bool                         // vmPathName being registered: do not write
}{
	nvram:      make(map[types.ManagedObjectReference]string),
	suppressed: make(map[string]bool),
}

// writeVMX writes vm's .vmx when its content changed. The caller holds vm's
// lock (or runs before the server starts).
func writeVMX(vm *simulator.VirtualMachine) {
	if vm.Config == nil || vm.Runtime.Host == nil {
		return
	}
	var p object.DatastorePath
	if !p.FromString(vm.Config.Files.VmPathName) || path.Ext(p.Path) != ".vmx" {
		return
	}
	vmxState.Lock()
	skip := vmxState.suppressed[p.String()]
	vmxState.Unlock()
	if skip {
		return
	}
	local, ok := localPath(vm, nil, p.String())
	if !ok {
		return
	}
	want := renderVMX(vm)
	if old, err := ioutil.ReadFile(local); err == nil && bytes.Equal(old, want) {
		return
	} else if err != nil && !os.IsNotExist(err) {
		return
	}
	_ = ioutil.WriteFile(local, want, 0600)
}

// nvramName is the VM's NVRAM file name: "<name>.nvram" when first seen
// (the file the simulator created), kept across renames as on ESXi.
func nvramName(vm *simulator.VirtualMachine) string {
	vmxState.Lock()
	defer vmxState.Unlock()
	n, ok := vmxState.nvram[vm.Self]
	if !ok {
		n = vm.Name + ".nvram"
		vmxState.nvram[vm.Self] = n
	}
	return n
}

func setNvramName(vm types.ManagedObjectReference, name string) {
	vmxState.Lock()
	vmxState.nvram[vm] = name
	vmxState.Unlock()
}

func forgetVMX(vm types.ManagedObjectReference) {
	vmxState.Lock()
	delete(vmxState.nvram, vm)
	vmxState.Unlock()
}

// --- format

// vmxEscape encodes a value as ESXi does: '"', '|' and control characters
// become |XX (hex); other UTF-8 text is kept (.encoding = "UTF-8").
func vmxEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '|' || c == 0x7f {
			fmt.Fprintf(&b, "|%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func vmxUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '|' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// vmxConfig is a parsed .vmx: keys are case-insensitive (stored lower case).
type vmxConfig map[string]string

func (c vmxConfig) get(key string) string { return c[strings.ToLower(key)] }

func (c vmxConfig) has(key string) bool { _, ok := c[strings.ToLower(key)]; return ok }

func (c vmxConfig) isTrue(key string) bool { return strings.EqualFold(c.get(key), "true") }

// parseVMX reads `key = "value"` lines (# comments, blank lines); a value
// may be unquoted. Anything else is an error naming the line.
func parseVMX(data []byte) (vmxConfig, error) {
	res := make(vmxConfig)
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("line %d: not `key = \"value\"`", n+1)
		}
		key := strings.TrimSpace(line[:eq])
		val := strings.TrimSpace(line[eq+1:])
		if key == "" || strings.ContainsAny(key, " \t\"") {
			return nil, fmt.Errorf("line %d: bad key %q", n+1, key)
		}
		if strings.HasPrefix(val, "\"") {
			if len(val) < 2 || !strings.HasSuffix(val, "\"") || strings.Contains(val[1:len(val)-1], "\"") {
				return nil, fmt.Errorf("line %d: unterminated value", n+1)
			}
			val = val[1 : len(val)-1]
		} else if strings.ContainsAny(val, " \t\"") {
			return nil, fmt.Errorf("line %d: unquoted value with spaces", n+1)
		}
		res[strings.ToLower(key)] = vmxUnescape(val)
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("no configuration")
	}
	return res, nil
}

// vmxUUID renders a uuid "564d1234-5678-..." as ESXi's uuid.bios/vc.uuid:
// "56 4d 12 34 56 78 9a bc-de f0 12 34 56 78 9a bc".
func vmxUUID(u string) string {
	h := strings.ToLower(strings.ReplaceAll(u, "-", ""))
	if len(h) != 32 {
		return ""
	}
	parts := make([]string, 16)
	for i := range parts {
		parts[i] = h[2*i : 2*i+2]
	}
	return strings.Join(parts[:8], " ") + "-" + strings.Join(parts[8:], " ")
}

// apiUUID is the reverse of vmxUUID ("" when s is not a uuid).
func apiUUID(s string) string {
	h := strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(s))
	if len(h) != 32 {
		return ""
	}
	if _, err := strconv.ParseUint(h[:16], 16, 64); err != nil {
		return ""
	}
	if _, err := strconv.ParseUint(h[16:], 16, 64); err != nil {
		return ""
	}
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// vmxGuestOS maps an API guestId to the vmx guestOS ("otherGuest" ->
// "other", "ubuntu64Guest" -> "ubuntu-64", "rhel8_64Guest" -> "rhel8-64").
// ESXi has a few irregular names (windows9Server64Guest is
// "windows9srv-64"); the regular rule is used for all.
func vmxGuestOS(id string) string {
	s := id
	switch {
	case strings.HasSuffix(s, "Guest64"):
		s = strings.TrimSuffix(s, "Guest64") + "-64"
	case strings.HasSuffix(s, "Guest"):
		s = strings.TrimSuffix(s, "Guest")
		if strings.HasSuffix(s, "_64") {
			s = strings.TrimSuffix(s, "_64") + "-64"
		} else if strings.HasSuffix(s, "64") {
			s = strings.TrimSuffix(s, "64") + "-64"
		}
	}
	return strings.ToLower(s)
}

// apiGuestID maps a vmx guestOS back to the guestId the simulator knows
// ("otherGuest" for names it does not know).
func apiGuestID(os string) string {
	os = strings.ToLower(os)
	for _, id := range simulator.GuestID {
		if vmxGuestOS(string(id)) == os {
			return string(id)
		}
	}
	return string(types.VirtualMachineGuestOsIdentifierOtherGuest)
}

// --- rendering

type vmxWriter struct {
	b bytes.Buffer
}

func (w *vmxWriter) set(key, val string) {
	fmt.Fprintf(&w.b, "%s = \"%s\"\n", key, vmxEscape(val))
}

func boolVMX(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

func scsiVirtualDev(d types.BaseVirtualDevice) string {
	switch d.(type) {
	case *types.VirtualLsiLogicController:
		return "lsilogic"
	case *types.ParaVirtualSCSIController:
		return "pvscsi"
	case *types.VirtualLsiLogicSASController:
		return "lsisas1068"
	case *types.VirtualBusLogicController:
		return "buslogic"
	}
	return ""
}

func nicVirtualDev(d types.BaseVirtualDevice) string {
	switch d.(type) {
	case *types.VirtualE1000:
		return "e1000"
	case *types.VirtualE1000e:
		return "e1000e"
	case *types.VirtualVmxnet3:
		return "vmxnet3"
	case *types.VirtualVmxnet2:
		return "vmxnet2"
	case *types.VirtualVmxnet:
		return "vmxnet"
	case *types.VirtualPCNet32:
		return "vlance"
	}
	return ""
}

// controllerPrefix names a controller as the vmx does: "scsi0", "sata1",
// "nvme0", "ide1" ("" for other controllers).
func controllerPrefix(d types.BaseVirtualDevice) string {
	c, ok := d.(types.BaseVirtualController)
	if !ok {
		return ""
	}
	bus := c.GetVirtualController().BusNumber
	switch d.(type) {
	case *types.VirtualIDEController:
		return fmt.Sprintf("ide%d", bus)
	case *types.VirtualAHCIController:
		return fmt.Sprintf("sata%d", bus)
	case *types.VirtualNVMEController:
		return fmt.Sprintf("nvme%d", bus)
	}
	if scsiVirtualDev(d) != "" {
		return fmt.Sprintf("scsi%d", bus)
	}
	return ""
}

var vmxAddressType = map[string]string{
	string(types.VirtualEthernetCardMacTypeGenerated): "generated",
	string(types.VirtualEthernetCardMacTypeManual):    "static",
	string(types.VirtualEthernetCardMacTypeAssigned):  "vpx",
}

// vmxFileName renders a file backing as the vmx does: relative to the VM's
// directory when in it, else /vmfs/volumes/<datastore>/<path>.
func vmxFileName(vmx object.DatastorePath, file string) string {
	var p object.DatastorePath
	if !p.FromString(file) {
		return file
	}
	if p.Datastore == vmx.Datastore && path.Dir(p.Path) == path.Dir(vmx.Path) {
		return path.Base(p.Path)
	}
	return "/vmfs/volumes/" + p.Datastore + "/" + p.Path
}

// renderVMX returns vm's configuration in ESXi's .vmx format.
func renderVMX(vm *simulator.VirtualMachine) []byte {
	c := vm.Config
	var vmx object.DatastorePath
	vmx.FromString(c.Files.VmPathName)

	w := &vmxWriter{}
	w.set(".encoding", "UTF-8")
	w.set("config.version", "8")
	hw := strings.TrimPrefix(c.Version, "vmx-")
	if hw == "" {
		hw = "13"
	}
	w.set("virtualHW.version", hw)
	w.set("nvram", nvramName(vm))
	w.set("pciBridge0.present", "TRUE")
	w.set("svga.present", "TRUE")
	w.set("displayName", vm.Name)
	w.set("guestOS", vmxGuestOS(c.GuestId))
	w.set("memSize", strconv.Itoa(int(c.Hardware.MemoryMB)))
	w.set("numvcpus", strconv.Itoa(int(c.Hardware.NumCPU)))
	cores := c.Hardware.NumCoresPerSocket
	if cores <= 0 {
		cores = 1
	}
	w.set("cpuid.coresPerSocket", strconv.Itoa(int(cores)))
	fw := c.Firmware
	if fw == "" {
		fw = string(types.GuestOsDescriptorFirmwareTypeBios)
	}
	w.set("firmware", fw)
	if c.Annotation != "" {
		w.set("annotation", c.Annotation)
	}
	if u := vmxUUID(c.Uuid); u != "" {
		w.set("uuid.bios", u)
	}
	if u := vmxUUID(c.InstanceUuid); u != "" {
		w.set("vc.uuid", u)
	}
	if cbtEnabled(vm) {
		w.set("ctkEnabled", "TRUE")
	}
	if c.Template {
		w.set("templateVM", "TRUE")
	}

	devices := append([]types.BaseVirtualDevice(nil), c.Hardware.Device...)
	sort.SliceStable(devices, func(i, j int) bool {
		return devices[i].GetVirtualDevice().Key < devices[j].GetVirtualDevice().Key
	})
	byKey := make(map[int32]types.BaseVirtualDevice)
	for _, d := range devices {
		byKey[d.GetVirtualDevice().Key] = d
	}

	for _, d := range devices {
		prefix := controllerPrefix(d)
		if prefix == "" || strings.HasPrefix(prefix, "ide") {
			continue // IDE controllers are always there: ESXi writes only their devices
		}
		w.set(prefix+".present", "TRUE")
		if dev := scsiVirtualDev(d); dev != "" {
			w.set(prefix+".virtualDev", dev)
			if s, ok := d.(types.BaseVirtualSCSIController); ok {
				switch s.GetVirtualSCSIController().SharedBus {
				case types.VirtualSCSISharingVirtualSharing:
					w.set(prefix+".sharedBus", "virtual")
				case types.VirtualSCSISharingPhysicalSharing:
					w.set(prefix+".sharedBus", "physical")
				}
			}
		}
		if slot := pciSlot(d); slot >= 0 {
			w.set(prefix+".pciSlotNumber", strconv.Itoa(int(slot)))
		}
	}

	used := make(map[string]bool)
	for _, d := range devices {
		vd := d.GetVirtualDevice()
		ctl, ok := byKey[vd.ControllerKey]
		if !ok || vd.UnitNumber == nil {
			continue
		}
		prefix := controllerPrefix(ctl)
		if prefix == "" {
			continue
		}
		at := fmt.Sprintf("%s:%d", prefix, *vd.UnitNumber)
		switch d.(type) {
		case *types.VirtualDisk, *types.VirtualCdrom:
			if used[at] {
				continue // one device per address
			}
			used[at] = true
		}
		switch x := d.(type) {
		case *types.VirtualDisk:
			b := diskFileBacking(x)
			if b == nil {
				continue
			}
			w.set(at+".present", "TRUE")
			switch {
			case strings.HasPrefix(prefix, "scsi"):
				w.set(at+".deviceType", "scsi-hardDisk")
			case strings.HasPrefix(prefix, "ide"):
				w.set(at+".deviceType", "ata-hardDisk")
			}
			w.set(at+".fileName", vmxFileName(vmx, b.FileName))
			if fb := diskFlatBacking(x); fb != nil && fb.DiskMode != "" && fb.DiskMode != string(types.VirtualDiskModePersistent) {
				w.set(at+".mode", fb.DiskMode)
			}
			if cbtEnabled(vm) {
				w.set(at+".ctkEnabled", "TRUE")
			}
		case *types.VirtualCdrom:
			w.set(at+".present", "TRUE")
			switch b := x.Backing.(type) {
			case *types.VirtualCdromIsoBackingInfo:
				w.set(at+".deviceType", "cdrom-image")
				w.set(at+".fileName", vmxFileName(vmx, b.FileName))
			case *types.VirtualCdromAtapiBackingInfo:
				w.set(at+".deviceType", "atapi-cdrom")
				w.set(at+".fileName", b.DeviceName)
			case *types.VirtualCdromPassthroughBackingInfo:
				w.set(at+".deviceType", "cdrom-raw")
				w.set(at+".fileName", b.DeviceName)
			default: // remote (client) devices
				w.set(at+".deviceType", "atapi-cdrom")
				w.set(at+".clientDevice", "TRUE")
			}
			if x.Connectable != nil {
				w.set(at+".startConnected", boolVMX(x.Connectable.StartConnected))
			}
		}
	}

	n := 0
	for _, d := range devices {
		card, ok := d.(types.BaseVirtualEthernetCard)
		if !ok {
			continue
		}
		e := card.GetVirtualEthernetCard()
		at := fmt.Sprintf("ethernet%d", n)
		n++
		w.set(at+".present", "TRUE")
		if dev := nicVirtualDev(d); dev != "" {
			w.set(at+".virtualDev", dev)
		}
		switch b := e.Backing.(type) {
		case *types.VirtualEthernetCardNetworkBackingInfo:
			w.set(at+".networkName", b.DeviceName)
		case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
			w.set(at+".dvs.switchId", b.Port.SwitchUuid)
			w.set(at+".dvs.portgroupId", b.Port.PortgroupKey)
			if b.Port.PortKey != "" {
				w.set(at+".dvs.portId", b.Port.PortKey)
			}
			if b.Port.ConnectionCookie != 0 {
				w.set(at+".dvs.connectionId", strconv.Itoa(int(b.Port.ConnectionCookie)))
			}
		}
		kind := vmxAddressType[e.AddressType]
		if kind == "" {
			kind = "generated"
		}
		w.set(at+".addressType", kind)
		if e.MacAddress != "" {
			if kind == "static" {
				w.set(at+".address", e.MacAddress)
			} else {
				w.set(at+".generatedAddress", e.MacAddress)
			}
		}
		if e.Connectable != nil {
			w.set(at+".startConnected", boolVMX(e.Connectable.StartConnected))
			w.set(at+".allowGuestConnectionControl", boolVMX(e.Connectable.AllowGuestControl))
		}
		if e.WakeOnLanEnabled != nil {
			w.set(at+".wakeOnPcktRcv", boolVMX(*e.WakeOnLanEnabled))
		}
		if slot := pciSlot(d); slot >= 0 {
			w.set(at+".pciSlotNumber", strconv.Itoa(int(slot)))
		}
	}
	return w.b.Bytes()
}

func pciSlot(d types.BaseVirtualDevice) int32 {
	if s, ok := d.GetVirtualDevice().SlotInfo.(*types.VirtualDevicePciBusSlotInfo); ok {
		return s.PciSlotNumber
	}
	return -1
}

func init() { extensions = append(extensions, installVMX) }

// installVMX repairs the model's VMs and writes their .vmx files. vcsim's
// model builds each VM's CD-ROM for a new IDE controller it then drops
// (ESXi's two IDE controllers exist already), and the CD-ROM ends up on the
// SCSI controller at the disk's unit number: two devices at scsi0:0. It is
// put where the model meant it, IDE 1 (ide1:0), as on ESXi.
func installVMX(*simulator.Model) {
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		if vm.Config == nil {
			continue
		}
		moveCdromsToIDE(vm)
		syncVM(vm)
	}
}

func moveCdromsToIDE(vm *simulator.VirtualMachine) {
	devices := append([]types.BaseVirtualDevice(nil), vm.Config.Hardware.Device...)
	byKey := make(map[int32]int)
	for i, d := range devices {
		byKey[d.GetVirtualDevice().Key] = i
	}
	changed := false
	for _, d := range devices {
		cd, ok := d.(*types.VirtualCdrom)
		if !ok {
			continue
		}
		if i, ok := byKey[cd.ControllerKey]; ok {
			switch devices[i].(type) {
			case *types.VirtualIDEController, *types.VirtualAHCIController:
				continue
			}
		}
		for _, bus := range []int32{1, 0} {
			i, ok := byKey[200+bus]
			ide, isIDE := devices[i].(*types.VirtualIDEController)
			if !ok || !isIDE || len(ide.Device) >= 2 {
				continue
			}
			unit := int32(len(ide.Device))
			cp := *ide // the simulator shares default devices between VMs: copy
			cp.Device = append(append([]int32(nil), ide.Device...), cd.Key)
			devices[i] = &cp
			cd.ControllerKey = cp.Key
			cd.UnitNumber = &unit
			changed = true
			break
		}
	}
	if changed {
		setVMDevices(vm, devices)
	}
}
