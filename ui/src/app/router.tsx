/** Routes; each page is its own lazily loaded chunk. */
import { lazy, Suspense } from 'react';
import { createBrowserRouter, Navigate, RouterProvider } from 'react-router-dom';
import { ProtectedRoute, isAdmin, useSession } from '../lib/auth';
import { setUnauthorizedHandler } from '../lib/api-client';
import { queryClient } from './provider';
import { AppLayout } from './layout';
import { Loading } from '../components/ui';

const SignIn = lazy(() => import('../features/auth/sign-in'));
const AcceptInvite = lazy(() => import('../features/auth/accept-invite'));
const Settings = lazy(() => import('../features/sinks/settings'));
const AuditLogsSettings = lazy(() => import('../features/sinks/audit-logs-settings'));
const SinkSetup = lazy(() => import('../features/sinks/sink-setup'));
const SinkDetail = lazy(() => import('../features/sinks/sink-detail'));
const Viewer = lazy(() => import('../features/audit-log/viewer'));
const Integrity = lazy(() => import('../features/integrity/integrity'));
const Users = lazy(() => import('../features/users/users'));
const ApiKeys = lazy(() => import('../features/api-keys/api-keys'));

function Home() {
  const s = useSession();
  return <Navigate to={s.data?.signed_in && isAdmin(s.data.role) ? '/settings/audit-logs' : '/settings'} replace />;
}

const router = createBrowserRouter([
  { path: '/sign-in', element: <SignIn /> },
  { path: '/accept-invite', element: <AcceptInvite /> },
  {
    path: '/',
    element: (
      <ProtectedRoute>
        <AppLayout />
      </ProtectedRoute>
    ),
    children: [
      { index: true, element: <Home /> },
      { path: 'settings', element: <Settings /> },
      {
        path: 'settings/audit-logs',
        element: (
          <ProtectedRoute adminOnly>
            <AuditLogsSettings />
          </ProtectedRoute>
        ),
      },
      {
        path: 'settings/audit-logs/setup',
        element: (
          <ProtectedRoute adminOnly>
            <SinkSetup />
          </ProtectedRoute>
        ),
      },
      {
        path: 'settings/audit-logs/sinks/:name',
        element: (
          <ProtectedRoute adminOnly>
            <SinkDetail />
          </ProtectedRoute>
        ),
      },
      { path: 'settings/users', element: <Users /> },
      { path: 'settings/api-keys', element: <ApiKeys /> },
      {
        path: 'integrity',
        element: (
          <ProtectedRoute adminOnly>
            <Integrity />
          </ProtectedRoute>
        ),
      },
      {
        path: 'audit-log',
        element: (
          <ProtectedRoute adminOnly>
            <Viewer />
          </ProtectedRoute>
        ),
      },
      {
        path: '*',
        element: (
          <main id="main" className="page">
            <h1>Page not found</h1>
          </main>
        ),
      },
    ],
  },
]);

// A 401 from any call: the session ended; sign in again and come back here.
setUnauthorizedHandler(() => {
  const here = window.location.pathname + window.location.search;
  queryClient.clear();
  if (!window.location.pathname.startsWith('/sign-in')) void router.navigate(`/sign-in?redirect=${encodeURIComponent(here)}`);
});

export function AppRouter() {
  return (
    <Suspense fallback={<Loading what="console" />}>
      <RouterProvider router={router} />
    </Suspense>
  );
}
