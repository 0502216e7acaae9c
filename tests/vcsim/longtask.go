package main

// Tasks that take time, and CancelTask. Stock vcsim runs every *_Task method
// to the end before answering, so its tasks are never seen running, and it has
// no CancelTask (MethodNotFound). Here:
//
//   - -task-time METHOD:MS[,...] makes a call of METHOD answer at once with a
//     task in state running, whose info.progress moves from 0 to 99 over MS
//     milliseconds; then the method runs (through the simulator and this
//     program's extensions of it) and the task ends with its result or fault.
//     The work is done when the task completes, so a task cancelled before
//     leaves nothing behind (vCenter likewise removes a cancelled clone's
//     half-copied VM). Faults a real server raises at call time (bad
//     arguments) come as the task's error instead.
//   - info.cancelable is true for the methods vCenter lets a user cancel:
//     CloneVM_Task, RelocateVM_Task, MigrateVM_Task; false for the others.
//   - CancelTask, as the vSphere API documents it: a finished or already
//     cancelled task is InvalidState, a task that is not cancelable is
//     NotSupported; a cancelable running task gets info.cancelled=true at once
//     and ends (within one progress step) in state error with a
//     RequestCanceled fault.
//
// Limitation: the method runs with the caller's session at completion; a
// session logged out before then makes the task fail NotAuthenticated (a real
// server finishes it).

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io/ioutil"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

// taskTimes holds -task-time: how long a call of each named method runs.
type taskTimes map[string]time.Duration

func (t taskTimes) String() string { return "" }

func (t taskTimes) Set(s string) error {
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		i := strings.LastIndexByte(item, ':')
		if i <= 0 || !strings.HasSuffix(item[:i], "_Task") {
			return fmt.Errorf("%q is not METHOD_Task:MS", item)
		}
		ms, err := strconv.Atoi(item[i+1:])
		if err != nil || ms < 1 {
			return fmt.Errorf("%q: the milliseconds after ':' must be 1 or more", item)
		}
		t[item[:i]] = time.Duration(ms) * time.Millisecond
	}
	return nil
}

var longTaskTimes = taskTimes{}

// cancelableMethods: the tasks vCenter offers to cancel (a copy of disks under way).
var cancelableMethods = map[string]bool{
	"CloneVM_Task":    true,
	"RelocateVM_Task": true,
	"MigrateVM_Task":  true,
}

// descriptionIDs: vCenter's descriptionId suffix of a method's task, where it is
// not the method's name in lower camel case.
var descriptionIDs = map[string]string{
	"CloneVM_Task":        "clone",
	"RelocateVM_Task":     "relocate",
	"MigrateVM_Task":      "migrate",
	"PowerOnVM_Task":      "powerOn",
	"PowerOffVM_Task":     "powerOff",
	"ReconfigVM_Task":     "reconfigure",
	"ResetVM_Task":        "reset",
	"SuspendVM_Task":      "suspend",
	"Destroy_Task":        "destroy",
	"CreateSnapshot_Task": "createSnapshot",
}

// runningTasks: the tasks -task-time keeps running, by task id; a cancel
// request closes the channel.
var runningTasks = struct {
	sync.Mutex
	m map[string]chan struct{}
}{m: map[string]chan struct{}{}}

type replayKey struct{}

func init() {
	flag.Var(longTaskTimes, "task-time", "make these task methods run this long, with progress, e.g. CloneVM_Task:5000 (milliseconds); CloneVM/RelocateVM/MigrateVM tasks can then be cancelled")
	interceptSOAP("Task", "CancelTask", cancelTask)
}

// isReplay: the request is a long task's method, run at its completion.
func isReplay(r *http.Request) bool {
	return r.Context().Value(replayKey{}) != nil
}

// longTask answers method with a running task and runs it when its time is up.
func (h *sdkHandler) longTask(w http.ResponseWriter, r *http.Request, body []byte, method *simulator.Method, d time.Duration) {
	if rec := h.probe(r, method.This); rec != nil {
		copyRecorded(w, rec)
		return
	}
	task := simulator.CreateTask(method.This, "longTask", nil)
	id := descriptionIDs[method.Name]
	if id == "" {
		id = strings.TrimSuffix(method.Name, "_Task")
		id = strings.ToLower(id[:1]) + id[1:]
	}
	name := method.This.Value
	if e, ok := simulator.Map.Get(method.This).(mo.Entity); ok {
		name = e.Entity().Name
	}
	cancel := make(chan struct{})
	runningTasks.Lock()
	runningTasks.m[task.Self.Value] = cancel
	runningTasks.Unlock()
	simulator.Map.Update(task, []types.PropertyChange{
		{Name: "info.name", Val: method.Name},
		{Name: "info.descriptionId", Val: method.This.Type + "." + id},
		{Name: "info.entityName", Val: name},
		{Name: "info.cancelable", Val: cancelableMethods[method.Name]},
		{Name: "info.state", Val: types.TaskInfoStateRunning},
		{Name: "info.startTime", Val: time.Now()},
		{Name: "info.progress", Val: int32(0)},
	})

	replay := r.Clone(context.WithValue(context.Background(), replayKey{}, true))
	go h.runLongTask(task, cancel, replay, body, d)

	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fmt.Fprintf(w, `%s<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><%sResponse xmlns="urn:vim25"><returnval type="Task">%s</returnval></%sResponse></soapenv:Body></soapenv:Envelope>`,
		xml.Header, method.Name, task.Self.Value, method.Name)
}

