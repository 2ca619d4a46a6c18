import { describe, expect, test } from "bun:test";
import { CapturingSink } from "../support/capturing-sink.ts";
import { Logger } from "../../src/log/logger.ts";
import {
  type DeliveryRequest,
  DeliveryQueue,
  type QueueOptions,
} from "../../src/prefetch/delivery-queue.ts";
import { DeliveryError, type Forwarder } from "../../src/prefetch/forwarder.ts";
import { waitUntil } from "../support/wait.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the fake does with one call: resolve (delivered) or reject. */
type Behaviour = (body: string, call: number) => Promise<void>;

/** A Forwarder that records every call and lets each test decide the outcome. */
class FakeForwarder implements Forwarder {
  readonly target = "/tmp/fake-snapshotter.sock";
  /** Bodies of every call, in order. */
  readonly calls: string[] = [];
  /** Bodies of the calls that succeeded, in order. */
  readonly delivered: string[] = [];

  constructor(public behaviour: Behaviour = async () => {}) {}

  async send(body: Uint8Array): Promise<void> {
    const text = decoder.decode(body);
    this.calls.push(text);
    await this.behaviour(text, this.calls.length);
    this.delivered.push(text);
  }

  callsFor(body: string): number {
    return this.calls.filter((call) => call === body).length;
  }
}

function retryable(): Promise<never> {
  return Promise.reject(new DeliveryError("snapshotter answered 503 Service Unavailable", true));
}

/** A promise the test settles by hand. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Holds the first call for `held` until the gate opens; every other call succeeds. */
function holding(held: string, until: Promise<void>): Behaviour {
  return (body) => (body === held ? until : Promise.resolve());
}

function request(body: string, pod = "default/web"): DeliveryRequest {
  return { body: encoder.encode(body), pod, images: [`registry.example.com/${body}:1`] };
}

function setup(forwarder: FakeForwarder, options: Partial<QueueOptions> = {}) {
  const sink = new CapturingSink();
  const queue = new DeliveryQueue(forwarder, {
    retryWindowMs: 2000,
    maxRequests: 100,
    maxBytes: 1 << 20,
    initialBackoffMs: 5,
    maxBackoffMs: 20,
    ...options,
  }, Logger.create([sink], "debug"));
  return { queue, sink };
}

