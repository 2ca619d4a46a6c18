package main

import "sync"

// metricsRecorder collects what the adaptation reports through its metrics
// and deprecation hooks (NRI v0.12.0+; empty on older releases).
type metricsRecorder struct {
	mu           sync.Mutex
	used         bool
	pluginCount  int
	invocations  map[string]int
	errors       map[string]int
	deprecations []string
}

func newMetricsRecorder() *metricsRecorder {
	m := &metricsRecorder{}
	m.reset()
	return m
}

func (m *metricsRecorder) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pluginCount = 0
	m.invocations = map[string]int{}
	m.errors = map[string]int{}
	m.deprecations = []string{}
}

// view returns the JSON form, or nil when the NRI release has no metrics.
func (m *metricsRecorder) view() map[string]interface{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.used {
		return nil
	}
	return map[string]interface{}{
		"pluginCount": m.pluginCount, "invocations": copyCounts(m.invocations),
		"errors": copyCounts(m.errors), "deprecations": append([]string{}, m.deprecations...),
	}
}

func copyCounts(in map[string]int) map[string]int {
	out := make(map[string]int, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// features lists the API differences compiled into this binary.
func features() map[string]bool {
	return map[string]bool{"podRPC": hasPodRPC, "blockPluginSync": hasBlockPluginSync}
}
