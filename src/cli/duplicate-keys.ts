/**
 * Finds mapping keys given twice in a YAML or JSON text. Bun.YAML.parse keeps
 * the last value of a repeated key without a word, while kubectl may refuse
 * such a file and other readers keep another value, so `check` warns about
 * them. This is a scanner, not a parser: it follows block mappings by their
 * indentation, sequences, flow collections ({...} and [...], so JSON too),
 * quoted and block scalars, and skips what it does not follow (complex `?`
 * keys); it may miss a repeat but does not invent one in a valid document.
 * Two keys are the same when the YAML reader makes the same property name of
 * them: each key alone goes through Bun.YAML, so escapes in quotes are
 * decoded, and `~` (null) is not the text "~".
 */

export interface DuplicateKey {
  key: string;
  /** The mapping holding the key, e.g. "metadata" or "items[1].metadata"; "" at the top. */
  path: string;
  /** 1-based line of the repeat. */
  line: number;
  /** 1-based line where the key was first given. */
  firstLine: number;
}

/** One block mapping (or, with `item`, one sequence entry not yet known to be one). */
interface Scope {
  indent: number;
  path: string;
  keys: Map<string, number>;
  lastKey?: string;
  /** Entries of the sequence under lastKey so far. */
  items: number;
  item?: boolean;
}

interface FlowFrame {
  map: boolean;
  path: string;
  keys: Map<string, number>;
  index: number;
  key?: string;
  /** The scalar last read, as written. */
  scalar?: { source: string; offset: number };
  sawColon: boolean;
}

export function findDuplicateKeys(text: string): DuplicateKey[] {
  return new Scanner(text).scan();
}

class Scanner {
  private readonly lines: string[];
  private readonly starts: number[] = [];
  private readonly found: DuplicateKey[] = [];
  /** Property names of the keys seen, by their text. */
  private readonly names = new Map<string, string>();

  constructor(private readonly text: string) {
    this.lines = text.split("\n").map((line) => line.replace(/\r$/, ""));
    let offset = 0;
    for (const line of text.split("\n")) {
      this.starts.push(offset);
      offset += line.length + 1;
    }
  }

  scan(): DuplicateKey[] {
    let stack: Scope[] = [rootScope()];
    let i = 0;
    while (i < this.lines.length) {
      const line = this.lines[i]!;
      if (DOCUMENT_MARKER.test(line)) {
        stack = [rootScope()];
        // "--- |", "--- !!str >", "--- {...}": the document's node starts on the marker's line.
        const at = line.startsWith("---") ? line.slice(3).search(/\S/) : -1;
        i = at < 0 ? i + 1 : this.value(stack, i, -1, 3 + at, -1);
        continue;
      }
      const indent = line.search(/\S/);
      if (indent < 0 || line[indent] === "#" || (indent === 0 && line[0] === "%")) {
        i++;
        continue;
      }
      i = this.blockLine(stack, i, indent);
    }
    return this.found;
  }

  /** Reads the content line `i`; returns the next line to read. */
  private blockLine(stack: Scope[], i: number, indent: number): number {
    const line = this.lines[i]!;
    let col = indent;
    let inItem = false;
    // "- ", possibly several ("- - a"): each opens a sequence entry.
    while (/^-(\s|$)/.test(line.slice(col))) {
      popTo(stack, col);
      const parent = stack.at(-1)!;
      const path = `${childPath(parent)}[${parent.items++}]`;
      stack.push({ indent: col, path, keys: new Map(), items: 0, item: true });
      inItem = true;
      const rest = line.slice(col + 1);
      const spaces = rest.search(/\S/);
      if (spaces < 0) return i + 1; // the entry's content starts on the next line
      col += 1 + spaces;
    }
    const rest = line.slice(col);
    const key = parseKey(rest);
    if (!key && inItem) return this.scalar(stack, i, col, rest, stack.at(-1)!.indent);
    // A value on a line of its own: a block scalar's lines go on as deep as the node around it.
    if (!key) return this.scalar(stack, i, col, rest, col, enclosing(stack, col));
    popTo(stack, col);
    let scope = stack.at(-1)!;
    if (scope.item || scope.indent !== col) {
      scope = { indent: col, path: childPath(scope), keys: new Map(), items: 0 };
      stack.push(scope);
    }
    const name = this.name(key.source);
    const shown = key.quoted ? name : key.source;
    const first = scope.keys.get(name);
    if (first === undefined) scope.keys.set(name, i + 1);
    else this.found.push({ key: shown, path: scope.path, line: i + 1, firstLine: first });
    scope.lastKey = shown;
    scope.items = 0;
    const value = rest.slice(key.end);
    const skipped = value.search(/\S/);
    if (skipped < 0) return i + 1;
    return this.value(stack, i, col, col + key.end + skipped, col);
  }

