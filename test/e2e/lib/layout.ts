// Where everything lives under the run's temporary root. Every path containerd, runc, the
// snapshotter and the plugin are told about is one of these.
import { join } from "node:path";

export interface Layout {
  root: string;
  containerd: {
    config: string;
    root: string;
    state: string;
    temp: string;
    opt: string;
    certs: string;
    socket: string;
    ttrpcSocket: string;
  };
  runcRoot: string;
  cniBin: string;
  cniConf: string;
  cdiDir: string;
  nri: { socket: string; pluginDir: string; confDir: string };
  snapshotter: {
    config: string;
    root: string;
    socket: string;
    systemSocket: string;
    /** Where nydus-snapshotter writes its own log when not logging to stdout. */
    log: string;
  };
  plugin: { conf: string; log: string };
  logs: string;
  images: string;
  /** Upper and work folders of the overlays that guard the host's fixed folders. */
  guards: string;
  /** Folders bind-mounted over the fixed paths containerd and friends default to. */
  fixed: string;
}

export function layoutUnder(root: string): Layout {
  const at = (...parts: string[]) => join(root, ...parts);
  const snapshotterRoot = at("nydus", "root");
  return {
    root,
    containerd: {
      config: at("containerd", "config.toml"),
      root: at("containerd", "root"),
      state: at("containerd", "state"),
      temp: at("containerd", "tmp"),
      opt: at("containerd", "opt"),
      certs: at("containerd", "certs.d"),
      socket: at("containerd", "containerd.sock"),
      ttrpcSocket: at("containerd", "containerd.sock.ttrpc"),
    },
    runcRoot: at("runc"),
    cniBin: at("cni", "bin"),
    cniConf: at("cni", "net.d"),
    cdiDir: at("cdi"),
    nri: {
      socket: at("nri", "nri.sock"),
      pluginDir: at("nri", "plugins"),
      confDir: at("nri", "conf.d"),
    },
    snapshotter: {
      config: at("nydus", "config.toml"),
      root: snapshotterRoot,
      socket: at("nydus", "grpc.sock"),
      systemSocket: at("nydus", "system.sock"),
      log: join(snapshotterRoot, "logs", "nydus-snapshotter.log"),
    },
    plugin: { conf: at("nri", "prefetchfiles-nri-plugin.conf"), log: at("plugin.log") },
    logs: at("logs"),
    images: at("images"),
    guards: at("guards"),
    fixed: at("fixed"),
  };
}
