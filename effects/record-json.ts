import type { RecordBody } from './trace.ts';

/**
 * A record's JSON, made once for everyone who writes it out in the same step (the flight
 * recorder and the inspection feed each write every record the session reports): records
 * carry whole specs and container records, and serialising each twice was a measurable part
 * of the daemon's CPU per container. Only the last record is remembered: both writers take
 * it synchronously, one after the other, and no record object outlives its step here.
 */
let lastRecord: RecordBody | null = null;
let lastJson = '';

/** `JSON.stringify(record)`, shared with the other writers of the same record. */
export function recordJson(record: RecordBody): string {
  if (record !== lastRecord) {
    lastJson = JSON.stringify(record);
    lastRecord = record;
  }
  return lastJson;
}

/** The line of a trace for `record` with its sequence number first (`{"seq":N,...}`), no newline. */
export function recordLine(seq: number, record: RecordBody): string {
  const body = recordJson(record);
  return `{"seq":${seq}${body.length > 2 ? `,${body.slice(1)}` : '}'}`;
}
