/**
 * JSON request bodies read as dockerd reads them (Go's encoding/json), so a client's bad JSON
 * gets Go's words: `invalid character 'b' looking for beginning of object key string`,
 * `unexpected EOF`, … dockerd 20.10 answers those with 500; statedock answers 400, as later
 * dockerd releases do, since the mistake is the client's.
 */

/** Go's `quoteChar`: the byte as a quoted character for error messages. */
function quoteChar(c: number): string {
  if (c === 0x27) return `'\\''`;
  if (c === 0x22) return `'"'`;
  return `'${goQuote(String.fromCharCode(c))}'`;
}

/** The inside of Go's strconv.Quote for one character. */
function goQuote(ch: string): string {
  const code = ch.charCodeAt(0);
  const named: Record<number, string> = {
    7: '\\a',
    8: '\\b',
    9: '\\t',
    10: '\\n',
    11: '\\v',
    12: '\\f',
    13: '\\r',
    0x5c: '\\\\',
  };
  if (named[code] !== undefined) return named[code];
  if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, '0')}`;
  // U+0080–U+009F are not printable in Go; U+00A0 and up (Latin-1) are, except U+00AD.
  if (code >= 0x80 && code < 0xa0) return `\\u00${code.toString(16).padStart(2, '0')}`;
  if (code === 0xad) return '\\u00ad';
  return ch;
}

/** A syntax error found while scanning; `eof` when the input ended inside a value. */
class ScanError extends Error {
  readonly eof: boolean;
  /** Where the input ended, when Go's Unmarshal reports it as an invalid ' ' there. */
  readonly endedIn: string | null;
  constructor(message: string, eof = false, endedIn: string | null = null) {
    super(message);
    this.eof = eof;
    this.endedIn = endedIn;
  }
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * Scans one JSON value starting at `i` (after leading space), as Go's scanner does; returns
 * the index just after it. Throws a ScanError with Go's message on the first bad byte.
 */
function scanValue(b: Buffer, start: number): number {
  let i = start;
  const peek = (): number => (i < b.length ? (b[i] as number) : -1);
  const eof = (endedIn: string | null = null): never => {
    throw new ScanError('unexpected EOF', true, endedIn);
  };
  const bad = (c: number, context: string): never => {
    throw new ScanError(`invalid character ${quoteChar(c)} ${context}`);
  };
  const skipSpace = (): void => {
    while (i < b.length && isSpace(b[i] as number)) i++;
  };
  const literal = (word: string): void => {
    for (let k = 1; k < word.length; k++) {
      const c = peek();
      if (c < 0) eof(`in literal ${word} (expecting ${quoteChar(word.charCodeAt(k))})`);
      if (c !== word.charCodeAt(k))
        bad(c, `in literal ${word} (expecting ${quoteChar(word.charCodeAt(k))})`);
      i++;
    }
  };
  const string = (): void => {
    i++; // the opening quote
    for (;;) {
      const c = peek();
      if (c < 0) eof();
      i++;
      if (c === 0x22) return;
      if (c < 0x20) bad(c, 'in string literal');
      if (c === 0x5c) {
        const e = peek();
        if (e < 0) eof('in string escape code');
        i++;
        if (e === 0x75) {
          for (let k = 0; k < 4; k++) {
            const h = peek();
            if (h < 0) eof('in \\u hexadecimal character escape');
            if (!/[0-9a-fA-F]/.test(String.fromCharCode(h)))
              bad(h, 'in \\u hexadecimal character escape');
            i++;
          }
        } else if (!'"\\/bfnrt'.includes(String.fromCharCode(e))) bad(e, 'in string escape code');
      }
    }
  };
  const digits = (): number => {
    let n = 0;
    while (peek() >= 0x30 && peek() <= 0x39) {
      i++;
      n++;
    }
    return n;
  };
  const number = (): void => {
    if (peek() === 0x2d) {
      i++;
      const c = peek();
      if (c < 0) eof('in numeric literal');
      if (c < 0x30 || c > 0x39) bad(c, 'in numeric literal');
    }
    if (peek() === 0x30) i++;
    else digits();
    if (peek() === 0x2e) {
      i++;
      const c = peek();
      if (c < 0) eof('after decimal point in numeric literal');
      if (c < 0x30 || c > 0x39) bad(c, 'after decimal point in numeric literal');
      digits();
    }
    if (peek() === 0x65 || peek() === 0x45) {
      i++;
      if (peek() === 0x2b || peek() === 0x2d) i++;
      const c = peek();
      if (c < 0) eof('in exponent of numeric literal');
      if (c < 0x30 || c > 0x39) bad(c, 'in exponent of numeric literal');
      digits();
    }
  };
  /** A scalar (string, number, literal) at i, or a container opened: returns what was opened. */
  const begin = (): 'obj' | 'arr' | null => {
    skipSpace();
    const c = peek();
    if (c < 0) eof();
    if (c === 0x7b || c === 0x5b) {
      i++;
      return c === 0x7b ? 'obj' : 'arr';
    }
    if (c === 0x22) string();
    else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) number();
    else if (c === 0x74 || c === 0x66 || c === 0x6e) {
      i++;
      literal(c === 0x74 ? 'true' : c === 0x66 ? 'false' : 'null');
    } else bad(c, 'looking for beginning of value');
    return null;
  };
  /** An object key and its colon. */
  const key = (): void => {
    skipSpace();
    const k = peek();
    if (k < 0) eof();
    if (k !== 0x22) bad(k, 'looking for beginning of object key string');
    string();
    skipSpace();
    const colon = peek();
    if (colon < 0) eof();
    if (colon !== 0x3a) bad(colon, 'after object key');
    i++;
  };
  // Iterative, with Go's nesting limit: a deeply nested body costs no stack.
  const open: ('obj' | 'arr')[] = [];
  let next = begin();
  for (;;) {
    if (next !== null) {
      if (open.length >= 10000) throw new ScanError('exceeded max depth');
      open.push(next);
      skipSpace();
      const close = next === 'obj' ? 0x7d : 0x5d;
      if (peek() === close) {
        i++;
        open.pop();
      } else {
        if (next === 'obj') key();
        next = begin();
        continue;
      }
    }
    const top = open[open.length - 1];
    if (top === undefined) return i;
    skipSpace();
    const sep = peek();
    if (sep < 0) eof();
    i++;
    if (sep === (top === 'obj' ? 0x7d : 0x5d)) {
      open.pop();
      next = null;
      continue;
    }
    if (sep !== 0x2c)
      bad(sep, top === 'obj' ? 'after object key:value pair' : 'after array element');
    if (top === 'obj') key();
    next = begin();
  }
}

/** Why a body is not JSON, in Go's words; null when it is. */
export function goJsonError(body: Buffer, mode: 'decode' | 'unmarshal'): string | null {
  let i = 0;
  while (i < body.length && isSpace(body[i] as number)) i++;
  if (i === body.length) return mode === 'decode' ? 'EOF' : 'unexpected end of JSON input';
  try {
    const end = scanValue(body, i);
    if (mode === 'unmarshal') {
      let j = end;
      while (j < body.length && isSpace(body[j] as number)) j++;
      if (j < body.length)
        return `invalid character ${quoteChar(body[j] as number)} after top-level value`;
    }
    return null;
  } catch (err) {
    const e = err as ScanError;
    if (e.eof && mode === 'unmarshal')
      return e.endedIn === null
        ? 'unexpected end of JSON input'
        : `invalid character ' ' ${e.endedIn}`;
    return e.message;
  }
}

/**
 * Parses a request body as dockerd's `json.NewDecoder(r.Body).Decode` does: the first JSON
 * value, what follows it ignored; an empty body is `EOF`. Throws `{ message }` in Go's words.
 */
export function decodeJsonBody(body: Buffer): unknown {
  const problem = goJsonError(body, 'decode');
  if (problem !== null) throw new GoJsonError(problem);
  let i = 0;
  while (i < body.length && isSpace(body[i] as number)) i++;
  const end = scanValue(body, i);
  return JSON.parse(body.subarray(i, end).toString('utf8')) as unknown;
}

/** A query parameter holding JSON (`filters=`), read as `json.Unmarshal` reads it. */
export function unmarshalJson(text: string): unknown {
  const problem = goJsonError(Buffer.from(text, 'utf8'), 'unmarshal');
  if (problem !== null) throw new GoJsonError(problem);
  return JSON.parse(text) as unknown;
}

export class GoJsonError extends Error {
  override name = 'GoJsonError';
}

/** The JSON kind Go names in an UnmarshalTypeError. */
export function goKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'object';
  if (typeof v === 'boolean') return 'bool';
  return typeof v === 'number' ? 'number' : 'string';
}

/** A Go field type, as far as a body's shape is checked: scalars, lists, maps, nested structs. */
export type GoType =
  | 'string'
  | 'bool'
  | 'int'
  | 'float'
  | '[]string'
  | 'map[string]string'
  /** Docker's strslice: a string or a list of strings. */
  | 'strslice'
  /** Anything that is a JSON object (a map or struct checked no further). */
  | 'object'
  | '[]object'
  | GoStruct
  /** A list of structs, each element checked (`[]network.IPAMConfig`). */
  | { slice: GoStruct };

export interface GoStruct {
  struct: string;
  fields: Record<string, GoType>;
}

function goTypeName(t: GoType): string {
  if (typeof t !== 'string') return 'slice' in t ? `[]${t.slice.struct}` : t.struct;
  if (t === 'float') return 'float64';
  if (t === 'strslice') return 'strslice.StrSlice';
  if (t === 'object') return 'struct';
  if (t === '[]object') return '[]struct';
  return t;
}

/**
 * Checks a decoded body against the Go struct dockerd decodes it into, with encoding/json's
 * words for a value of the wrong kind (`json: cannot unmarshal string into Go struct field
 * ContainerConfigWrapper.HostConfig.Binds of type []string`). `null` is any field's zero value
 * and unknown fields are ignored, as in Go; names match case-insensitively.
 */
export function checkGoStruct(
  body: unknown,
  struct: string,
  fields: Record<string, GoType>,
): Record<string, unknown> {
  if (body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body))
    throw new GoJsonError(`json: cannot unmarshal ${goKind(body)} into Go value of type ${struct}`);
  checkFields(body as Record<string, unknown>, fields, bareName(struct), '');
  return body as Record<string, unknown>;
}

const bareName = (struct: string): string => struct.slice(struct.lastIndexOf('.') + 1);

/** Go names a field by its innermost struct and its path from the top: `HostConfig.HostConfig.Binds`. */
function checkFields(
  obj: Record<string, unknown>,
  fields: Record<string, GoType>,
  struct: string,
  path: string,
): void {
  for (const [k, v] of Object.entries(obj)) {
    const name = Object.keys(fields).find((f) => f.toLowerCase() === k.toLowerCase());
    if (name === undefined || v === null) continue;
    checkValue(v, fields[name] as GoType, struct, path === '' ? name : `${path}.${name}`);
  }
}

function checkValue(v: unknown, type: GoType, struct: string, path: string): void {
  const wrong = (kind: string, t: string = goTypeName(type)): GoJsonError =>
    new GoJsonError(
      `json: cannot unmarshal ${kind} into Go struct field ${struct}.${path} of type ${t}`,
    );
  if (typeof type !== 'string' && 'slice' in type) {
    if (!Array.isArray(v)) throw wrong(goKind(v));
    for (const x of v) if (x !== null) checkValue(x, type.slice, struct, path);
    return;
  }
  if (typeof type !== 'string') {
    if (typeof v !== 'object' || Array.isArray(v)) throw wrong(goKind(v));
    checkFields(v as Record<string, unknown>, type.fields, bareName(type.struct), path);
    return;
  }
  switch (type) {
    case 'string':
      if (typeof v !== 'string') throw wrong(goKind(v));
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw wrong(goKind(v));
      return;
    case 'int':
      if (typeof v !== 'number') throw wrong(goKind(v));
      if (!Number.isSafeInteger(v)) throw wrong(`number ${String(v)}`);
      return;
    case 'float':
      if (typeof v !== 'number') throw wrong(goKind(v));
      return;
    case 'object':
      if (typeof v !== 'object' || Array.isArray(v)) throw wrong(goKind(v));
      return;
    case '[]object':
      if (!Array.isArray(v)) throw wrong(goKind(v));
      for (const x of v)
        if (x !== null && (typeof x !== 'object' || Array.isArray(x)))
          throw wrong(goKind(x), 'struct');
      return;
    case '[]string':
      if (!Array.isArray(v)) throw wrong(goKind(v));
      for (const x of v) if (x !== null && typeof x !== 'string') throw wrong(goKind(x), 'string');
      return;
    case 'strslice':
      // strslice decodes a list of strings, else a string: its error is the string's.
      if (typeof v === 'string') return;
      if (Array.isArray(v) && v.every((x) => x === null || typeof x === 'string')) return;
      throw wrong(goKind(v), 'string');
    case 'map[string]string':
      if (typeof v !== 'object' || Array.isArray(v)) throw wrong(goKind(v));
      for (const x of Object.values(v as Record<string, unknown>))
        if (x !== null && typeof x !== 'string') throw wrong(goKind(x), 'string');
      return;
  }
}
