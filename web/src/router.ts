/** Hash routes (#/projects, #/projects/<id>, #/stores, #/stores/<id>, #/rollouts, #/rollouts/<id>): static hosting needs no rewrites. */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'projects' }
  | { page: 'project'; id: string }
  | { page: 'stores' }
  | { page: 'store'; id: string }
  | { page: 'rollouts' }
  | { page: 'rollout'; id: string };

export function parseRoute(hash: string): Route {
  const [, section, id] = hash.replace(/^#/, '').split('/');
  if (section === 'stores') return id ? { page: 'store', id } : { page: 'stores' };
  if (section === 'rollouts') return id ? { page: 'rollout', id } : { page: 'rollouts' };
  if (section === 'projects' && id) return { page: 'project', id };
  return { page: 'projects' };
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
