/**
 * Whether the simulator freezes every actor's context after each step (effects/runner.ts):
 * under the test runner, so a machine that changes a published context in place fails the
 * tests; not in `statedock sim`/`explore` or the benchmarks, where it would halve the speed.
 */
export function freezeUnderTest(): boolean {
  return underTest;
}

/** Read once: the runner sets it before the process starts, and reading the environment is slow. */
const underTest = process.env['NODE_TEST_CONTEXT'] !== undefined;