describe("DeliveryQueue", () => {
  test("a request delivered within its budget is reported delivered", async () => {
    const forwarder = new FakeForwarder();
    const { queue } = setup(forwarder);
    expect(await queue.submit(request("A"), 2000)).toEqual({ state: "delivered" });
    expect(forwarder.delivered).toEqual(["A"]);
    expect(queue.size).toBe(0);
  });

  test("a slow delivery is pending at the budget and forwarded in the background", async () => {
    const slow = gate();
    const forwarder = new FakeForwarder(() => slow.promise);
    const { queue, sink } = setup(forwarder);
    expect(await queue.submit(request("A"), 30))
      .toEqual({ state: "pending", error: "no answer within 30 ms" });
    slow.open();
    const logged = () => sink.find("prefetch list forwarded after retry") !== undefined;
    await waitUntil(logged, "log", 3000);
    expect(forwarder.delivered).toEqual(["A"]);
    expect(sink.find("prefetch list forwarded after retry")).toContain("pod=default/web");
  });

  test("a request that fails twice and then succeeds is delivered", async () => {
    const forwarder = new FakeForwarder((_, call) => (call <= 2 ? retryable() : Promise.resolve()));
    const { queue } = setup(forwarder);
    expect(await queue.submit(request("A"), 3000)).toEqual({ state: "delivered" });
    expect(forwarder.calls).toEqual(["A", "A", "A"]);
  });

  test("the last error is reported when the budget runs out between retries", async () => {
    const forwarder = new FakeForwarder(() => retryable());
    const { queue } = setup(forwarder);
    expect(await queue.submit(request("A"), 40)).toEqual({
      state: "pending",
      error: "snapshotter answered 503 Service Unavailable",
    });
  });

  test("requests keep their order across retries", async () => {
    const forwarder = new FakeForwarder((body) =>
      body === "A1" && forwarder.callsFor("A1") <= 2 ? retryable() : Promise.resolve());
    const { queue } = setup(forwarder);
    const first = queue.submit(request("A1", "default/one"), 3000);
    await waitUntil(() => forwarder.calls.length >= 1, "the first attempt", 3000);
    const second = queue.submit(request("A2", "default/two"), 3000);
    expect(await Promise.all([first, second]))
      .toEqual([{ state: "delivered" }, { state: "delivered" }]);
    expect(forwarder.calls).toEqual(["A1", "A1", "A1", "A2"]);
  });

  test("a request the snapshotter refuses fails without a retry", async () => {
    const forwarder = new FakeForwarder(() =>
      Promise.reject(new DeliveryError("snapshotter answered 404 Not Found", false)));
    const { queue } = setup(forwarder);
    expect(await queue.submit(request("A"), 2000))
      .toEqual({ state: "failed", error: "snapshotter answered 404 Not Found" });
    await Bun.sleep(60);
    expect(forwarder.calls).toEqual(["A"]);
  });

  test("a request still failing when its window closes is dropped with an error log", async () => {
    const forwarder = new FakeForwarder(() => retryable());
    const { queue, sink } = setup(forwarder, { retryWindowMs: 60 });
    expect((await queue.submit(request("A", "shop/cart"), 20)).state).toBe("pending");
    await waitUntil(() => queue.size === 0, "the drop", 3000);
    const line = sink.find("prefetch request dropped");
    expect(line).toContain("level=error");
    expect(line).toContain("pod=shop/cart");
    expect(line).toContain('reason="retry window closed"');
  });

  test("a request whose window closed while it waited is dropped unsent", async () => {
    const held = gate();
    const forwarder = new FakeForwarder(holding("A", held.promise));
    const { queue, sink } = setup(forwarder, { retryWindowMs: 20 });
    void queue.submit(request("A"), 5000);
    expect((await queue.submit(request("B", "default/late"), 10)).state).toBe("pending");
    await Bun.sleep(60);
    held.open();
    await waitUntil(() => queue.size === 0, "the queue to empty", 3000);
    expect(forwarder.calls).toEqual(["A"]);
    expect(sink.find("prefetch request dropped")).toContain("pod=default/late");
  });

  test("a full queue drops the oldest waiting request and tells its pod", async () => {
    const held = gate();
    const forwarder = new FakeForwarder(holding("A", held.promise));
    const { queue } = setup(forwarder, { maxRequests: 2 });
    const a = queue.submit(request("A"), 3000);
    const b = queue.submit(request("B"), 3000);
    const c = queue.submit(request("C"), 3000);
    expect(await b).toEqual({ state: "failed", error: "queue full" });
    held.open();
    expect(await Promise.all([a, c])).toEqual([{ state: "delivered" }, { state: "delivered" }]);
    expect(forwarder.delivered).toEqual(["A", "C"]);
  });

  test("a request dropped for room after its budget is logged", async () => {
    const held = gate();
    const forwarder = new FakeForwarder(holding("A", held.promise));
    const { queue, sink } = setup(forwarder, { maxRequests: 2 });
    void queue.submit(request("A"), 3000);
    expect((await queue.submit(request("B", "default/old"), 10)).state).toBe("pending");
    void queue.submit(request("C"), 3000);
    const line = sink.find("prefetch request dropped");
    expect(line).toContain("pod=default/old");
    expect(line).toContain('reason="queue full"');
    held.open();
    await waitUntil(() => queue.size === 0, "the queue to empty", 3000);
    expect(forwarder.delivered).toEqual(["A", "C"]);
  });

  test("the byte bound drops the oldest waiting request", async () => {
    const held = gate();
    const forwarder = new FakeForwarder(holding("AAAA", held.promise));
    const { queue } = setup(forwarder, { maxBytes: 10 });
    const a = queue.submit(request("AAAA"), 3000);
    const b = queue.submit(request("BBBB"), 3000);
    const c = queue.submit(request("CCCC"), 3000);
    expect(await b).toEqual({ state: "failed", error: "queue full" });
    held.open();
    await Promise.all([a, c]);
    expect(forwarder.delivered).toEqual(["AAAA", "CCCC"]);
  });

  test("a request larger than the byte bound fails at once and is never sent", async () => {
    const forwarder = new FakeForwarder();
    const { queue } = setup(forwarder, { maxBytes: 3 });
    expect(await queue.submit(request("AAAA"), 1000))
      .toEqual({ state: "failed", error: "request is larger than queue_max_bytes" });
    expect(forwarder.calls).toEqual([]);
  });

  test("a withdrawn request waiting behind another fails and is never sent", async () => {
    const held = gate();
    const forwarder = new FakeForwarder(holding("A", held.promise));
    const { queue } = setup(forwarder);
    const a = queue.submit(request("A"), 3000);
    expect(await queue.submit(request("B"), 20, true))
      .toEqual({ state: "failed", error: "no answer within 20 ms" });
    held.open();
    await a;
    await Bun.sleep(30);
    expect(forwarder.calls).toEqual(["A"]);
  });

  test("a withdrawn request between retries fails and is not tried again", async () => {
    const forwarder = new FakeForwarder(() => retryable());
    const { queue } = setup(forwarder);
    expect(await queue.submit(request("A"), 40, true)).toEqual({
      state: "failed",
      error: "snapshotter answered 503 Service Unavailable",
    });
    const attempts = forwarder.calls.length;
    await Bun.sleep(80);
    expect(forwarder.calls.length).toBe(attempts);
    expect(queue.size).toBe(0);
  });

  test("a withdrawn request still in flight fails at its budget and is not retried", async () => {
    const held = gate();
    let attempts = 0;
    const forwarder = new FakeForwarder(() => {
      attempts++;
      return held.promise.then(() => {
        throw new DeliveryError("no answer", true);
      });
    });
    const { queue } = setup(forwarder);
    expect((await queue.submit(request("A"), 20, true)).state).toBe("failed");
    held.open();
    await waitUntil(() => queue.size === 0, "the withdrawn request to leave", 3000);
    await Bun.sleep(50);
    expect(attempts).toBe(1);
  });

  test("a new request cuts the pause between retries short", async () => {
    let healthy = false;
    const forwarder = new FakeForwarder(() => (healthy ? Promise.resolve() : retryable()));
    const { queue } = setup(forwarder, { initialBackoffMs: 5000, maxBackoffMs: 5000 });
    expect((await queue.submit(request("A", "default/first"), 20)).state).toBe("pending");
    healthy = true; // the snapshotter is back while the worker waits 5 s to retry
    const started = Date.now();
    expect(await queue.submit(request("B", "default/second"), 500)).toEqual({ state: "delivered" });
    expect(Date.now() - started).toBeLessThan(500);
    expect(forwarder.delivered).toEqual(["A", "B"]);
  });

  test("when nothing listens on the socket, waiting pod starts stop waiting at once", async () => {
    const forwarder = new FakeForwarder(() =>
      Promise.reject(new DeliveryError("connection refused", true, true)));
    const { queue } = setup(forwarder);
    const started = Date.now();
    const [first, second] = await Promise.all([
      queue.submit(request("A", "default/one"), 2000),
      queue.submit(request("B", "default/two"), 2000),
    ]);
    expect(Date.now() - started).toBeLessThan(500);
    expect(first).toEqual({ state: "pending", error: "connection refused" });
    expect(second).toEqual({ state: "pending", error: "connection refused" });
    expect(queue.size).toBe(2); // still retried in the background
  });

  test("...and with withdraw, fail at once and are not retried", async () => {
    const forwarder = new FakeForwarder(() =>
      Promise.reject(new DeliveryError("connection refused", true, true)));
    const { queue } = setup(forwarder);
    const started = Date.now();
    expect(await queue.submit(request("A"), 2000, true))
      .toEqual({ state: "failed", error: "connection refused" });
    expect(Date.now() - started).toBeLessThan(500);
    expect(queue.size).toBe(0);
  });

  test("a hanging snapshotter is still waited for, up to the budget", async () => {
    const forwarder = new FakeForwarder(() => new Promise(() => {}));
    const { queue } = setup(forwarder);
    const started = Date.now();
    expect((await queue.submit(request("A"), 150)).state).toBe("pending");
    expect(Date.now() - started).toBeGreaterThanOrEqual(145);
  });

  test("a withdrawn request that arrives after all is logged as such, not as a retry", async () => {
    const held = gate();
    const forwarder = new FakeForwarder(() => held.promise);
    const { queue, sink } = setup(forwarder);
    expect((await queue.submit(request("A"), 20, true)).state).toBe("failed");
    held.open();
    await waitUntil(() => forwarder.delivered.length === 1, "the late delivery", 3000);
    expect(sink.find("prefetch list arrived after its pod start had given up on it"))
      .toContain("pod=default/web");
    expect(sink.find("prefetch list forwarded after retry")).toBeUndefined();
  });

  // A submit made straight after the previous one settled must still start the worker.
  test("a request submitted as soon as the previous one settles is delivered", async () => {
    const forwarder = new FakeForwarder();
    const { queue } = setup(forwarder);
    for (const body of ["A", "B", "C"]) {
      expect(await queue.submit(request(body), 1000)).toEqual({ state: "delivered" });
    }
    expect(forwarder.delivered).toEqual(["A", "B", "C"]);
  });
});

