import fc from 'fast-check';
import type { SimWorldOptions } from '../../effects/sim/world.ts';

/** Hosts a daemon may meet: old kernels, no devices cgroup, no overlay, no containerd binary, a live pidfile, data from a previous run. */
export function arbHost(): fc.Arbitrary<NonNullable<SimWorldOptions['host']>> {
  return fc.record(
    {
      kernelRelease: fc.constantFrom('6.1.0-13-amd64', '6.1.0-13-amd64', '3.10.0', '3.2.0'),
      devicesCgroup: fc.constantFrom(true, true, true, false),
      overlay: fc.boolean(),
      containerdBinary: fc.constantFrom(true, true, true, false),
      mtu: fc.constantFrom(1500, 9000, null),
    },
    { requiredKeys: [] },
  );
}
