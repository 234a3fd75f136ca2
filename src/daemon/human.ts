/** go-units' HumanDuration, the words `docker ps` shows ("Up 3 seconds", "Exited (0) About a minute ago"). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(seconds / 3600);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** container/state.go String(): the STATUS column of `docker ps`. */
export function statusText(
  s: { status: string; exitCode: number; startedAt: string | null; finishedAt: string | null },
  now = Date.now(),
): string {
  const since = (iso: string | null): number => (iso ? now - Date.parse(iso) : 0);
  switch (s.status) {
    case 'running':
      return `Up ${humanDuration(since(s.startedAt))}`;
    case 'paused':
      return `Up ${humanDuration(since(s.startedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${s.exitCode}) ${humanDuration(since(s.finishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'created':
      return 'Created';
    default:
      return s.finishedAt ? `Exited (${s.exitCode}) ${humanDuration(since(s.finishedAt))} ago` : '';
  }
}
