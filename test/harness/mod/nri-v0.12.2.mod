// NRI v0.12.2 stands for containerd main.
// ttrpc pin v1.2.9: what containerd v2.4.0-beta.0 requires in its go.mod; the
// proxy does not serve containerd main, which pins the same ttrpc.
module prefetchfiles-nri-plugin/test/harness

go 1.25.0

require (
	github.com/containerd/nri v0.12.2
	google.golang.org/grpc v1.81.1
)

require (
	github.com/containerd/log v0.1.0 // indirect
	github.com/containerd/ttrpc v1.2.9 // indirect
	github.com/knqyf263/go-plugin v0.9.0 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/opencontainers/runtime-spec v1.3.0 // indirect
	github.com/sirupsen/logrus v1.9.3 // indirect
	github.com/tetratelabs/wazero v1.11.0 // indirect
	go.yaml.in/yaml/v3 v3.0.4 // indirect
	golang.org/x/mod v0.32.0 // indirect
	golang.org/x/sys v0.46.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260226221140-a57be14db171 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
