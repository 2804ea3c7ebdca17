/**
 * Hash routes (static hosting needs no rewrites): #/projects[/<id>], #/stores[/<id>],
 * #/rollouts[/<id>], #/logs?…, #/sources?project=…, #/alerts?project=…, #/queue[/<job id>],
 * #/keys, #/tenants. A view's filters live in the hash's query, so its address reproduces it.
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'projects' }
  | { page: 'project'; id: string }
  | { page: 'stores' }
  | { page: 'store'; id: string }
  | { page: 'rollouts' }
  | { page: 'rollout'; id: string }
  | { page: 'logs'; query: URLSearchParams }
  | { page: 'sources'; query: URLSearchParams }
  | { page: 'alerts'; query: URLSearchParams }
  | { page: 'queue' }
  | { page: 'job'; id: string }
  | { page: 'keys' }
  | { page: 'tenants' };

export function parseRoute(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#/, '').split('?', 2);
  const [, section, id] = path.split('/');
  const query = new URLSearchParams(search);
  switch (section) {
    case 'stores': return id ? { page: 'store', id } : { page: 'stores' };
    case 'rollouts': return id ? { page: 'rollout', id } : { page: 'rollouts' };
    case 'projects': return id ? { page: 'project', id } : { page: 'projects' };
    case 'logs': return { page: 'logs', query };
    case 'sources': return { page: 'sources', query };
    case 'alerts': return { page: 'alerts', query };
    case 'queue': return id ? { page: 'job', id } : { page: 'queue' };
    case 'keys': return { page: 'keys' };
    case 'tenants': return { page: 'tenants' };
    default: return { page: 'projects' };
  }
}

/** The address of a view with these query values (empty ones left out). */
export function href(section: string, query: Record<string, string | null | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v) q.set(k, v);
  const s = q.toString();
  return `#/${section}${s ? `?${s}` : ''}`;
}

/** Moves to a view's new query without a history entry per keystroke. */
export function replaceQuery(section: string, query: Record<string, string | null | undefined>) {
  const next = href(section, query);
  if (location.hash !== next) {
    history.replaceState(null, '', next);
    dispatchEvent(new HashChangeEvent('hashchange'));
  }
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
