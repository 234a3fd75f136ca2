import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The whiteouts and opaque directories recorded beside a layer's `diff` directory. */
export function layerMarks(diffDir: string): { whiteouts: string[]; opaques: string[] } {
  try {
    return JSON.parse(readFileSync(`${diffDir.replace(/\/diff$/, '')}/whiteouts.json`, 'utf8')) as {
      whiteouts: string[];
      opaques: string[];
    };
  } catch {
    return { whiteouts: [], opaques: [] };
  }
}

/**
 * A vfs container's root: a copy of the image's layers applied in order, as Docker's vfs
 * driver has them (each layer's whiteouts delete what the layers below made, an opaque
 * directory drops their content of it). `layersTopFirst` is overlay2's lowerdir order.
 */
export async function buildVfsRootfs(
  layersTopFirst: readonly string[],
  target: string,
): Promise<void> {
  const bottomUp = [...layersTopFirst].reverse();
  for (const [i, layer] of bottomUp.entries()) {
    const marks = layerMarks(layer);
    if (i === 0) {
      // cp -a keeps owners, modes, links and times: the container sees the image as it is.
      await run('cp', ['-a', layer, target]);
    } else {
      for (const d of marks.opaques) {
        await run('find', [`${target}/${d}`, '-mindepth', '1', '-delete']).catch(() => undefined);
      }
      for (const w of marks.whiteouts) rmSync(`${target}/${w}`, { recursive: true, force: true });
      await run('cp', ['-a', `${layer}/.`, `${target}/`]);
    }
    // The whiteouts themselves (0/0 character devices) are overlayfs's, not the container's.
    for (const w of marks.whiteouts) rmSync(`${target}/${w}`, { force: true, recursive: true });
  }
}
