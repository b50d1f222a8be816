import type { CollectorMessage__Output } from '../proto/generated/kedaebpf/collector/v1/CollectorMessage.js';

/**
 * The ingest hot path's CollectorMessage decoder for reports: straight from the bytes to the
 * plain objects proto-loader would give (toObject with defaults), without protobufjs'
 * intermediate message objects, which doubled the allocations per target delta (a fifth of
 * the ingest CPU went to garbage collection). The fields come from the loaded descriptors,
 * so a field added to the proto is decoded (and defaulted) without touching this file.
 *
 * It decodes only what it is sure of: a CollectorMessage holding just a report, of fields
 * of the types below with their proto3 wire types. For anything else (a Hello, an unknown
 * field, a wire type protobufjs would read differently, a truncated length) it returns
 * undefined and the caller decodes with protobufjs, so every message decodes (or fails) as
 * protobufjs decodes it. test/unit/ingest-report-decoder.test.ts compares the two over a
 * corpus of generated and mutated messages.
 */

type Kind = 'string' | 'bool' | 'uint32' | 'uint64' | 'int64' | 'message';

interface FieldSpec {
  readonly name: string;
  readonly kind: Kind;
  readonly repeated: boolean;
  readonly message?: MessageSpec;
}

interface MessageSpec {
  /** By field number. */
  readonly fields: readonly (FieldSpec | undefined)[];
  /** The toObject defaults, arrays first (toObject's own key order). */
  readonly defaults: () => Record<string, unknown>;
}

/** What a proto-loader MessageTypeDefinition's `type` (a DescriptorProto as JSON) holds here. */
export interface DescriptorField {
  readonly name: string;
  readonly number: number;
  readonly label: string;
  readonly type: string;
  readonly typeName: string;
}
export type DescriptorOf = (typeName: string) => { readonly field: readonly DescriptorField[] } | undefined;

const KINDS: Readonly<Record<string, Kind>> = {
  TYPE_STRING: 'string',
  TYPE_BOOL: 'bool',
  TYPE_UINT32: 'uint32',
  TYPE_UINT64: 'uint64',
  TYPE_INT64: 'int64',
  TYPE_MESSAGE: 'message',
};

function specOf(typeName: string, descriptorOf: DescriptorOf, depth = 0): MessageSpec | undefined {
  const descriptor = descriptorOf(typeName);
  if (!descriptor || depth > 2) return undefined;
  const fields: (FieldSpec | undefined)[] = [];
  for (const f of descriptor.field) {
    const kind = KINDS[f.type];
    if (kind === undefined || f.number > 64) return undefined;
    const repeated = f.label === 'LABEL_REPEATED';
    let message: MessageSpec | undefined;
    if (kind === 'message') {
      // Only repeated sub-messages (a singular one defaults to null, and is not needed here).
      if (!repeated) return undefined;
      message = specOf(f.typeName, descriptorOf, depth + 1);
      if (!message) return undefined;
    }
    fields[f.number] = { name: f.name, kind, repeated, ...(message ? { message } : {}) };
  }
  const ordered = [...descriptor.field].sort((a, b) => Number(b.label === 'LABEL_REPEATED') - Number(a.label === 'LABEL_REPEATED'));
  const specs = ordered.map((f) => fields[f.number]!);
  const shape: Record<string, unknown> = {};
  for (const s of specs) shape[s.name] = s.repeated ? [] : s.kind === 'string' ? '' : s.kind === 'bool' ? false : 0;
  // Objects given two dozen properties by computed names fall into V8's slow dictionary mode
  // (and so would everything that reads them): JSON.parse builds the template with fast
  // properties, and a spread copy keeps its shape. Arrays are then replaced by fresh ones.
  const template = JSON.parse(JSON.stringify(shape)) as Record<string, unknown>;
  const arrays = specs.filter((s) => s.repeated).map((s) => s.name);
  const defaults = (): Record<string, unknown> => {
    const out = { ...template };
    for (const name of arrays) out[name] = [];
    return out;
  };
  return { fields, defaults };
}

/** Thrown inside the decoder to decline a message (never escapes). */
const DECLINE = Symbol('decline');

class Cursor {
  pos = 0;
  /** The two halves of the last 64-bit varint read (as protobufjs' LongBits). */
  lo = 0;
  hi = 0;

  constructor(
    readonly buf: Buffer,
    public end: number,
  ) {}

  /** protobufjs' uint32(): up to 5 bytes; the 5th gives 4 bits; a 5th continuation skips 5 more. */
  uint32(): number {
    const buf = this.buf;
    if (this.pos >= this.end) throw DECLINE;
    let value = (buf[this.pos]! & 127) >>> 0;
    if (buf[this.pos++]! < 128) return value;
    for (let shift = 7; shift <= 21; shift += 7) {
      if (this.pos >= this.end) throw DECLINE;
      value = (value | ((buf[this.pos]! & 127) << shift)) >>> 0;
      if (buf[this.pos++]! < 128) return value;
    }
    if (this.pos >= this.end) throw DECLINE;
    value = (value | ((buf[this.pos]! & 15) << 28)) >>> 0;
    if (buf[this.pos++]! < 128) return value;
    // Longer than protobufjs' plain 5-byte form: leave it to protobufjs.
    throw DECLINE;
  }

