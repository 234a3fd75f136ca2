import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { test } from 'node:test';
import {
  ioStatV2,
  keyValues,
  sampleCgroup,
  systemCpuUsage,
} from '../../src/daemon/stats/cgroups.ts';

/** A fake /sys/fs/cgroup with one container's files. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync('/tmp/cgt-');
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(`${root}/${path.slice(0, path.lastIndexOf('/'))}`, { recursive: true });
    writeFileSync(`${root}/${path}`, content);
  }
  return root;
}

test('cgroup v1: cpuacct, cpu.stat, memory (limit capped at the host), pids, blkio throttle files', () => {
  const id = '/statedock/abc';
  const root = tree({
    [`cpuacct${id}/cpuacct.usage`]: '1728928783\n',
    [`cpuacct${id}/cpuacct.usage_percpu`]: '819653106 909275677 \n',
    [`cpuacct${id}/cpuacct.stat`]: 'user 80\nsystem 92\n',
    [`cpu${id}/cpu.stat`]: 'nr_periods 10\nnr_throttled 2\nthrottled_time 3000\n',
    [`memory${id}/memory.usage_in_bytes`]: '790528\n',
    [`memory${id}/memory.max_usage_in_bytes`]: '4071424\n',
    [`memory${id}/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`memory${id}/memory.stat`]: 'cache 155648\nrss 114688\ntotal_inactive_file 4096\n',
    [`pids${id}/pids.current`]: '2\n',
    [`pids${id}/pids.max`]: '50\n',
    [`blkio${id}/blkio.io_service_bytes_recursive`]: 'Total 0\n',
    [`blkio${id}/blkio.throttle.io_service_bytes_recursive`]:
      '8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n',
  });
  try {
    const s = sampleCgroup(id, root);
    assert.deepEqual(s.cpu_stats['cpu_usage'], {
      total_usage: 1728928783,
      percpu_usage: [819653106, 909275677],
      usage_in_kernelmode: 920000000,
      usage_in_usermode: 800000000,
    });
    assert.deepEqual(s.cpu_stats['throttling_data'], {
      periods: 10,
      throttled_periods: 2,
      throttled_time: 3000,
    });
    assert.equal(s.memory_stats['usage'], 790528);
    assert.equal(s.memory_stats['max_usage'], 4071424);
    assert.equal(s.memory_stats['limit'], totalmem());
    assert.deepEqual(s.memory_stats['stats'], {
      cache: 155648,
      rss: 114688,
      total_inactive_file: 4096,
    });
    assert.deepEqual(s.pids_stats, { current: 2, limit: 50 });
    assert.deepEqual(s.blkio_stats['io_service_bytes_recursive'], [
      { major: 8, minor: 0, op: 'Read', value: 4096 },
      { major: 8, minor: 0, op: 'Write', value: 8192 },
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('cgroup v2: cpu.stat in microseconds, memory.current and max, pids, io.stat', () => {
  const id = '/statedock/abc';
  const root = tree({
    'cgroup.controllers': 'cpu memory pids io\n',
    [`statedock/abc/cpu.stat`]:
      'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n',
    [`statedock/abc/memory.current`]: '1048576\n',
    [`statedock/abc/memory.max`]: '67108864\n',
    [`statedock/abc/memory.stat`]: 'anon 4096\nfile 8192\ninactive_file 1024\n',
    [`statedock/abc/pids.current`]: '3\n',
    [`statedock/abc/pids.max`]: 'max\n',
    [`statedock/abc/io.stat`]: '8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n',
  });
  try {
    const s = sampleCgroup(id, root);
    assert.deepEqual(s.cpu_stats['cpu_usage'], {
      total_usage: 1_500_000,
      usage_in_kernelmode: 500_000,
      usage_in_usermode: 1_000_000,
    });
    assert.deepEqual(s.cpu_stats['throttling_data'], {
      periods: 4,
      throttled_periods: 1,
      throttled_time: 7000,
    });
    assert.equal(s.memory_stats['usage'], 1048576);
    assert.equal(s.memory_stats['limit'], Math.min(67108864, totalmem()));
    assert.deepEqual(s.pids_stats, { current: 3 });
    assert.deepEqual(s.blkio_stats['io_serviced_recursive'], [
      { major: 8, minor: 0, op: 'read', value: 1 },
      { major: 8, minor: 0, op: 'write', value: 2 },
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the host CPU time is /proc/stat's first seven fields (user … softirq, as dockerd sums them), in nanoseconds", () => {
  assert.equal(systemCpuUsage('cpu  100 0 50 800 10 0 5 0 0 0\ncpu0 1 1 1 1\n'), 965 * 1e7);
  assert.deepEqual(keyValues('a 1\nb x\nc 3'), { a: 1, c: 3 });
  assert.deepEqual(ioStatV2('').bytes, []);
});
