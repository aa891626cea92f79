/** The frame of every signed-in page: skip link, navigation by role, the user and sign-out. */
import { Suspense } from 'react';
import { NavLink, Outlet, useNavigate } from 'react-router-dom';
import { isAdmin, ROLE_NAMES, useSignOut, useUser } from '../lib/auth';
import { Button, Loading } from '../components/ui';

export function AppLayout() {
  const user = useUser();
  const signOut = useSignOut();
  const navigate = useNavigate();
  const admin = isAdmin(user.role);
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">auditstream</span>
        <nav aria-label="Main">
          <ul>
            {admin && (
              <li>
                <NavLink to="/audit-log">Audit log</NavLink>
              </li>
            )}
            {admin && (
              <li>
                <NavLink to="/integrity">Integrity</NavLink>
              </li>
            )}
            <li>
              <NavLink to="/settings">Settings</NavLink>
            </li>
          </ul>
        </nav>
        <div className="who">
          <span>
            {user.email} <span className="muted">({ROLE_NAMES[user.role] ?? user.role})</span>
          </span>
          <Button variant="secondary" onClick={() => signOut.mutate(undefined, { onSettled: () => navigate('/sign-in') })}>
            Sign out
          </Button>
        </div>
      </header>
      <Suspense fallback={<Loading what="page" />}>
        <Outlet />
      </Suspense>
    </>
  );
}
