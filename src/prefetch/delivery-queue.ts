import { errorText, type Logger } from "../log/logger.ts";
import { DeliveryError, type Forwarder } from "./forwarder.ts";

/** One request body, and who asked for it (for log lines). */
export interface DeliveryRequest {
  body: Uint8Array;
  pod: string;
  images: readonly string[];
}

/** What a pod start learns about its request within its budget. */
export type Delivery =
  | { state: "delivered" }
  /** Not delivered in time; kept and retried in the background. */
  | { state: "pending"; error: string }
  /** Given up: refused by the snapshotter, withdrawn, or no room. */
  | { state: "failed"; error: string };

export interface QueueOptions {
  /** How long after its pod's budget a request is still retried. */
  retryWindowMs: number;
  maxRequests: number;
  maxBytes: number;
  /** Longest single attempt; a hung snapshotter is given up on after this. */
  attemptTimeoutMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

interface Item {
  request: DeliveryRequest;
  expiresAt: number;
  /** How long its pod start waits, and whether it then takes the request back. */
  budgetMs: number;
  withdraw: boolean;
  lastError?: string;
  /** Taken back by its pod start: not retried, whatever the attempt in flight does. */
  withdrawn?: boolean;
  /** Set while a pod start waits for this item. */
  settle?: (delivery: Delivery) => void;
}

const ATTEMPT_TIMEOUT_MS = 5000;
const INITIAL_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 500;

/**
 * Delivers requests one at a time, oldest first, so requests for the same
 * image reach the snapshotter in the order their pods started. A pod start
 * waits for its request only as long as its budget (or not at all once the
 * snapshotter is found not listening); after that the request stays queued
 * and is retried with backoff until its window closes. The queue is bounded
 * in requests and bytes; the oldest waiting request gives way.
 */
export class DeliveryQueue {
  private readonly items: Item[] = [];
  private bytes = 0;
  private inFlight: Item | undefined;
  private running = false;
  private closed = false;
  /** Called when the worker finds the queue empty. */
  private idleWaiters: (() => void)[] = [];
  /** Ends the worker's pause between retries early. */
  private retryNow: (() => void) | undefined;

  constructor(
    private readonly forwarder: Forwarder,
    private readonly options: QueueOptions,
    private readonly log: Logger,
  ) {}

  /** Requests waiting or in flight. */
  get size(): number {
    return this.items.length;
  }

  /**
   * Queues `request` and waits up to `budgetMs` for it to be delivered. With
   * `withdraw`, a request not delivered in time is taken back (the pod fails
   * and the runtime will ask again) instead of being retried.
   */
  submit(request: DeliveryRequest, budgetMs: number, withdraw = false): Promise<Delivery> {
    if (this.closed) return Promise.resolve({ state: "failed", error: "plugin stopping" });
    if (request.body.length > this.options.maxBytes) {
      return Promise.resolve({ state: "failed", error: "request is larger than queue_max_bytes" });
    }
    const expiresAt = Date.now() + budgetMs + this.options.retryWindowMs;
    const item: Item = { request, expiresAt, budgetMs, withdraw };
    const delivery = new Promise<Delivery>((resolve) => (item.settle = resolve));
    this.makeRoom(request.body.length);
    this.items.push(item);
    this.bytes += request.body.length;
    this.wake();
    const timer = setTimeout(() => this.stopWaiting(item), budgetMs);
    return delivery.finally(() => clearTimeout(timer));
  }

  /** Its pod start waits no longer: the request is left to the background, or withdrawn. */
  private stopWaiting(item: Item): void {
    const settle = item.settle;
    if (!settle) return;
    item.settle = undefined;
    const error = item.lastError ?? `no answer within ${Math.round(item.budgetMs)} ms`;
    if (!item.withdraw) {
      settle({ state: "pending", error });
      return;
    }
    item.withdrawn = true;
    if (item !== this.inFlight) this.remove(item);
    settle({ state: "failed", error });
  }

  private makeRoom(incoming: number): void {
    const { maxRequests, maxBytes } = this.options;
    while (this.items.length >= maxRequests || this.bytes + incoming > maxBytes) {
      const victim = this.items.find((item) => item !== this.inFlight);
      if (!victim) return;
      this.remove(victim);
      this.finish(victim, { state: "failed", error: "queue full" }, "queue full");
    }
  }

  /** Starts the worker, or cuts its pause short: a new request may find the snapshotter back. */
  private wake(): void {
    this.retryNow?.();
    if (this.running) return;
    this.running = true;
    void this.drain();
  }

