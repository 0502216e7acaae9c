#!/usr/bin/env bash
# Self-test of the PCI passthrough extension (pci.go) over raw SOAP.
#
# Builds the simulator with scripts/vcsim (or uses $VCSIM_BIN), starts it in
# ESXi mode, vCenter mode and ESXi mode with -pci-reboot-required, and checks
# host PCI inventory, HostPciPassthruSystem.UpdatePassthruConfig,
# QueryConfigTarget, the VM power-on/reconfigure rules and RebootHost_Task.
# Exits non-zero when a check fails. Needs bash, curl, sed, grep and Go.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ceso-pci-selftest.XXXXXX")
PIDS=()
FAILED=0
PASSED=0

cleanup() {
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

ok() { PASSED=$((PASSED + 1)); echo "ok   - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
has() { grep -qF -- "$2" <<<"$1"; }
hasnt() { ! grep -qF -- "$2" <<<"$1"; }
die() {
	echo "FATAL: $*" >&2
	exit 1
}

# --- build -------------------------------------------------------------------
BIN=${VCSIM_BIN:-}
if [ -z "$BIN" ]; then
	# The project's build: it adds the overlay on govmomi's simulator (tests/vcsim/overlay).
	BIN=$("$HERE/../../scripts/vcsim" build | tail -n1) || die "build failed"
	[ -x "$BIN" ] || die "build failed"
fi

# --- simulator and SOAP helpers ----------------------------------------------
URL=
JAR=
RESP=
CODE=
PC=

start_sim() { # start_sim NAME ARGS...: sets URL, JAR
	local name=$1
	shift
	"$BIN" -l 127.0.0.1:0 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	PIDS+=($!)
	local i
	for i in $(seq 1 300); do
		grep -q '^CESO_VCSIM_READY=1' "$WORK/$name.out" 2>/dev/null && break
		sleep 0.1
	done
	grep -q '^CESO_VCSIM_READY=1' "$WORK/$name.out" || {
		cat "$WORK/$name.err" >&2
		die "simulator $name did not start"
	}
	URL=$(sed -n 's/^CESO_VCSIM_URL=//p' "$WORK/$name.out")
	JAR=$WORK/$name.cookies
	: >"$JAR"
	echo "# $name: $URL $*"
}

soap() { # soap BODY_XML: sets RESP and CODE
	local env='<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'"$1"'</soapenv:Body></soapenv:Envelope>'
	CODE=$(curl -sS -o "$WORK/resp.xml" -w '%{http_code}' -b "$JAR" -c "$JAR" \
		-H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: "urn:vim25/7.0"' \
		--data-binary "$env" "$URL") || CODE=000
	RESP=$(cat "$WORK/resp.xml" 2>/dev/null)
}

first() { # first TAG: text of the first <TAG ...>text</TAG> in RESP
	sed -n "s:.*<$1\( [^>]*\)\{0,1\}>\([^<]*\)</$1>.*:\2:p" <<<"$RESP" | head -n 1
}

login() {
	soap '<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>'
	[ "$CODE" = 200 ] || die "RetrieveServiceContent: HTTP $CODE"
	PC=$(first propertyCollector)
	ROOT=$(first rootFolder)
	VIEWMGR=$(first viewManager)
	local sm
	sm=$(first sessionManager)
	soap "<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">$sm</_this><userName>user</userName><password>pass</password></Login>"
	[ "$CODE" = 200 ] || die "Login: HTTP $CODE"
}

props() { # props TYPE MOREF PATH...: RetrievePropertiesEx of one object
	local type=$1 val=$2 paths="" p
	shift 2
	for p in "$@"; do paths="$paths<pathSet>$p</pathSet>"; done
	soap "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">$PC</_this><specSet><propSet><type>$type</type>$paths</propSet><objectSet><obj type=\"$type\">$val</obj></objectSet></specSet><options/></RetrievePropertiesEx>"
}

prop() { # prop TYPE MOREF PATH: prints the <val> content
	props "$1" "$2" "$3"
	sed -n 's:.*<propSet><name>[^<]*</name><val[^>]*>\(.*\)</val></propSet>.*:\1:p' <<<"$RESP"
}

list() { # list TYPE PATH...: objects of TYPE under the root folder, one line per object
	soap "<CreateContainerView xmlns=\"urn:vim25\"><_this type=\"ViewManager\">$VIEWMGR</_this><container type=\"Folder\">$ROOT</container><type>$1</type><recursive>true</recursive></CreateContainerView>"
	local view
	view=$(first returnval)
	local type=$1 paths="" p
	shift
	for p in "$@"; do paths="$paths<pathSet>$p</pathSet>"; done
	soap "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">$PC</_this><specSet><propSet><type>$type</type>$paths</propSet><objectSet><obj type=\"ContainerView\">$view</obj><skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><name>v</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet><options/></RetrievePropertiesEx>"
	sed 's:<objects>:\n<objects>:g' <<<"$RESP" | grep '^<objects>'
}

passthru_info() { # passthru_info HOST ID: the HostPciPassthruInfo of one device
	prop HostSystem "$1" config.pciPassthruInfo | sed 's:<HostPciPassthruInfo:\n&:g' | grep -F "<id>$2</id>"
}

update_passthru() { # update_passthru PCISYS ID=true|false ...
	local sys=$1 cfg="" kv
	shift
	for kv in "$@"; do
		cfg="$cfg<config xsi:type=\"HostPciPassthruConfig\"><id>${kv%%=*}</id><passthruEnabled>${kv#*=}</passthruEnabled></config>"
	done
	soap "<UpdatePassthruConfig xmlns=\"urn:vim25\"><_this type=\"HostPciPassthruSystem\">$sys</_this>$cfg</UpdatePassthruConfig>"
}

TASK_INFO=
run_task() { # run_task BODY_XML: invoke a *_Task method and load Task.info into TASK_INFO
	soap "$1"
	local task
	task=$(first returnval)
	TASK_INFO=
	[ -n "$task" ] || {
		TASK_INFO="no task: HTTP $CODE $RESP"
		return
	}
	props Task "$task" info
	TASK_INFO=$RESP
}
task_ok() { has "$TASK_INFO" '<state>success</state>'; }
task_fault() { has "$TASK_INFO" '<state>error</state>' && has "$TASK_INFO" "type=\"$1\""; }

reconfig() { # reconfig VM SPEC_INNER_XML
	run_task "<ReconfigVM_Task xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">$1</_this><spec>$2</spec></ReconfigVM_Task>"
}
power() { # power VM On|Off
	run_task "<Power$2VM_Task xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">$1</_this></Power$2VM_Task>"
}

static_pci() { # static_pci ID SYSTEMID KEY: deviceChange adding a static DirectPath device
	echo "<deviceChange><operation>add</operation><device xsi:type=\"VirtualPCIPassthrough\"><key>$3</key><backing xsi:type=\"VirtualPCIPassthroughDeviceBackingInfo\"><deviceName></deviceName><id>$1</id><deviceId>20b7</deviceId><systemId>$2</systemId><vendorId>4318</vendorId></backing></device></deviceChange>"
}
vgpu_pci() { # vgpu_pci PROFILE KEY
	echo "<deviceChange><operation>add</operation><device xsi:type=\"VirtualPCIPassthrough\"><key>$2</key><backing xsi:type=\"VirtualPCIPassthroughVmiopBackingInfo\"><vgpu>$1</vgpu></backing></device></deviceChange>"
}
dynamic_pci() { # dynamic_pci VENDOR DEVICE KEY (decimal vendor/device IDs)
	echo "<deviceChange><operation>add</operation><device xsi:type=\"VirtualPCIPassthrough\"><key>$3</key><backing xsi:type=\"VirtualPCIPassthroughDynamicBackingInfo\"><deviceName></deviceName><allowedDevice><vendorId>$1</vendorId><deviceId>$2</deviceId></allowedDevice></backing></device></deviceChange>"
}
remove_pci_keys() { # remove_pci_keys VM: deviceChange removing every VirtualPCIPassthrough of VM
	local devices key spec=""
	devices=$(prop VirtualMachine "$1" config.hardware.device | sed 's:<VirtualDevice :\n&:g' | grep 'type="VirtualPCIPassthrough"')
	for key in $(sed -n 's:^<VirtualDevice [^>]*><key>\([0-9-]*\)</key>.*:\1:p' <<<"$devices"); do
		spec="$spec<deviceChange><operation>remove</operation><device xsi:type=\"VirtualPCIPassthrough\"><key>$key</key></device></deviceChange>"
	done
	echo "$spec"
}
pci_count() { # pci_count VM: number of VirtualPCIPassthrough devices
	prop VirtualMachine "$1" config.hardware.device | grep -o 'type="VirtualPCIPassthrough"' | wc -l | tr -d ' '
}

LOCKED='<memoryReservationLockedToMax>true</memoryReservationLockedToMax>'

# =============================================================================
# Part 1: standalone ESXi
start_sim esx -esx
login
HOST=ha-host

DEVICES=$(prop HostSystem $HOST hardware.pciDevice)
N=$(grep -o '<HostPciDevice' <<<"$DEVICES" | wc -l | tr -d ' ')
check "hardware.pciDevice keeps the 43 template devices and adds 16 (got $N)" test "$N" = 59
check "NVIDIA A30 at 0000:3b:00.0 (vendorId 4318 = 0x10de, deviceId 8375 = 0x20b7, class 0x0302)" \
	grep -qF '<id>0000:3b:00.0</id><classId>770</classId><bus>59</bus><slot>0</slot><function>0</function><vendorId>4318</vendorId><subVendorId>4318</subVendorId><vendorName>NVIDIA Corporation</vendorName><deviceId>8375</deviceId>' <<<"$DEVICES"
check "Intel X710 vendorId is the signed short -32634 (0x8086)" \
	grep -qF '<id>0000:af:00.1</id><classId>512</classId><bus>175</bus><slot>0</slot><function>1</function><vendorId>-32634</vendorId>' <<<"$DEVICES"
for id in 0000:18:00.0 0000:4d:00.0 0000:5e:00.0 0000:86:00.0 0000:86:00.1 0000:af:00.0 0000:d8:00.0 0000:00:00.0; do
	check "device $id present" has "$DEVICES" "<id>$id</id>"
done

INFO=$(prop HostSystem $HOST config.pciPassthruInfo)
N=$(grep -o '<HostPciPassthruInfo' <<<"$INFO" | wc -l | tr -d ' ')
check "config.pciPassthruInfo has one entry per device (got $N)" test "$N" = 59
check "chipset 0000:00:00.0 is not passthrough capable" has "$(passthru_info $HOST 0000:00:00.0)" '<passthruCapable>false</passthruCapable>'
I=$(passthru_info $HOST 0000:3b:00.0)
check "A30 capable, disabled, inactive" has "$I" '<dependentDevice>0000:3b:00.0</dependentDevice><passthruEnabled>false</passthruEnabled><passthruCapable>true</passthruCapable><passthruActive>false</passthruActive>'
check "HDMI audio 0000:86:00.1 depends on 0000:86:00.0" has "$(passthru_info $HOST 0000:86:00.1)" '<dependentDevice>0000:86:00.0</dependentDevice>'
check "X710 port 0000:af:00.1 depends on 0000:af:00.0" has "$(passthru_info $HOST 0000:af:00.1)" '<dependentDevice>0000:af:00.0</dependentDevice>'

SYS=$(props HostSystem $HOST configManager.pciPassthruSystem >/dev/null; sed -n 's:.*type="HostPciPassthruSystem">\([^<]*\)<.*:\1:p' <<<"$RESP")
check "configManager.pciPassthruSystem is ha-pcipassthrusystem" test "$SYS" = ha-pcipassthrusystem
N=$(prop HostPciPassthruSystem "$SYS" pciPassthruInfo | grep -o '<HostPciPassthruInfo' | wc -l | tr -d ' ')
check "HostPciPassthruSystem.pciPassthruInfo is readable (got $N entries)" test "$N" = 59

TYPES=$(prop HostSystem $HOST config.sharedPassthruGpuTypes)
for t in grid_a30-4c grid_a30-24c grid_a30-1-6c grid_a30-4-24c grid_a100d-80c grid_a100d-7-80c grid_rtxa6000-4q grid_rtxa6000-2b; do
	check "sharedPassthruGpuTypes lists $t" has "$TYPES" ">$t<"
done

# UpdatePassthruConfig: faults, atomicity
update_passthru "$SYS" 0000:af:00.0=true 0000:00:00.0=true
check "enabling a chipset device: HTTP 500 HostConfigFault" eval '[ "$CODE" = 500 ] && has "$RESP" "xsi:type=\"HostConfigFault\"" && has "$RESP" "0000:00:00.0"'
check "the rejected request changed nothing (0000:af:00.0 still disabled)" has "$(passthru_info $HOST 0000:af:00.0)" '<passthruEnabled>false</passthruEnabled>'
update_passthru "$SYS" 0000:99:00.0=true
check "unknown device id: HostConfigFault naming it" eval '[ "$CODE" = 500 ] && has "$RESP" "HostConfigFault" && has "$RESP" "0000:99:00.0"'

update_passthru "$SYS" 0000:3b:00.0=true 0000:86:00.1=true
check "UpdatePassthruConfig(0000:3b:00.0, 0000:86:00.1) succeeds" test "$CODE" = 200
check "0000:3b:00.0 enabled and active" has "$(passthru_info $HOST 0000:3b:00.0)" '<passthruEnabled>true</passthruEnabled><passthruCapable>true</passthruCapable><passthruActive>true</passthruActive>'
check "dependent 0000:86:00.0 enabled along with 0000:86:00.1" has "$(passthru_info $HOST 0000:86:00.0)" '<passthruEnabled>true</passthruEnabled><passthruCapable>true</passthruCapable><passthruActive>true</passthruActive>'
check "HostPciPassthruSystem.pciPassthruInfo follows" eval 'prop HostPciPassthruSystem "$SYS" pciPassthruInfo | sed "s:<HostPciPassthruInfo:\n&:g" | grep -F "<id>0000:3b:00.0</id>" | grep -qF "<passthruActive>true</passthruActive>"'
TYPES=$(prop HostSystem $HOST config.sharedPassthruGpuTypes)
check "RTX A6000 in passthrough: its vGPU types are gone" hasnt "$TYPES" 'grid_rtxa6000'
check "second A30 still shared: grid_a30-4c listed" has "$TYPES" '>grid_a30-4c<'

soap "<Refresh xmlns=\"urn:vim25\"><_this type=\"HostPciPassthruSystem\">$SYS</_this></Refresh>"
check "HostPciPassthruSystem.Refresh" test "$CODE" = 200

# QueryConfigTarget
VMS=$(list VirtualMachine name runtime.powerState environmentBrowser)
VM1=$(sed -n '1s:.*<obj type="VirtualMachine">\([^<]*\)</obj>.*:\1:p' <<<"$VMS")
VM2=$(sed -n '2s:.*<obj type="VirtualMachine">\([^<]*\)</obj>.*:\1:p' <<<"$VMS")
[ -n "$VM1" ] && [ -n "$VM2" ] || die "need two VMs, got: $VMS"
ENVB=$(sed -n '1s:.*type="EnvironmentBrowser">\([^<]*\)<.*:\1:p' <<<"$VMS")
UUID=$(prop HostSystem $HOST hardware.systemInfo.uuid | sed 's:.*<uuid>\([^<]*\)</uuid>.*:\1:')
soap "<QueryConfigTarget xmlns=\"urn:vim25\"><_this type=\"EnvironmentBrowser\">$ENVB</_this><host type=\"HostSystem\">$HOST</host></QueryConfigTarget>"
CT=$RESP
check "QueryConfigTarget keeps the simulator's datastores" has "$CT" '<datastore>'
check "pciPassthrough lists 0000:3b:00.0 with the host's systemId" \
	eval 'sed "s:<pciPassthrough:\n&:g" <<<"$CT" | grep -F "<id>0000:3b:00.0</id>" | grep -qF "<systemId>$UUID</systemId>"'
check "pciPassthrough lists the dependent audio function 0000:86:00.1" has "$CT" '<id>0000:86:00.1</id>'
check "pciPassthrough omits disabled devices" hasnt "$CT" '<id>0000:d8:00.0</id>'
check "sharedGpuPassthroughTypes lists grid_a30-4c" has "$CT" '<vgpu>grid_a30-4c</vgpu>'
check "sharedGpuPassthroughTypes omits the passthrough RTX A6000" hasnt "$CT" 'grid_rtxa6000'
check "dynamicPassthrough lists the A30 (10de:20b7)" has "$CT" '<vendorName>NVIDIA Corporation</vendorName><deviceName>GA100GL [A30 PCIe]</deviceName><vendorId>4318</vendorId><deviceId>8375</deviceId>'

# VM rules
power "$VM1" On >/dev/null
run_task "<ReconfigVM_Task xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">$VM1</_this><spec><annotation>changed</annotation>$(static_pci 0000:3b:00.0 "$UUID" -100)</spec></ReconfigVM_Task>"
check "adding a PCI device to a powered-on VM: InvalidPowerState" task_fault InvalidPowerState
check "... the device was not added" test "$(pci_count "$VM1")" = 0
check "... nor the rest of the spec applied" hasnt "$(prop VirtualMachine "$VM1" config.annotation)" changed

power "$VM1" Off
check "power off $VM1" task_ok
reconfig "$VM1" "$(static_pci 0000:3b:00.0 "$UUID" -100)"
check "adding a PCI device to a powered-off VM succeeds" task_ok
power "$VM1" On
check "power-on without full memory reservation: GenericVmConfigFault" \
	eval 'task_fault GenericVmConfigFault && has "$TASK_INFO" "memory reservation"'
reconfig "$VM1" "$LOCKED"
power "$VM1" On
check "power-on with memoryReservationLockedToMax succeeds" task_ok

reconfig "$VM1" "$(remove_pci_keys "$VM1")"
check "removing the PCI device while powered on: InvalidPowerState" task_fault InvalidPowerState
check "... the device is still there" test "$(pci_count "$VM1")" = 1

update_passthru "$SYS" 0000:3b:00.0=false
check "disabling passthrough of a device in use: HostConfigFault caused by ResourceInUse" \
	eval '[ "$CODE" = 500 ] && has "$RESP" "HostConfigFault" && has "$RESP" "ResourceInUse"'

power "$VM2" Off >/dev/null
reconfig "$VM2" "$LOCKED$(static_pci 0000:3b:00.0 "$UUID" -100)"
power "$VM2" On
check "second VM with the same device: power-on fails (in use)" eval 'task_fault GenericVmConfigFault && has "$TASK_INFO" "in use"'

reconfig "$VM2" "$(remove_pci_keys "$VM2")$(vgpu_pci grid_rtxa6000-4q -101)"
power "$VM2" On
check "vGPU profile of a GPU in passthrough: power-on fails" eval 'task_fault GenericVmConfigFault && has "$TASK_INFO" "grid_rtxa6000-4q"'

update_passthru "$SYS" 0000:af:00.0=true
check "enable X710 0000:af:00.0 (and its dependent 0000:af:00.1)" \
	eval '[ "$CODE" = 200 ] && has "$(passthru_info $HOST 0000:af:00.1)" "<passthruActive>true</passthruActive>"'
reconfig "$VM2" "$(remove_pci_keys "$VM2")$(vgpu_pci grid_a30-4c -101)$(dynamic_pci 32902 5490 -102)$(dynamic_pci 32902 5490 -103)"
power "$VM2" On
check "vGPU grid_a30-4c + two dynamic DirectPath X710 ports: power-on succeeds" task_ok
DEV2=$(prop VirtualMachine "$VM2" config.hardware.device)
check "dynamic backings got assignedId 0000:af:00.0 and 0000:af:00.1" \
	eval 'has "$DEV2" "<assignedId>0000:af:00.0</assignedId>" && has "$DEV2" "<assignedId>0000:af:00.1</assignedId>"'
power "$VM2" Off
check "power-off releases the dynamic devices" hasnt "$(prop VirtualMachine "$VM2" config.hardware.device)" '<assignedId>'

# =============================================================================
# Part 2: vCenter
start_sim vpx
login
HOSTS=$(list HostSystem name configManager.pciPassthruSystem parent)
NH=$(wc -l <<<"$HOSTS" | tr -d ' ')
NS=$(sed -n 's:.*type="HostPciPassthruSystem">\([^<]*\)<.*:\1:p' <<<"$HOSTS" | sort -u | wc -l | tr -d ' ')
check "every host has its own HostPciPassthruSystem ($NH hosts, $NS systems)" test "$NH" = "$NS" -a "$NH" -gt 1
H1=$(sed -n '1s:.*<obj type="HostSystem">\([^<]*\)</obj>.*:\1:p' <<<"$HOSTS")
S1=$(sed -n '1s:.*type="HostPciPassthruSystem">\([^<]*\)<.*:\1:p' <<<"$HOSTS")
N=$(prop HostPciPassthruSystem "$S1" pciPassthruInfo | grep -o '<HostPciPassthruInfo' | wc -l | tr -d ' ')
check "$S1 answers property reads ($N entries)" test "$N" = 59
update_passthru "$S1" 0000:5e:00.0=true
check "enable A100 on $H1" test "$CODE" = 200

CRS=$(
	list ClusterComputeResource host environmentBrowser
	list ComputeResource host environmentBrowser
)
OWN=$(grep -F ">$H1<" <<<"$CRS" | head -n 1)
OTHER=$(grep -vF ">$H1<" <<<"$CRS" | head -n 1)
OWN_ENV=$(sed -n 's:.*type="EnvironmentBrowser">\([^<]*\)<.*:\1:p' <<<"$OWN")
OTHER_ENV=$(sed -n 's:.*type="EnvironmentBrowser">\([^<]*\)<.*:\1:p' <<<"$OTHER")
soap "<QueryConfigTarget xmlns=\"urn:vim25\"><_this type=\"EnvironmentBrowser\">$OWN_ENV</_this><host type=\"HostSystem\">$H1</host></QueryConfigTarget>"
check "QueryConfigTarget($H1) on its compute resource lists the A100" has "$RESP" '<id>0000:5e:00.0</id>'
soap "<QueryConfigTarget xmlns=\"urn:vim25\"><_this type=\"EnvironmentBrowser\">$OTHER_ENV</_this><host type=\"HostSystem\">$H1</host></QueryConfigTarget>"
check "QueryConfigTarget with a host of another compute resource: InvalidArgument" eval '[ "$CODE" = 500 ] && has "$RESP" "InvalidArgument"'
soap "<QueryConfigTarget xmlns=\"urn:vim25\"><_this type=\"EnvironmentBrowser\">$OTHER_ENV</_this></QueryConfigTarget>"
check "QueryConfigTarget of another compute resource does not list $H1's device" hasnt "$RESP" '<id>0000:5e:00.0</id>'

VMH1=$(list VirtualMachine runtime.host | grep -F "type=\"HostSystem\">$H1<" | sed -n '1s:.*<obj type="VirtualMachine">\([^<]*\)</obj>.*:\1:p')
H2=$(sed -n '2s:.*<obj type="HostSystem">\([^<]*\)</obj>.*:\1:p' <<<"$HOSTS")
UUID1=$(prop HostSystem "$H1" hardware.systemInfo.uuid | sed 's:.*<uuid>\([^<]*\)</uuid>.*:\1:')
power "$VMH1" Off >/dev/null
reconfig "$VMH1" "$LOCKED$(static_pci 0000:5e:00.0 "$UUID1" -100 | sed 's:<deviceId>20b7</deviceId>:<deviceId>8373</deviceId>:')"
power "$VMH1" On
check "VM $VMH1 with the A100 of $H1 powers on (deviceId given in decimal)" task_ok
run_task "<RelocateVM_Task xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">$VMH1</_this><spec><host type=\"HostSystem\">$H2</host></spec></RelocateVM_Task>"
check "migrating the powered-on VM to $H2: DisallowedMigrationDeviceAttached" task_fault DisallowedMigrationDeviceAttached
check "... it stays on $H1" test "$(prop VirtualMachine "$VMH1" runtime.host)" = "$H1"

# =============================================================================
# Part 3: ESXi with -pci-reboot-required
start_sim reboot -esx -pci-reboot-required
login
update_passthru ha-pcipassthrusystem 0000:3b:00.0=true
check "enable 0000:3b:00.0: enabled but not active until reboot" \
	has "$(passthru_info $HOST 0000:3b:00.0)" '<passthruEnabled>true</passthruEnabled><passthruCapable>true</passthruCapable><passthruActive>false</passthruActive>'
check "summary.rebootRequired is true" has "$(prop HostSystem $HOST summary.rebootRequired)" 'true'
BOOT1=$(prop HostSystem $HOST runtime.bootTime)

run_task "<RebootHost_Task xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$HOST</_this><force>false</force></RebootHost_Task>"
check "RebootHost_Task outside maintenance mode: InvalidState" task_fault InvalidState
check "... the task's entity is the host" has "$TASK_INFO" "<entity type=\"HostSystem\">$HOST</entity>"
run_task "<EnterMaintenanceMode_Task xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$HOST</_this><timeout>0</timeout></EnterMaintenanceMode_Task>"
for vm in $(list VirtualMachine name | sed -n 's:.*<obj type="VirtualMachine">\([^<]*\)</obj>.*:\1:p'); do
	power "$vm" Off >/dev/null
done
run_task "<RebootHost_Task xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$HOST</_this><force>false</force></RebootHost_Task>"
check "RebootHost_Task in maintenance mode succeeds" task_ok
check "after the reboot 0000:3b:00.0 is active" has "$(passthru_info $HOST 0000:3b:00.0)" '<passthruActive>true</passthruActive>'
check "summary.rebootRequired is false" has "$(prop HostSystem $HOST summary.rebootRequired)" 'false'
check "runtime.bootTime moved" test "$(prop HostSystem $HOST runtime.bootTime)" != "$BOOT1"

: >"$JAR"
soap "<RebootHost_Task xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$HOST</_this><force>true</force></RebootHost_Task>"
check "RebootHost_Task without a session: NotAuthenticated" eval '[ "$CODE" = 500 ] && has "$RESP" "NotAuthenticated"'

echo "# $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
