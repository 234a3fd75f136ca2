import type { Catalog, ConstraintVerdict, RowChunk, SourceInfo } from '../protocol.ts';
import type { SourceLine } from '../rows.ts';

/** The inspector server's API (src/inspector/server.ts), from the page. */

async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, signal ? { signal } : {});
  if (!res.ok) {
    let message = `${res.status}`;
    try {
      message = ((await res.json()) as { message?: string }).message ?? message;
    } catch {
      // the status says enough
    }
    throw new Error(`${path}: ${message}`);
  }
  return (await res.json()) as T;
}

const base = (id: string): string => `/api/sources/${encodeURIComponent(id)}`;

export const api = {
  sources: () => getJson<SourceInfo[]>('/api/sources'),
  catalog: (id: string) => getJson<Catalog>(`${base(id)}/catalog`),
  records: (id: string, from: number, to: number) =>
    getJson<SourceLine[]>(`${base(id)}/records?from=${from}&to=${to}`),
  constraints: (id: string, upto: number, signal: AbortSignal) =>
    getJson<ConstraintVerdict[]>(`${base(id)}/constraints?upto=${upto}`, signal),

  /** Reads the rows stream: one chunk per line, handed over as each line completes. */
  async rows(id: string, onChunk: (c: RowChunk) => void): Promise<void> {
    const res = await fetch(`${base(id)}/rows`);
    if (!res.ok || !res.body) throw new Error(`rows of ${id}: ${res.status}`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim() !== '') onChunk(JSON.parse(line) as RowChunk);
      }
    }
  },
};
