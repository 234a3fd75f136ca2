import {
  endpointReleasedBeforeForget,
  endpointRulesAroundLink,
  networkRemovedWhenEmpty,
  recordedBeforeMade,
  type Constraint,
} from '../check/constraints.ts';

/**
 * The network controller's orderings, checked on every trace with a netOp actor:
 * - a record is written before the namespace, veth or bridge it names exists (a crash at any
 *   point leaves the restore a record of everything to clean: moby 18283, docker/for-linux 109);
 * - an endpoint's published-port rules are in place before its veth, and go only after it (a
 *   container is never on a link its rules do not cover);
 * - a network's bridge and rules go only once no endpoint remains on it (libnetwork's
 *   ActiveEndpointsError, as an ordering);
 * - a container's endpoints are released before the container is forgotten (moby 20398: a
 *   stale endpoint outliving its container blocks the next one of that name).
 */
export const networkConstraints: Constraint[] = [
  recordedBeforeMade(),
  endpointRulesAroundLink(),
  networkRemovedWhenEmpty(),
  endpointReleasedBeforeForget(),
];
