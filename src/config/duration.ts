const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "10s", "500ms", "1m30s" (Go's notation, whole numbers); undefined if invalid. */
export function parseDuration(text: string): number | undefined {
  const parts = text.trim().match(/(\d+)(ms|s|m|h)/g);
  if (!parts || parts.join("") !== text.trim()) return undefined;
  let total = 0;
  for (const part of parts) {
    const [, amount, unit] = /^(\d+)(ms|s|m|h)$/.exec(part)!;
    total += Number(amount) * UNITS[unit!]!;
  }
  return total;
}
