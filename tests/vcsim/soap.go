package main

// The HTTP layer in front of the simulator: applies -delay/-method-delay,
// lets extensions handle SOAP methods themselves (interceptSOAP), and runs
// hooks after datastore file uploads (/folder).
//
// Why not wrap the managed objects as simulator/example_extend_test.go does?
// The simulator asserts concrete types all over (Map.Get(ref).(*VirtualMachine)
// in snapshot, resource pool, guest operations ... code), so a wrapped
// VirtualMachine makes those paths panic. Intercepting at the SOAP layer keeps
// the registry untouched.

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

var folderAuth bool

func init() {
	flag.BoolVar(&folderAuth, "folder-auth", false,
		"require a valid session cookie on /folder (datastore file) requests, as real hosts do")
}

// soapCall is what an interceptor gets: the HTTP request (cookies, headers)
// and the decoded SOAP method (Name, This, Body such as *types.QueryChangedDiskAreas).
type soapCall struct {
	Request *http.Request
	Method  *simulator.Method
}

// A soapInterceptor answers one SOAP method instead of the simulator and
// returns a vim25/methods *Body value (Res or Fault_ set).
type soapInterceptor func(call *soapCall) soap.HasFault

var soapInterceptors = map[string]soapInterceptor{}

// interceptSOAP makes fn answer method on managed objects of type moType.
// The simulator still authenticates the session and checks that the object
// exists (NotAuthenticated / ManagedObjectNotFound come from it unchanged).
// Call it from an extension's init or install function.
func interceptSOAP(moType, method string, fn soapInterceptor) {
	soapInterceptors[moType+"."+method] = fn
}

// stockMethods removes the extension of each named method (any managed object
// type), so that it answers as stock vcsim does: clients are checked against the
// stock simulator's behaviour, which operators meet first.
func stockMethods(list string) error {
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		found := false
		for key := range soapInterceptors {
			if strings.HasSuffix(key, "."+name) {
				delete(soapInterceptors, key)
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s is not a method this simulator extends", name)
		}
	}
	return nil
}

// folderWriteHooks run after a successful PUT/POST of a datastore file via
// /folder/<path>; they get the datastore-relative path.
var folderWriteHooks []func(relPath string)

// probeMethod is a vim25 method no simulator object implements: calling it
// on an object answers NotAuthenticated, ManagedObjectNotFound or (when the
// session and object are fine) MethodNotFound.
const probeMethod = "QueryChangedDiskAreas"

type sdkHandler struct {
	next http.Handler
	// delay is -delay with -delay-first (slept before the call is handled; see
	// latency.go for the default), and nothing otherwise.
	delay       time.Duration
	methodDelay map[string]time.Duration
	traceMu     sync.Mutex
}

func newSDKHandler(next http.Handler, delay time.Duration, methodDelay map[string]time.Duration) http.Handler {
	// The probe makes the simulator log "X does not implement: QueryChangedDiskAreas"
	// on every intercepted call; keep stderr readable.
	log.SetOutput(&logFilter{w: os.Stderr, drop: "does not implement: " + probeMethod})

	return &sdkHandler{next: next, delay: delay, methodDelay: methodDelay}
}

func isSDKPath(p string) bool {
	return p == vim25.Path || p == vim25.Path+"/vimService"
}

