#!/usr/bin/env node
'use strict';
// statedock's command. Runs the bundled CLI (dist/statedock.cjs), building it first when it
// is missing (a fresh clone after `npm ci`), so the command works without a separate build
// step.
//
// The bundle runs as a vm.Script with V8's code cache (dist/statedock.cjs.v8cache): the
// bytecode of the functions a daemon compiled, so a start compiles almost nothing. The daemon
// writes the cache once its start-up is done, when there was none or V8 refused it (another
// Node, other V8 flags), and once more a few seconds after the first container it starts (or
// as it exits, when it is stopped sooner), when the cache it loaded did not hold a container's
// run yet: the first `docker run` after a start then runs compiled code too. The cache names
// the bundle file it belongs to (size, modification time, inode) and the Node that wrote it,
// and a new build removes it.
// This file is CommonJS (bin/package.json): an ES module entry would start Node's module
// loader for nothing.

/** How long the process had run, and on how much CPU, when this file began (Node's own start). */
const bootstrapped = phaseNow('bootstrap');

/** A start-up phase that ends now (src/daemon/startup-phases.ts). */
function phaseNow(phase) {
  const u = process.cpuUsage();
  const round = (n) => Math.round(n * 10) / 10;
  return { phase, ms: round(performance.now()), cpuMs: round((u.user + u.system) / 1000) };
}

// The launcher (bin/statedock) started Node without NODE_EXTRA_CA_CERTS, which Node would have
// read at start: it goes back into the environment for what reads it later (the registry
// client's TLS, child processes).
if (process.env.STATEDOCK_EXTRA_CA_CERTS !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env.STATEDOCK_EXTRA_CA_CERTS;
  delete process.env.STATEDOCK_EXTRA_CA_CERTS;
}

const {
  existsSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} = require('node:fs');
const { createHash } = require('node:crypto');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

const bundlePath = join(__dirname, '../dist/statedock.cjs');
const codeCachePath = `${bundlePath}.v8cache`;
const keyBytes = 32;
/** What a cache holds, in the byte after its key: the start-up's code, or a container's run's too. */
const stages = { startup: 0, containerRun: 1 };

/** The cache written for this bundle by this Node ({ data, stage }), else undefined. */
function readCodeCache(key) {
  let file;
  try {
    file = readFileSync(codeCachePath);
  } catch {
    return undefined;
  }
  return file.length > keyBytes + 1 && file.subarray(0, keyBytes).equals(key)
    ? { data: file.subarray(keyBytes + 1), stage: file[keyBytes] }
    : undefined;
}

/** Writes the cache (the key, its stage, then V8's data) atomically; a package directory we cannot write to keeps none. */
function writeCodeCache(script, key, stage) {
  const tmp = `${codeCachePath}.${process.pid}`;
  try {
    writeFileSync(tmp, Buffer.concat([key, Buffer.from([stage]), script.createCachedData()]), {
      mode: 0o644,
    });
    renameSync(tmp, codeCachePath);
  } catch {
    rmSync(tmp, { force: true });
  }
}

/**
 * Runs the bundle (a function expression: (exports, require, module, __filename, __dirname)
 * => …) from the code cache when there is one for it. `stage` is what the cache it used holds,
 * or null when there was none (or V8 refused it).
 */
function loadBundle(key) {
  const cache = readCodeCache(key);
  // The build checks that the bundle is ASCII (scripts/build.mjs): latin1 reads it as UTF-8
  // would, without decoding 1.5 MB of UTF-8 at every start (~5 ms).
  const script = new Script(readFileSync(bundlePath, 'latin1'), {
    filename: bundlePath,
    cachedData: cache?.data,
  });
  const module = { exports: {} };
  script.runInThisContext()(
    module.exports,
    createRequire(bundlePath),
    module,
    bundlePath,
    dirname(bundlePath),
  );
  return {
    main: module.exports.main,
    script,
    stage: cache === undefined || script.cachedDataRejected === true ? null : cache.stage,
  };
}

/** The bundle's file, or null when there is none yet. */
function bundleStat() {
  try {
    return statSync(bundlePath, { bigint: true });
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw err;
  }
}

async function run() {
  let st = bundleStat();
  // The extraction thread's bundle is built with the CLI's (docker cp into a container runs it).
  if (st === null || !existsSync(join(__dirname, '../dist/extract-worker.cjs'))) {
    process.stderr.write('statedock: first run, building dist/statedock.cjs …\n');
    const { buildBundle } = await import('../scripts/build.mjs');
    await buildBundle({ quiet: true });
    st = bundleStat();
  }
  const key = createHash('sha256')
    .update(`${process.version} ${st.size} ${st.mtimeNs} ${st.ino}`)
    .digest();
  const loaded = loadBundle(key);
  let stage = loaded.stage;
  const host = {
    phases: [bootstrapped, phaseNow('bundle')],
    startedUp() {
      if (stage !== null) return;
      stage = stages.startup;
      setImmediate(writeCodeCache, loaded.script, key, stage);
    },
    ranContainer() {
      if (stage === stages.containerRun) return;
      stage = stages.containerRun;
      // Late enough for a `docker run --rm`'s whole life (start, wait, exit, removal) to have
      // been compiled; soon enough that the start-up's bytecode has not been flushed yet.
      containerRunWrite = setTimeout(() => {
        containerRunWrite = null;
        writeCodeCache(loaded.script, key, stages.containerRun);
      }, 3000).unref();
    },
  };
  /** The write of a container's run still to come: a daemon stopped sooner writes it as it exits. */
  let containerRunWrite = null;
  process.exitCode = await loaded.main(process.argv.slice(2), host);
  if (containerRunWrite !== null) {
    clearTimeout(containerRunWrite);
    writeCodeCache(loaded.script, key, stages.containerRun);
  }
}

void run();
