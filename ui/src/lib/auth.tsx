/** The signed-in user (from `GET /auth/session`), sign-in and sign-out, and route guards by role. */
import { createContext, useContext, type ReactNode } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Navigate, useLocation } from 'react-router-dom';
import { api, setCsrfToken } from './api-client';

export interface SessionUser {
  account_id: string;
  user_id: string;
  email: string;
  role: string;
}

export type Session = ({ signed_in: true; csrf_token: string } & SessionUser) | { signed_in: false; initial_admin_file: string | null };

export const SESSION_KEY = ['session'] as const;

async function getSession(): Promise<Session> {
  const s = await api<Session>('GET', '/auth/session', { noRedirect: true });
  setCsrfToken(s.signed_in ? s.csrf_token : undefined);
  return s;
}

export function useSession() {
  return useQuery({ queryKey: SESSION_KEY, queryFn: getSession, staleTime: Infinity });
}

/** Owner and Global Admin: audit logs, sinks, export (the server's access table decides; this only hides). */
export function isAdmin(role: string | undefined): boolean {
  return role === 'ROLE_OWNER' || role === 'ROLE_ADMIN';
}

export const ROLE_NAMES: Record<string, string> = {
  ROLE_OWNER: 'Account Owner',
  ROLE_ADMIN: 'Global Admin',
  ROLE_DEVELOPER: 'Developer',
  ROLE_FINANCE_ADMIN: 'Finance Admin',
  ROLE_READ: 'Read-Only',
  ROLE_METRICS_READ: 'Metrics Read-Only',
};

const UserContext = createContext<SessionUser | undefined>(undefined);

/** The signed-in user; only inside a ProtectedRoute. */
export function useUser(): SessionUser {
  const u = useContext(UserContext);
  if (!u) throw new Error('useUser outside ProtectedRoute');
  return u;
}

export function useSignIn() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (v: { email: string; password: string }) => api<{ csrf_token: string }>('POST', '/auth/login', { body: v, noRedirect: true }),
    onSuccess: async () => {
      qc.clear();
      await qc.fetchQuery({ queryKey: SESSION_KEY, queryFn: getSession });
    },
  });
}

export function useSignOut() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => api<void>('POST', '/auth/logout', { noRedirect: true }),
    onSettled: () => {
      setCsrfToken(undefined);
      qc.clear();
    },
  });
}

/** Renders its children for a signed-in user (optionally only admins); else sends to sign-in. */
export function ProtectedRoute({ children, adminOnly = false }: { children: ReactNode; adminOnly?: boolean }) {
  const session = useSession();
  const location = useLocation();
  if (session.isPending) return <p role="status">Loading…</p>;
  if (session.isError) return <p role="alert">Could not reach the server: {session.error.message}</p>;
  const s = session.data;
  if (!s.signed_in) return <Navigate to={`/sign-in?redirect=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  if (adminOnly && !isAdmin(s.role)) {
    return (
      <main id="main" className="page">
        <h1>Not available</h1>
        <p>This page needs the Account Owner or Global Admin role.</p>
      </main>
    );
  }
  const user: SessionUser = { account_id: s.account_id, user_id: s.user_id, email: s.email, role: s.role };
  return <UserContext.Provider value={user}>{children}</UserContext.Provider>;
}
