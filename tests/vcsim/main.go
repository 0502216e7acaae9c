// Command vcsim is ceso's vSphere simulator test bed: govmomi's simulator
// (vcsim) with extensions that model real ESXi/vCenter behaviour the stock
// simulator lacks. See README.md in this directory.
//
// On start it prints a machine-readable protocol on stdout, one KEY=VALUE per
// line, ending with CESO_VCSIM_READY=1, then serves until SIGTERM/SIGINT (or,
// with -stdin-exit, until stdin reaches EOF; with -parent-exit, until the
// parent process goes away).
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

// extensions are installed after the model is created and before the server
// starts. Other files of this package register themselves with
//
//	func init() { extensions = append(extensions, installX) }
var extensions []func(m *simulator.Model)

// serverHooks run after the HTTP server is created and before the READY line
// is printed; they get the server so they can wrap handlers.
var serverHooks []func(m *simulator.Model, s *simulator.Server)

// options shared with the other files of this package.
var opts struct {
	esx         bool
	listen      string
	tls         bool
	trace       bool
	delay       int
	methodDelay string
	stockMethod string
	stockWalk   bool
	endpoints   int
	stdinExit   bool
	parentExit  bool
	cpuProfile  string
	username    string
	password    string
}

func main() {
	log.SetFlags(log.LstdFlags)
	log.SetPrefix("vcsim: ")

	model := simulator.VPX()

	flag.StringVar(&opts.listen, "l", "127.0.0.1:0", "listen address (port 0 picks a free port)")
	flag.BoolVar(&opts.esx, "esx", false, "simulate a standalone ESXi host instead of vCenter")
	flag.IntVar(&model.Datacenter, "dc", model.Datacenter, "number of datacenters (vCenter only)")
	flag.IntVar(&model.Cluster, "cluster", model.Cluster, "number of clusters per datacenter (vCenter only)")
	flag.IntVar(&model.ClusterHost, "host", model.ClusterHost, "number of hosts per cluster (vCenter only)")
	flag.IntVar(&model.Host, "standalone-host", model.Host, "number of standalone hosts per datacenter (vCenter only)")
	flag.IntVar(&model.Machine, "vm", model.Machine, "number of VMs per host (ESXi, standalone host) or per cluster resource pool")
	flag.IntVar(&model.Pool, "pool", model.Pool, "number of child resource pools per cluster (vCenter only)")
	flag.IntVar(&model.Datastore, "ds", model.Datastore, "number of local datastores")
	flag.IntVar(&model.App, "app", model.App, "number of vApps per cluster (vCenter only)")
	flag.IntVar(&model.Portgroup, "pg", model.Portgroup, "number of distributed port groups per datacenter (vCenter only)")
	flag.IntVar(&model.Folder, "folder", model.Folder, "number of datacenters placed inside a folder (vCenter only)")
	flag.IntVar(&model.Pod, "pod", model.Pod, "number of storage pods per datacenter (vCenter only)")
	flag.BoolVar(&model.Autostart, "autostart", model.Autostart, "power on the VMs the model creates")
	flag.IntVar(&opts.delay, "delay", 0, "network latency: every SOAP answer leaves this many milliseconds after its request arrived, the simulator's work inside that time (see -delay-first)")
	flag.StringVar(&opts.methodDelay, "method-delay", "", "extra per-method delay, e.g. CreateSnapshot_Task:500,RetrievePropertiesEx:20 (milliseconds)")
	flag.BoolVar(&opts.tls, "tls", false, "serve HTTPS with a self-signed certificate generated at start")
	flag.BoolVar(&opts.trace, "trace", false, "write SOAP requests and responses to stderr")
	flag.BoolVar(&opts.stdinExit, "stdin-exit", false, "exit when stdin reaches EOF (tie the simulator to the parent's pipe)")
	flag.BoolVar(&opts.parentExit, "parent-exit", false, "exit when the parent process exits")
	flag.StringVar(&opts.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the whole run to this file on exit (for benchmarks: where the test bed's own time goes)")
	flag.StringVar(&opts.username, "username", "", "accepted login user name (default: any non-empty user and password)")
	flag.StringVar(&opts.password, "password", "", "accepted login password (with -username)")
	flag.StringVar(&opts.stockMethod, "stock-method", "", "answer these methods (comma-separated, e.g. PowerOnMultiVM_Task) as stock vcsim 0.24.2 does, without this program's extension of them")
	flag.BoolVar(&opts.stockWalk, "stock-traversal", false, "follow every TraversalSpec from every object whatever its type, as stock vcsim 0.24.2 does (default: only from objects of the spec's type, as vCenter does)")
	flag.IntVar(&opts.endpoints, "endpoints", 1, "serve the inventory on this many ports (a fleet of identical standalone hosts for many-endpoint tests); CESO_VCSIM_URLS lists them")
	flag.Parse()

	if flag.NArg() != 0 {
		fatalf("unexpected arguments: %s", strings.Join(flag.Args(), " "))
	}

	if opts.esx {
		vpx := *model
		model = simulator.ESX()
		// Options that also apply to a standalone ESXi host.
		model.Datastore = vpx.Datastore
		model.Machine = vpx.Machine
		model.Autostart = vpx.Autostart
	}

	simulator.TraversalByType = !opts.stockWalk

	if err := stockMethods(opts.stockMethod); err != nil {
		fatalf("-stock-method: %s", err)
	}

	methodDelay, err := parseMethodDelay(opts.methodDelay)
	if err != nil {
		fatalf("-method-delay: %s", err)
	}

	// Every file the simulator creates (datastores, certificate) lives under
	// one private directory that is removed on exit. Directories left by
	// simulators that were killed (SIGKILL) are removed here.
	sweepStaleDirs(os.TempDir())
	root, err := ioutil.TempDir("", fmt.Sprintf("ceso-vcsim-%d-", os.Getpid()))
	if err != nil {
		fatalf("%s", err)
	}
	if err = lockRoot(root); err != nil {
		_ = os.RemoveAll(root)
		fatalf("locking %s: %s", root, err)
	}
	if err = os.Setenv("TMPDIR", root); err != nil {
		fatalf("%s", err)
	}

	cleanup := func() {
		model.Remove()
		_ = os.RemoveAll(root)
	}

	simulator.Trace = opts.trace

	if err = model.Create(); err != nil {
		cleanup()
		fatalf("creating model: %s", err)
	}

	for _, install := range extensions {
		install(model)
	}

	listen := &url.URL{Host: opts.listen}
	if opts.username != "" {
		listen.User = url.UserPassword(opts.username, opts.password)
	}
	model.Service.Listen = listen

	var certFile string
	var cert *x509.Certificate
	if opts.tls {
		host, _, herr := net.SplitHostPort(opts.listen)
		if herr != nil {
			cleanup()
			fatalf("-l %s: %s", opts.listen, herr)
		}
		var tlsCert tls.Certificate
		tlsCert, cert, err = selfSignedCertificate(host)
		if err != nil {
			cleanup()
			fatalf("generating certificate: %s", err)
		}
		certFile = filepath.Join(root, "cert.pem")
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
		if err = ioutil.WriteFile(certFile, pemBytes, 0644); err != nil {
			cleanup()
			fatalf("%s", err)
		}
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{tlsCert}}
	}

	server := model.Service.NewServer()

	// Replace the server's handler before anyone knows the port: the wrapper
	// applies -delay and lets extensions intercept SOAP methods.
	delay := time.Duration(opts.delay) * time.Millisecond
	slept := time.Duration(0)
	if delayFirst {
		slept = delay
	}
	server.Config.Handler = newSDKHandler(server.Config.Handler, slept, methodDelay)

	for _, hook := range serverHooks {
		hook(model, server)
	}
	if !delayFirst {
		server.Config.Handler = withLatency(server.Config.Handler, delay)
	}

	u := *server.URL
	u.User = nil

	extra, err := serveExtraEndpoints(server, opts.endpoints-1)
	if err != nil {
		cleanup()
		fatalf("-endpoints: %s", err)
	}

	out := []string{
		"CESO_VCSIM_URL=" + u.String(),
		"CESO_VCSIM_PID=" + strconv.Itoa(os.Getpid()),
	}
	if opts.endpoints > 1 {
		urls := []string{u.String()}
		for _, e := range extra {
			urls = append(urls, e.url)
		}
		out = append(out, "CESO_VCSIM_URLS="+strings.Join(urls, ","))
	}
	if opts.esx {
		out = append(out, "CESO_VCSIM_MODE=esx")
	} else {
		out = append(out, "CESO_VCSIM_MODE=vpx")
	}
	if cert != nil {
		out = append(out,
			"CESO_VCSIM_THUMBPRINT_SHA256="+thumbprint(sha256Sum(cert.Raw)),
			"CESO_VCSIM_THUMBPRINT_SHA1="+thumbprint(sha1Sum(cert.Raw)),
			"CESO_VCSIM_CERT="+certFile,
		)
	}
	out = append(out, "CESO_VCSIM_DIR="+root, "CESO_VCSIM_READY=1")
	if _, err = io.WriteString(os.Stdout, strings.Join(out, "\n")+"\n"); err != nil {
		log.Printf("writing protocol to stdout: %s", err)
	}
	_ = os.Stdout.Sync()

	if opts.cpuProfile != "" {
		f, err := os.Create(opts.cpuProfile)
		if err != nil {
			fatalf("cpuprofile: %s", err)
		}
		if err = pprof.StartCPUProfile(f); err != nil {
			fatalf("cpuprofile: %s", err)
		}
		defer pprof.StopCPUProfile()
	}

	done := make(chan string, 3)

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		s := <-sig
		done <- s.String()
	}()

	if opts.stdinExit {
		go func() {
			_, _ = io.Copy(ioutil.Discard, os.Stdin)
			done <- "stdin closed"
		}()
	}

	if opts.parentExit {
		ppid := os.Getppid()
		go func() {
			for {
				time.Sleep(250 * time.Millisecond)
				if os.Getppid() != ppid {
					done <- "parent exited"
					return
				}
			}
		}()
	}

	reason := <-done
	log.Printf("shutting down (%s)", reason)

	// Server.Close waits for in-flight requests (WaitForUpdatesEx can block
	// for minutes): give them a moment, then clean up regardless.
	closed := make(chan struct{})
	go func() {
		for _, e := range extra {
			_ = e.server.Close()
		}
		server.CloseClientConnections()
		server.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
	}

	cleanup()
}

