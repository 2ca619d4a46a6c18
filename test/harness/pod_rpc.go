//go:build !nri_pre012

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
)

// hasPodRPC: NRI v0.12.0+ delivers RunPodSandbox through its own RPC, falling
// back to StateChange for plugins that answer Unimplemented.
const hasPodRPC = true

// runPodSandbox calls the adaptation the way containerd 2.3+ does.
func runPodSandbox(ctx context.Context, r *adaptation.Adaptation,
	pod *adaptation.PodSandbox) error {
	return r.RunPodSandbox(ctx, &adaptation.RunPodSandboxRequest{Pod: pod})
}

// versionOptions installs the metrics and deprecation hooks.
func versionOptions(h *harness) []adaptation.Option {
	h.metrics.mu.Lock()
	h.metrics.used = true
	h.metrics.mu.Unlock()
	return []adaptation.Option{
		adaptation.WithMetrics(h.metrics),
		adaptation.WithDeprecationRecorder(&deprecationLogger{h}),
	}
}

// RecordPluginInvocation implements adaptation.Metrics.
func (m *metricsRecorder) RecordPluginInvocation(plugin, op string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.invocations[plugin+"/"+op]++
	if err != nil {
		m.errors[plugin+"/"+op]++
	}
}

// RecordPluginLatency implements adaptation.Metrics.
func (m *metricsRecorder) RecordPluginLatency(string, string, time.Duration) {}

// RecordPluginAdjustments implements adaptation.Metrics.
func (m *metricsRecorder) RecordPluginAdjustments(string, string,
	*adaptation.ContainerAdjustment, int, int) {
}

// UpdatePluginCount implements adaptation.Metrics.
func (m *metricsRecorder) UpdatePluginCount(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pluginCount = n
}

// deprecationLogger records deprecation warnings and logs them like NRI
// does when no recorder is installed.
type deprecationLogger struct{ h *harness }

// PluginWarning implements adaptation.DeprecationRecorder.
func (d *deprecationLogger) PluginWarning(ctx context.Context, dep adaptation.Deprecation,
	plugin, details string) {
	msg := fmt.Sprintf("plugin %s: %s: %s", plugin, dep, details)
	m := d.h.metrics
	m.mu.Lock()
	m.deprecations = append(m.deprecations, msg)
	m.mu.Unlock()
	d.h.logs.Warnf(ctx, "plugin %s uses deprecated StateChange (%s)", plugin, details)
}
