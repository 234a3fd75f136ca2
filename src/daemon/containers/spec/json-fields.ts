import { MalformedRequest } from './errors.ts';

/**
 * Reads the fields of a create request's JSON with the types dockerd's Go structs give them,
 * failing as Go's encoding/json does (`json: cannot unmarshal string into Go struct field
 * HostConfig.HostConfig.Memory of type int64`). `null` or an absent field is the zero value.
 */
export class Fields {
  private readonly obj: Record<string, unknown>;
  /** The Go struct that holds these fields (HostConfig, Ulimit …) and the path to them from the request's root. */
  private readonly struct: string;
  private readonly path: string;

  constructor(value: unknown, struct: string, path: string) {
    this.struct = struct;
    this.path = path;
    if (value === undefined || value === null) this.obj = {};
    else if (typeof value === 'object' && !Array.isArray(value))
      this.obj = value as Record<string, unknown>;
    else
      throw new MalformedRequest(
        `json: cannot unmarshal ${jsonKind(value)} into Go ${path === '' ? 'value' : `struct field ${struct}.${path}`} of type ${goStructOf(struct)}`,
      );
  }

  /** The raw value (undefined when absent). */
  raw(key: string): unknown {
    return this.obj[key];
  }

  has(key: string): boolean {
    const v = this.obj[key];
    return v !== undefined && v !== null;
  }

  keys(): string[] {
    return Object.keys(this.obj);
  }

  private fail(key: string, value: unknown, goType: string, detail = false): never {
    const where = this.path === '' ? key : `${this.path}.${key}`;
    throw new MalformedRequest(
      `json: cannot unmarshal ${jsonKind(value, detail)} into Go struct field ${this.struct}.${where} of type ${goType}`,
    );
  }

  str(key: string): string {
    const v = this.obj[key];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') this.fail(key, v, 'string');
    return v;
  }

  bool(key: string): boolean {
    const v = this.obj[key];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') this.fail(key, v, 'bool');
    return v;
  }

  /** A bool pointer: null when absent. */
  optBool(key: string): boolean | null {
    return this.has(key) ? this.bool(key) : null;
  }

  /** An integer of a Go type (int64, int, uint16, uint64, uint32). */
  int(key: string, goType: IntType = 'int64'): number {
    const v = this.obj[key];
    if (v === undefined || v === null) return 0;
    if (typeof v !== 'number') this.fail(key, v, goType);
    const [min, max] = intRange[goType];
    if (!Number.isInteger(v) || v < min || v > max) this.fail(key, v, goType, true);
    return v;
  }

  /** An int64 pointer: null when absent. */
  optInt(key: string, goType: 'int64' | 'int' = 'int64'): number | null {
    return this.has(key) ? this.int(key, goType) : null;
  }

  /** `[]string`: null when absent. */
  strings(key: string): string[] | null {
    const v = this.obj[key];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v)) this.fail(key, v, '[]string');
    for (const s of v) if (typeof s !== 'string') this.fail(key, s, 'string');
    return v as string[];
  }

  /** Docker's StrSlice (Cmd, Entrypoint, CapAdd …): a list, or one string. */
  strSlice(key: string): string[] | null {
    const v = this.obj[key];
    if (typeof v === 'string') return [v];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))
      this.fail(key, v, 'strslice.StrSlice');
    return v as string[];
  }

  /** `map[string]string`: null when absent. */
  stringMap(key: string): Record<string, string> | null {
    const v = this.obj[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(key, v, 'map[string]string');
    for (const s of Object.values(v)) if (typeof s !== 'string') this.fail(key, s, 'string');
    return v as Record<string, string>;
  }

  /** A map of any values (`Volumes`: `map[string]struct {}`): null when absent. */
  anyMap(key: string, goType: string): Record<string, unknown> | null {
    const v = this.obj[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(key, v, goType);
    return v as Record<string, unknown>;
  }

  /** A nested struct's fields. */
  struct_(key: string, struct: string): Fields {
    const v = this.obj[key];
    const where = this.path === '' ? key : `${this.path}.${key}`;
    if (v !== undefined && v !== null && (typeof v !== 'object' || Array.isArray(v)))
      throw new MalformedRequest(
        `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${this.struct}.${where} of type ${goStructOf(struct)}`,
      );
    return new Fields(v, struct, where);
  }

  /** A list of structs (Ulimits, Devices, Mounts …). */
  structs(key: string, struct: string): Fields[] {
    const v = this.obj[key];
    if (v === undefined || v === null) return [];
    const where = this.path === '' ? key : `${this.path}.${key}`;
    if (!Array.isArray(v))
      throw new MalformedRequest(
        `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${this.struct}.${where} of type []${goStructOf(struct)}`,
      );
    return v.map((item) => {
      if (item !== null && (typeof item !== 'object' || Array.isArray(item)))
        throw new MalformedRequest(
          `json: cannot unmarshal ${jsonKind(item)} into Go struct field ${this.struct}.${where} of type ${goStructOf(struct)}`,
        );
      return new Fields(item, struct, where);
    });
  }
}

/** The Go integer types a field may have (time.Duration is an int64 of nanoseconds). */
type IntType = 'int64' | 'int' | 'uint16' | 'uint64' | 'uint32' | 'time.Duration';

const intRange: Record<IntType, [number, number]> = {
  int64: [-(2 ** 63), 2 ** 63 - 1],
  'time.Duration': [-(2 ** 63), 2 ** 63 - 1],
  int: [-(2 ** 63), 2 ** 63 - 1],
  uint64: [0, 2 ** 64 - 1],
  uint32: [0, 2 ** 32 - 1],
  uint16: [0, 2 ** 16 - 1],
};

/** The package-qualified Go type of a struct, as Go's error names it. */
function goStructOf(struct: string): string {
  return struct === 'ContainerConfigWrapper'
    ? 'runconfig.ContainerConfigWrapper'
    : `container.${struct}`;
}

/** How Go's json error names a JSON value's kind (`number 1.5` for a number that does not fit). */
function jsonKind(v: unknown, detail = false): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return detail ? `number ${String(v)}` : 'number';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return 'array';
  return 'object';
}
