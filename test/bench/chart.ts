/**
 * The latency chart: one panel per kind of pod start, each the cumulative
 * distribution of RunPodSandbox round trips (log time axis) per plugin.
 * Written as SVG and turned into PNG with rsvg-convert.
 */
import { existsSync, writeFileSync } from "node:fs";

export interface Series {
  label: string;
  color: string;
  /** Round trips in µs. */
  values: number[];
}

export interface Panel {
  title: string;
  series: Series[];
}

const WIDTH = 1000;
const PANEL_H = 340;
const MARGIN = { left: 70, right: 240, top: 40, bottom: 50 };
/** The y axis stretches the tail: position ∝ -log10(1 - q), up to q = 99.9%. */
const TOP_Q = 0.999;
const tail = (q: number) => -Math.log10(1 - Math.min(q, TOP_Q));

function esc(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

function niceTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let decade = 10 ** Math.floor(Math.log10(min)); decade <= max; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const v = m * decade;
      if (v >= min && v <= max) ticks.push(v);
    }
  }
  return ticks;
}

function label(us: number): string {
  return us >= 1000 ? `${us / 1000} ms` : `${us} µs`;
}

/**
 * The cumulative distribution as SVG: x is the round trip on a log scale,
 * clipped at the 99.9th percentile of all values; y is the share of calls
 * that took at most that long, with the tail stretched.
 */
export function cdfSvg(panels: Panel[], title: string, note: string): string {
  const all = panels.flatMap((p) => p.series.flatMap((s) => s.values)).sort((a, b) => a - b);
  const lo = Math.max(1, all[0] ?? 1) * 0.9;
  const hi = (all[Math.floor(all.length * 0.999)] ?? all.at(-1) ?? 10) * 1.1;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_H - MARGIN.top - MARGIN.bottom;
  const height = 50 + panels.length * PANEL_H + 30;
  const x = (v: number) =>
    MARGIN.left + ((Math.log10(Math.min(Math.max(v, lo), hi)) - Math.log10(lo)) /
      (Math.log10(hi) - Math.log10(lo))) * plotW;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
    `font-family="DejaVu Sans, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="28" text-anchor="middle" font-size="17" font-weight="bold">` +
    `${esc(title)}</text>`,
  ];
  panels.forEach((panel, index) => {
    const top = 50 + index * PANEL_H;
    const y = (q: number) => top + MARGIN.top + (1 - tail(q) / tail(TOP_Q)) * plotH;
    parts.push(`<text x="${MARGIN.left}" y="${top + 22}" font-size="15" font-weight="bold">` +
      `${esc(panel.title)}</text>`);
    for (const q of [0, 0.5, 0.75, 0.9, 0.95, 0.99, TOP_Q]) {
      parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(q)}" ` +
        `y2="${y(q)}" stroke="#ddd"/>`,
        `<text x="${MARGIN.left - 6}" y="${y(q) + 4}" text-anchor="end">` +
        `${Number((q * 100).toFixed(1))}%</text>`);
    }
    for (const t of niceTicks(lo, hi)) {
      parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${y(0)}" y2="${y(TOP_Q)}" stroke="#eee"/>`,
        `<text x="${x(t)}" y="${y(0) + 18}" text-anchor="middle">${label(t)}</text>`);
    }
    parts.push(`<rect x="${MARGIN.left}" y="${y(TOP_Q)}" width="${plotW}" height="${plotH}" ` +
      `fill="none" stroke="#444"/>`,
      `<text x="${MARGIN.left + plotW / 2}" y="${y(0) + 38}" text-anchor="middle">` +
      `round trip seen by the runtime (log scale); y: share of calls at most that long</text>`);
    panel.series.forEach((s, i) => {
      const sorted = [...s.values].sort((a, b) => a - b);
      const n = sorted.length;
      const points: string[] = [];
      let last = "";
      for (let k = 0; k < n; k++) {
        const point = `${x(sorted[k]!).toFixed(1)},${y((k + 1) / n).toFixed(1)}`;
        if (point !== last) points.push(point);
        last = point;
      }
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" ` +
        `points="${points.join(" ")}"/>`);
      const ly = top + MARGIN.top + 16 + i * 22;
      const lx = MARGIN.left + plotW + 14;
      parts.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}" ` +
        `stroke="${s.color}" stroke-width="3"/>`,
        `<text x="${lx + 30}" y="${ly}">${esc(s.label)}</text>`);
    });
  });
  parts.push(`<text x="${WIDTH / 2}" y="${height - 12}" text-anchor="middle" fill="#555">` +
    `${esc(note)}</text>`, "</svg>");
  return parts.join("\n");
}

/** rsvg-convert's path, installing librsvg2-bin with apt-get when allowed and missing. */
export function rsvgConvert(install: boolean, log: (line: string) => void): string | undefined {
  const find = () => Bun.which("rsvg-convert") ?? undefined;
  const found = find();
  if (found || !install) return found;
  if (!Bun.which("apt-get") || process.getuid?.() !== 0) return undefined;
  log("installing librsvg2-bin (rsvg-convert) with apt-get to draw the chart");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  let run = Bun.spawnSync(["apt-get", "install", "-y", "--no-install-recommends", "librsvg2-bin"],
    { env, stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) {
    Bun.spawnSync(["apt-get", "update"], { env, stdout: "pipe", stderr: "pipe" });
    run = Bun.spawnSync(["apt-get", "install", "-y", "--no-install-recommends", "librsvg2-bin"],
      { env, stdout: "pipe", stderr: "pipe" });
  }
  if (run.exitCode !== 0) log(`apt-get install librsvg2-bin failed:\n${run.stderr}`);
  return find();
}

/** Writes the SVG and, when rsvg-convert is there, the PNG; returns what was written. */
export function writeChart(svg: string, svgPath: string, pngPath: string, tool?: string):
  { svg: string; png?: string; problem?: string } {
  writeFileSync(svgPath, svg);
  if (!tool) return { svg: svgPath, problem: "rsvg-convert not available; SVG only" };
  const run = Bun.spawnSync([tool, "--format", "png", "--output", pngPath, svgPath],
    { stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0 || !existsSync(pngPath)) {
    return { svg: svgPath, problem: `rsvg-convert failed: ${run.stderr.toString().trim()}` };
  }
  return { svg: svgPath, png: pngPath };
}
