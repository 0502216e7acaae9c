#!/usr/bin/env bash
# Self-test of ceso's simulator test bed, at the SOAP/HTTP level (bash + curl).
#
#   tests/vcsim/selftest.sh            build with scripts/vcsim, then test
#   VCSIM_BIN=/path/to/vcsim tests/vcsim/selftest.sh
#
# Checks: both models start and answer; -tls (curl -k, and verification
# against the printed certificate and thumbprint); -delay; -stdin-exit and
# SIGTERM clean up; several simulators at once; CBT: changeIds on snapshot
# and VM, QueryChangedDiskAreas extents after uploads (looping on
# startOffset+length), faults; removing snapshots keeps the disk files;
# .vmx files, RegisterVM_Task of a VM copied to another simulator; the
# failure injection flags; RelocateVM_Task moving files.
# Exits non-zero on the first failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

command -v curl >/dev/null || {
	echo "selftest: curl is required" >&2
	exit 1
}

bin=${VCSIM_BIN:-}
if [ -z "$bin" ]; then
	bin=$("$repo/scripts/vcsim" build | tail -n1)
fi
[ -x "$bin" ] || {
	echo "selftest: no simulator binary at '$bin'" >&2
	exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/ceso-vcsim-selftest.XXXXXX")
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() {
	echo "not ok - $*" >&2
	for p in "${pids[@]}"; do
		[ -f "$work/$p.log" ] && sed 's/^/    sim log: /' "$work/$p.log" | tail -n 20 >&2
	done
	exit 1
}
ok() { echo "ok - $*"; }

# start_sim PREFIX ARGS... starts a simulator and sets PREFIX_URL, PREFIX_PID,
# PREFIX_BASE (scheme://host:port), PREFIX_CURL (extra curl options) and
# PREFIX_<KEY> for every CESO_VCSIM_<KEY> line.
start_sim() {
	local prefix=$1
	shift
	local out="$work/start.$prefix"
	"$bin" -parent-exit "$@" </dev/null >"$out" 2>"$work/$prefix.stderr" &
	local pid=$!
	pids+=("$pid")
	local i
	for i in $(seq 1 600); do
		grep -q '^CESO_VCSIM_READY=1$' "$out" && break
		kill -0 "$pid" 2>/dev/null || {
			cat "$work/$prefix.stderr" >&2
			fail "simulator '$*' exited before READY"
		}
		sleep 0.1
	done
	grep -q '^CESO_VCSIM_READY=1$' "$out" || fail "simulator '$*' not ready after 60s"
	ln -sf "$work/$prefix.stderr" "$work/$pid.log"
	local key val
	while IFS='=' read -r key val; do
		printf -v "${prefix}_${key#CESO_VCSIM_}" '%s' "$val"
	done <"$out"
	local url_var="${prefix}_URL"
	local url=${!url_var}
	printf -v "${prefix}_BASE" '%s' "${url%/sdk}"
	if [[ $url == https://* ]]; then
		printf -v "${prefix}_CURL" '%s' "-k"
	else
		printf -v "${prefix}_CURL" '%s' ""
	fi
}

# call PREFIX JAR BODY: SOAP request; sets CODE and RESP.
call() {
	local prefix=$1 jar=$2 body=$3
	local url_var="${prefix}_URL" curl_var="${prefix}_CURL"
	local env='<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'"$body"'</soapenv:Body></soapenv:Envelope>'
	# shellcheck disable=SC2086
	CODE=$(curl -sS ${!curl_var} -b "$jar" -c "$jar" -H 'Content-Type: text/xml; charset=utf-8' \
		-H 'SOAPAction: urn:vim25/7.0' --data-binary @- -o "$work/resp" -w '%{http_code}' "${!url_var}" <<<"$env")
	RESP=$(cat "$work/resp")
}

# xget TAG [TEXT]: text of the first <TAG ...>text</TAG> in TEXT (default RESP).
xget() {
	local text=${2-$RESP}
	grep -o "<$1[ >][^<]*</$1>" <<<"$text" | head -n1 | sed 's/<[^>]*>//g' || true
}

login() { # PREFIX JAR
	call "$1" "$2" '<Login xmlns="urn:vim25"><_this type="SessionManager">'"$(sm_ref "$1")"'</_this><userName>user</userName><password>pass</password></Login>'
	[ "$CODE" = 200 ] || fail "$1: Login answered $CODE: $RESP"
}

service_content() { # PREFIX -> RESP
	call "$1" "$work/nojar" '<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>'
	[ "$CODE" = 200 ] || fail "$1: RetrieveServiceContent answered $CODE"
}

sm_ref() {
	service_content "$1"
	xget sessionManager
}

# props PREFIX JAR TYPE REF PATH -> RESP
props() {
	call "$1" "$2" '<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">'"$PC"'</_this><specSet><propSet><type>'"$3"'</type><pathSet>'"$5"'</pathSet></propSet><objectSet><obj type="'"$3"'">'"$4"'</obj></objectSet></specSet><options></options></RetrievePropertiesEx>'
	[ "$CODE" = 200 ] || fail "RetrievePropertiesEx $3:$4 $5 answered $CODE: $RESP"
}

# wait_task PREFIX JAR TASKREF: waits for success; sets TASK_RESULT.
wait_task() {
	local i state
	for i in $(seq 1 100); do
		props "$1" "$2" Task "$3" info
		state=$(xget state)
		case "$state" in
		success)
			TASK_RESULT=$(xget result)
			return 0
			;;
		error) fail "task $3 failed: $RESP" ;;
		esac
		sleep 0.1
	done
	fail "task $3 did not finish"
}

# disk_of PREFIX JAR TYPE REF: sets DISK_KEY DISK_FILE DISK_CAP DISK_CAPKB DISK_CHANGEID of the first disk.
disk_of() {
	props "$1" "$2" "$3" "$4" config.hardware.device
	local disk
	disk=$(grep -o 'type="VirtualDisk">.*' <<<"$RESP" | sed 's:</VirtualDevice>.*::')
	[ -n "$disk" ] || fail "$3 $4 has no VirtualDisk: $RESP"
	DISK_KEY=$(xget key "$disk")
	DISK_FILE=$(xget fileName "$disk")
	DISK_CAP=$(xget capacityInBytes "$disk")
	DISK_CAPKB=$(xget capacityInKB "$disk")
	DISK_CHANGEID=$(xget changeId "$disk")
}

find_vm() { # PREFIX JAR INVENTORY_PATH -> echo ref
	call "$1" "$2" '<FindByInventoryPath xmlns="urn:vim25"><_this type="SearchIndex">'"$SI"'</_this><inventoryPath>'"$3"'</inventoryPath></FindByInventoryPath>'
	[ "$CODE" = 200 ] || fail "FindByInventoryPath $3 answered $CODE: $RESP"
	xget returnval
}

# qcda PREFIX JAR VM SNAPSHOT(or empty) KEY OFFSET CHANGEID -> CODE RESP
qcda() {
	local snap=""
	[ -n "$4" ] && snap='<snapshot type="VirtualMachineSnapshot">'"$4"'</snapshot>'
	call "$1" "$2" '<QueryChangedDiskAreas xmlns="urn:vim25"><_this type="VirtualMachine">'"$3"'</_this>'"$snap"'<deviceKey>'"$5"'</deviceKey><startOffset>'"$6"'</startOffset><changeId>'"$7"'</changeId></QueryChangedDiskAreas>'
}

# changed_areas PREFIX JAR VM SNAPSHOT KEY CHANGEID CAPACITY: all extents as
# "start+length" words in AREAS, looping on startOffset+length like a real
# client; CALLS is the number of calls.
changed_areas() {
	local off=0 res="" info start len calls=0
	while [ "$off" -lt "$7" ]; do
		qcda "$1" "$2" "$3" "$4" "$5" "$off" "$6"
		[ "$CODE" = 200 ] || fail "QueryChangedDiskAreas at $off answered $CODE: $RESP"
		info=$(grep -o '<startOffset>[0-9]*</startOffset><length>[0-9]*</length>' <<<"$RESP") ||
			fail "no DiskChangeInfo in $RESP"
		start=$(xget startOffset "$info")
		len=$(xget length "$info")
		[ "$start" = "$off" ] || fail "answer startOffset $start, asked $off"
		[ "$len" -gt 0 ] || fail "answer length $len at $off"
		local area
		while read -r area; do
			[ -n "$area" ] || continue
			res+="$(xget start "$area")+$(xget length "$area") "
		done < <(grep -o '<changedArea><start>[0-9]*</start><length>[0-9]*</length></changedArea>' <<<"$RESP" || true)
		off=$((off + len))
		calls=$((calls + 1))
		[ "$calls" -lt 10000 ] || fail "QueryChangedDiskAreas loop does not end"
	done
	CALLS=$calls
	AREAS=${res% }
}

folder_url() { # PREFIX DC DS PATH
	local base_var="${1}_BASE"
	echo "${!base_var}/folder/$4?dcPath=$2&dsName=$3"
}

http_code() { # PREFIX METHOD URL [curl args...]
	local curl_var="${1}_CURL" method=$2 url=$3
	shift 3
	local m=(-X "$method")
	[ "$method" = HEAD ] && m=(-I)
	# shellcheck disable=SC2086
	curl -sS ${!curl_var} "${m[@]}" -o /dev/null -w '%{http_code}' "$@" "$url"
}

# fill FILE OFFSET LENGTH BYTE(octal): write LENGTH bytes of BYTE at OFFSET.
fill() {
	head -c "$3" /dev/zero | tr '\0' "\\$4" | dd of="$1" bs=65536 seek="$2" oflag=seek_bytes conv=notrunc status=none
}

snapshot_create() { # PREFIX JAR VM NAME -> SNAP
	call "$1" "$2" '<CreateSnapshot_Task xmlns="urn:vim25"><_this type="VirtualMachine">'"$3"'</_this><name>'"$4"'</name><description>selftest</description><memory>false</memory><quiesce>false</quiesce></CreateSnapshot_Task>'
	[ "$CODE" = 200 ] || fail "CreateSnapshot_Task answered $CODE: $RESP"
	wait_task "$1" "$2" "$(xget returnval)"
	SNAP=$TASK_RESULT
}

snapshot_remove() { # PREFIX JAR SNAP
	call "$1" "$2" '<RemoveSnapshot_Task xmlns="urn:vim25"><_this type="VirtualMachineSnapshot">'"$3"'</_this><removeChildren>false</removeChildren></RemoveSnapshot_Task>'
	[ "$CODE" = 200 ] || fail "RemoveSnapshot_Task answered $CODE: $RESP"
	wait_task "$1" "$2" "$(xget returnval)"
}

# cbt_flow PREFIX DATACENTER VM_NAME OTHER_VM_NAME
cbt_flow() {
	local P=$1 dc=$2 name=$3 other=$4
	local jar="$work/$P.jar"
	login "$P" "$jar"
	service_content "$P"
	PC=$(xget propertyCollector)
	SI=$(xget searchIndex)

	local vm
	vm=$(find_vm "$P" "$jar" "$dc/vm/$name")
	[ -n "$vm" ] || fail "$P: no VM $dc/vm/$name"

	disk_of "$P" "$jar" VirtualMachine "$vm"
	local key=$DISK_KEY cap=$DISK_CAP
	[ "$cap" = 4194304 ] && [ "$DISK_CAPKB" = 4096 ] ||
		fail "$P: -disk-mb 4 gave capacityInBytes=$cap capacityInKB=$DISK_CAPKB"
	ok "$P: disk $key '$DISK_FILE' has capacityInBytes=$cap capacityInKB=$DISK_CAPKB"

	# "[LocalDS_0] dir/disk1.vmdk" -> datastore and paths
	local ds=${DISK_FILE#[}
	ds=${ds%%]*}
	local desc=${DISK_FILE#*] }
	local flat=${desc%.vmdk}-flat.vmdk
	local furl
	furl=$(folder_url "$P" "$dc" "$ds" "$flat")

	local size
	size=$(curl -sS -I "$furl" | tr -d '\r' | sed -n 's/^Content-Length: //Ip')
	[ "$size" = "$cap" ] || fail "$P: flat extent is $size bytes, disk capacity $cap"
	curl -sS "$(folder_url "$P" "$dc" "$ds" "$desc")" | grep -q '^RW 8192 VMFS "' ||
		fail "$P: descriptor does not describe the flat extent"
	ok "$P: $flat is as large as the disk; descriptor names it"

	# CBT off: FileFault.
	qcda "$P" "$jar" "$vm" "" "$key" 0 '*'
	[ "$CODE" = 500 ] && grep -q 'xsi:type="FileFault"' <<<"$RESP" || fail "$P: CBT off should give FileFault: $CODE $RESP"
	ok "$P: QueryChangedDiskAreas with CBT off is a FileFault"

	# Enable CBT.
	call "$P" "$jar" '<ReconfigVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">'"$vm"'</_this><spec><changeTrackingEnabled>true</changeTrackingEnabled></spec></ReconfigVM_Task>'
	[ "$CODE" = 200 ] || fail "$P: ReconfigVM_Task answered $CODE: $RESP"
	wait_task "$P" "$jar" "$(xget returnval)"
	props "$P" "$jar" VirtualMachine "$vm" config.changeTrackingEnabled
	[ "$(xget val)" = true ] || fail "$P: changeTrackingEnabled not set: $RESP"

	# Guest writes: block 0 and part of block 3 (64 KiB blocks).
	local img="$work/$P.img"
	: >"$img"
	fill "$img" 0 65536 001
	fill "$img" 204800 10240 002
	[ "$(http_code "$P" PUT "$furl" --data-binary @"$img")" = 200 ] || fail "$P: PUT $flat failed"
	size=$(curl -sS -I "$furl" | tr -d '\r' | sed -n 's/^Content-Length: //Ip')
	[ "$size" = "$cap" ] || fail "$P: after a short upload the flat extent is $size bytes, not $cap"

	snapshot_create "$P" "$jar" "$vm" backup-1
	local s1=$SNAP
	disk_of "$P" "$jar" VirtualMachineSnapshot "$s1"
	local id1=$DISK_CHANGEID
	[[ $id1 =~ ^52(\ [0-9a-f]{2}){7}-[0-9a-f]{2}(\ [0-9a-f]{2}){7}/[0-9]+$ ]] ||
		fail "$P: snapshot changeId '$id1' is not like '52 xx .. xx-xx .. xx/N'"
	disk_of "$P" "$jar" VirtualMachine "$vm"
	[ "$DISK_CHANGEID" = "$id1" ] || fail "$P: VM changeId '$DISK_CHANGEID' != snapshot's '$id1'"
	ok "$P: snapshot $s1 and the VM show changeId '$id1'"

	local areas
	changed_areas "$P" "$jar" "$vm" "$s1" "$key" '*' "$cap"
	areas=$AREAS
	[ "$areas" = "0+65536 196608+65536" ] || fail "$P: '*' areas at $s1: '$areas'"
	ok "$P: changeId '*' gives the allocated areas: $areas"

	changed_areas "$P" "$jar" "$vm" "$s1" "$key" "$id1" "$cap"
	areas=$AREAS
	[ -z "$areas" ] || fail "$P: no change expected since its own changeId: '$areas'"

	# Faults.
	qcda "$P" "$jar" "$vm" "$s1" 99999 0 "$id1"
	[ "$CODE" = 500 ] && grep -q 'xsi:type="InvalidArgument"' <<<"$RESP" && [ "$(xget invalidProperty)" = deviceKey ] ||
		fail "$P: bad deviceKey: $CODE $RESP"
	qcda "$P" "$jar" "$vm" "$s1" "$key" 0 "52 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00/1"
	[ "$CODE" = 500 ] && [ "$(xget invalidProperty)" = changeId ] || fail "$P: unknown changeId: $CODE $RESP"
	qcda "$P" "$jar" "$vm" "$s1" "$key" 0 "garbage"
	[ "$CODE" = 500 ] && [ "$(xget invalidProperty)" = changeId ] || fail "$P: malformed changeId: $CODE $RESP"
	qcda "$P" "$jar" "$vm" "" "$key" 0 '*'
	[ "$CODE" = 500 ] && grep -q 'xsi:type="FileLocked"' <<<"$RESP" || fail "$P: running VM without snapshot: $CODE $RESP"
	qcda "$P" "$work/$P.nojar" "$vm" "$s1" "$key" 0 '*'
	[ "$CODE" = 500 ] && grep -q 'xsi:type="NotAuthenticated"' <<<"$RESP" || fail "$P: no session: $CODE $RESP"
	ok "$P: faults: deviceKey/changeId InvalidArgument, FileLocked without snapshot, NotAuthenticated"

	# A guest write the hypervisor sees (/vcsim/guest-write): the next snapshot's
	# changed areas are its blocks; a range beyond the disk or an unknown VM is refused.
	local gw="${P}_URL"
	gw="${!gw%/sdk}/vcsim/guest-write"
	[ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$gw" -d '{"vm": "'"$name"'", "offset": 131072, "length": 4096}')" = 204 ] ||
		fail "$P: guest write refused"
	snapshot_create "$P" "$jar" "$vm" backup-2
	local s2=$SNAP
	changed_areas "$P" "$jar" "$vm" "$s2" "$key" "$id1" "$cap"
	[ "$AREAS" = "131072+65536" ] || fail "$P: areas after a guest write: '$AREAS'"
	snapshot_remove "$P" "$jar" "$s2"
	[ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$gw" -d '{"vm": "'"$name"'", "offset": '"$cap"', "length": 1}')" = 400 ] ||
		fail "$P: a guest write beyond the disk was not a 400"
	[ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$gw" -d '{"vm": "no-such-vm", "offset": 0, "length": 1}')" = 404 ] ||
		fail "$P: a guest write to an unknown VM was not a 404"
	ok "$P: a guest write shows in the next snapshot's changed areas ($AREAS); bad ranges 400, unknown VMs 404"

	# Full backup read, then remove the snapshot: the disk must stay.
	curl -sS "$furl" -o "$work/$P.backup"
	snapshot_remove "$P" "$jar" "$s1"
	[ "$(http_code "$P" HEAD "$furl")" = 200 ] || fail "$P: $flat gone after RemoveSnapshot"
	cmp -s "$work/$P.backup" <(curl -sS "$furl") || fail "$P: disk content changed by RemoveSnapshot"
	[ "$(http_code "$P" HEAD "$(folder_url "$P" "$dc" "$ds" "$desc")")" = 200 ] || fail "$P: descriptor gone after RemoveSnapshot"
	ok "$P: RemoveSnapshot keeps the disk files and content"

	# Change one block, take the next backup snapshot.
	fill "$img" 102400 1 011
	[ "$(http_code "$P" PUT "$furl" --data-binary @"$img")" = 200 ] || fail "$P: second PUT failed"
	snapshot_create "$P" "$jar" "$vm" backup-2
	local s2=$SNAP
	disk_of "$P" "$jar" VirtualMachineSnapshot "$s2"
	local id2=$DISK_CHANGEID
	[ -n "$id2" ] && [ "$id2" != "$id1" ] || fail "$P: second snapshot changeId '$id2'"

	changed_areas "$P" "$jar" "$vm" "$s2" "$key" "$id1" "$cap"
	areas=$AREAS
	[ "$areas" = "65536+65536" ] || fail "$P: changes since $id1 at $s2: '$areas'"
	ok "$P: incremental since '$id1' at $s2: $areas"

	changed_areas "$P" "$jar" "$vm" "$s2" "$key" '*' "$cap"
	areas=$AREAS
	[ "$areas" = "0+131072 196608+65536" ] || fail "$P: '*' areas at $s2: '$areas'"
	[ "$CALLS" -ge 2 ] || fail "$P: -cbt-max-extents 1 should page the answer (calls: $CALLS)"
	# ESX runs with -cbt-max-span-mb 1: a 4 MiB disk takes at least 4 answers.
	[ "$P" != ESX ] || [ "$CALLS" -ge 4 ] || fail "$P: -cbt-max-span-mb 1 should page the answer (calls: $CALLS)"
	ok "$P: answers are paged: $CALLS calls for $areas"

	qcda "$P" "$jar" "$vm" "$s2" "$key" 0 "$id2"
	[ "$CODE" = 200 ] || fail "$P: query at $s2 since $id2: $CODE"

	# More snapshots, removed oldest first: with stock vcsim the stale layoutEx
	# keys make one of these removals delete the VM's disk files.
	snapshot_create "$P" "$jar" "$vm" s3
	local s3=$SNAP
	snapshot_create "$P" "$jar" "$vm" s4
	local s4=$SNAP
	snapshot_create "$P" "$jar" "$vm" s5
	local s
	for s in "$s2" "$s3" "$s4"; do
		snapshot_remove "$P" "$jar" "$s"
		[ "$(http_code "$P" HEAD "$furl")" = 200 ] || fail "$P: $flat deleted by removing snapshot $s"
		[ "$(http_code "$P" HEAD "$(folder_url "$P" "$dc" "$ds" "$desc")")" = 200 ] ||
			fail "$P: $desc deleted by removing snapshot $s"
	done
	call "$P" "$jar" '<RefreshStorageInfo xmlns="urn:vim25"><_this type="VirtualMachine">'"$vm"'</_this></RefreshStorageInfo>'
	[ "$CODE" = 200 ] || fail "$P: RefreshStorageInfo answered $CODE: $RESP"
	props "$P" "$jar" VirtualMachine "$vm" layoutEx
	grep -q "<name>\[$ds\] $flat</name>" <<<"$RESP" || fail "$P: layoutEx lost $flat: $RESP"
	if grep -o '<name>\[[^<]*</name>' <<<"$RESP" | grep -v "<name>\[$ds\] [^/<]*/" >/dev/null; then
		fail "$P: layoutEx has files outside the VM directory: $RESP"
	fi
	call "$P" "$jar" '<RemoveAllSnapshots_Task xmlns="urn:vim25"><_this type="VirtualMachine">'"$vm"'</_this></RemoveAllSnapshots_Task>'
	[ "$CODE" = 200 ] || fail "$P: RemoveAllSnapshots_Task answered $CODE: $RESP"
	wait_task "$P" "$jar" "$(xget returnval)"
	props "$P" "$jar" VirtualMachine "$vm" snapshot
	grep -q '<propSet>' <<<"$RESP" && fail "$P: snapshots left after RemoveAllSnapshots: $RESP"
	cmp -s "$img" <(curl -sS -r "0-$(($(wc -c <"$img") - 1))" "$furl") || fail "$P: disk content lost after removing snapshots"
	[ "$(http_code "$P" HEAD "$(folder_url "$P" "$dc" "$ds" "${desc%/*}/${name}-Snapshot1.vmsn")")" = 404 ] ||
		fail "$P: snapshot data file left behind"
	ok "$P: removing snapshots ($s2, $s3, $s4, all) keeps disks, drops .vmsn files, layoutEx is consistent"

	# On a fresh VM, stock vcsim deletes <disk>-flat.vmdk in this sequence
	# (three snapshots removed oldest first, three more removed newest first).
	local vm2
	vm2=$(find_vm "$P" "$jar" "$dc/vm/$other")
	disk_of "$P" "$jar" VirtualMachine "$vm2"
	local desc2=${DISK_FILE#*] }
	local flat2url
	flat2url=$(folder_url "$P" "$dc" "$ds" "${desc2%.vmdk}-flat.vmdk")
	local round i
	local -a snaps
	for round in "0 1 2" "2 1 0"; do
		snaps=()
		for i in 0 1 2; do
			snapshot_create "$P" "$jar" "$vm2" "round-$i"
			snaps+=("$SNAP")
		done
		for i in $round; do
			snapshot_remove "$P" "$jar" "${snaps[i]}"
			[ "$(http_code "$P" HEAD "$flat2url")" = 200 ] || fail "$P: $other's flat extent deleted by removing ${snaps[i]}"
		done
	done
	ok "$P: $other keeps its disk through snapshot removals that make stock vcsim delete it"

	# Another VM without CBT: its snapshot has no changeId, queries are FileFaults.
	snapshot_create "$P" "$jar" "$vm2" no-cbt
	disk_of "$P" "$jar" VirtualMachineSnapshot "$SNAP"
	[ -z "$DISK_CHANGEID" ] || fail "$P: snapshot without CBT has changeId '$DISK_CHANGEID'"
	qcda "$P" "$jar" "$vm2" "$SNAP" "$DISK_KEY" 0 '*'
	[ "$CODE" = 500 ] && grep -q 'xsi:type="FileFault"' <<<"$RESP" || fail "$P: query without CBT: $CODE $RESP"
	qcda "$P" "$jar" "$vm" "$SNAP" "$key" 0 '*'
	[ "$CODE" = 500 ] && [ "$(xget invalidProperty)" = snapshot ] || fail "$P: snapshot of another VM: $CODE $RESP"
	ok "$P: no changeId without CBT; another VM's snapshot is an InvalidArgument"
}

# --- the two models, at the same time
start_sim VPX -cbt-max-extents 1 -disk-mb 4
start_sim ESX -esx -cbt-max-extents 1 -cbt-max-span-mb 1 -disk-mb 4
[ "$VPX_URL" != "$ESX_URL" ] || fail "two simulators share $VPX_URL"
[[ $VPX_URL =~ ^http://127\.0\.0\.1:[0-9]+/sdk$ ]] || fail "unexpected URL $VPX_URL"
service_content VPX
[ "$(xget apiType)" = VirtualCenter ] || fail "VPX apiType: $RESP"
service_content ESX
[ "$(xget apiType)" = HostAgent ] || fail "ESX apiType: $RESP"
ok "vCenter ($VPX_URL) and ESXi ($ESX_URL) models answer at once"

cbt_flow VPX DC0 DC0_H0_VM0 DC0_H0_VM1
cbt_flow ESX ha-datacenter ha-host_VM0 ha-host_VM1

# --- .vmx files, RegisterVM_Task from a copied VM, failure injection, storage relocation

switch_sim() { # PREFIX: sets PC and SI
	service_content "$1"
	PC=$(xget propertyCollector)
	SI=$(xget searchIndex)
}
use_sim() { # PREFIX JAR: logs in, sets PC and SI
	login "$1" "$2"
	switch_sim "$1"
}

# task_of PREFIX JAR: the task in RESP; sets TASK_STATE, TASK_RESULT, TASK_FAULT (xsi:type), RESP (info)
task_of() {
	[ "$CODE" = 200 ] || fail "$1: task method answered $CODE: $RESP"
	local t
	t=$(xget returnval)
	props "$1" "$2" Task "$t" info
	TASK_STATE=$(xget state)
	TASK_RESULT=$(xget result)
	TASK_FAULT=$(grep -o '<error><fault [^>]*type="[A-Za-z]*"' <<<"$RESP" | sed 's/.*type="//; s/"$//' || true)
}

# vmx_get FILE KEY: the value of KEY in a .vmx
vmx_get() {
	grep -i "^$2 = " "$1" | head -n1 | sed 's/^[^=]*= "//; s/"$//'
}

# as_vmx_uuid UUID: "564d...-..." -> "56 4d ..-.. .."
as_vmx_uuid() {
	local h=${1//-/}
	echo "$h" | sed 's/../& /g; s/ $//' | awk '{ for (i = 1; i <= 16; i++) printf "%s%s", $i, (i == 8 ? "-" : (i < 16 ? " " : "\n")) }'
}

# copy_vm SRC SRC_DC SRC_DIR DST DST_DC DST_DIR FILE...: /folder GET on SRC, PUT on DST
copy_vm() {
	local src=$1 sdc=$2 sdir=$3 dst=$4 ddc=$5 ddir=$6 f
	shift 6
	for f in "$@"; do
		curl -sS --fail "$(folder_url "$src" "$sdc" LocalDS_0 "$sdir/$f")" -o "$work/copy.$f" || fail "GET $sdir/$f from $src"
		[ "$(http_code "$dst" PUT "$(folder_url "$dst" "$ddc" LocalDS_0 "$ddir/$f")" --data-binary @"$work/copy.$f")" = 200 ] ||
			fail "PUT $ddir/$f to $dst"
	done
}

register() { # PREFIX JAR FOLDER POOL PATH [NAME]
	local name=""
	[ -n "${6:-}" ] && name="<name>$6</name>"
	call "$1" "$2" '<RegisterVM_Task xmlns="urn:vim25"><_this type="Folder">'"$3"'</_this><path>'"$5"'</path>'"$name"'<asTemplate>false</asTemplate><pool type="ResourcePool">'"$4"'</pool></RegisterVM_Task>'
}

vm_task() { # PREFIX JAR METHOD VM [BODY]
	call "$1" "$2" '<'"$3"' xmlns="urn:vim25"><_this type="VirtualMachine">'"$4"'</_this>'"${5:-}"'</'"$3"'>'
}

start_sim MIGA -esx -disk-mb 2
start_sim MIGB -esx
jarA="$work/MIGA.jar"
jarB="$work/MIGB.jar"
login MIGB "$jarB"
use_sim MIGA "$jarA"

# 1. A model VM's .vmx says what the API says.
vmA=$(find_vm MIGA "$jarA" ha-datacenter/vm/ha-host_VM0)
vm_task MIGA "$jarA" PowerOffVM_Task "$vmA"
task_of MIGA "$jarA"
[ "$TASK_STATE" = success ] || fail "PowerOffVM_Task: $RESP"
vm_task MIGA "$jarA" ReconfigVM_Task "$vmA" '<spec><numCPUs>2</numCPUs><memoryMB>256</memoryMB><annotation>moved "with" care|ok</annotation></spec>'
task_of MIGA "$jarA"
[ "$TASK_STATE" = success ] || fail "ReconfigVM_Task: $RESP"
props MIGA "$jarA" VirtualMachine "$vmA" config.uuid
uuidA=$(xget val)
props MIGA "$jarA" VirtualMachine "$vmA" config.instanceUuid
iuuidA=$(xget val)
props MIGA "$jarA" VirtualMachine "$vmA" config.hardware.device
macA=$(xget macAddress)
[ -n "$macA" ] && [ -n "$uuidA" ] || fail "MIGA: no MAC or uuid: $RESP"
curl -sS --fail "$(folder_url MIGA ha-datacenter LocalDS_0 ha-host_VM0/ha-host_VM0.vmx)" -o "$work/A.vmx" || fail "GET .vmx"
[ "$(vmx_get "$work/A.vmx" uuid.bios)" = "$(as_vmx_uuid "$uuidA")" ] || fail ".vmx uuid.bios '$(vmx_get "$work/A.vmx" uuid.bios)' is not config.uuid $uuidA"
[ "$(vmx_get "$work/A.vmx" vc.uuid)" = "$(as_vmx_uuid "$iuuidA")" ] || fail ".vmx vc.uuid is not config.instanceUuid $iuuidA"
[ "$(vmx_get "$work/A.vmx" ethernet0.generatedAddress)" = "$macA" ] || fail ".vmx MAC is not $macA: $(cat "$work/A.vmx")"
[ "$(vmx_get "$work/A.vmx" memSize)" = 256 ] && [ "$(vmx_get "$work/A.vmx" numvcpus)" = 2 ] || fail ".vmx memSize/numvcpus after ReconfigVM: $(cat "$work/A.vmx")"
[ "$(vmx_get "$work/A.vmx" annotation)" = 'moved |22with|22 care|7Cok' ] || fail ".vmx annotation not escaped as ESXi does: $(vmx_get "$work/A.vmx" annotation)"
[ "$(vmx_get "$work/A.vmx" scsi0:0.fileName)" = disk1.vmdk ] && [ "$(vmx_get "$work/A.vmx" ethernet0.networkName)" = "VM Network" ] ||
	fail ".vmx disk/NIC: $(cat "$work/A.vmx")"
ok "MIGA: ha-host_VM0.vmx has uuid.bios, vc.uuid, MAC $macA, memSize 256, numvcpus 2, the escaped annotation, disk1.vmdk"

# 2. Copy its files (no vmware.log, no .nvram) to another host, register there.
fill "$work/guest.img" 0 65536 005
[ "$(http_code MIGA PUT "$(folder_url MIGA ha-datacenter LocalDS_0 ha-host_VM0/disk1-flat.vmdk)" --data-binary @"$work/guest.img")" = 200 ] || fail "PUT guest data"
copy_vm MIGA ha-datacenter ha-host_VM0 MIGB ha-datacenter moved ha-host_VM0.vmx disk1.vmdk disk1-flat.vmdk
register MIGB "$jarB" ha-folder-vm ha-root-pool "[LocalDS_0] moved/ha-host_VM0.vmx"
task_of MIGB "$jarB"
[ "$TASK_STATE" = success ] || fail "RegisterVM_Task of the copy: $RESP"
vmB=$TASK_RESULT
props MIGB "$jarB" VirtualMachine "$vmB" name
[ "$(xget val)" = ha-host_VM0 ] || fail "registered VM's name is not the vmx displayName: $RESP"
props MIGB "$jarB" VirtualMachine "$vmB" config.uuid
[ "$(xget val)" = "$uuidA" ] || fail "registered config.uuid $(xget val) != $uuidA"
props MIGB "$jarB" VirtualMachine "$vmB" config.instanceUuid
[ "$(xget val)" = "$iuuidA" ] || fail "registered config.instanceUuid $(xget val) != $iuuidA"
props MIGB "$jarB" VirtualMachine "$vmB" config.hardware.memoryMB
[ "$(xget val)" = 256 ] || fail "registered memoryMB: $RESP"
props MIGB "$jarB" VirtualMachine "$vmB" config.hardware.numCPU
[ "$(xget val)" = 2 ] || fail "registered numCPU: $RESP"
props MIGB "$jarB" VirtualMachine "$vmB" config.annotation
[ "$(xget val)" = 'moved &#34;with&#34; care|ok' ] || fail "registered annotation: $RESP"
props MIGB "$jarB" VirtualMachine "$vmB" config.hardware.device
[ "$(xget macAddress)" = "$macA" ] && [ "$(xget addressType)" = generated ] || fail "registered NIC MAC/addressType: $RESP"
grep -q '<network type="Network">HaNetwork-VM Network</network>' <<<"$RESP" || fail "registered NIC not on B's VM Network: $RESP"
disk_of MIGB "$jarB" VirtualMachine "$vmB"
[ "$DISK_FILE" = "[LocalDS_0] moved/disk1.vmdk" ] && [ "$DISK_CAP" = 2097152 ] || fail "registered disk '$DISK_FILE' $DISK_CAP bytes"
props MIGB "$jarB" VirtualMachine "$vmB" layoutEx
for f in ha-host_VM0.vmx disk1.vmdk disk1-flat.vmdk ha-host_VM0.nvram; do
	grep -q "<name>\[LocalDS_0\] moved/$f</name>" <<<"$RESP" || fail "layoutEx of the registered VM lacks moved/$f: $RESP"
done
props MIGB "$jarB" VirtualMachine "$vmB" datastore
dsB=$(grep -o '<ManagedObjectReference type="Datastore">[^<]*' <<<"$RESP" | sed 's/.*>//')
[ -n "$dsB" ] || fail "registered VM lists no datastore: $RESP"
props MIGB "$jarB" Datastore "$dsB" vm
grep -q ">$vmB<" <<<"$RESP" || fail "the datastore does not list the registered VM: $RESP"
cmp -s "$work/guest.img" <(curl -sS -r 0-65535 "$(folder_url MIGB ha-datacenter LocalDS_0 moved/disk1-flat.vmdk)") || fail "disk content not kept"
curl -sS --fail "$(folder_url MIGB ha-datacenter LocalDS_0 moved/ha-host_VM0.vmx)" -o "$work/B.vmx" || fail "GET registered .vmx"
diff "$work/A.vmx" "$work/B.vmx" >&2 || fail "the registered VM's .vmx differs from the source's (no round trip)"
ok "MIGB: registered copy has uuid, instanceUuid, MAC, 256 MB, 2 CPUs, annotation, disk [LocalDS_0] moved/disk1.vmdk (2 MiB, content kept), layoutEx; its .vmx round-trips"

# Faults.
register MIGB "$jarB" ha-folder-vm ha-root-pool "[LocalDS_0] moved/ha-host_VM0.vmx"
task_of MIGB "$jarB"
[ "$TASK_FAULT" = AlreadyExists ] || fail "registering twice: $RESP"
register MIGB "$jarB" ha-folder-vm ha-root-pool "[LocalDS_0] nowhere/none.vmx"
task_of MIGB "$jarB"
[ "$TASK_FAULT" = NotFound ] || fail "registering a missing file: $RESP"
printf 'this is not a vmx\n' >"$work/bad.vmx"
[ "$(http_code MIGB PUT "$(folder_url MIGB ha-datacenter LocalDS_0 bad/bad.vmx)" --data-binary @"$work/bad.vmx")" = 200 ] || fail "PUT bad.vmx"
register MIGB "$jarB" ha-folder-vm ha-root-pool "[LocalDS_0] bad/bad.vmx"
task_of MIGB "$jarB"
[ "$TASK_FAULT" = InvalidArgument ] && [ "$(xget invalidProperty)" = path ] || fail "registering garbage: $RESP"
ok "RegisterVM_Task faults: AlreadyExists, NotFound, InvalidArgument(path) for a file that is not a .vmx"

# A .vmx with every kind of device the extension models registers and is
# written back line for line (order aside).
cat >"$work/rt.vmx" <<'VMX'
.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
nvram = "rt.nvram"
pciBridge0.present = "TRUE"
svga.present = "TRUE"
displayName = "rt"
guestOS = "ubuntu-64"
memSize = "4096"
numvcpus = "4"
cpuid.coresPerSocket = "2"
firmware = "efi"
annotation = "line1|0Aline2"
uuid.bios = "56 4d 11 22 33 44 55 66-77 88 99 aa bb cc dd ee"
vc.uuid = "52 00 11 22 33 44 55 66-77 88 99 aa bb cc dd ef"
ctkEnabled = "TRUE"
scsi0.present = "TRUE"
scsi0.virtualDev = "lsilogic"
sata0.present = "TRUE"
nvme0.present = "TRUE"
scsi0:0.present = "TRUE"
scsi0:0.deviceType = "scsi-hardDisk"
scsi0:0.fileName = "rt.vmdk"
scsi0:0.mode = "independent_persistent"
scsi0:0.ctkEnabled = "TRUE"
sata0:0.present = "TRUE"
sata0:0.deviceType = "cdrom-image"
sata0:0.fileName = "/vmfs/volumes/LocalDS_0/iso/x.iso"
sata0:0.startConnected = "FALSE"
nvme0:0.present = "TRUE"
nvme0:0.fileName = "rt_1.vmdk"
nvme0:0.ctkEnabled = "TRUE"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
ethernet0.networkName = "VM Network"
ethernet0.addressType = "static"
ethernet0.address = "00:50:56:01:02:03"
ethernet0.startConnected = "TRUE"
ethernet0.allowGuestConnectionControl = "TRUE"
ethernet0.wakeOnPcktRcv = "FALSE"
ethernet1.present = "TRUE"
ethernet1.virtualDev = "e1000e"
ethernet1.networkName = "Elsewhere"
ethernet1.addressType = "vpx"
ethernet1.generatedAddress = "00:50:56:aa:bb:cc"
ethernet1.startConnected = "FALSE"
ethernet1.allowGuestConnectionControl = "TRUE"
VMX
printf '# Disk DescriptorFile\nversion=1\nRW 8192 VMFS "rt-flat.vmdk"\nddb.uuid = "60 00 C2 91 11 11 11 11-22 22 22 22 22 22 22 22"\n' >"$work/rt.vmdk"
head -c 8192 /dev/zero >"$work/rt_1-flat.vmdk"
for f in rt.vmx rt.vmdk rt_1-flat.vmdk; do
	[ "$(http_code MIGB PUT "$(folder_url MIGB ha-datacenter LocalDS_0 "rt/$f")" --data-binary @"$work/$f")" = 200 ] || fail "PUT rt/$f"
done
register MIGB "$jarB" ha-folder-vm ha-root-pool "[LocalDS_0] rt/rt.vmx"
task_of MIGB "$jarB"
[ "$TASK_STATE" = success ] || fail "registering rt.vmx: $RESP"
vmRT=$TASK_RESULT
curl -sS --fail "$(folder_url MIGB ha-datacenter LocalDS_0 rt/rt.vmx)" -o "$work/rt.out" || fail "GET rt.vmx"
diff <(sort "$work/rt.vmx") <(sort "$work/rt.out") >&2 || fail "rt.vmx does not round-trip"
for check in config.guestId=ubuntu64Guest config.firmware=efi config.hardware.numCoresPerSocket=2 config.hardware.numCPU=4 \
	config.hardware.memoryMB=4096 config.version=vmx-19 config.changeTrackingEnabled=true \
	config.uuid=564d1122-3344-5566-7788-99aabbccddee config.instanceUuid=52001122-3344-5566-7788-99aabbccddef; do
	props MIGB "$jarB" VirtualMachine "$vmRT" "${check%%=*}"
	[ "$(xget val)" = "${check#*=}" ] || fail "rt: ${check%%=*} is '$(xget val)', not '${check#*=}'"
done
props MIGB "$jarB" VirtualMachine "$vmRT" config.hardware.device
devs=$(sed 's/<VirtualDevice /\n&/g' <<<"$RESP")
grep 'type="VirtualDisk"><key>2000</key>' <<<"$devs" | grep -q '<label>Hard disk 1</label>.*<diskMode>independent_persistent</diskMode>.*<uuid>6000C291-1111-1111-2222-222222222222</uuid>.*<capacityInBytes>4194304</capacityInBytes>' ||
	fail "rt: scsi0:0 disk: $devs"
grep 'type="VirtualDisk"><key>32000</key>' <<<"$devs" | grep -q '<controllerKey>31000</controllerKey>.*<capacityInBytes>8192</capacityInBytes>' || fail "rt: nvme0:0 disk: $devs"
grep 'type="VirtualCdrom"><key>16000</key>' <<<"$devs" | grep -q '<fileName>\[LocalDS_0\] iso/x.iso</fileName>.*<startConnected>false</startConnected>' || fail "rt: sata0:0 CD-ROM: $devs"
grep 'type="VirtualVmxnet3"><key>4000</key>' <<<"$devs" | grep -q '<addressType>manual</addressType><macAddress>00:50:56:01:02:03</macAddress>' || fail "rt: static MAC: $devs"
grep 'type="VirtualE1000e"><key>4001</key>' <<<"$devs" | grep -q '<addressType>assigned</addressType><macAddress>00:50:56:aa:bb:cc</macAddress>' || fail "rt: vpx MAC: $devs"
ok "a .vmx with LSI Logic/SATA/NVMe, an ISO, vmxnet3 with a static MAC, e1000e with a vCenter MAC, EFI, CBT registers with those settings and round-trips"

# A network the host does not have: registered, the NIC keeps the name; Destroy works.
sed 's/^ethernet0.networkName = .*/ethernet0.networkName = "No Such Net"/; s/^displayName = .*/displayName = "orphan"/' "$work/A.vmx" >"$work/orphan.vmx"
copy_vm MIGA ha-datacenter ha-host_VM0 MIGB ha-datacenter orphan disk1.vmdk disk1-flat.vmdk
[ "$(http_code MIGB PUT "$(folder_url MIGB ha-datacenter LocalDS_0 orphan/orphan.vmx)" --data-binary @"$work/orphan.vmx")" = 200 ] || fail "PUT orphan.vmx"
register MIGB "$jarB" ha-folder-vm ha-root-pool "[LocalDS_0] orphan/orphan.vmx"
task_of MIGB "$jarB"
[ "$TASK_STATE" = success ] || fail "registering a VM on a missing network: $RESP"
vmO=$TASK_RESULT
props MIGB "$jarB" VirtualMachine "$vmO" config.hardware.device
grep -q '<deviceName>No Such Net</deviceName>' <<<"$RESP" || fail "NIC lost its network name: $RESP"
props MIGB "$jarB" VirtualMachine "$vmO" network
grep -q '<ManagedObjectReference ' <<<"$RESP" && fail "VM lists a network it cannot have: $RESP"
vm_task MIGB "$jarB" Destroy_Task "$vmO"
task_of MIGB "$jarB"
[ "$TASK_STATE" = success ] || fail "Destroy_Task of the VM on a missing network: $RESP"
ok "a NIC on a network the host lacks keeps its name (no network reference); the VM can be destroyed"

# A vCenter VM on a distributed port group: the target host has no such switch.
switch_sim VPX
copy_vm VPX DC0 DC0_H0_VM1 MIGB ha-datacenter fromvc DC0_H0_VM1.vmx disk1.vmdk disk1-flat.vmdk
grep -q '^ethernet0.dvs.switchId = ' "$work/copy.DC0_H0_VM1.vmx" || fail "vCenter VM's .vmx has no dvs.switchId: $(cat "$work/copy.DC0_H0_VM1.vmx")"
switch_sim MIGB
register MIGB "$jarB" ha-folder-vm ha-root-pool "[LocalDS_0] fromvc/DC0_H0_VM1.vmx" copied-from-vc
task_of MIGB "$jarB"
[ "$TASK_STATE" = success ] || fail "registering the vCenter VM: $RESP"
props MIGB "$jarB" VirtualMachine "$TASK_RESULT" config.hardware.device
grep -q 'VirtualEthernetCardDistributedVirtualPortBackingInfo' <<<"$RESP" || fail "DV port backing lost: $RESP"
props MIGB "$jarB" VirtualMachine "$TASK_RESULT" name
[ "$(xget val)" = copied-from-vc ] || fail "the request's name is not used: $RESP"
ok "a vCenter VM's .vmx (dvs.switchId) registers on a host without the switch, keeping its DV port backing; the request's name wins"

# ... and on a vCenter that has the switch, the NIC is on its port group again.
switch_sim VPX
copy_vm VPX DC0 DC0_H0_VM1 VPX DC0 dvcopy DC0_H0_VM1.vmx disk1.vmdk disk1-flat.vmdk
vcfolder=$(find_vm VPX "$work/VPX.jar" DC0/vm)
vcpool=$(find_vm VPX "$work/VPX.jar" DC0/host/DC0_H0/Resources)
register VPX "$work/VPX.jar" "$vcfolder" "$vcpool" "[LocalDS_0] dvcopy/DC0_H0_VM1.vmx" dvcopy
task_of VPX "$work/VPX.jar"
[ "$TASK_STATE" = success ] || fail "registering on vCenter: $RESP"
props VPX "$work/VPX.jar" VirtualMachine "$TASK_RESULT" network
grep -q '<ManagedObjectReference type="DistributedVirtualPortgroup">' <<<"$RESP" || fail "registered VM not on the DV port group: $RESP"
ok "on a vCenter with the switch of dvs.switchId, the registered VM's network is the DV port group"

# 3. Failure injection.
start_sim INJ -esx -disk-mb 1 -fail-method RegisterVM_Task,PowerOnVM_Task:2 \
	-drop-download VM0/disk1-flat:65536 -stall-download VM1/disk1-flat:4096 -drop-upload up/part.bin:1000
jarI="$work/INJ.jar"
use_sim INJ "$jarI"
register INJ "$jarI" ha-folder-vm ha-root-pool "[LocalDS_0] ha-host_VM0/ha-host_VM0.vmx"
[ "$CODE" = 500 ] && grep -q 'xsi:type="SystemError"' <<<"$RESP" && [ "$(xget reason)" = "injected by -fail-method" ] ||
	fail "-fail-method RegisterVM_Task: first call: $CODE $RESP"
register INJ "$jarI" ha-folder-vm ha-root-pool "[LocalDS_0] ha-host_VM0/ha-host_VM0.vmx"
task_of INJ "$jarI"
[ "$TASK_FAULT" = AlreadyExists ] || fail "-fail-method RegisterVM_Task: second call should run: $RESP"
vmI=$(find_vm INJ "$jarI" ha-datacenter/vm/ha-host_VM0)
vm_task INJ "$jarI" PowerOffVM_Task "$vmI"
task_of INJ "$jarI"
vm_task INJ "$jarI" PowerOnVM_Task "$vmI"
task_of INJ "$jarI"
[ "$TASK_STATE" = success ] || fail "-fail-method PowerOnVM_Task:2: first call failed: $RESP"
vm_task INJ "$jarI" PowerOffVM_Task "$vmI"
task_of INJ "$jarI"
vm_task INJ "$jarI" PowerOnVM_Task "$vmI"
[ "$CODE" = 500 ] && grep -q 'SystemError' <<<"$RESP" || fail "-fail-method PowerOnVM_Task:2: second call: $CODE $RESP"
props INJ "$jarI" VirtualMachine "$vmI" runtime.powerState
[ "$(xget val)" = poweredOff ] || fail "an injected fault must not run the method: $RESP"
ok "-fail-method: the chosen calls answer SystemError 'injected by -fail-method' and do not run; the others run"

rc=0
curl -sS "$(folder_url INJ ha-datacenter LocalDS_0 ha-host_VM0/disk1-flat.vmdk)" -o "$work/dropped" 2>/dev/null || rc=$?
[ "$rc" = 18 ] && [ "$(wc -c <"$work/dropped")" = 65536 ] || fail "-drop-download: curl exit $rc, $(wc -c <"$work/dropped") bytes"
rc=0
curl -sS "$(folder_url INJ ha-datacenter LocalDS_0 ha-host_VM0/disk1-flat.vmdk)" -o "$work/dropped" || rc=$?
[ "$rc" = 0 ] && [ "$(wc -c <"$work/dropped")" = 1048576 ] || fail "-drop-download fires once: exit $rc"
rc=0
curl -sS --max-time 3 "$(folder_url INJ ha-datacenter LocalDS_0 ha-host_VM1/disk1-flat.vmdk)" -o "$work/stalled" 2>/dev/null || rc=$?
[ "$rc" = 28 ] && [ "$(wc -c <"$work/stalled")" = 4096 ] || fail "-stall-download: curl exit $rc, $(wc -c <"$work/stalled") bytes"
ok "-drop-download: 65536 bytes then the connection closes (curl 18), once; -stall-download: 4096 bytes then silence (curl timeout)"

head -c 10000 /dev/zero | tr '\0' '\007' >"$work/part.bin"
rc=0
code=$(curl -sS -X PUT --data-binary @"$work/part.bin" -o /dev/null -w '%{http_code}' "$(folder_url INJ ha-datacenter LocalDS_0 up/part.bin)" 2>/dev/null) || rc=$?
[ "$rc" != 0 ] && [ "$code" = 000 ] || fail "-drop-upload: curl exit $rc, HTTP $code"
size=$(curl -sS -I "$(folder_url INJ ha-datacenter LocalDS_0 up/part.bin)" | tr -d '\r' | sed -n 's/^Content-Length: //Ip')
[ "$size" = 1000 ] || fail "-drop-upload: the partial file has $size bytes, not 1000"
[ "$(http_code INJ PUT "$(folder_url INJ ha-datacenter LocalDS_0 up/part.bin)" --data-binary @"$work/part.bin")" = 200 ] || fail "-drop-upload fires once"
ok "-drop-upload: no HTTP answer (curl exit $rc), 1000 bytes written; the next upload works"

# 4. Storage relocation moves the files.
start_sim REL -ds 2
jarR="$work/REL.jar"
use_sim REL "$jarR"
vmR=$(find_vm REL "$jarR" DC0/vm/DC0_H0_VM0)
props REL "$jarR" Datacenter datacenter-2 datastore
ds1=$(grep -o '<ManagedObjectReference type="Datastore">[^<]*LocalDS_1[^<]*' <<<"$RESP" | sed 's/.*>//')
ds0=$(grep -o '<ManagedObjectReference type="Datastore">[^<]*LocalDS_0[^<]*' <<<"$RESP" | sed 's/.*>//')
[ -n "$ds1" ] && [ -n "$ds0" ] || fail "REL: datastores: $RESP"
vm_task REL "$jarR" RelocateVM_Task "$vmR" '<spec><datastore type="Datastore">'"$ds1"'</datastore></spec>'
task_of REL "$jarR"
[ "$TASK_STATE" = success ] || fail "RelocateVM_Task to LocalDS_1: $RESP"
props REL "$jarR" VirtualMachine "$vmR" config.files.vmPathName
[ "$(xget val)" = "[LocalDS_1] DC0_H0_VM0/DC0_H0_VM0.vmx" ] || fail "vmPathName after relocation: $RESP"
disk_of REL "$jarR" VirtualMachine "$vmR"
[ "$DISK_FILE" = "[LocalDS_1] DC0_H0_VM0/disk1.vmdk" ] || fail "disk after relocation: $DISK_FILE"
for f in DC0_H0_VM0.vmx disk1.vmdk disk1-flat.vmdk; do
	[ "$(http_code REL HEAD "$(folder_url REL DC0 LocalDS_1 "DC0_H0_VM0/$f")")" = 200 ] || fail "relocation: $f not on LocalDS_1"
	[ "$(http_code REL HEAD "$(folder_url REL DC0 LocalDS_0 "DC0_H0_VM0/$f")")" = 404 ] || fail "relocation: $f left on LocalDS_0"
done
props REL "$jarR" VirtualMachine "$vmR" layoutEx
grep -q '<name>\[LocalDS_0\]' <<<"$RESP" && fail "layoutEx still lists LocalDS_0 files: $RESP"
grep -q '<name>\[LocalDS_1\] DC0_H0_VM0/disk1-flat.vmdk</name>' <<<"$RESP" || fail "layoutEx lacks the moved disk: $RESP"
props REL "$jarR" Datastore "$ds0" vm
grep -q ">$vmR<" <<<"$RESP" && fail "LocalDS_0 still lists the VM: $RESP"
props REL "$jarR" Datastore "$ds1" vm
grep -q ">$vmR<" <<<"$RESP" || fail "LocalDS_1 does not list the VM: $RESP"
# One disk back, the home stays.
vm_task REL "$jarR" RelocateVM_Task "$vmR" '<spec><disk><diskId>'"$DISK_KEY"'</diskId><datastore type="Datastore">'"$ds0"'</datastore></disk></spec>'
task_of REL "$jarR"
[ "$TASK_STATE" = success ] || fail "RelocateVM_Task of one disk: $RESP"
disk_of REL "$jarR" VirtualMachine "$vmR"
[ "$DISK_FILE" = "[LocalDS_0] DC0_H0_VM0/disk1.vmdk" ] || fail "disk after disk relocation: $DISK_FILE"
[ "$(http_code REL HEAD "$(folder_url REL DC0 LocalDS_0 DC0_H0_VM0/disk1-flat.vmdk)")" = 200 ] || fail "disk relocation: extent not on LocalDS_0"
curl -sS --fail "$(folder_url REL DC0 LocalDS_1 DC0_H0_VM0/DC0_H0_VM0.vmx)" -o "$work/rel.vmx" || fail "relocated .vmx"
[ "$(vmx_get "$work/rel.vmx" scsi0:0.fileName)" = /vmfs/volumes/LocalDS_0/DC0_H0_VM0/disk1.vmdk ] || fail "the .vmx names the moved disk: $(cat "$work/rel.vmx")"
ok "RelocateVM_Task: spec.datastore moves the VM's folder to LocalDS_1 (sources removed, layoutEx, datastore.vm); spec.disk moves one disk back; the .vmx follows"

# --- TLS
start_sim TLS -tls -esx -folder-auth
[[ $TLS_URL == https://* ]] || fail "-tls URL is $TLS_URL"
service_content TLS
[ -f "$TLS_CERT" ] || fail "-tls printed no certificate file"
[[ $TLS_THUMBPRINT_SHA256 =~ ^([0-9A-F]{2}:){31}[0-9A-F]{2}$ ]] || fail "SHA-256 thumbprint '$TLS_THUMBPRINT_SHA256'"
[[ $TLS_THUMBPRINT_SHA1 =~ ^([0-9A-F]{2}:){19}[0-9A-F]{2}$ ]] || fail "SHA-1 thumbprint '$TLS_THUMBPRINT_SHA1'"
[ "$(curl -sS --cacert "$TLS_CERT" -o /dev/null -w '%{http_code}' "$TLS_BASE/about")" = 200 ] ||
	fail "TLS does not verify against $TLS_CERT"
if command -v openssl >/dev/null; then
	fp=$(openssl x509 -in "$TLS_CERT" -noout -fingerprint -sha256 | sed 's/.*=//')
	[ "$fp" = "$TLS_THUMBPRINT_SHA256" ] || fail "thumbprint $TLS_THUMBPRINT_SHA256 != certificate's $fp"
	fp=$(openssl x509 -in "$TLS_CERT" -noout -fingerprint -sha1 | sed 's/.*=//')
	[ "$fp" = "$TLS_THUMBPRINT_SHA1" ] || fail "SHA-1 thumbprint $TLS_THUMBPRINT_SHA1 != certificate's $fp"
	served=$(openssl s_client -connect "${TLS_BASE#https://}" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//')
	[ "$served" = "$TLS_THUMBPRINT_SHA256" ] || fail "served certificate $served != $TLS_THUMBPRINT_SHA256"
fi
ok "-tls: https with curl -k and --cacert; thumbprints $TLS_THUMBPRINT_SHA256"

# -folder-auth: datastore files need a session, as on real hosts.
vmx_url=$(folder_url TLS ha-datacenter LocalDS_0 ha-host_VM0/ha-host_VM0.nvram)
[ "$(http_code TLS GET "$vmx_url")" = 401 ] || fail "-folder-auth: GET without a session was not 401"
login TLS "$work/TLS.jar"
[ "$(http_code TLS GET "$vmx_url" -b "$work/TLS.jar")" = 200 ] || fail "-folder-auth: GET with a session was not 200"
ok "-folder-auth: /folder answers 401 without a session cookie, 200 with one"

# --- delay
start_sim SLOW -esx -delay 400 -method-delay RetrievePropertiesEx:300
t=$(curl -sS -o /dev/null -w '%{time_total}' --data-binary '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent></soapenv:Body></soapenv:Envelope>' "$SLOW_URL")
awk -v t="$t" 'BEGIN { exit !(t >= 0.4) }' || fail "-delay 400: RetrieveServiceContent took ${t}s"
t=$(curl -sS -o /dev/null -w '%{time_total}' --data-binary '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">ha-property-collector</_this><specSet><propSet><type>ServiceInstance</type><pathSet>content</pathSet></propSet><objectSet><obj type="ServiceInstance">ServiceInstance</obj></objectSet></specSet><options></options></RetrievePropertiesEx></soapenv:Body></soapenv:Envelope>' "$SLOW_URL")
awk -v t="$t" 'BEGIN { exit !(t >= 0.7) }' || fail "-delay 400 -method-delay RetrievePropertiesEx:300 took ${t}s"
ok "-delay and -method-delay slow SOAP answers down"

# --- lifecycle: stdin EOF and SIGTERM end the simulator and remove its files
mkfifo "$work/stdin"
"$bin" -esx -stdin-exit <"$work/stdin" >"$work/start.FIFO" 2>/dev/null &
fifo_pid=$!
pids+=("$fifo_pid")
exec 7>"$work/stdin"
for i in $(seq 1 600); do
	grep -q '^CESO_VCSIM_READY=1$' "$work/start.FIFO" && break
	sleep 0.1
done
fifo_dir=$(sed -n 's/^CESO_VCSIM_DIR=//p' "$work/start.FIFO")
[ -d "$fifo_dir" ] || fail "-stdin-exit simulator has no dir '$fifo_dir'"
exec 7>&-
for i in $(seq 1 100); do
	kill -0 "$fifo_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$fifo_pid" 2>/dev/null && fail "-stdin-exit: still running after stdin EOF"
[ -e "$fifo_dir" ] && fail "-stdin-exit: $fifo_dir left behind"

kill -TERM "$SLOW_PID"
for i in $(seq 1 100); do
	kill -0 "$SLOW_PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$SLOW_PID" 2>/dev/null && fail "SIGTERM: still running"
[ -e "$SLOW_DIR" ] && fail "SIGTERM: $SLOW_DIR left behind"
ok "stdin EOF (-stdin-exit) and SIGTERM stop the simulator and remove its files"

# --- migration checks (checker.go): CheckRelocate_Task/CheckMigrate_Task, the same
# refusals from RelocateVM_Task and MigrateVM_Task, -host-cpu, DisconnectHost_Task
start_sim MIG -host-cpu DC0_C0_H2=amd
mjar="$work/MIG.jar"
login MIG "$mjar"
service_content MIG
PC=$(xget propertyCollector)
SI=$(xget searchIndex)
checker=$(xget vmProvisioningChecker)
[ -n "$checker" ] || fail "MIG: no vmProvisioningChecker in the ServiceContent"

# mig_task BODY: call a *_Task method on MIG and wait for it; sets TASK_STATE, TASK_INFO.
mig_task() {
	call MIG "$mjar" "$1"
	[ "$CODE" = 200 ] || fail "MIG: ${1:0:60}... answered $CODE: $RESP"
	local task i
	task=$(xget returnval)
	for i in $(seq 1 100); do
		props MIG "$mjar" Task "$task" info
		TASK_STATE=$(xget state)
		TASK_INFO=$RESP
		case $TASK_STATE in success | error) return 0 ;; esac
		sleep 0.1
	done
	fail "MIG: task $task did not finish"
}
# expect_fault FAULT TEXT WHAT: the last task failed with FAULT, its localizedMessage containing TEXT.
expect_fault() {
	[ "$TASK_STATE" = error ] && grep -q "type=\"$1\"" <<<"$TASK_INFO" && grep -qF -- "$2" <<<"$(xget localizedMessage "$TASK_INFO")" ||
		fail "MIG: $3: expected a $1 task error with '$2': $TASK_INFO"
	ok "MIG: $3: $1"
}
# expect_check FAULT TEXT WHAT: the last CheckRelocate/CheckMigrate found the error FAULT (TEXT in its message).
expect_check() {
	[ "$TASK_STATE" = success ] && grep -q '<CheckResult>' <<<"$TASK_INFO" &&
		grep -o '<error>.*</error>' <<<"$TASK_INFO" | grep -q "type=\"$1\"" &&
		grep -qF -- "$2" <<<"$TASK_INFO" || fail "MIG: $3: expected a CheckResult error $1 with '$2': $TASK_INFO"
	ok "MIG: $3: CheckResult error $1"
}
expect_clean() { # WHAT: the last check found no error and no warning
	[ "$TASK_STATE" = success ] && grep -q '<CheckResult>' <<<"$TASK_INFO" && ! grep -q '<error>\|<warning>' <<<"$TASK_INFO" ||
		fail "MIG: $1: expected a CheckResult without errors: $TASK_INFO"
	ok "MIG: $1: no error"
}
check_relocate() { # VM SPEC [TESTTYPES...]
	local vm=$1 spec=$2 tests="" t
	shift 2
	for t in "$@"; do tests+="<testType>$t</testType>"; done
	mig_task '<CheckRelocate_Task xmlns="urn:vim25"><_this type="VirtualMachineProvisioningChecker">'"$checker"'</_this><vm type="VirtualMachine">'"$vm"'</vm><spec>'"$spec"'</spec>'"$tests"'</CheckRelocate_Task>'
}
relocate() { # VM SPEC
	mig_task '<RelocateVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">'"$1"'</_this><spec>'"$2"'</spec></RelocateVM_Task>'
}
migrate() { # VM POOL HOST [STATE]
	local state=""
	[ -n "${4:-}" ] && state="<state>$4</state>"
	mig_task '<MigrateVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">'"$1"'</_this><pool type="ResourcePool">'"$2"'</pool><host type="HostSystem">'"$3"'</host><priority>defaultPriority</priority>'"$state"'</MigrateVM_Task>'
}
host_of() { # VM -> echo runtime.host
	props MIG "$mjar" VirtualMachine "$1" runtime.host
	xget val
}
host_task() { # METHOD HOST
	local extra=""
	[ "$1" = EnterMaintenanceMode_Task ] && extra="<timeout>0</timeout>"
	mig_task "<$1 xmlns=\"urn:vim25\"><_this type=\"HostSystem\">$2</_this>$extra</$1>"
	[ "$TASK_STATE" = success ] || fail "MIG: $1 $2: $TASK_INFO"
}

vm0=$(find_vm MIG "$mjar" DC0/vm/DC0_H0_VM0)
vm1=$(find_vm MIG "$mjar" DC0/vm/DC0_H0_VM1)
h0=$(find_vm MIG "$mjar" DC0/host/DC0_C0/DC0_C0_H0)
h1=$(find_vm MIG "$mjar" DC0/host/DC0_C0/DC0_C0_H1)
h2=$(find_vm MIG "$mjar" DC0/host/DC0_C0/DC0_C0_H2)
sa=$(find_vm MIG "$mjar" DC0/host/DC0_H0/DC0_H0)
cluster=$(find_vm MIG "$mjar" DC0/host/DC0_C0)
props MIG "$mjar" ClusterComputeResource "$cluster" resourcePool
root=$(xget val)
props MIG "$mjar" VirtualMachine "$vm1" datastore
ds0=$(grep -o '<ManagedObjectReference type="Datastore">[^<]*' <<<"$RESP" | head -n1 | sed 's/.*>//')
[ -n "$vm0" ] && [ -n "$h2" ] && [ -n "$sa" ] && [ -n "$root" ] && [ -n "$ds0" ] || fail "MIG: inventory lookups failed"
to_cluster() { echo "<pool type=\"ResourcePool\">$root</pool><host type=\"HostSystem\">$1</host>"; }

# -host-cpu: DC0_C0_H2 looks like an AMD EPYC host, the others stay Intel.
props MIG "$mjar" HostSystem "$h2" summary.hardware.cpuModel
[ "$(xget val)" = "AMD EPYC 7763 64-Core Processor" ] || fail "MIG: -host-cpu: cpuModel of DC0_C0_H2: $RESP"
props MIG "$mjar" HostSystem "$h2" hardware.cpuPkg
grep -q '<vendor>amd</vendor>' <<<"$RESP" && ! grep -q '<vendor>intel</vendor>' <<<"$RESP" || fail "MIG: -host-cpu: cpuPkg of DC0_C0_H2: $RESP"
props MIG "$mjar" HostSystem "$h2" config.featureCapability
grep -q '<key>cpuid.AMD</key><featureName>cpuid.AMD</featureName><value>1</value>' <<<"$RESP" || fail "MIG: featureCapability of DC0_C0_H2: $RESP"
props MIG "$mjar" HostSystem "$h0" hardware.cpuPkg
grep -q '<vendor>intel</vendor>' <<<"$RESP" && ! grep -q '<vendor>amd</vendor>' <<<"$RESP" || fail "MIG: DC0_C0_H0 is not Intel any more: $RESP"
ok "MIG: -host-cpu DC0_C0_H2=amd: cpuPkg, cpuModel and featureCapability of an AMD EPYC; other hosts Intel"
"$bin" -host-cpu NOSUCH=amd </dev/null >/dev/null 2>"$work/hostcpu.err" && fail "-host-cpu with an unknown host started"
grep -q 'no host named "NOSUCH"' "$work/hostcpu.err" || fail "-host-cpu NOSUCH: $(cat "$work/hostcpu.err")"
ok "-host-cpu with an unknown host name: refused at start"

# CPU vendor: a running VM cannot move from Intel to AMD.
check_relocate "$vm0" "$(to_cluster "$h2")"
expect_check FeatureRequirementsNotMet "current hardware requirements" "CheckRelocate of a running VM to the AMD host"
grep -q '<featureRequirement><key>cpuid.Intel</key>' <<<"$TASK_INFO" || fail "MIG: FeatureRequirementsNotMet does not name cpuid.Intel: $TASK_INFO"
check_relocate "$vm0" "$(to_cluster "$h2")" networkTests datastoreTests
expect_clean "CheckRelocate to the AMD host with testType networkTests, datastoreTests only"
check_relocate "$vm0" "$(to_cluster "$h0")"
expect_clean "CheckRelocate to an Intel host"
relocate "$vm0" "$(to_cluster "$h2")"
expect_fault FeatureRequirementsNotMet "missing CPU features: cpuid.Intel" "RelocateVM_Task of a running VM to the AMD host"
[ "$(host_of "$vm0")" = "$sa" ] || fail "MIG: refused RelocateVM_Task moved the VM"
ok "MIG: ... and the VM stays on DC0_H0"

# A datastore the target host does not mount.
mkdir -p "$MIG_DIR/local-only"
props MIG "$mjar" HostSystem "$sa" configManager.datastoreSystem
call MIG "$mjar" '<CreateLocalDatastore xmlns="urn:vim25"><_this type="HostDatastoreSystem">'"$(xget val)"'</_this><name>LocalOnly</name><path>'"$MIG_DIR/local-only"'</path></CreateLocalDatastore>'
[ "$CODE" = 200 ] || fail "MIG: CreateLocalDatastore: $RESP"
only=$(xget returnval)
check_relocate "$vm0" "<datastore type=\"Datastore\">$only</datastore>$(to_cluster "$h0")"
expect_check DatastoreNotWritableOnHost "LocalOnly" "CheckRelocate onto a datastore the target host does not mount"
relocate "$vm0" "<datastore type=\"Datastore\">$only</datastore>$(to_cluster "$h0")"
expect_fault DatastoreNotWritableOnHost "is not accessible from host DC0_C0_H0" "RelocateVM_Task onto that datastore"

# Maintenance mode and a disconnected host.
host_task EnterMaintenanceMode_Task "$h1"
check_relocate "$vm0" "$(to_cluster "$h1")"
expect_check InvalidHostState "current state of the host" "CheckRelocate to a host in maintenance mode"
relocate "$vm0" "$(to_cluster "$h1")"
expect_fault InvalidHostState "current state of the host" "RelocateVM_Task to a host in maintenance mode"
host_task ExitMaintenanceMode_Task "$h1"
host_task DisconnectHost_Task "$h1"
props MIG "$mjar" HostSystem "$h1" runtime.connectionState
[ "$(xget val)" = disconnected ] || fail "MIG: DisconnectHost_Task: $RESP"
check_relocate "$vm0" "$(to_cluster "$h1")"
expect_check HostNotConnected "since it is disconnected" "CheckRelocate to a disconnected host"
relocate "$vm0" "$(to_cluster "$h1")"
expect_fault HostNotConnected "since it is disconnected" "RelocateVM_Task to a disconnected host"
host_task ReconnectHost_Task "$h1"
check_relocate "$vm0" "$(to_cluster "$h1")"
expect_clean "CheckRelocate after ReconnectHost_Task"
[ "$(host_of "$vm0")" = "$sa" ] || fail "MIG: a refused relocation moved the VM"

# MigrateVM_Task (compute only), with CheckMigrate_Task.
migrate "$vm0" "$root" "$h0" poweredOff
expect_fault InvalidPowerState "" "MigrateVM_Task(state=poweredOff) of a running VM"
migrate "$vm0" "$root" "$h2"
expect_fault FeatureRequirementsNotMet "cpuid.Intel" "MigrateVM_Task of a running VM to the AMD host"
migrate "$vm0" "$root" "$h0"
[ "$TASK_STATE" = success ] && [ "$(host_of "$vm0")" = "$h0" ] || fail "MIG: MigrateVM_Task to DC0_C0_H0: $TASK_INFO"
props MIG "$mjar" VirtualMachine "$vm0" resourcePool
[ "$(xget val)" = "$root" ] || fail "MIG: MigrateVM_Task did not change the pool: $RESP"
ok "MIG: MigrateVM_Task to DC0_C0_H0 moves the VM and its pool"
mig_task '<CheckMigrate_Task xmlns="urn:vim25"><_this type="VirtualMachineProvisioningChecker">'"$checker"'</_this><vm type="VirtualMachine">'"$vm0"'</vm><host type="HostSystem">'"$h2"'</host></CheckMigrate_Task>'
expect_check FeatureRequirementsNotMet "AMD EPYC 7763" "CheckMigrate_Task to the AMD host"
mig_task '<CheckMigrate_Task xmlns="urn:vim25"><_this type="VirtualMachineProvisioningChecker">'"$checker"'</_this><vm type="VirtualMachine">'"$vm0"'</vm><host type="HostSystem">'"$h1"'</host></CheckMigrate_Task>'
expect_clean "CheckMigrate_Task to an Intel host"
mig_task '<CheckMigrate_Task xmlns="urn:vim25"><_this type="VirtualMachineProvisioningChecker">'"$checker"'</_this><vm type="VirtualMachine">'"$vm0"'</vm><host type="HostSystem">'"$h1"'</host><state>suspended</state></CheckMigrate_Task>'
expect_fault InvalidPowerState "" "CheckMigrate_Task(state=suspended) of a running VM"

# A network only the VM's host has: an error while the NIC is connected, a warning when off.
props MIG "$mjar" HostSystem "$h0" configManager.networkSystem
call MIG "$mjar" '<AddPortGroup xmlns="urn:vim25"><_this type="HostNetworkSystem">'"$(xget val)"'</_this><portgrp><name>Isolated</name><vlanId>0</vlanId><vswitchName>vSwitch0</vswitchName><policy></policy></portgrp></AddPortGroup>'
[ "$CODE" = 200 ] || fail "MIG: AddPortGroup: $RESP"
mig_task '<ReconfigVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">'"$vm0"'</_this><spec><deviceChange><operation>add</operation><device xsi:type="VirtualE1000"><key>-1</key><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>Isolated</deviceName></backing></device></deviceChange></spec></ReconfigVM_Task>'
[ "$TASK_STATE" = success ] || fail "MIG: adding a NIC on Isolated: $TASK_INFO"
check_relocate "$vm0" "<host type=\"HostSystem\">$h1</host>"
expect_check CannotAccessNetwork "which is not accessible" "CheckRelocate of a running VM away from its network"
relocate "$vm0" "<host type=\"HostSystem\">$h1</host>"
expect_fault CannotAccessNetwork "Isolated" "RelocateVM_Task of a running VM away from its network"
mig_task '<PowerOffVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">'"$vm0"'</_this></PowerOffVM_Task>'
check_relocate "$vm0" "<host type=\"HostSystem\">$h2</host>"
grep -o '<warning>.*</warning>' <<<"$TASK_INFO" | grep -q 'type="CannotAccessNetwork"' && ! grep -q '<error>' <<<"$TASK_INFO" ||
	fail "MIG: powered off: expected only a CannotAccessNetwork warning (and no CPU error): $TASK_INFO"
ok "MIG: CheckRelocate of a powered-off VM: the network is a warning, the CPU no error"
relocate "$vm0" "<host type=\"HostSystem\">$h2</host>"
[ "$TASK_STATE" = success ] && [ "$(host_of "$vm0")" = "$h2" ] || fail "MIG: cold relocation to the AMD host: $TASK_INFO"
ok "MIG: cold RelocateVM_Task to the AMD host succeeds"

# A disk on a datastore the target host does not mount, the VM's files staying where they are.
mig_task '<ReconfigVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">'"$vm1"'</_this><spec><deviceChange><operation>add</operation><fileOperation>create</fileOperation><device xsi:type="VirtualDisk"><key>-1</key><backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[LocalOnly] extra.vmdk</fileName><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned></backing><controllerKey>1000</controllerKey><unitNumber>1</unitNumber><capacityInKB>1024</capacityInKB></device></deviceChange></spec></ReconfigVM_Task>'
[ "$TASK_STATE" = success ] || fail "MIG: adding a disk on LocalOnly: $TASK_INFO"
check_relocate "$vm1" "$(to_cluster "$h0")"
expect_check CannotAccessVmDisk "is not accessible on the host: Unable to access file [LocalOnly] extra.vmdk" "CheckRelocate leaving a disk on a datastore the target does not mount"
check_relocate "$vm1" "<datastore type=\"Datastore\">$ds0</datastore>$(to_cluster "$h0")"
expect_clean "CheckRelocate moving the files to LocalDS_0 with the VM"

# A running VM with a PCI passthrough device stays where it is.
props MIG "$mjar" HostSystem "$sa" configManager.pciPassthruSystem
call MIG "$mjar" '<UpdatePassthruConfig xmlns="urn:vim25"><_this type="HostPciPassthruSystem">'"$(xget val)"'</_this><config xsi:type="HostPciPassthruConfig"><id>0000:5e:00.0</id><passthruEnabled>true</passthruEnabled></config></UpdatePassthruConfig>'
[ "$CODE" = 200 ] || fail "MIG: UpdatePassthruConfig: $RESP"
mig_task '<PowerOffVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">'"$vm1"'</_this></PowerOffVM_Task>'
mig_task '<ReconfigVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">'"$vm1"'</_this><spec><memoryReservationLockedToMax>true</memoryReservationLockedToMax><deviceChange><operation>add</operation><device xsi:type="VirtualPCIPassthrough"><key>-100</key><backing xsi:type="VirtualPCIPassthroughDeviceBackingInfo"><deviceName></deviceName><id>0000:5e:00.0</id></backing></device></deviceChange></spec></ReconfigVM_Task>'
[ "$TASK_STATE" = success ] || fail "MIG: adding a passthrough device: $TASK_INFO"
mig_task '<PowerOnVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">'"$vm1"'</_this></PowerOnVM_Task>'
[ "$TASK_STATE" = success ] || fail "MIG: power-on with the passthrough device: $TASK_INFO"
check_relocate "$vm1" "$(to_cluster "$h0")"
expect_check DisallowedMigrationDeviceAttached "PCI passthrough device" "CheckRelocate of a running VM with a passthrough device"
relocate "$vm1" "$(to_cluster "$h0")"
expect_fault DisallowedMigrationDeviceAttached "PCI passthrough device" "RelocateVM_Task of a running VM with a passthrough device"
[ "$(host_of "$vm1")" = "$sa" ] || fail "MIG: the passthrough VM moved"

# ESXi has no provisioning checker and no MigrateVM.
service_content ESX
[ -z "$(xget vmProvisioningChecker)" ] || fail "ESX: a vmProvisioningChecker in the ServiceContent"
ok "ESX: no vmProvisioningChecker, as on ESXi"

echo "selftest: all checks passed"
