// The configuration files of the run: containerd's, nydus-snapshotter's and the plugin's.
// Every path in them points under the run's temporary root.
import type { Layout } from "./layout.ts";

/** TOML basic string; JSON string escapes are valid TOML for the paths used here. */
const q = (value: string) => JSON.stringify(value);

export interface ContainerdOptions {
  /** 3 for containerd 2.x (2.3 still reads it and migrates it), 2 for 1.7. */
  configVersion: 2 | 3;
  sandboxImage: string;
  runc: string;
  /** false lets plugins started by hand connect to the NRI socket (external mode). */
  disableConnections: boolean;
}

/** containerd's configuration in the format its release reads. */
export function containerdConfig(layout: Layout, options: ContainerdOptions): string {
  const cri = options.configVersion === 3 ? criSectionsV3 : criSectionsV2;
  return `${commonSections(layout, options)}\n${cri(layout, options)}`;
}

/** Sections that read the same in config versions 2 and 3. */
function commonSections(layout: Layout, options: ContainerdOptions): string {
  const { containerd: c, nri } = layout;
  return `version = ${options.configVersion}
root = ${q(c.root)}
state = ${q(c.state)}
temp = ${q(c.temp)}
imports = []

[grpc]
  address = ${q(c.socket)}

[ttrpc]
  address = ${q(c.ttrpcSocket)}

[debug]
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(c.opt)}

[plugins."io.containerd.nri.v1.nri"]
  disable = false
  disable_connections = ${options.disableConnections}
  plugin_path = ${q(nri.pluginDir)}
  plugin_config_path = ${q(nri.confDir)}
  socket_path = ${q(nri.socket)}
  plugin_registration_timeout = "5s"
  plugin_request_timeout = "2s"
`;
}

// The sandbox asks for oom_score_adj -998, which needs CAP_SYS_RESOURCE; CI's root may lack
// it. restrict_oom_score_adj keeps the score at containerd's own instead of failing the pod.

/** CRI in 2.x: split into image and runtime plugins. */
function criSectionsV3(layout: Layout, options: ContainerdOptions): string {
  const c = layout.containerd;
  return `[plugins."io.containerd.image-verifier.v1.bindir"]
  bin_dir = ${q(`${c.opt}/image-verifier/bin`)}

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = ${q(options.sandboxImage)}

[plugins."io.containerd.cri.v1.images".registry]
  config_path = ${q(c.certs)}

[plugins."io.containerd.cri.v1.runtime"]
  cdi_spec_dirs = [${q(layout.cdiDir)}]
  restrict_oom_score_adj = true

[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = [${q(layout.cniBin)}]
  conf_dir = ${q(layout.cniConf)}

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  BinaryName = ${q(options.runc)}
  Root = ${q(layout.runcRoot)}
  SystemdCgroup = false

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

/** CRI in 1.7: one plugin, io.containerd.grpc.v1.cri. */
function criSectionsV2(layout: Layout, options: ContainerdOptions): string {
  const cri = `plugins."io.containerd.grpc.v1.cri"`;
  return `[${cri}]
  sandbox_image = ${q(options.sandboxImage)}
  restrict_oom_score_adj = true
  cdi_spec_dirs = [${q(layout.cdiDir)}]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  BinaryName = ${q(options.runc)}
  Root = ${q(layout.runcRoot)}
  SystemdCgroup = false

[${cri}.cni]
  bin_dir = ${q(layout.cniBin)}
  conf_dir = ${q(layout.cniConf)}

[${cri}.registry]
  config_path = ${q(layout.containerd.certs)}
`;
}

/**
 * nydus-snapshotter with its system controller on and no nydusd: fs_driver "proxy" skips the
 * nydusd config and binary, which receiving prefetch lists does not need.
 */
export function snapshotterConfig(layout: Layout): string {
  const s = layout.snapshotter;
  return `version = 1
root = ${q(s.root)}
address = ${q(s.socket)}
daemon_mode = "dedicated"

[system]
  enable = true
  address = ${q(s.systemSocket)}

[daemon]
  fs_driver = "proxy"
  nydusd_path = ${q(`${layout.root}/nydus/no-nydusd`)}

[cgroup]
  enable = false

[log]
  level = "info"
  log_to_stdout = false
`;
}

/** The plugin's `.conf`, as NRI hands it over in Configure and as `--conf` reads it. */
export function pluginConf(layout: Layout): string {
  return `socket_address = ${q(layout.snapshotter.systemSocket)}
log_file = ${q(layout.plugin.log)}
log_level = "debug"
`;
}

/** nydus-snapshotter's own plugin reads only this fixed file (/etc/nydus/prefetchConfig.toml). */
export function upstreamPluginConfig(layout: Layout): string {
  return `[file_prefetch]
socket_address = ${q(layout.snapshotter.systemSocket)}
`;
}
