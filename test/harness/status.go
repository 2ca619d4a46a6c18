package main

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"time"
)

// status reports everything known about the adaptation and its plugins.
func (h *harness) status(c *command) reply {
	lines := c.Lines
	if lines <= 0 {
		lines = 50
	}
	h.mu.Lock()
	syncs := append([]syncRecord{}, h.syncs...)
	starts := h.starts
	h.mu.Unlock()
	r := reply{"ok": true, "started": false, "starts": starts, "syncs": syncs,
		"plugins": []pluginInfo{}, "active": 0}
	if nri := h.current(); nri != nil {
		r["started"] = true
		if list, ok := listPlugins(nri, 500*time.Millisecond); ok {
			r["plugins"], r["active"] = list, activeCount(list)
		} else {
			r["busy"] = true
		}
	}
	r["log"] = h.track.view()
	if m := h.metrics.view(); m != nil {
		r["metrics"] = m
	}
	r["logCount"] = h.logs.nextSeq()
	r["logs"] = h.logs.tail(lines)
	return r
}

// logLines returns captured NRI log lines, optionally from a sequence number.
func (h *harness) logLines(c *command) reply {
	lines, next := h.logs.since(c.Since)
	if c.Pattern != "" {
		re, err := regexp.Compile(c.Pattern)
		if err != nil {
			return fail(err)
		}
		lines = filterLines(lines, re)
	}
	return reply{"ok": true, "lines": lines, "next": next}
}

func filterLines(lines []logEntry, re *regexp.Regexp) []logEntry {
	out := []logEntry{}
	for _, l := range lines {
		if re.MatchString(l.Msg) {
			out = append(out, l)
		}
	}
	return out
}

// waitLog waits for an NRI log line matching pattern (sequence >= since).
func (h *harness) waitLog(c *command) reply {
	re, err := regexp.Compile(c.Pattern)
	if err != nil {
		return fail(err)
	}
	e := h.logs.waitMatch(re, c.Since, time.Now().Add(c.timeout(10*time.Second)))
	if e == nil {
		return fail(fmt.Errorf("no log line matching %q", c.Pattern))
	}
	return reply{"ok": true, "line": e}
}

// version reports the module versions this binary was built with.
func (h *harness) version() reply {
	r := reply{"ok": true, "go": runtime.Version(), "features": features(),
		"runtimeName": h.opts.runtimeName, "runtimeVersion": h.opts.runtimeVersion}
	r["nri"], r["ttrpc"] = depVersion(nriModule), depVersion(ttrpcModule)
	return r
}

const (
	nriModule   = "github.com/containerd/nri"
	ttrpcModule = "github.com/containerd/ttrpc"
)

// depVersion returns the version of a module dependency linked in.
func depVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range info.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}

// defaultRuntimeVersion is the containerd release this NRI build stands for.
var defaultRuntimeVersion = runtimeVersionFor(depVersion(nriModule))

// runtimeVersionFor maps an NRI release to the newest containerd release
// that ships it.
func runtimeVersionFor(nri string) string {
	switch nri {
	case "v0.3.0":
		return "v1.7.6"
	case "v0.4.0":
		return "v1.7.13"
	case "v0.6.0":
		return "v1.7.15"
	case "v0.6.1":
		return "v1.7.25"
	case "v0.8.0":
		return "v2.1.9"
	case "v0.10.0":
		return "v2.2.0"
	case "v0.11.0":
		return "v2.2.7"
	case "v0.12.0":
		return "v2.3.4"
	case "v0.12.1":
		return "v2.4.0-beta.0"
	}
	return "v2.4.0-dev"
}
