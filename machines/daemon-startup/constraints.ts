import { containerdClientCalls } from './containerd-calls.ts';
import { taskRequests } from '../container/task-requests.ts';
import {
  before,
  deferredUntil,
  effectsAfter,
  everyAcquiredReleasedAtShutdown,
  everyAcquiredReleasedOnFailure,
  nothingAcquiredAfterFailure,
  releasedNewestFirst,
  repliesAfter,
  releasedOnce,
  type Constraint,
} from '../check/constraints.ts';

/**
 * The orderings NewDaemon's code states or implies (newdaemon-facts.md, moby-facts.md),
 * plus statedock's own. The step table's `needs` must imply every one of these (a test
 * checks it statically, and every simulated trace is checked against them).
 */
export const startupOrderings: Constraint[] = [
  before('verifyDaemonSettings', 'dataRoot', 'a refused configuration changes nothing on disk'),
  before(
    'dataRoot',
    'pidfile',
    'dockerd creates the daemon root before any other file (pid, keys)',
  ),
  before(
    'pidfile',
    'tempDir',
    "a second daemon refused by the pidfile must not touch the first one's root",
  ),
  before('pidfile', 'containersDir', 'the pidfile is claimed before the root is populated'),
  before('pidfile', 'startContainerd', 'one containerd per daemon root'),
  before(
    'tempDir',
    'setTmpdirEnv',
    'TMPDIR names the directory the temp dir step made (steps 9 → 10)',
  ),
  before(
    'setTmpdirEnv',
    'ensureDefaultAppArmorProfile',
    "the AppArmor profile's temp file goes under TMPDIR",
  ),
  before(
    'pluginManager',
    'layerStore',
    'graph driver plugins are looked up through the plugin store',
  ),
  before(
    'pluginManager',
    'restore',
    'Plugin system initialization should happen before restore. Do not change order.',
  ),
  before('containersDir', 'restore', 'restore reads the containers'),
  before('layerStore', 'imageStore', 'the image store takes references on layers'),
  before('layerStore', 'referenceStore', 'the reference store lives under image/<driver>'),
  before('layerStore', 'distributionMetadata', 'distribution metadata lives under image/<driver>'),
  before('trustKey', 'daemonId', "the daemon ID is the trust key's key ID"),
  before('eventsService', 'restore', 'restore emits events'),
  before(
    'startContainerd',
    'containerdClient',
    'the client connects to the containerd just started',
  ),
  before('metadataStore', 'restore', 'restore reads the containers from the metadata store'),
  before('restore', 'serveApi', 'a client that gets an answer talks to a daemon that has restored'),
  before(
    'restore',
    'networkController',
    'the network controller keeps only the sandboxes of containers restore found running (live-restore)',
  ),
  before('networkController', 'serveApi', 'a container started through the API finds its networks'),
];

/**
 * What waits for containerd's client, and nothing more: restore asks containerd only for the
 * containers it found, and the API answers everything but task requests while containerd boots.
 */
export const containerdOrderings: Constraint[] = [
  effectsAfter(
    'containerdClient',
    containerdClientCalls,
    'a call to containerd goes over the client the step connects (restore asks it only of stored containers)',
  ),
  repliesAfter(
    'containerdClient',
    taskRequests,
    'a request that may ask containerd is answered once its client is connected (the container host holds it)',
  ),
  deferredUntil(
    'containerdClient',
    'serveApi',
    "the client's connect is CPU the API's first answer does not need, unless restore has containers to reconcile",
  ),
];

export const startupConstraints: Constraint[] = [
  ...startupOrderings,
  ...containerdOrderings,
  releasedNewestFirst(),
  releasedOnce(),
  everyAcquiredReleasedOnFailure(),
  nothingAcquiredAfterFailure(),
  everyAcquiredReleasedAtShutdown(),
];
