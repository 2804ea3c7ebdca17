import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api, Me } from './api/client';
import type { LiveEvent } from './api/client';

export interface Session {
  api: Api;
  me: Me;
  /** Listen to the tenant's live events; returns the unsubscribe. */
  onLive(listener: (e: LiveEvent) => void): () => void;
  /** Forget the key and go back to sign-in. */
  signOut(): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in session');
  return s;
}
