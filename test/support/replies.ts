import type { TraceRecord } from '../../effects/trace.ts';

/** An API request's answer, as the machine that answered it marked it in the trace. */
export interface Reply {
  req: string;
  result: string;
  message?: string;
}

/** The replies among `records`, in the order they were marked. */
export function repliesOf(records: readonly TraceRecord[]): Reply[] {
  return records.flatMap((r) => {
    if (r.kind !== 'mark' || r.mark.mark !== 'reply') return [];
    const message = r.mark['message'];
    return [
      {
        req: String(r.mark['req']),
        result: String(r.mark['result']),
        ...(typeof message === 'string' ? { message } : {}),
      },
    ];
  });
}