  /** protobufjs' readLongVarint: sets lo and hi. Varints longer than 10 bytes are declined. */
  long(): void {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let i = 0;
    for (; i < 4; i++) {
      if (this.pos >= this.end) throw DECLINE;
      lo = (lo | ((buf[this.pos]! & 127) << (i * 7))) >>> 0;
      if (buf[this.pos++]! < 128) {
        this.lo = lo;
        this.hi = 0;
        return;
      }
    }
    if (this.pos >= this.end) throw DECLINE;
    // 5th byte: 4 bits to lo, 3 to hi.
    lo = (lo | ((buf[this.pos]! & 127) << 28)) >>> 0;
    hi = (hi | ((buf[this.pos]! & 127) >> 4)) >>> 0;
    if (buf[this.pos++]! < 128) {
      this.lo = lo;
      this.hi = hi;
      return;
    }
    for (i = 0; i < 5; i++) {
      if (this.pos >= this.end) throw DECLINE;
      hi = (hi | ((buf[this.pos]! & 127) << (i * 7 + 3))) >>> 0;
      if (buf[this.pos++]! < 128) {
        this.lo = lo;
        this.hi = hi;
        return;
      }
    }
    throw DECLINE;
  }

  uint64(): number {
    this.long();
    return this.lo + this.hi * 4294967296;
  }

  int64(): number {
    this.long();
    if (this.hi >>> 31) {
      const lo = (~this.lo + 1) >>> 0;
      let hi = ~this.hi >>> 0;
      if (!lo) hi = (hi + 1) >>> 0;
      return -(lo + hi * 4294967296);
    }
    return this.lo + this.hi * 4294967296;
  }

  scalar(kind: Kind): unknown {
    switch (kind) {
      case 'uint32':
        return this.uint32();
      case 'bool':
        return this.uint32() !== 0;
      case 'uint64':
        return this.uint64();
      case 'int64':
        return this.int64();
      case 'string': {
        const len = this.uint32();
        if (this.pos + len > this.end) throw DECLINE;
        const s = this.buf.toString('utf8', this.pos, this.pos + len);
        this.pos += len;
        return s;
      }
      default:
        throw DECLINE;
    }
  }

  message(spec: MessageSpec, end: number): Record<string, unknown> {
    const out = spec.defaults();
    const outerEnd = this.end;
    this.end = end;
    while (this.pos < end) {
      const tag = this.uint32();
      const field = spec.fields[tag >>> 3];
      const wire = tag & 7;
      if (field === undefined) throw DECLINE;
      if (field.kind === 'message') {
        if (wire !== 2) throw DECLINE;
        const len = this.uint32();
        const subEnd = this.pos + len;
        if (subEnd > end) throw DECLINE;
        (out[field.name] as unknown[]).push(this.message(field.message!, subEnd));
        this.end = end;
      } else if (field.repeated) {
        const list = out[field.name] as unknown[];
        if (wire === 2 && field.kind !== 'string') {
          const len = this.uint32();
          const packedEnd = this.pos + len;
          if (packedEnd > end) throw DECLINE;
          this.end = packedEnd;
          while (this.pos < packedEnd) list.push(this.scalar(field.kind));
          this.end = end;
        } else {
          if (wire !== wireOf(field.kind)) throw DECLINE;
          list.push(this.scalar(field.kind));
        }
      } else {
        if (wire !== wireOf(field.kind)) throw DECLINE;
        out[field.name] = this.scalar(field.kind);
      }
    }
    if (this.pos !== end) throw DECLINE;
    this.end = outerEnd;
    return out;
  }
}

function wireOf(kind: Kind): number {
  return kind === 'string' || kind === 'message' ? 2 : 0;
}

/**
 * A decoder for CollectorMessages that hold a report, from the package's descriptors;
 * undefined when the report's fields use a type it does not know (then protobufjs decodes all).
 * The decoder returns undefined for a message it declines.
 */
export function reportDecoder(descriptorOf: DescriptorOf): ((bytes: Buffer) => CollectorMessage__Output | undefined) | undefined {
  const report = specOf('Report', descriptorOf);
  if (!report) return undefined;
  return (bytes) => {
    try {
      const cursor = new Cursor(bytes, bytes.length);
      // CollectorMessage: exactly one field 2 (report), length-delimited, filling the message.
      if (cursor.uint32() !== ((2 << 3) | 2)) return undefined;
      const len = cursor.uint32();
      if (cursor.pos + len !== bytes.length) return undefined;
      const decoded = cursor.message(report, bytes.length);
      return { report: decoded, body: 'report' } as unknown as CollectorMessage__Output;
    } catch (err) {
      if (err === DECLINE) return undefined;
      throw err;
    }
  };
}
