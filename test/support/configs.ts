import fc from 'fast-check';
import type { StartupConfig } from '../../machines/daemon-startup/types.ts';
import { defaultDaemonConfig } from '../../src/daemon/config.ts';

/** dockerd's defaults with statedock's paths: what `statedock daemon` runs with no flags. */
export function defaultConfig(overrides: Partial<StartupConfig> = {}): StartupConfig {
  const { configFile: _f, logLevel: _l, debug: _d, ...startup } = defaultDaemonConfig();
  return { ...startup, ...overrides };
}

/** Configurations valid and invalid, as a user might write them (the invalid ones must fail cleanly). */
export function arbConfig(): fc.Arbitrary<StartupConfig> {
  return fc
    .record({
      bridge: fc.constantFrom(null, 'none', 'br0'),
      bip: fc.constantFrom(null, null, '10.10.0.1/24'),
      icc: fc.boolean(),
      iptables: fc.constantFrom(true, true, false),
      storageDriver: fc.constantFrom(null, null, 'overlay2', 'vfs', 'btrfs'),
      mtu: fc.constantFrom(0, 0, 1400),
      usernsRemap: fc.constantFrom(null, null, null, 'default', 'nosuchuser', 'root', 'a:b:c'),
      liveRestore: fc.boolean(),
      oomScoreAdjust: fc.constantFrom(0, 0, -500),
      seccompProfile: fc.constantFrom(
        null,
        null,
        '/etc/statedock/seccomp.json',
        '/nonexistent/seccomp.json',
      ),
      containerdAddress: fc.constantFrom(null, null, null, '/run/other-containerd.sock'),
      env: fc.record({
        DOCKER_DRIVER: fc.constantFrom(undefined, undefined, 'vfs', 'zfs'),
        DOCKER_TMPDIR: fc.constantFrom(undefined, undefined, '/var/tmp/statedock'),
      }),
    })
    .map(({ env, ...c }) => {
      const cleanEnv: StartupConfig['env'] = {};
      if (env.DOCKER_DRIVER !== undefined) cleanEnv.DOCKER_DRIVER = env.DOCKER_DRIVER;
      if (env.DOCKER_TMPDIR !== undefined) cleanEnv.DOCKER_TMPDIR = env.DOCKER_TMPDIR;
      return defaultConfig({ ...c, env: cleanEnv });
    });
}
