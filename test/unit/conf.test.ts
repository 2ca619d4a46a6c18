import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConf, readLogKeys } from "../../src/config/conf.ts";
import { parseDuration } from "../../src/config/duration.ts";
import { readLegacyConfig } from "../../src/config/legacy.ts";
import { resolveSettings } from "../../src/config/resolve.ts";
import { DEFAULT_SOCKET_ADDRESS, DEFAULTS } from "../../src/config/settings.ts";

const SOURCE = "/etc/nri/conf.d/03-prefetchfiles-nri-plugin.conf";

/** The .conf of the nydus documentation, byte for byte. */
const SAMPLE_CONF = "# UNIX domain socket address for connection to the nydus-snapshotter API\n" +
  'socket_address = "/run/containerd-nydus/system.sock"\n';

function confError(text: string): ConfigError {
  try {
    parseConf(text, SOURCE);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`${JSON.stringify(text)} was accepted`);
}

describe("readLogKeys (where to log a refused .conf)", () => {
  test("takes the valid log keys of a .conf that another key makes invalid", () => {
    const text = 'log_file = "/tmp/p.log"\nsyslog_socket = ""\nlog_level = "debug"\n' +
      "queue_max_requests = 0\n";
    expect(() => parseConf(text, "x.conf")).toThrow(ConfigError);
    expect(readLogKeys(text)).toEqual({ logFile: "/tmp/p.log", syslogSocket: "", logLevel: "debug" });
  });

  test("skips a log key that is bad itself, and everything in text that is not TOML", () => {
    expect(readLogKeys('log_file = "relative.log"\nlog_level = "DEBUG"\nsyslog_socket = ""\n'))
      .toEqual({ syslogSocket: "" });
    expect(readLogKeys('log_file = "/tmp/p.log"\nthis is not toml')).toEqual({});
  });
});

