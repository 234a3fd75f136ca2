/** The container addresses a published-port rule names: `-d <ip>/32 ! -i` (filter), `--to-destination <ip>:` (nat). */
export function ruleAddressesOf(rules: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    for (const m of r.matchAll(/-d (\d+\.\d+\.\d+\.\d+)\/32 ! -i/g)) out.add(m[1] as string);
    for (const m of r.matchAll(/--to-destination (\d+\.\d+\.\d+\.\d+):/g)) out.add(m[1] as string);
  }
  return [...out];
}
