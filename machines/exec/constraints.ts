import { execEventsOrdered, type Constraint } from '../check/constraints.ts';

/**
 * The exec and health machines' orderings: an exec's events come as dockerd emits them
 * (create, start, then one die), and its die only once containerd reported the exit (its
 * /tasks/exit) or deleted the process, so the exit code it carries is containerd's.
 */
export const execConstraints: Constraint[] = [execEventsOrdered()];
