// SR-IOV for the simulator's PCI devices (see pci.go): the physical functions
// of the AMD Instinct MI210 (MxGPU), the Intel Data Center GPU Flex 170 and the
// Intel X710 ports report HostSriovInfo in config.pciPassthruInfo, and
// UpdatePassthruConfig takes a HostSriovConfig for them. As on ESXi, the
// virtual functions only exist once the host has rebooted (RebootHost_Task):
// then they appear in hardware.pciDevice with their own ids, each a
// passthrough-ready device of its own, and numVirtualFunction/sriovActive
// follow what was requested.
//
// Faults, as ESXi gives them (HostConfigFault with a message): more VFs than
// maxVirtualFunctionSupported, SR-IOV on a device that is not SR-IOV capable,
// SR-IOV on a device in whole-device passthrough (and the reverse), and
// disabling or shrinking SR-IOV while a powered-on VM uses a VF that would go
// (the cause is ResourceInUse, like the passthrough in-use fault).

package main

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// sriovModel is what a physical function's SR-IOV capability says.
type sriovModel struct {
	max      int32  // TotalVFs of the SR-IOV capability
	vfDevice uint16 // the VF's PCI device id
	vfName   string
}

var (
	// AMD MxGPU: the MI210's VFs split its 64 GB framebuffer evenly.
	sriovMI210 = &sriovModel{max: 8, vfDevice: 0x7410, vfName: "Aldebaran/MI200 [Instinct MI210 MxGPU VF]"}
	// Intel Flex 170: up to 31 VFs; the VFs report the PF's device id.
	sriovFlex170 = &sriovModel{max: 31, vfDevice: 0x56c0, vfName: "ATS-M [Data Center GPU Flex 170 VF]"}
	// Intel X710 (i40en): 64 VFs per port.
	sriovX710 = &sriovModel{max: 64, vfDevice: 0x154c, vfName: "Ethernet Virtual Function 700 Series"}
)

// sriovState is one physical function's configured and active SR-IOV state.
type sriovState struct {
	model     *sriovModel
	enabled   bool  // sriovEnabled: configured
	requested int32 // numVirtualFunctionRequested
	active    bool  // sriovActive: since the last reboot
	num       int32 // numVirtualFunction: VFs that exist now
}

func (s *sriovState) pending() bool {
	return s.enabled != s.active || (s.enabled && s.requested != s.num)
}

func (s *sriovState) info(base types.HostPciPassthruInfo) *types.HostSriovInfo {
	return &types.HostSriovInfo{
		HostPciPassthruInfo:         base,
		SriovCapable:                true,
		SriovEnabled:                s.enabled,
		SriovActive:                 s.active,
		NumVirtualFunctionRequested: s.requested,
		NumVirtualFunction:          s.num,
		MaxVirtualFunctionSupported: s.model.max,
	}
}

type sriovChange struct {
	id      string
	enabled bool
	num     int32
}

// vfID places virtual function k of a physical function on the PF's bus,
// after the PF's slot: function f's VFs start at slot 2+8f, eight per slot.
func vfID(pf string, k int32) string {
	var dom, bus, slot, fn int
	if _, err := fmt.Sscanf(pf, "%x:%x:%x.%x", &dom, &bus, &slot, &fn); err != nil {
		return fmt.Sprintf("%s-vf%d", pf, k)
	}
	return fmt.Sprintf("%04x:%02x:%02x.%x", dom, bus, 2+8*fn+int(k)/8, int(k)%8)
}

// checkSriovConfigs validates the HostSriovConfig entries of a request.
// Called with pciMu held; changes nothing.
func (p *pciHost) checkSriovConfigs(configs []types.BaseHostPciPassthruConfig) ([]sriovChange, string, types.BaseMethodFault) {
	var res []sriovChange
	for _, bc := range configs {
		c, ok := bc.(*types.HostSriovConfig)
		if !ok {
			continue
		}
		info := p.info[c.Id]
		if info == nil {
			msg, f := hostConfigFault("vcsim.pci.notFound", "PCI device %q does not exist on host %s", c.Id, p.name)
			return nil, msg, f
		}
		st := p.sriov[c.Id]
		if st == nil {
			msg, f := hostConfigFault("vcsim.pci.sriovNotSupported", "SR-IOV is not supported by PCI device %s", p.label(c.Id))
			return nil, msg, f
		}
		num := c.NumVirtualFunction
		if c.SriovEnabled {
			if num < 1 || num > st.model.max {
				msg, f := hostConfigFault("vcsim.pci.sriovNumVfs",
					"Invalid number of virtual functions %d for PCI device %s: it supports 1 to %d (maxVirtualFunctionSupported)",
					num, p.label(c.Id), st.model.max)
				return nil, msg, f
			}
			if info.PassthruEnabled || info.PassthruActive {
				msg, f := hostConfigFault("vcsim.pci.passthruEnabled",
					"PCI device %s is enabled for passthrough: disable passthrough before enabling SR-IOV", p.label(c.Id))
				return nil, msg, f
			}
		} else {
			num = 0
		}
		// VFs that the next reboot removes must not be running a VM now.
		for k := num; k < st.num; k++ {
			if vm := pciUser(p.ref, vfID(c.Id, k), types.ManagedObjectReference{}); vm != nil {
				msg, f := inUseFault(p, vfID(c.Id, k), vm,
					"Virtual function %s is in use by powered-on virtual machine %q; power it off before disabling SR-IOV or reducing the number of virtual functions")
				return nil, msg, f
			}
		}
		res = append(res, sriovChange{id: c.Id, enabled: c.SriovEnabled, num: num})
	}
	return res, "", nil
}