  /** A value that is not a key: a scalar, a flow collection, or a sequence entry's scalar. */
  private scalar(stack: Scope[], i: number, col: number, rest: string, owner: number,
    blockOwner = owner): number {
    if (rest.startsWith("?")) return this.skipDeeper(i + 1, owner); // complex key: not followed
    return this.value(stack, i, owner, col, owner, blockOwner);
  }

  /**
   * The value at column `col` of line `i`, belonging to a node at column
   * `owner`; lines it spans are skipped. `keyCol` is the key's own column. A
   * block scalar's lines are those deeper than `blockOwner`: the column of the
   * key or entry it is the value of, even when it starts on a later line.
   */
  private value(stack: Scope[], i: number, keyCol: number, col: number, owner: number,
    blockOwner = owner): number {
    let text = this.lines[i]!.slice(col);
    // Anchors and tags before the value ("&base", "!!map") change nothing here.
    let tagged = /^[&!]\S*(\s+|$)/.exec(text);
    while (tagged) {
      col += tagged[0].length;
      text = text.slice(tagged[0].length);
      tagged = /^[&!]\S*(\s+|$)/.exec(text);
    }
    if (text === "" || text.startsWith("#")) return i + 1; // a nested block follows
    const offset = this.starts[i]! + col;
    const first = text[0]!;
    if (first === "|" || first === ">") return this.skipDeeper(i + 1, blockOwner);
    if (first === '"' || first === "'") {
      const end = quotedEnd(this.text, offset);
      return end < 0 ? this.lines.length : this.lineOf(end - 1) + 1;
    }
    if (first === "{" || first === "[") {
      const scope = stack.at(-1)!;
      const path = scope.indent === keyCol && !scope.item ? childPath(scope) : scope.path;
      const end = this.flow(offset, path);
      return this.lineOf(Math.max(end - 1, offset)) + 1;
    }
    return this.skipDeeper(i + 1, owner); // a plain scalar may go on over deeper lines
  }

  /**
   * The first line from `i` on that is not blank and not deeper than
   * `indent`, or that starts a document (no scalar holds one).
   */
  private skipDeeper(i: number, indent: number): number {
    while (i < this.lines.length) {
      const at = this.lines[i]!.search(/\S/);
      if ((at >= 0 && at <= indent) || DOCUMENT_MARKER.test(this.lines[i]!)) break;
      i++;
    }
    return i;
  }

  /** Scans the flow collection opening at `start`; returns the offset after it. */
  private flow(start: number, path: string): number {
    const text = this.text;
    const stack: FlowFrame[] = [];
    let i = start;
    while (i < text.length) {
      const ch = text[i]!;
      const top = stack.at(-1);
      if (ch === "{" || ch === "[") {
        const inner = !top ? path
          : top.map ? join(top.path, top.key ?? "?") : `${top.path}[${top.index}]`;
        if (top) top.scalar = undefined;
        stack.push({ map: ch === "{", path: inner, keys: new Map(), index: 0, sawColon: false });
        i++;
      } else if (ch === "}" || ch === "]") {
        stack.pop();
        i++;
        if (stack.length === 0) return i;
      } else if (!top) {
        return i;
      } else if (ch === ",") {
        Object.assign(top, { key: undefined, scalar: undefined, sawColon: false });
        top.index++;
        i++;
      } else if (ch === ":" && top.map && !top.sawColon) {
        top.key = top.scalar && this.flowKey(top, top.scalar.source, top.scalar.offset);
        top.scalar = undefined;
        top.sawColon = true;
        i++;
      } else if (ch === "#" && /\s/.test(text[i - 1] ?? "\n")) {
        const end = text.indexOf("\n", i);
        i = end < 0 ? text.length : end;
      } else if (/\s/.test(ch)) {
        i++;
      } else if (ch === '"' || ch === "'") {
        const end = quotedEnd(text, i);
        if (end < 0) return text.length;
        top.scalar = { source: text.slice(i, end), offset: i };
        i = end;
      } else {
        let j = i;
        while (j < text.length && !endsPlain(text, j)) j++;
        top.scalar = { source: text.slice(i, j).trim(), offset: i };
        i = Math.max(j, i + 1);
      }
    }
    return text.length;
  }

