package main

// -delay as network latency: every SOAP answer leaves DELAY after its request
// arrived, or as soon as it is ready if the simulator took longer. A host that far
// away answers no sooner, and the work of the call falls inside that time, as it does
// on a real host, which works while the packets travel. The simulator's own time
// only adds when it exceeds the delay; that matters with -endpoints, where one
// process does the work of hundreds of hosts on the machine's few cores, all of
// which real hosts would do in parallel on their own.
//
// -method-delay is the host's own time for a method: it adds to the delay in both
// models.
//
// -delay-first keeps the older model: sleep DELAY, then handle the call, so that
// the simulator's time (for all endpoints at once) adds to every round trip.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"time"
)

var delayFirst bool

func init() {
	flag.BoolVar(&delayFirst, "delay-first", false,
		"sleep -delay before handling each SOAP call, so the simulator's own time adds to it (default: answer -delay after the call arrived, the simulator's time inside it)")
}

// withLatency wraps the outermost handler, so that every SOAP call pays the delay,
// including those extensions answer before the simulator sees them (paging).
func withLatency(next http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !isSDKPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		held := &heldWriter{ResponseWriter: w, until: time.Now().Add(d)}
		next.ServeHTTP(held, r.WithContext(context.WithValue(r.Context(), heldKey{}, held)))
		held.release()
	})
}

type heldKey struct{}

// heldAnswer is the hold on r's answer, for handlers inside that add a method's own
// time to it (-method-delay); nil without one (-delay 0, or -delay-first).
func heldAnswer(r *http.Request) *heldWriter {
	held, _ := r.Context().Value(heldKey{}).(*heldWriter)
	return held
}

// heldWriter keeps the answer (status and body) until the handler is done and the
// deadline has passed, then sends it at once: the simulator's encoding, too, is work
// the host does before its answer leaves.
type heldWriter struct {
	http.ResponseWriter
	until    time.Time
	released bool
	code     int
	body     bytes.Buffer
}

func (h *heldWriter) release() {
	if h.released {
		return
	}
	h.released = true
	time.Sleep(time.Until(h.until))
	if h.code != 0 {
		h.ResponseWriter.WriteHeader(h.code)
	}
	if h.body.Len() > 0 {
		_, _ = h.ResponseWriter.Write(h.body.Bytes())
	}
}

func (h *heldWriter) WriteHeader(code int) {
	if h.released {
		h.ResponseWriter.WriteHeader(code)
	} else if h.code == 0 {
		h.code = code
	}
}

func (h *heldWriter) Write(b []byte) (int, error) {
	if h.released {
		return h.ResponseWriter.Write(b)
	}
	return h.body.Write(b)
}

// Flush and Hijack keep what fault injection needs of the writer (a flushed partial
// answer, a dropped connection): what was written so far leaves after the same wait.
func (h *heldWriter) Flush() {
	h.release()
	if f, ok := h.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (h *heldWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.release()
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be taken over")
	}
	return hj.Hijack()
}
