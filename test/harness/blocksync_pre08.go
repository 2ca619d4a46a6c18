//go:build nri_pre08

package main

import "github.com/containerd/nri/pkg/adaptation"

// hasBlockPluginSync: releases before NRI v0.8.0 lack BlockPluginSync.
const hasBlockPluginSync = false

func blockPluginSync(*adaptation.Adaptation) func() {
	return func() {}
}
