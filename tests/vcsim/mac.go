package main

// Generated MAC addresses, modelled on ESXi.
//
// vcsim derives a NIC's MAC from the last three *characters* of the VM's UUID
// string, and its model's UUIDs follow from the VM names: many VMs of one
// simulator share a MAC, and every simulator gives its VMs the same ones. On
// ESXi a generated MAC is 00:0c:29 and three bytes of the VM's own (random)
// UUID, so VMs of different hosts practically never share one. The model's
// VMs get such MACs here, from random bytes, before their .vmx files are
// written (the .vmx carries ethernetN.generatedAddress). The stock model also
// shares one NIC object between all its VMs (see installMACs).

import (
	"crypto/rand"
	"fmt"
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() { extensions = append(extensions, installMACs) }

func installMACs(*simulator.Model) {
	seen := make(map[string]bool)
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		if vm.Config == nil {
			continue
		}
		// The model's VMs share their device objects (vcsim builds them all from one
		// template list): each VM gets its own list and its own NIC objects first,
		// else one MAC set here would be every VM's.
		devices := append([]types.BaseVirtualDevice(nil), vm.Config.Hardware.Device...)
		vm.Config.Hardware.Device = devices
		for i, d := range devices {
			if _, ok := d.(types.BaseVirtualEthernetCard); !ok {
				continue
			}
			own := reflect.New(reflect.TypeOf(d).Elem())
			own.Elem().Set(reflect.ValueOf(d).Elem())
			devices[i] = own.Interface().(types.BaseVirtualDevice)
			card := devices[i].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
			if card.AddressType != "" && card.AddressType != string(types.VirtualEthernetCardMacTypeGenerated) {
				continue
			}
			for {
				mac := esxiMAC()
				if !seen[mac] {
					seen[mac] = true
					for i := range vm.Guest.Net {
						if vm.Guest.Net[i].DeviceConfigId == card.Key {
							vm.Guest.Net[i].MacAddress = mac
						}
					}
					card.MacAddress = mac
					break
				}
			}
		}
	}
}

// esxiMAC is an address in VMware's OUI for ESXi-generated MACs.
func esxiMAC() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("00:0c:29:%02x:%02x:%02x", b[0], b[1], b[2])
}
