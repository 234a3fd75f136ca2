/**
 * A machine built when first asked for. Building a chart costs a start-up milliseconds (xstate
 * resolves every state and transition of it), and the daemon needs few of its machines before
 * it answers its first request; the rest are built while it answers (`buildMachines`), or by
 * whatever spawns one first.
 */
export function buildOnce<M>(build: () => M): () => M {
  let machine: M | undefined;
  return () => (machine ??= build());
}