func (h *sdkHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/folder/") {
		h.serveFolder(w, r)
		return
	}

	if r.Method != http.MethodPost || !isSDKPath(r.URL.Path) {
		h.next.ServeHTTP(w, r)
		return
	}

	body, err := ioutil.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}

	// The name and _this say what the handler does with the call; only calls it answers
	// itself (or replays) need the whole body decoded.
	method, ok := sniffMethod(body)
	var derr error
	if !ok || isReplay(r) || longTaskTimes[method.Name] > 0 || soapInterceptors[method.This.Type+"."+method.Name] != nil {
		method, derr = simulator.UnmarshalBody(types.TypeFunc(), body)
	}
	if isReplay(r) {
		// A long task's method run at its completion: no delay, log or injection again.
		if fn, ok := soapInterceptors[method.This.Type+"."+method.Name]; derr == nil && ok {
			h.intercept(w, r, body, method, fn)
			return
		}
		r.Body = ioutil.NopCloser(bytes.NewReader(body))
		h.next.ServeHTTP(w, r)
		return
	}
	if derr == nil {
		logRequest(method)
	} else {
		logRequest(nil)
	}

	d, work := h.delay, time.Duration(0)
	if derr == nil {
		work = h.methodDelay[method.Name]
	}
	if held := heldAnswer(r); held != nil {
		// -method-delay is the host's own time: it adds to the latency.
		held.until = held.until.Add(work)
	} else {
		d += work
	}
	if d > 0 {
		time.Sleep(d)
	}

	if derr == nil {
		if res := injectedFault(method.Name); res != nil {
			h.respond(w, method, res)
			return
		}
		if d, ok := longTaskTimes[method.Name]; ok {
			h.longTask(w, r, body, method, d)
			return
		}
		if fn, ok := soapInterceptors[method.This.Type+"."+method.Name]; ok {
			h.intercept(w, r, body, method, fn)
			return
		}
	}

	r.Body = ioutil.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	h.next.ServeHTTP(w, r)
}

func (h *sdkHandler) intercept(w http.ResponseWriter, r *http.Request, body []byte, method *simulator.Method, fn soapInterceptor) {
	if rec := h.probe(r, method.This); rec != nil {
		// Not authenticated, or no such object: the simulator's own answer.
		copyRecorded(w, rec)
		return
	}

	if opts.trace {
		h.traceMu.Lock()
		fmt.Fprintf(os.Stderr, "Request: %s\n", string(body))
		h.traceMu.Unlock()
	}

	h.respond(w, method, fn(&soapCall{Request: r, Method: method}))
}

