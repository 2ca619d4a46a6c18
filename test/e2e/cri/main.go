// Command cri is the small CRI client the end-to-end test drives containerd with.
// It speaks only to the endpoint given on the command line; there is no default,
// so it can never reach a machine's real containerd by accident.
//
// Usage:
//
//	cri --endpoint unix:///tmp/x/containerd.sock runp [--host-network] [--cgroup-parent P] pod.yaml
//	cri --endpoint ... stopp <sandbox-id>
//	cri --endpoint ... rmp <sandbox-id>
//	cri --endpoint ... pods
//	cri --endpoint ... image <reference>
//
// Every command prints one JSON document on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
	"sigs.k8s.io/yaml"
)

type client struct {
	runtime runtime.RuntimeServiceClient
	images  runtime.ImageServiceClient
}

// podView is what `runp` and `pods` print for one sandbox.
type podView struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	UID         string            `json:"uid"`
	State       string            `json:"state,omitempty"`
	Annotations map[string]string `json:"annotations"`
}

// imageView is what `image` prints.
type imageView struct {
	Present  bool     `json:"present"`
	ID       string   `json:"id,omitempty"`
	RepoTags []string `json:"repo_tags,omitempty"`
}

func main() {
	endpoint := flag.String("endpoint", "", "CRI endpoint, unix:///absolute/path (required)")
	timeout := flag.Duration("timeout", 60*time.Second, "deadline for the whole command")
	flag.Parse()
	if err := run(*endpoint, *timeout, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "cri:", err)
		os.Exit(1)
	}
}

func run(endpoint string, timeout time.Duration, args []string) error {
	if endpoint == "" {
		return errors.New("--endpoint is required")
	}
	if len(args) == 0 {
		return errors.New("missing command: runp, stopp, rmp, pods or image")
	}
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect %s: %w", endpoint, err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := client{runtime.NewRuntimeServiceClient(conn), runtime.NewImageServiceClient(conn)}
	result, err := c.dispatch(ctx, args[0], args[1:])
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(result)
}

func (c client) dispatch(ctx context.Context, command string, args []string) (any, error) {
	needOne := func() (string, error) {
		if len(args) != 1 {
			return "", fmt.Errorf("%s takes exactly one argument", command)
		}
		return args[0], nil
	}
	switch command {
	case "pods":
		return c.listPods(ctx)
	case "runp":
		return c.runPod(ctx, args)
	case "stopp", "rmp", "image":
		arg, err := needOne()
		if err != nil {
			return nil, err
		}
		return c.single(ctx, command, arg)
	}
	return nil, fmt.Errorf("unknown command %q", command)
}

func (c client) single(ctx context.Context, command, arg string) (any, error) {
	switch command {
	case "stopp":
		_, err := c.runtime.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: arg})
		return map[string]string{"stopped": arg}, err
	case "rmp":
		_, err := c.runtime.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: arg})
		return map[string]string{"removed": arg}, err
	default:
		return c.imageStatus(ctx, arg)
	}
}

// loadPodConfig reads a crictl-style pod config. YAML is turned into JSON first, so the
// field names are the CRI message's JSON names (log_directory, annotations, ...), and
// unknown top-level keys such as `kind` are ignored, as crictl does.
func loadPodConfig(path string) (*runtime.PodSandboxConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	asJSON, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var config runtime.PodSandboxConfig
	if err := json.Unmarshal(asJSON, &config); err != nil {
		return nil, fmt.Errorf("decode %s as a pod sandbox config: %w", path, err)
	}
	if config.Metadata == nil {
		return nil, fmt.Errorf("%s has no metadata", path)
	}
	return &config, nil
}

// runPod starts the sandbox and prints the annotations exactly as they were sent, so the
// caller can check them byte for byte against what the YAML should yield.
// --host-network puts the pod in the node's network namespace, so no CNI is needed, and
// --cgroup-parent sets the cgroup the pod goes under (as kubelet always does), while the
// config file itself stays as documented.
func (c client) runPod(ctx context.Context, args []string) (any, error) {
	flags := flag.NewFlagSet("runp", flag.ContinueOnError)
	hostNetwork := flags.Bool("host-network", false, "run the pod in the node's network")
	cgroupParent := flags.String("cgroup-parent", "", "cgroup parent of the pod")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	if flags.NArg() != 1 {
		return nil, errors.New("runp takes exactly one pod config file")
	}
	config, err := loadPodConfig(flags.Arg(0))
	if err != nil {
		return nil, err
	}
	if *hostNetwork {
		useHostNetwork(config)
	}
	if *cgroupParent != "" {
		linuxConfig(config).CgroupParent = *cgroupParent
	}
	resp, err := c.runtime.RunPodSandbox(ctx, &runtime.RunPodSandboxRequest{Config: config})
	if err != nil {
		return nil, fmt.Errorf("RunPodSandbox %s/%s: %w",
			config.Metadata.Namespace, config.Metadata.Name, err)
	}
	return podView{
		ID:          resp.PodSandboxId,
		Name:        config.Metadata.Name,
		Namespace:   config.Metadata.Namespace,
		UID:         config.Metadata.Uid,
		Annotations: config.Annotations,
	}, nil
}

func linuxConfig(config *runtime.PodSandboxConfig) *runtime.LinuxPodSandboxConfig {
	if config.Linux == nil {
		config.Linux = &runtime.LinuxPodSandboxConfig{}
	}
	return config.Linux
}

func useHostNetwork(config *runtime.PodSandboxConfig) {
	linux := linuxConfig(config)
	if linux.SecurityContext == nil {
		linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{}
	}
	if linux.SecurityContext.NamespaceOptions == nil {
		linux.SecurityContext.NamespaceOptions = &runtime.NamespaceOption{}
	}
	linux.SecurityContext.NamespaceOptions.Network = runtime.NamespaceMode_NODE
}

func (c client) listPods(ctx context.Context) (any, error) {
	resp, err := c.runtime.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{})
	if err != nil {
		return nil, fmt.Errorf("ListPodSandbox: %w", err)
	}
	pods := make([]podView, 0, len(resp.Items))
	for _, item := range resp.Items {
		pods = append(pods, podView{
			ID:          item.Id,
			Name:        item.GetMetadata().GetName(),
			Namespace:   item.GetMetadata().GetNamespace(),
			UID:         item.GetMetadata().GetUid(),
			State:       item.State.String(),
			Annotations: item.Annotations,
		})
	}
	return pods, nil
}

func (c client) imageStatus(ctx context.Context, ref string) (any, error) {
	resp, err := c.images.ImageStatus(ctx, &runtime.ImageStatusRequest{
		Image: &runtime.ImageSpec{Image: ref},
	})
	if err != nil {
		return nil, fmt.Errorf("ImageStatus %s: %w", ref, err)
	}
	if resp.Image == nil {
		return imageView{}, nil
	}
	return imageView{Present: true, ID: resp.Image.Id, RepoTags: resp.Image.RepoTags}, nil
}