  /**
   * The worker. `running` is cleared in the same synchronous step that finds
   * the queue empty, so a submit can never slip in between and go unserved.
   */
  private async drain(): Promise<void> {
    let backoff = this.options.initialBackoffMs ?? INITIAL_BACKOFF_MS;
    try {
      while (this.items.length > 0) {
        const item = this.items[0]!;
        if (Date.now() >= item.expiresAt) {
          this.expire(item);
        } else if (await this.attempt(item)) {
          backoff = this.options.initialBackoffMs ?? INITIAL_BACKOFF_MS;
        } else {
          await this.pause(Math.min(backoff, Math.max(item.expiresAt - Date.now(), 0)));
          backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? MAX_BACKOFF_MS);
        }
      }
    } finally {
      this.running = false;
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /**
   * Gives what is queued up to `graceMs` to be delivered (pod starts that
   * arrive meanwhile are served as usual), then stops taking requests and
   * drops the rest (see drop). Resolves to the number dropped.
   */
  async close(graceMs: number): Promise<number> {
    this.retryNow?.(); // one more try now, not after the pause
    if (this.items.length > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([idle, grace]);
      clearTimeout(timer);
    }
    return this.drop();
  }

  /**
   * Stops taking requests and drops every one queued, with one error line
   * each, so the operator knows which pods lost their prefetch list.
   * Returns the number dropped.
   */
  drop(): number {
    this.closed = true;
    const left = this.items.splice(0);
    this.bytes = 0;
    for (const item of left) {
      item.withdrawn = true;
      const error = item === this.inFlight
        ? "an attempt was still in flight; it may yet arrive"
        : (item.lastError ?? "not sent yet");
      this.finish(item, { state: "failed", error }, "plugin stopping", true);
    }
    return left.length;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.retryNow = undefined;
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.retryNow = end;
    });
  }

  private expire(item: Item): void {
    this.remove(item);
    const error = item.lastError ?? "expired";
    this.finish(item, { state: "failed", error }, "retry window closed");
  }

  /** One try at the head item; true when it left the queue. */
  private async attempt(item: Item): Promise<boolean> {
    const limit = this.options.attemptTimeoutMs ?? ATTEMPT_TIMEOUT_MS;
    const timeoutMs = Math.max(Math.min(limit, item.expiresAt - Date.now()), 1);
    this.inFlight = item;
    try {
      await this.forwarder.send(item.request.body, timeoutMs);
      this.remove(item);
      this.finish(item, { state: "delivered" });
      return true;
    } catch (error) {
      item.lastError = errorText(error);
      // Nothing listens there: no pod start gains from waiting out its budget.
      if (error instanceof DeliveryError && error.unreachable) this.stopAllWaiting(item.lastError);
      if (item.withdrawn) {
        this.remove(item); // its pod was already failed; nobody waits for it
        return true;
      }
      if (error instanceof DeliveryError && error.retryable) return false;
      this.remove(item);
      this.finish(item, { state: "failed", error: item.lastError }, "snapshotter refused it");
      return true;
    } finally {
      this.inFlight = undefined;
    }
  }

  private stopAllWaiting(error: string): void {
    for (const item of [...this.items]) {
      if (!item.settle) continue;
      item.lastError ??= error;
      this.stopWaiting(item);
    }
  }

  /**
   * Tells the waiting pod start, or logs the outcome if nobody waits anymore.
   * `always`: log a drop even when a pod start is told (the process is about
   * to exit, and the pod start may not get to log it).
   */
  private finish(item: Item, delivery: Delivery, dropReason?: string, always = false): void {
    if (item.settle) {
      item.settle(delivery);
      item.settle = undefined;
      if (!always) return;
    }
    const fields = {
      pod: item.request.pod,
      images: item.request.images,
      socket: this.forwarder.target,
    };
    if (delivery.state === "delivered") {
      this.log.info(item.withdrawn
        ? "prefetch list arrived after its pod start had given up on it"
        : "prefetch list forwarded after retry", fields);
    } else {
      this.log.error("prefetch request dropped", {
        ...fields,
        reason: dropReason,
        error: delivery.state === "failed" ? delivery.error : undefined,
      });
    }
  }

  private remove(item: Item): void {
    const index = this.items.indexOf(item);
    if (index < 0) return;
    this.items.splice(index, 1);
    this.bytes -= item.request.body.length;
  }
}