describe("DeliveryQueue.close", () => {
  test("an empty queue closes at once and drops nothing", async () => {
    const { queue, sink } = setup(new FakeForwarder());
    const started = Date.now();
    expect(await queue.close(5000)).toBe(0);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(sink.find("prefetch request dropped")).toBeUndefined();
  });

  test("a delivery that completes within the grace is not dropped", async () => {
    const slow = gate();
    const forwarder = new FakeForwarder(() => slow.promise);
    const { queue, sink } = setup(forwarder);
    expect((await queue.submit(request("A"), 10)).state).toBe("pending");
    const closing = queue.close(5000);
    setTimeout(() => slow.open(), 30);
    expect(await closing).toBe(0);
    expect(forwarder.delivered).toEqual(["A"]);
    expect(sink.find("prefetch list forwarded after retry")).toContain("pod=default/web");
    expect(sink.find("prefetch request dropped")).toBeUndefined();
  });

  test("requests still failing when the grace ends are dropped, one error line each", async () => {
    const forwarder = new FakeForwarder(() => retryable());
    const { queue, sink } = setup(forwarder, { retryWindowMs: 60_000 });
    expect((await queue.submit(request("A", "shop/cart"), 10)).state).toBe("pending");
    expect((await queue.submit(request("B", "shop/till"), 10)).state).toBe("pending");
    expect(await queue.close(50)).toBe(2);
    expect(queue.size).toBe(0);
    const dropped = sink.lines.filter((line) => line.includes("prefetch request dropped"));
    expect(dropped).toHaveLength(2);
    expect(dropped[0]).toContain("level=error");
    expect(dropped[0]).toContain("pod=shop/cart");
    expect(dropped[0]).toContain('reason="plugin stopping"');
    expect(dropped[1]).toContain("pod=shop/till");
    const calls = forwarder.calls.length;
    await Bun.sleep(60);
    expect(forwarder.calls.length).toBe(calls); // nothing retried after close
  });

  test("a pod start during the grace is served as usual", async () => {
    const slow = gate();
    const forwarder = new FakeForwarder(holding("A", slow.promise));
    const { queue } = setup(forwarder);
    expect((await queue.submit(request("A"), 10)).state).toBe("pending");
    const closing = queue.close(2000);
    const late = queue.submit(request("B", "default/late"), 1000);
    slow.open();
    expect(await late).toEqual({ state: "delivered" });
    expect(await closing).toBe(0);
    expect(forwarder.delivered).toEqual(["A", "B"]);
  });

  test("drop, for a stop that cannot wait, logs every queued request at once", async () => {
    const forwarder = new FakeForwarder(() => new Promise(() => {}));
    const { queue, sink } = setup(forwarder);
    const pods = [queue.submit(request("A", "shop/one"), 10),
      queue.submit(request("B", "shop/two"), 10)];
    expect((await Promise.all(pods)).map((d) => d.state)).toEqual(["pending", "pending"]);
    expect(queue.drop()).toBe(2);
    const dropped = sink.lines.filter((line) => line.includes("prefetch request dropped"));
    expect(dropped.map((line) => line.match(/pod=\S+/)?.[0]))
      .toEqual(["pod=shop/one", "pod=shop/two"]);
    expect(dropped[0]).toContain("an attempt was still in flight");
    expect(queue.size).toBe(0);
  });

  test("a pod start still waiting when the queue is dropped is told, and the drop logged",
    async () => {
      const forwarder = new FakeForwarder(() => new Promise(() => {}));
      const { queue, sink } = setup(forwarder);
      const waiting = queue.submit(request("A", "shop/waiting"), 5000);
      expect(queue.drop()).toBe(1);
      expect((await waiting).state).toBe("failed");
      expect(sink.find("prefetch request dropped")).toContain("pod=shop/waiting");
    });

  test("a request submitted after close fails at once and is never sent", async () => {
    const forwarder = new FakeForwarder();
    const { queue } = setup(forwarder);
    await queue.close(100);
    expect(await queue.submit(request("A"), 1000))
      .toEqual({ state: "failed", error: "plugin stopping" });
    expect(forwarder.calls).toEqual([]);
  });
});