// respond writes res as the simulator would answer method.
func (h *sdkHandler) respond(w http.ResponseWriter, method *simulator.Method, res soap.HasFault) {
	out, status, err := encodeSOAP(res)
	if err != nil {
		log.Printf("encoding %s response: %s", method.Name, err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}

	if opts.trace {
		h.traceMu.Lock()
		fmt.Fprintf(os.Stderr, "Response: %s\n", string(out))
		h.traceMu.Unlock()
	}

	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// probe asks the simulator whether the request's session is valid and this
// exists. It returns nil when both hold, else the simulator's fault response.
func (h *sdkHandler) probe(r *http.Request, this types.ManagedObjectReference) *httptest.ResponseRecorder {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	buf.WriteString(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>`)
	buf.WriteString(`<` + probeMethod + ` xmlns="urn:vim25"><_this type="`)
	_ = xml.EscapeText(&buf, []byte(this.Type))
	buf.WriteString(`">`)
	_ = xml.EscapeText(&buf, []byte(this.Value))
	buf.WriteString(`</_this></` + probeMethod + `></soapenv:Body></soapenv:Envelope>`)

	pr := r.Clone(r.Context())
	pr.Method = http.MethodPost
	pr.URL.Path = vim25.Path
	pr.URL.RawPath = ""
	pr.URL.RawQuery = ""
	pr.Header.Del("Range")
	pr.Body = ioutil.NopCloser(bytes.NewReader(buf.Bytes()))
	pr.ContentLength = int64(buf.Len())

	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, pr)

	if rec.Code == http.StatusInternalServerError && strings.Contains(rec.Body.String(), "MethodNotFoundFault") {
		return nil
	}
	return rec
}

func copyRecorded(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// serveFolder handles /folder/<path>?dcPath=&dsName= (datastore file access).
func (h *sdkHandler) serveFolder(w http.ResponseWriter, r *http.Request) {
	if folderAuth {
		si := types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}
		if rec := h.probe(r, si); rec != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="VMware HTTP server"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
	}

	if h.injectFolder(w, r) {
		return
	}

	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		h.next.ServeHTTP(w, r)
		return
	}

	rel := strings.TrimPrefix(r.URL.Path, "/folder/")
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	h.next.ServeHTTP(rec, r)

	if rec.code < 300 {
		for _, hook := range folderWriteHooks {
			hook(rel)
		}
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// logFilter drops log lines containing drop.
type logFilter struct {
	w    io.Writer
	drop string
	mu   sync.Mutex
}

func (f *logFilter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(f.drop)) {
		return len(p), nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.w.Write(p)
}

// The envelope below mirrors what simulator.Service.ServeSDK writes, so
// intercepted methods look exactly like the simulator's own answers.

type soapEnvelope struct {
	XMLName xml.Name    `xml:"soapenv:Envelope"`
	Enc     string      `xml:"xmlns:soapenc,attr"`
	Env     string      `xml:"xmlns:soapenv,attr"`
	XSD     string      `xml:"xmlns:xsd,attr"`
	XSI     string      `xml:"xmlns:xsi,attr"`
	Body    interface{} `xml:"soapenv:Body"`
}

type soapFaultDetail struct {
	Fault types.AnyType
}

type soapFault struct {
	XMLName xml.Name `xml:"soapenv:Fault"`
	Code    string   `xml:"faultcode"`
	String  string   `xml:"faultstring"`
	Detail  struct {
		Fault *soapFaultDetail
	} `xml:"detail"`
}

// MarshalXML names the detail element "${Type}Fault" with xsi:type, as vSphere does.
func (d *soapFaultDetail) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	kind := reflect.TypeOf(d.Fault).Elem().Name()
	start.Name.Local = kind + "Fault"
	start.Attr = append(start.Attr,
		xml.Attr{Name: xml.Name{Local: "xmlns"}, Value: "urn:" + vim25.Namespace},
		xml.Attr{Name: xml.Name{Local: "xsi:type"}, Value: kind})
	return e.EncodeElement(d.Fault, start)
}

type soapResponse struct {
	Body soap.HasFault
}

func (r *soapResponse) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	val := reflect.ValueOf(r.Body).Elem().FieldByName("Res")
	if !val.IsValid() || val.IsNil() {
		return fmt.Errorf("%T: missing Res", r.Body)
	}
	res := xml.StartElement{Name: xml.Name{Space: "urn:" + vim25.Namespace, Local: val.Elem().Type().Name()}}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if err := e.EncodeElement(val.Interface(), res); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

func encodeSOAP(res soap.HasFault) ([]byte, int, error) {
	var body interface{}
	status := http.StatusOK

	if f := res.Fault(); f != nil {
		status = http.StatusInternalServerError
		sf := &soapFault{Code: f.Code, String: f.String}
		sf.Detail.Fault = &soapFaultDetail{Fault: f.Detail.Fault}
		body = struct{ Fault *soapFault }{sf}
	} else {
		body = &soapResponse{Body: res}
	}

	var out bytes.Buffer
	out.WriteString(xml.Header)
	e := xml.NewEncoder(&out)
	err := e.Encode(&soapEnvelope{
		Enc:  "http://schemas.xmlsoap.org/soap/encoding/",
		Env:  "http://schemas.xmlsoap.org/soap/envelope/",
		XSD:  "http://www.w3.org/2001/XMLSchema",
		XSI:  "http://www.w3.org/2001/XMLSchema-instance",
		Body: body,
	})
	if err == nil {
		err = e.Flush()
	}
	return out.Bytes(), status, err
}

// soapFaultf builds a soap.Fault the way simulator.Fault does, with a message.
func soapFaultf(fault types.BaseMethodFault, format string, args ...interface{}) *soap.Fault {
	return simulator.Fault(fmt.Sprintf(format, args...), fault)
}
