import type { ImageRequest } from '../../effects/image/requests.ts';
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
  startsAfter,
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
  before(
    'pidfile',
    'listenApi',
    "a second daemon refused by the pidfile must not take the first one's sockets",
  ),
  before('listenApi', 'serveApi', 'the API serves the requests its sockets took'),
  before('restore', 'serveApi', 'a client that gets an answer talks to a daemon that has restored'),
  before(
    'restore',
    'networkController',
    'the network controller keeps only the sandboxes of containers restore found running (live-restore)',
  ),
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
    'startContainerd',
    'serveApi',
    "containerd's boot competes with the steps before the first answer for the disk, unless restore has containers to reconcile",
  ),
  deferredUntil(
    'containerdClient',
    'serveApi',
    "the client's connect is CPU the API's first answer does not need, unless restore has containers to reconcile",
  ),
];

/**
 * The machines whose actors only the API's requests or the restored daemon start (after the
 * API's gate opens): none may start before a step whose work requests rely on is done.
 */
const answeringMachines = ['container', 'imageGc', 'imagePull', 'imagePush', 'netOp', 'exec'];

/**
 * Every image effect: the image store's files (and the layers under it) are used through them.
 * Keyed by the request union, so a new image effect must be listed here to compile.
 */
const imageEffectSet = {
  'image.lookup': true,
  'image.extractLayer': true,
  'image.registerLayer': true,
  'image.registerImage': true,
  'image.setReference': true,
  'image.recordBlob': true,
  'image.release': true,
  'image.collect': true,
  'image.observe': true,
} as const satisfies Record<ImageRequest['effect'], true>;
const imageEffects = Object.keys(imageEffectSet) as ImageRequest['effect'][];

/**
 * What waits for the steps deferred until the API is served (the trust key, the layer and image
 * stores, the network controller, systemInfo), and nothing more: /_ping answers while they run; every
 * other request waits at the API's gate, which opens (and restore's containers get their
 * actors) once every step but containerd's boot and client is done.
 */
export const answerOrderings: Constraint[] = [
  deferredUntil(
    'layerStore',
    'serveApi',
    'the overlay probe and the image store are work /_ping does not need, unless restore has stored containers to reconcile',
  ),
  deferredUntil('networkController', 'serveApi', 'the networks are work /_ping does not need'),
  deferredUntil('systemInfo', 'serveApi', "runc's version is a fork /_ping does not need"),
  deferredUntil('trustKey', 'serveApi', 'the daemon ID is a key /_ping does not need'),
  startsAfter(
    'networkController',
    answeringMachines,
    'a container started through the API finds its networks (no container actor exists before the controller is up)',
  ),
  startsAfter(
    'daemonId',
    ['imageGc'],
    "/info reports the daemon ID: the daemon answers it once restore's actors and the image GC are started",
  ),
  startsAfter(
    'systemInfo',
    ['imageGc'],
    "/info and /version report what systemInfo learned: the daemon answers them once restore's actors and the image GC are started, after every step but containerd's boot and client",
  ),
  ...(
    ['layerStore', 'imageStore', 'referenceStore', 'distributionMetadata', 'migrateV1'] as const
  ).map((step) =>
    startsAfter(
      step,
      answeringMachines,
      "requests that use images or layers (and the image GC) wait at the API's gate until the image steps are done",
    ),
  ),
  effectsAfter(
    'imageStore',
    imageEffects,
    'an image effect reads or writes the image store the step prepares',
  ),
  effectsAfter(
    'layerStore',
    ['rootfs.prepare'],
    "a container's root filesystem is made on the graph driver the layer store chose",
  ),
];

export const startupConstraints: Constraint[] = [
  ...startupOrderings,
  ...containerdOrderings,
  ...answerOrderings,
  releasedNewestFirst(),
  releasedOnce(),
  everyAcquiredReleasedOnFailure(),
  nothingAcquiredAfterFailure(),
  everyAcquiredReleasedAtShutdown(),
];