func (h *sdkHandler) runLongTask(task *simulator.Task, cancel chan struct{}, replay *http.Request, body []byte, d time.Duration) {
	const steps = 20
	tick := time.NewTicker(d / steps)
	defer tick.Stop()
	for step := 1; step < steps; step++ {
		select {
		case <-cancel:
			finishTask(task, nil, canceled())
			return
		case <-tick.C:
			simulator.Map.Update(task, []types.PropertyChange{{Name: "info.progress", Val: int32(step * 100 / steps)}})
		}
	}
	// The last step: the work itself, unless cancelled by then.
	select {
	case <-cancel:
		finishTask(task, nil, canceled())
		return
	case <-tick.C:
	}
	runningTasks.Lock()
	select {
	case <-cancel:
		runningTasks.Unlock()
		finishTask(task, nil, canceled())
		return
	default:
		delete(runningTasks.m, task.Self.Value)
	}
	runningTasks.Unlock()
	replay.Body = ioutil.NopCloser(bytes.NewReader(body))
	replay.ContentLength = int64(len(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, replay)
	result, fault := replayOutcome(rec)
	finishTask(task, result, fault)
}

// replayOutcome: the result or fault of the method's own task (then forgotten:
// the long task stands for it), or the fault the method answered.
func replayOutcome(rec *httptest.ResponseRecorder) (types.AnyType, *types.LocalizedMethodFault) {
	if rec.Code != http.StatusOK {
		return nil, decodeFault(rec.Body.Bytes())
	}
	m := regexp.MustCompile(`<returnval type="Task">([^<]+)</returnval>`).FindSubmatch(rec.Body.Bytes())
	if m == nil {
		return nil, nil
	}
	ref := types.ManagedObjectReference{Type: "Task", Value: string(m[1])}
	inner, ok := simulator.Map.Get(ref).(*simulator.Task)
	if !ok {
		return nil, nil
	}
	forgetTask(ref)
	if inner.Info.Error != nil {
		return nil, inner.Info.Error
	}
	return inner.Info.Result, nil
}

// forgetTask removes a task from the registry and the TaskManager's recentTask.
func forgetTask(ref types.ManagedObjectReference) {
	si := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	if si.Content.TaskManager != nil {
		if tm, ok := simulator.Map.Get(*si.Content.TaskManager).(*simulator.TaskManager); ok {
			tm.Lock()
			var recent []types.ManagedObjectReference
			for _, t := range tm.RecentTask {
				if t != ref {
					recent = append(recent, t)
				}
			}
			simulator.Map.Update(tm, []types.PropertyChange{{Name: "recentTask", Val: recent}})
			tm.Unlock()
		}
	}
	simulator.Map.Remove(ref)
}

// decodeFault reads a SOAP fault answer back into the fault it carries.
func decodeFault(body []byte) *types.LocalizedMethodFault {
	var env struct {
		Body struct {
			Fault struct {
				String string `xml:"faultstring"`
				Detail struct {
					Fault types.AnyType `xml:",any,typeattr"`
				} `xml:"detail"`
			} `xml:"Fault"`
		} `xml:"Body"`
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.TypeFunc = types.TypeFunc()
	fault, ok := types.BaseMethodFault(&types.SystemError{Reason: "the method failed"}), false
	if dec.Decode(&env) == nil && env.Body.Fault.Detail.Fault != nil {
		// The decoder gives a value; the fault interface is on its pointer.
		v := reflect.New(reflect.TypeOf(env.Body.Fault.Detail.Fault))
		v.Elem().Set(reflect.ValueOf(env.Body.Fault.Detail.Fault))
		fault, ok = v.Interface().(types.BaseMethodFault)
	}
	if !ok {
		fault = &types.SystemError{Reason: "the method failed"}
	}
	return &types.LocalizedMethodFault{Fault: fault, LocalizedMessage: env.Body.Fault.String}
}

// canceled: the fault a cancelled task ends with.
func canceled() *types.LocalizedMethodFault {
	return &types.LocalizedMethodFault{Fault: &types.RequestCanceled{}, LocalizedMessage: "The task was canceled by a user."}
}

func finishTask(task *simulator.Task, result types.AnyType, fault *types.LocalizedMethodFault) {
	state := types.TaskInfoStateSuccess
	changes := []types.PropertyChange{{Name: "info.completeTime", Val: time.Now()}}
	if fault != nil {
		state = types.TaskInfoStateError
		changes = append(changes, types.PropertyChange{Name: "info.error", Val: *fault})
	} else {
		changes = append(changes, types.PropertyChange{Name: "info.progress", Val: int32(100)})
		if result != nil {
			changes = append(changes, types.PropertyChange{Name: "info.result", Val: result})
		}
	}
	changes = append(changes, types.PropertyChange{Name: "info.state", Val: state})
	simulator.Map.Update(task, changes)
}

func cancelTask(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.CancelTask)
	body := &methods.CancelTaskBody{}
	task, ok := simulator.Map.Get(req.This).(*simulator.Task)
	if !ok {
		body.Fault_ = soapFaultf(&types.ManagedObjectNotFound{Obj: req.This}, "managed object not found: %s", req.This)
		return body
	}
	runningTasks.Lock()
	defer runningTasks.Unlock()
	cancel, running := runningTasks.m[req.This.Value]
	switch {
	case !running || task.Info.Cancelled:
		// Finished, or its cancel already asked for (it ends within one step).
		body.Fault_ = soapFaultf(&types.InvalidState{}, "The task has already completed or been canceled.")
	case !task.Info.Cancelable:
		body.Fault_ = soapFaultf(&types.NotSupported{}, "The operation is not supported on the object.")
	default:
		simulator.Map.Update(task, []types.PropertyChange{{Name: "info.cancelled", Val: true}})
		close(cancel)
		body.Res = &types.CancelTaskResponse{}
	}
	return body
}
