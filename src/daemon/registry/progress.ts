/** Docker's JSON message stream (pkg/jsonmessage) for pull and push progress. */
export interface JsonMessage {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  progress?: string;
  errorDetail?: { message: string };
  error?: string;
  aux?: Record<string, unknown>;
}

/** go-units' HumanSizeWithPrecision(size, 4): decimal units, four significant digits. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${Number(v.toPrecision(4)).toString()}${units[i] as string}`;
}

/** The bar Docker draws: 50 columns of `=` with a `>` head, then `current/total`. */
export function progressBar(current: number, total: number): string {
  if (total <= 0 || current > total)
    return `[${'='.repeat(50)}>] ${humanSize(current).padStart(8)}`;
  const n = Math.floor((current * 50) / total);
  const bar = `[${'='.repeat(n)}>${' '.repeat(Math.max(0, 50 - n - 1))}] `;
  return `${bar}${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

export function progressMessage(
  status: string,
  id: string,
  current: number,
  total: number,
): JsonMessage {
  return { status, progressDetail: { current, total }, progress: progressBar(current, total), id };
}

/** A status line of a layer (`Pull complete`) or of the whole operation (`Digest: …`). */
export function statusMessage(status: string, id?: string): JsonMessage {
  return id === undefined ? { status } : { status, progressDetail: {}, id };
}

export function errorMessage(message: string): JsonMessage {
  return { errorDetail: { message }, error: message };
}

/** `X-Registry-Auth`: base64url (or standard base64) of Docker's AuthConfig JSON; empty when absent or unreadable. */
export function decodeRegistryAuth(header: string | undefined): Record<string, string> | null {
  if (header === undefined || header === '') return null;
  try {
    const json = Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString(
      'utf8',
    );
    const v = JSON.parse(json) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, string>) : null;
  } catch {
    return null;
  }
}