var staleDir = regexp.MustCompile(`^ceso-vcsim-([0-9]+)-[0-9]+$`)

// lockFile is held (flock) for the simulator's lifetime; the kernel
// releases it however the process ends, which marks the directory stale.
var lockFile *os.File

func lockRoot(root string) error {
	f, err := os.OpenFile(filepath.Join(root, ".lock"), os.O_CREATE|os.O_RDWR, 0600)
	if err != nil {
		return err
	}
	if err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return err
	}
	lockFile = f
	return nil
}

// sweepStaleDirs removes ceso-vcsim-<pid>-* directories in dir whose
// simulator is gone: process <pid> is gone and nobody holds their .lock.
// Several simulators start at once in the tests, so a directory whose .lock
// is not locked yet but whose process lives is left alone.
func sweepStaleDirs(dir string) {
	entries, err := ioutil.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		m := staleDir.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		if st, ok := e.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.Open(filepath.Join(path, ".lock"))
		if err != nil {
			if pid, perr := strconv.Atoi(m[1]); perr == nil && os.IsNotExist(err) && !processAlive(pid) {
				_ = os.RemoveAll(path)
			}
			continue
		}
		// An unlocked .lock whose process lives belongs to a simulator between
		// creating its .lock and locking it: starting, not stale.
		pid, perr := strconv.Atoi(m[1])
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil && (perr != nil || !processAlive(pid)) {
			_ = os.RemoveAll(path)
		}
		_ = f.Close()
	}
}

