/** The text files that go into each release tarball beside the executable. */

export const EXECUTABLE = "prefetchfiles-nri-plugin";
export const CONF = "03-prefetchfiles-nri-plugin.conf";
export const INSTALL = "INSTALL.txt";

/**
 * The sample .conf: the one key of the nydus documentation's .conf, then every
 * optional key of the README's table, commented out. Each commented key line
 * is valid TOML once its leading "# " is removed.
 */
export function sampleConf(version: string): string {
  return `# prefetchfiles-nri-plugin ${version}
# Install as /etc/nri/conf.d/${CONF}; containerd passes this text to the
# plugin when it launches /opt/nri/plugins/03-prefetchfiles-nri-plugin.
# Flat TOML. Every key is optional.

# nydus-snapshotter's system socket (the key the nydus documentation's .conf sets)
socket_address = "/run/containerd-nydus/system.sock"

# Optional keys, at their defaults unless a comment says otherwise (then the
# value is an example); remove the leading "# " to set one.
# log_level = "info"                      # debug, info, warn or error
# log_file = "/var/log/nri/prefetchfiles-nri-plugin.log"  # default: none; log here as well
# syslog_socket = "/dev/log"              # syslog when launched by containerd; "" turns it off
# fail_pod_on_error = false               # true: fail the pod when delivery fails or the
#                                         # annotation is invalid (the Go plugin's behaviour)
# normalize_image_references = true       # rewrite "nginx" to "docker.io/library/nginx:latest"
# retry_window = "10s"                    # how long a request that missed its pod's deadline is retried
# queue_max_requests = 1000               # bounds of the retry queue
# queue_max_bytes = 67108864              # 64 MiB
# allowed_namespaces = ["default"]        # default: all; pods of other namespaces are skipped
# allowed_prefetch_prefixes = ["/etc/nydus/prefetch/"]  # default: all
# allowed_url_schemes = ["https"]         # default: all; for prefetch values that are URLs
# max_annotation_bytes = 262144           # Kubernetes' own annotation limit
`;
}

export interface InstallFacts {
  version: string;
  arch: string;
  /** e.g. "x86-64 CPUs without AVX2". */
  cpu: string;
  glibc: string | undefined;
}

/** INSTALL.txt: where the files go, the containerd lines, the snapshotter switch, never strip. */
export function installText(facts: InstallFacts): string {
  const glibc = facts.glibc ? `, glibc ${facts.glibc} or newer` : "";
  return `prefetchfiles-nri-plugin ${facts.version} for linux-${facts.arch} (${facts.cpu}${glibc})

Check the files:  sha256sum -c SHA256SUMS

1. Install the executable and its .conf, as root (containerd needs the "03-"):

     install -m 0755 ${EXECUTABLE} /opt/nri/plugins/03-prefetchfiles-nri-plugin
     install -m 0644 ${CONF} /etc/nri/conf.d/${CONF}

   (or "./${EXECUTABLE} install", which copies itself there and writes a
   .conf with socket_address only, keeping one that exists). Check a .conf
   with "prefetchfiles-nri-plugin check --conf FILE".

   Never strip the executable (no strip, install -s, dh_strip or rpm's
   brp-strip): the program lives in sections that strip removes, and a
   stripped file runs as a bare Bun runtime instead of the plugin.

2. Enable NRI in containerd's config (on by default from containerd 2.0,
   off in 1.7), then restart containerd:

     [plugins."io.containerd.nri.v1.nri"]
       disable = false
       plugin_path = "/opt/nri/plugins"
       plugin_config_path = "/etc/nri/conf.d"
       socket_path = "/var/run/nri/nri.sock"

3. nydus-snapshotter must run its system controller (off by default); in
   its TOML:

     [system]
       enable = true

Check:  /opt/nri/plugins/03-prefetchfiles-nri-plugin --version
Logs:   syslog (tag prefetch-nri-plugin) and the .conf's log_file; with
        neither, /var/log/prefetchfiles-nri-plugin.log
Nothing is downloaded at run time. Licences of everything embedded: LICENSES/
`;
}
