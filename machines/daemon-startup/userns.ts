import type { IdRange } from './types.ts';

/**
 * `--userns-remap` and /etc/subuid, /etc/subgid, as moby's pkg/idtools reads them
 * (v20.10: both files matched by the user's numeric uid first, then by name). Pure:
 * the start-up machine reads the files through effects and hands the text here.
 */

export interface RemapSpec {
  user: string;
  group: string | null;
}

/** `default` | `user` | `user:group` | `uid` | `uid:gid`. */
export function parseUsernsRemap(spec: string): RemapSpec | { error: string } {
  const parts = spec.split(':');
  if (parts.length > 2 || parts.some((p) => p === ''))
    return { error: `Invalid user/group specification in --userns-remap: ${JSON.stringify(spec)}` };
  const user = parts[0] === 'default' ? 'dockremap' : (parts[0] as string);
  return { user, group: parts[1] ?? null };
}

export interface Identity {
  uid: number;
  gid: number;
  userName: string;
  groupName: string;
}

interface PasswdEntry {
  name: string;
  id: number;
  gid: number;
}

function parseColonFile(text: string, idField: number): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const id = Number.parseInt(f[idField] ?? '', 10);
    const gid = Number.parseInt(f[3] ?? '', 10);
    if (f[0] && Number.isFinite(id))
      out.push({ name: f[0], id, gid: Number.isFinite(gid) ? gid : id });
  }
  return out;
}

/** Resolves the remap user (and group, else the user's primary group) against /etc/passwd and /etc/group. */
export function resolveIdentity(
  user: string,
  group: string | null,
  passwd: string,
  groups: string,
): Identity | { error: string } {
  const users = parseColonFile(passwd, 2);
  const isNumeric = /^\d+$/.test(user);
  const u = isNumeric
    ? users.find((e) => e.id === Number(user))
    : users.find((e) => e.name === user);
  if (!u) {
    return isNumeric
      ? { error: `Uid ${user} has no entry in /etc/passwd` }
      : {
          error: `Error during uid lookup for ${JSON.stringify(user)}: user ${user} not found; create it and give it ranges in /etc/subuid and /etc/subgid`,
        };
  }
  const gs = parseColonFile(groups, 2);
  let g: PasswdEntry | undefined;
  if (group === null) g = gs.find((e) => e.id === u.gid) ?? { name: u.name, id: u.gid, gid: u.gid };
  else if (/^\d+$/.test(group)) g = gs.find((e) => e.id === Number(group));
  else g = gs.find((e) => e.name === group);
  if (!g) return { error: `Error during gid lookup for ${JSON.stringify(group)}: group not found` };
  return { uid: u.id, gid: g.id, userName: u.name, groupName: g.name };
}

export interface SubIdRange {
  name: string;
  start: number;
  count: number;
}

/** One `name:start:count` per line; blank and `#` lines skipped; moby's words on errors. */
export function parseSubIds(
  text: string,
  file: string,
): { ranges: SubIdRange[] } | { error: string } {
  const ranges: SubIdRange[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length !== 3)
      return { error: `Cannot parse subuid/gid information: Format not correct for ${file} file` };
    const start = Number(f[1]);
    const count = Number(f[2]);
    if (!Number.isInteger(start) || !Number.isInteger(count) || f[1] === '' || f[2] === '')
      return {
        error: `String to int conversion failed during subuid/gid parsing of ${file}: ${JSON.stringify(line)}`,
      };
    ranges.push({ name: f[0] as string, start, count });
  }
  return { ranges };
}

function toMaps(ranges: SubIdRange[]): IdRange[] {
  let next = 0;
  return [...ranges]
    .sort((a, b) => a.start - b.start)
    .map((r) => {
      const m = { containerId: next, hostId: r.start, size: r.count };
      next += r.count;
      return m;
    });
}

/** Builds the uid and gid maps; the remapped root is the host id that container id 0 maps to. */
export function buildIdMaps(
  who: Identity,
  subuid: SubIdRange[],
  subgid: SubIdRange[],
):
  { uidMaps: IdRange[]; gidMaps: IdRange[]; rootUid: number; rootGid: number } | { error: string } {
  const mine = (rs: SubIdRange[]) => {
    const byUid = rs.filter((r) => r.name === String(who.uid));
    return byUid.length > 0 ? byUid : rs.filter((r) => r.name === who.userName);
  };
  const u = mine(subuid);
  if (u.length === 0)
    return { error: `no subuid ranges found for user ${JSON.stringify(who.userName)}` };
  const g = mine(subgid);
  if (g.length === 0)
    return { error: `no subgid ranges found for user ${JSON.stringify(who.userName)}` };
  const uidMaps = toMaps(u);
  const gidMaps = toMaps(g);
  return {
    uidMaps,
    gidMaps,
    rootUid: (uidMaps[0] as IdRange).hostId,
    rootGid: (gidMaps[0] as IdRange).hostId,
  };
}
