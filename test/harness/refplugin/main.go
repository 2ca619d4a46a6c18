// Command refplugin is a reference NRI plugin built on
// github.com/containerd/nri/pkg/stub. It subscribes to RunPodSandbox and
// appends one JSON line per event to a file. With noop set it only answers.
//
// Settings come from flags (external mode) and, for pre-launched mode, where
// the runtime passes no arguments, from the drop-in config text: one
// key=value per line with the keys out, noop, delay, fail.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/containerd/nri/pkg/stub"
)

func main() {
	s, ident := parseFlags()
	p := &plugin{settings: s}
	opts := []stub.Option{stub.WithOnClose(p.closed)}
	if ident.name != "" {
		opts = append(opts, stub.WithPluginName(ident.name))
	}
	if ident.idx != "" {
		opts = append(opts, stub.WithPluginIdx(ident.idx))
	}
	if ident.socket != "" {
		opts = append(opts, stub.WithSocketPath(ident.socket))
	}
	st, err := stub.New(handlers(p), opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "refplugin:", err)
		os.Exit(1)
	}
	if err := st.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "refplugin:", err)
		os.Exit(1)
	}
}

// identity is how an external plugin names itself and finds the runtime.
type identity struct {
	name, idx, socket string
}

func parseFlags() (settings, identity) {
	var s settings
	var id identity
	flag.StringVar(&s.out, "out", "", "append one JSON line per event to this file")
	flag.BoolVar(&s.noop, "noop", false, "answer events without doing anything")
	flag.DurationVar(&s.delay, "delay", 0, "sleep this long in RunPodSandbox")
	flag.StringVar(&s.fail, "fail", "", "fail RunPodSandbox with this error text")
	flag.StringVar(&id.name, "name", "", "plugin name (external mode)")
	flag.StringVar(&id.idx, "idx", "", "plugin index (external mode)")
	flag.StringVar(&id.socket, "socket", "", "runtime socket (external mode)")
	flag.Parse()
	return s, id
}