// applySriovConfigs records the configuration; it takes effect at reboot.
func (p *pciHost) applySriovConfigs(changes []sriovChange) {
	for _, c := range changes {
		st := p.sriov[c.id]
		st.enabled = c.enabled
		st.requested = c.num
	}
}

// rebootSriov makes the configured VFs exist. Called with pciMu held.
func (p *pciHost) rebootSriov() {
	for _, pf := range append([]string(nil), p.order...) {
		st := p.sriov[pf]
		if st == nil {
			continue
		}
		st.active = st.enabled
		st.num = 0
		if st.enabled {
			st.num = st.requested
		}
		p.removeVFs(pf)
		p.addVFs(pf, st)
	}
}

func (p *pciHost) removeVFs(pf string) {
	keepDev := p.devices[:0]
	for _, d := range p.devices {
		if p.vfOf[d.Id] == pf {
			delete(p.pci, d.Id)
			delete(p.info, d.Id)
			delete(p.vfOf, d.Id)
			continue
		}
		keepDev = append(keepDev, d)
	}
	p.devices = keepDev
	p.order = p.order[:0]
	for _, d := range p.devices {
		p.order = append(p.order, d.Id)
	}
}

func (p *pciHost) addVFs(pf string, st *sriovState) {
	parent, ok := p.pci[pf]
	if !ok {
		return
	}
	for k := int32(0); k < st.num; k++ {
		id := vfID(pf, k)
		if _, dup := p.pci[id]; dup {
			continue
		}
		d := parent
		d.Id = id
		d.DeviceId = s16(st.model.vfDevice)
		d.DeviceName = st.model.vfName
		d.Slot, d.Function = 0, 0
		fmt.Sscanf(id[8:], "%x.%x", &d.Slot, &d.Function)
		p.devices = append(p.devices, d)
		p.order = append(p.order, id)
		p.pci[id] = d
		p.vfOf[id] = pf
		// A VF is its own passthrough device, ready without further setup.
		p.info[id] = &types.HostPciPassthruInfo{
			Id: id, DependentDevice: id,
			PassthruCapable: true, PassthruEnabled: true, PassthruActive: true,
		}
	}
}

// sriovNicFault checks an SR-IOV network adapter at power-on: its physical
// function must have SR-IOV active with a VF left for it. Called with pciMu held.
func (p *pciHost) sriovNicFault(vm *simulator.VirtualMachine, taken map[string]bool) types.BaseMethodFault {
	if vm.Config == nil {
		return nil
	}
	for _, dev := range vm.Config.Hardware.Device {
		card, ok := dev.(*types.VirtualSriovEthernetCard)
		if !ok || card.SriovBacking == nil || card.SriovBacking.PhysicalFunctionBacking == nil {
			continue
		}
		pf := card.SriovBacking.PhysicalFunctionBacking.Id
		st := p.sriov[pf]
		if st == nil || !st.active || st.num == 0 {
			return vmConfigFault("vcsim.pci.sriovNicInactive",
				"Device %s: SR-IOV is not active on physical function %s of host %s", sriovCardLabel(card), pf, p.name)
		}
		free := ""
		for k := int32(0); k < st.num && free == ""; k++ {
			id := vfID(pf, k)
			if !taken[id] && pciUser(p.ref, id, vm.Self) == nil {
				free = id
			}
		}
		if free == "" {
			return vmConfigFault("vcsim.pci.sriovNoFreeVf",
				"Insufficient resources. Device %s: no free virtual function on physical function %s of host %s", sriovCardLabel(card), pf, p.name)
		}
		taken[free] = true
	}
	return nil
}

func sriovCardLabel(card *types.VirtualSriovEthernetCard) string {
	if card.DeviceInfo != nil {
		if d := card.DeviceInfo.GetDescription(); d != nil && d.Label != "" {
			return d.Label
		}
	}
	return fmt.Sprintf("%d", card.Key)
}

func hasSriovNic(vm *simulator.VirtualMachine) bool {
	if vm.Config == nil {
		return false
	}
	for _, dev := range vm.Config.Hardware.Device {
		if _, ok := dev.(*types.VirtualSriovEthernetCard); ok {
			return true
		}
	}
	return false
}