// processAlive reports whether pid is a process that has not exited.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	stat, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err)
	}
	// "pid (comm) S ...": a zombie has exited already.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || (stat[i+2] != 'Z' && stat[i+2] != 'X')
}

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "vcsim: "+format+"\n", args...)
	os.Exit(2)
}

func parseMethodDelay(s string) (map[string]time.Duration, error) {
	res := make(map[string]time.Duration)
	if s == "" {
		return res, nil
	}
	for _, item := range strings.Split(s, ",") {
		kv := strings.SplitN(strings.TrimSpace(item), ":", 2)
		if len(kv) != 2 || kv[0] == "" {
			return nil, fmt.Errorf("%q is not METHOD:MILLISECONDS", item)
		}
		ms, err := strconv.Atoi(kv[1])
		if err != nil || ms < 0 {
			return nil, fmt.Errorf("%q is not METHOD:MILLISECONDS", item)
		}
		res[kv[0]] = time.Duration(ms) * time.Millisecond
	}
	return res, nil
}

// selfSignedCertificate returns an RSA-2048 certificate like the one an ESXi
// host generates for itself, valid for localhost, the loopback addresses and
// the listen host.
func selfSignedCertificate(host string) (tls.Certificate, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return tls.Certificate{}, nil, err
	}

	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, nil, err
	}

	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         "localhost",
			Organization:       []string{"ceso vcsim"},
			OrganizationalUnit: []string{"self-signed test certificate"},
		},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() && !ip.IsUnspecified() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	} else if host != "" && host != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}

	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}

	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, cert, nil
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func sha1Sum(b []byte) []byte   { s := sha1.Sum(b); return s[:] }

// thumbprint formats a digest as colon-separated upper-case hex, the way
// vSphere shows certificate thumbprints.
func thumbprint(sum []byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}
