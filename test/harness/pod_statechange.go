//go:build nri_pre012

package main

import (
	"context"

	"github.com/containerd/nri/pkg/adaptation"
)

// hasPodRPC: before NRI v0.12.0, pod events reach plugins only as StateChange.
const hasPodRPC = false

// runPodSandbox calls the adaptation the way containerd 1.7-2.2 does.
func runPodSandbox(ctx context.Context, r *adaptation.Adaptation,
	pod *adaptation.PodSandbox) error {
	return r.RunPodSandbox(ctx, &adaptation.StateChangeEvent{Pod: pod})
}

// versionOptions: these releases have no metrics or deprecation hooks.
func versionOptions(*harness) []adaptation.Option {
	return nil
}
