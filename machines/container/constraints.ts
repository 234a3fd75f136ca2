import {
  containerEventsOrdered,
  persistedBeforeReply,
  type Constraint,
} from '../check/constraints.ts';

/**
 * The container machine's orderings: Docker's event order (create first, a die between two
 * starts — the exit is recorded before any restart — and destroy last), and every
 * acknowledged transition written to the store before the API hears about it.
 */
export const containerConstraints: Constraint[] = [
  containerEventsOrdered(),
  persistedBeforeReply(),
];
