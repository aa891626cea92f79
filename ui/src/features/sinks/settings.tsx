/** Settings: the account and, for Owner and Global Admin, Audit Logs. */
import { Link } from 'react-router-dom';
import { isAdmin, ROLE_NAMES, useUser } from '../../lib/auth';

export default function Settings() {
  const user = useUser();
  return (
    <main id="main" className="page">
      <h1>Settings</h1>
      <dl className="facts">
        <dt>Account</dt>
        <dd>{user.account_id}</dd>
        <dt>Signed in as</dt>
        <dd>{user.email}</dd>
        <dt>Role</dt>
        <dd>{ROLE_NAMES[user.role] ?? user.role}</dd>
      </dl>
      <nav aria-label="Settings">
        <ul className="cards">
          <li className="card">
            <h2>
              <Link to="/settings/users">Users</Link>
            </h2>
            <p>Who belongs to this account, and their roles.</p>
          </li>
          <li className="card">
            <h2>
              <Link to="/settings/api-keys">API keys</Link>
            </h2>
            <p>Keys for the Cloud Ops API, the CLI and ingest.</p>
          </li>
          {isAdmin(user.role) && (
            <li className="card">
              <h2>
                <Link to="/settings/audit-logs">Audit Logs</Link>
              </h2>
              <p>Stream this account&apos;s audit log to AWS Kinesis or GCP Pub/Sub.</p>
            </li>
          )}
        </ul>
      </nav>
      {!isAdmin(user.role) && <p className="muted">Audit logs and their integrations are managed by the Account Owner or a Global Admin.</p>}
    </main>
  );
}
