/** Signal names and numbers as dockerd reads them, and its start-failure exit codes. */

const signals: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGWINCH: 28,
};

/** `TERM`, `SIGTERM` or `15` → 15; null when unknown (the API says "Invalid signal"). */
export function signalNumber(s: string): number | null {
  if (/^\d+$/.test(s)) return Number(s) > 0 && Number(s) < 65 ? Number(s) : null;
  const name = s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`;
  return signals[name] ?? null;
}

/** dockerd's start-failure exit codes: 127 not found, 126 not executable, else 128. */
export function startFailureExitCode(message: string): number {
  if (/executable file not found|no such file or directory/.test(message)) return 127;
  if (/permission denied|is a directory/.test(message)) return 126;
  return 128;
}
