import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";

/**
 * The licence material of everything a release executable embeds, gathered
 * from the installed packages: this project, each npm package the bundle pulls
 * in, and the Bun runtime the compiler wraps around it.
 */

/** One embedded component and the files that carry its licence. */
export interface Component {
  name: string;
  version: string;
  /** The SPDX expression its package.json declares. */
  license: string;
  /** Folder under LICENSES/ for its files. */
  folder: string;
  /** file name under `folder` → where it is copied from, or its text. */
  files: Map<string, { from: string } | { text: string }>;
  /** Why a licence text is missing, if one is. */
  missing: string[];
  /** Notes shown in LICENSES/README.txt. */
  notes: string[];
}

const LICENSE_FILE = /^(licen[cs]e|copying|notice)(\.|-|$)/i;
const APACHE_MARKERS = ["Apache License", "Version 2.0, January 2004", "END OF TERMS AND CONDITIONS"];
/** Phrases that show a source notice is a licence's full text, not only a pointer to it. */
const FULL_TEXT_MARKERS: Record<string, string> = {
  "BSD-3-Clause": "Neither the name of",
  "BSD-2-Clause": "Redistribution and use in source and binary forms",
  MIT: "Permission is hereby granted",
};

/** The npm packages a bundle of `entry` pulls in, with the files it takes from each. */
export async function embeddedPackages(root: string, entry: string): Promise<Map<string, string[]>> {
  const result = await Bun.build({ entrypoints: [join(root, entry)], target: "bun", metafile: true });
  if (!result.success) throw new Error(`bundling ${entry} for its inputs failed`);
  const raw: unknown = result.metafile;
  const meta = (typeof raw === "string" ? JSON.parse(raw) : raw) as { inputs: Record<string, unknown> };
  const packages = new Map<string, string[]>();
  for (const input of Object.keys(meta.inputs)) {
    const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\/(.+)$/.exec(input);
    if (!match) continue;
    const [, name, file] = match as unknown as [string, string, string];
    packages.set(name, [...(packages.get(name) ?? []), file]);
  }
  return packages;
}

/** An installed Apache-2.0 text, for components that name the licence without shipping it. */
export function apacheText(root: string): string {
  const candidates = [join(root, "node_modules/typescript/LICENSE"), "/usr/share/common-licenses/Apache-2.0"];
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    const text = readFileSync(path, "utf8");
    if (APACHE_MARKERS.every((marker) => text.includes(marker))) return path;
  }
  throw new Error(`no installed Apache-2.0 text found (looked at ${candidates.join(", ")})`);
}

/** Licence files a package ships at its top level. */
function shippedLicenses(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((file) => LICENSE_FILE.test(file) && statSync(join(dir, file)).isFile())
    .map((file) => join(dir, file));
}