describe("parseConf", () => {
  test("socket_address must fit a Unix socket address (107 bytes)", () => {
    const fits = `/${"s".repeat(106)}`;
    expect(parseConf(`socket_address = "${fits}"\n`, "x.conf").conf.socketAddress).toBe(fits);
    expect(() => parseConf(`socket_address = "${fits}x"\n`, "x.conf"))
      .toThrow('key "socket_address" must be a socket path of at most 107 bytes');
  });

  test("an error quotes at most 200 characters of a huge bad value", () => {
    const list = Array.from({ length: 30_000 }, (_, i) => `ns${i}`);
    const text = `allowed_namespaces = ${JSON.stringify([...list, ""])}\n`;
    let message = "";
    try {
      parseConf(text, "x.conf");
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toStartWith('x.conf: key "allowed_namespaces" must be a list of non-empty strings');
    expect(message).toMatch(/… \(\d+ characters\)$/);
    expect(message.length).toBeLessThan(400);
  });

  test("reads the documentation's sample .conf", () => {
    expect(parseConf(SAMPLE_CONF, SOURCE))
      .toEqual({ conf: { socketAddress: "/run/containerd-nydus/system.sock" }, unknownKeys: [] });
  });

  test("an empty text sets nothing", () => {
    expect(parseConf("", SOURCE)).toEqual({ conf: {}, unknownKeys: [] });
  });

  test("reads every key with a good value", () => {
    const text = [
      'socket_address = "/tmp/snapshotter/system.sock"',
      'log_level = "debug"',
      'log_file = "/var/log/prefetch.log"',
      "fail_pod_on_error = true",
      "normalize_image_references = false",
      'retry_window = "1m30s"',
      "queue_max_requests = 50",
      "queue_max_bytes = 1048576",
      'allowed_namespaces = ["web", "batch"]',
      'allowed_prefetch_prefixes = ["/etc/nydus/prefetch/"]',
      'allowed_url_schemes = ["https", "s3+tls"]',
      "max_annotation_bytes = 4096",
    ].join("\n");
    expect(parseConf(text, SOURCE).conf).toEqual({
      socketAddress: "/tmp/snapshotter/system.sock",
      logLevel: "debug",
      logFile: "/var/log/prefetch.log",
      failPodOnError: true,
      normalizeImageReferences: false,
      retryWindowMs: 90_000,
      queueMaxRequests: 50,
      queueMaxBytes: 1_048_576,
      allowedNamespaces: ["web", "batch"],
      allowedPrefetchPrefixes: ["/etc/nydus/prefetch/"],
      allowedUrlSchemes: ["https", "s3+tls"],
      maxAnnotationBytes: 4096,
    });
  });

  const badValues: [key: string, value: string][] = [
    ["socket_address", '"run/system.sock"'],
    ["socket_address", "5"],
    ["log_level", '"verbose"'],
    ["log_file", '"prefetch.log"'],
    ["fail_pod_on_error", '"yes"'],
    ["normalize_image_references", "1"],
    ["retry_window", '"10"'],
    ["retry_window", "10"],
    ["queue_max_requests", "0"],
    ["queue_max_requests", "-1"],
    ["queue_max_bytes", "1.5"],
    ["queue_max_bytes", '"1024"'],
    ["allowed_namespaces", '"web"'],
    ["allowed_namespaces", '["web", ""]'],
    ["allowed_prefetch_prefixes", '["/a", 1]'],
    ["allowed_prefetch_prefixes", '["etc/nydus"]'],
    ["allowed_url_schemes", '["HTTPS"]'],
    ["allowed_url_schemes", '["https://"]'],
    ["max_annotation_bytes", "0"],
  ];
  for (const [key, value] of badValues) {
    test(`${key} = ${value} is a ConfigError naming the source and the key`, () => {
      const { message } = confError(`${key} = ${value}\n`);
      expect(message).toStartWith(`${SOURCE}: `);
      expect(message).toContain(`key "${key}"`);
    });
  }

  test("invalid TOML is a ConfigError naming the source, line and column", () => {
    expect(confError('socket_address = "/unterminated\n').message)
      .toMatch(new RegExp(`^${SOURCE.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:1:\\d+: not valid TOML`));
    expect(confError('log_level = "info"\nfail_pod_on_error = yes\n').message)
      .toContain(`${SOURCE}:2:`);
  });

  test("unknown keys are returned, not fatal", () => {
    const text = 'socket_address = "/s.sock"\nfuture_key = 1\n[extra]\na = 1\n';
    const parsed = parseConf(text, SOURCE);
    expect(parsed.conf).toEqual({ socketAddress: "/s.sock" });
    expect(parsed.unknownKeys).toEqual(["future_key", "extra"]);
  });
});

describe("parseDuration", () => {
  const good: [string, number][] = [
    ["500ms", 500],
    ["10s", 10_000],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["1m30s", 90_000],
    ["1h2m3s4ms", 3_723_004],
    ["0s", 0],
    [" 10s ", 10_000],
    ["1.5s", 1500],
    ["0.25m", 15_000],
  ];
  for (const [text, ms] of good) {
    test(`${JSON.stringify(text)} is ${ms} ms`, () => {
      expect(parseDuration(text)).toBe(ms);
    });
  }

  for (const text of ["", "10", "1.s", ".5s", "-1s", "10S", "10 s", "s", "10sx", "1d"]) {
    test(`${JSON.stringify(text)} is not a duration`, () => {
      expect(parseDuration(text)).toBeUndefined();
    });
  }
});

describe("resolveSettings", () => {
  test("with no source the socket is the default", () => {
    expect(resolveSettings({}, {}, {})).toMatchObject({
      socketAddress: DEFAULT_SOCKET_ADDRESS,
      socketSource: "default",
    });
  });

  test("the legacy file's socket wins over the default", () => {
    expect(resolveSettings({}, {}, { socketAddress: "/legacy.sock" }))
      .toMatchObject({ socketAddress: "/legacy.sock", socketSource: "legacy" });
  });

  test("the .conf socket wins over the legacy file", () => {
    expect(resolveSettings({}, { socketAddress: "/conf.sock" }, { socketAddress: "/legacy.sock" }))
      .toMatchObject({ socketAddress: "/conf.sock", socketSource: "conf" });
  });

  test("the flag's socket wins over the .conf and the legacy file", () => {
    const settings = resolveSettings(
      { socketAddress: "/flag.sock" },
      { socketAddress: "/conf.sock" },
      { socketAddress: "/legacy.sock" },
    );
    expect(settings).toMatchObject({ socketAddress: "/flag.sock", socketSource: "flag" });
  });

  test("the flag's log level wins over the .conf", () => {
    expect(resolveSettings({ logLevel: "warn" }, { logLevel: "debug" }, {}).logLevel).toBe("warn");
  });

  test("unset keys take the defaults", () => {
    const { socketAddress, socketSource, ...rest } = resolveSettings({}, {}, {});
    expect(rest).toEqual(DEFAULTS);
  });

  test(".conf values replace the defaults", () => {
    const settings = resolveSettings({}, {
      failPodOnError: true,
      retryWindowMs: 5,
      allowedNamespaces: ["web"],
      maxAnnotationBytes: 10,
    }, {});
    expect(settings).toMatchObject({
      failPodOnError: true,
      retryWindowMs: 5,
      policy: { allowedNamespaces: ["web"], maxAnnotationBytes: 10 },
    });
  });
});

describe("readLegacyConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "prefetch-legacy-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  test("a missing file contributes nothing", () => {
    expect(readLegacyConfig(join(dir, "missing.toml"))).toEqual({});
  });

  test("reads [file_prefetch] socket_address", () => {
    const path = file("good.toml", '[file_prefetch]\nsocket_address = "/tmp/s.sock"\n');
    expect(readLegacyConfig(path)).toEqual({ socketAddress: "/tmp/s.sock" });
  });

  test("a file without the key contributes nothing", () => {
    expect(readLegacyConfig(file("empty.toml", ""))).toEqual({});
  });

  test("a non-string socket_address is a problem naming the file", () => {
    const path = file("number.toml", "[file_prefetch]\nsocket_address = 5\n");
    expect(readLegacyConfig(path)).toEqual({
      problem: `${path}: file_prefetch.socket_address must be a non-empty string`,
    });
  });

  test("an empty socket_address is a problem", () => {
    const path = file("blank.toml", '[file_prefetch]\nsocket_address = ""\n');
    expect(readLegacyConfig(path).problem).toContain("must be a non-empty string");
  });

  test("invalid TOML is a problem naming the file", () => {
    const path = file("broken.toml", "[file_prefetch\n");
    expect(readLegacyConfig(path)).toEqual({ problem: `${path}: not valid TOML, ignored` });
  });

  test("a path that cannot be read is a problem naming the file", () => {
    const path = join(dir, "a-directory");
    mkdirSync(path);
    expect(readLegacyConfig(path).problem).toStartWith(`${path}: cannot be read`);
  });
});
