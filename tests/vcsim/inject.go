package main

// Failure injection for tests: a SOAP method that fails once (-fail-method),
// and datastore transfers that break mid-way (-drop-download,
// -stall-download, -drop-upload), to prove that a client reports the failure
// and leaves nothing half done. See README.md ("Failure injection").

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"

	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// failMethods counts calls of the methods named by -fail-method and says
// which call numbers fail.
type failMethods struct {
	mu    sync.Mutex
	fail  map[string]map[int]bool
	calls map[string]int
}

func (f *failMethods) String() string { return "" }

// Set parses NAME[:N][,NAME[:N]...]; the flag may be repeated.
func (f *failMethods) Set(s string) error {
	if f.fail == nil {
		f.fail = make(map[string]map[int]bool)
		f.calls = make(map[string]int)
	}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		name, nth := item, 1
		if i := strings.LastIndexByte(item, ':'); i >= 0 {
			n, err := strconv.Atoi(item[i+1:])
			if err != nil || n < 1 {
				return fmt.Errorf("%q: the call number after ':' must be 1 or more", item)
			}
			name, nth = item[:i], n
		}
		if name == "" || strings.ContainsAny(name, " :") {
			return fmt.Errorf("%q is not METHOD[:N]", item)
		}
		if f.fail[name] == nil {
			f.fail[name] = make(map[int]bool)
		}
		f.fail[name][nth] = true
	}
	return nil
}

// take counts a call of method and reports whether it is to fail.
func (f *failMethods) take(method string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	nths, ok := f.fail[method]
	if !ok {
		return false
	}
	f.calls[method]++
	return nths[f.calls[method]]
}

// transferRules are -drop-download/-stall-download/-drop-upload rules:
// each fires once, on the first matching request.
type transferRules struct {
	mu    sync.Mutex
	rules []*transferRule
}

type transferRule struct {
	substr string
	bytes  int64
	used   bool
}

func (t *transferRules) String() string { return "" }

// Set parses SUBSTR:BYTES[,SUBSTR:BYTES...]; the flag may be repeated.
func (t *transferRules) Set(s string) error {
	for _, item := range strings.Split(s, ",") {
		i := strings.LastIndexByte(item, ':')
		if i <= 0 {
			return fmt.Errorf("%q is not SUBSTR:BYTES", item)
		}
		n, err := strconv.ParseInt(item[i+1:], 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%q: BYTES must be a number of bytes (0 or more)", item)
		}
		t.rules = append(t.rules, &transferRule{substr: item[:i], bytes: n})
	}
	return nil
}

// take returns the first unused rule matching p and marks it used.
func (t *transferRules) take(p string) *transferRule {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.rules {
		if !r.used && strings.Contains(p, r.substr) {
			r.used = true
			return r
		}
	}
	return nil
}

var inject struct {
	failMethod    failMethods
	dropDownload  transferRules
	stallDownload transferRules
	dropUpload    transferRules
}

func init() {
	flag.Var(&inject.failMethod, "fail-method",
		"answer the Nth call (default 1st) of a SOAP method with a SystemError fault: NAME[:N][,NAME[:N]...]")
	flag.Var(&inject.dropDownload, "drop-download",
		"the first GET of a /folder path containing SUBSTR sends BYTES bytes, then the connection is closed: SUBSTR:BYTES")
	flag.Var(&inject.stallDownload, "stall-download",
		"the first GET of a /folder path containing SUBSTR sends BYTES bytes, then nothing until the client goes away: SUBSTR:BYTES")
	flag.Var(&inject.dropUpload, "drop-upload",
		"the first PUT/POST of a /folder path containing SUBSTR reads BYTES bytes of the body, then the connection is closed: SUBSTR:BYTES")
}

// faultOnly is a SOAP answer that is only a fault.
type faultOnly struct{ Fault_ *soap.Fault }

func (f *faultOnly) Fault() *soap.Fault { return f.Fault_ }

// injectedFault returns the -fail-method fault for this call of method, or nil.
func injectedFault(method string) soap.HasFault {
	if !inject.failMethod.take(method) {
		return nil
	}
	log.Printf("-fail-method: failing this call of %s", method)
	const reason = "injected by -fail-method"
	return &faultOnly{Fault_: soapFaultf(&types.SystemError{Reason: reason}, "A general system error occurred: %s", reason)}
}

var errCut = errors.New("transfer cut by failure injection")

// cutWriter passes the first limit bytes of a response body through.
type cutWriter struct {
	http.ResponseWriter
	limit, written int64
	cut            bool
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.cut {
		return 0, errCut
	}
	if left := c.limit - c.written; int64(len(p)) > left {
		n, _ := c.ResponseWriter.Write(p[:left])
		c.written += int64(n)
		c.cut = true
		return n, errCut
	}
	n, err := c.ResponseWriter.Write(p)
	c.written += int64(n)
	return n, err
}

// closeConnection ends the request's TCP connection without a proper end of
// the response: what the client sees when a host or network drops it. With
// flush, what was written of the response is sent first; without, nothing
// (not even a status line) is.
func closeConnection(w http.ResponseWriter, flush bool) {
	if f, ok := w.(http.Flusher); ok && flush {
		f.Flush()
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // net/http closes the connection
}

// injectFolder applies the transfer rules to a /folder request. It returns
// false when no rule matched (serve the request normally).
func (h *sdkHandler) injectFolder(w http.ResponseWriter, r *http.Request) bool {
	switch r.Method {
	case http.MethodGet:
		rule, stall := inject.dropDownload.take(r.URL.Path), false
		if rule == nil {
			rule, stall = inject.stallDownload.take(r.URL.Path), true
		}
		if rule == nil {
			return false
		}
		cw := &cutWriter{ResponseWriter: w, limit: rule.bytes}
		h.next.ServeHTTP(cw, r)
		if !stall {
			log.Printf("-drop-download: closing %s after %d bytes", r.URL.Path, cw.written)
			closeConnection(w, true)
			return true
		}
		log.Printf("-stall-download: %s stalls after %d bytes", r.URL.Path, cw.written)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		<-r.Context().Done()
		return true
	case http.MethodPut, http.MethodPost:
		rule := inject.dropUpload.take(r.URL.Path)
		if rule == nil {
			return false
		}
		// The simulator writes what it received (a partial file, as a host
		// does when an upload breaks), then the connection goes.
		r.Body = &cutBody{r: r.Body, left: rule.bytes}
		h.next.ServeHTTP(httptest.NewRecorder(), r)
		log.Printf("-drop-upload: closing %s after %d bytes of the body", r.URL.Path, rule.bytes-r.Body.(*cutBody).left)
		closeConnection(w, false)
		return true
	}
	return false
}

// cutBody reads up to left bytes of a request body, then fails.
type cutBody struct {
	r    io.ReadCloser
	left int64
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if err == io.EOF {
		return n, errCut // the whole body was shorter: still no answer
	}
	return n, err
}

func (c *cutBody) Close() error { return c.r.Close() }