/** The leading comment of a source file, verbatim, when it is a copyright or licence notice. */
function leadingNotice(text: string): string | undefined {
  const lines = text.replace(/^(#![^\n]*\n|\s*\n)*/, "").split("\n");
  const comment: string[] = [];
  if (lines[0]?.trimStart().startsWith("//")) {
    for (const line of lines) {
      if (!line.trimStart().startsWith("//")) break;
      comment.push(line);
    }
  } else if (lines[0]?.trimStart().startsWith("/*")) {
    for (const line of lines) {
      comment.push(line);
      if (line.includes("*/")) break;
    }
  }
  // A "//" notice may run straight into an ordinary comment: end it at its last licence line.
  let last = comment.length - 1;
  if (lines[0]?.trimStart().startsWith("//")) {
    while (last >= 0 && !/licen[cs]e|copyright|warrant|damage/i.test(comment[last]!)) last--;
  }
  const notice = comment.slice(0, last + 1).join("\n");
  return /copyright|licen[cs]e/i.test(notice) ? notice : undefined;
}

/** SPDX identifiers in an expression such as "(Apache-2.0 AND BSD-3-Clause)". */
export function spdxIds(expression: string): string[] {
  return expression.replace(/[()]/g, " ").split(/\s+/).filter((word) => word && !/^(AND|OR|WITH)$/.test(word));
}

/** One npm package the bundle embeds: its own licence files, else its source notices plus full texts. */
export function npmComponent(root: string, name: string, files: string[], apache: string): Component {
  const dir = join(root, "node_modules", name);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const component: Component = { name, version: pkg.version, license: String(pkg.license ?? "UNKNOWN"),
    folder: name, files: new Map(), missing: [], notes: [] };
  const shipped = shippedLicenses(dir);
  for (const path of shipped) component.files.set(basename(path), { from: path });

  const notices = new Map<string, string[]>();
  for (const file of files) {
    const notice = leadingNotice(readFileSync(join(dir, file), "utf8"));
    if (notice) notices.set(notice, [...(notices.get(notice) ?? []), file]);
  }
  if (notices.size > 0) {
    const parts = [...notices].map(([notice, from]) =>
      `== ${from.length === 1 ? from[0] : `${from.length} files, e.g. ${from[0]}`}\n\n${notice}\n`);
    component.files.set("source-notices.txt", { text:
      `Copyright and licence notices heading the ${name} ${component.version} files\n` +
      `embedded in this executable, verbatim and each once.\n\n${parts.join("\n")}` });
  }
  if (shipped.length > 0) return component;

  const noticeText = [...notices.keys()].join("\n");
  for (const id of spdxIds(component.license)) {
    if (id === "Apache-2.0") {
      component.files.set("Apache-2.0.txt", { from: apache });
      component.notes.push(`the package ships no licence file; Apache-2.0.txt is the licence text from ${relative(root, apache)}`);
    } else if (FULL_TEXT_MARKERS[id] && noticeText.includes(FULL_TEXT_MARKERS[id]!)) {
      component.notes.push(`its ${id} text is the full notice in source-notices.txt`);
    } else {
      component.missing.push(`${id}: the package ships no licence file and no source notice has its full text`);
    }
  }
  return component;
}

/** This project: its LICENSE at the repository root, else the licence its package.json names. */
export function projectComponent(root: string, apache: string): Component {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const component: Component = { name: pkg.name, version: pkg.version, license: pkg.license,
    folder: pkg.name, files: new Map(), missing: [], notes: [] };
  const own = shippedLicenses(root);
  if (own.length > 0) {
    for (const path of own) component.files.set(basename(path), { from: path });
  } else if (pkg.license === "Apache-2.0") {
    component.files.set("LICENSE", { from: apache });
    component.notes.push(`the repository has no LICENSE file yet; LICENSE is the Apache-2.0 text from ${relative(root, apache)}`);
  } else {
    component.missing.push(`${pkg.license}: the repository has no LICENSE file`);
  }
  return component;
}

/**
 * The Bun runtime inside the executable. Its npm packages carry only the SPDX
 * id, so its licence texts come from the installed packages if a later
 * version ships them, or from files the release is given (--bun-license).
 */
export function bunComponent(root: string, runtimePackage: string, version: string,
  packageDirs: string[], given: string[]): Component {
  const component: Component = { name: `Bun runtime (${runtimePackage})`, version, license: "MIT",
    folder: "bun", files: new Map(), missing: [], notes: [] };
  for (const dir of packageDirs) {
    const pkgFile = join(dir, "package.json");
    if (existsSync(pkgFile)) {
      component.license = String(JSON.parse(readFileSync(pkgFile, "utf8")).license ?? "MIT");
    }
  }
  const found = [join(root, "node_modules/bun"), ...packageDirs].flatMap(shippedLicenses);
  for (const path of found) component.files.set(basename(path), { from: path });
  for (const path of given) {
    if (!existsSync(path)) throw new Error(`--bun-license ${path}: no such file or folder`);
    if (statSync(path).isDirectory()) {
      for (const file of readdirSync(path, { recursive: true }) as string[]) {
        if (statSync(join(path, file)).isFile()) component.files.set(file, { from: join(path, file) });
      }
    } else {
      component.files.set(basename(path), { from: path });
    }
  }
  if (component.files.size === 0) {
    component.missing.push(`${component.license} and the licences of the libraries Bun links statically: ` +
      `no installed Bun package ships their text; pass them with --bun-license FILE_OR_FOLDER`);
  }
  return component;
}

/** Writes LICENSES/ for these components: their files and a README.txt index. */
export function writeLicenses(dir: string, title: string, components: Component[]): void {
  mkdirSync(dir, { recursive: true });
  const rows: string[] = [];
  for (const component of components) {
    const folder = join(dir, component.folder);
    for (const [name, source] of component.files) {
      const target = join(folder, name);
      mkdirSync(dirname(target), { recursive: true });
      if ("from" in source) cpSync(source.from, target);
      else writeFileSync(target, source.text);
    }
    rows.push(`${component.name} ${component.version}`);
    rows.push(`  licence: ${component.license}`);
    const listed = [...component.files.keys()].sort().map((name) => `${component.folder}/${name}`);
    if (listed.length > 0) rows.push(`  files:   ${listed.join("\n           ")}`);
    for (const note of component.notes) rows.push(`  note:    ${note}`);
    for (const missing of component.missing) rows.push(`  MISSING: ${missing}`);
    rows.push("");
  }
  writeFileSync(join(dir, "README.txt"), `${title}\n\n${rows.join("\n")}`);
}
