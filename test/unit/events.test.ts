import { describe, expect, test } from "bun:test";
import { Event } from "../../src/gen/nri/pkg/api/v1alpha1/api_pb.ts";
import {
  eventBit,
  LEGACY_VALID_EVENTS,
  parseVersion,
  subscriptionMask,
  VALID_EVENTS_V0_10,
  validEventsFor,
} from "../../src/nri/events.ts";

describe("eventBit", () => {
  test("RUN_POD_SANDBOX is bit 0x1", () => {
    expect(eventBit(Event.RUN_POD_SANDBOX)).toBe(0x1);
  });

  test("REMOVE_CONTAINER is bit 0x400", () => {
    expect(eventBit(Event.REMOVE_CONTAINER)).toBe(0x400);
  });

  test("UPDATE_POD_SANDBOX is bit 0x800", () => {
    expect(eventBit(Event.UPDATE_POD_SANDBOX)).toBe(0x800);
  });

  test("VALIDATE_CONTAINER_ADJUSTMENT is bit 0x2000", () => {
    expect(eventBit(Event.VALIDATE_CONTAINER_ADJUSTMENT)).toBe(0x2000);
  });
});

describe("validEventsFor", () => {
  test("the legacy and v0.10 sets are 0x7ff and 0x3fff", () => {
    expect([LEGACY_VALID_EVENTS, VALID_EVENTS_V0_10]).toEqual([0x7ff, 0x3fff]);
  });

  test("a runtime that sends no NRI version gets the legacy set", () => {
    expect(validEventsFor("")).toBe(0x7ff);
  });

  test("v0.8.0 gets the legacy set", () => {
    expect(validEventsFor("v0.8.0")).toBe(0x7ff);
  });

  test("v0.10.0 gets the v0.10 set", () => {
    expect(validEventsFor("v0.10.0")).toBe(0x3fff);
  });

  test("v0.12.2 gets the v0.10 set", () => {
    expect(validEventsFor("v0.12.2")).toBe(0x3fff);
  });

  test("a text that is not a version gets the legacy set", () => {
    expect(validEventsFor("unknown")).toBe(0x7ff);
  });
});

describe("subscriptionMask", () => {
  test("RUN_POD_SANDBOX alone is 1 on a runtime without an NRI version", () => {
    expect(subscriptionMask([Event.RUN_POD_SANDBOX], "")).toBe(1);
  });

  test("RUN_POD_SANDBOX alone is 1 on v0.12.2", () => {
    expect(subscriptionMask([Event.RUN_POD_SANDBOX], "v0.12.2")).toBe(1);
  });

  test("bits an old runtime does not know are left out", () => {
    expect(subscriptionMask([Event.RUN_POD_SANDBOX, Event.UPDATE_POD_SANDBOX], "")).toBe(1);
  });

  test("bits a new runtime knows are kept", () => {
    expect(subscriptionMask([Event.RUN_POD_SANDBOX, Event.UPDATE_POD_SANDBOX], "v0.12.2"))
      .toBe(0x801);
  });

  test("only bits unknown to an old runtime throws instead of answering 0", () => {
    expect(() => subscriptionMask([Event.UPDATE_POD_SANDBOX], ""))
      .toThrow("no subscribed event is known to a runtime on NRI < v0.12");
  });

  test("no events at all throws instead of answering 0", () => {
    expect(() => subscriptionMask([], "v0.12.2")).toThrow(/no subscribed event/);
  });
});

describe("parseVersion", () => {
  test("reads v-prefixed and bare versions", () => {
    expect(parseVersion("v0.12.2")).toEqual([0, 12, 2]);
    expect(parseVersion("1.2")).toEqual([1, 2, 0]);
  });

  test("an empty text is not a version", () => {
    expect(parseVersion("")).toBeUndefined();
  });
});
