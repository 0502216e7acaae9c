package main

// A SOAP request's method name, target object and maxObjects read with a few regular
// expressions instead of a full decode. Decoding a request with govmomi's reflective
// XML decoder costs the test bed as much CPU as the simulator's whole answer to it, and
// the simulator decodes every request again itself; one process serving hundreds of
// endpoints would otherwise spend its time in its own wrappers. The handlers decode
// fully only the requests they answer or rewrite.

import (
	"regexp"
	"strconv"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var (
	sniffBody       = regexp.MustCompile(`<(?:[\w.-]+:)?Body\b[^>]*>\s*<(?:[\w.-]+:)?([A-Za-z_]\w*)`)
	sniffThis       = regexp.MustCompile(`<(?:[\w.-]+:)?_this\b([^>]*)>([^<]*)</`)
	sniffType       = regexp.MustCompile(`\btype\s*=\s*"([^"]*)"`)
	sniffMaxObjects = regexp.MustCompile(`<(?:[\w.-]+:)?maxObjects\b[^>]*>\s*(\d+)\s*</`)
)

// sniffMethod is the request's method with its name and _this only (no Body), or false
// when the request does not look like a SOAP call.
func sniffMethod(body []byte) (*simulator.Method, bool) {
	m := sniffBody.FindSubmatchIndex(body)
	if m == nil {
		return nil, false
	}
	method := &simulator.Method{Name: string(body[m[2]:m[3]])}
	if t := sniffThis.FindSubmatch(body[m[1]:]); t != nil {
		if ty := sniffType.FindSubmatch(t[1]); ty != nil {
			method.This = types.ManagedObjectReference{Type: string(ty[1]), Value: string(t[2])}
		}
	}
	return method, true
}

// sniffMaxObjects is RetrieveOptions.maxObjects of a RetrievePropertiesEx request (0: unset).
func sniffMaxObjectsOf(body []byte) int {
	m := sniffMaxObjects.FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		return 0
	}
	return n
}
