// Command harness plays the containerd side of NRI for tests: it embeds
// github.com/containerd/nri/pkg/adaptation and is driven by JSON lines on
// stdin, answering each command with one JSON line on stdout.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	nrilog "github.com/containerd/nri/pkg/log"
)

// options holds the command line flags of one harness process.
type options struct {
	pluginDir      string
	confDir        string
	socket         string
	regTimeout     time.Duration
	reqTimeout     time.Duration
	noConnections  bool
	runtimeName    string
	runtimeVersion string
}

func parseFlags() *options {
	o := &options{}
	flag.StringVar(&o.pluginDir, "plugin-dir", "", "directory of pre-launched plugins")
	flag.StringVar(&o.confDir, "conf-dir", "", "directory of plugin drop-in configs")
	flag.StringVar(&o.socket, "socket", "", "listening socket for external plugins")
	flag.DurationVar(&o.regTimeout, "registration-timeout", 5*time.Second,
		"plugin registration timeout")
	flag.DurationVar(&o.reqTimeout, "request-timeout", 2*time.Second,
		"plugin request timeout")
	flag.BoolVar(&o.noConnections, "disable-connections", false,
		"do not listen for external plugins")
	flag.StringVar(&o.runtimeName, "runtime-name", "containerd", "runtime name")
	flag.StringVar(&o.runtimeVersion, "runtime-version", defaultRuntimeVersion,
		"runtime version sent in Configure")
	flag.Parse()
	return o
}

func (o *options) validate() error {
	if o.pluginDir == "" || o.confDir == "" {
		return fmt.Errorf("-plugin-dir and -conf-dir are required")
	}
	if o.socket == "" && !o.noConnections {
		return fmt.Errorf("-socket is required unless -disable-connections is set")
	}
	return nil
}

func main() {
	o := parseFlags()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(2)
	}
	logs := newLogStore(os.Stderr)
	nrilog.Set(logs)
	adaptation.SetPluginRegistrationTimeout(o.regTimeout)
	adaptation.SetPluginRequestTimeout(o.reqTimeout)
	h := newHarness(o, logs)
	h.serve(os.Stdin, os.Stdout)
	h.stop(false)
}
