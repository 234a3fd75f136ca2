import { readFileSync } from 'node:fs';
import { traceFormat, traceVersion, type TraceHeader, type TraceRecord } from './trace.ts';

/** A trace that cannot be read, with the line that says why. */
export class TraceFileError extends Error {
  override name = 'TraceFileError';
}

/** Parses a JSON-lines trace; every problem names the file and line. */
export function parseTrace(
  text: string,
  source = 'trace',
): { header: TraceHeader; records: TraceRecord[] } {
  const lines = text.split('\n');
  let header: TraceHeader | null = null;
  const records: TraceRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (cause) {
      throw new TraceFileError(
        `${source}:${i + 1}: not JSON (${(cause as Error).message}); a trace is one JSON object per line`,
      );
    }
    if (
      typeof value !== 'object' ||
      value === null ||
      typeof (value as { kind?: unknown }).kind !== 'string'
    )
      throw new TraceFileError(`${source}:${i + 1}: a record must be an object with a "kind"`);
    const rec = value as { kind: string };
    if (header === null) {
      if (rec.kind !== 'header' || (rec as TraceHeader).format !== traceFormat)
        throw new TraceFileError(
          `${source}:${i + 1}: not a statedock trace (the first line must be its header with "format":"${traceFormat}")`,
        );
      const h = rec as TraceHeader;
      if (h.version !== traceVersion)
        throw new TraceFileError(
          `${source}:${i + 1}: trace version ${String(h.version)} is not supported (this statedock reads version ${traceVersion})`,
        );
      header = h;
      continue;
    }
    const r = rec as TraceRecord;
    if (typeof r.seq !== 'number' || typeof r.actor !== 'string')
      throw new TraceFileError(`${source}:${i + 1}: record without "seq" or "actor"`);
    records.push(r);
  }
  if (header === null) throw new TraceFileError(`${source}: empty file, no trace header`);
  return { header, records };
}

export function readTraceFile(path: string): { header: TraceHeader; records: TraceRecord[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'EIO';
    throw new TraceFileError(
      `cannot read trace ${path}: ${code === 'ENOENT' ? 'no such file' : code}`,
    );
  }
  return parseTrace(text, path);
}
