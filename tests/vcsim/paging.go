package main

// Result paging for RetrievePropertiesEx, as vCenter does it: a large result comes back
// in pages, the first with a token, the rest through ContinueRetrievePropertiesEx
// (which stock vcsim does not implement). Clients that ignore the token silently see a
// partial inventory on real vCenters; with -page-size the test bed shows that.
//
// The page size is the smaller of the request's RetrieveOptions.maxObjects and the
// -page-size flag (0: no server-side limit, like stock vcsim). A token serves its pages
// once, in order; an unknown or used-up token is InvalidArgument, and
// CancelRetrievePropertiesEx drops it.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"io/ioutil"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

var pageSize int
var maxObjects bool

func init() {
	flag.IntVar(&pageSize, "page-size", 0,
		"at most this many objects per RetrievePropertiesEx answer; the rest via ContinueRetrievePropertiesEx (0: no limit)")
	// Paging here re-decodes the simulator's whole answer (vCenter pages natively, at no
	// such cost); benchmarks that compare a client with one raw unpaged call turn it off.
	flag.BoolVar(&maxObjects, "max-objects", true,
		"honour RetrieveOptions.maxObjects as vCenter does (false: ignore it, like stock vcsim)")
	serverHooks = append(serverHooks, installPaging)
}

type pager struct {
	next  http.Handler
	mu    sync.Mutex
	pages map[string][][]types.ObjectContent
}

func installPaging(_ *simulator.Model, s *simulator.Server) {
	s.Config.Handler = &pager{next: s.Config.Handler, pages: map[string][][]types.ObjectContent{}}
}

func (p *pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !isSDKPath(r.URL.Path) {
		p.next.ServeHTTP(w, r)
		return
	}
	body, err := ioutil.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.Body = ioutil.NopCloser(bytes.NewReader(body))
	if sniffed, ok := sniffMethod(body); ok {
		switch sniffed.Name {
		case "RetrievePropertiesEx":
			limit := pageSize
			if m := sniffMaxObjectsOf(body); maxObjects && m > 0 && (limit == 0 || m < limit) {
				limit = m
			}
			if limit <= 0 {
				p.next.ServeHTTP(w, r)
				return
			}
			p.retrieve(w, r, limit)
			return
		case "ContinueRetrievePropertiesEx", "CancelRetrievePropertiesEx":
			// Their token is read from the decoded body below.
		default:
			p.next.ServeHTTP(w, r)
			return
		}
	}
	method, derr := simulator.UnmarshalBody(types.TypeFunc(), body)
	if derr != nil {
		p.next.ServeHTTP(w, r)
		return
	}
	switch req := method.Body.(type) {
	case *types.ContinueRetrievePropertiesEx:
		p.continueRetrieve(w, r, req.Token)
	case *types.CancelRetrievePropertiesEx:
		p.mu.Lock()
		delete(p.pages, req.Token)
		p.mu.Unlock()
		p.next.ServeHTTP(w, r)
	default:
		p.next.ServeHTTP(w, r)
	}
}

// retrieve lets the simulator answer (it checks the session and the spec), then keeps
// all but the first page behind a token.
func (p *pager) retrieve(w http.ResponseWriter, r *http.Request, limit int) {
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, r)
	// Most answers fit one page: counting the objects is enough to know, and decoding a
	// large answer only to pass it on unchanged would be the test bed's own cost.
	if rec.Code == http.StatusOK && bytes.Count(rec.Body.Bytes(), []byte("<objects>")) <= limit {
		copyRecorded(w, rec)
		return
	}
	var env struct {
		Body struct {
			Res *types.RetrievePropertiesExResponse `xml:"RetrievePropertiesExResponse"`
		} `xml:"Body"`
	}
	dec := xml.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.TypeFunc = types.TypeFunc()
	if rec.Code != http.StatusOK || dec.Decode(&env) != nil || env.Body.Res == nil || env.Body.Res.Returnval == nil {
		copyRecorded(w, rec)
		return
	}
	objects := env.Body.Res.Returnval.Objects
	if len(objects) <= limit {
		copyRecorded(w, rec)
		return
	}
	var pages [][]types.ObjectContent
	for start := limit; start < len(objects); start += limit {
		end := start + limit
		if end > len(objects) {
			end = len(objects)
		}
		pages = append(pages, objects[start:end])
	}
	token := newToken()
	p.mu.Lock()
	p.pages[token] = pages
	p.mu.Unlock()
	writeSOAP(w, &methods.RetrievePropertiesExBody{Res: &types.RetrievePropertiesExResponse{
		Returnval: &types.RetrieveResult{Token: token, Objects: objects[:limit]},
	}})
}

func (p *pager) continueRetrieve(w http.ResponseWriter, r *http.Request, token string) {
	// The session must be valid, as for any call.
	if rec := (&sdkHandler{next: p.next}).probe(r, types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}); rec != nil {
		copyRecorded(w, rec)
		return
	}
	p.mu.Lock()
	pages, ok := p.pages[token]
	var page []types.ObjectContent
	next := ""
	if ok {
		page, pages = pages[0], pages[1:]
		if len(pages) > 0 {
			p.pages[token] = pages
			next = token
		} else {
			delete(p.pages, token)
		}
	}
	p.mu.Unlock()
	if !ok {
		writeSOAP(w, &methods.ContinueRetrievePropertiesExBody{
			Fault_: soapFaultf(&types.InvalidArgument{InvalidProperty: "token"}, "unknown or finished token %q", token),
		})
		return
	}
	writeSOAP(w, &methods.ContinueRetrievePropertiesExBody{Res: &types.ContinueRetrievePropertiesExResponse{
		Returnval: types.RetrieveResult{Token: next, Objects: page},
	}})
}

func writeSOAP(w http.ResponseWriter, res soap.HasFault) {
	out, status, err := encodeSOAP(res)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
