/**
 * The seam between the NRI layer and the product: plain data in, a promise
 * out. Nothing here knows frames, ttrpc or protobuf.
 */

/** The pod fields the plugin acts on. */
export interface PodInfo {
  id: string;
  namespace: string;
  name: string;
  uid: string;
  annotations: Readonly<Record<string, string>>;
}

/** What Configure tells about the runtime. */
export interface RuntimeInfo {
  name: string;
  version: string;
  /** "v0.12.2" from runtimes on NRI v0.12+, otherwise "". */
  nriVersion: string;
  /** The runtime's per-call timeout (NRI v0.7+), otherwise undefined. */
  requestTimeoutMs?: number;
  registrationTimeoutMs?: number;
}

/** Time the handler has before the runtime must have its reply. */
export interface CallBudget {
  /** Milliseconds left for the handler's own work, margin already taken off. */
  budgetMs: number;
  /** Aborted when the runtime's deadline passes or the connection closes. */
  signal: AbortSignal;
}

export interface PluginHandler {
  /** Applies the drop-in config text ("" when none); throws to refuse it. */
  configure(config: string, runtime: RuntimeInfo): void | Promise<void>;
  /** A pod sandbox is starting; a throw fails the pod. */
  runPodSandbox(pod: PodInfo, budget: CallBudget): Promise<void>;
}
