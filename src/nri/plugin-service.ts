import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  type ConfigureRequest,
  type ConfigureResponse,
  ConfigureResponseSchema,
  Event,
  Plugin,
  type PodSandbox,
} from "../gen/nri/pkg/api/v1alpha1/api_pb.ts";
import { errorText, type Logger } from "../log/logger.ts";
import { subscriptionMask } from "./events.ts";
import type { CallBudget, PluginHandler, PodInfo, RuntimeInfo } from "./handler.ts";

/** The runtime's per-call timeout when it does not say (NRI's default). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 2000;
/**
 * Kept back from every deadline for our reply to reach the runtime in time.
 * Generous on purpose: the timeout was computed when the runtime sent the
 * request, and on a loaded node the request may wait a while before we read
 * it, which we cannot see. Anything not done by then is retried afterwards.
 */
const MIN_MARGIN_MS = 250;
const MARGIN_FRACTION = 0.5;
/**
 * The longest a pod start waits for the handler, however long the runtime
 * would wait: a runtime configured with a 30 s timeout must not make every
 * pod start wait 15 s for a snapshotter that is down.
 */
const MAX_BUDGET_MS = 2000;

export interface PluginServiceOptions {
  /**
   * Serve RunPodSandbox as its own RPC (NRI v0.12+). Without it the method
   * answers Unimplemented and the runtime falls back to StateChange.
   */
  dedicatedPodEvents?: boolean;
}

type Impl = Partial<ServiceImpl<typeof Plugin>>;

/**
 * The Plugin service: Configure and Synchronize for the lifecycle, the pod
 * start from either delivery path to the handler, and an empty, well-formed
 * reply to every other method the runtime may call.
 */
export class PluginService {
  private runtime: RuntimeInfo | undefined;
  private readonly configured = Promise.withResolvers<RuntimeInfo>();
  /** Why the handler refused its config, on a runtime that could not be told so. */
  private refusal: string | undefined;

  constructor(
    private readonly handler: PluginHandler,
    private readonly log: Logger,
    private readonly options: PluginServiceOptions = {},
  ) {
    this.configured.promise.catch(() => {}); // observed by whoever awaits it
  }

  /** Resolves once Configure has been answered; rejects if the handler refused it. */
  whenConfigured(): Promise<RuntimeInfo> {
    return this.configured.promise;
  }

  impl(): Impl {
    const impl: Record<string, unknown> = {};
    for (const method of Plugin.methods) impl[method.localName] = () => create(method.output);
    const own: Impl = {
      configure: (request) => this.configure(request),
      synchronize: (request) => ({ more: request.more }), // no updates; echo slicing
      runPodSandbox: async (request, context) => {
        await this.runPod(request.pod, context, "RunPodSandbox");
        return {};
      },
      stateChange: async (request, context) => {
        if (request.event === Event.RUN_POD_SANDBOX) {
          await this.runPod(request.pod, context, "StateChange");
        }
        return {};
      },
    };
    Object.assign(impl, own);
    if (this.options.dedicatedPodEvents === false) delete impl.runPodSandbox;
    return impl as Impl;
  }

  private async configure(request: ConfigureRequest): Promise<ConfigureResponse> {
    const runtime = runtimeInfo(request);
    const events = subscriptionMask([Event.RUN_POD_SANDBOX], runtime.nriVersion);
    try {
      await this.handler.configure(request.config, runtime);
    } catch (error) {
      if (refusalDropsOnlyUs(runtime)) {
        this.log.error("configuration refused", { error: errorText(error) });
        this.configured.reject(new ConfigureRefusedError(errorText(error)));
        throw error;
      }
      this.refusal = errorText(error);
      this.log.error("configuration refused; staying registered but handling no pod until " +
        "the .conf is fixed and containerd restarts (this runtime, NRI before v0.7, would " +
        "fail its whole NRI start, and so every pod, on a refused Configure)",
        { error: this.refusal });
    }
    this.runtime = runtime;
    this.log.info("plugin configured", {
      runtime: `${runtime.name} ${runtime.version}`.trim(),
      nri: runtime.nriVersion || "< v0.12",
      events: `0x${events.toString(16)}`,
    });
    this.configured.resolve(runtime);
    return create(ConfigureResponseSchema, { events });
  }

  private runPod(
    pod: PodSandbox | undefined,
    context: HandlerContext,
    via: string,
  ): Promise<void> {
    const info = podInfo(pod);
    if (this.refusal !== undefined) {
      this.log.warn("pod start not handled: the .conf was refused", {
        pod: `${info.namespace}/${info.name}`,
        error: this.refusal,
      });
      return Promise.resolve();
    }
    const budget = this.budget(context);
    this.log.debug("pod sandbox starting", {
      pod: `${info.namespace}/${info.name}`,
      via,
      budget_ms: Math.round(budget.budgetMs),
    });
    return this.handler.runPodSandbox(info, budget);
  }

  private budget(context: HandlerContext): CallBudget {
    const base = context.timeoutMs() ?? this.runtime?.requestTimeoutMs ??
      DEFAULT_REQUEST_TIMEOUT_MS;
    const margin = Math.max(MIN_MARGIN_MS, base * MARGIN_FRACTION);
    return {
      budgetMs: Math.min(Math.max(base - margin, 0), MAX_BUDGET_MS),
      signal: context.signal,
    };
  }
}

/** The handler refused the runtime's config; the runtime has been told so. */
export class ConfigureRefusedError extends Error {
  override name = "ConfigureRefusedError";
}

/**
 * Whether refusing Configure costs the runtime only this plugin. From NRI
 * v0.7 (the first to send its timeouts in Configure) the runtime logs the
 * refusal and starts without us; before that, one refusal fails its start.
 */
function refusalDropsOnlyUs(runtime: RuntimeInfo): boolean {
  return runtime.nriVersion !== "" || runtime.requestTimeoutMs !== undefined ||
    runtime.registrationTimeoutMs !== undefined;
}

function runtimeInfo(request: ConfigureRequest): RuntimeInfo {
  return {
    name: request.runtimeName,
    version: request.runtimeVersion,
    nriVersion: request.NRIVersion,
    requestTimeoutMs: positive(request.requestTimeout),
    registrationTimeoutMs: positive(request.registrationTimeout),
  };
}

function positive(ms: bigint): number | undefined {
  return ms > 0n ? Number(ms) : undefined;
}

function podInfo(pod: PodSandbox | undefined): PodInfo {
  return {
    id: pod?.id ?? "",
    namespace: pod?.namespace ?? "",
    name: pod?.name ?? "",
    uid: pod?.uid ?? "",
    annotations: pod?.annotations ?? {},
  };
}
