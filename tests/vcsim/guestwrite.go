package main

// Guest disk writes that the hypervisor sees, and change tracking that costs
// what the writes cost, as on ESXi: its CBT sets a bit per written block as the
// guest writes, so a snapshot (or QueryChangedDiskAreas of a powered-off VM)
// takes about the same time whatever the disk's size.
//
// cbt.go models an epoch as a hash per block of the disk's content. Hashing a
// 2 GiB flat extent at every snapshot would make each snapshot take seconds
// here, which ESXi does not. So cachedHashBlocks keeps each flat file's block hashes
// with the file's size and modification time: while both are unchanged the
// hashes are current and a snapshot copies them. A guest write through the
// control below updates the hashes of the blocks it wrote. Anything else that
// changes the file (an upload to /folder, a write behind the simulator's back)
// changes its modification time, and the next snapshot hashes it all again,
// as before. (File times tick coarsely: an upload within a few ms of a guest
// write through the control could go unseen; nothing does both at once.)
//
// Control (test-only): POST /vcsim/guest-write with JSON
//
//   {"vm": "VM name", "offset": 1048576, "length": 1048576}
//
// writes `length` random bytes at `offset` of the VM's first disk (a flat
// extent), as its guest would. A VM that is not powered on has no guest
// writing: 409. An unknown VM: 404; a range beyond the disk: 400.

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
)

type fileHashes struct {
	size     int64
	modified time.Time
	capacity int64
	hashes   []uint64
}

// hashCache holds the block hashes of flat files; its lock also orders guest
// writes against hashing.
var hashCache = struct {
	sync.Mutex
	files map[string]*fileHashes
}{files: map[string]*fileHashes{}}

func init() {
	serverHooks = append(serverHooks, installGuestWrite)
}

// cachedHashBlocks is hashBlocks with the cache above.
func cachedHashBlocks(file string, capacity int64) ([]uint64, error) {
	hashCache.Lock()
	defer hashCache.Unlock()
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if c := hashCache.files[file]; c != nil && c.size == st.Size() && c.modified.Equal(st.ModTime()) && c.capacity == capacity {
		return append([]uint64(nil), c.hashes...), nil
	}
	hashes, err := hashBlocks(file, capacity)
	if err != nil {
		delete(hashCache.files, file)
		return nil, err
	}
	// The stat from before hashing: a write meanwhile changed the time, so the
	// next use hashes again. File times tick coarsely (a few ms): a file written
	// within the last tick or two could be written again with the same time, so
	// it is not kept then.
	if time.Since(st.ModTime()) >= 50*time.Millisecond {
		hashCache.files[file] = &fileHashes{size: st.Size(), modified: st.ModTime(), capacity: capacity, hashes: hashes}
	} else {
		delete(hashCache.files, file)
	}
	return append([]uint64(nil), hashes...), nil
}

// guestWrite writes data at off of file and keeps its cached hashes current.
func guestWrite(file string, off int64, data []byte) error {
	hashCache.Lock()
	defer hashCache.Unlock()
	before, err := os.Stat(file)
	if err != nil {
		return err
	}
	c := hashCache.files[file]
	current := c != nil && c.size == before.Size() && c.modified.Equal(before.ModTime())
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, off)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || !current {
		delete(hashCache.files, file)
		return err
	}
	after, err := os.Stat(file)
	if err != nil {
		delete(hashCache.files, file)
		return err
	}
	bs := blockSize()
	r, err := os.Open(file)
	if err != nil {
		delete(hashCache.files, file)
		return err
	}
	defer r.Close()
	buf, zeros := make([]byte, bs), make([]byte, bs)
	for b := off / bs; b*bs < off+int64(len(data)) && b*bs < c.capacity; b++ {
		n := bs
		if c.capacity-b*bs < n {
			n = c.capacity - b*bs
		}
		block := buf[:n]
		got, rerr := r.ReadAt(block, b*bs)
		if rerr != nil && rerr != io.EOF {
			delete(hashCache.files, file)
			return rerr
		}
		copy(block[got:], zeros)
		for int64(len(c.hashes)) <= b {
			c.hashes = append(c.hashes, 0)
		}
		c.hashes[b] = blockHash(block, zeros)
	}
	for len(c.hashes) > 0 && c.hashes[len(c.hashes)-1] == 0 {
		c.hashes = c.hashes[:len(c.hashes)-1]
	}
	c.size, c.modified = after.Size(), after.ModTime()
	return nil
}

func installGuestWrite(m *simulator.Model, s *simulator.Server) {
	var req struct {
		VM     string `json:"vm"`
		Offset int64  `json:"offset"`
		Length int64  `json:"length"`
	}
	serveControl(s, "/vcsim/guest-write", "guest write", &req, func(w http.ResponseWriter) {
		vm := vmByName(req.VM)
		if vm == nil {
			http.Error(w, fmt.Sprintf("no VM named %q", req.VM), http.StatusNotFound)
			return
		}
		var file string
		var capacity int64
		on := false
		simulator.Map.WithLock(vm, func() {
			on = poweredOn(vm)
			if vm.Config == nil {
				return
			}
			for _, d := range vmDisks(vm.Config.Hardware.Device) {
				descriptor, flat, ok := diskPaths(vm, d)
				if ok && !isDelta(descriptor) {
					file, capacity = flat, diskCapacity(d)
				}
				break
			}
		})
		switch {
		case !on:
			http.Error(w, fmt.Sprintf("%s is not powered on: no guest writes", req.VM), http.StatusConflict)
			return
		case file == "":
			http.Error(w, fmt.Sprintf("%s has no flat disk", req.VM), http.StatusBadRequest)
			return
		case req.Offset < 0 || req.Length <= 0 || req.Length > 64<<20 || req.Offset+req.Length > capacity:
			http.Error(w, fmt.Sprintf("offset %d, length %d: not within the disk's %d bytes (at most 64 MiB a write)", req.Offset, req.Length, capacity), http.StatusBadRequest)
			return
		}
		data := make([]byte, req.Length)
		if _, err := rand.Read(data); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := guestWrite(file, req.Offset, data); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
