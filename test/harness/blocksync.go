//go:build !nri_pre08

package main

import "github.com/containerd/nri/pkg/adaptation"

// hasBlockPluginSync: NRI v0.8.0+ can hold off external plugin sync.
const hasBlockPluginSync = true

// blockPluginSync holds off plugin sync for the duration of an event.
func blockPluginSync(r *adaptation.Adaptation) func() {
	b := r.BlockPluginSync()
	return b.Unblock
}
