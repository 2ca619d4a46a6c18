package main

import (
	"io"
	"reflect"
	"time"
	"unsafe"

	"github.com/containerd/nri/pkg/adaptation"
)

// pluginInfo describes one plugin in the adaptation's active plugin list.
type pluginInfo struct {
	Name   string `json:"name"`
	Idx    string `json:"idx"`
	Pid    int    `json:"pid"`
	Events int64  `json:"events"`
	Closed bool   `json:"closed"`
}

// listPlugins reads the adaptation's unexported plugin list. The layout
// (Adaptation.plugins []*plugin; plugin.{idx,base,pid,events,closed}) is the
// same in every NRI release from v0.3.0 to v0.12.2. Plugins enter the list
// once registered, configured and (for external ones) synchronized, and
// leave it on the next event after they were closed. ok is false when the
// adaptation stayed busy (locked) for too long.
func listPlugins(r *adaptation.Adaptation, wait time.Duration) ([]pluginInfo, bool) {
	if !lockWithin(r, wait) {
		return nil, false
	}
	defer r.Unlock()
	list := reflect.ValueOf(r).Elem().FieldByName("plugins")
	out := make([]pluginInfo, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		out = append(out, describePlugin(list.Index(i).Elem()))
	}
	return out, true
}

func describePlugin(p reflect.Value) pluginInfo {
	info := pluginInfo{
		Idx:    stringField(p, "idx"),
		Pid:    launchedPid(p),
		Events: intField(p, "events"),
	}
	if info.Pid == 0 {
		// Peer credentials of the connection: right for external plugins
		// only, a socketpair reports the runtime's own pid.
		info.Pid = int(intField(p, "pid"))
	}
	info.Name = info.Idx + "-" + stringField(p, "base")
	// Racy read without the plugin's own lock; good enough for reporting.
	if f := p.FieldByName("closed"); f.IsValid() {
		info.Closed = f.Bool()
	}
	return info
}

// launchedPid returns the pid of a launched plugin's process (plugin.cmd).
func launchedPid(p reflect.Value) int {
	cmd := p.FieldByName("cmd")
	if !cmd.IsValid() || cmd.Kind() != reflect.Pointer || cmd.IsNil() {
		return 0
	}
	proc := cmd.Elem().FieldByName("Process")
	if !proc.IsValid() || proc.IsNil() {
		return 0
	}
	return int(proc.Elem().FieldByName("Pid").Int())
}

// closeConnections closes every listed plugin's connection (plugin.mux), as
// the runtime process going away would. Stop() alone leaves external
// plugins connected. It returns the names of the plugins it closed.
func closeConnections(r *adaptation.Adaptation, wait time.Duration) []string {
	if !lockWithin(r, wait) {
		return nil
	}
	defer r.Unlock()
	list := reflect.ValueOf(r).Elem().FieldByName("plugins")
	var names []string
	for i := 0; i < list.Len(); i++ {
		p := list.Index(i).Elem()
		f := p.FieldByName("mux")
		if !f.IsValid() || f.IsNil() {
			continue
		}
		mux := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
		if c, ok := mux.Interface().(io.Closer); ok {
			_ = c.Close()
			names = append(names, describePlugin(p).Name)
		}
	}
	return names
}

func stringField(v reflect.Value, name string) string {
	if f := v.FieldByName(name); f.IsValid() && f.Kind() == reflect.String {
		return f.String()
	}
	return ""
}

func intField(v reflect.Value, name string) int64 {
	if f := v.FieldByName(name); f.IsValid() && f.CanInt() {
		return f.Int()
	}
	return 0
}

// lockWithin takes the adaptation lock, polling until wait has passed.
func lockWithin(r *adaptation.Adaptation, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for !r.TryLock() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// activeCount counts listed plugins that are not closed.
func activeCount(list []pluginInfo) int {
	n := 0
	for _, p := range list {
		if !p.Closed {
			n++
		}
	}
	return n
}
