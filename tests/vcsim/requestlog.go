package main

// -request-log FILE: one line per SOAP request on /sdk, as it arrives, so tests
// and benchmarks can count a client's round trips without a proxy:
//
//	RetrievePropertiesEx PropertyCollector:propertyCollector
//
// (method, then the _this object). A body the simulator cannot decode is
// logged as "? -". Internal probes of interceptSOAP are not requests and are
// not logged.

import (
	"flag"
	"fmt"
	"os"
	"sync"

	"github.com/vmware/govmomi/simulator"
)

var requestLogPath string

var requestLog struct {
	sync.Mutex
	f *os.File
}

func init() {
	flag.StringVar(&requestLogPath, "request-log", "", "append one line per SOAP request (method and object) to this file")
	serverHooks = append(serverHooks, func(*simulator.Model, *simulator.Server) {
		if requestLogPath == "" {
			return
		}
		f, err := os.OpenFile(requestLogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0600)
		if err != nil {
			fatalf("-request-log: %s", err)
		}
		requestLog.f = f
	})
}

// logRequest records one SOAP request (method nil when it did not decode).
func logRequest(method *simulator.Method) {
	if requestLog.f == nil {
		return
	}
	line := "? -\n"
	if method != nil {
		line = fmt.Sprintf("%s %s:%s\n", method.Name, method.This.Type, method.This.Value)
	}
	requestLog.Lock()
	_, _ = requestLog.f.WriteString(line)
	requestLog.Unlock()
}
