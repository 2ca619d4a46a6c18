import type { Settings } from "../config/settings.ts";
import type { Logger } from "../log/logger.ts";
import type { CallBudget, PluginHandler, PodInfo, RuntimeInfo } from "../nri/handler.ts";
import { AnnotationError, PREFETCH_ANNOTATION } from "./annotation.ts";
import { type Delivery, DeliveryQueue } from "./delivery-queue.ts";
import { type Forwarder, HttpForwarder } from "./forwarder.ts";
import { namespaceRefusal } from "./policy.ts";
import { type PreparedSend, prepareRequest } from "./request.ts";

export interface PrefetchHandlerOptions {
  log: Logger;
  /** Turns the runtime's config text into settings; throws to refuse it. */
  settingsFor(configText: string, runtime: RuntimeInfo): Settings;
  forwarderFor?(socketAddress: string): Forwarder;
}


/**
 * The product: for each pod start, find the prefetch annotation, check it,
 * and hand it to the delivery queue within the runtime's deadline. Only an
 * operator's `fail_pod_on_error` ever turns a problem into a failed pod.
 */
export class PrefetchHandler implements PluginHandler {
  private settings: Settings;
  private queue: DeliveryQueue;
  /** Queues left behind by a change of socket, still retrying their requests. */
  private retired: DeliveryQueue[] = [];

  constructor(initial: Settings, private readonly options: PrefetchHandlerOptions) {
    this.settings = initial;
    this.queue = this.newQueue(initial);
  }

  configure(configText: string, runtime: RuntimeInfo): void {
    const settings = this.options.settingsFor(configText, runtime);
    const socketChanged = settings.socketAddress !== this.settings.socketAddress;
    this.settings = settings;
    if (socketChanged || this.queue.size === 0) {
      this.retired = [...this.retired, this.queue].filter((queue) => queue.size > 0);
      this.queue = this.newQueue(settings);
    }
  }

  /**
   * The process is stopping: queued requests get up to `graceMs` to be
   * delivered, and each one still undelivered after that is logged as dropped.
   */
  async stop(graceMs: number): Promise<void> {
    await Promise.all(this.queues().map((queue) => queue.close(graceMs)));
  }

  /** The process is stopping at once: every queued request is logged as dropped now. */
  stopNow(): void {
    for (const queue of this.queues()) queue.drop();
  }

  private queues(): DeliveryQueue[] {
    return [this.queue, ...this.retired];
  }

  async runPodSandbox(pod: PodInfo, budget: CallBudget): Promise<void> {
    const started = performance.now(); // the budget counts checking the value too
    const value = pod.annotations[PREFETCH_ANNOTATION];
    const log = this.options.log.with({ pod: `${pod.namespace}/${pod.name}` });
    if (value === undefined) {
      log.debug("pod has no prefetch annotation");
      return;
    }
    const refusal = namespaceRefusal(pod.namespace, this.settings.policy);
    if (refusal) {
      log.warn("pod skipped by policy", { reason: refusal });
      return;
    }
    const prepared = this.prepare(value, log);
    if (!prepared) return;
    const delivery = await this.queue.submit(
      { body: prepared.body, pod: `${pod.namespace}/${pod.name}`, images: prepared.images },
      Math.max(budget.budgetMs - (performance.now() - started), 0),
      this.settings.failPodOnError,
    );
    this.report(delivery, prepared, log);
  }

  /** Checks and normalises the value; undefined (logged) when nothing is sent. */
  private prepare(value: string, log: Logger): PreparedSend | undefined {
    let prepared;
    try {
      prepared = prepareRequest(value, this.settings);
    } catch (error) {
      if (!(error instanceof AnnotationError)) throw error;
      log.warn("pod skipped: annotation not forwarded", {
        annotation: PREFETCH_ANNOTATION,
        reason: error.message,
      });
      if (this.settings.failPodOnError) {
        throw new Error(`annotation ${PREFETCH_ANNOTATION}: ${error.message}`);
      }
      return undefined;
    }
    if (prepared.kind === "empty") log.info("pod skipped: the prefetch list is empty");
    if (prepared.kind === "refused") log.warn("pod skipped by policy", { reason: prepared.reason });
    if (prepared.kind !== "send") return undefined;
    if (prepared.rewritten) log.info("image references normalized", prepared.rewritten);
    return prepared;
  }

  private report(delivery: Delivery, prepared: PreparedSend, log: Logger): void {
    const fields = { images: prepared.images, socket: this.settings.socketAddress };
    if (delivery.state === "delivered") {
      log.info("prefetch list forwarded", { ...fields, bytes: prepared.body.length });
    } else if (delivery.state === "pending") {
      log.warn("snapshotter did not take the prefetch list in time; retrying in background", {
        ...fields,
        error: delivery.error,
        retry_window_ms: this.settings.retryWindowMs,
      });
    } else {
      log.error("prefetch list not forwarded", { ...fields, error: delivery.error });
      if (this.settings.failPodOnError) {
        throw new Error(`prefetch list not forwarded to ${fields.socket}: ${delivery.error}`);
      }
    }
  }

  private newQueue(settings: Settings): DeliveryQueue {
    const forwarder = this.options.forwarderFor?.(settings.socketAddress) ??
      new HttpForwarder(settings.socketAddress);
    return new DeliveryQueue(forwarder, {
      retryWindowMs: settings.retryWindowMs,
      maxRequests: settings.queueMaxRequests,
      maxBytes: settings.queueMaxBytes,
    }, this.options.log);
  }
}