  /** Notes a flow mapping's key; returns it as shown. */
  private flowKey(frame: FlowFrame, source: string, offset: number): string {
    const line = this.lineOf(offset) + 1;
    const name = this.name(source);
    const shown = isQuoted(source) ? name : source;
    const first = frame.keys.get(name);
    if (first === undefined) frame.keys.set(name, line);
    else this.found.push({ key: shown, path: frame.path, line, firstLine: first });
    return shown;
  }

  /** The property name the YAML reader makes of a key written as `source`. */
  private name(source: string): string {
    let name = this.names.get(source);
    if (name === undefined) {
      name = propertyName(source);
      this.names.set(source, name);
    }
    return name;
  }

  /** 0-based line of an offset. */
  private lineOf(offset: number): number {
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.starts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    return low;
  }
}

const DOCUMENT_MARKER = /^(---|\.\.\.)(\s|$)/;

function rootScope(): Scope {
  return { indent: -1, path: "", keys: new Map(), items: 0 };
}

/**
 * Leaves the scopes a line at `col` is outside of: deeper ones, and a
 * sequence entry at that very column (a key or a new "-" there ends it).
 */
function popTo(stack: Scope[], col: number): void {
  while (stack.length > 1) {
    const top = stack.at(-1)!;
    if (top.indent < col || (top.indent === col && !top.item)) break;
    stack.pop();
  }
}

/** The column of the innermost node a line at `col` lies inside (-1: the document). */
function enclosing(stack: Scope[], col: number): number {
  for (let k = stack.length - 1; k >= 0; k--) if (stack[k]!.indent < col) return stack[k]!.indent;
  return -1;
}

/** The path of what hangs under a scope: its last key, or the entry itself. */
function childPath(scope: Scope): string {
  return scope.lastKey === undefined ? scope.path : join(scope.path, scope.lastKey);
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** A block-mapping key at the start of `rest`: its text as written and where its ":" ends. */
function parseKey(rest: string): { source: string; quoted: boolean; end: number } | undefined {
  const first = rest[0];
  if (first === '"' || first === "'") {
    const end = quotedEnd(rest, 0);
    if (end < 0) return undefined;
    const colon = /^[ \t]*:(?=\s|$)/.exec(rest.slice(end));
    return colon ? { source: rest.slice(0, end), quoted: true, end: end + colon[0].length }
      : undefined;
  }
  if (first === undefined || ("[]{}#&*!|>%@`?-".includes(first) && !/^[-?]\S/.test(rest))) {
    return undefined;
  }
  const colon = /:(?=\s|$)/.exec(rest);
  if (!colon) return undefined;
  const name = rest.slice(0, colon.index).trimEnd();
  if (name === "" || /\s#/.test(name)) return undefined;
  return { source: name, quoted: false, end: colon.index + 1 };
}

function isQuoted(source: string): boolean {
  return source.startsWith('"') || source.startsWith("'");
}

/**
 * What Bun.YAML makes of `source` as a key: quoted ones decoded, plain ones
 * resolved (`~` is "null", `1.0` is "1"). A key it will not read alone (the
 * whole file then fails to parse too) is taken as written, unquoted.
 */
function propertyName(source: string): string {
  try {
    const parsed: unknown = Bun.YAML.parse(`${source}: 0`);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
      const names = Object.keys(parsed);
      if (names.length === 1) return names[0]!;
    }
  } catch {
    // fall through
  }
  return isQuoted(source) ? unquote(source) : source;
}

/** The offset after the quoted scalar opening at `start`, or -1 if it never closes. */
function quotedEnd(text: string, start: number): number {
  const quote = text[start];
  for (let i = start + 1; i < text.length; i++) {
    const ch = text[i];
    if (quote === '"' && ch === "\\") i++;
    else if (ch === quote) {
      if (quote === "'" && text[i + 1] === "'") i++;
      else return i + 1;
    }
  }
  return -1;
}

function unquote(quoted: string): string {
  if (quoted.startsWith("'")) return quoted.slice(1, -1).replaceAll("''", "'");
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return quoted.slice(1, -1);
  }
}

/** Where a plain scalar inside a flow collection stops. */
function endsPlain(text: string, j: number): boolean {
  const ch = text[j]!;
  if (",[]{}\n".includes(ch)) return true;
  if (ch === ":") return j + 1 >= text.length || /[\s,[\]{}]/.test(text[j + 1]!);
  return ch === "#" && /\s/.test(text[j - 1] ?? "");
}
