import { api } from './api.ts';
import { App, parseHash } from './app.ts';
import { h } from './dom.ts';

/** The page's entry: picks the source (the link's, else the first), starts the app, exposes it to tests. */
async function main(): Promise<void> {
  const root = document.getElementById('app') as HTMLElement;
  const sources = await api.sources();
  const first = sources[0];
  if (first === undefined) {
    root.replaceChildren(h('p', { class: 'chart-message' }, 'Nothing to inspect.'));
    return;
  }
  const wanted = parseHash(location.hash).source;
  const source = sources.find((s) => s.id === wanted) ?? first;
  document.title = `${source.title} · statedock inspector`;
  const app = new App(sources, source);
  (window as unknown as { inspector: unknown }).inspector = { app, ready: app.start(root) };
}

void main();
