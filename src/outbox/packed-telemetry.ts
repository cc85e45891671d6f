/**
 * Telemetry as the outbox stores it. A poll's JSON record repeats, for every value, its
 * point id, unit and quality — three quarters of its text, the same from poll to poll.
 * Stored packed, a record keeps its head and its numbers only:
 *
 *   {"kind":"telemetry","device":"m1","model":"eastron-sdm630","ts_ms":…,"values":[230.1,…]}
 *
 * and the rest lives once, in a layout: the ids, units and qualities in order, stored in
 * the outbox's own table in the transaction of the first record that uses it. The outbox
 * hands sinks the record exactly as JSON.stringify wrote it (`text()`), or as the UTF-8
 * bytes of an MQTT payload (`bytes()`).
 *
 * An SDM630 poll of 55 values is 1,076 characters packed instead of 4,092: a quarter of
 * SQLite's copying, of the WAL written and checkpointed, and of what the newest rows hold in
 * memory. Joining the text when a sink reads the record costs about what joining it when
 * the poll was stored did.
 */

/** The text before the numbers of a packed record: its head ends here. */
const VALUES_OPEN = ',"values":[';
const VALUES_KEY = ',"values":';

/**
 * A device's points in order as a poll lists them when each is a plain reading (no source
 * time, no status): ids, units, qualities, and the JSON text between one value and the next
 * (glue[i] comes before value i, glue[n] closes the record). Meters of one model share one.
 */
export class TelemetryLayout {
  constructor(
    /** 0 for a layout of the unstored registry (its records are written in full). */
    readonly id: number,
    readonly ids: readonly string[],
    readonly units: readonly string[],
    readonly qualities: readonly string[],
    readonly glue: readonly string[],
    /** ids, units and qualities as one text: what is stored, and how layouts are told apart. */
    readonly spec: string,
  ) {}

  get size(): number {
    return this.ids.length;
  }

  private encodedGlue: Uint8Array[] | null = null;
  private encodedGlueBytes = 0;

  /** The glue as UTF-8 (made at first use: only layouts whose records are published need it). */
  get glueBytes(): readonly Uint8Array[] {
    if (this.encodedGlue === null) {
      this.encodedGlue = this.glue.map((g) => Buffer.from(g, 'utf8'));
      this.encodedGlueBytes = this.encodedGlue.reduce((sum, g) => sum + g.length, 0);
    }
    return this.encodedGlue;
  }

  /** Bytes of all the glue in UTF-8. */
  get glueByteLength(): number {
    void this.glueBytes;
    return this.encodedGlueBytes;
  }
}

/** A layout as stored: [ids, units, qualities]. */
type LayoutSpec = [string[], string[], string[]];

/**
 * More layouts than this and new ones are not made (their polls are stored in full). A
 * layout holds its points' text twice (ids, glue), a few kilobytes for a large meter: a
 * site has a few dozen models, each with a few quality patterns, and this bounds what a
 * meter whose qualities flicker in every combination can cost.
 */
export const MAX_LAYOUTS = 2_000;
/** Devices whose current layout is remembered (the table is cleared when full). */
const MAX_DEVICES = 10_000;

/**
 * The layouts one outbox knows: those it has stored, and those made since that its next
 * commit stores. Ids are the outbox's own; a registry made without an outbox (`stored:
 * false`) hands out id 0, which packs nothing.
 */
export class TelemetryLayouts {
  private readonly bySpec = new Map<string, TelemetryLayout>();
  private readonly byId = new Map<number, TelemetryLayout>();
  private readonly byDevice = new Map<string, TelemetryLayout>();
  private unstored: TelemetryLayout[] = [];
  private nextId = 1;
  private last: TelemetryLayout | null = null;

  constructor(private readonly stored = true) {}

  /** Layouts read back from the outbox (id, spec). */
  load(rows: Iterable<[number, string]>): void {
    for (const [id, spec] of rows) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(spec);
      } catch {
        continue;
      }
      if (!isSpec(parsed)) continue;
      const layout = makeLayout(id, parsed[0], parsed[1], parsed[2], spec);
      this.bySpec.set(spec, layout);
      this.byId.set(id, layout);
      this.nextId = Math.max(this.nextId, id + 1);
    }
  }

  /** The device's layout as last remembered. */
  forDevice(device: string): TelemetryLayout | undefined {
    return this.byDevice.get(device);
  }

  /**
   * Remembers the device's points as listed; the layout is shared with every device whose
   * points are the same. Undefined when no more layouts may be made.
   */
  remember(device: string, ids: string[], units: string[], qualities: string[]): TelemetryLayout | undefined {
    const last = this.last;
    let layout: TelemetryLayout | undefined;
    if (last !== null && sameList(last.ids, ids) && sameList(last.units, units) && sameList(last.qualities, qualities)) {
      layout = last;
    } else {
      const spec = JSON.stringify([ids, units, qualities]);
      layout = this.bySpec.get(spec);
      if (layout === undefined) {
        if (this.bySpec.size >= MAX_LAYOUTS) {
          this.byDevice.delete(device);
          return undefined;
        }
        layout = makeLayout(this.stored ? this.nextId++ : 0, ids, units, qualities, spec);
        this.bySpec.set(spec, layout);
        if (this.stored) {
          this.byId.set(layout.id, layout);
          this.unstored.push(layout);
        }
      }
      this.last = layout;
    }
    if (this.byDevice.size >= MAX_DEVICES && !this.byDevice.has(device)) this.byDevice.clear();
    this.byDevice.set(device, layout);
    return layout;
  }

  /** A stored (or to be stored) layout by id. */
  get(id: number): TelemetryLayout | undefined {
    return this.byId.get(id);
  }

  /** Layouts made since the last commit that stored them: the next commit stores them. */
  takeUnstored(): TelemetryLayout[] {
    const taken = this.unstored;
    this.unstored = [];
    return taken;
  }

  /** A commit that was to store them failed: the next one does. */
  putBackUnstored(layouts: TelemetryLayout[]): void {
    this.unstored = [...layouts, ...this.unstored];
  }
}

