import type { Settings } from "../config/settings.ts";
import { errorText, type Logger } from "../log/logger.ts";
import type { CallBudget, PluginHandler, PodInfo, RuntimeInfo } from "../nri/handler.ts";
import { AnnotationError, PREFETCH_ANNOTATION, parsePrefetchList } from "./annotation.ts";
import { type Delivery, DeliveryQueue } from "./delivery-queue.ts";
import { type Forwarder, HttpForwarder } from "./forwarder.ts";
import { entryRefusal, namespaceRefusal } from "./policy.ts";
import { normalizeReference } from "./reference.ts";

export interface PrefetchHandlerOptions {
  log: Logger;
  /** Turns the runtime's config text into settings; throws to refuse it. */
  settingsFor(configText: string, runtime: RuntimeInfo): Settings;
  forwarderFor?(socketAddress: string): Forwarder;
}

/** A request body ready to send, and the images it names. */
interface Prepared {
  body: Uint8Array;
  images: string[];
}

const encoder = new TextEncoder();

/**
 * The product: for each pod start, find the prefetch annotation, check it,
 * and hand it to the delivery queue within the runtime's deadline. Only an
 * operator's `fail_pod_on_error` ever turns a problem into a failed pod.
 */
export class PrefetchHandler implements PluginHandler {
  private settings: Settings;
  private queue: DeliveryQueue;

  constructor(initial: Settings, private readonly options: PrefetchHandlerOptions) {
    this.settings = initial;
    this.queue = this.newQueue(initial);
  }

  configure(configText: string, runtime: RuntimeInfo): void {
    const settings = this.options.settingsFor(configText, runtime);
    const socketChanged = settings.socketAddress !== this.settings.socketAddress;
    this.settings = settings;
    if (socketChanged || this.queue.size === 0) this.queue = this.newQueue(settings);
  }

  async runPodSandbox(pod: PodInfo, budget: CallBudget): Promise<void> {
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
      budget.budgetMs,
      this.settings.failPodOnError,
    );
    this.report(delivery, prepared, log);
  }

  /** Checks and normalises the value; undefined (logged) when it is not sent. */
  private prepare(value: string, log: Logger): Prepared | undefined {
    try {
      return this.normalize(value, log);
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
  }

  private normalize(value: string, log: Logger): Prepared | undefined {
    const { policy, normalizeImageReferences } = this.settings;
    const body = encoder.encode(value);
    if (body.length > policy.maxAnnotationBytes) {
      throw new AnnotationError(
        `value is ${body.length} bytes, over max_annotation_bytes (${policy.maxAnnotationBytes})`,
      );
    }
    const entries = parsePrefetchList(value);
    if (entries.length === 0) {
      log.info("pod skipped: the prefetch list is empty");
      return undefined;
    }
    const refusal = entryRefusal(entries, policy);
    if (refusal) {
      log.warn("pod skipped by policy", { reason: refusal });
      return undefined;
    }
    if (!normalizeImageReferences) return { body, images: entries.map((e) => e.image) };
    const images = entries.map((entry, index) => qualified(entry.image, index));
    if (images.every((image, index) => image === entries[index]!.image)) return { body, images };
    log.info("image references normalized", {
      from: entries.map((entry) => entry.image),
      to: images,
    });
    const rewritten = entries.map((entry, index) => ({ ...entry.fields, image: images[index] }));
    return { body: encoder.encode(JSON.stringify(rewritten)), images };
  }

  private report(delivery: Delivery, prepared: Prepared, log: Logger): void {
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

function qualified(image: string, index: number): string {
  try {
    return normalizeReference(image);
  } catch (error) {
    throw new AnnotationError(`element ${index}: ${errorText(error)}`);
  }
}
