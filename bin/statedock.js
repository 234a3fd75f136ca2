#!/usr/bin/env node
'use strict';
// statedock's command. Runs the bundled CLI (dist/statedock.cjs), building it first when it
// is missing (a fresh clone after `npm ci`), so the command works without a separate build
// step.
//
// The bundle runs as a vm.Script with V8's code cache (dist/statedock.cjs.v8cache): the
// bytecode of every function the daemon's last start-up compiled, so a start compiles almost
// nothing. The daemon writes the cache once its start-up is done, when there was none or V8
// refused it (another Node, other V8 flags); the cache names the bundle file it belongs to
// (size, modification time, inode) and the Node that wrote it, and a new build removes it.
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

const { readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { createHash } = require('node:crypto');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

const bundlePath = join(__dirname, '../dist/statedock.cjs');
const codeCachePath = `${bundlePath}.v8cache`;
const keyBytes = 32;

/** The cache's data when it was written for this bundle by this Node, else undefined. */
function readCodeCache(key) {
  let file;
  try {
    file = readFileSync(codeCachePath);
  } catch {
    return undefined;
  }
  return file.length > keyBytes && file.subarray(0, keyBytes).equals(key)
    ? file.subarray(keyBytes)
    : undefined;
}

/** Writes the cache (the key, then V8's data) atomically; a package directory we cannot write to keeps none. */
function writeCodeCache(script, key) {
  const tmp = `${codeCachePath}.${process.pid}`;
  try {
    writeFileSync(tmp, Buffer.concat([key, script.createCachedData()]), { mode: 0o644 });
    renameSync(tmp, codeCachePath);
  } catch {
    rmSync(tmp, { force: true });
  }
}

/**
 * Runs the bundle (a function expression: (exports, require, module, __filename, __dirname)
 * => …) from the code cache when there is one for it. `stale` is the script when its cache is
 * to be written, else null.
 */
function loadBundle(key) {
  const cachedData = readCodeCache(key);
  const script = new Script(readFileSync(bundlePath, 'utf8'), { filename: bundlePath, cachedData });
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
    stale: cachedData === undefined || script.cachedDataRejected === true ? script : null,
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
  if (st === null) {
    process.stderr.write('statedock: first run, building dist/statedock.cjs …\n');
    const { buildBundle } = await import('../scripts/build.mjs');
    await buildBundle({ quiet: true });
    st = bundleStat();
  }
  const key = createHash('sha256')
    .update(`${process.version} ${st.size} ${st.mtimeNs} ${st.ino}`)
    .digest();
  const loaded = loadBundle(key);
  const host = {
    phases: [bootstrapped, phaseNow('bundle')],
    startedUp() {
      if (loaded.stale !== null) setImmediate(writeCodeCache, loaded.stale, key);
      // The script object is not needed while the daemon runs.
      loaded.stale = null;
    },
  };
  process.exitCode = await loaded.main(process.argv.slice(2), host);
}

void run();
