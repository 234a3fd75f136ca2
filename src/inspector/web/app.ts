import type { Catalog, RowChunk, SourceInfo } from '../protocol.ts';
import { api } from './api.ts';
import type { View } from './context.ts';
import { fill, h, icon, ms } from './dom.ts';
import { Status, TraceModel } from './model.ts';
import { ActorsView } from './views/actors.ts';
import { ChartPanel } from './views/chart-panel.ts';
import { ConstraintsView } from './views/constraints.ts';
import { DetailView } from './views/detail.ts';
import { EffectsView } from './views/effects.ts';
import { FailureView } from './views/failure.ts';
import { StepsPanel } from './views/steps-panel.ts';
import { TimelineView } from './views/timeline.ts';

/** `#record=123&source=t1&actor=daemon` → its parts. */
export function parseHash(hash: string): {
  record: number | null;
  source: string | null;
  actor: string | null;
} {
  const q = new URLSearchParams(hash.replace(/^#/, ''));
  const record = q.get('record');
  return {
    record: record !== null && /^\d+$/.test(record) ? Number(record) : null,
    source: q.get('source'),
    actor: q.get('actor'),
  };
}

const speeds = [5, 20, 100, 500, 2000];

/**
 * The inspector page: loads a source's rows, keeps the position (a row) and the selected
 * actor, and renders every view for them. The timeline plays, steps and scrubs; the position
 * is in the address (`#record=SEQ`), so a link opens the same view.
 */
export class App implements View {
  readonly model = new TraceModel();
  readonly source: SourceInfo;
  readonly sources: SourceInfo[];
  catalog: Catalog = { machines: {} };
  pos = -1;
  selected = 0;
  state = this.model.stateAt(-1);
  private playing = false;
  private speed = 20;
  private follow: boolean;
  private hashTimer: number | null = null;
  private frame: number | null = null;
  private live: { connected: boolean; message?: string } | null = null;
  /** Times (ms since navigation) the page reached its milestones. */
  readonly metrics: { firstRender: number; chartDrawn: number; rows: number } = {
    firstRender: 0,
    chartDrawn: 0,
    rows: 0,
  };

  private readonly actorsView = new ActorsView(this);
  private readonly timeline = new TimelineView(this);
  private readonly effectsView = new EffectsView(this);
  private readonly failureView = new FailureView(this);
  private readonly detailView = new DetailView(this);
  readonly constraintsView = new ConstraintsView(this);
  readonly chartPanel = new ChartPanel(this);
  readonly stepsPanel = new StepsPanel(this);

  private readonly positionEl = h('div', { class: 'position', 'data-testid': 'position' });
  private readonly liveEl = h('span', { class: 'live-badge', hidden: true });
  private readonly scrubber = h('input', {
    type: 'range',
    class: 'scrubber',
    min: 0,
    max: 0,
    value: 0,
    'aria-label': 'position in the trace',
  });
  private readonly playButton = h(
    'button',
    { class: 'play', title: 'play / pause (space)', 'data-testid': 'play' },
    icon('play'),
  );
  private readonly onlySelected = h('input', { type: 'checkbox' });
  private readonly followBox = h('input', { type: 'checkbox' });
  private readonly problemButton = h(
    'button',
    { class: 'problem', title: 'next failure (f)' },
    '⚑ next failure',
  );

  constructor(sources: SourceInfo[], source: SourceInfo) {
    this.sources = sources;
    this.source = source;
    this.follow = source.kind === 'live';
    this.followBox.checked = this.follow;
  }

  /** Builds the page into `root` and loads the source. Resolves after the first render. */
  async start(root: HTMLElement): Promise<void> {
    this.layout(root);
    const hash = parseHash(location.hash);
    const catalog = api.catalog(this.source.id);
    let first = true;
    let resolveFirst!: () => void;
    const firstRender = new Promise<void>((resolve) => (resolveFirst = resolve));
    const rows = api.rows(this.source.id, (chunk) => {
      this.append(chunk);
      if (first) {
        first = false;
        void catalog.then((c) => {
          this.catalog = c;
          this.initialView(hash);
          this.metrics.firstRender = performance.now();
          resolveFirst();
        });
      }
    });
    rows.catch((err: unknown) => {
      this.positionEl.textContent = `cannot load: ${(err as Error).message}`;
      resolveFirst();
    });
    await firstRender;
  }

  private layout(root: HTMLElement): void {
    const select = h(
      'select',
      {
        class: 'source-select',
        title: 'source',
        onchange: (ev: Event) => {
          location.hash = `source=${encodeURIComponent((ev.target as HTMLSelectElement).value)}`;
          location.reload();
        },
      },
      ...this.sources.map((s) =>
        h(
          'option',
          { value: s.id, selected: s.id === this.source.id },
          `${s.kind === 'live' ? '● ' : ''}${s.title}`,
        ),
      ),
    );
    const meta = this.source.header?.meta ?? {};
    const metaText = [
      this.source.header?.program,
      meta['seed'] !== undefined ? `seed ${JSON.stringify(meta['seed'])}` : null,
      Array.isArray(meta['faults']) && meta['faults'].length > 0
        ? `faults ${(meta['faults'] as string[]).join(', ')}`
        : null,
    ]
      .filter(Boolean)
      .join(' · ');
    const header = h(
      'header',
      { class: 'topbar' },
      h('div', { class: 'brand' }, 'statedock', h('span', {}, 'inspector')),
      this.sources.length > 1 ? select : h('span', { class: 'source-title' }, this.source.title),
      h('span', { class: 'source-meta' }, metaText),
      this.liveEl,
      h('span', { class: 'spacer' }),
      this.positionEl,
    );
    const button = (
      glyph: Parameters<typeof icon>[0],
      title: string,
      f: () => void,
    ): HTMLButtonElement => h('button', { title, onclick: f }, icon(glyph));
    this.playButton.addEventListener('click', () => this.togglePlay());
    this.scrubber.addEventListener('input', () => this.goTo(Number(this.scrubber.value)));
    this.onlySelected.addEventListener('change', () => {
      this.timeline.onlySelected = this.onlySelected.checked;
      this.timeline.update();
      this.timeline.render();
    });
    this.followBox.addEventListener('change', () => {
      this.follow = this.followBox.checked;
      if (this.follow) this.goTo(this.model.length - 1);
    });
    this.problemButton.addEventListener('click', () => this.nextProblem());
    const speedSelect = h(
      'select',
      {
        class: 'speed',
        title: 'records per second when playing',
        onchange: (ev: Event) => (this.speed = Number((ev.target as HTMLSelectElement).value)),
      },
      ...speeds.map((s) => h('option', { value: s, selected: s === this.speed }, `${s}/s`)),
    );
    const controls = h(
      'div',
      { class: 'controls' },
      button('first', 'first record (Home)', () => this.goTo(this.timeline.rowAt(0))),
      button('prev', 'previous record (←)', () => this.step(-1)),
      this.playButton,
      button('next', 'next record (→)', () => this.step(1)),
      button('last', 'last record (End)', () =>
        this.goTo(this.timeline.rowAt(this.timeline.count() - 1)),
      ),
      speedSelect,
      this.scrubber,
      h(
        'label',
        { class: 'check', title: "show only the selected actor's records; ←/→ step through them" },
        this.onlySelected,
        ' selected actor only',
      ),
      this.source.kind === 'live'
        ? h(
            'label',
            { class: 'check', title: 'keep at the newest record' },
            this.followBox,
            ' follow',
          )
        : null,
      this.problemButton,
    );
    const timelineHead = h(
      'div',
      { class: 'rec-head' },
      h('span', { class: 'c-seq' }, 'seq'),
      h('span', { class: 'c-t' }, 't'),
      h('span', { class: 'c-actor' }, 'actor'),
      h('span', { class: 'c-kind' }, 'kind'),
      h('span', { class: 'c-text' }, 'record'),
    );
    fill(
      root,
      header,
      h('aside', { class: 'left' }, this.actorsView.el, this.constraintsView.el),
      h('main', { class: 'center' }, this.chartPanel.el, this.stepsPanel.el),
      h('aside', { class: 'right' }, this.failureView.el, this.effectsView.el),
      h(
        'footer',
        { class: 'timeline' },
        controls,
        h(
          'div',
          { class: 'timeline-body' },
          h('div', { class: 'records' }, timelineHead, this.timeline.list.el),
          this.detailView.el,
        ),
      ),
    );
    document.addEventListener('keydown', (ev) => this.key(ev));
    window.addEventListener('hashchange', () => {
      const hash = parseHash(location.hash);
      if (hash.source !== null && hash.source !== this.source.id) {
        location.reload();
        return;
      }
      if (hash.record !== null) this.goToSeq(hash.record, hash.actor);
    });
  }

  private append(chunk: RowChunk): void {
    const wasAtEnd = this.pos === this.model.length - 1;
    const actorsBefore = this.model.actors.length;
    this.model.append(chunk);
    this.metrics.rows = this.model.length;
    if (chunk.live) {
      this.live = chunk.live;
      this.liveEl.hidden = false;
      this.liveEl.className = `live-badge ${chunk.live.connected ? 'on' : 'off'}`;
      this.liveEl.textContent = chunk.live.connected
        ? '● live'
        : `○ disconnected${chunk.live.message ? `: ${chunk.live.message}` : ''}`;
    }
    if (this.model.length === 0 && chunk.rows.length === 0) return;
    this.scrubber.max = String(Math.max(0, this.model.length - 1));
    if (this.model.actors.length !== actorsBefore) this.actorsView.update();
    // A live source: the selected actor (or its machine) may only now be known.
    if (this.metrics.firstRender > 0) {
      this.chartPanel.select();
      this.stepsPanel.select();
    }
    this.timeline.update();
    this.effectsView.update();
    // A live source: stay at the newest record when following (or when there already).
    if (this.catalog !== null && this.metrics.firstRender > 0) {
      if (this.follow || (wasAtEnd && this.playing)) this.goTo(this.model.length - 1);
      else this.schedule();
    }
  }

  /** Where a fresh page starts: the linked record, else the end (a trace shows how it ended). */
  private initialView(hash: ReturnType<typeof parseHash>): void {
    const m = this.model;
    let target = m.length - 1;
    if (hash.record !== null) {
      const r = m.rowOfSeq(hash.record);
      if (r >= 0) target = r;
    }
    const byId = hash.actor !== null ? m.actors.findIndex((a) => a.id === hash.actor) : -1;
    // Otherwise the actor the link points into, else one that failed, else the daemon, else the first.
    const failed = m.actors.findIndex((a) => a.startupFailedRow >= 0 || a.stepFailedRow >= 0);
    const daemon = m.actors.findIndex((a) => a.id === 'daemon');
    const firstReal = m.actors.findIndex((a) => a.id !== '—');
    this.selected =
      byId >= 0
        ? byId
        : hash.record !== null && target >= 0
          ? (m.actorOf[target] as number)
          : failed >= 0
            ? failed
            : daemon >= 0
              ? daemon
              : Math.max(0, firstReal);
    this.actorsView.update();
    this.afterSelect();
    this.goTo(target);
  }

  select(actor: number): void {
    if (actor === this.selected || !this.model.actors[actor]) return;
    this.selected = actor;
    this.afterSelect();
    this.render();
  }

  private afterSelect(): void {
    this.actorsView.revealSelected();
    this.chartPanel.select();
    this.stepsPanel.select();
    this.effectsView.update();
    if (this.timeline.onlySelected) this.timeline.update();
    this.scheduleHash();
    void Promise.all([this.chartPanel.drawn, this.stepsPanel.drawn]).then(() => {
      if (this.metrics.chartDrawn === 0) this.metrics.chartDrawn = performance.now();
    });
  }

  /** Moves to a row; `select` also selects the row's actor (links from constraints, deep links). */
  goTo(row: number, opts: { select?: boolean } = {}): void {
    const m = this.model;
    const target = Math.max(m.length === 0 ? -1 : 0, Math.min(m.length - 1, Math.round(row)));
    if (opts.select && target >= 0) {
      const a = m.actorOf[target] as number;
      if (a !== this.selected && m.actors[a]?.id !== '—') {
        this.selected = a;
        this.afterSelect();
      }
    }
    this.pos = target;
    this.render();
  }

  goToSeq(seq: number, actor: string | null = null): boolean {
    const row = this.model.rowOfSeq(seq);
    if (row < 0) return false;
    const a = actor !== null ? this.model.actors.findIndex((x) => x.id === actor) : -1;
    if (a >= 0) this.select(a);
    this.goTo(row, { select: a < 0 });
    return true;
  }

  /** One record forward or back, through the rows the timeline shows. */
  step(delta: number): void {
    const t = this.timeline;
    const i = t.indexOf(this.pos);
    const n = t.count();
    if (n === 0) return;
    let next = i + delta;
    if (delta > 0 && this.pos >= 0 && t.rowAt(Math.max(i, 0)) < this.pos && i < 0) next = 0;
    next = Math.max(0, Math.min(n - 1, next));
    this.goTo(t.rowAt(next));
  }

  private nextProblem(): void {
    const p = this.model.problems;
    const n = p.countAtMost(this.pos);
    const row = n < p.length ? p.at(n) : p.length > 0 ? p.at(0) : -1;
    if (row >= 0) this.goTo(row, { select: true });
  }

  togglePlay(): void {
    this.playing = !this.playing;
    this.playButton.replaceChildren(icon(this.playing ? 'pause' : 'play'));
    this.playButton.classList.toggle('on', this.playing);
    if (!this.playing) return;
    if (this.pos >= this.model.length - 1 && this.source.kind !== 'live') this.goTo(0);
    let last = performance.now();
    let carry = 0;
    const tick = (now: number): void => {
      if (!this.playing) return;
      carry += ((now - last) / 1000) * this.speed;
      last = now;
      const whole = Math.floor(carry);
      if (whole > 0) {
        carry -= whole;
        const before = this.pos;
        this.step(whole);
        if (this.pos === before && this.source.kind !== 'live') {
          this.togglePlay();
          return;
        }
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  private key(ev: KeyboardEvent): void {
    const target = ev.target as HTMLElement;
    if (
      target.tagName === 'SELECT' ||
      target.tagName === 'TEXTAREA' ||
      (target.tagName === 'INPUT' && (target as HTMLInputElement).type !== 'range')
    )
      return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    switch (ev.key) {
      case 'ArrowRight':
        this.step(ev.shiftKey ? 10 : 1);
        break;
      case 'ArrowLeft':
        this.step(ev.shiftKey ? -10 : -1);
        break;
      case ' ':
        this.togglePlay();
        break;
      case 'Home':
        this.goTo(this.timeline.rowAt(0));
        break;
      case 'End':
        this.goTo(this.timeline.rowAt(this.timeline.count() - 1));
        break;
      case 'f':
        this.nextProblem();
        break;
      default:
        return;
    }
    ev.preventDefault();
  }

  private schedule(): void {
    if (this.frame !== null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.render();
    });
  }

  /** Renders every view for the current position and selection (synchronously). */
  render(): void {
    const m = this.model;
    this.state = m.stateAt(this.pos);
    const seq = this.pos >= 0 ? m.seq[this.pos] : undefined;
    fill(
      this.positionEl,
      'record ',
      h(
        'b',
        { 'data-testid': 'position-seq' },
        seq === undefined ? '—' : seq >= 0 ? String(seq) : 'gap',
      ),
      h(
        'span',
        { class: 'muted' },
        ` · ${this.pos + 1} of ${m.length}${this.pos >= 0 ? ` · ${ms(m.t[this.pos] as number)}` : ''}`,
      ),
    );
    this.scrubber.value = String(Math.max(0, this.pos));
    this.actorsView.render();
    this.chartPanel.render();
    this.stepsPanel.render();
    this.failureView.render();
    this.effectsView.render();
    this.timeline.render();
    this.detailView.render();
    this.constraintsView.render();
    this.scheduleHash();
    const a = m.actors[this.selected];
    document.body.dataset['actorStatus'] = String(
      a ? (this.state.status[a.index] ?? Status.unborn) : 0,
    );
  }

  private scheduleHash(): void {
    if (this.hashTimer !== null) return;
    this.hashTimer = window.setTimeout(() => {
      this.hashTimer = null;
      const m = this.model;
      const q = new URLSearchParams();
      if (this.source.id !== this.sources[0]?.id) q.set('source', this.source.id);
      if (this.pos >= 0 && (m.seq[this.pos] as number) >= 0)
        q.set('record', String(m.seq[this.pos]));
      const actor = m.actors[this.selected]?.id;
      if (
        actor !== undefined &&
        this.pos >= 0 &&
        m.actors[m.actorOf[this.pos] as number]?.id !== actor
      )
        q.set('actor', actor);
      const hash = `#${q.toString().replaceAll('%3A', ':')}`;
      // replaceState: the address follows the position without a history entry per step.
      if (hash !== location.hash) history.replaceState(null, '', hash);
    }, 150);
  }
}
