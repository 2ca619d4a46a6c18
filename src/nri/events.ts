import { Event } from "../gen/nri/pkg/api/v1alpha1/api_pb.ts";

/** The subscription bit of an event: 1 << (event - 1). */
export function eventBit(event: Event): number {
  return 1 << (event - 1);
}

/** Events every NRI runtime knows (v0.2 to v0.9): RUN_POD_SANDBOX .. REMOVE_CONTAINER. */
export const LEGACY_VALID_EVENTS = 0x7ff;
/** From NRI v0.10, UPDATE_POD_SANDBOX .. VALIDATE_CONTAINER_ADJUSTMENT are known too. */
export const VALID_EVENTS_V0_10 = 0x3fff;

/**
 * The events a runtime accepts in ConfigureResponse. A bit outside this set
 * fails Configure ("invalid plugin events"). Runtimes before v0.12 do not
 * send their NRI version, so they are taken to be the oldest.
 */
export function validEventsFor(nriVersion: string): number {
  const version = parseVersion(nriVersion);
  if (!version) return LEGACY_VALID_EVENTS;
  const [major, minor] = version;
  return major > 0 || minor >= 10 ? VALID_EVENTS_V0_10 : LEGACY_VALID_EVENTS;
}

/**
 * The mask to answer Configure with. 0 would subscribe the plugin to every
 * event (and make it a validator), so an empty result is an error.
 */
export function subscriptionMask(events: readonly Event[], nriVersion: string): number {
  const wanted = events.reduce((mask, event) => mask | eventBit(event), 0);
  const mask = wanted & validEventsFor(nriVersion);
  if (mask === 0) {
    throw new Error(`no subscribed event is known to a runtime on NRI ${nriVersion || "< v0.12"}`);
  }
  return mask;
}

/** Parses "v0.12.2" (or "0.12.2") into numbers; undefined when it is not a version. */
export function parseVersion(text: string): [number, number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}
