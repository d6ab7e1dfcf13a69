/// <reference lib="dom" />
/**
 * The Strongbox web console: a single page, routed by the URL's hash (`#/plans`, `#/timeline/PLAN`,
 * `#/jobs`, `#/dlq`, `#/browse`, `#/search`, `#/restore`, `#/cost`), each view reading the console's
 * JSON API. Keyboard first: a skip link, a labelled navigation whose current view is marked
 * (aria-current), the view's heading focused when the view changes, every control labelled.
 */
import './console.css';
import 'uplot/dist/uPlot.min.css';
import { html, render } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Overview } from '../api-types.ts';
import { takeToken, useApi } from './client.ts';
import { BrowseView } from './views/browse.ts';
import { CostView } from './views/cost.ts';
import { DeadLettersView } from './views/dead-letters.ts';
import { JobsView } from './views/jobs.ts';
import { PlansView } from './views/plans.ts';
import { RestoreView } from './views/restore.ts';
import { SearchView } from './views/search.ts';
import { TimelineView } from './views/timeline.ts';

/** The route: the view's name, its path segments after it, and the query after `?`. */
export interface Route {
  view: string;
  rest: string[];
  params: URLSearchParams;
}

function routeOf(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#\/?/, '').split('?');
  const [view = 'plans', ...rest] = path.split('/').map((s) => decodeURIComponent(s));
  return { view: view || 'plans', rest, params: new URLSearchParams(search) };
}

const VIEWS: { view: string; label: string }[] = [
  { view: 'plans', label: 'Plans' },
  { view: 'timeline', label: 'Timeline' },
  { view: 'jobs', label: 'Jobs' },
  { view: 'dlq', label: 'Dead letters' },
  { view: 'browse', label: 'Browse' },
  { view: 'search', label: 'Search and diff' },
  { view: 'restore', label: 'Restore' },
  { view: 'cost', label: 'Cost' },
];

function viewOf(route: Route): VNode {
  switch (route.view) {
    case 'timeline':
      return html`<${TimelineView} plan=${route.rest[0] ?? ''} />`;
    case 'jobs':
      return html`<${JobsView} />`;
    case 'dlq':
      return html`<${DeadLettersView} />`;
    case 'browse':
      return html`<${BrowseView} params=${route.params} />`;
    case 'search':
      return html`<${SearchView} params=${route.params} />`;
    case 'restore':
      return html`<${RestoreView} params=${route.params} />`;
    case 'cost':
      return html`<${CostView} />`;
    case 'plans':
      return html`<${PlansView} />`;
    default:
      return html`<h2 tabindex="-1">No such view</h2><p>There is no view '${route.view}': choose one above.</p>`;
  }
}

function App({ token }: { token: string | undefined }): VNode {
  const [route, setRoute] = useState(() => routeOf(location.hash));
  const main = useRef<HTMLElement>(null);
  const shown = useRef(route.view);
  const overview = useApi<Overview>(token ? '/api/overview' : undefined);
  useEffect(() => {
    const onHash = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    // A new view: move the focus to its heading, so a keyboard or screen reader user starts there.
    if (shown.current === route.view) return;
    shown.current = route.view;
    main.current?.querySelector<HTMLElement>('h2')?.focus();
  }, [route.view]);
  if (!token)
    return html`<main><h1>Strongbox console</h1>
      <p role="alert">This page needs the console's token: open the URL that <code>npm start</code> or
      <code>strongbox console</code> printed (it ends in <code>#token=…</code>).</p></main>`;
  return html`
    <a class="skip" href="#main" onClick=${(e: Event) => {
      e.preventDefault();
      main.current?.focus();
    }}>Skip to the view</a>
    <header>
      <h1>Strongbox console</h1>
      <p class="target">${overview.data ? `${overview.data.target} · primary region ${overview.data.primaryRegion}${overview.data.copyRegions.length ? ` · copies in ${overview.data.copyRegions.join(', ')}` : ''}` : ''}</p>
      <nav aria-label="Views">
        <ul>
          ${VIEWS.map(
            (v) =>
              html`<li><a href=${`#/${v.view}`} aria-current=${route.view === v.view ? 'page' : undefined}>${v.label}</a></li>`,
          )}
        </ul>
      </nav>
    </header>
    <main id="main" tabindex="-1" ref=${main}>${viewOf(route)}</main>
  `;
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(html`<${App} token=${takeToken()} />`, root);
}