function makeLayout(id: number, ids: string[], units: string[], qualities: string[], spec: string): TelemetryLayout {
  const glue: string[] = [];
  for (let i = 0; i <= ids.length; i++) {
    const before = i === 0 ? ',"values":{' : `${unitAndQualityText(units[i - 1]!, qualities[i - 1]!)}}`;
    glue.push(compact(i < ids.length ? `${before}${i === 0 ? '' : ','}${pointHeadText(ids[i]!)}` : `${before}}}`));
  }
  return new TelemetryLayout(id, ids, units, qualities, glue, spec);
}

function isSpec(x: unknown): x is LayoutSpec {
  if (!Array.isArray(x) || x.length !== 3) return false;
  const [a, b, c] = x as unknown[];
  return [a, b, c].every((l) => Array.isArray(l) && l.length === (a as unknown[]).length && l.every((s) => typeof s === 'string'));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `"id":{"value":` */
export function pointHeadText(id: string): string {
  return `${JSON.stringify(id)}:{"value":`;
}

/** `,"unit":"…","quality":"…"` */
export function unitAndQualityText(unit: string, quality: string): string {
  return `,"unit":${JSON.stringify(unit)},"quality":${JSON.stringify(quality)}`;
}

/**
 * The same text, held one byte per character where it can be. Point ids come from the
 * profile parser as two-byte strings (a YAML source with one character beyond Latin-1
 * makes every slice of it two-byte, whatever its content), and one two-byte piece makes
 * the whole record two-byte: twice the bytes to flatten, measure and convert to UTF-8 on
 * its way into SQLite. Latin-1 decoding always makes a one-byte string.
 */
export function compact(text: string): string {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return text;
  return Buffer.from(text, 'latin1').toString('latin1');
}

/**
 * The packed text of a poll whose values are `written` (JSON.stringify of the values in
 * layout order: numbers and nulls only) after the record's `head`.
 */
export function packedText(head: string, written: string): string {
  // Joined, so that it is one flat string at once (see withLayout in telemetry-json).
  return [head, VALUES_KEY, written, '}'].join('');
}

/** Whether a telemetry text is packed: it ends with its numbers' bracket, a full one with the values' brace. */
export function isPacked(text: string): boolean {
  return text.charCodeAt(text.length - 2) === 0x5d;
}

/**
 * A stored packed record. Its values are numbers and nulls only, as JSON wrote them, so
 * they hold no comma, bracket or quote of their own and can be cut at the commas.
 */
export class PackedTelemetry {
  private readonly valuesAt: number;

  constructor(readonly stored: string, readonly layout: TelemetryLayout | undefined) {
    this.valuesAt = stored.indexOf(VALUES_OPEN);
  }

  /** The record up to its values: `{"kind":"telemetry","device":…,"ts_ms":…`. */
  get head(): string {
    return this.valuesAt < 0 ? this.stored : this.stored.slice(0, this.valuesAt);
  }

  /** The numbers, as written, in order. */
  private numbers(): string[] {
    if (this.valuesAt < 0) return [];
    const inner = this.stored.slice(this.valuesAt + VALUES_OPEN.length, this.stored.length - 2);
    return inner.length === 0 ? [] : inner.split(',');
  }

  /** The record exactly as JSON.stringify writes it. */
  text(): string {
    const layout = this.layout;
    const stored = this.stored;
    const first = this.valuesAt + VALUES_OPEN.length;
    const close = stored.length - 2;
    if (layout === undefined || this.valuesAt < 0) return this.orphanText(this.numbers());
    const n = layout.size;
    // Not this layout's record (its numbers are not n): kept as uncertain.
    const ends = numberEnds(stored, first, close, n);
    if (ends === null) return this.orphanText(this.numbers());
    const glue = layout.glue;
    // Cut at the commas straight into the pieces to join: no array of numbers on the way.
    const parts = new Array<string>(2 * n + 2);
    parts[0] = stored.slice(0, this.valuesAt);
    let from = first;
    for (let k = 0; k < n; k++) {
      const to = ends[k]!;
      parts[2 * k + 1] = glue[k]!;
      parts[2 * k + 2] = stored.slice(from, to);
      from = to + 1;
    }
    parts[2 * n + 1] = glue[n]!;
    return parts.join('');
  }

  /**
   * The record's JSON as UTF-8 with its closing brace replaced by `suffix` (fields added at
   * its end, then the brace): the bytes of withSuffix(text(), suffix), written straight
   * into the payload from the layout's encoded glue and the stored numbers (ASCII, one
   * byte a character), without making the joined text first. Measured against joining and
   * encoding the text: 9–10 against 14–18 µs for 55 values, 4–6 against 9–10 µs for 30,
   * and no text of a few kilobytes left for the collector per message.
   */
  bytes(suffix: Buffer): Buffer {
    const layout = this.layout;
    const stored = this.stored;
    if (layout === undefined || this.valuesAt < 0) return withSuffix(this.text(), suffix);
    const n = layout.size;
    const first = this.valuesAt + VALUES_OPEN.length;
    const close = stored.length - 2;
    const ends = numberEnds(stored, first, close, n);
    // Not this layout's record: text() keeps its numbers as uncertain.
    if (ends === null) return withSuffix(this.text(), suffix);
    const glue = layout.glueBytes;
    const head = this.head;
    const headBytes = Buffer.byteLength(head);
    const numberChars = close - first - Math.max(0, n - 1);
    // The last glue piece ends with the record's closing brace, which the suffix replaces.
    const out = payloadBuffer(headBytes + layout.glueByteLength - 1 + numberChars + suffix.length);
    let pos = out.write(head, 0, headBytes, 'utf8');
    let from = first;
    for (let k = 0; k < n; k++) {
      const g = glue[k]!;
      out.set(g, pos);
      pos += g.length;
      const to = ends[k]!;
      for (let j = from; j < to; j++) {
        const c = stored.charCodeAt(j);
        // JSON writes numbers and null in ASCII; anything else is a damaged row.
        if (c > 0x7f) return withSuffix(this.text(), suffix);
        out[pos++] = c;
      }
      from = to + 1;
    }
    const last = glue[n]!;
    out.set(last.subarray(0, last.length - 1), pos);
    pos += last.length - 1;
    out.set(suffix, pos);
    return out;
  }

  /**
   * A record whose layout is not known (the outbox lost its row) or does not fit: its
   * numbers are kept, under their positions, as uncertain rather than dropped.
   */
  private orphanText(numbers: string[]): string {
    const values = numbers.map((x, i) => `${JSON.stringify(String(i))}:{"value":${x},"unit":"","quality":"uncertain","status":"layout unknown"}`);
    return `${this.head},"values":{${values.join(',')}}}`;
  }
}

/**
 * The text without its closing brace, then the suffix, as UTF-8 bytes. Written straight into
 * one buffer: the string `text.slice(0, -1) + suffix` would be copied once more into a flat
 * string to be measured, and encoded again when written to the socket.
 */
export function withSuffix(text: string, suffix: Buffer): Buffer {
  const body = text.slice(0, -1);
  const bodyBytes = Buffer.byteLength(body);
  const out = payloadBuffer(bodyBytes + suffix.length);
  out.write(body, 0, bodyBytes);
  suffix.copy(out, bodyBytes);
  return out;
}

/** Where each stored number ends, reused from call to call (see numberEnds). */
let endsScratch = new Int32Array(256);

/**
 * Where each of the `n` numbers between `first` and `close` ends (a comma, or `close` for
 * the last), or null when the numbers are not `n`: text() and bytes() cut by it. The array is
 * shared: valid until the next call.
 */
function numberEnds(stored: string, first: number, close: number, n: number): Int32Array | null {
  if (n === 0) return close === first ? endsScratch : null;
  if (endsScratch.length < n) endsScratch = new Int32Array(n * 2);
  const ends = endsScratch;
  let from = first;
  for (let k = 0; k < n - 1; k++) {
    const comma = stored.indexOf(',', from);
    if (comma < 0 || comma > close) return null;
    ends[k] = comma;
    from = comma + 1;
  }
  const extra = stored.indexOf(',', from);
  if (extra >= 0 && extra < close) return null;
  ends[n - 1] = close;
  return ends;
}

/**
 * Payload bytes are carved from a large slab, front to back, never reused: each slab is
 * freed once every payload cut from it has been written and dropped. Node's own pool is
 * 8 KiB, so a telemetry payload of a few kilobytes made a new ArrayBuffer every second
 * message, and making one cost more than writing the payload into it (measured: 4.0–4.7
 * µs against 1.6 µs per 3,000-byte payload, the write included).
 */
const SLAB_BYTES = 128 * 1024;
let slab = Buffer.allocUnsafeSlow(0);
let slabUsed = 0;

function payloadBuffer(size: number): Buffer {
  if (size > SLAB_BYTES / 4) return Buffer.allocUnsafe(size);
  if (slabUsed + size > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + size);
  // Each payload starts on an 8-byte boundary, as pooled Buffers do.
  slabUsed += (size + 7) & ~7;
  return out;
}
